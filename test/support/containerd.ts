/**
 * The config phase as it runs on a node, with real upstream programs only (test/support/upstream.ts):
 * nodeadm's own code (`nodeadm-render`) writes /etc/containerd/config.toml from user data and drop-ins,
 * and the matching real containerd (2.2.4 or 1.7.27) reads it (`config dump`) or runs it. No belief of
 * ours about nodeadm's merge or template choice is involved.
 *
 * API:
 *   type ContainerdLine = '1.7' | '2'
 *   CONTAINERD_LINES: readonly ContainerdLine[]                  ['1.7', '2']
 *   VERSION_LINES: Record<ContainerdLine, {name, text}[]>
 *       the real `containerd --version` lines of test/fixtures/ami/containerd-version/ for each line:
 *       2 -> 2.2.4 (AMI build) and v2.1.4 (upstream build shape); 1.7 -> 1.7.27
 *   containerdBinary(line): string                               upstream containerd-v2.2.4 / containerd-v1.7.27
 *   ctrBinary(): string                                          upstream ctr-v2.2.4 (it talks to 1.7.27 too)
 *   nodeadmRender(input): Promise<RenderResult>
 *       writes input.userData and input.dropIns (file name -> text) into a temp dir and runs
 *       `nodeadm-render -c userdata:U -c file:///D/ --containerd-version LINE [--strict] --kubelet-version V
 *       --cpus N --memory-gib M --out-dir O [--migrate-with containerd]`, the sources in the order nodeadm-run.service names them
 *       (user data, then /etc/eks/nodeadm.d/). Result: code, config (stdout: the config.toml nodeadm
 *       writes), stderr (one line per decision), nodeConfig (the merged NodeConfig, parsed),
 *       sociConfig (the soci config.toml nodeadm writes with FastImagePull on; else undefined).
 *   appendMimePart(mime, contentType, body): string
 *       adds a part before the closing boundary, as EKS does for managed node groups (its NodeConfig
 *       after ours) and Karpenter does (its NodeConfig last).
 *   configDump(line, configText): Promise<ConfigDumpResult>
 *       runs `containerd --config F config dump` and parses stdout with js-toml.
 *       ok = exit 0 and the dump parsed. 2.x logs "Ignoring unknown key in TOML" on stderr: grep it.
 *       1.7 silently drops unknown keys: assert on the values in `dump`, not on ok alone.
 *   getPath(obj, ...keys): unknown                               obj[k1][k2]... or undefined (for dumps)
 *   flatten(obj): Map<string, unknown>                           dotted key path -> leaf value (arrays are leaves)
 *   startContainerd(line, configText, opts?): Promise<RunningContainerd>
 *       rewrites root, state, [grpc] address, the opt plugin path and NRI's socket into a fresh temp
 *       dir, starts that containerd as a child process (as root), waits until `ctr version` answers.
 *       stop() kills only that PID (TERM, then KILL after 5 s), unmounts what it left under the temp
 *       dir, and removes the dir. Every instance still running when the test process exits is killed.
 *   parsePluginsLs(stdout): PluginRow[]                          rows of `ctr plugins ls`
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump as tomlDump, load as tomlLoad } from 'js-toml';
import { REPO_ROOT, run, type RunResult } from './exec.js';
import { upstreamBin } from './upstream.js';

export type ContainerdLine = '1.7' | '2';
export const CONTAINERD_LINES: readonly ContainerdLine[] = ['1.7', '2'];

const VERSION_DIR = join(REPO_ROOT, 'test', 'fixtures', 'ami', 'containerd-version');
const versionLine = (file: string) => ({ name: file.replace(/\.txt$/, ''), text: readFileSync(join(VERSION_DIR, file), 'utf8').trim() });

/** What /etc/eks/containerd-version.txt holds on a node of each line (real shapes, see the README there). */
export const VERSION_LINES: Record<ContainerdLine, { name: string; text: string }[]> = {
  '2': [versionLine('2.2.4.txt'), versionLine('v2.1.4-upstream-build.txt')],
  '1.7': [versionLine('1.7.27.txt')],
};

export function containerdBinary(line: ContainerdLine): string {
  return upstreamBin(line === '2' ? 'containerd-v2.2.4' : 'containerd-v1.7.27');
}

