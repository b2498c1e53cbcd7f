// The outputs for other tools, checked with the real validators: every EC2NodeClass against
// Karpenter's CRD schema, every eksctl fragment against eksctl's schema, Bottlerocket TOML read back
// with js-toml; and the user data the instance receives after Karpenter, an EKS managed node group or
// eksctl rebuilt it around our parts (test/support/reserialize.ts), read back with Debian's real
// cloud-init (our script runs, byte for byte install.sh) and the real nodeadm-render (our NodeConfig is read).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { load as loadToml } from 'js-toml';
import { parse as parseYaml } from 'yaml';
import { shellcheck } from './support/shellcheck.js';
import { describe, expect, it } from 'vitest';
import { PATHS, ProfileError, render, type Plan } from '../src/index.js';
import { containerdTable } from '../src/artifacts/containerd.js';
import { selfExtractingScript } from '../src/mime/self-extracting.js';
import { installSummary } from '../src/artifacts/node-script.js';
import { USER_DATA_PLAIN } from '../src/artifacts/user-data.js';
import { caseProfile } from './golden.js';
import { cloudInitParts, nodeadmRender, parseMimeWithPython, runWrapper } from './support/mime.js';
import { EKS_NODECONFIG, EKSCTL_MINIMAL_NODECONFIG, eksctlUserData, eksManagedNodeGroupUserData, goMultipartRead, KARPENTER_NODECONFIG, karpenterSerialize, karpenterUserData } from './support/reserialize.js';
import { ec2NodeClassCelProblems, validateEC2NodeClass, validateEksctlClusterConfig, validateNodeConfig } from './support/schemas.js';

const CASES = readdirSync(join(import.meta.dirname, 'cases')).sort();

function rendered(name: string) {
  const r = render(caseProfile(name), name);
  const file = (path: string) => r.artifacts.find((a) => a.path === path)?.content;
  return { ...r, file };
}

/** The wiring our parts carry: in the NodeConfig part (wiring user-data) or inside the script (drop-in). */
function expectWiring(plan: Plan, script: string, ourNodeConfig: string) {
  if (!plan.installs) return;
  const table = containerdTable(plan) as { proxy_plugins: { soci: { address: string } } };
  expect(table.proxy_plugins.soci.address).toBe(PATHS.sociSocket);
  if (plan.wiring === 'user-data') {
    const doc = parseYaml(ourNodeConfig);
    expect(loadToml(doc.spec.containerd.config)).toEqual(table);
  } else {
    expect(script).toContain(PATHS.nodeadmDropIn);
    expect(script).toContain(`address = "${PATHS.sociSocket}"`);
  }
}

