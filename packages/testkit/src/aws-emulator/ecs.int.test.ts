import {
  DeregisterTaskDefinitionCommand,
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTagsForResourceCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  RunTaskCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
  TagResourceCommand,
} from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AwsEmulator, awsClientConfig, startAwsEmulator } from './index.js';

let aws: AwsEmulator;
let ecs: ECSClient;

beforeEach(async () => {
  aws = await startAwsEmulator({ seed: 7, durations: { runMs: 30 } });
  ecs = new ECSClient(awsClientConfig(aws));
});

afterEach(async () => {
  expect(aws.schemaErrors()).toEqual([]);
  ecs.destroy();
  await aws.stop();
});

function fargateDefinition(
  family = 'prefect_pool_dep',
  env: Record<string, string> = {},
): RegisterTaskDefinitionCommandInput {
  return {
    family,
    containerDefinitions: [
      {
        name: 'prefect',
        image: 'prefecthq/prefect:3-python3.12',
        environment: Object.entries(env).map(([name, value]) => ({ name, value })),
      },
    ],
    cpu: '1024',
    memory: '2048',
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
  };
}

async function register(family?: string, env?: Record<string, string>): Promise<string> {
  const out = await ecs.send(new RegisterTaskDefinitionCommand(fargateDefinition(family, env)));
  return out.taskDefinition?.taskDefinitionArn ?? '';
}

function runRequest(taskDefinition: string, extra: Partial<RunTaskCommandInput> = {}): RunTaskCommandInput {
  const subnets = aws.ec2.subnets(aws.ec2.defaultVpcId() ?? undefined).map((s) => s.SubnetId);
  return {
    taskDefinition,
    launchType: 'FARGATE',
    networkConfiguration: { awsvpcConfiguration: { subnets, assignPublicIp: 'ENABLED', securityGroups: [] } },
    ...extra,
  };
}

describe('task definitions', () => {
  it('registers revisions, describes by ARN / family / family:rev with tags, lists and deregisters', async () => {
    const r1 = await ecs.send(
      new RegisterTaskDefinitionCommand({
        ...fargateDefinition('etl'),
        tags: [{ key: 'team', value: 'data' }],
      }),
    );
    expect(r1.taskDefinition?.taskDefinitionArn).toBe(
      'arn:aws:ecs:us-east-1:123456789012:task-definition/etl:1',
    );
    expect(r1.taskDefinition?.revision).toBe(1);
    expect(r1.taskDefinition?.status).toBe('ACTIVE');
    expect(r1.taskDefinition?.registeredAt).toBeInstanceOf(Date);
    expect(r1.taskDefinition?.containerDefinitions?.[0]).toMatchObject({
      essential: true,
      cpu: 0,
      portMappings: [],
    });
    expect(r1.tags).toEqual([{ key: 'team', value: 'data' }]);
    const arn2 = await register('etl');
    expect(arn2).toMatch(/task-definition\/etl:2$/);
    await register('other');

    const latest = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'etl' }));
    expect(latest.taskDefinition?.revision).toBe(2);
    expect(latest.tags).toBeUndefined();
    const first = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: 'etl:1', include: ['TAGS'] }),
    );
    expect(first.tags).toEqual([{ key: 'team', value: 'data' }]);
    const byArn = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn2 }));
    expect(byArn.taskDefinition?.family).toBe('etl');

    await ecs.send(new TagResourceCommand({ resourceArn: arn2, tags: [{ key: 'k', value: 'v' }] }));
    const tags = await ecs.send(new ListTagsForResourceCommand({ resourceArn: arn2 }));
    expect(tags.tags).toEqual([{ key: 'k', value: 'v' }]);

    const listed = await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: 'etl', sort: 'DESC' }));
    expect(listed.taskDefinitionArns?.map((a) => a.split('/')[1])).toEqual(['etl:2', 'etl:1']);
    const paged = await ecs.send(new ListTaskDefinitionsCommand({ maxResults: 2 }));
    expect(paged.taskDefinitionArns).toHaveLength(2);
    expect(paged.nextToken).toBeDefined();
    const rest = await ecs.send(
      new ListTaskDefinitionsCommand({ maxResults: 2, nextToken: paged.nextToken }),
    );
    expect(rest.taskDefinitionArns).toHaveLength(1);

    const dereg = await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn2 }));
    expect(dereg.taskDefinition?.status).toBe('INACTIVE');
    expect(dereg.taskDefinition?.deregisteredAt).toBeInstanceOf(Date);
    expect(
      (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'etl' }))).taskDefinition?.revision,
    ).toBe(1);
    const inactive = await ecs.send(new ListTaskDefinitionsCommand({ status: 'INACTIVE' }));
    expect(inactive.taskDefinitionArns).toEqual([arn2]);
    await expect(ecs.send(new RunTaskCommand(runRequest(arn2)))).rejects.toMatchObject({
      name: 'ClientException',
      message: 'TaskDefinition is inactive',
    });
  });

  it('rejects definitions ECS would reject', async () => {
    await expect(
      ecs.send(new RegisterTaskDefinitionCommand(fargateDefinition('my pool'))),
    ).rejects.toMatchObject({
      name: 'ClientException',
    });
    await expect(
      ecs.send(new RegisterTaskDefinitionCommand({ ...fargateDefinition('f'), networkMode: 'bridge' })),
    ).rejects.toMatchObject({
      name: 'ClientException',
      message: "Fargate only supports network mode 'awsvpc'.",
    });
    await expect(
      ecs.send(new RegisterTaskDefinitionCommand({ ...fargateDefinition('f'), memory: '1024' })),
    ).rejects.toMatchObject({
      name: 'ClientException',
      message: expect.stringContaining('No Fargate configuration'),
    });
    const handle = aws.ecs.injectRegisterConflict(1);
    await expect(ecs.send(new RegisterTaskDefinitionCommand(fargateDefinition('f')))).rejects.toMatchObject({
      name: 'ClientException',
      message: expect.stringContaining('Too many concurrent attempts'),
    });
    expect(handle.hits()).toBe(1);
    await register('f');
  });
});

