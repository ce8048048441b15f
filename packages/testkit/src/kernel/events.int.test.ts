import {
  createMemoryLogger,
  deterministicEventId,
  type PrefectEvent,
  slugify,
  WebSocketEventEmitter,
} from '@stevedore/kernel';
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeInfrastructure, fakeInfrastructurePlugin } from '../fakes/fake-infrastructure.js';
import { type PrefectEmulator, startPrefectEmulator } from '../prefect-emulator/index.js';
import { createTestKernel } from '../test-kernel.js';
import { waitFor } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function emulator(options: Parameters<typeof startPrefectEmulator>[0] = {}): Promise<PrefectEmulator> {
  const prefect = await startPrefectEmulator(options);
  cleanups.push(() => prefect.stop());
  return prefect;
}

function emitter(
  prefect: PrefectEmulator,
  options: Partial<ConstructorParameters<typeof WebSocketEventEmitter>[0]> = {},
) {
  const logger = createMemoryLogger();
  const e = new WebSocketEventEmitter({
    apiUrl: prefect.url,
    minBackoffMs: 20,
    maxBackoffMs: 100,
    logger,
    ...options,
  });
  cleanups.push(() => e.stop(1000));
  return { e, logger };
}

/** The real kernel with the fake ECS infrastructure, running in the background against `prefect`. */
function startWorker(prefect: PrefectEmulator, config: Record<string, unknown> = {}) {
  const kernel = createTestKernel({
    plugins: [fakeInfrastructurePlugin(createFakeInfrastructure({ type: 'ecs' }))],
    apiUrl: prefect.url,
    pool: 'ecs-pool',
    config,
  });
  const handle = kernel.start();
  cleanups.push(() => handle.stop());
  return { kernel, handle };
}

let n = 0;
function event(name = 'test.happened'): PrefectEvent {
  n += 1;
  return {
    id: deterministicEventId('test', String(n), String(Date.now())),
    occurred: new Date().toISOString(),
    event: name,
    resource: { 'prefect.resource.id': `test.resource.${n}` },
    related: [],
  };
}