describe.each(CASES)('%s', (name) => {
  const r = rendered(name);
  const mime = r.file('user-data.mime')!;
  const script = r.file('install.sh')!;
  const nodeConfig = r.file('nodeconfig.yaml')!;

  it('the EC2NodeClass (when the profile has karpenter:) validates against the Karpenter CRD, its CEL rules included, and carries our user data', () => {
    const text = r.file('karpenter/ec2nodeclass.yaml');
    if (!r.plan.karpenter) return expect(text).toBeUndefined();
    const doc = parseYaml(text!);
    expect(validateEC2NodeClass(doc)).toEqual([]);
    expect(ec2NodeClassCelProblems(doc)).toEqual([]);
    expect(doc.spec.userData).toBe(mime);
    // One of role and instanceProfile; an alias alone, or an AMI with amiFamily AL2023 (Karpenter's CEL rules).
    expect(Number('role' in doc.spec) + Number('instanceProfile' in doc.spec)).toBe(1);
    if (r.plan.nodeAmi) {
      expect(doc.spec.amiFamily).toBe('AL2023');
      expect(doc.spec.amiSelectorTerms.some((t: object) => 'alias' in t)).toBe(false);
    } else {
      expect(doc.spec.amiSelectorTerms).toEqual([{ alias: r.plan.karpenter.amiAlias }]);
      expect(doc.spec.amiFamily).toBeUndefined();
    }
  });

  it('the eksctl fragment (when the profile has eksctl:) validates against eksctl\'s schema', () => {
    const text = r.file('eksctl/nodegroup.yaml');
    if (!r.plan.eksctl) return expect(text).toBeUndefined();
    const doc = parseYaml(text!);
    expect(validateEksctlClusterConfig(doc)).toEqual([]);
    const ng = doc.managedNodeGroups[0];
    expect(ng.amiFamily).toBe('AmazonLinux2023');
    expect(ng.preBootstrapCommands).toEqual([selfExtractingScript(r.plan.generatorVersion, script, installSummary(r.plan))]);
    expect(ng.overrideBootstrapCommand).toBe(nodeConfig);
    expect(validateNodeConfig(parseYaml(ng.overrideBootstrapCommand))).toEqual([]);
    expect(ng.ami).toBe(r.plan.nodeAmi && 'id' in r.plan.nodeAmi ? r.plan.nodeAmi.id : undefined);
  });

  it('Bottlerocket settings: parallel pull only, read back with js-toml', () => {
    const text = r.file('bottlerocket/settings.toml');
    const parallelOnly = r.plan.mode === 'parallel' || r.plan.mode === 'fast-image-pull';
    if (!parallelOnly) return expect(text).toBeUndefined();
    const s = (loadToml(text!) as { settings: Record<string, any> }).settings;
    expect(s['container-runtime']).toEqual({ snapshotter: 'soci' });
    const soci = s['container-runtime-plugins']['soci-snapshotter'];
    expect(soci['pull-mode']).toBe('parallel-pull-unpack');
    const p = r.plan.parallel;
    if (p) {
      // -1 (soci's unlimited and default) is left out: Bottlerocket documents positive numbers.
      const limits = Object.entries({
        'max-concurrent-downloads': p.maxConcurrentDownloads,
        'max-concurrent-downloads-per-image': p.maxConcurrentDownloadsPerImage,
        'max-concurrent-unpacks': p.maxConcurrentUnpacks,
        'max-concurrent-unpacks-per-image': p.maxConcurrentUnpacksPerImage,
      }).filter(([, v]) => v !== -1);
      expect(soci['parallel-pull-unpack']).toEqual({
        ...Object.fromEntries(limits),
        'concurrent-download-chunk-size': p.chunkSize,
        'discard-unpacked-layers': p.discardUnpackedLayers,
      });
      for (const [, v] of limits) expect(v).toBeGreaterThan(0);
    }
    expect(s.kubernetes?.['cluster-name']).toBe(r.plan.cluster?.name);
  });

  it('D7: every part of our user data is plain 7-bit text, with no Content-Transfer-Encoding', async () => {
    const py = await parseMimeWithPython(mime);
    expect(py.defects).toEqual([]);
    for (const part of py.parts) {
      expect(Object.keys(part.headers).map((h) => h.toLowerCase())).not.toContain('content-transfer-encoding');
      expect(part.contentType).not.toBe('application/x-gzip');
    }
    expect(mime).toMatch(/^[\x01-\x7f]*$/);
  });

  it("D7: through Karpenter's re-serialization (mime.go) and the real cloud-init, our script runs, byte for byte install.sh, and nodeadm reads our NodeConfig", async () => {
    const userData = r.plan.karpenter ? parseYaml(r.file('karpenter/ec2nodeclass.yaml')!).spec.userData : mime;
    expect(userData).toBe(mime);
    await expectDelivered(karpenterUserData(userData), KARPENTER_NODECONFIG);
  });

  it('D7: a managed node group (EKS appends its NodeConfig, parts re-serialized as Karpenter does): our script runs and nodeadm reads our NodeConfig', async () => {
    await expectDelivered(eksManagedNodeGroupUserData(mime), EKS_NODECONFIG);
  });

  it("D7: eksctl's user data (preBootstrapCommands as shell parts, overrideBootstrapCommand): the wrapper unpacks to install.sh and nodeadm reads our NodeConfig", async () => {
    if (!r.plan.eksctl) return;
    const ng = parseYaml(r.file('eksctl/nodegroup.yaml')!).managedNodeGroups[0];
    const instance = eksctlUserData(ng);
    const ci = await cloudInitParts(instance);
    const scripts = ci.parts.filter((p) => p.contentType === 'text/x-shellscript');
    expect(scripts).toHaveLength(1);
    expect(scripts[0]!.handled).toBe(true);
    const wrapper = scripts[0]!.payload;
    expect((await shellcheck(wrapper)).output).toBe('');
    const unpacked = await runWrapper(wrapper);
    expect(unpacked.code, unpacked.stderr).toBe(0);
    expect(unpacked.ran).toBe(script);
    expect(unpacked.leftovers).toEqual([]);
    const ours = parseYaml(nodeConfig);
    // With a custom AMI eksctl writes its minimal NodeConfig before ours; on the EKS AMI, EKS appends its own.
    await expectNodeadmReads(instance, ours, ng.ami ? [parseYaml(EKSCTL_MINIMAL_NODECONFIG), ours] : [ours, parseYaml(EKS_NODECONFIG)]);
  });

  /** What the instance receives: cloud-init runs exactly our script, and nodeadm merges our NodeConfig before theirs. */
  async function expectDelivered(instance: string, theirs: string) {
    const ci = await cloudInitParts(instance);
    // cloud-init leaves NodeConfig parts to nodeadm ("Unhandled unknown content-type"); nothing else to say.
    expect(ci.logs.filter((l) => /WARNING|ERROR/.test(l) && !/Unhandled unknown content-type \(application\/node\.eks\.aws\)/.test(l))).toEqual([]);
    const scripts = ci.parts.filter((p) => p.contentType === 'text/x-shellscript');
    if (r.plan.ami?.baked) {
      expect(scripts).toEqual([]);
    } else {
      expect(scripts).toHaveLength(1);
      expect(scripts[0]!.handled).toBe(true);
      const payload = scripts[0]!.payload;
      expect(payload.startsWith('#!/bin/bash\n')).toBe(true);
      if (payload === script) {
        expect(Buffer.byteLength(mime)).toBeLessThanOrEqual(USER_DATA_PLAIN); // sent as it stands only when small
      } else {
        expect((await shellcheck(payload)).output).toBe('');
        const unpacked = await runWrapper(payload);
        expect(unpacked.code, unpacked.stderr).toBe(0);
        expect(unpacked.ran).toBe(script);
        expect(unpacked.leftovers).toEqual([]);
      }
      expectWiring(r.plan, script, nodeConfig);
    }
    const py = await parseMimeWithPython(instance);
    expect(py.parts.filter((p) => p.contentType === 'application/node.eks.aws').map((p) => p.body)).toEqual([nodeConfig, theirs]);
    const ours = parseYaml(nodeConfig);
    await expectNodeadmReads(instance, ours, [ours, parseYaml(theirs)]);
  }

  /** The real nodeadm-render over the instance's user data and our drop-ins: our NodeConfig's settings are merged. */
  async function expectNodeadmReads(instance: string, ours: { spec: Record<string, any> }, inOrder: { spec: Record<string, any> }[]) {
    const dropIns = Object.fromEntries(r.artifacts.filter((a) => a.path.startsWith('rootfs/etc/eks/nodeadm.d/')).map((a) => [a.path.split('/').at(-1)!, a.content]));
    const out = await nodeadmRender(instance, { dropIns, containerd: r.plan.containerd });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/validation: ok/);
    const merged = out.merged.spec;
    if (ours.spec.containerd) expect(merged.containerd).toEqual(ours.spec.containerd);
    if (ours.spec.featureGates) expect(merged.featureGates).toEqual(ours.spec.featureGates);
    for (const [k, v] of Object.entries(ours.spec.kubelet?.config ?? {})) expect(merged.kubelet.config[k]).toEqual(v);
    // The cluster block: nodeadm merges the NodeConfigs in order, later fields win.
    expect(merged.cluster).toMatchObject(Object.assign({}, ...inOrder.map((d) => d.spec.cluster ?? {})));
    // Every mode ends with containerd using soci: our wiring (user data or drop-in) or nodeadm's FastImagePull.
    expect(out.config).toMatch(/^snapshotter = ['"]soci['"]$/m);
  }
});

describe("D7: the Karpenter stand-in (test/support/reserialize.ts)", () => {
  const fixture = (f: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'karpenter', f), 'utf8');
  it("reads and writes Karpenter's own test data as its suite_test.go expects of mime.go", () => {
    const parts = [
      { contentType: 'application/node.eks.aws', content: fixture('nodeconfig.txt') },
      { contentType: 'text/x-shellscript; charset="us-ascii"', content: fixture('shell.txt') },
    ];
    expect(goMultipartRead(fixture('mime_valid.txt'))).toEqual(parts);
    expect(karpenterSerialize(parts)).toBe(fixture('mime_valid.txt'));
    expect(() => goMultipartRead(fixture('mime_bad_header.txt'))).toThrow();
  });
});

