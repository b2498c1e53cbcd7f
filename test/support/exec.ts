/**
 * Small process helpers shared by the validator wrappers in test/support/.
 *
 * API:
 *   REPO_ROOT: string                         absolute path of the repository
 *   CLI: string                               the built CLI as a user's install runs it: package.json's bin
 *                                             (the bundle, dist/cli/bin.js; `npm run build` makes it)
 *   SETUP_HINT: string                        "run scripts/setup-test-tools.sh (as root)"
 *   interface RunResult { code: number; stdout: string; stderr: string; signal: NodeJS.Signals | null }
 *   interface RunOptions { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }
 *   buildCli(): Promise<string>
 *       tsc, then the CLI's bundle (scripts/bundle-cli.mjs), so tests that run CLI never run a stale one;
 *       what they printed: '' when all is well
 *   run(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>
 *       never rejects because of a non-zero exit; rejects if the program cannot be started or times out
 *   requireExecutable(path: string, what: string): string
 *       returns path if it is an executable file, else throws "<what> not found at <path>: run scripts/setup-test-tools.sh"
 *   requireOnPath(name: string, what?: string): string
 *       resolves name on $PATH (plus /usr/sbin, /usr/bin) or throws the same kind of error
 *
 * A missing tool is always an error, never a skip: the suite must fail loudly on a machine that was not set up.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['soci-installer']!);
export const SETUP_HINT = 'run scripts/setup-test-tools.sh (as root)';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  signal: NodeJS.Signals | null;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

export async function buildCli(): Promise<string> {
  let printed = '';
  for (const step of [[join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', REPO_ROOT], [join(REPO_ROOT, 'scripts', 'bundle-cli.mjs')]]) {
    const res = await run(process.execPath, step, { cwd: REPO_ROOT, timeoutMs: 300_000 });
    printed += res.stdout + res.stderr;
    if (res.code !== 0) return printed || `${step.join(' ')} exited ${res.code}`;
  }
  return printed;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
        return;
      }
      resolvePromise({ code: code ?? 128, stdout, stderr, signal });
    });
    // a child that exits before reading its stdin must not crash the test with EPIPE
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function requireExecutable(path: string, what: string): string {
  if (!isExecutableFile(path)) {
    throw new Error(`${what} not found at ${path}: ${SETUP_HINT}`);
  }
  return path;
}

export function requireOnPath(name: string, what: string = name): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    if (isExecutableFile(p)) return p;
  }
  throw new Error(`${what} not found (no '${name}' on PATH): ${SETUP_HINT}`);
}
