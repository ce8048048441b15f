import { isStevedoreError, type SubmissionOutcome } from '@stevedore/kernel';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createFakeInfrastructure,
  type FakeInfrastructure,
  FakeLaunchError,
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
  outcomes?: Array<[string, SubmissionOutcome]>,
): TestKernel & { handle: ReturnType<TestKernel['start']> } {
  const kernel = createTestKernel({
    plugins: [fakeInfrastructurePlugin(fake)],
    apiUrl: prefect.url,
    pool: 'ecs-pool',
    config,
    overrides: {
      workerEnv: { PREFECT_API_URL: prefect.url, PREFECT_API_KEY: 'pnu_secret_key_value' },
      onSubmission: (id, outcome) => outcomes?.push([id, outcome]),
    },
  });
  const handle = kernel.start();
  cleanups.push(() => handle.stop());
  return Object.assign(kernel, { handle });
}

const stateNames = (prefect: PrefectEmulator, id: string) =>
  prefect.stateHistory(id).map((s) => `${s.type}/${s.name}`);

describe.each(['3', '2'] as const)('worker protocol end to end (Prefect %s server)', (mode) => {
  it('creates the pool, claims the run, renders its job configuration, submits it and reports infrastructure_pid', async () => {
    const prefect = await emulator(mode);
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = worker(prefect, fake);
    const pool = await waitFor(
      () => {
        const p = prefect.getWorkPool('ecs-pool');
        return p && Object.keys(p.base_job_template).length > 0 ? p : undefined;
      },
      5000,
      'the pool to be created with the default template',
    );
    expect(pool.type).toBe('ecs');
    expect(pool.base_job_template).toEqual(fake.defaultBaseJobTemplate());

    const flow = prefect.seedFlow({ name: 'etl' });
    const deployment = prefect.seedDeployment({
      flow_id: flow.id,
      name: 'nightly',
      work_pool_name: 'ecs-pool',
      job_variables: { image: 'acme/etl:1', env: { FROM_DEPLOYMENT: 'd', SHARED: 'deployment' } },
    });
    const run = prefect.seedFlowRun({
      flow_id: flow.id,
      deployment_id: deployment.id,
      ...(mode === '3' ? { job_variables: { cpu: 2048, env: { SHARED: 'run' } } } : {}),
    });

    const submission = await waitFor(() => [...fake.submissions.values()][0], 5000, 'a submission');
    const { job } = submission;
    expect(job.flowRun.id).toBe(run.id);
    expect(job.configuration.image).toBe('acme/etl:1');
    expect(job.configuration.cpu).toBe(mode === '3' ? 2048 : 1024);
    expect(job.configuration.command).toBe(
      mode === '3' ? 'prefect flow-run execute' : 'python -m prefect.engine',
    );
    expect(job.configuration.env).toMatchObject({
      PREFECT_API_URL: prefect.url,
      PREFECT_API_KEY: 'pnu_secret_key_value',
      PREFECT__FLOW_RUN_ID: run.id,
      PREFECT__FLOW_ID: flow.id,
      PREFECT__FLOW_NAME: 'etl',
      PREFECT__DEPLOYMENT_ID: deployment.id,
      PREFECT__DEPLOYMENT_NAME: 'nightly',
      FROM_DEPLOYMENT: 'd',
      SHARED: mode === '3' ? 'run' : 'deployment',
    });
    expect(job.configuration.labels).toMatchObject({
      'prefect.io/flow-run-id': run.id,
      'prefect.io/work-pool-name': 'ecs-pool',
      'prefect.io/deployment-name': 'nightly',
      'prefect.io/worker-name': kernel.worker().name,
    });

    const stored = await waitFor(
      () => prefect.getFlowRun(run.id)?.infrastructure_pid,
      5000,
      'infrastructure_pid',
    );
    expect(stored).toBe(submission.identifier);
    // Prefect 2 servers do not allow the Pending → "Submitting" rename, so the worker does not propose it there.
    expect(stateNames(prefect, run.id)).toEqual(
      mode === '3'
        ? ['SCHEDULED/Scheduled', 'PENDING/Pending', 'PENDING/Submitting']
        : ['SCHEDULED/Scheduled', 'PENDING/Pending'],
    );
    if (mode === '3') {
      expect(prefect.getFlowRun(run.id)?.labels).toMatchObject({
        'prefect.worker.name': kernel.worker().name,
        'prefect.worker.type': 'ecs',
        'prefect.work-pool.name': 'ecs-pool',
      });
    } else {
      expect(prefect.requests.some((r) => r.path.endsWith('/labels'))).toBe(false);
    }
    expect(kernel.worker().name).toMatch(/^ECSWorker [0-9a-f-]{36}$/);
    expect(prefect.listWorkers('ecs-pool').map((w) => w.name)).toContain(kernel.worker().name);
    await waitFor(
      () => prefect.logs().some((l) => l.message.includes('submitted to infrastructure')),
      5000,
      'the submitted log',
    );
    const workerLogs = prefect
      .logs()
      .filter((l) => l.flow_run_id === run.id)
      .map((l) => l.message);
    expect(workerLogs[0]).toBe(`Worker '${kernel.worker().name}' submitting flow run '${run.id}'`);
    expect(JSON.stringify(kernel.records)).not.toContain('pnu_secret_key_value');
    expect(prefect.schemaErrors()).toEqual([]);
    expect(prefect.requests.filter((r) => r.requestErrors.length > 0)).toEqual([]);
  });

  it('reports a submission that throws as Crashed with the message format of spec §1.5', async () => {
    const prefect = await emulator(mode);
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({
      type: 'ecs',
      failSubmit: () => new FakeLaunchError('no capacity today'),
    });
    worker(prefect, fake);
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED', 5000, 'the crash');
    expect(prefect.getFlowRun(run.id)?.state?.message).toBe(
      'Failed to submit flow run to infrastructure: FakeLaunchError: no capacity today',
    );
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid ?? null).toBeNull();
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('never lets two workers submit the same run, even with latency in the claim race', async () => {
    const prefect = await emulator(mode);
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const runs = Array.from({ length: 12 }, () =>
      prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' }),
    );
    prefect.faults.setLatency(40, { method: 'POST', path: '/flow_runs/{id}/set_state' });
    const a = createFakeInfrastructure({ type: 'ecs' });
    const b = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, a);
    worker(prefect, b);
    await waitFor(() => a.submissions.size + b.submissions.size >= runs.length, 10_000, 'all runs submitted');
    await new Promise((r) => setTimeout(r, 300)); // let any would-be duplicate land
    const ids = [...a.flowRunIds(), ...b.flowRunIds()];
    expect(ids).toHaveLength(runs.length);
    expect(new Set(ids).size).toBe(runs.length);
    for (const run of runs) {
      expect(prefect.stateHistory(run.id).filter((s) => s.name === 'Pending')).toHaveLength(1);
    }
    expect(prefect.schemaErrors()).toEqual([]);
  });
});

