// launch-template and cluster.fromEks against aws-sdk-client-mock: every branch (new template, new
// version, merge with existing user data, set default, dry run, rollout) and every AWS error.
// Nothing may reach AWS or the instance metadata address.
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKEFAKE';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret';
delete process.env.AWS_PROFILE;

import { gzipSync } from 'node:zlib';
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DescribeImagesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  EC2ServiceException,
  ModifyLaunchTemplateCommand,
} from '@aws-sdk/client-ec2';
import { DescribeClusterCommand, EKSClient, EKSServiceException, UpdateNodegroupVersionCommand } from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  buildMime,
  CONTENT_TYPES,
  describeClusterBlock,
  ec2Api,
  eksApi,
  ExternalError,
  launchTemplate,
  launchTemplateDryRun,
  loadProfile,
  parseMime,
  ProfileError,
  render,
  resolveClusterFromEks,
  UsageError,
  type LaunchTemplateOptions,
} from '../src/index.js';

const ec2Mock = mockClient(EC2Client);
const eksMock = mockClient(EKSClient);
const deps = {
  ec2: () => ec2Api({ client: new EC2Client({ region: 'us-west-2' }) }),
  eks: () => eksApi({ client: new EKSClient({ region: 'us-west-2' }) }),
};

const CLUSTER = `cluster:
  name: demo
  apiServerEndpoint: https://ABCD1234.gr7.us-west-2.eks.amazonaws.com
  certificateAuthority: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
  cidr: 10.100.0.0/16
`;
const BASE = 'node: { arch: x86_64, kubernetesVersion: "1.33" }\nsoci: { mode: parallel, source: ami }\n';
const profile = (extra = '') => loadProfile(BASE + extra);
const ourMime = (extra = '') => render(BASE + extra).artifacts.find((a) => a.path === 'user-data.mime')!.content;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
const opts = (o: Partial<LaunchTemplateOptions> = {}): LaunchTemplateOptions => ({ name: 'my-nodes', profile: profile(), ...o });

function sdkError(name: string, message = name, attempts = 1) {
  return new EC2ServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400, attempts } });
}
const NOT_FOUND = sdkError('InvalidLaunchTemplateName.NotFoundException', "At least one of the launch templates specified in the request does not exist.");

