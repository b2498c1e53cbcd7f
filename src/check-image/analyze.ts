// What the registry says about one image, per platform: its SOCI index (v2, or only v1) and coverage.
// soci's format, from awslabs/soci-snapshotter v0.15.0 (7716bd67):
//   - docs/soci-index-manifest-v2.md: `soci convert` packs one SOCI index per platform into the image index
//     and annotates each image manifest with the digest of its SOCI index; soci >= 0.10 uses only these
//     (v1 indexes, found through the referrers API, are off by default: [pull_modes.soci_v1] enable = false).
//   - soci/soci_index.go: the annotation `com.amazon.soci.index-digest` (ImageAnnotationSociIndexDigest);
//     a SOCI index is an OCI image manifest whose config mediaType is
//     application/vnd.amazon.soci.index.v2+json (v1: ...index.v1+json, SociIndexArtifactTypeV1/V2);
//     each zTOC is a "layer" of mediaType application/octet-stream (SociLayerMediaType) whose annotation
//     `com.amazon.soci.image-layer-digest` names the image layer it indexes; prefetch artifacts have
//     application/vnd.amazon.soci.prefetch.v1+json. Layers smaller than --min-layer-size (default 10 MiB,
//     defaultMinLayerSize) get no zTOC (skipBuildingZtoc) and are fetched whole.
//   - soci/soci_convert.go addSociIndexes: the SOCI index descriptors sit in the image index beside the
//     images, with the same platform, artifactType ...index.v2+json and the annotation
//     com.amazon.soci.image-manifest-digest (IndexAnnotationImageManifestDigest): they are not images.
import { canonical, platformMatches, platformText, type ImageRef, type Platform } from './reference.js';
import { MEDIA, RegistryError, newMeter, type Descriptor, type Meter, type RegistryClient, type Repo } from './registry.js';

export const SOCI = {
  indexDigestAnnotation: 'com.amazon.soci.index-digest',
  layerDigestAnnotation: 'com.amazon.soci.image-layer-digest',
  imageManifestAnnotation: 'com.amazon.soci.image-manifest-digest',
  v1: 'application/vnd.amazon.soci.index.v1+json',
  v2: 'application/vnd.amazon.soci.index.v2+json',
  ztoc: 'application/octet-stream',
  defaultMinLayerSize: 10 << 20,
} as const;

/** v2: lazy-loadable; v1-only: soci ignores it by default; none; invalid: an index that does not fit the image. */
export type IndexState = 'v2' | 'v1-only' | 'none' | 'invalid' | 'no-platform';

export interface Coverage {
  layers: number;
  indexedLayers: number;
  bytes: number;
  indexedBytes: number;
  largestUnindexed?: { digest: string; size: number };
}

export interface PlatformReport {
  platform: string;
  index: IndexState;
  manifestDigest?: string;
  /** the SOCI index (v2), or the v1 indexes found */
  indexDigests: string[];
  /** how v1 indexes were found */
  via?: 'referrers API' | 'tag schema';
  coverage?: Coverage;
  problems: string[];
}

export interface ImageReport {
  ref: ImageRef;
  /** digest of what the reference named when checked */
  digest?: string;
  mutable: boolean;
  platforms: PlatformReport[];
  error?: { kind: RegistryError['kind']; message: string };
  fetched: Meter;
}

const IMAGE_MANIFESTS = new Set<string>([MEDIA.ociManifest, MEDIA.dockerManifest]);
const INDEXES = new Set<string>([MEDIA.ociIndex, MEDIA.dockerList]);

function coverage(layers: Descriptor[], indexed: Set<string>): Coverage {
  const c: Coverage = { layers: layers.length, indexedLayers: 0, bytes: 0, indexedBytes: 0 };
  for (const l of layers) {
    c.bytes += l.size;
    if (indexed.has(l.digest)) {
      c.indexedLayers++;
      c.indexedBytes += l.size;
    } else if (!c.largestUnindexed || l.size > c.largestUnindexed.size) {
      c.largestUnindexed = { digest: l.digest, size: l.size };
    }
  }
  return c;
}

/** The image layers a SOCI index manifest has zTOCs for, and zTOCs that name no layer of the image. */
function ztocLayers(index: Record<string, unknown>, layers: Descriptor[]): { indexed: Set<string>; strays: string[] } {
  const own = new Set(layers.map((l) => l.digest));
  const indexed = new Set<string>();
  const strays: string[] = [];
  for (const z of (index.layers as Descriptor[] | undefined) ?? []) {
    if (z.mediaType !== SOCI.ztoc) continue; // prefetch artifacts
    const layer = z.annotations?.[SOCI.layerDigestAnnotation];
    if (layer && own.has(layer)) indexed.add(layer);
    else strays.push(`zTOC ${z.digest} names layer ${layer ?? '(no annotation)'}, which is not a layer of this image`);
  }
  return { indexed, strays };
}

