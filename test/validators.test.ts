/**
 * Proves that each real validator in test/support/ runs on this machine AND reports failures.
 * Nothing here skips: a missing tool fails the test with "run scripts/setup-test-tools.sh".
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load as tomlLoad } from 'js-toml';
import { describe, expect, it } from 'vitest';
import {
  CONTAINERD_LINES,
  configDump,
  containerdBinary,
  containerdVersion,
  ctrBinary,
  getPath,
  mergeLikeNodeadm,
  parsePluginsLs,
  startContainerd,
  type ContainerdLine,
} from './support/containerd.js';
import { REPO_ROOT, requireExecutable, requireOnPath } from './support/exec.js';
import { cloudInitParts, parseMimeWithPython } from './support/mime.js';
import { validateEC2NodeClass, validateEksctlClusterConfig, validateNodeConfig } from './support/schemas.js';
import { shellcheck } from './support/shellcheck.js';
import { sociConfigUnknownKeys, SOCI_DEFAULTS_FILE } from './support/soci.js';
import { STANDIN_UNITS, systemdVerify } from './support/systemd.js';

const SOCI_SOCK = '/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock';
const CRI_V1 = 'io.containerd.grpc.v1.cri';
const CRI_IMAGES_V3 = 'io.containerd.cri.v1.images';

/** containerd config v2 (read by 1.6, 1.7; migrated by 2.x) routing CRI to a soci proxy snapshotter */
function sociConfigV2(address = SOCI_SOCK): string {
  return `version = 2
[plugins."${CRI_V1}".containerd]
  snapshotter = "soci"
  disable_snapshot_annotations = false
  [plugins."${CRI_V1}".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
[proxy_plugins.soci]
  type = "snapshot"
  address = "${address}"
`;
}

/** containerd config v3 (2.x only) */
function sociConfigV3(address = SOCI_SOCK): string {
  return `version = 3
[plugins."${CRI_IMAGES_V3}"]
  snapshotter = "soci"
  disable_snapshot_annotations = false
[proxy_plugins.soci]
  type = "snapshot"
  address = "${address}"
`;
}

/** where the CRI default snapshotter lands in each line's dump */
function criSnapshotter(line: ContainerdLine, dump: Record<string, unknown> | undefined): unknown {
  return line === '2'
    ? getPath(dump, 'plugins', CRI_IMAGES_V3, 'snapshotter')
    : getPath(dump, 'plugins', CRI_V1, 'containerd', 'snapshotter');
}

describe('setup', () => {
  it('a missing tool is an error that names the setup script', () => {
    expect(() => requireExecutable('/nonexistent/containerd', 'containerd 9')).toThrow(
      /containerd 9 not found at \/nonexistent\/containerd: run scripts\/setup-test-tools\.sh/,
    );
    expect(() => requireOnPath('no-such-tool-xyz')).toThrow(/setup-test-tools\.sh/);
  });

  it('all three containerd lines and their ctr are installed, with recorded versions', () => {
    for (const line of CONTAINERD_LINES) {
      expect(containerdBinary(line)).toMatch(/containerd$/);
      expect(ctrBinary(line)).toMatch(/ctr$/);
      expect(containerdVersion(line).startsWith(line === '2' ? '2.' : `${line}.`)).toBe(true);
    }
  });
});

