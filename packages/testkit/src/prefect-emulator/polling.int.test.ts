import { afterEach, describe, expect, it } from 'vitest';
import { type JsonObject, type PrefectEmulator, type PrefectMode, startPrefectEmulator } from './index.js';

interface Scheduled {
  work_pool_id: string;
  work_queue_id: string;
  flow_run: JsonObject;
}

async function poll(
  emu: PrefectEmulator,
  pool: string,
  body: JsonObject,
): Promise<{ status: number; runs: Scheduled[]; raw: unknown }> {
  const res = await fetch(`${emu.url}/work_pools/${encodeURIComponent(pool)}/get_scheduled_flow_runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const raw: unknown = await res.json();
  return { status: res.status, runs: Array.isArray(raw) ? (raw as Scheduled[]) : [], raw };
}

/** Python's `str(datetime)` form, as the worker sends `scheduled_before`. */
function pythonStr(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}000+00:00`;
}

let emu: PrefectEmulator | undefined;
afterEach(async () => {
  await emu?.stop();
  emu = undefined;
});

function setup(e: PrefectEmulator) {
  e.seedWorkPool({
    name: 'pool',
    queues: [
      { name: 'high', priority: 1 },
      { name: 'low', priority: 5 },
    ],
  });
  e.updateWorkQueue('pool', 'default', { priority: 3 });
  const flow = e.seedFlow({ name: 'etl' });
  return flow.id;
}

describe.each<PrefectMode>(['3', '2'])('get_scheduled_flow_runs (mode %s)', (mode) => {
  it('returns due SCHEDULED runs ordered by queue priority then scheduled time', async () => {
    emu = await startPrefectEmulator({ mode });
    const flowId = setup(emu);
    const now = Date.now();
    const lowEarly = emu.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'pool',
      work_queue_name: 'low',
      next_scheduled_start_time: now - 60_000,
    });
    const highLate = emu.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'pool',
      work_queue_name: 'high',
      next_scheduled_start_time: now - 1_000,
    });
    const highEarly = emu.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'pool',
      work_queue_name: 'high',
      next_scheduled_start_time: now - 30_000,
    });
    const dflt = emu.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'pool',
      next_scheduled_start_time: now - 5_000,
    });
    emu.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'pool',
      work_queue_name: 'high',
      next_scheduled_start_time: now + 3_600_000,
    });
    emu.seedFlowRun({ flow_id: flowId, work_pool_name: 'pool', state: 'PENDING' });
    emu.seedFlowRun({ flow_id: flowId, work_pool_name: 'pool', state: 'COMPLETED' });

    const { status, runs } = await poll(emu, 'pool', {
      work_queue_names: [],
      scheduled_before: pythonStr(now + 10_000),
    });
    expect(status).toBe(200);
    expect(runs.map((r) => r.flow_run.id)).toEqual([highEarly.id, highLate.id, dflt.id, lowEarly.id]);
    const pool = emu.getWorkPool('pool');
    expect(runs.every((r) => r.work_pool_id === pool?.id)).toBe(true);
    const queues = emu.listWorkQueues('pool');
    expect(runs[0]?.work_queue_id).toBe(queues.find((q) => q.name === 'high')?.id);
    // The server loads these runs without their state relationship; runs are not claimed by polling.
    expect(runs[0]?.flow_run.state).toBeNull();
    expect(runs[0]?.flow_run.state_type).toBe('SCHEDULED');
    expect(emu.getFlowRun(highEarly.id)?.state?.type).toBe('SCHEDULED');
    expect(runs[0]?.flow_run).not.toHaveProperty('work_pool_name');

    const iso = await poll(emu, 'pool', {
      work_queue_names: [],
      scheduled_before: new Date(now + 10_000).toISOString(),
    });
    expect(iso.runs).toHaveLength(4);
    const noBound = await poll(emu, 'pool', {});
    expect(noBound.runs).toHaveLength(5);
    const limited = await poll(emu, 'pool', { limit: 2 });
    expect(limited.runs.map((r) => r.flow_run.id)).toEqual([highEarly.id, highLate.id]);
    expect((await poll(emu, 'pool', { limit: 201 })).status).toBe(422);
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('filters by queue names and skips paused pools and queues', async () => {
    emu = await startPrefectEmulator({ mode });
    const flowId = setup(emu);
    const before = pythonStr(Date.now() + 10_000);
    const high = emu.seedFlowRun({ flow_id: flowId, work_pool_name: 'pool', work_queue_name: 'high' });
    const low = emu.seedFlowRun({ flow_id: flowId, work_pool_name: 'pool', work_queue_name: 'low' });

    const onlyLow = await poll(emu, 'pool', { work_queue_names: ['low'], scheduled_before: before });
    expect(onlyLow.runs.map((r) => r.flow_run.id)).toEqual([low.id]);

    const unknownQueue = await poll(emu, 'pool', { work_queue_names: ['nope'], scheduled_before: before });
    expect(unknownQueue.status).toBe(404);
    expect(unknownQueue.raw).toEqual({ detail: "Work pool queue 'pool/nope' not found." });

    emu.updateWorkQueue('pool', 'high', { is_paused: true });
    expect(
      (await poll(emu, 'pool', { work_queue_names: [], scheduled_before: before })).runs.map(
        (r) => r.flow_run.id,
      ),
    ).toEqual([low.id]);
    emu.updateWorkQueue('pool', 'high', { is_paused: false });

    emu.updateWorkPool('pool', { is_paused: true });
    expect((await poll(emu, 'pool', { work_queue_names: [], scheduled_before: before })).runs).toEqual([]);
    emu.updateWorkPool('pool', { is_paused: false });
    expect((await poll(emu, 'pool', { work_queue_names: [] })).runs.map((r) => r.flow_run.id)).toEqual([
      high.id,
      low.id,
    ]);

    const missing = await poll(emu, 'gone', { work_queue_names: [] });
    expect(missing.status).toBe(404);
    expect(missing.raw).toEqual({ detail: 'Work pool "gone" not found.' });
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('respects queue and pool concurrency limits (PENDING and RUNNING runs hold slots)', async () => {
    emu = await startPrefectEmulator({ mode });
    const flowId = setup(emu);
    emu.updateWorkQueue('pool', 'high', { concurrency_limit: 2 });
    emu.seedFlowRun({ flow_id: flowId, work_pool_name: 'pool', work_queue_name: 'high', state: 'RUNNING' });
    const h1 = emu.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'pool',
      work_queue_name: 'high',
      next_scheduled_start_time: Date.now() - 2000,
    });
    emu.seedFlowRun({
      flow_id: flowId,
      work_pool_name: 'pool',
      work_queue_name: 'high',
      next_scheduled_start_time: Date.now() - 1000,
    });
    const l1 = emu.seedFlowRun({ flow_id: flowId, work_pool_name: 'pool', work_queue_name: 'low' });
    const l2 = emu.seedFlowRun({ flow_id: flowId, work_pool_name: 'pool', work_queue_name: 'low' });

    expect((await poll(emu, 'pool', {})).runs.map((r) => r.flow_run.id)).toEqual([h1.id, l1.id, l2.id]);

    emu.updateWorkPool('pool', { concurrency_limit: 3 });
    emu.seedFlowRun({ flow_id: flowId, work_pool_name: 'pool', work_queue_name: 'low', state: 'PENDING' });
    // 2 slots held (1 RUNNING, 1 PENDING) → one more run may start, the highest-priority one.
    expect((await poll(emu, 'pool', {})).runs.map((r) => r.flow_run.id)).toEqual([h1.id]);

    // Claiming h1 fills the pool.
    const claim = emu.setFlowRunState(h1.id, 'PENDING');
    expect(claim.status).toBe('ACCEPT');
    expect((await poll(emu, 'pool', {})).runs).toEqual([]);
    expect(emu.getWorkPool('pool')?.active_slots).toBe(mode === '3' ? 3 : undefined);
    expect(emu.schemaErrors()).toEqual([]);
  });
});

