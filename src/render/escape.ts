// Escaping for each language a profile value can reach. Code escapes; templates only place text.
import { Document, visit } from 'yaml';

/** A bash word that stands for exactly `s`: single quotes, with embedded quotes spliced in. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A double-quoted systemd assignment value: backslash and quote escaped, % doubled (specifiers). */
export function systemdQuote(s: string): string {
  if (/[\n\r]/.test(s)) throw new Error('systemd values cannot hold line breaks');
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`;
}

/**
 * A double-quoted HCL (Packer) string literal that stands for exactly `s`: backslash and quote
 * escaped, control characters as \uNNNN, and the template openers `${` and `%{` doubled
 * (`$${`, `%%{`) so nothing in a value is interpolated or run as a directive.
 */
export function hclString(s: string): string {
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  // A function, not a replacement string: in one, "$$" would stand for a single "$".
  return `"${out.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{')}"`;
}

/**
 * YAML for kubectl, nodeadm, Karpenter and eksctl, whose Go readers follow YAML 1.1 (and Go's number
 * syntax, which also takes 0o17): written with the 1.1 schema, and every string that a 1.1 or a 1.2
 * reader could take for something else (on, yes, y, no, off, 1_000, 0b1, 0o7, 1:20, ~, =) quoted.
 * Control characters never get here (refused at load).
 */
export function yamlText(value: unknown): string {
  const doc = new Document(value, { version: '1.1', aliasDuplicateObjects: false });
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === 'string' && yamlMistakable(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString({ lineWidth: 0, blockQuote: 'literal' });
}

const STR_TAG = 'tag:yaml.org,2002:str';
const READER_TAGS = (['1.1', '1.2'] as const).flatMap((version) => new Document(null, { version }).schema.tags);

/** Would a plain scalar with this text resolve to something other than a string? */
export function yamlMistakable(text: string): boolean {
  if (text === '=' || text === '<<') return true;
  if (text.includes('\n')) return false; // written as a block literal: never resolved
  return READER_TAGS.some((t) => 'test' in t && t.default === true && t.tag !== STR_TAG && t.test instanceof RegExp && t.test.test(text));
}
