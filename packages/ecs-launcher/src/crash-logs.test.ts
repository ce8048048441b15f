import {
  CloudWatchLogsClient,
  GetLogEventsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import { DescribeSubnetsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  ClientException,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import { createMemoryLogger, type FlowRunJob } from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AwsClientSettings } from './aws-clients.js';
import { loadEcsBaseJobTemplate } from './base-job-template.js';
import { EcsInfrastructure } from './ecs-infrastructure.js';

const ecsMock = mockClient(ECSClient);
const ec2Mock = mockClient(EC2Client);
const logsMock = mockClient(CloudWatchLogsClient);

const ACCOUNT = '111122223333';
const CLUSTER_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/default`;
const TASK_ID = '0123456789abcdef';
const TASK_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:task/default/${TASK_ID}`;
const TD_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/prefect_pool_dep:3`;
const IDENTIFIER = `${CLUSTER_ARN}::${TASK_ARN}`;

const awslogs = (options: Record<string, string>) => ({ logDriver: 'awslogs' as const, options });

let logsSettings: AwsClientSettings[];
let logger: ReturnType<typeof createMemoryLogger>;

function infrastructure() {
  const logs = new CloudWatchLogsClient({ region: 'us-east-1' });
  return new EcsInfrastructure(
    {
      ecs: new ECSClient({ region: 'us-east-1' }),
      ec2: new EC2Client({ region: 'us-east-1' }),
      logs: (settings) => {
        logsSettings.push(settings);
        return logs;
      },
    },
    { logger, sleep: async () => {}, random: () => 0 },
  );
}

const opts = (limit = 500) => ({ signal: new AbortController().signal, limit });

beforeEach(() => {
  ecsMock.reset();
  ec2Mock.reset();
  logsMock.reset();
  logsSettings = [];
  logger = createMemoryLogger({ level: 'debug' });
});

describe('EcsInfrastructure.crashLogs', () => {
  it('reads the tail of <prefix>/<container>/<task id> from the awslogs options of the orchestration container', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        { taskArn: TASK_ARN, taskDefinitionArn: TD_ARN, containers: [{ name: 'prefect', exitCode: 1 }] },
      ],
    });
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: {
        containerDefinitions: [
          {
            name: 'sidecar',
            logConfiguration: awslogs({ 'awslogs-group': 'other', 'awslogs-stream-prefix': 'x' }),
          },
          {
            name: 'prefect',
            logConfiguration: awslogs({
              'awslogs-group': 'prefect',
              'awslogs-stream-prefix': 'prefect-logs_pool_dep',
              'awslogs-region': 'eu-west-3',
            }),
          },
        ],
      },
    });
    logsMock.on(GetLogEventsCommand).resolves({
      events: [{ message: 'Traceback (most recent call last):\n' }, { message: 'ValueError: boom' }],
    });
    const lines = await infrastructure().crashLogs(IDENTIFIER, opts(250));
    expect(lines).toEqual(['Traceback (most recent call last):', 'ValueError: boom']);
    expect(ecsMock.commandCalls(DescribeTasksCommand)[0]?.args[0].input).toEqual({
      cluster: CLUSTER_ARN,
      tasks: [TASK_ARN],
    });
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)[0]?.args[0].input).toEqual({
      taskDefinition: TD_ARN,
    });
    expect(logsMock.commandCalls(GetLogEventsCommand)[0]?.args[0].input).toEqual({
      logGroupName: 'prefect',
      logStreamName: `prefect-logs_pool_dep/prefect/${TASK_ID}`,
      limit: 250,
      startFromHead: false,
    });
    expect(logsSettings).toEqual([{ region: 'eu-west-3' }]);
  });

  it('uses the definition’s only container when the task never started (no containers), and the ARN’s region', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: TD_ARN }] });
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: {
        containerDefinitions: [
          { name: 'app', logConfiguration: awslogs({ 'awslogs-group': 'g', 'awslogs-stream-prefix': 'p' }) },
        ],
      },
    });
    logsMock.on(GetLogEventsCommand).resolves({ events: [{ message: 'starting' }] });
    expect(await infrastructure().crashLogs(IDENTIFIER, opts(20_000))).toEqual(['starting']);
    expect(logsMock.commandCalls(GetLogEventsCommand)[0]?.args[0].input).toMatchObject({
      logStreamName: `p/app/${TASK_ID}`,
      limit: 10_000,
    });
    expect(logsSettings).toEqual([{ region: 'us-east-1' }]);
  });

  it('gives [] when the container does not log with awslogs', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: TD_ARN, containers: [{ name: 'prefect' }] }],
    });
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: { containerDefinitions: [{ name: 'prefect' }] },
    });
    expect(await infrastructure().crashLogs(IDENTIFIER, opts())).toEqual([]);
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(0);
  });

  it('gives [] when several containers run and none can be told to be the orchestration container', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: TD_ARN, containers: [{ name: 'a' }, { name: 'b' }] }],
    });
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: {
        containerDefinitions: [
          { name: 'a', logConfiguration: awslogs({ 'awslogs-group': 'g', 'awslogs-stream-prefix': 'p' }) },
          { name: 'b', logConfiguration: awslogs({ 'awslogs-group': 'g', 'awslogs-stream-prefix': 'p' }) },
        ],
      },
    });
    expect(await infrastructure().crashLogs(IDENTIFIER, opts())).toEqual([]);
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(0);
  });

  it('gives [] when the log stream does not exist (ResourceNotFoundException)', async () => {
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [{ taskArn: TASK_ARN, taskDefinitionArn: TD_ARN, containers: [{ name: 'prefect' }] }],
    });
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: {
        containerDefinitions: [
          {
            name: 'prefect',
            logConfiguration: awslogs({ 'awslogs-group': 'g', 'awslogs-stream-prefix': 'p' }),
          },
        ],
      },
    });
    logsMock
      .on(GetLogEventsCommand)
      .rejects(
        new ResourceNotFoundException({ message: 'The specified log stream does not exist.', $metadata: {} }),
      );
    expect(await infrastructure().crashLogs(IDENTIFIER, opts())).toEqual([]);
  });

  it('gives [] with a debug log when an AWS call fails, and rejects only when aborted', async () => {
    ecsMock.on(DescribeTasksCommand).rejects(new ClientException({ message: 'denied', $metadata: {} }));
    expect(await infrastructure().crashLogs(IDENTIFIER, opts())).toEqual([]);
    expect(logger.records.some((r) => r.level === 'debug' && r.message.includes('CloudWatch logs'))).toBe(
      true,
    );
    expect(await infrastructure().crashLogs('garbage', opts())).toEqual([]);
    const ac = new AbortController();
    ac.abort(new Error('shutting down'));
    await expect(infrastructure().crashLogs(IDENTIFIER, { signal: ac.signal, limit: 10 })).rejects.toThrow(
      'shutting down',
    );
  });
});

describe('tasks launched by this process', () => {
  const job = (): FlowRunJob => ({
    flowRun: { id: 'run-1', name: 'crimson-fox', flow_id: 'flow-1', deployment_id: 'dep-1' },
    flow: { id: 'flow-1', name: 'etl' },
    deployment: { id: 'dep-1', name: 'prod', flow_id: 'flow-1' },
    workPool: { id: 'pool-1', name: 'pool', type: 'ecs', base_job_template: loadEcsBaseJobTemplate() },
    configuration: {
      command: 'prefect flow-run execute',
      env: { PREFECT__FLOW_RUN_ID: 'run-1' },
      labels: { 'prefect.io/flow-run-id': 'run-1' },
      name: 'crimson-fox',
      container_name: 'flow',
      aws_credentials: { region_name: 'us-east-1', aws_access_key_id: 'AKIA1', aws_secret_access_key: 's' },
      task_definition: { containerDefinitions: [{ name: 'flow' }] },
      task_run_request: { launchType: 'FARGATE', overrides: { containerOverrides: [{}] } },
    },
    jobVariables: {},
    server: { version: '3.4.11', major: 3, isCloud: false },
    runLogger: logger,
    attemptKey: 'run-1:pending-1',
  });

  it('remembers the client settings, container and definition of a launch for the observer and crash logs', async () => {
    ecsMock
      .on(DescribeTaskDefinitionCommand, { taskDefinition: 'prefect_pool_dep-1' })
      .rejects(new Error('none'));
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({
      taskDefinition: {
        taskDefinitionArn: TD_ARN,
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
      },
    });
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN, clusterArn: CLUSTER_ARN }] });
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-1' }] });
    const made: AwsClientSettings[] = [];
    const built: ECSClient[] = [];
    const infra = new EcsInfrastructure(
      {
        ecs: (s) => {
          made.push(s);
          const client = new ECSClient({ region: s.region ?? 'us-east-1' });
          built.push(client);
          return client;
        },
        ec2: new EC2Client({ region: 'us-east-1' }),
        logs: (s) => {
          logsSettings.push(s);
          return new CloudWatchLogsClient({ region: 'us-east-1' });
        },
      },
      { logger, sleep: async () => {}, random: () => 0 },
    );
    const { identifier } = await infra.submit(job(), { signal: new AbortController().signal });
    expect(identifier).toBe(IDENTIFIER);
    const launchSettings = {
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIA1', secretAccessKey: 's' },
    };
    const launchClient = built[0];
    expect(infra.taskContext(identifier)).toEqual({
      ecs: launchClient,
      containerName: 'flow',
      tags: { 'prefect.io/flow-run-id': 'run-1' }, // the RunTask request's tags
    });
    // Not launched here: the region of the cluster (or else task) ARN with default credentials; no ARN at all:
    // the default client.
    infra.taskContext(`arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/x::${TASK_ARN}`);
    infra.taskContext(`prod::${TASK_ARN.replace('us-east-1', 'ap-south-1')}`);
    infra.taskContext('prod::0123456789abcdef');
    expect(made).toEqual([launchSettings, { region: 'eu-west-1' }, { region: 'ap-south-1' }, {}]);

    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: TD_ARN }).resolves({
      taskDefinition: {
        containerDefinitions: [
          { name: 'flow', logConfiguration: awslogs({ 'awslogs-group': 'g', 'awslogs-stream-prefix': 'p' }) },
        ],
      },
    });
    logsMock.on(GetLogEventsCommand).resolves({ events: [{ message: 'bye' }] });
    expect(await infra.crashLogs(identifier, opts())).toEqual(['bye']);
    // Known definition and container: no DescribeTasks; the launch's credentials for CloudWatch Logs.
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
    expect(logsMock.commandCalls(GetLogEventsCommand)[0]?.args[0].input.logStreamName).toBe(
      `p/flow/${TASK_ID}`,
    );
    expect(logsSettings).toEqual([launchSettings]);

    // kill without a configuration (e.g. a cancellation): the launch's client, not the default chain's.
    ecsMock.on(StopTaskCommand).resolves({});
    await infra.kill(identifier, { signal: new AbortController().signal, gracePeriodSeconds: 30 });
    expect(ecsMock.commandCalls(StopTaskCommand)[0]?.thisValue).toBe(launchClient);
  });
});
