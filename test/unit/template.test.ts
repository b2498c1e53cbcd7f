import { describe, expect, it } from 'vitest';
import Mustache from 'mustache';
import { parsedTemplates, renderText } from '../../src/render/template.js';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hclString, shellQuote, systemdQuote } from '../../src/render/escape.js';
import { REPO_ROOT, run } from '../support/exec.js';
import { packerEval, parseHcl } from '../support/packer.js';

describe('templates', () => {
  it('never HTML-escapes', () => {
    expect(renderText('x={{v}}', { v: `<a href="&">'q'</a>` })).toBe(`x=<a href="&">'q'</a>`);
  });
  it('refuses a tag the view lacks, instead of printing nothing', () => {
    expect(() => renderText('a {{missing}} b', { present: 1 }, 't')).toThrow(/t: the view has no value for \{\{missing\}\}/);
  });
  it('checks names inside sections against the section item', () => {
    expect(renderText('{{#xs}}[{{n}}]{{/xs}}', { xs: [{ n: 1 }, { n: 2 }] })).toBe('[1][2]');
    expect(() => renderText('{{#xs}}{{m}}{{/xs}}', { xs: [{ n: 1 }] })).toThrow(/no value for \{\{m\}\}/);
  });
  it('refuses triple mustaches (escaping is off already; two ways to say it invite mistakes)', () => {
    expect(() => renderText('{{{v}}}', { v: 1 })).toThrow(/use \{\{v\}\}/);
  });
  it('the parse the build stores (dist/render/templates.json) covers every template, survives JSON and names its mustache', () => {
    const { mustache, templates } = parsedTemplates();
    expect(mustache).toBe(Mustache.version);
    const files = readdirSync(join(REPO_ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mustache'));
    expect(files.length).toBeGreaterThan(0);
    expect(Object.keys(templates)).toHaveLength(files.length);
    for (const f of files) {
      const text = readFileSync(join(REPO_ROOT, 'src', f), 'utf8');
      // The build copies each template beside its built module (scripts/copy-assets.mjs).
      expect(readFileSync(join(REPO_ROOT, 'dist', f), 'utf8'), `dist/${f}`).toBe(text);
      const key = Object.keys(templates).find((k) => k.startsWith(text));
      expect(key, f).toBeDefined();
      expect(JSON.parse(JSON.stringify(templates[key!])), f).toStrictEqual(Mustache.parse(text));
    }
  });
});

const HOSTILE = [`it's`, `$(touch /tmp/pwned)`, '`id`', `"double" \\ back`, `]]\n[x]`, `${'$'}{HOME}`, 'ünï©ødé ✓', `%n %% %`, `'\\''`, ''];

describe('shell quoting', () => {
  it.each(HOSTILE)('bash reads %j back unchanged', async (value) => {
    const res = await run('bash', ['-c', `printf '%s' ${shellQuote(value)}`]);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(value);
  });
});

describe('systemd quoting', () => {
  it('escapes quotes and backslashes and doubles % (specifiers)', () => {
    expect(systemdQuote(`A=p%40"x"\\`)).toBe(`"A=p%%40\\"x\\"\\\\"`);
  });
  it('refuses line breaks, which would start a new directive', () => {
    expect(() => systemdQuote('A=1\nExecStart=/bin/sh')).toThrow(/line breaks/);
  });
});

describe('HCL quoting', () => {
  const VALUES = [...HOSTILE, '${var.x}', '%{ if true }x%{ endif }', '$${already}', '$$${x}', '%%{x}', 'a\u0001b\u007fc\r\t', 'line\u2028sep', '"', '\\', '${', '%{'];
  it('escapes quotes, backslashes, control characters and the template openers', () => {
    expect(hclString('a"b\\c\n${d}%{e}')).toBe('"a\\"b\\\\c\\n$${d}%%{e}"');
  });
  it('every hostile value parses as one HCL string literal (Go HCL)', async () => {
    const parsed = (await parseHcl('v', VALUES.map((v, i) => `v${i} = ${hclString(v)}\n`).join(''))) as Record<string, string>;
    // hcl2json keeps template escapes as written ($${, %%{): undo them, as HCL's JSON syntax does.
    const unescape = (s: string) => s.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{');
    expect(VALUES.map((_v, i) => unescape(parsed[`v${i}`]!))).toEqual(VALUES);
  });
  it('packer evaluates every hostile value back to exactly itself (nothing interpolated)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'soci-hcl-'));
    writeFileSync(join(dir, 'v.pkr.hcl'), 'variable "v" {\n  type = list(string)\n}\n');
    writeFileSync(join(dir, 'v.auto.pkrvars.hcl'), `v = [\n${VALUES.map((v) => `  ${hclString(v)},\n`).join('')}]\n`);
    expect(await packerEval(dir, 'var.v')).toEqual(VALUES);
  });
});
