/**
 * Infrastructure interruptions (e.g. Fargate Spot reclaimed): the kernel reschedules the run with a forced Scheduled
 * "AwaitingRetry" state while its budget lasts, counted from the state history, and crashes it with the history when
 * the budget is spent. End to end against the Prefect emulator with the fake infrastructure; the ECS version (stopCode
 * SpotInterruption through the AWS emulator) is in fargate-spot's acceptance tests.
 */
import type { InfrastructureStateChange } from '@stevedore/kernel';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createFakeInfrastructure,
  type FakeInfrastructure,
  fakeInfrastructurePlugin,
} from '../fakes/fake-infrastructure.js';
import { type PrefectEmulator, startPrefectEmulator } from '../prefect-emulator/index.js';
import { createTestKernel, type TestKernel } from '../test-kernel.js';
import { waitFor } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setup(
  config: Record<string, unknown> = {},
): Promise<{ prefect: PrefectEmulator; fake: FakeInfrastructure; kernel: TestKernel; flowId: string }> {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
  const flow = prefect.seedFlow({ name: 'etl' });
  const fake = createFakeInfrastructure({ type: 'ecs' });
  const kernel = createTestKernel({
    plugins: [fakeInfrastructurePlugin(fake)],
    apiUrl: prefect.url,
    pool: 'ecs-pool',
    config: { trackerPollSeconds: 0.1, crashGraceSeconds: 0.2, ...config },
    overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
  });
  const handle = kernel.start();
  cleanups.push(() => handle.stop());
  return { prefect, fake, kernel, flowId: flow.id };
}

const spot = (identifier: string): InfrastructureStateChange => ({
  identifier,
  status: 'stopped',
  providerStatus: 'STOPPED',
  exitCode: null,
  stopCode: 'SpotInterruption',
  stopReason: 'Your Spot Task was interrupted.',
  version: 5,
  interruption: {
    class: 'spot-interruption',
    summary: 'Fargate Spot capacity was reclaimed (Your Spot Task was interrupted.).',
  },
});

/** Waits for the n-th launch, marks it running in Prefect and in the fake, and returns its identifier. */
async function nthLaunchRunning(
  prefect: PrefectEmulator,
  fake: FakeInfrastructure,
  runId: string,
  n: number,
): Promise<string> {
  const submission = await waitFor(
    () => [...fake.submissions.values()].filter((s) => s.job.flowRun.id === runId)[n - 1],
    10_000,
    `launch ${n}`,
  );
  fake.emit({ identifier: submission.identifier, status: 'running', version: 3 });
  prefect.setFlowRunState(runId, 'RUNNING');
  return submission.identifier;
}

