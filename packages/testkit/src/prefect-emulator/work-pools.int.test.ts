import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type JsonObject, type PrefectEmulator, type PrefectMode, startPrefectEmulator } from './index.js';

interface Reply<T> {
  status: number;
  headers: Headers;
  body: T;
}

async function call<T = JsonObject>(
  emu: PrefectEmulator,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply<T>> {
  const res = await fetch(`${emu.url}${path}`, {
    method,
    redirect: 'manual',
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

const TEMPLATE = {
  job_configuration: { command: '{{ command }}', env: '{{ env }}' },
  variables: { type: 'object', properties: { command: { type: 'string' }, env: { type: 'object' } } },
};

let emu: PrefectEmulator | undefined;
afterEach(async () => {
  await emu?.stop();
  emu = undefined;
});

describe.each<PrefectMode>(['3', '2'])('work pools (mode %s)', (mode) => {
  it('creates, reads and conflicts', async () => {
    emu = await startPrefectEmulator({ mode });
    const created = await call(emu, 'POST', '/work_pools/', { name: 'ecs-pool', type: 'ecs' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'ecs-pool',
      type: 'ecs',
      base_job_template: {},
      is_paused: false,
    });

    const read = await call(emu, 'GET', '/work_pools/ecs-pool');
    expect(read.status).toBe(200);
    expect(read.body.id).toBe(created.body.id);
    expect(read.body.default_queue_id).toBe(emu.listWorkQueues('ecs-pool')[0]?.id);
    expect(emu.listWorkQueues('ecs-pool').map((q) => q.name)).toEqual(['default']);
    if (mode === '3') {
      expect(read.body.status).toBe('NOT_READY');
      expect(read.body.storage_configuration).toEqual({
        bundle_upload_step: null,
        bundle_execution_step: null,
        default_result_storage_block_id: null,
      });
    } else {
      expect(read.body).not.toHaveProperty('status');
      expect(read.body).not.toHaveProperty('storage_configuration');
    }

    const again = await call(emu, 'POST', '/work_pools/', { name: 'ecs-pool', type: 'ecs' });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ detail: 'A work pool with this name already exists.' });

    const missing = await call(emu, 'GET', '/work_pools/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: 'Work pool "nope" not found.' });
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('reserves names starting with "prefect" (any case)', async () => {
    emu = await startPrefectEmulator({ mode });
    for (const name of ['prefect-pool', 'Prefect', 'PREFECTish']) {
      const res = await call(emu, 'POST', '/work_pools/', { name, type: 'ecs' });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        detail: "Work pools starting with 'Prefect' are reserved for internal use.",
      });
    }
    expect(emu.listWorkPools()).toEqual([]);
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('stores, validates and replaces the base job template', async () => {
    emu = await startPrefectEmulator({ mode });
    const created = await call(emu, 'POST', '/work_pools/', {
      name: 'p',
      type: 'ecs',
      base_job_template: TEMPLATE,
    });
    expect(created.status).toBe(201);
    expect(emu.getWorkPool('p')?.base_job_template).toEqual(TEMPLATE);

    const bad = await call(emu, 'POST', '/work_pools/', { name: 'q', base_job_template: { foo: 'bar' } });
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.body)).toContain(
      'must contain both a `job_configuration` key and a `variables` key',
    );

    emu.seedWorkPool({ name: 'empty' });
    expect(emu.getWorkPool('empty')?.base_job_template).toEqual({});
    const patched = await call(emu, 'PATCH', '/work_pools/empty', { base_job_template: TEMPLATE });
    expect(patched.status).toBe(204);
    expect(patched.body).toBeUndefined();
    expect(emu.getWorkPool('empty')?.base_job_template).toEqual(TEMPLATE);

    const undeclared = await call(emu, 'PATCH', '/work_pools/empty', {
      base_job_template: { job_configuration: { image: '{{ image }}' }, variables: { properties: {} } },
    });
    expect(undeclared.status).toBe(422);
    expect(emu.getWorkPool('empty')?.base_job_template).toEqual(TEMPLATE);

    const unknownKey = await call(emu, 'PATCH', '/work_pools/empty', { nope: 1 });
    expect(unknownKey.status).toBe(422);
    expect((await call(emu, 'PATCH', '/work_pools/missing', { is_paused: true })).status).toBe(404);
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('records worker heartbeats (204, return_id ignored)', async () => {
    emu = await startPrefectEmulator({ mode });
    emu.seedWorkPool({ name: 'p' });
    const first = await call(emu, 'POST', '/work_pools/p/workers/heartbeat', {
      name: 'ECSWorker 1',
      heartbeat_interval_seconds: 30,
    });
    expect(first.status).toBe(204);
    const second = await call(emu, 'POST', '/work_pools/p/workers/heartbeat', {
      name: 'ECSWorker 1',
      heartbeat_interval_seconds: 15,
      return_id: true,
      metadata: { integrations: [{ name: 'prefect-aws', version: '0.5.0' }] },
    });
    expect(second.status).toBe(204);
    expect(second.body).toBeUndefined();
    const workers = emu.listWorkers('p');
    expect(workers).toHaveLength(1);
    expect(workers[0]).toMatchObject({
      name: 'ECSWorker 1',
      // A 2.12 server has no heartbeat_interval_seconds field and ignores it.
      heartbeat_interval_seconds: mode === '3' ? 15 : null,
      heartbeat_count: 2,
      status: 'ONLINE',
    });
    if (mode === '3') expect(emu.getWorkPool('p')?.status).toBe('READY');

    expect((await call(emu, 'POST', '/work_pools/p/workers/heartbeat', {})).status).toBe(422);
    const gone = await call(emu, 'POST', '/work_pools/nope/workers/heartbeat', { name: 'w' });
    expect(gone.status).toBe(404);
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('routes like the server: 404, 405 and the trailing-slash redirect', async () => {
    emu = await startPrefectEmulator({ mode });
    const unknown = await call(emu, 'GET', '/definitely/not/here');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: 'Not Found' });
    const wrongMethod = await call(emu, 'PUT', '/work_pools/x');
    expect(wrongMethod.status).toBe(405);
    const noSlash = await call(emu, 'POST', '/work_pools', { name: 'p' });
    expect(noSlash.status).toBe(307);
    expect(noSlash.headers.get('location')).toBe(`${emu.url}/work_pools/`);
    // An unrouted websocket is closed before it is accepted, which uvicorn answers 403. On Prefect 2.x that
    // includes `/events/in`; Prefect 3 serves it (see events.int.test.ts).
    const upgrade = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${emu?.url}${path}`, {
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('upgrade', (_res, socket) => {
          socket.destroy();
          resolve(101);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await upgrade('/work_pools/p/workers/channel')).toBe(403);
    expect(emu.requests.at(-1)).toMatchObject({
      method: 'WEBSOCKET',
      path: '/work_pools/p/workers/channel',
      status: 403,
    });
    expect(await upgrade('/events/in')).toBe(mode === '3' ? 101 : 403);
    expect(emu.requests.at(-1)).toMatchObject({
      method: 'WEBSOCKET',
      path: '/events/in',
      status: mode === '3' ? 101 : 403,
    });
    expect((await call(emu, 'GET', '/health')).body).toBe(true);
    expect((await call(emu, 'GET', '/admin/version')).body).toBe(mode === '3' ? '3.4.11' : '2.12.0');
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('reads queues of a pool', async () => {
    emu = await startPrefectEmulator({ mode });
    emu.seedWorkPool({
      name: 'p',
      queues: [
        { name: 'high', priority: 1 },
        { name: 'paused', is_paused: true },
      ],
    });
    const res = await call<JsonObject[]>(emu, 'POST', '/work_pools/p/queues/filter', {});
    expect(res.status).toBe(200);
    expect(res.body.map((q) => [q.name, q.is_paused])).toEqual([
      ['default', false],
      ['high', false],
      ['paused', true],
    ]);
    const one = await call(emu, 'GET', '/work_pools/p/queues/paused');
    expect(one.body.is_paused).toBe(true);
    expect((await call(emu, 'GET', '/work_pools/p/queues/nope')).status).toBe(404);
    expect(emu.schemaErrors()).toEqual([]);
  });
});
