// Issue 10, "Bad input", and D9: each item's test, through the library (the CLI's are in test/cli.test.ts,
// the corpus of hostile profiles in test/hostile-corpus.test.ts).
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadProfile, ProfileError, render } from '../../src/index.js';
import { daemonSetObjects } from '../../src/artifacts/daemonset.js';
import { decodeProfile, MAX_PROFILE_BYTES } from '../../src/profile/parse.js';

function problems(text: string): string[] {
  try {
    loadProfile(text, 'p.yaml');
  } catch (e) {
    if (e instanceof ProfileError) return e.problems;
    throw e;
  }
  return [];
}
const CA = 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=';
const BASE = 'node: { arch: x86_64 }\nsoci: { mode: lazy, source: ami }\n';
const cluster = (o: Partial<Record<'name' | 'apiServerEndpoint' | 'certificateAuthority' | 'cidr', string>>) =>
  `cluster:\n${Object.entries({ name: 'demo', apiServerEndpoint: 'https://x.example.com', certificateAuthority: CA, cidr: '10.100.0.0/16', ...o })
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`)
    .join('')}${BASE}`;
const release = (extra: string, mode = 'parallel') => `node: { arch: x86_64 }\nsoci:\n  mode: ${mode}\n  source: release\n  version: 0.15.0\n  sha256: { amd64: ${'1'.repeat(64)} }\n${extra}`;
const karpenter = (tags: Record<string, string>) =>
  `${BASE}karpenter:\n  role: R\n  subnetSelectorTerms: [{ tags: ${JSON.stringify(tags)} }]\n  securityGroupSelectorTerms: [{ id: sg-0123456789abcdef0 }]\n`;

describe('issue 10: bad input', () => {
  it('YAML outputs: strings a YAML 1.1 reader (kubectl) takes for booleans or numbers are quoted, and read back identical', () => {
    const values = ['on', 'yes', 'y', 'no', 'off', 'N', '1_000', '0b1', '0o17', '1:20', '~', 'null', '='];
    const tags = Object.fromEntries(values.map((v, i) => [`k${i}`, v]));
    const r = render(`${karpenter(tags)}eksctl: { region: us-west-2, nodeGroupName: "on" }\ndaemonset: { nodeSelector: { pool: "off" } }\n${cluster({ name: 'y' }).replace(BASE, '')}`, 'p.yaml');
    for (const path of ['karpenter/ec2nodeclass.yaml', 'eksctl/nodegroup.yaml', 'daemonset.yaml', 'nodeconfig.yaml']) {
      const text = r.artifacts.find((a) => a.path === path)!.content;
      expect(parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS()), path).toEqual(parseAllDocuments(text).map((d) => d.toJS()));
    }
    const karp = parseAllDocuments(r.artifacts.find((a) => a.path === 'karpenter/ec2nodeclass.yaml')!.content, { version: '1.1' })[0]!.toJS();
    expect(karp.spec.subnetSelectorTerms[0].tags).toEqual(tags);
    const ds = parseAllDocuments(r.artifacts.find((a) => a.path === 'daemonset.yaml')!.content, { version: '1.1' }).map((d) => d.toJS());
    expect(ds).toEqual(daemonSetObjects(r.plan));
    const nc = parseAllDocuments(r.artifacts.find((a) => a.path === 'nodeconfig.yaml')!.content, { version: '1.1' })[0]!.toJS();
    expect(nc.spec.cluster.name).toBe('y');
  });

  it('control characters (C0 but tab, DEL, C1, U+0085, U+2028, U+2029) are refused at load, naming the field', () => {
    for (const c of ['\x01', '\x1b', '\r', '\x7f', '\x85', '\x9b', '\u2028', '\u2029']) {
      const found = problems(karpenter({ team: `a${c}b` }));
      expect(found, JSON.stringify(c)).toEqual([expect.stringMatching(/^p\.yaml: karpenter\.subnetSelectorTerms\[0\]\.tags\.team: contains the control character U\+/)]);
      expect(found[0]).not.toContain(c);
    }
    expect(problems(cluster({ name: 'demo\u2028' }))[0]).toMatch(/^p\.yaml: cluster\.name: contains the control character U\+2028/);
    // Tag values may hold line breaks: serializers carry them.
    expect(problems(karpenter({ team: 'a\nb\tc' }))).toEqual([]);
  });

  it('numbers: Infinity, -Infinity, 1e308, values above 2^53 and -0 are refused; finite safe integers pass', () => {
    const field = (v: string) => problems(release(`  parallel: { maxConcurrentDownloads: ${v} }\n`));
    for (const v of ['Infinity', '-Infinity', '.inf', '1e308', '1e3', '9007199254740993', '-0', '0x10']) {
      expect(field(v), v).toEqual([expect.stringMatching(/^p\.yaml: soci\.parallel\.maxConcurrentDownloads: /)]);
    }
    expect(field('-1')).toEqual([]);
    expect(field('9007199254740991')).toEqual([]);
    expect(problems(`${BASE}daemonset: { maxUnavailable: 1e308 }\n`)).toEqual([expect.stringMatching(/^p\.yaml: daemonset\.maxUnavailable: "1e308" is not allowed/)]);
  });

  it('cost: a profile over 1 MiB is refused with one line; 60,000 keys are parsed (linear) and refused in a bounded message', () => {
    expect(() => decodeProfile(Buffer.alloc(MAX_PROFILE_BYTES + 1, 0x20), 'big.yaml')).toThrow(new ProfileError([`big.yaml: is ${MAX_PROFILE_BYTES + 1} bytes; a profile may have at most ${MAX_PROFILE_BYTES} bytes (1 MiB)`]));
    expect(problems('#'.repeat(MAX_PROFILE_BYTES + 1))).toEqual([`p.yaml: is ${MAX_PROFILE_BYTES + 1} bytes; a profile may have at most ${MAX_PROFILE_BYTES} bytes (1 MiB)`]);
    // No timing threshold: yaml's own uniqueKeys check is quadratic (30 s and more here); this completes.
    const keys = Array.from({ length: 60_000 }, (_, i) => `k${i}: v\n`).join('');
    const found = problems(keys);
    expect(found.length).toBe(51);
    expect(found[0]).toMatch(/^p\.yaml: k0: unknown key/);
    expect(found[50]).toBe('... and 59950 more problems');
    // Duplicates are still found, by the linear check.
    expect(problems('soci:\n  mode: lazy\n  mode: parallel\n')).toEqual(['p.yaml: soci.mode: appears twice in the same mapping; keep one']);
  });

  it('an alias bomb is one line, not a stack trace', () => {
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) => `${'bcdefghi'[i]}: &${'bcdefghi'[i]} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`).join('\n')}\n`;
    expect(problems(bomb)).toEqual([expect.stringMatching(/^p\.yaml: YAML: Excessive alias count .* \(at most 100 alias uses\)$/)]);
  });

  it('a URL containing the MIME boundary is refused at load (it crashed the MIME builder)', () => {
    expect(problems(release('  releaseBaseUrl: "https://m.example.com/--==SOCI-INSTALLER-BOUNDARY==/"\n'))).toEqual([
      expect.stringMatching(/^p\.yaml: soci\.releaseBaseUrl: contains "SOCI-INSTALLER-BOUNDARY"/),
    ]);
  });

  it('invalid UTF-8 is refused with its line, never read as U+FFFD', () => {
    const bytes = Buffer.concat([Buffer.from('cluster:\n  name: "d'), Buffer.from([0xff]), Buffer.from('"\n')]);
    expect(() => decodeProfile(bytes, 'p.yaml')).toThrow(new ProfileError(['p.yaml: is not valid UTF-8 (line 2, byte 19); save the file as UTF-8']));
  });

  it('accepted but wrong: ports 0 and 99999, metricsAddress without a port', () => {
    const metrics = (v: string) => problems(release(`  metricsAddress: ${JSON.stringify(v)}\n`));
    expect(metrics('localhost:0')).toEqual(['p.yaml: soci.metricsAddress: port "0" is out of range; allowed: 1 to 65535']);
    expect(metrics('localhost:99999')).toEqual(['p.yaml: soci.metricsAddress: port "99999" is out of range; allowed: 1 to 65535']);
    expect(metrics('localhost')).toEqual(['p.yaml: soci.metricsAddress: "localhost" has no port; allowed: host:port, e.g. localhost:8000']);
    expect(metrics('localhost:65535')).toEqual([]);
    expect(problems(release('  mirrors: [{ registry: docker.io, endpoints: [{ host: "m.example.com:0" }] }]\n'))).toEqual([
      'p.yaml: soci.mirrors[0].endpoints[0].host: port "0" is out of range; allowed: 1 to 65535',
    ]);
  });

  it('accepted but wrong: CIDRs that are not CIDRs (IPv4 and IPv6, prefix range, octets)', () => {
    for (const v of ['10.0.0.0/33', '256.0.0.0/16', '010.0.0.0/16', 'fd00::/129', 'fd00:::1/64']) {
      expect(problems(cluster({ cidr: v })), v).toEqual([expect.stringMatching(/^p\.yaml: cluster\.cidr: /)]);
    }
    expect(problems(cluster({ cidr: 'fd00:10:100::/108' }))).toEqual([]);
  });

  it('accepted but wrong: a certificate authority that is not a base64 PEM certificate', () => {
    for (const v of [Buffer.from('hello').toString('base64'), Buffer.from('-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n').toString('base64'), CA.replace(/=+$/, '')]) {
      expect(problems(cluster({ certificateAuthority: v }))).toEqual([
        'p.yaml: cluster.certificateAuthority: is not a base64-encoded PEM certificate; allowed: the value of aws eks describe-cluster .cluster.certificateAuthority.data',
      ]);
    }
  });

  it('accepted but wrong: releaseBaseUrl https:/// or with a fragment', () => {
    expect(problems(release('  releaseBaseUrl: "https:///"\n'))).toEqual(['p.yaml: soci.releaseBaseUrl: "https:///" has no valid host; allowed: http(s)://host[:port]/path']);
    expect(problems(release('  releaseBaseUrl: "https://m.example.com/x#frag"\n'))).toEqual([
      'p.yaml: soci.releaseBaseUrl: "https://m.example.com/x#frag" has a fragment (#...); allowed: a URL without one',
    ]);
  });

  it('accepted but wrong: a chunkSize that overflows', () => {
    expect(problems(release('  parallel: { chunkSize: 99999999999999999999gb }\n'))).toEqual([expect.stringMatching(/^p\.yaml: soci\.parallel\.chunkSize: "99999999999999999999gb" is too large; allowed: at most 1024gb/)]);
  });

  it('accepted but wrong: mirrors for the same registry in another letter case', () => {
    expect(problems(release('  mirrors:\n    - { registry: docker.io, endpoints: [{ host: a.example.com }] }\n    - { registry: Docker.IO, endpoints: [{ host: b.example.com }] }\n'))).toEqual([
      'p.yaml: soci.mirrors[1].registry: "Docker.IO" is listed twice (host names ignore letter case); put all its endpoints under one entry',
    ]);
  });

  it('accepted but wrong: ami.tags that override our generated tags, or start with aws: in any case; {{arch}} in amiName', () => {
    const ami = (extra: string) => problems(`node: { arch: x86_64, kubernetesVersion: "1.33" }\nsoci: { mode: lazy, source: ami }\nami:\n${extra}`);
    expect(ami('  tags: { "AWS:team": x }\n')).toEqual(['p.yaml: ami.tags.AWS:team: keys starting with aws: (in any letter case) are reserved by AWS; choose another key']);
    expect(ami('  tags: { "soci-installer:soci-mode": x }\n')).toEqual([
      'p.yaml: ami.tags.soci-installer:soci-mode: keys starting with soci-installer: are the tags the build sets to say what was baked; choose another key',
    ]);
    expect(ami('  amiName: "soci-{{arch}}-{timestamp}"\n')).toEqual([expect.stringMatching(/^p\.yaml: ami\.amiName: "soci-\{\{arch\}\}-\{timestamp\}" has braces outside a \{placeholder\}/)]);
  });

  it('secrets: credentials in URLs are refused, saying where credentials belong', () => {
    expect(problems(release('  proxy: { https: "http://user:pass@proxy.example.com:3128" }\n'))).toEqual([
      'p.yaml: soci.proxy.https: "http://***@proxy.example.com:3128" carries credentials; they would be readable by every pod (instance metadata) and every user on the node. Use a proxy that admits the nodes by address (security group, subnet), or bake the AMI.',
    ]);
    expect(problems(release('  releaseBaseUrl: "https://token@m.example.com/"\n'))[0]).toMatch(/^p\.yaml: soci\.releaseBaseUrl: "https:\/\/\*\*\*@m\.example\.com\/" carries credentials; .* Use a mirror that nodes reach without credentials/);
  });

  it('daemonset.namespace naming an existing namespace: no Namespace object unless we own it; never kube-system', () => {
    const kinds = (text: string, uninstall = false) => daemonSetObjects(render(text, 'p.yaml').plan, { uninstall }).map((o) => o.kind);
    expect(kinds(BASE)).toEqual(['Namespace', 'ServiceAccount', 'ConfigMap', 'DaemonSet']);
    expect(kinds(`${BASE}daemonset: { namespace: kube-system }\n`, true)).toEqual(['ServiceAccount', 'ConfigMap', 'DaemonSet']);
    expect(kinds(`${BASE}daemonset: { namespace: node-tools, createNamespace: true }\n`, true)).toEqual(['Namespace', 'ServiceAccount', 'ConfigMap', 'DaemonSet']);
    expect(problems(`${BASE}daemonset: { namespace: kube-system, createNamespace: true }\n`)).toEqual([
      'p.yaml: daemonset.createNamespace: true with namespace "kube-system", which Kubernetes owns: the uninstall manifest would delete it; remove createNamespace or choose another namespace',
    ]);
  });

  it('messages: maxUnavailable: 0 says what is allowed (no [object Object]); a huge value is echoed cut short', () => {
    expect(problems(`${BASE}daemonset: { maxUnavailable: 0 }\n`)).toEqual(['p.yaml: daemonset.maxUnavailable: "0" is not allowed; allowed: a whole number from 1, or a percentage from 1% to 100% such as 10%']);
    const found = problems(cluster({ name: 'x'.repeat(100_000) }));
    expect(found).toEqual([expect.stringMatching(/^p\.yaml: cluster\.name: "x{79}\.\.\. \(100002 characters\) is not valid; expected an EKS cluster name/)]);
  });
});

describe('D9', () => {
  it('D9: lazy modes with auth cri-keychain are refused, naming ecr-credential-helper', () => {
    for (const mode of ['lazy', 'lazy-with-parallel-fallback']) {
      expect(problems(release('  auth: cri-keychain\n', mode))).toEqual([
        `p.yaml: soci.auth: "cri-keychain" is not allowed with soci.mode "${mode}": lazy loading reads layers for hours, and those credentials live only in soci's memory, are never refreshed and are lost when soci restarts; use auth "ecr-credential-helper" (or mode "parallel")`,
      ]);
    }
    expect(problems(release('  auth: cri-keychain\n', 'parallel'))).toEqual([]);
  });
});
