// The outputs for other tools, checked with the real validators: every EC2NodeClass against
// Karpenter's CRD schema, every eksctl fragment against eksctl's schema, Bottlerocket TOML read back
// with js-toml; and the user data Karpenter or eksctl would build around our parts (their NodeConfig
// appended) read back with Python's email module and cloud-init: our script and wiring survive.
import { readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { load as loadToml } from 'js-toml';
import { parse as parseYaml } from 'yaml';
import { shellcheck } from './support/shellcheck.js';
import { run } from './support/exec.js';
import { describe, expect, it } from 'vitest';
import { buildMime, CONTENT_TYPES, parseMime, PATHS, render, type Plan } from '../src/index.js';
import { containerdTable } from '../src/artifacts/containerd.js';
import { packedScript } from '../src/artifacts/eksctl.js';
import { caseProfile } from './golden.js';
import { cloudInitParts, parseMimeWithPython } from './support/mime.js';
import { validateEC2NodeClass, validateEksctlClusterConfig, validateNodeConfig } from './support/schemas.js';

const CASES = readdirSync(join(import.meta.dirname, 'cases')).sort();

function rendered(name: string) {
  const r = render(caseProfile(name), name);
  const file = (path: string) => r.artifacts.find((a) => a.path === path)?.content;
  return { ...r, file };
}

// What Karpenter appends (its own NodeConfig, last) and what eksctl adds (its NodeConfig): stand-ins
// with the fields they set, so the test sees the same MIME structure they produce.
const THEIR_NODECONFIG =
  'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: demo\n    apiServerEndpoint: https://ABCD.gr7.us-west-2.eks.amazonaws.com\n' +
  '    certificateAuthority: Q0E=\n    cidr: 10.100.0.0/16\n  kubelet:\n    config:\n      maxPods: 29\n    flags:\n      - --node-labels=karpenter.sh/nodepool=default\n';

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

  it('the EC2NodeClass (when the profile has karpenter:) validates against the Karpenter CRD and carries our user data', () => {
    const text = r.file('karpenter/ec2nodeclass.yaml');
    if (!r.plan.karpenter) return expect(text).toBeUndefined();
    const doc = parseYaml(text!);
    expect(validateEC2NodeClass(doc)).toEqual([]);
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
    expect(ng.preBootstrapCommands).toEqual([packedScript(r.plan, script)]);
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

  it("the MIME Karpenter builds (our parts, its NodeConfig last, boundary //) parses and keeps our script and wiring", async () => {
    // Karpenter keeps each part's bytes: a gzipped script part stays gzipped (parseMime unpacked it).
    const ours = parseMime(mime).map((p) => (p.contentType === CONTENT_TYPES.gzip ? { ...p, body: gzipSync(String(p.body)) } : p));
    const theirs = buildMime([...ours, { contentType: CONTENT_TYPES.nodeConfig, body: THEIR_NODECONFIG }], '//');
    const py = await parseMimeWithPython(theirs);
    expect(py.defects).toEqual([]);
    if (r.plan.ami?.baked) {
      // A baked AMI's user data is the cluster block only: ours, then Karpenter's.
      expect(py.parts.map((p) => [p.contentType, p.body])).toEqual([['application/node.eks.aws', nodeConfig], ['application/node.eks.aws', THEIR_NODECONFIG]]);
      return;
    }
    const gz = ours[0]!.contentType === CONTENT_TYPES.gzip;
    expect(py.parts.map((p) => p.contentType)).toEqual([gz ? 'application/x-gzip' : 'text/x-shellscript', 'application/node.eks.aws', 'application/node.eks.aws']);
    expect(py.parts[1]!.body).toBe(nodeConfig);
    expect(py.parts[2]!.body).toBe(THEIR_NODECONFIG);
    // cloud-init runs our script (gunzipped if need be) and leaves both NodeConfigs to nodeadm.
    const ci = await cloudInitParts(theirs);
    const scripts = ci.parts.filter((p) => p.contentType === 'text/x-shellscript');
    expect(scripts.map((p) => p.payload)).toEqual([script]);
    expect(scripts[0]!.handled).toBe(true);
    expectWiring(r.plan, scripts[0]!.payload, py.parts[1]!.body);
  });

  it('the MIME eksctl builds from the fragment (preBootstrapCommands, its NodeConfig, overrideBootstrapCommand) parses with cloud-init', async () => {
    if (!r.plan.eksctl) return;
    const ng = parseYaml(r.file('eksctl/nodegroup.yaml')!).managedNodeGroups[0];
    const theirs = buildMime(
      [
        ...ng.preBootstrapCommands.map((c: string) => ({ contentType: CONTENT_TYPES.shell, body: c })),
        { contentType: CONTENT_TYPES.nodeConfig, body: THEIR_NODECONFIG },
        { contentType: CONTENT_TYPES.nodeConfig, body: ng.overrideBootstrapCommand },
      ],
      '//',
    );
    const ci = await cloudInitParts(theirs);
    const scripts = ci.parts.filter((p) => p.contentType === 'text/x-shellscript');
    expect(scripts).toHaveLength(1);
    expect(scripts[0]!.handled).toBe(true);
    // The wrapper is shellcheck-clean and unpacks to install.sh byte for byte (run it with bash
    // standing in for bash's last call, which would run the script).
    const wrapper = scripts[0]!.payload;
    expect((await shellcheck(wrapper)).output).toBe('');
    const unpacked = await run('bash', ['-c', wrapper.replace(/\nbash "\$script"\n$/, '\ncat "$script"\n')]);
    expect(unpacked.code, unpacked.stderr).toBe(0);
    expect(unpacked.stdout).toBe(script);
    const py = await parseMimeWithPython(theirs);
    expect(py.defects).toEqual([]);
    expectWiring(r.plan, unpacked.stdout, py.parts.at(-1)!.body);
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
