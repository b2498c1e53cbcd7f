import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildMime, CONTENT_TYPES, parseMime } from '../../src/mime/archive.js';
import { selfExtractingScript } from '../../src/mime/self-extracting.js';

describe('MIME archive', () => {
  const parts = [
    { contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho hi\n' },
    { contentType: CONTENT_TYPES.nodeConfig, body: 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec: {}\n' },
  ];
  it('renders LF-only text with a closing boundary and a final newline', () => {
    const text = buildMime(parts);
    expect(text).not.toContain('\r');
    expect(text.startsWith('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="')).toBe(true);
    expect(text.endsWith('--==SOCI-INSTALLER-BOUNDARY==--\n')).toBe(true);
  });
  it('round-trips', () => {
    expect(parseMime(buildMime(parts))).toEqual(parts);
  });
  it('reads a gzipped base64 part (as earlier versions wrote), and writes no Content-Transfer-Encoding', () => {
    const script = '#!/bin/bash\n' + 'echo 0123456789\n'.repeat(200);
    const text = `MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n${gzipSync(script).toString('base64')}\n--b--\n`;
    expect(parseMime(text)).toEqual([{ contentType: CONTENT_TYPES.gzip, body: script }]);
    expect(buildMime(parts)).not.toMatch(/Content-Transfer-Encoding/i);
  });
  it('refuses quoted-printable, which it does not decode', () => {
    const text = 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\na=3Db\n--b--\n';
    expect(() => parseMime(text)).toThrow(/quoted-printable/);
  });
  it('picks a numbered boundary when a part contains the boundary', () => {
    const body = 'x\n--==SOCI-INSTALLER-BOUNDARY==\n';
    const text = buildMime([{ contentType: 'text/plain', body }]);
    expect(text).toContain('boundary="==SOCI-INSTALLER-BOUNDARY==1"');
    expect(parseMime(text)).toEqual([{ contentType: 'text/plain', body }]);
  });
  it('refuses non-ASCII text: every part is plain 7-bit text', () => {
    expect(() => buildMime([{ contentType: 'text/plain', body: '\u00fcnicode\n' }])).toThrow(/7-bit/);
  });
  it('refuses an invalid boundary', () => {
    expect(() => buildMime(parts, 'bad"boundary')).toThrow(/boundary/);
  });
  // Delimiter lines as Go's mime/multipart (nodeadm, Karpenter) and Python's email (cloud-init) read
  // them: "--" boundary, then only spaces or tabs (RFC 2046 transport padding); "--" boundary "--" ends.
  // Each of these once lost a user's part silently when a launch template's user data was merged.
  const doc = (body: string) => `MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n${body}`;
  it('reads delimiter lines with transport padding (spaces or tabs after the boundary)', () => {
    expect(parseMime(doc('--B  \nContent-Type: text/x-shellscript\n\n#!/bin/bash\necho padded\n--B\t\nContent-Type: text/plain\n\nb\n--B-- \n'))).toEqual([
      { contentType: 'text/x-shellscript', body: '#!/bin/bash\necho padded' },
      { contentType: 'text/plain', body: 'b' },
    ]);
  });
  it('takes a line that only starts like the closing delimiter as body text', () => {
    expect(parseMime(doc('--B\nContent-Type: text/x-shellscript\n\n#!/bin/bash\n--B--not-the-end\n--Bx\necho still\n--B--\n'))).toEqual([
      { contentType: 'text/x-shellscript', body: '#!/bin/bash\n--B--not-the-end\n--Bx\necho still' },
    ]);
  });
  it('reads a part with no header lines (text/plain, RFC 2045) whole', () => {
    expect(parseMime(doc('--B\n\n#!/bin/bash\n\necho noct\n--B--\n'))).toEqual([{ contentType: 'text/plain', body: '#!/bin/bash\n\necho noct' }]);
  });
  it('takes the first of repeated header lines, as Go (textproto Get) and Python (Message.get) do', () => {
    expect(parseMime(doc('--B\nContent-Type: text/x-shellscript\nContent-Type: text/plain\n\n#!/bin/bash\n--B--\n'))).toEqual([
      { contentType: 'text/x-shellscript', body: '#!/bin/bash' },
    ]);
  });
  it('reports a document without its closing boundary', () => {
    const text = buildMime(parts).replace(/--==SOCI-INSTALLER-BOUNDARY==--\n$/, '');
    expect(() => parseMime(text)).toThrow(/closing boundary/);
  });
});

describe('self-extracting wrapper', () => {
  it('keeps its summary to single comment lines of printable ASCII: a line break would end the comment and run as shell', () => {
    expect(() => selfExtractingScript('0.1.0', 'echo hi\n', ['It writes:\nrm -rf /'])).toThrow(/not printable ASCII/);
    expect(() => selfExtractingScript('0.1.0', 'echo hi\n', ['It writes: /etc/caf\u00e9'])).toThrow(/not printable ASCII/);
    const w = selfExtractingScript('0.1.0', 'echo hi\n', ['It installs: x', '  /etc/a']);
    expect(w.split('\n').slice(0, 5)).toEqual([
      '#!/bin/bash',
      "# soci-installer 0.1.0: install.sh, gzipped and base64-encoded to fit EC2's user data limit.",
      `# Unpacked, it is the install.sh that render writes beside this (sha256 ${createHash('sha256').update('echo hi\n').digest('hex')}): base64 -d | gunzip to read it.`,
      '# It installs: x',
      '#   /etc/a',
    ]);
  });
});