async function checkManifest(client: RegistryClient, repo: Repo, platform: string, digest: string, manifest: Record<string, unknown>, meter: Meter): Promise<PlatformReport> {
  const layers = (manifest.layers as Descriptor[] | undefined) ?? [];
  const annotations = (manifest.annotations as Record<string, string> | undefined) ?? {};
  const indexDigest = annotations[SOCI.indexDigestAnnotation];
  const report: PlatformReport = { platform, index: 'none', manifestDigest: digest, indexDigests: [], problems: [] };
  if (indexDigest) {
    report.indexDigests = [indexDigest];
    let index: Record<string, unknown>;
    try {
      index = (await client.manifest(repo, indexDigest, meter)).json;
    } catch (e) {
      if (!(e instanceof RegistryError) || e.kind !== 'not-found') throw e;
      return { ...report, index: 'invalid', coverage: coverage(layers, new Set()), problems: [`the manifest names SOCI index ${indexDigest}, which the repository does not have`] };
    }
    const configType = (index.config as Descriptor | undefined)?.mediaType;
    if (configType !== SOCI.v2) {
      return { ...report, index: 'invalid', coverage: coverage(layers, new Set()), problems: [`${indexDigest} is not a SOCI index manifest v2 (config mediaType ${configType ?? 'missing'})`] };
    }
    const { indexed, strays } = ztocLayers(index, layers);
    return { ...report, index: strays.length ? 'invalid' : 'v2', coverage: coverage(layers, indexed), problems: strays };
  }
  // No v2 index: is there a v1 index, which soci >= 0.10 ignores by default?
  const v1 = await client.referrers(repo, digest, SOCI.v1, meter);
  if (v1.descriptors.length === 0) return { ...report, coverage: coverage(layers, new Set()) };
  const newest = v1.descriptors[v1.descriptors.length - 1]!;
  const { indexed } = ztocLayers((await client.manifest(repo, newest.digest, meter)).json, layers);
  return { ...report, index: 'v1-only', indexDigests: v1.descriptors.map((d) => d.digest), via: v1.via, coverage: coverage(layers, indexed) };
}

/**
 * Checks one image for the given platforms (all the image has when `wanted` is undefined).
 * Registry failures end this image's check with one error; other images go on.
 */
export async function checkImage(client: RegistryClient, ref: ImageRef, wanted: Platform[] | undefined): Promise<ImageReport> {
  const meter = newMeter();
  const repo: Repo = { registry: ref.registry, repository: ref.repository };
  const report: ImageReport = { ref, mutable: ref.digest === undefined, platforms: [], fetched: meter };
  try {
    const top = await client.manifest(repo, ref.digest ?? ref.tag!, meter);
    report.digest = top.digest;
    if (INDEXES.has(top.mediaType)) {
      const entries = (top.json.manifests as Descriptor[] | undefined) ?? [];
      // Images only: not SOCI indexes nor attestations (platform unknown/unknown). A SOCI index is known by
      // its artifactType, or by the annotation soci convert also puts on its descriptor
      // (com.amazon.soci.image-manifest-digest, soci_convert.go annotateImages): copies made by older clients
      // lose artifactType (skopeo 1.9.3, Debian 12, rewrites the index without it).
      const images = entries.filter(
        (d) => IMAGE_MANIFESTS.has(d.mediaType) && !d.artifactType && !d.annotations?.[SOCI.imageManifestAnnotation] && d.platform && d.platform.os !== 'unknown',
      );
      const targets = wanted ?? dedupe(images.map((d) => d.platform!));
      report.platforms = await Promise.all(
        targets.map(async (p) => {
          const desc = images.find((d) => platformMatches(d.platform!, p));
          if (!desc) return { platform: platformText(p), index: 'no-platform' as const, indexDigests: [], problems: [`${canonical(ref)} has no ${platformText(p)} image`] };
          const m = await client.manifest(repo, desc.digest, meter);
          return checkManifest(client, repo, platformText(p), m.digest, m.json, meter);
        }),
      );
    } else if (IMAGE_MANIFESTS.has(top.mediaType)) {
      // A single-platform image: its platform is in the config blob (a few KB, never a layer).
      const config = await client.configBlob(repo, top.json.config as Descriptor, meter);
      const own: Platform = { os: String(config.os ?? ''), architecture: String(config.architecture ?? ''), ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
      const targets = wanted ?? [own];
      for (const p of targets) {
        report.platforms.push(
          platformMatches(own, p)
            ? await checkManifest(client, repo, platformText(p), top.digest, top.json, meter)
            : { platform: platformText(p), index: 'no-platform', indexDigests: [], problems: [`${canonical(ref)} is a ${platformText(own)} image only`] },
        );
      }
    } else {
      throw new RegistryError('bad-response', `${canonical(ref)}: not an image (mediaType ${top.mediaType || 'missing'})`);
    }
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    report.error = { kind: e.kind, message: e.message };
    report.platforms = [];
  }
  return report;
}

function dedupe(ps: Platform[]): Platform[] {
  const seen = new Map<string, Platform>();
  for (const p of ps) if (!seen.has(platformText(p))) seen.set(platformText(p), p);
  return [...seen.values()];
}
