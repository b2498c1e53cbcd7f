// Every golden case's output, checked by the real tools: shellcheck, Python's email parser and
// cloud-init, the NodeConfig CRD schema, soci's own key list, and systemd-analyze verify.
// nodeadm's config phase, containerd and soci itself over every case: test/validators.test.ts.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { load as loadToml } from 'js-toml';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { render, PATHS, type Artifact } from '../src/index.js';
import { buildMime, CONTENT_TYPES } from '../src/mime/archive.js';
import { USER_DATA_LIMIT, USER_DATA_PLAIN, USER_DATA_WARN, userDataSizeWarnings } from '../src/artifacts/user-data.js';
import { caseProfile } from './golden.js';
import { run } from './support/exec.js';
import { cloudInitParts, parseMimeWithPython } from './support/mime.js';
import { validateNodeConfig } from './support/schemas.js';
import { shellcheck } from './support/shellcheck.js';
import { sociConfigUnknownKeys } from './support/soci.js';
import { systemdVerify } from './support/systemd.js';

const CASES = readdirSync(join(import.meta.dirname, 'cases')).sort();

function rendered(name: string) {
  const r = render(caseProfile(name), name);
  const file = (path: string) => r.artifacts.find((a) => a.path === path)?.content;
  const rootfs = r.artifacts.filter((a) => a.path.startsWith('rootfs/'));
  return { ...r, file, rootfs };
}

describe('node/*.sh, the parts the node scripts are assembled from', () => {
  it('are shellcheck-clean, each followed through the parts it sources (shellcheck -x, node/.shellcheckrc)', async () => {
    const dir = join(import.meta.dirname, '..', 'node');
    const files = readdirSync(dir).filter((f) => f.endsWith('.sh'));
    expect(files).toContain('lib.sh');
    const res = await run('shellcheck', ['-x', '-f', 'gcc', ...files], { cwd: dir });
    expect(res.stdout + res.stderr).toBe('');
    expect(res.code).toBe(0);
  });
});

