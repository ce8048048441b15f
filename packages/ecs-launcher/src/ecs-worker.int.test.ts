/**
 * Acceptance tests of the `ecs` worker end to end: the real kernel with `ecsLauncherPlugin`, real AWS SDK clients
 * over HTTP against the AWS emulator (ECS, EC2, CloudWatch Logs), and the Prefect API emulator. Every run is
 * finished by the AWS emulator's simulated Prefect engine, whose outcome comes from `STEVEDORE_SIM_OUTCOME` in the
 * container environment (passed through the deployment's or the flow run's `env` job variable).
 *
 * The worker's AWS clients find the emulator through the SDK's own configuration chain (`AWS_ENDPOINT_URL`,
 * `AWS_REGION`, static keys), as `stevedore sandbox` does: nothing test-specific reaches the plugin. vitest runs
 * each file in its own worker, so the variables are set per test here and restored after the file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ECSClient, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { definePlugin } from '@stevedore/kernel';
import {
  type AwsEmulator,
  type AwsEmulatorOptions,
  awsClientConfig,
  createTestKernel,
  type FlowRunJson,
  type JsonObject,
  type JsonValue,
  type PrefectEmulator,
  pointAwsSdkAt,
  type StateJson,
  startAwsEmulator,
  startPrefectEmulator,
  type TestKernel,
} from '@stevedore/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { loadEcsBaseJobTemplate } from './base-job-template.js';
import { ecsLaunchTypeToken } from './launch-type.js';
import { ecsLauncherPlugin } from './plugin.js';

// ------------------------------------------------------------------------------------------------ helpers

/** Polls `check` until it returns a truthy value or the timeout passes (the kernel tests' `waitFor`). */
async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const POOL = 'ecs-pool';
const FINAL_TYPES = new Set(['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED']);

