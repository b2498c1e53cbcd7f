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
// only travel base64-encoded is refused, not re-encoded. A NodeConfig part of the user's that nodeadm
// cannot decode, or a part whose header lines nodeadm cannot read, is refused too: nodeadm would then
// use none of the user data (nodeconfig-part.ts, media-type.ts).
import { gunzipSync } from 'node:zlib';
import { scriptOrigin } from '../artifacts/node-script.js';
import { nodeConfigOrigin } from '../artifacts/user-data.js';
import { criKeys, staleCriKeys } from '../containerd-cri-keys.js';
import { UsageError } from '../errors.js';
import { CONTENT_TYPES, buildMime, isPlainText, parseMime, type Part } from './archive.js';
import { parseMediaType } from './media-type.js';
import { decodeNodeConfigPart, type NodeConfigView } from './nodeconfig-part.js';
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

/**
 * A part of the user's, as it stays: refused when it cannot be plain 7-bit text. (A control character in
 * its Content-Type is checkHeaders' to name: nodeadm cannot read it.)
 */
function writable(part: Part, n: number): Part {
  const why =
    part.contentType === CONTENT_TYPES.gzip
      ? 'is gzip-compressed'
      : !isPlainText(part.body)
        ? 'holds non-ASCII characters'
        : (part.headers ?? []).some(([k, v]) => !/^[\x20-\x7e\t]*$/.test(k + v)) || /[^\x00-\x7f]/.test(part.contentType)
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
function staleCriOf(docs: readonly (NodeConfigView | undefined)[], numbers: readonly number[]): MergeResult['staleCri'] {
  const configs = docs.map((d) => d?.spec?.containerd?.config).map((c) => (typeof c === 'string' ? c : ''));
  const keys = staleCriKeys(...configs);
  if (keys.length === 0) return undefined;
  return { parts: numbers.filter((_, i) => criKeys(configs[i]!).some((k) => keys.includes(k))), keys };
}

// The gate makes nodeadm write its own soci config over ours at every boot (the node scripts refuse
// it too, in refuse_fast_image_pull, citing nodeadm). nodeadm merges featureGates key by key, the
// last part that sets one winning (amazon-eks-ami nodeadm/internal/api/merge.go at 81fec2e8, mergo
// with override; a later false turns it off, shown with nodeadm-render): the index of the part that
// turns it on, or -1.
function fastImagePullOn(docs: readonly (NodeConfigView | undefined)[]): number {
  const last = docs.findLastIndex((d) => d?.spec?.featureGates?.FastImagePull !== undefined);
  return last >= 0 && docs[last]!.spec!.featureGates!.FastImagePull === true ? last : -1;
}

function hasClusterBlock(doc: NodeConfigView | undefined): boolean {
  const cluster = doc?.spec?.cluster;
  return Boolean(cluster?.name && cluster.apiServerEndpoint);
}

// nodeadm reads each part's header lines with Go's textproto, which takes a name of RFC 7230 token
// characters and spaces only (net/textproto reader.go, canonicalMIMEHeaderKey), and its Content-Type
// with mime.ParseMediaType (media-type.ts); at the first it cannot read, it stops reading the user data.
// cloud-init (Python's email feedparser) takes a line whose name holds a space for the body's start.
const TOKEN_OR_SPACE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z ]+$/;
const NODEADM_STOPS = 'nodeadm then uses none of the user data, ours and the cluster block included, so nodes would not join';

/** Refused where nodeadm or cloud-init cannot read a kept part's header lines as written. */
function checkHeaders(kept: readonly Part[], numbers: readonly number[]): void {
  kept.forEach((part, i) => {
    const refuse = (what: string, why: string) => {
      throw new UsageError(`the launch template's current user data: part ${numbers[i]} has ${what}, ${why}; fix that header first`);
    };
    for (const [name, value] of part.headers ?? []) {
      const line = JSON.stringify(`${name}: ${value}`);
      if (!TOKEN_OR_SPACE.test(name)) refuse(`the header line ${line}`, `which nodeadm cannot read (malformed MIME header line). ${NODEADM_STOPS}`);
      if (name.includes(' ')) refuse(`the header line ${line}`, "whose name holds a space: cloud-init reads that line as the start of the part's body, so the part would not run as written");
    }
    // textproto refuses a control character but the tab in any value (validHeaderValueByte); writable()
    // refuses it in the other header lines already.
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(part.contentType)) refuse(`the Content-Type ${JSON.stringify(part.contentType)}`, `which nodeadm cannot read (malformed MIME header line: a control character). ${NODEADM_STOPS}`);
    const media = part.contentType === '' ? undefined : parseMediaType(part.contentType); // nodeadm skips an empty one
    if (media && 'error' in media) refuse(`the Content-Type ${JSON.stringify(part.contentType)}`, `which nodeadm cannot read (${media.error}). ${NODEADM_STOPS}`);
  });
}

/** The kept parts as nodeadm decodes them (undefined: not a NodeConfig); refused where nodeadm cannot decode one. */
function decodedNodeConfigs(kept: readonly Part[], numbers: readonly number[]): (NodeConfigView | undefined)[] {
  return kept.map((part, i) => {
    const decoded = decodeNodeConfigPart(part);
    if (decoded && 'problem' in decoded) {
      throw new UsageError(
        `the launch template's current user data: part ${numbers[i]} (${part.contentType}) is a NodeConfig nodeadm cannot decode: ${decoded.problem}. ${NODEADM_STOPS}; fix or remove that part first`,
      );
    }
    return decoded?.doc;
  });
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
  checkHeaders(kept, numbers);
  const docs = decodedNodeConfigs(kept, numbers);
  const staleCri = staleCriOf(docs, numbers);
  const gate = fastImagePullOn(docs);
  return {
    mime: buildMime([...kept, ...parseMime(oursMime)]),
    kept: kept.length,
    replaced: theirs.length - kept.length,
    keptClusterBlock: docs.some(hasClusterBlock),
    ...(staleCri ? { staleCri } : {}),
    ...(gate >= 0 ? { fastImagePullPart: numbers[gate]! } : {}),
  };
}
