// Issue 10's DaemonSet defects on the booted test node (test/harness/): D8 (kubelet takes soci's image
// service endpoint in live mode) and D8b (a node that is not EKS AL2023). The pod's init command is the
// manifest's own (test/support/daemonset-pod.ts). kubelet is a stand-in (test/standins/lib/kubelet.mjs):
// each start checks that the imageServiceEndpoint in its config answers and writes what it runs with
// to /run/kubelet-standin/status.json, so a restart is what applies a new endpoint.
import { beforeAll, describe, expect, it } from 'vitest';
import { render } from '../src/index.js';
import { ensureHarness, withNode, type FakeNode } from './harness/index.js';
import { podOf, ready, runInit, type PodSpec } from './support/daemonset-pod.js';

const SOCI_ENDPOINT = 'unix:///run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock';

const FINGERPRINT_DIRS = '/etc /usr/local /root';
async function fingerprint(node: FakeNode): Promise<string> {
  return node.run(
    `{ find ${FINGERPRINT_DIRS} -xdev -type f ! -path '/etc/machine-id' ! -path '/etc/soci-standin/*' -exec sha256sum {} + ; find ${FINGERPRINT_DIRS} -xdev -type l -printf '%p -> %l\\n'; } | sort`,
  );
}
const invocation = async (node: FakeNode, unit: string) => (await node.unit(unit, 'InvocationID')).InvocationID;

beforeAll(async () => {
  await ensureHarness();
}, 900_000);

describe('D8: live mode with auth cri-keychain', { timeout: 600_000 }, () => {
  const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: cri-keychain }\n';

  it('D8: live mode restarts kubelet once so it takes soci as its image service; a second run restarts nothing; uninstall restarts it off soci', async () => {
    await withNode({ containerd: '2', name: 'd8-keychain' }, async (node) => {
      const kubeletBefore = await invocation(node, 'kubelet.service');
      expect(await node.kubeletStatus()).toMatchObject({ ok: true, imageServiceEndpoint: null });

      const pod = podOf(profile);
      const first = await runInit(node, pod);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      // Nothing touched between the script and these: kubelet was restarted by the script, once, and
      // its start found soci's endpoint in its config and answering.
      expect(await invocation(node, 'kubelet.service')).not.toBe(kubeletBefore);
      expect(await node.kubeletStatus({ since: Date.now() })).toMatchObject({ ok: true, imageServiceEndpoint: SOCI_ENDPOINT, snapshotter: 'soci' });
      expect(await ready(node, pod)).toBe(true);
      expect(first.stdout + first.stderr).toMatch(/restarted kubelet: its image service is now soci/);

      const kubeletAfter = await invocation(node, 'kubelet.service');
      const second = await runInit(node, pod);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(await invocation(node, 'kubelet.service')).toBe(kubeletAfter);

      // Uninstall: kubelet must leave soci's endpoint, which is going away, with nothing else touched.
      const uninstall = await runInit(node, podOf(profile, true));
      expect(uninstall.code, uninstall.stdout + uninstall.stderr).toBe(0);
      expect(await node.isActive('containerd.service')).toBe('active');
      expect(await invocation(node, 'kubelet.service')).not.toBe(kubeletAfter);
      expect(await node.kubeletStatus({ since: Date.now() })).toMatchObject({ ok: true, imageServiceEndpoint: null });
    });
  });
});

describe('auth cri-keychain installed at boot (user data)', { timeout: 600_000 }, () => {
  it('uninstall restarts kubelet off soci: the endpoint is read as kubelet reads it, not from a drop-in nodeadm leaves unread', async () => {
    const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: cri-keychain }\n';
    const userData = render(profile).artifacts.find((a) => a.path === 'user-data.mime')!.content;
    await withNode({ containerd: '2', name: 'keychain-boot-uninstall', userData }, async (node) => {
      expect(await node.kubeletStatus()).toMatchObject({ ok: true, imageServiceEndpoint: SOCI_ENDPOINT, snapshotter: 'soci' });
      const kubeletBefore = await invocation(node, 'kubelet.service');
      const uninstall = await runInit(node, podOf(profile, true));
      expect(uninstall.code, uninstall.stdout + uninstall.stderr).toBe(0);
      // right after the script: kubelet restarted, and its start read no soci endpoint (nodeadm left
      // config.json.d/40-nodeadm.conf with soci's endpoint, but no longer names the directory)
      expect(await invocation(node, 'kubelet.service')).not.toBe(kubeletBefore);
      expect(await node.isActive('containerd.service')).toBe('active');
      expect(await node.kubeletStatus({ since: Date.now() })).toMatchObject({ ok: true, imageServiceEndpoint: null, snapshotter: 'overlayfs' });
    });
  });
});

