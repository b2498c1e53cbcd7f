// Our generated user data and install.sh on a booted fake EKS node (test/harness/), on containerd 1.7
// and 2.x with cgroup v2: boot order, idempotency, reboot, fault rollback, and the download path.
// Real: nodeadm, soci-snapshotter-grpc v0.15.0, containerd 2.2.4 / 1.7.27 (test/harness/README.md).
// Stand-ins (test/standins/): IMDS, kubelet; cloud-init is Debian's own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load as loadToml } from 'js-toml';
import { beforeAll, describe, expect, it } from 'vitest';
import { render } from '../src/index.js';
import { buildReleaseTarball, ensureHarness, withNode, type FakeNode } from './harness/index.js';

const SOCKET = '/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock';
const OUR_FILES = [
  '/etc/soci-snapshotter-grpc/config.toml',
  '/etc/systemd/system/containerd.service.d/20-soci-installer.conf',
  '/etc/systemd/system/soci-installer-pause-import.service',
  '/etc/eks/nodeadm.d/50-soci-installer.yaml',
];

function artifacts(profile: string) {
  const r = render(profile, 'test profile');
  const file = (p: string) => r.artifacts.find((a) => a.path === p)!.content;
  return { userData: file('user-data.mime'), script: file('install.sh'), plan: r.plan };
}

const profileFor = (line: '1.7' | '2', soci: string) =>
  `node: { kubernetesVersion: "${line === '1.7' ? '1.29' : '1.33'}", arch: x86_64 }\nsoci: ${soci}\n`;

/** kubelet's view, checked after `since` (the stand-in re-checks every 2 s and never restarts anything) */
const kubelet = (node: FakeNode, since = Date.now()) => node.kubeletStatus({ since });

/** sha256 of every file under the paths (and which exist), to prove a second run changes nothing. */
async function fingerprint(node: FakeNode): Promise<string> {
  const dirs = '/etc/soci-snapshotter-grpc /etc/systemd/system /usr/local /etc/eks/nodeadm.d /var/lib/soci-installer /root/.docker /etc/containerd';
  return node.run(`{ find ${dirs} -xdev -type f -exec sha256sum {} + ; find ${dirs} -xdev -type l -printf '%p -> %l\\n'; } 2>/dev/null | sort`);
}

async function invocations(node: FakeNode): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const u of ['soci-snapshotter.service', 'containerd.service', 'kubelet.service', 'soci-installer-pause-import.service']) {
    out[u] = (await node.unit(u, 'InvocationID')).InvocationID ?? '';
  }
  return out;
}

beforeAll(async () => {
  await ensureHarness(); // builds the test node on a fresh machine (about 2 minutes)
}, 900_000);

