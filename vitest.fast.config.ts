// `npm run test:fast`, for the edit loop: test files that run in the test process only (no booted
// node, no child process, no real tool), in parallel. `npm test` runs these and all the others.
// A file belongs here only if it spawns nothing; one that starts using a real tool leaves the list.
// (Not merged with vitest.config.ts: mergeConfig would append its include of every test.)
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/cases.test.ts', 'test/launch-template.test.ts'],
    // These two run the built CLI, bash or packer.
    exclude: ['test/unit/checksums.test.ts', 'test/unit/template.test.ts'],
    testTimeout: 120_000,
  },
});
