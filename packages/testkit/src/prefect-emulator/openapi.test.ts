import { describe, expect, it } from 'vitest';
import { loadOpenApiModel, toIssues } from './openapi.js';
import { Serializer } from './serialize.js';
import { Store } from './store.js';
import type { PrefectMode } from './types.js';
import { createRng } from './util.js';

function fixtures(mode: PrefectMode) {
  const store = new Store(mode, createRng(1));
  const s = new Serializer(store, mode);
  store.seedWorkPool({ name: 'pool' });
  const flow = store.seedFlow({ name: 'f' });
  const dep = store.seedDeployment({
    flow_id: flow.id,
    name: 'd',
    work_pool_name: 'pool',
    job_variables: { cpu: 1 },
  });
  const run = store.seedFlowRun({ flow_id: flow.id, deployment_id: dep.id });
  return {
    store,
    s,
    run: s.flowRun(run),
    deployment: s.deployment(dep),
    pool: s.workPool(store.pools.get('pool')!),
  };
}

describe('response validation is strict', () => {
  it('accepts the emulator objects of each mode', () => {
    for (const mode of ['3', '2'] as const) {
      const model = loadOpenApiModel(mode);
      const { run, deployment, pool } = fixtures(mode);
      expect(model.validateComponent('FlowRunResponse', run)).toEqual([]);
      expect(model.validateComponent('DeploymentResponse', deployment)).toEqual([]);
      expect(model.validateComponent(mode === '3' ? 'WorkPoolResponse' : 'WorkPool', pool)).toEqual([]);
    }
  });

  it('flags fields the mode does not have, missing required fields and bad formats', () => {
    const m3 = loadOpenApiModel('3');
    const { run } = fixtures('3');
    expect(toIssues(m3.validateComponent('FlowRunResponse', { ...run, surprise: 1 }))).toEqual([
      { path: '/surprise', message: 'must NOT have additional properties', keyword: 'additionalProperties' },
    ]);
    const { id: _id, ...withoutId } = run;
    expect(toIssues(m3.validateComponent('FlowRunResponse', withoutId))).toMatchObject([
      { path: '/id', keyword: 'required' },
    ]);
    expect(m3.validateComponent('FlowRunResponse', { ...run, flow_id: 'ABC' })).not.toEqual([]);
    expect(m3.validateComponent('FlowRunResponse', { ...run, created: '2024-01-01 00:00:00' })).not.toEqual(
      [],
    );
    expect(
      m3.validateComponent('FlowRunResponse', {
        ...run,
        state: { ...run.state, state_details: { bogus: true } },
      }),
    ).not.toEqual([]);

    const m2 = loadOpenApiModel('2');
    const f2 = fixtures('2');
    expect(m2.validateComponent('FlowRunResponse', { ...f2.run, job_variables: {} })).not.toEqual([]);
    expect(m2.validateComponent('FlowRunResponse', { ...f2.run, labels: {} })).not.toEqual([]);
    expect(m2.validateComponent('DeploymentResponse', { ...f2.deployment, job_variables: {} })).not.toEqual(
      [],
    );
    // pydantic v1 Optional fields may be null although the 3.0 document does not say `nullable`.
    expect(
      m2.validateComponent('FlowRunResponse', { ...f2.run, deployment_id: null, start_time: null }),
    ).toEqual([]);
  });
});

describe('request validation follows pydantic', () => {
  it('accepts Python str(datetime) and loose UUIDs, rejects garbage', () => {
    const model = loadOpenApiModel('3');
    const match = model.match('POST', '/work_pools/p/get_scheduled_flow_runs');
    if (match.kind !== 'ok') throw new Error('route not found');
    expect(
      model.validateRequestBody(match.op, { scheduled_before: '2024-05-01 12:00:00.123456+00:00' }),
    ).toEqual([]);
    expect(model.validateRequestBody(match.op, { scheduled_before: '2024-05-01T12:00:00Z' })).toEqual([]);
    expect(model.validateRequestBody(match.op, { scheduled_before: 'soon' })).not.toEqual([]);
    const setState = model.match('POST', '/flow_runs/0f0f0f0f-0000-4000-8000-000000000000/set_state');
    if (setState.kind !== 'ok') throw new Error('route not found');
    const body = {
      state: { type: 'PENDING', state_details: { flow_run_id: '0F0F0F0F000040008000000000000000' } },
    };
    expect(model.validateRequestBody(setState.op, body)).toEqual([]);
  });

  it("routes literal segments before parameters and knows each mode's paths", () => {
    const m3 = loadOpenApiModel('3');
    const m2 = loadOpenApiModel('2');
    const filter = m3.match('POST', '/flow_runs/filter');
    expect(filter.kind === 'ok' && filter.op.template).toBe('/flow_runs/filter');
    expect(m3.match('PATCH', '/flow_runs/x/labels').kind).toBe('ok');
    expect(m2.match('PATCH', '/flow_runs/x/labels').kind).toBe('not-found');
    expect(m2.match('GET', '/csrf-token').kind).toBe('not-found');
    expect(m3.match('POST', '/logs')).toEqual({ kind: 'redirect', location: '/logs/' });
  });
});
