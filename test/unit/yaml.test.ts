// src/render/yaml.ts against a real YAML reader: the yaml package, as a 1.1 and as a 1.2 reader, must
// read back exactly the data we wrote, for hostile strings as values, keys and list items; and our
// "would this resolve to something else" rule must agree with that package's resolvers. The Go reader
// (nodeadm, through sigs.k8s.io/yaml) reads the same corpus in test/validators.test.ts.
import { describe, expect, it } from 'vitest';
import { Document, parse } from 'yaml';
import { yamlMistakable, yamlText } from '../../src/render/yaml.js';
import { HOSTILE_STRINGS } from '../support/yaml-strings.js';


// The yaml package's own resolvers, as it reads a 1.1 or a 1.2 (core schema) document.
const READER_TAGS = (['1.1', '1.2'] as const).flatMap((version) => new Document(null, { version }).schema.tags);
function resolvesToOther(text: string): boolean {
  return text === '=' || text === '<<' || READER_TAGS.some((t) => 'test' in t && t.default === true && t.tag !== 'tag:yaml.org,2002:str' && t.test instanceof RegExp && t.test.test(text));
}

function readBack(text: string, version: '1.1' | '1.2'): unknown {
  return parse(text, { version });
}

describe('yamlText', () => {
  it('writes each hostile string so that a 1.1 and a 1.2 reader read back the same data, as value, key and list item', () => {
    for (const s of HOSTILE_STRINGS) {
      const data = { value: s, [s === '' ? 'empty' : s]: 'key', list: [s, { name: s, n: [s] }], nested: { deeper: { s } } };
      const text = yamlText(data);
      for (const version of ['1.1', '1.2'] as const) expect(readBack(text, version), `${JSON.stringify(s)} read as ${version}:\n${text}`).toEqual(data);
    }
  });

  it('writes plain data in block style: numbers, booleans, empty maps and lists, literal blocks', () => {
    const text = yamlText({ a: 1, b: true, c: {}, d: [], e: 'x\ny\n', f: ' lead\n', g: [{ h: 'i', j: [1, 2] }, 'k'], u: undefined });
    expect(text).toBe(['a: 1', 'b: true', 'c: {}', 'd: []', 'e: |', '  x', '  y', 'f: |2', '   lead', 'g:', '  - h: i', '    j:', '      - 1', '      - 2', '  - k', ''].join('\n'));
  });

  it('quotes every string a plain scalar would not keep, the way a reader shows it', () => {
    expect(yamlText({ a: 'yes', b: '0o17', c: 'say "hi": now', d: "it's #1", e: 'a\u2028b', f: 'a\tb', g: 'plain text, [ok] "x"' })).toBe(
      ['a: "yes"', 'b: "0o17"', `c: 'say "hi": now'`, `d: "it's #1"`, 'e: "a\\u2028b"', 'f: "a\\tb"', 'g: plain text, [ok] "x"', ''].join('\n'),
    );
  });

  it('refuses what is not plain data', () => {
    expect(() => yamlText(['a'])).toThrow(/a map at the top level/);
    expect(() => yamlText({ a: Number.NaN })).toThrow(/cannot write number NaN/);
    expect(() => yamlText({ a: () => 1 })).toThrow(/cannot write function/);
  });
});

describe('yamlMistakable', () => {
  it("agrees with the yaml package's 1.1 and 1.2 resolvers on every short string of number, date and word characters", () => {
    const chars = ['', '0', '1', '7', '9', '-', '+', '.', '_', ':', 'e', 'E', 'x', 'b', 'o', 'a', 'F'];
    const disagree: string[] = [];
    const check = (s: string) => yamlMistakable(s) !== resolvesToOther(s) && disagree.push(s);
    for (const a of chars) for (const b of chars) for (const c of chars) for (const d of chars) check(a + b + c + d);
    for (const w of ['y', 'yes', 'true', 'on', 'n', 'no', 'false', 'off', 'null', 'inf', 'nan']) {
      for (const s of [w, w.toUpperCase(), w[0]!.toUpperCase() + w.slice(1), `${w}x`, `.${w}`, `-.${w}`, `.${w.toUpperCase()}`, `.${w[0]!.toUpperCase()}${w.slice(1)}`]) check(s);
    }
    for (const s of HOSTILE_STRINGS) check(s);
    for (const t of ['2001-1-1', '2001-12-14T21:59:43Z', '2001-12-14 21:59:43 +01:00', '2001-12-14  1:2:3.5 Z', '2001-12-14x', '201-12-14', '2001-12-14T21:59']) check(t);
    // Beyond these readers, Go's reader takes numbers such as 0X1F and 1e3_1: quoted too, as the real
    // nodeadm checks on the same strings (test/validators.test.ts).
    expect(disagree.filter((s) => !(yamlMistakable(s) && /^[-+0-9]/.test(s)))).toEqual([]);
  });
});
