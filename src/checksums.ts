// `checksums`: fetch the published .sha256sum files of a soci release and pin them in a profile.
// The only command that needs the internet (or a mirror: --base-url / soci.releaseBaseUrl).
import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isMap, isScalar, parseDocument, type Scalar } from 'yaml';
import { ExternalError, ProfileError, UsageError } from './errors.js';
import { decodeProfile } from './profile/parse.js';
import { yamlMistakable } from './render/yaml.js';
import { DEFAULTS } from './plan.js';
import type { ReleaseArch } from './profile/schema.js';

export interface ChecksumOptions {
  version: string;
  baseUrl?: string;
  arches?: ReleaseArch[];
  fetchImpl?: typeof fetch;
}

export async function fetchChecksums(opts: ChecksumOptions): Promise<Record<ReleaseArch, string>> {
  if (!/^[0-9]+\.[0-9]+\.[0-9]+$/.test(opts.version)) throw new UsageError(`--version: "${opts.version}" is not a release such as 0.15.0`);
  const base = (opts.baseUrl ?? DEFAULTS.releaseBaseUrl).replace(/\/+$/, '');
  const doFetch = opts.fetchImpl ?? fetch;
  const out = {} as Record<ReleaseArch, string>;
  for (const arch of opts.arches ?? (['amd64', 'arm64'] as const)) {
    const file = `soci-snapshotter-${opts.version}-linux-${arch}.tar.gz`;
    const url = `${base}/v${opts.version}/${file}.sha256sum`;
    let text: string;
    try {
      const res = await doFetch(url, { redirect: 'follow', signal: AbortSignal.timeout(30_000) });
      if (!res.ok) throw new ExternalError(`${url}: HTTP ${res.status}${res.status === 404 ? ' (no such release or architecture?)' : ''}`);
      text = await res.text();
    } catch (err) {
      if (err instanceof ExternalError) throw err;
      throw new ExternalError(`${url}: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as { cause: unknown }).cause)})` : ''}`);
    }
    // sha256sum's line: "<hex>  <file>" (binary mode "<hex> *<file>").
    const m = /^([0-9a-f]{64}) [ *](\S+)\s*$/m.exec(text);
    if (!m) throw new ExternalError(`${url}: not a sha256sum line: ${JSON.stringify(text.slice(0, 80))}`);
    if (m[2] !== file) throw new ExternalError(`${url}: names ${m[2]}, expected ${file}`);
    out[arch] = m[1]!;
  }
  return out;
}

/**
 * Writes soci.version and soci.sha256 into a profile file, changing only those values: every other
 * byte (comments, quoting, numbers such as 000123 or 1e400) stays as it was. Atomic; the mode kept.
 */
export function writeChecksums(profilePath: string, version: string, sums: Partial<Record<ReleaseArch, string>>): void {
  let text: string;
  let mode: number;
  try {
    mode = statSync(profilePath).mode & 0o7777;
    text = decodeProfile(readFileSync(profilePath), profilePath);
  } catch (err) {
    if (err instanceof ProfileError) throw err;
    throw new UsageError(`--write ${profilePath}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  text = setValue(text, ['soci', 'version'], version, profilePath);
  for (const [arch, sum] of Object.entries(sums)) text = setValue(text, ['soci', 'sha256', arch], sum, profilePath);
  const tmp = `${profilePath}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, profilePath);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new ExternalError(`--write ${profilePath}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** `value` as a scalar in the style the old one had; plain only when no YAML reader could mistake it. */
function scalarText(value: string, style: Scalar['type']): string {
  if (style === 'QUOTE_SINGLE') return `'${value}'`;
  if (style === 'QUOTE_DOUBLE' || yamlMistakable(value)) return `"${value}"`;
  return value;
}

/**
 * Sets one scalar by editing the text: the old scalar's source range is replaced, or the missing
 * keys are added as lines at the end of the nearest block mapping (its indentation).
 */
function setValue(text: string, path: string[], value: string, file: string): string {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new UsageError(`${file}: YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const byHand = `${file}: ${path.join('.')} is not written as a plain block mapping value; set it by hand to ${value}`;
  const node = doc.getIn(path, true);
  if (node !== undefined) {
    if (!isScalar(node) || !node.range || !['PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'].includes(node.type ?? '')) throw new UsageError(byHand);
    return text.slice(0, node.range[0]) + scalarText(value, node.type) + text.slice(node.range[1]);
  }
  let depth = path.length - 1;
  while (depth > 0 && doc.getIn(path.slice(0, depth), true) === undefined) depth--;
  const parent = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
  const lines = (indent: string) =>
    path
      .slice(depth)
      .map((key, i) => `${indent}${'  '.repeat(i)}${key}:${i === path.length - depth - 1 ? ` ${scalarText(value, 'PLAIN')}` : ''}\n`)
      .join('');
  if (parent === null || (depth === 0 && isScalar(parent) && parent.value === null)) {
    // An empty document (or one of comments only): append.
    return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${lines('')}`;
  }
  if (!isMap(parent) || parent.flow || !parent.items.length || !isScalar(parent.items[0]!.key) || !parent.range) throw new UsageError(byHand);
  const firstKey = parent.items[0]!.key as Scalar;
  const column = firstKey.range![0] - (text.lastIndexOf('\n', firstKey.range![0] - 1) + 1);
  const last = parent.items[parent.items.length - 1]!;
  const end = ((last.value as Scalar | null)?.range ?? (last.key as Scalar).range!)[1];
  // The value's range may already end after its line break (a nested block mapping's does).
  const eol = text[end - 1] === '\n' ? end - 1 : text.indexOf('\n', end);
  const at = eol < 0 ? text.length : eol + 1;
  return `${text.slice(0, at)}${eol < 0 ? '\n' : ''}${lines(' '.repeat(column))}${text.slice(at)}`;
}
