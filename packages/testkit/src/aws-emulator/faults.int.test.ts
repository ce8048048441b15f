import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DescribeClustersCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
} from '@aws-sdk/client-ecs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AwsEmulator,
  type AwsEmulatorOptions,
  awsClientConfig,
  DEFAULT_QUOTAS,
  startAwsEmulator,
} from './index.js';

let aws: AwsEmulator | undefined;
const clients: { destroy(): void }[] = [];

afterEach(async () => {
  if (aws) expect(aws.schemaErrors()).toEqual([]);
  for (const c of clients.splice(0)) c.destroy();
  await aws?.stop();
  aws = undefined;
});

async function setup(
  options: AwsEmulatorOptions = {},
): Promise<{ emu: AwsEmulator; run: RunTaskCommandInput }> {
  const emu = await startAwsEmulator({ seed: 5, durations: { runMs: 10 }, ...options });
  aws = emu;
  const ecs = new ECSClient(awsClientConfig(emu));
  clients.push(ecs);
  const td = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'flow',
      cpu: '256',
      memory: '512',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-python3.12' }],
    }),
  );
  const run: RunTaskCommandInput = {
    taskDefinition: td.taskDefinition?.taskDefinitionArn,
    launchType: 'FARGATE',
    networkConfiguration: { awsvpcConfiguration: { subnets: emu.ec2.subnets().map((s) => s.SubnetId) } },
  };
  return { emu, run };
}

describe('throttling by token bucket', () => {
  it('uses documented defaults: RunTask burst 100, 20/s (Fargate task launch rate)', () => {
    expect(DEFAULT_QUOTAS['ecs:RunTask']).toEqual({ burst: 100, ratePerSecond: 20 });
    expect(DEFAULT_QUOTAS['ec2:DescribeVpcs']).toEqual({ burst: 100, ratePerSecond: 20 });
  });

  it('answers ThrottlingException over quota; the SDK retries it and succeeds', async () => {
    const { emu, run } = await setup({
      quotas: { overrides: { 'ecs:RunTask': { burst: 2, ratePerSecond: 10 } } },
    });
    const once = new ECSClient({ ...awsClientConfig(emu), maxAttempts: 1 });
    clients.push(once);
    await once.send(new RunTaskCommand(run));
    await once.send(new RunTaskCommand(run));
    const error = await once.send(new RunTaskCommand(run)).catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'ThrottlingException',
      message: 'Rate exceeded',
      $metadata: { httpStatusCode: 400 },
    });

    const retrying = new ECSClient(awsClientConfig(emu));
    clients.push(retrying);
    const out = await retrying.send(new RunTaskCommand(run));
    expect(out.tasks).toHaveLength(1);
    expect(out.$metadata.attempts).toBeGreaterThan(1);
    const attempts = emu.requests.filter((r) => r.operation === 'RunTask');
    expect(attempts.filter((r) => r.throttled).length).toBeGreaterThanOrEqual(1);
    expect(emu.callCounts()['ecs:RunTask']).toBe(attempts.length);
  });

  it('answers RequestLimitExceeded (503) for EC2, and can be switched off', async () => {
    const { emu } = await setup({
      quotas: { overrides: { 'ec2:DescribeVpcs': { burst: 1, ratePerSecond: 0.001 } } },
    });
    const ec2 = new EC2Client({ ...awsClientConfig(emu), maxAttempts: 1 });
    clients.push(ec2);
    await ec2.send(new DescribeVpcsCommand({}));
    await expect(ec2.send(new DescribeVpcsCommand({}))).rejects.toMatchObject({
      name: 'RequestLimitExceeded',
      $metadata: { httpStatusCode: 503 },
    });
    emu.faults.enforceQuotas(false);
    await ec2.send(new DescribeVpcsCommand({}));
  });

  it('counts RunTask quota in tasks launched (count)', async () => {
    const { emu, run } = await setup({
      quotas: { overrides: { 'ecs:RunTask': { burst: 3, ratePerSecond: 0.001 } } },
    });
    const ecs = new ECSClient({ ...awsClientConfig(emu), maxAttempts: 1 });
    clients.push(ecs);
    await ecs.send(new RunTaskCommand({ ...run, count: 3 }));
    await expect(ecs.send(new RunTaskCommand(run))).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});

describe('injected faults', () => {
  it('injects throttling, 5xx and latency, which the SDK retries', async () => {
    const { emu } = await setup({ quotas: false });
    const ecs = new ECSClient(awsClientConfig(emu));
    clients.push(ecs);
    const throttle = emu.faults.throttle('ecs:DescribeClusters', 1);
    const server = emu.faults.serverError('DescribeClusters', 1);
    emu.faults.setLatency(30, 'ecs:DescribeClusters');
    const started = Date.now();
    const out = await ecs.send(new DescribeClustersCommand({}));
    expect(out.clusters?.[0]?.clusterName).toBe('default');
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(throttle.hits()).toBe(1);
    expect(server.hits()).toBe(1);
    expect(emu.requests.map((r) => r.errorCode)).toEqual([
      null,
      'ThrottlingException',
      'ServerException',
      null,
    ]);

    const once = new ECSClient({ ...awsClientConfig(emu), maxAttempts: 1 });
    clients.push(once);
    emu.faults.add({
      operation: 'DescribeTasks',
      error: { code: 'AccessDeniedException', message: 'no' },
      times: 1,
    });
    await expect(once.send(new DescribeTasksCommand({ tasks: ['x'] }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 400 },
    });
    emu.faults.serverError('DescribeTasks', 1);
    await expect(once.send(new DescribeTasksCommand({ tasks: ['x'] }))).rejects.toMatchObject({
      name: 'ServerException',
      $metadata: { httpStatusCode: 500 },
    });
  });

  it('drops connections before handling (nothing committed)', async () => {
    const { emu, run } = await setup();
    const ecs = new ECSClient({ ...awsClientConfig(emu), maxAttempts: 1 });
    clients.push(ecs);
    emu.faults.add({ operation: 'ecs:RunTask', drop: 'before', times: 1 });
    await expect(ecs.send(new RunTaskCommand(run))).rejects.toThrow();
    expect(emu.ecs.tasks()).toEqual([]);
  });

  it('stops running tasks with SpotInterruption and fails starts with TaskFailedToStart', async () => {
    const { emu, run } = await setup({ durations: { runMs: 5_000 } });
    const ecs = new ECSClient(awsClientConfig(emu));
    clients.push(ecs);
    const a = (await ecs.send(new RunTaskCommand(run))).tasks?.[0]?.taskArn ?? '';
    await emu.ecs.waitForTask(a, 'RUNNING');
    emu.ecs.interruptSpot(a);
    const spot = await emu.ecs.waitForTask(a);
    expect(spot).toMatchObject({
      stopCode: 'SpotInterruption',
      stoppedReason: 'Your Spot Task was interrupted.',
    });
    expect(spot.containers[0]?.exitCode).toBeUndefined();

    emu.ecs.injectStartFailure({ stoppedReason: 'ResourceInitializationError: boom' });
    const b = (await ecs.send(new RunTaskCommand(run))).tasks?.[0]?.taskArn ?? '';
    const failed = await emu.ecs.waitForTask(b);
    expect(failed).toMatchObject({
      stopCode: 'TaskFailedToStart',
      stoppedReason: 'ResourceInitializationError: boom',
      containers: [],
    });
  });
});
