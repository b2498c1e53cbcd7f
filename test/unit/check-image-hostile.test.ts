// check-image against registries that answer what no honest registry does. The registry here is a small
// in-process HTTP server (not the real docker-registry, which refuses to store most of these answers): it
// serves exactly the bytes each test gives it, and records every path asked for.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkImages, formatTable, parseInput, toJson } from '../../src/check-image/index.js';
import type { CheckOutcome } from '../../src/check-image/report.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const SOCI_V2 = 'application/vnd.amazon.soci.index.v2+json';
const SOCI_V1 = 'application/vnd.amazon.soci.index.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

const sha256 = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: string | Buffer) => `sha512:${createHash('sha512').update(b).digest('hex')}`;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let routes = new Map<string, Handler>();
const seen: string[] = [];
let host = '';
const server = createServer((req, res) => {
  seen.push(req.url ?? '');
  const path = (req.url ?? '').split('?')[0]!;
  const h = routes.get(path);
  if (h) return h(req, res);
  res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
});

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Serves `body` at the path with this content type. */
function serve(path: string, body: string | Buffer, type = 'application/json', headers: Record<string, string> = {}): void {
  routes.set(path, (_req, res) => res.writeHead(200, { 'content-type': type, ...headers }).end(body));
}

/** A well-formed one-platform image (linux/amd64, one 20 MB layer), optionally with a SOCI index v2; returns what was served. */
function image(repo: string, opts: { manifestAnnotations?: Record<string, string>; soci?: boolean; sociConfigType?: string; ztocFor?: string; ztocDigest?: string } = {}) {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const layer = { mediaType: LAYER, digest: `sha256:${'1'.repeat(64)}`, size: 20_000_000 };
  serve(`/v2/${repo}/blobs/${sha256(config)}`, config);
  let annotations = opts.manifestAnnotations;
  let sociDigest: string | undefined;
  if (opts.soci) {
    const sociConfig = '{}';
    const soci = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SOCI_V2,
      config: { mediaType: opts.sociConfigType ?? SOCI_V2, digest: sha256(sociConfig), size: 2 },
      layers:
        opts.ztocFor === 'none'
          ? [{ mediaType: 'application/vnd.amazon.soci.prefetch.v1+json', digest: `sha256:${'4'.repeat(64)}`, size: 10, annotations: { 'com.amazon.soci.image-layer-digest': layer.digest } }]
          : [{ mediaType: 'application/octet-stream', digest: opts.ztocDigest ?? `sha256:${'2'.repeat(64)}`, size: 1000, annotations: { 'com.amazon.soci.image-layer-digest': layer.digest } }],
    });
    sociDigest = sha256(soci);
    serve(`/v2/${repo}/manifests/${sociDigest}`, soci, OCI_MANIFEST);
    // The index's blobs are there, of the sizes it says (check-image asks by HEAD).
    for (const b of (JSON.parse(soci) as { layers: { digest: string; size: number }[] }).layers) serve(`/v2/${repo}/blobs/${b.digest}`, Buffer.alloc(b.size), 'application/octet-stream');
    annotations = { ...annotations, 'com.amazon.soci.index-digest': sociDigest };
  }
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length }, layers: [layer], ...(annotations ? { annotations } : {}) });
  serve(`/v2/${repo}/manifests/${sha256(manifest)}`, manifest, OCI_MANIFEST);
  const entry = { mediaType: OCI_MANIFEST, digest: sha256(manifest), size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } };
  const sociEntry = sociDigest
    ? { mediaType: OCI_MANIFEST, artifactType: SOCI_V2, digest: sociDigest, size: 0, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'com.amazon.soci.image-manifest-digest': entry.digest } }
    : undefined;
  const index = (entries: unknown[]) => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries });
    return { body, digest: sha256(body) };
  };
  const idx = index(sociEntry ? [entry, sociEntry] : [entry]);
  serve(`/v2/${repo}/manifests/1`, idx.body, OCI_INDEX);
  return { config, manifest, entry, sociEntry, index };
}

async function check(refs: string[], mode: 'lazy' | 'parallel' = 'lazy'): Promise<CheckOutcome> {
  const input = parseInput({ refs }, { arches: ['amd64'] });
  if ('problems' in input) throw new Error(input.problems.join('\n'));
  return checkImages(input, { mode }, { auth: { env: { DOCKER_CONFIG: '/nonexistent/docker-config' } } });
}

