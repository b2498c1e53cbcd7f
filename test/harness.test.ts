// Smoke tests of the booted fake EKS node (test/harness/): the real nodeadm, soci-snapshotter-grpc
// v0.15.0 and containerd 2.2.4 / 1.7.27 under the AMI's units, Debian's real cloud-init, with stand-ins for
// IMDS and kubelet (test/standins/), on cgroup v2. They prove the harness itself: a later test installs
// our generated files in such a node and checks them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { load as loadToml } from 'js-toml';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPauseImage, buildReleaseTarball, ensureHarness, withNode, type ContainerdLine, type FakeNode } from './harness/index.js';

const SOCI_SOCKET = '/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock';
const PAUSE = buildPauseImage();
const IMPORT_PAUSE_INTO_SOCI =
  'ctr --namespace k8s.io images import --snapshotter soci --discard-unpacked-layers=false --local /etc/eks/pause.tar';

/** What nodeadm writes when it wires SOCI: containerd waits for soci to be ready (Type=notify). */
const CONTAINERD_NEEDS_SOCI = {
  '/etc/systemd/system/containerd.service.d/10-soci-snapshotter.conf': '[Unit]\nRequires=soci-snapshotter.service\nAfter=soci-snapshotter.service\n',
};

/** A nodeadm drop-in with containerd TOML: config version 2 keys for containerd 1.x, version 3 keys for 2.x. */
function nodeConfig(line: ContainerdLine, opts: { criSnapshotter?: string; imageServiceEndpoint?: string } = {}): string {
  const cri =
    line === '1.7'
      ? `[plugins."io.containerd.grpc.v1.cri".containerd]\n${opts.criSnapshotter ? `snapshotter = "${opts.criSnapshotter}"\n` : ''}disable_snapshot_annotations = false\n`
      : `[plugins.'io.containerd.cri.v1.images']\n${opts.criSnapshotter ? `snapshotter = '${opts.criSnapshotter}'\n` : ''}disable_snapshot_annotations = false\n`;
  const toml = `[proxy_plugins.soci]\ntype = "snapshot"\naddress = "${SOCI_SOCKET}"\n[proxy_plugins.soci.exports]\nroot = "/var/lib/soci-snapshotter-grpc"\n${cri}`;
  const indent = (s: string, n: number) => s.trimEnd().split('\n').map((l) => ' '.repeat(n) + l).join('\n');
  return [
    'apiVersion: node.eks.aws/v1alpha1',
    'kind: NodeConfig',
    'spec:',
    '  containerd:',
    '    config: |',
    indent(toml, 6),
    ...(opts.imageServiceEndpoint ? ['  kubelet:', '    config:', `      imageServiceEndpoint: ${opts.imageServiceEndpoint}`] : []),
    '',
  ].join('\n');
}

async function sociSnapshotKeys(node: FakeNode): Promise<string> {
  return node.run('ctr --namespace k8s.io snapshots --snapshotter soci ls');
}

beforeAll(async () => {
  // builds the rootfs on a fresh machine (about 2 minutes); quick afterwards
  await ensureHarness();
}, 900_000);

