// check-image: will these images load lazily on the profile's nodes? Answered from the registry alone.
// reference.ts parses, auth.ts finds credentials, registry.ts talks to registries (manifests and small
// index blobs; zTOCs only by HEAD), analyze.ts reads SOCI indexes, report.ts judges against soci.mode and prints.
import { modeTraits } from '../modes.js';
import type { Plan } from '../plan.js';
import { checkImage } from './analyze.js';
import { credentialsFor, type AuthDeps } from './auth.js';
import { parsePlatform, parseReference, platformText, type ImageRef, type Platform } from './reference.js';
import { RegistryClient } from './registry.js';
import type { CheckOutcome } from './report.js';

export { allReady, formatTable, toJson } from './report.js';
export { imagesFromPods, type PodImage } from './pods.js';

export interface CheckInput {
  refs: string[];
  /** where a reference came from, for its problem line ("pod default/web in --from-pods stdin") */
  origins?: Map<string, string>;
  /** --platform; default: the profile's node.arch (both when omitted) */
  platforms?: string[];
}

export interface CheckDeps {
  auth?: AuthDeps;
  /** requests in flight at once, over all images */
  concurrency?: number;
  fetch?: typeof fetch;
}

/** Parses every reference and platform first: all problems, one per line, before any request. */
export function parseInput(input: CheckInput, plan: Pick<Plan, 'arches'>): { refs: ImageRef[]; platforms: Platform[] } | { problems: string[] } {
  const problems: string[] = [];
  const refs: ImageRef[] = [];
  const platforms: Platform[] = [];
  if (input.refs.length === 0) problems.push('check-image: no image given: name images (REF...) or pass --from-pods - with kubectl get pods -A -o json on stdin');
  for (const r of new Set(input.refs)) {
    const p = parseReference(r);
    if ('problem' in p) problems.push(`image ${p.problem}${input.origins?.has(r) ? ` (${input.origins.get(r)})` : ''}`);
    else refs.push(p);
  }
  for (const t of input.platforms ?? plan.arches.map((a) => `linux/${a}`)) {
    const p = parsePlatform(t);
    if ('problem' in p) problems.push(`--platform ${p.problem}`);
    else if (!platforms.some((q) => platformText(q) === platformText(p))) platforms.push(p); // each platform once
  }
  return problems.length ? { problems } : { refs, platforms };
}

export async function checkImages(refs: ImageRef[], platforms: Platform[], plan: Pick<Plan, 'mode'>, deps: CheckDeps = {}): Promise<CheckOutcome> {
  const client = new RegistryClient({
    credentials: (registry) => credentialsFor(registry, deps.auth),
    ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  // Every image starts at once; the client bounds the requests in flight.
  const lookForV1 = modeTraits(plan.mode).lazy;
  const reports = await Promise.all(refs.map((r) => checkImage(client, r, platforms, { lookForV1 })));
  return { mode: plan.mode, reports };
}
