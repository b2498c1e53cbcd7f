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

  it('recognises our parts, also wrapped ones, and no one else\'s', () => {
    for (const p of parseMime(mimeOf(caseProfile('hostile-values')))) expect(isOurPart(p)).toBe(true);
    expect(isOurPart({ contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\n# mentions soci-installer somewhere\n' })).toBe(false);
    expect(isOurPart({ contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho x\n# soci-installer 0.1.0: late marker\n' })).toBe(false);
  });

  // The user data an earlier version (main at 3263af5) wrote: the script gzipped in a base64 part.
  const oldGzipRendering = (mime: string) =>
    parseMime(mime)
      .map((p, i) =>
        i === 0
          ? `--B\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n${gzipSync(p.body).toString('base64')}\n`
          : `--B\nContent-Type: ${p.contentType}\nContent-Transfer-Encoding: 7bit\n\n${p.body}\n`,
      )
      .join('');

  it('D7: replaces an earlier gzipped (base64) rendering, keeps the user\'s plain parts, and writes only plain parts', () => {
    const userText = { contentType: 'text/cloud-config; charset="us-ascii"', body: '#cloud-config\nruncmd: [echo hi]\n' };
    const before = `MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n${oldGzipRendering(mimeOf(caseProfile('hostile-values')))}--B\nContent-Type: ${userText.contentType}\n\n${userText.body}\n--B--\n`;
    const r = mergeUserData(Buffer.from(before), mimeOf());
    expect(r).toMatchObject({ kept: 1, replaced: 2 });
    expect(parseMime(r.mime)).toEqual([userText, ...parseMime(mimeOf())]);
    expect(r.mime).not.toMatch(/Content-Transfer-Encoding/i);
    // A second merge over the result changes nothing.
    expect(mergeUserData(Buffer.from(r.mime), mimeOf()).mime).toBe(r.mime);
  });

  it('D7: refuses a user part that could only travel base64-encoded (gzip, non-ASCII), naming it', () => {
    const userGz = `--B\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n${gzipSync('#!/bin/bash\necho zipped\n').toString('base64')}\n`;
    const nonAscii = `--B\nContent-Type: text/cloud-config; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n${Buffer.from('#cloud-config\n# h\u00e9llo\n').toString('base64')}\n`;
    const doc = (part: string) => Buffer.from(`MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n${part}--B--\n`);
    expect(() => mergeUserData(doc(userGz), mimeOf())).toThrow(/part 1 \(application\/x-gzip\) is gzip-compressed.*plain ASCII text/);
    expect(() => mergeUserData(doc(nonAscii), mimeOf())).toThrow(/part 1 \(text\/cloud-config; charset="utf-8"\) holds non-ASCII characters/);
  });

  it("keeps the header lines of the user's parts that cloud-init reads (Merge-Type, Launch-Index, Content-Disposition's filename)", () => {
    const before = [
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="B"',
      '',
      '--B',
      'Content-Type: text/cloud-config',
      'Content-Transfer-Encoding: 7bit',
      'Merge-Type: list(append)+dict(recurse_array)+str()',
      'Content-Disposition: attachment;',
      ' filename="10-users.cfg"',
      'Launch-Index: 0',
      '',
      '#cloud-config',
      'runcmd: [echo hi]',
      '--B--',
      '',
    ].join('\n');
    const r = mergeUserData(Buffer.from(before), mimeOf());
    const kept = {
      contentType: 'text/cloud-config',
      headers: [
        ['Merge-Type', 'list(append)+dict(recurse_array)+str()'],
        ['Content-Disposition', 'attachment; filename="10-users.cfg"'],
        ['Launch-Index', '0'],
      ],
      body: '#cloud-config\nruncmd: [echo hi]',
    };
    expect(parseMime(r.mime)).toEqual([kept, ...parseMime(mimeOf())]);
    // Written back once each, after the Content-Type; the encoding header goes with the encoding.
    expect(r.mime).toContain('Content-Type: text/cloud-config\nMIME-Version: 1.0\nMerge-Type: list(append)+dict(recurse_array)+str()\nContent-Disposition: attachment; filename="10-users.cfg"\nLaunch-Index: 0\n\n#cloud-config\n');
    expect(mergeUserData(Buffer.from(r.mime), mimeOf()).mime).toBe(r.mime);
  });

  it("reads a kept NodeConfig part as nodeadm does: by its media type, base64-decoded and gunzipped when it is (cluster block, 1.x CRI keys)", () => {
    const nc = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster: { name: demo, apiServerEndpoint: "https://x.example.com", certificateAuthority: Q0E=, cidr: 10.100.0.0/16 }\n';
    const cri1 = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n      [plugins."io.containerd.grpc.v1.cri".containerd]\n      discard_unpacked_layers = false\n';
    const doc = (ct: string, body: string) => Buffer.from(`MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: ${ct}\n\n${body}\n--B--\n`);
    const bodies = [nc, Buffer.from(nc).toString('base64').replace(/.{76}/g, '$&\n'), gzipSync(nc).toString('base64')];
    for (const body of bodies) expect(mergeUserData(doc(CONTENT_TYPES.nodeConfig, body), mimeOf()).keptClusterBlock).toBe(true);
    expect(mergeUserData(doc('Application/Node.EKS.aws; charset="us-ascii"', nc), mimeOf()).keptClusterBlock).toBe(true);
    expect(mergeUserData(doc(CONTENT_TYPES.nodeConfig, Buffer.from(cri1).toString('base64')), mimeOf()).staleCri).toEqual({ parts: [1], keys: ['containerd'] });
    expect(mergeUserData(doc('text/plain', nc), mimeOf()).keptClusterBlock).toBe(false);
  });

  it('wraps a plain NodeConfig, reads gzipped user data, and refuses what it cannot read', () => {
    const nc = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec: {}\n';
    expect(parseMime(mergeUserData(gzipSync(nc), mimeOf()).mime)[0]).toEqual({ contentType: CONTENT_TYPES.nodeConfig, body: nc });
    expect(() => mergeUserData(Buffer.from('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nx\n'), mimeOf())).toThrow(UsageError);
    expect(() => mergeUserData(Buffer.from('<powershell>x</powershell>'), mimeOf())).toThrow(/will not guess/);
  });
});
