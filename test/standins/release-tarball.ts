// Builds a soci-snapshotter release tarball the way the real release assets are named and laid out
// (https://github.com/awslabs/soci-snapshotter/releases/download/v<V>/<file>):
//   soci-snapshotter-<V>-linux-<arch>[-static].tar.gz   soci-snapshotter-grpc, soci, THIRD_PARTY_LICENSES, NOTICE.md
//   <file>.sha256sum                                     the `sha256sum <file>` line
// The two programs in it are the REAL v0.15.0 binaries (.cache/upstream/bin, built from the v0.15.0
// tag); only the packaging is ours. So the only version it can be is 0.15.0, for amd64.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { upstreamBin } from '../support/upstream.js';
import { tar } from './lib/pause-image.mjs';

export interface ReleaseTarball {
  /** version without the leading v: "0.15.0" */
  version: string;
  /** the tarball's file name, e.g. soci-snapshotter-0.12.1-linux-amd64.tar.gz */
  name: string;
  /** absolute paths of the tarball and its .sha256sum file */
  file: string;
  sha256sumFile: string;
  /** hex sha256 of the tarball */
  sha256: string;
  /** path of the release as on GitHub: v<V>/<name> (append to a base URL) */
  urlPath: string;
}

export interface ReleaseTarballOptions {
  version: string;
  arch?: 'amd64' | 'arm64';
  static?: boolean;
}

/** Writes the tarball and its .sha256sum into dir (created if needed). Byte-for-byte reproducible. */
export function buildReleaseTarball(dir: string, opts: ReleaseTarballOptions): ReleaseTarball {
  const version = opts.version.replace(/^v/, '');
  const arch = opts.arch ?? 'amd64';
  const name = `soci-snapshotter-${version}-linux-${arch}${opts.static ? '-static' : ''}.tar.gz`;
  if (version !== '0.15.0' || arch !== 'amd64') throw new Error(`buildReleaseTarball: only the real v0.15.0 amd64 binaries exist here, not ${version} ${arch}`);
  const archive = tar([
    { name: 'soci-snapshotter-grpc', content: fs.readFileSync(upstreamBin('soci-snapshotter-grpc')), mode: 0o755 },
    { name: 'soci', content: fs.readFileSync(upstreamBin('soci')), mode: 0o755 },
    { name: 'THIRD_PARTY_LICENSES', content: 'Test repackaging of soci-snapshotter v0.15.0 built from source (see ../shared/upstream/README.md).\n', mode: 0o644 },
    { name: 'NOTICE.md', content: 'soci-snapshotter v0.15.0, built from the v0.15.0 tag; repackaged for tests.\n', mode: 0o644 },
  ]);
  const gz = zlib.gzipSync(archive, { level: 1 });
  // gzip's header carries an mtime and OS byte; zero them for reproducible bytes
  gz.writeUInt32LE(0, 4);
  gz[9] = 3;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.resolve(dir, name);
  fs.writeFileSync(file, gz);
  const sha256 = crypto.createHash('sha256').update(gz).digest('hex');
  const sha256sumFile = `${file}.sha256sum`;
  fs.writeFileSync(sha256sumFile, `${sha256}  ${name}\n`);
  return { version, name, file, sha256sumFile, sha256, urlPath: `v${version}/${name}` };
}
