// The fallback DaemonSet for nodes that already run: one manifest for `kubectl apply -f`. The
// privileged part is an init container that hands live.sh (install.sh's path with the live hooks,
// from a ConfigMap, node-script.ts) to the host's systemd as a transient unit, so restarting containerd cannot cut it off; the pod then
// idles unprivileged and is Ready only once the node is verified.
import { createHash } from 'node:crypto';
import { PATHS, type Plan } from '../plan.js';
import { yamlText } from '../render/yaml.js';
import { liveScript, uninstallScript } from './node-script.js';

type Obj = Record<string, unknown>;
export const NAME = 'soci-installer';
/**
 * The opt-in node label. A DaemonSet starts a pod on every selected node at once when it is created
 * (maxUnavailable paces only updates), so the pods select only nodes that carry this label, and
 * `soci-installer rollout` labels nodes a batch at a time, waiting for each batch to be Ready.
 */
export const INSTALL_LABEL = 'soci-installer.io/install';
export const POD_LABEL = 'app.kubernetes.io/name';
const BUNDLE_MOUNT = '/bundle';
const STATE_MOUNT = '/state';

/**
 * Files the ConfigMap carries, by name (each a valid key): the two scripts the pod runs. live.sh
 * writes the node files from its own data header, so the pod needs no copy of rootfs/.
 */
export function bundleFiles(plan: Plan): { path: string; content: string; mode: number }[] {
  return [
    { path: 'live.sh', content: liveScript(plan), mode: 0o755 },
    { path: 'uninstall.sh', content: uninstallScript(plan), mode: 0o755 },
  ];
}

// What live.sh needs of the host before it can run at all, read through /proc/1/root so nothing
// on the host is executed: nodeadm where the EKS AL2023 AMI has it (its units' ExecStart,
// amazon-eks-ami templates/al2023/runtime/rootfs/etc/systemd/system/nodeadm-config.service), the
// containerd version file, systemd, bash. Bottlerocket and other distributions lack some of them.
const NEEDS = ['/usr/bin/nodeadm', PATHS.containerdVersionFile, '/run/systemd/system', '/bin/bash'];
const STATUS_MOUNT = '/status';
const NOT_APPLICABLE = `${STATUS_MOUNT}/not-eks-al2023`;

