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
const parseToml = (text: string): Record<string, unknown> => (require('smol-toml') as typeof import('smol-toml')).parse(text);

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

/**
 * The keys of a user's containerd.config under io.containerd.grpc.v1.cri that containerd 2 would
 * ignore once soci's wiring (version 3 names) is merged in. None where nothing changes for them:
 * - the text names a version 3 CRI plugin: nodeadm renders version 3 and migrates nothing even
 *   without us (amazon-eks-ami nodeadm/internal/containerd/config.go at 81fec2e8,
 *   Version3configInNodeConfig, a text search we repeat);
 * - it sets `version` below 3: nodeadm's merge keeps it, and containerd migrates the whole config as it
 *   loads (cmd/containerd/server/server.go at v2.2.4), ours included;
 * - it does not parse: nodeadm refuses it, with or without us.
 */
export function staleCriKeys(toml: string): string[] {
  if (/io\.containerd\.cri\.v1\.(images|runtime)/.test(toml)) return [];
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(toml);
  } catch {
    return [];
  }
  if (typeof doc.version === 'number' && doc.version < 3) return [];
  const cri = (doc.plugins as Record<string, unknown> | undefined)?.[CRI_V1];
  if (typeof cri !== 'object' || cri === null || Array.isArray(cri)) return [];
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
