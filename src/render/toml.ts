// A TOML writer for the tables src/artifacts/ builds: strings, integers, booleans, arrays, nested
// tables and arrays of tables (TOML 1.0, https://toml.io/en/v1.0.0). It replaces js-toml's dump,
// whose package builds its parser when imported (about 0.35 s of every CLI start).
// Layout: a table's own keys first, then its subtables, then its arrays of tables, a blank line
// between sections; a [header] only where the table has keys of its own (or none at all).
// Tests parse every output with real parsers (test/unit/toml.test.ts).

export type TomlTable = { [key: string]: unknown };

export function toToml(table: TomlTable): string {
  return section(table, []);
}

function section(table: TomlTable, path: string[]): string {
  const keyValues: string[] = [];
  const subtables: [string[], TomlTable][] = [];
  const arraysOfTables: [string[], TomlTable[]][] = [];
  for (const [key, value] of Object.entries(table)) {
    const at = [...path, tomlKey(key)];
    if (isTable(value)) subtables.push([at, value]);
    else if (isArrayOfTables(value)) arraysOfTables.push([at, value]);
    else keyValues.push(`${tomlKey(key)} = ${inlineValue(value, at)}`);
  }
  const parts: string[] = [];
  if (keyValues.length > 0) parts.push(`${keyValues.join('\n')}\n`);
  for (const [at, sub] of subtables) {
    // A table holding only tables is defined by its subtables' headers: no header of its own.
    const values = Object.values(sub);
    const header = values.length === 0 || values.some((v) => !isTable(v) && !isArrayOfTables(v));
    parts.push((header ? `[${at.join('.')}]\n` : '') + section(sub, at));
  }
  for (const [at, items] of arraysOfTables) {
    for (const item of items) parts.push(`[[${at.join('.')}]]\n${section(item, at)}`);
  }
  return parts.join('\n');
}

function inlineValue(value: unknown, at: string[]): string {
  if (typeof value === 'string') return basicString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    // We emit counts and sizes only; a float or an unsafe integer would be a bug upstream of here.
    if (!Number.isSafeInteger(value)) throw new Error(`toml: ${at.join('.')}: ${value} is not an integer we write`);
    return String(value);
  }
  if (Array.isArray(value)) {
    if (value.some(isTable)) throw new Error(`toml: ${at.join('.')}: an array mixes tables and other values`);
    return `[${value.map((v, i) => inlineValue(v, [...at, String(i)])).join(', ')}]`;
  }
  throw new Error(`toml: ${at.join('.')}: cannot write ${value === null ? 'null' : typeof value}`);
}

/** A bare key when TOML allows one (A-Z a-z 0-9 _ -), else a quoted key. */
function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : basicString(key);
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

/** A TOML basic string: quote and backslash escaped, control characters as escapes, the rest as is (UTF-8). */
function basicString(s: string): string {
  // A lone surrogate has no UTF-8 form: writing it would silently become U+FFFD.
  if (/\p{Cs}/u.test(s)) throw new Error(`toml: ${JSON.stringify(s)} holds a lone surrogate`);
  return `"${s.replace(/["\\\x00-\x1f\x7f]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

function isTable(value: unknown): value is TomlTable {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isArrayOfTables(value: unknown): value is TomlTable[] {
  return Array.isArray(value) && value.length > 0 && value.every(isTable);
}
