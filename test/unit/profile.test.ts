import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkProfile, defaultProfileText, loadProfile, plan, PROFILE_SCHEMA, ProfileError } from '../../src/index.js';
import { REPO_ROOT } from '../support/exec.js';

function problems(text: string): string[] {
  try {
    loadProfile(text, 'p.yaml');
  } catch (e) {
    if (e instanceof ProfileError) return e.problems;
    throw e;
  }
  return [];
}

describe('profile loading', () => {
  it('the embedded default profile is valid and needs no download', () => {
    const p = plan(loadProfile(defaultProfileText()));
    expect(p.mode).toBe('lazy');
    expect(p.source).toBe('ami');
    expect(p.releases).toEqual([]);
    expect(p.arches).toEqual(['amd64', 'arm64']);
    expect(p.containerd).toBe('2');
  });

  it('an empty file means every default; default source auto then asks for checksums', () => {
    expect(problems('')).toEqual([expect.stringMatching(/^p\.yaml: soci\.sha256: missing for amd64, arm64: .*soci-installer checksums --version 0\.15\.0/)]);
  });

  it('reports every problem at once, one per line, naming field, value and what is allowed', () => {
    const found = problems('node: { arch: sparc, kubernetesVersion: "1.3" }\nsoci: { mode: fast, auth: basic, parallel: { chunkSize: 16MiB } }\n');
    expect(found).toEqual([
      'p.yaml: node.kubernetesVersion: "1.3" is not valid; expected a Kubernetes minor version in quotes, e.g. "1.33"',
      'p.yaml: node.arch: "sparc" is not allowed; allowed: x86_64 | arm64',
      'p.yaml: soci.mode: "fast" is not allowed; allowed: lazy | parallel | lazy-with-parallel-fallback | fast-image-pull',
      'p.yaml: soci.auth: "basic" is not allowed; allowed: ecr-credential-helper | ecr-credential-helper-package | cri-keychain | none',
      'p.yaml: soci.parallel.chunkSize: "16MiB" is not valid; expected a size with unit b, kb, mb or gb, e.g. 16mb',
    ]);
  });

  it('keeps scalars as written: 1.30 stays "1.30", digits-only sums stay strings, numbers become numbers', () => {
    const p = plan(
      loadProfile(
        `node: { kubernetesVersion: 1.30, arch: x86_64 }\nsoci: { mode: parallel, source: release, sha256: { amd64: ${'1'.repeat(64)} }, parallel: { maxConcurrentDownloadsPerImage: 7, discardUnpackedLayers: false } }\n`,
      ),
    );
    expect(p.kubernetesVersion).toBe('1.30');
    expect(p.releases[0]!.sha256).toBe('1'.repeat(64));
    expect(p.parallel!.maxConcurrentDownloadsPerImage).toBe(7);
    expect(p.parallel!.discardUnpackedLayers).toBe(false);
  });

  it('refuses a number where an integer is expected, and a word where a boolean is', () => {
    expect(problems('soci: { mode: parallel, source: ami, parallel: { maxConcurrentUnpacks: 2.5, discardUnpackedLayers: maybe } }')).toEqual([
      'p.yaml: soci.parallel.maxConcurrentUnpacks: "2.5" must be a whole number',
      'p.yaml: soci.parallel.discardUnpackedLayers: "maybe" must be a boolean',
    ]);
  });

  it('refuses duplicate keys and non-mapping documents', () => {
    expect(problems('soci: { mode: lazy }\nsoci: { mode: parallel }\n')).toEqual(['p.yaml: soci: appears twice in the same mapping; keep one']);
    expect(problems('- a\n- b\n')).toEqual(['p.yaml: the profile must be a YAML mapping (cluster:, node:, soci:)']);
  });

  it('checkProfile works on objects built in code (CDK, Pulumi)', () => {
    expect(checkProfile({ soci: { mode: 'parallel', source: 'ami' } })).toEqual([]);
    expect(checkProfile({ soci: { source: 'ami', mirrors: [{ registry: 'docker.io', endpoints: [] }] } })).toEqual([
      'soci.mirrors[0].endpoints: must list at least 1 item(s)',
    ]);
  });

  it('refuses a registry listed twice', () => {
    const m = '{ registry: docker.io, endpoints: [{ host: a.example.com }] }';
    expect(problems(`soci: { source: ami, mirrors: [${m}, ${m}] }`)).toEqual([
      'p.yaml: soci.mirrors[1].registry: "docker.io" is listed twice (host names ignore letter case); put all its endpoints under one entry',
    ]);
  });
});