describe('RunTask and the task lifecycle', () => {
  it('runs a task through PROVISIONING … STOPPED with an exit code and a change feed', async () => {
    const td = await register();
    const seen: string[] = [];
    const versions: number[] = [];
    aws.onTaskChange((e) => {
      seen.push(e.detail.lastStatus);
      versions.push(e.detail.version);
      expect(e['detail-type']).toBe('ECS Task State Change');
    });
    const out = await ecs.send(
      new RunTaskCommand(
        runRequest(td, {
          startedBy: 'prefect',
          tags: [{ key: 'prefect.io/flow-run-id', value: 'abc' }],
          overrides: {
            containerOverrides: [{ name: 'prefect', command: ['prefect', 'flow-run', 'execute'] }],
          },
        }),
      ),
    );
    expect(out.failures).toEqual([]);
    const task = out.tasks?.[0];
    expect(task?.taskArn).toMatch(/^arn:aws:ecs:us-east-1:123456789012:task\/default\/[0-9a-f]{32}$/);
    expect(task).toMatchObject({
      clusterArn: 'arn:aws:ecs:us-east-1:123456789012:cluster/default',
      taskDefinitionArn: td,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      launchType: 'FARGATE',
      startedBy: 'prefect',
      group: 'family:prefect_pool_dep',
      version: 1,
      tags: [{ key: 'prefect.io/flow-run-id', value: 'abc' }],
    });
    expect(task?.createdAt).toBeInstanceOf(Date);
    expect(task?.containers?.[0]?.name).toBe('prefect');
    const arn = task?.taskArn ?? '';
    const stopped = await aws.ecs.waitForTask(arn);
    expect(stopped.stopCode).toBe('EssentialContainerExited');
    expect(stopped.containers[0]?.exitCode).toBe(0);
    expect(seen).toEqual([
      'PROVISIONING',
      'PENDING',
      'ACTIVATING',
      'RUNNING',
      'RUNNING',
      'DEPROVISIONING',
      'STOPPED',
    ]);
    expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const described = await ecs.send(new DescribeTasksCommand({ tasks: [arn], include: ['TAGS'] }));
    expect(described.tasks?.[0]).toMatchObject({
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stopCode: 'EssentialContainerExited',
    });
    expect(described.tasks?.[0]?.stoppedAt).toBeInstanceOf(Date);
    expect(described.tasks?.[0]?.tags).toEqual([{ key: 'prefect.io/flow-run-id', value: 'abc' }]);
    const noTags = await ecs.send(new DescribeTasksCommand({ tasks: [arn] }));
    expect(noTags.tasks?.[0]?.tags).toBeUndefined();

    const running = await ecs.send(new ListTasksCommand({}));
    expect(running.taskArns).toEqual([]);
    const stoppedList = await ecs.send(
      new ListTasksCommand({ desiredStatus: 'STOPPED', family: 'prefect_pool_dep', startedBy: 'prefect' }),
    );
    expect(stoppedList.taskArns).toEqual([arn]);
  });

  it('validates launch type vs capacity provider strategy and network configuration', async () => {
    const td = await register();
    await expect(
      ecs.send(
        new RunTaskCommand(
          runRequest(td, { capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] }),
        ),
      ),
    ).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('launch type and capacity provider strategy'),
    });
    await expect(
      ecs.send(new RunTaskCommand({ taskDefinition: td, launchType: 'FARGATE' })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    });
    await expect(
      ecs.send(
        new RunTaskCommand({
          taskDefinition: td,
          launchType: 'FARGATE',
          networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-0123456789abcdef0'] } },
        }),
      ),
    ).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('InvalidSubnetID.NotFound'),
    });
    await expect(ecs.send(new RunTaskCommand(runRequest(td, { cluster: 'nope' })))).rejects.toMatchObject({
      name: 'ClusterNotFoundException',
    });
    await expect(ecs.send(new RunTaskCommand(runRequest('missing-family')))).rejects.toMatchObject({
      name: 'ClientException',
    });

    const spot = await ecs.send(
      new RunTaskCommand({
        ...runRequest(td),
        launchType: undefined,
        capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
      }),
    );
    expect(spot.tasks?.[0]).toMatchObject({ launchType: 'FARGATE', capacityProviderName: 'FARGATE_SPOT' });

    aws.ecs.seedCluster({ name: 'ec2-only', capacityProviders: ['my-asg'] });
    await expect(
      ecs.send(
        new RunTaskCommand({
          ...runRequest(td, { cluster: 'ec2-only' }),
          launchType: undefined,
          capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }],
        }),
      ),
    ).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('not associated with the cluster'),
    });
  });

  it('answers injected capacity failures in `failures`', async () => {
    const td = await register();
    aws.ecs.injectRunTaskFailure({ reason: 'RESOURCE:CPU' });
    const out = await ecs.send(new RunTaskCommand(runRequest(td)));
    expect(out.tasks).toEqual([]);
    expect(out.failures).toEqual([
      { arn: 'arn:aws:ecs:us-east-1:123456789012:cluster/default', reason: 'RESOURCE:CPU' },
    ]);
    const ok = await ecs.send(new RunTaskCommand(runRequest(td)));
    expect(ok.tasks).toHaveLength(1);
  });
});

