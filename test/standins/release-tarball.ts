// Builds a soci-snapshotter release tarball TEST STAND-IN, named and laid out like the real release
// assets (https://github.com/awslabs/soci-snapshotter/releases/download/v<V>/<file>):
//   soci-snapshotter-<V>-linux-<arch>[-static].tar.gz   soci-snapshotter-grpc, soci, THIRD_PARTY_LICENSES, NOTICE.md
//   <file>.sha256sum                                     the `sha256sum <file>` line
// soci-snapshotter-grpc in it is the stand-in daemon (test/standins/lib/soci-snapshotter.mjs, present on
// every harness node) with this version baked in; soci only answers `--version`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { tar } from './lib/pause-image.mjs';

export interface ReleaseTarball {
  /** version without the leading v, e.g. "0.12.1" */
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

function revisionOf(version: string): string {
  return crypto.createHash('sha1').update(`soci-standin v${version}`).digest('hex');
}

/** Writes the tarball and its .sha256sum into dir (created if needed). Byte-for-byte reproducible. */
export function buildReleaseTarball(dir: string, opts: ReleaseTarballOptions): ReleaseTarball {
  const version = opts.version.replace(/^v/, '');
  const arch = opts.arch ?? 'amd64';
  const name = `soci-snapshotter-${version}-linux-${arch}${opts.static ? '-static' : ''}.tar.gz`;
  const daemon = [
    '#!/bin/sh',
    `# soci-snapshotter-grpc v${version} TEST STAND-IN from a stand-in release tarball.`,
    '# The code is /opt/standin-node/lib/soci-snapshotter.mjs on harness nodes.',
    `SOCI_STANDIN_VERSION=\${SOCI_STANDIN_VERSION:-v${version}}`,
    'export SOCI_STANDIN_VERSION',
    'exec /opt/standin-node/bin/node /opt/standin-node/lib/soci-snapshotter.mjs "$@"',
    '',
  ].join('\n');
  const cli = [
    '#!/bin/sh',
    `# soci CLI v${version} TEST STAND-IN: answers --version only.`,
    'case "$1" in',
    `  --version|-v|version) echo "soci version v${version} ${revisionOf(version)}" ;;`,
    '  *) echo "soci (test stand-in): only --version is implemented" >&2; exit 1 ;;',
    'esac',
    '',
  ].join('\n');
  const archive = tar([
    { name: 'soci-snapshotter-grpc', content: daemon, mode: 0o755 },
    { name: 'soci', content: cli, mode: 0o755 },
    { name: 'THIRD_PARTY_LICENSES', content: 'Test stand-in: no third-party code is included.\n', mode: 0o644 },
    { name: 'NOTICE.md', content: `soci-snapshotter v${version} test stand-in (not the real release).\n`, mode: 0o644 },
  ]);
  const gz = zlib.gzipSync(archive, { level: 9 });
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
