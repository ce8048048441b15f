import { afterEach, describe, expect, it } from 'vitest';
import { type PrefectEmulator, startPrefectEmulator } from './index.js';

let emu: PrefectEmulator | undefined;
afterEach(async () => {
  await emu?.stop();
  emu = undefined;
});

function get(e: PrefectEmulator, path: string): Promise<Response> {
  return fetch(`${e.url}${path}`);
}

describe('fault injection', () => {
  it('answers with a status and Retry-After a given number of times', async () => {
    emu = await startPrefectEmulator();
    emu.seedWorkPool({ name: 'pool' });
    const handle = emu.faults.add({
      name: 'overloaded',
      method: 'GET',
      path: '/work_pools/{name}',
      times: 2,
      response: { status: 503, retryAfter: 2 },
    });
    for (let i = 0; i < 2; i++) {
      const res = await get(emu, '/work_pools/pool');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      await res.text();
    }
    const ok = await get(emu, '/work_pools/pool');
    expect(ok.status).toBe(200);
    await ok.text();
    expect(handle.hits()).toBe(2);
    expect(handle.remaining()).toBe(0);
    expect(emu.requests.map((r) => r.fault)).toEqual(['overloaded', 'overloaded', null]);
    // Injected answers are not schema-checked; the real ones still are.
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('sends a 429 with a custom body, for a predicate match', async () => {
    emu = await startPrefectEmulator();
    emu.faults.add({
      path: (info) => info.path === '/health',
      response: { status: 429, body: { detail: 'slow down' }, retryAfter: '1' },
    });
    const res = await get(emu, '/health');
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ detail: 'slow down' });
  });

  it('drops the connection before handling', async () => {
    emu = await startPrefectEmulator();
    emu.seedWorkPool({ name: 'pool' });
    emu.faults.add({ path: '/work_pools/{name}/workers/heartbeat', drop: true, times: 1 });
    const send = () =>
      fetch(`${emu?.url}/work_pools/pool/workers/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'w' }),
      });
    await expect(send()).rejects.toThrow();
    expect(emu.listWorkers('pool')).toEqual([]);
    expect(emu.requests[0]?.status).toBeNull();
    expect((await send()).status).toBe(204);
    expect(emu.listWorkers('pool')).toHaveLength(1);
  });

  it('drops the connection after handling (the state change is committed, the answer lost)', async () => {
    emu = await startPrefectEmulator();
    emu.seedWorkPool({ name: 'pool' });
    const flow = emu.seedFlow({ name: 'f' });
    const run = emu.seedFlowRun({ flow_id: flow.id, work_pool_name: 'pool' });
    emu.faults.add({ method: 'POST', path: '/flow_runs/*/set_state', drop: 'after', times: 1 });
    const claim = () =>
      fetch(`${emu?.url}/flow_runs/${run.id}/set_state`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ state: { type: 'PENDING', name: 'Pending' } }),
      });
    await expect(claim()).rejects.toThrow();
    expect(emu.getFlowRun(run.id)?.state_type).toBe('PENDING');
    const retry = await claim();
    expect(((await retry.json()) as { status: string }).status).toBe('ABORT');
  });

  it('adds latency per route and globally', async () => {
    emu = await startPrefectEmulator();
    emu.faults.add({ path: '/health', latencyMs: 150, times: 1 });
    let t = Date.now();
    await (await get(emu, '/health')).text();
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
    t = Date.now();
    await (await get(emu, '/health')).text();
    expect(Date.now() - t).toBeLessThan(140);

    emu.faults.setLatency(120, { method: 'GET', path: '/admin/version' });
    t = Date.now();
    await (await get(emu, '/admin/version')).text();
    expect(Date.now() - t).toBeGreaterThanOrEqual(110);
    emu.faults.setLatency(0);
    emu.faults.clear();
  });

  it('draws probabilistic faults from the seeded PRNG (reproducible)', async () => {
    const outcomes: number[][] = [];
    for (let round = 0; round < 2; round++) {
      const e = await startPrefectEmulator({ seed: 7 });
      e.faults.add({ path: '/health', probability: 0.5, response: { status: 502 } });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await get(e, '/health');
        statuses.push(res.status);
        await res.text();
      }
      outcomes.push(statuses);
      await e.stop();
    }
    expect(outcomes[0]).toEqual(outcomes[1]);
    expect(outcomes[0]).toContain(502);
    expect(outcomes[0]).toContain(200);
  });
});