describe('worker runtime behaviour', () => {
  it('crashes a run whose infrastructure stopped with a non-zero exit code, with the diagnosis', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = worker(prefect, fake);
    const { identifier } = await waitFor(() => [...fake.submissions.values()][0], 5000, 'a submission');
    await waitFor(() => prefect.getFlowRun(run.id)?.infrastructure_pid, 5000, 'infrastructure_pid');
    fake.emit({
      identifier,
      status: 'pending',
      providerStatus: 'PROVISIONING',
      pendingMessage: 'ECS task is provisioning.',
    });
    await waitFor(
      () => prefect.getFlowRun(run.id)?.state?.name === 'InfrastructurePending',
      5000,
      'InfrastructurePending',
    );
    expect(prefect.getFlowRun(run.id)?.state?.message).toBe('ECS task is provisioning.');
    fake.emit({ identifier, status: 'running', providerStatus: 'RUNNING' });
    prefect.setFlowRunState(run.id, 'RUNNING');
    fake.emit({
      identifier,
      status: 'stopped',
      exitCode: 137,
      stopCode: 'EssentialContainerExited',
      stopReason: 'OutOfMemoryError',
      diagnosis: {
        summary: 'Container exited with non-zero exit code',
        detail: 'exit 137',
        resolution: 'Give it more memory.',
        level: 'error',
      },
    });
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED', 5000, 'the crash');
    expect(prefect.getFlowRun(run.id)?.state?.message).toBe(
      'Flow run infrastructure exited with non-zero status code 137. EssentialContainerExited: OutOfMemoryError',
    );
    await waitFor(
      () =>
        prefect
          .logs()
          .some(
            (l) =>
              l.message ===
              'Container exited with non-zero exit code: exit 137 Resolution: Give it more memory.',
          ),
      5000,
      'the diagnosis in the run logs',
    );
    expect(kernel.worker().tracker.size).toBe(0);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('sends a crash report again when the Prefect API answered it with a 500 (found by the fault suite)', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = worker(prefect, fake);
    const { identifier } = await waitFor(() => [...fake.submissions.values()][0], 5000, 'a submission');
    await waitFor(() => prefect.getFlowRun(run.id)?.infrastructure_pid, 5000, 'infrastructure_pid');
    fake.emit({ identifier, status: 'running', providerStatus: 'RUNNING' });
    prefect.setFlowRunState(run.id, 'RUNNING');
    const crashReports = prefect.faults.add({
      method: 'POST',
      path: '/flow_runs/{id}/set_state',
      when: (info) => JSON.stringify(info.body ?? null).includes('"CRASHED"'),
      times: 2,
      response: { status: 500 },
    });
    fake.emit({
      identifier,
      status: 'stopped',
      exitCode: 1,
      stopCode: 'EssentialContainerExited',
      diagnosis: {
        summary: 'Container exited',
        detail: 'exit 1',
        resolution: 'Read its log.',
        level: 'error',
      },
    });
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED', 10_000, 'the crash');
    expect(crashReports.hits()).toBe(2);
    const diagnoses = () => prefect.logs().filter((l) => l.message.startsWith('Container exited: exit 1'));
    await waitFor(() => diagnoses().length > 0, 5000, 'the diagnosis in the run logs');
    await new Promise((r) => setTimeout(r, 300)); // a repeated diagnosis would land by now
    expect(diagnoses()).toHaveLength(1);
    expect(kernel.worker().tracker.size).toBe(0);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('reports an infrastructure_pid again when the first PATCH failed (found by the fault suite)', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const patches = prefect.faults.add({
      method: 'PATCH',
      path: '/flow_runs/{id}',
      when: (info) => JSON.stringify(info.body ?? null).includes('infrastructure_pid'),
      times: 2,
      response: { status: 500 },
    });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, fake, { trackerPollSeconds: 0.2 });
    const { identifier } = await waitFor(() => [...fake.submissions.values()][0], 5000, 'a submission');
    await waitFor(
      () => prefect.getFlowRun(run.id)?.infrastructure_pid === identifier || undefined,
      10_000,
      'the infrastructure_pid, reported again',
    );
    expect(patches.hits()).toBe(2);
    await waitFor(
      () => prefect.logs().some((l) => l.message.includes('an earlier report had failed')) || undefined,
      5000,
      'the run log line',
    );
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('sends the crash report of a failed submission again after a 500, so the run does not stay Pending', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const crashReports = prefect.faults.add({
      method: 'POST',
      path: '/flow_runs/{id}/set_state',
      when: (info) => JSON.stringify(info.body ?? null).includes('"CRASHED"'),
      times: 1,
      response: { status: 500 },
    });
    worker(
      prefect,
      createFakeInfrastructure({ type: 'ecs', failSubmit: () => new FakeLaunchError('no capacity') }),
    );
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CRASHED', 10_000, 'the crash');
    expect(crashReports.hits()).toBe(1);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('releases a run the engine finished, and never proposes RUNNING or a final state itself', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = worker(prefect, fake);
    const { identifier } = await waitFor(() => [...fake.submissions.values()][0], 5000, 'a submission');
    await waitFor(() => kernel.worker().tracker.size === 1, 5000, 'tracking');
    prefect.setFlowRunState(run.id, 'RUNNING');
    prefect.setFlowRunState(run.id, 'COMPLETED');
    fake.emit({ identifier, status: 'stopped', exitCode: 0 });
    await waitFor(() => kernel.worker().tracker.size === 0, 5000, 'release');
    expect(prefect.getFlowRun(run.id)?.state?.type).toBe('COMPLETED');
    const workerProposals = prefect.requests
      .filter((r) => r.route === '/flow_runs/{id}/set_state')
      .map((r) => (r.body as { state: { type: string } }).state.type);
    expect(workerProposals).toEqual(['PENDING', 'PENDING']);
  });

  it('counts launched runs toward --limit until they finish', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    for (let i = 0; i < 5; i++) prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, fake, { limit: 2 });
    await waitFor(() => fake.submissions.size === 2, 5000, 'two submissions');
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.submissions.size).toBe(2);
    const first = [...fake.submissions.values()][0];
    if (!first) throw new Error('no submission');
    prefect.setFlowRunState(first.job.flowRun.id, 'RUNNING');
    prefect.setFlowRunState(first.job.flowRun.id, 'COMPLETED');
    await waitFor(() => fake.submissions.size === 3, 5000, 'a third submission after one finished');
  });

  it('cancels a pending run at once and a started run after the engine grace period', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const pending = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const started = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, fake, { cancellationGraceSeconds: 0.3 });
    await waitFor(
      () =>
        prefect.getFlowRun(pending.id)?.infrastructure_pid &&
        prefect.getFlowRun(started.id)?.infrastructure_pid,
      5000,
      'both launched',
    );
    prefect.setFlowRunState(started.id, 'RUNNING');
    prefect.setFlowRunState(pending.id, { type: 'CANCELLING', name: 'Cancelling' }, { force: true });
    prefect.setFlowRunState(started.id, { type: 'CANCELLING', name: 'Cancelling' }, { force: true });
    await waitFor(
      () => prefect.getFlowRun(pending.id)?.state?.type === 'CANCELLED',
      5000,
      'the pending run cancelled',
    );
    expect(prefect.getFlowRun(pending.id)?.state?.message).toBe(
      'Flow run cancelled by worker while pending.',
    );
    expect(prefect.getFlowRun(started.id)?.state?.type).toBe('CANCELLING');
    await waitFor(
      () => prefect.getFlowRun(started.id)?.state?.type === 'CANCELLED',
      5000,
      'the started run cancelled',
    );
    expect(prefect.getFlowRun(started.id)?.state?.message).toContain('its engine did not stop within 0.3 s');
    expect(fake.killed).toHaveLength(2);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('cancels a run whose deployment no longer exists', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const deployment = prefect.seedDeployment({ flow_id: flow.id, name: 'gone', work_pool_name: 'ecs-pool' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
    prefect.deleteDeployment(deployment.id);
    const fake = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, fake);
    await waitFor(() => prefect.getFlowRun(run.id)?.state?.type === 'CANCELLED', 5000, 'the cancellation');
    expect(prefect.getFlowRun(run.id)?.state?.message).toBe(
      `Deployment ${deployment.id} no longer exists, cancelled run.`,
    );
    expect(fake.submissions.size).toBe(0);
  });

  it('keeps retrying through Prefect API 503s with Retry-After and dropped connections', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    prefect.faults.add({
      path: '/work_pools/{name}/get_scheduled_flow_runs',
      times: 2,
      response: { status: 503, retryAfter: 0 },
    });
    prefect.faults.add({ path: '/flow_runs/{id}/set_state', times: 1, drop: 'before' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    worker(prefect, fake, { maxRetries: 3 });
    await waitFor(
      () => prefect.getFlowRun(run.id)?.infrastructure_pid,
      10_000,
      'the run submitted despite faults',
    );
    expect(fake.submissions.size).toBe(1);
  });

  it('fails to start with a clear error when the API key is rejected', async () => {
    const prefect = await startPrefectEmulator({ mode: '3', apiKey: 'right-key' });
    cleanups.push(() => prefect.stop());
    const kernel = createTestKernel({
      plugins: [fakeInfrastructurePlugin(createFakeInfrastructure({ type: 'ecs' }))],
      apiUrl: prefect.url,
      config: { apiKey: 'wrong-key' },
    });
    const e = await kernel.run(AbortSignal.timeout(5000)).catch((x: unknown) => x);
    expect(isStevedoreError(e)).toBe(true);
    expect((e as { status?: number }).status).toBe(401);
    expect(JSON.stringify(kernel.records)).not.toContain('wrong-key');
  });

  it('serves the health endpoint (GET /health → 200 OK while polling)', async () => {
    const prefect = await emulator();
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const kernel = worker(prefect, fake, {
      withHealthcheck: true,
      healthcheckHost: '127.0.0.1',
      healthcheckPort: 0,
    });
    const record = await waitFor(
      () => kernel.records.find((r) => r.message.startsWith('Health check listening on ')),
      5000,
      'the health server',
    );
    const url = record.message.replace('Health check listening on ', '').replace(/\.$/, '');
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ message: 'OK' });
    expect((await fetch(url.replace('/health', '/nope'))).status).toBe(404);
  });
});

