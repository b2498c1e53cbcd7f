// One test per folder in test/cases/: the profile renders to exactly the files in expected/.
// And one per folder in test/cases-invalid/: the profile is refused with exactly errors.txt.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ProfileError, render, type Artifact } from '../src/index.js';
import { caseProfile, compareWithGolden, gzipPayloads, SCRIPT_PARTS_DIR, scriptParts, UPDATE } from './golden.js';

const CASES = join(import.meta.dirname, 'cases');
const INVALID = join(import.meta.dirname, 'cases-invalid');


/**
 * What a case stores: every artifact, plus the DaemonSet's live.sh and uninstall.sh under
 * daemonset-bundle/; and the payloads YAML outputs embed, by content, to be stored once (storeOnce
 * in golden.ts).
 */
function goldenOf(result: ReturnType<typeof render>): { artifacts: Artifact[]; stored: Map<string, string> } {
  const artifacts = [...result.artifacts];
  const ds = artifacts.find((a) => a.path === 'daemonset.yaml');
  if (ds) {
    const cm = parseAllDocuments(ds.content).map((d) => d.toJS() as Record<string, any>).find((d) => d.kind === 'ConfigMap')!;
    for (const path of ['live.sh', 'uninstall.sh']) artifacts.push({ path: `daemonset-bundle/${path}`, content: cm.data[path], mode: 0o755 });
  }
  const stored = new Map<string, string>();
  for (const a of artifacts) if (!stored.has(a.content)) stored.set(a.content, a.path);
  return { artifacts, stored };
}

