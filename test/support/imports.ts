/**
 * What a built JavaScript file imports: the check that dist/ needs only the packages a user's
 * install has (package.json "dependencies").
 *
 * API:
 *   importedPackages(js: string): string[]
 *       package names of the bare specifiers in static imports and re-exports, side-effect imports,
 *       import('literal') and require('literal'): "@scope/name" or "name", node: and builtins left out
 */
import { isBuiltin } from 'node:module';
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