/** Points the SDK's default chain at `aws` (what the worker's clients are built from) until the test's cleanup. */
function pointSdkAt(aws: AwsEmulator): void {
  const restore = pointAwsSdkAt(aws);
  cleanups.push(async () => restore());
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

interface Emulators {
  prefect: PrefectEmulator;
  aws: AwsEmulator;
}

async function emulators(awsOptions: AwsEmulatorOptions = {}): Promise<Emulators> {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  const aws = await startAwsEmulator({ region: 'us-east-1', ...awsOptions });
  cleanups.push(() => aws.stop());
  pointSdkAt(aws);
  return { prefect, aws };
}

type Worker = TestKernel & { handle: ReturnType<TestKernel['start']> };

/**
 * Activates `EC2` and `FARGATE_SPOT` with the reference's shaping only (what ecs-launcher does inline), so these
 * tests cover the reference's behaviour; the capacity plugins' own additions are tested in their packages.
 */
const referenceLaunchTypes = definePlugin({
  id: 'test-reference-launch-types',
  kernel: '^0.1.0',
  register(r) {
    for (const name of ['EC2', 'FARGATE_SPOT'])
      r.contribute(ecsLaunchTypeToken, { create: () => ({ name, packageName: 'test' }) });
  },
});

/** Starts the real worker (kernel + ecs-launcher) with fast intervals. */
function startWorker(
  prefect: PrefectEmulator,
  config: Record<string, unknown> = {},
  plugins = [ecsLauncherPlugin, referenceLaunchTypes],
): Worker {
  const kernel = createTestKernel({
    plugins,
    apiUrl: prefect.url,
    pool: POOL,
    config: {
      querySeconds: 0.1,
      trackerPollSeconds: 0.1,
      cancellationPollSeconds: 0.1,
      cancellationGraceSeconds: 0.2,
      crashGraceSeconds: 0,
      plugins: { 'ecs-launcher': { observer: { pollSeconds: 0.1 } } },
      ...config,
    },
    overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
  });
  const handle = kernel.start();
  cleanups.push(() => handle.stop());
  return Object.assign(kernel, { handle });
}

/** The container env that makes the simulated engine end the run with `outcome`. */
function sim(outcome: string, runMs = 50): Record<string, string> {
  return { STEVEDORE_SIM_OUTCOME: outcome, STEVEDORE_SIM_RUN_MS: String(runMs) };
}

function seedDeployment(
  prefect: PrefectEmulator,
  jobVariables: JsonObject,
  name = 'nightly',
): { flowId: string; deploymentId: string } {
  const flow = prefect.seedFlow({ name: `etl-${name}` });
  const deployment = prefect.seedDeployment({
    flow_id: flow.id,
    name,
    work_pool_name: POOL,
    job_variables: jobVariables,
  });
  return { flowId: flow.id, deploymentId: deployment.id };
}

function seedRuns(
  prefect: PrefectEmulator,
  d: { flowId: string; deploymentId: string },
  count: number,
  jobVariables: JsonObject = {},
): FlowRunJson[] {
  return Array.from({ length: count }, () =>
    prefect.seedFlowRun({ flow_id: d.flowId, deployment_id: d.deploymentId, job_variables: jobVariables }),
  );
}

async function finalState(prefect: PrefectEmulator, id: string, timeoutMs = 10_000): Promise<StateJson> {
  return waitFor(
    () => {
      const state = prefect.getFlowRun(id)?.state;
      return state && FINAL_TYPES.has(state.type) ? state : undefined;
    },
    timeoutMs,
    `flow run ${id} to reach a final state`,
  );
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The set_state proposals for one run: the worker's (User-Agent `stevedore/…`) and the simulated engine's. */
function proposals(prefect: PrefectEmulator, flowRunId: string): { worker: string[]; engine: string[] } {
  const out = { worker: [] as string[], engine: [] as string[] };
  for (const r of prefect.requests) {
    if (r.method !== 'POST' || r.path !== `/flow_runs/${flowRunId}/set_state`) continue;
    const state = isObject(r.body) ? r.body.state : undefined;
    const label = isObject(state) ? `${String(state.type)}/${String(state.name)}` : '?';
    if ((r.headers['user-agent'] ?? '').startsWith('stevedore/')) out.worker.push(label);
    else out.engine.push(label);
  }
  return out;
}

/** The inputs of the recorded AWS requests of one operation (e.g. `RunTask`). */
function inputsOf(aws: AwsEmulator, operation: string): JsonObject[] {
  return aws.requests.filter((r) => r.operation === operation && r.input).map((r) => r.input as JsonObject);
}

function runLogs(prefect: PrefectEmulator, flowRunId: string): string[] {
  return prefect
    .logs()
    .filter((l) => l.flow_run_id === flowRunId)
    .map((l) => l.message);
}

function expectNoSchemaErrors({ prefect, aws }: Emulators): void {
  expect(prefect.schemaErrors()).toEqual([]);
  expect(aws.schemaErrors()).toEqual([]);
}

/** The default `ecs` base job template as the Prefect emulator stores it. */
function defaultTemplate(): JsonObject {
  return JSON.parse(JSON.stringify(loadEcsBaseJobTemplate())) as JsonObject;
}

/**
 * An EC2 pool's template: the default one with a bridge-mode, EC2-only task definition whose cpu and memory are
 * container-level, and `launch_type` EC2, `cluster`, `cpu` and `memory` defaults in the pool's variables.
 */
function ec2Template(cluster: string): JsonObject {
  const template = defaultTemplate();
  const jobConfiguration = template.job_configuration as JsonObject;
  jobConfiguration.task_definition = {
    containerDefinitions: [
      { image: '{{ image }}', name: '{{ container_name }}', cpu: '{{ cpu }}', memory: '{{ memory }}' },
    ],
    family: '{{ family }}',
    executionRoleArn: '{{ execution_role_arn }}',
    networkMode: 'bridge',
    requiresCompatibilities: ['EC2'],
  };
  const properties = (template.variables as JsonObject).properties as JsonObject;
  const setDefault = (name: string, value: JsonValue) => {
    (properties[name] as JsonObject).default = value;
  };
  setDefault('launch_type', 'EC2');
  setDefault('cluster', cluster);
  setDefault('cpu', 512);
  setDefault('memory', 1024);
  return template;
}

// ------------------------------------------------------------------------------------------------- tests

describe('task definitions: registered once, reused', () => {
  it('registers once for 50 runs of a pool the worker created, and reuses it after a worker restart', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    const first = startWorker(prefect);
    const pool = await waitFor(
      () => {
        const p = prefect.getWorkPool(POOL);
        return p && Object.keys(p.base_job_template).length > 0 ? p : undefined;
      },
      5000,
      'the worker to create the pool',
    );
    expect(pool.type).toBe('ecs');
    expect(pool.base_job_template).toEqual(defaultTemplate());

    const d = seedDeployment(prefect, { env: sim('complete', 20) });
    const runs = seedRuns(prefect, d, 50);
    const states = await Promise.all(runs.map((r) => finalState(prefect, r.id, 30_000)));
    // The message of any run that did not complete, so a rare failure under load says why.
    expect(states.map((s) => (s.type === 'COMPLETED' ? s.type : `${s.type}: ${s.message}`))).toEqual(
      runs.map(() => 'COMPLETED'),
    );
    expect(aws.callCounts()['ecs:RegisterTaskDefinition']).toBe(1);
    expect(aws.ecs.tasks()).toHaveLength(50);
    const [definition] = aws.ecs.taskDefinitions();
    expect(aws.ecs.taskDefinitions()).toHaveLength(1);
    expect(new Set(aws.ecs.tasks().map((t) => t.taskDefinitionArn))).toEqual(
      new Set([definition?.taskDefinitionArn]),
    );

    // A new worker process: its in-memory cache is empty, the latest revision of the family carries our hash tag.
    await first.handle.stop();
    startWorker(prefect);
    const more = seedRuns(prefect, d, 5);
    const moreStates = await Promise.all(more.map((r) => finalState(prefect, r.id, 15_000)));
    expect(moreStates.map((s) => s.type)).toEqual(more.map(() => 'COMPLETED'));
    expect(aws.callCounts()['ecs:RegisterTaskDefinition']).toBe(1);
    expect(aws.ecs.taskDefinitions()).toHaveLength(1);
    expect(aws.ecs.tasks()).toHaveLength(55);
    expect(new Set(aws.ecs.tasks().map((t) => t.taskDefinitionArn)).size).toBe(1);
    expectNoSchemaErrors(env);
  });

  it('registers exactly once for 20 simultaneous runs of one deployment', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { env: sim('complete', 20) });
    const runs = seedRuns(prefect, d, 20);
    // A slow registration, so every submission is in flight while the first one registers.
    aws.faults.setLatency(300, 'RegisterTaskDefinition');
    startWorker(prefect);
    const states = await Promise.all(runs.map((r) => finalState(prefect, r.id, 20_000)));
    expect(states.map((s) => s.type)).toEqual(runs.map(() => 'COMPLETED'));
    expect(aws.callCounts()['ecs:RegisterTaskDefinition']).toBe(1);
    expect(aws.ecs.tasks()).toHaveLength(20);
    expect(new Set(aws.ecs.tasks().map((t) => t.taskDefinitionArn)).size).toBe(1);
    // They were simultaneous: every run was claimed (Pending) before the registration answered.
    const registration = aws.requests.find((r) => r.operation === 'RegisterTaskDefinition');
    const registeredAt = (registration?.startedAt ?? 0) + (registration?.durationMs ?? 0);
    const claims = prefect.requests.filter(
      (r) =>
        r.route === '/flow_runs/{id}/set_state' &&
        isObject(r.body) &&
        isObject(r.body.state) &&
        r.body.state.name === 'Pending',
    );
    expect(claims).toHaveLength(20);
    expect(claims.every((c) => c.startedAt < registeredAt)).toBe(true);
    expectNoSchemaErrors(env);
  });

  it('deregisters an auto_deregister_task_definition revision only once no tracked run uses it', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { auto_deregister_task_definition: true });
    // Different run times: prefect-aws would deregister when the first task stops, under the others.
    const runs = [50, 400, 800].map((ms) =>
      prefect.seedFlowRun({
        flow_id: d.flowId,
        deployment_id: d.deploymentId,
        job_variables: { env: sim('complete', ms) },
      }),
    );
    aws.faults.setLatency(200, 'RegisterTaskDefinition');
    startWorker(prefect);
    const states = await Promise.all(runs.map((r) => finalState(prefect, r.id, 20_000)));
    expect(states.map((s) => s.type)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
    await waitFor(() => aws.callCounts()['ecs:DeregisterTaskDefinition'] === 1, 5000, 'the deregistration');
    expect(aws.callCounts()['ecs:RegisterTaskDefinition']).toBe(1);
    const deregistered = aws.requests.find((r) => r.operation === 'DeregisterTaskDefinition');
    // Not before the last run using it finished (running tasks keep running after a deregistration anyway).
    const lastFinal = Math.max(...states.map((st) => Date.parse(String(st.timestamp))));
    expect(Number.isFinite(lastFinal)).toBe(true);
    expect(deregistered?.startedAt ?? 0).toBeGreaterThanOrEqual(lastFinal);
    expect(aws.ecs.taskDefinitions().map((t) => t.status)).toEqual(['INACTIVE']);
    expectNoSchemaErrors(env);
  });

  it('reuses an equal latest revision registered by someone else only with match_latest_revision_in_family', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const matching = seedDeployment(
      prefect,
      { match_latest_revision_in_family: true, env: sim('complete') },
      'a',
    );
    const plain = seedDeployment(prefect, { env: sim('complete') }, 'b');
    const ecs = new ECSClient(awsClientConfig(aws));
    cleanups.push(async () => ecs.destroy());
    // Exactly what the worker prepares for these deployments (spec §2.4 A), registered without our hash tag; ECS
    // describes it back with its own defaults (essential, cpu 0, empty lists), which the comparison ignores (B).
    for (const d of [matching, plain]) {
      await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: `prefect_${POOL}_${d.deploymentId}`,
          containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }],
          cpu: '1024',
          memory: '2048',
          requiresCompatibilities: ['FARGATE'],
          networkMode: 'awsvpc',
        }),
      );
    }
    aws.clearRequests();
    const [a] = seedRuns(prefect, matching, 1);
    const [b] = seedRuns(prefect, plain, 1);
    startWorker(prefect);
    expect((await finalState(prefect, a!.id)).type).toBe('COMPLETED');
    expect((await finalState(prefect, b!.id)).type).toBe('COMPLETED');
    const taskDefinitionOf = (deploymentId: string) =>
      inputsOf(aws, 'RunTask').find((r) => JSON.stringify(r).includes(deploymentId))?.taskDefinition;
    // Spec §2.4 B: reused when equal, with the flag…
    expect(taskDefinitionOf(matching.deploymentId)).toMatch(
      new RegExp(`prefect_${POOL}_${matching.deploymentId}:1$`),
    );
    // …and registered anew without it: we only reuse, unasked, what carries our own hash tag (README).
    expect(taskDefinitionOf(plain.deploymentId)).toMatch(
      new RegExp(`prefect_${POOL}_${plain.deploymentId}:2$`),
    );
    expect(inputsOf(aws, 'RegisterTaskDefinition').map((r) => r.family)).toEqual([
      `prefect_${POOL}_${plain.deploymentId}`,
    ]);
    expectNoSchemaErrors(env);
  });

  it('uses task_definition_arn as given: registers nothing and logs the job variables it ignores', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    const ecs = new ECSClient(awsClientConfig(aws));
    cleanups.push(async () => ecs.destroy());
    const { taskDefinition } = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'etl-preregistered',
        containerDefinitions: [{ name: 'prefect', image: 'acme/etl:1.0' }],
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '512',
        memory: '1024',
      }),
    );
    const arn = taskDefinition?.taskDefinitionArn ?? '';
    expect(arn).toMatch(/:task-definition\/etl-preregistered:1$/);
    aws.clearRequests();

    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, {
      task_definition_arn: arn,
      image: 'acme/ignored:2',
      family: 'ignored-family',
      execution_role_arn: 'arn:aws:iam::123456789012:role/ignored',
      env: sim('complete'),
    });
    const [run] = seedRuns(prefect, d, 1);
    startWorker(prefect);
    expect((await finalState(prefect, run!.id)).type).toBe('COMPLETED');

    expect(aws.callCounts()['ecs:RegisterTaskDefinition'] ?? 0).toBe(0);
    expect(aws.ecs.taskDefinitions()).toHaveLength(1);
    expect(inputsOf(aws, 'RunTask').map((i) => i.taskDefinition)).toEqual([arn]);
    expect(aws.ecs.tasks()[0]?.taskDefinitionArn).toBe(arn);
    // Spec §2.4 A: the reference lists every placeholder of the task_definition template; we name the job
    // variables that were set and have no effect (README, "Where we differ").
    const warning = await waitFor(
      () =>
        runLogs(prefect, run!.id).find((m) =>
          m.startsWith('Skipping task definition construction since a task definition ARN is provided.'),
        ),
      5000,
      'the ignored-variables warning in the run logs',
    );
    expect(warning).toContain('ignored: image, execution_role_arn, family.');
    expectNoSchemaErrors(env);
  });

  it('shapes RegisterTaskDefinition and RunTask for EC2 from an EC2 pool template', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    const cluster = aws.ecs.seedCluster({
      name: 'ec2-cluster',
      capacityProviders: [],
      registeredContainerInstancesCount: 2,
    });
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: ec2Template('ec2-cluster') });
    const d = seedDeployment(prefect, { env: sim('complete') });
    const [run] = seedRuns(prefect, d, 1);
    startWorker(prefect);
    expect((await finalState(prefect, run!.id)).type).toBe('COMPLETED');

    // Spec §2.4 A.7: not FARGATE → container-level integer cpu/memory kept, nothing at task level, no
    // FARGATE compatibility added, networkMode as the template says.
    const [register] = inputsOf(aws, 'RegisterTaskDefinition');
    expect(register).toEqual({
      family: `prefect_${POOL}_${d.deploymentId}`,
      containerDefinitions: [
        { name: 'prefect', image: 'prefecthq/prefect:3-latest', cpu: 512, memory: 1024 },
      ],
      networkMode: 'bridge',
      requiresCompatibilities: ['EC2'],
      tags: [{ key: 'stevedore.io/task-definition-hash', value: expect.stringMatching(/^[0-9a-f]{64}$/) }],
    });
    // Spec §2.4 D: launchType EC2 kept, the cluster from the job variable, no networkConfiguration (bridge).
    const [request] = inputsOf(aws, 'RunTask');
    expect(request).toMatchObject({
      cluster: 'ec2-cluster',
      launchType: 'EC2',
      taskDefinition: aws.ecs.taskDefinitions()[0]?.taskDefinitionArn,
      overrides: {
        containerOverrides: [
          { name: 'prefect', command: ['prefect', 'flow-run', 'execute'], cpu: 512, memory: 1024 },
        ],
        cpu: '512',
        memory: '1024',
      },
    });
    expect(request).not.toHaveProperty('networkConfiguration');
    expect(request).not.toHaveProperty('capacityProviderStrategy');
    const [task] = aws.ecs.tasks('ec2-cluster');
    expect(task).toMatchObject({ launchType: 'EC2', clusterArn: cluster.clusterArn });
    expect(prefect.getFlowRun(run!.id)?.infrastructure_pid).toBe(`ec2-cluster::${task?.taskArn}`);
    expectNoSchemaErrors(env);
  });

  it('with ecs-launcher alone, an EC2 run crashes naming the plugin to add, before anything is registered', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    aws.ecs.seedCluster({ name: 'ec2-cluster', capacityProviders: [], registeredContainerInstancesCount: 2 });
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: ec2Template('ec2-cluster') });
    const d = seedDeployment(prefect, { env: sim('complete') });
    const [run] = seedRuns(prefect, d, 1);
    startWorker(prefect, {}, [ecsLauncherPlugin]);
    const state = await finalState(prefect, run!.id);
    expect(state.type).toBe('CRASHED');
    expect(state.message).toContain("No launch type 'EC2'. Active: FARGATE. Add @stevedore/ec2-capacity.");
    expect(inputsOf(aws, 'RegisterTaskDefinition')).toEqual([]);
    expect(inputsOf(aws, 'RunTask')).toEqual([]);
  });
});

