/**
 * Reconciliation, guaranteed teardown, max runtime and the full-page re-poll, end to end against the Prefect
 * emulator with the fake infrastructure (the ECS version of the relaunch is in ecs-launcher's acceptance tests).
 */
import {
  claimStateOf,
  KERNEL_STEVEDORE_VARIABLES,
  pidIsStale,
  withStevedoreVariables,
} from '@stevedore/kernel';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createFakeInfrastructure,
  type FakeInfrastructure,
  fakeBaseJobTemplate,
  fakeInfrastructurePlugin,
} from '../fakes/fake-infrastructure.js';
import { type PrefectEmulator, startPrefectEmulator } from '../prefect-emulator/index.js';
import { createTestKernel, type TestKernel } from '../test-kernel.js';
import { waitFor } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function emulator(mode: '2' | '3' = '3'): Promise<PrefectEmulator> {
  const prefect = await startPrefectEmulator({ mode });
  cleanups.push(() => prefect.stop());
  return prefect;
}

function worker(
  prefect: PrefectEmulator,
  fake: FakeInfrastructure,
  config: Record<string, unknown> = {},
): TestKernel & { handle: ReturnType<TestKernel['start']> } {
  const kernel = createTestKernel({
    plugins: [fakeInfrastructurePlugin(fake)],
    apiUrl: prefect.url,
    pool: 'ecs-pool',
    config: { reconcileSeconds: 0.2, trackerPollSeconds: 0.1, ...config },
    overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
  });
  const handle = kernel.start();
  cleanups.push(() => handle.stop());
  return Object.assign(kernel, { handle });
}

/** A run claimed by `owner` (Pending, renamed Submitting) whose infrastructure_pid was never reported. */
function claimedRun(prefect: PrefectEmulator, flowId: string, owner: string | undefined) {
  const run = prefect.seedFlowRun({
    flow_id: flowId,
    work_pool_name: 'ecs-pool',
    ...(owner ? { labels: { 'prefect.worker.name': owner } } : {}),
  });
  prefect.setFlowRunState(run.id, 'PENDING');
  if (prefect.mode === '3') prefect.setFlowRunState(run.id, { type: 'PENDING', name: 'Submitting' });
  return run;
}

/**
 * A run of pool `ecs-pool` launched as `OLD_PID` by a worker that died, interrupted, rescheduled by an interruption
 * retry naming `OLD_PID`, and claimed again (PENDING) — still carrying `OLD_PID`.
 */
const OLD_PID = 'cluster::task-of-attempt-1';
function rescheduledRun(prefect: PrefectEmulator) {
  prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
  const flow = prefect.seedFlow({ name: 'etl' });
  const run = prefect.seedFlowRun({
    flow_id: flow.id,
    work_pool_name: 'ecs-pool',
    labels: { 'prefect.worker.name': 'worker-that-died' },
    infrastructure_pid: OLD_PID,
  });
  prefect.setFlowRunState(run.id, 'PENDING');
  prefect.setFlowRunState(run.id, 'RUNNING');
  prefect.setFlowRunState(
    run.id,
    {
      type: 'SCHEDULED',
      name: 'AwaitingRetry',
      message: `Spot reclaimed. Rescheduled (interruption retry 1 of 3; infrastructure ${OLD_PID}).`,
    },
    { force: true },
  );
  prefect.setFlowRunState(run.id, 'PENDING');
  return run;
}

describe('claimStateOf', () => {
  it('is the first state of the trailing PENDING streak', () => {
    const history = [
      { id: 'a', type: 'SCHEDULED' },
      { id: 'b', type: 'PENDING' },
      { id: 'c', type: 'SCHEDULED', name: 'AwaitingRetry' },
      { id: 'd', type: 'PENDING' },
      { id: 'e', type: 'PENDING', name: 'Submitting' },
      { id: 'f', type: 'PENDING', name: 'InfrastructurePending' },
    ] as const;
    expect(claimStateOf(history)?.id).toBe('d');
    expect(claimStateOf([...history, { id: 'g', type: 'RUNNING' }])).toBeUndefined();
    expect(claimStateOf([])).toBeUndefined();
  });
});

