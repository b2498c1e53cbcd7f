// The command line's grammar: cli.ts declares its commands as a table, and this reads argv against
// it with node:util's parseArgs and prints help. It replaced commander (issue 11, item 5): loading
// commander cost about 30 ms of every start (it loads child_process, events and util), as much as
// a third of render's own work; parseArgs is part of Node. Usage errors are UsageErrors (exit 2),
// one line naming what was wrong and what is allowed.
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

export interface FlagSpec {
  /** As help shows it: '-c, --config <file>', '--force', or '--arch <arch...>' (several values). */
  flags: string;
  help: string;
  default?: string;
  required?: boolean;
  choices?: readonly string[];
  /** The long name of a flag this one may not be given with. */
  conflicts?: string;
  /** Left out of help. */
  hidden?: boolean;
}

export interface CommandSpec<Opts = Record<string, unknown>> {
  name: string;
  description: string;
  /** Positional arguments, as help shows them ('[ref...]'); a command without takes none. */
  args?: { usage: string; help: string };
  flags: FlagSpec[];
  /** Text help prints after the flags. */
  after?: string;
  /** Flags by camelCased long name (--dry-run: dryRun), defaults filled; positionals in order. */
  run: (opts: Opts, args: string[]) => Promise<void> | void;
}

export interface Program {
  name: string;
  version: string;
  description: string;
  after: string;
  commands: CommandSpec[];
}

/** Typed where it is declared; the table holds commands of every option shape. */
export function command<Opts>(spec: CommandSpec<Opts>): CommandSpec {
  return spec as unknown as CommandSpec;
}

interface Flag extends FlagSpec {
  short?: string;
  long: string;
  key: string;
  takesValue: boolean;
  many: boolean;
}

const HELP: Flag = flag({ flags: '-h, --help', help: 'print this help' });

function flag(spec: FlagSpec): Flag {
  const m = /^(?:-(\w), )?--([a-z][a-z0-9-]*)(?: <[^>]*?(\.\.\.)?>)?$/.exec(spec.flags);
  if (!m) throw new Error(`cli-args: bad flags "${spec.flags}"`);
  const long = m[2]!;
  return { ...spec, ...(m[1] ? { short: m[1] } : {}), long, key: long.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()), takesValue: spec.flags.includes('<'), many: m[3] !== undefined };
}

/** Runs the command argv names; --help, --version and help print and return. */
export async function runProgram(program: Program, argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    err(programHelp(program));
    throw new UsageError('no command given; the commands are listed above');
  }
  if (first === '-V' || first === '--version') return out(`${program.version}\n`);
  if (first === '-h' || first === '--help') return out(programHelp(program));
  if (first === 'help') {
    if (rest[0] === undefined || ['help', '-h', '--help'].includes(rest[0])) return out(programHelp(program));
    return out(commandHelp(program, find(program, rest[0])));
  }
  const cmd = find(program, first);
  const parsed = parse(program, cmd, rest);
  if (parsed === 'help') return out(commandHelp(program, cmd));
  await cmd.run(parsed.opts, parsed.args);
}

function find(program: Program, name: string): CommandSpec {
  const cmd = program.commands.find((c) => c.name === name);
  if (cmd) return cmd;
  const kind = name.startsWith('-') ? 'option' : 'command';
  throw new UsageError(`unknown ${kind} '${name}'; the commands: ${program.commands.map((c) => c.name).join(', ')} (${program.name} --help)`);
}

