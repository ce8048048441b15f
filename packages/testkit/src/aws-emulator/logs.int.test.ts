import {
  CloudWatchLogsClient,
  FilterLogEventsCommand,
  GetLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient, RegisterTaskDefinitionCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AwsEmulator, awsClientConfig, startAwsEmulator } from './index.js';

let aws: AwsEmulator;
let logs: CloudWatchLogsClient;

beforeEach(async () => {
  aws = await startAwsEmulator({ seed: 11, durations: { runMs: 20 } });
  logs = new CloudWatchLogsClient(awsClientConfig(aws));
});

afterEach(async () => {
  expect(aws.schemaErrors()).toEqual([]);
  logs.destroy();
  await aws.stop();
});

describe('CloudWatch Logs', () => {
  it('reads events with GetLogEvents (tail by default, head on request, paging tokens)', async () => {
    aws.logs.putEvents('prefect', 'p/prefect/abc', ['one', 'two', 'three']);
    const tail = await logs.send(
      new GetLogEventsCommand({ logGroupName: 'prefect', logStreamName: 'p/prefect/abc', limit: 2 }),
    );
    expect(tail.events?.map((e) => e.message)).toEqual(['two', 'three']);
    expect(tail.nextForwardToken).toMatch(/^f\/\d{56}$/);
    const head = await logs.send(
      new GetLogEventsCommand({
        logGroupName: 'prefect',
        logStreamName: 'p/prefect/abc',
        limit: 2,
        startFromHead: true,
      }),
    );
    expect(head.events?.map((e) => e.message)).toEqual(['one', 'two']);
    const next = await logs.send(
      new GetLogEventsCommand({
        logGroupName: 'prefect',
        logStreamName: 'p/prefect/abc',
        nextToken: head.nextForwardToken,
      }),
    );
    expect(next.events?.map((e) => e.message)).toEqual(['three']);
    expect(typeof head.events?.[0]?.timestamp).toBe('number');
  });

  it('answers ResourceNotFoundException for unknown groups and streams', async () => {
    aws.logs.seedLogGroup('prefect');
    await expect(
      logs.send(new GetLogEventsCommand({ logGroupName: 'nope', logStreamName: 's' })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'The specified log group does not exist.',
    });
    await expect(
      logs.send(new GetLogEventsCommand({ logGroupName: 'prefect', logStreamName: 's' })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'The specified log stream does not exist.',
    });
    await expect(
      logs.send(new GetLogEventsCommand({ logGroupName: 'prefect', logStreamName: 's', limit: 0 })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining("at 'limit' failed to satisfy constraint"),
    });
  });

  it('filters events across streams', async () => {
    aws.logs.putEvents('g', 'a/1', ['hello world', 'bye']);
    aws.logs.putEvents('g', 'b/1', ['hello there']);
    const out = await logs.send(new FilterLogEventsCommand({ logGroupName: 'g', filterPattern: 'hello' }));
    expect(out.events?.map((e) => [e.logStreamName, e.message])).toEqual([
      ['a/1', 'hello world'],
      ['b/1', 'hello there'],
    ]);
    const prefixed = await logs.send(
      new FilterLogEventsCommand({ logGroupName: 'g', logStreamNamePrefix: 'b/' }),
    );
    expect(prefixed.events).toHaveLength(1);
  });

  it('writes simulated container output to <prefix>/<container>/<task id> for awslogs tasks', async () => {
    const ecs = new ECSClient(awsClientConfig(aws));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'logged',
        executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
        cpu: '256',
        memory: '512',
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
        containerDefinitions: [
          {
            name: 'prefect',
            image: 'prefecthq/prefect:3-python3.12',
            environment: [{ name: 'STEVEDORE_SIM_OUTCOME', value: 'crash' }],
            logConfiguration: {
              logDriver: 'awslogs',
              options: {
                'awslogs-create-group': 'true',
                'awslogs-group': 'prefect',
                'awslogs-region': 'us-east-1',
                'awslogs-stream-prefix': 'prefect-logs_pool_dep',
              },
            },
          },
        ],
      }),
    );
    const subnets = aws.ec2.subnets().map((s) => s.SubnetId);
    const run = await ecs.send(
      new RunTaskCommand({
        taskDefinition: td.taskDefinition?.taskDefinitionArn,
        launchType: 'FARGATE',
        networkConfiguration: { awsvpcConfiguration: { subnets } },
      }),
    );
    const arn = run.tasks?.[0]?.taskArn ?? '';
    const stopped = await aws.ecs.waitForTask(arn);
    expect(stopped.containers[0]?.exitCode).toBe(1);
    const id = arn.split('/').at(-1);
    const out = await logs.send(
      new GetLogEventsCommand({
        logGroupName: 'prefect',
        logStreamName: `prefect-logs_pool_dep/prefect/${id}`,
        startFromHead: false,
        limit: 500,
      }),
    );
    const messages = out.events?.map((e) => e.message) ?? [];
    expect(messages[0]).toMatch(/^Starting flow run/);
    expect(messages).toContain('Traceback (most recent call last):');
    ecs.destroy();
  });

  it('fails the task to start when the log group is missing and may not be created', async () => {
    const ecs = new ECSClient(awsClientConfig(aws));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'nogroup',
        memory: '512',
        containerDefinitions: [
          {
            name: 'prefect',
            image: 'prefecthq/prefect:3-python3.12',
            logConfiguration: {
              logDriver: 'awslogs',
              options: { 'awslogs-group': 'missing', 'awslogs-stream-prefix': 'p' },
            },
          },
        ],
      }),
    );
    aws.ecs.seedCluster({ name: 'ec2', registeredContainerInstancesCount: 1 });
    const run = await ecs.send(
      new RunTaskCommand({ cluster: 'ec2', taskDefinition: td.taskDefinition?.taskDefinitionArn }),
    );
    expect(run.tasks?.[0]?.launchType).toBe('EC2');
    const stopped = await aws.ecs.waitForTask(run.tasks?.[0]?.taskArn ?? '');
    expect(stopped.stopCode).toBe('TaskFailedToStart');
    expect(stopped.stoppedReason).toContain('The specified log group does not exist.');
    ecs.destroy();
  });
});