describe('get_scheduled_flow_runs and deployment concurrency (mode 3)', () => {
  it('leaves out runs whose deployment has no free slot', async () => {
    emu = await startPrefectEmulator();
    const flowId = setup(emu);
    const dep = emu.seedDeployment({
      flow_id: flowId,
      name: 'limited',
      work_pool_name: 'pool',
      concurrency_limit: 1,
    });
    const a = emu.seedFlowRun({
      flow_id: flowId,
      deployment_id: dep.id,
      next_scheduled_start_time: Date.now() - 2000,
    });
    const b = emu.seedFlowRun({
      flow_id: flowId,
      deployment_id: dep.id,
      next_scheduled_start_time: Date.now() - 1000,
    });
    expect((await poll(emu, 'pool', {})).runs.map((r) => r.flow_run.id)).toEqual([a.id, b.id]);
    expect(emu.setFlowRunState(a.id, 'PENDING').status).toBe('ACCEPT');
    expect((await poll(emu, 'pool', {})).runs).toEqual([]);
    expect(emu.getDeployment(dep.id)?.global_concurrency_limit).toMatchObject({ limit: 1, active_slots: 1 });
    expect(emu.getDeployment(dep.id)?.status).toBe('READY');
    expect(emu.schemaErrors()).toEqual([]);
  });
});
