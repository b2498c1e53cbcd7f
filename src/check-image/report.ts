// Verdicts against the profile's soci.mode, and the two outputs: a table for people, JSON for CI gates.
import { modeTraits, type Mode } from '../modes.js';
import { SOCI, type ImageReport, type PlatformReport } from './analyze.js';
import { escapeControls } from '../profile/parse.js';
import { canonical } from './reference.js';

export interface Verdict {
  ready: boolean;
  /** what a node in this mode does with the image, in a few words */
  says: string;
}

/**
 * What a node does with this platform's image in each mode (see README "Modes"):
 *   lazy: lazy loading only with a v2 index, else a normal pull;
 *   lazy-with-parallel-fallback: lazy with one, else a parallel pull (works, but is not lazy: not ready);
 *   parallel, fast-image-pull: parallel pull of every image; an index is not used at all (always ready).
 */
export function verdict(p: PlatformReport, mode: Mode): Verdict {
  if (p.index === 'no-platform') return { ready: false, says: `no ${p.platform} image: nodes of this platform cannot run it` };
  if (p.index === 'not-an-image') return { ready: false, says: `nodes of this platform would pull the SOCI index, not the image` };
  const traits = modeTraits(mode);
  if (!traits.lazy) {
    return { ready: true, says: p.index === 'v2' ? `parallel pull (${mode}: the SOCI index is not used)` : `parallel pull (${mode})` };
  }
  const otherwise = traits.fallback ? 'parallel pull (fallback), not lazy' : 'pulls normally';
  switch (p.index) {
    case 'v2':
      return { ready: true, says: 'lazy loading' };
    case 'v1-only':
      return { ready: false, says: `${otherwise}: only a v1 index, which soci ignores since 0.10` };
    case 'invalid':
      return { ready: false, says: `${otherwise}: the SOCI index does not fit the image` };
    default:
      return { ready: false, says: `${otherwise}: no SOCI index` };
  }
}

/** An image of the pod list that is no reference: reported, not checked. */
export interface Unparsable {
  text: string;
  message: string;
}

export interface CheckOutcome {
  mode: Mode;
  reports: ImageReport[];
  /** after the checked images, in the table and the JSON */
  unparsable: Unparsable[];
}

export function imageReady(r: ImageReport, mode: Mode): boolean {
  return !r.error && r.platforms.length > 0 && r.platforms.every((p) => verdict(p, mode).ready);
}

export function allReady(o: CheckOutcome): boolean {
  return o.unparsable.length === 0 && o.reports.every((r) => imageReady(r, o.mode));
}

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** Where the converted image goes: the same repository, the tag with "-soci", as upstream's docs do. */
export function sociTarget(r: ImageReport): string {
  const tag = r.ref.tag ?? `${r.ref.digest!.slice(7, 19)}`;
  return `${r.ref.registry}/${r.ref.repository}:${tag}-soci`;
}

/** The commands that make this image lazy-loadable: standalone (CI without containerd), and with containerd. */
export function convertCommands(r: ImageReport): string[] {
  const src = canonical(r.ref);
  const dest = sociTarget(r);
  return [
    `skopeo copy --all docker://${src} oci:image-oci`,
    `soci convert --standalone --all-platforms --format oci-dir image-oci image-soci`,
    `skopeo copy --all oci:image-soci docker://${dest}`,
  ];
}

/** Platforms soci convert would make lazy-loadable: an image is there, without a usable index. */
const convertible = (p: PlatformReport): boolean => p.index === 'none' || p.index === 'v1-only' || p.index === 'invalid';

const V1_MIGRATION =
  'soci >= 0.10 ignores v1 indexes by default ([pull_modes.soci_v1] enable = false). Migrate: convert the image with `soci convert` (index manifest v2, packed into a new image) and deploy the converted image; the v1 index can then be deleted.';

