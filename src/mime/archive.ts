// Multipart MIME for EC2 user data: one builder and one parser. Fixed boundary and LF line ends,
// so the output is byte-stable; plain text here, base64 only at the EC2 API boundary.
import { InternalError } from '../errors.js';

import { gunzipSync } from 'node:zlib';

export const CONTENT_TYPES = {
  shell: 'text/x-shellscript; charset="us-ascii"',
  nodeConfig: 'application/node.eks.aws',
  // cloud-init gunzips such a part and runs what it holds by its first line (#!: a script).
  gzip: 'application/x-gzip',
} as const;

export interface Part {
  contentType: string;
  /** Text for 7bit parts; for base64 parts, the bytes to encode. */
  body: string | Buffer;
}

export const BOUNDARY = '==SOCI-INSTALLER-BOUNDARY==';
// RFC 2046 boundary characters.
const BOUNDARY_CHARS = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

export function buildMime(parts: Part[], boundary = BOUNDARY): string {
  if (!BOUNDARY_CHARS.test(boundary)) throw new InternalError(`invalid MIME boundary ${JSON.stringify(boundary)}`);
  const lines = ['MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${boundary}"`, ''];
  for (const part of parts) {
    if (Buffer.isBuffer(part.body)) {
      const b64 = part.body.toString('base64').replace(/.{76}/g, '$&\n').replace(/\n$/, '');
      lines.push(`--${boundary}`, `Content-Type: ${part.contentType}`, 'MIME-Version: 1.0', 'Content-Transfer-Encoding: base64', '', b64);
      continue;
    }
    if (part.body.includes(`--${boundary}`)) throw new InternalError('a MIME part contains the boundary');
    if (/[^\x00-\x7f]/.test(part.body)) throw new InternalError('MIME parts are sent as 7bit: non-ASCII text reached one');
    // The line break before a boundary belongs to the boundary (RFC 2046): the body keeps its own.
    lines.push(`--${boundary}`, `Content-Type: ${part.contentType}`, 'MIME-Version: 1.0', 'Content-Transfer-Encoding: 7bit', '', part.body.replace(/\r/g, ''));
  }
  lines.push(`--${boundary}--`, '');
  return lines.join('\n');
}

/** Reads a multipart document back into parts (7bit and base64 parts). Throws on anything else. */
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
    if ((h.get('content-transfer-encoding') ?? '').toLowerCase() === 'base64') {
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
