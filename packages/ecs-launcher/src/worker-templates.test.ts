import { DescribeSubnetsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from '@aws-sdk/client-ecs';
import {
  type FlowRunJob,
  isStevedoreError,
  type JobConfiguration,
  nullLogger,
  type TemplateLoader,
} from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadEcsBaseJobTemplate } from './base-job-template.js';
import { EcsInfrastructure } from './ecs-infrastructure.js';
import { ecsErrorCodes } from './errors.js';
import { applyWorkerTemplates, mergeRunTaskKwargs, WorkerTemplateCache } from './worker-templates.js';

const ecsMock = mockClient(ECSClient);
const ec2Mock = mockClient(EC2Client);

const signal = () => new AbortController().signal;

function configuration(fields: Partial<JobConfiguration> = {}): JobConfiguration {
  return {
    command: 'prefect flow-run execute',
    env: { PREFECT__FLOW_RUN_ID: 'run-1' },
    labels: { 'prefect.io/flow-run-id': 'run-1' },
    name: 'crimson-fox',
    task_definition: { containerDefinitions: [{ image: 'from-job-variable', name: 'prefect' }], cpu: 512 },
    task_run_request: { launchType: 'FARGATE', overrides: { containerOverrides: [{}] } },
    ...fields,
  };
}

/** A loader serving documents from memory and counting reads. */
function memoryLoader(docs: Record<string, unknown>): TemplateLoader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    schemes: () => ['file', 's3'],
    load: async (reference) => {
      reads.push(reference);
      if (!(reference in docs)) throw new Error(`no template ${reference}`);
      return structuredClone(docs[reference]);
    },
  };
}

const TEMPLATE = {
  family: 'from-template',
  cpu: '256',
  memory: '512',
  containerDefinitions: [
    { name: 'prefect', image: 'template-image', essential: true },
    { name: 'envoy', image: 'envoy:v1', essential: false },
  ],
  networkMode: 'awsvpc',
};

beforeEach(() => {
  ecsMock.reset();
  ec2Mock.reset();
});

describe('applyWorkerTemplates: taskDefinition', () => {
  it('replaces task_definition and puts back the job variables the pool template renders into it', () => {
    const out = applyWorkerTemplates(
      configuration(),
      { taskDefinition: TEMPLATE },
      {
        image: 'deployment-image',
        memory: 4096,
        execution_role_arn: 'arn:aws:iam::1:role/exec',
        cpu: null,
      },
    );
    expect(out.task_definition).toEqual({
      ...TEMPLATE,
      memory: 4096,
      executionRoleArn: 'arn:aws:iam::1:role/exec',
      containerDefinitions: [
        { name: 'prefect', image: 'deployment-image', essential: true },
        { name: 'envoy', image: 'envoy:v1', essential: false },
      ],
    });
  });

  it('keeps the template as it is without job variables, and leaves it out when task_definition_arn is set', () => {
    expect(applyWorkerTemplates(configuration(), { taskDefinition: TEMPLATE }, {}).task_definition).toEqual(
      TEMPLATE,
    );
    const withArn = configuration({
      task_run_request: { taskDefinition: 'arn:aws:ecs:us-east-1:1:task-definition/x:1' },
    });
    const before = structuredClone(withArn.task_definition);
    expect(applyWorkerTemplates(withArn, { taskDefinition: TEMPLATE }, {}).task_definition).toEqual(before);
  });

  it('sets the image on the container named by container_name', () => {
    const out = applyWorkerTemplates(
      configuration({ container_name: 'flow' }),
      { taskDefinition: { containerDefinitions: [{ name: 'sidecar' }, { name: 'flow' }] } },
      { image: 'img' },
    );
    expect(out.task_definition).toEqual({
      containerDefinitions: [{ name: 'sidecar' }, { name: 'flow', image: 'img' }],
    });
  });
});

describe('mergeRunTaskKwargs', () => {
  it('takes the kwargs as the base, lets the rendered request win, and merges container overrides by name', () => {
    const kwargs = {
      launchType: 'EC2',
      enableExecuteCommand: true,
      placementConstraints: [{ type: 'distinctInstance' }],
      overrides: {
        ephemeralStorage: { sizeInGiB: 50 },
        containerOverrides: [
          { name: 'envoy', environment: [{ name: 'MESH', value: 'on' }] },
          {
            name: 'prefect',
            environment: [
              { name: 'FROM_KWARGS', value: '1' },
              { name: 'SHARED', value: 'kwargs' },
            ],
            resourceRequirements: [{ type: 'GPU', value: '1' }],
          },
        ],
      },
    };
    const rendered = {
      launchType: 'FARGATE',
      cluster: 'prod',
      overrides: {
        taskRoleArn: 'arn:aws:iam::1:role/task',
        containerOverrides: [{ command: 'python flow.py', environment: { SHARED: 'deployment', ONLY: 'x' } }],
      },
    };
    expect(mergeRunTaskKwargs(kwargs, rendered, 'prefect')).toEqual({
      launchType: 'FARGATE',
      cluster: 'prod',
      enableExecuteCommand: true,
      placementConstraints: [{ type: 'distinctInstance' }],
      overrides: {
        ephemeralStorage: { sizeInGiB: 50 },
        taskRoleArn: 'arn:aws:iam::1:role/task',
        containerOverrides: [
          { name: 'envoy', environment: [{ name: 'MESH', value: 'on' }] },
          {
            name: 'prefect',
            command: 'python flow.py',
            environment: [
              { name: 'FROM_KWARGS', value: '1' },
              { name: 'SHARED', value: 'deployment' },
              { name: 'ONLY', value: 'x' },
            ],
            resourceRequirements: [{ type: 'GPU', value: '1' }],
          },
        ],
      },
    });
  });

  it('adds the rendered orchestration override, named, when the kwargs only override sidecars', () => {
    const merged = mergeRunTaskKwargs(
      { overrides: { containerOverrides: [{ name: 'envoy', cpu: 64 }] } },
      { overrides: { containerOverrides: [{ command: 'x' }] } },
      'flow',
    );
    expect(merged.overrides).toEqual({
      containerOverrides: [
        { name: 'envoy', cpu: 64 },
        { name: 'flow', command: 'x' },
      ],
    });
  });
});