for (const line of ['1.7', '2'] as const) {
  describe(`containerd ${line} node`, { timeout: 300_000 }, () => {
    it('user data installs soci before containerd; a second run changes and restarts nothing; a reboot keeps the wiring', async () => {
      const { userData, script } = artifacts(profileFor(line, '{ mode: lazy, source: ami, auth: none }'));
      await withNode({ containerd: line, name: `install-${line}`, userData }, async (node) => {
        expect((await node.exec('systemctl is-system-running')).stdout.trim()).toBe('running');
        expect(await node.journal()).toMatch(/soci-installer: done: soci-snapshotter in lazy mode/);
        for (const f of OUR_FILES) expect(await node.exists(f), f).toBe(true);

        // soci was up before containerd started; containerd wants it and starts after it, but does not
        // require it (stopping or restarting soci never stops or restarts containerd: D2, D3)
        const soci = await node.unit('soci-snapshotter.service', 'ActiveEnterTimestampMonotonic', 'ActiveState');
        const ctrd = await node.unit('containerd.service', 'ExecMainStartTimestampMonotonic', 'Requires', 'Wants', 'After');
        expect(soci.ActiveState).toBe('active');
        expect(Number(soci.ActiveEnterTimestampMonotonic)).toBeLessThan(Number(ctrd.ExecMainStartTimestampMonotonic));
        expect(ctrd.Wants).toContain('soci-snapshotter.service');
        expect(ctrd.After).toContain('soci-snapshotter.service');
        expect(ctrd.Requires).not.toContain('soci-snapshotter.service');

        // nodeadm merged our drop-in: containerd's snapshotter is soci, and a call really reaches the socket
        const config = loadToml(await node.readFile('/etc/containerd/config.toml')) as any;
        expect(config.proxy_plugins.soci.address).toBe(SOCKET);
        await node.run('ctr --namespace k8s.io snapshots --snapshotter soci prepare routed-key');
        expect(await node.run('ctr --namespace k8s.io snapshots --snapshotter soci mounts /mnt routed-key')).toContain('/var/lib/soci-snapshotter-grpc/snapshotter/snapshots/');
        await node.run('ctr --namespace k8s.io snapshots --snapshotter soci rm routed-key');

        // the pause image went into soci between containerd and kubelet
        const pause = await node.unit('soci-installer-pause-import.service', 'Result', 'ActiveState');
        expect(pause).toEqual({ Result: 'success', ActiveState: 'active' });
        expect(await kubelet(node)).toMatchObject({ ok: true, snapshotter: 'soci' });

        // second run: same files, same unit invocations
        const before = { files: await fingerprint(node), units: await invocations(node) };
        const again = await node.exec(['bash', '/var/lib/cloud/instance/scripts/part-001']);
        expect(again.code, again.stderr).toBe(0);
        expect({ files: await fingerprint(node), units: await invocations(node) }).toEqual(before);
        // the same script as a file (as render writes it) is just as idempotent
        await node.writeFile('/root/install.sh', script, 0o755);
        expect((await node.exec('/root/install.sh')).code).toBe(0);
        expect(await fingerprint(node)).toBe(before.files.replace(/\n$/, '') + '\n');

        // reboot: nodeadm re-reads the drop-in; soci first, pause in soci, kubelet happy
        await node.reboot();
        expect((await node.exec('systemctl is-system-running')).stdout.trim()).toBe('running');
        expect((loadToml(await node.readFile('/etc/containerd/config.toml')) as any).proxy_plugins.soci.address).toBe(SOCKET);
        expect(await kubelet(node)).toMatchObject({ ok: true, snapshotter: 'soci' });
        expect(await node.readFile('/var/log/cloud-init.log')).toContain('config-scripts_user already ran (freq=once-per-instance)');
      });
    });

    it('a snapshotter that never becomes ready: rolled back, containerd runs on overlayfs, the failure is in the journal', async () => {
      const { userData } = artifacts(profileFor(line, '{ mode: parallel, source: ami, auth: none }'));
      await withNode({ containerd: line, name: `fault-${line}`, userData, soci: { fail: 'never-ready' }, defaultTimeoutStartSec: 5 }, async (node) => {
        expect((await node.unit('containerd.service', 'ActiveState')).ActiveState).toBe('active');
        expect(await kubelet(node)).toMatchObject({ ok: true, snapshotter: 'overlayfs' });
        for (const f of OUR_FILES) expect(await node.exists(f), f).toBe(false);
        // nothing of ours is left outside our state directory
        const changed = node
          .changedFiles()
          .map((f) => f.path)
          .filter((p) => !p.startsWith('/var/lib/soci-installer') && !p.startsWith('/var/log') && !p.startsWith('/run') && !p.startsWith('/var/lib/cloud'));
        expect(changed.filter((p) => /soci|nodeadm\.d|containerd\.service\.d/.test(p) && !p.startsWith('/etc/containerd/') && !p.endsWith('/99-harness-fault.conf'))).toEqual([]);
        const journal = await node.journal();
        expect(journal).toMatch(/soci-installer: soci-snapshotter did not become ready/);
        expect(journal).toMatch(/soci-installer: soci-snapshotter NOT installed; containerd stays on its default snapshotter/);
        expect(await node.readFile('/var/lib/soci-installer/last-failure')).toMatch(/did not become ready/);
        const sociUnit = await node.unit('soci-snapshotter.service', 'ActiveState');
        expect(sociUnit.ActiveState).not.toBe('active');
      });
    });

    it('an AMI without soci: auto downloads the pinned release; a wrong sha256 installs nothing', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soci-rel-'));
      try {
        const release = buildReleaseTarball(dir, { version: '0.15.0' });
        await withNode({ containerd: line, name: `download-${line}`, soci: { installed: false } }, async (node) => {
          const server = await node.serve({ [release.urlPath]: { hostFile: release.file } });
          const base = `${server.url}/${path.posix.dirname(path.posix.dirname(release.urlPath))}`;
          const soci = (sha: string) => `{ mode: lazy, source: auto, auth: none, version: 0.15.0, releaseBaseUrl: "${base}", sha256: { amd64: ${sha} } }`;

          // wrong checksum: refused, nothing installed, --strict exits 1
          const bad = artifacts(profileFor(line, soci('0'.repeat(64)))).script;
          await node.writeFile('/root/bad.sh', bad, 0o755);
          const refused = await node.exec('/root/bad.sh --strict');
          expect(refused.code).toBe(1);
          expect(refused.stderr).toMatch(/sha256 mismatch for .*expected 0{64}\); nothing installed/);
          expect(await node.exists('/usr/local/bin/soci-snapshotter-grpc')).toBe(false);
          for (const f of OUR_FILES) expect(await node.exists(f), f).toBe(false);

          // the right checksum: the release replaces the AMI's soci through a drop-in
          const good = artifacts(profileFor(line, soci(release.sha256))).script;
          await node.writeFile('/root/good.sh', good, 0o755);
          const ok = await node.exec('/root/good.sh --strict');
          expect(ok.code, ok.stderr).toBe(0);
          expect(ok.stderr).toMatch(/the AMI's soci-snapshotter \(absent\) cannot run mode lazy; using release 0\.15\.0/);
          expect(await node.run('/usr/local/bin/soci-snapshotter-grpc --version')).toMatch(/v0\.15\.0/);
          expect((await node.unit('soci-snapshotter.service', 'ExecStart')).ExecStart).toContain('path=/usr/local/bin/soci-snapshotter-grpc');
          expect(server.requests()).toHaveLength(2);

          // once installed, no network is needed: a second run fetches nothing
          await server.stop();
          expect((await node.exec('/root/good.sh --strict')).code).toBe(0);

          // the wiring takes effect at the next boot
          await node.reboot();
          expect(await kubelet(node)).toMatchObject({ ok: true, snapshotter: 'soci' });
          expect(await node.run('systemctl show -p MainPID --value soci-snapshotter.service | xargs -I{} readlink /proc/{}/exe')).toBe(
            '/usr/local/bin/soci-snapshotter-grpc\n',
          );
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('D1: reads containerd-version.txt as nodeadm does: the whole --version line, with or without a leading v', async () => {
      const { script } = artifacts(profileFor(line, '{ mode: parallel, source: ami, auth: none }'));
      await withNode({ containerd: line, name: `d1-${line}` }, async (node) => {
        // the AMI's line (its package prints no v), as the harness writes it
        expect(await node.readFile('/etc/eks/containerd-version.txt')).toMatch(/^containerd github\.com\/containerd\/containerd(\/v2)? \d+\.\d+\.\d+ [0-9a-f]{40}\n$/);
        await node.writeFile('/root/install.sh', script, 0o755);
        const ami = await node.exec('/root/install.sh --strict');
        expect(ami.stderr).not.toMatch(/runs here/);
        expect(ami.code, ami.stderr).toBe(0);
        // an upstream build's line, with its leading v (what `containerd --version` prints on this node)
        const upstreamLine = await node.run('containerd --version');
        expect(upstreamLine).toMatch(/ v\d+\.\d+\.\d+ /);
        await node.writeFile('/etc/eks/containerd-version.txt', upstreamLine);
        const upstream = await node.exec('/root/install.sh --strict');
        expect(upstream.stderr).not.toMatch(/runs here/);
        expect(upstream.code, upstream.stderr).toBe(0);
      });
    });

    it('D3: a settings change restarts soci alone; containerd keeps running, never restarted', async () => {
      const { userData } = artifacts(profileFor(line, '{ mode: parallel, source: ami, auth: none }'));
      const { script } = artifacts(profileFor(line, '{ mode: parallel, source: ami, auth: none, metricsAddress: "localhost:8001" }'));
      await withNode({ containerd: line, name: `d3-restart-${line}`, userData }, async (node) => {
        expect(await node.isActive('soci-snapshotter.service')).toBe('active');
        const before = await invocations(node);
        await node.writeFile('/root/install.sh', script, 0o755);
        const res = await node.exec('/root/install.sh --strict');
        expect(res.code, res.stderr).toBe(0);
        expect(res.stderr).toMatch(/wrote \/etc\/soci-snapshotter-grpc\/config\.toml/);
        // right after the script, nothing else touched
        const after = await invocations(node);
        expect(after['soci-snapshotter.service']).not.toBe(before['soci-snapshotter.service']);
        expect(await node.isActive('soci-snapshotter.service')).toBe('active');
        expect(after['containerd.service']).toBe(before['containerd.service']);
        expect(await node.isActive('containerd.service')).toBe('active');
        expect(after['kubelet.service']).toBe(before['kubelet.service']);
      });
    });

    it('a profile for the other containerd major is refused on the node', async () => {
      const other = line === '1.7' ? '2' : '1.7';
      const { script } = artifacts(profileFor(other, '{ mode: lazy, source: ami, auth: none }'));
      await withNode({ containerd: line, name: `mismatch-${line}` }, async (node) => {
        await node.writeFile('/root/install.sh', script, 0o755);
        const res = await node.exec('/root/install.sh --strict');
        expect(res.code).toBe(1);
        expect(res.stderr).toMatch(new RegExp(`containerd ${line}\\.[\\d.]+ runs here, but this profile was generated for containerd ${other}`));
        for (const f of OUR_FILES) expect(await node.exists(f), f).toBe(false);
      });
    });
  });
}