/** The init container's script: run live.sh (or uninstall.sh) on the host as a transient unit. */
function initCommand(script: 'live.sh' | 'uninstall.sh', hash: string): string {
  const unit = `soci-installer-${hash}`;
  const hostBundle = `${PATHS.stateDir}/bundle/${hash}`;
  return [
    'set -eu',
    '# Not an EKS AL2023 node: say why, change nothing, and let the pod idle Ready (no crash loop).',
    'missing=""',
    `for f in ${NEEDS.join(' ')}; do [ -e "/proc/1/root$f" ] || [ -L "/proc/1/root$f" ] || missing="$missing $f"; done`,
    'if [ -n "$missing" ]; then',
    `  os=$(sed -n 's/^PRETTY_NAME=//p' /proc/1/root/etc/os-release 2>/dev/null | tr -d '"' || true)`,
    `  echo "soci-installer: not an EKS AL2023 node (\${os:-unknown OS}; missing:$missing): nothing done, the pod stays idle; keep the DaemonSet off such nodes (README: the DaemonSet)" | tee /dev/termination-log ${NOT_APPLICABLE}`,
    '  exit 0',
    'fi',
    '# The bundles of earlier manifests: nothing reads them once this one is here (a script of theirs',
    '# still running keeps its open file).',
    `find ${STATE_MOUNT}/bundle -mindepth 1 -maxdepth 1 ! -name ${hash} -exec rm -rf {} + 2>/dev/null || true`,
    `mkdir -p ${STATE_MOUNT}/bundle/${hash}`,
    `cp -RL ${BUNDLE_MOUNT}/. ${STATE_MOUNT}/bundle/${hash}/`,
    `host() { nsenter --target 1 --mount --uts --ipc --net --pid -- "$@"; }`,
    '# A unit left by an earlier attempt of this pod: let it finish, then run again (a no-op when done).',
    '# Still stopping counts (a stopped script cleans up): systemctl is-active says no while deactivating,',
    '# and systemd-run cannot start a unit of the same name until it is gone.',
    `busy() { case $(host systemctl show --property=ActiveState --value ${unit}.service) in active | activating | deactivating | reloading | refreshing) return 0 ;; esac; return 1; }`,
    'while busy; do sleep 2; done',
    `host systemctl reset-failed ${unit}.service 2>/dev/null || true`,
    'since=$(host date +%s)',
    'rc=0',
    // RuntimeMaxSec, not TimeoutStartSec: a transient service is Type=simple, so it is started once
    // spawned and a start timeout never applies. Past the limit systemd stops the script (SIGTERM:
    // live.sh rolls back, uninstall.sh leaves containerd running on the config it runs with; each says
    // why in last-failure) and systemd-run --wait exits 1 (result "timeout"); the pod's next attempt
    // runs it again.
    `host systemd-run --unit=${unit} --wait --collect --quiet --property=RuntimeMaxSec=900 /bin/bash ${hostBundle}/${script} || rc=$?`,
    'host journalctl --no-pager -o cat -t soci-installer --since "@$since" || true',
    'if [ "$rc" != 0 ]; then',
    `  cat ${STATE_MOUNT}/last-failure > /dev/termination-log 2>/dev/null || echo "soci-installer failed (exit $rc); see the log above" > /dev/termination-log`,
    '  exit "$rc"',
    'fi',
  ].join('\n');
}

/**
 * Why this profile has no DaemonSet, or undefined. render skips the two files with this note; the
 * daemonset command fails with it (exit 2).
 */
export function daemonSetRefusal(plan: Plan): string | undefined {
  if (!plan.installs) return 'soci.mode: "fast-image-pull" installs nothing: nodeadm applies its gate at boot, so there is nothing for a DaemonSet to do';
  // A running node's user data is what it was launched with: it has no wiring, and nothing a pod
  // writes changes it. Writing the drop-in instead would not help: user-data wiring exists for AMIs
  // before v20251023, whose nodeadm reads no drop-in at boot and refuses a directory --config-source.
  if (plan.wiring === 'user-data') {
    return (
      'soci.wiring: "user-data" cannot be applied by a DaemonSet: a running node keeps the user data it was launched with, which has no wiring; ' +
      'allowed for the DaemonSet: drop-in (EKS AMIs v20251023 or later); on older AMIs launch new nodes with the user data instead'
    );
  }
  return undefined;
}

export interface DaemonSetOptions {
  uninstall?: boolean;
}