describe('pidIsStale', () => {
  const first = [
    { id: 'a', type: 'SCHEDULED' },
    { id: 'b', type: 'PENDING' },
    { id: 'c', type: 'RUNNING' },
  ] as const;
  it('is true when an interruption retry names the pid, whether or not the infrastructure could be listed', () => {
    const history = [
      ...first,
      {
        id: 'd',
        type: 'SCHEDULED',
        name: 'AwaitingRetry',
        message: 'Spot reclaimed. Rescheduled (interruption retry 1 of 3; infrastructure c1::t1).',
      },
      { id: 'e', type: 'PENDING' },
    ] as const;
    expect(pidIsStale(history, 'c1::t1', false)).toBe(true);
    expect(pidIsStale(history, 'c1::t2', false)).toBe(false);
  });
  it('is true for a pid not live when the run was scheduled again after a claim, and false on a first claim', () => {
    const rescheduled = [
      ...first,
      { id: 'd', type: 'SCHEDULED', name: 'Scheduled' },
      { id: 'e', type: 'PENDING' },
    ] as const;
    expect(pidIsStale(rescheduled, 'c1::t1', true)).toBe(true);
    expect(pidIsStale(rescheduled, 'c1::t1', false)).toBe(false);
    expect(pidIsStale([first[0], first[1]], 'c1::t1', true)).toBe(false);
  });
});

