// `checksums`: fetch the published .sha256sum files of a soci release and pin them in a profile.
// The only command that needs the internet (or a mirror: --base-url / soci.releaseBaseUrl).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ExternalError, UsageError } from './errors.js';
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

/** Writes soci.version and soci.sha256 into a profile file, keeping its comments; atomic. */
export function writeChecksums(profilePath: string, version: string, sums: Partial<Record<ReleaseArch, string>>): void {
  const doc = parseDocument(readFileSync(profilePath, 'utf8'));
  if (doc.errors.length) throw new UsageError(`${profilePath}: YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  doc.setIn(['soci', 'version'], version);
  for (const [arch, sum] of Object.entries(sums)) doc.setIn(['soci', 'sha256', arch], sum);
  const tmp = `${profilePath}.tmp-${process.pid}`;
  writeFileSync(tmp, doc.toString({ lineWidth: 0 }));
  renameSync(tmp, profilePath);
}