describe('network', () => {
  it('infers the awsvpc network from the default VPC: all its subnets, a public IP, no security groups', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { env: sim('complete') });
    const [run] = seedRuns(prefect, d, 1);
    startWorker(prefect);
    expect((await finalState(prefect, run!.id)).type).toBe('COMPLETED');
    const vpc = aws.ec2.defaultVpcId();
    const subnets = aws.ec2.subnets(vpc ?? undefined).map((s) => s.SubnetId);
    expect(subnets.length).toBeGreaterThan(1);
    expect(inputsOf(aws, 'DescribeVpcs')[0]).toMatchObject({
      'Filter.1.Name': 'isDefault',
      'Filter.1.Value.1': 'true',
    });
    expect(inputsOf(aws, 'DescribeSubnets')[0]).toMatchObject({
      'Filter.1.Name': 'vpc-id',
      'Filter.1.Value.1': vpc,
    });
    const [request] = inputsOf(aws, 'RunTask');
    expect(request?.networkConfiguration).toEqual({
      awsvpcConfiguration: { subnets, assignPublicIp: 'ENABLED', securityGroups: [] },
    });
    expectNoSchemaErrors(env);
  });

  it('crashes the run with a reason naming the field when the network cannot be settled', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const defaultSubnet = aws.ec2.subnets(aws.ec2.defaultVpcId() ?? undefined)[0]?.SubnetId ?? '';
    const emptyVpc = aws.ec2.seedVpc({}).VpcId;
    const otherVpc = aws.ec2.seedVpc({}).VpcId;
    aws.ec2.seedSubnet({ vpcId: otherVpc });
    aws.ec2.removeDefaultVpc();
    const cases = {
      noDefaultVpc: { env: sim('complete') },
      vpcWithoutSubnets: { vpc_id: emptyVpc, env: sim('complete') },
      unknownVpc: { vpc_id: 'vpc-0123456789abcdef0', env: sim('complete') },
      customWithoutVpc: {
        network_configuration: { subnets: [defaultSubnet], assignPublicIp: 'DISABLED' },
        env: sim('complete'),
      },
      customNotInVpc: {
        vpc_id: otherVpc,
        network_configuration: { subnets: [defaultSubnet], assignPublicIp: 'DISABLED' },
        env: sim('complete'),
      },
    } satisfies Record<string, JsonObject>;
    const runs = Object.entries(cases).map(([name, jv]) => {
      const [run] = seedRuns(prefect, seedDeployment(prefect, jv, name), 1);
      return [name, run!.id] as const;
    });
    startWorker(prefect);
    const messages: Record<string, string> = {};
    for (const [name, id] of runs) {
      const state = await finalState(prefect, id);
      expect(state.type, name).toBe('CRASHED');
      messages[name] = state.message ?? '';
    }
    const prefix = 'Failed to submit flow run to infrastructure: EcsError: ';
    // Spec §2.4 D.5, _load_network_configuration.
    expect(messages.noDefaultVpc).toBe(
      `${prefix}Failed to find the default VPC. Network configuration cannot be inferred. Pass an explicit \`vpc_id\` or configure a default VPC.`,
    );
    expect(messages.vpcWithoutSubnets).toContain(
      `${prefix}Failed to find subnets for VPC with ID ${emptyVpc}. Network configuration cannot be inferred.`,
    );
    expect(messages.vpcWithoutSubnets).toContain('vpc_id');
    expect(messages.unknownVpc).toContain(
      `${prefix}Failed to find VPC with ID vpc-0123456789abcdef0. Network configuration cannot be inferred.`,
    );
    expect(messages.unknownVpc).toContain('vpc_id');
    // Spec §2.3 validator 6.
    expect(messages.customWithoutVpc).toContain(`${prefix}Invalid ECS job configuration`);
    expect(messages.customWithoutVpc).toMatch(/vpc_id: .*network_configuration/);
    // Spec §2.4 D.5, _custom_network_configuration step 3.
    expect(messages.customNotInVpc).toContain(
      `${prefix}Subnets ["${defaultSubnet}"] not found within VPC with ID ${otherVpc}.`,
    );
    expect(messages.customNotInVpc).toContain('network_configuration.subnets');
    expect(aws.callCounts()['ecs:RunTask'] ?? 0).toBe(0);
    expectNoSchemaErrors(env);
  });
});

