import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start local servers and child processes; 2-core CI machines need headroom.
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
