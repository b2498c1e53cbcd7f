// Every image a cluster runs, from `kubectl get pods -A -o json`: containers, initContainers and
// ephemeralContainers of each pod (Kubernetes core/v1 PodSpec), each image once, in first-seen order.

interface PodLike {
  kind?: string;
  metadata?: { namespace?: string; name?: string };
  spec?: Record<string, unknown>;
  items?: PodLike[];
}

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

export interface PodImage {
  image: string;
  /** the first pod that runs it, "namespace/name", for messages about the image */
  pod: string;
}

/** Images of a Pod list (or one Pod); throws a one-line message on input that is not one. */
export function imagesFromPods(text: string, origin: string): PodImage[] {
  let doc: PodLike;
  try {
    doc = JSON.parse(text) as PodLike;
  } catch (e) {
    throw new Error(`--from-pods ${origin}: not JSON (${(e as Error).message}); give the output of kubectl get pods -A -o json`);
  }
  if (typeof doc !== 'object' || doc === null || (!Array.isArray(doc.items) && doc.kind !== 'Pod')) {
    throw new Error(`--from-pods ${origin}: neither a List with items nor a Pod; give the output of kubectl get pods -A -o json`);
  }
  const pods = Array.isArray(doc.items) ? doc.items : [doc];
  // A List of Deployments or Nodes has items too, and no spec.containers: it would read as "no image".
  const other = pods.find((p) => typeof p?.kind === 'string' && p.kind !== 'Pod');
  if (other) throw new Error(`--from-pods ${origin}: a List of ${other.kind} objects, not Pods; give the output of kubectl get pods -A -o json`);
  const seen = new Map<string, string>();
  for (const pod of pods) {
    const name = `${pod?.metadata?.namespace ?? '-'}/${pod?.metadata?.name ?? '-'}`;
    for (const list of CONTAINER_LISTS) {
      const containers = pod?.spec?.[list];
      if (!Array.isArray(containers)) continue;
      for (const c of containers as { image?: unknown }[]) if (typeof c?.image === 'string' && c.image !== '' && !seen.has(c.image)) seen.set(c.image, name);
    }
  }
  return [...seen].map(([image, pod]) => ({ image, pod }));
}