describe('golden cases', () => {
  for (const name of readdirSync(CASES).sort()) {
    it(name, () => {
      const result = render(caseProfile(name), name);
      // packer/files/ (what the build uploads) holds bake.sh alone: it carries the node files in its
      // data header, so no copy of rootfs/ goes to the image builder.
      const uploaded = result.artifacts.filter((a) => a.path.startsWith('packer/files/')).map((a) => a.path);
      expect(uploaded).toEqual(result.plan.ami ? ['packer/files/bake.sh'] : []);
      // The self-extracting wrapper (user data, eksctl, Karpenter) carries install.sh: the golden
      // compares the bytes it unpacks to; here they must be install.sh's, stored once.
      const script = result.artifacts.find((a) => a.path === 'install.sh')?.content;
      for (const a of result.artifacts) {
        for (const payload of gzipPayloads(a.content)) expect(payload, `the script gzipped in ${a.path} is install.sh`).toBe(script);
      }
      // The DaemonSet's ConfigMap carries live.sh and uninstall.sh only (live.sh writes the node files
      // from its data header: no copy of rootfs/ is mounted), each key at its own name, and the same
      // scripts in both manifests.
      const scriptCopies = new Map<string, Set<string>>();
      for (const a of result.artifacts.filter((x) => /^daemonset(-uninstall)?\.yaml$/.test(x.path))) {
        const docs = parseAllDocuments(a.content).map((d) => d.toJS() as Record<string, any>);
        const data = docs.find((d) => d.kind === 'ConfigMap')?.data as Record<string, string>;
        const items = (docs.find((d) => d.kind === 'DaemonSet')?.spec.template.spec.volumes as { configMap?: { items?: { key: string; path: string }[] } }[])
          .flatMap((v) => v.configMap?.items ?? []);
        expect(Object.keys(data).sort(), `${a.path}: the ConfigMap holds the two scripts`).toEqual(['live.sh', 'uninstall.sh']);
        expect(items.map((i) => [i.key, i.path]), `${a.path}: each mounted at its name`).toEqual([['live.sh', 'live.sh'], ['uninstall.sh', 'uninstall.sh']]);
        for (const { key, path } of items) scriptCopies.set(path, (scriptCopies.get(path) ?? new Set()).add(data[key]!));
      }
      for (const [path, texts] of scriptCopies) expect(texts.size, `one ${path}`).toBe(1);
      const golden = goldenOf(result);
      compareWithGolden(join(CASES, name, 'expected'), golden.artifacts, UPDATE, golden.stored);
      // Stored once: each YAML output that embeds one of them holds a reference, not a copy.
      const expected = (path: string) => readFileSync(join(CASES, name, 'expected', path), 'utf8');
      if (scriptCopies.size) {
        for (const f of ['daemonset.yaml', 'daemonset-uninstall.yaml']) {
          expect(expected(f), f).toContain('<stored once: daemonset-bundle/live.sh>');
          expect(expected(f), f).toContain('<stored once: daemonset-bundle/uninstall.sh>');
        }
      }
      for (const a of golden.artifacts.filter((x) => x.path.endsWith('.sh'))) {
        expect(expected(a.path), `${a.path}: its header, then its parts stored once`).toMatch(/\n(?:<stored once: script-parts\/[a-z-]+\.sh>\n)+(?:main "\$@"\n)?$/);
      }
      if (script && gzipPayloads(result.artifacts.find((a) => a.path === 'user-data.mime')!.content).length) {
        expect(expected('user-data.mime')).toContain("<stored once, gzipped: install.sh>\nSOCI_INSTALLER_EOF\n");
      }
      if (result.plan.karpenter) expect(expected('karpenter/ec2nodeclass.yaml')).toContain('<stored once: user-data.mime>');
      if (result.plan.eksctl) expect(expected('eksctl/nodegroup.yaml')).toContain('<stored once: nodeconfig.yaml>');
    });
  }

  // The node/ parts every node script carries after its data header, the same for every profile.
  it('script parts', () => compareWithGolden(SCRIPT_PARTS_DIR, scriptParts));

  it('a one-character edit of a comment in any kind of golden file fails the comparison', () => {
    const name = 'hostile-values';
    const { artifacts, stored } = goldenOf(render(caseProfile(name), name));
    const edits: [string, RegExp][] = [
      ['rootfs/etc/soci-snapshotter-grpc/config.toml', /^# Regenerate/m],
      ['bottlerocket/settings.toml', /^# This file/m],
      ['daemonset.yaml', /^#/m],
      ['nodeconfig.yaml', /#/],
      ['user-data.mime', /^# /m],
      ['install.sh', /^# /m],
      ['packer/files/bake.sh', /^# /m],
      ['daemonset-bundle/live.sh', /^# /m],
      ['packer/build.pkr.hcl', /^# /m],
    ];
    for (const [path, where] of edits) {
      const dir = mkdtempSync(join(tmpdir(), 'golden-'));
      try {
        cpSync(join(CASES, name, 'expected'), dir, { recursive: true });
        const file = join(dir, path);
        const text = readFileSync(file, 'utf8');
        const match = where.exec(text);
        expect(match, `${path} has a comment to edit`).not.toBeNull();
        const i = match!.index + match![0].length; // the character after the comment's start
        compareWithGolden(dir, artifacts, false, stored); // the copy matches before the edit
        writeFileSync(file, text.slice(0, i) + (text[i] === 'x' ? 'y' : 'x') + text.slice(i + 1));
        expect(() => compareWithGolden(dir, artifacts, false, stored), path).toThrow(/differs from the golden file/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

describe('refused profiles', () => {
  for (const name of readdirSync(INVALID).sort()) {
    it(name, () => {
      const text = readFileSync(join(INVALID, name, 'profile.yaml'), 'utf8');
      let error: unknown;
      try {
        render(text, 'profile.yaml');
      } catch (e) {
        error = e;
      }
      expect(error, 'the profile must be refused').toBeInstanceOf(ProfileError);
      const message = (error as ProfileError).message + '\n';
      const file = join(INVALID, name, 'errors.txt');
      if (UPDATE) writeFileSync(file, message);
      expect(message).toBe(readFileSync(file, 'utf8'));
    });
  }
});