describe.each(CASES)('%s', (name) => {
  const r = rendered(name);
  const { plan } = r;

  it('install.sh (and packer/files/bake.sh) are shellcheck-clean', async () => {
    for (const path of ['install.sh', 'packer/files/bake.sh']) {
      if (path !== 'install.sh' && !r.file(path)) continue;
      const res = await shellcheck(r.file(path)!);
      expect(res.output, path).toBe('');
      expect(res.code, path).toBe(0);
    }
  });

  it("user data parses with Python's email module and with cloud-init, and carries install.sh and the NodeConfig", async () => {
    const mime = r.file('user-data.mime')!;
    const py = await parseMimeWithPython(mime);
    expect(py.defects).toEqual([]);
    expect(py.isMultipart).toBe(true);
    if (plan.ami?.baked) {
      // Nodes of the baked AMI: the AMI holds the script's work; user data is the cluster block only.
      expect(py.parts.map((p) => p.contentType)).toEqual(['application/node.eks.aws']);
      expect(py.parts[0]!.body).toBe(r.file('nodeconfig.yaml'));
      expect(parseYaml(r.file('nodeconfig.yaml')!).spec).toEqual({ cluster: plan.cluster });
      const ci = await cloudInitParts(mime);
      expect(ci.parts.filter((p) => p.contentType === 'text/x-shellscript')).toEqual([]);
      return;
    }
    // The script part is install.sh while the whole user data stays within USER_DATA_PLAIN, else the
    // self-extracting wrapper of it (test/outputs.test.ts runs the wrapper); both plain text.
    expect(py.parts.map((p) => p.contentType)).toEqual(['text/x-shellscript', 'application/node.eks.aws']);
    expect(py.parts[1]!.body).toBe(r.file('nodeconfig.yaml'));
    const script = r.file('install.sh')!;
    const plain = buildMime([{ contentType: CONTENT_TYPES.shell, body: script }, { contentType: CONTENT_TYPES.nodeConfig, body: r.file('nodeconfig.yaml')! }]);
    if (Buffer.byteLength(plain) <= USER_DATA_PLAIN) expect(py.parts[0]!.body).toBe(script);
    else {
      const wrapper = py.parts[0]!.body;
      const packed = /\nbase64 -d <<'SOCI_INSTALLER_EOF' \| gunzip >"\$script"\n([A-Za-z0-9+/=\n]+)\nSOCI_INSTALLER_EOF\nbash "\$script"\n$/.exec(wrapper);
      expect(packed, 'the self-extracting wrapper').not.toBeNull();
      expect(gunzipSync(Buffer.from(packed![1]!, 'base64')).toString()).toBe(script);
      // Above the packed bytes a reviewer reads the script's sha256, what it installs, downloads
      // (against which sha256) and every file it writes.
      const comments = `${wrapper.split('\n').filter((l) => l.startsWith('#')).join('\n')}\n`;
      expect(comments).toContain(`install.sh that render writes beside this (sha256 ${createHash('sha256').update(script).digest('hex')})`);
      expect(comments).toContain(`# It installs: ${script.split('\n')[1]!.replace(/^# soci-installer [^:]+: /, '')}\n`);
      for (const rel of plan.releases) expect(comments).toContain(`${rel.url} (sha256 ${rel.sha256})\n`);
      // Every node file (rootfs/, in order), the binaries it downloads, and its state folder.
      const listed = comments.split('\n').filter((l) => l.startsWith('#   /')).map((l) => l.slice(4));
      expect(listed.filter((l) => !l.includes(' '))).toEqual(r.rootfs.map((f) => f.path.slice('rootfs'.length)));
      expect(listed.filter((l) => l.includes(' ')).map((l) => l.split(' ')[0])).toEqual([
        ...(plan.releases.length ? [PATHS.releaseSociBinary] : []),
        ...(plan.ecrHelperDownloads.length ? [PATHS.ecrHelperBinary] : []),
        `${PATHS.stateDir}/`,
      ]);
    }

    const ci = await cloudInitParts(mime);
    // cloud-init runs the script part and leaves the NodeConfig to nodeadm.
    const scripts = ci.parts.filter((p) => p.contentType === 'text/x-shellscript');
    expect(scripts.map((p) => p.payload)).toEqual([py.parts[0]!.body]);
    expect(scripts[0]!.handled).toBe(true);
    expect(ci.unhandled.join('\n')).toMatch(/application\/node\.eks\.aws/);
    // Under EC2's limit always; over 14 KiB (room for the NodeConfig EKS, Karpenter and eksctl append)
    // render says so.
    const size = Buffer.byteLength(mime);
    expect(size).toBeLessThanOrEqual(USER_DATA_LIMIT);
    expect(userDataSizeWarnings(plan, mime).length > 0).toBe(size > USER_DATA_WARN);
  });

  it('every NodeConfig validates against the nodeadm CRD schema (strict: no unknown keys)', () => {
    const docs = [r.file('nodeconfig.yaml')!, ...r.rootfs.filter((a) => a.path.includes('/nodeadm.d/')).map((a) => a.content)];
    for (const text of docs) {
      const doc = parseYaml(text);
      expect(validateNodeConfig(doc)).toEqual([]);
      // nodeadm checks these in code: all four or none (EKS/Karpenter supply them then).
      const cluster = doc.spec.cluster;
      if (cluster) expect(Object.keys(cluster).sort()).toEqual(['apiServerEndpoint', 'certificateAuthority', 'cidr', 'name']);
      // Never a version line: nodeadm sets it; and never default_runtime_name (GPU AMIs keep theirs).
      const toml: string | undefined = doc.spec.containerd?.config;
      if (toml) {
        expect(toml).not.toMatch(/^\s*version\s*=/m);
        expect(toml).not.toMatch(/default_runtime_name/);
      }
    }
    const userData = parseYaml(r.file('nodeconfig.yaml')!);
    expect(userData.spec.featureGates?.FastImagePull ?? false).toBe(plan.mode === 'fast-image-pull');
    // The wiring sits in user data only when the profile asks for it (old AMIs).
    expect(Boolean(userData.spec.containerd)).toBe(plan.installs && plan.wiring === 'user-data');
  });

  it("soci's config.toml uses only keys soci reads, and says what the mode means", () => {
    const file = r.file(`rootfs${PATHS.sociConfig}`);
    if (!plan.installs) return expect(file).toBeUndefined();
    expect(sociConfigUnknownKeys(file!)).toEqual([]);
    const cfg = loadToml(file!) as Record<string, any>;
    const ppu = cfg.pull_modes.parallel_pull_unpack;
    expect(ppu.enable).toBe(plan.mode === 'parallel');
    expect(cfg.pull_modes.soci_v2.enable).toBe(plan.mode !== 'parallel');
    expect(ppu.experimental_parallel_pull_as_fallback ?? false).toBe(plan.mode === 'lazy-with-parallel-fallback');
    const keepsLayers = plan.parallel?.discardUnpackedLayers === false;
    expect(cfg.content_store?.type ?? 'soci').toBe(plan.mode === 'lazy-with-parallel-fallback' || keepsLayers ? 'containerd' : 'soci');
    expect(cfg.cri_keychain?.enable_keychain ?? false).toBe(plan.auth === 'cri-keychain');
    if (plan.parallel) expect(ppu.concurrent_download_chunk_size).toBe(plan.parallel.chunkSize);
    if (plan.metricsAddress) expect(cfg.metrics_address).toBe(plan.metricsAddress); // top level, not in a table
    for (const m of plan.mirrors) expect(cfg.resolver.host[m.registry].mirrors.map((e: { host: string }) => e.host)).toEqual(m.endpoints.map((e) => e.host));
  });

  it('systemd-analyze verify accepts every unit and drop-in (no warnings)', async () => {
    if (!plan.installs) return expect(r.rootfs).toEqual([]);
    const files: Record<string, string> = Object.fromEntries(r.rootfs.map((a: Artifact) => [a.path.slice('rootfs'.length), a.content]));
    // STAND-IN for the EKS AMI's own soci units (section 1 of the fact sheet), which ours drop in over.
    files['/etc/systemd/system/soci-snapshotter.service'] =
      '# STAND-IN for the EKS AMI unit\n[Unit]\nDescription=soci\n[Service]\nType=notify\nExecStart=/usr/bin/soci-snapshotter-grpc --address fd://\nRestart=no\n';
    files['/etc/systemd/system/soci-snapshotter.socket'] =
      `# STAND-IN for the EKS AMI unit\n[Socket]\nListenStream=${PATHS.sociSocket}\nSocketMode=0660\n[Install]\nWantedBy=sockets.target\n`;
    const units = ['soci-snapshotter.service', 'soci-snapshotter.socket', 'containerd.service', 'soci-installer-pause-import.service'];
    const res = await systemdVerify(files, units);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    // And our base units, as on an AMI without soci (release source).
    if (plan.source !== 'ami') {
      delete files['/etc/systemd/system/soci-snapshotter.service'];
      delete files['/etc/systemd/system/soci-snapshotter.socket'];
      const bare = await systemdVerify(files, units);
      expect(bare.stderr).toBe('');
      expect(bare.code).toBe(0);
    }
  });
});

