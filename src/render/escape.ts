// Escaping for each language a profile value can reach. Code escapes; templates only place text.

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