describe('graceful shutdown', () => {
  it('finishes a launch in flight and hands back a run claimed but not yet launched', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const launching = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({ type: 'ecs', latencyMs: 400 });
    const kernel = worker(prefect, fake, { submissionLimit: 1 });
    // The first run reaches the (slow) infrastructure call.
    await waitFor(
      () => prefect.getFlowRun(launching.id)?.state?.name === 'Submitting',
      5000,
      'the first run submitting',
    );
    // The second run gets claimed while reading its flow is slow.
    prefect.faults.add({ method: 'GET', path: '/flows/{id}', latencyMs: 3000 });
    const claimed = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    await waitFor(
      () => prefect.getFlowRun(claimed.id)?.state?.type === 'PENDING',
      5000,
      'the second run claimed',
    );
    await kernel.handle.stop();
    expect(prefect.getFlowRun(launching.id)?.infrastructure_pid).toMatch(/^fake-cluster::/);
    const handedBack = prefect.getFlowRun(claimed.id);
    expect(handedBack?.state?.type).toBe('SCHEDULED');
    expect(handedBack?.state?.message).toContain(
      'stopped before launching this flow run; it was returned to the queue',
    );
    expect(fake.flowRunIds()).toEqual([launching.id]);
    expect(
      kernel.records.some((r) => r.message.startsWith(`Worker '${kernel.worker().name}' stopped.`)),
    ).toBe(true);
  });
});

