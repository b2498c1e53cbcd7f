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
      // containerd >= 2.1 pulls through the transfer service, which unpacks per platform.
      'io.containerd.transfer.v1.local': { unpack_config: [{ platform: 'linux', snapshotter: 'soci' }] },
    },
    proxy_plugins: proxy,
  };
}

export function containerdToml(plan: Plan): string {
  return toToml(containerdTable(plan));
}
