/**
 * Proves that each real validator in test/support/ runs on this machine AND reports failures, then runs
 * the real consumers over every golden case: nodeadm's own config phase (nodeadm-render) over our user
 * data and drop-ins, the real containerd 2.2.4 / 1.7.27 reading what nodeadm wrote, and the real soci
 * v0.15.0 loading and starting with our config.toml.
 * Nothing here skips: a missing tool fails the test with the command that installs it.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { basename, join } from 'node:path';
import { load as parseToml } from 'js-toml';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildMime, CONTENT_TYPES, loadProfile, mergeUserData, parseMime, plan as planOf, ProfileError, render, PATHS, UsageError } from '../src/index.js';
import { sociConfigToml } from '../src/artifacts/soci-config.js';
import { CRI_SERVER_KEYS, staleCriKeys, staleCriProblem } from '../src/containerd-cri-keys.js';
import { yamlText } from '../src/render/yaml.js';
import { caseProfile } from './golden.js';
import {
  appendMimePart,
  CONTAINERD_LINES,
  configDump,
  containerdBinary,
  ctrBinary,
  flatten,
  getPath,
  nodeadmRender,
  parsePluginsLs,
  startContainerd,
  VERSION_LINES,
  type ContainerdLine,
} from './support/containerd.js';
import { requireExecutable, requireOnPath, run } from './support/exec.js';
import { cloudInitParts, parseMimeWithPython } from './support/mime.js';
import { ec2NodeClassCelProblems, validateEC2NodeClass, validateEksctlClusterConfig, validateNodeConfig } from './support/schemas.js';
import { shellcheck } from './support/shellcheck.js';
import { sociConfigStrict, sociConfigUnknownKeys, SOCI_DEFAULTS_FILE, startSoci } from './support/soci.js';
import { STANDIN_UNITS, systemdVerify } from './support/systemd.js';
import { upstreamBin } from './support/upstream.js';
import { HOSTILE_STRINGS } from './support/yaml-strings.js';
import { makeScratchRoot } from './support/scratch-root.js';

const SOCI_SOCK: string = PATHS.sociSocket;
const CRI_V1 = 'io.containerd.grpc.v1.cri';
const CRI_IMAGES_V3 = 'io.containerd.cri.v1.images';
const CRI_RUNTIME_V3 = 'io.containerd.cri.v1.runtime';
const SANDBOX = 'localhost/kubernetes/pause:latest';

/** containerd config v2 (read by 1.7; migrated by 2.x) routing CRI to a soci proxy snapshotter */
function sociConfigV2(address = SOCI_SOCK): string {
  return `version = 2
[plugins."${CRI_V1}".containerd]
  snapshotter = "soci"
  disable_snapshot_annotations = false
  [plugins."${CRI_V1}".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
[proxy_plugins.soci]
  type = "snapshot"
  address = "${address}"
`;
}

/** containerd config v3 (2.x only) */
function sociConfigV3(address = SOCI_SOCK): string {
  return `version = 3
[plugins."${CRI_IMAGES_V3}"]
  snapshotter = "soci"
  disable_snapshot_annotations = false
[proxy_plugins.soci]
  type = "snapshot"
  address = "${address}"
`;
}

/** where the CRI image settings land in each line's dump */
const criImages = (line: ContainerdLine, dump: unknown): unknown =>
  line === '2' ? getPath(dump, 'plugins', CRI_IMAGES_V3) : getPath(dump, 'plugins', CRI_V1, 'containerd');

describe('setup', () => {
  it('a missing tool is an error that names the setup script', () => {
    expect(() => requireExecutable('/nonexistent/containerd', 'containerd 9')).toThrow(
      /containerd 9 not found at \/nonexistent\/containerd: run scripts\/setup-test-tools\.sh/,
    );
    expect(() => requireOnPath('no-such-tool-xyz')).toThrow(/setup-test-tools\.sh/);
  });

  it('the upstream programs are unpacked, and report the versions the README names', async () => {
    for (const line of CONTAINERD_LINES) {
      const v = await run(containerdBinary(line), ['--version']);
      expect(v.stdout).toMatch(line === '2' ? / v2\.2\.4 / : / v1\.7\.27 /);
    }
    expect(ctrBinary()).toMatch(/ctr-v2\.2\.4$/);
    for (const name of ['nodeadm-render', 'soci-snapshotter-grpc', 'soci-config-strict'] as const) expect(upstreamBin(name)).toContain(name);
  });
});

describe('containerd config dump', () => {
  it('each line parses a soci v2 config and shows the proxy plugin and snapshotter in its dump', async () => {
    const results = await Promise.all(CONTAINERD_LINES.map((l) => configDump(l, sociConfigV2())));
    results.forEach((r, i) => {
      const line = CONTAINERD_LINES[i]!;
      expect(r.ok, `${line}: ${r.stderr}`).toBe(true);
      expect(getPath(r.dump, 'proxy_plugins', 'soci', 'type'), line).toBe('snapshot');
      expect(getPath(r.dump, 'proxy_plugins', 'soci', 'address'), line).toBe(SOCI_SOCK);
      expect(getPath(criImages(line, r.dump), 'snapshotter'), line).toBe('soci');
    });
    // 2.x migrated the v2 config to v3
    expect(getPath(results[1]!.dump, 'version')).toBe(3);
  });

  it('broken TOML fails on every line', async () => {
    const results = await Promise.all(CONTAINERD_LINES.map((l) => configDump(l, 'version = 2\n[plugins\nx = 1\n')));
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(r.stderr).not.toBe('');
    }
  });

  it('1.7 rejects version = 3; 2.x reads it', async () => {
    const [r17, r2] = await Promise.all(CONTAINERD_LINES.map((l) => configDump(l, sociConfigV3())));
    expect(r17!.ok).toBe(false);
    expect(r17!.stderr).toMatch(/version/);
    expect(r2!.ok, r2!.stderr).toBe(true);
    expect(getPath(criImages('2', r2!.dump), 'snapshotter')).toBe('soci');
  });

  it('2.x logs unknown keys; 1.7 silently drops them (so tests must assert on the dump)', async () => {
    const typo = sociConfigV3().replace('disable_snapshot_annotations', 'disable_snapshot_anotations');
    const r2 = await configDump('2', typo);
    expect(r2.ok).toBe(true);
    expect(r2.stderr).toMatch(/Ignoring unknown key in TOML/);
    expect(r2.stderr).toMatch(/disable_snapshot_anotations/);
    expect(getPath(r2.dump, 'plugins', CRI_IMAGES_V3, 'disable_snapshot_annotations')).toBe(true); // default kept

    const r17 = await configDump('1.7', sociConfigV2().replace('disable_snapshot_annotations', 'disable_snapshot_anotations'));
    expect(r17.ok).toBe(true);
    expect(getPath(r17.dump, 'plugins', CRI_V1, 'containerd', 'disable_snapshot_annotations')).toBe(true);
  });
});

// STAND-IN for the NodeConfig EKS appends to a managed node group's user data (closed source; its shape is
// nodeadm's API, node.eks.aws/v1alpha1; per ../shared/reference/soci-on-eks.md section 2 it carries the
// cluster block and no containerd or featureGates). The values are made up.
const EKS_NODECONFIG = `apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: eks-appended
    apiServerEndpoint: https://EKSAPPENDED.gr7.us-west-2.eks.amazonaws.com
    certificateAuthority: ${Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64')}
    cidr: 172.20.0.0/16
`;
const EKS_ONLY_USER_DATA = appendMimePart('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n--//--\n', 'application/node.eks.aws', EKS_NODECONFIG);

const CASES = readdirSync(join(import.meta.dirname, 'cases')).sort();

/** What a node of this golden case gets: our user data (with EKS's part appended when ours has no
 * cluster block, as on a managed node group) and our drop-ins in /etc/eks/nodeadm.d/. */
function nodeInputs(name: string) {
  const r = render(caseProfile(name), name);
  const file = (path: string) => r.artifacts.find((a) => a.path === path)?.content;
  const dropIns = Object.fromEntries(
    r.artifacts.filter((a) => a.path.startsWith('rootfs/etc/eks/nodeadm.d/')).map((a) => [basename(a.path), a.content]),
  );
  const ours = file('user-data.mime')!;
  const userData = r.plan.cluster ? ours : appendMimePart(ours, 'application/node.eks.aws', EKS_NODECONFIG);
  return { plan: r.plan, userData, dropIns, sociConfig: file(`rootfs${PATHS.sociConfig}`) };
}

/** nodeadm's own config for a node with no soci (the cluster block only), dumped by the real containerd. */
const baselines = new Map<string, Promise<Record<string, unknown>>>();
function baseline(line: ContainerdLine, versionLine: string, kubernetesVersion: string): Promise<Record<string, unknown>> {
  const key = `${versionLine}|${kubernetesVersion}`;
  if (!baselines.has(key)) {
    baselines.set(
      key,
      (async () => {
        const r = await nodeadmRender({ userData: EKS_ONLY_USER_DATA, versionLine, kubernetesVersion });
        expect(r.code, r.stderr).toBe(0);
        const d = await configDump(line, r.config);
        expect(d.ok, d.stderr).toBe(true);
        return d.dump!;
      })(),
    );
  }
  return baselines.get(key)!;
}

/** The keys soci's wiring may change or add in nodeadm's config; everything else must stay nodeadm's. */
function ours(line: ContainerdLine, key: string): boolean {
  const images = line === '2' ? `plugins.${CRI_IMAGES_V3}` : `plugins.${CRI_V1}.containerd`;
  return (
    key === `${images}.snapshotter` ||
    key === `${images}.disable_snapshot_annotations` ||
    key.startsWith('proxy_plugins.soci.') ||
    // containerd 2's transfer service: used by `ctr image pull`, not by kubelet (see src/artifacts/containerd.ts)
    (line === '2' && key === 'plugins.io.containerd.transfer.v1.local.unpack_config')
  );
}

