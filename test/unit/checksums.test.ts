// `checksums` against a release mirror stand-in on 127.0.0.1 (the real one is GitHub).
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchChecksums, writeChecksums } from '../../src/checksums.js';
import { loadProfile, plan, ExternalError } from '../../src/index.js';
import { CLI, run } from '../support/exec.js';

const SUMS: Record<string, string> = {
  '/releases/download/v0.15.0/soci-snapshotter-0.15.0-linux-amd64.tar.gz.sha256sum': `${'a'.repeat(64)}  soci-snapshotter-0.15.0-linux-amd64.tar.gz\n`,
  '/releases/download/v0.15.0/soci-snapshotter-0.15.0-linux-arm64.tar.gz.sha256sum': `${'b'.repeat(64)}  soci-snapshotter-0.15.0-linux-arm64.tar.gz\n`,
  '/releases/download/v0.9.9/soci-snapshotter-0.9.9-linux-amd64.tar.gz.sha256sum': 'this is not a checksum\n',
  '/releases/download/v0.9.8/soci-snapshotter-0.9.8-linux-amd64.tar.gz.sha256sum': `${'c'.repeat(64)}  other-file.tar.gz\n`,
};
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = SUMS[req.url ?? ''];
    res.writeHead(body ? 200 : 404).end(body ?? 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}/releases/download`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('checksums', () => {
  it('fetches the published sha256sum of each architecture', async () => {
    expect(await fetchChecksums({ version: '0.15.0', baseUrl: base })).toEqual({ amd64: 'a'.repeat(64), arm64: 'b'.repeat(64) });
    expect(await fetchChecksums({ version: '0.15.0', baseUrl: `${base}/`, arches: ['arm64'] })).toEqual({ arm64: 'b'.repeat(64) });
  });

  it('says which URL failed and why', async () => {
    await expect(fetchChecksums({ version: '0.1.0', baseUrl: base })).rejects.toThrow(
      new ExternalError(`${base}/v0.1.0/soci-snapshotter-0.1.0-linux-amd64.tar.gz.sha256sum: HTTP 404 (no such release or architecture?)`),
    );
    await expect(fetchChecksums({ version: '0.9.9', baseUrl: base, arches: ['amd64'] })).rejects.toThrow(/not a sha256sum line/);
    await expect(fetchChecksums({ version: '0.9.8', baseUrl: base, arches: ['amd64'] })).rejects.toThrow(/names other-file\.tar\.gz, expected soci-snapshotter-0\.9\.8-linux-amd64\.tar\.gz/);
    await expect(fetchChecksums({ version: '0.15.0', baseUrl: 'http://127.0.0.1:1/x' })).rejects.toThrow(/127\.0\.0\.1:1\/x\/v0\.15\.0\/.*fetch failed/);
  });

  it('writes version and sums into a profile, keeping its comments, and the profile then renders', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'soci-sums-'));
    const file = join(dir, 'soci.yaml');
    writeFileSync(file, '# my cluster\nsoci:\n  mode: lazy # fast starts\n  source: auto\n');
    writeChecksums(file, '0.15.0', await fetchChecksums({ version: '0.15.0', baseUrl: base }));
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# my cluster');
    expect(text).toContain('mode: lazy # fast starts');
    expect(plan(loadProfile(text)).releases.map((r) => r.sha256)).toEqual(['a'.repeat(64), 'b'.repeat(64)]);
  });

  it('the CLI prints the YAML to paste, or writes it with --write', async () => {
    const res = await run(process.execPath, [CLI, 'checksums', '--version', '0.15.0', '--base-url', base]);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(`soci:\n  version: 0.15.0\n  sha256:\n    amd64: ${'a'.repeat(64)}\n    arm64: ${'b'.repeat(64)}\n`);
    const bad = await run(process.execPath, [CLI, 'checksums', '--version', 'latest']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('soci-installer: --version: "latest" is not a release such as 0.15.0\n');
  });

  it('issue 10: --write edits only soci.version and the sha256 values; every other byte stays (000123, long integers, 1e400, comments, quotes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'soci-sums-'));
    const file = join(dir, 'soci.yaml');
    const rest = "# keep me\nnode: { arch: x86_64 }   # flow, spaced\nkarpenter:\n  name: '000123'\nextra: &a 12345678901234567890123\nweird: 1e400\nzip: 000123\n";
    const before = `${rest}soci:\n  mode: lazy\n  version: "0.14.0" # pinned\n  sha256:\n    amd64: '${'0'.repeat(64)}'\n  source: auto\n`;
    writeFileSync(file, before);
    writeChecksums(file, '0.15.0', { amd64: 'a'.repeat(64), arm64: '1'.repeat(64) });
    expect(readFileSync(file, 'utf8')).toBe(
      `${rest}soci:\n  mode: lazy\n  version: "0.15.0" # pinned\n  sha256:\n    amd64: '${'a'.repeat(64)}'\n    arm64: "${'1'.repeat(64)}"\n  source: auto\n`,
    );
  });
});
