import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real tools and booted nodes: generous limits, and no timing assertions anywhere.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // 2 cores; booted nodes and containerd instances do not share well.
    fileParallelism: false,
  },
});
