// The pure parts of check-image: references as docker reads them, challenges, referrers answers, verdicts.
import { describe, expect, it } from 'vitest';
import { imagesFromPods } from '../../src/check-image/pods.js';
import { parseInput } from '../../src/check-image/index.js';
import { useProxyFromEnv } from '../../src/check-image/proxy.js';
import { parsePlatform, parseReference, platformMatches } from '../../src/check-image/reference.js';
import { networkReason, nextLink, parseChallenge, plainHttp, referrersFrom } from '../../src/check-image/registry.js';
import { formatTable, toJson, verdict, type CheckOutcome } from '../../src/check-image/report.js';
import { newMeter } from '../../src/check-image/registry.js';
import type { ImageRef } from '../../src/check-image/reference.js';
import type { PlatformReport } from '../../src/check-image/analyze.js';

describe('check-image references (distribution/reference normalization)', () => {
  it.each([
    ['nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['nginx:1.27', { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' }],
    ['bitnami/redis:7', { registry: 'docker.io', repository: 'bitnami/redis', tag: '7' }],
    ['index.docker.io/library/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['127.0.0.1:5000/a/b:v1', { registry: '127.0.0.1:5000', repository: 'a/b', tag: 'v1' }],
    ['public.ecr.aws/soci-workshop-examples/ffmpeg:latest', { registry: 'public.ecr.aws', repository: 'soci-workshop-examples/ffmpeg', tag: 'latest' }],
    [`r.example/app:1@sha256:${'a'.repeat(64)}`, { registry: 'r.example', repository: 'app', tag: '1', digest: `sha256:${'a'.repeat(64)}` }],
    [`r.example/app@sha256:${'b'.repeat(64)}`, { registry: 'r.example', repository: 'app', digest: `sha256:${'b'.repeat(64)}` }],
    // go-digest (kubelet's reference parser, and soci's) has sha384 too.
    [`r.example/app@sha384:${'c'.repeat(96)}`, { registry: 'r.example', repository: 'app', digest: `sha384:${'c'.repeat(96)}` }],
    [`r.example/app@sha512:${'d'.repeat(128)}`, { registry: 'r.example', repository: 'app', digest: `sha512:${'d'.repeat(128)}` }],
  ])('%s', (text, want) => {
    expect(parseReference(text)).toEqual({ text, ...want });
  });

  it.each(['', 'UPPER', 'r.example/App', 'r.example/app:',  'r.example/app@sha256:abc', `r.example/app@sha384:${'c'.repeat(64)}`, `r.example/app@md5:${'5'.repeat(32)}`, 'r.example/app:-x', 'a//b'])('refuses %j with one line', (text) => {
    const r = parseReference(text);
    expect(r).toHaveProperty('problem');
    expect((r as { problem: string }).problem).not.toContain('\n');
  });

  it('--platform: each platform once (a repeated one made a second row and a second round of requests)', () => {
    const input = parseInput({ refs: ['nginx'], platforms: ['linux/amd64', 'linux/arm64', 'linux/amd64'] }, { arches: [] });
    expect(input).toMatchObject({ platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }] });
  });

  it('platforms: os/arch[/variant]; arm64 with or without v8 is the same platform', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux')).toHaveProperty('problem');
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(false);
  });
});

describe('check-image registry protocol pieces', () => {
  it('parses Bearer and Basic challenges (quoted values with commas)', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull,push' },
    });
    expect(parseChallenge('Basic realm="ECR"')).toEqual({ scheme: 'basic', params: { realm: 'ECR' } });
    expect(parseChallenge(null)).toBeUndefined();
  });

  it('a Link header: the rel="next" target (RFC 8288: quoted or not, among other relations and links), resolved against the URL answered', () => {
    const base = new URL('http://r.example/v2/app/referrers/sha256:1?artifactType=x');
    expect(nextLink('</v2/app/referrers/sha256:1?last=9>; rel="next"', base)?.href).toBe('http://r.example/v2/app/referrers/sha256:1?last=9');
    expect(nextLink('<?page=2>; rel=next', base)?.href).toBe('http://r.example/v2/app/referrers/sha256:1?page=2');
    expect(nextLink('<https://a.example/p1>; rel="prev", <https://a.example/p3>; title="x"; rel="last next"', base)?.href).toBe('https://a.example/p3');
    expect(nextLink('<https://a.example/p1>; rel="prev"', base)).toBeUndefined();
    expect(nextLink(null, base)).toBeUndefined();
  });

  it('an untrusted certificate says what to do; other network errors are named by their code', () => {
    const fetchError = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('x'), { code }) });
    // DEPTH_ZERO_SELF_SIGNED_CERT is what Node 24's fetch gives for a self-signed registry (seen with an openssl-made cert).
    for (const code of ['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) {
      expect(networkReason(fetchError(code))).toBe(`${code}: the registry's TLS certificate is not trusted here; if its CA is yours, name it with NODE_EXTRA_CA_CERTS=/path/ca.pem`);
    }
    for (const code of ['ECONNREFUSED', 'CERT_HAS_EXPIRED']) expect(networkReason(fetchError(code))).toBe(code);
  });

  it('plain HTTP for loopback hosts only, as containerd MatchLocalhost', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000', '::1']) expect(plainHttp(h), h).toBe(true);
    for (const h of ['registry.example', '10.0.0.1:5000', 'localhost.example']) expect(plainHttp(h), h).toBe(false);
  });

  // No registry here implements the referrers API (distribution 2.8 answers 404: the tag schema path runs
  // against it in test/check-image.test.ts). This is the answer's shape from the OCI distribution spec 1.1.
  it('reads a referrers API answer, keeping only the asked artifactType (registries may ignore the filter)', () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:1', size: 1, artifactType: 'application/vnd.amazon.soci.index.v1+json' },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:2', size: 1, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' },
      ],
    });
    expect(referrersFrom(body, 'application/vnd.amazon.soci.index.v1+json').map((d) => d.digest)).toEqual(['sha256:1']);
  });
});

