import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type OrchestrationResultJson,
  type PrefectEmulator,
  type PrefectMode,
  type StateType,
  startPrefectEmulator,
} from './index.js';

/** The worker's claim body (spec §1.5 step 5). */
function proposal(runId: string, type: StateType, name: string, extra: Record<string, unknown> = {}) {
  return {
    state: {
      type,
      name,
      message: null,
      data: null,
      state_details: {
        flow_run_id: runId,
        transition_id: randomUUID(),
        traceparent: null,
        task_run_id: null,
        child_flow_run_id: null,
        scheduled_time: null,
        cache_key: null,
        cache_expiration: null,
        deferred: null,
        untrackable_result: false,
        pause_timeout: null,
        pause_reschedule: false,
        pause_key: null,
        run_input_keyset: null,
        refresh_cache: null,
        retriable: null,
        task_parameters_id: null,
        deployment_concurrency_lease_id: null,
      },
    },
    force: false,
    ...extra,
  };
}

async function setState(
  emu: PrefectEmulator,
  runId: string,
  body: unknown,
): Promise<{ status: number; result: OrchestrationResultJson }> {
  const res = await fetch(`${emu.url}/flow_runs/${runId}/set_state`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, result: (await res.json()) as OrchestrationResultJson };
}

let emu: PrefectEmulator | undefined;
afterEach(async () => {
  await emu?.stop();
  emu = undefined;
});

async function start(mode: PrefectMode = '3') {
  const e = await startPrefectEmulator({ mode });
  emu = e;
  e.seedWorkPool({ name: 'pool' });
  const flow = e.seedFlow({ name: 'etl' });
  const dep = e.seedDeployment({ flow_id: flow.id, name: 'nightly', work_pool_name: 'pool' });
  const run = e.seedFlowRun({ flow_id: flow.id, deployment_id: dep.id });
  return { e, flow, dep, run };
}

