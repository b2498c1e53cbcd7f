// The YAML writer for what we hand to kubectl, nodeadm, Karpenter and eksctl. Their readers are Go's
// (go-yaml v2 through sigs.k8s.io/yaml: YAML 1.1 resolution, and Go's number syntax, which also takes
// 0o17, 0X1F and 1e3_1), so a string that a 1.1, a 1.2 or that Go reader could take for anything
// else is quoted.
// Our documents are plain data (maps, lists, strings, numbers, booleans) in a fixed block style, so
// this is a few rules rather than a YAML library: the yaml package cost about a tenth of every
// `render` to load and run (issue 11). Tests read what it writes with the yaml package, as 1.1 and
// as 1.2 (test/unit/yaml.test.ts), and with the real nodeadm (test/validators.test.ts).
import { InternalError } from '../errors.js';

const INDENT = '  ';

/** One YAML document for `value` (a map), in block style, ending with a newline. */
export function yamlText(value: unknown): string {
  if (!isMap(value)) throw new InternalError('yamlText writes a map at the top level');
  return block(value, '');
}

type YamlMap = Record<string, unknown>;

function isMap(v: unknown): v is YamlMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-empty map or list as lines at `indent`; anything else is written on its key's line. */
function block(value: YamlMap | unknown[], indent: string): string {
  if (Array.isArray(value)) return value.map((item) => `${indent}-${after(item, `${indent}${INDENT}`, true)}`).join('');
  return Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${indent}${key(k, indent)}:${after(v, `${indent}${INDENT}`, false)}`)
    .join('');
}

/**
 * A key as written, ending where its ':' goes. An implicit key may not run over 1024 characters (YAML
 * 1.2.2 7.4.2; go-yaml and the yaml package refuse the line), so a longer one is an explicit `? ` key,
 * its ':' on the next line. Bytes are counted, more than characters.
 */
function key(k: string, indent: string): string {
  const text = scalar(k);
  return Buffer.byteLength(text) < 1000 ? text : `? ${text}\n${indent}`;
}

/**
 * What follows `key:` or `-`: a scalar on the same line, a block string's header, or a nested
 * block; a map in a list starts on the dash's line, as kubectl writes it.
 */
function after(v: unknown, inner: string, inList: boolean): string {
  if (Array.isArray(v) || isMap(v)) {
    const empty = Array.isArray(v) ? v.length === 0 : Object.values(v).every((x) => x === undefined);
    if (empty) return Array.isArray(v) ? ' []\n' : ' {}\n';
    if (inList && isMap(v)) return ` ${block(v, inner).slice(inner.length)}`;
    return `\n${block(v, inner)}`;
  }
  if (typeof v === 'string' && literalFits(v)) return ` ${literal(v, inner)}`;
  return ` ${scalar(v)}\n`;
}

function scalar(v: unknown): string {
  if (typeof v === 'string') return quoted(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (v === null) return 'null';
  throw new InternalError(`yamlText cannot write ${typeof v} ${String(v)}`);
}

// Characters YAML does not let a document hold as they are (its c-printable, YAML 1.2.2 5.1), and
// those a 1.1 reader takes for line breaks (NEL, LS, PS) or a byte-order mark: written as escapes.
const UNPRINTABLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/;

/**
 * A string as a plain scalar where every reader takes it for that string, else quoted: single
 * quotes where it holds a double quote (easier to read), else double quotes with JSON's escapes,
 * which are YAML escapes too.
 */
function quoted(s: string): string {
  if (plainFits(s)) return s;
  if (s.includes('"') && !s.includes("'") && !/[\n\t]/.test(s) && !UNPRINTABLE.test(s)) return `'${s}'`;
  return JSON.stringify(s).replace(new RegExp(UNPRINTABLE.source, 'g'), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A plain scalar must not start with an indicator or a space, hold ": " or " #", end with a space
 * or ":", look like a document marker, or resolve to anything but a string.
 */
function plainFits(s: string): boolean {
  return !(
    /^[ ,[\]{}#&*!|>'"%@`]|^[?:-]( |$)|^(---|\.\.\.)|: | #|[ :]$|[\n\t]/.test(s) ||
    UNPRINTABLE.test(s) ||
    yamlMistakable(s)
  );
}

/**
 * A multi-line string is a literal block (`|`) where its text survives one as it is: no escapes,
 * and no trailing spaces or blank lines for the block's chomping to eat.
 */
function literalFits(s: string): boolean {
  return s.includes('\n') && !UNPRINTABLE.test(s) && !/[ \t]\n|[ \t]$|\n\n$/.test(s) && /[^\s]/.test(s);
}

/**
 * `|`, the indentation indicator where the first line that holds text starts with a space (a reader
 * would take it for indentation) or a tab (go-yaml refuses a tab where it looks for the indentation),
 * `-` where there is no final line break; then each line at `inner`, empty lines empty.
 */
function literal(s: string, inner: string): string {
  const header = `|${/^\n*[ \t]/.test(s) ? INDENT.length : ''}${s.endsWith('\n') ? '' : '-'}`;
  const body = s.endsWith('\n') ? s.slice(0, -1) : s;
  return `${header}\n${body
    .split('\n')
    .map((line) => (line ? inner + line : ''))
    .join('\n')}\n`;
}

// What a YAML 1.1 reader (yaml.org/type: null, bool, int, float, timestamp, merge, value) or a
// YAML 1.2 core-schema reader (YAML 1.2.2 10.3.2) resolves to something other than a string.
const NOT_STRINGS = [
  /^(?:~|null|Null|NULL|)$/,
  /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?::[0-5]?[0-9])*)$/,
  /^[-+]?(?:[0-9][0-9_]*(?::[0-5]?[0-9])*)?\.[0-9_]*$/,
  /^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$/,
  /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:[ \t]*(?:Z|[-+][012]?[0-9](?::[0-9]{2})?))?)?$/,
  /^(?:<<|=)$/,
];

// go-yaml v2 (resolve.go) reads a plain scalar that starts with a digit or a sign as a number where,
// with every _ dropped, Go's strconv takes it (base 0: 0x, 0X, 0o, 0O, 0b, 0B, a sign before any), or
// it is a float by its own pattern, or 0b, -0b before a signed binary number (it parses those itself).
const GO_NUMBERS = [
  /^[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[0-9]+)$/,
  /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/,
  /^-?0b[-+]?[01]+$/,
];

/** Would a plain scalar with this text resolve to something other than a string? */
export function yamlMistakable(text: string): boolean {
  if (NOT_STRINGS.some((re) => re.test(text))) return true;
  const go = text.replaceAll('_', '');
  return /^[-+0-9]/.test(text) && GO_NUMBERS.some((re) => re.test(go));
}
