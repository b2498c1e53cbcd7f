// check-image against the local registry: 100 images in one run, the time it takes and what it fetched per
// image, measured on the wire by a loopback proxy in front of the real docker-registry (Debian's), so the
// figures count what a registry would bill. Target: no layer bytes, under 50 KB per image. Prints figures
// and exits 1 only if a layer blob was fetched or the target is missed.
// The test helpers are TypeScript: Node 24 strips their types; this hook maps their ".js" imports to ".ts".
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
export async function resolve(specifier, context, next) {
  if (specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const ts = new URL(specifier.replace(/\\.js$/, '.ts'), context.parentURL);
    if (existsSync(fileURLToPath(ts))) return next(ts.href, context);
  }
  return next(specifier, context);
}`),
);

const root = fileURLToPath(new URL('..', import.meta.url));
const { writeOciLayout } = await import(join(root, 'test/support/oci-image.ts'));
const { pushLayout, startRegistry } = await import(join(root, 'test/support/registry.ts'));
const { upstreamBin } = await import(join(root, 'test/support/upstream.ts'));
const { startProxy } = await import(join(root, 'test/standins/registry-proxy.ts'));

const run = (cmd, args, env = process.env) =>
  new Promise((resolve) => execFile(cmd, args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr })));

const work = mkdtempSync(join(tmpdir(), 'bench-check-image-'));
const registry = await startRegistry();
let proxy;
try {
  // 10 images, two platforms and three layers each (half SOCI-enabled by the real soci convert --standalone),
  // each under 10 tags: 100 references, each checked in full (the CLI caches nothing between images).
  const refs = [];
  for (let i = 0; i < 10; i++) {
    const img = writeOciLayout(join(work, `img-${i}`), ['amd64', 'arm64'].map((architecture) => ({
      architecture,
      layers: [200_000, 50_000, 4_000].map((bytes, l) => ({ seed: `bench-${i}-${architecture}-${l}`, bytes })),
    })));
    let dir = img.dir;
    if (i % 2 === 0) {
      dir = join(work, `soci-${i}`);
      const c = await run(upstreamBin('soci'), ['convert', '--standalone', '--all-platforms', '--min-layer-size', '40000', '--format', 'oci-dir', img.dir, dir]);
      if (c.code !== 0) throw new Error(`soci convert: ${c.stderr}`);
    }
    const repo = `bench/app-${i}`;
    await pushLayout(dir, `${registry.host}/${repo}:t0`);
    const body = Buffer.from(await (await fetch(`http://${registry.host}/v2/${repo}/manifests/t0`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } })).arrayBuffer());
    for (let t = 0; t < 10; t++) {
      if (t > 0) await fetch(`http://${registry.host}/v2/${repo}/manifests/t${t}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body });
      refs.push(`${repo}:t${t}`);
    }
  }
  proxy = await startProxy(registry.host);
  const empty = join(work, 'docker');
  const t0 = performance.now();
  const res = await run(process.execPath, [join(root, 'dist/cli/bin.js'), 'check-image', '--json', ...refs.map((r) => `${proxy.host}/${r}`)], { ...process.env, DOCKER_CONFIG: empty });
  const wall = performance.now() - t0;
  if (res.code !== 0 && res.code !== 1) throw new Error(`check-image exited ${res.code}: ${res.stderr}`);
  const out = JSON.parse(res.stdout);
  const bytes = proxy.seen.reduce((n, s) => n + s.bytes, 0);
  // Blobs are only asked about (HEAD: that each zTOC of a SOCI index is there), never read.
  const layerRequests = proxy.seen.filter((s) => s.path.includes('/blobs/') && s.method !== 'HEAD').length;
  const heads = proxy.seen.filter((s) => s.method === 'HEAD').length;
  const perImage = out.images.map((i) => i.fetched.bytes).sort((a, b) => a - b);
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  console.log(`check-image, ${out.images.length} images x 2 platforms in one run (${out.images.filter((i) => i.ready).length} ready), local docker-registry:`);
  console.log(`  wall time ${(wall / 1000).toFixed(2)} s including CLI start; ${(wall / out.images.length).toFixed(1)} ms per image`);
  console.log(`  requests ${proxy.seen.length} (${(proxy.seen.length / out.images.length).toFixed(1)} per image), at most ${proxy.maxInFlight} in flight`);
  console.log(`  bytes on the wire (response bodies) ${kb(bytes)}: ${kb(bytes / out.images.length)} per image (largest ${kb(perImage.at(-1))}); target < 50 KB`);
  console.log(`  blob reads (layers or configs): ${layerRequests}; target 0; HEADs of zTOCs: ${heads}`);
  if (layerRequests > 0 || perImage.at(-1) >= 50_000) process.exitCode = 1;
} finally {
  await proxy?.stop();
  await registry.stop();
  if (existsSync(work)) rmSync(work, { recursive: true, force: true });
}