describe('D7: the old base64 script part', () => {
  it("is lost through Karpenter's re-serialization: cloud-init cannot decompress it and runs no script", async () => {
    const r = rendered('default');
    const script = r.file('install.sh')!;
    const nodeConfig = r.file('nodeconfig.yaml')!;
    // The user data main (3263af5) wrote for this profile: the script gzipped in a base64 part.
    const b64 = gzipSync(script, { level: 9 }).toString('base64').replace(/.{76}/g, '$&\n').replace(/\n$/, '');
    const old = [
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="==SOCI-INSTALLER-BOUNDARY=="',
      '',
      '--==SOCI-INSTALLER-BOUNDARY==',
      'Content-Type: application/x-gzip',
      'MIME-Version: 1.0',
      'Content-Transfer-Encoding: base64',
      '',
      b64,
      '--==SOCI-INSTALLER-BOUNDARY==',
      'Content-Type: application/node.eks.aws',
      'MIME-Version: 1.0',
      'Content-Transfer-Encoding: 7bit',
      '',
      nodeConfig,
      '--==SOCI-INSTALLER-BOUNDARY==--',
      '',
    ].join('\n');
    // Sent to EC2 as it stands, cloud-init would have run it ...
    const direct = await cloudInitParts(old);
    expect(direct.parts.filter((p) => p.contentType === 'text/x-shellscript').map((p) => p.payload)).toEqual([script]);
    // ... but Karpenter writes the part back without its Content-Transfer-Encoding.
    const instance = karpenterUserData(old);
    expect(instance).toContain(`Content-Type: application/x-gzip\n\n${b64.split('\n')[0]}`);
    // cloud-init's user-data processing stops there (ERROR_ON_USER_DATA_FAILURE, on by default): no script runs.
    await expect(cloudInitParts(instance)).rejects.toThrow(/Failed decompressing payload from application\/x-gzip .*Not a gzipped file/);
  });
});

