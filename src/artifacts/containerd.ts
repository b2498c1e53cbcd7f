// containerd's wiring to soci, as the TOML fragment nodeadm merges over its own config.
// The key paths follow the containerd the node runs: config version 2 keys for 1.7, version 3
// keys for 2.x (nodeadm treats the fragment as v3 only if it names io.containerd.cri.v1.*).
// No `version =` line: nodeadm sets that. No default_runtime_name: GPU AMIs keep theirs.
import { toToml } from '../render/toml.js';
import { PATHS, type Plan } from '../plan.js';

export function containerdTable(plan: Plan): Record<string, unknown> {
  const proxy = {
    soci: {
      type: 'snapshot',
      address: PATHS.sociSocket,
      exports:
        plan.containerd === '2'
          ? { root: PATHS.sociRoot, enable_remote_snapshot_annotations: 'true' }
          : { root: PATHS.sociRoot },
    },
  };
  if (plan.containerd === '1.7') {
    return {
      plugins: {
        'io.containerd.grpc.v1.cri': { containerd: { snapshotter: 'soci', disable_snapshot_annotations: false } },
      },
      proxy_plugins: proxy,
    };
  }
  return {
    plugins: {
      'io.containerd.cri.v1.images': { snapshotter: 'soci', disable_snapshot_annotations: false },
      // For ctr only (see FOR_CTR): containerd 2's transfer service unpacks per platform.
      'io.containerd.transfer.v1.local': { unpack_config: [{ platform: 'linux', snapshotter: 'soci' }] },
    },
    proxy_plugins: proxy,
  };
}

// containerd 2's transfer-service keys (unpack_config, the proxy's enable_remote_snapshot_annotations)
// are not read by kubelet's pulls on EKS: CRI with disable_snapshot_annotations = false (and nodeadm's
// discard_unpacked_layers = true) takes its own pull path and labels soci's snapshots itself
// (soci-on-eks.md section 4, corrected). They are kept for `ctr image pull`, which goes through the
// transfer service and needs an unpack_config for the platform; the file says so where they stand.
const FOR_CTR = '# For `ctr image pull` (containerd 2 transfer service) only: kubelet pulls through CRI and ignores it.';

export function containerdToml(plan: Plan): string {
  const text = toToml(containerdTable(plan));
  if (plan.containerd !== '2') return text;
  return text
    .split('\n')
    .flatMap((l) => (/^\[\[plugins\."io\.containerd\.transfer\.v1\.local"\.unpack_config\]\]$|^enable_remote_snapshot_annotations = /.test(l) ? [FOR_CTR, l] : [l]))
    .join('\n');
}
