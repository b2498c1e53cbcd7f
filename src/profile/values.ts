// Value checks a JSON Schema pattern states poorly: text every output can carry, numbers, ports,
// URLs, CIDRs, the certificate authority. Each returns problems, one line each, naming the field.
import { isIPv6 } from 'node:net';
import { shorten } from './parse.js';
import type { Profile } from './schema.js';

const show = (v: string) => shorten(JSON.stringify(v));

// C0 controls but tab, DEL, C1 (U+0085 among them), and the Unicode line and paragraph separators:
// YAML readers turn some into line breaks, kubectl refuses others, and none belongs in a profile.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/;
const CONTROL_BUT_LF = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]/;
// Tag values are free text that only serializers carry (YAML, HCL): line breaks arrive intact there.
const MULTILINE = /^(?:ami\.tags|karpenter\.(?:subnet|securityGroup)SelectorTerms\[[0-9]+\]\.tags)\./;
const BOUNDARY_TEXT = 'SOCI-INSTALLER-BOUNDARY';

function describeChar(s: string, re: RegExp): string {
  const m = re.exec(s)!;
  return `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Before the schema: every key and string. Control characters, YAML merge keys, our MIME boundary. */
export function textProblems(data: unknown, at = ''): string[] {
  const out: string[] = [];
  const field = at || '(top level)';
  if (typeof data === 'string') {
    const multiline = MULTILINE.test(field);
    const re = multiline ? CONTROL_BUT_LF : CONTROL;
    if (re.test(data)) out.push(`${field}: contains the control character ${describeChar(data, re)}; allowed: printable text (tab included)${multiline ? ' and line breaks (\\n)' : ', no line breaks'}`);
    if (data.includes(BOUNDARY_TEXT)) out.push(`${field}: contains "${BOUNDARY_TEXT}", the boundary of our user data's MIME parts; not allowed`);
  } else if (Array.isArray(data)) {
    data.forEach((v, i) => out.push(...textProblems(v, `${at}[${i}]`)));
  } else if (data !== null && typeof data === 'object') {
    for (const [key, value] of Object.entries(data)) {
      const path = at ? `${at}.${key}` : key;
      if (CONTROL.test(key)) out.push(`${shorten(`${at ? `${at}.` : ''}${JSON.stringify(key)}`)}: key contains the control character ${describeChar(key, CONTROL)}; allowed: printable text`);
      else if (key === '<<') out.push(`${path}: key "<<" is a merge key to YAML 1.1 readers (kubectl); not allowed`);
      else out.push(...textProblems(value, path));
    }
  }
  return out;
}

/**
 * After the schema coerced numbers: each must have been written as a plain decimal integer that is
 * safe (<= 2^53) and not -0. `raw` is the data as parsed (strings), `coerced` after the schema.
 */
export function numberProblems(raw: unknown, coerced: unknown, at = ''): string[] {
  const out: string[] = [];
  if (typeof coerced === 'number') {
    const text = String(raw);
    if (!/^-?(?:0|[1-9][0-9]*)$/.test(text) || text === '-0' || !Number.isSafeInteger(coerced)) {
      out.push(`${at}: ${show(text)} is not allowed; allowed: a whole number written in decimal digits, from -${Number.MAX_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER} (no Infinity, exponent, -0 or hex)`);
    }
  } else if (Array.isArray(coerced) && Array.isArray(raw)) {
    coerced.forEach((v, i) => out.push(...numberProblems(raw[i], v, `${at}[${i}]`)));
  } else if (coerced && typeof coerced === 'object' && raw && typeof raw === 'object') {
    for (const [k, v] of Object.entries(coerced)) out.push(...numberProblems((raw as Record<string, unknown>)[k], v, at ? `${at}.${k}` : k));
  }
  return out;
}

/** host[:port] fields: the port, when given (or required), is 1 to 65535. */
function portProblem(field: string, value: string, required: boolean): string | undefined {
  const m = /:([0-9]+)$/.exec(value);
  if (!m) return required ? `${field}: ${show(value)} has no port; allowed: host:port, e.g. localhost:8000` : undefined;
  const port = Number(m[1]);
  if (port < 1 || port > 65535 || m[1]!.startsWith('0')) return `${field}: port ${show(m[1]!)} is out of range; allowed: 1 to 65535`;
  return undefined;
}

const HOST_LABELS = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * http(s) URLs: a host, an optional port in range, no credentials (they would land in user data,
 * which pods can read from IMDS, and in world-readable files), no fragment.
 */
