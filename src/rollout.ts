// `rollout`: the DaemonSet's first rollout, a batch of nodes at a time. The DaemonSet selects only
// nodes labelled soci-installer.io/install=true; this labels the nodes its nodeSelector would pick,
// --batch at a time, and waits until each node's pod is Ready (soci verified) before the next batch.
// It stops at the first node that fails or times out: the nodes after it stay unlabelled.
//
// It speaks the Kubernetes REST API (core/v1 Node and Pod, apps/v1 DaemonSet) to a URL, by default
// `kubectl proxy`'s, so it uses the caller's kubeconfig and credentials and needs no client library.
// RBAC for the caller: nodes get/list/patch, pods list in the namespace, daemonsets get.
import { ExternalError, UsageError } from './errors.js';
import { INSTALL_LABEL, NAME, POD_LABEL } from './artifacts/daemonset.js';
import type { Plan } from './plan.js';

export interface RolloutOptions {
  /** Base URL of the API server, e.g. kubectl proxy's http://127.0.0.1:8001 */
  api: string;
  batch: number;
  /** How long one batch may take to become Ready. */
  timeoutSec: number;
  intervalSec: number;
  log: (line: string) => void;
}

interface Node {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { nodeInfo?: { osImage?: string } };
}
interface ContainerStatus {
  state?: { terminated?: { exitCode: number; message?: string }; waiting?: { reason?: string } };
  lastState?: { terminated?: { exitCode: number; message?: string } };
}
interface Pod {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[]; initContainerStatuses?: ContainerStatus[] };
}

// The EKS AL2023 AMI's os-release PRETTY_NAME, which kubelet reports as status.nodeInfo.osImage.
const AL2023 = /^Amazon Linux 2023/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function api<T>(base: string, method: 'GET' | 'PATCH', path: string, body?: unknown): Promise<T> {
  const url = `${base.replace(/\/+$/, '')}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/merge-patch+json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new ExternalError(`Kubernetes API at ${base} does not answer (${(err as Error).cause ?? (err as Error).message}); start \`kubectl proxy\` or pass --api`);
  }
  if (!res.ok) {
    const status = (await res.json().catch(() => ({}))) as { message?: string };
    throw new ExternalError(`${method} ${path}: ${res.status} ${status.message ?? res.statusText}`);
  }
  return (await res.json()) as T;
}

const selector = (labels: Record<string, string>) => encodeURIComponent(Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','));

/** What a node's pod says: ready, failed (with the init container's message), or still working. */
function podState(pods: Pod[]): { ready: true; note?: string } | { failed: string } | undefined {
  for (const pod of pods) {
    const init = pod.status?.initContainerStatuses?.[0];
    const ended = init?.state?.terminated ?? (init?.state?.waiting?.reason === 'CrashLoopBackOff' ? init.lastState?.terminated : undefined);
    if (ended && ended.exitCode !== 0) return { failed: (ended.message ?? `exit ${ended.exitCode}`).trim() };
    if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
      const note = init?.state?.terminated?.message?.trim();
      return note ? { ready: true, note } : { ready: true };
    }
  }
  return undefined;
}

export async function rollout(plan: Plan, opts: RolloutOptions): Promise<{ converted: string[]; skipped: string[] }> {
  if (!Number.isSafeInteger(opts.batch) || opts.batch < 1) throw new UsageError(`--batch: ${opts.batch} is not allowed; allowed: a whole number of nodes, 1 or more`);
  for (const [flag, v] of [['--timeout', opts.timeoutSec], ['--interval', opts.intervalSec]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${flag}: ${v} is not allowed; allowed: a number of seconds above 0`);
  }
  const ns = plan.daemonset.namespace;
  const ds = await api<{ spec: { template: { spec: { nodeSelector?: Record<string, string> } } } }>(opts.api, 'GET', `/apis/apps/v1/namespaces/${ns}/daemonsets/${NAME}`).catch((err) => {
    throw err instanceof ExternalError && / 404 /.test(err.message) ? new ExternalError(`no DaemonSet ${ns}/${NAME}: apply the manifest first (soci-installer daemonset | kubectl apply -f -)`) : err;
  });
  if (ds.spec.template.spec.nodeSelector?.[INSTALL_LABEL] !== 'true') {
    throw new ExternalError(`DaemonSet ${ns}/${NAME} does not wait for the ${INSTALL_LABEL} label (a manifest of an older soci-installer); apply this version's manifest first`);
  }
  const nodes = (await api<{ items: Node[] }>(opts.api, 'GET', `/api/v1/nodes?labelSelector=${selector(plan.daemonset.nodeSelector)}`)).items;
  const skipped: string[] = [];
  const labelled: string[] = [];
  const todo: string[] = [];
  for (const n of nodes.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    const os = n.status?.nodeInfo?.osImage ?? '';
    if (n.metadata.labels?.[INSTALL_LABEL] === 'true') labelled.push(n.metadata.name);
    else if (!AL2023.test(os)) {
      skipped.push(n.metadata.name);
      opts.log(`${n.metadata.name}: not labelled: ${os || 'unknown OS'} is not EKS AL2023`);
    } else todo.push(n.metadata.name);
  }
  const converted: string[] = [];
  /** Wait until every named node's pod is Ready; stop at a failed one or after --timeout. */
  const waitReady = async (names: string[], left: number) => {
    const end = Date.now() + opts.timeoutSec * 1000;
    const waiting = new Set(names);
    for (;;) {
      for (const name of [...waiting]) {
        const pods = (await api<{ items: Pod[] }>(opts.api, 'GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${selector({ [POD_LABEL]: NAME })}&fieldSelector=${encodeURIComponent(`spec.nodeName=${name}`)}`)).items;
        const state = podState(pods);
        if (state && 'failed' in state) {
          throw new ExternalError(`${name}: the install failed: ${state.failed}; stopped, ${left} node(s) left unlabelled (fix, then run rollout again)`);
        }
        if (state?.ready) {
          waiting.delete(name);
          if (todo.includes(name)) {
            converted.push(name);
            opts.log(`${name}: ready (${converted.length}/${todo.length})${state.note ? `: ${state.note}` : ''}`);
          }
        }
      }
      if (!waiting.size) return;
      if (Date.now() > end) {
        throw new ExternalError(`${[...waiting].join(', ')}: not Ready after ${opts.timeoutSec}s; stopped, ${left} node(s) left unlabelled (kubectl -n ${ns} describe pod)`);
      }
      await sleep(opts.intervalSec * 1000);
    }
  };
  // Nodes labelled before (an earlier run, or by hand) must be Ready first: a failed one stops us here.
  await waitReady(labelled, todo.length);
  opts.log(`${todo.length} node(s) to convert, ${opts.batch} at a time`);
  for (let i = 0; i < todo.length; i += opts.batch) {
    const batch = todo.slice(i, i + opts.batch);
    for (const name of batch) {
      await api(opts.api, 'PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, { metadata: { labels: { [INSTALL_LABEL]: 'true' } } });
      opts.log(`${name}: labelled ${INSTALL_LABEL}=true`);
    }
    await waitReady(batch, todo.length - i - batch.length);
  }
  return { converted, skipped };
}