export function ctrBinary(): string {
  return upstreamBin('ctr-v2.2.4');
}

export interface RenderInput {
  /** the EC2 user data (MIME, as our generator writes it) */
  userData: string;
  /** /etc/eks/nodeadm.d/: file name -> content */
  dropIns?: Record<string, string>;
  /** the `containerd --version` line */
  versionLine: string;
  /** "1.33" or "v1.33.0" */
  kubernetesVersion?: string;
  /** stop on validation errors, as `nodeadm init` does (default true) */
  strict?: boolean;
  cpus?: number;
  memoryGib?: number;
  /** run this line's real `containerd config migrate` where nodeadm would (v2 template on containerd 2) */
  migrateWith?: ContainerdLine;
}

export interface RenderResult {
  code: number;
  config: string;
  stderr: string;
  nodeConfig: any;
  sociConfig: string | undefined;
}

export async function nodeadmRender(input: RenderInput): Promise<RenderResult> {
  const bin = upstreamBin('nodeadm-render');
  const dir = mkdtempSync(join(tmpdir(), 'nodeadm-render-'));
  try {
    const userData = join(dir, 'user-data');
    writeFileSync(userData, input.userData);
    const dropIns = join(dir, 'nodeadm.d');
    mkdirSync(dropIns);
    for (const [name, text] of Object.entries(input.dropIns ?? {})) writeFileSync(join(dropIns, name), text);
    const out = join(dir, 'out');
    const k8s = input.kubernetesVersion ?? '1.33';
    const args = [
      '-c', `userdata:${userData}`,
      '-c', `file://${dropIns}/`,
      '--containerd-version', input.versionLine,
      '--kubelet-version', k8s.startsWith('v') ? k8s : `v${k8s}.0`,
      '--cpus', String(input.cpus ?? 8),
      '--memory-gib', String(input.memoryGib ?? 32),
      '--out-dir', out,
      ...(input.strict === false ? [] : ['--strict']),
      ...(input.migrateWith ? ['--migrate-with', containerdBinary(input.migrateWith)] : []),
    ];
    const r = await run(bin, args, { cwd: dir, timeoutMs: 30_000 });
    const read = (f: string) => (existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : undefined);
    const merged = read('nodeconfig.merged.json');
    return { code: r.code, config: r.stdout, stderr: r.stderr, nodeConfig: merged ? JSON.parse(merged) : undefined, sociConfig: read('soci-snapshotter-grpc.config.toml') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function appendMimePart(mime: string, contentType: string, body: string): string {
  const boundary = /boundary="?([^";\r\n]+)"?/.exec(mime)?.[1];
  if (!boundary) throw new Error('appendMimePart: not a multipart document');
  const close = `--${boundary}--`;
  const at = mime.lastIndexOf(close);
  if (at < 0) throw new Error(`appendMimePart: no closing boundary ${close}`);
  const part = `--${boundary}\nContent-Type: ${contentType}\n\n${body.endsWith('\n') ? body : `${body}\n`}\n`;
  return mime.slice(0, at) + part + mime.slice(at);
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

export function flatten(obj: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (!isTable(obj)) {
    out.set(prefix, obj);
    return out;
  }
  for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
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
  /** runs `ctr --address <address> ...args` */
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

function rewriteForTempDir(configText: string, dir: string): string {
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
  table(plugins, 'io.containerd.nri.v1.nri').socket_path = join(dir, 'nri.sock');
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

export async function startContainerd(line: ContainerdLine, configText: string, opts: StartOptions = {}): Promise<RunningContainerd> {
  const bin = containerdBinary(line);
  const ctr = ctrBinary();
  if (process.getuid?.() !== 0) throw new Error('startContainerd needs root (containerd mounts and chowns under its root)');
  const dir = mkdtempSync(join(tmpdir(), `ctd-${line}-`));
  const configPath = join(dir, 'config.toml');
  const address = join(dir, 'containerd.sock');
  let text: string;
  try {
    text = rewriteForTempDir(configText, dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`startContainerd: the config is not valid TOML: ${(e as Error).message}`);
  }
  writeFileSync(configPath, text);

  const env = { ...process.env, ...opts.env };
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

  return { line, dir, address, configPath, pid: child.pid!, ctr: ctrRun, logs: () => log, stop };
}
