// A script too big for user data as it stands, carried in a small plain-text bash wrapper that
// unpacks and runs it. Every path that must shrink install.sh uses this one wrapper (user data,
// eksctl's preBootstrapCommands): the wrapper is 7-bit text, so it survives tools that re-serialize
// MIME parts and drop their Content-Transfer-Encoding (Karpenter: archive.ts), where a base64 part
// would not. Needs only bash, mktemp, base64 and gunzip, which every AL2023 node has.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { InternalError } from '../errors.js';

// Not a base64 line ("_" is not in its alphabet), so it cannot end the heredoc early.
const DELIMITER = 'SOCI_INSTALLER_EOF';

/**
 * The wrapper: `bash wrapper` unpacks the script into a temporary file and runs it with bash.
 * `summary` (comment lines, printable ASCII) says what the packed script does.
 */
export function selfExtractingScript(generatorVersion: string, script: string, summary: string[]): string {
  if (summary.some((l) => !/^[\x20-\x7e]*$/.test(l))) throw new InternalError('a summary line of the self-extracting wrapper is not printable ASCII');
  // mtime 0 in the gzip header (Node's default) keeps the bytes stable.
  const b64 = gzipSync(script, { level: 9 }).toString('base64').replace(/.{76}/g, '$&\n').replace(/\n$/, '');
  const sha256 = createHash('sha256').update(script).digest('hex');
  return [
    '#!/bin/bash',
    // The marker line merge.ts recognises as ours (second line).
    `# soci-installer ${generatorVersion}: install.sh, gzipped and base64-encoded to fit EC2's user data limit.`,
    `# Unpacked, it is the install.sh that render writes beside this (sha256 ${sha256}): base64 -d | gunzip to read it.`,
    ...summary.map((l) => `# ${l}`),
    'set -euo pipefail',
    'script=$(mktemp)',
    'trap \'rm -f "$script"\' EXIT',
    `base64 -d <<'${DELIMITER}' | gunzip >"$script"`,
    b64,
    DELIMITER,
    'bash "$script"',
    '',
  ].join('\n');
}