describe('restart reconciliation', () => {
  it("relaunches a rescheduled run's new claim whose worker died before RunTask, ignoring the earlier attempt's pid", async () => {
    const prefect = await emulator();
    const run = rescheduledRun(prefect);
    prefect.setFlowRunState(run.id, { type: 'PENDING', name: 'Submitting' });
    const claim = prefect
      .stateHistory(run.id)
      .filter((s) => s.type === 'PENDING')
      .at(-2); // the second claim, before its rename
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = worker(prefect, fake, { reconcilePendingSeconds: 0 });
    const submission = await waitFor(() => [...fake.submissions.values()][0], 5000, 'the relaunch');
    expect(submission.attemptKey).toBe(`${run.id}:${claim?.id}`);
    await waitFor(
      () => prefect.getFlowRun(run.id)?.infrastructure_pid === submission.identifier || undefined,
      5000,
      'the new infrastructure_pid',
    );
    await new Promise((r) => setTimeout(r, 600));
    expect(fake.submissions.size).toBe(1);
    expect(kernel.worker().tracker.get(run.id)?.identifier).toBe(submission.identifier);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it("a Running run still carrying its earlier attempt's pid: finds the new attempt's stopped infrastructure instead", async () => {
    // The 10,000-run soak: interrupted, rescheduled, claimed again; the new claim's worker died between RunTask and
    // the PATCH, the new task started the engine (Running) and stopped too. The pid still names the first task.
    const prefect = await emulator();
    const run = rescheduledRun(prefect);
    prefect.setFlowRunState(run.id, 'RUNNING');
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const { identifier } = await fake.submit(
      { attemptKey: `${run.id}:claim-2`, workPool: { name: 'ecs-pool' }, flowRun: { id: run.id } } as never,
      { signal: new AbortController().signal },
    );
    fake.emit({ identifier, status: 'stopped', exitCode: 1, stopCode: 'EssentialContainerExited' });
    const kernel = worker(prefect, fake, { reconcilePendingSeconds: 0 });
    await waitFor(
      () => kernel.worker().tracker.get(run.id)?.identifier === identifier || undefined,
      5000,
      "the adoption of the second attempt's task",
    );
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toBe(identifier);
    fake.emit({ identifier, status: 'stopped', exitCode: 1, stopCode: 'EssentialContainerExited' });
    await waitFor(
      () => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED' || undefined,
      10_000,
      'the crash',
    );
    expect(fake.submissions.size).toBe(1);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('adopts the stopped infrastructure of a Running run whose pid was never reported, and reports the crash', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({
      flow_id: flow.id,
      work_pool_name: 'ecs-pool',
      labels: { 'prefect.worker.name': 'worker-that-died' },
    });
    prefect.setFlowRunState(run.id, 'PENDING');
    prefect.setFlowRunState(run.id, 'RUNNING');
    const fake = createFakeInfrastructure({ type: 'ecs' });
    // The dead worker's launch: it ran, and stopped before anyone saw it live.
    const { identifier } = await fake.submit(
      { attemptKey: `${run.id}:claim`, workPool: { name: 'ecs-pool' }, flowRun: { id: run.id } } as never,
      { signal: new AbortController().signal },
    );
    fake.emit({ identifier, status: 'stopped', exitCode: 1, stopCode: 'EssentialContainerExited' });
    const kernel = worker(prefect, fake, { reconcilePendingSeconds: 0 });
    await waitFor(() => kernel.worker().tracker.has(run.id) || undefined, 5000, 'the adoption');
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toBe(identifier);
    expect(fake.submissions.size).toBe(1);
    // What its observer then reports (ECS: the DescribeTasks poller describes every tracked task).
    fake.emit({ identifier, status: 'stopped', exitCode: 1, stopCode: 'EssentialContainerExited' });
    await waitFor(
      () => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED' || undefined,
      10_000,
      'the crash',
    );
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it("relaunches a run claimed by a gone worker with its claim's attempt key, once", async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = claimedRun(prefect, flow.id, 'worker-that-died');
    const claim = prefect.stateHistory(run.id).find((s) => s.type === 'PENDING');
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = worker(prefect, fake, { reconcilePendingSeconds: 0 });
    const submission = await waitFor(() => [...fake.submissions.values()][0], 5000, 'the relaunch');
    expect(submission.attemptKey).toBe(`${run.id}:${claim?.id}`);
    await waitFor(() => prefect.getFlowRun(run.id)?.infrastructure_pid, 5000, 'infrastructure_pid');
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toBe(submission.identifier);
    // Rounds later: still one launch, tracked, and the run now carries this worker's name.
    await new Promise((r) => setTimeout(r, 600));
    expect(fake.submissions.size).toBe(1);
    expect(submission.calls).toBe(1);
    expect(kernel.worker().tracker.has(run.id)).toBe(true);
    expect(prefect.getFlowRun(run.id)?.labels?.['prefect.worker.name']).toBe(kernel.worker().name);
    // No new claim was made: the history has the seeded claim and rename only.
    expect(prefect.stateHistory(run.id).map((s) => `${s.type}/${s.name}`)).toEqual([
      'SCHEDULED/Scheduled',
      'PENDING/Pending',
      'PENDING/Submitting',
    ]);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('leaves runs of a worker that still heartbeats alone, and takes them over once it stops', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    // Another replica: it heartbeats every 0.2 s.
    const other = worker(prefect, createFakeInfrastructure({ type: 'ecs' }), {
      name: 'replica-a',
      heartbeatSeconds: 0.2,
      querySeconds: 60,
    });
    await waitFor(
      () => prefect.listWorkers('ecs-pool').some((w) => w.name === 'replica-a'),
      5000,
      'replica-a',
    );
    const claimed = claimedRun(prefect, flow.id, 'replica-a');
    const running = prefect.seedFlowRun({
      flow_id: flow.id,
      work_pool_name: 'ecs-pool',
      labels: { 'prefect.worker.name': 'replica-a' },
      infrastructure_pid: 'fake-cluster::elsewhere-1',
      state: 'RUNNING',
    });
    const me = worker(prefect, fake, {
      name: 'replica-b',
      heartbeatSeconds: 0.2,
      reconcilePendingSeconds: 0,
      staleHeartbeatIntervals: 3,
    });
    await waitFor(
      () =>
        prefect.requests.filter((r) => r.route === '/work_pools/{work_pool_name}/workers/filter').length >= 3,
      5000,
      'a few reconciliation rounds',
    );
    expect(fake.submissions.size).toBe(0);
    expect(me.worker().tracker.has(running.id)).toBe(false);

    await other.handle.stop();
    // replica-a's last heartbeat gets older than 3 × 0.2 s: its runs are taken over.
    const submission = await waitFor(() => [...fake.submissions.values()][0], 5000, 'the takeover');
    expect(submission.job.flowRun.id).toBe(claimed.id);
    await waitFor(() => me.worker().tracker.has(running.id), 5000, 'adoption of the running run');
    expect(me.worker().tracker.get(running.id)?.countsTowardLimit).toBe(true);

    // replica-a comes back under its name: it adopts its run again and replica-b lets go of it (two trackers could
    // both act on its end). The run replica-b relaunched carries replica-b's label now, and stays with it.
    const back = worker(prefect, createFakeInfrastructure({ type: 'ecs' }), {
      name: 'replica-a',
      heartbeatSeconds: 0.2,
      querySeconds: 60,
    });
    await waitFor(() => back.worker().tracker.has(running.id), 5000, 'replica-a adopting its run again');
    await waitFor(() => !me.worker().tracker.has(running.id), 5000, 'replica-b letting go of it');
    expect(me.worker().tracker.has(claimed.id)).toBe(true);
    expect(back.worker().tracker.has(claimed.id)).toBe(false);
    expect(prefect.getFlowRun(running.id)?.state?.type).toBe('RUNNING');
  });

  it('waits unownedPendingSeconds before relaunching a run nobody is known to have claimed (Prefect 2)', async () => {
    const prefect = await emulator('2');
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = claimedRun(prefect, flow.id, undefined);
    const fake = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, fake, { reconcilePendingSeconds: 0, unownedPendingSeconds: 1 });
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.submissions.size).toBe(0);
    const submission = await waitFor(() => [...fake.submissions.values()][0], 5000, 'the relaunch');
    expect(submission.job.flowRun.id).toBe(run.id);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('stops live infrastructure whose run is final or deleted, after the teardown grace', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const first = worker(prefect, fake, { name: 'w', teardownGraceSeconds: 0.3 });
    const a = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    await waitFor(() => fake.submissions.size === 1, 5000, 'a launch');
    await waitFor(() => prefect.getFlowRun(a.id)?.infrastructure_pid, 5000, 'the pid');
    await first.handle.stop();
    // While no worker runs, the engine reports the run Completed but its container hangs on.
    prefect.setFlowRunState(a.id, 'RUNNING');
    prefect.setFlowRunState(a.id, 'COMPLETED');
    worker(prefect, fake, { name: 'w', teardownGraceSeconds: 0.3 });
    await waitFor(() => fake.killed.length === 1, 5000, 'the orphan to be stopped');
    expect(fake.killed).toEqual([prefect.getFlowRun(a.id)?.infrastructure_pid]);
    expect(prefect.getFlowRun(a.id)?.state?.type).toBe('COMPLETED');
  });

  it('stops a tracked run whose infrastructure keeps running after the run is final', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = worker(prefect, fake, { teardownGraceSeconds: 0.3, limit: 1 });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const submission = await waitFor(() => [...fake.submissions.values()][0], 5000, 'a launch');
    fake.emit({ identifier: submission.identifier, status: 'running' });
    prefect.setFlowRunState(run.id, 'RUNNING');
    prefect.setFlowRunState(run.id, 'FAILED');
    // The final run stops counting toward --limit at once: the next run launches while the first winds down.
    const next = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    await waitFor(() => fake.submissions.size === 2, 5000, 'the next run under --limit 1');
    await waitFor(() => fake.killed.includes(submission.identifier), 5000, 'the teardown');
    expect(kernel.worker().tracker.has(run.id)).toBe(false);
    expect(prefect.getFlowRun(run.id)?.state?.type).toBe('FAILED');
    await waitFor(
      () =>
        prefect
          .logs()
          .some(
            (l) =>
              l.flow_run_id === run.id && /is FAILED but its infrastructure had not stopped/.test(l.message),
          ),
      5000,
      'the teardown log line',
    );
    expect(fake.submissions.get([...fake.submissions.keys()][1] ?? '')?.job.flowRun.id).toBe(next.id);
  });

  it('stops and crashes a run that exceeds stevedore_max_runtime_seconds', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const deployment = prefect.seedDeployment({
      flow_id: flow.id,
      name: 'bounded',
      work_pool_name: 'ecs-pool',
      job_variables: { stevedore_max_runtime_seconds: 0.3 },
    });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, fake);
    const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
    const submission = await waitFor(() => [...fake.submissions.values()][0], 5000, 'a launch');
    fake.emit({ identifier: submission.identifier, status: 'running' });
    prefect.setFlowRunState(run.id, 'RUNNING');
    const crashed = await waitFor(
      () =>
        prefect.getFlowRun(run.id)?.state?.type === 'CRASHED' ? prefect.getFlowRun(run.id)?.state : undefined,
      5000,
      'the crash',
    );
    expect(fake.killed).toEqual([submission.identifier]);
    expect(crashed?.message).toMatch(
      /exceeded its maximum runtime of 0.3 s \(stevedore_max_runtime_seconds\)/,
    );
  });
});

describe('stevedore_* defaults in the pool template', () => {
  it('applies a stevedore_max_runtime_seconds default edited in the pool (work-pool --with-stevedore-variables)', async () => {
    const prefect = await emulator();
    const template = withStevedoreVariables(fakeBaseJobTemplate, KERNEL_STEVEDORE_VARIABLES);
    (
      template.variables as { properties: Record<string, Record<string, unknown>> }
    ).properties.stevedore_max_runtime_seconds = { type: 'number', default: 0.3 };
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs', base_job_template: template as never });
    const flow = prefect.seedFlow({ name: 'etl' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, fake);
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const submission = await waitFor(() => [...fake.submissions.values()][0], 5000, 'a launch');
    expect(submission.job.jobVariables.stevedore_max_runtime_seconds).toBe(0.3);
    fake.emit({ identifier: submission.identifier, status: 'running' });
    prefect.setFlowRunState(run.id, 'RUNNING');
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED', 5000, 'the crash');
    expect(fake.killed).toEqual([submission.identifier]);
  });
});

describe('full-page re-poll', () => {
  it('polls again at once after a full page instead of waiting for the interval', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    for (let i = 0; i < 260; i++) prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    // One poll tick every 10 minutes: everything beyond the first page must come from the re-poll.
    worker(prefect, fake, { querySeconds: 600, submissionLimit: 100 });
    await waitFor(() => fake.submissions.size === 260, 20_000, 'all 260 runs');
    const polls = prefect.requests.filter(
      (r) => r.route === '/work_pools/{name}/get_scheduled_flow_runs',
    ).length;
    // 260 runs, 100 submissions at a time, re-polling when half the slots are free: a handful of polls.
    expect(polls).toBeGreaterThanOrEqual(3);
    expect(polls).toBeLessThanOrEqual(12);
  });
});
