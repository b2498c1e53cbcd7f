// Merging our parts into user data that is already there (a launch template's current version):
// the user's parts stay, in order, with their header lines (Part.headers in archive.ts); parts an
// earlier soci-installer run generated are dropped; ours go last (nodeadm merges NodeConfigs in order
// and later wins). Ours are recognised by their first lines exactly as we write them and by their
// content: the script's head (node-script.ts) and, in this version, its code; the self-extracting
// wrapper line for line, its payload unpacking to the script its sha256 names (not its gzip bytes, which
// differ between zlib builds); the NodeConfig's comment and no key ours never
// hold (user-data.ts); also inside a gzipped part (which earlier versions wrote). A part that starts
// as ours but holds more is refused, so a user's part is neither dropped nor run beside ours. The
// result is plain 7-bit text like everything we write (archive.ts): a part of the user's that can
// only travel base64-encoded is refused, not re-encoded.
import { gunzipSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { scriptOrigin } from '../artifacts/node-script.js';
import { nodeConfigOrigin } from '../artifacts/user-data.js';
import { criKeys, staleCriKeys } from '../containerd-cri-keys.js';
import { UsageError } from '../errors.js';
import { CONTENT_TYPES, buildMime, isPlainText, parseMime, type Part } from './archive.js';
import { selfExtractingPayload } from './self-extracting.js';

/** 'edited': the part starts as one of ours but holds more than we write. */
function origin(part: Part): 'ours' | 'edited' | undefined {
  const wrapped = selfExtractingPayload(part.body);
  if (wrapped) return wrapped.intact && scriptOrigin(wrapped.script) === 'ours' ? 'ours' : 'edited';
  return scriptOrigin(part.body) ?? nodeConfigOrigin(part.body);
}

export function isOurPart(part: Part): boolean {
  return origin(part) === 'ours';
}

/** Existing user data (the bytes EC2 holds, already base64-decoded) -> its parts. */
export function userDataParts(raw: Buffer): Part[] {
  let bytes = raw;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  const text = bytes.toString('utf8');
  if (text.trim() === '') return [];
  const headers = text.replace(/\r\n/g, '\n').split('\n\n')[0] ?? '';
  if (/^Content-Type:\s*multipart\//im.test(headers)) {
    try {
      return parseMime(text);
    } catch (err) {
      throw new UsageError(`the launch template's current user data is MIME that cannot be read (${(err as Error).message}); fix or clear it first`);
    }
  }
  // Not MIME: one part of the type its first line says (as Karpenter wraps plain user data).
  if (text.startsWith('#!')) return [{ contentType: CONTENT_TYPES.shell, body: text }];
  if (text.startsWith('#cloud-config')) return [{ contentType: 'text/cloud-config; charset="us-ascii"', body: text }];
  if (/^apiVersion:\s*node\.eks\.aws\//m.test(text)) return [{ contentType: CONTENT_TYPES.nodeConfig, body: text }];
  throw new UsageError(
    "the launch template's current user data is neither MIME, a #! script, #cloud-config nor a NodeConfig; soci-installer will not guess how to merge it: clear it or convert it to MIME first",
  );
}

/** A part of the user's, as it stays: refused when it cannot be plain 7-bit text. */
function writable(part: Part, n: number): Part {
  const why =
    part.contentType === CONTENT_TYPES.gzip
      ? 'is gzip-compressed'
      : !isPlainText(part.body)
        ? 'holds non-ASCII characters'
        : (part.headers ?? []).some(([k, v]) => !/^[\x20-\x7e\t]*$/.test(k + v))
          ? 'has a header line that is not printable ASCII'
          : undefined;
  if (why === undefined) return part;
  throw new UsageError(
    `the launch template's current user data: part ${n} (${part.contentType}) ${why}, so it can only travel base64-encoded, and Karpenter and EKS write parts back without their encoding; make it plain ASCII text (uncompressed) first`,
  );
}

export interface MergeResult {
  mime: string;
  kept: number;
  replaced: number;
  /** Whether a NodeConfig part of the user's that stays carries a cluster block (endpoint and name). */
  keptClusterBlock: boolean;
  /**
   * The containerd 1.x CRI keys of the kept NodeConfig parts' containerd.config, merged as nodeadm
   * merges them, and the parts (numbered from 1, in the existing user data) that set them.
   */
  staleCri?: { parts: number[]; keys: string[] };
  /** The kept NodeConfig part (numbered from 1) whose FastImagePull gate, as nodeadm merges them, is on. */
  fastImagePullPart?: number;
}

// The user's NodeConfigs whose containerd.config, merged as nodeadm merges them (in order, ours after),
// keeps containerd 1.x CRI keys that containerd 2 would ignore once soci's wiring is merged in (the
// rule: containerd-cri-keys.ts; the node scripts apply it too, in refuse_v2_user_config): caught here
// before the launch template is written.
function staleCriOf(parts: readonly Part[], numbers: readonly number[]): MergeResult['staleCri'] {
  const configs = parts.map((p) => nodeConfigOf(p)?.spec?.containerd?.config).map((c) => (typeof c === 'string' ? c : ''));
  const keys = staleCriKeys(...configs);
  if (keys.length === 0) return undefined;
  return { parts: numbers.filter((_, i) => criKeys(configs[i]!).some((k) => keys.includes(k))), keys };
}

// The gate makes nodeadm write its own soci config over ours at every boot (the node scripts refuse
// it too, in refuse_fast_image_pull, citing nodeadm). nodeadm merges featureGates key by key, the
// last part that sets one winning (amazon-eks-ami nodeadm/internal/api/merge.go at 81fec2e8, mergo
// with override; a later false turns it off, shown with nodeadm-render): the index of the part that
// turns it on, or -1.
function fastImagePullOn(parts: readonly Part[]): number {
  const last = parts.findLastIndex((p) => nodeConfigOf(p)?.spec?.featureGates?.FastImagePull !== undefined);
  return last >= 0 && nodeConfigOf(parts[last]!)?.spec?.featureGates?.FastImagePull === true ? last : -1;
}

function hasClusterBlock(part: Part): boolean {
  const cluster = nodeConfigOf(part)?.spec?.cluster;
  return Boolean(cluster?.name && cluster.apiServerEndpoint);
}

interface NodeConfigView {
  spec?: { cluster?: { name?: unknown; apiServerEndpoint?: unknown }; containerd?: { config?: unknown }; featureGates?: Record<string, unknown> };
}

// Go's base64.StdEncoding.Decode: padded standard alphabet; it skips CR and LF.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A part as nodeadm reads it: a NodeConfig by its media type (parameters and letter case aside), its
 * body base64-decoded when it decodes, then gunzipped when it is gzip (amazon-eks-ami
 * nodeadm/internal/configprovider/mime.go ParseMultipart and encoding.go, at 81fec2e8), then decoded
 * as YAML 1.1: nodeadm's decoder (api/bridge/decode.go) goes through sigs.k8s.io/yaml and
 * go.yaml.in/yaml/v2, where y, yes, on, True, TRUE ... are true (vendor/go.yaml.in/yaml/v2/resolve.go),
 * a repeated key's last value wins and only the first document counts. The yaml package's 1.1 schema
 * resolves them the same (test/validators.test.ts holds it against nodeadm's own config phase).
 */
function nodeConfigOf(part: Part): NodeConfigView | undefined {
  if (part.contentType.split(';')[0]!.trim().toLowerCase() !== CONTENT_TYPES.nodeConfig) return undefined;
  try {
    const compact = part.body.replace(/[\r\n]/g, '');
    let bytes = BASE64.test(compact) ? Buffer.from(compact, 'base64') : Buffer.from(part.body);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    const first = parseAllDocuments(bytes.toString('utf8'), { version: '1.1', uniqueKeys: false })[0];
    if (first === undefined || first.errors.length > 0) return undefined;
    const doc = first.toJS() as unknown;
    return doc !== null && typeof doc === 'object' ? (doc as NodeConfigView) : undefined;
  } catch {
    return undefined;
  }
}

/** The user's parts (without ours from an earlier run), then our rendered parts. */
export function mergeUserData(existing: Buffer | undefined, oursMime: string): MergeResult {
  const theirs = existing ? userDataParts(existing) : [];
  const origins = theirs.map(origin);
  const edited = origins.indexOf('edited');
  if (edited >= 0) {
    throw new UsageError(
      `the launch template's current user data: part ${edited + 1} (${theirs[edited]!.contentType}) starts as soci-installer writes its parts but holds more: if it is ours and you edited it, move your changes to a part of your own and delete it; if it is yours, remove its soci-installer comment line`,
    );
  }
  const numbers = origins.flatMap((o, i) => (o === 'ours' ? [] : [i + 1]));
  const kept = numbers.map((n) => writable(theirs[n - 1]!, n));
  if (kept.length === 0) return { mime: oursMime, kept: 0, replaced: theirs.length, keptClusterBlock: false };
  const staleCri = staleCriOf(kept, numbers);
  const gate = fastImagePullOn(kept);
  return {
    mime: buildMime([...kept, ...parseMime(oursMime)]),
    kept: kept.length,
    replaced: theirs.length - kept.length,
    keptClusterBlock: kept.some(hasClusterBlock),
    ...(staleCri ? { staleCri } : {}),
    ...(gate >= 0 ? { fastImagePullPart: numbers[gate]! } : {}),
  };
}
