import { definePlugin, isStevedoreError, KERNEL_VERSION, kernelErrorCodes } from '@stevedore/kernel';
import { expect, it } from 'vitest';
import { createFakeInfrastructure, fakeInfrastructurePlugin } from '../fakes/fake-infrastructure.js';
import { createTestKernel } from '../test-kernel.js';

it('runs plugin preflight checks before starting and lists every failure; warnings do not stop the start', async () => {
  const checks = definePlugin({
    id: 'checks',
    kernel: `^${KERNEL_VERSION}`,
    register(r) {
      r.addPreflightCheck({
        create: () => ({
          id: 'spot-provider',
          description: 'cluster has FARGATE_SPOT',
          run: async () => ({
            ok: false,
            message: "Cluster 'c' has no FARGATE_SPOT capacity provider; attach it.",
          }),
        }),
      });
      r.addPreflightCheck({
        create: () => ({
          id: 'soft',
          description: 'advice',
          run: async () => ({ ok: false, severity: 'warning', message: 'consider X' }),
        }),
      });
      r.addPreflightCheck({
        create: () => ({
          id: 'broken',
          description: 'throws',
          run: async () => {
            throw new Error('boom');
          },
        }),
      });
    },
  });
  const kernel = createTestKernel({
    plugins: [fakeInfrastructurePlugin(createFakeInfrastructure({ type: 'ecs' })), checks],
    apiUrl: 'http://127.0.0.1:9/api',
  });
  const e = await kernel.run(AbortSignal.timeout(5000)).catch((x: unknown) => x);
  expect(isStevedoreError(e, kernelErrorCodes.CONFIG_INVALID)).toBe(true);
  expect((e as Error).message).toBe(
    "Preflight checks failed:\n  - spot-provider: Cluster 'c' has no FARGATE_SPOT capacity provider; attach it.\n  - broken: The check itself failed: boom",
  );
  expect(kernel.records.some((r) => r.message === 'Preflight soft: consider X')).toBe(true);
});