describe.each(CASES)('golden case %s through nodeadm and containerd', (name) => {
  const { plan, userData, dropIns } = nodeInputs(name);
  describe.each(VERSION_LINES[plan.containerd])('containerd-version.txt %s', ({ text: versionLine }) => {
    it("nodeadm-render --strict writes a config the real containerd reads with soci wired in and nodeadm's own settings intact", async () => {
      const line = plan.containerd;
      const r = await nodeadmRender({ userData, dropIns, versionLine, kubernetesVersion: plan.kubernetesVersion });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^validation: ok$/m);
      expect(r.stderr).toMatch(`template schema: ${line === '2' ? 3 : 2}`);
      // The cluster block comes from our user data, or from EKS's part (managed node groups).
      expect(r.nodeConfig.spec.cluster.name).toBe(plan.cluster?.name ?? 'eks-appended');

      const d = await configDump(line, r.config);
      expect(d.ok, d.stderr).toBe(true);
      expect(d.stderr).not.toMatch(/Ignoring unknown key/);
      const dump = d.dump!;
      expect(getPath(criImages(line, dump), 'snapshotter')).toBe('soci');
      expect(getPath(criImages(line, dump), 'disable_snapshot_annotations')).toBe(false);
      expect(getPath(dump, 'proxy_plugins', 'soci', 'type')).toBe('snapshot');
      expect(getPath(dump, 'proxy_plugins', 'soci', 'address')).toBe(SOCI_SOCK);
      if (plan.installs) expect(getPath(dump, 'proxy_plugins', 'soci', 'exports', 'root')).toBe(PATHS.sociRoot);
      // nodeadm's own settings
      if (line === '2') {
        expect(getPath(dump, 'plugins', CRI_IMAGES_V3, 'pinned_images', 'sandbox')).toBe(SANDBOX);
        expect(getPath(dump, 'plugins', CRI_RUNTIME_V3, 'containerd', 'default_runtime_name')).toBe('runc');
        expect(getPath(dump, 'plugins', CRI_RUNTIME_V3, 'containerd', 'runtimes', 'runc', 'options', 'SystemdCgroup')).toBe(true);
      } else {
        expect(getPath(dump, 'plugins', CRI_V1, 'sandbox_image')).toBe(SANDBOX);
        expect(getPath(dump, 'plugins', CRI_V1, 'containerd', 'default_runtime_name')).toBe('runc');
        expect(getPath(dump, 'plugins', CRI_V1, 'containerd', 'runtimes', 'runc', 'options', 'SystemdCgroup')).toBe(true);
      }
      // ... and every other key as nodeadm writes it for a node without soci.
      // (1.7's dump lists the file it read as `imports`: a temp path, different each run.)
      const base = flatten({ ...(await baseline(line, versionLine, plan.kubernetesVersion)), imports: undefined });
      const got = flatten({ ...dump, imports: undefined });
      const changed = [...base].filter(([k, v]) => !ours(line, k) && JSON.stringify(got.get(k)) !== JSON.stringify(v)).map(([k]) => k);
      const added = [...got.keys()].filter((k) => !base.has(k) && !ours(line, k));
      if (plan.installs) expect({ changed, added }).toEqual({ changed: [], added: [] });
      // fast-image-pull: nodeadm writes soci's config itself; soci loads and starts with it too.
      expect(r.sociConfig === undefined).toBe(plan.installs);
      if (r.sociConfig !== undefined) {
        expect(await sociConfigStrict(r.sociConfig)).toEqual({ code: 0, stderr: '' });
        const s = await startSoci(r.sociConfig);
        await s.stop();
        expect(s.started, s.log).toBe(true);
      }
    });
  });
});

describe("nodeadm's FastImagePull gate, as nodeadm reads it", () => {
  const gate = (value: string) => `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    FastImagePull: ${value}\n`;
  // The user's NodeConfig parts in a launch template's user data, in order (ours go after them).
  const CASES: Record<string, string[]> = {
    ...Object.fromEntries(
      ['true', 'True', 'TRUE', 'yes', 'Yes', 'YES', 'y', 'Y', 'on', 'On', 'ON', '!!bool "true"', 'false', 'no', 'off', 'n', 'N'].map((v) => [v, [gate(v)]]),
    ),
    'JSON true': ['{"apiVersion":"node.eks.aws/v1alpha1","kind":"NodeConfig","spec":{"featureGates":{"FastImagePull":true}}}'],
    'JSON true, then false in the same object': ['{"apiVersion":"node.eks.aws/v1alpha1","kind":"NodeConfig","spec":{"featureGates":{"FastImagePull":true,"FastImagePull":false}}}'],
    'flow mapping, quoted key': ['apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates: {"FastImagePull": yes}\n'],
    'alias': ['x: &on yes\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    FastImagePull: *on\n'],
    'merge key': ['x: &gates {FastImagePull: on}\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    <<: *gates\n'],
    'merge key after the gate set false': ['x: &gates {FastImagePull: on}\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    FastImagePull: false\n    <<: *gates\n'],
    'repeated key, last true': [gate('false').replace(/\n$/, '\n    FastImagePull: true\n')],
    'other letter case of the key': [gate('true').replace('FastImagePull', 'fastImagePull')],
    'a second YAML document': [`${gate('false')}---\n${gate('true')}`],
    'true, then a later part false': [gate('true'), gate('off')],
    'false, then a later part true': [gate('false'), gate('yes')],
    'true, then a later part with another gate': [gate('true'), gate('true').replace('FastImagePull', 'InstanceIdNodeName')],
  };
  const ON = ['true', 'True', 'TRUE', 'yes', 'Yes', 'YES', 'y', 'Y', 'on', 'On', 'ON', '!!bool "true"', 'JSON true', 'flow mapping, quoted key', 'alias', 'merge key', 'merge key after the gate set false', 'repeated key, last true', 'false, then a later part true', 'true, then a later part with another gate'];

  it("the launch-template merge finds the gate on exactly where nodeadm's config phase writes its own soci config (YAML 1.1 spellings, JSON, later parts and keys winning)", async () => {
    const { plan, dropIns } = nodeInputs('default');
    const ours = render(undefined, 'default').artifacts.find((a) => a.path === 'user-data.mime')!.content;
    const versionLine = VERSION_LINES['2'][0]!.text;
    const seen: Record<string, { nodeadm: boolean; merge: boolean }> = {};
    for (const [name, parts] of Object.entries(CASES)) {
      const existing = buildMime([{ contentType: CONTENT_TYPES.shell, body: '#!/bin/bash\necho hi\n' }, ...parts.map((body) => ({ contentType: CONTENT_TYPES.nodeConfig, body }))]);
      const merged = mergeUserData(Buffer.from(existing), ours);
      // On a managed node group EKS appends the cluster block; 8 vCPU and 32 GiB: the gate can take effect.
      const r = await nodeadmRender({ userData: appendMimePart(merged.mime, 'application/node.eks.aws', EKS_NODECONFIG), dropIns, versionLine, kubernetesVersion: plan.kubernetesVersion });
      seen[name] = { nodeadm: r.sociConfig !== undefined, merge: merged.fastImagePullPart !== undefined };
      if (seen[name].merge) expect(merged.fastImagePullPart, name).toBeGreaterThan(1);
    }
    expect(Object.entries(seen).filter(([, s]) => s.nodeadm !== s.merge)).toEqual([]);
    expect(Object.keys(seen).filter((name) => seen[name]!.nodeadm)).toEqual(ON);
  }, 120_000);
});

