import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildMime, CONTENT_TYPES, parseMime } from '../../src/mime/archive.js';

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
  it('round-trips a gzipped base64 part', () => {
    const script = '#!/bin/bash\n' + 'echo 0123456789\n'.repeat(200);
    const text = buildMime([{ contentType: CONTENT_TYPES.gzip, body: gzipSync(script) }]);
    expect(text.split('\n').every((l) => l.length <= 76)).toBe(true);
    expect(parseMime(text)).toEqual([{ contentType: CONTENT_TYPES.gzip, body: script }]);
  });
  it('refuses a part that contains the boundary', () => {
    expect(() => buildMime([{ contentType: 'text/plain', body: 'x\n--==SOCI-INSTALLER-BOUNDARY==\n' }])).toThrow(/boundary/);
  });
  it('refuses non-ASCII text in a 7bit part', () => {
    expect(() => buildMime([{ contentType: 'text/plain', body: 'ünicode\n' }])).toThrow(/7bit/);
  });
  it('refuses an invalid boundary', () => {
    expect(() => buildMime(parts, 'bad"boundary')).toThrow(/boundary/);
  });
  it('reports a document without its closing boundary', () => {
    const text = buildMime(parts).replace(/--==SOCI-INSTALLER-BOUNDARY==--\n$/, '');
    expect(() => parseMime(text)).toThrow(/closing boundary/);
  });
});
