// packer/ as render writes it, checked by the real tools: every .pkr.hcl parses (Go HCL via
// @cdktf/hcl2json), Debian's packer 1.6.6 validates a copy without only the constructs it predates
// (those are asserted on the parsed HCL instead), and packer evaluates the generated variable values
// back to exactly the profile's values.
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { render, type Artifact } from '../src/index.js';
import { eksAmiNameFilter } from '../src/plan.js';
import { bakeScript } from '../src/artifacts/node-script.js';
import { caseProfile } from './golden.js';
import { packerEval, packerValidate, parseHcl, stripForPacker166 } from './support/packer.js';

const CASES = readdirSync(join(import.meta.dirname, 'cases')).sort();
const withPacker = CASES.filter((name) => render(caseProfile(name), name).artifacts.some((a) => a.path.startsWith('packer/')));

function writeDir(artifacts: Artifact[], transform: (path: string, text: string) => string = (_p, t) => t): string {
  const dir = mkdtempSync(join(tmpdir(), 'soci-packer-'));
  for (const a of artifacts) {
    const file = join(dir, a.path.slice('packer/'.length));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, transform(a.path, a.content), { mode: a.mode });
  }
  return dir;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

it('every case that installs soci gets packer/, and fast-image-pull cases do not', () => {
  expect(withPacker.length).toBeGreaterThanOrEqual(8);
  expect(CASES.filter((c) => !withPacker.includes(c)).every((c) => c.startsWith('fast-image-pull'))).toBe(true);
});