describe('an uninstall that did not finish, then an install', { timeout: 600_000 }, () => {
  it("the next uninstall still restarts kubelet off soci: the install clears what the unfinished uninstall recorded", async () => {
    const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: cri-keychain }\n';
    await withNode({ containerd: '2', name: 'stale-uninstall-record' }, async (node) => {
      // What an uninstall stopped or failed on this node before recorded: kubelet's endpoint then (none).
      await node.run('mkdir -p /var/lib/soci-installer && printf "\\n" > /var/lib/soci-installer/uninstall-kubelet-endpoint');
      const install = await runInit(node, podOf(profile));
      expect(install.code, install.stdout + install.stderr).toBe(0);
      expect(await node.kubeletStatus({ since: Date.now() })).toMatchObject({ ok: true, imageServiceEndpoint: SOCI_ENDPOINT });
      const kubeletAfter = await invocation(node, 'kubelet.service');
      const uninstall = await runInit(node, podOf(profile, true));
      expect(uninstall.code, uninstall.stdout + uninstall.stderr).toBe(0);
      expect(await invocation(node, 'kubelet.service')).not.toBe(kubeletAfter);
      expect(await node.kubeletStatus({ since: Date.now() })).toMatchObject({ ok: true, imageServiceEndpoint: null });
    });
  });
});

describe('a node whose wiring is in its user data', { timeout: 600_000 }, () => {
  it('uninstall refuses it before changing anything: nodeadm would write soci back into containerd at every boot', async () => {
    const base = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none';
    const userData = render(`${base}, wiring: user-data }\n`).artifacts.find((a) => a.path === 'user-data.mime')!.content;
    await withNode({ containerd: '2', name: 'user-data-wiring-uninstall', userData }, async (node) => {
      expect(await node.kubeletStatus()).toMatchObject({ ok: true, snapshotter: 'soci' });
      const before = await fingerprint(node);
      const containerd = await invocation(node, 'containerd.service');
      // The uninstall DaemonSet of a drop-in profile (none is made for wiring: user-data) reaching this node.
      const uninstall = await runInit(node, podOf(`${base} }\n`, true));
      expect(uninstall.code).toBe(1);
      expect(uninstall.stdout + uninstall.stderr).toMatch(/uninstall failed: soci's wiring is in this node's user data .*replace the node/);
      expect(await fingerprint(node)).toBe(before);
      expect(await invocation(node, 'containerd.service')).toBe(containerd);
      expect(await node.isActive('soci-snapshotter.service')).toBe('active');
    });
  });
});

describe('bundles', { timeout: 600_000 }, () => {
  it("a new manifest's pod removes the bundles earlier manifests copied to the node", async () => {
    const base = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none }\n';
    // Another namespace changes uninstall.sh, so the bundle's hash, and nothing the install does.
    const [older, newer] = [podOf(base), podOf(`${base}daemonset: { namespace: soci-other, createNamespace: true }\n`)];
    const hashOf = (pod: PodSpec) => /\/bundle\/([0-9a-f]{12})\//.exec(pod.command.join('\n'))![1]!;
    expect(hashOf(older)).not.toBe(hashOf(newer));
    await withNode({ containerd: '2', name: 'bundles' }, async (node) => {
      const first = await runInit(node, older);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect((await node.run('ls /var/lib/soci-installer/bundle')).trim()).toBe(hashOf(older));
      const second = await runInit(node, newer);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect((await node.run('ls /var/lib/soci-installer/bundle')).trim()).toBe(hashOf(newer));
    });
  });
});

describe('a unit an earlier attempt left', { timeout: 600_000 }, () => {
  it("the pod's next attempt waits while that unit is still stopping, then runs", async () => {
    const pod = podOf('node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none }\n');
    const unit = /--unit=(soci-installer-[0-9a-f]{12}) /.exec(pod.command[2]!)![1]!;
    await withNode({ containerd: '2', name: 'ds-unit-stopping' }, async (node) => {
      // A run of the same unit that, once told to stop, takes 8 seconds to clean up (as a stopped
      // live.sh rolls back): systemctl stop --no-block leaves it deactivating.
      await node.run(`systemd-run --unit=${unit} --quiet /bin/bash -c 'trap "sleep 8; exit 0" TERM; while :; do sleep 1; done'`);
      await node.run(`systemctl stop --no-block ${unit}.service; until [ "$(systemctl show --property=ActiveState --value ${unit}.service)" = deactivating ]; do sleep 0.2; done`);
      const res = await runInit(node, pod);
      expect(res.code, res.stdout + res.stderr).toBe(0);
      expect(res.stdout + res.stderr).not.toMatch(/already (loaded|exists)/);
      expect(await ready(node, pod)).toBe(true);
    });
  });
});