function existing(defaultVersion: number, data: { UserData?: string; ImageId?: string } = {}) {
  ec2Mock.on(DescribeLaunchTemplatesCommand).resolves({
    LaunchTemplates: [{ LaunchTemplateId: 'lt-0123456789abcdef0', LaunchTemplateName: 'my-nodes', DefaultVersionNumber: defaultVersion, LatestVersionNumber: defaultVersion + 2 }],
  });
  ec2Mock.on(DescribeLaunchTemplateVersionsCommand).resolves({
    LaunchTemplateVersions: [{ VersionNumber: defaultVersion, LaunchTemplateData: { InstanceType: 'm7i.xlarge', ...data } }],
  });
  ec2Mock.on(CreateLaunchTemplateVersionCommand).resolves({ LaunchTemplateVersion: { VersionNumber: defaultVersion + 3, LaunchTemplateId: 'lt-0123456789abcdef0' } });
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

beforeEach(() => {
  ec2Mock.reset();
  eksMock.reset();
});

describe('launch-template', () => {
  it('creates a template that does not exist: base64 user data is exactly the rendered MIME, IMDSv2 hop limit 2, tags', async () => {
    ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(NOT_FOUND);
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LaunchTemplateId: 'lt-0aaa', DefaultVersionNumber: 1, LatestVersionNumber: 1 } });
    const r = await launchTemplate(opts(), deps);
    expect(r).toMatchObject({ launchTemplateId: 'lt-0aaa', version: 1, created: true, defaultVersion: 1, keptParts: 0 });
    const calls = ec2Mock.commandCalls(CreateLaunchTemplateCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.LaunchTemplateName).toBe('my-nodes');
    expect(unb64(input.LaunchTemplateData!.UserData)).toBe(ourMime());
    expect(input.LaunchTemplateData!.MetadataOptions).toEqual({ HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 2 });
    expect(input.LaunchTemplateData!.ImageId).toBeUndefined();
    expect(input.TagSpecifications).toEqual([
      { ResourceType: 'launch-template', Tags: [{ Key: 'soci-installer:generated-by', Value: 'soci-installer 0.1.0' }, { Key: 'soci-installer:mode', Value: 'parallel' }] },
    ]);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(0);
    expect(ec2Mock.commandCalls(ModifyLaunchTemplateCommand)).toHaveLength(0);
  });

  it('adds a version based on the default version when the template exists; the default stays without --set-default', async () => {
    existing(4);
    const r = await launchTemplate(opts(), deps);
    expect(r).toMatchObject({ created: false, version: 7, sourceVersion: 4, defaultVersion: 4 });
    expect(ec2Mock.commandCalls(DescribeLaunchTemplateVersionsCommand)[0]!.args[0].input).toEqual({ LaunchTemplateId: 'lt-0123456789abcdef0', Versions: ['4'] });
    const input = ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)[0]!.args[0].input;
    expect(input.SourceVersion).toBe('4');
    expect(input.LaunchTemplateId).toBe('lt-0123456789abcdef0');
    // Only what we set: the user's other settings come from the source version.
    expect(Object.keys(input.LaunchTemplateData!).sort()).toEqual(['MetadataOptions', 'UserData']);
    expect(unb64(input.LaunchTemplateData!.UserData)).toBe(ourMime());
    expect(ec2Mock.commandCalls(ModifyLaunchTemplateCommand)).toHaveLength(0);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateCommand)).toHaveLength(0);
  });

  it('--set-default makes the new version the default', async () => {
    existing(4);
    const r = await launchTemplate(opts({ setDefault: true }), deps);
    expect(r.defaultVersion).toBe(7);
    expect(ec2Mock.commandCalls(ModifyLaunchTemplateCommand)[0]!.args[0].input).toEqual({ LaunchTemplateId: 'lt-0123456789abcdef0', DefaultVersion: '7' });
  });

  it("merges into existing MIME user data: the user's parts stay in order, ours from an earlier run are replaced, ours go last", async () => {
    const userScript = '#!/bin/bash\necho user setup\n';
    const userNodeConfig = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n      maxPods: 58\n';
    // An earlier run, in another mode: its parts must go.
    const earlier = parseMime(render('soci: { mode: lazy, source: ami }\n').artifacts.find((a) => a.path === 'user-data.mime')!.content);
    const before = buildMime(
      [{ contentType: CONTENT_TYPES.shell, body: userScript }, ...earlier, { contentType: CONTENT_TYPES.nodeConfig, body: userNodeConfig }],
      'USERBOUNDARY',
    );
    existing(2, { UserData: b64(before) });
    const r = await launchTemplate(opts(), deps);
    expect(r).toMatchObject({ keptParts: 2, replacedParts: 2 });
    const after = parseMime(unb64(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)[0]!.args[0].input.LaunchTemplateData!.UserData));
    const ours = parseMime(ourMime());
    expect(after).toEqual([{ contentType: CONTENT_TYPES.shell, body: userScript }, { contentType: CONTENT_TYPES.nodeConfig, body: userNodeConfig }, ...ours]);
  });

  it('merges into plain (non-MIME) user data by wrapping it as one part, and runs twice without growing', async () => {
    existing(1, { UserData: b64('#!/bin/bash\necho plain\n') });
    await launchTemplate(opts(), deps);
    const once = unb64(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)[0]!.args[0].input.LaunchTemplateData!.UserData);
    expect(parseMime(once).map((p) => p.body)).toEqual(['#!/bin/bash\necho plain\n', ...parseMime(ourMime()).map((p) => p.body)]);
    ec2Mock.reset();
    existing(2, { UserData: b64(once) });
    const r = await launchTemplate(opts(), deps);
    expect(r).toMatchObject({ keptParts: 1, replacedParts: 2 });
    expect(unb64(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)[0]!.args[0].input.LaunchTemplateData!.UserData)).toBe(once);
  });

  it('D7: merged user data over EC2\'s limit is refused naming both sides and the fix; a gzip part of the user\'s is refused, not sent base64', async () => {
    existing(1, { UserData: b64('#cloud-config\n' + '# padding\n'.repeat(1500)) });
    const err = await failure(launchTemplate(opts(), deps));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/over EC2's limit of 16384: ours \(user-data\.mime\) is \d+ bytes, the 1 part\(s\) of version 1 kept beside it about \d+; shorten those parts, or bake an AMI/);
    ec2Mock.reset();
    const gz = gzipSync('#!/bin/bash\necho zipped\n').toString('base64');
    existing(1, { UserData: b64(`MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n${gz}\n--b--\n`) });
    expect((await failure(launchTemplate(opts(), deps))).message).toMatch(/part 1 \(application\/x-gzip\) is gzip-compressed/);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(0);
  });

  it('merged user data close to the limit is written, with the warning render gives for ours: EKS and Karpenter append their NodeConfig', async () => {
    const ours = Buffer.byteLength(ourMime());
    // A cloud-config part that brings the merged user data to about 15000 bytes: over the 14336 render warns at.
    existing(1, { UserData: b64('#cloud-config\n' + '#'.repeat(15000 - ours - 200) + '\n') });
    const r = await launchTemplate(opts(), deps);
    const size = Buffer.byteLength(unb64(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)[0]!.args[0].input.LaunchTemplateData!.UserData));
    expect(size).toBeGreaterThan(14336);
    expect(size).toBeLessThanOrEqual(16384);
    expect(r.warnings).toContainEqual(
      `launch template "my-nodes": its user data merged with ours is ${size} bytes: EKS and Karpenter append their own NodeConfig, and EC2 refuses more than 16384 (ours is ${ours} bytes, the 1 part(s) of version 1 kept beside it about ${size - ours})`,
    );
  });

  it("D11: a kept NodeConfig of the user's with containerd 1.x CRI keys is refused on containerd 2 (soci's v3 wiring would make containerd ignore them), naming each key and where it lives now; the CRI server's keys, v3 names, version = 2, other keys, or containerd 1.7 pass", async () => {
    const part = (toml: string) => `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n${toml.replace(/^(?=.)/gm, '      ')}`;
    const userData = (toml: string) => b64(buildMime([{ contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho hi\n' }, { contentType: CONTENT_TYPES.nodeConfig, body: part(toml) }]));
    const v1 = '[plugins."io.containerd.grpc.v1.cri"]\nmax_concurrent_downloads = 7\n';
    existing(3, { UserData: userData(v1) });
    const err = await failure(launchTemplate(opts(), deps));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/part 2 of version 3's user data: its containerd\.config sets keys under io\.containerd\.grpc\.v1\.cri that containerd 2 \(config version 3\) no longer reads there: max_concurrent_downloads \(now in io\.containerd\.cri\.v1\.images\)\. Merged with soci's wiring/);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(0);
    // Beside the CRI server's own keys, which stay, only the others are named.
    const mixed = '[plugins."io.containerd.grpc.v1.cri"]\nstream_idle_timeout = "1h"\nsandbox_image = "p"\n[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "overlayfs"\n';
    ec2Mock.reset();
    existing(3, { UserData: userData(mixed) });
    const named = (await failure(launchTemplate(opts(), deps))).message;
    expect(named).toContain('no longer reads there: containerd (now in io.containerd.cri.v1.runtime, its snapshotter, disable_snapshot_annotations, discard_unpacked_layers and runtimes.*.snapshot in io.containerd.cri.v1.images); sandbox_image (now in io.containerd.cri.v1.images as pinned_images.sandbox).');
    expect(named).not.toContain('stream_idle_timeout');
    for (const [toml, o] of [
      ['[plugins."io.containerd.grpc.v1.cri"]\nstream_idle_timeout = "1h"\n[plugins."io.containerd.grpc.v1.cri".x509_key_pair_streaming]\ntls_cert_file = "/etc/cri/tls.crt"\n', opts()],
      [`version = 2\n${v1}`, opts()],
      ['[plugins."io.containerd.cri.v1.images"]\nmax_concurrent_downloads = 7\n', opts()],
      ['[metrics]\naddress = "127.0.0.1:1338"\n', opts()],
      [v1, opts({ profile: loadProfile('node: { arch: x86_64, kubernetesVersion: "1.32", containerd: "1.7" }\nsoci: { mode: parallel, source: ami }\n') })],
    ] as const) {
      ec2Mock.reset();
      existing(3, { UserData: userData(toml) });
      await launchTemplate(o, deps);
      expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand), toml).toHaveLength(1);
    }
  });

  it("D11 over several NodeConfig parts: judged on their containerd.config merged as nodeadm merges them, naming the parts that set the keys", async () => {
    const part = (toml: string) => ({ contentType: CONTENT_TYPES.nodeConfig, body: `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n${toml.replace(/^(?=.)/gm, '      ')}` });
    const script = { contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho hi\n' };
    const cri = '[plugins."io.containerd.grpc.v1.cri"]\n';
    // Keys in parts 2 and 4, made stale by the version 3 of part 5: all named, with both parts.
    existing(3, { UserData: b64(buildMime([script, part(`version = 2\n${cri}sandbox_image = "p"\n`), part('[metrics]\naddress = "127.0.0.1:1338"\n'), part(`${cri}max_concurrent_downloads = 7\n`), part('version = 3\n')])) });
    const err = await failure(launchTemplate(opts(), deps));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain(
      "parts 2, 4 of version 3's user data: their containerd.config, merged as nodeadm merges them, sets keys under io.containerd.grpc.v1.cri that containerd 2 (config version 3) no longer reads there: max_concurrent_downloads (now in io.containerd.cri.v1.images); sandbox_image (now in io.containerd.cri.v1.images as pinned_images.sandbox).",
    );
    expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(0);
    // A version 2 in one part, or a version 3 name in another, covers the keys of the others.
    for (const parts of [[part('version = 2\n'), part(`${cri}max_concurrent_downloads = 7\n`)], [part(`${cri}enable_selinux = true\n`), part('[plugins."io.containerd.cri.v1.runtime"]\nenable_cdi = true\n')]]) {
      ec2Mock.reset();
      existing(3, { UserData: b64(buildMime([script, ...parts])) });
      await launchTemplate(opts(), deps);
      expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(1);
    }
  });

  it("a kept NodeConfig of the user's that turns on nodeadm's FastImagePull gate is refused where we install soci (nodeadm would replace soci's config at every boot); fast-image-pull and other gates pass", async () => {
    const part = (gates: string) => `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n${gates}`;
    const userData = (gates: string) => b64(buildMime([{ contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho hi\n' }, { contentType: CONTENT_TYPES.nodeConfig, body: part(gates) }]));
    existing(3, { UserData: userData('    FastImagePull: true\n') });
    const err = await failure(launchTemplate(opts(), deps));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/part 2 of version 3's user data turns on nodeadm's FastImagePull gate: nodeadm would replace soci's config with its own \(parallel pull\) at every boot; remove the gate, or use soci\.mode: fast-image-pull$/);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(0);
    // As nodeadm reads it (YAML 1.1: test/validators.test.ts holds the rule against nodeadm itself).
    ec2Mock.reset();
    existing(3, { UserData: userData('    FastImagePull: yes\n') });
    expect((await failure(launchTemplate(opts(), deps))).message).toMatch(/part 2 of version 3's user data turns on nodeadm's FastImagePull gate/);
    for (const [gates, o] of [
      ['    FastImagePull: false\n', opts()],
      ['    InstanceIdNodeName: true\n', opts()],
      ['    FastImagePull: true\n', opts({ profile: loadProfile('node: { arch: x86_64, kubernetesVersion: "1.33" }\nsoci: { mode: fast-image-pull }\n') })],
    ] as const) {
      ec2Mock.reset();
      existing(3, { UserData: userData(gates) });
      await launchTemplate(o, deps);
      expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand), gates).toHaveLength(1);
    }
  });

  it("the FastImagePull gate over several NodeConfig parts: judged as nodeadm merges them, a later value winning", async () => {
    const part = (on: boolean) => ({ contentType: CONTENT_TYPES.nodeConfig, body: `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    FastImagePull: ${on}\n` });
    const other = { contentType: CONTENT_TYPES.nodeConfig, body: 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    InstanceIdNodeName: true\n' };
    existing(3, { UserData: b64(buildMime([part(false), part(true), other])) });
    expect((await failure(launchTemplate(opts(), deps))).message).toMatch(/part 2 of version 3's user data turns on nodeadm's FastImagePull gate/);
    ec2Mock.reset();
    existing(3, { UserData: b64(buildMime([part(true), other, part(false)])) });
    await launchTemplate(opts(), deps);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(1);
  });

  it("a kept NodeConfig of the user's that nodeadm cannot decode is refused, naming the part, what nodeadm would say and why it matters (nodeadm would use none of the user data); what nodeadm decodes passes", async () => {
    const userData = (body: string, contentType: string = CONTENT_TYPES.nodeConfig) => buildMime([{ contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho hi\n' }, { contentType, body }]);
    const H = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n';
    const consequence = '. nodeadm then uses none of the user data, ours and the cluster block included, so nodes would not join; fix or remove that part first';
    for (const [body, contentType, problem] of [
      [`${H}spec:\n  cluster: {name: a\n`, CONTENT_TYPES.nodeConfig, 'its YAML does not parse: Flow map in block collection must be sufficiently indented and end with a } at line 5, column 1'],
      ['apiVersion: node.eks.aws/v1beta1\nkind: NodeConfig\n', CONTENT_TYPES.nodeConfig, 'nodeadm knows no kind NodeConfig of apiVersion node.eks.aws/v1beta1 (it reads NodeConfig of node.eks.aws/v1alpha1)'],
      [`${H}spec:\n  cluster: {name: yes}\n`, 'application/node.eks.aws; charset="us-ascii"', 'spec.cluster.name is a boolean where nodeadm expects a string (quote it)'],
    ]) {
      ec2Mock.reset();
      existing(3, { UserData: b64(userData(body!, contentType)) });
      const err = await failure(launchTemplate(opts(), deps));
      expect(err).toBeInstanceOf(UsageError);
      expect(err.message).toBe(`the launch template's current user data: part 2 (${contentType}) is a NodeConfig nodeadm cannot decode: ${problem}${consequence}`);
      expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(0);
      // The dry run with the same user data in a file refuses it the same way.
      expect(() => launchTemplateDryRun(opts({ userData: { bytes: Buffer.from(userData(body!, contentType)), path: 'current.mime' } }))).toThrow(`part 2 (${contentType}) is a NodeConfig nodeadm cannot decode: ${problem}${consequence}`);
    }
    // What nodeadm decodes (test/validators.test.ts holds each verdict against nodeadm-render): unknown
    // fields, kind and apiVersion in other letter case, a quoted yes, a flow list closed at column 0.
    for (const body of [`${H}spec:\n  clustr: 3\n`, 'APIVERSION: node.eks.aws/v1alpha1\nKind: NodeConfig\n', `${H}spec:\n  cluster: {name: 'yes'}\n`, `${H}spec:\n  kubelet:\n    flags: [\n--v=2\n]\n`]) {
      ec2Mock.reset();
      existing(3, { UserData: b64(userData(body)) });
      await launchTemplate(opts(), deps);
      expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand), body).toHaveLength(1);
    }
  });

  it('refuses user data it cannot merge safely', async () => {
    existing(1, { UserData: b64('some binary-ish thing') });
    const err = await failure(launchTemplate(opts(), deps));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/neither MIME, a #! script, #cloud-config nor a NodeConfig/);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(0);
  });

  it('--ami needs the full cluster block (EKS merges nothing for a custom AMI), and sets ImageId', async () => {
    ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(NOT_FOUND);
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LaunchTemplateId: 'lt-0aaa', DefaultVersionNumber: 1, LatestVersionNumber: 1 } });
    const err = await failure(launchTemplate(opts({ ami: 'ami-0123456789abcdef0' }), deps));
    expect(err).toBeInstanceOf(ProfileError);
    expect(err.message).toMatch(/^cluster: required because the launch template sets ImageId ami-0123456789abcdef0/);
    expect(ec2Mock.calls()).toHaveLength(0);
    await launchTemplate(opts({ ami: 'ami-0123456789abcdef0', profile: profile(CLUSTER) }), deps);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateCommand)[0]!.args[0].input.LaunchTemplateData!.ImageId).toBe('ami-0123456789abcdef0');
  });

  it('--ami-from-ssm sets ImageId to the public SSM parameter of the EKS AL2023 AMI', async () => {
    const dry = launchTemplateDryRun(opts({ amiFromSsm: true, profile: profile(CLUSTER) }));
    expect((dry.ifTemplateIsNew.CreateLaunchTemplate.LaunchTemplateData as { ImageId: string }).ImageId).toBe(
      'resolve:ssm:/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/recommended/image_id',
    );
    expect(() => launchTemplateDryRun(opts({ amiFromSsm: true, profile: loadProfile(CLUSTER + 'soci: { source: ami }\n') }))).toThrow(/set node.arch/);
  });

  it('D15: --ami-from-ssm names the profile\'s ami.variant (nvidia, neuron), not always standard', () => {
    const imageId = (extra: string) =>
      (launchTemplateDryRun(opts({ amiFromSsm: true, profile: profile(CLUSTER + extra) })).ifTemplateIsNew.CreateLaunchTemplate.LaunchTemplateData as { ImageId: string }).ImageId;
    expect(imageId('ami: { variant: nvidia }\n')).toBe('resolve:ssm:/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/nvidia/recommended/image_id');
    expect(imageId('ami: { variant: neuron }\n')).toBe('resolve:ssm:/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/neuron/recommended/image_id');
    expect(imageId('ami: { variant: standard }\n')).toBe('resolve:ssm:/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/recommended/image_id');
    expect(() => launchTemplateDryRun(opts({ ami: 'ami-1; x', profile: profile(CLUSTER) }))).toThrow(/not an AMI id/);
  });

  it('ami.baked in the profile: the newest available AMI of this account with the tags of our bake', async () => {
    const p = loadProfile(BASE + CLUSTER + 'ami: { baked: true, tags: { team: platform } }\n');
    ec2Mock.on(DescribeImagesCommand).resolves({
      Images: [
        { ImageId: 'ami-0000000000000000b', CreationDate: '2026-10-01T00:00:00.000Z' },
        { ImageId: 'ami-0000000000000000c', CreationDate: '2026-11-01T00:00:00.000Z' },
        { ImageId: 'ami-0000000000000000a', CreationDate: '2026-09-01T00:00:00.000Z' },
      ],
    });
    ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(NOT_FOUND);
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LaunchTemplateId: 'lt-0aaa', DefaultVersionNumber: 1, LatestVersionNumber: 1 } });
    const r = await launchTemplate(opts({ profile: p }), deps);
    expect(r.imageId).toBe('ami-0000000000000000c');
    expect(ec2Mock.commandCalls(DescribeImagesCommand)[0]!.args[0].input).toEqual({
      Owners: ['self'],
      Filters: [
        { Name: 'tag:team', Values: ['platform'] },
        { Name: 'tag:soci-installer:soci-mode', Values: ['parallel'] },
        { Name: 'tag:soci-installer:kubernetes', Values: ['1.33'] },
        { Name: 'tag:soci-installer:variant', Values: ['standard'] },
        { Name: 'state', Values: ['available'] },
      ],
    });
    expect(ec2Mock.commandCalls(CreateLaunchTemplateCommand)[0]!.args[0].input.LaunchTemplateData!.ImageId).toBe('ami-0000000000000000c');
    // --dry-run calls nothing: the ImageId says what would be looked up.
    const dry = launchTemplateDryRun(opts({ profile: p }));
    expect((dry.ifTemplateIsNew.CreateLaunchTemplate.LaunchTemplateData as { ImageId: string }).ImageId).toBe(
      '<the newest AMI of this account tagged team=platform, soci-installer:soci-mode=parallel, soci-installer:kubernetes=1.33, soci-installer:variant=standard>',
    );
    ec2Mock.reset();
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    const err = await failure(launchTemplate(opts({ profile: p }), deps));
    expect(err.message).toBe('ami.tags: no available AMI owned by this account is tagged team=platform, soci-installer:soci-mode=parallel, soci-installer:kubernetes=1.33, soci-installer:variant=standard; bake one, or pass --ami ID');
    expect(ec2Mock.commandCalls(CreateLaunchTemplateCommand)).toHaveLength(0);
  });

  it('a source version with its own ImageId needs the cluster block too', async () => {
    existing(3, { ImageId: 'ami-0fedcba9876543210' });
    const err = await failure(launchTemplate(opts(), deps));
    expect(err.message).toMatch(/version 3 of launch template "my-nodes" sets ImageId ami-0fedcba9876543210/);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)).toHaveLength(0);
    // ... unless the user's own NodeConfig there carries it: that part is kept.
    ec2Mock.reset();
    const theirs = `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n${CLUSTER.replace(/^/gm, '  ').trimEnd()}\n`;
    existing(3, { ImageId: 'ami-0fedcba9876543210', UserData: b64(buildMime([{ contentType: CONTENT_TYPES.nodeConfig, body: theirs }])) });
    const r = await launchTemplate(opts(), deps);
    expect(r.keptParts).toBe(1);
    expect(parseMime(unb64(ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)[0]!.args[0].input.LaunchTemplateData!.UserData))[0]!.body).toBe(theirs);
  });

  it('the profile can relax the metadata options', async () => {
    ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(NOT_FOUND);
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LaunchTemplateId: 'lt-0aaa', DefaultVersionNumber: 1, LatestVersionNumber: 1 } });
    await launchTemplate(opts({ profile: profile('launchTemplate: { metadataOptions: { httpTokens: optional, httpPutResponseHopLimit: 1 } }\n') }), deps);
    expect(ec2Mock.commandCalls(CreateLaunchTemplateCommand)[0]!.args[0].input.LaunchTemplateData!.MetadataOptions).toEqual({
      HttpEndpoint: 'enabled',
      HttpTokens: 'optional',
      HttpPutResponseHopLimit: 1,
    });
  });

  it('--dry-run calls nothing and shows both requests', () => {
    const dry = launchTemplateDryRun(opts({ setDefault: true, rollout: { nodegroup: 'ng-1', cluster: 'demo' } }));
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(eksMock.calls()).toHaveLength(0);
    const create = dry.ifTemplateIsNew.CreateLaunchTemplate as { LaunchTemplateName: string; LaunchTemplateData: { UserData: string } };
    expect(create.LaunchTemplateName).toBe('my-nodes');
    expect(unb64(create.LaunchTemplateData.UserData)).toBe(ourMime());
    expect(dry.ifTemplateExists.CreateLaunchTemplateVersion.SourceVersion).toBe('<its default version number>');
    expect(dry.ifTemplateExists.ModifyLaunchTemplate).toBeDefined();
    expect(dry.UpdateNodegroupVersion).toMatchObject({ clusterName: 'demo', nodegroupName: 'ng-1' });
  });

  it('--dry-run with --user-data-file merges ours into that user data, with the checks a run makes, and shows the result', () => {
    const userScript = { contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho user setup\n' };
    const earlier = parseMime(render('soci: { mode: lazy, source: ami }\n').artifacts.find((a) => a.path === 'user-data.mime')!.content);
    const file = Buffer.from(buildMime([userScript, ...earlier], 'USERBOUNDARY'));
    const dry = launchTemplateDryRun(opts({ userData: { bytes: file, path: 'current.mime' } }));
    expect(ec2Mock.calls()).toHaveLength(0);
    const merged = buildMime([userScript, ...parseMime(ourMime())]);
    expect(dry.ifTemplateExists.mergedUserData).toBe(merged);
    expect(unb64((dry.ifTemplateExists.CreateLaunchTemplateVersion.LaunchTemplateData as { UserData: string }).UserData)).toBe(merged);
    expect(dry.ifTemplateExists.note).toMatch(/^UserData is current\.mime's parts with ours merged in: kept 1, replaced 2/);
    // A new template gets ours alone.
    expect(unb64((dry.ifTemplateIsNew.CreateLaunchTemplate.LaunchTemplateData as { UserData: string }).UserData)).toBe(ourMime());
    // What a run refuses, the dry run refuses, naming the file.
    const cri = buildMime([{ contentType: CONTENT_TYPES.nodeConfig, body: 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n      [plugins."io.containerd.grpc.v1.cri"]\n      max_concurrent_downloads = 7\n' }]);
    expect(() => launchTemplateDryRun(opts({ userData: { bytes: Buffer.from(cri), path: 'current.mime' } }))).toThrow(
      /^launch template "my-nodes": part 1 of current\.mime's user data: its containerd\.config sets keys under io\.containerd\.grpc\.v1\.cri/,
    );
    expect(() => launchTemplateDryRun(opts({ userData: { bytes: Buffer.from(`#cloud-config\n${'#'.repeat(16000)}\n`), path: 'current.mime' } }))).toThrow(/over EC2's limit of 16384/);
  });

  it('--rollout points the node group at the new version', async () => {
    existing(4);
    eksMock.on(UpdateNodegroupVersionCommand).resolves({ update: { id: 'upd-1', status: 'InProgress' } });
    const r = await launchTemplate(opts({ setDefault: true, rollout: { nodegroup: 'ng-1', cluster: 'demo' } }), deps);
    expect(eksMock.commandCalls(UpdateNodegroupVersionCommand)[0]!.args[0].input).toEqual({
      clusterName: 'demo',
      nodegroupName: 'ng-1',
      launchTemplate: { id: 'lt-0123456789abcdef0', version: '7' },
    });
    expect(r.rollout).toEqual({ cluster: 'demo', nodegroup: 'ng-1', updateId: 'upd-1' });
    expect(() => launchTemplateDryRun(opts({ rollout: { nodegroup: 'ng-1' } }))).toThrow(/--rollout: name the cluster/);
  });

  it('refuses a name EC2 would refuse, before calling anything', async () => {
    const err = await failure(launchTemplate(opts({ name: 'a b' }), deps));
    expect(err).toBeInstanceOf(UsageError);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  describe('AWS errors become one clear line', () => {
    const cases: [string, () => void, RegExp][] = [
      [
        'no credentials',
        () => ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' })),
        /^ec2:DescribeLaunchTemplates: no AWS credentials found \(set AWS_PROFILE/,
      ],
      [
        'access denied',
        () => {
          ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(NOT_FOUND);
          ec2Mock.on(CreateLaunchTemplateCommand).rejects(sdkError('UnauthorizedOperation', 'You are not authorized to perform this operation. Encoded authorization failure message: AAAA'));
        },
        /^ec2:CreateLaunchTemplate: access denied for launch template "my-nodes": the caller needs ec2:CreateLaunchTemplate \(see "IAM policies" in the README\)$/,
      ],
      [
        'malformed user data',
        () => {
          existing(1);
          ec2Mock.on(CreateLaunchTemplateVersionCommand).rejects(sdkError('InvalidUserData.Malformed', 'Invalid BASE64 encoding of user data.'));
        },
        /^ec2:CreateLaunchTemplateVersion: EC2 refused the user data of launch template "my-nodes" as malformed \(InvalidUserData.Malformed\): Invalid BASE64/,
      ],
      [
        'name conflict',
        () => {
          ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(NOT_FOUND);
          ec2Mock.on(CreateLaunchTemplateCommand).rejects(sdkError('InvalidLaunchTemplateName.AlreadyExistsException', 'Launch template name already in use.'));
        },
        /^ec2:CreateLaunchTemplate: launch template "my-nodes" already exists \(created by someone else meanwhile\?\); run the command again/,
      ],
      [
        'throttling, after the SDK retried',
        () => ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(sdkError('RequestLimitExceeded', 'Request limit exceeded.', 5)),
        /^ec2:DescribeLaunchTemplates: AWS is throttling requests \(RequestLimitExceeded\) and 5 attempts failed; try again in a minute$/,
      ],
      [
        'no region',
        () => ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(new Error('Region is missing')),
        /^ec2:DescribeLaunchTemplates: no AWS region: pass --region or set AWS_REGION$/,
      ],
      [
        'anything else keeps its code and message',
        () => ec2Mock.on(DescribeLaunchTemplatesCommand).rejects(sdkError('InternalError', 'An internal error has occurred')),
        /^ec2:DescribeLaunchTemplates: launch template "my-nodes": InternalError: An internal error has occurred$/,
      ],
    ];
    it.each(cases)('%s', async (_name, setup, message) => {
      setup();
      const err = await failure(launchTemplate(opts(), deps));
      expect(err).toBeInstanceOf(ExternalError);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('\n');
    });

    it('access denied on --rollout names eks:UpdateNodegroupVersion', async () => {
      existing(1);
      eksMock.on(UpdateNodegroupVersionCommand).rejects(new EKSServiceException({ name: 'AccessDeniedException', message: 'User is not authorized', $fault: 'client', $metadata: {} }));
      const err = await failure(launchTemplate(opts({ rollout: { nodegroup: 'ng-1', cluster: 'demo' } }), deps));
      expect(err.message).toBe('eks:UpdateNodegroupVersion: access denied for node group "ng-1" of cluster "demo": the caller needs eks:UpdateNodegroupVersion (see "IAM policies" in the README)');
    });
  });
});

describe('cluster.fromEks: the cluster block from EKS DescribeCluster', () => {
  const eks = () => eksApi({ client: new EKSClient({ region: 'us-west-2' }) });
  const cluster = (net: Record<string, string> | undefined, extra: Record<string, unknown> = {}) =>
    eksMock.on(DescribeClusterCommand, { name: 'demo' }).resolves({
      cluster: { name: 'demo', status: 'ACTIVE', endpoint: 'https://ABCD.gr7.us-west-2.eks.amazonaws.com', certificateAuthority: { data: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=' }, ...(net ? { kubernetesNetworkConfig: net } : {}), ...extra },
    });

  it('fills endpoint, certificate authority and service CIDR', async () => {
    cluster({ ipFamily: 'ipv4', serviceIpv4Cidr: '172.20.0.0/16' });
    const p = await resolveClusterFromEks(loadProfile('cluster: { fromEks: demo }\nsoci: { source: ami }\n'), await eks());
    expect(p.cluster).toEqual({ name: 'demo', apiServerEndpoint: 'https://ABCD.gr7.us-west-2.eks.amazonaws.com', certificateAuthority: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=', cidr: '172.20.0.0/16' });
    // ... and the rendered NodeConfig carries it.
    expect(render(`${'cluster:\n'}${Object.entries(p.cluster!).map(([k, v]) => `  ${k}: ${v}\n`).join('')}soci: { source: ami }\n`).artifacts.find((a) => a.path === 'nodeconfig.yaml')!.content).toContain('cidr: 172.20.0.0/16');
  });

  it('--cluster NAME does the same without cluster: in the profile', async () => {
    cluster({ serviceIpv4Cidr: '10.100.0.0/16' });
    const p = await resolveClusterFromEks(loadProfile('soci: { source: ami }\n'), await eks(), 'demo');
    expect(p.cluster?.cidr).toBe('10.100.0.0/16');
  });

  it('an IPv6 cluster gives its IPv6 service CIDR', async () => {
    cluster({ ipFamily: 'ipv6', serviceIpv6Cidr: 'fd12:3456:789a::/108', serviceIpv4Cidr: '' });
    expect((await describeClusterBlock(await eks(), 'demo')).cidr).toBe('fd12:3456:789a::/108');
  });

  it('a cluster without a service CIDR field: a clear error, or cluster.cidr in the profile as the fallback', async () => {
    cluster(undefined);
    const err = await failure(resolveClusterFromEks(loadProfile('cluster: { fromEks: demo }\nsoci: { source: ami }\n'), await eks()));
    expect(err).toBeInstanceOf(ExternalError);
    expect(err.message).toMatch(/^eks:DescribeCluster: cluster "demo" reports no service CIDR \(kubernetesNetworkConfig.serviceIpv4Cidr\); set cluster.cidr beside cluster.fromEks/);
    const p = await resolveClusterFromEks(loadProfile('cluster: { fromEks: demo, cidr: 10.100.0.0/16 }\nsoci: { source: ami }\n'), await eks());
    expect(p.cluster?.cidr).toBe('10.100.0.0/16');
  });

  it('a cluster still being created, and one that does not exist', async () => {
    eksMock.on(DescribeClusterCommand).resolves({ cluster: { name: 'demo', status: 'CREATING' } });
    expect((await failure(describeClusterBlock(await eks(), 'demo'))).message).toMatch(/has no endpoint or certificate authority yet \(status CREATING\)/);
    eksMock.reset();
    eksMock.on(DescribeClusterCommand).rejects(new EKSServiceException({ name: 'ResourceNotFoundException', message: 'No cluster found for name: nope.', $fault: 'client', $metadata: {} }));
    expect((await failure(describeClusterBlock(await eks(), 'nope'))).message).toBe('eks:DescribeCluster: cluster "nope" not found: No cluster found for name: nope.');
  });

  it('plan refuses an unresolved cluster.fromEks (render needs the CLI or resolveClusterFromEks)', () => {
    expect(() => render('cluster: { fromEks: demo }\nsoci: { source: ami }\n')).toThrow(/must be read from EKS first/);
  });
});