describe("a user's NodeConfig part that nodeadm cannot decode (nodeadm then ignores all of the user data)", () => {
  const H = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\n';
  const spec = (yaml: string) => `${H}spec:\n${yaml}`;
  const name = (value: string) => spec(`  cluster:\n    name: ${value}\n`);
  const outpost = (value: string) => spec(`  cluster:\n    enableOutpost: ${value}\n`);
  const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
  // Each is the body of one NodeConfig part of the user's ([body, content type] where the type differs).
  const CORPUS: Record<string, string | [string, string]> = {
    valid: spec('  cluster:\n    name: a\n'),
    // YAML that does not parse (the first document only counts).
    'unterminated flow map': spec('  cluster: {name: a\n'),
    'unterminated flow list at the end': spec('  kubelet:\n    flags: [a, b\n'),
    'tab used for indentation': spec('\tcluster:\n\t\tname: a\n'),
    'space then tab as indentation': spec('  cluster:\n   \tname: a\n'),
    'unterminated quote': spec("  cluster:\n    name: 'a\n"),
    'unknown escape in double quotes': spec('  cluster:\n    name: "a\\q"\n'),
    'a value that goes on less indented': spec('  cluster:\n    name: a\n   b\n'),
    'block scalar, then a line less indented': spec('  containerd:\n    config: |\n        x\n      y\n'),
    'a list entry on the key line': spec('  kubelet:\n    flags: - a\n'),
    'key of 1030 characters': spec(`  ${'k'.repeat(1030)}: a\n`),
    '@ starts a value': spec('  cluster:\n    name: @a\n'),
    'broken second document': `${spec('  cluster:\n    name: a\n')}---\nx: [\n`,
    'an empty first document, then the NodeConfig': `---\n---\n${spec('  cluster:\n    name: a\n')}`,
    '%YAML 1.1 directive': `%YAML 1.1\n---\n${spec('  cluster:\n    name: a\n')}`,
    // metadata is ObjectMeta: the CRD lists none of its fields.
    'metadata.name a number': `${H}metadata: {name: 1}\n`,
    'metadata.name a string': `${H}metadata: {name: a, namespace: b, uid: c}\n`,
    'metadata.labels with a number value': `${H}metadata: {labels: {a: 1}}\n`,
    'metadata.labels with a boolean value (yes)': `${H}metadata: {labels: {a: yes}}\n`,
    'metadata.labels and annotations of strings': `${H}metadata: {labels: {a: "1"}, annotations: {b: "true"}}\n`,
    'metadata.annotations a list': `${H}metadata: {annotations: [a]}\n`,
    'metadata.finalizers with a number': `${H}metadata: {finalizers: [1]}\n`,
    'metadata.finalizers of strings': `${H}metadata: {finalizers: [a, b]}\n`,
    'metadata.ownerReferences a map': `${H}metadata: {ownerReferences: {a: b}}\n`,
    'metadata.generation a number': `${H}metadata: {generation: 3}\n`,
    'metadata with an unknown field': `${H}metadata: {color: 1}\n`,
    'an alias to no anchor': spec('  cluster:\n    name: *nope\n'),
    'an alias before its anchor': `${H}x: *c\nspec: &c {}\n`,
    'an alias after its anchor': `${H}x: &c a\nspec: {cluster: {name: *c}}\n`,
    // go-yaml reads %YAML 1.1 and %TAG only.
    '%YAML 1.2 directive': `%YAML 1.2\n---\n${spec('  cluster: {name: a}\n')}`,
    '%YAML 1.0 directive': `%YAML 1.0\n---\n${spec('  cluster: {name: a}\n')}`,
    '%YAML 2.0 directive': `%YAML 2.0\n---\n${spec('  cluster: {name: a}\n')}`,
    '%YAML 1.1 with a comment': `%YAML 1.1 # c\n---\n${spec('  cluster: {name: a}\n')}`,
    '%TAG directive': `%TAG !e! tag:example.com,2000:\n---\n${spec('  cluster: {name: a}\n')}`,
    'an unknown directive': `%FOO bar\n---\n${spec('  cluster: {name: a}\n')}`,
    // What the yaml package refuses but go-yaml reads (indentation inside flow collections and quotes): not refused.
    'flow list closed at column 0': spec('  kubelet:\n    flags: [\n--a\n]\n'),
    'flow list items less indented': spec('  kubelet:\n    flags: [\n  --a]\n'),
    'flow map closed at column 0': `${H}spec: {\n  cluster: {name: a}\n}\n`,
    'quoted value continued less indented': spec('  cluster:\n    name: "a\n b"\n'),
    'a lone - in a flow list': spec('  kubelet: {flags: [-, --a]}\n'),
    "a comment right after a closing quote, bracket or |": spec('  cluster: {name: a}#c\n  kubelet:\n    flags: ["a"]#c\n  note: |#c\n    x\n'),
    'a colon before a comma in a flow map': spec('  instance:\n    localStorage: {strategy: RAID0:, mountPath: /x}\n'),
    'tab after a colon, trailing tab': spec('  cluster:\n    name:\ta\t\n'),
    'duplicate key': spec('  cluster: {name: a}\n  cluster: {name: b}\n'),
    'anchor, alias and merge key': `x: &c {name: a}\n${spec('  cluster:\n    <<: *c\n    cidr: 10.0.0.0/16\n')}`,
    // go-yaml v2 sets a << key's values over the keys before it (the yaml package keeps those).
    'merge key after the key it sets': `x: &c {name: a}\n${spec('  cluster:\n    name: yes\n    <<: *c\n')}`,
    'merge key after the key it sets, its value wrong': `x: &c {name: yes}\n${spec('  cluster:\n    name: a\n    <<: *c\n')}`,
    'merge key with a list after the key it sets': `x: &c {name: a}\n${spec('  cluster:\n    name: yes\n    <<: [*c]\n')}`,
    'merge key with a map after the key it sets': spec('  cluster:\n    name: yes\n    <<: {name: a}\n'),
    'two merge keys, the later right': `x: &c {name: a}\ny: &d {name: yes}\n${spec('  cluster:\n    <<: *d\n    <<: *c\n')}`,
    'merge key list, the first right': `x: &c {name: a}\ny: &d {name: yes}\n${spec('  cluster:\n    <<: [*c, *d]\n')}`,
    'merge key inside an anchored map': `x: &c {name: a}\nn: &n\n  name: yes\n  <<: *c\n${spec('  cluster:\n    <<: *n\n')}`,
    'merge key of a string': spec('  cluster:\n    <<: a\n'),
    // JSON: a body that starts with { is JSON to nodeadm, YAML flow syntax included.
    JSON: '{"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": {"cluster": {"name": "a"}}}',
    'JSON, repeated key': '{"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": {}, "spec": {}}',
    'JSON, huge number in kubelet.config': '{"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": {"kubelet": {"config": {"a": 1e400}}}}',
    'YAML flow mapping that starts the body': '{apiVersion: node.eks.aws/v1alpha1, kind: NodeConfig}',
    'JSON with a trailing comma': '{"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig",}',
    'JSON, then a comment': '{"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig"} # c',
    'a comment, then a YAML flow mapping': '# c\n{apiVersion: node.eks.aws/v1alpha1, kind: NodeConfig}',
    // Not a NodeConfig document.
    empty: '',
    'a comment only': '# nothing\n',
    'a plain string': 'hello world\n',
    'a list': '- a\n',
    'kind misspelt': 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfg\n',
    'kind in lower case': 'apiVersion: node.eks.aws/v1alpha1\nkind: nodeconfig\n',
    'kind NodeConfigList': 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfigList\n',
    'kind WatchEvent (registered by metav1: nodeadm stops)': 'apiVersion: node.eks.aws/v1alpha1\nkind: WatchEvent\n',
    'kind a number': 'apiVersion: node.eks.aws/v1alpha1\nkind: 123\n',
    'kind yes': 'apiVersion: node.eks.aws/v1alpha1\nkind: yes\n',
    'no kind': 'apiVersion: node.eks.aws/v1alpha1\nspec: {}\n',
    'kind null': 'apiVersion: node.eks.aws/v1alpha1\nkind:\n',
    'Kind and APIVERSION in other letter case': 'APIVERSION: node.eks.aws/v1alpha1\nKind: NodeConfig\n',
    'apiVersion v1alpha9': 'apiVersion: node.eks.aws/v1alpha9\nkind: NodeConfig\n',
    'apiVersion v1beta1': 'apiVersion: node.eks.aws/v1beta1\nkind: NodeConfig\n',
    'apiVersion of another group': 'apiVersion: node.eks.example/v1alpha1\nkind: NodeConfig\n',
    'apiVersion without group': 'apiVersion: v1alpha1\nkind: NodeConfig\n',
    'apiVersion with two slashes': 'apiVersion: node.eks.aws/v1alpha1/x\nkind: NodeConfig\n',
    'apiVersion ending in a slash': 'apiVersion: node.eks.aws/\nkind: NodeConfig\n',
    'no apiVersion': 'kind: NodeConfig\nspec: {}\n',
    "apiVersion of nodeadm's internal version": 'apiVersion: node.eks.aws/__internal\nkind: NodeConfig\n',
    // Types, as the CRD gives them: only JSON types count, null leaves the zero value, unknown fields pass.
    'unknown field': spec('  clustr: {name: a}\n'),
    'key in other letter case (unknown to nodeadm)': spec('  Cluster: 3\n'),
    'spec null': `${H}spec:\n`,
    'spec a list': `${H}spec: []\n`,
    'status, which v1alpha1 lacks': `${H}status: x\n`,
    'metadata a string': `${H}metadata: x\n`,
    'cluster a list': spec('  cluster: [a]\n'),
    'cluster a string': spec('  cluster: abc\n'),
    'name a map': name('{a: b}'),
    'name a list': name('[a]'),
    'flags a number': spec('  kubelet: {flags: 3}\n'),
    'flags a string': spec('  kubelet:\n    flags: --a=b\n'),
    'flags with a number': spec('  kubelet:\n    flags: [1]\n'),
    'flags with yes': spec('  kubelet:\n    flags: [yes]\n'),
    'flags with null': spec('  kubelet:\n    flags: [null]\n'),
    'FastImagePull 1': spec('  featureGates: {FastImagePull: 1}\n'),
    'FastImagePull "true"': spec('  featureGates: {FastImagePull: "true"}\n'),
    'FastImagePull tRue': spec('  featureGates: {FastImagePull: tRue}\n'),
    'FastImagePull null': spec('  featureGates: {FastImagePull: null}\n'),
    'FastImagePull a map': spec('  featureGates:\n    FastImagePull: {a: 1}\n'),
    'featureGates a list': spec('  featureGates: [FastImagePull]\n'),
    'kubelet.config values of any type': spec('  kubelet:\n    config: {maxPods: 110, a: null, b: [1], c: x, d: {e: 1}}\n'),
    'kubelet.config a list': spec('  kubelet:\n    config: [a]\n'),
    'containerd.baseRuntimeSpec a list': spec('  containerd:\n    baseRuntimeSpec: [1]\n'),
    'containerd.config a number': spec('  containerd:\n    config: 3\n'),
    'environment with a number': spec('  instance:\n    environment:\n      default: {A: 1}\n'),
    'environment with null': spec('  instance:\n    environment:\n      default: {A: null}\n'),
    'environment a string inside': spec('  instance:\n    environment:\n      default: x\n'),
    'localStorage strategy a number': spec('  instance:\n    localStorage: {strategy: 1}\n'),
    'localStorage values not in the enum': spec('  instance:\n    localStorage: {strategy: Bogus, disabledMounts: [Bogus]}\n'),
    'network domains with a number': spec('  instance:\n    network: {domains: [1]}\n'),
    'certificateAuthority in PEM': spec("  cluster:\n    certificateAuthority: '-----BEGIN CERTIFICATE-----'\n"),
    'certificateAuthority unpadded': spec('  cluster:\n    certificateAuthority: Y2E\n'),
    'certificateAuthority with a space': spec('  cluster:\n    certificateAuthority: Y2Fj Y2E=\n'),
    'certificateAuthority over lines': spec('  cluster:\n    certificateAuthority: |\n      Y2Fj\n      Y2E=\n'),
    'certificateAuthority a number': spec('  cluster:\n    certificateAuthority: 1234\n'),
    'certificateAuthority a list of bytes': spec('  cluster:\n    certificateAuthority: [99, 97]\n'),
    'certificateAuthority 12:30': spec('  cluster:\n    certificateAuthority: 12:30\n'),
    '.inf in an unknown field': spec('  x: .inf\n'),
    '.nan in kubelet.config': spec('  kubelet:\n    config: {a: .nan}\n'),
    // Scalars as YAML 1.1 reads them (go-yaml v2), into a string field and a bool field.
    ...Object.fromEntries(
      ['123', '1.5', '1_000', '08', '1e3', '.5', '+.5', '1.', '-1', '99999999999999999999', '1e400', '1e-400', 'yes', 'on', 'y', 'N', 'off', 'True', 'yES', 'oN', '~', 'null', 'Null', '', "'yes'", '"1"', '!!str 1', '1:20', '190:20:30', '12:30:00', '2001-12-14', '2001-12-14T21:59:43Z', '.', '.e3', '+e3', 'e3', '0x_', '0b_', '0x1F', '0o17', '0b101', '.inf', '-.Inf', '.NaN', 'inf', '1.2.3', '10.0.0.0/16', '<<', '!!binary aGVsbG8=']
        .flatMap((v) => [[`cluster.name ${v || '(empty)'}`, name(v)], [`cluster.enableOutpost ${v || '(empty)'}`, outpost(v)]]),
    ),
    // How nodeadm reads a part: its media type in any letter case and with parameters; base64; gzip.
    'media type with parameters': [spec('  cluster: {name: 3}\n'), 'application/node.eks.aws; charset="us-ascii"'],
    'media type in other letter case': [spec('  cluster: {name: 3}\n'), 'Application/Node.EKS.aws'],
    'another media type (not a NodeConfig)': ['kind: x\n', 'application/node.eks.aws.x'],
    base64: b64(spec('  cluster: {name: a}\n')),
    'base64 of bad YAML': b64(spec('  cluster: {name: a\n')),
    'base64 of gzip': b64(gzipSync(spec('  cluster: {name: a}\n'))),
    'base64 of gzip with a wrong kind': b64(gzipSync('apiVersion: node.eks.aws/v1alpha1\nkind: X\n')),
    'base64 of broken gzip (nodeadm stops)': b64(gzipSync(spec('  cluster: {name: a}\n')).subarray(0, 20)),
    'a body that is base64 by chance': 'null\n',
    // Known misses: nodeadm ignores these, the merge does not refuse them (unsure is never a refusal).
    'a comment line indented with a tab': `${H}spec:\n\t# c\n  cluster: {name: a}\n`,
    'a blank line holding a tab': `${H}spec:\n  cluster:\n\t\n    name: a\n`,
    'a tab-only line at the end': `${spec('  cluster:\n    name: a\n')}\t\n`,
    'kind twice, in two letter cases': 'apiVersion: node.eks.aws/v1alpha1\nkind: X\nKind: NodeConfig\n',
    // An error inside a flow collection ([...], {...}): the yaml package's flow grammar differs from
    // go-yaml's (it refuses [-, a] and {a: b:, c}, which go-yaml reads), so the merge is unsure there.
    'flow list unterminated inside a flow map': spec('  kubelet: {flags: [a, b}\n'),
    'mapping inside a flow mapping': spec('  cluster: {name: a: b}\n'),
    'empty entry in a flow list': spec('  kubelet: {flags: [a,,b]}\n'),
  };
  const KNOWN_MISSES = [
    'a comment line indented with a tab',
    'a blank line holding a tab',
    'a tab-only line at the end',
    'kind twice, in two letter cases',
    'flow list unterminated inside a flow map',
    'mapping inside a flow mapping',
    'empty entry in a flow list',
  ];

  it("the launch-template merge refuses exactly the parts for which nodeadm (nodeadm-render) uses none of the user data, the cluster block EKS appends included", async () => {
    const { plan, dropIns } = nodeInputs('default');
    const ours = render(undefined, 'default').artifacts.find((a) => a.path === 'user-data.mime')!.content;
    const versionLine = VERSION_LINES['2'][0]!.text;
    const falseRefusals: Record<string, { merge: string; nodeadm: string }> = {};
    const misses: string[] = [];
    const refused: string[] = [];
    for (const [what, entry] of Object.entries(CORPUS)) {
      const [body, contentType] = typeof entry === 'string' ? [entry, CONTENT_TYPES.nodeConfig] : entry;
      const part = { contentType, body };
      let merge = 'merged';
      try {
        mergeUserData(Buffer.from(buildMime([part])), ours);
      } catch (err) {
        if (!(err instanceof UsageError) || !/ is a NodeConfig nodeadm cannot decode: /.test(err.message)) throw err;
        merge = err.message;
        refused.push(what);
      }
      // The template's user data as it would be: the user's part, ours, then EKS's cluster block.
      const r = await nodeadmRender({ userData: appendMimePart(buildMime([part, ...parseMime(ours)]), 'application/node.eks.aws', EKS_NODECONFIG), dropIns, versionLine, kubernetesVersion: plan.kubernetesVersion, strict: false });
      const used = r.code === 0 && r.nodeConfig?.spec?.cluster?.name === 'eks-appended';
      if (used && merge !== 'merged') falseRefusals[what] = { merge, nodeadm: r.stderr };
      if (!used && merge === 'merged') misses.push(what);
    }
    expect(falseRefusals).toEqual({});
    expect(misses).toEqual(KNOWN_MISSES);
    // Both verdicts occur, on the kinds of problem the corpus has.
    expect(refused.length, refused.join('\n')).toBeGreaterThan(60);
    expect(Object.keys(CORPUS).length - refused.length).toBeGreaterThan(50);
    expect(refused).toEqual(expect.arrayContaining(['unterminated flow map', 'kind misspelt', 'apiVersion v1beta1', 'flags a number', 'certificateAuthority in PEM', 'cluster.name yes', 'base64 of gzip with a wrong kind', 'media type in other letter case']));
  }, 240_000);
});