describe('hostile values arrive intact', () => {
  const r = rendered('hostile-values');
  const profile = parseYaml(caseProfile('hostile-values')!);
  const script = r.file('install.sh')!;

  it('in install.sh, as bash reads it', async () => {
    // The data header: every value install.sh reads, up to the node files' writers.
    const header = script.slice(0, script.indexOf('\nstage_files() {'));
    expect(header).toMatch(/^declare -A RELEASE_URL=/m);
    const res = await run('bash', ['-c', `${header}\nprintf '%s\\n' "\${RELEASE_URL[amd64]}" "$HTTP_PROXY" "$HTTPS_PROXY" "$NO_PROXY"`]);
    expect(res.stdout.split('\n').slice(0, 4)).toEqual([
      `${profile.soci.releaseBaseUrl}/v0.15.0/soci-snapshotter-0.15.0-linux-amd64.tar.gz`,
      profile.soci.proxy.http,
      profile.soci.proxy.https,
      profile.soci.proxy.noProxy.join(','),
    ]);
  });

  it('in the systemd drop-in, as systemd unquotes it (% doubled, quotes escaped)', () => {
    const dropIn = r.rootfs.find((a) => a.path.endsWith('30-soci-installer-proxy.conf'))!.content;
    const values = [...dropIn.matchAll(/^Environment="(.*)"$/gm)].map((m) => m[1]!.replace(/\\(["\\])/g, '$1').replace(/%%/g, '%'));
    expect(values).toContain(`HTTP_PROXY=${profile.soci.proxy.http}`);
    expect(values).toContain(`https_proxy=${profile.soci.proxy.https}`);
  });
});
