// The pull bench (scripts/bench-pull.sh): booted test nodes, long runs, figures only.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'),
  test: {
    include: ['test/bench/*.bench.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
