// Multipart MIME for EC2 user data: one builder and one parser. Fixed boundary and LF line ends,
// so the output is byte-stable. Every part we write is plain 7-bit text with no
// Content-Transfer-Encoding: Karpenter parses custom user data and writes each part back with only its
// Content-Type header (aws/karpenter-provider-aws pkg/providers/amifamily/bootstrap/mime/mime.go,
// Archive.Serialize, at 1d927085), so a base64 part would reach cloud-init still encoded. Whatever is
// too big travels in a plain-text shell wrapper instead (self-extracting.ts). base64 appears only at
// the EC2 API boundary.
import { InternalError } from '../errors.js';

import { gunzipSync } from 'node:zlib';

export const CONTENT_TYPES = {
  shell: 'text/x-shellscript; charset="us-ascii"',
  nodeConfig: 'application/node.eks.aws',
  // Read only: earlier versions sent the script as a gzip part (base64), which merge.ts recognises.
  gzip: 'application/x-gzip',
} as const;

export interface Part {
  contentType: string;
  /** The part's text (parseMime decodes base64 and gzip parts it reads). */
  body: string;
}

export const BOUNDARY = '==SOCI-INSTALLER-BOUNDARY==';
// RFC 2046 boundary characters.
const BOUNDARY_CHARS = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/** Whether text can be a part as it stands: 7-bit, no NUL (CRs are dropped: LF line ends). */
export function isPlainText(text: string): boolean {
  return !/[^\x01-\x7f]/.test(text);
}

export function buildMime(parts: Part[], boundary = BOUNDARY): string {
  if (!BOUNDARY_CHARS.test(boundary)) throw new InternalError(`invalid MIME boundary ${JSON.stringify(boundary)}`);
  // A part that holds the boundary (a profile URL can) gets a numbered one that no part holds.
  let chosen = boundary;
  for (let n = 1; parts.some((p) => p.body.includes(`--${chosen}`)); n++) chosen = `${boundary}${n}`;
  const lines = ['MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${chosen}"`, ''];
  for (const part of parts) {
    if (!isPlainText(part.body)) throw new InternalError('MIME parts are plain 7-bit text: a NUL or non-ASCII character reached one');
    // The line break before a boundary belongs to the boundary (RFC 2046): the body keeps its own.
    lines.push(`--${chosen}`, `Content-Type: ${part.contentType}`, 'MIME-Version: 1.0', '', part.body.replace(/\r/g, ''));
  }
  lines.push(`--${chosen}--`, '');
  return lines.join('\n');
}

/**
 * Reads a multipart document back into parts: plain parts, and base64 ones (decoded, gzip ones also
 * gunzipped; the content type stays). Throws on anything else (quoted-printable, a missing end).
 */
export function parseMime(text: string): Part[] {
  const src = text.replace(/\r\n/g, '\n');
  const headerEnd = src.indexOf('\n\n');
  if (headerEnd < 0) throw new Error('not a MIME document: no blank line after the headers');
  const headers = parseHeaders(src.slice(0, headerEnd));
  const ct = headers.get('content-type') ?? '';
  const m = /boundary="?([^";]+)"?/i.exec(ct);
  if (!/^multipart\//i.test(ct) || !m) throw new Error('not a multipart document');
  const boundary = m[1]!;
  const body = src.slice(headerEnd + 2);
  const close = body.indexOf(`\n--${boundary}--`);
  const inner = close >= 0 ? body.slice(0, close) : body.startsWith(`--${boundary}--`) ? '' : null;
  if (inner === null) throw new Error(`no closing boundary --${boundary}--`);
  const chunks = `\n${inner}`.split(`\n--${boundary}\n`).slice(1);
  return chunks.map((chunk) => {
    const end = chunk.indexOf('\n\n');
    const h = parseHeaders(end < 0 ? chunk : chunk.slice(0, end));
    let partBody = end < 0 ? '' : chunk.slice(end + 2);
    const contentType = h.get('content-type') ?? 'text/plain';
    const encoding = (h.get('content-transfer-encoding') ?? '').toLowerCase();
    if (!['', '7bit', '8bit', 'binary', 'base64'].includes(encoding)) throw new Error(`a part has Content-Transfer-Encoding ${encoding}, which soci-installer does not read`);
    if (encoding === 'base64') {
      let bytes = Buffer.from(partBody.replace(/\s+/g, ''), 'base64');
      if (contentType === CONTENT_TYPES.gzip) bytes = gunzipSync(bytes);
      partBody = bytes.toString('utf8');
    }
    return { contentType, body: partBody };
  });
}

function parseHeaders(block: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of block.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}
