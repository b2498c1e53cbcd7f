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
import { canonical, isDigest, platformMatches, platformText, type ImageRef, type Platform } from './reference.js';
import { MEDIA, RegistryError, newMeter, type Descriptor, type Manifest, type Meter, type RegistryClient, type Repo } from './registry.js';

export const SOCI = {
  indexDigestAnnotation: 'com.amazon.soci.index-digest',
  layerDigestAnnotation: 'com.amazon.soci.image-layer-digest',
  imageManifestAnnotation: 'com.amazon.soci.image-manifest-digest',
  v1: 'application/vnd.amazon.soci.index.v1+json',
  v2: 'application/vnd.amazon.soci.index.v2+json',
  ztoc: 'application/octet-stream',
  defaultMinLayerSize: 10 << 20,
} as const;

/**
 * v2: lazy-loadable; v1-only: soci ignores it by default; none; invalid: an index that does not fit the image;
 * no-platform: no image for the platform; not-an-image: what containerd would pull for the platform is not an image.
 */
export type IndexState = 'v2' | 'v1-only' | 'none' | 'invalid' | 'no-platform' | 'not-an-image';

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
function ztocLayers(index: Manifest, layers: Descriptor[]): { indexed: Set<string>; strays: string[] } {
  const own = new Set(layers.map((l) => l.digest));
  const indexed = new Set<string>();
  const strays: string[] = [];
  for (const z of index.layers) {
    if (z.mediaType !== SOCI.ztoc) continue; // prefetch artifacts
    const layer = z.annotations?.[SOCI.layerDigestAnnotation];
    if (layer && own.has(layer)) indexed.add(layer);
    else strays.push(`zTOC ${z.digest} names layer ${layer ?? '(no annotation)'}, which is not a layer of this image`);
  }
  return { indexed, strays };
}

/** What the checks of one image share: the client, the repository, the image's meter, and whether v1 indexes matter. */
interface ImageCheck {
  client: RegistryClient;
  repo: Repo;
  meter: Meter;
  /**
   * Look for a v1 index where there is no v2 one: only where the mode loads lazily. Elsewhere every image
   * is pulled in parallel whatever indexes it has, and the lookup would only spend requests that registries
   * rate-limit (Docker Hub counts GETs of manifests against its pull limit).
   */
  lookForV1: boolean;
}

/**
 * The blobs of a SOCI index that soci could not fetch, one problem each. soci fetches every blob the index
 * lists (zTOCs and prefetch artifacts) before it mounts the image's first layer, and one it cannot fetch
 * fails the whole index: ErrNoIndex, and the image is pulled as one without an index (containerd's pull,
 * or soci's parallel pull where that is on) (fs/artifact_fetcher.go FetchSociArtifacts, fs/fs.go
 * sociContext.Init, snapshot/snapshot.go Prepare, at v0.15.0 7716bd67). A blob whose size differs from its
 * descriptor fails too (oras-go v2.6.2, soci's, registry/remote/repository.go blobStore.Fetch: "mismatch
 * Content-Length"). Asked by HEAD (a one-byte GET where the registry refuses HEAD: registry.ts blobSize), all at once under the client's bound: never the bytes.
 */
async function unfetchableBlobs({ client, repo, meter }: ImageCheck, index: Manifest): Promise<string[]> {
  const CONSEQUENCE = 'soci fetches every blob of the SOCI index before it mounts the image, and uses no index for the image when one fails';
  const name = (b: Descriptor) => (b.mediaType === SOCI.ztoc ? `zTOC ${b.digest} (layer ${b.annotations?.[SOCI.layerDigestAnnotation] ?? 'not named'})` : `blob ${b.digest} (${b.mediaType})`);
  const blobs = [...new Map(index.layers.map((b) => [`${b.digest} ${b.size}`, b])).values()];
  const found = await Promise.all(blobs.map((b) => (isDigest(b.digest) ? client.blobSize(repo, b.digest, meter) : Promise.resolve('not a digest' as const))));
  return blobs.flatMap((b, i) => {
    const size = found[i];
    if (size === 'not a digest') return [`${name(b)} is not a digest soci can fetch: ${CONSEQUENCE}`];
    if (size === 'missing') return [`${name(b)} is not in the repository: ${CONSEQUENCE}`];
    if (size !== undefined && size !== b.size) return [`${name(b)} is ${size} bytes in the repository, not the ${b.size} the SOCI index says: ${CONSEQUENCE}`];
    return [];
  });
}

