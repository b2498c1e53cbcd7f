// Merging our parts into existing user data: what is ours, what is kept, and byte-stable re-runs.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildMime, CONTENT_TYPES, isOurPart, mergeUserData, parseMime, render, UsageError } from '../../src/index.js';
import { caseProfile } from '../golden.js';

const mimeOf = (profile?: string) => render(profile).artifacts.find((a) => a.path === 'user-data.mime')!.content;

describe('mergeUserData', () => {
  it('nothing there: the result is exactly our user data', () => {
    expect(mergeUserData(undefined, mimeOf()).mime).toBe(mimeOf());
    expect(mergeUserData(Buffer.from(''), mimeOf())).toEqual({ mime: mimeOf(), kept: 0, replaced: 0, keptClusterBlock: false });
  });

  it('recognises our parts, also gzipped ones, and no one else\'s', () => {
    for (const p of parseMime(mimeOf(caseProfile('hostile-values')))) expect(isOurPart(p)).toBe(true);
    expect(isOurPart({ contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\n# mentions soci-installer somewhere\n' })).toBe(false);
    expect(isOurPart({ contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho x\n# soci-installer 0.1.0: late marker\n' })).toBe(false);
  });

  it('replaces an earlier gzipped rendering and keeps a user gzip part and a non-ASCII part', () => {
    const big = mimeOf(caseProfile('hostile-values')); // the script part is gzipped
    const userGz = { contentType: CONTENT_TYPES.gzip, body: gzipSync('#!/bin/bash\necho zipped\n') };
    const userText = { contentType: 'text/cloud-config; charset="utf-8"', body: Buffer.from('#cloud-config\n# héllo\n', 'utf8') };
    const before = buildMime([userGz, ...parseMime(big).map((p) => (p.contentType === CONTENT_TYPES.gzip ? { ...p, body: gzipSync(String(p.body)) } : p)), userText]);
    const r = mergeUserData(Buffer.from(before), mimeOf());
    expect(r).toMatchObject({ kept: 2, replaced: 2 });
    expect(parseMime(r.mime).map((p) => String(p.body))).toEqual([
      '#!/bin/bash\necho zipped\n',
      '#cloud-config\n# héllo\n',
      ...parseMime(mimeOf()).map((p) => String(p.body)),
    ]);
    // A second merge over the result changes nothing.
    expect(mergeUserData(Buffer.from(r.mime), mimeOf()).mime).toBe(r.mime);
  });

  it('wraps a plain NodeConfig, reads gzipped user data, and refuses what it cannot read', () => {
    const nc = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec: {}\n';
    expect(parseMime(mergeUserData(gzipSync(nc), mimeOf()).mime)[0]).toEqual({ contentType: CONTENT_TYPES.nodeConfig, body: nc });
    expect(() => mergeUserData(Buffer.from('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nx\n'), mimeOf())).toThrow(UsageError);
    expect(() => mergeUserData(Buffer.from('<powershell>x</powershell>'), mimeOf())).toThrow(/will not guess/);
  });
});
