// One decision, one place: the mode table (src/modes.ts), the defaults (plan.ts), the containerd
// lines, the region pattern and the AWS error mapping. The table tests change a trait at run time and
// expect every module to follow: a module that decided by mode name again would not, and fail here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bottlerocketRefusal } from '../../src/artifacts/bottlerocket.js';
import { daemonSetRefusal } from '../../src/artifacts/daemonset.js';
import { nodeFiles } from '../../src/artifacts/node-files.js';
import { userDataNodeConfig } from '../../src/artifacts/nodeconfig.js';
import { sociConfigTable } from '../../src/artifacts/soci-config.js';
import { clientConfig } from '../../src/aws/config.js';
import { AMI_ID, CLUSTER_NAME, REGION } from '../../src/aws/names.js';
import { dryRun } from '../../src/launch-template.js';
import { ec2Api } from '../../src/aws/ec2.js';
import { eksApi } from '../../src/aws/eks.js';
import { resolveSourceAmis } from '../../src/aws/ami.js';
import { ecrHost } from '../../src/check-image/auth.js';
import { verdict } from '../../src/check-image/report.js';
import { runCli } from '../../src/cli.js';
import { UsageError } from '../../src/errors.js';
import { MODE_TRAITS, MODES, type Mode, type ModeTraits } from '../../src/modes.js';
import { containerdLines, DEFAULTS, plan } from '../../src/plan.js';
import { checkProfile } from '../../src/profile/load.js';
import { PROFILE_SCHEMA, type Profile } from '../../src/profile/schema.js';
import type { PlatformReport } from '../../src/check-image/analyze.js';
import { REPO_ROOT } from '../support/exec.js';

// The table is `as const` for its types; at run time it is a plain object the tests may change.
const table = MODE_TRAITS as unknown as Record<Mode, ModeTraits>;
const saved = structuredClone(table);
const savedDefaults = structuredClone(DEFAULTS);
afterEach(() => {
  for (const m of MODES) table[m] = structuredClone(saved[m]);
  Object.assign(DEFAULTS, structuredClone(savedDefaults));
});

/** A value deep in the schema (its TypeScript type stops at Record<string, unknown>). */
const at = (root: unknown, path: string): unknown => path.split('.').reduce((o, k) => (o as Record<string, unknown>)[k], root);
const publishedSchema = (): unknown => JSON.parse(readFileSync(join(REPO_ROOT, 'schemas', 'profile.schema.json'), 'utf8'));

const withMode = (mode: Mode, soci: NonNullable<Profile['soci']> = {}): Profile => ({ soci: { mode, ...soci } });
const v2: PlatformReport = { platform: 'linux/amd64', index: 'v2' } as PlatformReport;
const none: PlatformReport = { platform: 'linux/amd64', index: 'none' } as PlatformReport;