/** A SOCI index, not an image: by its descriptor (artifactType, soci convert's annotation) or its config. */
function isSociIndex(desc: Descriptor | undefined, manifest?: Manifest): boolean {
  const types: string[] = [SOCI.v1, SOCI.v2];
  return (
    (desc !== undefined && ((desc.artifactType !== undefined && types.includes(desc.artifactType)) || desc.annotations?.[SOCI.imageManifestAnnotation] !== undefined)) ||
    (manifest?.config !== undefined && types.includes(manifest.config.mediaType))
  );
}

async function checkManifest(c: ImageCheck, platform: string, manifest: Manifest): Promise<PlatformReport> {
  const { client, repo, meter } = c;
  const layers = manifest.layers;
  const indexDigest = manifest.annotations[SOCI.indexDigestAnnotation];
  const report: PlatformReport = { platform, index: 'none', manifestDigest: manifest.digest, indexDigests: [], problems: [] };
  if (indexDigest !== undefined) {
    report.indexDigests = [indexDigest];
    const invalid = (...problems: string[]): PlatformReport => ({ ...report, index: 'invalid', coverage: coverage(layers, new Set()), problems });
    // soci parses the annotation as a digest and fetches the index by it (fs/fs.go parseIndexDigest at v0.15.0).
    if (!isDigest(indexDigest)) return invalid(`the manifest's ${SOCI.indexDigestAnnotation} annotation, ${JSON.stringify(indexDigest)}, is not a digest: soci cannot fetch a SOCI index from it`);
    let index: Manifest;
    try {
      index = await client.manifest(repo, indexDigest, meter);
    } catch (e) {
      if (!(e instanceof RegistryError) || e.kind !== 'not-found') throw e;
      return invalid(`the manifest names SOCI index ${indexDigest}, which the repository does not have`);
    }
    // soci decodes what the annotation names by its config mediaType, v1 or v2 alike, and uses it
    // (soci/soci_index.go fromManifest; fs/fs.go findSociIndexDesc checks nothing more, at v0.15.0).
    const configType = index.config?.mediaType;
    if (configType !== SOCI.v2 && configType !== SOCI.v1) return invalid(`${indexDigest} is not a SOCI index (config mediaType ${configType ?? 'missing'})`);
    const unfetchable = await unfetchableBlobs(c, index);
    if (unfetchable.length) return invalid(...unfetchable);
    const { indexed, strays } = ztocLayers(index, layers);
    const cov = coverage(layers, indexed);
    // Layers without a zTOC are fetched whole (fs/fs.go Mount: ErrNoZtoc): an index of none of them loads nothing lazily.
    if (indexed.size === 0 && strays.length === 0 && layers.length > 0) return { ...report, index: 'invalid', coverage: cov, problems: [`SOCI index ${indexDigest} has no zTOC, for any layer`] };
    const v1Format = configType === SOCI.v1 ? [`SOCI index ${indexDigest} is in the v1 format (config mediaType ${SOCI.v1}); soci uses it through the annotation all the same`] : [];
    return { ...report, index: strays.length ? 'invalid' : 'v2', coverage: cov, problems: [...strays, ...v1Format] };
  }
  if (!c.lookForV1) return { ...report, coverage: coverage(layers, new Set()) };
  // No v2 index: is there a v1 index, which soci >= 0.10 ignores by default? Only a hint for the message:
  // a registry that cannot answer this does not change the verdict.
  try {
    const v1 = await client.referrers(repo, manifest.digest, SOCI.v1, meter);
    const problems = v1.incomplete ? [v1.incomplete] : [];
    if (v1.descriptors.length === 0) return { ...report, coverage: coverage(layers, new Set()), problems };
    const newest = v1.descriptors[v1.descriptors.length - 1]!;
    const { indexed } = ztocLayers(await client.manifest(repo, newest.digest, meter), layers);
    return { ...report, index: 'v1-only', indexDigests: v1.descriptors.map((d) => d.digest), via: v1.via, coverage: coverage(layers, indexed), problems };
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    return { ...report, coverage: coverage(layers, new Set()), problems: [`could not look for a v1 SOCI index: ${e.message}`] };
  }
}

