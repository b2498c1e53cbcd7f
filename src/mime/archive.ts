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
  /**
   * A part's other header lines, as read from user data that was already there, written back after
   * the Content-Type: cloud-init reads Merge-Type, Launch-Index and Content-Disposition's filename
   * (cloud-init cloudinit/user_data.py and handlers/cloud_config.py). Never set on parts we generate.
   */
  headers?: [string, string][];
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
    const extra = (part.headers ?? []).map(([name, value]) => `${name}: ${value}`);
    if (extra.some((l) => !/^[!-9;-~]+: [\x20-\x7e\t]*$/.test(l))) throw new InternalError('a MIME header line is not one line of printable ASCII');
    lines.push(`--${chosen}`, `Content-Type: ${part.contentType}`, 'MIME-Version: 1.0', ...extra, '', part.body.replace(/\r/g, ''));
  }
  lines.push(`--${chosen}--`, '');
  return lines.join('\n');
}

/**
 * Reads a multipart document back into parts: plain parts, and base64 ones (decoded, gzip ones also
 * gunzipped; the content type stays). Throws on anything else (quoted-printable, a missing end).
 * Delimiter lines are read as nodeadm and Karpenter (Go's mime/multipart: amazon-eks-ami
 * nodeadm/internal/configprovider/mime.go at 81fec2e8, karpenter-provider-aws
 * pkg/providers/amifamily/bootstrap/mime/mime.go at 1d927085) and cloud-init (Python's email) read
 * them: "--" and the boundary, then only spaces or tabs (RFC 2046 transport padding), with "--" after
 * the boundary for the last one; any other line is body text. The line break before a delimiter
 * belongs to the delimiter; a part with no header lines is text/plain (RFC 2045).
 */
export function parseMime(text: string): Part[] {
  const src = text.replace(/\r\n/g, '\n');
  const headerEnd = src.indexOf('\n\n');
  if (headerEnd < 0) throw new Error('not a MIME document: no blank line after the headers');
  const headers = parseHeaders(src.slice(0, headerEnd));
  const ct = headers.get('content-type') ?? '';
  const m = /boundary="?([^";]+)"?/i.exec(ct);
  if (!/^multipart\//i.test(ct) || !m) throw new Error('not a multipart document');
  const dashBoundary = `--${m[1]!.trim()}`;
  const delimiter = (line: string): 'next' | 'last' | undefined => {
    if (!line.startsWith(dashBoundary)) return undefined;
    const rest = line.slice(dashBoundary.length);
    return /^[ \t]*$/.test(rest) ? 'next' : /^--[ \t]*$/.test(rest) ? 'last' : undefined;
  };
  const chunks: string[][] = [];
  let current: string[] | undefined; // undefined while in the preamble
  let closed = false;
  for (const line of src.slice(headerEnd + 2).split('\n')) {
    const d = delimiter(line);
    if (d !== undefined && current) chunks.push(current);
    if (d === 'last') {
      closed = true;
      break;
    }
    if (d === 'next') current = [];
    else current?.push(line);
  }
  if (!closed) throw new Error(`no closing boundary ${dashBoundary}--`);
  return chunks.map((lines) => {
    const blank = lines.indexOf('');
    const list = headerList((blank < 0 ? lines : lines.slice(0, blank)).join('\n'));
    const h = firstOfEach(list);
    let partBody = blank < 0 ? '' : lines.slice(blank + 1).join('\n');
    const contentType = h.get('content-type') ?? 'text/plain';
    const encoding = (h.get('content-transfer-encoding') ?? '').toLowerCase();
    if (!['', '7bit', '8bit', 'binary', 'base64'].includes(encoding)) throw new Error(`a part has Content-Transfer-Encoding ${encoding}, which soci-installer does not read`);
    if (encoding === 'base64') {
      let bytes = Buffer.from(partBody.replace(/\s+/g, ''), 'base64');
      if (contentType === CONTENT_TYPES.gzip) bytes = gunzipSync(bytes);
      partBody = bytes.toString('utf8');
    }
    const extra = list.filter(([k]) => !WRITTEN_HEADERS.has(k.toLowerCase()));
    return { contentType, ...(extra.length ? { headers: extra } : {}), body: partBody };
  });
}

// The headers buildMime writes itself; the transfer encoding goes with the decoding.
const WRITTEN_HEADERS = new Set(['content-type', 'content-transfer-encoding', 'mime-version']);

/**
 * A header block's lines, continuation lines unfolded, as [name, value]. A space or tab before the
 * colon stays in the name, as Go's textproto keeps it ("Content-Type :" is no Content-Type to nodeadm,
 * and no header line at all to Python's email): merge.ts refuses such a name.
 */
function headerList(block: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of block.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out.push([line.slice(0, i).trimStart(), line.slice(i + 1).trim()]);
  }
  return out;
}

/** Lower-cased name -> the first value: Go's textproto Get and Python's Message.get take the first. */
function firstOfEach(list: [string, string][]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of list) if (!out.has(k.toLowerCase())) out.set(k.toLowerCase(), v);
  return out;
}

function parseHeaders(block: string): Map<string, string> {
  return firstOfEach(headerList(block));
}