describe('check-image verdicts per mode', () => {
  const p = (index: PlatformReport['index']): PlatformReport => ({ platform: 'linux/amd64', index, indexDigests: [], problems: [] });
  it.each([
    ['lazy', 'v2', true, 'lazy loading'],
    ['lazy', 'none', false, 'pulls normally: no SOCI index'],
    ['lazy', 'v1-only', false, 'pulls normally: only a v1 index, which soci ignores since 0.10'],
    ['lazy-with-parallel-fallback', 'none', false, 'parallel pull (fallback), not lazy: no SOCI index'],
    ['lazy-with-parallel-fallback', 'v2', true, 'lazy loading'],
    ['parallel', 'v2', true, 'parallel pull (parallel: the SOCI index is not used)'],
    ['fast-image-pull', 'none', true, 'parallel pull (fast-image-pull)'],
    ['parallel', 'no-platform', false, 'no linux/amd64 image: nodes of this platform cannot run it'],
  ] as const)('%s, %s -> ready %s', (mode, index, ready, says) => {
    expect(verdict(p(index), mode)).toEqual({ ready, says });
  });
});

describe('check-image --from-pods', () => {
  it('a single Pod works too; a document that is neither refuses in one line', () => {
    expect(imagesFromPods(JSON.stringify({ kind: 'Pod', metadata: { namespace: 'ns', name: 'p' }, spec: { containers: [{ image: 'a' }, { image: 'b' }, { image: 'a' }] } }), 'stdin')).toEqual([
      { image: 'a', pod: 'ns/p' },
      { image: 'b', pod: 'ns/p' },
    ]);
    expect(() => imagesFromPods('{"kind":"Deployment"}', 'stdin')).toThrow(/^--from-pods stdin: neither a List with items nor a Pod/);
  });

  it("an image a pod names that is no reference: a row naming the pod, not a problem of the input (it was exit 2); the same named by the user is", () => {
    const pods = imagesFromPods(JSON.stringify({ kind: 'List', items: [{ kind: 'Pod', metadata: { namespace: 'shop', name: 'web-1' }, spec: { containers: [{ image: 'Registry.example/App:1' }, { image: 'nginx' }] } }] }), 'stdin');
    const input = parseInput({ refs: [], fromPods: { images: pods, origin: 'stdin' } }, { arches: ['amd64'] });
    expect(input).toMatchObject({
      refs: [{ text: 'nginx' }],
      unparsable: [
        {
          text: 'Registry.example/App:1',
          message:
            'not an image reference (pod shop/web-1 in --from-pods stdin): the repository is lowercase letters, digits and separators (".", "_", "__", "-") between "/"; kubelet refuses a reference it cannot parse (the pod waits with InvalidImageName)',
        },
      ],
    });
    expect(parseInput({ refs: ['Registry.example/App:1'], fromPods: { images: pods, origin: 'stdin' } }, { arches: ['amd64'] })).toEqual({
      problems: ['image "Registry.example/App:1": the repository is lowercase letters, digits and separators (".", "_", "__", "-") between "/"'],
    });
  });

  it('a List of something else than Pods is named as such (it read as "no image given" before)', () => {
    const deployments = { kind: 'List', items: [{ kind: 'Deployment', spec: { template: { spec: { containers: [{ image: 'a' }] } } } }] };
    expect(() => imagesFromPods(JSON.stringify(deployments), 'stdin')).toThrow(/^--from-pods stdin: a List of Deployment objects, not Pods; give the output of kubectl get pods -A -o json$/);
    expect(imagesFromPods('{"kind":"List","items":[]}', 'stdin')).toEqual([]);
  });
});

