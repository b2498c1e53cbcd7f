/**
 * Read MIME user data back with real parsers: Python's `email` module and cloud-init's own code.
 * Uses Debian's /usr/bin/python3 on purpose (a pyenv/venv python3 on PATH cannot import cloud-init).
 * Both scripts live in test/support/python/.
 *
 * API:
 *   parseMimeWithPython(text): Promise<PythonMime>
 *     email.message_from_string(text, policy=email.policy.default).
 *     PythonMime = { contentType: string; isMultipart: boolean; boundary: string | null;
 *                    defects: string[]    // every defect anywhere, "ClassName" or "ClassName: message",
 *                                         // e.g. "CloseBoundaryNotFoundDefect"
 *                    parts: { contentType: string; headers: Record<string, string>;
 *                             headerList: [string, string][]; body: string; defects: string[] }[] }
 *     parts are the leaf parts in order; bodies are decoded (transfer encoding, charset).
 *     headers keeps the last value of a repeated header name; headerList keeps them all.
 *   cloudInitParts(text): Promise<CloudInitParts>
 *     cloud-init 22.4's UserDataProcessor + handlers.walk/walker_callback, with recorders in place of the
 *     default user-data handlers (nothing runs, nothing is fetched: an #include makes it throw).
 *     CloudInitParts = { parts: { contentType: string; filename: string; payload: string; handled: boolean }[];
 *                        handledTypes: string[];   // types cloud-init's default handlers take
 *                        logs: string[];           // "LEVEL logger: message", INFO and above
 *                        unhandled: string[] }     // the logs saying "Unhandled ... content-type"
 *   runWrapper(wrapper): Promise<{ code: number; stderr: string; ran: string | undefined; leftovers: string[] }>
 *     runs a self-extracting wrapper (src/mime/self-extracting.ts) unchanged with /bin/bash in a temp dir,
 *     with a `bash` first on PATH that records the script the wrapper hands it instead of running it:
 *     ran is that script, byte for byte; leftovers are the files the wrapper left in its TMPDIR.
 *   nodeadmRender(userData, opts?): Promise<{ code; stderr; config; merged }>
 *     the real nodeadm-render (nodeadm's own user-data provider, merge and containerd config) over user
 *     data as the instance receives it, plus the drop-in files given ({ path under nodeadm.d: content });
 *     config is the containerd config.toml nodeadm would write, merged the merged NodeConfig (JSON).
 *     opts: { dropIns?: Record<string, string>; containerd?: '2' | '1.7'; cpus?: number; memoryGib?: number }
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, requireExecutable, run, SETUP_HINT } from './exec.js';
import { upstreamBin } from './upstream.js';

const PYTHON = '/usr/bin/python3';
const SCRIPTS = join(REPO_ROOT, 'test', 'support', 'python');

export interface PythonMimePart {
  contentType: string;
  headers: Record<string, string>;
  headerList: [string, string][];
  body: string;
  defects: string[];
}

export interface PythonMime {
  contentType: string;
  isMultipart: boolean;
  boundary: string | null;
  defects: string[];
  parts: PythonMimePart[];
}

export interface CloudInitPart {
  contentType: string;
  filename: string;
  payload: string;
  handled: boolean;
}

export interface CloudInitParts {
  parts: CloudInitPart[];
  handledTypes: string[];
  logs: string[];
  unhandled: string[];
}

async function runPythonJson(script: string, text: string, what: string): Promise<unknown> {
  requireExecutable(PYTHON, 'python3 (Debian package python3)');
  const r = await run(PYTHON, [join(SCRIPTS, script)], { input: text, timeoutMs: 30_000 });
  if (r.code !== 0) {
    const hint = /No module named 'cloudinit'/.test(r.stderr) ? ` (cloud-init is not installed: ${SETUP_HINT})` : '';
    throw new Error(`${what} failed (exit ${r.code})${hint}:\n${r.stderr}`);
  }
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    throw new Error(`${what} printed no JSON: ${(e as Error).message}\n${r.stdout}\n${r.stderr}`);
  }
}

export async function parseMimeWithPython(text: string): Promise<PythonMime> {
  const raw = (await runPythonJson('parse_mime.py', text, 'python3 email parser')) as Omit<PythonMime, 'parts'> & {
    parts: { contentType: string; headers: [string, string][]; body: string; defects: string[] }[];
  };
  return {
    ...raw,
    parts: raw.parts.map((p) => ({
      contentType: p.contentType,
      headers: Object.fromEntries(p.headers),
      headerList: p.headers,
      body: p.body,
      defects: p.defects,
    })),
  };
}

export async function cloudInitParts(text: string): Promise<CloudInitParts> {
  return (await runPythonJson('cloud_init_parts.py', text, "cloud-init's UserDataProcessor")) as CloudInitParts;
}

export async function runWrapper(wrapper: string): Promise<{ code: number; stderr: string; ran: string | undefined; leftovers: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'soci-wrapper-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(join(dir, 'wrapper.sh'), wrapper);
    // The wrapper's last command, `bash "$script"`, finds this first: it keeps the script, runs nothing.
    writeFileSync(join(dir, 'bin', 'bash'), `#!/bin/sh\ncp "$1" '${dir}/ran'\n`);
    chmodSync(join(dir, 'bin', 'bash'), 0o755);
    const r = await run('/bin/bash', [join(dir, 'wrapper.sh')], {
      cwd: dir,
      env: { PATH: `${dir}/bin:/usr/bin:/bin`, TMPDIR: join(dir, 'tmp') },
      timeoutMs: 30_000,
    });
    let ran: string | undefined;
    try {
      ran = readFileSync(join(dir, 'ran'), 'utf8');
    } catch {
      ran = undefined;
    }
    return { code: r.code, stderr: r.stderr, ran, leftovers: readdirSync(join(dir, 'tmp')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The AMI's own containerd-version.txt lines (test/fixtures/ami/containerd-version/).
const containerdLine = (v: '2' | '1.7') =>
  readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'ami', 'containerd-version', v === '2' ? '2.2.4.txt' : '1.7.27.txt'), 'utf8').trim();

export async function nodeadmRender(
  userData: string,
  opts: { dropIns?: Record<string, string>; containerd?: '2' | '1.7'; cpus?: number; memoryGib?: number } = {},
): Promise<{ code: number; stderr: string; config: string; merged: any }> {
  const bin = upstreamBin('nodeadm-render');
  const dir = mkdtempSync(join(tmpdir(), 'soci-nodeadm-'));
  try {
    writeFileSync(join(dir, 'user-data'), userData);
    mkdirSync(join(dir, 'nodeadm.d'));
    for (const [name, content] of Object.entries(opts.dropIns ?? {})) writeFileSync(join(dir, 'nodeadm.d', name), content);
    const args = ['-c', `userdata:${dir}/user-data`, '-c', `file://${dir}/nodeadm.d/`, '--containerd-version', containerdLine(opts.containerd ?? '2'), '--dump-nodeconfig'];
    if (opts.cpus !== undefined) args.push('--cpus', String(opts.cpus));
    if (opts.memoryGib !== undefined) args.push('--memory-gib', String(opts.memoryGib));
    const r = await run(bin, args, { timeoutMs: 30_000 });
    // --dump-nodeconfig prints the merged NodeConfig on stderr, between these two lines.
    const m = /---- merged NodeConfig ----\n([\s\S]*?)\n---- end ----/.exec(r.stderr);
    return { code: r.code, stderr: r.stderr, config: r.stdout, merged: m ? JSON.parse(m[1]!) : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