describe('containerd config dump', () => {
  it('each line parses a soci v2 config and shows the proxy plugin and snapshotter in its dump', async () => {
    const results = await Promise.all(CONTAINERD_LINES.map((l) => configDump(l, sociConfigV2())));
    results.forEach((r, i) => {
      const line = CONTAINERD_LINES[i]!;
      expect(r.ok, `${line}: ${r.stderr}`).toBe(true);
      expect(getPath(r.dump, 'proxy_plugins', 'soci', 'type'), line).toBe('snapshot');
      expect(getPath(r.dump, 'proxy_plugins', 'soci', 'address'), line).toBe(SOCI_SOCK);
      expect(criSnapshotter(line, r.dump), line).toBe('soci');
    });
    // 2.x migrated the v2 config to v3
    expect(getPath(results[2]!.dump, 'version')).toBe(3);
  });

  it('broken TOML fails on every line', async () => {
    const results = await Promise.all(CONTAINERD_LINES.map((l) => configDump(l, 'version = 2\n[plugins\nx = 1\n')));
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(r.stderr).not.toBe('');
    }
  });

  it('1.7 rejects version = 3; 1.6 reads it as v2 and ignores the v3 keys; 2.x reads it', async () => {
    const [r16, r17, r2] = await Promise.all(CONTAINERD_LINES.map((l) => configDump(l, sociConfigV3())));
    expect(r16!.ok).toBe(true);
    expect(getPath(r16!.dump, 'version')).toBe(2);
    expect(criSnapshotter('1.6', r16!.dump)).toBe('overlayfs');
    expect(r17!.ok).toBe(false);
    expect(r17!.stderr).toMatch(/version/);
    expect(r2!.ok, r2!.stderr).toBe(true);
    expect(criSnapshotter('2', r2!.dump)).toBe('soci');
  });

  it('2.x logs unknown keys; 1.x silently drops them (so tests must assert on the dump)', async () => {
    const typo = sociConfigV3().replace('disable_snapshot_annotations', 'disable_snapshot_anotations');
    const r2 = await configDump('2', typo);
    expect(r2.ok).toBe(true);
    expect(r2.stderr).toMatch(/Ignoring unknown key in TOML/);
    expect(r2.stderr).toMatch(/disable_snapshot_anotations/);
    expect(getPath(r2.dump, 'plugins', CRI_IMAGES_V3, 'disable_snapshot_annotations')).toBe(true); // default kept

    const r17 = await configDump('1.7', sociConfigV2().replace('disable_snapshot_annotations', 'disable_snapshot_anotations'));
    expect(r17.ok).toBe(true);
    expect(getPath(r17.dump, 'plugins', CRI_V1, 'containerd', 'disable_snapshot_annotations')).toBe(true);
  });
});