describe("a user's part whose Content-Type or header line nodeadm cannot read (nodeadm then ignores all of the user data)", () => {
  // Each is the Content-Type of one shell part of the user's; nodeadm reads every part's (Go's mime.ParseMediaType).
  const READ = [
    'text/x-shellscript', 'text/x-shellscript; charset="us-ascii"', 'text/x-shellscript;charset=us-ascii', 'TEXT/X-SHELLSCRIPT; CHARSET=US-ASCII',
    'text/x-shellscript; charset=us-ascii;', 'text/x-shellscript ; charset = "us-ascii" ;  ', 'text', 'text/x-shellscript; a=1; b=2',
    'text/x-shellscript; a="x;y"', 'text/x-shellscript; a="x\\"y"', "text/x-shellscript; name*=utf-8''a%20b", 'text/x-shellscript; a*0=x; a*1=y',
    'text/x-shellscript; a=1; a*=2', 'text/x-shellscript;\ta=1', 'x-custom/x.y+z', 'text/x-shellscript; a=b.c-d_e!#$%&\'*+^`{|}~',
    // An empty quoted value, and a name given twice with the same value (quoted or not), are read too.
    'text/x-shellscript; charset=""', 'text/x-shellscript; a=1; A=1', 'text/x-shellscript; a="1"; a=1', 'text/x-shellscript; a="x\\y"', 'text/x-shellscript; a="\\;"; a=";"',
  ];
  const REFUSED = [
    'text/x-shellscript; charset', 'text/x-shellscript; charset=', 'text/x-shellscript; =x', 'text/x-shellscript;;',
    'text/x-shellscript; a=1; a=2', 'text/x-shellscript; a="1"; a="1 "', 'text/x-shellscript; a="x', 'text/x-shellscript; a="\\"', 'text/x-shellscript; a=x y', 'text/x-shellscript charset=x',
    'text /x-shellscript', 'text/', '/x-shellscript', 'text/x-shellscript/x', 'text/x@shell', 'text/x-shellscript; a=[1]', 'text/x-shellscript, text/plain',
    'text/x-shellscript; a=b;c', '; a=b', 'text/x-shellscript;; a=b', 'text/x-shellscript; a=b; ;', 'text/x-shellscript; a="b"c', '"text/x-shellscript"',
    // A control character but the tab, anywhere in the value: Go's textproto refuses the line (malformed MIME header line).
    'text/x-shellscript;\v a=b', 'text/x-shellscript;\ra=b', 'text/x-shellscript; a="\x01"', 'text/x-shellscript; a="\x7f"', 'text/x-shellscript; a="x\x00"',
  ];

  it('the launch-template merge refuses exactly the Content-Types for which nodeadm (nodeadm-render) uses none of the user data', async () => {
    const { plan, dropIns } = nodeInputs('default');
    const ours = render(undefined, 'default').artifacts.find((a) => a.path === 'user-data.mime')!.content;
    const verdicts: Record<string, { merge: boolean; nodeadm: boolean }> = {};
    for (const contentType of [...READ, ...REFUSED]) {
      const part = { contentType, body: '#!/bin/bash\necho mine\n' };
      let merge = true;
      try {
        mergeUserData(Buffer.from(buildMime([part])), ours);
      } catch (err) {
        if (!(err instanceof UsageError) || !/ has the Content-Type .*, which nodeadm cannot read \((mime: |malformed MIME header line)/.test(err.message)) throw err;
        merge = false;
      }
      const r = await nodeadmRender({ userData: appendMimePart(buildMime([part, ...parseMime(ours)]), 'application/node.eks.aws', EKS_NODECONFIG), dropIns, versionLine: VERSION_LINES['2'][0]!.text, kubernetesVersion: plan.kubernetesVersion, strict: false });
      verdicts[contentType] = { merge, nodeadm: r.code === 0 && r.nodeConfig?.spec?.cluster?.name === 'eks-appended' };
    }
    const expected = Object.fromEntries([...READ.map((t) => [t, true]), ...REFUSED.map((t) => [t, false])].map(([t, ok]) => [t, { merge: ok, nodeadm: ok }]));
    expect(verdicts).toEqual(expected);
  }, 120_000);

  it('refuses exactly the header names nodeadm (nodeadm-render) or cloud-init cannot read', async () => {
    const { plan, dropIns } = nodeInputs('default');
    const ours = render(undefined, 'default').artifacts.find((a) => a.path === 'user-data.mime')!.content;
    // Names our parser keeps (a line with no colon it drops, so nodeadm never sees it): [nodeadm reads it, cloud-init reads it].
    const names: Record<string, [boolean, boolean]> = {
      'Merge-Type': [true, true], 'X-Ok': [true, true], "x!#$%&'*+-.^_`|~9": [true, true], 'X Bad': [true, false],
      // A space or tab before the colon: Go's textproto keeps it in the name (so this is no Content-Type to nodeadm), Python's email reads no header.
      'Content-Type ': [true, false], 'Content-Type\t': [false, false], 'X-Ok ': [true, false],
      ...Object.fromEntries(['X@Bad', 'X(1)', 'X/Y', 'X"Y', 'X[1]', 'X{1}', 'X?', 'X=1', 'X,Y', 'X;Y', 'X\\Y'].map((n) => [n, [false, true]])),
    };
    const verdicts: Record<string, { merge: boolean; nodeadm: boolean; cloudInit: boolean }> = {};
    for (const name of Object.keys(names)) {
      const part = { contentType: 'text/x-shellscript', headers: [[name, 'v']] as [string, string][], body: '#!/bin/bash\necho mine\n' };
      const theirs = `MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n--//\nContent-Type: ${part.contentType}\n${name}: v\n\n${part.body}--//--\n`;
      let merge = true;
      try {
        mergeUserData(Buffer.from(theirs), ours);
      } catch (err) {
        if (!(err instanceof UsageError) || !/ has the header line .*, (which nodeadm cannot read \(malformed MIME header line\)|whose name holds a space: cloud-init)/.test(err.message)) throw err;
        merge = false;
      }
      const r = await nodeadmRender({ userData: appendMimePart(theirs, 'application/node.eks.aws', EKS_NODECONFIG), dropIns, versionLine: VERSION_LINES['2'][0]!.text, kubernetesVersion: plan.kubernetesVersion, strict: false });
      const read = (await cloudInitParts(theirs)).parts[0]!.payload.startsWith('#!/bin/bash');
      verdicts[name] = { merge, nodeadm: r.code === 0 && r.nodeConfig?.spec?.cluster?.name === 'eks-appended', cloudInit: read };
    }
    expect(verdicts).toEqual(Object.fromEntries(Object.entries(names).map(([n, [nodeadm, cloudInit]]) => [n, { merge: nodeadm && cloudInit, nodeadm, cloudInit }])));
  }, 60_000);

  it("names the part, what nodeadm says and the fix", () => {
    const ours = render(undefined, 'default').artifacts.find((a) => a.path === 'user-data.mime')!.content;
    const theirs = buildMime([{ contentType: CONTENT_TYPES.nodeConfig, body: EKS_NODECONFIG }, { contentType: 'text/x-shellscript; charset', body: '#!/bin/bash\n' }]);
    expect(() => mergeUserData(Buffer.from(theirs), ours)).toThrow(
      `the launch template's current user data: part 2 has the Content-Type "text/x-shellscript; charset", which nodeadm cannot read (mime: invalid media parameter). nodeadm then uses none of the user data, ours and the cluster block included, so nodes would not join; fix that header first`,
    );
  });
});

describe("our YAML writer, read by nodeadm's Go reader (sigs.k8s.io/yaml over go-yaml v2)", () => {
  it('every hostile string arrives intact, as a list item, a value and a key', async () => {
    const hostile = Object.fromEntries(HOSTILE_STRINGS.map((s) => [s, s]));
    const doc = {
      apiVersion: 'node.eks.aws/v1alpha1',
      kind: 'NodeConfig',
      spec: { ...parseYaml(EKS_NODECONFIG).spec, kubelet: { flags: HOSTILE_STRINGS, config: { hostile } } },
    };
    const r = await nodeadmRender({ userData: yamlText(doc), versionLine: VERSION_LINES['2'][0]!.text });
    expect(r.code, r.stderr).toBe(0);
    expect(r.nodeConfig.spec.kubelet.flags).toEqual(HOSTILE_STRINGS);
    expect(r.nodeConfig.spec.kubelet.config.hostile).toEqual(hostile);
  });

  it("every string of up to 4 number characters arrives intact (Go's reader takes more for numbers than YAML does)", async () => {
    const chars = ['0', '1', '7', '+', '-', '.', '_', 'e', 'E', 'x', 'X', 'o', 'O', 'b', 'B', 'a', ':'];
    const strings: string[] = [];
    for (let n = 1, last = ['']; n <= 4; n++) strings.push(...(last = last.flatMap((p) => chars.map((c) => p + c))));
    const misread: string[] = [];
    for (let i = 0; i < strings.length; i += 30_000) {
      const config = Object.fromEntries(strings.slice(i, i + 30_000).map((s) => [`k${s}`, s]));
      const doc = { apiVersion: 'node.eks.aws/v1alpha1', kind: 'NodeConfig', spec: { ...parseYaml(EKS_NODECONFIG).spec, kubelet: { config } } };
      const r = await nodeadmRender({ userData: yamlText(doc), versionLine: VERSION_LINES['2'][0]!.text });
      expect(r.code, r.stderr).toBe(0);
      for (const [k, s] of Object.entries(config)) if (r.nodeConfig.spec.kubelet.config[k] !== s) misread.push(s);
    }
    expect(strings.length).toBe(88_740);
    expect(misread).toEqual([]);
  });
});

describe('managed node groups: EKS appends its NodeConfig after ours', () => {
  const { plan, userData, dropIns } = nodeInputs('default');

  it('without the cluster block from some source nodeadm stops (so the default user data relies on EKS for it)', async () => {
    const alone = render(undefined, 'default').artifacts.find((a) => a.path === 'user-data.mime')!.content;
    const r = await nodeadmRender({ userData: alone, dropIns, versionLine: VERSION_LINES['2'][0]!.text, kubernetesVersion: plan.kubernetesVersion });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Name is missing in cluster configuration/);
  });

  it("with EKS's part appended: the cluster is EKS's, the containerd wiring ours, and containerd runs soci", async () => {
    expect(plan.cluster).toBeUndefined();
    const r = await nodeadmRender({ userData, dropIns, versionLine: VERSION_LINES['2'][0]!.text, kubernetesVersion: plan.kubernetesVersion });
    expect(r.code, r.stderr).toBe(0);
    expect(r.nodeConfig.spec.cluster).toEqual({
      name: 'eks-appended',
      apiServerEndpoint: 'https://EKSAPPENDED.gr7.us-west-2.eks.amazonaws.com',
      certificateAuthority: expect.any(String),
      cidr: '172.20.0.0/16',
    });
    expect(r.nodeConfig.spec.containerd.config).toContain('snapshotter = "soci"');
    const d = await configDump('2', r.config);
    expect(getPath(criImages('2', d.dump), 'snapshotter')).toBe('soci');
  });
});

