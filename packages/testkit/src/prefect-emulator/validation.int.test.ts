import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type JsonObject, type PrefectEmulator, type PrefectMode, startPrefectEmulator } from './index.js';

async function call(
  emu: PrefectEmulator,
  method: string,
  path: string,
  body?: unknown,
  init: { raw?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: JsonObject }> {
  const payload = init.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const res = await fetch(`${emu.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
    ...(payload === undefined ? {} : { body: payload }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as JsonObject };
}

let emu: PrefectEmulator | undefined;
afterEach(async () => {
  await emu?.stop();
  emu = undefined;
});

describe('request validation (mode 3)', () => {
  it("rejects an invalid set_state body with 422 in the server's shape", async () => {
    emu = await startPrefectEmulator();
    emu.seedWorkPool({ name: 'pool' });
    const flow = emu.seedFlow({ name: 'f' });
    const run = emu.seedFlowRun({ flow_id: flow.id, work_pool_name: 'pool' });
    const res = await call(emu, 'POST', `/flow_runs/${run.id}/set_state`, { state: { type: 'BOGUS' } });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({
      exception_message: 'Invalid request received.',
      exception_detail: [{ type: 'enum', loc: ['body', 'state', 'type'], input: 'BOGUS' }],
      request_body: { state: { type: 'BOGUS' } },
    });
    expect(emu.getFlowRun(run.id)?.state_type).toBe('SCHEDULED');
    const logged = emu.requests.at(-1);
    expect(logged?.requestErrors[0]).toMatchObject({ path: '/body/state/type', keyword: 'enum' });

    const missing = await call(emu, 'POST', `/flow_runs/${run.id}/set_state`, { force: true });
    expect(missing.status).toBe(422);
    expect(missing.body.exception_detail).toEqual([
      { type: 'missing', loc: ['body', 'state'], msg: 'Field required', input: { force: true } },
    ]);
    const extra = await call(emu, 'POST', `/flow_runs/${run.id}/set_state`, {
      state: { type: 'PENDING', bogus: 1 },
    });
    expect(extra.status).toBe(422);
    expect(extra.body.exception_detail).toMatchObject([
      { type: 'extra_forbidden', loc: ['body', 'state', 'bogus'] },
    ]);
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('rejects malformed JSON, bad path ids, bad query values and wrong types', async () => {
    emu = await startPrefectEmulator();
    emu.seedWorkPool({ name: 'pool' });
    const json = await call(emu, 'POST', '/work_pools/pool/get_scheduled_flow_runs', undefined, {
      raw: '{"work_queue_names": [',
    });
    expect(json.status).toBe(422);
    expect(json.body.exception_detail).toMatchObject([{ type: 'json_invalid' }]);

    const badId = await call(emu, 'GET', '/flow_runs/not-a-uuid');
    expect(badId.status).toBe(422);
    expect(badId.body.exception_detail).toMatchObject([{ type: 'uuid_parsing', loc: ['path', 'id'] }]);

    const badBool = await call(emu, 'GET', `/block_documents/${randomUUID()}?include_secrets=maybe`);
    expect(badBool.status).toBe(422);

    const wrongType = await call(emu, 'POST', '/work_pools/pool/get_scheduled_flow_runs', {
      work_queue_names: 'default',
    });
    expect(wrongType.status).toBe(422);
    expect(wrongType.body.exception_detail).toMatchObject([
      { type: 'list_type', loc: ['body', 'work_queue_names'] },
    ]);

    const badTime = await call(emu, 'POST', '/work_pools/pool/get_scheduled_flow_runs', {
      scheduled_before: 'yesterday',
    });
    expect(badTime.status).toBe(422);

    const badName = await call(emu, 'POST', '/work_pools/', { name: 'a/b' });
    expect(badName.status).toBe(422);

    const nullLimit = await call(emu, 'POST', '/work_pools/pool/get_scheduled_flow_runs', {
      limit: null,
      work_queue_names: [],
    });
    expect(nullLimit.status).toBe(200);
    const oldApi = await call(emu, 'GET', '/work_pools/pool', undefined, {
      headers: { 'x-prefect-api-version': '0.7.9' },
    });
    expect(oldApi.status).toBe(400);
    expect(emu.schemaErrors()).toEqual([]);
  });

  it('flags endpoints the emulator does not implement', async () => {
    emu = await startPrefectEmulator();
    const res = await call(emu, 'POST', '/flows/filter', {});
    expect(res.status).toBe(501);
    expect(emu.schemaErrors()).toMatchObject([{ kind: 'unimplemented-endpoint', route: '/flows/filter' }]);
  });
});

/** A full worker-like exchange; every response must match the mode's documented schema. */
async function scenario(e: PrefectEmulator, mode: PrefectMode): Promise<void> {
  const poolName = 'ecs-pool';
  expect((await call(e, 'GET', `/work_pools/${poolName}`)).status).toBe(404);
  expect((await call(e, 'POST', '/work_pools/', { name: poolName, type: 'ecs' })).status).toBe(201);
  const template = {
    job_configuration: { image: '{{ image }}', env: '{{ env }}' },
    variables: { type: 'object', properties: { image: { type: 'string' }, env: { type: 'object' } } },
  };
  expect((await call(e, 'PATCH', `/work_pools/${poolName}`, { base_job_template: template })).status).toBe(
    204,
  );
  const pool = await call(e, 'GET', `/work_pools/${poolName}`);
  expect(pool.body.base_job_template).toEqual(template);
  expect(
    (
      await call(e, 'POST', `/work_pools/${poolName}/workers/heartbeat`, {
        name: 'ECSWorker x',
        heartbeat_interval_seconds: 30,
      })
    ).status,
  ).toBe(204);

  const flow = e.seedFlow({ name: 'etl', tags: ['t'] });
  const dep = e.seedDeployment({
    flow_id: flow.id,
    name: 'nightly',
    work_pool_name: poolName,
    job_variables: { image: 'repo/img:1', env: { A: '1' } },
  });
  const run = e.seedFlowRun({ flow_id: flow.id, deployment_id: dep.id, tags: ['x'] });
  const creds = e.seedBlockDocument({
    block_type_slug: 'aws-credentials',
    name: 'prod',
    data: { aws_access_key_id: 'AKIA', aws_secret_access_key: 'shh', region_name: 'eu-west-1' },
    secret_fields: ['aws_secret_access_key'],
  });
  e.seedVariable({ name: 'cluster', value: 'prod-cluster' });

  const polled = await call(e, 'POST', `/work_pools/${poolName}/get_scheduled_flow_runs`, {
    work_queue_names: [],
    scheduled_before: `${new Date(Date.now() + 10_000).toISOString().replace('T', ' ').replace('Z', '')}000+00:00`,
  });
  expect(polled.status).toBe(200);
  const deployment = await call(e, 'GET', `/deployments/${dep.id}`);
  if (mode === '3') {
    expect(deployment.body.job_variables).toEqual({ image: 'repo/img:1', env: { A: '1' } });
    expect(deployment.body).not.toHaveProperty('infra_overrides');
  } else {
    expect(deployment.body.infra_overrides).toEqual({ image: 'repo/img:1', env: { A: '1' } });
    expect(deployment.body).not.toHaveProperty('job_variables');
  }
  const claim = {
    state: {
      type: 'PENDING',
      name: 'Pending',
      message: null,
      data: null,
      state_details: { flow_run_id: run.id, transition_id: randomUUID(), traceparent: null },
    },
    force: false,
  };
  expect((await call(e, 'POST', `/flow_runs/${run.id}/set_state`, claim)).status).toBe(201);
  expect((await call(e, 'GET', `/flows/${flow.id}`)).body.name).toBe('etl');
  const hidden = await call(e, 'GET', `/block_documents/${creds.id}`);
  expect(hidden.body.data).toMatchObject({ aws_secret_access_key: '********', aws_access_key_id: 'AKIA' });
  const shown = await call(e, 'GET', `/block_documents/${creds.id}?include_secrets=true`);
  expect(shown.body.data).toMatchObject({ aws_secret_access_key: 'shh' });
  const byName = await call(
    e,
    'GET',
    '/block_types/slug/aws-credentials/block_documents/name/prod?include_secrets=true',
  );
  expect(byName.body.id).toBe(creds.id);
  expect((await call(e, 'GET', '/block_types/slug/aws-credentials/block_documents/name/nope')).status).toBe(
    404,
  );
  expect((await call(e, 'GET', '/variables/name/cluster')).body.value).toBe('prod-cluster');
  expect((await call(e, 'GET', '/variables/name/missing')).status).toBe(404);

  const labels = await call(e, 'PATCH', `/flow_runs/${run.id}/labels`, {
    'prefect.worker.name': 'ECSWorker x',
    'prefect.worker.type': 'ecs',
    'prefect.work-pool.name': poolName,
    'prefect.work-pool.id': String(pool.body.id),
  });
  expect(labels.status).toBe(mode === '3' ? 204 : 404);
  const submitting = {
    ...claim,
    state: {
      ...claim.state,
      name: 'Submitting',
      state_details: { flow_run_id: run.id, transition_id: randomUUID() },
    },
  };
  expect((await call(e, 'POST', `/flow_runs/${run.id}/set_state`, submitting)).status).toBe(
    mode === '3' ? 201 : 200,
  );
  expect(
    (await call(e, 'PATCH', `/flow_runs/${run.id}`, { infrastructure_pid: 'prod::arn:aws:ecs:task/1' }))
      .status,
  ).toBe(204);
  const logs = await call(e, 'POST', '/logs/', [
    {
      name: 'prefect.flow_runs.worker',
      level: 20,
      message: 'submitting',
      timestamp: new Date().toISOString(),
      flow_run_id: run.id,
    },
  ]);
  expect(logs.status).toBe(201);
  const filtered = await call(e, 'POST', '/flow_runs/filter', {
    flow_runs: { id: { any_: [run.id] }, state: { type: { any_: ['PENDING'] } } },
    work_pools: { name: { any_: [poolName] } },
    work_pool_queues: { name: { any_: ['default'] } },
    limit: 10,
  });
  expect(Array.isArray(filtered.body) && filtered.body.length).toBe(1);
  const read = await call(e, 'GET', `/flow_runs/${run.id}`);
  expect(read.body).toMatchObject({
    infrastructure_pid: 'prod::arn:aws:ecs:task/1',
    state_type: 'PENDING',
    work_pool_name: poolName,
  });
  if (mode === '3') {
    expect(read.body.labels).toMatchObject({ 'prefect.worker.type': 'ecs', 'prefect.flow.id': flow.id });
    expect(read.body).toHaveProperty('job_variables');
  } else {
    expect(read.body).not.toHaveProperty('labels');
    expect(read.body).not.toHaveProperty('job_variables');
  }
  // Crash report, then a forced cancel.
  const crash = {
    state: { type: 'CRASHED', name: 'Crashed', message: 'Failed to submit flow run to infrastructure: boom' },
    force: false,
  };
  expect((await call(e, 'POST', `/flow_runs/${run.id}/set_state`, crash)).status).toBe(201);
  const cancel = { state: { type: 'CANCELLED', name: 'Cancelled', message: 'x' }, force: true };
  expect((await call(e, 'POST', `/flow_runs/${run.id}/set_state`, cancel)).status).toBe(201);
  expect(e.logs()).toHaveLength(1);
}

describe.each<PrefectMode>(['3', '2'])('a scripted worker exchange (mode %s)', (mode) => {
  it('produces only schema-valid responses', async () => {
    emu = await startPrefectEmulator({ mode });
    await scenario(emu, mode);
    expect(emu.schemaErrors()).toEqual([]);
    expect(emu.requests.filter((r) => r.responseErrors.length > 0)).toEqual([]);
    expect(emu.requests.length).toBeGreaterThan(20);
  });
});

describe('Prefect 2.12 surface', () => {
  it('has no labels or csrf-token endpoints and no job_variables on flow runs', async () => {
    emu = await startPrefectEmulator({ mode: '2' });
    emu.seedWorkPool({ name: 'pool' });
    const flow = emu.seedFlow({ name: 'f' });
    const run = emu.seedFlowRun({ flow_id: flow.id, work_pool_name: 'pool' });
    expect(run).not.toHaveProperty('job_variables');
    const labels = await call(emu, 'PATCH', `/flow_runs/${run.id}/labels`, { a: 'b' });
    expect(labels.status).toBe(404);
    expect(labels.body).toEqual({ detail: 'Not Found' });
    expect((await call(emu, 'GET', '/csrf-token?client=abc')).status).toBe(404);
    const patch = await call(emu, 'PATCH', `/flow_runs/${run.id}`, { job_variables: { a: 1 } });
    expect(patch.status).toBe(422);
    expect(() =>
      emu?.seedFlowRun({ flow_id: flow.id, work_pool_name: 'pool', job_variables: { a: 1 } }),
    ).toThrow();
    const bogus = await call(emu, 'POST', `/flow_runs/${run.id}/set_state`, { state: { type: 'BOGUS' } });
    expect(bogus.status).toBe(422);
    expect(bogus.body.exception_detail).toMatchObject([
      { loc: ['body', 'state', 'type'], type: 'type_error.enum' },
    ]);
    const missingType = await call(emu, 'POST', `/flow_runs/${run.id}/set_state`, { state: { name: 'x' } });
    expect(missingType.status).toBe(422);
    expect(missingType.body.exception_detail).toEqual([
      { loc: ['body', 'state', 'type'], msg: 'field required', type: 'value_error.missing' },
    ]);
    expect(emu.schemaErrors()).toEqual([]);
  });
});
