/**
 * The Prefect 1 agent's options on `stevedore start`, end to end: worker-level defaults of the job variables, a task
 * definition template and a base job template read from S3 (template-s3 is in the default plugin set), tags from
 * `--label`, the container environment from `--env`.
 */
import { loadEcsBaseJobTemplate } from '@stevedore/ecs-launcher';
import {
  type AwsEmulator,
  type JsonObject,
  pointAwsSdkAt,
  startAwsEmulator,
  startPrefectEmulator,
} from '@stevedore/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, runCli } from './main.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function pointSdkAt(aws: AwsEmulator): void {
  const restore = pointAwsSdkAt(aws);
  cleanups.push(async () => restore());
}

function io(env: Record<string, string>): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env,
    cwd: '/nonexistent-stevedore-test-dir',
    signal: AbortSignal.timeout(20_000),
    log: () => undefined,
  };
}

describe('stevedore start with the Prefect 1 agent options', () => {
  it('launches with the agent defaults, an s3:// task definition and an s3:// base job template', async () => {
    const prefect = await startPrefectEmulator({ mode: '3' });
    cleanups.push(() => prefect.stop());
    const aws = await startAwsEmulator({ region: 'us-east-1' });
    cleanups.push(() => aws.stop());
    pointSdkAt(aws);
    aws.ecs.seedCluster({ name: 'prod' });
    aws.s3.putObject(
      'cfg',
      'td.yaml',
      'family: from-s3\ncontainerDefinitions:\n  - name: prefect\n    image: acme/agent:3\n',
    );
    aws.s3.putObject('cfg', 'pool-template.json', JSON.stringify(loadEcsBaseJobTemplate()));
    aws.s3.putObject('cfg', 'kwargs.yaml', 'enableExecuteCommand: true\n');
    const flow = prefect.seedFlow({ name: 'etl' });
    const t = io({ PREFECT_API_URL: prefect.url });
    const args = [
      'start',
      '--pool',
      'agent-pool',
      '--run-once',
      '--base-job-template',
      's3://cfg/pool-template.json',
      '--cluster',
      'prod',
      '--task-role-arn',
      'arn:aws:iam::123456789012:role/flow-task',
      '--task-definition',
      's3://cfg/td.yaml',
      '--run-task-kwargs',
      's3://cfg/kwargs.yaml',
      '-e',
      'STAGE=prod',
      '--env',
      'STEVEDORE_SIM_OUTCOME=hang',
      '--label',
      'team=data',
      '--label',
      'nightly',
    ];
    // The pool is created from the S3 template on the first start; the run is seeded once the pool exists.
    expect(
      await runCli(
        [...args.slice(0, 3), '--run-once', '--base-job-template', 's3://cfg/pool-template.json'],
        io({ PREFECT_API_URL: prefect.url }),
      ),
    ).toBe(0);
    expect(prefect.getWorkPool('agent-pool')?.base_job_template).toEqual(
      JSON.parse(JSON.stringify(loadEcsBaseJobTemplate())),
    );
    prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'agent-pool' });
    expect(await runCli(args, t)).toBe(0);
    expect(t.errors).toEqual([]);
    const registered = aws.requests.find((r) => r.operation === 'RegisterTaskDefinition')
      ?.input as JsonObject;
    expect(registered.family).toBe('from-s3');
    const containers = registered.containerDefinitions as JsonObject[];
    expect(containers[0]?.image).toBe('acme/agent:3');
    const runTask = aws.requests.find((r) => r.operation === 'RunTask')?.input as JsonObject;
    expect(String(runTask.cluster)).toBe('prod');
    expect(runTask.enableExecuteCommand).toBe(true);
    // As in the reference template, the task role goes to the RunTask overrides.
    expect((runTask.overrides as JsonObject).taskRoleArn).toBe('arn:aws:iam::123456789012:role/flow-task');
    expect(runTask.tags).toEqual(
      expect.arrayContaining([
        { key: 'team', value: 'data' },
        { key: 'nightly', value: '' },
      ]),
    );
    const env = ((runTask.overrides as JsonObject).containerOverrides as JsonObject[])[0]
      ?.environment as JsonObject[];
    expect(env).toEqual(expect.arrayContaining([{ name: 'STAGE', value: 'prod' }]));
  });

  it('reports bad agent options one line each, exit 2', async () => {
    const t = io({ PREFECT_API_URL: 'http://127.0.0.1:9/api' });
    expect(await runCli(['start', '--pool', 'p', '-e', 'NOVALUE', '--label', '=x'], t)).toBe(2);
    const text = t.errors.join('\n');
    expect(text).toMatch(/^Invalid configuration \(2 problems\):/);
    expect(text).toContain('--env: expected KEY=VALUE, got "NOVALUE"');
    expect(text).toContain('--label: expected KEY[=VALUE], got "=x"');
  });
});
