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

it('connects to Prefect while the checks run, and claims nothing before they pass', async () => {
  const { startPrefectEmulator } = await import('../prefect-emulator/index.js');
  const prefect = await startPrefectEmulator({ mode: '3' });
  try {
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let checkStarted = 0;
    const slow = definePlugin({
      id: 'slow-check',
      kernel: `^${KERNEL_VERSION}`,
      register(r) {
        r.addPreflightCheck({
          create: () => ({
            id: 'slow',
            description: 'takes its time',
            run: async () => {
              checkStarted = Date.now();
              await gate;
              return { ok: true, message: 'ready' };
            },
          }),
        });
      },
    });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = createTestKernel({
      plugins: [fakeInfrastructurePlugin(fake), slow],
      apiUrl: prefect.url,
      pool: 'ecs-pool',
      config: { querySeconds: 0.1 },
      overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
    });
    const controller = new AbortController();
    const running = kernel.run(controller.signal);
    // The worker heartbeats while the check is still pending…
    for (let i = 0; i < 100 && !prefect.requests.some((r) => r.path.includes('/workers/heartbeat')); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(checkStarted).toBeGreaterThan(0);
    expect(prefect.requests.some((r) => r.path.includes('/workers/heartbeat'))).toBe(true);
    // …but claims and launches nothing until it passes.
    await new Promise((r) => setTimeout(r, 300));
    expect(prefect.getFlowRun(run.id)?.state?.type).toBe('SCHEDULED');
    expect(fake.submissions.size).toBe(0);
    release();
    for (let i = 0; i < 100 && fake.submissions.size === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(fake.submissions.size).toBe(1);
    controller.abort();
    await running.catch(() => undefined);
  } finally {
    await prefect.stop();
  }
});
