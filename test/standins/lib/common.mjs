// Helpers shared by the node TEST STAND-INs (IMDS, kubelet).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

/** Stand-in for the instance metadata service: the user data and instance id of this fake instance. */
export const IMDS_DIR = '/var/lib/standin-imds';
export const USER_DATA_FILE = path.join(IMDS_DIR, 'user-data');
export const INSTANCE_ID_FILE = path.join(IMDS_DIR, 'instance-id');

export function say(tool, msg) {
  process.stdout.write(`${tool}: ${msg}\n`);
}

export function readIfExists(file) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
}

export function writeFileWithDir(file, content, mode = 0o644) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** Runs a command; returns { code, stdout, stderr } (never throws for a non-zero exit). */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) return { code: 127, stdout: '', stderr: String(r.error.message) };
  return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

/** Key-by-key merge: objects merge recursively, anything else (arrays too) is replaced by the later value. */
export function deepMerge(base, over) {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

/** Plain copies of js-toml's null-prototype objects, so they print and merge like any object. */
export function plain(v) {
  if (Array.isArray(v)) return v.map(plain);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}
