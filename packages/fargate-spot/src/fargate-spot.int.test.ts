/**
 * End to end: the real kernel with ecs-launcher + fargate-spot, real AWS SDK clients against the ECS emulator, the
 * Prefect emulator, and the emulator's simulated engine finishing the run.
 */
import { ecsLauncherPlugin } from '@stevedore/ecs-launcher';
import {
  type AwsEmulator,
  createTestKernel,
  type JsonObject,
  type PrefectEmulator,
  pointAwsSdkAt,
  startAwsEmulator,
  startPrefectEmulator,
} from '@stevedore/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fargateSpotPlugin } from './plugin.js';

const POOL = 'spot-pool';
const CAPACITY =
  'Capacity is unavailable at this time. Please try again later or in a different availability zone';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setup(pluginConfig: Record<string, unknown> = {}, jobVariables: Record<string, unknown> = {}) {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  cleanups.push(() => aws.stop());
  const restore = pointAwsSdkAt(aws);
  cleanups.push(async () => restore());
  const flow = prefect.seedFlow({ name: 'etl' });
  prefect.seedWorkPool({ name: POOL, type: 'ecs' });
  const deployment = prefect.seedDeployment({
    flow_id: flow.id,
    name: 'nightly',
    work_pool_name: POOL,
    job_variables: {
      launch_type: 'FARGATE_SPOT',
      env: { STEVEDORE_SIM_OUTCOME: 'complete', STEVEDORE_SIM_RUN_MS: '50' },
      ...jobVariables,
    },
  });
  const kernel = createTestKernel({
    plugins: [ecsLauncherPlugin, fargateSpotPlugin],
    apiUrl: prefect.url,
    pool: POOL,
    config: {
      querySeconds: 0.1,
      trackerPollSeconds: 0.1,
      crashGraceSeconds: 0,
      plugins: { 'ecs-launcher': { observer: { pollSeconds: 0.1 } }, 'fargate-spot': pluginConfig },
    },
    overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
  });
  const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
  return { prefect, aws, kernel, run };
}