describe('infrastructure interruptions', () => {
  it('reschedules an interrupted run (forced Scheduled AwaitingRetry, due now); the next attempt completes', async () => {
    const { prefect, fake, kernel, flowId } = await setup();
    const run = prefect.seedFlowRun({ flow_id: flowId, work_pool_name: 'ecs-pool' });
    const first = await nthLaunchRunning(prefect, fake, run.id, 1);
    fake.emit(spot(first));
    // Rescheduled and claimed again by the worker: a second launch with a new attempt key.
    const second = await nthLaunchRunning(prefect, fake, run.id, 2);
    expect(second).not.toBe(first);
    const attempts = [...fake.submissions.values()].filter((s) => s.job.flowRun.id === run.id);
    expect(new Set(attempts.map((s) => s.attemptKey)).size).toBe(2);
    prefect.setFlowRunState(run.id, 'COMPLETED');
    fake.emit({ identifier: second, status: 'stopped', exitCode: 0, version: 9 });
    await waitFor(() => !kernel.worker().tracker.has(run.id), 5000, 'the run released');

    const history = prefect.stateHistory(run.id);
    const retry = history.find((s) => s.name === 'AwaitingRetry');
    expect(retry).toMatchObject({ type: 'SCHEDULED' });
    expect(retry?.message).toContain('Fargate Spot capacity was reclaimed');
    expect(retry?.message).toContain('interruption retry 1 of 3');
    expect(retry?.message).toContain(first);
    // Due now: scheduled no later than the moment it was written.
    expect(Date.parse(String(retry?.state_details?.scheduled_time))).toBeLessThanOrEqual(
      Date.parse(String(retry?.timestamp)) + 1000,
    );
    expect(history.map((s) => s.type)).toEqual([
      'SCHEDULED',
      'PENDING',
      'PENDING',
      'RUNNING',
      'SCHEDULED',
      'PENDING',
      'PENDING',
      'RUNNING',
      'COMPLETED',
    ]);
    expect(prefect.getFlowRun(run.id)?.state?.type).toBe('COMPLETED');
    await waitFor(
      () =>
        prefect.logs().some((l) => l.flow_run_id === run.id && /rescheduled to run again/.test(l.message)),
      5000,
      'the reschedule in the run logs',
    );
    const metrics = kernel.metrics.render();
    expect(metrics).toMatch(/stevedore_flow_runs_retried_total\{class="spot-interruption"\} 1/);
  });

  it('crashes the run with its whole history once the budget (stevedore_interruption_retries) is spent', async () => {
    const { prefect, fake, kernel, flowId } = await setup();
    const run = prefect.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'ecs-pool',
      job_variables: { stevedore_interruption_retries: 2 },
    });
    for (let n = 1; n <= 3; n++) fake.emit(spot(await nthLaunchRunning(prefect, fake, run.id, n)));
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED', 10_000, 'Crashed');
    await waitFor(() => !kernel.worker().tracker.has(run.id), 5000, 'the run released');
    const state = prefect.getFlowRun(run.id)?.state;
    expect(state?.message).toContain('interrupted 3 times');
    expect(state?.message).toContain('budget of 2 (stevedore_interruption_retries) is spent');
    expect(state?.message).toContain('interruption retry 1 of 2');
    expect(state?.message).toContain('interruption retry 2 of 2');
    expect(prefect.stateHistory(run.id).filter((s) => s.name === 'AwaitingRetry')).toHaveLength(2);
    expect([...fake.submissions.values()].filter((s) => s.job.flowRun.id === run.id)).toHaveLength(3);
  });

  it('reschedules a run the engine already reported Crashed on the SIGTERM (forced)', async () => {
    const { prefect, fake, flowId } = await setup({ crashGraceSeconds: 30 });
    const run = prefect.seedFlowRun({ flow_id: flowId, work_pool_name: 'ecs-pool' });
    const first = await nthLaunchRunning(prefect, fake, run.id, 1);
    prefect.setFlowRunState(run.id, {
      type: 'CRASHED',
      name: 'Crashed',
      message: 'Execution was aborted by a termination signal.',
    });
    fake.emit(spot(first));
    // No crash grace to wait for: the engine has spoken.
    await nthLaunchRunning(prefect, fake, run.id, 2);
    const names = prefect.stateHistory(run.id).map((s) => s.name);
    expect(names.indexOf('AwaitingRetry')).toBeGreaterThan(names.indexOf('Crashed'));
  });

  it('leaves a run that completed before the interruption, and never reschedules with a budget of 0', async () => {
    const { prefect, fake, kernel, flowId } = await setup({ interruptionRetries: 0 });
    const done = prefect.seedFlowRun({ flow_id: flowId, work_pool_name: 'ecs-pool' });
    const doneTask = await nthLaunchRunning(prefect, fake, done.id, 1);
    prefect.setFlowRunState(done.id, 'COMPLETED');
    fake.emit(spot(doneTask));
    await waitFor(() => !kernel.worker().tracker.has(done.id), 5000, 'the completed run released');
    expect(prefect.getFlowRun(done.id)?.state?.type).toBe('COMPLETED');

    const run = prefect.seedFlowRun({ flow_id: flowId, work_pool_name: 'ecs-pool' });
    fake.emit(spot(await nthLaunchRunning(prefect, fake, run.id, 1)));
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED', 10_000, 'Crashed');
    expect(prefect.getFlowRun(run.id)?.state?.message).toContain('interruption budget is 0');
    expect(prefect.stateHistory(run.id).some((s) => s.name === 'AwaitingRetry')).toBe(false);
  });

  it('rejects a stevedore_interruption_retries that is not a whole number, naming it', async () => {
    const { prefect, fake, flowId } = await setup();
    const run = prefect.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'ecs-pool',
      job_variables: { stevedore_interruption_retries: 1.5 },
    });
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED', 10_000, 'Crashed');
    expect(prefect.getFlowRun(run.id)?.state?.message).toMatch(
      /stevedore_interruption_retries' must be a whole number/,
    );
    expect(fake.submissions.size).toBe(0);
  });
});