describe.each(withPacker)('%s: packer/', (name) => {
  const r = render(caseProfile(name), name);
  const ami = r.plan.ami!;
  const packer = r.artifacts.filter((a) => a.path.startsWith('packer/'));
  const hclFiles = packer.filter((a) => /\.pkr(vars)?\.hcl$/.test(a.path));
  const file = (p: string) => packer.find((a) => a.path === `packer/${p}`)!.content;

  it('holds the HCL sources, the generated pkrvars, and under files/ bake.sh alone (no copy of rootfs/)', () => {
    expect(hclFiles.map((a) => a.path).sort()).toEqual(
      ['build.pkr.hcl', 'plugins.pkr.hcl', 'soci.auto.pkrvars.hcl', 'sources.pkr.hcl', 'variables.pkr.hcl'].map((f) => `packer/${f}`),
    );
    expect(packer.filter((a) => !hclFiles.includes(a))).toEqual([{ path: 'packer/files/bake.sh', content: bakeScript(r.plan), mode: 0o755 }]);
    // bake.sh writes every node file from its own data header: rootfs/ need not be uploaded.
    for (const a of r.artifacts.filter((x) => x.path.startsWith('rootfs/'))) expect(bakeScript(r.plan), a.path).toContain(a.content);
  });

  it('every .pkr.hcl and .pkrvars.hcl parses as HCL', async () => {
    for (const a of hclFiles) await expect(parseHcl(a.path, a.content)).resolves.toBeTypeOf('object');
  });

  it('the constructs packer 1.6.6 predates are present as intended (asserted on the parsed HCL)', async () => {
    const plugins = (await parseHcl('plugins', file('plugins.pkr.hcl'))) as Json;
    expect(plugins.packer[0].required_plugins[0].amazon).toEqual({ source: 'github.com/hashicorp/amazon', version: '~> 1' });
    const sources = ((await parseHcl('sources', file('sources.pkr.hcl'))) as Json).source['amazon-ebs'];
    for (const arch of ['x86_64', 'arm64']) {
      const s = sources[arch][0];
      expect(s.imds_support).toBe('v2.0'); // the AMI's instances get IMDSv2 only
      expect(s.metadata_options).toEqual([{ http_endpoint: 'enabled', http_tokens: 'required', http_put_response_hop_limit: 1 }]);
    }
  });

  it('builds one source per architecture served, from the EKS AL2023 AMI, gp3, and runs bake.sh', async () => {
    const build = ((await parseHcl('build', file('build.pkr.hcl'))) as Json).build[0];
    expect(build.sources).toEqual(ami.arches.map((a) => `source.amazon-ebs.${a}`));
    expect(build.provisioner.file).toEqual([{ source: '${path.root}/files/', destination: '/tmp/soci-installer' }]);
    expect(build.provisioner.shell.at(-1).inline[0]).toBe('sudo bash /tmp/soci-installer/bake.sh');
    const sources = ((await parseHcl('sources', file('sources.pkr.hcl'))) as Json).source['amazon-ebs'];
    for (const arch of ['x86_64', 'arm64'] as const) {
      const s = sources[arch][0];
      const filter = s.dynamic.source_ami_filter[0];
      expect(filter.for_each).toBe(`\${var.source_ami_ids["${arch}"] == "" ? ["newest"] : []}`);
      expect(filter.content[0]).toMatchObject({ owners: ['amazon'], most_recent: true });
      expect(filter.content[0].filters.name).toBe(eksAmiNameFilter('${var.kubernetes_version}', arch, '${var.variant}' as never));
      expect(s.source_ami).toBe(`\${var.source_ami_ids["${arch}"]}`);
      expect(s.launch_block_device_mappings[0]).toMatchObject({ device_name: '/dev/xvda', volume_type: 'gp3', volume_size: '${var.volume_size}' });
      expect(s.tags).toContain('soci-installer:arch');
    }
  });

  it('packer 1.6.6 validates a copy without only those constructs', async () => {
    const removed: string[] = [];
    const dir = writeDir(packer, (path, text) => {
      if (!path.endsWith('.pkr.hcl')) return text;
      const s = stripForPacker166(text);
      removed.push(...s.removed);
      return s.text;
    });
    expect(removed.sort()).toEqual(['imds_support x2', 'metadata_options {} x2', 'packer {} x1']);
    // Nothing else was removed: the copy parses to the original minus exactly those keys.
    const original = (await parseHcl('s', file('sources.pkr.hcl'))) as Json;
    for (const arch of ['x86_64', 'arm64']) {
      delete original.source['amazon-ebs'][arch][0].imds_support;
      delete original.source['amazon-ebs'][arch][0].metadata_options;
    }
    expect(await parseHcl('s', stripForPacker166(file('sources.pkr.hcl')).text)).toEqual(original);
    const res = await packerValidate(dir);
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe('');
    expect(res.code).toBe(0);
  });

  it('packer reads the generated values back as exactly the profile values, and names each AMI', async () => {
    const dir = writeDir(packer, (path, text) => (path.endsWith('.pkr.hcl') ? stripForPacker166(text).text : text));
    const vars = (await packerEval(
      dir,
      '{region = var.region, k = var.kubernetes_version, variant = var.variant, ids = var.source_ami_ids, types = var.instance_types, name = var.ami_name, size = var.volume_size, tags = var.tags, subnet = var.subnet_id, vpc = var.vpc_id, sg = var.security_group_id, ssh = var.ssh_interface, names = local.ami_names}',
    )) as Json;
    expect(vars).toMatchObject({
      region: ami.region ?? 'us-east-1', // AWS_REGION in packerEval's environment when the profile has none
      k: r.plan.kubernetesVersion,
      variant: r.plan.variant,
      ids: ami.sourceAmiId,
      types: ami.instanceType,
      name: ami.amiName,
      size: ami.volumeSize,
      tags: ami.tags,
      subnet: ami.subnetId,
      vpc: ami.vpcId,
      sg: ami.securityGroupId,
      ssh: ami.sshInterface,
    });
    for (const arch of ami.arches) {
      const amiName = vars.names[arch] as string;
      expect(amiName).not.toMatch(/\{(arch|variant|kubernetesVersion|timestamp)\}/);
      if (ami.amiName.includes('{arch}')) expect(amiName).toContain(arch);
      expect(amiName).toMatch(/\d{14}/); // the timestamp
    }
  });
});

