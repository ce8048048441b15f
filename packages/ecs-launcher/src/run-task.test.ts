import {
  ClientException,
  ClusterNotFoundException,
  ECSClient,
  InvalidParameterException,
  RunTaskCommand,
  ServerException,
} from '@aws-sdk/client-ecs';
import { isStevedoreError, type JobConfiguration, nullLogger } from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ecsErrorCodes } from './errors.js';
import { parseEcsJobConfiguration } from './job-configuration.js';
import { defaultEcsRetryOptions } from './retry.js';
import {
  CLIENT_TOKEN_MAX_LENGTH,
  DEREGISTER_TAG,
  type PrepareRunTaskRequestInput,
  prepareRunTaskRequest,
  type RunTaskOptions,
  runTask,
  runTaskClientToken,
} from './run-task.js';

const TD_ARN = 'arn:aws:ecs:us-east-1:111122223333:task-definition/prefect_pool_dep:1';
const FARGATE_TD = { networkMode: 'awsvpc', requiresCompatibilities: ['FARGATE'] };
const ENV = { PREFECT_API_URL: 'http://prefect/api', PREFECT__FLOW_RUN_ID: 'run-1' };
const LABELS = { 'prefect.io/flow-run-id': 'run-1', 'prefect.io/worker-name': 'ECSWorker 6f1a' };

function config(extra: Record<string, unknown> = {}) {
  const base: JobConfiguration = {
    command: 'prefect flow-run execute',
    env: ENV,
    labels: LABELS,
    name: 'run',
    task_definition: { containerDefinitions: [{}] },
    task_run_request: { launchType: 'FARGATE', overrides: { containerOverrides: [{}] } },
    ...extra,
  };
  return parseEcsJobConfiguration(base);
}

function shape(extra: Record<string, unknown> = {}, input: Partial<PrepareRunTaskRequestInput> = {}) {
  return prepareRunTaskRequest({
    config: config(extra),
    taskDefinition: FARGATE_TD,
    taskDefinitionArn: TD_ARN,
    networkConfiguration: undefined,
    newlyRegistered: false,
    ...input,
  });
}