describe('the mode table drives every module', () => {
  it('the schema enum is the table, in its order', () => {
    expect(at(PROFILE_SCHEMA, 'properties.soci.properties.mode.enum')).toEqual(Object.keys(MODE_TRAITS));
    expect(at(publishedSchema(), 'properties.soci.properties.mode.enum')).toEqual(Object.keys(MODE_TRAITS));
  });

  it('the plan takes installs, minSociVersion, parallel settings and the content store from the table', () => {
    for (const mode of MODES) {
      const t = MODE_TRAITS[mode];
      const p = plan(withMode(mode));
      expect([mode, p.installs, p.minSociVersion, p.parallel !== undefined, p.contentStore]).toEqual([mode, t.installs, t.minSociVersion, t.installs && t.parallel, t.contentStore]);
    }
    table.lazy = { ...table.lazy, minSociVersion: '0.12.3', contentStore: 'containerd', parallel: true };
    const p = plan(withMode('lazy'));
    expect(p.minSociVersion).toBe('0.12.3');
    expect(p.contentStore).toBe('containerd');
    expect(p.parallel).toEqual(DEFAULTS.parallel);
  });

  it('a mode that installs nothing: no node files, no DaemonSet, no AMI, the FastImagePull gate', () => {
    expect(nodeFiles(plan(withMode('lazy'))).length).toBeGreaterThan(0);
    table.lazy = { ...table.lazy, installs: false };
    const p = plan(withMode('lazy'));
    expect(p.installs).toBe(false);
    expect(p.ami).toBeUndefined();
    expect(nodeFiles(p)).toEqual([]);
    expect(daemonSetRefusal(p)).toMatch(/installs nothing/);
    expect(userDataNodeConfig(p).spec.featureGates).toEqual({ FastImagePull: true });
    expect(checkProfile({ soci: { mode: 'lazy', source: 'ami' }, ami: { variant: 'standard' } })).toEqual([
      'ami: not allowed with soci.mode "lazy": nothing is installed, so there is nothing to bake; remove ami: or choose mode parallel or lazy-with-parallel-fallback',
    ]);
  });

  it("soci's pull modes, Bottlerocket and check-image's verdicts follow lazy, parallel and fallback", () => {
    const pullModes = (mode: Mode) => sociConfigTable(plan(withMode(mode))).pull_modes;
    expect(pullModes('parallel')).toMatchObject({ soci_v2: { enable: false }, parallel_pull_unpack: { enable: true } });
    expect(bottlerocketRefusal(plan(withMode('parallel')))).toBeUndefined();
    expect(verdict(none, 'parallel').ready).toBe(true);

    table.parallel = { ...table.parallel, lazy: true, fallback: true };
    expect(pullModes('parallel')).toMatchObject({ soci_v2: { enable: true }, parallel_pull_unpack: { enable: false, experimental_parallel_pull_as_fallback: true } });
    expect(bottlerocketRefusal(plan(withMode('parallel')))).toMatch(/not available on Bottlerocket/);
    expect(verdict(none, 'parallel')).toEqual({ ready: false, says: 'parallel pull (fallback), not lazy: no SOCI index' });
    expect(verdict(v2, 'parallel')).toEqual({ ready: true, says: 'lazy loading' });
  });

  it('the refusals are the table: auths (D9) and soci keys', () => {
    const criKeychain = (mode: Mode) => checkProfile(withMode(mode, { source: 'ami', auth: 'cri-keychain' }));
    expect(criKeychain('parallel')).toEqual([]);
    expect(criKeychain('lazy')).toEqual([expect.stringMatching(/^soci\.auth: "cri-keychain" is not allowed with soci\.mode "lazy": lazy loading reads layers for hours/)]);
    table.parallel = { ...table.parallel, refusedAuths: { 'cri-keychain': 'a reason from the table' } };
    table.lazy = { ...table.lazy, refusedAuths: {} };
    expect(criKeychain('parallel')).toEqual(['soci.auth: "cri-keychain" is not allowed with soci.mode "parallel": a reason from the table']);
    expect(criKeychain('lazy')).toEqual([]);

    table.parallel = { ...table.parallel, refusedSociKeys: { keys: ['metricsAddress'], why: 'another reason' } };
    expect(checkProfile(withMode('parallel', { source: 'ami', metricsAddress: 'localhost:8000' }))).toEqual([
      'soci.metricsAddress: not allowed with soci.mode "parallel": another reason; remove the key or choose mode lazy, parallel or lazy-with-parallel-fallback',
    ]);
  });

  it('the minimum soci version refused at load is the table', () => {
    const at = (version: string) => checkProfile(withMode('parallel', { source: 'release', version, sha256: { amd64: 'a'.repeat(64), arm64: 'b'.repeat(64) } }));
    expect(at('0.12.0')).toEqual([]);
    table.parallel = { ...table.parallel, minSociVersion: '0.13.0' };
    expect(at('0.12.0')).toEqual(['soci.version: 0.12.0 does not support mode "parallel" (needs 0.13.0 or later)']);
  });

  it('soci.parallel is refused where the table says the mode has no parallel pull', () => {
    const p = withMode('parallel', { source: 'ami', parallel: { chunkSize: '8mb' } });
    expect(checkProfile(p)).toEqual([]);
    table.parallel = { ...table.parallel, parallel: false };
    expect(checkProfile(p)).toEqual(['soci.parallel: has no effect with soci.mode "parallel"; remove it or choose lazy-with-parallel-fallback']);
  });
});

