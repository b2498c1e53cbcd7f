// Which keys containerd 2 (config version 3) still reads under [plugins."io.containerd.grpc.v1.cri"],
// and where the others went. The launch-template merge (mime/merge.ts) checks a user's containerd.config
// with it; the node scripts' refuse_v2_user_config (node/install.sh) asks the node's containerd which
// keys it drops and names where each went from CRI_MOVED (in their data header, artifacts/node-script.ts).
// test/validators.test.ts holds this list against containerd 2.2.4's own verdict.
// Read from containerd/containerd at v2.2.4 (193637f7), the same from v2.0.0 to v2.2.7:
// - internal/cri/config/config.go, ServerConfig: in version 3 the table is the CRI gRPC server's config
//   alone. containerd decodes it strictly and drops any other key with a warning ("Ignoring unknown key
//   in TOML for plugin", cmd/containerd/server/config/config.go, Decode).
// - the version 2 -> 3 ConfigMigration of each CRI plugin: plugins/cri/cri.go keeps the keys below;
//   plugins/cri/images/plugin.go moves the image keys of CRI_MOVED; plugins/cri/runtime/plugin.go moves
//   every other key to the runtime plugin, `containerd` but for its snapshot keys.
import { createRequire } from 'node:module';

// smol-toml is loaded on first use: render and the output commands read only the tables below.
const require = createRequire(import.meta.url);
const toml = () => require('smol-toml') as typeof import('smol-toml');

export const CRI_V1 = 'io.containerd.grpc.v1.cri';
const IMAGES = 'io.containerd.cri.v1.images';
const RUNTIME = 'io.containerd.cri.v1.runtime';

/** The keys ServerConfig has: valid under io.containerd.grpc.v1.cri in version 3 too. */
export const CRI_SERVER_KEYS: readonly string[] = [
  'disable_tcp_service',
  'stream_server_address',
  'stream_server_port',
  'stream_idle_timeout',
  'enable_tls_streaming',
  'x509_key_pair_streaming',
];

/** Where a version 2 key of io.containerd.grpc.v1.cri lives in version 3, where not CRI_MOVED_OTHERS. */
export const CRI_MOVED: Readonly<Record<string, string>> = {
  sandbox_image: `${IMAGES} as pinned_images.sandbox`,
  registry: IMAGES,
  image_decryption: IMAGES,
  max_concurrent_downloads: IMAGES,
  image_pull_progress_timeout: IMAGES,
  image_pull_with_sync_fs: IMAGES,
  stats_collect_period: IMAGES,
  containerd: `${RUNTIME}, its snapshotter, disable_snapshot_annotations, discard_unpacked_layers and runtimes.*.snapshot in ${IMAGES}`,
};
export const CRI_MOVED_OTHERS = RUNTIME;

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

// mergo.Merge with WithOverride over the decoded maps: tables merge key by key, a later value wins.
function mergeInto(dst: Table, src: Table): Table {
  for (const [k, v] of Object.entries(src)) dst[k] = isTable(dst[k]) && isTable(v) ? mergeInto(dst[k], v) : v;
  return dst;
}

/**
 * The containerd.config texts of several NodeConfigs as nodeadm merges them, in order (amazon-eks-ami
 * nodeadm/internal/api/merge.go at 81fec2e8, mergeContainerdConfig, with util/merge.go): an empty text
 * is skipped, the first other one stays as written, and each later one is decoded and merged into it,
 * the result marshalled again (its comments gone). Undefined when none is set or one does not parse:
 * nodeadm's merge then fails, with or without us.
 */
function nodeadmMerge(texts: readonly string[]): { text: string; doc: Table } | undefined {
  const set = texts.filter((t) => t.length > 0);
  const docs: Table[] = [];
  try {
    for (const t of set) docs.push(toml().parse(t));
  } catch {
    return undefined;
  }
  if (docs.length === 0) return undefined;
  const doc = docs.reduce((dst, src) => mergeInto(dst, src), Object.create(null) as Table);
  return { text: set.length === 1 ? set[0]! : toml().stringify(doc), doc };
}

/** The keys a containerd.config text sets under io.containerd.grpc.v1.cri, whatever they mean (none when it does not parse). */
export function criKeys(text: string): string[] {
  const cri = (nodeadmMerge([text])?.doc.plugins as Table | undefined)?.[CRI_V1];
  return isTable(cri) ? Object.keys(cri) : [];
}

/**
 * The keys under io.containerd.grpc.v1.cri of a user's containerd.config, given as the texts of its
 * NodeConfigs in the order nodeadm merges them, that containerd 2 would ignore once soci's wiring
 * (version 3 names) is merged in. Judged on the merged text, as nodeadm decides on it. None where
 * nothing changes for them:
 * - the merged text names a version 3 CRI plugin: nodeadm renders version 3 and migrates nothing even
 *   without us (amazon-eks-ami nodeadm/internal/containerd/config.go at 81fec2e8,
 *   Version3configInNodeConfig, a text search we repeat);
 * - it sets `version` below 3: nodeadm's merge keeps it, and containerd migrates the whole config as it
 *   loads (cmd/containerd/server/server.go at v2.2.4), ours included;
 * - one text does not parse: nodeadm refuses it, with or without us.
 */
export function staleCriKeys(...texts: string[]): string[] {
  const merged = nodeadmMerge(texts);
  if (!merged || /io\.containerd\.cri\.v1\.(images|runtime)/.test(merged.text)) return [];
  const { version, plugins } = merged.doc;
  if (typeof version === 'number' && version < 3) return [];
  const cri = (plugins as Table | undefined)?.[CRI_V1];
  if (!isTable(cri)) return [];
  // Sorted, as the node scripts list them.
  return Object.keys(cri)
    .filter((k) => !CRI_SERVER_KEYS.includes(k))
    .sort();
}

/** What is wrong, after "containerd.config ": node/install.sh words its refusal the same (test/validators.test.ts). */
export function staleCriProblem(keys: readonly string[]): string {
  const moved = keys.map((k) => `${k} (now in ${Object.hasOwn(CRI_MOVED, k) ? CRI_MOVED[k] : CRI_MOVED_OTHERS})`).join('; ');
  return `sets keys under ${CRI_V1} that containerd 2 (config version 3) no longer reads there: ${moved}. Merged with soci's wiring (version 3 keys), nodeadm would not migrate them and containerd 2 would ignore them; move them to where they are now`;
}