describe('run outcomes', () => {
  it('leaves the final state to the engine: Completed, with the worker proposing only Pending states', async () => {
    const env = await emulators();
    const { prefect } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { env: sim('complete') });
    const [run] = seedRuns(prefect, d, 1);
    startWorker(prefect);
    const state = await finalState(prefect, run!.id);
    expect(state.type).toBe('COMPLETED');
    const { worker, engine } = proposals(prefect, run!.id);
    expect(worker[0]).toBe('PENDING/Pending');
    expect(worker.every((p) => p.startsWith('PENDING/'))).toBe(true);
    expect(engine).toEqual(['RUNNING/Running', 'COMPLETED/Completed']);
    expectNoSchemaErrors(env);
  });

  it('crashes runs whose container died without a final state, with the diagnosis and the reference message', async () => {
    const env = await emulators();
    const { prefect } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, {
      configure_cloudwatch_logs: true,
      execution_role_arn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
    });
    const run = (outcome: string) => seedRuns(prefect, d, 1, { env: sim(outcome) })[0]?.id ?? '';
    const crash = run('crash');
    const exit0 = run('exit0-no-state');
    const failToStart = run('fail-to-start');
    startWorker(prefect);

    const crashed = await finalState(prefect, crash);
    expect(crashed.type).toBe('CRASHED');
    // Spec §3.4 (b) 4.
    expect(crashed.message).toBe("The following containers stopped with a non-zero exit code: ['prefect']");
    await waitFor(
      () => runLogs(prefect, crash).some((m) => m.includes('RuntimeError: simulated crash')),
      5000,
      'the crashed container’s CloudWatch log tail in the run logs',
    );
    const logs = runLogs(prefect, crash);
    // Spec §3.4 (b) 3, diagnosis 3.
    expect(logs).toContainEqual(
      expect.stringMatching(/^Essential container exited: Container 'prefect' exited with code 1\./),
    );

    const noState = await finalState(prefect, exit0);
    expect(noState.type).toBe('CRASHED');
    // Where we differ (README): the reference leaves an exit-0 run without a final state Running forever.
    expect(noState.message).toContain(
      'Flow run infrastructure exited with status code 0, but the flow run never reported a final state.',
    );

    const notStarted = await finalState(prefect, failToStart);
    expect(notStarted.type).toBe('CRASHED');
    // Spec §3.4 (b) 4, the TaskFailedToStart message.
    expect(notStarted.message).toMatch(
      /^ECS task failed to start: ResourceInitializationError: .+\. The capacity provider could not place the task\.$/,
    );
    expect(runLogs(prefect, failToStart)).toContainEqual(
      expect.stringMatching(/^ECS task failed to start: ResourceInitializationError/),
    );
    for (const id of [crash, exit0, failToStart]) {
      expect(proposals(prefect, id).worker.every((p) => /^(PENDING|CRASHED)\//.test(p))).toBe(true);
    }
    expectNoSchemaErrors(env);
  });

  it('stops the task of a run cancelled while running and marks it Cancelled', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { env: sim('hang', 600_000) });
    const [run] = seedRuns(prefect, d, 1);
    startWorker(prefect);
    await waitFor(() => prefect.getFlowRun(run!.id)?.state?.type === 'RUNNING', 5000, 'Running');
    prefect.setFlowRunState(run!.id, { type: 'CANCELLING', name: 'Cancelling' }, { force: true });
    const state = await finalState(prefect, run!.id);
    expect(state.type).toBe('CANCELLED');
    expect(aws.callCounts()['ecs:StopTask']).toBe(1);
    const [task] = aws.ecs.tasks();
    const stopped = await aws.ecs.waitForTask(task?.taskArn ?? '', 'STOPPED', 5000);
    expect(stopped).toMatchObject({ stopCode: 'UserInitiated', stoppedReason: 'Stopped by Prefect worker' });
    expect(proposals(prefect, run!.id).worker.every((p) => /^(PENDING|CANCELLED)\//.test(p))).toBe(true);
    expectNoSchemaErrors(env);
  });

  it('starts one task when the RunTask response is lost and the SDK retries (clientToken)', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { env: sim('complete') });
    const [run] = seedRuns(prefect, d, 1);
    const lost = aws.faults.loseResponse('RunTask', 1);
    startWorker(prefect);
    expect((await finalState(prefect, run!.id)).type).toBe('COMPLETED');
    expect(lost.hits()).toBe(1);
    const attempts = aws.requests.filter((r) => r.operation === 'RunTask');
    expect(attempts).toHaveLength(2);
    expect(attempts[0]?.responseLost).toBe(true);
    const tokens = attempts.map((r) => r.input?.clientToken);
    expect(tokens[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(tokens[1]).toBe(tokens[0]);
    expect(aws.ecs.tasks()).toHaveLength(1);
    expect(prefect.getFlowRun(run!.id)?.infrastructure_pid).toContain(aws.ecs.tasks()[0]?.taskArn ?? '?');
    expectNoSchemaErrors(env);
  });

  it('reports InfrastructurePending while the task provisions', async () => {
    const env = await emulators({ durations: { provisioningMs: 600, pendingMs: 600, activatingMs: 100 } });
    const { prefect } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { env: sim('complete') });
    const [run] = seedRuns(prefect, d, 1);
    startWorker(prefect);
    expect((await finalState(prefect, run!.id)).type).toBe('COMPLETED');
    const history = prefect.stateHistory(run!.id).map((s) => `${s.type}/${s.name}`);
    const pending = history.indexOf('PENDING/InfrastructurePending');
    expect(pending).toBeGreaterThan(0);
    expect(pending).toBeLessThan(history.indexOf('RUNNING/Running'));
    const infrastructurePending = prefect.stateHistory(run!.id)[pending];
    expect(infrastructurePending?.message).toMatch(/^ECS task is (provisioning|pending)\.$/);
    expect(history.at(-1)).toBe('COMPLETED/Completed');
    expectNoSchemaErrors(env);
  });
});

