/**
 * `stevedore doctor` against the emulators: all green, then one fault at a time, each turning its own line red.
 */
import { loadEcsBaseJobTemplate } from '@stevedore/ecs-launcher';
import {
  type AwsEmulator,
  type JsonObject,
  type PrefectEmulator,
  pointAwsSdkAt,
  startAwsEmulator,
  startPrefectEmulator,
} from '@stevedore/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, runCli } from './main.js';

const POOL = 'doctor-pool';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

interface Env {
  prefect: PrefectEmulator;
  aws: AwsEmulator;
  template: JsonObject;
  taskRole: string;
}

async function setup(defaults: Record<string, unknown> = {}, poolType = 'ecs'): Promise<Env> {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  cleanups.push(() => aws.stop());
  const restore = pointAwsSdkAt(aws);
  cleanups.push(async () => restore());
  const taskRole = aws.identity.seedRole('flow-task');
  const execRole = aws.identity.seedRole('flow-exec');
  const template = JSON.parse(JSON.stringify(loadEcsBaseJobTemplate())) as JsonObject;
  const props = (template.variables as { properties: Record<string, Record<string, unknown>> }).properties;
  const values: Record<string, unknown> = {
    task_role_arn: taskRole,
    execution_role_arn: execRole,
    ...defaults,
  };
  for (const [k, v] of Object.entries(values)) props[k] = { ...(props[k] ?? {}), default: v };
  prefect.seedWorkPool({ name: POOL, type: poolType, base_job_template: template });
  // The events queue, as `stevedore events deploy` creates it, so the observer-sqs check passes.
  expect(await runCli(['events', 'deploy', '--pool', POOL, '--cluster', 'default'], io(prefect))).toBe(0);
  return { prefect, aws, template, taskRole };
}

function io(prefect: PrefectEmulator, url = prefect.url): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env: { PREFECT_API_URL: url, PREFECT_CLIENT_MAX_RETRIES: '0' },
    cwd: '/nonexistent-stevedore-test-dir',
    signal: AbortSignal.timeout(20_000),
  };
}

async function doctor(
  env: Env,
  url?: string,
): Promise<{ code: number; byId: Map<string, string>; text: string }> {
  const t = io(env.prefect, url);
  const code = await runCli(['doctor', '--pool', POOL], t);
  const byId = new Map<string, string>();
  for (const line of t.lines) {
    const m = /^(PASS|FAIL|WARN|SKIP) {2}([\w.-]+): /.exec(line);
    if (m?.[1] && m[2]) byId.set(m[2], m[1]);
  }
  return { code, byId, text: [...t.lines, ...t.errors].join('\n') };
}

describe('stevedore doctor', () => {
  it('is all green against healthy emulators', async () => {
    const env = await setup();
    const r = await doctor(env);
    expect(r.text).not.toMatch(/^FAIL|^WARN/m);
    expect(r.code).toBe(0);
    for (const id of [
      'prefect.api',
      'prefect.auth',
      'prefect.pool',
      'observer-sqs.queue',
      'aws.identity',
      'ecs.cluster',
      'ec2.network',
      'iam.task_role_arn',
      'iam.execution_role_arn',
      'iam.permissions',
    ])
      expect([id, r.byId.get(id)]).toEqual([id, 'PASS']);
    expect(env.aws.schemaErrors()).toEqual([]);
    expect(env.prefect.schemaErrors()).toEqual([]);
  });

  interface Fault {
    name: string;
    id: string;
    inject: (env: Env) => void;
    defaults?: Record<string, unknown>;
    poolType?: string;
  }
  const faults: Fault[] = [
    {
      name: 'the API rejects the credentials',
      id: 'prefect.auth',
      inject: (e) =>
        void e.prefect.faults.add({
          method: 'GET',
          path: '/work_pools/{name}',
          response: { status: 401, body: { detail: 'Unauthorized' } },
        }),
    },
    {
      name: 'the pool is of another type',
      id: 'prefect.pool',
      inject: () => undefined,
      poolType: 'kubernetes',
    },
    {
      name: 'the AWS credentials are invalid',
      id: 'aws.identity',
      inject: (e) => e.aws.identity.setCredentials('invalid'),
    },
    {
      name: 'the cluster does not exist',
      id: 'ecs.cluster',
      inject: () => undefined,
      defaults: { cluster: 'nope' },
    },
    {
      name: 'FARGATE_SPOT without its capacity provider',
      id: 'ecs.capacity',
      inject: (e) => void e.aws.ecs.seedCluster({ name: 'plain', capacityProviders: [] }),
      defaults: { cluster: 'plain', launch_type: 'FARGATE_SPOT' },
    },
    {
      name: 'no default VPC to infer the network from',
      id: 'ec2.network',
      inject: (e) => e.aws.ec2.removeDefaultVpc(),
    },
    {
      name: 'the task role does not exist',
      id: 'iam.task_role_arn',
      inject: () => undefined,
      defaults: { task_role_arn: 'arn:aws:iam::000000000000:role/missing' },
    },
    {
      name: 'an action the plugins need is denied',
      id: 'iam.permissions',
      inject: (e) => e.aws.identity.deny(['ecs:RunTask']),
    },
  ];
  it.each(faults)('turns one line red when $name', async ({ id, inject, defaults, poolType }) => {
    const env = await setup(defaults, poolType);
    inject(env);
    const r = await doctor(env);
    expect(r.code).toBe(1);
    expect([id, r.byId.get(id)]).toEqual([id, 'FAIL']);
    expect(r.text).toMatch(new RegExp(`^FAIL {2}${id.replace('.', '\\.')}: .+ — fix: .+`, 'm'));
  });

  it('fails the API line when the Prefect API is unreachable', async () => {
    const env = await setup();
    const r = await doctor(env, 'http://127.0.0.1:9/api');
    expect(r.code).toBe(1);
    expect(r.byId.get('prefect.api')).toBe('FAIL');
  });

  it('warns, not fails, when permissions cannot be simulated', async () => {
    const env = await setup();
    env.aws.identity.setSimulation('denied');
    const r = await doctor(env);
    expect(r.byId.get('iam.permissions')).toBe('WARN');
    expect(r.code).toBe(0);
  });
});