function urlProblems(field: string, value: string, where: string, opts: { query?: boolean } = {}): string[] {
  const m = /^(https?):\/\/([^/?#]*)([^#]*)(#.*)?$/.exec(value);
  if (!m) return [`${field}: ${show(value)} is not an http(s) URL`];
  const [, , authority, rest, fragment] = m;
  const out: string[] = [];
  if (authority!.includes('@')) {
    out.push(`${field}: ${show(value.replace(/\/\/[^@/]*@/, '//***@'))} carries credentials; they would be readable by every pod (instance metadata) and every user on the node. ${where}`);
    return out;
  }
  const hp = /^(\[[0-9A-Fa-f:.]+\]|[^:]*)(?::([0-9]*))?$/.exec(authority!);
  const host = hp?.[1] ?? '';
  const hostOk = host.startsWith('[') ? isIPv6(host.slice(1, -1)) : HOST_LABELS.test(host);
  if (!hostOk) out.push(`${field}: ${show(value)} has no valid host; allowed: http(s)://host[:port]/path`);
  if (hp?.[2] !== undefined) {
    const port = Number(hp[2]);
    if (!/^[1-9][0-9]*$/.test(hp[2]) || port > 65535) out.push(`${field}: port ${show(hp[2])} is out of range; allowed: 1 to 65535`);
  }
  if (fragment !== undefined) out.push(`${field}: ${show(value)} has a fragment (#...); allowed: a URL without one`);
  if (!opts.query && rest!.includes('?')) out.push(`${field}: ${show(value)} has a query (?...); allowed: a URL without one (paths are appended to it)`);
  return out;
}

/** IPv4 (dotted decimal, no leading zeros, prefix 0-32) or IPv6 (prefix 0-128). */
function cidrProblem(field: string, value: string): string | undefined {
  const [addr, prefix, ...more] = value.split('/');
  const bad = `${field}: ${show(value)} is not a CIDR; allowed: an IPv4 or IPv6 network such as 10.100.0.0/16 or fd00::/108`;
  if (more.length || prefix === undefined || !/^(?:0|[1-9][0-9]{0,2})$/.test(prefix)) return bad;
  if (addr!.includes(':')) {
    if (!isIPv6(addr!) || addr!.includes('.')) return bad;
    return Number(prefix) <= 128 ? undefined : `${field}: prefix /${prefix} is out of range; allowed: 0 to 128 for IPv6`;
  }
  const octets = addr!.split('.');
  if (octets.length !== 4 || !octets.every((o) => /^(?:0|[1-9][0-9]{0,2})$/.test(o) && Number(o) <= 255)) return bad;
  return Number(prefix) <= 32 ? undefined : `${field}: prefix /${prefix} is out of range; allowed: 0 to 32 for IPv4`;
}

/** base64 of one or more PEM certificates, as EKS returns it (.cluster.certificateAuthority.data). */
function certificateProblem(field: string, value: string): string | undefined {
  const bad = `${field}: is not a base64-encoded PEM certificate; allowed: the value of aws eks describe-cluster .cluster.certificateAuthority.data`;
  if (value.length % 4 !== 0) return bad;
  const pem = Buffer.from(value, 'base64').toString('latin1');
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0 || pem.replace(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g, '').trim() !== '') return bad;
  // A certificate is DER: an ASN.1 SEQUENCE (0x30).
  if (!blocks.every((b) => Buffer.from(b[1]!.replace(/\s/g, ''), 'base64')[0] === 0x30)) return bad;
  return undefined;
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
/** soci reads the size as a float and converts it to int64 [soci config/parallel.go parseSize]: large values overflow. */
const MAX_CHUNK_GB = 1024;

/** Cross-value rules on a profile the schema accepted. */
export function valueProblems(p: Profile): string[] {
  const out: string[] = [];
  const push = (x: string | undefined) => void (x && out.push(x));
  const c = p.cluster;
  if (c?.apiServerEndpoint !== undefined) out.push(...urlProblems('cluster.apiServerEndpoint', c.apiServerEndpoint, 'The endpoint needs none: nodes authenticate with their IAM role.'));
  if (c?.cidr !== undefined) push(cidrProblem('cluster.cidr', c.cidr));
  if (c?.certificateAuthority !== undefined) push(certificateProblem('cluster.certificateAuthority', c.certificateAuthority));

  const s = p.soci ?? {};
  if (s.releaseBaseUrl !== undefined) {
    out.push(...urlProblems('soci.releaseBaseUrl', s.releaseBaseUrl, 'Use a mirror that nodes reach without credentials (by network or IAM), or bake the AMI.'));
  }
  for (const key of ['http', 'https'] as const) {
    const v = s.proxy?.[key];
    if (v !== undefined) out.push(...urlProblems(`soci.proxy.${key}`, v, 'Use a proxy that admits the nodes by address (security group, subnet), or bake the AMI.', { query: true }));
  }
  for (const arch of ['amd64', 'arm64'] as const) {
    const v = s.ecrCredentialHelper?.url[arch];
    if (v !== undefined) out.push(...urlProblems(`soci.ecrCredentialHelper.url.${arch}`, v, 'Host the binary where nodes reach it without credentials (by network or IAM).', { query: true }));
  }
  if (s.metricsAddress !== undefined) push(portProblem('soci.metricsAddress', s.metricsAddress, true));
  (s.mirrors ?? []).forEach((m, i) => {
    push(portProblem(`soci.mirrors[${i}].registry`, m.registry, false));
    m.endpoints.forEach((e, j) => push(portProblem(`soci.mirrors[${i}].endpoints[${j}].host`, e.host, false)));
  });
  const chunk = s.parallel?.chunkSize;
  if (chunk !== undefined) {
    const m = /^([0-9]+)([a-z]+)$/.exec(chunk)!;
    if (Number(m[1]) * UNITS[m[2]!]! > MAX_CHUNK_GB * UNITS.gb!) {
      out.push(`soci.parallel.chunkSize: ${show(chunk)} is too large; allowed: at most ${MAX_CHUNK_GB}gb (soci's size overflows beyond; a chunk bigger than a layer is one read anyway)`);
    }
  }

  const a = p.ami;
  for (const key of Object.keys(a?.tags ?? {})) {
    if (/^aws:/i.test(key)) out.push(`ami.tags.${shorten(key)}: keys starting with aws: (in any letter case) are reserved by AWS; choose another key`);
    else if (/^soci-installer:/i.test(key)) out.push(`ami.tags.${shorten(key)}: keys starting with soci-installer: are the tags the build sets to say what was baked; choose another key`);
  }
  if (a?.amiName !== undefined && /[{}]/.test(a.amiName.replace(/\{[^{}]*\}/g, ''))) {
    out.push(`ami.amiName: ${show(a.amiName)} has braces outside a {placeholder} ({{...}} is a Packer template); allowed: {arch} {kubernetesVersion} {variant} {timestamp} and no other { or }`);
  }
  return out;
}
