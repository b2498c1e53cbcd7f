// A read-only client of the OCI distribution API: manifests, small JSON blobs (an image config, only for a
// single-platform image), referrers, and HEADs of blobs (a SOCI index's zTOCs: there, and of what size; a
// one-byte GET where the registry refuses HEAD).
// Never a layer blob's bytes. Requests across all images share one bound.
// Auth as registries challenge (distribution spec; docker's token auth): 401 with
// `WWW-Authenticate: Basic ...` -> credentials as basic auth; `Bearer realm=...,service=...,scope=...` ->
// a token from the realm (with the credentials as basic auth, or an identity token as a refresh_token).
import { createHash } from 'node:crypto';
import { apiHost, isDigest } from './reference.js';
import type { Credential, CredentialLookup } from './auth.js';

export type RegistryErrorKind = 'not-found' | 'unauthorized' | 'rate-limited' | 'unreachable' | 'bad-response';

export class RegistryError extends Error {
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Counts what one image's check fetched. */
export interface Meter {
  requests: number;
  bytes: number;
  /** request paths, for tests and the bench: proof that no layer blob was asked for */
  paths: string[];
}

export const newMeter = (): Meter => ({ requests: 0, bytes: 0, paths: [] });

export interface Repo {
  registry: string;
  repository: string;
}

/**
 * A manifest or an image index, its shape checked (OCI image-spec manifest.md, image-index.md): what a
 * registry sends is data, and a wrong shape is that image's bad-response, never a crash of the run.
 */
export interface Manifest {
  digest: string;
  mediaType: string;
  bytes: number;
  /** an image index's entries */
  manifests: Descriptor[];
  config?: Descriptor;
  layers: Descriptor[];
  annotations: Record<string, string>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

// The OCI digest grammar (image-spec descriptor.md): what a descriptor may name. Only isDigest ones are fetched.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringMap = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every((x) => typeof x === 'string');

function isDescriptor(v: unknown): v is Descriptor {
  if (!isObject(v)) return false;
  const p = v.platform;
  return (
    typeof v.mediaType === 'string' &&
    typeof v.digest === 'string' &&
    DIGEST_GRAMMAR.test(v.digest) &&
    Number.isSafeInteger(v.size) &&
    (v.size as number) >= 0 &&
    (v.artifactType === undefined || typeof v.artifactType === 'string') &&
    (v.annotations === undefined || isStringMap(v.annotations)) &&
    (p === undefined || (isObject(p) && typeof p.os === 'string' && typeof p.architecture === 'string' && (p.variant === undefined || typeof p.variant === 'string')))
  );
}

/** The descriptors of one list field, or the reason it is not one. */
function descriptors(json: Record<string, unknown>, field: string): Descriptor[] | string {
  const v = json[field];
  if (v === undefined || v === null) return [];
  return Array.isArray(v) && v.every(isDescriptor) ? v : `"${field}" is not a list of descriptors`;
}

const ACCEPT_ANY_MANIFEST = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');
/** distribution refuses manifests over 4 MiB; nothing larger is a manifest. */
const MAX_MANIFEST = 4 << 20;
/** an image config is a few KB; a "config" larger than this is not read */
const MAX_CONFIG = 1 << 20;

export interface ClientOptions {
  credentials: (registry: string) => Promise<CredentialLookup>;
  /** requests in flight at once, over all images (default 8) */
  concurrency?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Plain HTTP only for loopback hosts, as containerd does by default (containerd v2.2.4
 * core/remotes/docker/registry.go MatchLocalhost: "localhost", 127.0.0.0/8, ::1, any port).
 */
export function plainHttp(host: string): boolean {
  if (host === '::1' || /^\[::1\](?::\d+)?$/.test(host)) return true;
  const h = host.replace(/:\d+$/, '');
  return h === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

class Semaphore {
  private waiting: (() => void)[] = [];
  private active = 0;
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

function basic(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

function retryAfter(res: Response): string {
  const v = res.headers.get('retry-after');
  if (!v) return 'no Retry-After';
  return /^\d+$/.test(v) ? `Retry-After: ${v} s` : `Retry-After: ${v}`;
}

/** Why a request got no answer, and for an untrusted certificate what to do (Node's codes: tls_wrap, X509 verify errors). */
export function networkReason(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'timed out';
  const code = err.cause?.code;
  if (code && /SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)/.test(code)) {
    return `${code}: the registry's TLS certificate is not trusted here; if its CA is yours, name it with NODE_EXTRA_CA_CERTS=/path/ca.pem`;
  }
  return code ?? err.cause?.message ?? err.message;
}

/** The digest of `body` in the algorithm `like` names (sha256, sha384 or sha512), as "<algorithm>:<hex>". */
function digestOf(body: Buffer, like: string): string {
  const algorithm = like.split(':', 1)[0]!;
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

export class RegistryClient {
  private readonly limit: Semaphore;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  /** Authorization per registry+repository (tokens are scoped to a repository) */
  private readonly auth = new Map<string, Promise<string | undefined>>();
  private readonly creds = new Map<string, Promise<CredentialLookup>>();

  constructor(private readonly opts: ClientOptions) {
    this.limit = new Semaphore(opts.concurrency ?? 8);
    this.fetchFn = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  private credentialsFor(registry: string): Promise<CredentialLookup> {
    let p = this.creds.get(registry);
    if (!p) this.creds.set(registry, (p = this.opts.credentials(registry)));
    return p;
  }

  private base(registry: string): string {
    const host = apiHost(registry);
    return `${plainHttp(host) ? 'http' : 'https'}://${host}`;
  }

  /** One HTTP GET under the bound, its body read up to `max` bytes, counted in the meter. */
  private async get(url: string, headers: Record<string, string>, max: number, meter: Meter, init: RequestInit = {}): Promise<{ res: Response; body: Buffer }> {
    return this.limit.run(async () => {
      meter.requests++;
      meter.paths.push(new URL(url).pathname);
      let res: Response;
      try {
        res = await this.fetchFn(url, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) }, redirect: 'follow', signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (e) {
        throw new RegistryError('unreachable', `unreachable: ${new URL(url).host}: ${networkReason(e)}`);
      }
      // max 0: only the answer's status and headers are wanted (a HEAD, a ranged GET of a blob); its body is not read.
      if (max === 0) {
        await res.body?.cancel();
        return { res, body: Buffer.alloc(0) };
      }
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > max) {
        await res.body?.cancel();
        throw new RegistryError('bad-response', `${new URL(url).pathname}: ${declared} bytes, more than the ${max} a manifest or config may have`);
      }
      const chunks: Buffer[] = [];
      let n = 0;
      if (res.body) {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          n += chunk.length;
          meter.bytes += chunk.length;
          if (n > max) throw new RegistryError('bad-response', `${new URL(url).pathname}: more than ${max} bytes`);
          chunks.push(Buffer.from(chunk));
        }
      }
      return { res, body: Buffer.concat(chunks) };
    });
  }

  private async token(challenge: Challenge, repo: Repo, lookup: CredentialLookup, meter: Meter): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError('bad-response', `${repo.registry}: a Bearer challenge without a realm`);
    if (!URL.canParse(realm) || !/^https?:$/.test(new URL(realm).protocol)) throw new RegistryError('bad-response', `${repo.registry}: a Bearer challenge whose realm, ${JSON.stringify(realm)}, is not an http(s) URL`);
    const scope = challenge.params.scope ?? `repository:${repo.repository}:pull`;
    const cred: Credential | undefined = lookup.credential;
    let got: { res: Response; body: Buffer };
    if (cred && 'identityToken' in cred) {
      // docker's token flow with a refresh token: POST the OAuth2 form to the realm.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, service: challenge.params.service ?? '', scope, client_id: 'soci-installer' });
      got = await this.get(realm, { 'content-type': 'application/x-www-form-urlencoded' }, 1 << 20, meter, { method: 'POST', body: form.toString() });
    } else {
      const url = new URL(realm);
      if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
      url.searchParams.set('scope', scope);
      got = await this.get(url.toString(), cred ? { authorization: basic(cred) } : {}, 1 << 20, meter);
    }
    if (got.res.status === 401 || got.res.status === 403) throw this.unauthorized(repo, lookup, `the token service refused (${got.res.status})`);
    if (got.res.status === 429) throw new RegistryError('rate-limited', `rate-limited: ${new URL(realm).host} answered 429 (${retryAfter(got.res)})`);
    if (got.res.status !== 200) throw new RegistryError('bad-response', `token service ${new URL(realm).host} answered ${got.res.status}`);
    let json: unknown;
    try {
      json = JSON.parse(got.body.toString('utf8'));
    } catch {
      throw new RegistryError('bad-response', `token service ${new URL(realm).host} answered something other than JSON`);
    }
    const token = isObject(json) ? (json.token ?? json.access_token) : undefined;
    if (typeof token !== 'string' || token === '') throw new RegistryError('bad-response', `token service ${new URL(realm).host} returned no token`);
    return `Bearer ${token}`;
  }

  private unauthorized(repo: Repo, lookup: CredentialLookup, what: string): RegistryError {
    const tried = lookup.failure ? `${lookup.failure}; went on anonymously` : lookup.credential ? `credentials from ${lookup.source}` : lookup.source;
    const login = `docker login${repo.registry === 'docker.io' ? '' : ` ${repo.registry}`}`;
    const fix = lookup.failure
      ? 'fix that and run again'
      : !lookup.credential
        ? `log in (${login}) if the repository is private, or check its name`
        : lookup.source.startsWith('ECR')
          ? 'check that this AWS identity may pull from the repository (ecr:BatchGetImage)'
          : `check those credentials (${login})`;
    return new RegistryError('unauthorized', `unauthorized: ${repo.registry}/${repo.repository}: ${what}; tried ${tried}: ${fix}`);
  }

  /** GET (or HEAD) with the cached authorization, answering one challenge if the registry sends it. */
  private async authed(repo: Repo, path: string, accept: string, max: number, meter: Meter, method: 'GET' | 'HEAD' = 'GET', range?: string): Promise<{ res: Response; body: Buffer }> {
    const key = `${repo.registry}/${repo.repository}`;
    const url = `${this.base(repo.registry)}${path}`;
    const cachedPromise = this.auth.get(key);
    const cached = await cachedPromise?.catch(() => undefined);
    const first = await this.get(url, { accept, ...(range ? { range } : {}), ...(cached ? { authorization: cached } : {}) }, max, meter, { method });
    if (first.res.status !== 401) return first;
    const challenge = parseChallenge(first.res.headers.get('www-authenticate'));
    const lookup = await this.credentialsFor(repo.registry);
    // One token fetch per repository, shared by concurrent requests: only the first to see the old value replaces it.
    if (this.auth.get(key) === cachedPromise) {
      const fresh = (async () => {
        if (challenge?.scheme === 'bearer') return this.token(challenge, repo, lookup, meter);
        if (challenge?.scheme === 'basic' && lookup.credential && 'username' in lookup.credential) return basic(lookup.credential);
        throw this.unauthorized(repo, lookup, 'the registry asks for credentials');
      })();
      fresh.catch(() => undefined); // awaited below; a rejection is not unhandled meanwhile
      this.auth.set(key, fresh);
    }
    const authorization = await this.auth.get(key)!;
    const second = await this.get(url, { accept, ...(range ? { range } : {}), ...(authorization ? { authorization } : {}) }, max, meter, { method });
    if (second.res.status === 401) {
      // Docker Hub and others answer 401, not 404, for a repository that does not exist.
      throw this.unauthorized(repo, lookup, lookup.credential ? 'the registry refused the credentials' : 'the registry refused anonymous access (a private repository, or one that does not exist)');
    }
    return second;
  }

  private fail(res: Response, repo: Repo, what: string): never {
    const name = `${repo.registry}/${repo.repository}`;
    if (res.status === 404) throw new RegistryError('not-found', `not found: ${name}: ${what}`);
    if (res.status === 403) throw new RegistryError('unauthorized', `unauthorized: ${name}: ${what}: access denied (403)`);
    if (res.status === 429) throw new RegistryError('rate-limited', `rate-limited: ${repo.registry} answered 429 (${retryAfter(res)})`);
    if (res.status >= 500) throw new RegistryError('unreachable', `unreachable: ${repo.registry} answered ${res.status} for ${what}`);
    throw new RegistryError('bad-response', `${name}: ${what}: HTTP ${res.status}`);
  }

  /** A manifest or index by tag or digest. A digest reference is checked against the bytes. */
  async manifest(repo: Repo, reference: string, meter: Meter): Promise<Manifest> {
    const name = `${repo.registry}/${repo.repository}`;
    // Digests come from registry data too (index entries, annotations): nothing else goes into the path.
    const byDigest = isDigest(reference);
    if (!byDigest && !/^[\w][\w.-]{0,127}$/.test(reference)) throw new RegistryError('bad-response', `${name}: ${JSON.stringify(reference)} is neither a tag nor a digest`);
    const { res, body } = await this.authed(repo, `/v2/${repo.repository}/manifests/${reference}`, ACCEPT_ANY_MANIFEST, MAX_MANIFEST, meter);
    if (res.status !== 200) this.fail(res, repo, byDigest ? `manifest ${reference}` : `tag ${reference}`);
    const digest = byDigest ? digestOf(body, reference) : digestOf(body, 'sha256:');
    if (byDigest && reference !== digest) throw new RegistryError('bad-response', `${name}@${reference}: the registry sent content with digest ${digest}`);
    // containerd resolves a tag to the Docker-Content-Digest it is told, then pulls by that digest
    // (core/remotes/docker/resolver.go at v2.2.4): a body with another digest is not what nodes would pull.
    const told = res.headers.get('docker-content-digest');
    if (!byDigest && told && isDigest(told) && digestOf(body, told) !== told) {
      throw new RegistryError('bad-response', `${name}:${reference}: the registry names the tag's digest ${told} but sent content with digest ${digestOf(body, told)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError('bad-response', `${name}: manifest ${reference} is not JSON`);
    }
    if (!isObject(json)) throw new RegistryError('bad-response', `${name}: manifest ${reference} is not a JSON object`);
    const bad = (why: string): never => {
      throw new RegistryError('bad-response', `${name}: manifest ${reference}: ${why}`);
    };
    const manifests = descriptors(json, 'manifests');
    const layers = descriptors(json, 'layers');
    if (typeof manifests === 'string') bad(manifests);
    if (typeof layers === 'string') bad(layers);
    if (json.config !== undefined && !isDescriptor(json.config)) bad('"config" is not a descriptor');
    if (json.annotations !== undefined && !isStringMap(json.annotations)) bad('"annotations" is not a map of strings');
    const mediaType = (typeof json.mediaType === 'string' ? json.mediaType : undefined) ?? res.headers.get('content-type')?.split(';')[0] ?? '';
    return {
      digest,
      mediaType,
      bytes: body.length,
      manifests: manifests as Descriptor[],
      layers: layers as Descriptor[],
      ...(json.config !== undefined ? { config: json.config as Descriptor } : {}),
      annotations: (json.annotations as Record<string, string> | undefined) ?? {},
    };
  }

  /** A small JSON blob (an image config), checked against its digest; refused above 1 MiB, so a layer is never read through here. */
  async configBlob(repo: Repo, desc: Descriptor, meter: Meter): Promise<Record<string, unknown>> {
    const name = `${repo.registry}/${repo.repository}`;
    if (!isDigest(desc.digest)) throw new RegistryError('bad-response', `${name}: config ${JSON.stringify(desc.digest)} is not a digest`);
    if (desc.size > MAX_CONFIG) throw new RegistryError('bad-response', `${name}: config ${desc.digest} is ${desc.size} bytes; not read`);
    const { res, body } = await this.authed(repo, `/v2/${repo.repository}/blobs/${desc.digest}`, '*/*', MAX_CONFIG, meter);
    if (res.status !== 200) this.fail(res, repo, `config ${desc.digest}`);
    const got = digestOf(body, desc.digest);
    if (got !== desc.digest) throw new RegistryError('bad-response', `${name}: config ${desc.digest}: the registry sent content with digest ${got}`);
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError('bad-response', `${name}: config ${desc.digest} is not JSON`);
    }
    if (!isObject(json)) throw new RegistryError('bad-response', `${name}: config ${desc.digest} is not a JSON object`);
    return json;
  }

  /**
   * Whether the repository has a blob, by HEAD (never its bytes): 'missing', or its size as the registry
   * gives it (undefined when it gives none). Where the registry refuses HEAD on blobs but serves them by
   * GET, as soci fetches them (public.ecr.aws answers 401 to every HEAD of a blob: aws/containers-roadmap
   * issue 2671), it asks again by a GET of the first byte (Range: bytes=0-0), whose Content-Range names the
   * size; its body is not read either.
   */
  async blobSize(repo: Repo, digest: string, meter: Meter): Promise<number | 'missing' | undefined> {
    if (!isDigest(digest)) throw new RegistryError('bad-response', `${repo.registry}/${repo.repository}: blob ${JSON.stringify(digest)} is not a digest`);
    const path = `/v2/${repo.repository}/blobs/${digest}`;
    const head = await this.authed(repo, path, '*/*', 0, meter, 'HEAD').catch((e: unknown) => {
      if (e instanceof RegistryError && e.kind === 'unauthorized') return undefined;
      throw e;
    });
    const refused = (status: number) => status === 401 || status === 403 || status === 405;
    const { res } = head && !refused(head.res.status) ? head : await this.authed(repo, path, '*/*', 0, meter, 'GET', 'bytes=0-0');
    if (res.status === 404) return 'missing';
    if (res.status === 206) {
      const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1];
      return total === undefined ? undefined : Number(total);
    }
    if (res.status !== 200) this.fail(res, repo, `blob ${digest}`);
    const length = res.headers.get('content-length');
    return length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  }

  /**
   * Manifests that refer to `digest` (their subject), filtered by artifactType. The referrers API
   * (`GET /v2/<name>/referrers/<digest>`, OCI distribution spec 1.1) first, every page of it: a long list
   * comes in pages, each naming the next in a Link header (spec.md "Listing Referrers" at v1.1.1
   * a139cc42), followed as soci's client does, on the same host only (oras-go v2.6.2 registry/remote
   * repository.go referrersByAPI, utils.go parseLink), up to MAX_REFERRER_PAGES; `incomplete` says so when
   * more were left. A 404 there means the registry does not have the API, and the spec's fallback is the
   * tag `sha256-<hex>` holding an index of referrers (what soci push writes through oras-go on such registries).
   */
  async referrers(repo: Repo, digest: string, artifactType: string, meter: Meter): Promise<{ descriptors: Descriptor[]; via: 'referrers API' | 'tag schema'; incomplete?: string }> {
    const first = new URL(`${this.base(repo.registry)}/v2/${repo.repository}/referrers/${digest}?artifactType=${encodeURIComponent(artifactType)}`);
    const found: Descriptor[] = [];
    for (let page = 1, url = first; ; page++) {
      const api = await this.authed(repo, url.pathname + url.search, MEDIA.ociIndex, MAX_MANIFEST, meter);
      if (page === 1 && api.res.status === 404) break;
      if (api.res.status !== 200) this.fail(api.res, repo, `referrers of ${digest}`);
      found.push(...referrersFrom(api.body, artifactType));
      const next = nextLink(api.res.headers.get('link'), url);
      if (!next) return { descriptors: found, via: 'referrers API' };
      if (next.origin !== first.origin) throw new RegistryError('bad-response', `${repo.registry}/${repo.repository}: referrers of ${digest}: the next page is on another host (${next.origin}), not followed`);
      if (page === MAX_REFERRER_PAGES) {
        return {
          descriptors: found,
          via: 'referrers API',
          incomplete: `the registry's referrers list of ${digest} goes on past ${MAX_REFERRER_PAGES} pages (Link rel="next"); only those were read: a v1 SOCI index may be in the rest`,
        };
      }
      url = next;
    }
    const tag = digest.replace(':', '-');
    const fallback = await this.authed(repo, `/v2/${repo.repository}/manifests/${tag}`, MEDIA.ociIndex, MAX_MANIFEST, meter);
    if (fallback.res.status === 404) return { descriptors: [], via: 'tag schema' };
    if (fallback.res.status !== 200) this.fail(fallback.res, repo, `referrers tag ${tag}`);
    return { descriptors: referrersFrom(fallback.body, artifactType), via: 'tag schema' };
  }
}

/** Pages of one referrers list read at most: the bound on a registry whose Link never ends. */
export const MAX_REFERRER_PAGES = 20;

/** The target of a Link header's rel="next" link (RFC 8288), resolved against the URL it answered. */
export function nextLink(header: string | null, base: URL): URL | undefined {
  for (const m of (header ?? '').matchAll(/<([^>]*)>([^<]*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(m[2]!);
    if (rel && (rel[1] ?? rel[2]!).toLowerCase().split(/\s+/).includes('next')) return URL.canParse(m[1]!, base) ? new URL(m[1]!, base) : undefined;
  }
  return undefined;
}

/** The descriptors of a referrers index with this artifactType (a registry may ignore the filter). */
export function referrersFrom(body: Buffer | string, artifactType: string): Descriptor[] {
  let json: unknown;
  try {
    json = JSON.parse(body.toString());
  } catch {
    throw new RegistryError('bad-response', 'a referrers index that is not JSON');
  }
  const list = isObject(json) && Array.isArray(json.manifests) ? json.manifests : [];
  return list.filter((d): d is Descriptor => isDescriptor(d) && d.artifactType === artifactType);
}
