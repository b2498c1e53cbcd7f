import { describe, expect, it } from 'vitest';
import { renderText } from '../../src/render/template.js';
import { shellQuote, systemdQuote } from '../../src/render/escape.js';
import { run } from '../support/exec.js';

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