export function daemonSetObjects(plan: Plan, opts: DaemonSetOptions = {}): Obj[] {
  const ds = plan.daemonset;
  const files = bundleFiles(plan);
  const hash = createHash('sha256')
    .update(files.map((f) => `${f.path}\0${f.content}\0`).join(''))
    .digest('hex')
    .slice(0, 12);
  const labels = { 'app.kubernetes.io/name': NAME, 'app.kubernetes.io/managed-by': 'soci-installer' };
  const ns = ds.namespace;
  const uninstall = opts.uninstall === true;
  // Ready only when the node is done: the marker live.sh writes last, or uninstall's; or when the
  // init container found a node that is not EKS AL2023 (nothing to do there).
  const readyFile = uninstall ? '/run-host/uninstalled' : `${STATE_MOUNT}/installed`;

  const namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: ns,
      labels: {
        ...labels,
        // The init container is privileged and uses the host's PID namespace.
        'pod-security.kubernetes.io/enforce': 'privileged',
        'pod-security.kubernetes.io/audit': 'privileged',
        'pod-security.kubernetes.io/warn': 'privileged',
      },
    },
  };
  const serviceAccount = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: NAME, namespace: ns, labels },
    automountServiceAccountToken: false,
  };
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${NAME}-${hash}`, namespace: ns, labels },
    data: Object.fromEntries(files.map((f) => [f.path, f.content])),
  };
  const daemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: NAME, namespace: ns, labels },
    spec: {
      selector: { matchLabels: { [POD_LABEL]: NAME } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: ds.maxUnavailable } },
      template: {
        metadata: {
          labels,
          annotations: { 'soci-installer/bundle': hash, 'soci-installer/action': uninstall ? 'uninstall' : `install ${plan.mode}` },
        },
        spec: {
          serviceAccountName: NAME,
          automountServiceAccountToken: false,
          hostPID: true,
          priorityClassName: 'system-node-critical',
          nodeSelector: { ...ds.nodeSelector, [INSTALL_LABEL]: 'true' },
          tolerations: [{ operator: 'Exists' }],
          terminationGracePeriodSeconds: 5,
          initContainers: [
            {
              name: uninstall ? 'uninstall' : 'install',
              image: ds.image,
              command: ['/bin/bash', '-c', initCommand(uninstall ? 'uninstall.sh' : 'live.sh', hash)],
              securityContext: { privileged: true },
              terminationMessagePolicy: 'FallbackToLogsOnError',
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              volumeMounts: [
                { name: 'bundle', mountPath: BUNDLE_MOUNT, readOnly: true },
                { name: 'state', mountPath: STATE_MOUNT },
                { name: 'status', mountPath: STATUS_MOUNT },
              ],
            },
          ],
          containers: [
            {
              name: 'done',
              image: ds.pauseImage,
              command: ['/bin/sh', '-c', 'exec sleep 2147483647'],
              readinessProbe: { exec: { command: ['/bin/sh', '-c', `test -f ${readyFile} || test -f ${NOT_APPLICABLE}`] }, periodSeconds: 10 },
              securityContext: {
                runAsUser: 65534,
                runAsGroup: 65534,
                runAsNonRoot: true,
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
              },
              resources: { requests: { cpu: '1m', memory: '8Mi' }, limits: { memory: '16Mi' } },
              volumeMounts: [
                uninstall ? { name: 'run', mountPath: '/run-host', readOnly: true } : { name: 'state', mountPath: STATE_MOUNT, readOnly: true },
                { name: 'status', mountPath: STATUS_MOUNT, readOnly: true },
              ],
            },
          ],
          volumes: [
            {
              name: 'bundle',
              configMap: {
                name: configMap.metadata.name,
                defaultMode: 0o644,
                items: files.map((f) => ({ key: f.path, path: f.path, ...(f.mode !== 0o644 ? { mode: f.mode } : {}) })),
              },
            },
            { name: 'state', hostPath: { path: PATHS.stateDir, type: 'DirectoryOrCreate' } },
            // The pod's own note that this node is not EKS AL2023: nothing about it is kept on the host.
            { name: 'status', emptyDir: { sizeLimit: '1Mi' } },
            ...(uninstall ? [{ name: 'run', hostPath: { path: '/run/soci-installer', type: 'DirectoryOrCreate' } }] : []),
          ],
        },
      },
    },
  };
  // The Namespace only when we own it: `kubectl delete -f` of the uninstall manifest deletes it.
  return [...(ds.createNamespace ? [namespace] : []), serviceAccount, configMap, daemonSet];
}

export function daemonSetYaml(plan: Plan, opts: DaemonSetOptions = {}): string {
  const header = `# soci-installer ${plan.generatorVersion}: ${opts.uninstall ? 'reverts every selected node, then `kubectl delete -f` this file' : `SOCI (${plan.mode}) on running nodes`}.\n`;
  return header + daemonSetObjects(plan, opts).map((o) => `---\n${yamlText(o)}`).join('');
}
