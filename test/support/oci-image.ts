/**
 * Builds small container images as OCI image layouts on disk, deterministically: the same spec gives the
 * same bytes and digests on every machine and run (tar headers with mtime 0 and uid/gid 0, gzip without a
 * name or mtime, layer contents from a seeded generator). Real tools take the result as it is:
 * `soci convert --standalone DIR OUT` reads it, `skopeo copy --all oci:DIR docker://...` pushes it.
 *
 * Layout (OCI image-layout spec): oci-layout, index.json holding ONE descriptor (an image index when there
 * are several platforms, else the manifest), blobs/sha256/<hex>.
 *
 * API:
 *   interface LayerSpec { seed: string; bytes: number } | { files: ImageFile[] }
 *       one file /layer-<seed>.bin of `bytes` pseudo-random (incompressible) bytes: the gzipped layer is a
 *       little larger than `bytes`, so sizes can be put either side of soci's --min-layer-size;
 *       or the files listed, in order (parent directories added, owned by root, mtime 0)
 *   interface ImageFile { path: string; content?: Buffer | string; random?: { seed: string; bytes: number };
 *                         symlink?: string; mode?: number }     // absolute path; one of content, random, symlink
 *   interface PlatformSpec { architecture: 'amd64' | 'arm64'; os?: 'linux'; variant?: string; layers: LayerSpec[];
 *                            cmd?: string[] }    // cmd: the image config's Cmd (with Env PATH=/bin)
 *   interface Descriptor { mediaType: string; digest: string; size: number; platform?: {...} }
 *   interface BuiltImage {
 *     dir: string; top: Descriptor;           // what index.json names
 *     manifests: { platform: string; manifest: Descriptor; layers: Descriptor[] }[]   // platform "linux/amd64"
 *   }
 *   writeOciLayout(dir, platforms): BuiltImage      dir is created (must not exist or be empty)
 *   readBlob(dir, digest): Buffer                     a blob of a layout (for assertions)
 *   seededBytes(seed, n): Buffer                      the pseudo-random content of a seeded layer or file
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export type LayerSpec = { seed: string; bytes: number } | { files: ImageFile[] };

export interface ImageFile {
  /** absolute path in the image, e.g. /data/a.bin */
  path: string;
  content?: Buffer | string;
  /** pseudo-random content (seededBytes) */
  random?: { seed: string; bytes: number };
  /** a symlink to this target instead of a file */
  symlink?: string;
  mode?: number;
}

export interface PlatformSpec {
  architecture: 'amd64' | 'arm64';
  os?: 'linux';
  variant?: string;
  layers: LayerSpec[];
  /** the config's Cmd (an image to run); without it the config has no runtime settings */
  cmd?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface BuiltImage {
  dir: string;
  top: Descriptor;
  manifests: { platform: string; manifest: Descriptor; layers: Descriptor[] }[];
}

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Incompressible bytes from a seed: AES-256-CTR over zeros, keyed by sha256(seed). */
export function seededBytes(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(`oci-image:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(n)), cipher.final()]);
}

/** One ustar header block; every field that could vary between machines is fixed. */
function tarHeader(name: string, size: number, type: '0' | '2' | '5', mode = type === '5' ? 0o755 : 0o644, linkname = ''): Buffer {
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(linkname) > 100) throw new Error(`tar: name longer than 100 bytes: ${name}`);
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => h.write(s, off, len, 'ascii');
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0');
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12); // mtime
  put('        ', 148, 8); // checksum is computed with spaces here
  put(type, 156, 1);
  put(linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

function tarOf(files: { name: string; data: Buffer; mode?: number; symlink?: string }[]): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const f of files) {
    // parent directories first, once each
    const segs = f.name.split('/').slice(0, -1);
    for (let i = 1; i <= segs.length; i++) {
      const d = `${segs.slice(0, i).join('/')}/`;
      if (!dirs.has(d)) parts.push(tarHeader(d, 0, '5'));
      dirs.add(d);
    }
    if (f.symlink !== undefined) {
      parts.push(tarHeader(f.name, 0, '2', f.mode ?? 0o777, f.symlink));
      continue;
    }
    parts.push(tarHeader(f.name, f.data.length, '0', f.mode), f.data, Buffer.alloc((512 - (f.data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function layerTar(l: LayerSpec): Buffer {
  if ('seed' in l) return tarOf([{ name: `layer-${l.seed}.bin`, data: seededBytes(l.seed, l.bytes) }]);
  return tarOf(
    l.files.map((f) => {
      if (!f.path.startsWith('/')) throw new Error(`image paths are absolute: ${f.path}`);
      const data = f.random ? seededBytes(f.random.seed, f.random.bytes) : Buffer.from(f.content ?? '');
      return { name: f.path.replace(/^\/+/, ''), data, mode: f.mode, symlink: f.symlink };
    }),
  );
}

export function writeOciLayout(dir: string, platforms: PlatformSpec[]): BuiltImage {
  if (platforms.length === 0) throw new Error('writeOciLayout: at least one platform');
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer, mediaType: string): Descriptor => {
    const hex = sha256(data);
    writeFileSync(join(blobs, hex), data);
    return { mediaType, digest: `sha256:${hex}`, size: data.length };
  };
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));

  const manifests: BuiltImage['manifests'] = [];
  for (const p of platforms) {
    const os = p.os ?? 'linux';
    const diffIds: string[] = [];
    const layers: Descriptor[] = [];
    for (const l of p.layers) {
      const tar = layerTar(l);
      diffIds.push(`sha256:${sha256(tar)}`);
      layers.push(put(gzipSync(tar, { level: 1 }), OCI_LAYER_GZIP));
    }
    const config = put(
      json({ architecture: p.architecture, os, ...(p.variant ? { variant: p.variant } : {}), config: p.cmd ? { Env: ['PATH=/bin'], Cmd: p.cmd } : {}, rootfs: { type: 'layers', diff_ids: diffIds } }),
      OCI_CONFIG,
    );
    const manifest = put(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }), OCI_MANIFEST);
    const platform = { os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) };
    manifests.push({ platform: [os, p.architecture, p.variant].filter(Boolean).join('/'), manifest: { ...manifest, platform }, layers });
  }
  const top =
    manifests.length === 1
      ? manifests[0]!.manifest
      : put(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: manifests.map((m) => m.manifest) }), OCI_INDEX);
  const { platform: _p, ...topDesc } = top;
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [topDesc] }));
  return { dir, top: topDesc, manifests };
}

export function readBlob(dir: string, digest: string): Buffer {
  return readFileSync(join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
}