/** Notes under the table: what to do about each image that is not ready, and tags that can move. */
function notes(r: ImageReport, mode: Mode): string[] {
  const out: string[] = [];
  const name = r.ref.text;
  if (r.error) return out;
  const lazyMode = modeTraits(mode).lazy;
  if (r.mutable) out.push(`${name}: "${r.ref.tag}" is a tag, which anyone who can push may move: this verdict holds for ${r.ref.registry}/${r.ref.repository}@${r.digest}; deploy that to keep it.`);
  for (const p of r.platforms) for (const problem of p.problems) out.push(`${name} ${p.platform}: ${problem}`);
  if (r.platforms.some((p) => p.index === 'v1-only')) {
    const p = r.platforms.find((x) => x.index === 'v1-only')!;
    out.push(`${name}: v1 SOCI index ${p.indexDigests.join(', ')} (found through the ${p.via}). ${V1_MIGRATION}`);
  }
  const missing = r.platforms.filter(convertible);
  if (lazyMode && missing.length) {
    out.push(`${name}: to lazy-load ${missing.map((p) => p.platform).join(', ')}, convert it (CI, no containerd needed) and deploy ${sociTarget(r)}:`);
    for (const c of convertCommands(r)) out.push(`    ${c}`);
    out.push(`  (on a host with containerd: soci convert --all-platforms ${canonical(r.ref)} ${sociTarget(r)}, then push ${sociTarget(r)})`);
    // Only where nothing is indexed is the largest unindexed layer the largest layer.
    const allSmall = missing.every((p) => p.coverage !== undefined && p.coverage.indexedLayers === 0 && (p.coverage.largestUnindexed?.size ?? 0) < SOCI.defaultMinLayerSize);
    if (allSmall && missing.some((p) => p.coverage!.layers > 0)) {
      out.push(`  every layer is under soci's default --min-layer-size (10 MiB): soci convert would index none; such a small image gains little from lazy loading (or pass a smaller --min-layer-size)`);
    }
  }
  return out;
}

const INDEX_COLUMN: Record<PlatformReport['index'], string> = { v2: 'v2', 'v1-only': 'v1 only', invalid: 'invalid', 'no-platform': '-', 'not-an-image': 'misplaced', none: 'none' };

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatTable(o: CheckOutcome): string {
  const rows: string[][] = [['IMAGE', 'PLATFORM', 'SOCI INDEX', 'LAYERS INDEXED', 'BYTES INDEXED', 'LARGEST UNINDEXED', 'VERDICT']];
  const errors: string[] = [];
  for (const r of o.reports) {
    if (r.error) {
      errors.push(`${r.ref.text}: ${r.error.message}`);
      continue;
    }
    for (const p of r.platforms) {
      const c = p.coverage;
      const v = verdict(p, o.mode);
      rows.push([
        r.ref.text,
        p.platform,
        INDEX_COLUMN[p.index],
        c ? `${c.indexedLayers}/${c.layers}` : '-',
        c ? `${size(c.indexedBytes)} of ${size(c.bytes)}` : '-',
        c?.largestUnindexed ? size(c.largestUnindexed.size) : '-',
        `${v.ready ? 'ready' : 'NOT READY'}: ${v.says}`,
      ]);
    }
  }
  errors.push(...o.unparsable.map((u) => `${u.text}: ${u.message}`));
  const ready = o.reports.filter((r) => imageReady(r, o.mode)).length;
  const parts = [`soci.mode ${o.mode}: ${ready} of ${o.reports.length + o.unparsable.length} image(s) ready`, ''];
  // Registries write much of what is shown (media types, annotations, platforms): a terminal gets it escaped.
  if (rows.length > 1) parts.push(pad(rows.map((r) => r.map(escapeControls))), '');
  if (errors.length) parts.push(...errors.map(escapeControls), '');
  const n = o.reports.flatMap((r) => notes(r, o.mode));
  if (n.length) parts.push(...n.map(escapeControls), '');
  return parts.join('\n');
}

/** One platform in the JSON: every key always there (null when it does not apply), so a gate's jq path never vanishes. */
function platformJson(p: PlatformReport, mode: Mode) {
  const c = p.coverage;
  return {
    platform: p.platform,
    index: p.index,
    manifestDigest: p.manifestDigest ?? null,
    indexDigests: p.indexDigests,
    via: p.via ?? null,
    coverage: c ? { layers: c.layers, indexedLayers: c.indexedLayers, bytes: c.bytes, indexedBytes: c.indexedBytes, largestUnindexed: c.largestUnindexed ?? null } : null,
    problems: p.problems,
    verdict: verdict(p, mode),
  };
}

/** The JSON for CI gates: one object per image, its verdict per platform, and the overall answer. */
export function toJson(o: CheckOutcome): unknown {
  const checked = o.reports.map((r) => ({
    ref: r.ref.text,
    name: canonical(r.ref),
    digest: r.digest ?? null,
    mutable: r.mutable,
    ready: imageReady(r, o.mode),
    error: r.error ?? null,
    platforms: r.platforms.map((p) => platformJson(p, o.mode)),
    convert: !r.error && r.platforms.some(convertible) ? { commands: convertCommands(r), pushTo: sociTarget(r) } : null,
    fetched: { requests: r.fetched.requests, bytes: r.fetched.bytes },
  }));
  // The same keys, null where they do not apply: nothing was asked of a registry.
  const unparsable = o.unparsable.map((u) => ({
    ref: u.text,
    name: null,
    digest: null,
    mutable: null,
    ready: false,
    error: { kind: 'not-a-reference', message: u.message },
    platforms: [],
    convert: null,
    fetched: { requests: 0, bytes: 0 },
  }));
  return { mode: o.mode, ready: allReady(o), images: [...checked, ...unparsable] };
}
