import {
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DescribeTasksObserver, toStateChange } from '@stevedore/ecs-launcher';
import { createMemoryLogger } from '@stevedore/kernel';
import { type AwsEmulator, awsClientConfig, startAwsEmulator } from '@stevedore/testkit';
import { RecordingSink } from '@stevedore/testkit/conformance';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deployEventsInfrastructure } from './deploy.js';
import { deleteEventsInfrastructure } from './events-delete.js';
import { eventsStatus } from './events-status.js';
import { SqsObserver, type SqsObserverOptions } from './sqs-observer.js';

// End to end against the testkit emulator: RunTask → ECS task state changes → EventBridge rule (policy enforced) →
// SQS → SqsObserver → sink, with the resources `stevedore events deploy` creates.

let aws: AwsEmulator;
let ecs: ECSClient;
let sqs: SQSClient;
let events: EventBridgeClient;
let clusterArn: string;
const stops: Array<() => Promise<void>> = [];

beforeEach(async () => {
  aws = await startAwsEmulator({
    seed: 11,
    durations: { runMs: 50 },
    eventBridge: { enforceQueuePolicy: true, deliveryDelayMs: 50 },
  });
  const config = awsClientConfig(aws);
  ecs = new ECSClient(config);
  sqs = new SQSClient(config);
  events = new EventBridgeClient(config);
  const deployed = await deployEventsInfrastructure(
    { pool: 'pool-a', cluster: 'default' },
    { sqs, events, ecs },
  );
  expect(deployed.status).toBe('applied');
  clusterArn = deployed.plan.clusterArn;
});

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  expect(aws.schemaErrors()).toEqual([]);
  ecs.destroy();
  sqs.destroy();
  events.destroy();
  await aws.stop();
});

function start(sink: RecordingSink, options: Partial<SqsObserverOptions> = {}) {
  const logger = createMemoryLogger();
  const observer = new SqsObserver({
    sqs,
    tasks: { taskContext: () => ({ ecs }) },
    pool: 'pool-a',
    waitTimeSeconds: 1,
    logger,
    ...options,
  });
  const ac = new AbortController();
  const running = observer.run(sink, ac.signal);
  stops.push(async () => {
    ac.abort();
    await running;
  });
  return { observer, logger };
}

async function runTask(
  flowRunId: string,
  outcome = 'complete',
  moreTags: Array<{ key: string; value: string }> = [],
): Promise<string> {
  const def = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'prefect_pool-a',
      containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }],
      cpu: '256',
      memory: '512',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
    }),
  );
  const subnets = aws.ec2.subnets(aws.ec2.defaultVpcId() ?? undefined).map((s) => s.SubnetId);
  const out = await ecs.send(
    new RunTaskCommand({
      cluster: 'default',
      taskDefinition: def.taskDefinition?.taskDefinitionArn,
      launchType: 'FARGATE',
      networkConfiguration: { awsvpcConfiguration: { subnets, assignPublicIp: 'ENABLED' } },
      overrides: {
        containerOverrides: [
          { name: 'prefect', environment: [{ name: 'STEVEDORE_SIM_OUTCOME', value: outcome }] },
        ],
      },
      tags: [{ key: 'prefect.io/flow-run-id', value: flowRunId }, ...moreTags],
    }),
  );
  return out.tasks?.[0]?.taskArn ?? '';
}

