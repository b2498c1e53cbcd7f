// install.sh --bake, the script Packer runs on the image builder, run for real in a scratch root
// (chroot, no booted systemd): it writes soci's files and the wiring drop-in, enables the units,
// does the EKS cleanup, exits 1 on failure, and a second run changes nothing.
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { render, PATHS } from '../src/index.js';
import { run } from './support/exec.js';
import { makeScratchRoot, type ScratchRoot } from './support/scratch-root.js';
import { shellcheck } from './support/shellcheck.js';

const PROFILES = {
  // drop-in wiring, the ECR credential helper, containerd 2
  'lazy, AMI soci, ecr-credential-helper, drop-in wiring': {
    profile: 'node: { kubernetesVersion: "1.33" }\nsoci: { mode: lazy, source: ami, auth: ecr-credential-helper }\n',
    containerd: '2.1.4',
  },
  // wiring in user data at boot: the bake still writes the drop-in; kubelet wired too (cri-keychain)
  'parallel, AMI soci, cri-keychain, user-data wiring, containerd 1.7': {
    profile: 'node: { kubernetesVersion: "1.29" }\nsoci: { mode: parallel, source: ami, auth: cri-keychain, wiring: user-data }\n',
    containerd: '1.7.27',
  },
};

const roots: ScratchRoot[] = [];
afterAll(() => roots.forEach((r) => r.remove()));

describe.each(Object.entries(PROFILES))('install.sh --bake: %s', (_title, { profile, containerd }) => {
  const r = render(profile, 'profile');
  const script = r.artifacts.find((a) => a.path === 'packer/files/install.sh')!.content;
  const rootfs = new Map(r.artifacts.filter((a) => a.path.startsWith('rootfs/')).map((a) => [a.path.slice('rootfs'.length), a]));
  const ecr = r.plan.auth === 'ecr-credential-helper';

  it('is shellcheck-clean', async () => {
    const res = await shellcheck(script);
    expect(res.output).toBe('');
  });

  it('writes soci files and the drop-in, enables the units, cleans up; a second run changes nothing', async () => {
    const root = makeScratchRoot({ containerdVersion: containerd, amiSociVersion: '0.15.0', ecrHelper: ecr });
    roots.push(root);
    const first = await root.run(script, ['--bake']);
    expect(first.stderr).toMatch(/done: image baked with soci-snapshotter/);
    expect(first.code).toBe(0);

    // soci's files, byte for byte as render wrote them (rootfs/), with their modes.
    for (const [path, a] of rootfs) {
      expect(readFileSync(root.path(path), 'utf8'), path).toBe(a.content);
      expect(statSync(root.path(path)).mode & 0o777, path).toBe(a.mode);
    }
    // The wiring as a nodeadm drop-in, also when boot-time wiring goes in user data.
    const dropIn = readFileSync(root.path(PATHS.nodeadmDropIn), 'utf8');
    expect(dropIn).toContain('kind: NodeConfig');
    expect(dropIn).toContain('snapshotter');
    if (r.plan.auth === 'cri-keychain') expect(dropIn).toContain(`imageServiceEndpoint: unix://${PATHS.sociSocket}`);
    if (r.plan.wiring === 'user-data') expect(rootfs.has(PATHS.nodeadmDropIn)).toBe(false);

    // Units enabled offline (systemctl --root reads the symlinks the script made).
    const enabled = await run('systemctl', ['--root', root.path('/'), 'is-enabled', 'soci-snapshotter.socket', 'soci-installer-pause-import.service']);
    expect(enabled.stdout.trim().split('\n')).toEqual(['enabled', 'enabled']);
    // (an absolute link into the root: lstat, the host has no such target)
    expect(lstatSync(root.path('/etc/systemd/system/sockets.target.wants/soci-snapshotter.socket')).isSymbolicLink()).toBe(true);

    // The EKS cleanup.
    expect(readFileSync(root.path('/etc/machine-id'), 'utf8')).toBe('');
    for (const gone of ['/var/lib/cloud/data', '/var/lib/cloud/instance', '/var/lib/cloud/instances', '/var/lib/cloud/sem', '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub', '/root/.ssh/authorized_keys', '/home/ec2-user/.ssh/authorized_keys', '/var/log/cloud-init.log', '/var/log/cloud-init-output.log', '/var/log/messages', '/var/log/secure', '/var/log/wtmp', '/var/log/audit/audit.log']) {
      expect(existsSync(root.path(gone)), gone).toBe(false);
    }
    expect(readdirSync(root.path('/var/log/journal'))).toEqual([]);
    // ... and nothing beyond it.
    for (const kept of ['/etc/ssh/sshd_config', '/var/lib/cloud/scripts/per-boot/keep.sh', '/var/log/dnf.log']) expect(existsSync(root.path(kept)), kept).toBe(true);
    expect(readFileSync(root.path(`${PATHS.stateDir}/installed`), 'utf8')).toMatch(/\/usr\/bin\/soci-snapshotter-grpc \(AMI\)/);

    const before = root.snapshot();
    const second = await root.run(script, ['--bake']);
    expect(second.code).toBe(0);
    expect(second.stderr).not.toMatch(/wrote |removed |emptied /);
    expect(root.snapshot()).toBe(before);
  });

  it('a failure exits 1 (the Packer build stops) and leaves no wiring', async () => {
    const root = makeScratchRoot({ containerdVersion: containerd.startsWith('2') ? '1.7.27' : '2.1.4', amiSociVersion: '0.15.0', ecrHelper: ecr });
    roots.push(root);
    const res = await root.run(script, ['--bake']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/this profile was generated for containerd/);
    expect(existsSync(root.path(PATHS.nodeadmDropIn))).toBe(false);
    expect(readFileSync(root.path('/etc/machine-id'), 'utf8')).not.toBe(''); // no cleanup of a failed bake
  });
});

it("--bake refuses an AMI soci too old for the mode with source ami (exit 1)", async () => {
  const r = render('node: { kubernetesVersion: "1.33" }\nsoci: { mode: lazy-with-parallel-fallback, source: ami, auth: none }\n', 'p');
  const root = makeScratchRoot({ containerdVersion: '2.1.4', amiSociVersion: '0.9.0', ecrHelper: false });
  roots.push(root);
  const res = await root.run(r.artifacts.find((a) => a.path === 'install.sh')!.content, ['--bake']);
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/cannot run mode lazy-with-parallel-fallback/);
});
