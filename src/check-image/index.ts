// check-image: will these images load lazily on the profile's nodes? Answered from the registry alone.
// reference.ts parses, auth.ts finds credentials, registry.ts talks to registries (manifests and small
// index blobs; zTOCs only by HEAD, or a one-byte GET), analyze.ts reads SOCI indexes, report.ts judges against soci.mode and prints.
import { modeTraits } from '../modes.js';
import type { Plan } from '../plan.js';
import { checkImage } from './analyze.js';
import { credentialsFor, type AuthDeps } from './auth.js';
import { parsePlatform, parseReference, platformText, type ImageRef, type Platform } from './reference.js';
import { RegistryClient } from './registry.js';
import type { PodImage } from './pods.js';
import type { CheckOutcome, Unparsable } from './report.js';

export { allReady, formatTable, toJson } from './report.js';
export { imagesFromPods, type PodImage } from './pods.js';
export { useProxyFromEnv } from './proxy.js';

export interface CheckInput {
  /** the user's own references (REF...) */
  refs: string[];
  /** the images of a pod list (--from-pods), and where it was read ("stdin" or the file) */
  fromPods?: { images: PodImage[]; origin: string };
  /** --platform; default: the profile's node.arch (both when omitted) */
  platforms?: string[];
}

/** What to check: references and platforms, and the images of the pod list that are no reference. */
export interface Targets {
  refs: ImageRef[];
  platforms: Platform[];
  unparsable: Unparsable[];
}

export interface CheckDeps {
  auth?: AuthDeps;
  /** requests in flight at once, over all images */
  concurrency?: number;
  fetch?: typeof fetch;
}

/**
 * Parses every reference and platform first: all problems, one per line, before any request. A reference
 * the user wrote is bad input; an image in the pod list is the cluster's data, and one that is no
 * reference is a row of the report (kubelet refuses it when it cannot parse it: EnsureImageExists returns
 * ErrInvalidImageName, kubernetes pkg/kubelet/images/image_manager.go at cfce511e).
 */
export function parseInput(input: CheckInput, plan: Pick<Plan, 'arches'>): Targets | { problems: string[] } {
  const problems: string[] = [];
  const refs: ImageRef[] = [];
  const unparsable: Unparsable[] = [];
  const platforms: Platform[] = [];
  const pods = input.fromPods?.images ?? [];
  if (input.refs.length === 0 && pods.length === 0) problems.push('check-image: no image given: name images (REF...) or pass --from-pods - with kubectl get pods -A -o json on stdin');
  const mine = new Set(input.refs);
  for (const r of mine) {
    const p = parseReference(r);
    if ('problem' in p) problems.push(`image ${JSON.stringify(r)}: ${p.problem}`);
    else refs.push(p);
  }
  for (const { image, pod } of pods) {
    if (mine.has(image)) continue; // each image once; named by the user, it is theirs
    const p = parseReference(image);
    if ('problem' in p) {
      const message = `not an image reference (pod ${pod} in --from-pods ${input.fromPods!.origin}): ${p.problem}; kubelet refuses a reference it cannot parse (the pod waits with InvalidImageName)`;
      unparsable.push({ text: image, message });
    } else refs.push(p);
  }
  for (const t of input.platforms ?? plan.arches.map((a) => `linux/${a}`)) {
    const p = parsePlatform(t);
    if ('problem' in p) problems.push(`--platform ${p.problem}`);
    else if (!platforms.some((q) => platformText(q) === platformText(p))) platforms.push(p); // each platform once
  }
  return problems.length ? { problems } : { refs, platforms, unparsable };
}

export async function checkImages({ refs, platforms, unparsable }: Targets, plan: Pick<Plan, 'mode'>, deps: CheckDeps = {}): Promise<CheckOutcome> {
  const client = new RegistryClient({
    credentials: (registry) => credentialsFor(registry, deps.auth),
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  // Every image starts at once; the client bounds the requests in flight.
  const lookForV1 = modeTraits(plan.mode).lazy;
  const reports = await Promise.all(refs.map((r) => checkImage(client, r, platforms, { lookForV1 })));
  return { mode: plan.mode, reports, unparsable };
}
