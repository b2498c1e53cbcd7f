// Bundles the CLI (dist/bin.js, what it imports and the packages they import: yaml, mustache...)
// into dist/cli/, the package's bin. Node's module loaders cost per file: `render` loaded 121 (47 ES
// modules; 74 CommonJS files, all yaml's but the precompiled validator and one of ajv's), from the
// bundle 24: 22 chunks and those two (issue 11: start-up against `node -e 0`). The library
// (dist/index.js) stays tsc's modules. Run by `npm run build` after tsc and the asset steps.
// rolldown is Vite's bundler (in the tree already as Vite's, which vitest runs on).
//
// Each import() stays a chunk of its own, loaded only by the commands that import it. The entry
// chunk, bin.js, holds bin.ts and compile-cache.ts only: it turns the compile cache on before the
// other chunks are compiled. Not bundled: node: builtins, the AWS SDK (imported by the AWS commands
// only, and big) and the packages loaded with createRequire at run time (ajv, which the precompiled
// validator requires too, and smol-toml): they load from node_modules as before.
// The source maps name the dist/ module (or dependency file) behind each chunk line, for the stack
// of an internal error (src/error-stack.ts) and for the tests, which tell by them what a chunk holds.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const dir = fileURLToPath(new URL('../dist/cli/', import.meta.url));
rmSync(dir, { recursive: true, force: true }); // chunk names carry a hash: no stale chunk is left
const { output } = await build({
  input: { bin: fileURLToPath(new URL('../dist/bin.js', import.meta.url)) },
  platform: 'node',
  external: [/^node:/, /^@aws-sdk\//, 'ajv', 'smol-toml'],
  output: { dir, format: 'es', sourcemap: true, sourcemapExcludeSources: true, entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
});
// src/package/locations.ts finds the package's files from a chunk one folder below dist/.
const deeper = output.map((o) => o.fileName).filter((f) => f.includes('/'));
if (deeper.length > 0) throw new Error(`bundle-cli: chunks below dist/cli/: ${deeper.join(', ')}`);