function parse(program: Program, cmd: CommandSpec, argv: string[]): { opts: Record<string, unknown>; args: string[] } | 'help' {
  const flags = [...cmd.flags.map(flag), HELP];
  const where = `${program.name} ${cmd.name}`;
  const allowed = () => `allowed: ${flags.filter((f) => !f.hidden).map((f) => (f.short ? `-${f.short}/--${f.long}` : `--${f.long}`)).join(', ')}`;
  let tokens;
  try {
    tokens = parseArgs({
      args: valuesJoined(flags, argv),
      options: Object.fromEntries(flags.map((f) => [f.long, { type: f.takesValue ? 'string' : 'boolean', ...(f.short ? { short: f.short } : {}) }] as const)),
      allowPositionals: true,
      strict: true,
      tokens: true,
    }).tokens;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const arg = /'([^']*)'/.exec((e as Error).message)?.[1] ?? '';
    const named: string[] = arg.match(/--?[\w-]+/g) ?? [];
    const f = flags.find((x) => named.includes(`--${x.long}`) || named.includes(`-${x.short}`));
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`${cmd.name}: unknown option '${arg}'; ${allowed()} (${where} --help)`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && f) {
      throw new UsageError(f.takesValue ? `${cmd.name}: ${f.flags}: the value is missing` : `${cmd.name}: --${f.long} takes no value`);
    }
    throw new UsageError(`${cmd.name}: ${(e as Error).message}`);
  }
  const opts: Record<string, unknown> = {};
  const args: string[] = [];
  let collecting: Flag | undefined; // a flag of several values takes the words after it, as commander did
  for (const t of tokens) {
    if (t.kind === 'option-terminator') {
      collecting = undefined;
    } else if (t.kind === 'option') {
      const f = flags.find((x) => x.long === t.name)!;
      if (f === HELP) return 'help';
      opts[f.key] = f.many ? [...((opts[f.key] as string[] | undefined) ?? []), t.value!] : (t.value ?? true);
      collecting = f.many ? f : undefined;
    } else if (collecting) {
      (opts[collecting.key] as string[]).push(t.value);
    } else {
      args.push(t.value);
    }
  }
  if (args.length > 0 && !cmd.args) throw new UsageError(`${cmd.name}: unexpected argument '${args[0]}'; ${cmd.name} takes flags only (${where} --help)`);
  for (const f of flags) {
    if (opts[f.key] === undefined && f.default !== undefined) opts[f.key] = f.default;
    if (opts[f.key] === undefined && f.required) throw new UsageError(`${cmd.name}: ${f.flags} is required (${where} --help)`);
    for (const v of [opts[f.key]].flat()) {
      if (f.choices && typeof v === 'string' && !f.choices.includes(v)) throw new UsageError(`${cmd.name}: --${f.long}: '${v}' is not allowed; allowed: ${f.choices.join(', ')}`);
    }
    const other = f.conflicts && flags.find((x) => x.long === f.conflicts);
    if (other && opts[f.key] !== undefined && opts[other.key] !== undefined) throw new UsageError(`${cmd.name}: --${f.long} and --${other.long} cannot be used together; give one`);
  }
  return { opts, args };
}

/**
 * A flag that takes a value takes the next word, even one that starts with "-", as commander did
 * (parseArgs refuses it as ambiguous): `--cluster -x` reaches the cluster-name check, which names
 * the value. Written as --flag=value for parseArgs.
 */
function valuesJoined(flags: Flag[], argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return [...out, ...argv.slice(i)];
    const f = flags.find((x) => x.takesValue && (a === `--${x.long}` || a === `-${x.short}`));
    out.push(f && i + 1 < argv.length && argv[i + 1] !== '--' ? `--${f.long}=${argv[++i]}` : a);
  }
  return out;
}

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}\n`).join('');
}

function programHelp(p: Program): string {
  return (
    `Usage: ${p.name} <command> [options]\n\n${p.description}\n\nCommands:\n` +
    table([...p.commands.map((c): [string, string] => [c.name, c.description]), ['help [command]', 'print the help of a command']]) +
    `\nOptions:\n${table([
      ['-V, --version', 'print the version'],
      ['-h, --help', 'print this help'],
    ])}${p.after}\n`
  );
}

function commandHelp(p: Program, c: CommandSpec): string {
  const flags = [...c.flags.map(flag), HELP].filter((f) => !f.hidden);
  const describe = (f: Flag) =>
    f.help + (f.choices ? ` (choices: ${f.choices.join(', ')})` : '') + (f.default !== undefined ? ` (default: "${f.default}")` : '') + (f.required ? ' (required)' : '');
  return (
    `Usage: ${p.name} ${c.name} [options]${c.args ? ` ${c.args.usage}` : ''}\n\n${c.description}\n\n` +
    (c.args ? `Arguments:\n${table([[c.args.usage.replace(/[[\]]/g, ''), c.args.help]])}\n` : '') +
    `Options:\n${table(flags.map((f): [string, string] => [f.flags, describe(f)]))}${c.after ? `\n${c.after}\n` : ''}`
  );
}
