// Golden-file comparison: TOML and YAML structurally (parsed with js-toml / yaml), everything else
// byte for byte. UPDATE_GOLDEN=1 (npm run update-golden) rewrites the expected files instead.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { load as loadToml } from 'js-toml';
import { parseAllDocuments } from 'yaml';
import { expect } from 'vitest';
import { parseMime, type Artifact } from '../src/index.js';

export const UPDATE = process.env.UPDATE_GOLDEN === '1';

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

export function parsed(path: string, text: string): unknown {
  if (/\.toml$/.test(path)) return loadToml(text);
  if (/\.ya?ml$/.test(path)) return parseAllDocuments(text).map((d) => d.toJS());
  if (/\.json$/.test(path)) return JSON.parse(text);
  // gzip bytes may differ between zlib builds; what they carry may not.
  if (/\.mime$/.test(path)) return parseMime(text).map((p) => ({ ...p, body: parsed(`x.${p.contentType.includes('node.eks.aws') ? 'yaml' : 'txt'}`, String(p.body)) }));
  return text;
}

export function compareWithGolden(expectedDir: string, artifacts: Artifact[]): void {
  if (UPDATE) {
    rmSync(expectedDir, { recursive: true, force: true });
    for (const a of artifacts) {
      const file = join(expectedDir, a.path);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, a.content);
    }
    return;
  }
  expect(listFiles(expectedDir), `files in ${relative(process.cwd(), expectedDir)} (UPDATE_GOLDEN=1 to accept)`).toEqual(
    artifacts.map((a) => a.path).sort(),
  );
  for (const a of artifacts) {
    const want = readFileSync(join(expectedDir, a.path), 'utf8');
    expect(parsed(a.path, a.content), `${a.path} differs from the golden file`).toEqual(parsed(a.path, want));
  }
}

/** test/cases/<name>/profile.yaml, or undefined for the case that uses the embedded default. */
export function caseProfile(name: string): string | undefined {
  const file = join(import.meta.dirname, 'cases', name, 'profile.yaml');
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}