it('packer validate does catch mistakes (an unknown argument), so a pass means something', async () => {
  const r = render(caseProfile('default'), 'default');
  const dir = writeDir(
    r.artifacts.filter((a) => a.path.startsWith('packer/')),
    (path, text) => (path.endsWith('.pkr.hcl') ? stripForPacker166(text).text.replace('ssh_username', 'ssh_usernam') : text),
  );
  const res = await packerValidate(dir);
  expect(res.code).not.toBe(0);
  expect(res.stdout + res.stderr).toMatch(/Unsupported argument/);
});

describe('D13: sshInterface session_manager', () => {
  const packerOf = (profile: string) => render(profile).artifacts.filter((a) => a.path.startsWith('packer/'));
  const strip = (path: string, text: string) => (path.endsWith('.pkr.hcl') ? stripForPacker166(text).text : text);
  const SSM = 'node: { arch: x86_64 }\nsoci: { source: ami }\nami: { sshInterface: session_manager }\n';

  it('gives the builder a temporary instance profile with only Session Manager\'s actions, and packer 1.6.6 accepts it', async () => {
    const packer = packerOf(SSM);
    const sources = ((await parseHcl('sources', packer.find((a) => a.path === 'packer/sources.pkr.hcl')!.content)) as Json).source['amazon-ebs'];
    for (const arch of ['x86_64', 'arm64']) {
      const s = sources[arch][0];
      expect(s.iam_instance_profile).toBe('${var.iam_instance_profile}');
      const doc = s.dynamic.temporary_iam_instance_profile_policy_document[0];
      expect(doc.for_each).toBe('${var.ssh_interface == "session_manager" && var.iam_instance_profile == "" ? ["session_manager"] : []}');
      expect(doc.content[0].Version).toBe('2012-10-17');
      expect(doc.content[0].Statement).toEqual([
        {
          Effect: 'Allow',
          Action: ['ssm:UpdateInstanceInformation', 'ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'],
          Resource: ['*'],
        },
      ]);
    }
    const dir = writeDir(packer, strip);
    // Packer itself decides the block is there: the condition, evaluated with this profile's values.
    expect(await packerEval(dir, 'var.ssh_interface == "session_manager" && var.iam_instance_profile == "" ? ["session_manager"] : []')).toEqual(['session_manager']);
    // Without an instance profile, packer 1.6.6 refuses session_manager ("no iam_instance_profile defined").
    const res = await packerValidate(dir);
    expect(res.stdout + res.stderr).toBe('');
    expect(res.code).toBe(0);
  });

  it('without the block packer refuses it, so the validate above means something', async () => {
    const dir = writeDir(packerOf(SSM), (path, text) =>
      strip(path, text).replace(/^ {2}dynamic "temporary_iam_instance_profile_policy_document" \{\n[\s\S]*?\n {2}\}\n/gm, ''),
    );
    const res = await packerValidate(dir);
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/no iam_instance_profile defined; session_manager connectivity requires/);
  });
});

describe('D14: ami.variant neuron without node.arch', () => {
  it('bakes and serves x86_64 only (EKS publishes no arm64 Neuron AMI), decided once in the plan', async () => {
    const r = render('soci: { source: release, sha256: { amd64: ' + 'a'.repeat(64) + ' } }\nami: { variant: neuron }\n');
    expect(r.plan.arches).toEqual(['amd64']);
    expect(r.plan.ami!.arches).toEqual(['x86_64']);
    expect(r.plan.releases.map((x) => x.arch)).toEqual(['amd64']); // no arm64 sha256 asked for
    const build = ((await parseHcl('build', r.artifacts.find((a) => a.path === 'packer/build.pkr.hcl')!.content)) as Json).build[0];
    expect(build.sources).toEqual(['source.amazon-ebs.x86_64']);
    expect(r.artifacts.find((a) => a.path === 'install.sh')!.content).toMatch(/^ARCHES='amd64'$/m);
    // The other variants still serve both without node.arch.
    expect(render('soci: { source: ami }\nami: { variant: nvidia }\n').plan.ami!.arches).toEqual(['x86_64', 'arm64']);
  });
});
