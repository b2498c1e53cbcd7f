// The hostile-profile corpus (test/cases-hostile/, written by its generate.mjs): every profile is either
// refused (one line per problem naming the field; exit 2 and nothing written from the real CLI, for a
// sample) or accepted and its outputs read back by their real consumers: YAML as kubectl/nodeadm read it
// (YAML 1.1; the EC2NodeClass and the eksctl fragment also against their schemas, and Karpenter's CEL
// rules), install.sh by shellcheck, soci's config.toml by soci's own loader, the containerd fragment by
// containerd 2.2.4 / 1.7.27 `config dump`, packer/ by `packer validate` and `packer console`.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eksctlConfig, ec2NodeClass, parseMime, ProfileError, render, type Synthesis } from '../src/index.js';
import { daemonSetObjects } from '../src/artifacts/daemonset.js';
import { decodeProfile } from '../src/profile/parse.js';
import type { Plan } from '../src/plan.js';
import { buildCli, CLI, run } from './support/exec.js';
import { packerEval, packerValidate, stripForPacker166 } from './support/packer.js';
import { shellcheck } from './support/shellcheck.js';
import { upstreamBin } from './support/upstream.js';
import { ec2NodeClassCelProblems, validateEC2NodeClass, validateEksctlClusterConfig } from './support/schemas.js';

const DIR = join(import.meta.dirname, 'cases-hostile');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
const counts = { refused: 0, refusedByCli: 0, accepted: 0 };

interface Case {
  file: string;
  bytes: Buffer;
  expect: 'refused' | 'accepted';
  field: string;
}
const CASES: Case[] = FILES.map((file) => {
  const bytes = readFileSync(join(DIR, file));
  const m = /^# expect: (refused|accepted) ?(.*)\n/.exec(bytes.toString('latin1'));
  if (!m) throw new Error(`${file}: first line must be "# expect: refused FIELD" or "# expect: accepted"`);
  return { file, bytes, expect: m[1] as Case['expect'], field: m[2]! };
});

function load(c: Case): Synthesis & { plan: Plan } {
  return render(decodeProfile(c.bytes, c.file), c.file);
}

/** YAML as a 1.1 reader sees it must be what we meant, and what a 1.2 reader sees. */
function readBack(text: string): unknown[] {
  const as11 = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS());
  const as12 = parseAllDocuments(text, { version: '1.2' }).map((d) => d.toJS());
  expect(as11).toEqual(as12);
  return as11;
}

const seen = new Map<string, Set<string>>();
/** Runs `check` once per distinct text of a kind: most accepted profiles share their install.sh. */
async function once(kind: string, text: string, check: () => Promise<void>): Promise<void> {
  const hash = createHash('sha256').update(text).digest('hex');
  const set = seen.get(kind) ?? new Set<string>();
  seen.set(kind, set);
  if (set.has(hash)) return;
  set.add(hash);
  await check();
}

function containerdFragment(r: Synthesis & { plan: Plan }): string | undefined {
  const carrier = r.artifacts.find((a) => a.path === 'rootfs/etc/eks/nodeadm.d/50-soci-installer.yaml') ?? r.artifacts.find((a) => a.path === 'nodeconfig.yaml');
  const doc = carrier ? (readBack(carrier.content)[0] as { spec?: { containerd?: { config?: string } } }) : undefined;
  return doc?.spec?.containerd?.config;
}

beforeAll(async () => {
  // The CLI sample runs the compiled CLI: build it so it is never stale.
  expect(await buildCli()).toBe('');
}, 300_000);