describe('clientToken idempotency', () => {
  it('returns the same task for a retried token, even when the first answer was lost', async () => {
    const td = await register();
    aws.faults.loseResponse('ecs:RunTask', 1);
    const out = await ecs.send(new RunTaskCommand(runRequest(td, { clientToken: 'token-1' })));
    expect(out.tasks).toHaveLength(1);
    expect(aws.ecs.tasks()).toHaveLength(1);
    expect(aws.callCounts()['ecs:RunTask']).toBe(2);
    expect(aws.requests.filter((r) => r.operation === 'RunTask').map((r) => r.responseLost)).toEqual([
      true,
      false,
    ]);

    const again = await ecs.send(new RunTaskCommand(runRequest(td, { clientToken: 'token-1' })));
    expect(again.tasks?.[0]?.taskArn).toBe(out.tasks?.[0]?.taskArn);
    expect(aws.ecs.tasks()).toHaveLength(1);
    expect(aws.ecs.runTaskClientTokens()).toEqual({ [String(out.tasks?.[0]?.taskArn)]: 'token-1' });
  });

  it('rejects the token with different parameters (ConflictException with resourceIds)', async () => {
    const td = await register();
    const out = await ecs.send(new RunTaskCommand(runRequest(td, { clientToken: 'token-2' })));
    const error = await ecs
      .send(new RunTaskCommand(runRequest(td, { clientToken: 'token-2', startedBy: 'someone-else' })))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ConflictException', resourceIds: [out.tasks?.[0]?.taskArn] });
    expect(aws.ecs.tasks()).toHaveLength(1);
  });

  it('the SDK fills a clientToken itself, so a lost RunTask answer never starts a second task', async () => {
    const td = await register();
    aws.faults.loseResponse('ecs:RunTask', 2);
    const out = await ecs.send(new RunTaskCommand(runRequest(td)));
    expect(out.tasks).toHaveLength(1);
    expect(aws.ecs.tasks()).toHaveLength(1);
    expect(aws.callCounts()['ecs:RunTask']).toBe(3);
  });
});