describe('the golden job-variable sets against the AWS emulator', () => {
  it('registers and runs every set of golden/*.json to completion, with payloads AWS’s models accept', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    // What the sets name: an EC2 cluster with instances, the `prod` cluster, a custom VPC with its subnet and group.
    aws.ecs.seedCluster({ name: 'prod-ec2', capacityProviders: [], registeredContainerInstancesCount: 1 });
    aws.ecs.seedCluster({ name: 'prod' });
    aws.ec2.seedVpc({ vpcId: 'vpc-0c0ffee0c0ffee000' });
    aws.ec2.seedSubnet({ vpcId: 'vpc-0c0ffee0c0ffee000', subnetId: 'subnet-0ccc3333cccc3333c' });
    aws.ec2.seedSecurityGroup({
      vpcId: 'vpc-0c0ffee0c0ffee000',
      groupId: 'sg-0123456789abcdef0',
      groupName: 'prefect-tasks',
    });
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const dir = new URL('./golden/', import.meta.url);
    const runs = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => {
        const golden = JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as {
          jobVariables: { deployment: JsonObject; flowRun: JsonObject };
        };
        const { deployment, flowRun } = golden.jobVariables;
        const d = seedDeployment(prefect, deployment, f.replace(/\.json$/, ''));
        const runEnv = isObject(flowRun.env) ? flowRun.env : {};
        const [run] = seedRuns(prefect, d, 1, { ...flowRun, env: { ...runEnv, ...sim('complete') } });
        return [f, run!.id] as const;
      });
    expect(runs).toHaveLength(10);
    startWorker(prefect);
    for (const [file, id] of runs) {
      const state = await finalState(prefect, id);
      expect(`${file}: ${state.type} ${state.message ?? ''}`).toBe(`${file}: COMPLETED `);
    }
    expect(aws.requests.filter((r) => r.requestErrors.length > 0)).toEqual([]);
    expect(aws.ecs.tasks()).toHaveLength(10);
    expectNoSchemaErrors(env);
  });
});

