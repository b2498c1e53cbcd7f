// check-image against real things: Debian's docker-registry on 127.0.0.1, images built here as OCI layouts
// (test/support/oci-image.ts), made SOCI-enabled by the real `soci convert --standalone` (v0.15.0), v1
// indexes by the real `soci create` + `soci push` through a real containerd, all pushed with skopeo.
// Stand-ins: the token service of the bearer flow (test/standins/registry-token.ts) and a loopback proxy
// that answers 429 (test/standins/registry-proxy.ts). Never the registry.
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkImages, parseInput } from '../src/check-image/index.js';
import { credentialsFor } from '../src/check-image/auth.js';
import { parseReference } from '../src/check-image/reference.js';
import { startContainerd, type RunningContainerd } from './support/containerd.js';
import { buildCli, CLI, REPO_ROOT, run, type RunResult } from './support/exec.js';
import { tracedModules } from './support/imports.js';
import { writeOciLayout, type BuiltImage, type PlatformSpec } from './support/oci-image.js';
import { freePort, pushLayout, startRegistry, type Registry } from './support/registry.js';
import { upstreamBin } from './support/upstream.js';
import { startForwardProxy } from './standins/forward-proxy.js';
import { startProxy } from './standins/registry-proxy.js';
import { startTokenServer, type TokenServer } from './standins/registry-token.js';

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
const work = mkdtempSync(join(tmpdir(), 'check-image-'));
const emptyDockerConfig = join(work, 'docker-empty');
mkdirSync(emptyDockerConfig);

// The machine's proxy settings must not reach the loopback registry (the proxy test sets its own).
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'NODE_USE_ENV_PROXY'];
const machineEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !PROXY_VARIABLES.includes(k)));

