// Golden-file comparison: every file byte for byte (a comment edit fails), after a structural
// comparison (TOML, YAML, JSON, MIME parsed) that names the data that moved when data moved.
// One exception: the gzip stream inside the self-extracting wrapper (src/mime/self-extracting.ts) is
// compared as the bytes it unpacks to, since deflate output is not fixed across zlib builds and CPUs
// (Node bundles Chromium's zlib, whose match finder has CPU-specific code paths; we saw equal bytes
// on Node 22 and 24 on x86_64 only). What several outputs carry is stored once (storeOnce): a payload
// embedded in a YAML output (the ConfigMap's scripts, Karpenter's userData, eksctl's NodeConfig), the
// script a gzip block unpacks to, and the node/ parts every node script carries after its data header.
// UPDATE_GOLDEN=1 (npm run update-golden) rewrites the expected files.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { load as loadToml } from 'js-toml';
import { parseAllDocuments } from 'yaml';
import { expect } from 'vitest';
import { parseMime, type Artifact } from '../src/index.js';
import { SCRIPTS, scriptPart, type Part } from '../src/artifacts/node-script.js';

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

/**
 * The node/ parts every script carries after its data header (SCRIPTS in node-script.ts), the same for
 * every profile: each stored once in test/script-parts/<part>.sh; a script golden holds its header,
 * then a `<stored once: ...>` line per part (and `main "$@"` where the script ends with it).
 */
export const SCRIPT_PARTS_DIR = join(import.meta.dirname, 'script-parts');
const PARTS = [...new Set(Object.values(SCRIPTS).flatMap((s) => s.parts))] as Part[];
export const scriptParts: Artifact[] = PARTS.map((name) => ({ path: `${name}.sh`, content: scriptPart(name), mode: 0o644 }));

/** A script's text with the parts after its header replaced by references, where they are exactly SCRIPTS'. */
function storeScriptPartsOnce(text: string): string {
  for (const { parts, main } of Object.values(SCRIPTS)) {
    const tail = main ? 'main "$@"\n' : '';
    const body = parts.map(scriptPart).join('') + tail;
    if (text.length > body.length && text.endsWith(body)) {
      return text.slice(0, -body.length) + parts.map((p) => `<stored once: script-parts/${p}.sh>\n`).join('') + tail;
    }
  }
  return text;
}

/**
 * Payloads stored once, each replaced by one line `<stored once: PATH>`, a reference that needs the
 * exact bytes (so the stored text asserts them equal). Both sides of a comparison go through it.
 * - in a YAML golden, a block scalar (`key: |` or `- |`) whose value is the content of another
 *   stored file;
 * - a gzip block (the wrapper's) that unpacks to the content of another stored file;
 * - in a shell script, the node/ parts after its data header (scriptParts).
 */
export function storeOnce(path: string, text: string, stored: Map<string, string>): string {
  if (/\.sh$/.test(path)) text = storeScriptPartsOnce(text);
  if (/\.ya?ml$/.test(path)) text = storeBlocksOnce(text, stored);
  return text.replace(GZIP_BLOCK, (block, indent: string, open: string, b64: string, close: string) => {
    const where = stored.get(unpack(b64));
    return where === undefined ? block : `${indent}${open}${indent}<stored once, gzipped: ${where}>\n${close}`;
  });
}

function storeBlocksOnce(text: string, stored: Map<string, string>): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    out.push(line);
    const head = /^( *)(?:- |[^ #].*: |- [^ #].*: )\|$/.exec(line);
    if (!head) continue;
    const keyIndent = head[1]!.length + (line.slice(head[1]!.length).startsWith('- ') ? 2 : 0);
    let j = i + 1;
    while (j < lines.length && (lines[j] === '' || lines[j]!.length - lines[j]!.trimStart().length > keyIndent)) j++;
    while (j > i + 1 && lines[j - 1] === '') j--; // clip chomping: trailing blank lines are not the value's
    const body = lines.slice(i + 1, j);
    const indent = body.find((l) => l !== '')?.match(/^ */)![0] ?? '';
    if (!indent || body.some((l) => l !== '' && !l.startsWith(indent))) continue;
    const value = `${body.map((l) => l.slice(indent.length)).join('\n')}\n`;
    const where = stored.get(value);
    if (where === undefined) continue;
    out.push(`${indent}<stored once: ${where}>`);
    i = j - 1;
  }
  return out.join('\n');
}

export function compareWithGolden(expectedDir: string, artifacts: Artifact[], update = UPDATE, stored = new Map<string, string>()): void {
  if (update) {
    rmSync(expectedDir, { recursive: true, force: true });
    for (const a of artifacts) {
      const file = join(expectedDir, a.path);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, storeOnce(a.path, a.content, stored));
    }
    return;
  }
  expect(listFiles(expectedDir), `files in ${relative(process.cwd(), expectedDir)} (UPDATE_GOLDEN=1 to accept)`).toEqual(
    artifacts.map((a) => a.path).sort(),
  );
  for (const a of artifacts) {
    const want = readFileSync(join(expectedDir, a.path), 'utf8');
    const got = storeOnce(a.path, a.content, stored);
    expect(parsed(a.path, got), `${a.path} differs from the golden file`).toEqual(parsed(a.path, want));
    expect(unwrapGzip(got), `${a.path} differs from the golden file (bytes)`).toBe(unwrapGzip(want));
  }
}

// The wrapper's heredoc, at any indentation (user data, or a YAML block in eksctl/Karpenter outputs).
const GZIP_BLOCK = /^([ \t]*)(base64 -d <<'SOCI_INSTALLER_EOF' \| gunzip >"\$script"\n)((?:\1[A-Za-z0-9+/=]+\n)+)(\1SOCI_INSTALLER_EOF)$/gm;

function unpack(b64: string): string {
  return gunzipSync(Buffer.from(b64.replace(/\s/g, ''), 'base64')).toString('utf8');
}

/** The text with each gzip block replaced by the size and sha256 of what it unpacks to. */
export function unwrapGzip(text: string): string {
  return text.replace(GZIP_BLOCK, (_m, indent: string, open: string, b64: string, close: string) => {
    const bytes = Buffer.from(unpack(b64));
    return `${indent}${open}${indent}<gzip of ${bytes.length} bytes, sha256 ${createHash('sha256').update(bytes).digest('hex')}>\n${close}`;
  });
}

/** What each gzip block in the text unpacks to. */
export function gzipPayloads(text: string): string[] {
  return [...text.matchAll(GZIP_BLOCK)].map((m) => unpack(m[3]!));
}

/** test/cases/<name>/profile.yaml, or undefined for the case that uses the embedded default. */
export function caseProfile(name: string): string | undefined {
  const file = join(import.meta.dirname, 'cases', name, 'profile.yaml');
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}
