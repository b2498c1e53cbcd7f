// Every file that lands on the node, in the order the install script writes them. This one list
// feeds rootfs/ and the node scripts' data headers (node-script.ts), so Packer and the DaemonSet too.
import { readFileSync } from 'node:fs';
import { NODE_DIR } from '../package/locations.js';
import { PATHS, type Plan } from '../plan.js';
import { toToml } from '../render/toml.js';
import { sociConfigToml, UNPIGZ, usesUnpigz } from './soci-config.js';
import { nodeConfigYaml, wiringNodeConfig } from './nodeconfig.js';
import { containerdDropIn, pauseImportUnit, proxyDropIn, releaseBinaryDropIn, sociServiceUnit, sociSocketUnit } from './systemd.js';

export interface NodeFile {
  /** Absolute path on the node. */
  path: string;
  content: string;
  mode: '0644' | '0600' | '0755';
  /**
   * stage: written before soci is started and verified (harmless if soci fails: nothing points at it).
   * wire: written only after soci is verified; these make containerd and kubelet use it.
   */
  phase: 'stage' | 'wire';
  /** Written only when the node runs the downloaded release rather than the AMI's soci. */
  onlyWithRelease?: boolean;
  /** Unit files the script enables after writing. */
  enable?: boolean;
  /** A path the node's owner may use too: written only where absent or identical (or ours before). */
  own?: boolean;
  /** content names this executable: where the node lacks it, the script writes `otherwise` instead. */
  needs?: { path: string; otherwise: string };
}

export const PAUSE_IMPORT_UNIT = 'soci-installer-pause-import.service';

// Every script, rootfs/ and the summary read the same files: built once per plan (a plan is not changed
// once made), as render runs cold and each build costs.
const built = new WeakMap<Plan, readonly NodeFile[]>();

export function nodeFiles(plan: Plan): readonly NodeFile[] {
  let files = built.get(plan);
  if (!files) built.set(plan, (files = Object.freeze(buildNodeFiles(plan))));
  return files;
}

function buildNodeFiles(plan: Plan): NodeFile[] {
  if (!plan.installs) return [];
  const files: NodeFile[] = [
    {
      path: PATHS.sociConfig,
      content: sociConfigToml(plan),
      mode: '0644',
      phase: 'stage',
      ...(usesUnpigz(plan) ? { needs: { path: UNPIGZ, otherwise: sociConfigToml(plan, { unpigz: false }) } } : {}),
    },
  ];
  if (plan.source !== 'ami') {
    files.push(
      { path: '/usr/local/lib/systemd/system/soci-snapshotter.service', content: sociServiceUnit(plan), mode: '0644', phase: 'stage', onlyWithRelease: true },
      { path: '/usr/local/lib/systemd/system/soci-snapshotter.socket', content: sociSocketUnit(plan), mode: '0644', phase: 'stage', onlyWithRelease: true },
      {
        path: '/etc/systemd/system/soci-snapshotter.service.d/20-soci-installer-release.conf',
        content: releaseBinaryDropIn(plan),
        mode: '0644',
        phase: 'stage',
        onlyWithRelease: true,
      },
    );
  }
  const proxy = proxyDropIn(plan, 'soci-snapshotter');
  if (proxy) files.push({ path: '/etc/systemd/system/soci-snapshotter.service.d/30-soci-installer-proxy.conf', content: proxy, mode: '0644', phase: 'stage' });
  if (plan.auth === 'ecr-credential-helper') {
    files.push({ path: PATHS.ecrBridge, content: readFileSync(new URL('docker-credential-soci-ecr', NODE_DIR), 'utf8'), mode: '0755', phase: 'stage' });
  }
  if (plan.auth === 'ecr-credential-helper' || plan.auth === 'ecr-credential-helper-package') {
    // docker-credential-<credsStore> answers every registry: ours says "not found" for non-ECR ones.
    const store = plan.auth === 'ecr-credential-helper' ? 'soci-ecr' : 'ecr-login';
    files.push({ path: '/root/.docker/config.json', content: `{\n  "credsStore": "${store}"\n}\n`, mode: '0600', phase: 'stage', own: true });
  }
  // containerd resolves manifests and CRI pulls itself: it needs the same mirrors and proxy as soci.
  for (const m of plan.mirrors) {
    files.push({ path: `${PATHS.containerdHostsDir}/${m.registry}/hosts.toml`, content: hostsToml(plan, m), mode: '0644', phase: 'wire', own: true });
  }
  const containerdProxy = proxyDropIn(plan, 'containerd');
  if (containerdProxy) {
    files.push({ path: '/etc/systemd/system/containerd.service.d/30-soci-installer-proxy.conf', content: containerdProxy, mode: '0644', phase: 'wire' });
  }
  files.push(
    { path: '/etc/systemd/system/containerd.service.d/20-soci-installer.conf', content: containerdDropIn(plan), mode: '0644', phase: 'wire' },
    { path: `/etc/systemd/system/${PAUSE_IMPORT_UNIT}`, content: pauseImportUnit(plan), mode: '0644', phase: 'wire', enable: true },
  );
  if (plan.wiring === 'drop-in') files.push(wiringDropIn(plan));
  return files;
}

/**
 * containerd's hosts.toml for one registry (format: containerd docs/hosts.md at v2.2.4): soci's
 * mirrors in order, trusted to pull and resolve as soci trusts them; no `server`, so the registry
 * itself stays the fallback, as in soci. `insecure` is plain HTTP in soci (config/resolver.go).
 */
function hostsToml(plan: Plan, m: Plan['mirrors'][number]): string {
  const host = Object.fromEntries(m.endpoints.map((e) => [`${e.insecure ? 'http' : 'https'}://${e.host}`, { capabilities: ['pull', 'resolve'] }]));
  return (
    `# Written by soci-installer ${plan.generatorVersion}: containerd's mirrors for ${m.registry}, the same as soci's [resolver].\n` +
    toToml({ host })
  );
}

/** The containerd (and kubelet) wiring as a nodeadm drop-in: written by every boot-mode run with
 * wiring "drop-in", and by every bake. */
export function wiringDropIn(plan: Plan): NodeFile {
  const comment =
    `Written by soci-installer ${plan.generatorVersion} once soci-snapshotter was running on this node (or, in an AMI bake, installed and enabled).\n` +
    `nodeadm merges it over user data on every boot. To return this node to overlayfs, run soci-installer's uninstall\n` +
    `(daemonset-uninstall.yaml): deleting this file alone leaves the pause-import unit failing and the images soci pulled\n` +
    `without layers overlayfs can use, so their pods do not start.`;
  return { path: PATHS.nodeadmDropIn, content: nodeConfigYaml(wiringNodeConfig(plan), comment), mode: '0644', phase: 'wire' };
}
