/**
 * Checks a soci-snapshotter config.toml against every key soci-snapshotter v0.15.0 reads
 * (schemas/upstream/soci-config-defaults-v0.15.0.toml, its config/config.toml, copied unchanged).
 * soci ignores unknown keys silently, so an unknown key here is a typo no node would report.
 *
 * API:
 *   sociConfigUnknownKeys(tomlText: string): string[]
 *     every key path in tomlText that the defaults file does not have, e.g. 'fuse.attr_timout' or
 *     'resolver.host."docker.io".mirrors[0].hots'. Throws if tomlText is not valid TOML.
 *     Besides the defaults file, these map-valued tables are allowed (soci's config types; a defaults
 *     file cannot list them):
 *       resolver.host."<registry host>".mirrors = [{ host, insecure, request_timeout_sec }, ...]
 *       pull_modes.parallel_pull_unpack.decompress_streams."<name>" = { path, args }
 *     Only key names are checked, not value types.
 *   SOCI_DEFAULTS_FILE: string                      absolute path of the defaults file
 *   sociDefaults(): Record<string, unknown>         the defaults file, parsed
 *
 * And soci v0.15.0 itself (test/support/upstream.ts):
 *   sociConfigStrict(tomlText): Promise<{ code, stderr }>
 *     `soci-config-strict F`: loads F as the daemon does. code 0: loads, every key read; 1: the daemon
 *     would refuse to load it; 4: keys the daemon would silently ignore (listed on stderr).
 *   startSoci(tomlText, opts?): Promise<SociStart>
 *     runs the real `soci-snapshotter-grpc --config F --root T/root --address T/sock` in a fresh temp dir T
 *     until it logs "successfully started" (started: true) or exits (started: false; `error` is the
 *     message of its fatal log line), or opts.timeoutMs (15 s) passes (an error). stop() kills only the
 *     PID it started and removes T. Every daemon still running when the test process exits is killed.
 *     SociStart: { started, error, log, address, pid, stop() }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load as tomlLoad } from 'js-toml';
import { REPO_ROOT, run } from './exec.js';
import { upstreamBin } from './upstream.js';

export const SOCI_DEFAULTS_FILE = join(REPO_ROOT, 'schemas', 'upstream', 'soci-config-defaults-v0.15.0.toml');

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

let defaults: Table | undefined;
export function sociDefaults(): Table {
  defaults ??= tomlLoad(readFileSync(SOCI_DEFAULTS_FILE, 'utf8'));
  return defaults;
}

function keyText(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

function join2(prefix: string, k: string): string {
  return prefix ? `${prefix}.${keyText(k)}` : keyText(k);
}

const MIRROR_KEYS = new Set(['host', 'insecure', 'request_timeout_sec']);
const DECOMPRESS_KEYS = new Set(['path', 'args']);

function checkAllowedKeys(obj: unknown, allowed: Set<string>, path: string, out: string[]): void {
  if (!isTable(obj)) return;
  for (const k of Object.keys(obj)) if (!allowed.has(k)) out.push(join2(path, k));
}

/** Keys of `given` not in `known`, recursing into tables both sides have. */
function diff(given: Table, known: Table, path: string, out: string[]): void {
  for (const [k, v] of Object.entries(given)) {
    const p = join2(path, k);
    // map-valued tables soci reads but a defaults file cannot list
    if (path === 'resolver' && k === 'host' && isTable(v)) {
      for (const [host, hostTable] of Object.entries(v)) {
        const hp = join2(p, host);
        if (!isTable(hostTable)) {
          out.push(hp);
          continue;
        }
        for (const [hk, hv] of Object.entries(hostTable)) {
          if (hk !== 'mirrors') {
            out.push(join2(hp, hk));
            continue;
          }
          const mirrors = Array.isArray(hv) ? hv : [hv];
          mirrors.forEach((m, i) => checkAllowedKeys(m, MIRROR_KEYS, `${join2(hp, 'mirrors')}[${i}]`, out));
        }
      }
      continue;
    }
    if (path === 'pull_modes.parallel_pull_unpack' && k === 'decompress_streams' && isTable(v)) {
      for (const [name, table] of Object.entries(v)) {
        if (isTable(table)) checkAllowedKeys(table, DECOMPRESS_KEYS, join2(p, name), out);
        else out.push(join2(p, name));
      }
      continue;
    }
    if (!(k in known)) {
      out.push(p);
      continue;
    }
    const kv = known[k];
    if (isTable(v) && isTable(kv)) diff(v, kv, p, out);
  }
}

export function sociConfigUnknownKeys(tomlText: string): string[] {
  const given = tomlLoad(tomlText);
  const out: string[] = [];
  diff(given, sociDefaults(), '', out);
  return out;
}

export async function sociConfigStrict(tomlText: string): Promise<{ code: number; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'soci-strict-'));
  try {
    writeFileSync(join(dir, 'config.toml'), tomlText);
    const r = await run(upstreamBin('soci-config-strict'), [join(dir, 'config.toml')], { timeoutMs: 20_000 });
    return { code: r.code, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SociStart {
  started: boolean;
  /** the "error" of soci's fatal log line when it exited */
  error: string | undefined;
  log: string;
  address: string;
  pid: number;
  stop(): Promise<void>;
}

const daemons = new Set<ChildProcess>();
let hooked = false;

export async function startSoci(tomlText: string, opts: { timeoutMs?: number } = {}): Promise<SociStart> {
  const dir = mkdtempSync(join(tmpdir(), 'soci-start-'));
  const config = join(dir, 'config.toml');
  const address = join(dir, 'sock');
  writeFileSync(config, tomlText);
  const child = spawn(upstreamBin('soci-snapshotter-grpc'), ['--config', config, '--root', join(dir, 'root'), '--address', address], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  daemons.add(child);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => daemons.forEach((c) => c.kill('SIGKILL')));
  }
  let log = '';
  const append = (b: Buffer): void => {
    if (log.length < 1_000_000) log += b.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = false;
  const exit = new Promise<void>((res) => child.on('close', () => ((exited = true), daemons.delete(child), res())));
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => exited || child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (!exited && !/successfully started/.test(log)) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`soci-snapshotter-grpc neither started nor exited in time:\n${log.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const fatal = log
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l) as { level?: string; error?: string; msg?: string };
      } catch {
        return undefined;
      }
    })
    .find((l) => l?.level === 'fatal');
  return { started: !exited, error: fatal ? `${fatal.msg}: ${fatal.error}` : undefined, log, address, pid: child.pid!, stop };
}
