/**
 * Real containerd binaries (Debian 1.6, trixie 1.7, sid 2.x) for checking generated containerd configs.
 * Installed by scripts/setup-test-tools.sh; a missing binary is an error naming the script, never a skip.
 *
 * API:
 *   type ContainerdLine = '1.6' | '1.7' | '2'
 *   CONTAINERD_LINES: readonly ContainerdLine[]                  ['1.6', '1.7', '2']
 *   containerdBinary(line): string                               absolute path of `containerd`
 *   ctrBinary(line): string                                      absolute path of `ctr`
 *   containerdVersion(line): string                              Debian version from .cache/containerd/versions.txt
 *   configDump(line, configText): Promise<ConfigDumpResult>
 *       writes configText to a temp file, runs `containerd --config F config dump` and parses stdout with js-toml.
 *       ok = exit 0 and the dump parsed. 2.x migrates v2 configs (and logs unknown keys) on stderr: grep it.
 *       Unknown keys are silently dropped by 1.6/1.7: assert on the values in `dump`, not on ok alone.
 *   getPath(obj, ...keys): unknown                               obj[k1][k2]... or undefined (for dumps)
 *   mergeLikeNodeadm(baseToml, fragmentToml): string
 *       what nodeadm does with spec.containerd.config (dario.cat/mergo, WithOverride, on map[string]any):
 *       tables merged key by key, fragment wins for every scalar (false/0/"" included), arrays (and arrays of
 *       tables) replaced whole; dumped back with js-toml. Key order and float formatting differ from
 *       go-toml's output (e.g. 1.0 is written as 1); the TOML meaning is the same.
 *   startContainerd(line, configText, opts?): Promise<RunningContainerd>
 *       rewrites root, state, [grpc] address, the opt plugin path (and NRI's socket on 1.7/2.x) into a fresh
 *       temp dir, starts that containerd as a child process (as root), waits until `ctr version` answers.
 *       stop() kills only that PID (TERM, then KILL after 5 s), unmounts what it left under the temp dir, and
 *       removes the dir. Every instance still running when the test process exits is killed.
 *   parsePluginsLs(stdout): PluginRow[]                          rows of `ctr plugins ls`
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump as tomlDump, load as tomlLoad } from 'js-toml';
import { REPO_ROOT, SETUP_HINT, requireExecutable, run, type RunResult } from './exec.js';

export type ContainerdLine = '1.6' | '1.7' | '2';
export const CONTAINERD_LINES: readonly ContainerdLine[] = ['1.6', '1.7', '2'];

function binDir(line: ContainerdLine): string {
  return line === '1.6' ? '/usr/bin' : join(REPO_ROOT, '.cache', 'containerd', line, 'root', 'usr', 'bin');
}

export function containerdBinary(line: ContainerdLine): string {
  return requireExecutable(join(binDir(line), 'containerd'), `containerd ${line}`);
}

export function ctrBinary(line: ContainerdLine): string {
  return requireExecutable(join(binDir(line), 'ctr'), `ctr (containerd ${line})`);
}

export function containerdVersion(line: ContainerdLine): string {
  const file = join(REPO_ROOT, '.cache', 'containerd', 'versions.txt');
  if (!existsSync(file)) throw new Error(`${file} not found: ${SETUP_HINT}`);
  for (const row of readFileSync(file, 'utf8').split('\n')) {
    const [l, v] = row.split(' ');
    if (l === line && v) return v;
  }
  throw new Error(`containerd ${line} is not listed in ${file}: ${SETUP_HINT}`);
}

export interface ConfigDumpResult {
  ok: boolean;
  dump?: Record<string, unknown>;
  stderr: string;
  code: number;
}

export async function configDump(line: ContainerdLine, configText: string): Promise<ConfigDumpResult> {
  const bin = containerdBinary(line);
  const dir = mkdtempSync(join(tmpdir(), 'ctd-dump-'));
  try {
    const file = join(dir, 'config.toml');
    writeFileSync(file, configText);
    const r = await run(bin, ['--config', file, 'config', 'dump'], { cwd: dir, timeoutMs: 20_000 });
    if (r.code !== 0) return { ok: false, stderr: r.stderr, code: r.code };
    try {
      return { ok: true, dump: tomlLoad(r.stdout), stderr: r.stderr, code: r.code };
    } catch (e) {
      return { ok: false, stderr: `${r.stderr}\n(the dump did not parse as TOML: ${(e as Error).message})`, code: r.code };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

export function getPath(obj: unknown, ...keys: string[]): unknown {
  let cur: unknown = obj;
  for (const k of keys) {
    if (!isTable(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function mergeTables(base: Table, fragment: Table): Table {
  const out: Table = {};
  for (const [k, v] of Object.entries(base)) out[k] = v;
  for (const [k, v] of Object.entries(fragment)) {
    const b = out[k];
    out[k] = isTable(b) && isTable(v) ? mergeTables(b, v) : v;
  }
  return out;
}

export function mergeLikeNodeadm(baseToml: string, fragmentToml: string): string {
  const base = tomlLoad(baseToml);
  const fragment = tomlLoad(fragmentToml);
  return tomlDump(mergeTables(base, fragment));
}

export interface PluginRow {
  type: string;
  id: string;
  platforms: string;
  status: string;
}

export function parsePluginsLs(stdout: string): PluginRow[] {
  const rows: PluginRow[] = [];
  for (const line of stdout.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4) continue;
    rows.push({ type: cols[0]!, id: cols[1]!, platforms: cols.slice(2, -1).join(' '), status: cols[cols.length - 1]! });
  }
  return rows;
}

export interface StartOptions {
  /** how long to wait for `ctr version` to answer (default 15 s) */
  timeoutMs?: number;
  /** extra environment for containerd */
  env?: NodeJS.ProcessEnv;
  /** containerd log level (default "info") */
  logLevel?: string;
}

