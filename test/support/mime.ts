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
 */
import { join } from 'node:path';
import { REPO_ROOT, requireExecutable, run, SETUP_HINT } from './exec.js';

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
