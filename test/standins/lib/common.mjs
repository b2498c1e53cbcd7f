// Helpers shared by the node TEST STAND-INs (nodeadm, cloud-init's final stage, kubelet).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
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

function maybeGunzip(buf) {
  return buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf;
}

function maybeBase64(buf) {
  const text = buf.toString('latin1').trim();
  if (text.length < 8 || !/^[A-Za-z0-9+/=\r\n]+$/.test(text)) return buf;
  const decoded = Buffer.from(text, 'base64');
  const head = decoded.subarray(0, 64).toString('latin1');
  return decoded[0] === 0x1f || /^(MIME-Version|Content-Type|#!|#cloud|apiVersion|---)/im.test(head) ? decoded : buf;
}

/** Decodes a user data payload the way nodeadm does: base64 and gzip are undone when present. */
export function decodePayload(buf) {
  return maybeGunzip(maybeBase64(maybeGunzip(buf)));
}

function headerValue(headers, name) {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(headers);
  return m ? m[1].trim() : '';
}

/**
 * Splits user data into parts [{ contentType, body: Buffer }]. A non-MIME payload is one part whose
 * type is guessed like cloud-init and Karpenter do (#! shell script, NodeConfig YAML, #cloud-config).
 */
export function userDataParts(raw) {
  const text = decodePayload(raw).toString('utf8').replace(/\r\n/g, '\n');
  const headEnd = text.indexOf('\n\n');
  const head = headEnd >= 0 ? text.slice(0, headEnd) : '';
  const ctype = headerValue(head, 'Content-Type');
  if (/^multipart\//i.test(ctype)) {
    const b = /boundary="?([^";]+)"?/i.exec(ctype);
    if (!b) throw new Error('multipart user data without a boundary');
    const boundary = `--${b[1]}`;
    const body = text.slice(headEnd + 2);
    const chunks = body.split(new RegExp(`^${boundary.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?:--)?[ \\t]*$`, 'm'));
    const parts = [];
    for (const chunk of chunks.slice(1)) {
      const c = chunk.replace(/^\n/, '');
      const end = c.indexOf('\n\n');
      if (end < 0) continue;
      const headers = c.slice(0, end);
      const type = headerValue(headers, 'Content-Type').split(';')[0].trim().toLowerCase();
      if (!type) continue;
      let partBody = Buffer.from(c.slice(end + 2).replace(/\n$/, ''), 'utf8');
      if (/base64/i.test(headerValue(headers, 'Content-Transfer-Encoding'))) partBody = Buffer.from(partBody.toString(), 'base64');
      // like cloud-init: a gzip part is unpacked and then read as if it had come uncompressed
      if (type === 'application/x-gzip' || type === 'application/gzip') parts.push(...userDataParts(maybeGunzip(partBody)));
      else parts.push({ contentType: type, body: maybeGunzip(partBody) });
    }
    return parts;
  }
  const body = Buffer.from(text, 'utf8');
  if (text.startsWith('#!')) return [{ contentType: 'text/x-shellscript', body }];
  if (text.startsWith('#cloud-config')) return [{ contentType: 'text/cloud-config', body }];
  if (/^\s*(---\s*\n)?[\s\S]*apiVersion:\s*node\.eks\.aws\//m.test(text)) return [{ contentType: 'application/node.eks.aws', body }];
  return text.trim() ? [{ contentType: 'text/plain', body }] : [];
}

export function readUserDataParts() {
  const raw = readIfExists(USER_DATA_FILE);
  return raw ? userDataParts(raw) : [];
}

export function instanceId() {
  return (readIfExists(INSTANCE_ID_FILE)?.toString() ?? 'i-standin').trim();
}
