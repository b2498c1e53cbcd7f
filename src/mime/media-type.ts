// A part's Content-Type as nodeadm reads it: Go's mime.ParseMediaType (golang/go src/mime/mediatype.go
// and grammar.go), which nodeadm calls on every part that has one (amazon-eks-ami
// nodeadm/internal/configprovider/mime.go at 81fec2e8, ParseMultipart). Where it fails, nodeadm stops
// reading the user data and uses none of it, its NodeConfigs included. Only the verdict is kept here:
// the media type, or Go's error.

/** Go's unicode.IsSpace, which ParseMediaType trims (and k8s.io/apimachinery's IsJSONBuffer skips). */
export const GO_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING_SPACE = new RegExp(`^[${GO_SPACE}]+`);
const EDGE_SPACE = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, 'g');
// RFC 2045 token: printable ASCII but space and the tspecials.
const TSPECIALS = '()<>@,;:\\"/[]?=';
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+/;

const skipSpace = (s: string) => s.replace(LEADING_SPACE, '');

/** The media type (lower case, as nodeadm compares it), or the error Go's mime.ParseMediaType returns. */
export function parseMediaType(value: string): { type: string } | { error: string } {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).toLowerCase().replace(EDGE_SPACE, '');
  const typeError = checkType(type);
  if (typeError) return { error: typeError };
  const params = new Map<string, string>();
  let rest = semi < 0 ? '' : value.slice(semi);
  while ((rest = skipSpace(rest))) {
    const param = consumeParam(rest);
    if (!param) return rest.replace(EDGE_SPACE, '') === ';' ? { type } : { error: 'mime: invalid media parameter' }; // a trailing ; is allowed
    // A name given twice is allowed only with the same value.
    if ((params.get(param.key) ?? param.value) !== param.value) return { error: 'mime: duplicate parameter name' };
    params.set(param.key, param.value);
    rest = param.rest;
  }
  return { type };
}

function checkType(type: string): string | undefined {
  const major = TOKEN.exec(type)?.[0];
  if (!major) return 'mime: no media type';
  const rest = type.slice(major.length);
  if (!rest) return undefined;
  if (!rest.startsWith('/')) return 'mime: expected slash after first token';
  const minor = TOKEN.exec(rest.slice(1))?.[0];
  if (!minor) return 'mime: expected token after slash';
  return rest.length > minor.length + 1 ? 'mime: unexpected content after media subtype' : undefined;
}

/** `; key=value`: the key in lower case, the value a token or a quoted string (unquoted), and what follows. */
function consumeParam(text: string): { key: string; value: string; rest: string } | undefined {
  if (!text.startsWith(';')) return undefined;
  let rest = skipSpace(text.slice(1));
  const key = TOKEN.exec(rest)?.[0];
  if (!key) return undefined;
  rest = skipSpace(rest.slice(key.length));
  if (!rest.startsWith('=')) return undefined;
  rest = skipSpace(rest.slice(1));
  if (rest.startsWith('"')) {
    const q = quoted(rest);
    return q && { key: key.toLowerCase(), value: q.value, rest: rest.slice(q.length) };
  }
  const token = TOKEN.exec(rest)?.[0];
  return token === undefined ? undefined : { key: key.toLowerCase(), value: token, rest: rest.slice(token.length) };
}

/**
 * A quoted string: its value and its length with the quotes, or undefined where it is not closed or
 * breaks a line. A backslash escapes a tspecial only; before anything else it is itself (Go's rule).
 */
function quoted(text: string): { value: string; length: number } | undefined {
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '"') return { value, length: i + 1 };
    if (c === '\\' && next !== undefined && TSPECIALS.includes(next)) value += text[++i];
    else if (c === '\r' || c === '\n') return undefined;
    else value += c;
  }
  return undefined;
}