describe('after a restart', () => {
  it('adopts runs launched earlier, reports their crash, and counts its own toward --limit', async () => {
    const prefect = await emulator();
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const first = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const fake = createFakeInfrastructure({ type: 'ecs' });
    const before = worker(prefect, fake, { name: 'worker-1', limit: 1, reconcileSeconds: 0.1 });
    const pid = await waitFor(
      () => prefect.getFlowRun(first.id)?.infrastructure_pid,
      5000,
      'the first launch',
    );
    prefect.setFlowRunState(first.id, 'RUNNING');
    await before.handle.stop();

    // A new process with the same name: the run it launched before counts toward its limit of 1.
    const waiting = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
    const after = worker(prefect, fake, { name: 'worker-1', limit: 1, reconcileSeconds: 0.1 });
    await waitFor(() => after.worker().tracker.has(first.id), 5000, 'adoption');
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.flowRunIds()).toEqual([first.id]);
    expect(prefect.getFlowRun(waiting.id)?.state?.type).toBe('SCHEDULED');

    // The adopted run's container dies: the new process reports the crash, then has room for the next run.
    fake.emit({ identifier: pid, status: 'stopped', exitCode: 1, stopCode: 'EssentialContainerExited' });
    await waitFor(() => prefect.getFlowRun(first.id)?.state?.type === 'CRASHED', 5000, 'the crash report');
    expect(prefect.getFlowRun(first.id)?.state?.message).toBe(
      'Flow run infrastructure exited with non-zero status code 1. EssentialContainerExited',
    );
    await waitFor(() => prefect.getFlowRun(waiting.id)?.infrastructure_pid, 5000, 'the waiting run launched');
    expect(prefect.schemaErrors()).toEqual([]);
  });
});
