// src/render/toml.ts against two real TOML parsers (smol-toml, js-toml): what it writes reads back
// as the same data, hostile strings and keys included; and its layout is js-toml's dump's, the
// writer it replaced (so the goldens did not move).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump as jsTomlDump, load as jsTomlLoad } from 'js-toml';
import { parse as smolParse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { toToml, type TomlTable } from '../../src/render/toml.js';

/** Plain objects (js-toml reads tables as null-prototype objects). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function roundTrip(table: TomlTable): string {
  const text = toToml(table);
  expect(plain(smolParse(text)), `smol-toml reads back:\n${text}`).toEqual(table);
  expect(plain(jsTomlLoad(text)), `js-toml reads back:\n${text}`).toEqual(table);
  return text;
}

const HOSTILE = [
  '',
  'plain',
  'quote " and backslash \\ and \\" both',
  'newline\nand\r\nCRLF',
  'tab\tform\fbackspace\b',
  'nul \u0000 esc \u001b del \u007f unit \u001f',
  '"""triple""" and \'\'\'single\'\'\'',
  '# not a comment ] [ [[x]] = "y"',
  'key = "injected"\n[table]\nx = 1',
  'unicode é 日本 \u2028 \u2029 🎉',
  '\\u0041 stays as text',
  '${x} %{y} $(z) `w`',
];

describe('toToml', () => {
  it('writes strings, integers, booleans and arrays that read back as written', () => {
    roundTrip({ s: 'x', n: 0, neg: -1, big: Number.MAX_SAFE_INTEGER, t: true, f: false, a: ['a', 'b'], nums: [1, 2], empty: [], nested: [[1], ['x']] });
  });

  it('writes nested tables, tables of tables only, empty tables and arrays of tables', () => {
    const text = roundTrip({
      top: 1,
      only: { tables: { here: { k: 'v' } } },
      empty: {},
      mixed: { k: 1, sub: { j: 2 } },
      list: [{ a: 1, sub: { b: 2 } }, {}, { c: [{ d: 'e' }] }],
    });
    expect(text).not.toContain('[only]\n'); // implied by [only.tables.here]
    expect(text).toContain('[empty]\n');
  });

  it('hostile strings and keys read back byte for byte', () => {
    for (const s of HOSTILE) {
      roundTrip({ value: s, [s]: s, t: { [s]: { [s]: [s, s] } }, arr: [{ [s]: s }] });
    }
  });

  it('refuses what it cannot write exactly instead of writing something else', () => {
    expect(() => toToml({ x: 1.5 })).toThrow(/x: 1.5 is not an integer/);
    expect(() => toToml({ x: Number.NaN })).toThrow(/not an integer/);
    expect(() => toToml({ x: undefined })).toThrow(/x: cannot write undefined/);
    expect(() => toToml({ x: null })).toThrow(/cannot write null/);
    expect(() => toToml({ x: [1, { a: 1 }] })).toThrow(/mixes tables/);
    expect(() => toToml({ x: 'lone \ud800 surrogate' })).toThrow(/lone surrogate/);
  });

  it("lays out the tables src/artifacts/ builds as js-toml's dump did", async () => {
    const { render } = await import('../../src/index.js');
    const { containerdTable } = await import('../../src/artifacts/containerd.js');
    const { bottlerocketSettings } = await import('../../src/artifacts/bottlerocket.js');
    const { sociConfigTable } = await import('../../src/artifacts/soci-config.js');
    const cases = join(import.meta.dirname, '..', 'cases');
    for (const name of readdirSync(cases)) {
      const file = join(cases, name, 'profile.yaml');
      const { plan } = render(existsSync(file) ? readFileSync(file, 'utf8') : undefined, name);
      const rocket = bottlerocketSettings(plan);
      for (const table of [containerdTable(plan), sociConfigTable(plan), ...(rocket ? [rocket] : [])]) expect(toToml(table), name).toBe(jsTomlDump(table));
    }
    const table = { a: 1, b: { c: { d: 'x' }, e: [{ f: 1 }, { g: { h: 2 } }] }, 'dotted.key': { 'x y': ['1', '2'] } };
    expect(toToml(table)).toBe(jsTomlDump(table));
  });
});
