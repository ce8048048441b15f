import { readFileSync } from 'node:fs';
import { DescribeSubnetsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  ClientException,
  ClusterNotFoundException,
  DescribeTaskDefinitionCommand,
  ECSClient,
  InvalidParameterException,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  ServerException,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import {
  type FlowRunJob,
  isStevedoreError,
  type JobConfiguration,
  kernelErrorCodes,
  type Logger,
  type LogMeta,
} from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AwsClientSettings } from './aws-clients.js';
import { loadEcsBaseJobTemplate } from './base-job-template.js';
import { EcsInfrastructure, parseEcsIdentifier } from './ecs-infrastructure.js';
import { ecsErrorCodes } from './errors.js';
import { runTaskClientToken } from './run-task.js';
import { TASK_DEFINITION_HASH_TAG } from './task-definition-registry.js';

const ecsMock = mockClient(ECSClient);
const ec2Mock = mockClient(EC2Client);

const ACCOUNT = '111122223333';
const CLUSTER_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/default`;
const TASK_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:task/default/0123456789abcdef`;
const TD_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/prefect_ecs-pool_dep-1:1`;
const API_KEY = 'pnu_0123456789abcdefSECRET';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

/** A logger that keeps records as given, without redaction, so the test sees exactly what the code logged. */
interface LogEntry {
  level: string;
  message: string;
  meta: LogMeta;
}
function memoryLogger(entries: LogEntry[] = [], bound: LogMeta = {}): Logger & { entries: LogEntry[] } {
  const log =
    (level: string) =>
    (message: string, meta: LogMeta = {}) =>
      entries.push({ level, message, meta: { ...bound, ...meta } });
  return {
    entries,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (meta) => memoryLogger(entries, { ...bound, ...meta }),
  };
}

let runLogger: ReturnType<typeof memoryLogger>;
let workerLogger: ReturnType<typeof memoryLogger>;

function job(configuration: Partial<JobConfiguration> = {}, extra: Partial<FlowRunJob> = {}): FlowRunJob {
  return {
    flowRun: { id: 'run-1', name: 'crimson-fox', flow_id: 'flow-1', deployment_id: 'dep-1' },
    flow: { id: 'flow-1', name: 'etl' },
    deployment: { id: 'dep-1', name: 'prod', flow_id: 'flow-1' },
    workPool: { id: 'pool-1', name: 'ecs-pool', type: 'ecs', base_job_template: loadEcsBaseJobTemplate() },
    // What the default template renders to for an all-default pool (spec §2.2), after prepare_for_flow_run.
    configuration: {
      command: 'prefect flow-run execute',
      env: {
        PREFECT_API_URL: 'https://api.prefect.cloud/api',
        PREFECT_API_KEY: API_KEY,
        PREFECT__FLOW_RUN_ID: 'run-1',
      },
      labels: { 'prefect.io/flow-run-id': 'run-1', 'prefect.io/worker-name': 'ECSWorker 6f1a' },
      name: 'crimson-fox',
      task_definition: { containerDefinitions: [{}] },
      task_run_request: { launchType: 'FARGATE', overrides: { containerOverrides: [{}] } },
      stream_output: false,
      task_start_timeout_seconds: 0,
      task_watch_poll_interval: 0,
      auto_deregister_task_definition: false,
      match_latest_revision_in_family: false,
      ...configuration,
    },
    jobVariables: {},
    server: { version: '3.4.11', major: 3, isCloud: false },
    runLogger,
    attemptKey: 'run-1:pending-state-1',
    ...extra,
  };
}

function infrastructure(sources?: ConstructorParameters<typeof EcsInfrastructure>[0]) {
  return new EcsInfrastructure(
    sources ?? { ecs: new ECSClient({ region: 'us-east-1' }), ec2: new EC2Client({ region: 'us-east-1' }) },
    { logger: workerLogger, sleep: async () => {}, random: () => 0 },
  );
}

const signal = () => new AbortController().signal;

function happyPath() {
  ecsMock
    .on(DescribeTaskDefinitionCommand)
    .rejects(new ClientException({ message: 'Unable to describe task definition.', $metadata: {} }));
  ecsMock.on(RegisterTaskDefinitionCommand).resolves({
    taskDefinition: {
      taskDefinitionArn: TD_ARN,
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      status: 'ACTIVE',
    },
  });
  ecsMock
    .on(RunTaskCommand)
    .resolves({ tasks: [{ taskArn: TASK_ARN, clusterArn: CLUSTER_ARN }], failures: [] });
  ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-default' }] });
  ec2Mock
    .on(DescribeSubnetsCommand)
    .resolves({ Subnets: [{ SubnetId: 'subnet-a' }, { SubnetId: 'subnet-b' }] });
}

beforeEach(() => {
  ecsMock.reset();
  ec2Mock.reset();
  runLogger = memoryLogger();
  workerLogger = memoryLogger();
});

describe('EcsInfrastructure', () => {
  it('is the ecs type and serves the packaged prefect-aws base job template', () => {
    const infra = infrastructure();
    const asset: unknown = JSON.parse(
      readFileSync(new URL('../assets/ecs-base-job-template.json', import.meta.url), 'utf8'),
    );
    const server = { version: '3.4.11', major: 3 as const, isCloud: false };
    expect(infra.type).toBe('ecs');
    const template = infra.defaultBaseJobTemplate({ server });
    expect(template).toEqual(asset);
    template.job_configuration.cluster = 'mutated';
    expect(infra.defaultBaseJobTemplate({ server })).toEqual(asset);
  });

  describe('submit', () => {
    it('registers, infers the network, runs the task and returns <cluster arn>::<task arn>', async () => {
      happyPath();
      const result = await infrastructure().submit(job(), { signal: signal() });
      expect(result).toEqual({ identifier: `${CLUSTER_ARN}::${TASK_ARN}` });

      expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input).toMatchObject({
        family: 'prefect_ecs-pool_dep-1',
        containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }],
        cpu: '1024',
        memory: '2048',
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        tags: [{ key: TASK_DEFINITION_HASH_TAG }],
      });
      expect(ecsMock.commandCalls(RunTaskCommand)[0]?.args[0].input).toEqual({
        launchType: 'FARGATE',
        taskDefinition: TD_ARN,
        clientToken: runTaskClientToken('run-1:pending-state-1'),
        startedBy: 'stevedore/run-1',
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ['subnet-a', 'subnet-b'],
            assignPublicIp: 'ENABLED',
            securityGroups: [],
          },
        },
        overrides: {
          containerOverrides: [
            {
              name: 'prefect',
              command: ['prefect', 'flow-run', 'execute'],
              environment: [
                { name: 'PREFECT_API_URL', value: 'https://api.prefect.cloud/api' },
                { name: 'PREFECT_API_KEY', value: API_KEY },
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
      const messages = runLogger.entries.map((e) => e.message);
      expect(messages).toContain(`Using ECS task definition '${TD_ARN}'...`);
      expect(messages).toContain(`Created ECS task '${TASK_ARN}'`);
    });

    it('reports the cluster exactly as configured', async () => {
      happyPath();
      const result = await infrastructure().submit(job({ cluster: 'prod-cluster' }), { signal: signal() });
      expect(result.identifier).toBe(`prod-cluster::${TASK_ARN}`);
      expect(ecsMock.commandCalls(RunTaskCommand)[0]?.args[0].input.cluster).toBe('prod-cluster');
    });

    it('reuses the task definition and clientToken when the same attempt is submitted again', async () => {
      happyPath();
      const infra = infrastructure();
      await infra.submit(job(), { signal: signal() });
      ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: TD_ARN }).resolves({
        taskDefinition: {
          taskDefinitionArn: TD_ARN,
          status: 'ACTIVE',
          family: 'prefect_ecs-pool_dep-1',
          containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }],
          cpu: '1024',
          memory: '2048',
          requiresCompatibilities: ['FARGATE'],
          networkMode: 'awsvpc',
        },
      });
      await infra.submit(job(), { signal: signal() });
      expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(1);
      const tokens = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input.clientToken);
      expect(tokens[0]).toBe(tokens[1]);
    });

    it('uses an existing task_definition_arn without registering and names the ignored job variables', async () => {
      ecsMock.on(DescribeTaskDefinitionCommand).resolves({
        taskDefinition: {
          taskDefinitionArn: 'arn:td/mine:3',
          networkMode: 'awsvpc',
          requiresCompatibilities: ['FARGATE'],
        },
      });
      ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN, clusterArn: CLUSTER_ARN }] });
      ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
      ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-a' }] });
      const submitted = job(
        {
          task_definition: { containerDefinitions: [{ image: 'my/image:1' }], cpu: 512, family: 'mine' },
          task_run_request: {
            launchType: 'FARGATE',
            taskDefinition: 'arn:td/mine:3',
            overrides: { cpu: 512, containerOverrides: [{ cpu: 512 }] },
          },
        },
        {
          jobVariables: {
            image: 'my/image:1',
            cpu: 512,
            family: 'mine',
            task_definition_arn: 'arn:td/mine:3',
          },
        },
      );
      await infrastructure().submit(submitted, { signal: signal() });

      expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
      expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)[0]?.args[0].input.taskDefinition).toBe(
        'arn:td/mine:3',
      );
      expect(ecsMock.commandCalls(RunTaskCommand)[0]?.args[0].input.taskDefinition).toBe('arn:td/mine:3');
      const warning = runLogger.entries.find((e) => e.level === 'warn');
      expect(warning?.message).toBe(
        'Skipping task definition construction since a task definition ARN is provided. These job variables only shape a task definition the worker would build, so they are ignored: image, family.',
      );
      expect(warning?.meta.ignoredJobVariables).toEqual(['image', 'family']);
    });

    it('warns that a secret ARN cannot be applied to an existing task definition', async () => {
      ecsMock
        .on(DescribeTaskDefinitionCommand)
        .resolves({ taskDefinition: { taskDefinitionArn: 'arn:td', networkMode: 'bridge' } });
      ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN, clusterArn: CLUSTER_ARN }] });
      await infrastructure().submit(
        job(
          {
            task_run_request: { launchType: 'EC2', taskDefinition: 'arn:td' },
            prefect_api_key_secret_arn: 'arn:aws:secretsmanager:us-east-1:1:secret:k',
          },
          { jobVariables: { prefect_api_key_secret_arn: 'arn:aws:secretsmanager:us-east-1:1:secret:k' } },
        ),
        { signal: signal() },
      );
      const warning = runLogger.entries.find((e) => e.level === 'warn')?.message ?? '';
      expect(warning).toContain('ignored: prefect_api_key_secret_arn.');
      expect(warning).toContain('the existing task definition must provide it as a container secret');
      const env =
        ecsMock.commandCalls(RunTaskCommand)[0]?.args[0].input.overrides?.containerOverrides?.[0]
          ?.environment;
      expect(env?.map((e) => e.name)).not.toContain('PREFECT_API_KEY');
    });

    it('turns RunTask failures into a StevedoreError naming the reason', async () => {
      happyPath();
      ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ arn: CLUSTER_ARN, reason: 'MISSING' }] });
      const error = await infrastructure()
        .submit(job(), { signal: signal() })
        .catch((e: unknown) => e);
      expect(isStevedoreError(error, ecsErrorCodes.RUN_TASK_FAILED)).toBe(true);
      expect((error as Error).message).toBe('Failed to run ECS task: MISSING');
    });

    it('rejects an invalid configuration before calling AWS', async () => {
      const error = await infrastructure()
        .submit(job({ cloudwatch_logs_options: { 'awslogs-group': 'x' } }), { signal: signal() })
        .catch((e: unknown) => e);
      expect(isStevedoreError(error, ecsErrorCodes.JOB_CONFIGURATION_INVALID)).toBe(true);
      expect(ecsMock.calls()).toHaveLength(0);
    });

    it('rejects with the signal reason when aborted, before any AWS call', async () => {
      const controller = new AbortController();
      controller.abort(new Error('worker stopping'));
      await expect(infrastructure().submit(job(), { signal: controller.signal })).rejects.toThrow(
        'worker stopping',
      );
      expect(ecsMock.calls()).toHaveLength(0);
    });

    it('builds clients from the aws_credentials block, and from nothing without one', async () => {
      happyPath();
      const seen: AwsClientSettings[] = [];
      const infra = infrastructure({
        ecs: (s) => {
          seen.push(s);
          return new ECSClient({ region: 'us-east-1' });
        },
        ec2: () => new EC2Client({ region: 'us-east-1' }),
      });
      await infra.submit(job(), { signal: signal() });
      await infra.submit(
        job({
          aws_credentials: {
            region_name: 'eu-west-1',
            aws_access_key_id: 'AKIAEXAMPLE',
            aws_secret_access_key: AWS_SECRET,
            aws_client_parameters: { endpoint_url: 'http://localhost:4566' },
          },
        }),
        { signal: signal() },
      );
      expect(seen).toEqual([
        {},
        {
          region: 'eu-west-1',
          credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: AWS_SECRET },
          endpoint: 'http://localhost:4566',
        },
      ]);
      await infra.stop();
    });

    it('never logs secrets: API keys in env, AWS credentials', async () => {
      happyPath();
      await infrastructure().submit(
        job({
          env: {
            PREFECT_API_URL: 'https://api.prefect.cloud/api',
            PREFECT_API_KEY: API_KEY,
            PREFECT_API_AUTH_STRING: 'admin:hunter2-password',
            DB_PASSWORD: 'db-password-value',
          },
          aws_credentials: { aws_access_key_id: 'AKIAEXAMPLE', aws_secret_access_key: AWS_SECRET },
        }),
        { signal: signal() },
      );
      expect(runLogger.entries.some((e) => e.level === 'debug')).toBe(true);
      const logged = JSON.stringify([...runLogger.entries, ...workerLogger.entries]);
      for (const secret of [API_KEY, 'admin:hunter2-password', 'db-password-value', AWS_SECRET]) {
        expect(logged).not.toContain(secret);
      }
      expect(logged).toContain('PREFECT_API_URL');
    });
  });

  describe('kill', () => {
    const opts = (configuration?: JobConfiguration) => ({
      signal: signal(),
      gracePeriodSeconds: 30,
      configuration,
    });

    it('stops the task in its cluster with the reference reason', async () => {
      ecsMock.on(StopTaskCommand).resolves({});
      await infrastructure().kill(`${CLUSTER_ARN}::${TASK_ARN}`, opts());
      expect(ecsMock.commandCalls(StopTaskCommand)[0]?.args[0].input).toEqual({
        cluster: CLUSTER_ARN,
        task: TASK_ARN,
        reason: 'Stopped by Prefect worker',
      });
      expect(workerLogger.entries.map((e) => e.message)).toContain(
        `Stopped ECS task '${TASK_ARN}' in cluster '${CLUSTER_ARN}'`,
      );
    });

    it('maps a task ECS does not know to InfrastructureNotFoundError', async () => {
      ecsMock
        .on(StopTaskCommand)
        .rejects(
          new InvalidParameterException({ message: 'The referenced task was not found.', $metadata: {} }),
        );
      const error = await infrastructure()
        .kill(`prod::${TASK_ARN}`, opts())
        .catch((e: unknown) => e);
      expect(isStevedoreError(error, kernelErrorCodes.INFRASTRUCTURE_NOT_FOUND)).toBe(true);
      expect((error as Error).message).toBe(`ECS task '${TASK_ARN}' not found in cluster 'prod'`);
    });

    it('maps an unknown cluster to InfrastructureNotAvailableError', async () => {
      ecsMock
        .on(StopTaskCommand)
        .rejects(new ClusterNotFoundException({ message: 'Cluster not found.', $metadata: {} }));
      const error = await infrastructure()
        .kill(`gone::${TASK_ARN}`, opts())
        .catch((e: unknown) => e);
      expect(isStevedoreError(error, kernelErrorCodes.INFRASTRUCTURE_NOT_AVAILABLE)).toBe(true);
    });

    it('refuses a task in another cluster than the configured one, and accepts its ARN form', async () => {
      ecsMock.on(StopTaskCommand).resolves({});
      const base = job().configuration;
      const error = await infrastructure()
        .kill(`other::${TASK_ARN}`, opts({ ...base, cluster: 'prod' }))
        .catch((e: unknown) => e);
      expect(isStevedoreError(error, kernelErrorCodes.INFRASTRUCTURE_NOT_AVAILABLE)).toBe(true);
      expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);

      await infrastructure().kill(`${CLUSTER_ARN}::${TASK_ARN}`, opts({ ...base, cluster: 'default' }));
      expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1);
    });

    it('refuses a task in another region than the client', async () => {
      const error = await infrastructure()
        .kill(`default::arn:aws:ecs:eu-west-1:${ACCOUNT}:task/default/abc`, opts())
        .catch((e: unknown) => e);
      expect(isStevedoreError(error, kernelErrorCodes.INFRASTRUCTURE_NOT_AVAILABLE)).toBe(true);
      expect(ecsMock.calls()).toHaveLength(0);
    });

    it('rejects a malformed identifier and wraps other errors', async () => {
      const malformed = await infrastructure()
        .kill(TASK_ARN, opts())
        .catch((e: unknown) => e);
      expect(isStevedoreError(malformed, ecsErrorCodes.IDENTIFIER_INVALID)).toBe(true);

      ecsMock.on(StopTaskCommand).rejects(new ServerException({ message: 'internal', $metadata: {} }));
      const server = await infrastructure()
        .kill(`default::${TASK_ARN}`, opts())
        .catch((e: unknown) => e);
      expect(isStevedoreError(server, ecsErrorCodes.STOP_TASK_FAILED)).toBe(true);
      expect((server as { retryable: boolean }).retryable).toBe(true);
    });
  });
});

describe('parseEcsIdentifier', () => {
  it('splits on the first ::', () => {
    expect(parseEcsIdentifier('prod::arn:aws:ecs:r:1:task/prod/x')).toEqual({
      cluster: 'prod',
      taskArn: 'arn:aws:ecs:r:1:task/prod/x',
    });
    expect(() => parseEcsIdentifier('::x')).toThrow(/expected '<cluster>::<task arn>'/);
  });
});
