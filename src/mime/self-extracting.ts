// A script too big for user data as it stands, carried in a small plain-text bash wrapper that
// unpacks and runs it. Every path that must shrink install.sh uses this one wrapper (user data,
// eksctl's preBootstrapCommands): the wrapper is 7-bit text, so it survives tools that re-serialize
// MIME parts and drop their Content-Transfer-Encoding (Karpenter: archive.ts), where a base64 part
// would not. Needs only bash, mktemp, base64 and gunzip, which every AL2023 node has.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { InternalError } from '../errors.js';
import { GENERATOR_VERSION } from '../version.js';

// Not a base64 line ("_" is not in its alphabet), so it cannot end the heredoc early.
const DELIMITER = 'SOCI_INSTALLER_EOF';
const PRINTABLE = /^[\x20-\x7e]*$/;
const UNPACK = `base64 -d <<'${DELIMITER}' | gunzip >"$script"`;
// The marker line merge.ts recognises as ours (second line).
const marker = (generatorVersion: string) => `# soci-installer ${generatorVersion}: install.sh, gzipped and base64-encoded to fit EC2's user data limit.`;
const unpackedLine = (sha256: string) => `# Unpacked, it is the install.sh that render writes beside this (sha256 ${sha256}): base64 -d | gunzip to read it.`;

/**
 * The wrapper: `bash wrapper` unpacks the script into a temporary file and runs it with bash.
 * `summary` (comment lines, printable ASCII) says what the packed script does.
 */
export function selfExtractingScript(generatorVersion: string, script: string, summary: string[]): string {
  if (summary.some((l) => !PRINTABLE.test(l))) throw new InternalError('a summary line of the self-extracting wrapper is not printable ASCII');
  // mtime 0 in the gzip header (Node's default) keeps the bytes stable on one machine; another zlib may
  // write other bytes for the same script, so the wrapper is recognised by the script it carries.
  const b64 = gzipSync(script, { level: 9 }).toString('base64').replace(/.{76}/g, '$&\n').replace(/\n$/, '');
  return wrapper(generatorVersion, createHash('sha256').update(script).digest('hex'), summary, b64);
}

function wrapper(generatorVersion: string, sha256: string, summary: string[], b64: string): string {
  return [
    '#!/bin/bash',
    marker(generatorVersion),
    unpackedLine(sha256),
    ...summary.map((l) => `# ${l}`),
    'set -euo pipefail',
    'script=$(mktemp)',
    'trap \'rm -f "$script"\' EXIT',
    UNPACK,
    b64,
    DELIMITER,
    'bash "$script"',
    '',
  ].join('\n');
}

/**
 * The script a wrapper carries: undefined where the text does not start with the wrapper's first three
 * lines; intact where its payload unpacks to the script of the sha256 its comment names and, for a
 * wrapper of this version, every line but the base64 ones is as selfExtractingScript writes it (another
 * version's wrapper is that version's, as its script is). The gzip bytes themselves are not compared:
 * they differ between zlib builds.
 */
export function selfExtractingPayload(text: string): { script: string; intact: boolean } | undefined {
  const lines = text.split('\n');
  const version = /^# soci-installer (\d+\.\d+\.\d+): /.exec(lines[1] ?? '')?.[1];
  const sha256 = /\(sha256 ([0-9a-f]{64})\)/.exec(lines[2] ?? '')?.[1];
  if (lines[0] !== '#!/bin/bash' || version === undefined || lines[1] !== marker(version) || sha256 === undefined || lines[2] !== unpackedLine(sha256)) return undefined;
  const start = lines.indexOf(UNPACK);
  const end = lines.indexOf(DELIMITER, start + 1);
  const summary = lines.slice(3, lines.indexOf('set -euo pipefail')).map((l) => l.replace(/^# /, ''));
  const b64 = lines.slice(start + 1, end);
  try {
    const packed = gunzipSync(Buffer.from(b64.join(''), 'base64'));
    const intact =
      start > 0 &&
      end > start &&
      b64.every((l) => /^[A-Za-z0-9+/]+=*$/.test(l)) &&
      summary.every((l) => PRINTABLE.test(l)) &&
      createHash('sha256').update(packed).digest('hex') === sha256 &&
      (version !== GENERATOR_VERSION || wrapper(version, sha256, summary, b64.join('\n')) === text);
    return { script: packed.toString('utf8'), intact };
  } catch {
    return { script: '', intact: false };
  }
}
