// The built CLI as a user runs it: exit codes, stdout/stderr, files written.
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli, CLI, REPO_ROOT, run } from './support/exec.js';
import { chunkSources, importedPackages, packageOf, tracedModules } from './support/imports.js';
import { render } from '../src/index.js';

const cli = (args: string[], cwd = REPO_ROOT, env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env } });
const tmp = () => mkdtempSync(join(tmpdir(), 'soci-cli-'));
// The default profile's user data as the library renders it in this process (same zlib): the CLI
// and the packed package must print the same bytes. (Its golden stores the gzip block as a reference.)
const defaultUserData = () => render().artifacts.find((a) => a.path === 'user-data.mime')!.content;
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
  expect(await buildCli()).toBe('');
}, 300_000);

describe('soci-installer CLI', () => {
  it('render with no profile writes the default profile\'s files into ./out', async () => {
    const cwd = tmp();
    const res = await cli(['render'], cwd);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^wrote \d+ files to out\/\n$/);
    const out = join(cwd, 'out');
    expect(readdirSync(out).sort()).toEqual(['.soci-installer', 'daemonset-uninstall.yaml', 'daemonset.yaml', 'install.sh', 'nodeconfig.yaml', 'packer', 'rootfs', 'user-data.mime']);
    expect(readdirSync(join(out, 'packer')).sort()).toEqual(['build.pkr.hcl', 'files', 'plugins.pkr.hcl', 'soci.auto.pkrvars.hcl', 'sources.pkr.hcl', 'variables.pkr.hcl']);
    expect(readdirSync(join(out, 'packer/files'))).toEqual(['bake.sh']); // bake.sh carries the node files itself
    expect(statSync(join(out, 'install.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(out, 'rootfs/root/.docker/config.json')).mode & 0o777).toBe(0o600);
    // Every file is what the library renders in this process (from src/): the bundle changes no byte.
    const { artifacts } = render();
    const written = readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => !f.startsWith('.soci-installer') && statSync(join(out, f)).isFile());
    expect(written.sort()).toEqual(artifacts.map((a) => a.path).sort());
    for (const a of artifacts) {
      expect(readFileSync(join(out, a.path), 'utf8'), a.path).toBe(a.content);
      expect(statSync(join(out, a.path)).mode & 0o777, a.path).toBe(a.mode);
    }
  });

  it('an internal error prints its stack, each frame in the bundle named by the line of the dist/ module it came from', async () => {
    // A copy of the package without one part of the node scripts: reading it fails with an error of no type of ours.
    const dir = tmp();
    for (const f of ['dist', 'node', 'packer', 'package.json']) cpSync(join(REPO_ROOT, f), join(dir, f), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
    rmSync(join(dir, 'node', 'log.sh'));
    const bundled = await run(process.execPath, [join(dir, relative(REPO_ROOT, CLI)), 'render', '-o', 'out'], { cwd: dir });
    expect(bundled.code).toBe(1);
    expect(bundled.stderr).toMatch(/^soci-installer: internal error \(please report it\): Error: ENOENT: no such file or directory, open '.*\/node\/log\.sh'\n {4}at /);
    expect(bundled.stderr).not.toContain('/dist/cli/');
    // The lines tsc's modules (dist/bin.js, unbundled) name for the same error.
    const unbundled = await run(process.execPath, [join(dir, 'dist', 'bin.js'), 'render', '-o', 'out'], { cwd: dir });
    const frames = (stderr: string) => stderr.match(/\/dist\/[^\s()]+:\d+:\d+/g) ?? [];
    expect(frames(unbundled.stderr)[0]).toMatch(/^\/dist\/artifacts\/node-script\.js:\d+:\d+$/);
    expect(frames(bundled.stderr)).toEqual(frames(unbundled.stderr));
  });

  it('render replaces its own earlier output, keeps files it did not write, and refuses a directory it did not write', async () => {
    const cwd = tmp();
    expect((await cli(['render', '-o', 'o'], cwd)).code).toBe(0);
    writeFileSync(join(cwd, 'o', 'my-notes'), 'x');
    expect((await cli(['render', '-o', 'o'], cwd)).code).toBe(0);
    expect(readFileSync(join(cwd, 'o', 'my-notes'), 'utf8')).toBe('x');
    mkdirSync(join(cwd, 'mine'));
    writeFileSync(join(cwd, 'mine', 'notes.txt'), 'keep me');
    const res = await cli(['render', '-o', 'mine'], cwd);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('soci-installer: -o mine: exists and was not written by soci-installer; choose an empty or new directory\n');
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
    expect(plain.stdout, 'the library renders the same bytes').toBe(defaultUserData());
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

  it('init refuses an empty -o, and a file it cannot write is one line (exit 1) with nothing left behind', async () => {
    const cwd = tmp();
    const empty = await cli(['init', '-o', ''], cwd);
    expect([empty.code, empty.stderr]).toEqual([2, 'soci-installer: init: -o: the file name is empty; give the file to write, e.g. -o soci.yaml\n']);
    const missing = await cli(['init', '-o', 'no/such/dir/soci.yaml'], cwd);
    expect([missing.code, missing.stderr]).toEqual([1, 'soci-installer: -o no/such/dir/soci.yaml: cannot write it (ENOENT); nothing was written\n']);
    writeFileSync(join(cwd, 'taken'), '');
    const notDir = await cli(['init', '-o', 'taken/soci.yaml'], cwd);
    expect([notDir.code, notDir.stderr]).toEqual([1, 'soci-installer: -o taken/soci.yaml: cannot write it (ENOTDIR); nothing was written\n']);
    expect(readdirSync(cwd)).toEqual(['taken']);
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
    const res = await run(process.execPath, ['--import', join(REPO_ROOT, 'test/fixtures/trace-imports.mjs'), CLI, ...args], {
      cwd,
      env: { ...process.env, TRACE_IMPORTS_FILE: trace },
    });
    expect(res.stderr.replace(/^note: .*\n/gm, '')).toBe('');
    expect(res.code).toBe(0);
    const urls = tracedModules(readFileSync(trace, 'utf8'));
    expect(urls.some((u) => u.includes('/dist/synth.js')), 'the trace must see our own modules (in the chunks of the bundle)').toBe(true);
    expect(urls.filter((u) => u.includes('@aws-sdk') || u.includes('@smithy'))).toEqual([]);
  });

  it.each([['--help'], ['--version'], ['init', '-o', 'p.yaml'], ['render', '--help']])(
    'loads only the modules a command needs: %s starts without yaml, ajv, mustache or the artifacts',
    async (...args: string[]) => {
      const cwd = tmp();
      const trace = join(cwd, 'imports.txt');
      writeFileSync(trace, '');
      const res = await run(process.execPath, ['--import', join(REPO_ROOT, 'test/fixtures/trace-imports.mjs'), CLI, ...args], { cwd, env: { ...process.env, TRACE_IMPORTS_FILE: trace } });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const urls = tracedModules(readFileSync(trace, 'utf8'));
      expect(urls.some((u) => u.includes('/dist/cli.js')), 'the trace must see our own modules (in the chunks of the bundle)').toBe(true);
      expect(urls.filter((u) => /node_modules\/(yaml|ajv|mustache)\/|\/dist\/(artifacts|profile\/load|synth)/.test(u))).toEqual([]);
    },
  );

  it('render does not load smol-toml: only the launch-template merge parses TOML (containerd-cri-keys.ts requires it on first use)', async () => {
    // Imports are seen by the trace hook, require() calls by NODE_DEBUG=module.
    const cwd = tmp();
    const trace = join(cwd, 'imports.txt');
    writeFileSync(trace, '');
    const res = await run(process.execPath, ['--import', join(REPO_ROOT, 'test/fixtures/trace-imports.mjs'), CLI, 'render', '-o', 'out'], {
      cwd,
      env: { ...process.env, TRACE_IMPORTS_FILE: trace, NODE_DEBUG: 'module' },
    });
    expect(res.code).toBe(0);
    const imports = tracedModules(readFileSync(trace, 'utf8')).join('\n');
    expect(imports, 'the trace sees our modules (in the chunks of the bundle)').toMatch(/\/dist\/containerd-cri-keys\.js/);
    expect(res.stderr, 'NODE_DEBUG=module names the files require() loads: the precompiled validator, found from the chunk').toMatch(/load "[^"]*\/dist\/profile\/profile-validator\.cjs"/);
    expect(res.stderr, 'and not ajv\'s compiler').not.toMatch(/node_modules\/ajv\/dist\/ajv\.js/);
    expect(imports + res.stderr).not.toMatch(/smol-toml/);
  });

  it('Node\'s compile cache keeps the chunks of the bundle: a second render compiles none (bin.js turns the cache on before they load)', async () => {
    // The cache bin.js turns on, in os.tmpdir() (NODE_COMPILE_CACHE would turn it on at Node's start).
    const cwd = tmp();
    const env = { TMPDIR: cwd, NODE_COMPILE_CACHE: undefined, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' };
    expect((await cli(['render', '-o', 'out'], cwd, env)).code).toBe(0);
    expect(existsSync(join(cwd, 'node-compile-cache'))).toBe(true);
    const again = await cli(['render', '-o', 'out'], cwd, env);
    expect(again.code).toBe(0);
    const cached = [...again.stderr.matchAll(/cache for (?:ESM )?(file:\S+) was accepted/g)].flatMap((m) => chunkSources(m[1]!));
    for (const m of ['/dist/main.js', '/dist/cli.js', '/dist/synth.js', '/dist/render/template.js']) expect(cached.some((u) => u.endsWith(m)), m).toBe(true);
    expect(cached.some((u) => u.includes('/node_modules/yaml/')), 'yaml').toBe(true);
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

  it('launch-template --user-data-file: with --dry-run it prints the merged user data; without, it is refused (a run merges into the template\'s own)', async () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'current.mime'), '#!/bin/bash\necho user setup\n');
    const res = await cli(['launch-template', '--name', 'my-nodes', '--dry-run', '--user-data-file', 'current.mime'], cwd);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const merged = (JSON.parse(res.stdout) as { ifTemplateExists: { mergedUserData: string } }).ifTemplateExists.mergedUserData;
    expect(merged).toContain('echo user setup');
    expect(merged.endsWith(defaultUserData().slice(defaultUserData().indexOf('\n--'))), 'ours last').toBe(true);
    const run = await cli(['launch-template', '--name', 'my-nodes', '--user-data-file', 'current.mime'], cwd);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^soci-installer: --user-data-file: only with --dry-run/);
    const missing = await cli(['launch-template', '--name', 'my-nodes', '--dry-run', '--user-data-file', 'nope.mime'], cwd);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^soci-installer: --user-data-file: cannot read nope\.mime/);
    // A NodeConfig of the user's that nodeadm cannot decode: exit 2, one line.
    writeFileSync(join(cwd, 'broken.mime'), 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster: {name: a\n');
    const broken = await cli(['launch-template', '--name', 'my-nodes', '--dry-run', '--user-data-file', 'broken.mime'], cwd);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toBe(
      "soci-installer: the launch template's current user data: part 1 (application/node.eks.aws) is a NodeConfig nodeadm cannot decode: its YAML does not parse: Flow map in block collection must be sufficiently indented and end with a } at line 5, column 1. nodeadm then uses none of the user data, ours and the cluster block included, so nodes would not join; fix or remove that part first\n",
    );
  });

  describe('issue 10: the output folder', () => {
    const FIP = 'soci: { mode: fast-image-pull }\n';
    /** Every file under dir (but our hidden bookkeeping at its top), with content and mode. */
    const snapshot = (dir: string) =>
      Object.fromEntries(
        readdirSync(dir, { recursive: true, encoding: 'utf8' })
          .filter((f) => !f.startsWith('.soci-installer') && statSync(join(dir, f)).isFile())
          .sort()
          .map((f) => [f, `${(statSync(join(dir, f)).mode & 0o777).toString(8)} ${readFileSync(join(dir, f), 'utf8')}`]),
      );

    it('rendering into an earlier output removes only what that render wrote: the profile and added files stay', async () => {
      const cwd = tmp();
      expect((await cli(['render', '-o', 'out'], cwd)).code).toBe(0);
      writeFileSync(join(cwd, 'out', 'profile.yaml'), FIP);
      mkdirSync(join(cwd, 'out', 'packer', 'mine'));
      writeFileSync(join(cwd, 'out', 'packer', 'mine', 'extra.pkr.hcl'), '# mine\n');
      const res = await cli(['render', '-c', 'out/profile.yaml', '-o', 'out'], cwd);
      expect(res.stderr).not.toContain('error');
      expect(res.code).toBe(0);
      expect(readFileSync(join(cwd, 'out', 'profile.yaml'), 'utf8')).toBe(FIP);
      expect(readFileSync(join(cwd, 'out', 'packer', 'mine', 'extra.pkr.hcl'), 'utf8')).toBe('# mine\n');
      // What the first render wrote and the second does not is gone (its emptied folders too).
      expect(existsSync(join(cwd, 'out', 'daemonset.yaml'))).toBe(false);
      expect(readdirSync(join(cwd, 'out', 'packer'))).toEqual(['mine']);
      expect(readdirSync(join(cwd, 'out')).filter((f) => f.startsWith('.soci-installer'))).toEqual(['.soci-installer']);
      // A file of ours that the user replaced by their own is refused, not overwritten.
      rmSync(join(cwd, 'out', 'profile.yaml'));
      const again = await cli(['render', '-c', '/dev/null', '-o', 'out'], cwd);
      expect(again.code, again.stderr).toBe(2);
    });

    it('render refuses to overwrite a file it did not write, before writing anything', async () => {
      const cwd = tmp();
      expect((await cli(['render', '-c', '/dev/null', '-o', 'out'], cwd)).code).toBe(2); // needs checksums: nothing written
      expect(existsSync(join(cwd, 'out'))).toBe(false);
      writeFileSync(join(cwd, 'p.yaml'), FIP);
      expect((await cli(['render', '-c', 'p.yaml', '-o', 'out'], cwd)).code).toBe(0);
      const before = snapshot(join(cwd, 'out'));
      writeFileSync(join(cwd, 'out', 'install.sh.orig'), 'x');
      // The default profile writes daemonset.yaml: put a file of the user's there.
      writeFileSync(join(cwd, 'out', 'daemonset.yaml'), 'mine');
      const res = await cli(['render', '-o', 'out'], cwd);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe('soci-installer: -o out: daemonset.yaml exists and was not written by the last render; move it away and render again (render never overwrites files it did not write)\n');
      expect(snapshot(join(cwd, 'out'))).toEqual({ ...before, 'daemonset.yaml': '644 mine', 'install.sh.orig': '644 x' });
    });

    it('-o on a mount point works (the folder is written into, never renamed)', async () => {
      const cwd = tmp();
      mkdirSync(join(cwd, 'mnt'));
      // A real mount point, in a private mount namespace that ends with the command.
      const res = await run('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs none "$1" && "$2" "$3" render -o "$1" && test -f "$1/install.sh" && mountpoint -q "$1"', 'sh', join(cwd, 'mnt'), process.execPath, CLI]);
      expect(res.stderr).not.toMatch(/error|\n\s+at /);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/^wrote \d+ files to .*mnt\/\n$/);
    });

    it('a symlink given to -o stays a symlink, and its target gets the files', async () => {
      const cwd = tmp();
      mkdirSync(join(cwd, 'real'));
      symlinkSync('real', join(cwd, 'link'));
      expect((await cli(['render', '-o', 'link'], cwd)).code).toBe(0);
      expect(lstatSync(join(cwd, 'link')).isSymbolicLink()).toBe(true);
      expect(existsSync(join(cwd, 'real', 'install.sh'))).toBe(true);
      expect((await cli(['render', '-o', 'link'], cwd)).code).toBe(0);
      expect(lstatSync(join(cwd, 'link')).isSymbolicLink()).toBe(true);
    });

    it('-o . leaves the shell in the same folder (never deleted or replaced)', async () => {
      const cwd = tmp();
      const ino = statSync(cwd).ino;
      expect((await cli(['render', '-o', '.'], cwd)).code).toBe(0);
      expect((await cli(['render', '-o', '.'], cwd)).code).toBe(0);
      expect(statSync(cwd).ino).toBe(ino);
      expect(existsSync(join(cwd, 'install.sh'))).toBe(true);
    });

    it('files and folders get explicit modes: umask 000 makes nothing world-writable', async () => {
      const cwd = tmp();
      const res = await run('sh', ['-c', 'umask 000 && exec "$0" "$1" render -o out', process.execPath, CLI], { cwd });
      expect(res.code, res.stderr).toBe(0);
      const out = join(cwd, 'out');
      for (const f of readdirSync(out, { recursive: true, encoding: 'utf8' })) {
        expect(statSync(join(out, f)).mode & 0o022, f).toBe(0);
      }
      expect(statSync(join(out, 'packer/files')).mode & 0o777).toBe(0o755);
      expect(statSync(join(out, 'packer/files/bake.sh')).mode & 0o777).toBe(0o755);
      expect(statSync(join(out, 'rootfs/root/.docker/config.json')).mode & 0o777).toBe(0o600);
    });

    it('a render killed at any step leaves the old output, or a state the next render completes; no temp folders stay', async () => {
      // strace kills the render at its Nth rename: before the commit point (N=1) and at steps after it.
      const cwd = tmp();
      writeFileSync(join(cwd, 'new.yaml'), FIP);
      expect((await cli(['render', '-c', 'new.yaml', '-o', 'want'], cwd)).code).toBe(0);
      const want = snapshot(join(cwd, 'want'));
      const renames = Object.keys(want).length + 2; // staging -> commit, each file, the file list
      for (const n of [1, 2, 3, Math.floor(renames / 2), renames - 1, renames]) {
        const dir = join(cwd, `o${n}`);
        expect((await cli(['render', '-o', dir], cwd)).code).toBe(0);
        const old = snapshot(dir);
        const killed = await run('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=rename,renameat,renameat2', '-e', `inject=rename,renameat,renameat2:signal=KILL:when=${n}`, process.execPath, CLI, 'render', '-c', 'new.yaml', '-o', dir], { cwd });
        expect(killed.stdout, `killed at rename ${n}`).toBe('');
        if (n === 1) expect(snapshot(dir), 'killed before the commit point: the old output, complete').toEqual(old);
        // The next render undoes or finishes the interrupted one: the new output, complete, and nothing else.
        const next = await cli(['render', '-c', 'new.yaml', '-o', dir], cwd);
        expect(next.code, next.stderr).toBe(0);
        expect(snapshot(dir), `killed at rename ${n}`).toEqual(want);
        expect(readdirSync(dir).filter((f) => f.startsWith('.soci-installer')), `killed at rename ${n}`).toEqual(['.soci-installer']);
        expect(readdirSync(cwd).filter((f) => f.startsWith('.')), 'no temp folders beside it').toEqual([]);
      }
    }, 300_000);

    it('file system errors on -o are one line, not a stack trace', async () => {
      const cwd = tmp();
      writeFileSync(join(cwd, 'file'), 'x');
      const notDir = await cli(['render', '-o', 'file'], cwd);
      expect(notDir.code).toBe(2);
      expect(notDir.stderr).toBe('soci-installer: -o file: is not a directory; choose a directory (new or empty, or one render wrote)\n');
      const under = await cli(['render', '-o', 'file/out'], cwd);
      expect(under.code).toBe(1);
      expect(under.stderr).toMatch(/^soci-installer: -o file\/out: cannot write .*: (ENOTDIR|EEXIST) \(mkdir\); nothing was changed, or the next render finishes the change\n$/);
    });
  });

  describe('issue 10: one line instead of a stack trace', () => {
    it('--cluster is checked as an EKS cluster name (non-ASCII, spaces, too long): exit 2, one line', async () => {
      for (const name of ['démo', 'a b', 'x'.repeat(101), '-lead']) {
        const res = await cli(['launch-template', '--name', 'my-nodes', '--dry-run', '--cluster', name]);
        expect(res.code, name).toBe(2);
        expect(res.stderr, name).toMatch(/^soci-installer: --cluster: ".*? is not an EKS cluster name; allowed: 1 to 100 of letters, digits, - and _, starting with a letter or digit\n$/);
        expect((await cli(['render', '--cluster', name, '-o', 'never'])).code).toBe(2);
      }
      expect(existsSync(join(REPO_ROOT, 'never'))).toBe(false);
    });

    it('a profile over 1 MiB, or not UTF-8, is refused in one line before it is parsed', async () => {
      const cwd = tmp();
      writeFileSync(join(cwd, 'big.yaml'), `# ${'x'.repeat(1024 * 1024)}\n`);
      const big = await cli(['render', '-c', 'big.yaml', '-o', 'out'], cwd);
      expect(big.code).toBe(2);
      expect(big.stderr).toBe('soci-installer: big.yaml: is 1048579 bytes; a profile may have at most 1048576 bytes (1 MiB)\n');
      writeFileSync(join(cwd, 'latin1.yaml'), Buffer.from('cluster: { name: "d\xe9mo" }\n', 'latin1'));
      const latin1 = await cli(['render', '-c', 'latin1.yaml', '-o', 'out'], cwd);
      expect(latin1.code).toBe(2);
      expect(latin1.stderr).toBe('soci-installer: latin1.yaml: is not valid UTF-8 (line 1, byte 20); save the file as UTF-8\n');
      expect(existsSync(join(cwd, 'out'))).toBe(false);
    });
  });
});

// What a user installs is dist/ (and the other "files" of package.json) plus the production
// dependencies: no devDependency is there. js-toml, a devDependency, was once imported by dist/.
describe('the package as a user installs it', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; files: string[]; bin: Record<string, string> };

  it('the import scanner sees every form of import and leaves out builtins and relative paths', () => {
    const js = [
      "import { dump } from 'js-toml';",
      'import x, { y } from "@scope/pkg/sub/path.js";',
      "export { z } from 'reexported';",
      "import 'side-effect';",
      "const m = await import('lazy/deep');",
      "const r = require( 'required' );",
      "import { readFileSync } from 'node:fs';",
      "import path from 'path';",
      "import { a } from './local.js';",
      "const dyn = await import(name);",
      '// a comment that reads from "not-an-import" and import("nor-this")',
      "const s = 'import x from \"nor-a-string\"';",
    ].join('\n');
    expect(importedPackages(js)).toEqual(['@scope/pkg', 'js-toml', 'lazy', 'reexported', 'required', 'side-effect']);
  });

  it('dist/ imports only node builtins and package.json "dependencies" (statically or with a literal import()), and the bundled CLI holds no other package', () => {
    const dist = join(REPO_ROOT, 'dist');
    const seen = { modules: new Set<string>(), chunks: new Set<string>(), bundled: new Set<string>() };
    const stray = new Set<string>();
    for (const f of readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => /\.[cm]?js$/.test(f))) {
      const chunk = f.startsWith('cli/');
      for (const name of importedPackages(readFileSync(join(dist, f), 'utf8'))) {
        seen[chunk ? 'chunks' : 'modules'].add(name);
        if (!Object.hasOwn(pkg.dependencies, name)) stray.add(`dist/${f} imports ${name}`);
      }
      // A chunk of the bundle also holds the code of the packages bundled into it (its source map names
      // their files); each must be in "dependencies" itself, not only there by a dependency: bundled by choice.
      for (const name of chunk ? chunkSources(join(dist, f)).map(packageOf) : []) {
        if (name === undefined) continue;
        seen.bundled.add(name);
        if (!Object.hasOwn(pkg.dependencies, name)) stray.add(`dist/${f} bundles ${name}`);
      }
    }
    expect([...stray]).toEqual([]);
    // The scan saw every kind: static imports (yaml), the lazily imported AWS SDK, and in the bundle
    // the SDK left to node_modules and the packages bundled.
    expect([...seen.modules]).toEqual(expect.arrayContaining(['yaml', '@aws-sdk/client-ec2']));
    expect([...seen.chunks]).toEqual(expect.arrayContaining(['@aws-sdk/client-ec2']));
    expect([...seen.bundled]).toEqual(expect.arrayContaining(['yaml', 'mustache']));
  });

  it('npm pack, installed beside its production dependencies only, renders', async () => {
    const dir = tmp();
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: REPO_ROOT });
    expect(packed.code, packed.stderr).toBe(0);
    const installed = join(dir, 'node_modules', 'soci-installer');
    mkdirSync(installed, { recursive: true });
    const untar = await run('tar', ['-xzf', join(dir, packed.stdout.trim()), '-C', installed, '--strip-components=1']);
    expect(untar.code, untar.stderr).toBe(0);
    // The dependency closure, linked from this repository's node_modules (offline, as npm would
    // place it); our files resolve bare imports from dir/node_modules only.
    const todo = Object.keys(pkg.dependencies);
    const linked = new Set<string>();
    for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
      if (linked.has(name)) continue;
      linked.add(name);
      const from = join(REPO_ROOT, 'node_modules', name);
      if (!existsSync(from)) continue; // an optional dependency not installed here, or one nested under its parent
      mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true });
      symlinkSync(from, join(dir, 'node_modules', name));
      const dep = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      todo.push(...Object.keys(dep.dependencies ?? {}));
    }
    expect(linked.has('js-toml'), 'js-toml is a devDependency').toBe(false);
    const res = await run(process.execPath, [join(installed, pkg.bin['soci-installer']!), 'render', '-o', 'out'], { cwd: dir });
    expect(res.stderr.replace(/^note: .*\n/gm, '')).toBe('');
    expect(res.code).toBe(0);
    expect(readFileSync(join(dir, 'out', 'user-data.mime'), 'utf8')).toBe(defaultUserData());
    expect(readFileSync(join(dir, 'out', 'rootfs/etc/soci-snapshotter-grpc/config.toml'), 'utf8')).toBe(
      readFileSync(join(REPO_ROOT, 'test/cases/default/expected/rootfs/etc/soci-snapshotter-grpc/config.toml'), 'utf8'),
    );
    // The launch-template merge reads files render does not: the NodeConfig CRD (to check a kept
    // NodeConfig part) and smol-toml (its containerd.config). A user's part with both, merged; and one
    // nodeadm cannot decode, refused by the CRD's types.
    const nodeConfig = (name: string) =>
      `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: ${name}\n  containerd:\n    config: |\n      [plugins."io.containerd.cri.v1.images"]\n      discard_unpacked_layers = true\n`;
    const mime = (body: string) => `MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: application/node.eks.aws\n\n${body}\n--B--\n`;
    writeFileSync(join(dir, 'current.mime'), mime(nodeConfig('demo')));
    writeFileSync(join(dir, 'broken.mime'), mime(nodeConfig('yes')));
    const lt = (file: string) => run(process.execPath, [join(installed, pkg.bin['soci-installer']!), 'launch-template', '--name', 'my-nodes', '--dry-run', '--user-data-file', file], { cwd: dir });
    const merged = await lt('current.mime');
    expect(merged.stderr).toBe('');
    expect(merged.code).toBe(0);
    const refused = await lt('broken.mime');
    expect(refused.stderr).toMatch(/^soci-installer: .* nodeadm cannot decode: spec\.cluster\.name is a boolean where nodeadm expects a string \(quote it\)/);
    expect(refused.code).toBe(2);
  });
});