describe('reconciliation with ECS', () => {
  it('a Running run whose worker died before the PATCH and whose task then stopped: the next worker finds the stopped task and crashes the run', async () => {
    const env = await emulators();
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { env: sim('crash', 200) });
    const patch = prefect.faults.add({ method: 'PATCH', path: '/flow_runs/{id}', response: { status: 500 } });
    const first = startWorker(prefect, { name: 'worker-a', heartbeatSeconds: 0.2 });
    const [run] = seedRuns(prefect, d, 1);
    if (!run) throw new Error('no run');
    await waitFor(() => patch.hits() > 0, 10_000, 'the failed infrastructure_pid PATCH');
    await first.handle.stop();
    // The engine started the run, then its container died: Running, no pid, nothing live.
    await waitFor(
      () => (aws.ecs.tasks()[0]?.lastStatus === 'STOPPED' ? true : undefined),
      10_000,
      'the task to stop',
    );
    patch.remove();
    expect(prefect.getFlowRun(run.id)?.state?.type).toBe('RUNNING');
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toBeFalsy();

    const second = startWorker(prefect, {
      name: 'worker-b',
      heartbeatSeconds: 0.2,
      reconcileSeconds: 0.2,
      reconcilePendingSeconds: 0,
      crashGraceSeconds: 0.5,
    });
    const state = await finalState(prefect, run.id, 15_000);
    expect(state.type).toBe('CRASHED');
    expect(inputsOf(aws, 'RunTask')).toHaveLength(1);
    expect(inputsOf(aws, 'RunTask')[0]).toMatchObject({ startedBy: `stevedore/${run.id}` });
    // Found by its startedBy in one ListTasks, without paging through the cluster's stopped tasks.
    const stoppedLists = inputsOf(aws, 'ListTasks').filter(
      (i) => (i as { desiredStatus?: string }).desiredStatus === 'STOPPED',
    );
    expect(stoppedLists.length).toBeGreaterThan(0);
    expect(stoppedLists.every((i) => (i as { startedBy?: string }).startedBy === `stevedore/${run.id}`)).toBe(
      true,
    );
    expect(second.records.some((r) => /its infrastructure_pid never reported/.test(r.message))).toBe(true);
    expectNoSchemaErrors(env);
  });

  it('a worker that dies between RunTask and the infrastructure_pid PATCH: the next finds the task by its tags, one task in all', async () => {
    // The task stays PENDING for 1.5 s, so the run is still Pending when the first worker is gone.
    const env = await emulators({ durations: { pendingMs: 1500 } });
    const { prefect, aws } = env;
    prefect.seedWorkPool({ name: POOL, type: 'ecs', base_job_template: defaultTemplate() });
    const d = seedDeployment(prefect, { env: sim('complete', 100) });
    const patch = prefect.faults.add({ method: 'PATCH', path: '/flow_runs/{id}', response: { status: 500 } });
    const first = startWorker(prefect, { name: 'worker-a', heartbeatSeconds: 0.2 });
    const [run] = seedRuns(prefect, d, 1);
    if (!run) throw new Error('no run');
    await waitFor(() => patch.hits() > 0, 10_000, 'the failed infrastructure_pid PATCH');
    await first.handle.stop();
    patch.remove();
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toBeFalsy();

    const second = startWorker(prefect, {
      name: 'worker-b',
      heartbeatSeconds: 0.2,
      reconcileSeconds: 0.2,
      reconcilePendingSeconds: 0,
    });
    const state = await finalState(prefect, run.id, 15_000);
    expect(state.type).toBe('COMPLETED');
    const tasks = aws.ecs.tasks();
    expect(tasks).toHaveLength(1);
    expect(inputsOf(aws, 'RunTask')).toHaveLength(1);
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toBe(
      `${tasks[0]?.clusterArn}::${tasks[0]?.taskArn}`,
    );
    expect(
      second.records.some((r) =>
        /found by its tags: its infrastructure_pid had never been reported/.test(r.message),
      ),
    ).toBe(true);
    expectNoSchemaErrors(env);
  });
});