describe('mergeLikeNodeadm', () => {
  it('merges tables key by key; the fragment wins, false included; arrays are replaced', () => {
    const base = `version = 2
[a]
keep = "x"
flag = true
list = [1, 2, 3]
[a.inner]
n = 1
`;
    const frag = `[a]
flag = false
list = [9]
[a.inner]
m = 2
[b]
new = "y"
`;
    const merged = tomlLoad(mergeLikeNodeadm(base, frag));
    expect(JSON.parse(JSON.stringify(merged))).toEqual({
      version: 2,
      a: { keep: 'x', flag: false, list: [9], inner: { n: 1, m: 2 } },
      b: { new: 'y' },
    });
  });

  const fixtureDir = join(REPO_ROOT, 'test', 'fixtures', 'nodeadm');
  const fixtures = readdirSync(fixtureDir).filter((f) => f.endsWith('.toml'));

  it('a soci fragment merged into every nodeadm fixture lands in the real dump, runtimes intact', async () => {
    expect(fixtures.length).toBe(10);
    const jobs = fixtures.map(async (f) => {
      const base = readFileSync(join(fixtureDir, f), 'utf8');
      const v3 = /^version\s*=\s*3/m.test(base);
      const line: ContainerdLine = f.startsWith('containerdv1-') ? '1.7' : '2';
      const merged = mergeLikeNodeadm(base, v3 ? sociConfigV3() : sociConfigV2().replace(/\[plugins\.".*runtimes\.runc\]\n.*\n/, ''));
      const r = await configDump(line, merged);
      expect(r.ok, `${f}: ${r.stderr}`).toBe(true);
      expect(criSnapshotter(line, r.dump), f).toBe('soci');
      expect(getPath(r.dump, 'proxy_plugins', 'soci', 'address'), f).toBe(SOCI_SOCK);
      // nodeadm's runtimes (runc, nvidia, neuron) survive the merge
      const baseRuntimes = Object.keys(
        (getPath(tomlLoad(base), 'plugins', v3 ? 'io.containerd.cri.v1.runtime' : CRI_V1, 'containerd', 'runtimes') as object) ?? {},
      );
      const dumpRuntimes = getPath(r.dump, 'plugins', line === '2' ? 'io.containerd.cri.v1.runtime' : CRI_V1, 'containerd', 'runtimes');
      expect(baseRuntimes.length, f).toBeGreaterThan(0);
      for (const rt of baseRuntimes) expect(Object.keys(dumpRuntimes as object), f).toContain(rt);
    });
    await Promise.all(jobs);
  });
});

describe('containerd running', () => {
  it.each(CONTAINERD_LINES)(
    'containerd %s loads the soci proxy snapshotter and dials its socket',
    async (line) => {
      const sockDir = mkdtempSync(join(tmpdir(), 'soci-sock-'));
      const sock = join(sockDir, 'soci.sock');
      const seen: Buffer[] = [];
      // not a gRPC server: it records what containerd sends (an HTTP/2 preface) and hangs up
      const server: Server = createServer((c) => {
        c.on('data', (b) => {
          seen.push(b);
          c.destroy();
        });
        c.on('error', () => {});
      });
      await new Promise<void>((r) => server.listen(sock, r));
      const ctd = await startContainerd(line, line === '2' ? sociConfigV3(sock) : sociConfigV2(sock));
      try {
        const ls = await ctd.ctr(['plugins', 'ls']);
        expect(ls.code, ls.stderr).toBe(0);
        const soci = parsePluginsLs(ls.stdout).find((p) => p.type === 'io.containerd.snapshotter.v1' && p.id === 'soci');
        expect(soci, ls.stdout).toBeDefined();
        expect(soci!.status).toBe('ok');
        expect(ls.stdout).toMatch(/io\.containerd\.snapshotter\.v1\s+soci\s+.*\s+ok/);

        // a call through the snapshotter reaches our socket (the call itself fails: nobody answers gRPC).
        // `snapshots ls` would exit 0 here (errors swallowed): prepare reports it
        const call = await ctd.ctr(['snapshots', '--snapshotter', 'soci', 'prepare', 'probe', '']);
        expect(call.code).toBe(1);
        expect(call.stderr).toMatch(/preface|unavailable|connection|transport|closed|EOF|deadline/i);
        // The preface may land a moment after ctr gave up (the dial and the error race under load).
        for (let i = 0; i < 50 && !Buffer.concat(seen).toString('latin1').includes('PRI * HTTP/2.0'); i++) await new Promise((r) => setTimeout(r, 100));
        expect(Buffer.concat(seen).toString('latin1')).toContain('PRI * HTTP/2.0');
      } finally {
        await ctd.stop();
        await new Promise<void>((r) => server.close(() => r()));
        rmSync(sockDir, { recursive: true, force: true });
      }
      expect(existsSync(ctd.dir)).toBe(false);
      expect(() => process.kill(ctd.pid, 0)).toThrow();
    },
    30_000,
  );

  it('startContainerd reports a config containerd refuses', async () => {
    await expect(startContainerd('1.7', sociConfigV3())).rejects.toThrow(/exited early/);
  }, 30_000);
});

describe('systemd-analyze verify', () => {
  const service = `[Unit]
Description=soci snapshotter (test unit)
After=network-online.target
Before=containerd.service

[Service]
Type=notify
ExecStart=/usr/local/bin/soci-snapshotter-grpc --address /run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock
Restart=always

[Install]
WantedBy=multi-user.target
`;
  const dropIn = `[Unit]
Wants=soci-snapshotter.service
After=soci-snapshotter.service
`;

  it('passes a good unit and a drop-in for a stand-in unit', async () => {
    const r = await systemdVerify(
      {
        '/etc/systemd/system/soci-snapshotter.service': service,
        '/etc/systemd/system/containerd.service.d/10-soci.conf': dropIn,
      },
      ['soci-snapshotter.service', 'containerd.service'],
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('the stand-ins themselves verify cleanly', async () => {
    const r = await systemdVerify({}, Object.keys(STANDIN_UNITS));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('reports a typo in a directive on stderr', async () => {
    const r = await systemdVerify(
      { '/etc/systemd/system/soci-snapshotter.service': service.replace('Restart=always', 'Restrat=always') },
      ['soci-snapshotter.service'],
    );
    expect(r.stderr).toMatch(/Unknown key 'Restrat'/);
  });

  it('reports a missing dependency and a missing executable', async () => {
    const r = await systemdVerify(
      { '/etc/systemd/system/x.service': service.replace('After=network-online.target', 'Requires=nothere.service') },
      ['x.service'],
      { stubGivenUnits: false },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nothere\.service/);
    expect(r.stderr).toMatch(/\/usr\/local\/bin\/soci-snapshotter-grpc is not executable/);
  });
});

describe('shellcheck', () => {
  it('passes a clean script', async () => {
    const r = await shellcheck('#!/bin/bash\nset -euo pipefail\nname="$1"\necho "hello ${name}"\n');
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('flags an unquoted variable', async () => {
    const r = await shellcheck('#!/bin/bash\ndir=$1\nrm -rf $dir/cache\n');
    expect(r.code).toBe(1);
    expect(r.findings.map((f) => f.code)).toContain('SC2086');
    expect(r.findings.find((f) => f.code === 'SC2086')!.line).toBe(3);
  });
});

describe('MIME user data', () => {
  const mime = (close: boolean): string =>
    [
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="//"',
      '',
      '--//',
      'Content-Type: application/node.eks.aws',
      '',
      'apiVersion: node.eks.aws/v1alpha1',
      'kind: NodeConfig',
      'spec: {}',
      '',
      '--//',
      'Content-Type: text/x-shellscript; charset="us-ascii"',
      '',
      '#!/bin/bash',
      'echo hi',
      '',
      close ? '--//--' : '',
      '',
    ].join('\n');

  it('python reads both parts of good MIME without defects', async () => {
    const r = await parseMimeWithPython(mime(true));
    expect(r.defects).toEqual([]);
    expect(r.boundary).toBe('//');
    expect(r.parts.map((p) => p.contentType)).toEqual(['application/node.eks.aws', 'text/x-shellscript']);
    expect(r.parts[0]!.body).toContain('kind: NodeConfig');
    expect(r.parts[1]!.headers['Content-Type']).toContain('us-ascii');
  });

  it('python reports a missing close boundary as a defect', async () => {
    const r = await parseMimeWithPython(mime(false));
    expect(r.defects).toContain('CloseBoundaryNotFoundDefect');
  });

  it("cloud-init runs the script part and logs the NodeConfig part as unhandled", async () => {
    const r = await cloudInitParts(mime(true));
    expect(r.parts.map((p) => [p.contentType, p.handled])).toEqual([
      ['application/node.eks.aws', false],
      ['text/x-shellscript', true],
    ]);
    expect(r.unhandled).toHaveLength(1);
    expect(r.unhandled[0]).toMatch(/Unhandled unknown content-type \(application\/node\.eks\.aws\)/);
  });

  it('cloud-init reads a part whose content type is wrong as that type', async () => {
    const r = await cloudInitParts(mime(true).replace('text/x-shellscript', 'text/x-shelscript'));
    expect(r.parts[1]!.handled).toBe(false);
    expect(r.unhandled.join('\n')).toMatch(/text\/x-shelscript/);
  });
});

describe('schemas', () => {
  const nodeConfig = {
    apiVersion: 'node.eks.aws/v1alpha1',
    kind: 'NodeConfig',
    spec: {
      cluster: {
        name: 'c',
        apiServerEndpoint: 'https://example.com',
        certificateAuthority: 'Y2VydA==',
        cidr: '10.100.0.0/16',
      },
      containerd: { config: '[plugins."io.containerd.grpc.v1.cri".containerd]\nsnapshotter = "soci"\n' },
      kubelet: { config: { maxPods: 110, shutdownGracePeriod: '30s' }, flags: ['--node-labels=a=b'] },
      featureGates: { InstanceIdNodeName: true },
    },
  };

  it('accepts a valid NodeConfig (kubelet.config scalars included)', () => {
    expect(validateNodeConfig(nodeConfig)).toEqual([]);
  });

  it('rejects a typo in a NodeConfig key, a wrong type, bad base64 and a wrong kind', () => {
    const typo = structuredClone(nodeConfig) as { spec: Record<string, unknown> };
    typo.spec.contianerd = typo.spec.containerd;
    delete typo.spec.containerd;
    expect(validateNodeConfig(typo).join('\n')).toMatch(/\/spec must NOT have additional properties 'contianerd'/);

    const nested = structuredClone(nodeConfig);
    (nested.spec.containerd as Record<string, unknown>).cofnig = 'x';
    expect(validateNodeConfig(nested).join('\n')).toMatch(/cofnig/);

    const wrongType = structuredClone(nodeConfig);
    (wrongType.spec.kubelet as Record<string, unknown>).flags = '--x';
    expect(validateNodeConfig(wrongType).join('\n')).toMatch(/\/spec\/kubelet\/flags must be array/);

    const badCa = structuredClone(nodeConfig);
    badCa.spec.cluster.certificateAuthority = 'not base64!';
    expect(validateNodeConfig(badCa).join('\n')).toMatch(/certificateAuthority must match format "byte"/);

    expect(validateNodeConfig({ ...nodeConfig, kind: 'NodeConf' }).join('\n')).toMatch(/\/kind must be equal to one of/);
  });

  const nodeClass = {
    apiVersion: 'karpenter.k8s.aws/v1',
    kind: 'EC2NodeClass',
    metadata: { name: 'soci' },
    spec: {
      role: 'KarpenterNodeRole',
      amiSelectorTerms: [{ alias: 'al2023@latest' }],
      subnetSelectorTerms: [{ tags: { 'karpenter.sh/discovery': 'c' } }],
      securityGroupSelectorTerms: [{ tags: { 'karpenter.sh/discovery': 'c' } }],
      userData: 'MIME-Version: 1.0\n',
    },
  };

  it('EC2NodeClass: accepts a valid one, rejects a typo and a missing required field', () => {
    expect(validateEC2NodeClass(nodeClass)).toEqual([]);
    expect(validateEC2NodeClass({ ...nodeClass, spec: { ...nodeClass.spec, usrData: 'x' } }).join('\n')).toMatch(/usrData/);
    const { subnetSelectorTerms: _, ...noSubnets } = nodeClass.spec;
    expect(validateEC2NodeClass({ ...nodeClass, spec: noSubnets }).join('\n')).toMatch(/subnetSelectorTerms/);
  });

  const clusterConfig = {
    apiVersion: 'eksctl.io/v1alpha5',
    kind: 'ClusterConfig',
    metadata: { name: 'c', region: 'eu-west-1' },
    managedNodeGroups: [{ name: 'ng', amiFamily: 'AmazonLinux2023', desiredCapacity: 1 }],
  };

  it('eksctl ClusterConfig: accepts a valid one, rejects a typo', () => {
    expect(validateEksctlClusterConfig(clusterConfig)).toEqual([]);
    const typo = { ...clusterConfig, managedNodeGroups: [{ name: 'ng', amiFamly: 'AmazonLinux2023' }] };
    expect(validateEksctlClusterConfig(typo).join('\n')).toMatch(/amiFamly/);
  });
});

describe('soci config keys', () => {
  it('the defaults file has no unknown keys; the map-valued tables are allowed', () => {
    expect(sociConfigUnknownKeys(readFileSync(SOCI_DEFAULTS_FILE, 'utf8'))).toEqual([]);
    const ok = `[pull_modes.soci_v2]
enable = true
[pull_modes.parallel_pull_unpack]
enable = true
[pull_modes.parallel_pull_unpack.decompress_streams."gzip"]
path = "/usr/bin/unpigz"
args = ["-d", "-c"]
[[resolver.host."docker.io".mirrors]]
host = "mirror.example.com"
insecure = false
request_timeout_sec = 5
`;
    expect(sociConfigUnknownKeys(ok)).toEqual([]);
  });

  it('lists every unknown key path', () => {
    const bad = `metadata_stor = "db"
[fuse]
attr_timout = 1
[pull_modes.parallel_pull_unpack.decompress_streams.gzip]
pth = "/usr/bin/unpigz"
[[resolver.host."docker.io".mirrors]]
hots = "mirror.example.com"
[nope]
x = 1
`;
    expect(sociConfigUnknownKeys(bad).sort()).toEqual(
      [
        'metadata_stor',
        'fuse.attr_timout',
        'pull_modes.parallel_pull_unpack.decompress_streams.gzip.pth',
        'resolver.host."docker.io".mirrors[0].hots',
        'nope',
      ].sort(),
    );
  });
});