describe('DescribeTasks, StopTask and DescribeClusters', () => {
  it('limits DescribeTasks to 100 tasks and reports missing ones', async () => {
    const td = await register();
    const out = await ecs.send(new RunTaskCommand(runRequest(td)));
    const arn = out.tasks?.[0]?.taskArn ?? '';
    const ids = Array.from({ length: 99 }, (_, i) => `${i}`.padStart(32, '0'));
    const ok = await ecs.send(new DescribeTasksCommand({ tasks: [arn, ...ids] }));
    expect(ok.tasks).toHaveLength(1);
    expect(ok.failures).toHaveLength(99);
    expect(ok.failures?.[0]).toEqual({
      arn: `arn:aws:ecs:us-east-1:123456789012:task/default/${ids[0]}`,
      reason: 'MISSING',
    });
    await expect(
      ecs.send(new DescribeTasksCommand({ tasks: [arn, ...ids, 'one-more'] })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: 'taskIds can have at most 100 items.',
    });
    await expect(ecs.send(new DescribeTasksCommand({ tasks: [] }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    const byId = await ecs.send(
      new DescribeTasksCommand({ cluster: 'default', tasks: [arn.split('/').at(-1) ?? ''] }),
    );
    expect(byId.tasks?.[0]?.taskArn).toBe(arn);
  });

  it('stops a running task with UserInitiated and exit code 143; unknown tasks are InvalidParameterException', async () => {
    const td = await register('hangs', { STEVEDORE_SIM_OUTCOME: 'hang' });
    const out = await ecs.send(new RunTaskCommand(runRequest(td)));
    const arn = out.tasks?.[0]?.taskArn ?? '';
    await aws.ecs.waitForTask(arn, 'RUNNING');
    const stop = await ecs.send(new StopTaskCommand({ task: arn, reason: 'Stopped by Prefect worker' }));
    expect(stop.task).toMatchObject({
      desiredStatus: 'STOPPED',
      stopCode: 'UserInitiated',
      stoppedReason: 'Stopped by Prefect worker',
    });
    const stopped = await aws.ecs.waitForTask(arn);
    expect(stopped.containers[0]?.exitCode).toBe(143);
    const error = await ecs
      .send(
        new StopTaskCommand({
          task: 'arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef',
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'InvalidParameterException',
      message: 'The referenced task was not found.',
    });
  });

  it('stops a task that never started without exit codes', async () => {
    const td = await register();
    const out = await ecs.send(new RunTaskCommand(runRequest(td)));
    const arn = out.tasks?.[0]?.taskArn ?? '';
    await ecs.send(new StopTaskCommand({ task: arn }));
    const stopped = await aws.ecs.waitForTask(arn);
    expect(stopped.stopCode).toBe('UserInitiated');
    expect(stopped.containers[0]?.exitCode).toBeUndefined();
  });

  it('describes seeded clusters and reports unknown ones as MISSING', async () => {
    aws.ecs.seedCluster({
      name: 'prod',
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
    });
    const out = await ecs.send(new DescribeClustersCommand({ clusters: ['prod', 'ghost'] }));
    expect(out.clusters?.[0]).toMatchObject({
      clusterName: 'prod',
      status: 'ACTIVE',
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }],
    });
    expect(out.failures).toEqual([
      { arn: 'arn:aws:ecs:us-east-1:123456789012:cluster/ghost', reason: 'MISSING' },
    ]);
    const dflt = await ecs.send(new DescribeClustersCommand({}));
    expect(dflt.clusters?.[0]?.clusterName).toBe('default');
  });
});
