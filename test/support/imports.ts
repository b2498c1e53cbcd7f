/**
 * What built JavaScript imports: the check that dist/ needs only the packages a user's install has
 * (package.json "dependencies"), and what a run of the CLI loaded.
 *
 * API:
 *   importedPackages(js: string): string[]
 *       package names of the bare specifiers in static imports and re-exports, side-effect imports,
 *       import('literal') and require('literal'): "@scope/name" or "name", node: and builtins left out
 *   packageOf(path: string): string | undefined
 *       the package a file under node_modules/ belongs to ("@scope/name" or "name"), else undefined
 *   chunkSources(chunk: string): string[]
 *       the files a chunk of the bundled CLI (dist/cli/) was made from, as file: URLs, from its source map;
 *       [] for a chunk without one (a chunk that only re-exports another's names)
 *   tracedModules(trace: string): string[]
 *       the URLs a run traced by test/fixtures/trace-imports.mjs resolved, and for each chunk of the
 *       bundle among them, the modules it holds (its code all runs when it loads)
 */
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

export function importedPackages(js: string): string[] {
  const names = new Set<string>();
  // TypeScript's scanner, so comments and strings that read like imports are not taken for them.
  for (const { fileName: spec } of ts.preProcessFile(js, true, true).importedFiles) {
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('data:') || isBuiltin(spec)) continue;
    const parts = spec.split('/');
    names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
  }
  return [...names].sort();
}

export function packageOf(path: string): string | undefined {
  return /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
}

export function chunkSources(chunk: string): string[] {
  const url = chunk.startsWith('file:') ? chunk : pathToFileURL(chunk).href;
  const map = `${fileURLToPath(url)}.map`;
  if (!existsSync(map)) return [];
  return (JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] }).sources.map((s) => new URL(s, url).href);
}

export function tracedModules(trace: string): string[] {
  const urls = trace.split('\n').filter((u) => u !== '');
  return [...new Set(urls.flatMap((u) => (u.includes('/dist/cli/') ? [u, ...chunkSources(u)] : [u])))];
}
