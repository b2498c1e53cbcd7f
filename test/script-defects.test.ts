// Node-script defects of issue 10 that need no booted node: the generated scripts run for real in a
// scratch root (chroot, test/support/scratch-root.ts) or a private mount namespace, against the real
// containerd 2.2.4, Debian's docker-registry and skopeo. Booted-node ones: test/node-defects.test.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { render, PATHS } from '../src/index.js';
import { requireOnPath, run } from './support/exec.js';
import { makeScratchRoot, type ScratchRoot } from './support/scratch-root.js';
import { shellcheck } from './support/shellcheck.js';
import { upstreamBin } from './support/upstream.js';

const roots: ScratchRoot[] = [];
const temps: string[] = [];
afterAll(() => {
  roots.forEach((r) => r.remove());
  temps.forEach((d) => rmSync(d, { recursive: true, force: true }));
});
function scratch(opts: Partial<Parameters<typeof makeScratchRoot>[0]> = {}): ScratchRoot {
  const root = makeScratchRoot({ containerdVersion: '2.2.4', amiSociVersion: '0.15.0', ecrHelper: false, ...opts });
  roots.push(root);
  return root;
}
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
const file = (profile: string, path: string) => {
  const a = render(profile, 'profile').artifacts.find((x) => x.path === path);
  if (!a) throw new Error(`render wrote no ${path}`);
  return a.content;
};
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}
async function waitFor(check: () => Promise<boolean>, what: string, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A one-layer OCI image layout at `layout` (tag v1), built in `work`; returns the layer. */
function writeOciImage(layout: string, work: string): Buffer {
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(work, 'hello.txt'), 'pulled through the mirror\n');
  const tar = spawnSync('tar', ['-cf', '-', '-C', work, 'hello.txt']);
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
  const layer = tar.stdout;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(layer)}`, size: layer.length }],
    }),
  );
  for (const b of [layer, config, manifest]) writeFileSync(join(layout, 'blobs', 'sha256', sha(b)), b);
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
  );
  return layer;
}

describe('D20: root\'s Docker config', () => {
  const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: lazy, source: ami }\n';
  it('D20: an existing /root/.docker/config.json that merely mentions ecr-login is kept, and the install stops', async () => {
    const root = scratch({ ecrHelper: true }); // (so an install that needs docker-credential-ecr-login gets this far)
    const theirs = '{\n  "credsStore": "ecr-login",\n  "auths": { "registry.example.com": { "auth": "dXNlcjpwYXNz" } }\n}\n';
    mkdirSync(root.path('/root/.docker'), { recursive: true });
    writeFileSync(root.path('/root/.docker/config.json'), theirs, { mode: 0o600 });
    const res = await root.run(file(profile, 'install.sh'), ['--strict']);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/\/root\/\.docker\/config\.json exists with other content; .*merge these lines into it yourself, or remove it/);
    expect(readFileSync(root.path('/root/.docker/config.json'), 'utf8')).toBe(theirs);
    expect(existsSync(root.path(PATHS.nodeadmDropIn))).toBe(false);
  });

  it('D20: an identical file is accepted as it is', async () => {
    const root = scratch({ ecrHelper: true });
    const ours = file(profile, 'rootfs/root/.docker/config.json');
    mkdirSync(root.path('/root/.docker'), { recursive: true });
    writeFileSync(root.path('/root/.docker/config.json'), ours, { mode: 0o600 });
    const res = await root.run(file(profile, 'install.sh'), ['--strict']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toMatch(/wrote \/root\/\.docker/);
  });
});

describe('a rolled-back install keeps no uninstall records of its own', () => {
  const profile = (mirrors = '') => `node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: lazy, source: ami${mirrors} }\n`;
  const STATE = '/var/lib/soci-installer';
  // Every record under $STATE/original, as the node path it stands for (with .absent kept).
  const records = (root: ScratchRoot) =>
    root.snapshot().split('\n').filter((l) => l.startsWith(`${STATE}/original/`) && !/ dir \d+$/.test(l)).map((l) => l.split(' ')[0]!.slice(`${STATE}/original`.length)).sort();
  // Files, links and directories as they are but the failure note in the state folder. A /usr
  // directory the host's /usr has (the overlay's lower layer) shows in the upper layer once a file
  // was written in it (overlayfs copy-up): the node sees the same directory before and after.
  const copiedUp = (l: string) => ((m) => m !== null && existsSync(`/usr${m[1]}`))(/^usr-upper:(\/\S*) dir \d+$/.exec(l));
  const files = (snapshot: string) => snapshot.split('\n').filter((l) => !l.startsWith(`${STATE}/last-failure `) && !l.startsWith(`${STATE} `) && !copiedUp(l));
  // A failure after files are written (as when soci does not start on a booted node): systemctl
  // cannot enable a unit when its .wants directory is a file.
  const blockEnable = (root: ScratchRoot, wants: string) => {
    rmSync(root.path(`/etc/systemd/system/${wants}`), { recursive: true, force: true });
    writeFileSync(root.path(`/etc/systemd/system/${wants}`), 'in the way\n');
  };
  const unblockEnable = async (root: ScratchRoot, wants: string, units: string) => {
    rmSync(root.path(`/etc/systemd/system/${wants}`));
    if (units) expect((await root.run(`systemctl enable ${units}`, [])).code).toBe(0);
  };

  it("after a rollback, root's Docker config the owner then writes is refused, not overwritten, and the node is as before (the directories it made are gone too)", async () => {
    const root = scratch();
    blockEnable(root, 'sockets.target.wants');
    // Compared straight after the failed run, with nothing done in between.
    const before = root.snapshot();
    const failed = await root.run(file(profile(), 'install.sh'), ['--strict']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/wrote \/root\/\.docker\/config\.json/);
    expect(failed.stderr).toMatch(/rolling back: cannot enable soci-snapshotter\.socket/);
    expect(records(root)).toEqual([]);
    expect(files(root.snapshot())).toEqual(files(before));
    await unblockEnable(root, 'sockets.target.wants', '');

    const theirs = '{ "credsStore": "desktop" }\n';
    mkdirSync(root.path('/root/.docker'), { recursive: true });
    writeFileSync(root.path('/root/.docker/config.json'), theirs, { mode: 0o600 });
    const again = await root.run(file(profile(), 'install.sh'), ['--strict']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\/root\/\.docker\/config\.json exists with other content/);
    expect(readFileSync(root.path('/root/.docker/config.json'), 'utf8')).toBe(theirs);
  });

  it("a failed run after a successful install removes only its own records: the first install's stay for uninstall", async () => {
    const root = scratch();
    const first = await root.run(file(profile(), 'install.sh'), ['--strict']);
    expect(first.code, first.stderr).toBe(0);
    const installed = records(root);
    expect(installed).toContain('/root/.docker/config.json.absent');
    const afterFirst = root.snapshot();
    // The profile gains a mirror: the second run writes a new hosts.toml (a new record), then fails.
    const mirrors = ', mirrors: [{ registry: registry.example.com, endpoints: [{ host: "mirror.example.com" }] }]';
    await root.run('systemctl disable soci-installer-pause-import.service', []);
    blockEnable(root, 'containerd.service.wants');
    // Compared straight after the failed run, with nothing done in between.
    const beforeSecond = root.snapshot();
    const failed = await root.run(file(profile(mirrors), 'install.sh'), ['--strict']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/wrote \/etc\/containerd\/certs\.d\/registry\.example\.com\/hosts\.toml/);
    expect(failed.stderr).toMatch(/rolling back: cannot enable soci-installer-pause-import\.service/);
    expect(records(root)).toEqual(installed);
    expect(files(root.snapshot())).toEqual(files(beforeSecond));
    // And that is the first install's node, but for the unit the test disabled and blocked.
    await unblockEnable(root, 'containerd.service.wants', 'soci-installer-pause-import.service');
    expect(files(root.snapshot())).toEqual(files(afterFirst));
  });
});

describe('D21: the bake cleanup', () => {
  it('D21: the bake removes what EKS cleanup.sh removes (hostname, resolv.conf, dhclient leases, dnf history and cache) and empties the audit log', async () => {
    const root = scratch();
    const extra = ['/etc/hostname', '/etc/resolv.conf', '/var/lib/dhclient/dhclient--ens5.lease', '/var/lib/dhcp/dhclient.ens5.leases', '/var/lib/dnf/history.sqlite', '/var/lib/yum/history/2026-07-01/1', '/var/cache/dnf/amazonlinux/repodata.xml', '/var/log/audit/audit.log.1'];
    for (const p of extra) {
      mkdirSync(join(root.path(p), '..'), { recursive: true });
      writeFileSync(root.path(p), 'builder state\n');
    }
    const res = await root.run(file('node: { kubernetesVersion: "1.33" }\nsoci: { mode: lazy, source: ami, auth: none }\n', 'packer/files/bake.sh'), []);
    expect(res.code, res.stderr).toBe(0);
    for (const p of extra) expect(existsSync(root.path(p)), p).toBe(false);
    expect(existsSync(root.path('/var/cache/dnf'))).toBe(false);
    // EKS truncates the audit log (after stopping auditd) rather than removing it
    expect(readFileSync(root.path('/var/log/audit/audit.log'), 'utf8')).toBe('');
  });
});

describe('D22: messages and probes', () => {
  it('D22b: the fast-image-pull probe counts online memory blocks, as nodeadm does, not MemTotal', async () => {
    const script = file('node: { kubernetesVersion: "1.33" }\nsoci: { mode: fast-image-pull }\n', 'install.sh');
    // The chroot sees the host's /proc (MemTotal) and this sysfs tree: 64 of 96 memory blocks of
    // 128 MiB online (block_size_bytes is hex), so 8 GiB online, as nodeadm would count it.
    const root = scratch();
    const sys = root.path('/sys/devices/system/memory');
    mkdirSync(sys, { recursive: true });
    writeFileSync(join(sys, 'block_size_bytes'), '8000000\n');
    for (let i = 0; i < 96; i++) {
      mkdirSync(join(sys, `memory${i}`));
      writeFileSync(join(sys, `memory${i}`, 'online'), i < 64 ? '1\n' : '0\n');
    }
    // awk, as the AMI has it (the host's /usr/bin/awk points into /etc/alternatives, which the root lacks)
    mkdirSync(root.path('/etc/alternatives'), { recursive: true });
    symlinkSync(realpathSync('/usr/bin/awk'), root.path('/etc/alternatives/awk'));
    const memTotalMib = Math.floor(Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024);
    expect(memTotalMib).not.toBe(8192);
    const res = await root.run(script, []);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/ 8192 MiB/);
    expect(res.stderr).not.toContain(` ${memTotalMib} MiB`);
  });

  it('D22c: with wiring: user-data the rollback message does not claim overlayfs', async () => {
    const profile = (wiring: string) => `node: { kubernetesVersion: "1.33" }\nsoci: { mode: lazy, source: ami, auth: none, wiring: ${wiring} }\n`;
    // A containerd 1.7 node for a containerd 2 profile: the install fails and rolls back.
    const root = scratch({ containerdVersion: '1.7.27' });
    const userData = await root.run(file(profile('user-data'), 'install.sh'), []);
    expect(userData.code).toBe(0);
    expect(userData.stderr).toMatch(/soci-snapshotter NOT installed; the NodeConfig in this node's user data still points containerd at soci/);
    expect(userData.stderr).not.toMatch(/overlayfs/);
    const dropIn = await root.run(file(profile('drop-in'), 'install.sh'), []);
    expect(dropIn.stderr).toMatch(/soci-snapshotter NOT installed; containerd stays on its default snapshotter \(overlayfs\)/);
  });
});

describe('D6: nodeadm drop-ins', () => {
  // awslabs/amazon-eks-ami 6c054415 (2024-02-12, unchanged until 0d558ec3, first released in v20251023):
  // templates/al2023/runtime/rootfs/etc/systemd/system/nodeadm-run.service, byte for byte.
  const OLD_NODEADM_RUN = `[Unit]