describe('the worker events, end to end (Prefect 3 emulator)', () => {
  it('emits started, submitted-flow-run, executed-flow-run and stopped with the resources of spec §1.12, in order', async () => {
    const prefect = await emulator();
    const { kernel, handle } = startWorker(prefect, { name: 'My ECS Worker' });
    await waitFor(() => prefect.getWorkPool('ecs-pool'), 5000, 'the pool');
    const flow = prefect.seedFlow({ name: 'etl', tags: ['flow-tag'] });
    const deployment = prefect.seedDeployment({
      flow_id: flow.id,
      name: 'nightly',
      work_pool_name: 'ecs-pool',
      tags: ['b-tag'],
    });
    const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id, tags: ['a-tag'] });
    await waitFor(() => prefect.getFlowRun(run.id)?.infrastructure_pid, 5000, 'the launch');
    await handle.stop();

    const events = prefect.events.list();
    expect(events.map((e) => e.event)).toEqual([
      'prefect.worker.started',
      'prefect.worker.submitted-flow-run',
      'prefect.worker.executed-flow-run',
      'prefect.worker.stopped',
    ]);
    const pool = prefect.getWorkPool('ecs-pool');
    const worker = {
      'prefect.resource.id': 'prefect.worker.ecs.my-ecs-worker',
      'prefect.resource.name': 'My ECS Worker',
      'prefect.version': prefect.version,
      'prefect.worker-type': 'ecs',
    };
    const poolResource = {
      'prefect.resource.id': `prefect.work-pool.${pool?.id}`,
      'prefect.resource.role': 'work-pool',
      'prefect.resource.name': 'ecs-pool',
    };
    const [started, submitted, executed, stopped] = events;
    for (const e of events) expect(e.resource).toEqual(worker);
    expect(started?.related).toEqual([poolResource]);
    expect(stopped?.related).toEqual([poolResource]);
    expect(stopped?.follows).toBe(started?.id);
    const flowRunResource = {
      'prefect.resource.id': `prefect.flow-run.${run.id}`,
      'prefect.resource.role': 'flow-run',
      'prefect.resource.name': run.name,
    };
    const common = [
      {
        'prefect.resource.id': `prefect.deployment.${deployment.id}`,
        'prefect.resource.role': 'deployment',
        'prefect.resource.name': 'nightly',
      },
      {
        'prefect.resource.id': `prefect.flow.${flow.id}`,
        'prefect.resource.role': 'flow',
        'prefect.resource.name': 'etl',
      },
    ];
    const tags = ['a-tag', 'b-tag', 'flow-tag'].map((t) => ({
      'prefect.resource.id': `prefect.tag.${t}`,
      'prefect.resource.role': 'tag',
    }));
    expect(submitted?.related).toEqual([...common, flowRunResource, ...tags, poolResource]);
    expect(executed?.related).toEqual([
      ...common,
      {
        ...flowRunResource,
        'prefect.infrastructure.identifier': prefect.getFlowRun(run.id)?.infrastructure_pid,
        'prefect.infrastructure.status-code': '0',
      },
      ...tags,
      poolResource,
    ]);
    expect(executed?.follows).toBe(submitted?.id);
    expect(kernel.events.stats()).toMatchObject({ dropped: 0, buffered: 0, delivered: 4 });
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('Prefect 2 mode: the endpoint does not exist; nothing is emitted, one info line, the worker works as before', async () => {
    const prefect = await emulator({ mode: '2' });
    const { kernel, handle } = startWorker(prefect);
    await waitFor(() => prefect.getWorkPool('ecs-pool'), 5000, 'the pool');
    const flow = prefect.seedFlow({ name: 'etl' });
    const deployment = prefect.seedDeployment({
      flow_id: flow.id,
      name: 'nightly',
      work_pool_name: 'ecs-pool',
    });
    const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
    await waitFor(() => prefect.getFlowRun(run.id)?.infrastructure_pid, 5000, 'the launch');
    await waitFor(() => kernel.events.stats().state === 'unavailable', 5000, 'the detection');
    await handle.stop();
    expect(prefect.events.list()).toEqual([]);
    const upgrades = prefect.requests.filter((r) => r.method === 'WEBSOCKET');
    expect(upgrades).toHaveLength(1);
    expect(upgrades[0]).toMatchObject({ path: '/events/in', status: 403 });
    const lines = kernel.records.filter((r) => /events endpoint/.test(r.message));
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe('info');
    expect(kernel.events.enabled).toBe(false);
    expect(kernel.records.filter((r) => r.level === 'warn' && /event/i.test(r.message))).toEqual([]);
  });

  it('STEVEDORE_EVENTS off: no connection at all', async () => {
    const prefect = await emulator();
    const { kernel, handle } = startWorker(prefect, { events: false });
    await waitFor(() => kernel.records.find((r) => /started!/.test(r.message)), 5000, 'the start');
    await handle.stop();
    expect(kernel.events.stats().state).toBe('off');
    expect(prefect.requests.filter((r) => r.method === 'WEBSOCKET')).toEqual([]);
  });
});