/**
 * The entry of an image index that a node of platform `p` pulls: containerd keeps the entries that match
 * the platform and takes the first, in the index's order (containerd v2.2.4 core/images/handlers.go
 * FilterPlatforms + LimitManifests with limit 1, a stable sort; v1.7.27 images/handlers.go the same).
 * A SOCI index has its image's platform, so it must come after the image: soci convert appends it
 * (soci/soci_convert.go addSociIndexes at v0.15.0).
 */
function entryFor(entries: Descriptor[], p: Platform): Descriptor | undefined {
  return entries.find((d) => IMAGE_MANIFESTS.has(d.mediaType) && d.platform !== undefined && platformMatches(d.platform, p));
}

async function checkEntry(c: ImageCheck, ref: ImageRef, entries: Descriptor[], p: Platform): Promise<PlatformReport> {
  const platform = platformText(p);
  const desc = entryFor(entries, p);
  if (!desc) return { platform, index: 'no-platform', indexDigests: [], problems: [`${canonical(ref)} has no ${platform} image`] };
  const m = isSociIndex(desc) ? undefined : await c.client.manifest(c.repo, desc.digest, c.meter);
  if (m && !isSociIndex(undefined, m)) return checkManifest(c, platform, m);
  const image = entries.find((d) => IMAGE_MANIFESTS.has(d.mediaType) && d.platform !== undefined && platformMatches(d.platform, p) && d !== desc && !isSociIndex(d));
  return {
    platform,
    index: 'not-an-image',
    manifestDigest: desc.digest,
    indexDigests: [],
    problems: [
      `the image index lists ${desc.digest} (a SOCI index, not an image) as its first ${platform} entry: containerd pulls the first entry that matches the platform, so nodes would pull the SOCI index instead of the image${image ? ` ${image.digest}` : ''}; list the images first, as soci convert writes the index`,
    ],
  };
}

/**
 * Checks one image for the given platforms (all the image has when `wanted` is undefined).
 * Registry failures end this image's check with one error; other images go on.
 */
export async function checkImage(client: RegistryClient, ref: ImageRef, wanted: Platform[] | undefined, opts: { lookForV1: boolean }): Promise<ImageReport> {
  const meter = newMeter();
  const repo: Repo = { registry: ref.registry, repository: ref.repository };
  const c: ImageCheck = { client, repo, meter, lookForV1: opts.lookForV1 };
  const report: ImageReport = { ref, mutable: ref.digest === undefined, platforms: [], fetched: meter };
  try {
    const top = await client.manifest(repo, ref.digest ?? ref.tag!, meter);
    report.digest = top.digest;
    if (INDEXES.has(top.mediaType)) {
      // The platforms it has: of its images, not of SOCI indexes nor attestations (platform unknown/unknown).
      // A SOCI index is known by its artifactType, or by the annotation soci convert also puts on its
      // descriptor (com.amazon.soci.image-manifest-digest, soci_convert.go annotateImages): copies made by
      // older clients lose artifactType (skopeo 1.9.3, Debian 12, rewrites the index without it).
      const images = top.manifests.filter((d) => IMAGE_MANIFESTS.has(d.mediaType) && !isSociIndex(d) && d.platform && d.platform.os !== 'unknown');
      const targets = wanted ?? dedupe(images.map((d) => d.platform!));
      report.platforms = await Promise.all(targets.map((p) => checkEntry(c, ref, top.manifests, p)));
    } else if (IMAGE_MANIFESTS.has(top.mediaType)) {
      // A single-platform image: its platform is in the config blob (a few KB, never a layer).
      if (!top.config) throw new RegistryError('bad-response', `${canonical(ref)}: an image manifest without a config`);
      const config = await client.configBlob(repo, top.config, meter);
      const own: Platform = { os: String(config.os ?? ''), architecture: String(config.architecture ?? ''), ...(typeof config.variant === 'string' ? { variant: config.variant } : {}) };
      const targets = wanted ?? [own];
      for (const p of targets) {
        report.platforms.push(
          platformMatches(own, p)
            ? await checkManifest(c, platformText(p), top)
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