Description=EKS Nodeadm Run
Documentation=https://github.com/awslabs/amazon-eks-ami
# start after cloud-init, in order to pickup changes the
# user may have applied via cloud-init scripts
After=nodeadm-config.service cloud-final.service
Requires=nodeadm-config.service

[Service]
Type=oneshot
ExecStart=/usr/bin/nodeadm init --skip config

[Install]
WantedBy=multi-user.target
`;
  it('D6: a bake from an AMI whose nodeadm-run reads no drop-ins fails and says why', async () => {
    const root = scratch({ nodeadmRunUnit: OLD_NODEADM_RUN });
    const res = await root.run(file('node: { kubernetesVersion: "1.33" }\nsoci: { mode: lazy, source: ami, auth: none }\n', 'packer/files/bake.sh'), []);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/nodeadm-run\.service does not read \/etc\/eks\/nodeadm\.d .*use soci\.wiring: user-data/);
    expect(existsSync(root.path(PATHS.nodeadmDropIn))).toBe(false);
  });
});

describe('D24: ECR credentials without a download at boot', () => {
  const profile = 'node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci: { mode: lazy, source: ami }\n';
  const ECR = '123456789012.dkr.ecr.us-west-2.amazonaws.com';
  // What nodeadm writes (amazon-eks-ami nodeadm/internal/kubelet/image-credential-provider.go at 81fec2e8,
  // generateImageCredentialProviderConfig, Kubernetes >= 1.32).
  const PROVIDER_CONFIG = JSON.stringify(
    {
      kind: 'CredentialProviderConfig',
      apiVersion: 'kubelet.config.k8s.io/v1',
      providers: [
        {
          name: 'ecr-credential-provider',
          matchImages: ['*.dkr.ecr.*.amazonaws.com', '*.dkr-ecr.*.on.aws', '*.dkr.ecr.*.amazonaws.com.cn', '*.dkr-ecr.*.on.amazonwebservices.com.cn', '*.dkr.ecr-fips.*.amazonaws.com', '*.dkr-ecr-fips.*.on.aws', '*.dkr.ecr.*.c2s.ic.gov', '*.dkr.ecr.*.sc2s.sgov.gov', '*.dkr.ecr.*.cloud.adc-e.uk', '*.dkr.ecr.*.csp.hci.ic.gov', '*.dkr.ecr.*.amazonaws.eu', 'public.ecr.aws', 'ecr-public.aws.com'],
          defaultCacheDuration: '12h0m0s',
          apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
        },
      ],
    },
    null,
    2,
  );
  // STAND-IN for kubelet's ECR credential provider (kubernetes/cloud-provider-aws cmd/ecr-credential-provider),
  // speaking kubelet's published types (k8s.io/kubelet/pkg/apis/credentialprovider/v1/types.go):
  // CredentialProviderRequest {apiVersion, kind, image} on stdin; CredentialProviderResponse
  // {apiVersion, kind, cacheKeyType, cacheDuration, auth: {<match>: {username, password}}} on stdout.
  const PROVIDER = `#!/bin/bash