describe("what Karpenter's EC2NodeClass CRD refuses (its CEL rules and limits) is refused in the profile", () => {
  const karpenter = (subnet: string, group = '{ name: x }') => `soci: { source: ami }\nkarpenter: { role: R, subnetSelectorTerms: [${subnet}], securityGroupSelectorTerms: [${group}] }\n`;
  it('a selector term is one of id, name or tags; a tag value is not empty', () => {
    expect(problems(karpenter('{ id: subnet-0123456789abcdef0, tags: { a: b } }', '{ name: x, id: sg-0123456789abcdef0 }'))).toEqual([
      'p.yaml: karpenter.subnetSelectorTerms[0]: at most 1 key(s) (each term: one of id or tags, whose tags must all match)',
      'p.yaml: karpenter.securityGroupSelectorTerms[0]: at most 1 key(s) (each term: one of id, name or tags, whose tags must all match)',
    ]);
    expect(problems(karpenter('{ tags: { a: "" } }'))).toEqual(['p.yaml: karpenter.subnetSelectorTerms[0].tags.a: must not be empty']);
    expect(problems(karpenter('{ tags: { a: "*" } }'))).toEqual([]);
  });
  it("a baked AMI's tags, by which Karpenter selects it: not empty, and at most 17 beside soci-installer's 3", () => {
    const cluster = 'cluster: { name: demo, apiServerEndpoint: "https://ABCD.gr7.us-west-2.eks.amazonaws.com", certificateAuthority: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=", cidr: 10.100.0.0/16 }\n';
    const tags = (n: number, first = 'v') => `{ ${Array.from({ length: n }, (_, i) => `t${i}: "${i ? 'v' : first}"`).join(', ')} }`;
    const baked = (t: string, withKarpenter = true) => `${cluster}node: { kubernetesVersion: "1.33" }\nami: { baked: true, tags: ${t} }\n${withKarpenter ? karpenter('{ tags: { a: b } }') : 'soci: { source: ami }\n'}`;
    expect(problems(baked(tags(17)))).toEqual([]);
    expect(problems(baked(tags(18)))).toEqual([
      "p.yaml: ami.tags: 18 tags; at most 17 with karpenter: Karpenter selects the baked AMI by these and the 3 soci-installer:* tags, and its EC2NodeClass allows 20 in a term",
    ]);
    expect(problems(baked(tags(1, '')))).toEqual([
      "p.yaml: ami.tags.t0: must not be empty: Karpenter selects the baked AMI by these tags, and its EC2NodeClass refuses an empty tag value",
    ]);
    // Without Karpenter an empty tag value is an EC2 tag like any other.
    expect(problems(baked(tags(1, ''), false))).toEqual([]);
  });
});

describe("eksctl's node group stack: eksctl-<cluster>-nodegroup-<name>, a CloudFormation stack name", () => {
  const eksctl = (e: string) => `soci: { source: ami }\neksctl: { region: us-west-2, ${e} }\n`;
  const refusal = (text: string) => {
    try {
      plan(loadProfile(text, 'p.yaml'));
    } catch (e) {
      if (e instanceof ProfileError) return e.problems;
      throw e;
    }
    return [];
  };
  it('refuses _ in the node group name and in the cluster name eksctl is given, and a stack name over 128', () => {
    expect(problems(eksctl('clusterName: demo, nodeGroupName: soci_nodes'))).toEqual([
      'p.yaml: eksctl.nodeGroupName: "soci_nodes" is not valid; expected a node group name for eksctl: letters, digits and -, at most 63 (eksctl names its CloudFormation stack eksctl-<cluster>-nodegroup-<name>)',
    ]);
    expect(refusal(eksctl('clusterName: demo_1'))).toEqual([
      'eksctl.clusterName: "demo_1": eksctl names its CloudFormation stack eksctl-demo_1-nodegroup-soci, and CloudFormation allows letters, digits and - only, at most 128; an EKS cluster whose name has _ cannot get node groups from eksctl',
    ]);
    expect(refusal(eksctl(`clusterName: ${'c'.repeat(100)}, nodeGroupName: ${'n'.repeat(11)}`))).toEqual([
      `eksctl.nodeGroupName: eksctl names its CloudFormation stack eksctl-<cluster>-nodegroup-<name>, here 129 characters, and CloudFormation allows at most 128; shorten eksctl.nodeGroupName or eksctl.clusterName`,
    ]);
    expect(refusal(eksctl(`clusterName: ${'c'.repeat(100)}, nodeGroupName: ${'n'.repeat(10)}`))).toEqual([]);
  });
});

describe('published JSON Schema', () => {
  it('schemas/profile.schema.json is PROFILE_SCHEMA (npm run schema rewrites it)', () => {
    const file = JSON.parse(readFileSync(join(REPO_ROOT, 'schemas', 'profile.schema.json'), 'utf8'));
    expect(file).toEqual(JSON.parse(JSON.stringify(PROFILE_SCHEMA)));
  });
  it('the package version and the generator version agree', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    const { GENERATOR_VERSION } = await import('../../src/version.js');
    expect(GENERATOR_VERSION).toBe(pkg.version);
  });
});
