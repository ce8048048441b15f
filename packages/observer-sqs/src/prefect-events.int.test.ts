/**
 * Acceptance of the Prefect events of a run's life, end to end: the real kernel with ecs-launcher and observer-sqs,
 * real AWS SDK clients over HTTP against the AWS emulator (ECS task lifecycle → EventBridge rule → SQS, deployed by
 * `deployEventsInfrastructure`), and the Prefect emulator in Prefect 3 mode recording `/events/in`.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DescribeTasksObserver, ecsLauncherPlugin, ecsTaskEventId } from '@stevedore/ecs-launcher';
import {
  type AwsEmulator,
  awsClientConfig,
  createTestKernel,
  type PrefectEmulator,
  type ReceivedEventJson,
  startAwsEmulator,
  startPrefectEmulator,
  waitFor,
} from '@stevedore/testkit';
import { RecordingSink } from '@stevedore/testkit/conformance';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deployEventsInfrastructure } from './deploy.js';
import { observerSqsPlugin } from './plugin.js';

const POOL = 'ecs-pool';
const ENV_KEYS = [
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_PROFILE',
  'AWS_EC2_METADATA_DISABLED',
] as const;
const saved = new Map<string, string | undefined>();
beforeAll(() => {
  for (const k of ENV_KEYS) saved.set(k, process.env[k]);
});
afterAll(() => {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** ECS's task lifecycle, in order (`lastStatus`). */
const LIFECYCLE = [
  'provisioning',
  'pending',
  'activating',
  'running',
  'deactivating',
  'stopping',
  'deprovisioning',
  'stopped',
];

async function setup(): Promise<{ prefect: PrefectEmulator; aws: AwsEmulator }> {
  const aws = await startAwsEmulator({
    region: 'us-east-1',
    seed: 5,
    durations: { runMs: 50 },
    eventBridge: { deliveryDelayMs: 20 },
  });
  cleanups.push(() => aws.stop());
  for (const k of ENV_KEYS) delete process.env[k];
  process.env.AWS_ENDPOINT_URL = aws.endpoint;
  process.env.AWS_REGION = aws.region;
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  const config = awsClientConfig(aws);
  const clients = {
    ecs: new ECSClient(config),
    sqs: new SQSClient(config),
    events: new EventBridgeClient(config),
  };
  const deployed = await deployEventsInfrastructure({ pool: POOL, cluster: 'default' }, clients);
  expect(deployed.status).toBe('applied');
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  return { prefect, aws };
}