describe('hostile profiles', () => {
  it('the corpus holds at least 150 profiles, both kinds', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(150);
    expect(CASES.some((c) => c.expect === 'refused') && CASES.some((c) => c.expect === 'accepted')).toBe(true);
  });

  for (const c of CASES.filter((x) => x.expect === 'refused')) {
    it(`refused: ${c.file}`, () => {
      let error: unknown;
      try {
        load(c);
      } catch (e) {
        error = e;
      }
      expect(error, 'must be refused with a ProfileError').toBeInstanceOf(ProfileError);
      const lines = (error as ProfileError).problems;
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line.startsWith(`${c.file}: `) || line.startsWith('... and '), line).toBe(true);
        expect(line.length, 'values are echoed cut short').toBeLessThan(700);
        expect(line).not.toMatch(/\[object Object\]|[\u2028\u2029\x7f-\x9f]/);
      }
      expect(lines.some((l) => l.includes(c.field)), `an error names ${c.field}:\n${lines.join('\n')}`).toBe(true);
      counts.refused++;
    });
  }

  // The real CLI on a sample (every 10th refused profile): exit 2, one line per problem, nothing written.
  const sample = CASES.filter((x) => x.expect === 'refused').filter((_, i) => i % 10 === 0);
  it(`the CLI refuses a sample of ${sample.length} with exit 2, one line per problem and nothing written`, async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'soci-hostile-'));
    for (const c of sample) {
      const res = await run(process.execPath, [CLI, 'render', '-c', join(DIR, c.file), '-o', 'out'], { cwd });
      expect(res.code, `${c.file}: ${res.stderr}`).toBe(2);
      expect(res.stdout).toBe('');
      const lines = res.stderr.trimEnd().split('\n');
      for (const line of lines) expect(line, c.file).toMatch(new RegExp(`^soci-installer: (${DIR.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${c.file}: |\\.\\.\\. and )`));
      expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(existsSync(join(cwd, 'out')), `${c.file}: nothing written`).toBe(false);
      counts.refusedByCli++;
    }
  }, 600_000);

  for (const c of CASES.filter((x) => x.expect === 'accepted')) {
    it(`accepted and read back by real consumers: ${c.file}`, async () => {
      const r = load(c);
      const file = (p: string) => r.artifacts.find((a) => a.path === p)?.content;
      // Every YAML output reads back, under YAML 1.1, as the objects we built.
      if (r.plan.installs) {
        expect(readBack(file('daemonset.yaml')!)).toEqual(daemonSetObjects(r.plan));
        expect(readBack(file('daemonset-uninstall.yaml')!)).toEqual(daemonSetObjects(r.plan, { uninstall: true }));
      }
      const mime = file('user-data.mime')!;
      const karpenter = file('karpenter/ec2nodeclass.yaml');
      if (karpenter) {
        const [doc] = readBack(karpenter);
        expect(doc).toEqual(JSON.parse(JSON.stringify(ec2NodeClass(r.plan, mime))));
        // What the API server checks: the CRD's schema and its CEL rules.
        expect(validateEC2NodeClass(doc)).toEqual([]);
        expect(ec2NodeClassCelProblems(doc)).toEqual([]);
      }
      const eksctl = file('eksctl/nodegroup.yaml');
      if (eksctl) {
        const [doc] = readBack(eksctl);
        expect(doc).toEqual(JSON.parse(JSON.stringify(eksctlConfig(r.plan, file('install.sh')!, file('nodeconfig.yaml')!))));
        expect(validateEksctlClusterConfig(doc)).toEqual([]);
      }
      for (const p of r.artifacts.filter((a) => /\.ya?ml$/.test(a.path))) readBack(p.content);
      for (const part of parseMime(mime)) if (String(part.contentType).includes('node.eks.aws')) readBack(String(part.body));

      if (r.plan.installs) {
        await once('shellcheck', file('install.sh')!, async () => {
          const res = await shellcheck(file('install.sh')!);
          expect(res.output).toBe('');
        });
        const config = file('rootfs/etc/soci-snapshotter-grpc/config.toml')!;
        await once('soci', config, async () => {
          const dir = mkdtempSync(join(tmpdir(), 'soci-hostile-'));
          writeFileSync(join(dir, 'config.toml'), config);
          const res = await run(upstreamBin('soci-config-strict'), [join(dir, 'config.toml')]);
          expect(res.code, res.stderr).toBe(0);
        });
        const fragment = containerdFragment(r);
        if (fragment !== undefined) {
          const v2 = r.plan.containerd === '2';
          await once('containerd', fragment, async () => {
            const dir = mkdtempSync(join(tmpdir(), 'soci-hostile-'));
            writeFileSync(join(dir, 'config.toml'), `version = ${v2 ? 3 : 2}\n${fragment}`);
            const res = await run(upstreamBin(v2 ? 'containerd-v2.2.4' : 'containerd-v1.7.27'), ['--config', join(dir, 'config.toml'), 'config', 'dump']);
            expect(res.code, res.stderr).toBe(0);
            expect(res.stdout).toContain('[proxy_plugins.soci]');
          });
        }
      }
      const packer = r.artifacts.filter((a) => a.path.startsWith('packer/'));
      if (packer.length) {
        await once('packer', packer.map((a) => a.content).join('\0'), async () => {
          const dir = mkdtempSync(join(tmpdir(), 'soci-hostile-packer-'));
          for (const a of packer) {
            const f = join(dir, a.path.slice('packer/'.length));
            mkdirSync(dirname(f), { recursive: true });
            writeFileSync(f, a.path.endsWith('.pkr.hcl') ? stripForPacker166(a.content).text : a.content);
          }
          const res = await packerValidate(dir);
          expect(res.code, res.stderr + res.stdout).toBe(0);
          // Tag values reach Packer exactly.
          expect(await packerEval(dir, 'var.tags')).toEqual(r.plan.ami?.tags ?? {});
        });
      }
      counts.accepted++;
    }, 60_000);
  }

  afterAll(() => {
    console.log(
      `hostile corpus: ${CASES.length} profiles: ${counts.refused} refused (${counts.refusedByCli} of them through the real CLI), ${counts.accepted} accepted and checked by real consumers`,
    );
  });
});
