// bake.sh (install.sh's steps with the bake's), the script Packer runs on the image builder, run for real in a scratch root
// (chroot, no booted systemd): it writes soci's files and the wiring drop-in, enables the units,
// does the EKS cleanup, exits 1 on failure, and a second run changes nothing.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { render, PATHS } from '../src/index.js';
import { run } from './support/exec.js';
import { makeScratchRoot, type ScratchRoot } from './support/scratch-root.js';
import { shellcheck } from './support/shellcheck.js';
import { upstreamBin } from './support/upstream.js';

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

describe.each(Object.entries(PROFILES))('bake.sh: %s', (_title, { profile, containerd }) => {
  const r = render(profile, 'profile');
  const script = r.artifacts.find((a) => a.path === 'packer/files/bake.sh')!.content;
  const rootfs = new Map(r.artifacts.filter((a) => a.path.startsWith('rootfs/')).map((a) => [a.path.slice('rootfs'.length), a]));
  const ecr = r.plan.auth === 'ecr-credential-helper';

  it('is shellcheck-clean', async () => {
    const res = await shellcheck(script);
    expect(res.output).toBe('');
  });

  it('writes soci files and the drop-in, enables the units, cleans up; a second run changes nothing', async () => {
    const root = makeScratchRoot({ containerdVersion: containerd, amiSociVersion: '0.15.0', ecrHelper: ecr });
    roots.push(root);
    const first = await root.run(script, []);
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
    for (const gone of ['/var/lib/cloud/data', '/var/lib/cloud/instance', '/var/lib/cloud/instances', '/var/lib/cloud/sem', '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub', '/root/.ssh/authorized_keys', '/home/ec2-user/.ssh/authorized_keys', '/var/log/cloud-init.log', '/var/log/cloud-init-output.log', '/var/log/messages', '/var/log/secure', '/var/log/wtmp']) {
      expect(existsSync(root.path(gone)), gone).toBe(false);
    }
    expect(readdirSync(root.path('/var/log/journal'))).toEqual([]);
    expect(readFileSync(root.path('/var/log/audit/audit.log'), 'utf8')).toBe(''); // emptied, as EKS cleanup.sh does
    // ... and nothing beyond it.
    for (const kept of ['/etc/ssh/sshd_config', '/var/lib/cloud/scripts/per-boot/keep.sh', '/var/log/dnf.log']) expect(existsSync(root.path(kept)), kept).toBe(true);
    expect(readFileSync(root.path(`${PATHS.stateDir}/installed`), 'utf8')).toMatch(/\/usr\/bin\/soci-snapshotter-grpc \(AMI\)/);

    const before = root.snapshot();
    const second = await root.run(script, []);
    expect(second.code).toBe(0);
    expect(second.stderr).not.toMatch(/wrote |removed |emptied /);
    expect(root.snapshot()).toBe(before);
  });

  it('a failure exits 1 (the Packer build stops) and leaves no wiring', async () => {
    const root = makeScratchRoot({ containerdVersion: containerd.startsWith('2') ? '1.7.27' : '2.1.4', amiSociVersion: '0.15.0', ecrHelper: ecr });
    roots.push(root);
    const res = await root.run(script, []);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/this profile was generated for containerd/);
    expect(existsSync(root.path(PATHS.nodeadmDropIn))).toBe(false);
    expect(readFileSync(root.path('/etc/machine-id'), 'utf8')).not.toBe(''); // no cleanup of a failed bake
  });
});

it("bake.sh refuses an AMI soci too old for the mode with source ami (exit 1)", async () => {
  const r = render('node: { kubernetesVersion: "1.33" }\nsoci: { mode: lazy-with-parallel-fallback, source: ami, auth: none }\n', 'p');
  const root = makeScratchRoot({ containerdVersion: '2.1.4', amiSociVersion: '0.9.0', ecrHelper: false });
  roots.push(root);
  const res = await root.run(r.artifacts.find((a) => a.path === 'packer/files/bake.sh')!.content, []);
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/cannot run mode lazy-with-parallel-fallback/);
});

describe('bake.sh with source auto and an AMI soci too old: the release is decided, fetched and installed at bake time', () => {
  it('downloads the pinned archive once (127.0.0.1 stand-in release server), installs it with its units, and the second run needs no network', async () => {
    // A release archive holding the real soci-snapshotter-grpc v0.15.0 (the bake starts it once).
    const work = mkdtempSync(join(tmpdir(), 'soci-release-'));
    mkdirSync(join(work, 'a'));
    copyFileSync(upstreamBin('soci-snapshotter-grpc'), join(work, 'a/soci-snapshotter-grpc'));
    writeFileSync(join(work, 'a/soci'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const tar = await run('tar', ['-czf', join(work, 'soci.tar.gz'), '-C', join(work, 'a'), 'soci-snapshotter-grpc', 'soci']);
    expect(tar.code).toBe(0);
    const archive = readFileSync(join(work, 'soci.tar.gz'));
    const sha = createHash('sha256').update(archive).digest('hex');
    const served: string[] = [];
    const server = createServer((req, res) => {
      served.push(req.url ?? '');
      if (req.url === '/v0.15.0/soci-snapshotter-0.15.0-linux-amd64.tar.gz') res.end(archive);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const r = render(`node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: lazy, source: auto, version: 0.15.0, releaseBaseUrl: "${base}", sha256: { amd64: ${sha} }, auth: none }\n`, 'p');
    const script = r.artifacts.find((a) => a.path === 'packer/files/bake.sh')!.content;
    const root = makeScratchRoot({ containerdVersion: '2.1.4', amiSociVersion: '0.9.0', ecrHelper: false });
    roots.push(root);
    try {
      const first = await root.run(script, []);
      expect(first.stderr).toMatch(/using release 0\.15\.0/);
      expect(first.code).toBe(0);
      expect(first.stderr).toMatch(/bake: soci starts with its config/);
      expect(served).toEqual(['/v0.15.0/soci-snapshotter-0.15.0-linux-amd64.tar.gz']);
    } finally {
      await new Promise<void>((res) => server.close(() => res()));
    }
    expect(readFileSync(root.path(PATHS.releaseSociBinary)).equals(readFileSync(upstreamBin('soci-snapshotter-grpc')))).toBe(true);
    expect(statSync(root.path(PATHS.releaseSociBinary)).mode & 0o777).toBe(0o755);
    for (const a of r.artifacts.filter((x) => x.path.startsWith('rootfs/'))) {
      expect(readFileSync(root.path(a.path.slice('rootfs'.length)), 'utf8'), a.path).toBe(a.content);
    }
    expect(readFileSync(root.path(`${PATHS.stateDir}/installed`), 'utf8')).toMatch(/release 0\.15\.0/);
    expect(existsSync(root.path(PATHS.nodeadmDropIn))).toBe(true);

    const before = root.snapshot();
    const second = await root.run(script, []); // the server is gone: nothing may be fetched
    expect(second.stderr).not.toMatch(/downloading/);
    expect(second.code).toBe(0);
    expect(root.snapshot()).toBe(before);
  });
});