set -euo pipefail
req=$(cat)
printf '%s\\n' "$req" >>/tmp/provider-requests
[ "$(jq -r .apiVersion <<<"$req")" = credentialprovider.kubelet.k8s.io/v1 ] || { echo "bad apiVersion" >&2; exit 1; }
[ "$(jq -r .kind <<<"$req")" = CredentialProviderRequest ] || { echo "bad kind" >&2; exit 1; }
image=$(jq -r .image <<<"$req")
registry=\${image%%/*}
jq -n --arg r "$registry" '{apiVersion: "credentialprovider.kubelet.k8s.io/v1", kind: "CredentialProviderResponse", cacheKeyType: "Registry", cacheDuration: "6h0m0s", auth: {($r): {username: "AWS", password: "token-for-\\($r)"}}}'
`;

  it('D24: the bridge is shellcheck-clean', async () => {
    expect((await shellcheck(file(profile, `rootfs${PATHS.ecrBridge}`))).output).toBe('');
  });

  it('D24: the default profile installs the bridge (no dnf, no download) and it answers docker\'s protocol from the AMI\'s ECR provider', async () => {
    const root = scratch();
    writeFileSync(root.path('/etc/eks/image-credential-provider/ecr-credential-provider'), PROVIDER, { mode: 0o755 });
    writeFileSync(root.path('/etc/eks/image-credential-provider/config.json'), PROVIDER_CONFIG);
    const install = await root.run(file(profile, 'install.sh'), ['--strict']);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/dnf|downloading/);
    expect(JSON.parse(readFileSync(root.path('/root/.docker/config.json'), 'utf8'))).toEqual({ credsStore: 'soci-ecr' });
    expect(statSync(root.path(PATHS.ecrBridge)).mode & 0o777).toBe(0o755);

    // docker-credential-helpers' client: `get`, the server URL on stdin (docker-credential-<credsStore> on PATH).
    const ask = async (url: string) =>
      root.run(`printf '%s' '${url}' | ${PATHS.ecrBridge} get; echo "rc=$?"`, []);
    const ecr = await ask(`https://${ECR}`);
    const [json, rc] = ecr.stdout.trim().split('\n');
    expect(rc).toBe('rc=0');
    expect(JSON.parse(json!)).toEqual({ ServerURL: `https://${ECR}`, Username: 'AWS', Secret: `token-for-${ECR}` });
    expect(JSON.parse(readFileSync(root.path('/tmp/provider-requests'), 'utf8').trim())).toEqual({
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderRequest',
      image: ECR,
    });
    // Not ECR: docker's "not found" text and exit 1, so soci goes on anonymously; the provider is not asked.
    for (const other of ['docker.io', 'registry-1.docker.io', `evil.${ECR}.example.com`]) {
      const res = await ask(other);
      expect(res.stdout.trim(), other).toBe('credentials not found in native keychain\nrc=1');
    }
    expect(readFileSync(root.path('/tmp/provider-requests'), 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it("D24: docker's own credential-helper client (in skopeo, as in soci's docker config keychain) takes the bridge's answers: credentials for a provider-matched registry, anonymous otherwise", { timeout: 180_000 }, async () => {
    const registryBin = requireOnPath('docker-registry');
    requireOnPath('skopeo');
    const dir = tempDir('soci-auth-');
    const port = await freePort();
    const registry = `127.0.0.1:${port}`;
    // bcrypt of "s3cret" (cost 4), as htpasswd -B writes it
    writeFileSync(join(dir, 'htpasswd'), 'soci:$2b$04$4RRP3gl/Y3ao1Egnu67Qr.pl7yGkEF0MtLnaQL4MRUrH6cgjFEzxW\n');
    writeFileSync(
      join(dir, 'registry.yml'),
      `version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: ${join(dir, 'store')} } }\nhttp: { addr: "${registry}" }\n` +
        `auth: { htpasswd: { realm: soci-test, path: ${join(dir, 'htpasswd')} } }\n`,
    );
    const reg = spawn(registryBin, ['serve', join(dir, 'registry.yml')], { stdio: 'ignore' });
    children.push(reg);
    try {
      await waitFor(async () => (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${registry}/v2/`])).stdout === '401', 'docker-registry');
      const image = join(dir, 'oci');
      writeOciImage(image, dir);
      const push = await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'soci:s3cret', `oci:${image}:v1`, `docker://${registry}/app:v1`], { timeoutMs: 60_000 });
      expect(push.code, push.stderr).toBe(0);

      const root = scratch();
      const install = await root.run(file(profile, 'install.sh'), ['--strict']);
      expect(install.code, install.stderr).toBe(0);
      // STAND-IN provider (kubelet's types, as above) that answers this registry with the registry's user.
      writeFileSync(root.path('/etc/eks/image-credential-provider/ecr-credential-provider'), PROVIDER.replace('username: "AWS", password: "token-for-\\($r)"', 'username: "soci", password: "s3cret"'), { mode: 0o755 });
      // skopeo (containers/image) runs docker-credential-<name> for credHelpers entries only, through the
      // same docker-credential-helpers client as docker's config library; the bridge is the same program.
      writeFileSync(root.path('/root/.docker/config.json'), JSON.stringify({ credHelpers: { [registry]: 'soci-ecr' } }));
      const inspect = () => root.run(`PATH=/usr/local/bin:$PATH skopeo --insecure-policy inspect --tls-verify=false docker://${registry}/app:v1`, []);

      // the provider's config matches the registry: the bridge answers with its credentials
      writeFileSync(root.path('/etc/eks/image-credential-provider/config.json'), PROVIDER_CONFIG.replace('"public.ecr.aws"', `"public.ecr.aws", "127.0.0.1:*"`));
      const authed = await inspect();
      expect(authed.code, authed.stderr).toBe(0);
      expect(JSON.parse(authed.stdout).Name).toBe(`${registry}/app`);

      // not matched: "credentials not found", so the client goes on anonymously (and the registry refuses it)
      writeFileSync(root.path('/etc/eks/image-credential-provider/config.json'), PROVIDER_CONFIG);
      const anonymous = await inspect();
      expect(anonymous.code).not.toBe(0);
      expect(anonymous.stderr).toMatch(/authentication required|unauthorized/i);
      expect(anonymous.stderr).not.toMatch(/credential helper|getting credentials|soci-ecr/i);
    } finally {
      reg.kill('SIGTERM');
    }
  });

  it('D24: a node without the ECR provider is refused before anything is written', async () => {
    const root = scratch();
    rmSync(root.path('/etc/eks/image-credential-provider'), { recursive: true });
    const res = await root.run(file(profile, 'install.sh'), ['--strict']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/ecr-credential-provider is missing: .*use soci\.auth: ecr-credential-helper-package/);
    expect(existsSync(root.path('/root/.docker/config.json'))).toBe(false);
  });
});

describe('D10: containerd gets soci\'s mirrors', () => {
  it('D10: the real containerd 2.2.4 pulls a mirrored registry through our hosts.toml (ctr --hosts-dir), from the mirror only', { timeout: 120_000 }, async () => {
    const registryBin = requireOnPath('docker-registry');
    const skopeo = requireOnPath('skopeo');
    const dir = tempDir('soci-mirror-');
    const port = await freePort();
    const mirror = `127.0.0.1:${port}`;
    // The registry nobody can reach (.invalid never resolves): only the mirror can answer.
    const upstream = 'registry.soci-installer.invalid';
    const profile = `node: { kubernetesVersion: "1.33", arch: x86_64 }\nsoci:\n  mode: lazy\n  source: ami\n  auth: none\n  mirrors: [{ registry: ${upstream}, endpoints: [{ host: "${mirror}", insecure: true }] }]\n`;
    const hostsToml = file(profile, `rootfs${PATHS.containerdHostsDir}/${upstream}/hosts.toml`);
    mkdirSync(join(dir, 'certs.d', upstream), { recursive: true });
    writeFileSync(join(dir, 'certs.d', upstream, 'hosts.toml'), hostsToml);
    // ... and the install writes it where the real nodeadm points CRI's config_path, for this user data.
    expect(file(profile, 'install.sh')).toContain(`put_own '/etc/containerd/certs.d/${upstream}/hosts.toml'`);
    writeFileSync(join(dir, 'user-data'), file(profile, 'user-data.mime'));
    mkdirSync(join(dir, 'nodeadm.d'));
    const rendered = await run(upstreamBin('nodeadm-render'), [
      '-c', `userdata:${join(dir, 'user-data')}`, '-c', `file://${join(dir, 'nodeadm.d')}/`,
      '--containerd-version', 'containerd github.com/containerd/containerd/v2 2.2.4 0123abcd',
    ]);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(rendered.stdout).toMatch(/^config_path = "\/etc\/containerd\/certs\.d:/m);

    // A real registry (Debian's docker-registry, distribution 2.8) as the mirror, on loopback.
    writeFileSync(
      join(dir, 'registry.yml'),
      `version: 0.1\nlog: { level: info, accesslog: { disabled: false } }\nstorage: { filesystem: { rootdirectory: ${join(dir, 'store')} } }\nhttp: { addr: "${mirror}" }\n`,
    );
    let registryLog = '';
    const reg = spawn(registryBin, ['serve', join(dir, 'registry.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(reg);
    reg.stdout!.on('data', (b: Buffer) => (registryLog += b.toString()));
    reg.stderr!.on('data', (b: Buffer) => (registryLog += b.toString()));
    await waitFor(async () => (await run('curl', ['-fsS', `http://${mirror}/v2/`])).code === 0, 'docker-registry');

    // A one-layer OCI image, pushed to the mirror with skopeo.
    const layout = join(dir, 'oci');
    writeOciImage(layout, dir);
    const push = await run(skopeo, ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${mirror}/app:v1`], { timeoutMs: 60_000 });
    expect(push.code, push.stderr).toBe(0);
    registryLog = '';

    // The real containerd 2.2.4, on a scratch root and socket.
    const containerd = upstreamBin('containerd-v2.2.4');
    const ctr = upstreamBin('ctr-v2.2.4');
    const sock = join(dir, 'containerd.sock');
    writeFileSync(
      join(dir, 'containerd.toml'),
      `version = 3\nroot = "${dir}/root"\nstate = "${dir}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images", "io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]\n[grpc]\n  address = "${sock}"\n[ttrpc]\n  address = "${sock}.ttrpc"\n`,
    );
    let ctrdLog = '';
    const ctrd = spawn(containerd, ['--config', join(dir, 'containerd.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(ctrd);
    ctrd.stderr!.on('data', (b: Buffer) => (ctrdLog += b.toString()));
    try {
      await waitFor(async () => (await run(ctr, ['--address', sock, 'version'])).code === 0, 'containerd 2.2.4');
      const fetch = await run(ctr, ['--address', sock, 'content', 'fetch', '--hosts-dir', join(dir, 'certs.d'), `${upstream}/app:v1`], { timeoutMs: 60_000 });
      expect(fetch.code, fetch.stdout + fetch.stderr + ctrdLog.slice(-2000)).toBe(0);
      // manifest, config and the layer (skopeo compressed it on the way: its digest is the mirror's)
      const content = await run(ctr, ['--address', sock, 'content', 'ls', '-q']);
      expect(content.stdout.trim().split('\n')).toHaveLength(3);
      // containerd asked the mirror, naming the registry it stands in for (docs/hosts.md: ?ns=)
      const ns = upstream.replace(/\./g, '\\.');
      expect(registryLog).toMatch(new RegExp(`"HEAD /v2/app/manifests/v1\\?ns=${ns} `));
      expect(registryLog).toMatch(new RegExp(`"GET /v2/app/blobs/sha256:[0-9a-f]{64}\\?ns=${ns} `));
    } finally {
      ctrd.kill('SIGTERM');
      reg.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      await run('bash', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | xargs -r -n1 umount -l`]);
    }
  });
});
