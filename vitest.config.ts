import { defineConfig } from 'vitest/config';

// Workspace packages export a "@stevedore/source" condition pointing at src/*.ts, so tests run
// against sources without a build; tsc and Node use the dist/ entries.
const conditions = ['@stevedore/source', 'module', 'node', 'development|production'];
const resolve = { conditions };
const ssr = { resolve: { conditions, externalConditions: ['@stevedore/source'] } };

export default defineConfig({
  test: {
    clearMocks: true,
    restoreMocks: true,
    projects: [
      {
        resolve,
        ssr,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'examples/*/src/**/*.test.ts', 'soak/src/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'integration',
          include: [
            'packages/*/src/**/*.int.test.ts',
            'examples/*/src/**/*.int.test.ts',
            'soak/src/**/*.int.test.ts',
          ],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
