// Image references as docker and containerd read them, and the platforms we check.
// The grammar and the Docker Hub normalization follow distribution/reference (regexp.go, normalize.go
// splitDockerDomain, at 0965666a, v0.6.0+): a first component is a registry host only if it has a "." or
// ":" or is "localhost"; otherwise the image is on docker.io, and a one-component name gets "library/".

export interface ImageRef {
  /** as the user wrote it */
  text: string;
  /** the registry as named in the reference ("docker.io", "127.0.0.1:5000") */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`);
const PATH = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
// The algorithms go-digest has (kubelet's and soci's reference and descriptor parsing): sha256, and
// rarely sha384 or sha512; nothing else can be fetched by digest.
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;

/** A digest a registry can be asked for. Only these, and validated tags, are ever put into a URL. */
export const isDigest = (text: string): boolean => DIGEST.test(text);

/** Parses one reference; returns what is wrong with it (one line, without the reference) instead of throwing. */
export function parseReference(text: string): ImageRef | { problem: string } {
  const bad = (why: string) => ({ problem: why });
  let rest = text.trim();
  if (rest === '') return bad('empty image reference');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return bad('the digest after "@" must be sha256: and 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return bad('a tag is 1 to 128 of letters, digits, "_", "." and "-", not starting with "." or "-"');
  }
  let registry = 'docker.io';
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first === 'localhost' || /[.:]/.test(first) || first !== first.toLowerCase()) {
      registry = first === 'index.docker.io' ? 'docker.io' : first;
      repository = rest.slice(slash + 1);
      if (!DOMAIN.test(registry)) return bad(`${JSON.stringify(first)} is not a registry host[:port]`);
    }
  }
  if (!PATH.test(repository)) return bad('the repository is lowercase letters, digits and separators (".", "_", "__", "-") between "/"');
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (`${registry}/${repository}`.length > 255) return bad('the name is longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { text, registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** A tag (even beside a digest, which then wins) can be moved by anyone who may push. */
export function isMutable(ref: ImageRef): boolean {
  return ref.digest === undefined;
}

/** "reg/repo:tag" or "reg/repo@digest", as the registry API is asked. */
export function canonical(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag}`}`;
}

/** Docker Hub's API host differs from its name in references. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

const PLATFORM = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/;

export function parsePlatform(text: string): Platform | { problem: string } {
  const m = PLATFORM.exec(text.trim());
  if (!m) return { problem: `${JSON.stringify(text)}: a platform is os/architecture[/variant], e.g. linux/amd64 or linux/arm64` };
  return { os: m[1]!, architecture: m[2]!, ...(m[3] ? { variant: m[3] } : {}) };
}

export function platformText(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * Whether a manifest's platform serves the wanted one. arm64 images usually carry variant "v8" or none;
 * containerd's matcher (containerd/platforms) treats them as the same, and so do we.
 */
export function platformMatches(have: Platform, want: Platform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  const norm = (p: Platform) => (p.architecture === 'arm64' && (p.variant === undefined || p.variant === 'v8') ? undefined : p.variant);
  return want.variant === undefined || norm(have) === norm(want);
}
