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