describe.each<PrefectMode>(['3', '2'])('set_state orchestration (mode %s)', (mode) => {
  it('accepts PENDING from SCHEDULED with 201 and a new state', async () => {
    const { e, run } = await start(mode);
    const { status, result } = await setState(e, run.id, proposal(run.id, 'PENDING', 'Pending'));
    expect(status).toBe(201);
    expect(result.status).toBe('ACCEPT');
    expect(result.details).toEqual({ type: 'accept_details' });
    expect(result.state?.type).toBe('PENDING');
    expect(result.state?.id).not.toBe(run.state?.id);
    // CopyScheduledTime carries the scheduled time over from the Scheduled state.
    expect(result.state?.state_details.scheduled_time).toBe(run.state?.state_details.scheduled_time);
    const history = e.stateHistory(run.id);
    expect(history.map((s) => s.type)).toEqual(['SCHEDULED', 'PENDING']);
    expect(e.getFlowRun(run.id)).toMatchObject({
      state_type: 'PENDING',
      state_name: 'Pending',
      next_scheduled_start_time: null,
    });
    expect(e.schemaErrors()).toEqual([]);
  });

  it('resolves two racing PENDING claims: exactly one ACCEPT, one ABORT', async () => {
    const { e, run } = await start(mode);
    // Hold both requests before the (atomic) orchestration so they are truly concurrent.
    e.faults.add({ method: 'POST', path: '/flow_runs/{id}/set_state', latencyMs: 100, times: 2 });
    const [a, b] = await Promise.all([
      setState(e, run.id, proposal(run.id, 'PENDING', 'Pending')),
      setState(e, run.id, proposal(run.id, 'PENDING', 'Pending')),
    ]);
    const statuses = [a.result.status, b.result.status].sort();
    expect(statuses).toEqual(['ABORT', 'ACCEPT']);
    const aborted = a.result.status === 'ABORT' ? a : b;
    expect(aborted.status).toBe(200);
    expect(aborted.result.details).toEqual({
      type: 'abort_details',
      reason: 'This run is in a PENDING state and cannot transition to a PENDING state.',
    });
    expect(aborted.result.state?.type).toBe('PENDING');
    expect(e.stateHistory(run.id).map((s) => s.type)).toEqual(['SCHEDULED', 'PENDING']);
    expect(e.schemaErrors()).toEqual([]);
  });

  it('aborts PENDING from RUNNING and CANCELLED', async () => {
    const { e, flow } = await start(mode);
    for (const from of ['RUNNING', 'CANCELLED'] as const) {
      const r = e.seedFlowRun({ flow_id: flow.id, work_pool_name: 'pool', state: from });
      const { status, result } = await setState(e, r.id, proposal(r.id, 'PENDING', 'Pending'));
      expect(status).toBe(200);
      expect(result.status).toBe('ABORT');
      expect(result.details).toEqual({
        type: 'abort_details',
        reason: `This run is in a ${from} state and cannot transition to a PENDING state.`,
      });
    }
    expect(e.schemaErrors()).toEqual([]);
  });

  it('aborts a crash report on a run that is already terminal, and force overrides', async () => {
    const { e, flow } = await start(mode);
    const r = e.seedFlowRun({ flow_id: flow.id, work_pool_name: 'pool', state: 'COMPLETED' });
    const crash = await setState(e, r.id, proposal(r.id, 'CRASHED', 'Crashed'));
    expect(crash.status).toBe(200);
    expect(crash.result.status).toBe('ABORT');
    expect(crash.result.details).toEqual({
      type: 'abort_details',
      reason: mode === '3' ? 'Run is already in terminal state COMPLETED.' : 'Run is already COMPLETED.',
    });
    expect(e.getFlowRun(r.id)?.state_type).toBe('COMPLETED');

    const forced = await setState(e, r.id, proposal(r.id, 'CANCELLED', 'Cancelled', { force: true }));
    expect(forced.status).toBe(201);
    expect(forced.result.status).toBe('ACCEPT');
    expect(e.getFlowRun(r.id)?.state_type).toBe('CANCELLED');
    expect(e.schemaErrors()).toEqual([]);
  });

  it('sets start_time, run_count and end_time as states advance', async () => {
    const { e, run } = await start(mode);
    expect(e.setFlowRunState(run.id, 'PENDING').status).toBe('ACCEPT');
    expect(e.getFlowRun(run.id)?.start_time).toBeNull();
    expect(e.setFlowRunState(run.id, 'RUNNING').status).toBe('ACCEPT');
    const running = e.getFlowRun(run.id);
    expect(running?.start_time).not.toBeNull();
    expect(running?.run_count).toBe(1);
    const crash = await setState(e, run.id, proposal(run.id, 'CRASHED', 'Crashed'));
    expect(crash.result.status).toBe('ACCEPT');
    const done = e.getFlowRun(run.id);
    expect(done?.end_time).not.toBeNull();
    expect(done?.start_time).toBe(running?.start_time);
    expect(e.stateHistory(run.id).map((s) => s.type)).toEqual(['SCHEDULED', 'PENDING', 'RUNNING', 'CRASHED']);
    expect(e.schemaErrors()).toEqual([]);
  });

  it('answers a scripted WAIT with wait_details', async () => {
    const { e, flow, dep } = await start(mode);
    const r = e.seedFlowRun({
      flow_id: flow.id,
      deployment_id: dep.id,
      wait_on_pending: { delay_seconds: 3, reason: 'Slow down' },
    });
    const first = await setState(e, r.id, proposal(r.id, 'PENDING', 'Pending'));
    expect(first.status).toBe(200);
    expect(first.result.status).toBe('WAIT');
    expect(first.result.details).toEqual({ type: 'wait_details', delay_seconds: 3, reason: 'Slow down' });
    expect(first.result.state?.type).toBe('SCHEDULED');
    const second = await setState(e, r.id, proposal(r.id, 'PENDING', 'Pending'));
    expect(second.result.status).toBe('ACCEPT');
    expect(e.schemaErrors()).toEqual([]);
  });

  it('waits a RUNNING proposal until the scheduled time', async () => {
    const { e, flow } = await start(mode);
    const r = e.seedFlowRun({
      flow_id: flow.id,
      work_pool_name: 'pool',
      next_scheduled_start_time: Date.now() + 60_000,
    });
    const res = e.setFlowRunState(r.id, 'RUNNING');
    expect(res.status).toBe('WAIT');
    expect(res.details).toMatchObject({ type: 'wait_details', reason: 'Scheduled time is in the future' });
    if (res.details.type === 'wait_details') expect(res.details.delay_seconds).toBeGreaterThan(55);
  });

  it('404s for unknown runs', async () => {
    const { e } = await start(mode);
    const id = randomUUID();
    const res = await setState(e, id, proposal(id, 'PENDING', 'Pending'));
    expect(res.status).toBe(404);
    expect(e.schemaErrors()).toEqual([]);
  });
});

