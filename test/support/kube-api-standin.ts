// Kubernetes API TEST STAND-IN: what `soci-installer rollout` reads and writes, and the DaemonSet
// controller's part in it, nothing more. No Kubernetes API server can run here.
// Copies the semantics of:
//   - core/v1 Node: GET /api/v1/nodes?labelSelector= (equality-based selectors: k=v, k==v, k!=v, k, !k,
//     as k8s.io/apimachinery pkg/labels), PATCH /api/v1/nodes/NAME with application/merge-patch+json
//     (RFC 7386: null deletes a key; other patch types are answered 415);
//   - core/v1 Pod: GET /api/v1/namespaces/NS/pods?labelSelector=&fieldSelector=spec.nodeName=NAME;
//   - apps/v1 DaemonSet: GET /apis/apps/v1/namespaces/NS/daemonsets/NAME (404 with a v1 Status when absent);
//   - the DaemonSet controller: a pod on every node whose labels match spec.template.spec.nodeSelector,
//     created as soon as they match (on creation there is no pacing: what D23 is about).
// A pod's init container runs `ms` milliseconds (per node), then exits 0 (the pod turns Ready) or 1
// with the node's `fail` message (the pod stays not Ready, CrashLoopBackOff).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinNode {
  name: string;
  labels: Record<string, string>;
  osImage: string;
  /** how long the install takes on this node */
  ms: number;
  fail?: string;
  /** the init container's message on success */
  note?: string;
}

interface Pod {
  node: string;
  created: number;
}

export interface KubeApi {
  url: string;
  nodes: StandinNode[];
  /** [start, end] of every install that ran (pod created until its init container ended) */
  installs(): { node: string; start: number; end: number }[];
  close(): Promise<void>;
}

function matches(labels: Record<string, string>, selector: string): boolean {
  return selector
    .split(',')
    .filter(Boolean)
    .every((term) => {
      let m: RegExpExecArray | null;
      if ((m = /^([^!=]+)!=(.*)$/.exec(term))) return labels[m[1]!] !== m[2];
      if ((m = /^([^!=]+)==?(.*)$/.exec(term))) return labels[m[1]!] === m[2];
      if ((m = /^!(.+)$/.exec(term))) return !(m[1]! in labels);
      return term in labels;
    });
}

function mergePatch(target: Record<string, any>, patch: Record<string, any>): Record<string, any> {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v)) target[k] = mergePatch(typeof target[k] === 'object' && target[k] ? target[k] : {}, v);
    else target[k] = v;
  }
  return target;
}

/** daemonSet: the DaemonSet object as applied (our manifest's), or undefined for "not applied". */
export async function startKubeApi(nodes: StandinNode[], daemonSet: any | undefined): Promise<KubeApi> {
  const pods = new Map<string, Pod>();
  const nodeSelector = (): Record<string, string> => daemonSet?.spec.template.spec.nodeSelector ?? {};
  const ns = daemonSet?.metadata.namespace;
  // The DaemonSet controller: reconcile before every answer.
  const reconcile = () => {
    if (!daemonSet) return;
    const sel = Object.entries(nodeSelector()).map(([k, v]) => `${k}=${v}`).join(',');
    for (const n of nodes) if (matches(n.labels, sel) && !pods.has(n.name)) pods.set(n.name, { node: n.name, created: Date.now() });
  };
  const podJson = (p: Pod) => {
    const n = nodes.find((x) => x.name === p.node)!;
    const done = Date.now() - p.created >= n.ms;
    const init = !done
      ? { state: { running: {} } }
      : n.fail
        ? { state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, message: n.fail } } }
        : { state: { terminated: { exitCode: 0, ...(n.note ? { message: n.note } : {}) } } };
    return {
      metadata: { name: `soci-installer-${p.node}`, namespace: ns, labels: daemonSet.spec.template.metadata.labels },
      spec: { nodeName: p.node },
      status: { initContainerStatuses: [{ name: 'install', ...init }], conditions: [{ type: 'Ready', status: done && !n.fail ? 'True' : 'False' }] },
    };
  };
  const nodeJson = (n: StandinNode) => ({ metadata: { name: n.name, labels: n.labels }, status: { nodeInfo: { osImage: n.osImage } } });
  const send = (res: http.ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const status = (res: http.ServerResponse, code: number, message: string) => send(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code });

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      reconcile();
      const url = new URL(req.url!, 'http://x');
      const q = (k: string) => url.searchParams.get(k) ?? '';
      let m: RegExpExecArray | null;
      if (req.method === 'GET' && (m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/daemonsets\/([^/]+)$/.exec(url.pathname))) {
        if (!daemonSet || m[1] !== ns || m[2] !== daemonSet.metadata.name) return status(res, 404, `daemonsets.apps "${m[2]}" not found`);
        return send(res, 200, daemonSet);
      }
      if (req.method === 'GET' && url.pathname === '/api/v1/nodes') {
        return send(res, 200, { kind: 'NodeList', apiVersion: 'v1', items: nodes.filter((n) => matches(n.labels, q('labelSelector'))).map(nodeJson) });
      }
      if (req.method === 'PATCH' && (m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(url.pathname))) {
        if (req.headers['content-type'] !== 'application/merge-patch+json') return status(res, 415, `the body of the request was in an unknown format`);
        const n = nodes.find((x) => x.name === decodeURIComponent(m![1]!));
        if (!n) return status(res, 404, `nodes "${m[1]}" not found`);
        n.labels = mergePatch({ metadata: { labels: n.labels } }, JSON.parse(body)).metadata.labels;
        reconcile();
        return send(res, 200, nodeJson(n));
      }
      if (req.method === 'GET' && (m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname))) {
        const field = /^spec\.nodeName=(.*)$/.exec(q('fieldSelector'))?.[1];
        const items = [...pods.values()].filter((p) => m![1] === ns && (field === undefined || p.node === field)).map(podJson);
        return send(res, 200, { kind: 'PodList', apiVersion: 'v1', items: items.filter((p) => matches(p.metadata.labels, q('labelSelector'))) });
      }
      return status(res, 404, `the server could not find the requested resource (${req.method} ${url.pathname})`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    nodes,
    installs: () => [...pods.values()].map((p) => ({ node: p.node, start: p.created, end: p.created + nodes.find((n) => n.name === p.node)!.ms })),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
