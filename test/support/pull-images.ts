/**
 * The images our pull tests and the pull bench push to the test node's registry (test/harness/registry.ts),
 * built with test/support/oci-image.ts and cached under .cache/oci-images/ (same spec, same bytes). Each
 * exists twice: as built (what lazy-with-fallback must pull by parallel pull) and made SOCI-enabled by the
 * real `soci convert --standalone` (v0.15.0, index manifest v2). They run Debian's static busybox.
 *
 * API:
 *   interface CachedImage { dir: string; manifestDigest: string; layers: {digest, size}[]; bytes: number }
 *   interface PullImage { name; plain: CachedImage; soci: CachedImage & {sociIndexDigest, ztocLayers};
 *                         expectedOutput: string; lazyLayer: {digest, size} }
 *   smallImage(variant?): PullImage    3 layers (busybox 1.1 MB, a 32 MiB data layer that gets a zTOC, a
 *                                      tiny app layer); its command prints two small files; a variant has
 *                                      its own data and app layers (same busybox layer)
 *   bigImage(): PullImage              about 1 GiB: busybox and 8 layers of 32 files of 4 MiB (random, so
 *                                      it does not compress); its command reads 13 of the 256 files
 *                                      (52 MiB, about 5%) and prints their md5 sums. 1-3 minutes to build
 *                                      the first time.
 *   sociConvert(image, {minLayerSize?}): the SOCI-enabled layout (cached beside the image); layers under
 *                                      minLayerSize (soci's default 10 MiB) get no zTOC and are not lazy
 *   userDataFor(line: '1.7' | '2', mode): string   our user-data.mime for a mode
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { render } from '../../src/index.js';
import { REPO_ROOT, SETUP_HINT } from './exec.js';
import { seededBytes, writeOciLayout, type ImageFile, type LayerSpec, type PlatformSpec } from './oci-image.js';
import { upstreamBin } from './upstream.js';

export interface CachedImage {
  /** an OCI image layout directory (push it with skopeo copy --all oci:DIR) */
  dir: string;
  manifestDigest: string;
  layers: { digest: string; size: number }[];
  /** compressed size of all layers */
  bytes: number;
}

export type SociImage = CachedImage & { sociIndexDigest: string; ztocLayers: string[] };

export interface PullImage {
  /** repository name to push it as */
  name: string;
  plain: CachedImage;
  soci: SociImage;
  /** what the image's command prints */
  expectedOutput: string;
  /** the image's largest layer (it has a zTOC in the SOCI-enabled image) */
  lazyLayer: { digest: string; size: number };
}

const CACHE = path.join(REPO_ROOT, '.cache', 'oci-images');
const sha256 = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');

