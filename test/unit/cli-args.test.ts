// The command-line grammar (src/cli-args.ts): what commander did for us before, kept, and every
// usage error one line with exit code 2 (UsageError). The commands themselves are tested in cli.test.ts.
import { describe, expect, it } from 'vitest';
import { command, runProgram, type Program } from '../../src/cli-args.js';
import { UsageError } from '../../src/errors.js';

function harness() {
  const calls: { opts: Record<string, unknown>; args: string[] }[] = [];
  const record = (opts: Record<string, unknown>, args: string[]) => void calls.push({ opts, args });
  const program: Program = {
    name: 'tool',
    version: '9.9.9',
    description: 'A tool.',
    after: '\nExamples:\n  tool go',
    commands: [
      command({
        name: 'go',
        description: 'goes',
        flags: [
          { flags: '-o, --output <dir>', help: 'where', default: 'out' },
          { flags: '--cluster <name>', help: 'a cluster' },
          { flags: '--dry-run', help: 'nothing' },
          { flags: '--arch <arch...>', help: 'arches', choices: ['amd64', 'arm64'] },
          { flags: '--ami <id>', help: 'an AMI', conflicts: 'ami-from-ssm' },
          { flags: '--ami-from-ssm', help: 'from SSM' },
          { flags: '--interval <s>', help: 'poll', default: '5', hidden: true },
        ],
        run: record,
      }),
      command({ name: 'need', description: 'needs a name', flags: [{ flags: '--name <name>', help: 'the name', required: true }], run: record }),
      command({ name: 'refs', description: 'takes references', args: { usage: '[ref...]', help: 'refs' }, flags: [{ flags: '--json', help: 'json' }], run: record }),
    ],
  };
  let out = '';
  let err = '';
  const run = (...argv: string[]) =>
    runProgram(
      program,
      argv,
      (s) => void (out += s),
      (s) => void (err += s),
    );
  return { calls, run, out: () => out, err: () => err };
}

async function usageError(p: Promise<void>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(UsageError);
  return (e as UsageError).message;
}

describe('cli-args', () => {
  it('gives flags by camelCased long name, with defaults, and positionals in order', async () => {
    const h = harness();
    await h.run('go', '--dry-run', '--cluster', 'demo');
    await h.run('refs', 'a', '--json', 'b', '--', '--not-a-flag');
    expect(h.calls).toEqual([
      { opts: { dryRun: true, cluster: 'demo', output: 'out', interval: '5' }, args: [] },
      { opts: { json: true }, args: ['a', 'b', '--not-a-flag'] },
    ]);
  });

  it('a flag that takes a value takes the next word, even one starting with "-" (as commander did), but not "--"', async () => {
    const h = harness();
    await h.run('go', '--cluster', '-x', '-o', '-');
    expect(h.calls[0]!.opts).toMatchObject({ cluster: '-x', output: '-' });
    expect(await usageError(h.run('go', '-o', '--'))).toBe('go: -o, --output <dir>: the value is missing');
    expect(await usageError(h.run('go', '--cluster'))).toBe('go: --cluster <name>: the value is missing');
  });

  it('a flag of several values takes the words after it, or repeats', async () => {
    const h = harness();
    await h.run('go', '--arch', 'amd64', 'arm64');
    await h.run('go', '--arch', 'amd64', '--dry-run', '--arch=arm64');
    expect(h.calls.map((c) => c.opts.arch)).toEqual([
      ['amd64', 'arm64'],
      ['amd64', 'arm64'],
    ]);
  });

  it('refuses bad input in one line that names it and what is allowed', async () => {
    const h = harness();
    expect(await usageError(h.run('go', '--bogus'))).toBe("go: unknown option '--bogus'; allowed: -o/--output, --cluster, --dry-run, --arch, --ami, --ami-from-ssm, -h/--help (tool go --help)");
    expect(await usageError(h.run('go', '-x'))).toMatch(/^go: unknown option '-x'; allowed: /);
    expect(await usageError(h.run('go', '--dry-run=yes'))).toBe('go: --dry-run takes no value');
    expect(await usageError(h.run('go', '--arch', 'x86'))).toBe("go: --arch: 'x86' is not allowed; allowed: amd64, arm64");
    expect(await usageError(h.run('go', '--ami', 'ami-1', '--ami-from-ssm'))).toBe('go: --ami and --ami-from-ssm cannot be used together; give one');
    expect(await usageError(h.run('go', 'stray'))).toBe("go: unexpected argument 'stray'; go takes flags only (tool go --help)");
    expect(await usageError(h.run('need'))).toBe('need: --name <name> is required (tool need --help)');
    expect(await usageError(h.run('nope'))).toBe("unknown command 'nope'; the commands: go, need, refs (tool --help)");
    expect(await usageError(h.run('--nope'))).toMatch(/^unknown option '--nope'; the commands: /);
    expect(h.err()).toBe('');
    expect(h.calls).toEqual([]);
  });

  it('prints help and the version on stdout, and the help on stderr with an error when no command is given', async () => {
    const h = harness();
    await h.run('--version');
    expect(h.out()).toBe('9.9.9\n');
    const topic = harness();
    await topic.run('help', 'go');
    const flag = harness();
    await flag.run('go', '--cluster', 'c', '-h');
    expect(flag.calls).toEqual([]);
    expect(flag.out()).toBe(topic.out());
    expect(topic.out()).toBe(
      'Usage: tool go [options]\n\ngoes\n\nOptions:\n' +
        '  -o, --output <dir>  where (default: "out")\n' +
        '  --cluster <name>    a cluster\n' +
        '  --dry-run           nothing\n' +
        '  --arch <arch...>    arches (choices: amd64, arm64)\n' +
        '  --ami <id>          an AMI\n' +
        '  --ami-from-ssm      from SSM\n' +
        '  -h, --help          print this help\n',
    );
    const top = harness();
    await top.run('--help');
    for (const topic of ['help', '-h', '--help']) {
      const h = harness();
      await h.run('help', topic);
      expect(h.out(), `help ${topic}`).toBe(top.out());
    }
    expect(top.out()).toMatch(/^Usage: tool <command> \[options\]\n\nA tool\.\n\nCommands:\n {2}go {14}goes\n[\s\S]*\n\nExamples:\n {2}tool go\n$/);
    const none = harness();
    expect(await usageError(none.run())).toBe('no command given; the commands are listed above');
    expect(none.err()).toBe(top.out());
    expect(none.out()).toBe('');
  });
});
