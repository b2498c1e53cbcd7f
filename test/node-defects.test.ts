// Node-script defects of issue 10 on a booted fake EKS node (test/harness/; stand-ins named in
// test/standins/). Each test asserts the state our script leaves, with nothing touched in between.
// Slow: run one at a time (-t 'D18').
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { render } from '../src/index.js';
import { liveScript, uninstallScript } from '../src/artifacts/node-script.js';
import { mergeUserData } from '../src/mime/merge.js';
import { ensureHarness, withNode, type FakeNode } from './harness/index.js';

const PARALLEL = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: parallel, source: ami, auth: none }\n';
const artifact = (profile: string, path: string) => render(profile, 'profile').artifacts.find((a) => a.path === path)!.content;
const invocation = async (node: FakeNode, unit: string) => (await node.unit(unit, 'InvocationID')).InvocationID;

beforeAll(async () => {
  await ensureHarness();
}, 900_000);

describe('booted node, containerd 2', { timeout: 300_000 }, () => {
  it('D6: on an AMI whose nodeadm-run reads no drop-ins, the install fails and says why instead of being ignored', async () => {
    // awslabs/amazon-eks-ami 6c054415 (2024-02-12; replaced by 0d558ec3, first in v20251023):
    // templates/al2023/runtime/rootfs/etc/systemd/system/nodeadm-run.service, byte for byte.
    const oldUnit = [
      '[Unit]',
      'Description=EKS Nodeadm Run',
      'Documentation=https://github.com/awslabs/amazon-eks-ami',
      '# start after cloud-init, in order to pickup changes the',
      '# user may have applied via cloud-init scripts',
      'After=nodeadm-config.service cloud-final.service',
      'Requires=nodeadm-config.service',
      '',
      '[Service]',
      'Type=oneshot',
      'ExecStart=/usr/bin/nodeadm init --skip config',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n');
    const userData = artifact('node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: lazy, source: ami, auth: none }\n', 'user-data.mime');
    // (the node's /usr/bin/nodeadm is the real one: with no sources it reads user data from IMDS only)
    const files = { '/etc/systemd/system/nodeadm-run.service': oldUnit };
    await withNode({ containerd: '2', name: 'd6-old-nodeadm', userData, files }, async (node) => {
      const journal = await node.journal();
      expect(journal).toMatch(/soci-installer: this node's nodeadm-run\.service does not read \/etc\/eks\/nodeadm\.d .*use soci\.wiring: user-data/);
      expect(journal).not.toMatch(/soci-installer: done:/);
      expect(await node.exists('/etc/eks/nodeadm.d/50-soci-installer.yaml')).toBe(false);
      expect(await node.readFile('/var/lib/soci-installer/last-failure')).toMatch(/does not read \/etc\/eks\/nodeadm\.d/);
      expect(await node.kubeletStatus()).toMatchObject({ ok: true, snapshotter: 'overlayfs' });
    });
  });

  it("nodeadm's FastImagePull gate in the user's own NodeConfig: the install refuses instead of being overwritten at the next boot", async () => {
    // The user's launch template already enables the gate (as EKS documents it); our parts are merged in.
    const theirs = 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    FastImagePull: true\n';
    const ours = artifact('node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: lazy, source: ami, auth: none }\n', 'user-data.mime');
    const userData = mergeUserData(Buffer.from(theirs), ours).mime;
    await withNode({ containerd: '2', name: 'fast-image-pull-gate', userData }, async (node) => {
      // nodeadm-config cached the user data's NodeConfig, gate included
      expect(await node.readFile('/run/eks/nodeadm/config.json')).toMatch(/"FastImagePull":\s*true/);
      const journal = await node.journal();
      expect(journal).toMatch(/soci-installer: nodeadm's FastImagePull gate is on in this node's NodeConfig \(user data and \/etc\/eks\/nodeadm\.d, merged as nodeadm-run reads them\)/);
      expect(journal).not.toMatch(/soci-installer: done:/);
      expect(await node.exists('/etc/eks/nodeadm.d/50-soci-installer.yaml')).toBe(false);
      expect(await node.exists('/etc/soci-snapshotter-grpc/config.toml')).toBe(false);
      // (this machine has 2 CPUs: nodeadm ignores the gate below 4 vCPU, so the node joins on overlayfs)
      expect(await node.kubeletStatus()).toMatchObject({ ok: true, snapshotter: 'overlayfs' });
    });
  });

  it("nodeadm's FastImagePull gate as nodeadm reads it: live.sh refuses it in a drop-in of any name nodeadm reads, in any YAML 1.1 spelling, also where the AMI's nodeadm has no `config dump`; a later drop-in's false turns it off; a drop-in nodeadm cannot read stops it before any change", async () => {
    const gate = (value: string) => `apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  featureGates:\n    FastImagePull: ${value}\n`;
    // nodeadm of AMIs before v20260107 (amazon-eks-ami c12de9a8 added `config dump`), a stand-in for its answer:
    // flaggy v1.8.0 (nodeadm/vendor/github.com/integrii/flaggy/subCommand.go, parse, at c12de9a8^) forwards the
    // unknown --config-source flags, finds no subcommand "dump" at position 1 of "config", prints these two lines
    // (the second on stdout) and exits 2.
    const oldNodeadm =
      '#!/bin/bash\nif [ "$1 $2" = "config dump" ]; then echo "config: No subcommand or positional value found at position 1." >&2; echo "Available subcommands: check"; exit 2; fi\nexec /usr/bin/nodeadm "$@"\n';
    await withNode({ containerd: '2', name: 'fast-image-pull-drop-ins' }, async (node) => {
      await node.writeFile('/root/live.sh', liveScript(render(PARALLEL, 'profile').plan), 0o755);
      await node.writeFile('/root/old/nodeadm', oldNodeadm, 0o755);
      for (const [file, text] of [
        ['10-gate.YAML', gate('yes')],
        ['.10-gate.json', '{"apiVersion":"node.eks.aws/v1alpha1","kind":"NodeConfig","spec":{"featureGates":{"FastImagePull":true}}}'],
        ['10-gate.Yml', gate('On')],
      ] as const) {
        await node.writeFile(`/etc/eks/nodeadm.d/${file}`, text);
        for (const path of ['/usr/sbin:/usr/bin:/sbin:/bin', '/root/old:/usr/sbin:/usr/bin:/sbin:/bin']) {
          const refused = await node.exec('/root/live.sh', { env: { PATH: path } });
          expect(refused.code, `${file} (PATH ${path})\n${refused.stderr}`).toBe(1);
          expect(refused.stderr, file).toMatch(/nodeadm's FastImagePull gate is on in this node's NodeConfig/);
          expect(await node.exists('/etc/eks/nodeadm.d/50-soci-installer.yaml'), file).toBe(false);
        }
        await node.run(['rm', `/etc/eks/nodeadm.d/${file}`]);
      }
      // A drop-in nodeadm cannot read (nodeadm-run would fail on it too): the install cannot tell, and stops before any change.
      await node.writeFile('/etc/eks/nodeadm.d/10-broken.yaml', 'apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec: [\n');
      const unread = await node.exec('/root/live.sh');
      expect(unread.code).toBe(1);
      expect(unread.stderr).toMatch(/nodeadm cannot read this node's NodeConfig \(nodeadm config dump: .*failed to parse config file 10-broken\.yaml.*\), so whether its FastImagePull gate is on is unknown/);
      expect(await node.exists('/etc/eks/nodeadm.d/50-soci-installer.yaml')).toBe(false);
      await node.run(['rm', '/etc/eks/nodeadm.d/10-broken.yaml']);
      // A later drop-in (nodeadm reads them in name order) turns the gate off: nodeadm reads false, and so does the install.
      await node.writeFile('/etc/eks/nodeadm.d/10-gate.yaml', gate('true'));
      await node.writeFile('/etc/eks/nodeadm.d/20-no-gate.yaml', gate('off'));
      const done = await node.exec('/root/live.sh', { timeoutMs: 240_000 });
      expect(done.code, done.stderr).toBe(0);
      expect(done.stderr).toMatch(/soci-installer: done: soci-snapshotter in parallel mode/);
      expect(await node.readFile('/etc/containerd/config.toml')).toContain('soci-snapshotter-grpc.sock');
    });
  });

  it('D18: a new generator version alone makes live mode restart nothing and forget no image', async () => {
    await withNode({ containerd: '2', name: 'd18-live-upgrade' }, async (node) => {
      await node.writeFile('/root/live.sh', liveScript(render(PARALLEL, 'profile').plan), 0o755);
      const first = await node.exec('/root/live.sh', { timeoutMs: 240_000 });
      expect(first.code, first.stderr).toBe(0);
      const before = {
        containerd: await invocation(node, 'containerd.service'),
        soci: await invocation(node, 'soci-snapshotter.service'),
        images: await node.run('ctr -n k8s.io images ls -q'),
      };

      // The same profile rendered by a newer soci-installer: only the stamps differ.
      vi.resetModules();
      vi.doMock('../src/version.js', () => ({ GENERATOR_VERSION: '0.1.1-next' }));
      const next = (await import('../src/index.js')).render(PARALLEL, 'profile');
      vi.doUnmock('../src/version.js');
      await node.writeFile('/root/live.sh', liveScript(next.plan), 0o755);
      const second = await node.exec('/root/live.sh', { timeoutMs: 240_000 });
      expect(second.code, second.stderr).toBe(0);
      expect({
        containerd: await invocation(node, 'containerd.service'),
        soci: await invocation(node, 'soci-snapshotter.service'),
        images: await node.run('ctr -n k8s.io images ls -q'),
      }).toEqual(before);
      // the files carry the new stamp, and the node says which version it runs
      expect(await node.readFile('/etc/systemd/system/containerd.service.d/20-soci-installer.conf')).toContain('0.1.1-next');
      expect(await node.readFile('/var/lib/soci-installer/installed')).toContain('soci-installer 0.1.1-next');
    });
  });

  it('D19: uninstall refuses while containers use the soci snapshotter, and goes ahead once they are gone', async () => {
    const r = render(PARALLEL, 'profile');
    const userData = r.artifacts.find((a) => a.path === 'user-data.mime')!.content;
    await withNode({ containerd: '2', name: 'd19-uninstall-busy', userData }, async (node) => {
      expect(await node.journal()).toMatch(/soci-installer: done: soci-snapshotter in parallel mode/);
      // A workload on a soci snapshot, and the uninstall DaemonSet's own pod (its namespace's containers go with it).
      await node.run('ctr -n k8s.io containers create --snapshotter soci localhost/kubernetes/pause:latest busy-1');
      await node.run(
        `ctr -n k8s.io containers create --snapshotter soci --label io.kubernetes.pod.namespace=${r.plan.daemonset.namespace} localhost/kubernetes/pause:latest uninstall-pod`,
      );
      await node.writeFile('/root/uninstall.sh', uninstallScript(r.plan), 0o755);
      const refused = await node.exec('/root/uninstall.sh');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/1 container\(s\) use the soci snapshotter \(busy-1\): drain the node/);
      expect(await node.exists('/var/lib/soci-installer/original')).toBe(true);
      expect(await node.exists('/etc/eks/nodeadm.d/50-soci-installer.yaml')).toBe(true);
      expect(await node.readFile('/etc/containerd/config.toml')).toContain('soci-snapshotter-grpc.sock');

      await node.run('ctr -n k8s.io containers rm busy-1');
      const done = await node.exec('/root/uninstall.sh');
      expect(done.code, done.stderr).toBe(0);
      expect(await node.exists('/var/lib/soci-installer')).toBe(false);
    });
  });

  it('D21: the bake stops auditd before it empties the audit log, and starts it again', async () => {
    // STAND-IN for AL2023's auditd (audit package): a daemon that holds /var/log/audit/audit.log open
    // and appends to it; each line carries the service's invocation id.
    const auditd = [
      '[Unit]',
      'Description=auditd (test stand-in)',
      '[Service]',
      "ExecStart=/bin/bash -c 'mkdir -p /var/log/audit; exec 3>>/var/log/audit/audit.log; while :; do echo \"type=DAEMON_TEST inv=$$INVOCATION_ID\" >&3; sleep 0.1; done'",
      '',
    ].join('\n');
    await withNode({ containerd: '2', name: 'd21-auditd', files: { '/etc/systemd/system/auditd.service': auditd } }, async (node) => {
      await node.run('systemctl start auditd.service');
      const old = await invocation(node, 'auditd.service');
      await node.waitFor(`grep -q "inv=${old}" /var/log/audit/audit.log`);
      await node.writeFile('/root/bake.sh', artifact('node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: lazy, source: ami, auth: none }\n', 'packer/files/bake.sh'), 0o755);
      const bake = await node.exec('/root/bake.sh', { timeoutMs: 120_000 });
      expect(bake.code, bake.stderr).toBe(0);
      const now = await invocation(node, 'auditd.service');
      expect(now).not.toBe(old);
      expect((await node.unit('auditd.service', 'ActiveState')).ActiveState).toBe('active');
      // Nothing the builder's auditd wrote is left; what is there, the restarted one wrote.
      const log = await node.readFile('/var/log/audit/audit.log');
      expect(log).not.toContain(old);
      for (const line of log.split('\n').filter(Boolean)) expect(line).toContain(`inv=${now}`);
      expect(bake.stderr).toMatch(/bake: emptied \/var\/log\/audit\/audit\.log/);
    });
  });

  it('D10: containerd gets the proxy environment and the mirrors (hosts.toml) on the node; a user\'s own hosts.toml is not replaced', async () => {
    const profile =
      'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci:\n  mode: parallel\n  source: ami\n  auth: none\n' +
      '  mirrors: [{ registry: docker.io, endpoints: [{ host: mirror.example.com }] }, { registry: quay.io, endpoints: [{ host: "10.0.0.5:5000", insecure: true }] }]\n' +
      '  proxy: { https: "http://proxy.example.com:3128", noProxy: [169.254.169.254] }\n';
    const r = render(profile, 'profile');
    const userData = r.artifacts.find((a) => a.path === 'user-data.mime')!.content;
    const hosts = (reg: string) => r.artifacts.find((a) => a.path === `rootfs/etc/containerd/certs.d/${reg}/hosts.toml`)!.content;
    await withNode({ containerd: '2', name: 'd10-proxy-mirrors', userData }, async (node) => {
      expect(await node.journal()).toMatch(/soci-installer: done: soci-snapshotter in parallel mode/);
      const env = (await node.unit('containerd.service', 'Environment')).Environment ?? '';
      expect(env).toContain('HTTPS_PROXY=http://proxy.example.com:3128');
      expect(env).toContain('NO_PROXY=169.254.169.254');
      expect(await node.readFile('/etc/containerd/certs.d/docker.io/hosts.toml')).toBe(hosts('docker.io'));
      expect(await node.readFile('/etc/containerd/certs.d/quay.io/hosts.toml')).toBe(hosts('quay.io'));

      // A node whose owner configured quay.io already: refused, their file kept, nothing of ours left.
      await node.writeFile('/root/install.sh', r.artifacts.find((a) => a.path === 'install.sh')!.content, 0o755);
      await node.writeFile('/root/uninstall.sh', uninstallScript(r.plan), 0o755);
      expect((await node.exec('/root/uninstall.sh')).code).toBe(0);
      const theirs = 'server = "https://quay.io"\n[host."https://quay-cache.internal"]\n  capabilities = ["pull"]\n';
      await node.writeFile('/etc/containerd/certs.d/quay.io/hosts.toml', theirs);
      const res = await node.exec('/root/install.sh --strict');
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/\/etc\/containerd\/certs\.d\/quay\.io\/hosts\.toml exists with other content/);
      expect(await node.readFile('/etc/containerd/certs.d/quay.io/hosts.toml')).toBe(theirs);
      expect(await node.exists('/etc/containerd/certs.d/docker.io/hosts.toml')).toBe(false);
    });
  });
});
