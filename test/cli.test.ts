// The built CLI as a user runs it: exit codes, stdout/stderr, files written.
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, run } from './support/exec.js';

const BIN = join(REPO_ROOT, 'dist', 'bin.js');
const cli = (args: string[], cwd = REPO_ROOT, env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env } });
const tmp = () => mkdtempSync(join(tmpdir(), 'soci-cli-'));
const OUTPUTS_PROFILE = `node: { arch: x86_64 }
soci: { mode: parallel, source: ami }
karpenter:
  role: KarpenterNodeRole-demo
  subnetSelectorTerms: [{ tags: { karpenter.sh/discovery: demo } }]
  securityGroupSelectorTerms: [{ tags: { karpenter.sh/discovery: demo } }]
eksctl: { region: us-west-2, clusterName: demo }
`;

beforeAll(async () => {
  // Tests run the compiled CLI; build it so they never test stale output.
  const res = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', REPO_ROOT]);
  expect(res.stdout + res.stderr).toBe('');
});

describe('soci-installer CLI', () => {
  it('render with no profile writes the default profile\'s files into ./out', async () => {
    const cwd = tmp();
    const res = await cli(['render'], cwd);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^wrote \d+ files to out\/\n$/);
    const out = join(cwd, 'out');
    expect(readdirSync(out).sort()).toEqual(['.soci-installer', 'daemonset-uninstall.yaml', 'daemonset.yaml', 'install.sh', 'nodeconfig.yaml', 'packer', 'rootfs', 'user-data.mime']);
    expect(readdirSync(join(out, 'packer')).sort()).toEqual(['build.pkr.hcl', 'files', 'plugins.pkr.hcl', 'soci.auto.pkrvars.hcl', 'sources.pkr.hcl', 'variables.pkr.hcl']);
    expect(readFileSync(join(out, 'packer/files/install.sh'), 'utf8')).toBe(readFileSync(join(out, 'install.sh'), 'utf8'));
    expect(statSync(join(out, 'install.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(out, 'rootfs/root/.docker/config.json')).mode & 0o777).toBe(0o600);
  });

  it('render replaces its own earlier output as a whole, and refuses a directory it did not write', async () => {
    const cwd = tmp();
    expect((await cli(['render', '-o', 'o'], cwd)).code).toBe(0);
    writeFileSync(join(cwd, 'o', 'stale-file'), 'x');
    expect((await cli(['render', '-o', 'o'], cwd)).code).toBe(0);
    expect(existsSync(join(cwd, 'o', 'stale-file'))).toBe(false);
    mkdirSync(join(cwd, 'mine'));
    writeFileSync(join(cwd, 'mine', 'notes.txt'), 'keep me');
    const res = await cli(['render', '-o', 'mine'], cwd);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('soci-installer: mine exists and was not written by soci-installer; choose an empty or new directory (-o)\n');
    expect(readdirSync(join(cwd, 'mine'))).toEqual(['notes.txt']);
  });

  it('a refused profile exits 2, lists every problem on stderr, and writes nothing', async () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'p.yaml'), 'soci: { mode: lzy, sourc: ami }\n');
    const res = await cli(['render', '-c', 'p.yaml', '-o', 'out'], cwd);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      'soci-installer: p.yaml: soci.sourc: unknown key; allowed here: mode, source, version, releaseBaseUrl, sha256, auth, parallel, mirrors, proxy, metricsAddress, wiring, ecrCredentialHelper\n' +
        'soci-installer: p.yaml: soci.mode: "lzy" is not allowed; allowed: lazy | parallel | lazy-with-parallel-fallback | fast-image-pull\n',
    );
    expect(existsSync(join(cwd, 'out'))).toBe(false);
  });

  it('a missing profile file is a usage error', async () => {
    const res = await cli(['render', '-c', '/nonexistent.yaml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('soci-installer: -c /nonexistent.yaml: cannot read it (ENOENT)\n');
  });

  it('user-data prints the MIME document; --base64 is the same bytes on one line', async () => {
    const plain = await cli(['user-data']);
    const b64 = await cli(['user-data', '--base64']);
    expect(plain.code).toBe(0);
    expect(b64.stdout.trimEnd()).not.toContain('\n');
    expect(Buffer.from(b64.stdout.trim(), 'base64').toString()).toBe(plain.stdout);
    expect(plain.stdout).toBe(readFileSync(join(REPO_ROOT, 'test/cases/default/expected/user-data.mime'), 'utf8'));
  });

  it('init writes the annotated profile, which renders, and will not overwrite without --force', async () => {
    const cwd = tmp();
    expect((await cli(['init'], cwd)).stdout).toBe('wrote soci.yaml\n');
    expect(readFileSync(join(cwd, 'soci.yaml'), 'utf8')).toContain('# soci-installer profile.');
    expect((await cli(['render', '-c', 'soci.yaml'], cwd)).code).toBe(0);
    const again = await cli(['init'], cwd);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe('soci-installer: soci.yaml exists; use --force to overwrite it\n');
    expect((await cli(['init', '--force'], cwd)).code).toBe(0);
  });

  it('unknown commands and flags exit 2 with help; --help shows examples and exits 0', async () => {
    const bad = await cli(['render', '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown option '--bogus'/);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:\n {2}soci-installer init -o soci\.yaml/);
    expect((await cli(['nope'])).code).toBe(2);
  });

  it('user-data --baked carries only the cluster block, and needs one', async () => {
    const profile = join(REPO_ROOT, 'test/cases/lazy-auto-containerd2-both-arches-cluster/profile.yaml');
    const baked = await cli(['user-data', '-c', profile, '--baked']);
    expect(baked.code).toBe(0);
    expect(baked.stdout).not.toContain('text/x-shellscript');
    expect(baked.stdout).toContain('Content-Type: application/node.eks.aws');
    expect(baked.stdout).toMatch(/spec:\n {2}cluster:\n {4}name: demo\n/);
    expect(baked.stdout).not.toContain('containerd:');
    // Same as ami.baked: true in the profile.
    expect(baked.stdout).toBe(
      (await cli(['user-data', '-c', join(REPO_ROOT, 'test/cases/packer-neuron-baked/profile.yaml')])).stdout.replace(/mode lazy-with-parallel-fallback/, 'mode lazy'),
    );
    const none = await cli(['user-data', '--baked']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^soci-installer: cluster: missing, and required for the user data of a baked AMI/);
  });

  it.each([
    ['render', '-o', 'out'],
    ['user-data'],
    ['user-data', '--baked', '-c', join(REPO_ROOT, 'test/cases/packer-neuron-baked/profile.yaml')],
    ['daemonset'],
    ['karpenter', '-c', 'p.yaml'],
    ['eksctl', '-c', 'p.yaml'],
    ['bottlerocket', '-c', 'p.yaml'],
    ['launch-template', '--name', 'my-nodes', '-c', 'p.yaml', '--dry-run'],
  ])('never loads the AWS SDK for commands that do not call AWS: %s', async (...args: string[]) => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'p.yaml'), OUTPUTS_PROFILE);
    const trace = join(cwd, 'imports.txt');
    writeFileSync(trace, '');
    const res = await run(process.execPath, ['--import', join(REPO_ROOT, 'test/fixtures/trace-imports.mjs'), BIN, ...args], {
      cwd,
      env: { ...process.env, TRACE_IMPORTS_FILE: trace },
    });
    expect(res.stderr.replace(/^note: .*\n/gm, '')).toBe('');
    expect(res.code).toBe(0);
    const urls = readFileSync(trace, 'utf8').split('\n');
    expect(urls.some((u) => u.includes('/dist/synth.js')), 'the trace must see our own modules').toBe(true);
    expect(urls.filter((u) => u.includes('@aws-sdk') || u.includes('@smithy'))).toEqual([]);
  });

  it('render writes the outputs the profile allows and notes the others on stderr', async () => {
    const cwd = tmp();
    const res = await cli(['render', '-o', 'out'], cwd);
    expect(res.stderr).toBe(
      'note: karpenter/ec2nodeclass.yaml not written: the profile has no karpenter: section\n' +
        'note: eksctl/nodegroup.yaml not written: the profile has no eksctl: section\n' +
        'note: bottlerocket/settings.toml not written: mode lazy: Bottlerocket has parallel pull only, no lazy loading\n',
    );
    writeFileSync(join(cwd, 'p.yaml'), OUTPUTS_PROFILE);
    const all = await cli(['render', '-c', 'p.yaml', '-o', 'out'], cwd);
    expect(all.stderr).toBe('');
    for (const f of ['karpenter/ec2nodeclass.yaml', 'eksctl/nodegroup.yaml', 'bottlerocket/settings.toml']) expect(existsSync(join(cwd, 'out', f)), f).toBe(true);
  });

  it('karpenter, eksctl and bottlerocket print what render writes; --base64 for Bottlerocket user data', async () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'p.yaml'), OUTPUTS_PROFILE);
    expect((await cli(['render', '-c', 'p.yaml', '-o', 'out'], cwd)).code).toBe(0);
    for (const [cmd, file] of [['karpenter', 'karpenter/ec2nodeclass.yaml'], ['eksctl', 'eksctl/nodegroup.yaml'], ['bottlerocket', 'bottlerocket/settings.toml']] as const) {
      const res = await cli([cmd, '-c', 'p.yaml'], cwd);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toBe(readFileSync(join(cwd, 'out', file), 'utf8'));
    }
    const b64 = await cli(['bottlerocket', '-c', 'p.yaml', '--base64'], cwd);
    expect(Buffer.from(b64.stdout.trim(), 'base64').toString()).toBe(readFileSync(join(cwd, 'out', 'bottlerocket/settings.toml'), 'utf8'));
  });

  it('bottlerocket refuses a lazy profile, karpenter and eksctl a profile without their section: exit 2, one line', async () => {
    const lazy = await cli(['bottlerocket']);
    expect(lazy.code).toBe(2);
    expect(lazy.stdout).toBe('');
    expect(lazy.stderr).toBe(
      'soci-installer: soci.mode: "lazy" is not available on Bottlerocket: Bottlerocket\'s SOCI support is parallel pull and unpack only, with no lazy loading; use soci.mode parallel for Bottlerocket nodes\n',
    );
    const k = await cli(['karpenter']);
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(/^soci-installer: karpenter: missing in the profile: the EC2NodeClass needs role or instanceProfile/);
    const e = await cli(['eksctl']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/^soci-installer: eksctl: missing in the profile/);
  });

  it('launch-template --ami without a cluster block exits 2 before calling AWS', async () => {
    const res = await cli(['launch-template', '--name', 'my-nodes', '--ami', 'ami-0123456789abcdef0', '--dry-run']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^soci-installer: cluster: required because the launch template sets ImageId ami-0123456789abcdef0/);
    const both = await cli(['launch-template', '--name', 'my-nodes', '--ami', 'ami-0123456789abcdef0', '--ami-from-ssm', '--dry-run']);
    expect(both.code).toBe(2);
  });
});