describe('WorkerTemplateCache', () => {
  it('loads each reference once and hands out copies', async () => {
    const loader = memoryLoader({
      's3://b/td.yaml': TEMPLATE,
      './kwargs.json': { enableExecuteCommand: true },
    });
    const cache = new WorkerTemplateCache(loader, {
      taskDefinition: 's3://b/td.yaml',
      runTaskKwargs: './kwargs.json',
    });
    const a = await cache.load(signal());
    (a.taskDefinition as { family: string }).family = 'mutated';
    const b = await cache.load(signal());
    expect(b).toEqual({ taskDefinition: TEMPLATE, runTaskKwargs: { enableExecuteCommand: true } });
    expect(loader.reads).toEqual(['s3://b/td.yaml', './kwargs.json']);
  });

  it('refuses a document that is not a mapping, and tries again after a failure', async () => {
    const loader = memoryLoader({ 'list.yaml': [1, 2] });
    const cache = new WorkerTemplateCache(loader, { runTaskKwargs: 'list.yaml' });
    const error = await cache.load(signal()).catch((e: unknown) => e);
    expect(isStevedoreError(error, ecsErrorCodes.WORKER_TEMPLATE_INVALID)).toBe(true);
    expect((error as Error).message).toContain('plugins.ecs-launcher.runTaskKwargs');
    await cache.load(signal()).catch(() => undefined);
    expect(loader.reads).toEqual(['list.yaml', 'list.yaml']);
  });
});

describe('EcsInfrastructure with worker templates', () => {
  it('registers the template task definition and runs the task with the kwargs', async () => {
    const TD_ARN = 'arn:aws:ecs:us-east-1:1:task-definition/from-template:1';
    ecsMock.on(DescribeTaskDefinitionCommand).rejects(new Error('not found'));
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({
      taskDefinition: {
        taskDefinitionArn: TD_ARN,
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
      },
    });
    ecsMock.on(RunTaskCommand).resolves({
      tasks: [
        { taskArn: 'arn:aws:ecs:us-east-1:1:task/c/t', clusterArn: 'arn:aws:ecs:us-east-1:1:cluster/c' },
      ],
    });
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-1' }] });
    const loader = memoryLoader({
      'td.json': TEMPLATE,
      'kwargs.json': { enableExecuteCommand: true, propagateTags: 'TASK_DEFINITION' },
    });
    const infra = new EcsInfrastructure(
      { ecs: new ECSClient({ region: 'us-east-1' }), ec2: new EC2Client({ region: 'us-east-1' }) },
      {
        sleep: async () => {},
        random: () => 0,
        templates: { loader, references: { taskDefinition: 'td.json', runTaskKwargs: 'kwargs.json' } },
      },
    );
    const job: FlowRunJob = {
      flowRun: { id: 'run-1', name: 'crimson-fox', flow_id: 'flow-1', deployment_id: 'dep-1' },
      flow: { id: 'flow-1', name: 'etl' },
      deployment: { id: 'dep-1', name: 'prod', flow_id: 'flow-1' },
      workPool: { id: 'pool-1', name: 'pool', type: 'ecs', base_job_template: loadEcsBaseJobTemplate() },
      configuration: configuration(),
      jobVariables: { image: 'from-job-variable' },
      server: { version: '3.4.11', major: 3, isCloud: false },
      runLogger: nullLogger,
      attemptKey: 'run-1:pending-1',
    };
    const before = structuredClone(job.configuration);
    await infra.submit(job, { signal: signal() });
    expect(job.configuration).toEqual(before); // the job's own configuration is not modified
    const registered = ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input;
    expect(registered).toMatchObject({
      family: 'from-template',
      cpu: '256',
      containerDefinitions: [
        { name: 'prefect', image: 'from-job-variable', essential: true },
        { name: 'envoy', image: 'envoy:v1', essential: false },
      ],
    });
    expect(ecsMock.commandCalls(RunTaskCommand)[0]?.args[0].input).toMatchObject({
      launchType: 'FARGATE',
      enableExecuteCommand: true,
      propagateTags: 'TASK_DEFINITION',
      taskDefinition: TD_ARN,
    });
  });
});