/** The built CLI, with its own docker config dir (never the machine's) and no proxy unless opts.env names one. */
function cli(args: string[], opts: { dockerConfig?: string; input?: string; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): Promise<RunResult> {
  return run(process.execPath, [...(opts.nodeArgs ?? []), CLI, 'check-image', ...args], {
    env: { ...machineEnv, DOCKER_CONFIG: opts.dockerConfig ?? emptyDockerConfig, ...opts.env },
    timeoutMs: 120_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

function profile(text: string): string {
  const f = join(mkdtempSync(join(work, 'p-')), 'soci.yaml');
  writeFileSync(f, text);
  return f;
}

const BIG = 300_000; // above the --min-layer-size used below (100 000), far below soci's 10 MiB default
const SMALL = 20_000;
const twoPlatforms = (name: string, sizes = [BIG, SMALL]): PlatformSpec[] =>
  (['amd64', 'arm64'] as const).map((architecture) => ({ architecture, layers: sizes.map((bytes, i) => ({ seed: `${name}-${architecture}-${i}`, bytes })) }));

function build(name: string, specs: PlatformSpec[]): BuiltImage {
  return writeOciLayout(join(mkdtempSync(join(work, 'img-')), name), specs);
}

/** The real soci convert --standalone (no containerd), into an OCI layout directory. */
async function convert(src: BuiltImage, flags: string[]): Promise<string> {
  const out = join(mkdtempSync(join(work, 'soci-')), 'out');
  const r = await run(upstreamBin('soci'), ['convert', '--standalone', '--format', 'oci-dir', ...flags, src.dir, out], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`soci convert failed: ${r.stdout}${r.stderr}`);
  return out;
}

let registry: Registry;
const images: Record<string, BuiltImage> = {};

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Manifests of a repository of the registry, read and written through its API as any client does. */
function manifestApi(repo: string) {
  const url = (ref: string) => `http://${registry.host}/v2/${repo}/manifests/${ref}`;
  return {
    get: async (ref: string, accept: string) => (await fetch(url(ref), { headers: { accept } })).json(),
    put: async (ref: string, type: string, doc: unknown) => {
      const body = JSON.stringify(doc);
      const res = await fetch(url(ref), { method: 'PUT', headers: { 'content-type': type }, body });
      expect(res.status, await res.text()).toBe(201);
      return { digest: res.headers.get('docker-content-digest')!, size: Buffer.byteLength(body) };
    },
  };
}

beforeAll(async () => {
  expect(await buildCli()).toBe('');
  registry = await startRegistry();
  const h = registry.host;
  for (const name of ['both', 'one', 'none', 'small', 'v1', 'moving', 'moving-plain']) images[name] = build(name, twoPlatforms(name));
  await pushLayout(await convert(images.both!, ['--all-platforms', '--min-layer-size', '0']), `${h}/app/both:1`);
  await pushLayout(await convert(images.one!, ['--platform', 'linux/amd64', '--min-layer-size', '0']), `${h}/app/one:1`);
  await pushLayout(images.none!.dir, `${h}/app/none:1`);
  await pushLayout(await convert(images.small!, ['--all-platforms', '--min-layer-size', '100000']), `${h}/app/small:1`);
  await pushLayout(await convert(images.moving!, ['--all-platforms', '--min-layer-size', '0']), `${h}/app/moving:latest`);
  await pushLayout(images.v1!.dir, `${h}/app/v1:1`);
});

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('check-image against a real registry', () => {
  it('a v2 index on both platforms: ready, every layer indexed, exit 0, and no layer blob fetched', async () => {
    const before = registry.requests().length;
    const res = await cli([`${registry.host}/app/both:1`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out.ready).toBe(true);
    const [img] = out.images;
    expect(img.platforms.map((p: { platform: string; index: string }) => [p.platform, p.index])).toEqual([
      ['linux/amd64', 'v2'],
      ['linux/arm64', 'v2'],
    ]);
    const layers = images.both!.manifests[0]!.layers;
    expect(img.platforms[0].coverage).toEqual({ layers: 2, indexedLayers: 2, bytes: layers[0]!.size + layers[1]!.size, indexedBytes: layers[0]!.size + layers[1]!.size, largestUnindexed: null });
    expect(img.convert).toBe(null);
    // What the registry itself served: manifests, and a HEAD for each zTOC (that it is there); no blob read,
    // no layer asked about.
    const seen = registry.requests().slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((r) => r.path.includes('/blobs/') && r.method !== 'HEAD')).toEqual([]);
    expect(seen.filter((r) => r.method === 'HEAD')).toHaveLength(4);
    const layerDigests = images.both!.manifests.flatMap((m) => m.layers.map((l) => l.digest));
    expect(seen.filter((r) => layerDigests.some((d) => r.path.includes(d)))).toEqual([]);
  });

  it('an index on one platform only: the other is not ready, exit 1, with the convert command and where to push', async () => {
    const res = await cli([`${registry.host}/app/one:1`]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/app\/one:1 +linux\/amd64 +v2 .*ready: lazy loading/);
    expect(res.stdout).toMatch(/app\/one:1 +linux\/arm64 +none .*NOT READY: pulls normally: no SOCI index/);
    expect(res.stdout).toContain(`to lazy-load linux/arm64, convert it (CI, no containerd needed) and deploy ${registry.host}/app/one:1-soci`);
    expect(res.stdout).toContain('soci convert --standalone --all-platforms --format oci-dir image-oci image-soci');
    expect(res.stdout).toContain(`skopeo copy --all oci:image-soci docker://${registry.host}/app/one:1-soci`);
    expect(res.stderr).toBe('soci-installer: not every image is ready (see above)\n');
  });

  it('no index: not ready in lazy mode; the command it prints makes the image ready when run', async () => {
    const res = await cli([`${registry.host}/app/none:1`, '--json']);
    expect(res.code).toBe(1);
    const img = JSON.parse(res.stdout).images[0];
    expect(img.platforms.map((p: { index: string }) => p.index)).toEqual(['none', 'none']);
    expect(img.platforms[0].verdict).toEqual({ ready: false, says: 'pulls normally: no SOCI index' });
    expect(img.convert.pushTo).toBe(`${registry.host}/app/none:1-soci`);
    // Run what it says with the real tools, in a scratch dir (plain HTTP to the loopback registry, and a
    // min layer size for these tiny layers: soci's 10 MiB default would index none of them).
    const dir = mkdtempSync(join(work, 'follow-'));
    for (const line of img.convert.commands as string[]) {
      const [cmd, sub, ...rest] = line.split(' ');
      const extra = cmd === 'skopeo' ? ['--src-tls-verify=false', '--dest-tls-verify=false'] : ['--min-layer-size', '0'];
      const r = await run(cmd === 'soci' ? upstreamBin('soci') : cmd!, [sub!, ...extra, ...rest], { cwd: dir, timeoutMs: 120_000 });
      expect(r.code, `${line}: ${r.stderr}`).toBe(0);
    }
    const after = await cli([img.convert.pushTo]);
    expect(after.code, after.stdout).toBe(0);
  });

  it('small layers skipped (--min-layer-size): coverage counts them, and names the largest unindexed layer', async () => {
    const res = await cli([`${registry.host}/app/small:1`, '--json', '--platform', 'linux/arm64']);
    expect(res.code).toBe(0);
    const p = JSON.parse(res.stdout).images[0].platforms;
    const layers = images.small!.manifests[1]!.layers;
    expect(p).toHaveLength(1);
    expect(p[0].coverage).toEqual({
      layers: 2,
      indexedLayers: 1,
      bytes: layers[0]!.size + layers[1]!.size,
      indexedBytes: layers[0]!.size,
      largestUnindexed: { digest: layers[1]!.digest, size: layers[1]!.size },
    });
    const table = await cli([`${registry.host}/app/small:1`, '--platform', 'linux/arm64']);
    expect(table.stdout).toMatch(/linux\/arm64 +v2 +1\/2 +293\.3 KiB of 313\.0 KiB +19\.\d KiB +ready: lazy loading/);
  });

  it('a tag rewritten between two runs: the verdict follows the tag, the digest says which image was checked', async () => {
    const ref = `${registry.host}/app/moving:latest`;
    const first = await cli([ref, '--json']);
    expect(first.code).toBe(0);
    const d1 = JSON.parse(first.stdout).images[0].digest;
    expect(JSON.parse(first.stdout).images[0].mutable).toBe(true);
    await pushLayout(images['moving-plain']!.dir, ref);
    const second = await cli([ref]);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(/app\/moving:latest +linux\/amd64 +none/);
    expect(second.stdout).toContain(`"latest" is a tag, which anyone who can push may move: this verdict holds for ${registry.host}/app/moving@sha256:`);
    expect(second.stdout).not.toContain(d1);
    // The digest checked the first time still names the SOCI-enabled image.
    const pinned = await cli([`${registry.host}/app/moving@${d1}`, '--json']);
    expect(pinned.code).toBe(0);
    expect(JSON.parse(pinned.stdout).images[0].mutable).toBe(false);
  });

  it('an index that does not fit the image: zTOCs of another image, and an index manifest the repository lacks', async () => {
    // Two SOCI-enabled images in one repository; then, through the registry API as any client writes it:
    // x's amd64 manifest re-annotated with y's amd64 SOCI index, and y's arm64 SOCI index deleted.
    const h = registry.host;
    const repo = 'app/mixed';
    const x = build('mixed-x', twoPlatforms('mixed-x'));
    const y = build('mixed-y', twoPlatforms('mixed-y'));
    await pushLayout(await convert(x, ['--all-platforms', '--min-layer-size', '0']), `${h}/${repo}:x`);
    await pushLayout(await convert(y, ['--all-platforms', '--min-layer-size', '0']), `${h}/${repo}:y`);
    const { get, put } = manifestApi(repo);
    // skopeo 1.9.3 drops artifactType from the index it pushes: SOCI indexes are known by their annotation.
    type Entry = { annotations?: Record<string, string>; platform: { architecture: string }; digest: string };
    const isSoci = (m: Entry) => m.annotations?.['com.amazon.soci.image-manifest-digest'] !== undefined;
    const xi = await get('x', INDEX);
    const yi = await get('y', INDEX);
    // The same image index with the SOCI entries first: containerd pulls the first entry that matches the
    // platform, so nodes would pull the SOCI indexes instead of the images.
    await put('x-reordered', INDEX, { ...xi, manifests: [...xi.manifests].reverse() });
    const xSociFirst = ['amd64', 'arm64'].map((arch) => ['not-an-image', xi.manifests.find((m: Entry) => isSoci(m) && m.platform.architecture === arch).digest]);
    const sociOf = (idx: { manifests: Entry[] }, arch: string) => idx.manifests.find((m) => isSoci(m) && m.platform.architecture === arch)!.digest;
    const xAmd64 = xi.manifests.find((m: Entry) => !isSoci(m) && m.platform.architecture === 'amd64');
    const manifest = await get(xAmd64.digest, MANIFEST);
    manifest.annotations['com.amazon.soci.index-digest'] = sociOf(yi, 'amd64');
    const moved = await put(`sha256:${sha256Hex(JSON.stringify(manifest))}`, MANIFEST, manifest);
    Object.assign(xAmd64, moved, { annotations: manifest.annotations });
    await put('x-mixed', INDEX, xi);
    const del = await fetch(`http://${h}/v2/${repo}/manifests/${sociOf(yi, 'arm64')}`, { method: 'DELETE' });
    expect(del.status).toBe(202);

    const res = await cli([`${h}/${repo}:x-mixed`, `${h}/${repo}:y`, `${h}/${repo}:x-reordered`, '--json']);
    expect(res.code).toBe(1);
    const [mixed, lacking, reordered] = JSON.parse(res.stdout).images;
    // SOCI index entries that lost their artifactType are still known as SOCI indexes, never taken for images.
    expect(reordered.platforms.map((p: { index: string; manifestDigest: string }) => [p.index, p.manifestDigest])).toEqual(xSociFirst);
    expect(reordered.platforms[0].verdict).toEqual({ ready: false, says: 'nodes of this platform would pull the SOCI index, not the image' });
    expect(mixed.platforms.map((p: { index: string }) => p.index)).toEqual(['invalid', 'v2']);
    expect(mixed.platforms[0].problems).toEqual(
      y.manifests[0]!.layers.map((l) => expect.stringMatching(new RegExp(`^zTOC sha256:[0-9a-f]{64} names layer ${l.digest}, which is not a layer of this image$`))),
    );
    expect(mixed.platforms[0].verdict.says).toBe('pulls normally: the SOCI index does not fit the image');
    expect(lacking.platforms.map((p: { index: string }) => p.index)).toEqual(['v2', 'invalid']);
    expect(lacking.platforms[1].problems).toEqual([`the manifest names SOCI index ${sociOf(yi, 'arm64')}, which the repository does not have`]);

    // What the misplaced verdict stands on, with the real containerd: for x-reordered it takes the SOCI index as
    // the linux/amd64 image, whose root filesystem is then empty; x itself gives the image's files.
    const ctd = await startContainerd('2', 'version = 3\n');
    try {
      const rootfs = async (tag: string): Promise<string[]> => {
        const ref = `${h}/${repo}:${tag}`;
        const pull = await ctd.ctr(['images', 'pull', '--plain-http', '--platform', 'linux/amd64', ref], { timeoutMs: 60_000 });
        expect(pull.code, pull.stderr).toBe(0);
        const dir = mkdtempSync(join(work, 'rootfs-'));
        const mount = await ctd.ctr(['images', 'mount', '--platform', 'linux/amd64', ref, dir]);
        expect(mount.code, mount.stderr).toBe(0);
        try {
          return readdirSync(dir).sort();
        } finally {
          await ctd.ctr(['images', 'unmount', dir]);
        }
      };
      expect(await rootfs('x')).toEqual(['layer-mixed-x-amd64-0.bin', 'layer-mixed-x-amd64-1.bin']);
      expect(await rootfs('x-reordered')).toEqual([]);
    } finally {
      await ctd.stop();
    }
  });

  it('a zTOC the repository lacks, or one of another size than its index says: soci uses no index for the image (checked by HEAD, never read)', async () => {
    // A SOCI-enabled image, then through the registry API as any client does it: amd64's first zTOC blob
    // deleted; arm64's SOCI index written again with its first zTOC's size off by one (distribution checks
    // that a manifest's blobs exist, not their sizes), and the arm64 manifest annotated with that index.
    const h = registry.host;
    const repo = 'app/ztoc';
    await pushLayout(await convert(build('ztoc', twoPlatforms('ztoc')), ['--all-platforms', '--min-layer-size', '0']), `${h}/${repo}:1`);
    type Desc = { digest: string; size: number; annotations?: Record<string, string>; platform?: { architecture: string } };
    const { get, put } = manifestApi(repo);
    const top = await get('1', INDEX);
    const entry = (arch: string, soci: boolean): Desc =>
      top.manifests.find((m: Desc) => m.platform!.architecture === arch && (m.annotations?.['com.amazon.soci.image-manifest-digest'] !== undefined) === soci);
    const amd64Soci = await get(entry('amd64', true).digest, MANIFEST);
    const gone: Desc = amd64Soci.layers[0];
    expect((await fetch(`http://${h}/v2/${repo}/blobs/${gone.digest}`, { method: 'DELETE' })).status).toBe(202);
    const armSoci = await get(entry('arm64', true).digest, MANIFEST);
    const resized: Desc = armSoci.layers[0];
    armSoci.layers[0] = { ...resized, size: resized.size + 1 };
    const armSociPut = await put(`sha256:${sha256Hex(JSON.stringify(armSoci))}`, MANIFEST, armSoci);
    const armImage = await get(entry('arm64', false).digest, MANIFEST);
    armImage.annotations['com.amazon.soci.index-digest'] = armSociPut.digest;
    const armImagePut = await put(`sha256:${sha256Hex(JSON.stringify(armImage))}`, MANIFEST, armImage);
    Object.assign(entry('arm64', false), armImagePut, { annotations: armImage.annotations });
    Object.assign(entry('arm64', true), armSociPut);
    await put('broken', INDEX, top);

    const before = registry.requests().length;
    const res = await cli([`${h}/${repo}:broken`, `${h}/${repo}:1`, '--json', '--platform', 'linux/amd64,linux/arm64']);
    expect(res.code).toBe(1);
    const [broken, deleted] = JSON.parse(res.stdout).images;
    expect(broken.platforms.map((p: { index: string }) => p.index)).toEqual(['invalid', 'invalid']);
    expect(broken.platforms[0].problems).toEqual([
      `zTOC ${gone.digest} (layer ${gone.annotations!['com.amazon.soci.image-layer-digest']}) is not in the repository: soci fetches every blob of the SOCI index before it mounts the image, and uses no index for the image when one fails`,
    ]);
    expect(broken.platforms[1].problems).toEqual([
      `zTOC ${resized.digest} (layer ${resized.annotations!['com.amazon.soci.image-layer-digest']}) is ${resized.size} bytes in the repository, not the ${resized.size + 1} the SOCI index says: soci fetches every blob of the SOCI index before it mounts the image, and uses no index for the image when one fails`,
    ]);
    // No layer is lazily loaded: nothing counts as indexed.
    expect(broken.platforms[0].coverage.indexedLayers).toBe(0);
    expect(broken.platforms[0].verdict.says).toBe('pulls normally: the SOCI index does not fit the image');
    expect(deleted.platforms.map((p: { index: string }) => p.index)).toEqual(['invalid', 'v2']);
    // The zTOCs were asked about by HEAD; no blob was read.
    const seen = registry.requests().slice(before);
    expect(seen.filter((r) => r.path.includes('/blobs/') && r.method !== 'HEAD')).toEqual([]);
    expect(seen.filter((r) => r.method === 'HEAD').map((r) => r.path)).toContain(`/v2/${repo}/blobs/${gone.digest}`);
    // lazy-with-parallel-fallback: soci pulls such an image in parallel (its fallback for an image without a usable index).
    const fallback = await cli(['-c', profile('node: { arch: x86_64 }\nsoci: { mode: lazy-with-parallel-fallback, source: ami }\n'), `${h}/${repo}:broken`, '--json']);
    expect(JSON.parse(fallback.stdout).images[0].platforms[0].verdict.says).toBe('parallel pull (fallback), not lazy: the SOCI index does not fit the image');
  });

  it('a missing image, a missing repository and an unreachable registry: one line each, exit 1; the others still checked', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const res = await cli([`${registry.host}/app/none:nope`, `${registry.host}/ghost/app:1`, `${closed}/app:1`, `${registry.host}/app/both:1`]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(`${registry.host}/app/none:nope: not found: ${registry.host}/app/none: tag nope\n`);
    expect(res.stdout).toContain(`${registry.host}/ghost/app:1: not found: ${registry.host}/ghost/app: tag 1\n`);
    expect(res.stdout).toContain(`${closed}/app:1: unreachable: ${closed}: ECONNREFUSED\n`);
    expect(res.stdout).toMatch(/app\/both:1 +linux\/amd64 +v2/);
    expect(res.stdout).toMatch(/^soci.mode lazy: 1 of 4 image\(s\) ready$/m);
  });

  it('a registry that answers 429: rate-limited with its Retry-After (a loopback proxy in front of the real registry)', async () => {
    const proxy = await startProxy(registry.host, { rateLimit: (path) => path.includes('/manifests/') });
    try {
      const res = await cli([`${proxy.host}/app/both:1`]);
      expect(res.code).toBe(1);
      expect(res.stdout).toContain(`${proxy.host}/app/both:1: rate-limited: ${proxy.host} answered 429 (Retry-After: 30 s)\n`);
    } finally {
      await proxy.stop();
    }
  });

  // The registry here is plain http, so HTTP_PROXY is the variable that applies (HTTPS_PROXY is for https:// registries).
  it('HTTP_PROXY (either letter case): every registry request goes through the proxy, as docker and curl send it; NO_PROXY exempts a host', async () => {
    const proxy = await startForwardProxy();
    try {
      const direct = await cli([`${registry.host}/app/both:1`, '--json']);
      for (const name of ['HTTP_PROXY', 'http_proxy']) {
        proxy.tunnels.length = 0;
        const via = await cli([`${registry.host}/app/both:1`, '--json'], { env: { [name]: proxy.url } });
        expect(via.code, via.stderr).toBe(0);
        expect(JSON.parse(via.stdout)).toEqual(JSON.parse(direct.stdout));
        expect(proxy.tunnels.length).toBeGreaterThan(0);
        expect(new Set(proxy.tunnels)).toEqual(new Set([registry.host]));
      }
      proxy.tunnels.length = 0;
      const exempt = await cli([`${registry.host}/app/both:1`], { env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
      expect(exempt.code, exempt.stderr).toBe(0);
      expect(proxy.tunnels).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('v1 only (real soci create + soci push, stored under the referrers tag schema): named, with how to migrate', async () => {
    const ref = `${registry.host}/app/v1:1`;
    let ctd: RunningContainerd | undefined;
    try {
      ctd = await startContainerd('2', 'version = 3\n');
      const pull = await ctd.ctr(['images', 'pull', '--plain-http', '--all-platforms', ref], { timeoutMs: 60_000 });
      expect(pull.code, pull.stderr).toBe(0);
      const soci = (args: string[]) => run(upstreamBin('soci'), ['--address', ctd!.address, '--root', join(ctd!.dir, 'soci'), '--content-store', 'soci', ...args], { timeoutMs: 60_000 });
      const create = await soci(['create', '--all-platforms', '--min-layer-size', '0', ref]);
      expect(create.code, create.stderr).toBe(0);
      const push = await soci(['push', '--plain-http', '--all-platforms', ref]);
      expect(push.code, push.stdout + push.stderr).toBe(0);
    } finally {
      await ctd?.stop();
    }
    // distribution 2.8 has no referrers API: soci push (oras-go) used the tag schema, sha256-<hex>.
    const amd64 = images.v1!.manifests[0]!.manifest.digest;
    const tags = await (await fetch(`http://${registry.host}/v2/app/v1/tags/list`)).json();
    expect(tags.tags).toContain(amd64.replace(':', '-'));

    const res = await cli([ref, '--json']);
    expect(res.code).toBe(1);
    const img = JSON.parse(res.stdout).images[0];
    expect(img.platforms.map((p: { index: string; via: string }) => [p.index, p.via])).toEqual([
      ['v1-only', 'tag schema'],
      ['v1-only', 'tag schema'],
    ]);
    expect(img.platforms[0].coverage.indexedLayers).toBe(2);
    expect(img.platforms[0].verdict.says).toBe('pulls normally: only a v1 index, which soci ignores since 0.10');
    const table = await cli([ref]);
    expect(table.stdout).toContain('found through the tag schema). soci >= 0.10 ignores v1 indexes by default ([pull_modes.soci_v1] enable = false). Migrate: convert the image with `soci convert`');
  });

  it('100 images at once: each checked right, requests bounded, no layer bytes, under 50 KB per image', { timeout: 900_000 }, async () => {
    // 10 images (even ones SOCI-enabled) pushed with skopeo, each under 10 tags (the manifest PUT again under
    // another tag, as any client tags): 100 references, each checked in full.
    const refs: string[] = [];
    for (let i = 0; i < 10; i++) {
      const img = build(`many-${i}`, twoPlatforms(`many-${i}`, [3_000, 2_000]));
      const repo = `many/app-${i}`;
      await pushLayout(i % 2 === 0 ? await convert(img, ['--all-platforms', '--min-layer-size', '0']) : img.dir, `${registry.host}/${repo}:v0`);
      const got = await fetch(`http://${registry.host}/v2/${repo}/manifests/v0`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
      const body = Buffer.from(await got.arrayBuffer());
      for (let t = 0; t < 10; t++) {
        if (t > 0) {
          const put = await fetch(`http://${registry.host}/v2/${repo}/manifests/v${t}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body });
          expect(put.status).toBe(201);
        }
        refs.push(`${registry.host}/${repo}:v${t}`);
      }
    }
    const proxy = await startProxy(registry.host);
    try {
      const res = await cli([...refs.map((r) => r.replace(registry.host, proxy.host)), '--json']);
      expect(res.code).toBe(1);
      const out = JSON.parse(res.stdout);
      expect(out.images).toHaveLength(100);
      out.images.forEach((img: { ready: boolean; error: unknown; fetched: { bytes: number } }, i: number) => {
        expect(img.error).toBe(null);
        expect(img.ready, refs[i]).toBe(Math.floor(i / 10) % 2 === 0);
        expect(img.fetched.bytes).toBeLessThan(50_000);
      });
      expect(proxy.seen.filter((s) => s.path.includes('/blobs/') && s.method !== 'HEAD')).toEqual([]);
      expect(proxy.maxInFlight).toBeLessThanOrEqual(8);
      expect(proxy.seen.reduce((n, s) => n + s.bytes, 0) / 100).toBeLessThan(50_000);
    } finally {
      await proxy.stop();
    }
  });
});

describe('check-image: the profile decides what ready means', () => {
  it('parallel and fast-image-pull: every image is ready, the index is not used; fallback: works, not lazy', async () => {
    const none = `${registry.host}/app/none:1`;
    const both = `${registry.host}/app/both:1`;
    const parallel = await cli(['-c', profile('node: { arch: x86_64 }\nsoci: { mode: parallel, source: ami }\n'), none, both]);
    expect(parallel.code).toBe(0);
    expect(parallel.stdout).toMatch(/app\/none:1 +linux\/amd64 +none .*ready: parallel pull \(parallel\)/);
    expect(parallel.stdout).toMatch(/app\/both:1 +linux\/amd64 +v2 .*ready: parallel pull \(parallel: the SOCI index is not used\)/);
    expect(parallel.stdout).not.toContain('linux/arm64');
    expect(parallel.stdout).not.toContain('soci convert');
    const fip = await cli(['-c', profile('node: { arch: arm64, kubernetesVersion: "1.33" }\nsoci: { mode: fast-image-pull }\n'), none]);
    expect(fip.code, fip.stderr).toBe(0);
    expect(fip.stdout).toMatch(/linux\/arm64 .*ready: parallel pull \(fast-image-pull\)/);
    const fallback = await cli(['-c', profile('soci: { mode: lazy-with-parallel-fallback, source: ami }\n'), none]);
    expect(fallback.code).toBe(1);
    expect(fallback.stdout).toMatch(/linux\/amd64 .*NOT READY: parallel pull \(fallback\), not lazy: no SOCI index/);
  });

  it('parallel and fast-image-pull never look for a v1 index (it cannot change their verdict, and costs registry requests); the lazy modes do', async () => {
    const none = `${registry.host}/app/none:1`;
    const v1Lookups = (since: number) => registry.requests().slice(since).filter((r) => r.path.includes('/referrers/') || r.path.includes('/manifests/sha256-'));
    for (const [mode, soci] of [['parallel', '{ mode: parallel, source: ami }'], ['fast-image-pull', '{ mode: fast-image-pull }']]) {
      const before = registry.requests().length;
      const res = await cli(['-c', profile(`node: { arch: x86_64, kubernetesVersion: "1.33" }\nsoci: ${soci}\n`), none, '--json']);
      expect(res.code, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout).images[0].platforms[0].index).toBe('none');
      expect(v1Lookups(before), mode).toEqual([]);
    }
    for (const mode of ['lazy', 'lazy-with-parallel-fallback']) {
      const before = registry.requests().length;
      const res = await cli(['-c', profile(`node: { arch: x86_64 }\nsoci: { mode: ${mode}, source: ami }\n`), none]);
      expect(res.code).toBe(1);
      expect(v1Lookups(before).length, mode).toBeGreaterThan(0);
    }
  });

  it("node.arch picks the platforms: an arm64 profile needs the arm64 index, an x86_64 one does not", async () => {
    const one = `${registry.host}/app/one:1`;
    const arm = await cli(['-c', profile('node: { arch: arm64 }\nsoci: { mode: lazy, source: ami }\n'), one]);
    expect(arm.code).toBe(1);
    expect(arm.stdout).toMatch(/linux\/arm64 +none/);
    expect(arm.stdout).not.toContain('linux/amd64');
    const x86 = await cli(['-c', profile('node: { arch: x86_64 }\nsoci: { mode: lazy, source: ami }\n'), one]);
    expect(x86.code, x86.stdout).toBe(0);
    // An image without a platform the nodes run is not ready either.
    const single = build('amd64-only', [{ architecture: 'amd64', layers: [{ seed: 'amd64-only', bytes: 5_000 }] }]);
    await pushLayout(single.dir, `${registry.host}/app/amd64-only:1`);
    const res = await cli([`${registry.host}/app/amd64-only:1`, '--json']);
    expect(res.code).toBe(1);
    const p = JSON.parse(res.stdout).images[0].platforms;
    expect(p.map((x: { platform: string; index: string }) => [x.platform, x.index])).toEqual([
      ['linux/amd64', 'none'],
      ['linux/arm64', 'no-platform'],
    ]);
    // a single-manifest image: its platform came from the config blob, the only blob ever read
  });

  it('--from-pods - reads kubectl get pods -A -o json: containers, initContainers, ephemeralContainers, each image once', async () => {
    const h = registry.host;
    const pod = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec });
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        pod('a', { initContainers: [{ name: 'init', image: `${h}/app/small:1` }], containers: [{ name: 'c', image: `${h}/app/both:1` }, { name: 'd', image: `${h}/app/both:1` }] }),
        pod('b', { containers: [{ name: 'c', image: `${h}/app/both:1` }], ephemeralContainers: [{ name: 'debug', image: `${h}/app/none:1` }] }),
      ],
    };
    const res = await cli(['--from-pods', '-', '--json'], { input: JSON.stringify(list) });
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout).images.map((i: { ref: string }) => i.ref)).toEqual([`${h}/app/small:1`, `${h}/app/both:1`, `${h}/app/none:1`]);
  });

  it("--from-pods: a pod's image that is no reference is a row of its own, not bad input (the pod list is the cluster's data, not the user's flag): exit 1, the other images checked", async () => {
    const h = registry.host;
    const pods = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ kind: 'Pod', metadata: { namespace: 'shop', name: 'web-1' }, spec: { containers: [{ name: 'c', image: 'Registry.example/App:1' }, { name: 'd', image: `${h}/app/both:1` }] } }],
    });
    const table = await cli(['--from-pods', '-'], { input: pods });
    expect(table.code).toBe(1);
    expect(table.stderr).toBe('soci-installer: not every image is ready (see above)\n');
    expect(table.stdout).toMatch(/^soci.mode lazy: 1 of 2 image\(s\) ready$/m);
    expect(table.stdout).toMatch(/app\/both:1 +linux\/amd64 +v2 .*ready: lazy loading/);
    expect(table.stdout).toContain(
      'Registry.example/App:1: not an image reference (pod shop/web-1 in --from-pods stdin): the repository is lowercase letters, digits and separators (".", "_", "__", "-") between "/"; kubelet refuses a reference it cannot parse (the pod waits with InvalidImageName)\n',
    );
    const json = await cli(['--from-pods', '-', '--json'], { input: pods });
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout);
    expect(out.ready).toBe(false);
    expect(out.images.map((i: { ref: string }) => i.ref)).toEqual([`${h}/app/both:1`, 'Registry.example/App:1']);
    expect(Object.keys(out.images[1])).toEqual(Object.keys(out.images[0]));
    expect(out.images[1]).toMatchObject({ name: null, digest: null, mutable: null, ready: false, error: { kind: 'not-a-reference' }, platforms: [], convert: null, fetched: { requests: 0, bytes: 0 } });
    // Named on the command line, the same reference is the user's own input: exit 2, nothing fetched.
    const before = registry.requests().length;
    const flag = await cli(['Registry.example/App:1', '--from-pods', '-'], { input: pods });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toBe('soci-installer: image "Registry.example/App:1": the repository is lowercase letters, digits and separators (".", "_", "__", "-") between "/"\n');
    expect(registry.requests().length).toBe(before);
  });

  it('bad input: every problem on its own line, exit 2, and no request sent', async () => {
    const before = registry.requests().length;
    const res = await cli([`${registry.host}/App/x:1`, 'ok/but@sha256:abc', '--platform', 'linux,linux/arm64']);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      `soci-installer: image "${registry.host}/App/x:1": the repository is lowercase letters, digits and separators (".", "_", "__", "-") between "/"\n` +
        'soci-installer: image "ok/but@sha256:abc": the digest after "@" must be sha256: and 64 lowercase hex digits\n' +
        'soci-installer: --platform "linux": a platform is os/architecture[/variant], e.g. linux/amd64 or linux/arm64\n',
    );
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no image given/);
    const noPods = await cli(['--from-pods', '-'], { input: '{"apiVersion":"v1","kind":"List","items":[]}' });
    expect(noPods.code).toBe(2);
    expect(noPods.stderr).toBe('soci-installer: --from-pods stdin: no pod in it names an image; give the output of kubectl get pods -A -o json\n');
    const garbage = await cli(['--from-pods', '-'], { input: 'not json' });
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toMatch(/^soci-installer: --from-pods stdin: not JSON .*kubectl get pods -A -o json\n$/);
    expect(registry.requests().length).toBe(before);
  });

  it('never loads the AWS SDK for a registry that is not ECR', async () => {
    const trace = join(mkdtempSync(join(work, 'trace-')), 'imports.txt');
    writeFileSync(trace, '');
    const res = await cli([`${registry.host}/app/both:1`], { nodeArgs: ['--import', join(REPO_ROOT, 'test/fixtures/trace-imports.mjs')], env: { TRACE_IMPORTS_FILE: trace } });
    expect(res.code, res.stderr).toBe(0);
    const urls = tracedModules(readFileSync(trace, 'utf8'));
    expect(urls.some((u) => u.includes('/dist/check-image/registry.js')), 'the trace sees our modules (in the chunks of the bundle)').toBe(true);
    expect(urls.filter((u) => u.includes('@aws-sdk') || u.includes('@smithy'))).toEqual([]);
  });
});

describe('check-image: credentials as users have them', () => {
  let secured: Registry;
  const user = 'ci';
  const password = 'right-password';
  const dockerConfig = (config: unknown): string => {
    const dir = mkdtempSync(join(work, 'docker-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  };
  beforeAll(async () => {
    secured = await startRegistry({ htpasswd: { user, password } });
    await pushLayout(await convert(images.both!, ['--all-platforms', '--min-layer-size', '0']), `${secured.host}/team/app:1`, { creds: `${user}:${password}` });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  it('basic auth (htpasswd): auths in config.json; wrong credentials and none are refused, naming what was tried', async () => {
    const ref = `${secured.host}/team/app:1`;
    const auth = (p: string) => ({ auths: { [secured.host]: { auth: Buffer.from(`${user}:${p}`).toString('base64') } } });
    const ok = await cli([ref], { dockerConfig: dockerConfig(auth(password)) });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const wrongDir = dockerConfig(auth('wrong'));
    const wrong = await cli([ref], { dockerConfig: wrongDir });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(`${ref}: unauthorized: ${secured.host}/team/app: the registry refused the credentials; tried credentials from ${wrongDir}/config.json auths["${secured.host}"]: check those credentials (docker login ${secured.host})\n`);
    const none = await cli([ref]);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain(`${ref}: unauthorized: ${secured.host}/team/app: the registry asks for credentials; tried anonymous (no entry for ${secured.host} in ${emptyDockerConfig}/config.json): log in (docker login ${secured.host}) if the repository is private, or check its name\n`);
  });

  it('credHelpers and credsStore run docker-credential-<name> get as docker does (server URL on stdin)', async () => {
    const bin = mkdtempSync(join(work, 'helpers-'));
    const log = join(bin, 'calls.log');
    writeFileSync(join(bin, 'docker-credential-good'), `#!/bin/sh\nread -r server\necho "$1 $server" >> ${log}\nprintf '{"ServerURL":"%s","Username":"${user}","Secret":"${password}"}' "$server"\n`);
    writeFileSync(join(bin, 'docker-credential-empty'), `#!/bin/sh\necho "credentials not found in native keychain"\nexit 1\n`);
    for (const f of ['docker-credential-good', 'docker-credential-empty']) chmodSync(join(bin, f), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const ref = `${secured.host}/team/app:1`;
    const helper = await cli([ref], { dockerConfig: dockerConfig({ credHelpers: { [secured.host]: 'good' }, credsStore: 'empty' }), env });
    expect(helper.code, helper.stdout + helper.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(`get ${secured.host}\n`);
    const storeDir = dockerConfig({ credsStore: 'empty', auths: { [secured.host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } });
    const store = await cli([ref], { dockerConfig: storeDir, env });
    // docker: with a credsStore, the file's auths entry is not used; the store had nothing.
    expect(store.code).toBe(1);
    expect(store.stdout).toContain(`tried ${storeDir}/config.json credsStore: docker-credential-empty (no credentials stored for ${secured.host})`);
  });

  it('ECR hosts: the token provider (the SDK behind an interface; a stub here) gives basic-auth credentials', async () => {
    const calls: string[] = [];
    const ecrRef = parseReference('123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:1');
    if ('problem' in ecrRef) throw new Error(ecrRef.problem);
    // The registry is the real secured one; only the host name differs (no DNS for ECR here).
    const toLocal: typeof fetch = (url, init) => fetch(String(url).replace('https://123456789012.dkr.ecr.us-west-2.amazonaws.com', `http://${secured.host}`), init);
    const input = parseInput({ refs: [ecrRef.text] }, { arches: ['amd64'] });
    if ('problems' in input) throw new Error(input.problems.join());
    const good = await checkImages(input, { mode: 'lazy' }, {
      fetch: toLocal,
      auth: { env: { DOCKER_CONFIG: emptyDockerConfig }, ecr: { token: async (region, id) => (calls.push(`${region} ${id}`), { username: user, password }) } },
    });
    expect(good.reports[0]!.error).toBeUndefined();
    expect(good.reports[0]!.platforms[0]!.index).toBe('v2');
    expect(calls).toEqual(['us-west-2 123456789012']);
    const bad = await checkImages(input, { mode: 'lazy' }, {
      fetch: toLocal,
      auth: { env: { DOCKER_CONFIG: emptyDockerConfig }, ecr: { token: async () => Promise.reject(new Error('ExpiredTokenException')) } },
    });
    expect(bad.reports[0]!.error).toEqual({
      kind: 'unauthorized',
      message:
        'unauthorized: 123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app: the registry asks for credentials; tried ECR GetAuthorizationToken (us-west-2, AWS SDK default credentials) failed: ExpiredTokenException; went on anonymously: fix that and run again',
    });
    // docker's order: a credHelper for the host wins over the SDK.
    const viaHelper = await credentialsFor('123456789012.dkr.ecr.us-west-2.amazonaws.com', {
      env: { DOCKER_CONFIG: dockerConfig({ credHelpers: { '123456789012.dkr.ecr.us-west-2.amazonaws.com': 'ecr-login' } }) },
      runHelper: async (name) => ({ code: 0, stdout: JSON.stringify({ Username: 'AWS', Secret: `from-${name}` }), stderr: '' }),
      ecr: { token: async () => Promise.reject(new Error('must not be called')) },
    });
    expect(viaHelper.credential).toEqual({ username: 'AWS', password: 'from-ecr-login' });
  });

  describe('the bearer-token flow (token service stand-in, real registry with auth: token)', () => {
    let tokens: TokenServer;
    let tokenRegistry: Registry;
    beforeAll(async () => {
      tokens = await startTokenServer({ users: { [user]: password } });
      tokenRegistry = await startRegistry({ token: tokens });
    });
    afterAll(async () => {
      await tokenRegistry?.stop();
      await tokens?.stop();
    });

    it('anonymous pull tokens (public registries), tokens for credentials, and a refused login', async () => {
      // Pushing needs a push token, which this stand-in never grants: the image is written by a second,
      // auth-less registry process on the same storage.
      const seeder = await startRegistry({ dataDir: tokenRegistry.dataDir });
      try {
        await pushLayout(await convert(images.both!, ['--all-platforms', '--min-layer-size', '0']), `${seeder.host}/public/app:1`);
      } finally {
        await seeder.stop();
      }
      const ref = `${tokenRegistry.host}/public/app:1`;
      const anon = await cli([ref]);
      expect(anon.code, anon.stdout + anon.stderr).toBe(0);
      expect(tokens.requests.at(-1)).toEqual({ scope: 'repository:public/app:pull' });
      const withCreds = await cli([ref], { dockerConfig: dockerConfig({ auths: { [tokenRegistry.host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }) });
      expect(withCreds.code).toBe(0);
      expect(tokens.requests.at(-1)!.authorization).toBe(`Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
      const wrongDir = dockerConfig({ auths: { [tokenRegistry.host]: { auth: Buffer.from(`${user}:nope`).toString('base64') } } });
      const wrong = await cli([ref], { dockerConfig: wrongDir });
      expect(wrong.code).toBe(1);
      expect(wrong.stdout).toContain(`unauthorized: ${tokenRegistry.host}/public/app: the token service refused (401); tried credentials from ${wrongDir}/config.json auths["${tokenRegistry.host}"]`);
    });
  });
});

