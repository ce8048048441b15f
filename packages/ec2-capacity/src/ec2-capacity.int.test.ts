/**
 * End to end: the real kernel with ecs-launcher + ec2-capacity (+ fargate-spot for the ladder), real AWS SDK clients
 * against the ECS emulator with simulated EC2 capacity, the Prefect emulator, and the emulator's engine.
 */
import { ecsLauncherPlugin, loadEcsBaseJobTemplate } from '@stevedore/ecs-launcher';
import { fargateSpotPlugin } from '@stevedore/fargate-spot';
import {
  type AwsEmulator,
  createTestKernel,
  type JsonObject,
  type PrefectEmulator,
  pointAwsSdkAt,
  startAwsEmulator,
  startPrefectEmulator,
} from '@stevedore/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { ec2CapacityPlugin } from './plugin.js';

const POOL = 'ec2-pool';
const CAPACITY =
  'Capacity is unavailable at this time. Please try again later or in a different availability zone';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** The default `ecs` template with an EC2-only, bridge-mode task definition asking for one GPU. */
function ec2Template(): JsonObject {
  const template = JSON.parse(JSON.stringify(loadEcsBaseJobTemplate())) as JsonObject;
  (template.job_configuration as JsonObject).task_definition = {
    containerDefinitions: [
      {
        image: '{{ image }}',
        name: '{{ container_name }}',
        cpu: '{{ cpu }}',
        memory: '{{ memory }}',
        resourceRequirements: [{ type: 'GPU', value: '1' }],
      },
    ],
    family: '{{ family }}',
    networkMode: 'bridge',
    requiresCompatibilities: ['EC2'],
  };
  return template;
}

async function setup(opts: {
  template?: JsonObject;
  jobVariables: Record<string, unknown>;
  ec2Capacity?: { cpu: number; memory: number };
  ecsLauncher?: Record<string, unknown>;
}) {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  cleanups.push(() => aws.stop());
  const restore = pointAwsSdkAt(aws);
  cleanups.push(async () => restore());
  aws.ecs.seedCluster({
    name: 'gpu',
    capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
    registeredContainerInstancesCount: 1,
    ...(opts.ec2Capacity ? { ec2Capacity: opts.ec2Capacity } : {}),
  });
  const flow = prefect.seedFlow({ name: 'train' });
  prefect.seedWorkPool({
    name: POOL,
    type: 'ecs',
    ...(opts.template ? { base_job_template: opts.template } : {}),
  });
  const deployment = prefect.seedDeployment({
    flow_id: flow.id,
    name: 'nightly',
    work_pool_name: POOL,
    job_variables: {
      cluster: 'gpu',
      env: { STEVEDORE_SIM_OUTCOME: 'complete', STEVEDORE_SIM_RUN_MS: '50' },
      ...opts.jobVariables,
    },
  });
  const kernel = createTestKernel({
    plugins: [ecsLauncherPlugin, fargateSpotPlugin, ec2CapacityPlugin],
    apiUrl: prefect.url,
    pool: POOL,
    config: {
      querySeconds: 0.1,
      trackerPollSeconds: 0.1,
      crashGraceSeconds: 0,
      plugins: {
        'ecs-launcher': { observer: { pollSeconds: 0.1 }, ...opts.ecsLauncher },
        'fargate-spot': { checkCluster: false },
        'ec2-capacity': {
          capacityRetries: 3,
          capacityRetryDelaySeconds: 0.3,
          capacityRetryMaxDelaySeconds: 1,
        },
      },
    },
    overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
  });
  const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
  const handle = kernel.start();
  cleanups.push(() => handle.stop());
  return { prefect, aws, kernel, run };
}