describe('defaults are filled once, in the plan', () => {
  it('the profile checks read the defaults the plan fills (mode, version, parallel limits)', () => {
    // No mode given: lazy by default, which refuses cri-keychain.
    expect(checkProfile({ soci: { source: 'ami', auth: 'cri-keychain' } })).toHaveLength(1);
    DEFAULTS.mode = 'parallel';
    expect(plan({}).mode).toBe('parallel');
    expect(checkProfile({ soci: { source: 'ami', auth: 'cri-keychain' } })).toEqual([]);

    DEFAULTS.version = '0.10.5';
    expect(checkProfile({ soci: { source: 'release', sha256: { amd64: 'a'.repeat(64), arm64: 'b'.repeat(64) } } })).toEqual([
      'soci.version: 0.10.5 does not support mode "parallel" (needs 0.11.0 or later)',
    ]);

    DEFAULTS.parallel = { ...DEFAULTS.parallel, maxConcurrentDownloads: 4 };
    expect(checkProfile({ soci: { source: 'ami' } })).toEqual([
      'soci.parallel.maxConcurrentDownloadsPerImage: 20 (the default) is above soci.parallel.maxConcurrentDownloads (4 (the default)): soci refuses to start ("global download limit less than per-image download limit"); set it to 4 or less, or maxConcurrentDownloads to -1 (unbounded)',
    ]);
  });

  it('containerd: the default and the lines the checks allow are one list per Kubernetes version', () => {
    for (let minor = 28; minor <= 36; minor++) {
      const k8s = `1.${minor}`;
      const lines = containerdLines(k8s);
      expect(plan({ node: { kubernetesVersion: k8s } }).containerd).toBe(lines[0]);
      for (const line of ['1.7', '2'] as const) {
        const refused = checkProfile({ node: { kubernetesVersion: k8s, containerd: line }, soci: { source: 'ami' } }).length > 0;
        expect([k8s, line, refused]).toEqual([k8s, line, !lines.includes(line)]);
      }
    }
  });

  it('a module besides plan.ts that fills a soci default would show here: none spells one', () => {
    const offenders = sourceFiles()
      .filter((f) => !f.endsWith('/plan.ts'))
      .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/(?:mode|source|auth|wiring|version) \?\? '[^']*'/g)].map((m) => `${relative(REPO_ROOT, f)}: ${m[0]}`));
    expect(offenders).toEqual([]);
  });
});