describe('D8b: a node that is not EKS AL2023', { timeout: 600_000 }, () => {
  const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none }\n';

  it('D8b: on a node without nodeadm the pod says why, changes nothing and idles Ready', async () => {
    // A Bottlerocket-like node: no nodeadm, no /etc/eks/containerd-version.txt, its own os-release.
    const osRelease = 'NAME=Bottlerocket\nID=bottlerocket\nVERSION_ID=1.44.0\nPRETTY_NAME="Bottlerocket OS 1.44.0 (aws-k8s-1.33)"\n';
    await withNode({ containerd: '2', name: 'd8b-other-os', files: { '/usr/lib/os-release': osRelease } }, async (node) => {
      // the harness binds the real nodeadm over /usr/bin/nodeadm: take it away as Bottlerocket has none
      await node.run('umount /usr/bin/nodeadm && rm -f /usr/bin/nodeadm /etc/eks/containerd-version.txt');
      const pristine = await fingerprint(node);
      const containerd = await invocation(node, 'containerd.service');
      for (const uninstall of [false, true]) {
        const pod = podOf(profile, uninstall);
        const res = await runInit(node, pod);
        expect(res.code, res.stdout + res.stderr).toBe(0);
        const why = await node.readFile('/dev/termination-log');
        expect(why).toMatch(/^soci-installer: not an EKS AL2023 node \(Bottlerocket OS 1\.44\.0 \(aws-k8s-1\.33\); missing: \/usr\/bin\/nodeadm \/etc\/eks\/containerd-version\.txt\): nothing done/);
        expect(res.stdout).toBe(why);
        expect(await ready(node, pod)).toBe(true);
        await node.run('rm -rf /bundle /state /run-host /status /dev/termination-log /var/lib/soci-installer');
        expect(await fingerprint(node)).toBe(pristine);
        expect(await invocation(node, 'containerd.service')).toBe(containerd);
      }
    });
  });
});

describe('the init command bounds the script it hands to the host', { timeout: 600_000 }, () => {
  // auth ecr-credential-helper-package with no helper pinned: live.sh installs the AL2023 package with dnf.
  const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: ecr-credential-helper-package }\n';
  const HUNG_DNF = '#!/bin/sh\n# STAND-IN for dnf waiting on a package mirror that never answers\nexec sleep infinity\n';

  it("a live.sh that hangs is stopped at the unit's RuntimeMaxSec, rolls back, and the pod fails saying why", async () => {
    const pod = podOf(profile);
    const script = pod.command[2]!;
    // A transient service is Type=simple: started once spawned, so TimeoutStartSec never applies.
    expect(script).toContain(' --property=RuntimeMaxSec=900 ');
    expect(script).not.toContain('TimeoutStartSec');
    const unit = /--unit=(soci-installer-[0-9a-f]{12}) /.exec(script)![1]!;
    // The manifest's command, with 5 seconds for its 15 minutes.
    const quick = { ...pod, command: [...pod.command.slice(0, 2), script.replace('RuntimeMaxSec=900', 'RuntimeMaxSec=5')] };
    await withNode({ containerd: '2', name: 'ds-time-limit', files: { '/usr/bin/dnf': { content: HUNG_DNF, mode: 0o755 } } }, async (node) => {
      const res = await runInit(node, quick);
      expect(res.code, res.stdout + res.stderr).toBe(1);
      expect(await node.journal(`${unit}.service`)).toMatch(/Service reached runtime time limit\. Stopping\./);
      expect(res.stdout).toMatch(/installing the AL2023 package amazon-ecr-credential-helper\n.*rolling back: stopped by SIGTERM before it finished/s);
      expect(await node.readFile('/dev/termination-log')).toMatch(/^stopped by SIGTERM before it finished/);
      expect(await node.isActive(`${unit}.service`)).not.toBe('active');
      expect((await node.exec(['pgrep', '-fx', 'sleep infinity'])).code).toBe(1);
      expect(await ready(node, pod)).toBe(false);
    });
  });
});
