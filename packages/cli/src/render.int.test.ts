/**
 * `stevedore render` prints exactly what the worker then sends: for five job-variable sets, the rendered
 * RegisterTaskDefinition and RunTask requests of a flow run equal the requests the AWS emulator records when
 * `stevedore start` launches that run (the RunTask `clientToken` and the new revision's ARN excepted: they
 * depend on the claim and on ECS).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

const POOL = 'render-pool';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function emulators(): Promise<{ prefect: PrefectEmulator; aws: AwsEmulator }> {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  cleanups.push(() => aws.stop());
  const restore = pointAwsSdkAt(aws);
  cleanups.push(async () => restore());
  return { prefect, aws };
}

function io(prefect: PrefectEmulator, cwd = tmpdir()): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env: { PREFECT_API_URL: prefect.url, STEVEDORE_LOG_LEVEL: 'error' },
    cwd,
    signal: AbortSignal.timeout(20_000),
    log: () => undefined,
  };
}

const SETS: ReadonlyArray<readonly [string, JsonObject]> = [
  ['defaults', {}],
  ['image, cpu and memory', { image: 'acme/etl:2', cpu: 2048, memory: 4096, env: { STAGE: 'prod' } }],
  ['EC2 launch type', { launch_type: 'EC2', cpu: 512, memory: 1024 }],
  ['FARGATE_SPOT', { launch_type: 'FARGATE_SPOT', labels: { team: 'data' } }],
  [
    'CloudWatch logs, roles, command',
    {
      configure_cloudwatch_logs: true,
      cloudwatch_logs_prefix: 'flows',
      execution_role_arn: 'arn:aws:iam::123456789012:role/exec',
      task_role_arn: 'arn:aws:iam::123456789012:role/task',
      command: 'python -m flows.etl --full',
    },
  ],
];

describe('stevedore render', () => {
  it.each(SETS)('renders the requests the worker then sends (%s)', async (_name, jobVariables) => {
    const { prefect, aws } = await emulators();
    // Container instances, so an EC2 task is placed (without, ec2-capacity waits out the capacity failure).
    aws.ecs.seedCluster({ name: 'default', registeredContainerInstancesCount: 1 });
    prefect.seedWorkPool({
      name: POOL,
      type: 'ecs',
      base_job_template: JSON.parse(JSON.stringify(loadEcsBaseJobTemplate())),
    });
    const flow = prefect.seedFlow({ name: 'etl' });
    const deployment = prefect.seedDeployment({
      flow_id: flow.id,
      name: 'nightly',
      work_pool_name: POOL,
      job_variables: {
        ...jobVariables,
        env: { ...((jobVariables.env as JsonObject) ?? {}), STEVEDORE_SIM_OUTCOME: 'hang' },
      },
    });
    const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });

    const r = io(prefect);
    expect(await runCli(['render', '--pool', POOL, '--flow-run', run.id, '--name', 'w1', '--json'], r)).toBe(
      0,
    );
    expect(r.errors).toEqual([]);
    const rendered = JSON.parse(r.lines[0] ?? '{}') as {
      requests: Array<{ operation: string; input: JsonObject }>;
    };
    expect(
      aws.requests.filter((q) => q.operation === 'RegisterTaskDefinition' || q.operation === 'RunTask'),
    ).toEqual([]);

    const w = io(prefect);
    expect(await runCli(['start', '--pool', POOL, '--name', 'w1', '--run-once'], w)).toBe(0);
    const sent = (op: string) =>
      aws.requests.filter((q) => q.operation === op).map((q) => q.input as JsonObject);
    const find = (op: string) => rendered.requests.find((q) => q.operation === op)?.input;
    expect(sent('RegisterTaskDefinition')).toHaveLength(1);
    expect(sent('RunTask')).toHaveLength(1);
    expect(find('RegisterTaskDefinition')).toEqual(sent('RegisterTaskDefinition')[0]);
    const runTask = sent('RunTask')[0] ?? {};
    const renderedRunTask = find('RunTask') ?? {};
    expect({ ...renderedRunTask, clientToken: '*', taskDefinition: '*' }).toEqual({
      ...runTask,
      clientToken: '*',
      taskDefinition: '*',
    });
    expect(prefect.schemaErrors()).toEqual([]);
    expect(aws.schemaErrors()).toEqual([]);
  });

  it('renders offline from a template file, saying what is decided at launch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stevedore-render-'));
    writeFileSync(join(dir, 'template.json'), JSON.stringify(loadEcsBaseJobTemplate()));
    const t: CliIo & { lines: string[]; errors: string[] } = {
      lines: [],
      errors: [],
      out: (l) => t.lines.push(l),
      err: (l) => t.errors.push(l),
      env: {},
      cwd: dir,
      signal: AbortSignal.timeout(10_000),
    };
    expect(
      await runCli(
        [
          'render',
          '--pool',
          'p',
          '--template',
          'template.json',
          '--job-variables',
          '{"cpu": 1024, "image": "acme/x:1"}',
        ],
        t,
      ),
    ).toBe(0);
    const text = t.lines.join('\n');
    expect(text).toContain('ecs:RegisterTaskDefinition');
    expect(text).toContain('"image": "acme/x:1"');
    expect(text).toContain('ecs:RunTask');
    expect(text).toContain('Network configuration: inferred at launch');
    expect(text).toContain('decided at launch');
    expect(readFileSync(join(dir, 'template.json'), 'utf8')).toContain('job_configuration');
  });

  it('says clearly what is missing', async () => {
    const t: CliIo & { lines: string[]; errors: string[] } = {
      lines: [],
      errors: [],
      out: (l) => t.lines.push(l),
      err: (l) => t.errors.push(l),
      env: {},
      cwd: tmpdir(),
      signal: AbortSignal.timeout(10_000),
    };
    expect(await runCli(['render', '--pool', 'p'], t)).toBe(2);
    expect(t.errors).toEqual([
      "render needs the Prefect API (PREFECT_API_URL or --api-url) to read the pool's template, or --template FILE to render offline.",
    ]);
  });
});