for (const line of ['1.7', '2'] as const) {
  describe(`fake EKS node with containerd ${line}`, { timeout: 240_000 }, () => {
    it('boots through the nodeadm chain; soci is socket-activated, gets containerd calls, keeps state over restart and reboot', async () => {
      await withNode({ containerd: line, name: `routing-${line}`, files: { '/etc/eks/nodeadm.d/50-soci.yaml': nodeConfig(line) } }, async (node) => {
        expect((await node.exec('systemctl is-system-running')).stdout.trim()).toBe('running');
        // the AMI's shape: containerd's whole version line (the AMI's package prints no leading v)
        expect(await node.readFile('/etc/eks/containerd-version.txt')).toMatch(
          line === '1.7' ? /^containerd github\.com\/containerd\/containerd 1\.7\.27 [0-9a-f]{40}\n$/ : /^containerd github\.com\/containerd\/containerd\/v2 2\.2\.4 [0-9a-f]{40}\n$/,
        );
        expect(await node.run('containerd --version')).toContain(` v${node.containerdVersion} `);
        expect(await node.run('soci-snapshotter-grpc --version')).toMatch(/^soci-snapshotter-grpc version v0\.15\.0 [0-9a-f]{40}\n$/);

        // the real nodeadm (nodeadm-run.service): its template for this containerd, our TOML merged in key by key
        const config = loadToml(await node.readFile('/etc/containerd/config.toml')) as any;
        expect(config.version).toBe(line === '1.7' ? 2 : 3);
        expect(config.proxy_plugins.soci).toMatchObject({ type: 'snapshot', address: SOCI_SOCKET });
        const runc =
          line === '1.7'
            ? config.plugins['io.containerd.grpc.v1.cri'].containerd.runtimes.runc
            : config.plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.runc;
        expect(runc.options.SystemdCgroup).toBe(true);
        const cri = line === '1.7' ? config.plugins['io.containerd.grpc.v1.cri'].containerd : config.plugins['io.containerd.cri.v1.images'];
        expect(cri.disable_snapshot_annotations).toBe(false);
        expect(await node.journal('nodeadm-run.service')).toContain('"configSource": ["imds://user-data", "file:///etc/eks/nodeadm.d/"]');
        expect(await node.kubeletStatus()).toMatchObject({ ok: true, snapshotter: 'overlayfs' });

        // the AMI's soci units (test/fixtures/ami/systemd/, byte for byte)
        expect(await node.unit('soci-snapshotter.service', 'Type', 'ExecStart', 'Restart')).toMatchObject({
          Type: 'notify',
          Restart: 'no',
          ExecStart: expect.stringContaining('path=/usr/bin/soci-snapshotter-grpc ; argv[]=/usr/bin/soci-snapshotter-grpc --address fd://'),
        });
        expect(await node.unit('soci-snapshotter.socket', 'Listen', 'SocketMode', 'UnitFileState')).toEqual({
          Listen: `${SOCI_SOCKET} (Stream)`,
          SocketMode: '0660',
          UnitFileState: 'enabled',
        });

        // socket activation: with the daemon stopped, a call on the socket starts it
        await node.run('systemctl stop soci-snapshotter.service');
        expect((await node.exec('systemctl is-active soci-snapshotter.service')).stdout.trim()).toBe('inactive');
        expect((await node.exec('systemctl is-active soci-snapshotter.socket')).stdout.trim()).toBe('active');
        // (a call containerd answers from its own metadata, like `snapshots ls`, does not reach soci)
        await node.run('ctr snapshots --snapshotter soci prepare activation-key');
        // The call went through, but systemd may still be handling READY=1 under load.
        await node.waitFor('systemctl is-active --quiet soci-snapshotter.service');
        expect(await node.unit('soci-snapshotter.service', 'ActiveState', 'TriggeredBy')).toEqual({
          ActiveState: 'active',
          TriggeredBy: 'soci-snapshotter.socket',
        });
        expect(await node.journal('soci-snapshotter.service')).toContain('soci-snapshotter-grpc successfully started');
        // containerd routes a snapshot call to it: soci answers with a mount of its own directory
        await node.run('ctr snapshots --snapshotter soci prepare harness-key');
        expect(await node.run('ctr snapshots --snapshotter soci mounts /mnt harness-key')).toContain('/var/lib/soci-snapshotter-grpc/snapshotter/snapshots/');
        // labels containerd hands down reach soci's Update; Usage answers
        await node.run('ctr snapshots --snapshotter soci label harness-key containerd.io/snapshot/harness=yes');
        expect(await node.run('ctr snapshots --snapshotter soci info harness-key')).toContain('"containerd.io/snapshot/harness": "yes"');
        expect(await node.run('ctr snapshots --snapshotter soci usage harness-key')).toMatch(/harness-key\s/);
        // NotFound, through containerd
        const info = await node.exec('ctr snapshots --snapshotter soci info no-such-key');
        expect(info.code).not.toBe(0);
        expect(info.stderr).toContain('not found');

        // the pause image imports into soci, the way nodeadm does it (real unpack into real mounts)
        await node.run(IMPORT_PAUSE_INTO_SOCI);
        expect(await sociSnapshotKeys(node)).toContain(PAUSE.chainId);
        // soci unpacked the layer into its own root
        const unpacked = await node.run('ls /var/lib/soci-snapshotter-grpc/snapshotter/snapshots/*/fs/pause');
        expect(fs.statSync(path.join(node.runDir, 'var-lib-soci', unpacked.trim().split('\n')[0]!.slice('/var/lib/soci-snapshotter-grpc/'.length))).size).toBe(PAUSE.program.length);

        // a view of a committed layer is a read-only bind of the stand-in's directory
        // (containerd's garbage collector may remove the view right after: no lease holds it)
        expect(await node.run(`ctr --namespace k8s.io snapshots --snapshotter soci view --target /mnt harness-view ${PAUSE.chainId}`)).toMatch(
          /^mount -t bind \/var\/lib\/soci-snapshotter-grpc\/snapshotter\/snapshots\/\d+\/fs \/mnt -o ro,rbind\n$/,
        );

        // a container starts on a soci snapshot (an overlay of the stand-in's directories), and stops on SIGTERM
        await node.run('ctr --namespace k8s.io run --snapshotter soci --cpu-shares 0 -d localhost/kubernetes/pause:latest harness-c1');
        expect(await node.run('ctr --namespace k8s.io task ls')).toMatch(/harness-c1\s+\d+\s+RUNNING/);
        expect(await node.run('ctr --namespace k8s.io snapshots --snapshotter soci ls')).toMatch(new RegExp(`^harness-c1\\s+${PAUSE.chainId}\\s+Active`, 'm'));
        await node.run('ctr --namespace k8s.io task kill harness-c1');
        await node.run('for i in $(seq 50); do ctr -n k8s.io task ls | grep -q "harness-c1.*STOPPED" && exit 0; sleep 0.1; done; exit 1');
        await node.run('ctr --namespace k8s.io task rm harness-c1 && ctr --namespace k8s.io container rm harness-c1');

        // soci's snapshots survive a restart of the daemon (containerd reconnects within a few seconds) ...
        await node.run('systemctl restart soci-snapshotter.service');
        await node.waitFor(`ctr --namespace k8s.io snapshots --snapshotter soci info ${PAUSE.chainId}`);
        await node.run('ctr snapshots --snapshotter soci mounts /mnt harness-key');

        // ... and a reboot: the wiring comes back from the nodeadm chain (with nodeadm's drop-in that makes
        // containerd wait for soci), the snapshots from disk
        for (const [p, content] of Object.entries(CONTAINERD_NEEDS_SOCI)) await node.writeFile(p, content);
        await node.reboot();
        expect(await node.unit('containerd.service', 'ActiveState')).toEqual({ ActiveState: 'active' });
        expect((await node.exec('systemctl is-system-running')).stdout.trim()).toBe('running');
        expect(await sociSnapshotKeys(node)).toContain(PAUSE.chainId);
        await node.run('ctr snapshots --snapshotter soci info harness-key');
        expect(await node.journal('soci-snapshotter.service', { boot: -1 })).toContain('successfully started');
      });
    });

    it('kubelet stand-in is not ready while the pause image is not in soci, and becomes ready once it is imported', async () => {
      const files = {
        '/etc/eks/nodeadm.d/50-soci.yaml': nodeConfig(line, { criSnapshotter: 'soci', imageServiceEndpoint: `unix://${SOCI_SOCKET}` }),
        ...CONTAINERD_NEEDS_SOCI,
      };
      await withNode({ containerd: line, name: `kubelet-${line}`, files }, async (node) => {
        // like a kubelet, it keeps running (and retrying) while the node is not ready
        expect((await node.unit('kubelet.service', 'ActiveState')).ActiveState).toBe('active');
        const status = await node.kubeletStatus();
        expect(status.ok).toBe(false);
        expect(status.reason).toContain('is not unpacked in snapshotter soci');
        expect(await node.journal('kubelet.service')).toContain('NOT READY');
        expect(status.imageServiceEndpoint).toBe(`unix://${SOCI_SOCKET}`);
        // the AMI's pause cache holds the image in overlayfs only
        expect(await node.run(`ctr --namespace k8s.io snapshots --snapshotter overlayfs ls`)).toContain(PAUSE.chainId);
        expect(await sociSnapshotKeys(node)).not.toContain(PAUSE.chainId);

        const imported = Date.now();
        await node.run(IMPORT_PAUSE_INTO_SOCI);
        expect(await node.kubeletStatus({ since: imported })).toMatchObject({ ok: true, snapshotter: 'soci', chainId: PAUSE.chainId });
        expect((await node.exec('systemctl is-system-running')).stdout.trim()).toBe('running');
      });
    });

    it('harness faults break the real soci start: never ready (timeout), exits at once (exit-code)', async () => {
      await withNode({ containerd: line, name: `fault-${line}`, soci: { fail: 'never-ready' }, defaultTimeoutStartSec: 3 }, async (node) => {
        const t0 = Date.now();
        const neverReady = await node.exec('systemctl start soci-snapshotter.service');
        expect(neverReady.code).not.toBe(0);
        expect(Date.now() - t0).toBeLessThan(20_000);
        expect((await node.unit('soci-snapshotter.service', 'Result')).Result).toBe('timeout');

        const dropIn = '/etc/systemd/system/soci-snapshotter.service.d/99-harness-fault.conf';
        await node.writeFile(dropIn, '[Service]\nExecStart=\nExecStart=/usr/bin/soci-snapshotter-grpc --address fd:// --log-level harness-fault\n');
        await node.run('systemctl daemon-reload && systemctl reset-failed soci-snapshotter.service soci-snapshotter.socket');
        const exits = await node.exec('systemctl start soci-snapshotter.service');
        expect(exits.code).not.toBe(0);
        expect((await node.unit('soci-snapshotter.service', 'Result')).Result).toBe('exit-code');
        expect(await node.journal('soci-snapshotter.service')).toContain('failed to prepare logger');

        await node.run(`rm ${dropIn} && systemctl daemon-reload && systemctl reset-failed soci-snapshotter.service soci-snapshotter.socket`);
        await node.run('systemctl start soci-snapshotter.service');
        expect(await node.isActive('soci-snapshotter.service')).toBe('active');
      });
    });

    it('an AMI without soci; a release tarball served inside the node installs and reports its version', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soci-release-'));
      try {
        const release = buildReleaseTarball(dir, { version: '0.15.0' });
        expect(release.name).toBe('soci-snapshotter-0.15.0-linux-amd64.tar.gz');
        await withNode({ containerd: line, name: `download-${line}`, soci: { installed: false } }, async (node) => {
          expect(await node.exists('/usr/bin/soci-snapshotter-grpc')).toBe(false);
          expect((await node.exec('systemctl cat soci-snapshotter.socket')).code).not.toBe(0);

          const server = await node.serve({
            [release.urlPath]: { hostFile: release.file },
            [`${release.urlPath}.sha256sum`]: { hostFile: release.sha256sumFile },
          });
          // the server lives in the node's network namespace: the host cannot reach it
          await expect(fetch(`${server.url}/${release.urlPath}`)).rejects.toThrow();
          await node.run(
            `set -e; mkdir -p /tmp/dl && cd /tmp/dl
             curl -fsSLO ${server.url}/${release.urlPath} && curl -fsSLO ${server.url}/${release.urlPath}.sha256sum
             sha256sum --check ${release.name}.sha256sum
             tar -xzf ${release.name} && install -m 0755 soci-snapshotter-grpc /usr/local/bin/`,
          );
          expect(server.requests()).toEqual([`GET /${release.urlPath} 200 ${fs.statSync(release.file).size}`, expect.stringMatching(/\.sha256sum 200 \d+$/)]);
          expect((await node.run('ls /tmp/dl')).split('\n').filter(Boolean).sort()).toEqual(
            ['NOTICE.md', 'THIRD_PARTY_LICENSES', release.name, `${release.name}.sha256sum`, 'soci', 'soci-snapshotter-grpc'].sort(),
          );
          expect(await node.run('/usr/local/bin/soci-snapshotter-grpc --version')).toMatch(/^soci-snapshotter-grpc version v0\.15\.0 /);
          expect(await node.run('/tmp/dl/soci --version')).toMatch(/^soci version v0\.15\.0 /);

          // a corrupted download is refused by sha256sum --check
          await node.writeFile('/tmp/dl/bad/' + release.name, 'not the tarball');
          await node.run(`cp /tmp/dl/${release.name}.sha256sum /tmp/dl/bad/`);
          expect((await node.exec(`cd /tmp/dl/bad && sha256sum --check ${release.name}.sha256sum`)).code).not.toBe(0);
          await server.stop();
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

describe('fake EKS node lifecycle', { timeout: 240_000 }, () => {
  it("runs user data (a gzip part) in Debian's real cloud-init once per instance, between the real nodeadm phases", async () => {
    const script = [
      '#!/bin/bash',
      'set -eu',
      'echo "ran at $(date +%s.%N) containerd=$(systemctl is-active containerd) config=$(test -s /etc/containerd/config.toml && echo yes)" >> /var/lib/harness-user-data.log',
      'mkdir -p /etc/eks/nodeadm.d',
      'cat > /etc/eks/nodeadm.d/60-from-script.yaml <<EOF',
      'apiVersion: node.eks.aws/v1alpha1',
      'kind: NodeConfig',
      'spec:',
      '  kubelet:',
      '    config:',
      '      maxPods: 17',
      'EOF',
      '',
    ].join('\n');
    const userData = [
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="//"',
      '',
      '--//',
      'Content-Type: application/node.eks.aws',
      '',
      'apiVersion: node.eks.aws/v1alpha1',
      'kind: NodeConfig',
      'spec:',
      '  kubelet:',
      '    flags: ["--node-labels=harness=yes"]',
      '',
      '--//',
      // cloud-init unpacks gzip parts and reads what is inside as if it had come uncompressed
      'Content-Type: application/x-gzip',
      'Content-Transfer-Encoding: base64',
      '',
      zlib.gzipSync(script).toString('base64').replace(/.{76}/g, '$&\n'),
      '--//--',
      '',
    ].join('\n');
    await withNode({ containerd: '2', name: 'userdata', userData }, async (node) => {
      expect((await node.exec('systemctl is-system-running')).stdout.trim()).toBe('running');
      const log1 = await node.readFile('/var/lib/harness-user-data.log');
      expect(log1).toMatch(/^ran at [\d.]+ containerd=inactive config=yes\n$/);
      // the config phase read the user data only (IMDS); the run phase also the drop-in the script wrote
      expect(await node.journal('nodeadm-config.service')).toContain('"configSource": ["imds://user-data"]');
      expect(await node.journal('nodeadm-run.service')).toContain('"configSource": ["imds://user-data", "file:///etc/eks/nodeadm.d/"]');
      expect((await node.kubeletStatus()).maxPods).toBe(17);
      expect(await node.readFile('/etc/eks/kubelet/environment')).toContain('--node-labels=harness=yes');
      // Debian's real cloud-init ran it once for this instance (the IMDS stand-in's instance-id, seeded to NoCloud)
      const iid = (await node.readFile('/var/lib/standin-imds/instance-id')).trim();
      expect((await node.exec(['test', '-e', `/var/lib/cloud/instances/${iid}/sem/config_scripts_user`])).code).toBe(0);
      expect((await node.run('ls /var/lib/cloud/instance/scripts')).trim().split('\n')).toHaveLength(1);
      expect((await node.unit('cloud-final.service', 'Result')).Result).toBe('success');

      await node.reboot();
      expect(await node.readFile('/var/lib/harness-user-data.log')).toBe(log1);
      expect(await node.readFile('/var/log/cloud-init.log')).toContain('config-scripts_user already ran (freq=once-per-instance)');
      expect(node.changedFiles().map((f) => f.path)).toContain('/etc/eks/nodeadm.d/60-from-script.yaml');
    });
  });

  it('two nodes at once keep to their own cgroups: containerd restarts in both', async () => {
    const restartTwice = (node: FakeNode) =>
      node.run('systemctl restart containerd && systemctl restart containerd && systemctl is-active containerd');
    const results = await Promise.all(
      (['1.7', '2'] as const).map((line) => withNode({ containerd: line, name: `pair-${line}` }, restartTwice)),
    );
    expect(results).toEqual(['active\n', 'active\n']);
  });

  it('tears everything down even when the test throws: no process, mount or cgroup is left', async () => {
    let seen: { runDir: string; nspawnPid: number; cgroupDirs: string[]; straggler: number } | undefined;
    await expect(
      withNode({ containerd: '1.7', name: 'teardown' }, async (node) => {
        // a container and a process started by exec that would outlive a careless teardown
        await node.run('ctr --namespace k8s.io run --cpu-shares 0 -d localhost/kubernetes/pause:latest left-running');
        await node.run('setsid sleep 1000 >/dev/null 2>&1 < /dev/null & echo started');
        const straggler = Number((await node.run('pgrep -f "^sleep 1000"')).trim());
        const hostPids = node.cgroupDirs.flatMap((d) => fs.readFileSync(path.join(d, 'exec/cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
        expect(hostPids.length).toBeGreaterThan(0);
        seen = { runDir: node.runDir, nspawnPid: node.nspawnPid!, cgroupDirs: node.cgroupDirs, straggler: hostPids[0]! };
        expect(straggler).toBeGreaterThan(0);
        expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toContain(node.rootfs);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(seen).toBeDefined();
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive(seen!.nspawnPid)).toBe(false);
    expect(alive(seen!.straggler)).toBe(false);
    for (const d of seen!.cgroupDirs) expect(fs.existsSync(d)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(seen!.runDir);
    expect(fs.existsSync(seen!.runDir)).toBe(false);
  });
});
