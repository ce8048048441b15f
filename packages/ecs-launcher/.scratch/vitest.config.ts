import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { alias: { '@stevedore/kernel': fileURLToPath(new URL('./kernel-index.ts', import.meta.url)) } },
  test: { root: fileURLToPath(new URL('..', import.meta.url)), include: ['src/**/*.test.ts'], clearMocks: true, restoreMocks: true },
});