describe('check-image report', () => {
  const MiB = 1 << 20;
  const ref = (name: string): ImageRef => ({ text: `r.example/${name}:1`, registry: 'r.example', repository: name, tag: '1' });
  const outcome = (platforms: PlatformReport[][]): CheckOutcome => ({
    mode: 'lazy',
    reports: platforms.map((ps, i) => ({ ref: ref(`app${i}`), digest: `sha256:${String(i).repeat(64)}`, mutable: true, platforms: ps, fetched: newMeter() })),
    unparsable: [],
  });

  it('"every layer is under --min-layer-size" only where no layer is indexed (a v1 index that indexes the big layer is not that case)', () => {
    const v1: PlatformReport = {
      platform: 'linux/amd64',
      index: 'v1-only',
      indexDigests: [`sha256:${'a'.repeat(64)}`],
      via: 'referrers API',
      coverage: { layers: 2, indexedLayers: 1, bytes: 60 * MiB, indexedBytes: 58 * MiB, largestUnindexed: { digest: `sha256:${'b'.repeat(64)}`, size: 2 * MiB } },
      problems: [],
    };
    const small: PlatformReport = { ...v1, index: 'none', indexDigests: [], coverage: { layers: 2, indexedLayers: 0, bytes: 3 * MiB, indexedBytes: 0, largestUnindexed: { digest: `sha256:${'b'.repeat(64)}`, size: 2 * MiB } } };
    const [big, tiny] = formatTable(outcome([[v1], [small]])).split('r.example/app1:1: to lazy-load');
    expect(big).toContain('r.example/app0:1: to lazy-load linux/amd64');
    expect(big).not.toContain('every layer is under');
    expect(tiny).toContain('every layer is under soci\'s default --min-layer-size (10 MiB)');
  });

  it('--json: every platform has the same keys, null where a value does not apply', () => {
    const full: PlatformReport = {
      platform: 'linux/amd64',
      index: 'v1-only',
      manifestDigest: `sha256:${'c'.repeat(64)}`,
      indexDigests: [],
      via: 'tag schema',
      coverage: { layers: 1, indexedLayers: 0, bytes: 1, indexedBytes: 0, largestUnindexed: { digest: `sha256:${'d'.repeat(64)}`, size: 1 } },
      problems: [],
    };
    const bare: PlatformReport = { platform: 'linux/arm64', index: 'no-platform', indexDigests: [], problems: ['no arm64 image'] };
    const v2: PlatformReport = { ...full, index: 'v2', via: undefined, coverage: { layers: 1, indexedLayers: 1, bytes: 1, indexedBytes: 1 } };
    const json = toJson(outcome([[full, bare, v2]])) as { images: { platforms: Record<string, unknown>[] }[] };
    const [a, b, c] = json.images[0]!.platforms;
    expect(Object.keys(b!)).toEqual(Object.keys(a!));
    expect(Object.keys(c!)).toEqual(Object.keys(a!));
    expect(b).toMatchObject({ manifestDigest: null, via: null, coverage: null });
    expect(c!.coverage).toEqual({ layers: 1, indexedLayers: 1, bytes: 1, indexedBytes: 1, largestUnindexed: null });
  });
});

describe('useProxyFromEnv: fetch goes through the proxy the environment names', () => {
  const calls: NodeJS.ProcessEnv[] = [];
  const node24 = { setGlobalProxyFromEnv: (env?: NodeJS.ProcessEnv) => calls.push(env ?? {}) };

  it('switches Node 24 on (which reads NO_PROXY itself), and names on Node 22 what to set at start', () => {
    const env = { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: '.internal' };
    expect(useProxyFromEnv(env, node24)).toBeUndefined();
    expect(calls).toEqual([env]);
    expect(useProxyFromEnv({ http_proxy: 'http://proxy:3128' }, {})).toBe(
      `http_proxy is set, but Node ${process.version} sends requests through it only when started with NODE_USE_ENV_PROXY=1 (Node 24 needs nothing): run NODE_USE_ENV_PROXY=1 soci-installer check-image ...`,
    );
  });

  it('does nothing without a proxy variable, or where Node already uses them (NODE_USE_ENV_PROXY=1)', () => {
    calls.length = 0;
    expect(useProxyFromEnv({ NO_PROXY: 'x' }, node24)).toBeUndefined();
    expect(useProxyFromEnv({ HTTP_PROXY: 'http://p:1', NODE_USE_ENV_PROXY: '1' }, node24)).toBeUndefined();
    expect(useProxyFromEnv({ HTTP_PROXY: 'http://p:1', NODE_USE_ENV_PROXY: '1' }, {})).toBeUndefined();
    expect(calls).toEqual([]);
  });
});