async function finalState(prefect: PrefectEmulator, id: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = prefect.getFlowRun(id)?.state;
    if (state && ['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED'].includes(state.type)) return state;
    if (Date.now() > deadline) throw new Error(`flow run ${id} did not finish`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function logged(prefect: PrefectEmulator, runId: string, pattern: RegExp): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (prefect.logs().some((l) => l.flow_run_id === runId && pattern.test(l.message))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const runTasks = (aws: AwsEmulator) =>
  aws.requests.filter((r) => r.operation === 'RunTask' && r.input).map((r) => r.input as JsonObject);

describe('ec2-capacity end to end', () => {
  it('bridge mode: no network configuration sent; the GPU requirement reaches the registered task definition', async () => {
    const { prefect, aws, run } = await setup({
      template: ec2Template(),
      jobVariables: { launch_type: 'EC2', cpu: 4096, memory: 16384 },
    });
    expect((await finalState(prefect, run.id)).type).toBe('COMPLETED');
    const definition = aws.ecs.taskDefinitions()[0]?.definition;
    expect(definition?.networkMode).toBe('bridge');
    expect(definition?.requiresCompatibilities).toEqual(['EC2']);
    expect((definition?.containerDefinitions as JsonObject[] | undefined)?.[0]).toMatchObject({
      cpu: 4096,
      memory: 16384,
      resourceRequirements: [{ type: 'GPU', value: '1' }],
    });
    const [request] = runTasks(aws);
    expect(request).toMatchObject({ launchType: 'EC2', cluster: 'gpu' });
    expect(request).not.toHaveProperty('networkConfiguration');
    expect(aws.schemaErrors()).toEqual([]);
  });

  it('RESOURCE:MEMORY → retried with backoff while the cluster scales out, then launched on EC2', async () => {
    const { prefect, aws, kernel, run } = await setup({
      template: ec2Template(),
      jobVariables: { launch_type: 'EC2', cpu: 1024, memory: 4096 },
      ec2Capacity: { cpu: 2048, memory: 2048 },
    });
    // The Auto Scaling group adds an instance once the first placement failed.
    const deadline = Date.now() + 10_000;
    while (runTasks(aws).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    aws.ecs.scaleOutEc2('gpu', { cpu: 4096, memory: 16384 });
    expect((await finalState(prefect, run.id)).type).toBe('COMPLETED');

    const requests = runTasks(aws);
    // One RunTask per attempt (the backoff replaces the reference's three quick attempts), each its own clientToken.
    expect(requests.length).toBe(2);
    expect(new Set(requests.map((r) => r.clientToken)).size).toBe(2);
    expect(aws.ecs.tasks('gpu')).toHaveLength(1);
    expect(
      await logged(
        prefect,
        run.id,
        /EC2 capacity is unavailable \(Failed to run ECS task: RESOURCE:MEMORY\); trying again in \d+ s while capacity scales out \(attempt 2 of 3\)/,
      ),
    ).toBe(true);
    expect(
      kernel.metrics.counter('stevedore_flow_runs_retried_total', '').get({ class: 'ec2-capacity' }),
    ).toBe(1);
    // The RESOURCE:MEMORY answer (failures with container-instance ARNs) is shaped as the ECS model says.
    expect(aws.schemaErrors()).toEqual([]);
  });

  it('EC2 capacity never comes → retried, then the next rung of the ladder (EC2 → FARGATE)', async () => {
    const template = JSON.parse(JSON.stringify(loadEcsBaseJobTemplate())) as JsonObject;
    (template.job_configuration as JsonObject).task_definition = {
      containerDefinitions: [{ image: '{{ image }}', name: '{{ container_name }}' }],
      cpu: '{{ cpu }}',
      memory: '{{ memory }}',
      family: '{{ family }}',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['EC2', 'FARGATE'],
    };
    const { prefect, aws, run } = await setup({
      template,
      // Both compatibilities, and task-level cpu/memory as Fargate needs.
      jobVariables: {
        launch_type: 'EC2',
        cpu: 1024,
        memory: 2048,
        stevedore_capacity_ladder: ['EC2', 'FARGATE'],
      },
      ec2Capacity: { cpu: 256, memory: 256 },
    });
    expect((await finalState(prefect, run.id)).type).toBe('COMPLETED');
    const requests = runTasks(aws);
    expect(requests.map((r) => r.launchType)).toEqual(['EC2', 'EC2', 'EC2', 'FARGATE']);
    // EC2 in awsvpc mode gets no public IP (ECS refuses one); Fargate gets the inferred network as it is.
    expect(requests[0]?.networkConfiguration).toEqual({
      awsvpcConfiguration: { subnets: expect.any(Array), securityGroups: [] },
    });
    expect(requests[3]?.networkConfiguration).toMatchObject({
      awsvpcConfiguration: { assignPublicIp: 'ENABLED' },
    });
    expect(new Set(requests.map((r) => r.clientToken)).size).toBe(4);
    expect(aws.ecs.tasks('gpu')).toMatchObject([{ launchType: 'FARGATE' }]);
    expect(
      await logged(prefect, run.id, /EC2 capacity is unavailable .*launching the task on FARGATE instead/),
    ).toBe(true);
  });

  it('the worker-level ladder FARGATE_SPOT → FARGATE → EC2 walks every rung at once on capacity failures', async () => {
    const { prefect, aws, run } = await setup({
      jobVariables: { launch_type: 'FARGATE_SPOT' },
      ecsLauncher: { capacityLadder: ['FARGATE_SPOT', 'FARGATE', 'EC2'] },
    });
    aws.ecs.injectRunTaskFailure({ reason: CAPACITY, capacityProvider: 'FARGATE_SPOT', times: 10 });
    aws.ecs.injectRunTaskFailure({ reason: CAPACITY, capacityProvider: 'FARGATE', times: 10 });
    expect((await finalState(prefect, run.id)).type).toBe('COMPLETED');
    // With a ladder, a classified capacity failure steps to the next rung at once (no three quick attempts).
    expect(runTasks(aws).map((r) => r.launchType ?? 'FARGATE_SPOT strategy')).toEqual([
      'FARGATE_SPOT strategy',
      'FARGATE',
      'EC2',
    ]);
    expect(aws.ecs.tasks('gpu')).toMatchObject([{ launchType: 'EC2' }]);
  });

  it('a ladder rung no active plugin provides is a clear error naming it; nothing is launched', async () => {
    const { prefect, aws, run } = await setup({
      jobVariables: { launch_type: 'FARGATE', stevedore_capacity_ladder: 'FARGATE, EXTERNAL' },
    });
    const state = await finalState(prefect, run.id);
    expect(state.type).toBe('CRASHED');
    expect(state.message).toContain("No launch type 'EXTERNAL'");
    expect(runTasks(aws)).toEqual([]);
  });

  it('a RunTask failure no launch type classifies is never walked down the ladder', async () => {
    const { prefect, aws, run } = await setup({
      template: ec2Template(),
      jobVariables: { launch_type: 'EC2', stevedore_capacity_ladder: ['EC2', 'FARGATE'] },
    });
    // AGENT: the container agent is disconnected — not capacity that scales out, and not a reason to leave EC2.
    aws.ecs.injectRunTaskFailure({ reason: 'AGENT', times: 10 });
    const state = await finalState(prefect, run.id);
    expect(state.type).toBe('CRASHED');
    expect(state.message).toContain('AGENT');
    // The reference's three attempts, all on EC2.
    expect(runTasks(aws).map((r) => r.launchType)).toEqual(['EC2', 'EC2', 'EC2']);
  });
});