describe('set_state orchestration (Prefect 3 specifics)', () => {
  it('accepts the PENDING → "Submitting" rename but not a second "Pending"', async () => {
    const { e, run } = await start();
    expect((await setState(e, run.id, proposal(run.id, 'PENDING', 'Pending'))).result.status).toBe('ACCEPT');
    const rename = await setState(e, run.id, proposal(run.id, 'PENDING', 'Submitting'));
    expect(rename.status).toBe(201);
    expect(rename.result.status).toBe('ACCEPT');
    expect(rename.result.state?.name).toBe('Submitting');
    expect(rename.result.state?.state_details.scheduled_time).toBe(run.state?.state_details.scheduled_time);
    const again = await setState(e, run.id, proposal(run.id, 'PENDING', 'Submitting'));
    expect(again.result.status).toBe('ABORT');
    const pending = await setState(e, run.id, proposal(run.id, 'PENDING', 'Pending'));
    expect(pending.result.status).toBe('ABORT');
    expect(e.schemaErrors()).toEqual([]);
  });

  it('REJECTs with a Scheduled "AwaitingConcurrencySlot" state when the deployment limit is full', async () => {
    const e = await startPrefectEmulator({ concurrencySlotWaitSeconds: 45 });
    emu = e;
    e.seedWorkPool({ name: 'pool' });
    const flow = e.seedFlow({ name: 'etl' });
    const dep = e.seedDeployment({
      flow_id: flow.id,
      name: 'limited',
      work_pool_name: 'pool',
      concurrency_limit: 1,
    });
    const a = e.seedFlowRun({ flow_id: flow.id, deployment_id: dep.id });
    const b = e.seedFlowRun({ flow_id: flow.id, deployment_id: dep.id });

    const first = await setState(e, a.id, proposal(a.id, 'PENDING', 'Pending'));
    expect(first.result.status).toBe('ACCEPT');
    expect(first.result.state?.state_details.deployment_concurrency_lease_id).toMatch(/^[0-9a-f-]{36}$/);

    const before = Date.now();
    const second = await setState(e, b.id, proposal(b.id, 'PENDING', 'Pending'));
    expect(second.status).toBe(201);
    expect(second.result.status).toBe('REJECT');
    expect(second.result.details).toEqual({
      type: 'reject_details',
      reason: 'Deployment concurrency limit reached.',
    });
    expect(second.result.state).toMatchObject({ type: 'SCHEDULED', name: 'AwaitingConcurrencySlot' });
    const scheduled = Date.parse(second.result.state?.state_details.scheduled_time ?? '');
    expect(scheduled).toBeGreaterThanOrEqual(before + 44_000);
    expect(e.getFlowRun(b.id)?.state_name).toBe('AwaitingConcurrencySlot');

    // Finishing `a` frees the slot.
    expect(e.setFlowRunState(a.id, 'RUNNING').status).toBe('ACCEPT');
    expect(e.setFlowRunState(a.id, 'COMPLETED').status).toBe('ACCEPT');
    expect((await setState(e, b.id, proposal(b.id, 'PENDING', 'Pending'))).result.status).toBe('ACCEPT');
    expect(e.schemaErrors()).toEqual([]);
  });

  it('rejects a repeated transition_id with the current state', async () => {
    const { e, run } = await start();
    const body = proposal(run.id, 'PENDING', 'Pending');
    expect((await setState(e, run.id, body)).result.status).toBe('ACCEPT');
    const retry = await setState(e, run.id, body);
    expect(retry.status).toBe(200);
    expect(retry.result.status).toBe('REJECT');
    expect(retry.result.details).toEqual({
      type: 'reject_details',
      reason: 'This run has already made this state transition.',
    });
    expect(retry.result.state?.type).toBe('PENDING');
  });

  it('cancels with force from any state and turns Cancelling of a scheduled run into Cancelled', async () => {
    const { e, run, flow } = await start();
    const res = await setState(e, run.id, proposal(run.id, 'CANCELLING', 'Cancelling'));
    expect(res.result.status).toBe('REJECT');
    expect(res.result.state?.type).toBe('CANCELLED');
    const running = e.seedFlowRun({ flow_id: flow.id, work_pool_name: 'pool', state: 'RUNNING' });
    const cancel = await setState(
      e,
      running.id,
      proposal(running.id, 'CANCELLED', 'Cancelled', { force: true }),
    );
    expect(cancel.result.status).toBe('ACCEPT');
    expect(e.schemaErrors()).toEqual([]);
  });
});