export interface RunningContainerd {
  line: ContainerdLine;
  /** temp dir holding config.toml, root/, state/, opt/ and containerd.sock */
  dir: string;
  /** the gRPC socket */
  address: string;
  /** the config containerd was started with (after the rewrite) */
  configPath: string;
  pid: number;
  /** runs `ctr --address <address> ...args` with this line's ctr */
  ctr(args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  /** containerd's stdout+stderr so far */
  logs(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

function rewriteForTempDir(line: ContainerdLine, configText: string, dir: string): string {
  const cfg = tomlLoad(configText);
  const table = (parent: Table, key: string): Table => {
    const v = parent[key];
    if (isTable(v)) return v;
    const t: Table = {};
    parent[key] = t;
    return t;
  };
  cfg.root = join(dir, 'root');
  cfg.state = join(dir, 'state');
  const grpc = table(cfg, 'grpc');
  grpc.address = join(dir, 'containerd.sock');
  delete grpc.tcp_address;
  const ttrpc = table(cfg, 'ttrpc');
  ttrpc.address = join(dir, 'containerd.sock.ttrpc');
  const debug = cfg.debug;
  if (isTable(debug) && typeof debug.address === 'string' && debug.address !== '') debug.address = join(dir, 'debug.sock');
  const metrics = cfg.metrics;
  if (isTable(metrics)) delete metrics.address;
  const plugins = table(cfg, 'plugins');
  table(plugins, 'io.containerd.internal.v1.opt').path = join(dir, 'opt');
  if (line !== '1.6') table(plugins, 'io.containerd.nri.v1.nri').socket_path = join(dir, 'nri.sock');
  if (cfg.version === undefined) cfg.version = 2;
  return tomlDump(cfg);
}

function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const row of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = row.split(' ')[4];
    if (mp && (mp === dir || mp.startsWith(dir + '/'))) out.push(mp.replace(/\\040/g, ' '));
  }
  return out.sort((a, b) => b.length - a.length);
}

export async function startContainerd(
  line: ContainerdLine,
  configText: string,
  opts: StartOptions = {},
): Promise<RunningContainerd> {
  const bin = containerdBinary(line);
  const ctr = ctrBinary(line);
  if (process.getuid?.() !== 0) throw new Error('startContainerd needs root (containerd mounts and chowns under its root)');
  const dir = mkdtempSync(join(tmpdir(), `ctd-${line}-`));
  const configPath = join(dir, 'config.toml');
  const address = join(dir, 'containerd.sock');
  let text: string;
  try {
    text = rewriteForTempDir(line, configText, dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`startContainerd: the config is not valid TOML: ${(e as Error).message}`);
  }
  writeFileSync(configPath, text);

  const env = { ...process.env, ...opts.env, PATH: `${binDir(line)}:${process.env.PATH ?? '/usr/sbin:/usr/bin'}` };
  const child = spawn(bin, ['--config', configPath, '--log-level', opts.logLevel ?? 'info'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  installExitHook();
  running.add(child);
  let log = '';
  const append = (b: Buffer): void => {
    if (log.length < 4_000_000) log += b.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((res) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      res();
    });
  });
  const spawnError = new Promise<Error>((res) => child.on('error', res));

  const ctrRun = (args: string[], o: { timeoutMs?: number } = {}): Promise<RunResult> =>
    run(ctr, ['--address', address, ...args], { timeoutMs: o.timeoutMs ?? 15_000, env });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited && child.pid !== undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, 5_000);
      await exitPromise;
      clearTimeout(timer);
    }
    for (const mp of mountsUnder(dir)) {
      await run('umount', ['-l', mp]).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  try {
    const startErr = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(r, 20, undefined))]);
    if (startErr) throw new Error(`cannot start ${bin}: ${startErr.message}`);
    for (;;) {
      if (exited) throw new Error(`containerd ${line} exited early (code ${exited.code}, signal ${exited.signal})`);
      if (existsSync(address)) {
        const v = await ctrRun(['version'], { timeoutMs: 5_000 }).catch(() => undefined);
        if (v && v.code === 0) break;
      }
      if (Date.now() > deadline) throw new Error(`containerd ${line} did not answer on ${address} in time`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n--- containerd log ---\n${log.slice(-8000)}`);
  }

  return {
    line,
    dir,
    address,
    configPath,
    pid: child.pid!,
    ctr: ctrRun,
    logs: () => log,
    stop,
  };
}