describe('check-image against hostile registry answers', () => {
  it('JSON of the wrong shape ends that image with one bad-response line; the other images are still checked', async () => {
    routes = new Map();
    image('good');
    serve('/v2/not-object/manifests/1', '[1,2]', OCI_INDEX);
    serve('/v2/manifests-object/manifests/1', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: { a: 1 } }), OCI_INDEX);
    serve('/v2/null/manifests/1', 'null', OCI_INDEX);
    const layersNotArray = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: sha256('{}'), size: 2 }, layers: 'all of them' });
    serve('/v2/layers/manifests/1', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(layersNotArray), size: layersNotArray.length, platform: { os: 'linux', architecture: 'amd64' } }] }), OCI_INDEX);
    serve(`/v2/layers/manifests/${sha256(layersNotArray)}`, layersNotArray, OCI_MANIFEST);
    const out = await check(['not-object', 'manifests-object', 'null', 'layers', 'good'].map((r) => `${host}/${r}:1`));
    const [a, b, c, d, good] = out.reports;
    for (const r of [a, b, c, d]) expect(r!.error?.kind, JSON.stringify(r!.error)).toBe('bad-response');
    expect(a!.error!.message).toBe(`${host}/not-object: manifest 1 is not a JSON object`);
    expect(b!.error!.message).toBe(`${host}/manifests-object: manifest 1: "manifests" is not a list of descriptors`);
    expect(d!.error!.message).toBe(`${host}/layers: manifest ${sha256(layersNotArray)}: "layers" is not a list of descriptors`);
    expect(good!.error).toBeUndefined();
    expect(good!.platforms.map((p) => p.index)).toEqual(['none']);
  });

  it('a SOCI index annotation that is not a digest is never put into a URL: the platform is invalid, and no blob is asked for', async () => {
    routes = new Map();
    const layerPath = `/v2/trav/blobs/sha256:${'1'.repeat(64)}`;
    serve(layerPath, Buffer.alloc(1000));
    image('trav', { manifestAnnotations: { 'com.amazon.soci.index-digest': `../blobs/sha256:${'1'.repeat(64)}` } });
    seen.length = 0;
    const out = await check([`${host}/trav:1`]);
    expect(seen.filter((p) => p.includes('/blobs/'))).toEqual([]);
    const [p] = out.reports[0]!.platforms;
    expect(p!.index).toBe('invalid');
    expect(p!.problems).toEqual([`the manifest's com.amazon.soci.index-digest annotation, "../blobs/sha256:${'1'.repeat(64)}", is not a digest: soci cannot fetch a SOCI index from it`]);
  });

  it('an image config whose bytes do not have its digest, and a manifest asked for by sha512 that has other bytes: refused', async () => {
    routes = new Map();
    // One platform, no index: the config blob says which platform it is.
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux' });
    const lying = JSON.stringify({ architecture: 'arm64', os: 'linux' });
    serve(`/v2/cfg/blobs/${sha256(config)}`, lying);
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length }, layers: [] });
    serve('/v2/cfg/manifests/1', manifest, OCI_MANIFEST);
    const other = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    const wanted = sha512('something else');
    serve(`/v2/s512/manifests/${wanted}`, other, OCI_INDEX);
    const out = await check([`${host}/cfg:1`, `${host}/s512@${wanted}`]);
    expect(out.reports[0]!.error).toEqual({ kind: 'bad-response', message: `${host}/cfg: config ${sha256(config)}: the registry sent content with digest ${sha256(lying)}` });
    expect(out.reports[1]!.error).toEqual({ kind: 'bad-response', message: `${host}/s512@${wanted}: the registry sent content with digest ${sha512(other)}` });
  });

  it("a tag whose Docker-Content-Digest is not the digest of the body it sent (containerd would pull the digest it is told): refused", async () => {
    routes = new Map();
    const { index } = image('told');
    const body = index([]).body;
    const other = sha256('another manifest');
    serve('/v2/told/manifests/1', body, OCI_INDEX, { 'docker-content-digest': other });
    const out = await check([`${host}/told:1`]);
    expect(out.reports[0]!.error).toEqual({ kind: 'bad-response', message: `${host}/told:1: the registry names the tag's digest ${other} but sent content with digest ${sha256(body)}` });
  });

  it('a token service that answers something other than JSON: unauthorized-side failure for that image, not a crash', async () => {
    routes = new Map();
    image('tok');
    const real = routes.get('/v2/tok/manifests/1')!;
    routes.set('/v2/tok/manifests/1', (req, res) => {
      if (req.headers.authorization === 'Bearer t') return real(req, res);
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="s"` }).end();
    });
    serve('/token', '<html>login</html>', 'text/html');
    const out = await check([`${host}/tok:1`]);
    expect(out.reports[0]!.error).toEqual({ kind: 'bad-response', message: `token service ${host} answered something other than JSON` });
  });

  it('anonymous access refused after an anonymous token (what Docker Hub answers for a private or missing repository): says so, and what to do', async () => {
    routes = new Map();
    routes.set('/v2/private/manifests/1', (_req, res) => res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="s",scope="repository:private:pull"` }).end());
    serve('/token', JSON.stringify({ token: 'anonymous' }));
    const out = await check([`${host}/private:1`]);
    expect(out.reports[0]!.error).toEqual({
      kind: 'unauthorized',
      message: `unauthorized: ${host}/private: the registry refused anonymous access (a private repository, or one that does not exist); tried anonymous (no entry for ${host} in /nonexistent/docker-config/config.json): log in (docker login ${host}) if the repository is private, or check its name`,
    });
  });

  it('what soci does with the index the annotation names: a v1-format one is used all the same; one with no zTOC for any layer loads nothing lazily', async () => {
    routes = new Map();
    image('v1fmt', { soci: true, sociConfigType: 'application/vnd.amazon.soci.index.v1+json' });
    image('noztoc', { soci: true, ztocFor: 'none' });
    const out = await check([`${host}/v1fmt:1`, `${host}/noztoc:1`]);
    const [v1fmt, noztoc] = out.reports.map((r) => r.platforms[0]!);
    expect(v1fmt!.index).toBe('v2');
    expect(v1fmt!.coverage).toMatchObject({ layers: 1, indexedLayers: 1 });
    expect(v1fmt!.problems).toEqual([expect.stringMatching(/is in the v1 format .*; soci uses it through the annotation all the same$/)]);
    expect(noztoc!.index).toBe('invalid');
    expect(noztoc!.problems).toEqual([expect.stringMatching(/^SOCI index sha256:[0-9a-f]{64} has no zTOC, for any layer$/)]);
  });

  it('a zTOC named by a digest of an algorithm soci does not have (the OCI grammar allows it; distribution refuses to store it): the index is unusable, and nothing is asked for it', async () => {
    routes = new Map();
    // go-digest, which soci decodes descriptors with, has sha256, sha384 and sha512 only.
    const odd = `md5:${'5'.repeat(32)}`;
    image('oddztoc', { soci: true, ztocDigest: odd });
    seen.length = 0;
    const out = await check([`${host}/oddztoc:1`]);
    const [p] = out.reports[0]!.platforms;
    expect(p!.index).toBe('invalid');
    expect(p!.problems).toEqual([
      `zTOC ${odd} (layer sha256:${'1'.repeat(64)}) is not a digest soci can fetch: soci fetches every blob of the SOCI index before it mounts the image, and uses no index for the image when one fails`,
    ]);
    expect(seen.filter((x) => x.includes('/blobs/'))).toEqual([]);
  });

  // public.ecr.aws answers 401 to every HEAD of a blob, with or without a token, and serves the same blob by
  // GET (aws/containers-roadmap#2671; buildbuddy-io/buildbuddy#12566 met it too). soci fetches blobs by GET
  // (oras-go v2.6.2 blobStore.Fetch), so such a zTOC is there for soci. This route stands in for that registry.
  it('a registry that refuses HEAD on blobs (public.ecr.aws: 401) but serves GET: the zTOC is asked for by a one-byte ranged GET, and its size read from Content-Range', async () => {
    routes = new Map();
    routes.set('/token', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}'));
    const ranges: (string | undefined)[] = [];
    const ztoc = (size: number | 'missing') => (req: IncomingMessage, res: ServerResponse) => {
      if (req.method === 'HEAD') return res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="${host}"` }).end();
      ranges.push(req.headers.range);
      if (size === 'missing') return res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      res.writeHead(206, { 'content-type': 'application/octet-stream', 'content-range': `bytes 0-0/${size}` }).end(Buffer.alloc(1));
    };
    const ztocPath = (repo: string) => `/v2/${repo}/blobs/sha256:${'2'.repeat(64)}`;
    for (const [repo, size] of [['noheadok', 1000], ['noheadgone', 'missing'], ['noheadsize', 999]] as const) {
      image(repo, { soci: true });
      routes.set(ztocPath(repo), ztoc(size));
    }
    const out = await check(['noheadok', 'noheadgone', 'noheadsize'].map((r) => `${host}/${r}:1`));
    const [ok, gone, size] = out.reports;
    expect(ok!.error).toBeUndefined();
    expect(ok!.platforms[0]).toMatchObject({ index: 'v2', problems: [] });
    expect(gone!.platforms[0]!.index).toBe('invalid');
    expect(gone!.platforms[0]!.problems).toEqual([expect.stringMatching(/ is not in the repository: soci fetches every blob/)]);
    expect(size!.platforms[0]!.problems).toEqual([expect.stringMatching(/ is 999 bytes in the repository, not the 1000 the SOCI index says/)]);
    expect(ranges).toEqual(['bytes=0-0', 'bytes=0-0', 'bytes=0-0']);
  });

  it('a body past 4 MiB, sent without a Content-Length: refused while reading, for that image only (as before: a regression test)', async () => {
    routes = new Map();
    image('good');
    routes.set('/v2/huge/manifests/1', (_req, res) => {
      res.writeHead(200, { 'content-type': OCI_INDEX });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      for (let i = 0; i < 6; i++) res.write(chunk);
      res.end();
    });
    const out = await check([`${host}/huge:1`, `${host}/good:1`]);
    expect(out.reports[0]!.error).toEqual({ kind: 'bad-response', message: `/v2/huge/manifests/1: more than ${4 << 20} bytes` });
    expect(out.reports[0]!.fetched.bytes).toBeLessThanOrEqual((4 << 20) + (1 << 20));
    expect(out.reports[1]!.error).toBeUndefined();
  });

  it('a redirect loop: one unreachable line naming it (as before: a regression test)', async () => {
    routes = new Map();
    routes.set('/v2/loop/manifests/1', (_req, res) => res.writeHead(307, { location: `http://${host}/v2/loop/manifests/1` }).end());
    const out = await check([`${host}/loop:1`]);
    expect(out.reports[0]!.error).toEqual({ kind: 'unreachable', message: `unreachable: ${host}: redirect count exceeded` });
  });

  it('a referrers API that fails (500, 400) for an image without an index: the verdict stands, with a note; not an error', async () => {
    routes = new Map();
    const { entry } = image('refs');
    routes.set(`/v2/refs/referrers/${entry.digest}`, (_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('oops'));
    const out = await check([`${host}/refs:1`]);
    expect(out.reports[0]!.error).toBeUndefined();
    const [p] = out.reports[0]!.platforms;
    expect(p!.index).toBe('none');
    expect(p!.problems).toEqual([`could not look for a v1 SOCI index: unreachable: ${host} answered 500 for referrers of ${entry.digest}`]);
  });

  // docker-registry 2.8 has no referrers API (it answers 404; its tag-schema fallback is tested against it), so
  // this server stands in for one that has it and pages its answer as the OCI distribution-spec says (v1.1.1
  // spec.md "Listing Referrers", a139cc42): each page an image index, the next named by a Link header with
  // rel="next" (RFC 8288; a relative reference is resolved against the request's URL).
  /** A v1 SOCI index of the test image's layer, served as a manifest; its descriptor as a referrer. */
  function v1Index(repo: string) {
    const m = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: SOCI_V1, digest: sha256('{}'), size: 2 },
      layers: [{ mediaType: 'application/octet-stream', digest: `sha256:${'6'.repeat(64)}`, size: 1000, annotations: { 'com.amazon.soci.image-layer-digest': `sha256:${'1'.repeat(64)}` } }],
    });
    serve(`/v2/${repo}/manifests/${sha256(m)}`, m, OCI_MANIFEST);
    return { mediaType: OCI_MANIFEST, digest: sha256(m), size: m.length, artifactType: SOCI_V1 };
  }
  /** Referrers of the repository's image, page N (?page=N, 1 when absent) as pages(N) says: its list, and the Link it sends. */
  function referrers(repo: string, digest: string, pages: (n: number) => { manifests: unknown[]; link?: string }): string {
    const path = `/v2/${repo}/referrers/${digest}`;
    routes.set(path, (req, res) => {
      const { manifests, link } = pages(Number(new URL(req.url!, `http://${host}`).searchParams.get('page') ?? '1'));
      res.writeHead(200, { 'content-type': OCI_INDEX, ...(link ? { link } : {}) }).end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    });
    return path;
  }

  it('a referrers answer in pages: every page is read, and a v1 index on the second is found (the first alone said none)', async () => {
    routes = new Map();
    const { entry } = image('paged');
    const v1 = v1Index('paged');
    const signature = { mediaType: OCI_MANIFEST, digest: sha256('sig'), size: 3, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' };
    const path = referrers('paged', entry.digest, (n) => (n === 1 ? { manifests: [signature], link: `<${path}?page=2>; rel="next"` } : { manifests: [v1] }));
    const out = await check([`${host}/paged:1`]);
    const [p] = out.reports[0]!.platforms;
    expect(p).toMatchObject({ index: 'v1-only', via: 'referrers API', indexDigests: [v1.digest], problems: [] });
    expect(p!.coverage).toMatchObject({ indexedLayers: 1 });
  });

  it('a referrers answer that never ends is read to 20 pages, then the verdict stands with a note saying so; a next page on another host is not followed', async () => {
    routes = new Map();
    const { entry } = image('endless');
    const path = referrers('endless', entry.digest, (n) => ({ manifests: [], link: `<http://${host}${path}?page=${n + 1}>; rel="next"` }));
    const there = image('elsewhere').entry;
    const elsewhere = referrers('elsewhere', there.digest, () => ({ manifests: [], link: `<http://127.0.0.2:1${elsewhere}?page=2>; rel="next"` }));
    seen.length = 0;
    const out = await check([`${host}/endless:1`, `${host}/elsewhere:1`]);
    const [endless, other] = out.reports.map((r) => r.platforms[0]!);
    expect(endless!.index).toBe('none');
    expect(endless!.problems).toEqual([
      `the registry's referrers list of ${entry.digest} goes on past 20 pages (Link rel="next"); only those were read: a v1 SOCI index may be in the rest`,
    ]);
    expect(seen.filter((u) => u.startsWith(path))).toHaveLength(20);
    expect(other!.index).toBe('none');
    expect(other!.problems).toEqual([`could not look for a v1 SOCI index: ${host}/elsewhere: referrers of ${there.digest}: the next page is on another host (http://127.0.0.2:1), not followed`]);
  });

  it('the SOCI index listed before the image for a platform: containerd would pull it as the image, so the platform is not ready in any mode', async () => {
    routes = new Map();
    const { entry, sociEntry, index } = image('order', { soci: true });
    const reordered = index([sociEntry, entry]);
    serve('/v2/order/manifests/1', reordered.body, OCI_INDEX);
    for (const mode of ['lazy', 'parallel'] as const) {
      const out = await check([`${host}/order:1`], mode);
      const [p] = out.reports[0]!.platforms;
      expect(p!.index).toBe('not-an-image');
      expect(p!.manifestDigest).toBe(sociEntry!.digest);
      expect(p!.problems).toEqual([
        `the image index lists ${sociEntry!.digest} (a SOCI index, not an image) as its first linux/amd64 entry: containerd pulls the first entry that matches the platform, so nodes would pull the SOCI index instead of the image ${entry.digest}; list the images first, as soci convert writes the index`,
      ]);
      expect(toJson(out)).toMatchObject({ ready: false });
    }
  });

  it('escape sequences and other control characters from the registry are shown escaped in the table', async () => {
    routes = new Map();
    image('esc', { manifestAnnotations: { 'com.amazon.soci.index-digest': `sha256:${'3'.repeat(64)}` } });
    const ansi = '\u001b[2J\u001b]0;pwned\u0007';
    const idx = JSON.stringify({ schemaVersion: 2, mediaType: `x${ansi}` });
    serve('/v2/esc2/manifests/1', idx, 'application/json');
    const table = formatTable(await check([`${host}/esc:1`, `${host}/esc2:1`]));
    expect(table).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(table).toContain(`not an image (mediaType x\\u001b[2J\\u001b]0;pwned\\u0007)`);
  });
});