function sourceFiles(dir = join(REPO_ROOT, 'src')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('one pattern per AWS name: region, AMI id, cluster name', () => {
  it('the schema (eksctl.region, ami.region) and the published schema use REGION', () => {
    for (const schema of [PROFILE_SCHEMA, publishedSchema()]) {
      expect(at(schema, 'properties.eksctl.properties.region.pattern')).toBe(REGION);
      expect(at(schema, 'properties.ami.properties.region.pattern')).toBe(REGION);
    }
  });

  it('no other copy of a region, AMI id or cluster name pattern in src/', () => {
    const copies = sourceFiles().filter((f) => /\[a-z\]\{2\}\(\?:-\[a-z\]\+\)\+|ami-\[0-9a-f\]|\[0-9A-Za-z\]\[A-Za-z0-9_-\]/.test(readFileSync(f, 'utf8')));
    expect(copies.map((f) => relative(REPO_ROOT, f))).toEqual(['src/aws/names.ts']);
  });

  it('AMI ids and cluster names: the schema fields and the --ami and --cluster flags use one pattern each', async () => {
    for (const schema of [PROFILE_SCHEMA, publishedSchema()]) {
      for (const path of ['ami.properties.id', 'ami.properties.sourceAmiId.properties.x86_64', 'ami.properties.sourceAmiId.properties.arm64']) {
        expect(at(schema, `properties.${path}.pattern`)).toBe(AMI_ID);
      }
      for (const path of ['cluster.properties.name', 'cluster.properties.fromEks', 'eksctl.properties.clusterName']) {
        expect(at(schema, `properties.${path}.pattern`)).toBe(CLUSTER_NAME);
      }
    }
    // 8 or 17 hex digits; sourceAmiId allowed 9 to 16 before.
    expect(checkProfile({ soci: { source: 'ami' }, ami: { sourceAmiId: { x86_64: 'ami-0123456789' } } })).toEqual([
      'ami.sourceAmiId.x86_64: "ami-0123456789" is not valid; expected an AMI id such as ami-0123456789abcdef0',
    ]);
    expect(() => dryRun({ name: 'nodes', profile: { soci: { source: 'ami' }, cluster: { name: 'c', apiServerEndpoint: 'https://x.example', certificateAuthority: 'QQ==', cidr: '10.0.0.0/16' } }, ami: 'ami-0123456789' })).toThrow(
      '--ami: "ami-0123456789" is not an AMI id such as ami-0123456789abcdef0',
    );
    const err = await runCli(['render', '--cluster=-bad', '-o', '/nonexistent'], { stdout: () => undefined, stderr: () => undefined }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^--cluster: "-bad" is not an EKS cluster name/);
  });

  it('the loader and every AWS client accept and refuse the same names', async () => {
    const names = { 'us-west-2': true, 'us-gov-west-1': true, 'ap-southeast-12': true, 'us-west': false, 'US-WEST-2': false, uswest2: false, '': false };
    for (const [region, ok] of Object.entries(names)) {
      const loader = checkProfile({ soci: { source: 'ami' }, eksctl: { region, clusterName: 'demo' }, ami: { region } });
      expect([region, loader.length === 0]).toEqual([region, ok]);
      if (!ok) expect(loader).toContain(`eksctl.region: ${JSON.stringify(region)} is not valid; expected an AWS region such as us-west-2`);
      const refusal = `--region: ${JSON.stringify(region)} is not an AWS region such as us-west-2`;
      if (ok) {
        expect(clientConfig(region)).toEqual({ region, maxAttempts: 5 });
      } else {
        expect(() => clientConfig(region)).toThrow(new UsageError(refusal));
        await expect(ec2Api({ region })).rejects.toThrow(refusal);
        await expect(eksApi({ region })).rejects.toThrow(refusal);
        await expect(resolveSourceAmis(plan({ soci: { source: 'ami' } }), { region })).rejects.toThrow(refusal);
      }
    }
    expect(clientConfig(undefined)).toEqual({ maxAttempts: 5 });
  });

  it("check-image reads an ECR host's region with the same pattern", () => {
    expect(ecrHost('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com')).toEqual({ registryId: '123456789012', region: 'us-gov-west-1' });
    expect(ecrHost('123456789012.dkr-ecr.ap-southeast-12.on.aws')).toEqual({ registryId: '123456789012', region: 'ap-southeast-12' });
    // Not a region by REGION, so not an ECR host (it was, with the region part [a-z0-9-]+).
    expect(ecrHost('123456789012.dkr.ecr.localhost.amazonaws.com')).toBeUndefined();
  });

  it('the ami command refuses a bad --region before any call (exit 2)', async () => {
    const err = await runCli(['ami', '--region', 'us_west_2'], { stdout: () => undefined, stderr: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe('--region: "us_west_2" is not an AWS region such as us-west-2');
  });
});

describe('one AWS error mapping', () => {
  it('only src/aws/errors.ts recognises AWS SDK errors', () => {
    const markers = /CredentialsProviderError|AccessDenied|UnauthorizedOperation|Region is missing|ThrottlingException|ExpiredToken/;
    expect(sourceFiles().filter((f) => markers.test(readFileSync(f, 'utf8'))).map((f) => relative(REPO_ROOT, f))).toEqual(['src/aws/errors.ts']);
  });
});
