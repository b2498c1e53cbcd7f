// Parallel-pull settings soci-snapshotter refuses to start with. A refused soci on a baked AMI
// keeps containerd (which requires it) down, and the node never joins: refuse them at load.
// soci v0.15.0 fs/adaptive_fetch_image_layers.go (checkParallelPullUnpack): a per-image limit above a
// global limit that is bounded (> 0) ends the daemon. (Its other start-up refusal, the soci content
// store with discard_unpacked_layers = false in fs/fs.go, is answered in src/artifacts/soci-config.ts
// by choosing containerd's content store.)
import { sociSettings } from '../plan.js';
import type { Profile } from './schema.js';

/** Problems, one per field, in the parallel settings the plan fills in (sociSettings). */
export function sociStartupProblems(p: Profile): string[] {
  const settings = sociSettings(p).parallel;
  if (!settings) return [];
  const given = p.soci?.parallel ?? {};
  const value = (k: 'maxConcurrentDownloads' | 'maxConcurrentDownloadsPerImage' | 'maxConcurrentUnpacks' | 'maxConcurrentUnpacksPerImage') => ({
    v: settings[k],
    shown: given[k] === undefined ? `${String(settings[k])} (the default)` : String(given[k]),
  });
  const out: string[] = [];
  for (const [global, perImage, what] of [
    ['maxConcurrentDownloads', 'maxConcurrentDownloadsPerImage', 'download'],
    ['maxConcurrentUnpacks', 'maxConcurrentUnpacksPerImage', 'unpack'],
  ] as const) {
    const g = value(global);
    const i = value(perImage);
    if (g.v > 0 && i.v > g.v) {
      out.push(
        `soci.parallel.${perImage}: ${i.shown} is above soci.parallel.${global} (${g.shown}): soci refuses to start ("global ${what} limit less than per-image ${what} limit"); set it to ${String(g.v)} or less, or ${global} to -1 (unbounded)`,
      );
    }
  }
  return out;
}