async function until(pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SqsObserver against the AWS emulator', () => {
  it('reports pending, running and stopped, the stopped change equal to the DescribeTasks poller’s', async () => {
    const sink = new RecordingSink();
    start(sink);
    await until(() => sink.health.some((h) => h.healthy && h.coverage === 'all'));
    const taskArn = await runTask('run-1', 'crash');
    // Tracked with the cluster's name, as a worker configured with `cluster: default` tracks it.
    const identifier = `default::${taskArn}`;
    sink.items.push({ identifier, flowRunId: 'run-1', infrastructureType: 'ecs' });
    const stopped = await sink.waitFor((c) => c.identifier === identifier && c.status === 'stopped', 10_000);

    const mine = sink.changes.filter((c) => c.identifier === identifier);
    expect(mine.map((c) => c.providerStatus)).toEqual(
      aws.events
        .events()
        .filter((e) => e.detail.taskArn === taskArn)
        .map((e) => e.detail.lastStatus),
    );
    expect(mine[0]).toMatchObject({
      status: 'pending',
      providerStatus: 'PROVISIONING',
      pendingMessage: 'ECS task is provisioning.',
    });
    expect(mine.some((c) => c.status === 'running')).toBe(true);
    const versions = mine.map((c) => c.version ?? 0);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);

    // The same normalization as the DescribeTasks poller, field for field.
    const described = await ecs.send(new DescribeTasksCommand({ cluster: 'default', tasks: [taskArn] }));
    const task = described.tasks?.[0];
    if (!task) throw new Error('task not described');
    expect(stopped).toEqual(toStateChange(task, { identifier }));
    const polled = new RecordingSink();
    polled.items.push({ identifier, flowRunId: 'run-1', infrastructureType: 'ecs' });
    await new DescribeTasksObserver({ taskContext: () => ({ ecs }) }).poll(
      polled,
      new AbortController().signal,
    );
    expect(polled.changes).toEqual([stopped]);
    expect(stopped.exitCode).not.toBe(0);
    expect(stopped.crashMessage).toBeDefined();

    // Everything handled was deleted.
    await until(() => {
      const q = aws.sqs.queue('pool-a-ecs-events');
      return q !== undefined && aws.sqs.messages('pool-a-ecs-events').length === 0;
    });
  });

  it('matches a run tracked under another identifier by its flow-run tag, looking the tags up once', async () => {
    const sink = new RecordingSink();
    sink.items.push({
      identifier: 'elsewhere::arn:aws:ecs:us-east-1:1:task/x/y',
      flowRunId: 'run-2',
      infrastructureType: 'ecs',
    });
    start(sink);
    const taskArn = await runTask('run-2');
    const stopped = await sink.waitFor((c) => c.flowRunId === 'run-2' && c.status === 'stopped', 10_000);
    expect(stopped.identifier).toBe(`${clusterArn}::${taskArn}`);
    const tagLookups = aws.requests.filter(
      (r) => r.operation === 'DescribeTasks' && JSON.stringify(r.input ?? {}).includes('TAGS'),
    );
    expect(tagLookups).toHaveLength(1);
    // Another task, not tracked by anyone: ignored after one lookup.
    const other = await runTask('run-not-ours');
    await aws.ecs.waitForTask(other);
    await until(() => aws.sqs.messages('pool-a-ecs-events').length === 0);
    expect(sink.changes.filter((c) => c.identifier.endsWith(other))).toEqual([]);
  });

  it('is safe with duplicated and reordered deliveries', async () => {
    aws.sqs.injectDuplicate({ copies: 2 });
    aws.sqs.injectReorder({ count: 3, maxHoldMs: 300 });
    const sink = new RecordingSink();
    start(sink);
    const taskArn = await runTask('run-3');
    const identifier = `${clusterArn}::${taskArn}`;
    sink.items.push({ identifier, flowRunId: 'run-3', infrastructureType: 'ecs' });
    await sink.waitFor((c) => c.identifier === identifier && c.status === 'stopped', 10_000);
    await until(() => aws.sqs.messages('pool-a-ecs-events').length === 0);
    const versions = sink.changes.filter((c) => c.identifier === identifier).map((c) => c.version ?? 0);
    expect(new Set(versions).size).toBe(versions.length);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(versions.at(-1)).toBe(Math.max(...aws.events.events().map((e) => Number(e.detail.version))));
  });

  it('acknowledges malformed messages and moves failing ones to the DLQ after 3 receives', async () => {
    aws.sqs.sendRaw('pool-a-ecs-events', 'not json');
    aws.sqs.sendRaw('pool-a-ecs-events', '');
    const sink = new RecordingSink();
    sink.report = () => {
      throw new Error('the sink is broken');
    };
    const taskArn = await runTask('run-4');
    sink.items.push({
      identifier: `${clusterArn}::${taskArn}`,
      flowRunId: 'run-4',
      infrastructureType: 'ecs',
    });
    start(sink, { visibilityTimeoutSeconds: 1 });
    await aws.ecs.waitForTask(taskArn);
    await until(() => (aws.sqs.queue('pool-a-ecs-events-dlq')?.visible ?? 0) > 0, 20_000);
    await until(() => aws.sqs.messages('pool-a-ecs-events').length === 0, 20_000);
    const dlq = aws.sqs.messages('pool-a-ecs-events-dlq');
    expect(dlq.every((m) => m.body.includes(taskArn))).toBe(true);
    const status = await eventsStatus({ pool: 'pool-a', cluster: 'default' }, { sqs, events, ecs });
    expect(status.dlqDepth?.visible).toBe(dlq.length);
    expect(status.problems.some((p) => p.includes('dead-letter queue'))).toBe(true);
  }, 30_000);

  it('reports itself unhealthy when its queue is deleted, and finds nothing after events delete', async () => {
    const sink = new RecordingSink();
    start(sink);
    await until(() => sink.health.some((h) => h.healthy));
    const result = await deleteEventsInfrastructure({ pool: 'pool-a' }, { sqs, events, ecs });
    expect(result.deleted.map((d) => d.resource)).toEqual(['target', 'rule', 'queue', 'dlq']);
    await until(() => sink.health.some((h) => !h.healthy));
    expect(sink.health.at(-1)).toMatchObject({ healthy: false, coverage: 'none' });
  });

  it('two replicas on one queue: the one that does not track the run releases its events, the tracking one gets the stop', async () => {
    // Replica B tracks nothing and is alone on the queue at first: it receives the task's events and releases them.
    const sinkB = new RecordingSink();
    const b = start(sinkB);
    await until(() => sinkB.health.some((h) => h.healthy && h.coverage === 'all'));
    const taskArn = await runTask('run-9', 'crash', [{ key: 'prefect.io/work-pool-name', value: 'pool-a' }]);
    await until(() => b.logger.records.some((r) => r.message.startsWith('Releasing an ECS task event')));
    // Replica A, which launched the run, starts consuming only now: it still gets the task's stop from the queue.
    const sinkA = new RecordingSink();
    const identifier = `${clusterArn}::${taskArn}`;
    sinkA.items.push({ identifier, flowRunId: 'run-9', infrastructureType: 'ecs' });
    start(sinkA);
    const stopped = await sinkA.waitFor((c) => c.identifier === identifier && c.status === 'stopped', 10_000);
    expect(stopped.exitCode).not.toBe(0);
    expect(sinkB.changes).toEqual([]);
    // Every event was handled by A or, past the release bound, deleted by B: the queue empties, the DLQ stays empty.
    await until(() => aws.sqs.messages('pool-a-ecs-events').length === 0);
    expect(aws.sqs.messages('pool-a-ecs-events-dlq')).toEqual([]);
    expect(aws.callCounts()['sqs:ChangeMessageVisibilityBatch'] ?? 0).toBeGreaterThan(0);
  });
});
