// The DaemonSet's live mode and uninstall on a booted fake node (test/harness/): the manifest's exact
// init command runs with the ConfigMap files at their mount paths (/bundle, /state), on a node that
// already runs containers, on containerd 1.7 and 2.x.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { render } from '../src/index.js';
import { buildPauseImage, buildReleaseTarball, ensureHarness, withNode, type FakeNode } from './harness/index.js';
import { tar } from './standins/lib/pause-image.mjs';
import { podOf, runInit } from './support/daemonset-pod.js';

const sha256 = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');

/** An OCI image archive: the pause layer plus one layer of its own (so its own blob can be discarded). */
function appImage(name: string): Buffer {
  const pause = buildPauseImage();
  const layers = [tar([{ name: 'pause', content: pause.program, mode: 0o755 }]), tar([{ name: 'app.txt', content: `${name}\n` }])];
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/pause'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha256(l)}`) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha256(l)}`, size: l.length })),
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${sha256(manifest)}`,
          size: manifest.length,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { 'io.containerd.image.name': name },
        },
      ],
    }),
  );
  const blob = (b: Buffer) => ({ name: `blobs/sha256/${sha256(b)}`, content: b });
  return tar([
    { name: 'blobs/', content: null },
    { name: 'blobs/sha256/', content: null },
    blob(config),
    ...layers.map(blob),
    blob(manifest),
    { name: 'index.json', content: index },
    { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
  ]);
}

const FINGERPRINT_DIRS = '/etc /usr/local /root';
async function fingerprint(node: FakeNode): Promise<string> {
  // Everything under /etc, /usr/local and /root, but files the node itself rewrites at any time:
  // nodeadm writes kubelet's flags in Go map order, so every config phase may reorder them
  // (amazon-eks-ami nodeadm/internal/kubelet/environment.go).
  return node.run(
    `{ find ${FINGERPRINT_DIRS} -xdev -type f ! -path '/etc/machine-id' ! -path '/etc/eks/kubelet/environment' -exec sha256sum {} + ; find ${FINGERPRINT_DIRS} -xdev -type l -printf '%p -> %l\\n'; } | sort`,
  );
}
const containerdStarts = async (node: FakeNode) => (await node.journal('containerd.service')).split('\n').filter((l) => /Started containerd/.test(l)).length;
const taskState = async (node: FakeNode, id: string) => (await node.run('ctr -n k8s.io task ls')).split('\n').find((l) => l.startsWith(`${id} `))?.trim().split(/\s+/)[2];

beforeAll(async () => {
  await ensureHarness();
}, 900_000);

for (const line of ['1.7', '2'] as const) {
  const profile = `node: { kubernetesVersion: "${line === '1.7' ? '1.29' : '1.33'}", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none }\n`;

  describe(`DaemonSet live mode, containerd ${line}`, { timeout: 600_000 }, () => {
    it('converts a running node once, keeps its containers, handles images pulled before, is a no-op the second time; uninstall restores every file', async () => {
      await withNode({ containerd: line, name: `live-${line}` }, async (node) => {
        // A node in use: a running container, an image with all its layers, and one whose layers were discarded.
        await node.writeFile('/root/app-kept.tar', appImage('localhost/app:kept'));
        await node.writeFile('/root/app-discarded.tar', appImage('localhost/app:discarded'));
        await node.run('ctr -n k8s.io images import --local --discard-unpacked-layers=false /root/app-kept.tar');
        await node.run('ctr -n k8s.io images import --local --discard-unpacked-layers=true /root/app-discarded.tar');
        await node.run('rm /root/app-kept.tar /root/app-discarded.tar');
        // containerd's garbage collector drops the discarded layer soon after the import, not at once.
        await node.waitFor('ctr -n k8s.io images check | grep -Eq "^localhost/app:discarded .*incomplete"', { timeoutMs: 60_000 });
        await node.run('ctr -n k8s.io run -d --cpu-shares 0 localhost/app:kept before-1');
        expect(await taskState(node, 'before-1')).toBe('RUNNING');
        const pristine = await fingerprint(node);
        const startsBefore = await containerdStarts(node);

        const install = podOf(profile);
        const first = await runInit(node, install);
        expect(first.code, first.stdout + first.stderr).toBe(0);
        expect(first.stdout + first.stderr).toMatch(/done: soci-snapshotter in parallel mode/);

        // right after the script: containerd restarted exactly once and runs, soci runs; the container
        // that ran before still runs
        expect(await node.isActive('containerd.service')).toBe('active');
        expect(await node.isActive('soci-snapshotter.service')).toBe('active');
        expect(await containerdStarts(node)).toBe(startsBefore + 1);
        expect(await taskState(node, 'before-1')).toBe('RUNNING');
        expect(await node.exists('/var/lib/soci-installer/installed')).toBe(true);
        // containerd's CRI now uses soci (nodeadm regenerated the config), and the pause image is in soci:
        // the running kubelet sees it without a restart
        expect(await node.readFile('/etc/containerd/config.toml')).toContain('soci-snapshotter-grpc.sock');
        expect(await node.kubeletStatus({ since: Date.now() })).toMatchObject({ ok: true, snapshotter: 'soci' });
        // the image whose layers were gone was forgotten; the complete one restarts on soci
        const images = await node.run('ctr -n k8s.io images ls -q');
        expect(images).not.toContain('localhost/app:discarded');
        expect(images).toContain('localhost/app:kept');
        await node.run('ctr -n k8s.io task kill before-1; for i in $(seq 50); do ctr -n k8s.io task ls | grep -q "^before-1 .*STOPPED" && break; sleep 0.1; done');
        await node.run('ctr -n k8s.io task rm before-1 && ctr -n k8s.io container rm before-1');
        await node.run('ctr -n k8s.io run -d --cpu-shares 0 --snapshotter soci localhost/app:kept after-1');
        expect(await taskState(node, 'after-1')).toBe('RUNNING');

        // second run: nothing changes, nothing restarts
        const converted = await fingerprint(node);
        const sociInvocation = (await node.unit('soci-snapshotter.service', 'InvocationID')).InvocationID;
        const second = await runInit(node, install);
        expect(second.code, second.stderr).toBe(0);
        expect(await fingerprint(node)).toBe(converted);
        expect(await containerdStarts(node)).toBe(startsBefore + 1);
        expect((await node.unit('soci-snapshotter.service', 'InvocationID')).InvocationID).toBe(sociInvocation);

        // uninstall: every file back byte for byte, containerd on overlayfs, the state gone
        await node.run('ctr -n k8s.io task kill after-1; for i in $(seq 50); do ctr -n k8s.io task ls | grep -q "^after-1 .*STOPPED" && break; sleep 0.1; done');
        await node.run('ctr -n k8s.io task rm after-1 && ctr -n k8s.io container rm after-1');
        const startsBeforeUninstall = await containerdStarts(node);
        const kubeletInvocation = (await node.unit('kubelet.service', 'InvocationID')).InvocationID;
        const un = await runInit(node, podOf(profile, true));
        expect(un.code, un.stdout + un.stderr).toBe(0);
        // right after the script: containerd runs (restarted once, by uninstall itself), soci is stopped,
        // kubelet untouched
        expect(await node.isActive('containerd.service')).toBe('active');
        expect(await containerdStarts(node)).toBe(startsBeforeUninstall + 1);
        expect(await node.isActive('soci-snapshotter.service')).toBe('inactive');
        expect((await node.unit('kubelet.service', 'InvocationID')).InvocationID).toBe(kubeletInvocation);
        await node.run('rm -rf /bundle /state /dev/termination-log');
        expect(await fingerprint(node)).toBe(pristine);
        expect(await node.exists('/var/lib/soci-installer')).toBe(false);
        expect(await node.exists('/run/soci-installer/uninstalled')).toBe(true);
        expect(await node.readFile('/etc/containerd/config.toml')).not.toContain('soci');
        const after = await node.kubeletStatus({ since: Date.now() });
        expect(after, after.reason).toMatchObject({ ok: true, snapshotter: 'overlayfs' });
      });
    });

    it('D2: uninstall leaves containerd as it found it: running, restarted once by uninstall itself, kubelet untouched', async () => {
      // a node that got soci at boot from our user data: containerd's drop-in names soci
      const userData = render(profile).artifacts.find((a) => a.path === 'user-data.mime')!.content;
      await withNode({ containerd: line, name: `d2-${line}`, userData }, async (node) => {
        expect(await node.isActive('containerd.service')).toBe('active');
        expect(await node.isActive('soci-snapshotter.service')).toBe('active');
        const startsBefore = await containerdStarts(node);
        const kubeletInvocation = (await node.unit('kubelet.service', 'InvocationID')).InvocationID;
        const un = await runInit(node, podOf(profile, true));
        expect(un.code, un.stdout + un.stderr).toBe(0);
        // right after the script, nothing else touched
        expect(await node.isActive('containerd.service')).toBe('active');
        expect(await containerdStarts(node)).toBe(startsBefore + 1);
        expect(await node.isActive('soci-snapshotter.service')).toBe('inactive');
        expect((await node.unit('kubelet.service', 'InvocationID')).InvocationID).toBe(kubeletInvocation);
        expect(await node.readFile('/etc/containerd/config.toml')).not.toContain('soci');
        const after = await node.kubeletStatus({ since: Date.now() });
        expect(after, after.reason).toMatchObject({ ok: true, snapshotter: 'overlayfs' });
      });
    });

    it('D3: a live install that fails after the wiring step leaves containerd running, never restarted', async () => {
      await withNode({ containerd: line, name: `d3-rollback-${line}` }, async (node) => {
        // someone else's drop-in that nodeadm's config phase refuses: the live block's config phase fails, after our
        // wiring. (It reads, so `nodeadm config dump` before any change passes it; init's validation then stops:
        // an outpost without a cluster id, amazon-eks-ami 81fec2e8 nodeadm/internal/api/validation.go.)
        await node.writeFile('/etc/eks/nodeadm.d/10-broken.yaml', 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    enableOutpost: true\n');
        const pristine = await fingerprint(node);
        const ctrd = (await node.unit('containerd.service', 'InvocationID')).InvocationID;
        const res = await runInit(node, podOf(profile));
        expect(res.code).not.toBe(0);
        expect(await node.readFile('/dev/termination-log')).toMatch(/nodeadm could not regenerate containerd's config/);
        // right after the script, nothing else touched
        expect(await node.isActive('containerd.service')).toBe('active');
        expect((await node.unit('containerd.service', 'InvocationID')).InvocationID).toBe(ctrd);
        expect(await node.isActive('soci-snapshotter.service')).not.toBe('active');
        await node.run('rm -rf /bundle /state /dev/termination-log');
        expect(await fingerprint(node)).toBe(pristine);
      });
    });

    it('a snapshotter that never becomes ready: the node keeps every file, byte for byte, and the pod says why', async () => {
      await withNode({ containerd: line, name: `live-fail-${line}`, soci: { fail: 'never-ready' }, defaultTimeoutStartSec: 5 }, async (node) => {
        const pristine = await fingerprint(node);
        const startsBefore = await containerdStarts(node);
        const res = await runInit(node, podOf(profile));
        expect(res.code).not.toBe(0);
        expect(await node.readFile('/dev/termination-log')).toMatch(/soci-snapshotter did not become ready/);
        await node.run('rm -rf /bundle /state /dev/termination-log');
        expect(await fingerprint(node)).toBe(pristine);
        expect(await containerdStarts(node)).toBe(startsBefore);
        expect((await node.unit('containerd.service', 'ActiveState')).ActiveState).toBe('active');
      });
    });
  });
}

describe('uninstall of a release install on an AMI without soci', { timeout: 600_000 }, () => {
  it('disables the socket the install enabled: no link left to the removed unit, is-enabled as before', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soci-rel-'));
    try {
      const release = buildReleaseTarball(dir, { version: '0.15.0' });
      await withNode({ containerd: '2', name: 'live-release-uninstall', soci: { installed: false } }, async (node) => {
        const server = await node.serve({ [release.urlPath]: { hostFile: release.file } });
        const base = `${server.url}/${path.posix.dirname(path.posix.dirname(release.urlPath))}`;
        const profile = `node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: release, auth: none, version: 0.15.0, releaseBaseUrl: "${base}", sha256: { amd64: ${release.sha256} } }\n`;
        const isEnabled = async () => (await node.exec('systemctl is-enabled soci-snapshotter.socket')).stdout.trim();
        const enabledBefore = await isEnabled();
        const pristine = await fingerprint(node);

        const install = await runInit(node, podOf(profile));
        expect(install.code, install.stdout + install.stderr).toBe(0);
        expect(await node.run('readlink /etc/systemd/system/sockets.target.wants/soci-snapshotter.socket')).toBe('/usr/local/lib/systemd/system/soci-snapshotter.socket\n');
        expect(await isEnabled()).toBe('enabled');

        const un = await runInit(node, podOf(profile, true));
        expect(un.code, un.stdout + un.stderr).toBe(0);
        expect(await node.exists('/usr/local/lib/systemd/system/soci-snapshotter.socket')).toBe(false);
        expect(await node.run('find /etc/systemd/system -xtype l')).toBe('');
        expect(await isEnabled()).toBe(enabledBefore);
        await node.run('rm -rf /bundle /state /run-host /dev/termination-log');
        expect(await fingerprint(node)).toBe(pristine);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an uninstall stopped by SIGTERM (the DaemonSet unit stopped: RuntimeMaxSec, shutdown)', { timeout: 600_000 }, () => {
  it('leaves containerd running on the config it runs with, says so, and the next run completes it', async () => {
    const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none }\n';
    const userData = render(profile).artifacts.find((a) => a.path === 'user-data.mime')!.content;
    // Test hook, not a stand-in: the real nodeadm runs, then its config phase holds until the run is
    // stopped, so SIGTERM arrives after nodeadm rewrote containerd's config and before the restart.
    const gate = [
      '#!/bin/bash',
      '/usr/bin/nodeadm "$@" || exit',
      '[ "$1 $2 $3" = "init --skip run" ] || exit 0',
      ': >/run/nodeadm-gate-reached',
      'while :; do sleep 0.1; done',
      '',
    ].join('\n');
    await withNode({ containerd: '2', name: 'uninstall-stopped', userData }, async (node) => {
      expect(await node.readFile('/etc/containerd/config.toml')).toContain('soci-snapshotter-grpc.sock');
      const configBefore = await node.readFile('/etc/containerd/config.toml');
      const containerdBefore = (await node.unit('containerd.service', 'InvocationID')).InvocationID;
      const startsBefore = await containerdStarts(node);
      // an earlier uninstall's marker on this boot (installed again since): not a sign this one is done
      await node.run('mkdir -p /run/soci-installer && touch /run/soci-installer/uninstalled');
      await node.writeFile('/usr/local/bin/nodeadm', gate, 0o755);
      const pod = podOf(profile, true);
      const unit = `${/soci-installer-[0-9a-f]{12}/.exec(pod.command.join(' '))![0]}.service`;

      const running = runInit(node, pod);
      await node.waitFor('test -e /run/nodeadm-gate-reached', { timeoutMs: 120_000 });
      // what systemd does past RuntimeMaxSec: stop the unit (SIGTERM to every process in it)
      await node.run(`systemctl stop --no-block ${unit}`);
      const stopped = await running;
      expect(stopped.code).not.toBe(0);
      // right after the script, nothing else touched: containerd runs, never restarted, on the config it
      // started with (on disk as it was: nodeadm's rewrite that never took effect is put back), with soci
      expect(await node.isActive('containerd.service')).toBe('active');
      expect((await node.unit('containerd.service', 'InvocationID')).InvocationID).toBe(containerdBefore);
      expect(await node.readFile('/etc/containerd/config.toml')).toBe(configBefore);
      await node.run('containerd config dump >/dev/null');
      expect(await node.isActive('soci-snapshotter.service')).toBe('active');
      expect(await node.kubeletStatus({ since: Date.now() })).toMatchObject({ ok: true, snapshotter: 'soci' });
      expect(await node.readFile('/dev/termination-log')).toMatch(
        /^uninstall stopped by SIGTERM before it finished .*containerd is active .*; run the uninstall again to complete it/,
      );
      expect(await node.journal()).toMatch(/soci-installer: uninstall stopped by SIGTERM/);
      expect(await node.exists('/run/soci-installer/uninstalled')).toBe(false);
      expect(await node.exists('/var/lib/soci-installer/original')).toBe(true);

      // the next run (the pod's init container again) completes it
      await node.run('rm /usr/local/bin/nodeadm /run/nodeadm-gate-reached');
      const again = await runInit(node, pod);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(await node.isActive('containerd.service')).toBe('active');
      expect(await containerdStarts(node)).toBe(startsBefore + 1);
      expect(await node.isActive('soci-snapshotter.service')).toBe('inactive');
      expect(await node.readFile('/etc/containerd/config.toml')).not.toContain('soci');
      expect(await node.exists('/var/lib/soci-installer')).toBe(false);
      expect(await node.exists('/run/soci-installer/uninstalled')).toBe(true);
      const after = await node.kubeletStatus({ since: Date.now() });
      expect(after, after.reason).toMatchObject({ ok: true, snapshotter: 'overlayfs' });
    });
  });

  it('stopped while containerd restarts off soci: the restart completes, and the next run restarts kubelet off soci (auth cri-keychain) and containerd no more', async () => {
    const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: cri-keychain }\n';
    const userData = render(profile).artifacts.find((a) => a.path === 'user-data.mime')!.content;
    // Test hook: containerd's next start holds while /run/containerd-gate exists.
    const gate = [
      '[Service]',
      "ExecStartPre=/bin/sh -c 'if [ -e /run/containerd-gate ]; then : >/run/containerd-gate-reached; while [ -e /run/containerd-gate ]; do sleep 0.1; done; fi'",
      '',
    ].join('\n');
    await withNode({ containerd: '2', name: 'uninstall-stopped-restart', userData }, async (node) => {
      expect(await node.kubeletStatus()).toMatchObject({ ok: true, imageServiceEndpoint: 'unix:///run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock' });
      await node.writeFile('/etc/systemd/system/containerd.service.d/99-test-gate.conf', gate);
      await node.run('systemctl daemon-reload && touch /run/containerd-gate');
      const startsBefore = await containerdStarts(node);
      const kubeletBefore = (await node.unit('kubelet.service', 'InvocationID')).InvocationID;
      const pod = podOf(profile, true);
      const unit = `${/soci-installer-[0-9a-f]{12}/.exec(pod.command.join(' '))![0]}.service`;

      const running = runInit(node, pod);
      await node.waitFor('test -e /run/containerd-gate-reached', { timeoutMs: 120_000 });
      await node.run(`systemctl stop --no-block ${unit}`);
      // the stopped script waits for containerd to run again before it exits: let the restart go on
      await node.waitFor(`[ "$(systemctl show -p ActiveState --value ${unit})" = deactivating ]`);
      await node.run('rm /run/containerd-gate');
      const stopped = await running;
      expect(stopped.code).not.toBe(0);
      // right after the script: containerd runs, restarted once onto nodeadm's config; kubelet not yet
      expect(await node.isActive('containerd.service')).toBe('active');
      expect(await containerdStarts(node)).toBe(startsBefore + 1);
      expect(await node.readFile('/etc/containerd/config.toml')).not.toContain('soci');
      expect((await node.unit('kubelet.service', 'InvocationID')).InvocationID).toBe(kubeletBefore);
      expect(await node.readFile('/dev/termination-log')).toMatch(/^uninstall stopped by SIGTERM before it finished .*; run the uninstall again to complete it/);
      expect(await node.exists('/run/soci-installer/uninstalled')).toBe(false);

      const again = await runInit(node, pod);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(again.stdout + again.stderr).toMatch(/restarted kubelet: its image service is containerd again/);
      expect((await node.unit('kubelet.service', 'InvocationID')).InvocationID).not.toBe(kubeletBefore);
      expect(await containerdStarts(node)).toBe(startsBefore + 1);
      expect(await node.exists('/var/lib/soci-installer')).toBe(false);
      expect(await node.exists('/run/soci-installer/uninstalled')).toBe(true);
      const after = await node.kubeletStatus({ since: Date.now() });
      expect(after, after.reason).toMatchObject({ ok: true, snapshotter: 'overlayfs', imageServiceEndpoint: null });
    });
  });
});