/** writeOciLayout, once per spec: the layout is kept under .cache/oci-images/<name>-<hash of the spec>. */
function cachedImage(name: string, spec: PlatformSpec): CachedImage {
  const h = crypto.createHash('sha256').update(JSON.stringify({ v: 1, arch: spec.architecture, cmd: spec.cmd }));
  for (const l of spec.layers) {
    h.update('\0layer');
    if ('seed' in l) h.update(JSON.stringify(l));
    else for (const f of l.files) h.update(JSON.stringify({ ...f, content: f.content === undefined ? undefined : sha256(Buffer.from(f.content)) }));
  }
  const dir = path.join(CACHE, `${name}-${h.digest('hex').slice(0, 16)}`);
  const done = path.join(dir, 'image.json');
  // The cache may have been filled from another clone or worktree sharing .cache: the layout is here.
  if (fs.existsSync(done)) return { ...(JSON.parse(fs.readFileSync(done, 'utf8')) as CachedImage), dir };
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const built = writeOciLayout(tmp, [spec]);
  const layers = built.manifests[0]!.layers.map((l) => ({ digest: l.digest, size: l.size }));
  const image: CachedImage = { dir, manifestDigest: built.top.digest, layers, bytes: layers.reduce((n, l) => n + l.size, 0) };
  fs.writeFileSync(path.join(tmp, 'image.json'), `${JSON.stringify(image, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return image;
}

/** The image made SOCI-enabled (index manifest v2) by the real `soci convert --standalone`; cached. */
export function sociConvert(image: CachedImage, opts: { minLayerSize?: number } = {}): SociImage {
  const min = opts.minLayerSize ?? 10 << 20;
  const dir = `${image.dir}-soci-${min}`;
  const done = path.join(dir, 'soci-image.json');
  if (fs.existsSync(done)) return { ...(JSON.parse(fs.readFileSync(done, 'utf8')) as SociImage), dir };

  const tmp = `${dir}.tmp-${process.pid}`;
  const root = `${tmp}-root`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const args = ['--root', root, 'convert', '--standalone', '--format', 'oci-dir', '--min-layer-size', String(min), image.dir, tmp];
  const r = spawnSync(upstreamBin('soci'), args, { encoding: 'utf8' });
  fs.rmSync(root, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`soci ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  // soci copies the input layout, our image.json included: it describes the input, not this
  fs.rmSync(path.join(tmp, 'image.json'), { force: true });
  // the layers are the input's: share them (hard links) instead of keeping the big image twice
  for (const l of image.layers) {
    const hex = l.digest.replace(/^sha256:/, '');
    const copy = path.join(tmp, 'blobs', 'sha256', hex);
    fs.rmSync(copy, { force: true });
    fs.linkSync(path.join(image.dir, 'blobs', 'sha256', hex), copy);
  }

  const blob = (digest: string) => JSON.parse(fs.readFileSync(path.join(tmp, 'blobs', 'sha256', digest.replace(/^sha256:/, '')), 'utf8'));
  const top = JSON.parse(fs.readFileSync(path.join(tmp, 'index.json'), 'utf8'));
  if (top.manifests?.length !== 1) throw new Error(`soci convert wrote ${top.manifests?.length} descriptors in ${tmp}/index.json, expected 1`);
  const index = blob(top.manifests[0].digest);
  const manifest = index.manifests?.find((m: any) => m.annotations?.['com.amazon.soci.index-digest']);
  if (!manifest) throw new Error(`soci convert: no manifest annotated com.amazon.soci.index-digest in ${top.manifests[0].digest}`);
  const sociIndexDigest: string = manifest.annotations['com.amazon.soci.index-digest'];
  const ztocLayers: string[] = blob(sociIndexDigest)
    .layers.map((l: any) => l.annotations?.['com.amazon.soci.image-layer-digest'])
    .filter(Boolean);
  const converted: SociImage = { ...image, dir, manifestDigest: manifest.digest, sociIndexDigest, ztocLayers };
  fs.writeFileSync(path.join(tmp, 'soci-image.json'), `${JSON.stringify(converted, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return converted;
}

/** Debian's static busybox (package busybox-static) as the image's /bin/busybox and /bin/sh. */
function busyboxLayer(): LayerSpec {
  const file = '/bin/busybox';
  let content: Buffer;
  try {
    content = fs.readFileSync(file);
  } catch {
    throw new Error(`${file} not found (Debian package busybox-static): ${SETUP_HINT}`);
  }
  return { files: [{ path: '/bin/busybox', content, mode: 0o755 }, { path: '/bin/sh', symlink: 'busybox' }] };
}

function pullImage(name: string, plain: CachedImage, expectedOutput: string): PullImage {
  const lazyLayer = [...plain.layers].sort((a, b) => b.size - a.size)[0]!;
  return { name, plain, soci: sociConvert(plain), expectedOutput, lazyLayer };
}

export function smallImage(variant = ''): PullImage {
  const name = variant ? `small-${variant}` : 'small';
  const hello = `hello from a soci pull${variant ? ` (${variant})` : ''}\n`;
  const data = 'data layer file\n';
  const files: ImageFile[] = [
    { path: '/data/big.bin', random: { seed: `pull-${name}/big.bin`, bytes: 32 << 20 } },
    { path: '/data/a.txt', content: data },
  ];
  const plain = cachedImage(`pull-${name}`, {
    architecture: 'amd64',
    cmd: ['/bin/busybox', 'sh', '-c', 'cat /app/hello.txt /data/a.txt'],
    layers: [busyboxLayer(), { files }, { files: [{ path: '/app/hello.txt', content: hello }] }],
  });
  return pullImage(name, plain, hello + data);
}

const BIG = { layers: 8, filesPerLayer: 32, fileBytes: 4 << 20 };
const bigFile = (l: number, f: number) => `/data/l${l}/f${String(f).padStart(2, '0')}`;
const bigSeed = (p: string) => `pull-big${p}`;
/** what the big image's command reads: the first file of every layer and 5 more of the first (13 x 4 MiB) */
const BIG_READS = [...Array.from({ length: BIG.layers }, (_, l) => bigFile(l, 0)), ...[1, 2, 3, 4, 5].map((f) => bigFile(0, f))];

export function bigImage(): PullImage {
  const layers: LayerSpec[] = [busyboxLayer()];
  for (let l = 0; l < BIG.layers; l++) {
    layers.push({ files: Array.from({ length: BIG.filesPerLayer }, (_, f) => ({ path: bigFile(l, f), random: { seed: bigSeed(bigFile(l, f)), bytes: BIG.fileBytes } })) });
  }
  const plain = cachedImage('pull-big', { architecture: 'amd64', cmd: ['/bin/busybox', 'sh', '-c', `busybox md5sum ${BIG_READS.join(' ')}`], layers });
  const md5 = (p: string) => crypto.createHash('md5').update(seededBytes(bigSeed(p), BIG.fileBytes)).digest('hex');
  return pullImage('big', plain, BIG_READS.map((p) => `${md5(p)}  ${p}\n`).join(''));
}

export type Mode = 'lazy' | 'parallel' | 'lazy-with-parallel-fallback';

/**
 * Our user data for a mode, from a profile like the golden cases' (the AMI's soci, no registry auth; the
 * harness's IMDS appends the cluster's NodeConfig, as EKS does for managed node groups).
 */
export function userDataFor(line: '1.7' | '2', mode: Mode): string {
  const profile = `node: { kubernetesVersion: "${line === '1.7' ? '1.29' : '1.33'}", arch: x86_64 }\nsoci: { mode: ${mode}, source: ami, auth: none }\n`;
  return render(profile, `pull test (${mode}, containerd ${line})`).artifacts.find((a) => a.path === 'user-data.mime')!.content;
}