describe.each(CASES.filter((c) => nodeInputs(c).sociConfig !== undefined))("golden case %s: soci's config.toml, by soci itself", (name) => {
  const { sociConfig } = nodeInputs(name);

  it('soci-config-strict loads it with no ignored keys', async () => {
    const r = await sociConfigStrict(sociConfig!);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('soci-snapshotter-grpc starts with it', async () => {
    const s = await startSoci(sociConfig!);
    try {
      expect(s.error).toBeUndefined();
      expect(s.started, s.log).toBe(true);
      expect(existsSync(s.address)).toBe(true);
    } finally {
      await s.stop();
    }
  });
});

describe('soci helpers report failures', () => {
  it('soci-config-strict: exit 4 lists ignored keys', async () => {
    const r = await sociConfigStrict('metadata_stor = "db"\n[fuse]\nattr_timout = 1\n');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/metadata_stor/);
    expect(r.stderr).toMatch(/attr_timout/);
  });

  it('startSoci: a config soci refuses is reported with its error, and the daemon is gone', async () => {
    const s = await startSoci('[pull_modes.parallel_pull_unpack]\nenable = true\ndiscard_unpacked_layers = true\n[pull_modes.parallel_pull_unpack.decompress_streams.gzip]\npath = "/nonexistent/unpigz"\n');
    await s.stop();
    expect(s.started).toBe(false);
    expect(s.error).toMatch(/decompress/);
    expect(() => process.kill(s.pid, 0)).toThrow();
  });
});

describe('containerd running', () => {
  it.each(CONTAINERD_LINES)(
    'containerd %s loads the soci proxy snapshotter and dials its socket',
    async (line) => {
      const sockDir = mkdtempSync(join(tmpdir(), 'soci-sock-'));
      const sock = join(sockDir, 'soci.sock');
      const seen: Buffer[] = [];
      // not a gRPC server: it records what containerd sends (an HTTP/2 preface) and hangs up
      const server: Server = createServer((c) => {
        c.on('data', (b) => {
          seen.push(b);
          c.destroy();
        });
        c.on('error', () => {});
      });
      await new Promise<void>((r) => server.listen(sock, r));
      const ctd = await startContainerd(line, line === '2' ? sociConfigV3(sock) : sociConfigV2(sock));
      try {
        const ls = await ctd.ctr(['plugins', 'ls']);
        expect(ls.code, ls.stderr).toBe(0);
        const soci = parsePluginsLs(ls.stdout).find((p) => p.type === 'io.containerd.snapshotter.v1' && p.id === 'soci');
        expect(soci, ls.stdout).toBeDefined();
        expect(soci!.status).toBe('ok');

        // a call through the snapshotter reaches our socket (the call itself fails: nobody answers gRPC).
        const call = await ctd.ctr(['snapshots', '--snapshotter', 'soci', 'prepare', 'probe', '']);
        expect(call.code).toBe(1);
        expect(call.stderr).toMatch(/preface|unavailable|connection|transport|closed|EOF|deadline|broken pipe/i);
        // The preface may land a moment after ctr gave up (the dial and the error race under load).
        for (let i = 0; i < 50 && !Buffer.concat(seen).toString('latin1').includes('PRI * HTTP/2.0'); i++) await new Promise((r) => setTimeout(r, 100));
        expect(Buffer.concat(seen).toString('latin1')).toContain('PRI * HTTP/2.0');
      } finally {
        await ctd.stop();
        await new Promise<void>((r) => server.close(() => r()));
        rmSync(sockDir, { recursive: true, force: true });
      }
      expect(existsSync(ctd.dir)).toBe(false);
      expect(() => process.kill(ctd.pid, 0)).toThrow();
    },
    30_000,
  );

  it('startContainerd reports a config containerd refuses', async () => {
    await expect(startContainerd('1.7', sociConfigV3())).rejects.toThrow(/exited early/);
  }, 30_000);

  // The whole path on one machine: nodeadm's config for a golden case, the real containerd, the real soci.
  it.each([
    ['1.7', 'lazy-release-containerd17-x86'],
    ['2', 'default'],
  ] as const)('containerd %s with nodeadm\'s config for case %s snapshots through a real soci', async (line, name) => {
    const { plan, userData, dropIns, sociConfig } = nodeInputs(name);
    expect(plan.containerd).toBe(line);
    const r = await nodeadmRender({ userData, dropIns, versionLine: VERSION_LINES[line][0]!.text, kubernetesVersion: plan.kubernetesVersion });
    expect(r.code, r.stderr).toBe(0);
    const soci = await startSoci(sociConfig!);
    try {
      expect(soci.started, soci.log).toBe(true);
      const ctd = await startContainerd(line, r.config.split(SOCI_SOCK).join(soci.address));
      try {
        const ls = await ctd.ctr(['plugins', 'ls']);
        expect(parsePluginsLs(ls.stdout).find((p) => p.id === 'soci')).toMatchObject({ type: 'io.containerd.snapshotter.v1', status: 'ok' });
        const prep = await ctd.ctr(['snapshots', '--snapshotter', 'soci', 'prepare', 'probe', '']);
        expect(prep.code, prep.stderr).toBe(0);
        const list = await ctd.ctr(['snapshots', '--snapshotter', 'soci', 'ls']);
        expect(list.stdout).toMatch(/^probe\s/m);
      } finally {
        await ctd.stop();
      }
    } finally {
      await soci.stop();
    }
  }, 60_000);
});

describe('systemd-analyze verify', () => {
  const service = `[Unit]
Description=soci snapshotter (test unit)
After=network-online.target
Before=containerd.service

[Service]
Type=notify
ExecStart=/usr/local/bin/soci-snapshotter-grpc --address /run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock
Restart=always

[Install]
WantedBy=multi-user.target
`;
  const dropIn = `[Unit]
Wants=soci-snapshotter.service
After=soci-snapshotter.service
`;

  it('passes a good unit and a drop-in for a stand-in unit', async () => {
    const r = await systemdVerify(
      {
        '/etc/systemd/system/soci-snapshotter.service': service,
        '/etc/systemd/system/containerd.service.d/10-soci.conf': dropIn,
      },
      ['soci-snapshotter.service', 'containerd.service'],
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('the stand-ins themselves verify cleanly', async () => {
    const r = await systemdVerify({}, Object.keys(STANDIN_UNITS));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('reports a typo in a directive on stderr', async () => {
    const r = await systemdVerify(
      { '/etc/systemd/system/soci-snapshotter.service': service.replace('Restart=always', 'Restrat=always') },
      ['soci-snapshotter.service'],
    );
    expect(r.stderr).toMatch(/Unknown key 'Restrat'/);
  });

  it('reports a missing dependency and a missing executable', async () => {
    const r = await systemdVerify(
      { '/etc/systemd/system/x.service': service.replace('After=network-online.target', 'Requires=nothere.service') },
      ['x.service'],
      { stubGivenUnits: false },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nothere\.service/);
    expect(r.stderr).toMatch(/\/usr\/local\/bin\/soci-snapshotter-grpc is not executable/);
  });
});

describe('shellcheck', () => {
  it('passes a clean script', async () => {
    const r = await shellcheck('#!/bin/bash\nset -euo pipefail\nname="$1"\necho "hello ${name}"\n');
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('flags an unquoted variable', async () => {
    const r = await shellcheck('#!/bin/bash\ndir=$1\nrm -rf $dir/cache\n');
    expect(r.code).toBe(1);
    expect(r.findings.map((f) => f.code)).toContain('SC2086');
    expect(r.findings.find((f) => f.code === 'SC2086')!.line).toBe(3);
  });
});

describe('MIME user data', () => {
  const mime = (close: boolean): string =>
    [
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="//"',
      '',
      '--//',
      'Content-Type: application/node.eks.aws',
      '',
      'apiVersion: node.eks.aws/v1alpha1',
      'kind: NodeConfig',
      'spec: {}',
      '',
      '--//',
      'Content-Type: text/x-shellscript; charset="us-ascii"',
      '',
      '#!/bin/bash',
      'echo hi',
      '',
      close ? '--//--' : '',
      '',
    ].join('\n');

  it('python reads both parts of good MIME without defects', async () => {
    const r = await parseMimeWithPython(mime(true));
    expect(r.defects).toEqual([]);
    expect(r.boundary).toBe('//');
    expect(r.parts.map((p) => p.contentType)).toEqual(['application/node.eks.aws', 'text/x-shellscript']);
    expect(r.parts[0]!.body).toContain('kind: NodeConfig');
    expect(r.parts[1]!.headers['Content-Type']).toContain('us-ascii');
  });

  it('python reports a missing close boundary as a defect', async () => {
    const r = await parseMimeWithPython(mime(false));
    expect(r.defects).toContain('CloseBoundaryNotFoundDefect');
  });

  it("cloud-init runs the script part and logs the NodeConfig part as unhandled", async () => {
    const r = await cloudInitParts(mime(true));
    expect(r.parts.map((p) => [p.contentType, p.handled])).toEqual([
      ['application/node.eks.aws', false],
      ['text/x-shellscript', true],
    ]);
    expect(r.unhandled).toHaveLength(1);
    expect(r.unhandled[0]).toMatch(/Unhandled unknown content-type \(application\/node\.eks\.aws\)/);
  });

  it("a launch template's user data merged with ours: cloud-init still reads the user's part as they wrote it (file name, launch index, content)", async () => {
    const existing = [
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="B"',
      '',
      '--B  ', // transport padding (RFC 2046)
      'Content-Type: text/x-shellscript',
      'Content-Disposition: attachment; filename="10-users.sh"',
      'Launch-Index: 0',
      '',
      '#!/bin/bash',
      'echo user',
      '--B--',
      '',
    ].join('\n');
    const ours = render().artifacts.find((a) => a.path === 'user-data.mime')!.content;
    const before = (await cloudInitParts(existing)).parts.map((p) => [p.contentType, p.filename, p.payload]);
    expect(before).toEqual([['text/x-shellscript', '10-users.sh', '#!/bin/bash\necho user']]);
    const after = await cloudInitParts(mergeUserData(Buffer.from(existing), ours).mime);
    expect(after.parts.map((p) => [p.contentType, p.filename, p.payload])[0]).toEqual(before[0]);
    expect(after.parts.map((p) => p.contentType)).toEqual(['text/x-shellscript', 'text/x-shellscript', 'application/node.eks.aws']);
  });

  it('cloud-init reads a part whose content type is wrong as that type', async () => {
    const r = await cloudInitParts(mime(true).replace('text/x-shellscript', 'text/x-shelscript'));
    expect(r.parts[1]!.handled).toBe(false);
    expect(r.unhandled.join('\n')).toMatch(/text\/x-shelscript/);
  });
});

describe('schemas', () => {
  const nodeConfig = {
    apiVersion: 'node.eks.aws/v1alpha1',
    kind: 'NodeConfig',
    spec: {
      cluster: {
        name: 'c',
        apiServerEndpoint: 'https://example.com',
        certificateAuthority: 'Y2VydA==',
        cidr: '10.100.0.0/16',
      },
      containerd: { config: '[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "soci"\n' },
      kubelet: { config: { maxPods: 110, shutdownGracePeriod: '30s' }, flags: ['--node-labels=a=b'] },
      featureGates: { InstanceIdNodeName: true },
    },
  };

  it('accepts a valid NodeConfig (kubelet.config scalars included)', () => {
    expect(validateNodeConfig(nodeConfig)).toEqual([]);
  });

  it('rejects a typo in a NodeConfig key, a wrong type, bad base64 and a wrong kind', () => {
    const typo = structuredClone(nodeConfig) as { spec: Record<string, unknown> };
    typo.spec.contianerd = typo.spec.containerd;
    delete typo.spec.containerd;
    expect(validateNodeConfig(typo).join('\n')).toMatch(/\/spec must NOT have additional properties 'contianerd'/);

    const nested = structuredClone(nodeConfig);
    (nested.spec.containerd as Record<string, unknown>).cofnig = 'x';
    expect(validateNodeConfig(nested).join('\n')).toMatch(/cofnig/);

    const wrongType = structuredClone(nodeConfig);
    (wrongType.spec.kubelet as Record<string, unknown>).flags = '--x';
    expect(validateNodeConfig(wrongType).join('\n')).toMatch(/\/spec\/kubelet\/flags must be array/);

    const badCa = structuredClone(nodeConfig);
    badCa.spec.cluster.certificateAuthority = 'not base64!';
    expect(validateNodeConfig(badCa).join('\n')).toMatch(/certificateAuthority must match format "byte"/);

    expect(validateNodeConfig({ ...nodeConfig, kind: 'NodeConf' }).join('\n')).toMatch(/\/kind must be equal to one of/);
  });

  const nodeClass = {
    apiVersion: 'karpenter.k8s.aws/v1',
    kind: 'EC2NodeClass',
    metadata: { name: 'soci' },
    spec: {
      role: 'KarpenterNodeRole',
      amiSelectorTerms: [{ alias: 'al2023@latest' }],
      subnetSelectorTerms: [{ tags: { 'karpenter.sh/discovery': 'c' } }],
      securityGroupSelectorTerms: [{ tags: { 'karpenter.sh/discovery': 'c' } }],
      userData: 'MIME-Version: 1.0\n',
    },
  };

  it('EC2NodeClass: accepts a valid one, rejects a typo and a missing required field', () => {
    expect(validateEC2NodeClass(nodeClass)).toEqual([]);
    expect(validateEC2NodeClass({ ...nodeClass, spec: { ...nodeClass.spec, usrData: 'x' } }).join('\n')).toMatch(/usrData/);
    const { subnetSelectorTerms: _, ...noSubnets } = nodeClass.spec;
    expect(validateEC2NodeClass({ ...nodeClass, spec: noSubnets }).join('\n')).toMatch(/subnetSelectorTerms/);
  });

  it("EC2NodeClass: the CRD's CEL rules on the fields we write (ajv does not run CEL; the API server does)", () => {
    expect(ec2NodeClassCelProblems(nodeClass)).toEqual([]);
    const withSpec = (spec: object) => ec2NodeClassCelProblems({ ...nodeClass, spec: { ...nodeClass.spec, ...spec } });
    expect(withSpec({ subnetSelectorTerms: [{ tags: { a: '' } }] })).toEqual(["spec.subnetSelectorTerms[0].tags: empty tag keys or values aren't supported"]);
    expect(withSpec({ securityGroupSelectorTerms: [{ id: 'sg-1', name: 'n' }] })).toEqual([
      "spec.securityGroupSelectorTerms: 'id' is mutually exclusive",
      "spec.securityGroupSelectorTerms: 'name' is mutually exclusive",
    ]);
    expect(withSpec({ subnetSelectorTerms: [{ id: 'subnet-1', tags: { a: 'b' } }] })).toEqual(["spec.subnetSelectorTerms: 'id' is mutually exclusive"]);
    expect(withSpec({ amiSelectorTerms: [{ id: 'ami-1' }] })).toEqual(['spec: must specify amiFamily if amiSelectorTerms does not contain an alias']);
    expect(withSpec({ instanceProfile: 'p' })).toEqual(["spec: must specify exactly one of ['role', 'instanceProfile']"]);
  });

  const clusterConfig = {
    apiVersion: 'eksctl.io/v1alpha5',
    kind: 'ClusterConfig',
    metadata: { name: 'c', region: 'eu-west-1' },
    managedNodeGroups: [{ name: 'ng', amiFamily: 'AmazonLinux2023', desiredCapacity: 1 }],
  };

  it('eksctl ClusterConfig: accepts a valid one, rejects a typo', () => {
    expect(validateEksctlClusterConfig(clusterConfig)).toEqual([]);
    const typo = { ...clusterConfig, managedNodeGroups: [{ name: 'ng', amiFamly: 'AmazonLinux2023' }] };
    expect(validateEksctlClusterConfig(typo).join('\n')).toMatch(/amiFamly/);
  });
});

describe('soci config keys', () => {
  it('the defaults file has no unknown keys; the map-valued tables are allowed', () => {
    expect(sociConfigUnknownKeys(readFileSync(SOCI_DEFAULTS_FILE, 'utf8'))).toEqual([]);
    const ok = `[pull_modes.soci_v2]
enable = true
[pull_modes.parallel_pull_unpack]
enable = true
[pull_modes.parallel_pull_unpack.decompress_streams."gzip"]
path = "/usr/bin/unpigz"
args = ["-d", "-c"]
[[resolver.host."docker.io".mirrors]]
host = "mirror.example.com"
insecure = false
request_timeout_sec = 5
`;
    expect(sociConfigUnknownKeys(ok)).toEqual([]);
  });

  it('lists every unknown key path', () => {
    const bad = `metadata_stor = "db"
[fuse]
attr_timout = 1
[pull_modes.parallel_pull_unpack.decompress_streams.gzip]
pth = "/usr/bin/unpigz"
[[resolver.host."docker.io".mirrors]]
hots = "mirror.example.com"
[nope]
x = 1
`;
    expect(sociConfigUnknownKeys(bad).sort()).toEqual(
      [
        'metadata_stor',
        'fuse.attr_timout',
        'pull_modes.parallel_pull_unpack.decompress_streams.gzip.pth',
        'resolver.host."docker.io".mirrors[0].hots',
        'nope',
      ].sort(),
    );
  });
});

describe('defects, shown with the real components', () => {
  const CLUSTER = `cluster:
  name: demo
  apiServerEndpoint: https://ABCD.gr7.us-west-2.eks.amazonaws.com
  certificateAuthority: ${Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64')}
  cidr: 10.100.0.0/16
`;
  /** What a node of this profile gets (user data, drop-ins), rendered by nodeadm and dumped by containerd. */
  async function onNode(profileYaml: string, versionLine: string, extraUserDataPart?: string) {
    const r = render(profileYaml, 'p');
    const file = (path: string) => r.artifacts.find((a) => a.path === path)?.content;
    const dropIns = Object.fromEntries(
      r.artifacts.filter((a) => a.path.startsWith('rootfs/etc/eks/nodeadm.d/')).map((a) => [basename(a.path), a.content]),
    );
    let userData = file('user-data.mime')!;
    if (extraUserDataPart) userData = appendMimePart(userData, 'application/node.eks.aws', extraUserDataPart);
    const out = await nodeadmRender({ userData, dropIns, versionLine, kubernetesVersion: r.plan.kubernetesVersion });
    expect(out.code, out.stderr).toBe(0);
    const line: ContainerdLine = /containerd\/v2 /.test(versionLine) ? '2' : '1.7';
    const d = await configDump(line, out.config);
    expect(d.ok, d.stderr).toBe(true);
    return { plan: r.plan, file, render: out, dump: d.dump!, dumpStderr: d.stderr };
  }

  it('D12: node.containerd "1.7" is accepted for Kubernetes 1.30-1.33 (AMIs before v20250807), and nodeadm on such a node takes our wiring', async () => {
    for (const k8s of ['1.30', '1.33']) {
      const { plan, dump } = await onNode(`${CLUSTER}node: { kubernetesVersion: "${k8s}", containerd: "1.7" }\nsoci: { source: ami }\n`, VERSION_LINES['1.7'][0]!.text);
      expect(plan.containerd).toBe('1.7');
      expect(getPath(criImages('1.7', dump), 'snapshotter')).toBe('soci');
      expect(getPath(dump, 'proxy_plugins', 'soci', 'address')).toBe(SOCI_SOCK);
    }
  });

  // soci v0.15.0 fs/fs.go (NewFilesystem, tag v0.15.0 = 7716bd67): parallel_pull_unpack or
  // experimental_parallel_pull_as_fallback with the soci content store and discard_unpacked_layers = false is
  // an error; fs/adaptive_fetch_image_layers.go (checkParallelPullUnpack): a per-image download or unpack
  // limit above a global one that is bounded (> 0) is an error. Both end the daemon at start-up.
  it('D5: parallel with discardUnpackedLayers: false gets the containerd content store, and soci starts with it', async () => {
    for (const mode of ['parallel', 'lazy-with-parallel-fallback']) {
      const r = render(`node: { arch: x86_64 }\nsoci: { mode: ${mode}, source: ami, parallel: { discardUnpackedLayers: false } }\n`, 'p');
      const config = r.artifacts.find((a) => a.path === `rootfs${PATHS.sociConfig}`)!.content;
      const s = await startSoci(config);
      await s.stop();
      expect(s.error, mode).toBeUndefined();
      expect(s.started, mode).toBe(true);
    }
  });

  it('D5: a per-image limit above a bounded global one is refused at load, one line per field (soci would not start)', async () => {
    const text = 'node: { arch: x86_64 }\nsoci: { mode: parallel, source: ami, parallel: { maxConcurrentDownloads: 10, maxConcurrentUnpacks: 4, maxConcurrentUnpacksPerImage: 2 } }\n';
    let problems: string[] = [];
    try {
      loadProfile(text, 'p.yaml');
    } catch (e) {
      if (!(e instanceof ProfileError)) throw e;
      problems = e.problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^p\.yaml: soci\.parallel\.maxConcurrentDownloadsPerImage: 20 \(the default\) is above soci\.parallel\.maxConcurrentDownloads \(10\): soci refuses to start/),
    ]);
    // What soci itself says about the config we would have written.
    const both = 'node: { arch: x86_64 }\nsoci: { mode: parallel, source: ami, parallel: { maxConcurrentDownloads: 10, maxConcurrentUnpacks: 4 } }\n';
    const s = await startSoci(sociConfigToml(planOf(parseYaml(both))));
    await s.stop();
    expect(s.started).toBe(false);
    expect(s.error).toMatch(/global download limit less than per-image download limit/);
    expect(s.error).toMatch(/global unpack limit less than per-image unpack limit/);
    expect(() => loadProfile(both, 'p.yaml')).toThrow(/maxConcurrentUnpacksPerImage: 12 \(the default\) is above soci\.parallel\.maxConcurrentUnpacks \(4\)/);
    // -1 (unbounded) per image, or equal limits, are what soci accepts.
    expect(() => loadProfile('node: { arch: x86_64 }\nsoci: { mode: parallel, source: ami, parallel: { maxConcurrentDownloads: 20, maxConcurrentUnpacks: 4, maxConcurrentUnpacksPerImage: -1 } }\n')).not.toThrow();
  });

  it("D16: parallel modes use the AMI's /usr/bin/unpigz -d -c as soci's gzip decompressor (as nodeadm does), and soci starts with it", async () => {
    expect(existsSync('/usr/bin/unpigz'), '/usr/bin/unpigz missing: run scripts/setup-test-tools.sh (Debian package pigz)').toBe(true);
    for (const mode of ['parallel', 'lazy-with-parallel-fallback', 'lazy']) {
      const r = render(`node: { arch: x86_64 }\nsoci: { mode: ${mode}, source: ami }\n`, 'p');
      const config = r.artifacts.find((a) => a.path === `rootfs${PATHS.sociConfig}`)!.content;
      const gzip = getPath(parseToml(config), 'pull_modes', 'parallel_pull_unpack', 'decompress_streams', 'gzip');
      expect(gzip, mode).toEqual(mode === 'lazy' ? undefined : { path: '/usr/bin/unpigz', args: ['-d', '-c'] });
      expect((await sociConfigStrict(config)).code, mode).toBe(0);
      const s = await startSoci(config);
      await s.stop();
      expect(s.error, mode).toBeUndefined();
      expect(s.started, mode).toBe(true);
    }
  });

  /** PIDs of processes whose command line names this path (a soci left running by a bake). */
  const processesUnder = (dir: string): string[] =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
        } catch {
          return false;
        }
      });

  it('D5: bake.sh starts the installed soci once on a scratch root and socket, and stops the build unless it becomes ready', async () => {
    const r = render('node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none }\n', 'p');
    const script = r.artifacts.find((a) => a.path === 'packer/files/bake.sh')!.content;
    const good = makeScratchRoot({ containerdVersion: '2.1.4', amiSociVersion: '0.15.0', ecrHelper: false });
    try {
      const res = await good.run(script, []);
      expect(res.stderr).toMatch(/bake: soci starts with its config/);
      expect(res.code, res.stderr).toBe(0);
      expect(processesUnder(good.dir)).toEqual([]);
    } finally {
      good.remove();
    }
    // A config soci refuses (what D5's first half prevents at generation), run by the real soci.
    const refused = script.replace(/^discard_unpacked_layers = true$/gm, 'discard_unpacked_layers = false');
    expect(refused).not.toBe(script);
    const bad = makeScratchRoot({ containerdVersion: '2.1.4', amiSociVersion: '0.15.0', ecrHelper: false });
    try {
      const res = await bad.run(refused, []);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/bake: \/usr\/bin\/soci-snapshotter-grpc does not start with \/etc\/soci-snapshotter-grpc\/config\.toml: .*requires containerd content store/);
      expect(existsSync(bad.path(PATHS.nodeadmDropIn))).toBe(false);
      expect(readFileSync(bad.path('/etc/machine-id'), 'utf8')).not.toBe(''); // no cleanup of a failed bake
      expect(processesUnder(bad.dir)).toEqual([]);
    } finally {
      bad.remove();
    }
  }, 120_000);

  it('D16: the node scripts name /usr/bin/unpigz in soci\'s config only where the node has it (bake.sh here)', async () => {
    const r = render('node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none }\n', 'p');
    const script = r.artifacts.find((a) => a.path === 'packer/files/bake.sh')!.content;
    const root = makeScratchRoot({ containerdVersion: '2.1.4', amiSociVersion: '0.15.0', ecrHelper: false });
    try {
      // An overlay whiteout in the /usr layer hides the host's /usr/bin/unpigz from the script.
      const hide = await run('mknod', [root.path('/usr/bin/unpigz'), 'c', '0', '0']);
      expect(hide.code, hide.stderr).toBe(0);
      const res = await root.run(script, []);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toMatch(/\/usr\/bin\/unpigz is missing/);
      const written = readFileSync(root.path(PATHS.sociConfig), 'utf8');
      expect(getPath(parseToml(written), 'pull_modes', 'parallel_pull_unpack', 'decompress_streams')).toBeUndefined();
      expect(getPath(parseToml(written), 'pull_modes', 'parallel_pull_unpack', 'enable')).toBe(true);
    } finally {
      root.remove();
    }
  }, 120_000);

  it("D17: containerd 2's transfer-service keys, which kubelet's pulls never read, say in the drop-in that they are for ctr", async () => {
    const { dropIns, plan } = nodeInputs('default');
    expect(plan.containerd).toBe('2');
    const toml: string = parseYaml(dropIns['50-soci-installer.yaml']!).spec.containerd.config;
    const lines = toml.split('\n');
    for (const key of [/^\[\[plugins\."io\.containerd\.transfer\.v1\.local"\.unpack_config\]\]$/, /^enable_remote_snapshot_annotations = /]) {
      const at = lines.findIndex((l) => key.test(l));
      expect(at, String(key)).toBeGreaterThan(0);
      expect(lines[at - 1], String(key)).toMatch(/^# .*\bctr\b/);
    }
    // kubelet's pulls go through CRI, which with disable_snapshot_annotations = false labels soci's
    // snapshots itself: nodeadm's config for this case has that on every containerd 2 line.
    const r = await nodeadmRender({ userData: nodeInputs('default').userData, dropIns, versionLine: VERSION_LINES['2'][0]!.text, kubernetesVersion: plan.kubernetesVersion });
    const d = await configDump('2', r.config);
    expect(getPath(criImages('2', d.dump), 'disable_snapshot_annotations')).toBe(false);
  });

  // A user's own NodeConfig part with containerd 1.x (config v2) keys, as many EKS guides show.
  const USER_V2 = `apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  containerd:
    config: |
      [plugins."io.containerd.grpc.v1.cri"]
      max_concurrent_downloads = 7
`;

  it("D11: a user's v2-style containerd.config is dropped by nodeadm on containerd 2 once our v3 drop-in is merged (nodeadm-render), so install.sh refuses such a node", async () => {
    const { plan, userData, dropIns } = nodeInputs('default');
    const withUser = appendMimePart(userData, 'application/node.eks.aws', USER_V2);
    const versionLine = VERSION_LINES['2'][0]!.text;
    const k8s = plan.kubernetesVersion;
    // Alone, nodeadm renders its v2 template and migrates: the user's key lands in containerd 2's config.
    const alone = await nodeadmRender({ userData: withUser, versionLine, kubernetesVersion: k8s, migrateWith: '2' });
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stderr).toMatch(/needs `containerd config migrate`: true/);
    expect(getPath((await configDump('2', alone.config)).dump, 'plugins', CRI_IMAGES_V3, 'max_concurrent_downloads')).toBe(7);
    // With our drop-in, the merged text names v3 plugins: no migration, the key is lost.
    const merged = await nodeadmRender({ userData: withUser, dropIns, versionLine, kubernetesVersion: k8s, migrateWith: '2' });
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stderr).toMatch(/needs `containerd config migrate`: false/);
    expect(getPath((await configDump('2', merged.config)).dump, 'plugins', CRI_IMAGES_V3, 'max_concurrent_downloads')).not.toBe(7);

    // On the node: nodeadm-config (before cloud-init) caches the user-data NodeConfig in
    // /run/eks/nodeadm/config.json; written here from nodeadm's own merge of that user data.
    const script = render(undefined, 'default').artifacts.find((a) => a.path === 'install.sh')!.content;
    const root = makeScratchRoot({ containerdVersion: '2.2.4', amiSociVersion: '0.15.0', ecrHelper: true, realContainerd: true });
    try {
      mkdirSync(root.path('/run/eks/nodeadm'), { recursive: true });
      writeFileSync(root.path('/run/eks/nodeadm/config.json'), JSON.stringify(alone.nodeConfig));
      const before = root.snapshot();
      const res = await root.run(script, ['--strict']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`containerd.config in user data ${staleCriProblem(['max_concurrent_downloads'])}`);
      expect(res.stderr).toContain('max_concurrent_downloads (now in io.containerd.cri.v1.images)');
      expect(existsSync(root.path(PATHS.nodeadmDropIn))).toBe(false);
      expect(root.snapshot().split('\n').filter((l) => !l.includes('/var/lib/soci-installer'))).toEqual(before.split('\n').filter((l) => !l.includes('/var/lib/soci-installer')));
      // A v3-style user config, or none, is fine.
      const v3 = await nodeadmRender({ userData: appendMimePart(userData, 'application/node.eks.aws', USER_V2.replace('io.containerd.grpc.v1.cri', 'io.containerd.cri.v1.images')), versionLine, kubernetesVersion: k8s });
      writeFileSync(root.path('/run/eks/nodeadm/config.json'), JSON.stringify(v3.nodeConfig));
      const ok = await root.run(script, ['--strict']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(existsSync(root.path(PATHS.nodeadmDropIn))).toBe(true);

      // A config without CRI keys needs no migration: merged with our drop-in, containerd 2 keeps it
      // (and runs soci), so the script installs (it refused these before).
      for (const toml of ['[metrics]\naddress = "127.0.0.1:1338"\n', 'version = 2\n[metrics]\naddress = "127.0.0.1:1338"\n']) {
        const part = `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n${toml.replace(/^(?=.)/gm, '      ')}`;
        const metrics = appendMimePart(userData, 'application/node.eks.aws', part);
        const both = await nodeadmRender({ userData: metrics, dropIns, versionLine, kubernetesVersion: k8s });
        expect(both.code, both.stderr).toBe(0);
        const dump = (await configDump('2', both.config)).dump;
        expect(getPath(dump, 'metrics', 'address'), toml).toBe('127.0.0.1:1338');
        expect(getPath(dump, 'plugins', CRI_IMAGES_V3, 'snapshotter'), toml).toBe('soci');
        rmSync(root.path(PATHS.nodeadmDropIn));
        const alone = await nodeadmRender({ userData: metrics, versionLine, kubernetesVersion: k8s });
        writeFileSync(root.path('/run/eks/nodeadm/config.json'), JSON.stringify(alone.nodeConfig));
        const installed = await root.run(script, ['--strict']);
        expect(installed.code, `${toml}\n${installed.stderr}`).toBe(0);
        expect(existsSync(root.path(PATHS.nodeadmDropIn))).toBe(true);
      }
    } finally {
      root.remove();
    }
  }, 120_000);

  // Users' containerd.config texts under io.containerd.grpc.v1.cri, each written as nodeadm merges it.
  const CRI_CONFIGS: Record<string, string> = {
    // the CRI server's own keys: containerd 2 reads them there in version 3 too
    'server keys': `[plugins."${CRI_V1}"]\nstream_idle_timeout = "1h"\nstream_server_port = "10010"\nenable_tls_streaming = true\n[plugins."${CRI_V1}".x509_key_pair_streaming]\ntls_cert_file = "/etc/cri/tls.crt"\ntls_key_file = "/etc/cri/tls.key"\n`,
    'server and image keys': `[plugins."${CRI_V1}"]\nstream_idle_timeout = "1h"\nsandbox_image = "registry.example/pause:3.10"\nmax_concurrent_downloads = 7\n`,
    'dotted and inline': `[plugins]\n"${CRI_V1}".disable_tcp_service = false\n"${CRI_V1}".enable_selinux = true\n'${CRI_V1}'.cni = { bin_dir = "/opt/cni/bin" }\n`,
    'containerd table': `[plugins."${CRI_V1}".containerd]\ndiscard_unpacked_layers = false\n[plugins."${CRI_V1}".containerd.runtimes.runc.options]\nSystemdCgroup = true\n`,
    // version 3 said outright (the script then does not add it for containerd's verdict)
    'version 3': `version = 3\n[plugins."${CRI_V1}"]\nenable_selinux = true\n`,
    // version 2 said outright: nodeadm keeps it, and containerd 2 migrates it all as it loads
    'version 2': `version = 2\n[plugins."${CRI_V1}"]\nmax_concurrent_downloads = 7\nstream_idle_timeout = "1h"\n`,
  };

  it("D11: the keys refused under io.containerd.grpc.v1.cri are exactly those containerd 2.2.4 ignores in nodeadm's config merged with ours; the others take effect", async () => {
    const { plan, userData, dropIns } = nodeInputs('default');
    const versionLine = VERSION_LINES['2'][0]!.text;
    const script = render(undefined, 'default').artifacts.find((a) => a.path === 'install.sh')!.content;
    const root = makeScratchRoot({ containerdVersion: '2.2.4', amiSociVersion: '0.15.0', ecrHelper: true, realContainerd: true });
    const refused: string[] = [];
    try {
      mkdirSync(root.path('/run/eks/nodeadm'), { recursive: true });
      for (const [name, toml] of Object.entries(CRI_CONFIGS)) {
        const part = `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n${toml.replace(/^(?=.)/gm, '      ')}`;
        const withUser = appendMimePart(userData, 'application/node.eks.aws', part);
        const merged = await nodeadmRender({ userData: withUser, dropIns, versionLine, kubernetesVersion: plan.kubernetesVersion, migrateWith: '2' });
        expect(merged.code, merged.stderr).toBe(0);
        const d = await configDump('2', merged.config);
        expect(d.ok, d.stderr).toBe(true);
        // containerd 2 names each key it drops ("Ignoring unknown key in TOML for plugin"); one of one word
        // (unquoted) is right under the plugin's table, a deeper one is quoted ("containerd runtimes").
        const ignored = [...d.stderr.matchAll(/msg="Ignoring unknown key in TOML for plugin".* key=([^" ]+) plugin=(\S+)/g)].filter((m) => m[2] === CRI_V1).map((m) => m[1]!);
        const stale = staleCriKeys(toml);
        expect([...new Set(ignored)].sort(), name).toEqual([...stale].sort());
        // What is not refused takes effect: the server keys in the CRI server's table, soci in the images plugin.
        if (toml.includes('stream_idle_timeout')) expect(getPath(d.dump, 'plugins', CRI_V1, 'stream_idle_timeout'), name).toBe('1h');
        expect(getPath(d.dump, 'plugins', CRI_IMAGES_V3, 'snapshotter'), name).toBe('soci');

        // The node script draws the same line, and words it as the launch-template merge does.
        const alone = await nodeadmRender({ userData: withUser, versionLine, kubernetesVersion: plan.kubernetesVersion });
        writeFileSync(root.path('/run/eks/nodeadm/config.json'), JSON.stringify(alone.nodeConfig));
        rmSync(root.path(PATHS.nodeadmDropIn), { force: true });
        const res = await root.run(script, ['--strict']);
        if (stale.length > 0) {
          refused.push(name);
          expect(res.code, name).toBe(1);
          expect(res.stderr, name).toContain(`containerd.config in user data ${staleCriProblem(stale)}`);
        } else {
          expect(res.code, `${name}\n${res.stderr}`).toBe(0);
          expect(existsSync(root.path(PATHS.nodeadmDropIn)), name).toBe(true);
        }
      }
    } finally {
      root.remove();
    }
    expect(refused).toEqual(['server and image keys', 'dotted and inline', 'containerd table', 'version 3']);
    // The keys that stay are containerd's ServerConfig: its default config shows the same set.
    const defaults = await run(containerdBinary('2'), ['config', 'default']);
    expect(Object.keys(getPath(parseToml(defaults.stdout), 'plugins', CRI_V1) as object).sort()).toEqual([...CRI_SERVER_KEYS].sort());
    // Merged with ours, a version 2 config is migrated as containerd loads it: the image key lands in the images plugin.
    const v2 = await nodeadmRender({ userData: appendMimePart(userData, 'application/node.eks.aws', `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n${CRI_CONFIGS['version 2']!.replace(/^(?=.)/gm, '      ')}`), dropIns, versionLine, kubernetesVersion: plan.kubernetesVersion });
    expect(getPath((await configDump('2', v2.config)).dump, 'plugins', CRI_IMAGES_V3, 'max_concurrent_downloads')).toBe(7);
  }, 180_000);

  // containerd.config split over several NodeConfig parts of a launch template's user data. nodeadm
  // merges the texts first (amazon-eks-ami nodeadm/internal/api/merge.go at 81fec2e8,
  // mergeContainerdConfig) and decides on the merged text, so the launch-template merge must judge it
  // whole: a version in one part applies to keys in another, keys add up across parts, and a merged
  // text is re-marshalled (its comments gone).
  const SPLIT_CONFIGS: Record<string, string[]> = {
    'version 2 in one part, the keys in another': ['version = 2\n', `[plugins."${CRI_V1}"]\nmax_concurrent_downloads = 7\n`],
    'version 3 in a later part': [`version = 2\n[plugins."${CRI_V1}"]\nmax_concurrent_downloads = 7\n`, 'version = 3\n[metrics]\naddress = "127.0.0.1:1338"\n'],
    'a version 3 name in another part': [`[plugins."${CRI_IMAGES_V3}"]\nmax_concurrent_downloads = 7\n`, `[plugins."${CRI_V1}"]\nenable_selinux = true\n`],
    'keys split across parts': [
      `[plugins."${CRI_V1}"]\nstream_idle_timeout = "1h"\nsandbox_image = "registry.example/pause:3.10"\n`,
      `[plugins."${CRI_V1}".containerd]\ndiscard_unpacked_layers = false\n`,
      `[plugins."${CRI_V1}"]\nmax_concurrent_downloads = 7\n`,
    ],
    'a version 3 name in a comment, beside another part': [`# ${CRI_IMAGES_V3} later\n[plugins."${CRI_V1}"]\nmax_concurrent_downloads = 7\n`, '[metrics]\naddress = "127.0.0.1:1338"\n'],
    'a version 3 name in a comment, alone': [`# ${CRI_IMAGES_V3} later\n[plugins."${CRI_V1}"]\nmax_concurrent_downloads = 7\n`],
  };

  it("D11: over several NodeConfig parts, the launch-template merge refuses exactly the keys containerd 2.2.4 ignores in nodeadm's merge of them with ours, where nodeadm without us would have migrated them", async () => {
    const nodeConfig = (toml: string) => `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  containerd:\n    config: |\n${toml.replace(/^(?=.)/gm, '      ')}`;
    const versionLine = VERSION_LINES['2'][0]!.text;
    const verdicts: Record<string, string[]> = {};
    // Our wiring as a drop-in (default), and as a NodeConfig part after the user's.
    for (const name of ['default', 'lazy-user-data-wiring-containerd2']) {
      const r = render(caseProfile(name), name);
      const ours = r.artifacts.find((a) => a.path === 'user-data.mime')!.content;
      const dropIns = Object.fromEntries(r.artifacts.filter((a) => a.path.startsWith('rootfs/etc/eks/nodeadm.d/')).map((a) => [basename(a.path), a.content]));
      for (const [what, tomls] of Object.entries(SPLIT_CONFIGS)) {
        const label = `${name}: ${what}`;
        // The template's user data: the cluster block (as EKS supplies it), then the user's parts.
        const theirs = buildMime([{ contentType: CONTENT_TYPES.nodeConfig, body: EKS_NODECONFIG }, ...tomls.map((t) => ({ contentType: CONTENT_TYPES.nodeConfig, body: nodeConfig(t) }))]);
        const verdict = mergeUserData(Buffer.from(theirs), ours).staleCri?.keys ?? [];
        const withUs = await nodeadmRender({ userData: mergeUserData(Buffer.from(theirs), ours).mime, dropIns, versionLine, kubernetesVersion: r.plan.kubernetesVersion, migrateWith: '2' });
        expect(withUs.code, `${label}\n${withUs.stderr}`).toBe(0);
        const d = await configDump('2', withUs.config);
        expect(d.ok, `${label}\n${d.stderr}`).toBe(true);
        const ignored = [...new Set([...d.stderr.matchAll(/msg="Ignoring unknown key in TOML for plugin".* key=([^" ]+) plugin=(\S+)/g)].filter((m) => m[2] === CRI_V1).map((m) => m[1]!))].sort();
        // Without us, would nodeadm have migrated the user's config (so that the keys worked)?
        const alone = await nodeadmRender({ userData: theirs, versionLine, kubernetesVersion: r.plan.kubernetesVersion });
        expect(alone.code, `${label}\n${alone.stderr}`).toBe(0);
        const migrated = /needs `containerd config migrate`: true/.test(alone.stderr);
        expect(verdict, label).toEqual(migrated ? ignored : []);
        verdicts[what] = verdict;
        // soci is wired, and a key containerd does not ignore takes effect.
        expect(getPath(d.dump, 'plugins', CRI_IMAGES_V3, 'snapshotter'), label).toBe('soci');
        if (tomls.some((t) => t.includes('max_concurrent_downloads')) && !ignored.includes('max_concurrent_downloads')) {
          expect(getPath(d.dump, 'plugins', CRI_IMAGES_V3, 'max_concurrent_downloads'), label).toBe(7);
        }
      }
    }
    // The verdicts themselves, so the comparison above cannot pass by both sides being empty.
    expect(verdicts).toEqual({
      'version 2 in one part, the keys in another': [],
      'version 3 in a later part': ['max_concurrent_downloads'],
      'a version 3 name in another part': [],
      'keys split across parts': ['containerd', 'max_concurrent_downloads', 'sandbox_image'],
      'a version 3 name in a comment, beside another part': ['max_concurrent_downloads'],
      'a version 3 name in a comment, alone': [],
    });
  }, 240_000);

  it("FastImagePull over several NodeConfig parts: the launch-template merge refuses where nodeadm's merge of them turns soci on (a later value wins)", async () => {
    const { plan, dropIns } = nodeInputs('default');
    const ours = render(caseProfile('default'), 'default').artifacts.find((a) => a.path === 'user-data.mime')!.content;
    const versionLine = VERSION_LINES['2'][0]!.text;
    const gate = (on: boolean) => ({ contentType: CONTENT_TYPES.nodeConfig, body: `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    FastImagePull: ${on}\n` });
    const seen: boolean[] = [];
    for (const order of [[true, false], [false, true], [true]]) {
      const theirs = buildMime([{ contentType: CONTENT_TYPES.nodeConfig, body: EKS_NODECONFIG }, ...order.map(gate)]);
      const refused = mergeUserData(Buffer.from(theirs), ours).fastImagePullPart !== undefined;
      const r = await nodeadmRender({ userData: mergeUserData(Buffer.from(theirs), ours).mime, dropIns, versionLine, kubernetesVersion: plan.kubernetesVersion });
      expect(r.code, r.stderr).toBe(0);
      const on = /use SOCI snapshotter \(FastImagePull gate \+ resources\): true/.test(r.stderr);
      expect(/use SOCI snapshotter \(FastImagePull gate \+ resources\): (true|false)/.test(r.stderr), r.stderr).toBe(true);
      expect(refused, String(order)).toBe(on);
      seen.push(on);
    }
    expect(seen).toEqual([false, true, true]);
  }, 60_000);
});