async function finalState(prefect: PrefectEmulator, id: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = prefect.getFlowRun(id)?.state;
    if (state && ['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED'].includes(state.type)) return state;
    if (Date.now() > deadline) throw new Error(`flow run ${id} did not finish`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const runTasks = (aws: AwsEmulator) =>
  aws.requests.filter((r) => r.operation === 'RunTask' && r.input).map((r) => r.input as JsonObject);

describe('fargate-spot end to end', () => {
  it('Spot capacity unavailable at RunTask → relaunched on on-demand FARGATE, logged, counted, completes', async () => {
    const { prefect, aws, kernel, run } = await setup();
    aws.ecs.injectRunTaskFailure({ reason: CAPACITY, capacityProvider: 'FARGATE_SPOT', times: 10 });
    const handle = kernel.start();
    cleanups.push(() => handle.stop());
    expect((await finalState(prefect, run.id)).type).toBe('COMPLETED');

    const requests = runTasks(aws);
    // The reference's 3 RunTask rounds on Spot, then one on FARGATE with a different clientToken.
    expect(requests.slice(0, -1).map((r) => r.capacityProviderStrategy)).toEqual(
      Array(3).fill([{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]),
    );
    const last = requests.at(-1);
    expect(last?.launchType).toBe('FARGATE');
    expect(last).not.toHaveProperty('capacityProviderStrategy');
    expect(new Set(requests.map((r) => r.clientToken)).size).toBe(requests.length);
    expect(aws.ecs.tasks('default')[0]).toMatchObject({ launchType: 'FARGATE' });
    // Flow-run logs are shipped in batches: wait for the relaunch line.
    const relaunchLogged = () =>
      prefect
        .logs()
        .some((l) => l.flow_run_id === run.id && l.message.includes('launching the task on FARGATE instead'));
    const deadline = Date.now() + 10_000;
    while (!relaunchLogged() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(relaunchLogged()).toBe(true);
    expect(
      kernel.metrics.counter('stevedore_flow_runs_retried_total', '').get({ class: 'spot-capacity' }),
    ).toBe(1);
    expect(aws.schemaErrors()).toEqual([]);
  });

  it('fallbackToOnDemand: false → the run crashes with the capacity error, nothing launched on FARGATE', async () => {
    const { prefect, aws, kernel, run } = await setup({ fallbackToOnDemand: false });
    aws.ecs.injectRunTaskFailure({ reason: CAPACITY, capacityProvider: 'FARGATE_SPOT', times: 10 });
    const handle = kernel.start();
    cleanups.push(() => handle.stop());
    const state = await finalState(prefect, run.id);
    expect(state.type).toBe('CRASHED');
    expect(runTasks(aws).every((r) => r.launchType === undefined)).toBe(true);
  });

  it('Spot interruption mid-run → AwaitingRetry, a new attempt on a new task, which completes', async () => {
    const { prefect, aws, kernel, run } = await setup(
      {},
      { env: { STEVEDORE_SIM_OUTCOME: 'complete', STEVEDORE_SIM_RUN_MS: '1500' } },
    );
    const handle = kernel.start();
    cleanups.push(() => handle.stop());
    const first = await waitUntil(
      () => aws.ecs.tasks().find((t) => t.lastStatus === 'RUNNING'),
      'a running task',
    );
    await waitUntil(() => prefect.getFlowRun(run.id)?.state?.type === 'RUNNING', 'the engine Running');
    aws.ecs.interruptSpot(String(first.taskArn));
    expect((await finalState(prefect, run.id, 20_000)).type).toBe('COMPLETED');

    expect(aws.ecs.tasks()).toHaveLength(2);
    await aws.ecs.waitForTask(String(aws.ecs.tasks()[1]?.taskArn), 'STOPPED');
    const tasks = aws.ecs.tasks();
    expect(tasks[0]).toMatchObject({ stopCode: 'SpotInterruption', lastStatus: 'STOPPED' });
    expect(tasks[1]).toMatchObject({ stopCode: 'EssentialContainerExited', lastStatus: 'STOPPED' });
    const history = prefect.stateHistory(run.id);
    const retry = history.find((s) => s.name === 'AwaitingRetry');
    expect(retry?.type).toBe('SCHEDULED');
    expect(retry?.message).toContain('Fargate Spot capacity was reclaimed (Your Spot Task was interrupted.)');
    expect(retry?.message).toContain('interruption retry 1 of 3');
    expect(history.map((s) => s.name)).toContain('AwaitingRetry');
    expect(history.at(-1)?.type).toBe('COMPLETED');
    // The second attempt is a second claim: its own RunTask clientToken.
    expect(new Set(runTasks(aws).map((r) => r.clientToken)).size).toBe(2);
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toContain(String(tasks[1]?.taskArn));
    expect(
      kernel.metrics.counter('stevedore_flow_runs_retried_total', '').get({ class: 'spot-interruption' }),
    ).toBe(1);
    expect(aws.schemaErrors()).toEqual([]);
  });

  it('interrupted on every attempt → Crashed with the whole history once stevedore_interruption_retries is spent', async () => {
    const { prefect, aws, kernel, run } = await setup(
      {},
      {
        stevedore_interruption_retries: 2,
        env: { STEVEDORE_SIM_OUTCOME: 'spot-interruption', STEVEDORE_SIM_RUN_MS: '100' },
      },
    );
    const handle = kernel.start();
    cleanups.push(() => handle.stop());
    const state = await finalState(prefect, run.id, 30_000);
    expect(state.type).toBe('CRASHED');
    expect(state.message).toContain('interrupted 3 times');
    expect(state.message).toContain('budget of 2 (stevedore_interruption_retries) is spent');
    expect(state.message).toMatch(
      /History: Scheduled → Pending → .*AwaitingRetry at .*interruption retry 2 of 2/,
    );
    expect(aws.ecs.tasks().map((t) => t.stopCode)).toEqual(Array(3).fill('SpotInterruption'));
    expect(prefect.stateHistory(run.id).filter((s) => s.name === 'AwaitingRetry')).toHaveLength(2);
  });
});

async function waitUntil<T>(
  check: () => T | undefined | false,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