describe('D7: user data over the limit', () => {
  it("is refused with one line naming user-data.mime, the fields that make it big, and the fix (bake an AMI)", () => {
    // 300 mirrors with hosts gzip cannot shrink (sha256 hex): the script outgrows EC2's limit even gzipped.
    const host = (i: number) => `${createHash('sha256').update(String(i)).digest('hex').slice(0, 40)}.example.com`;
    const mirrors = Array.from({ length: 300 }, (_, i) => ({ registry: `r${i}.example.com`, endpoints: [{ host: host(i) }] }));
    const profile = `soci: { source: ami, mirrors: ${JSON.stringify(mirrors)} }\n`;
    let err: unknown;
    try {
      render(profile);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProfileError);
    const lines = (err as ProfileError).problems;
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^user-data\.mime: \d+ bytes, over EC2's limit of 16384 .*soci\.mirrors \(\d+ bytes\).*Fix: bake the AMI with out\/packer\/ .*ami\.baked: true/);
    expect(lines[0]).not.toMatch(/remove mirrors/);
  });
});

describe('D22a: eksctl, managed node group on a custom AMI', () => {
  it('needs no cluster block in the profile: eksctl writes it, and nodeadm-render validates the merged NodeConfig', async () => {
    const r = render('soci: { source: ami }\nami: { id: ami-0123456789abcdef0 }\neksctl: { region: us-west-2, clusterName: demo }\n');
    const ng = parseYaml(r.artifacts.find((a) => a.path === 'eksctl/nodegroup.yaml')!.content).managedNodeGroups[0];
    expect(ng.ami).toBe('ami-0123456789abcdef0');
    expect(parseYaml(ng.overrideBootstrapCommand).spec.cluster).toBeUndefined();
    const instance = eksctlUserData(ng);
    const out = await nodeadmRender(instance, {
      dropIns: Object.fromEntries(r.artifacts.filter((a) => a.path.startsWith('rootfs/etc/eks/nodeadm.d/')).map((a) => [a.path.split('/').at(-1)!, a.content])),
    });
    expect(out.stderr).toMatch(/validation: ok/);
    expect(out.merged.spec.cluster).toMatchObject(parseYaml(EKSCTL_MINIMAL_NODECONFIG).spec.cluster);
    const scripts = (await cloudInitParts(instance)).parts.filter((p) => p.contentType === 'text/x-shellscript');
    expect((await runWrapper(scripts[0]!.payload)).ran).toBe(r.artifacts.find((a) => a.path === 'install.sh')!.content);
  });
});

describe('hostile values reach YAML intact', () => {
  it('tag keys and values, names and roles read back exactly from the EC2NodeClass', () => {
    const profile = parseYaml(caseProfile('hostile-values')!);
    const doc = parseYaml(rendered('hostile-values').file('karpenter/ec2nodeclass.yaml')!);
    expect(doc.spec.subnetSelectorTerms).toEqual(profile.karpenter.subnetSelectorTerms);
    expect(doc.spec.securityGroupSelectorTerms).toEqual(profile.karpenter.securityGroupSelectorTerms);
    expect(doc.spec.role).toBe(profile.karpenter.role);
    expect(doc.kind).toBe('EC2NodeClass'); // a "---" in a value did not start a new document
  });
});