describe('the events emitter against the emulator', () => {
  it('loses nothing while the endpoint goes away and comes back, and the server keeps one event per id', async () => {
    const prefect = await emulator();
    const { e } = emitter(prefect);
    const first = Array.from({ length: 5 }, () => event());
    for (const ev of first) e.emit(ev);
    await waitFor(() => e.stats().delivered === 5, 5000, 'the first events');
    prefect.events.setOutage(true);
    const during = Array.from({ length: 50 }, () => event());
    for (const ev of during) e.emit(ev);
    await waitFor(() => e.stats().state === 'backoff', 5000, 'the emitter to notice');
    expect(e.stats().buffered).toBe(50);
    prefect.events.setOutage(false);
    await waitFor(() => e.stats().delivered === 55, 10_000, 'the buffered events');
    expect(prefect.events.list().map((x) => x.id)).toEqual([...first, ...during].map((x) => x.id));
    expect(e.stats()).toMatchObject({ emitted: 55, dropped: 0, buffered: 0 });
    expect(e.stats().connections).toBeGreaterThanOrEqual(2);

    // The same event twice (two observers, a redelivery): one stored event.
    const dup = event();
    e.emit(dup);
    e.emit({ ...dup });
    await waitFor(() => e.stats().delivered === 57, 5000, 'the duplicates');
    expect(prefect.events.list().filter((x) => x.id === dup.id)).toHaveLength(1);
    expect(prefect.events.stats().duplicates).toBeGreaterThanOrEqual(1);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('drops the oldest events when the buffer is full, counts them, and never blocks', async () => {
    const prefect = await emulator();
    prefect.events.setOutage(true);
    const { e, logger } = emitter(prefect, { bufferSize: 10 });
    const all = Array.from({ length: 25 }, () => event());
    for (const ev of all) e.emit(ev);
    expect(e.stats()).toMatchObject({ emitted: 25, dropped: 15, buffered: 10 });
    prefect.events.setOutage(false);
    await waitFor(() => e.stats().delivered === 10, 10_000, 'the kept events');
    expect(prefect.events.list().map((x) => x.id)).toEqual(all.slice(15).map((x) => x.id));
    expect(logger.records.filter((r) => /buffer is full/.test(r.message))).toHaveLength(1);
  });

  it('authenticates with the auth string (prefect subprotocol, auth message, auth_success)', async () => {
    const prefect = await emulator({ authString: 'admin:pass' });
    const { e } = emitter(prefect, { authString: 'admin:pass' });
    e.emit(event());
    await waitFor(() => e.stats().delivered === 1, 5000, 'the event');
    expect(prefect.events.list()).toHaveLength(1);

    const bad = emitter(prefect, { authString: 'admin:wrong' });
    bad.e.emit(event());
    await waitFor(
      () => bad.logger.records.find((r) => /refused the events stream/.test(r.message)),
      5000,
      'the refusal',
    );
    expect(prefect.events.list()).toHaveLength(1);
    expect(JSON.stringify(bad.logger.records)).not.toContain('admin:wrong');
  });

  it('Prefect Cloud: the API key goes in the upgrade’s Authorization header; a refusal is not taken for Prefect 2', async () => {
    const prefect = await emulator({ apiKey: 'pnu_cloud_key' });
    const cloudApiUrl = prefect.url; // the emulator plays Cloud: its URL is under PREFECT_CLOUD_API_URL
    const { e } = emitter(prefect, { apiKey: 'pnu_cloud_key', cloudApiUrl });
    e.emit(event());
    await waitFor(() => e.stats().delivered === 1, 5000, 'the event');
    const upgrade = prefect.requests.find((r) => r.method === 'WEBSOCKET');
    expect(upgrade?.headers.authorization).toBe('bearer pnu_cloud_key');
    expect(upgrade?.headers['sec-websocket-protocol']).toBeUndefined();

    const wrong = emitter(prefect, { apiKey: 'pnu_wrong', cloudApiUrl });
    wrong.e.emit(event());
    await waitFor(() => wrong.e.stats().state === 'backoff', 5000, 'the refusal');
    expect(wrong.e.enabled).toBe(true);
    expect(prefect.events.list()).toHaveLength(1);
    expect(JSON.stringify(wrong.logger.records)).not.toContain('pnu_wrong');
  });

  it('reports an event that breaks the Event schema', async () => {
    const prefect = await emulator();
    const { e } = emitter(prefect);
    e.emit({ ...event(), resource: { name: 'no id' } });
    await waitFor(() => prefect.schemaErrors().length > 0, 5000, 'the schema error');
    expect(prefect.schemaErrors()[0]).toMatchObject({ kind: 'event-schema', path: '/events/in' });
  });

  it('slugifies worker names as python-slugify does', () => {
    expect(slugify('ECSWorker 1b2c-3D')).toBe('ecsworker-1b2c-3d');
    expect(slugify('  Café   worker__01 ')).toBe('cafe-worker-01');
  });
});
