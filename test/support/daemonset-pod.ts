// The DaemonSet pod on the booted test node (test/harness/): the manifest's exact init command runs
// with the ConfigMap's files at their mount path (/bundle) and the state hostPath at /state.
import { parseAllDocuments } from 'yaml';
import { render } from '../../src/index.js';
import type { FakeNode } from '../harness/index.js';

export interface PodSpec {
  command: string[];
  files: { path: string; content: string; mode: number }[];
  /** The idle container's readiness command. */
  readiness: string[];
}

export function podOf(profile: string, uninstall = false): PodSpec {
  const file = uninstall ? 'daemonset-uninstall.yaml' : 'daemonset.yaml';
  const text = render(profile).artifacts.find((a) => a.path === file)!.content;
  const [, , cm, ds] = parseAllDocuments(text).map((d) => d.toJS() as any);
  const pod = ds.spec.template.spec;
  const items = pod.volumes.find((v: any) => v.name === 'bundle').configMap.items as { key: string; path: string; mode?: number }[];
  return {
    command: pod.initContainers[0].command,
    files: items.map((i) => ({ path: `/bundle/${i.path}`, content: cm.data[i.key] as string, mode: i.mode ?? 0o644 })),
    readiness: pod.containers[0].readinessProbe.exec.command,
  };
}

/**
 * Lay out the pod's volumes on the node and run the init command: /bundle (the ConfigMap), /state and
 * /run-host (hostPaths, as links), /status (the pod's emptyDir, new for each pod).
 */
export async function runInit(node: FakeNode, pod: PodSpec) {
  await node.run(
    'rm -rf /bundle /status && mkdir -p /var/lib/soci-installer /run/soci-installer /status && ln -sfn /var/lib/soci-installer /state && ln -sfn /run/soci-installer /run-host',
  );
  for (const f of pod.files) await node.writeFile(f.path, f.content, f.mode);
  return node.exec(pod.command, { timeoutMs: 240_000 });
}

/** Whether the idle container would be Ready: its probe, run where the pod's mounts are. */
export async function ready(node: FakeNode, pod: PodSpec): Promise<boolean> {
  return (await node.exec(pod.readiness)).code === 0;
}