describe('Prefect events of a run, end to end (ecs-launcher + observer-sqs, Prefect 3 emulator)', () => {
  it('emits the worker events and one prefect.ecs.task.* event per state change, with the resources of spec §3.4 (a)', async () => {
    const { prefect, aws } = await setup();
    const kernel = createTestKernel({
      plugins: [ecsLauncherPlugin, observerSqsPlugin],
      apiUrl: prefect.url,
      pool: POOL,
      config: {
        name: 'ECS_worker.1',
        querySeconds: 0.1,
        trackerPollSeconds: 0.1,
        crashGraceSeconds: 0,
        plugins: {
          'ecs-launcher': { observer: { pollSeconds: 0.1 } },
          'observer-sqs': { waitTimeSeconds: 1 },
        },
      },
      overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
    });
    const handle = kernel.start();
    cleanups.push(() => handle.stop());
    await waitFor(() => prefect.getWorkPool(POOL), 10_000, 'the pool');
    const flow = prefect.seedFlow({ name: 'etl' });
    const deployment = prefect.seedDeployment({
      flow_id: flow.id,
      name: 'nightly',
      work_pool_name: POOL,
      job_variables: { env: { STEVEDORE_SIM_OUTCOME: 'complete', STEVEDORE_SIM_RUN_MS: '50' } },
    });
    const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
    await waitFor(
      () => prefect.getFlowRun(run.id)?.state?.type === 'COMPLETED',
      15_000,
      'the run to complete',
    );
    await waitFor(
      () => prefect.events.list().find((e) => e.event === 'prefect.ecs.task.stopped'),
      15_000,
      'the stopped task event',
    );
    const pid = prefect.getFlowRun(run.id)?.infrastructure_pid ?? '';
    const [cluster = '', taskArn = ''] = pid.split('::');

    // The same STOPPED change seen again by a second DescribeTasks poller: the same event id, stored once.
    const second = new DescribeTasksObserver(
      { taskContext: () => ({ ecs: new ECSClient(awsClientConfig(aws)) }) },
      { events: kernel.events },
    );
    const sink = new RecordingSink();
    sink.items.push({ identifier: pid, flowRunId: run.id, infrastructureType: 'ecs' });
    await second.poll(sink, new AbortController().signal);
    await waitFor(() => kernel.events.stats().buffered === 0, 5000, 'the re-sent event');
    await handle.stop();

    const events = prefect.events.list();
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('prefect.worker.started');
    expect(names.at(-1)).toBe('prefect.worker.stopped');
    const submitted = names.indexOf('prefect.worker.submitted-flow-run');
    const executed = names.indexOf('prefect.worker.executed-flow-run');
    expect(submitted).toBeGreaterThan(0);
    expect(executed).toBeGreaterThan(submitted);

    const taskEvents = events.filter((e) => e.event.startsWith('prefect.ecs.task.'));
    const statuses = taskEvents.map((e) => e.event.slice('prefect.ecs.task.'.length));
    // One event per state change. Two observers send them, so they may arrive out of order; their `occurred`
    // (what the server orders by) follows the lifecycle, from launch to STOPPED.
    expect(new Set(statuses).size).toBe(statuses.length);
    expect(statuses.every((s) => LIFECYCLE.includes(s))).toBe(true);
    const byLifecycle = [...taskEvents].sort(
      (a, b) =>
        LIFECYCLE.indexOf(a.event.split('.').at(-1) ?? '') -
        LIFECYCLE.indexOf(b.event.split('.').at(-1) ?? ''),
    );
    // EventBridge's `time` has whole seconds; DescribeTasks' timestamps milliseconds.
    const times = byLifecycle.map((e) => Math.floor(Date.parse(e.occurred) / 1000));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(statuses).toContain('running');
    expect(byLifecycle.at(-1)?.event).toBe('prefect.ecs.task.stopped');
    expect(events.indexOf(taskEvents[0] as ReceivedEventJson)).toBeGreaterThan(submitted);
    for (const e of taskEvents) expect(e.id).toBe(ecsTaskEventId(taskArn, e.event.split('.').at(-1) ?? ''));
    expect(prefect.events.stats().duplicates).toBeGreaterThanOrEqual(1);

    const stopped = byLifecycle.at(-1);
    const pool = prefect.getWorkPool(POOL);
    expect(stopped?.resource).toEqual({
      'prefect.resource.id': `prefect.ecs.task.${taskArn.split('/').at(-1)}`,
      'ecs.taskArn': taskArn,
      'ecs.clusterArn': expect.stringContaining(`:cluster/${cluster.split('/').at(-1)}`),
      'ecs.taskDefinitionArn': expect.stringContaining(':task-definition/'),
    });
    expect(stopped?.related).toEqual([
      {
        'prefect.resource.id': `prefect.flow-run.${run.id}`,
        'prefect.resource.role': 'flow-run',
        'prefect.resource.name': run.name,
      },
      {
        'prefect.resource.id': `prefect.deployment.${deployment.id}`,
        'prefect.resource.role': 'deployment',
        'prefect.resource.name': 'nightly',
      },
      {
        'prefect.resource.id': `prefect.flow.${flow.id}`,
        'prefect.resource.role': 'flow',
        'prefect.resource.name': 'etl',
      },
      {
        'prefect.resource.id': `prefect.work-pool.${pool?.id}`,
        'prefect.resource.role': 'work-pool',
        'prefect.resource.name': POOL,
      },
      {
        'prefect.resource.id': 'prefect.worker.ecs.ecs-worker-1',
        'prefect.resource.role': 'worker',
        'prefect.resource.name': 'ECS_worker.1',
        'prefect.worker-type': 'ecs',
        'prefect.version': prefect.version,
      },
    ]);
    expect(kernel.events.stats()).toMatchObject({ dropped: 0, buffered: 0 });
    expect(prefect.schemaErrors()).toEqual([]);
    expect(aws.schemaErrors()).toEqual([]);
  });
});