describe('prepareRunTaskRequest (spec §2.4 D)', () => {
  it('shapes the default request', () => {
    const network = {
      awsvpcConfiguration: { subnets: ['subnet-1'], assignPublicIp: 'ENABLED' as const, securityGroups: [] },
    };
    expect(shape({}, { networkConfiguration: network }).request).toEqual({
      launchType: 'FARGATE',
      taskDefinition: TD_ARN,
      networkConfiguration: network,
      overrides: {
        containerOverrides: [
          {
            name: 'prefect',
            command: ['prefect', 'flow-run', 'execute'],
            environment: [
              { name: 'PREFECT_API_URL', value: 'http://prefect/api' },
              { name: 'PREFECT__FLOW_RUN_ID', value: 'run-1' },
            ],
          },
        ],
      },
      tags: [
        { key: 'prefect.io/flow-run-id', value: 'run-1' },
        { key: 'prefect.io/worker-name', value: 'ECSWorker-6f1a' },
      ],
    });
  });

  it('sets the configured cluster unless the request names one', () => {
    expect(shape({ cluster: 'prod' }).request.cluster).toBe('prod');
    expect(
      shape({ cluster: 'prod', task_run_request: { cluster: 'other', launchType: 'FARGATE' } }).request
        .cluster,
    ).toBe('other');
    expect(shape().request).not.toHaveProperty('cluster');
  });

  it('keeps an EC2 launch type and drops a missing one when the definition requires EC2', () => {
    expect(shape({ task_run_request: { launchType: 'EC2' } }).request.launchType).toBe('EC2');
    const noLaunchType = shape(
      { task_run_request: {} },
      { taskDefinition: { requiresCompatibilities: ['EC2'] } },
    );
    expect(noLaunchType.request).not.toHaveProperty('launchType');
    expect(shape({ task_run_request: {} }).request.launchType).toBe('FARGATE');
  });

  it('turns the FARGATE_SPOT pseudo launch type into a capacity provider strategy', () => {
    const { request } = shape({ task_run_request: { launchType: 'FARGATE_SPOT' } });
    expect(request).not.toHaveProperty('launchType');
    expect(request.capacityProviderStrategy).toEqual([{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]);
  });

  it('drops launchType for a capacity provider strategy, which passes through as given, and warns', () => {
    const strategy = [
      { capacityProvider: 'FARGATE', weight: 1, base: 1 },
      { capacityProvider: 'FARGATE_SPOT', weight: 4, base: 0 },
    ];
    const { request, warnings } = shape({
      task_run_request: { launchType: 'FARGATE', capacityProviderStrategy: strategy },
    });
    expect(request).not.toHaveProperty('launchType');
    expect(request.capacityProviderStrategy).toEqual(strategy);
    expect(warnings).toContain('Found capacityProviderStrategy. Removing launchType from task run request.');
    expect(
      shape({ task_run_request: { launchType: 'FARGATE', capacityProviderStrategy: [] } }).request,
    ).not.toHaveProperty('capacityProviderStrategy');
  });

  it('keeps a request networkConfiguration unless a resolved one is given', () => {
    const own = { awsvpcConfiguration: { subnets: ['subnet-own'] } };
    expect(
      shape({ task_run_request: { launchType: 'FARGATE', networkConfiguration: own } }).request
        .networkConfiguration,
    ).toEqual(own);
  });

  it('names the first override, splits commands with shlex and converts environments', () => {
    const { request } = shape({
      command: `python -c "print('hi there')" --flag='a b'`,
      task_run_request: {
        launchType: 'FARGATE',
        overrides: {
          containerOverrides: [
            { environment: { FROM_TEMPLATE: 'x', PREFECT_API_URL: 'stale', GONE: null } },
            { name: 'sidecar', command: 'sh -c "echo ok"', environment: { S: '1', N: null } },
          ],
        },
      },
    });
    expect(request.overrides?.containerOverrides).toEqual([
      {
        name: 'prefect',
        command: ['python', '-c', "print('hi there')", '--flag=a b'],
        environment: [
          { name: 'FROM_TEMPLATE', value: 'x' },
          { name: 'PREFECT_API_URL', value: 'http://prefect/api' },
          { name: 'PREFECT__FLOW_RUN_ID', value: 'run-1' },
        ],
      },
      { name: 'sidecar', command: ['sh', '-c', 'echo ok'], environment: [{ name: 'S', value: '1' }] },
    ]);
  });

  it('targets the configured container_name and adds its override when the template has none', () => {
    const { request } = shape({
      container_name: 'app',
      task_definition: { containerDefinitions: [{ name: 'app' }] },
      task_run_request: { launchType: 'FARGATE' },
    });
    expect(request.overrides?.containerOverrides).toEqual([
      {
        name: 'app',
        command: ['prefect', 'flow-run', 'execute'],
        environment: [
          { name: 'PREFECT_API_URL', value: 'http://prefect/api' },
          { name: 'PREFECT__FLOW_RUN_ID', value: 'run-1' },
        ],
      },
    ]);
  });

  it('casts task-level override cpu/memory to strings and keeps container-level integers', () => {
    const { request } = shape({
      task_run_request: {
        launchType: 'FARGATE',
        overrides: {
          cpu: 512,
          memory: 1024,
          taskRoleArn: 'arn:role',
          containerOverrides: [{ cpu: 512, memory: 1024 }],
        },
      },
    });
    expect(request.overrides).toMatchObject({
      cpu: '512',
      memory: '1024',
      taskRoleArn: 'arn:role',
      containerOverrides: [{ name: 'prefect', cpu: 512, memory: 1024 }],
    });
  });

  it('keeps secret-ARN variables out of override environments', () => {
    const { request } = shape({
      prefect_api_key_secret_arn: 'arn:key',
      env: { ...ENV, PREFECT_API_KEY: 'pnu_x' },
      task_run_request: {
        launchType: 'FARGATE',
        overrides: { containerOverrides: [{ environment: { PREFECT_API_KEY: 'pnu_template' } }] },
      },
    });
    const names = (request.overrides?.containerOverrides?.[0]?.environment ?? []).map((e) => e.name);
    expect(names).not.toContain('PREFECT_API_KEY');
  });

  it('merges request tags with labels (labels win) and adds the auto-deregister tag only for new definitions', () => {
    const extra = {
      auto_deregister_task_definition: true,
      task_run_request: {
        launchType: 'FARGATE',
        tags: { team: 'data eng', 'prefect.io/flow-run-id': 'template-value' },
      },
    };
    expect(shape(extra, { newlyRegistered: true }).request.tags).toEqual([
      { key: 'team', value: 'data-eng' },
      { key: 'prefect.io/flow-run-id', value: 'run-1' },
      { key: 'prefect.io/worker-name', value: 'ECSWorker-6f1a' },
      { key: DEREGISTER_TAG, value: 'true' },
    ]);
    expect(shape(extra, { newlyRegistered: false }).request.tags?.map((t) => t.key)).not.toContain(
      DEREGISTER_TAG,
    );
    expect(shape({ labels: {} }).request).not.toHaveProperty('tags');
  });

  it('does not touch the configuration', () => {
    const c = config();
    const before = structuredClone(c.task_run_request);
    prepareRunTaskRequest({
      config: c,
      taskDefinition: FARGATE_TD,
      taskDefinitionArn: TD_ARN,
      networkConfiguration: undefined,
      newlyRegistered: false,
    });
    expect(c.task_run_request).toEqual(before);
  });
});

describe('runTaskClientToken', () => {
  it('is stable per attempt key, within ECS limits, and differs per key and round', () => {
    const token = runTaskClientToken('run-1:state-1');
    expect(token).toBe(runTaskClientToken('run-1:state-1'));
    expect(token.length).toBeLessThanOrEqual(CLIENT_TOKEN_MAX_LENGTH);
    expect(token).toMatch(/^[\x21-\x7e]+$/);
    expect(runTaskClientToken('run-1:state-2')).not.toBe(token);
    expect(runTaskClientToken('run-1:state-1', 2)).not.toBe(token);
    expect(runTaskClientToken('x'.repeat(500))).toHaveLength(64);
  });
});

describe('runTask (spec §2.4 E)', () => {
  const ecsMock = mockClient(ECSClient);
  const ecs = new ECSClient({ region: 'us-east-1' });
  const sleeps: number[] = [];
  const TASK = {
    taskArn: 'arn:aws:ecs:us-east-1:111122223333:task/default/abc',
    clusterArn: 'arn:cluster/default',
  };

  function options(extra: Partial<RunTaskOptions> = {}): RunTaskOptions {
    return {
      signal: new AbortController().signal,
      logger: nullLogger,
      attemptKey: 'run-1:state-1',
      retry: defaultEcsRetryOptions,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      cloudwatchLogs: false,
      ...extra,
    };
  }

  beforeEach(() => {
    ecsMock.reset();
    sleeps.length = 0;
  });

  it('sends the request with the attempt clientToken and returns the task', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [TASK], failures: [] });
    await expect(runTask(ecs, { taskDefinition: TD_ARN, launchType: 'FARGATE' }, options())).resolves.toEqual(
      TASK,
    );
    const calls = ecsMock.commandCalls(RunTaskCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      taskDefinition: TD_ARN,
      launchType: 'FARGATE',
      clientToken: runTaskClientToken('run-1:state-1'),
    });
  });

  it('retries a thrown error with the same clientToken, so a lost response cannot start a second task', async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(new ServerException({ message: 'internal', $metadata: {} }))
      .resolves({ tasks: [TASK] });
    await runTask(ecs, { taskDefinition: TD_ARN }, options());
    const tokens = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens).toEqual([runTaskClientToken('run-1:state-1'), runTaskClientToken('run-1:state-1')]);
    expect(sleeps).toEqual([1000 + 0.5 * 3000]);
  });

  it('retries after failures with a fresh token (no task was started)', async () => {
    ecsMock
      .on(RunTaskCommand)
      .resolvesOnce({ tasks: [], failures: [{ reason: 'RESOURCE:MEMORY' }] })
      .resolves({ tasks: [TASK] });
    await runTask(ecs, { taskDefinition: TD_ARN }, options());
    const tokens = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens).toEqual([runTaskClientToken('run-1:state-1'), runTaskClientToken('run-1:state-1', 2)]);
  });

  it('turns persistent failures into ECS_RUN_TASK_FAILED naming the reason', async () => {
    ecsMock
      .on(RunTaskCommand)
      .resolves({ failures: [{ reason: 'RESOURCE:MEMORY', arn: 'arn:ci', detail: 'no room' }] });
    const error = await runTask(ecs, { taskDefinition: TD_ARN }, options()).catch((e: unknown) => e);
    expect(isStevedoreError(error, ecsErrorCodes.RUN_TASK_FAILED)).toBe(true);
    expect((error as Error).message).toBe('Failed to run ECS task: RESOURCE:MEMORY (no room)');
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(3);
  });

  it('reports an empty answer', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [] });
    const error = await runTask(ecs, { taskDefinition: TD_ARN }, options()).catch((e: unknown) => e);
    expect((error as Error).message).toBe('Failed to run ECS task: no tasks or failures were returned.');
  });

  it.each([
    [
      new ClusterNotFoundException({ message: 'Cluster not found.', $metadata: {} }),
      { cluster: 'prod' },
      ecsErrorCodes.CLUSTER_NOT_FOUND,
      "Failed to run ECS task, cluster 'prod' not found. Confirm that the cluster is configured in your region.",
    ],
    [
      new InvalidParameterException({
        message: 'No Container Instances were found in your cluster.',
        $metadata: {},
      }),
      { launchType: 'EC2' as const },
      ecsErrorCodes.NO_CONTAINER_INSTANCES,
      "Failed to run ECS task, cluster 'default' does not appear to have any container instances associated with it.",
    ],
    [
      new ClientException({ message: 'TaskDefinition is inactive', $metadata: {} }),
      {},
      ecsErrorCodes.TASK_DEFINITION_INACTIVE,
      'Failed to run ECS task, the task definition is inactive.',
    ],
    [
      new InvalidParameterException({
        message: 'The specified capacity provider FOO is not in an ACTIVE state.',
        $metadata: {},
      }),
      {},
      ecsErrorCodes.CAPACITY_PROVIDER_ERROR,
      'Failed to run ECS task due to a capacity provider error.',
    ],
    [
      new InvalidParameterException({
        message: 'Error retrieving subnet information for [subnet-x]',
        $metadata: {},
      }),
      {},
      ecsErrorCodes.NETWORK_CONFIGURATION_ERROR,
      'Failed to run ECS task due to a network configuration error.',
    ],
    [
      new ClientException({ message: 'Something else', $metadata: {} }),
      {},
      ecsErrorCodes.RUN_TASK_FAILED,
      'Failed to run ECS task: ClientException: Something else',
    ],
  ])('rewrites %s', async (exception, request, code, message) => {
    ecsMock.on(RunTaskCommand).rejects(exception);
    const error = await runTask(ecs, { taskDefinition: TD_ARN, ...request }, options()).catch(
      (e: unknown) => e,
    );
    expect(isStevedoreError(error, code)).toBe(true);
    expect((error as Error).message.startsWith(message)).toBe(true);
    expect((error as Error).cause).toBe(exception);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(3);
  });

  it('explains a CloudWatch access denial (the reference crashes on this path)', async () => {
    ecsMock.on(RunTaskCommand).rejects(
      new ClientException({
        message:
          'failed to validate logger args: AccessDeniedException: not authorized to perform logs:CreateLogGroup',
        $metadata: {},
      }),
    );
    const error = await runTask(ecs, { taskDefinition: TD_ARN }, options({ cloudwatchLogs: true })).catch(
      (e: unknown) => e,
    );
    expect(isStevedoreError(error, ecsErrorCodes.CLOUDWATCH_LOGS_ACCESS_DENIED)).toBe(true);
    expect((error as Error).message).toContain(
      'logs:CreateLogStream, logs:CreateLogGroup, logs:PutLogEvents',
    );
  });

  it('stops retrying when the signal aborts and rejects with its reason', async () => {
    const controller = new AbortController();
    ecsMock.on(RunTaskCommand).callsFake(() => {
      controller.abort(new Error('shutting down'));
      throw new ServerException({ message: 'x', $metadata: {} });
    });
    await expect(
      runTask(ecs, { taskDefinition: TD_ARN }, options({ signal: controller.signal })),
    ).rejects.toThrow('shutting down');
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
  });
});
