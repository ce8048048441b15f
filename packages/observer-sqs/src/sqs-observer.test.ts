import { readFileSync } from 'node:fs';
import { DescribeTasksCommand, ECSClient, ServerException, type Task } from '@aws-sdk/client-ecs';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SQSClient,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import {
  DescribeTasksObserver,
  type EcsTaskContextSource,
  ecsTaskEventId,
  toStateChange,
} from '@stevedore/ecs-launcher';
import {
  type Clock,
  createMemoryLogger,
  type EventEmitter,
  nullEventEmitter,
  type PrefectEvent,
  type TrackedInfrastructure,
} from '@stevedore/kernel';
import { RecordingSink } from '@stevedore/testkit/conformance';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type HandledBatch, SqsObserver, type SqsObserverOptions } from './sqs-observer.js';

// ----------------------------------------------------------------------------------------------- fixtures

const ACCOUNT = '111122223333';
const CLUSTER_NAME = 'my-cluster';
const CLUSTER_ARN = `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/${CLUSTER_NAME}`;
const QUEUE_URL = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/pool-a-ecs-events`;
const taskArn = (n: number) =>
  `arn:aws:ecs:us-east-1:${ACCOUNT}:task/${CLUSTER_NAME}/${n.toString(16).padStart(32, '0')}`;

/** The reference's sample event (a STOPPED task whose `prefect` container exited 1). */
const SAMPLE = JSON.parse(
  readFileSync(new URL('../../../reference/ecs-task-state-change-event.json', import.meta.url), 'utf8'),
) as { detail: Record<string, unknown> } & Record<string, unknown>;

function eventBody(
  n: number,
  lastStatus: string,
  version: number,
  detail: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    ...SAMPLE,
    id: `event-${n}-${version}`,
    detail: {
      ...SAMPLE.detail,
      taskArn: taskArn(n),
      clusterArn: CLUSTER_ARN,
      lastStatus,
      desiredStatus: lastStatus === 'STOPPED' ? 'STOPPED' : 'RUNNING',
      version,
      ...(lastStatus === 'STOPPED'
        ? {}
        : { stopCode: undefined, stoppedReason: undefined, stoppedAt: undefined }),
      ...detail,
    },
  });
}

let seq = 0;
function msg(body: string | undefined, receives = 1): Message {
  seq += 1;
  return {
    MessageId: `msg-${seq}`,
    ReceiptHandle: `rh-${seq}`,
    ...(body === undefined ? {} : { Body: body }),
    Attributes: { ApproximateReceiveCount: String(receives) },
  };
}

const sqs = new SQSClient({ region: 'us-east-1' });
const sqsMock = mockClient(sqs);
const ecs = new ECSClient({ region: 'us-east-1' });
const ecsMock = mockClient(ecs);

const containerNames: Record<string, string> = {};
const tasks: EcsTaskContextSource = {
  taskContext: (identifier) => ({ ecs, containerName: containerNames[identifier] }),
};

/** Tracked by the kernel with the cluster NAME, as a user who configured `cluster: my-cluster` gets. */
const trackedByName = (n: number): TrackedInfrastructure => ({
  identifier: `${CLUSTER_NAME}::${taskArn(n)}`,
  flowRunId: `run-${n}`,
  infrastructureType: 'ecs',
});

/** A clock whose sleeps only end when the test advances it. */
class ManualClock implements Clock {
  ms = Date.parse('2025-01-01T00:00:00Z');
  private timers: Array<{ at: number; resolve: () => void }> = [];
  readonly sleeps: number[] = [];
  now(): Date {
    return new Date(this.ms);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.ms + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((t) => t !== timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }
  get pending(): number {
    return this.timers.length;
  }
  async advance(ms: number): Promise<void> {
    const target = this.ms + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.ms = due.at;
      due.resolve();
      await flush();
    }
    this.ms = target;
    await flush();
  }
}

/** A clock whose sleeps end at once (after a macrotask), moving time forward. */
class FastClock implements Clock {
  ms = Date.parse('2025-01-01T00:00:00Z');
  readonly sleeps: number[] = [];
  now(): Date {
    return new Date(this.ms);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      setTimeout(() => {
        this.ms += ms;
        if (signal?.aborted) reject(signal.reason);
        else resolve();
      }, 1);
    });
  }
}

const flush = () => new Promise((r) => setImmediate(r));
const tick = (ms = 2) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await tick(5);
  }
}

function observer(options: Partial<SqsObserverOptions> = {}) {
  const logger = createMemoryLogger();
  const o = new SqsObserver({ sqs, tasks, pool: 'pool-a', logger, clock: new FastClock(), ...options });
  return { o, logger };
}

const signal = () => new AbortController().signal;

const notExist = () =>
  new QueueDoesNotExist({ message: 'The specified queue does not exist.', $metadata: {} });

/** Deletes succeed; answers with the ids. */
function deletesSucceed() {
  sqsMock.on(DeleteMessageBatchCommand).callsFake((input: { Entries?: Array<{ Id?: string }> }) => ({
    Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id })),
    Failed: [],
  }));
}

/** Receipt handles deleted, over all DeleteMessageBatch calls. */
const deletedHandles = () =>
  sqsMock
    .commandCalls(DeleteMessageBatchCommand)
    .flatMap((c) => (c.args[0].input.Entries ?? []).map((e) => e.ReceiptHandle));

beforeEach(() => {
  sqsMock.reset();
  ecsMock.reset();
  for (const k of Object.keys(containerNames)) delete containerNames[k];
  deletesSucceed();
});

// -------------------------------------------------------------------------------------------- messages

describe('SqsObserver messages', () => {
  it('declares itself as the event observer of ecs', () => {
    const { o } = observer();
    expect([o.name, o.kind, o.infrastructureType]).toEqual(['ecs-sqs-events', 'event', 'ecs']);
  });

  it('acknowledges and logs messages with no body, malformed JSON, other events and forged sources', async () => {
    const { o, logger } = observer();
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    const messages = [
      msg(undefined),
      msg('{not json'),
      msg('[1,2]'),
      msg(JSON.stringify({ Type: 'Notification', Message: eventBody(1, 'RUNNING', 3) })),
      msg(
        JSON.stringify({
          ...JSON.parse(eventBody(1, 'RUNNING', 3)),
          'detail-type': 'ECS Container Instance State Change',
        }),
      ),
      msg(JSON.stringify({ ...JSON.parse(eventBody(1, 'RUNNING', 3)), source: 'my.app' })),
      msg(
        JSON.stringify({
          source: 'aws.ecs',
          'detail-type': 'ECS Task State Change',
          detail: { taskArn: taskArn(1) },
        }),
      ),
      msg(JSON.stringify({ hello: 'world' })),
    ];
    const result = await o.handleMessages(sink, QUEUE_URL, messages, signal());
    expect(result.kept).toEqual([]);
    expect(result.deleted).toEqual(messages.map((m) => m.MessageId));
    expect(sink.changes).toEqual([]);
    // One batch delete for the whole receive.
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(1);
    expect(deletedHandles()).toEqual(messages.map((m) => m.ReceiptHandle));
    const ignored = logger.records.filter((r) => r.message.startsWith('Ignoring an SQS message'));
    expect(ignored.map((r) => r.level)).toEqual([
      'warn',
      'warn',
      'warn',
      'warn',
      'debug',
      'warn',
      'warn',
      'warn',
    ]);
    expect(ignored[0]?.message).toContain('no body');
    expect(ignored[1]?.message).toContain('not JSON');
    expect(ignored[3]?.message).toContain('SNS notification');
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
  });

  it('matches a tracked task by its ARN even when the identifier names the cluster, and reports toStateChange', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    const item = trackedByName(1);
    containerNames[item.identifier] = 'prefect';
    sink.items.push(item);
    const body = eventBody(1, 'STOPPED', 5);
    await o.handleMessages(sink, QUEUE_URL, [msg(body)], signal());
    const detail = JSON.parse(body).detail;
    expect(sink.changes).toEqual([
      toStateChange(detail, { identifier: item.identifier, containerName: 'prefect' }),
    ]);
    expect(sink.changes[0]).toMatchObject({
      identifier: item.identifier,
      status: 'stopped',
      exitCode: 1,
      stopCode: 'EssentialContainerExited',
      version: 5,
      crashMessage: "The following containers stopped with a non-zero exit code: ['prefect']",
    });
    expect(sink.changes[0]?.flowRunId).toBeUndefined();
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
  });

  it('reports exactly what the DescribeTasks poller reports for the same task state', async () => {
    // The same task, once as DescribeTasks answers (SDK Task, Dates), once as the event carries it (ISO strings).
    const body = eventBody(1, 'STOPPED', 5);
    const detail = JSON.parse(body).detail as Record<string, unknown>;
    const dateKeys = [
      'createdAt',
      'pullStartedAt',
      'pullStoppedAt',
      'startedAt',
      'stoppingAt',
      'stoppedAt',
      'executionStoppedAt',
    ];
    const task = Object.fromEntries(
      Object.entries(detail).map(([k, v]) => [
        k,
        dateKeys.includes(k) && typeof v === 'string' ? new Date(v) : v,
      ]),
    ) as Task;
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [task], failures: [] });
    const item = trackedByName(1);
    const polled = new RecordingSink();
    polled.items.push(item);
    await new DescribeTasksObserver(tasks).poll(polled, signal());

    const { o } = observer();
    const evented = new RecordingSink();
    evented.items.push(item);
    await o.handleMessages(evented, QUEUE_URL, [msg(body)], signal());
    expect(polled.changes).toHaveLength(1);
    expect(evented.changes).toEqual(polled.changes);
  });

  it('pending events carry the InfrastructurePending message, as the poller’s do', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    await o.handleMessages(
      sink,
      QUEUE_URL,
      [msg(eventBody(1, 'PROVISIONING', 1)), msg(eventBody(1, 'PENDING', 2))],
      signal(),
    );
    expect(sink.changes.map((c) => [c.status, c.providerStatus, c.pendingMessage])).toEqual([
      ['pending', 'PROVISIONING', 'ECS task is provisioning.'],
      ['pending', 'PENDING', 'ECS task is pending.'],
    ]);
  });

  it('treats a redelivered event as a no-op and still deletes it', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    const body = eventBody(1, 'RUNNING', 3);
    await o.handleMessages(sink, QUEUE_URL, [msg(body)], signal());
    const again = msg(body, 2);
    const result = await o.handleMessages(sink, QUEUE_URL, [again, msg(body)], signal());
    expect(sink.changes).toHaveLength(1);
    expect(result.deleted).toHaveLength(2);
  });

  it('never lets an older version override a newer one, across batches', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(1, 'STOPPED', 5))], signal());
    const late = msg(eventBody(1, 'RUNNING', 3));
    const result = await o.handleMessages(sink, QUEUE_URL, [late], signal());
    expect(sink.changes.map((c) => c.version)).toEqual([5]);
    expect(result.deleted).toEqual([late.MessageId]);
  });

  it('reports the events of one task in version order within a batch, without dropping the older one', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1), trackedByName(2));
    await o.handleMessages(
      sink,
      QUEUE_URL,
      [msg(eventBody(1, 'RUNNING', 3)), msg(eventBody(2, 'PENDING', 2)), msg(eventBody(1, 'PENDING', 2))],
      signal(),
    );
    expect(sink.changes.map((c) => [c.identifier.endsWith('1') ? 1 : 2, c.providerStatus])).toEqual([
      [1, 'PENDING'],
      [2, 'PENDING'],
      [1, 'RUNNING'],
    ]);
  });

  it('matches an untracked task by its flow-run tag: one DescribeTasks include TAGS per cluster and batch, cached', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    // The kernel tracks run-7 under an identifier this task ARN does not match (e.g. adopted after a restart).
    sink.items.push({
      identifier: 'other::arn:aws:ecs:us-east-1:1:task/other/x',
      flowRunId: 'run-7',
      infrastructureType: 'ecs',
    });
    ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks?: string[] }) => ({
      tasks: (input.tasks ?? []).map((arn) => ({
        taskArn: arn,
        tags:
          arn === taskArn(7)
            ? [{ key: 'prefect.io/flow-run-id', value: 'run-7' }]
            : [{ key: 'team', value: 'x' }],
      })),
      failures: [],
    }));
    const first = [
      msg(eventBody(7, 'PENDING', 2)),
      msg(eventBody(8, 'RUNNING', 3)),
      msg(eventBody(9, 'RUNNING', 3)),
    ];
    const result = await o.handleMessages(sink, QUEUE_URL, first, signal());
    const calls = ecsMock.commandCalls(DescribeTasksCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      cluster: CLUSTER_ARN,
      tasks: [taskArn(7), taskArn(8), taskArn(9)],
      include: ['TAGS'],
    });
    expect(sink.changes).toHaveLength(1);
    expect(sink.changes[0]).toMatchObject({
      identifier: `${CLUSTER_ARN}::${taskArn(7)}`,
      flowRunId: 'run-7',
      status: 'pending',
      pendingMessage: 'ECS task is pending.',
    });
    expect(result.deleted).toHaveLength(3); // tasks without the tag: acknowledged and ignored

    // Later events of the same tasks, tagged or not, never describe them again (negatives cached too).
    await o.handleMessages(
      sink,
      QUEUE_URL,
      [msg(eventBody(7, 'RUNNING', 3)), msg(eventBody(8, 'STOPPED', 5)), msg(eventBody(9, 'STOPPED', 5))],
      signal(),
    );
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(1);
    expect(sink.changes.map((c) => [c.flowRunId, c.status])).toEqual([
      ['run-7', 'pending'],
      ['run-7', 'running'],
    ]);
  });

  it('with events on: emits prefect.ecs.task.<status> for every flow-run task, tracked or not, tags looked up once', async () => {
    const emitted: PrefectEvent[] = [];
    const events: EventEmitter = { ...nullEventEmitter, enabled: true, emit: (e) => emitted.push(e) };
    const { o } = observer({ events });
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1)); // matched by identifier: no tag lookup needed to report, one for the event
    ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks?: string[] }) => ({
      tasks: (input.tasks ?? []).map((arn) => ({
        taskArn: arn,
        tags:
          arn === taskArn(3)
            ? [{ key: 'team', value: 'x' }]
            : [
                { key: 'prefect.io/flow-run-id', value: arn === taskArn(1) ? 'run-1' : 'run-2' },
                { key: 'prefect.io/worker-name', value: 'w' },
              ],
      })),
      failures: [],
    }));
    await o.handleMessages(
      sink,
      QUEUE_URL,
      [msg(eventBody(1, 'RUNNING', 3)), msg(eventBody(2, 'RUNNING', 3)), msg(eventBody(3, 'RUNNING', 3))],
      signal(),
    );
    await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(1, 'STOPPED', 5))], signal());
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(1);
    expect(
      emitted.map((e) => [e.event, e.resource['ecs.taskArn'], e.related?.[0]?.['prefect.resource.id']]),
    ).toEqual([
      ['prefect.ecs.task.running', taskArn(1), 'prefect.flow-run.run-1'],
      ['prefect.ecs.task.running', taskArn(2), 'prefect.flow-run.run-2'], // another worker's run: still replicated
      ['prefect.ecs.task.stopped', taskArn(1), 'prefect.flow-run.run-1'],
    ]);
    expect(emitted[0]?.id).toBe(ecsTaskEventId(taskArn(1), 'RUNNING'));
    expect(emitted[0]?.occurred).toBe(SAMPLE.time);
    expect(sink.changes.map((c) => c.status)).toEqual(['running', 'stopped']);
  });

  it('with events on: a task this process launched uses its launch tags, no DescribeTasks', async () => {
    const emitted: PrefectEvent[] = [];
    const events: EventEmitter = { ...nullEventEmitter, enabled: true, emit: (e) => emitted.push(e) };
    const launchTags = { 'prefect.io/flow-run-id': 'run-1', 'prefect.io/flow-run-name': 'otter' };
    const { o } = observer({ events, tasks: { taskContext: () => ({ ecs, tags: launchTags }) } });
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(1, 'RUNNING', 3))], signal());
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
    expect(emitted.map((e) => e.related?.[0])).toEqual([
      {
        'prefect.resource.id': 'prefect.flow-run.run-1',
        'prefect.resource.role': 'flow-run',
        'prefect.resource.name': 'otter',
      },
    ]);
  });

  it('with events off: no tag lookup for tracked tasks', async () => {
    const events: EventEmitter = { ...nullEventEmitter, emit: () => expect.unreachable() };
    const { o } = observer({ events });
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(1, 'RUNNING', 3))], signal());
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
    expect(sink.changes).toHaveLength(1);
  });

  it('caches tasks ECS no longer knows as not ours', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    ecsMock
      .on(DescribeTasksCommand)
      .resolves({ tasks: [], failures: [{ arn: taskArn(5), reason: 'MISSING' }] });
    await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(5, 'STOPPED', 5))], signal());
    await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(5, 'STOPPED', 6))], signal());
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(1);
    expect(sink.changes).toEqual([]);
    expect(deletedHandles()).toHaveLength(2);
  });

  it('an idle replica looks an untracked task up once, and deletes events of tasks of no pool of ours', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    ecsMock
      .on(DescribeTasksCommand)
      .resolves({ tasks: [{ taskArn: taskArn(1), tags: [{ key: 'team', value: 'x' }] }] });
    const result = await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(1, 'RUNNING', 3))], signal());
    await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(1, 'STOPPED', 5))], signal());
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(1);
    expect(result).toMatchObject({ deleted: ['msg-' + String(seq - 1)], released: [] });
    expect(deletedHandles()).toHaveLength(2);
    expect(sink.changes).toEqual([]);
  });

  it('leaves messages whose tag lookup failed on the queue, and looks them up again next time', async () => {
    const { o, logger } = observer();
    const sink = new RecordingSink();
    sink.items.push({ identifier: 'x::y', flowRunId: 'run-7', infrastructureType: 'ecs' });
    ecsMock
      .on(DescribeTasksCommand)
      .rejectsOnce(new ServerException({ message: 'boom', $metadata: {} }))
      .resolves({
        tasks: [{ taskArn: taskArn(7), tags: [{ key: 'prefect.io/flow-run-id', value: 'run-7' }] }],
      });
    const m = msg(eventBody(7, 'RUNNING', 3));
    const first = await o.handleMessages(sink, QUEUE_URL, [m], signal());
    expect(first).toEqual<HandledBatch>({ deleted: [], released: [], kept: [m.MessageId as string] });
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(logger.records.some((r) => r.level === 'warn' && r.message.includes('tags of ECS tasks'))).toBe(
      true,
    );
    const second = await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(7, 'RUNNING', 3), 2)], signal());
    expect(second.deleted).toHaveLength(1);
    expect(sink.changes.map((c) => c.flowRunId)).toEqual(['run-7']);
  });

  it('leaves a message whose handling failed (redelivered, then the DLQ) and deletes the others', async () => {
    const { o, logger } = observer();
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1), trackedByName(2));
    const report = sink.report.bind(sink);
    sink.report = (change) => {
      if (change.identifier.endsWith(taskArn(1))) throw new Error('sink down');
      report(change);
    };
    const bad = msg(eventBody(1, 'RUNNING', 3), 3);
    const good = msg(eventBody(2, 'RUNNING', 3));
    const result = await o.handleMessages(sink, QUEUE_URL, [bad, good], signal());
    expect(result).toEqual({ deleted: [good.MessageId], released: [], kept: [bad.MessageId] });
    expect(deletedHandles()).toEqual([good.ReceiptHandle]);
    const warn = logger.records.find((r) => r.message.startsWith('Failed to process an ECS task event'));
    expect(warn?.meta).toMatchObject({ receiveCount: '3', messageId: bad.MessageId });
    // Not recorded as seen: the redelivery is reported once the sink works again.
    sink.report = report;
    await o.handleMessages(sink, QUEUE_URL, [msg(eventBody(1, 'RUNNING', 3), 4)], signal());
    expect(sink.changes.map((c) => c.identifier)).toEqual([
      trackedByName(2).identifier,
      trackedByName(1).identifier,
    ]);
  });

  it('deletes a full receive of 10 in one batch call and keeps what the batch delete failed', async () => {
    const { o } = observer();
    const sink = new RecordingSink();
    sink.items.push(...Array.from({ length: 10 }, (_, i) => trackedByName(i + 1)));
    sqsMock.on(DeleteMessageBatchCommand).callsFake((input: { Entries?: Array<{ Id?: string }> }) => ({
      Successful: (input.Entries ?? []).slice(1).map((e) => ({ Id: e.Id })),
      Failed: [{ Id: input.Entries?.[0]?.Id, Code: 'ReceiptHandleIsInvalid', SenderFault: true }],
    }));
    const messages = Array.from({ length: 10 }, (_, i) => msg(eventBody(i + 1, 'RUNNING', 3)));
    const result = await o.handleMessages(sink, QUEUE_URL, messages, signal());
    const calls = sqsMock.commandCalls(DeleteMessageBatchCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input.Entries).toHaveLength(10);
    expect(new Set(calls[0]?.args[0].input.Entries?.map((e) => e.Id)).size).toBe(10);
    expect(result.kept).toEqual([messages[0]?.MessageId]);
    expect(result.deleted).toHaveLength(9);
  });

  it('extends the visibility of a slow batch every 240 s until handling ends', async () => {
    const clock = new ManualClock();
    const { o } = observer({ clock });
    const sink = new RecordingSink();
    sink.items.push({ identifier: 'x::y', flowRunId: 'run-7', infrastructureType: 'ecs' });
    sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    let answer: (v: { tasks: Task[] }) => void = () => {};
    ecsMock.on(DescribeTasksCommand).callsFake(
      () =>
        new Promise((r) => {
          answer = r;
        }),
    );
    const messages = [msg(eventBody(7, 'RUNNING', 3)), msg(eventBody(8, 'RUNNING', 3))];
    const handling = o.handleMessages(sink, QUEUE_URL, messages, signal());
    await until(() => ecsMock.commandCalls(DescribeTasksCommand).length === 1);
    await clock.advance(239_000);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand)).toHaveLength(0);
    await clock.advance(1_000);
    await until(() => sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).length === 1);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand)[0]?.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      Entries: messages.map((m, i) => ({
        Id: `m${i}`,
        ReceiptHandle: m.ReceiptHandle,
        VisibilityTimeout: 300,
      })),
    });
    await clock.advance(240_000);
    await until(() => sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).length === 2);
    answer({ tasks: [{ taskArn: taskArn(7), tags: [{ key: 'prefect.io/flow-run-id', value: 'run-7' }] }] });
    const result = await handling;
    expect(result.deleted).toHaveLength(2);
    expect(clock.pending).toBe(0); // the extender stopped with the handling
    await clock.advance(600_000);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand)).toHaveLength(2);
  });

  it('extends a shorter visibility timeout at 80 % of it, before it runs out', async () => {
    const clock = new ManualClock();
    const { o } = observer({ clock, visibilityTimeoutSeconds: 10 });
    const sink = new RecordingSink();
    sink.items.push({ identifier: 'x::y', flowRunId: 'run-7', infrastructureType: 'ecs' });
    sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
    let answer: (v: { tasks: Task[] }) => void = () => {};
    ecsMock.on(DescribeTasksCommand).callsFake(
      () =>
        new Promise((r) => {
          answer = r;
        }),
    );
    const handling = o.handleMessages(sink, QUEUE_URL, [msg(eventBody(7, 'RUNNING', 3))], signal());
    await until(() => ecsMock.commandCalls(DescribeTasksCommand).length === 1);
    await clock.advance(7_999);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand)).toHaveLength(0);
    await clock.advance(1);
    await until(() => sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).length === 1);
    expect(
      sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand)[0]?.args[0].input.Entries?.[0]
        ?.VisibilityTimeout,
    ).toBe(10);
    answer({ tasks: [] });
    await handling;
  });

  it('retries a failed visibility extension after 5 s', async () => {
    const clock = new ManualClock();
    const { o } = observer({ clock });
    const sink = new RecordingSink();
    sink.items.push({ identifier: 'x::y', flowRunId: 'run-7', infrastructureType: 'ecs' });
    sqsMock
      .on(ChangeMessageVisibilityBatchCommand)
      .rejectsOnce(
        new SQSServiceException({ name: 'InternalError', $fault: 'server', $metadata: {}, message: 'x' }),
      )
      .resolves({});
    let answer: (v: { tasks: Task[] }) => void = () => {};
    ecsMock.on(DescribeTasksCommand).callsFake(
      () =>
        new Promise((r) => {
          answer = r;
        }),
    );
    const handling = o.handleMessages(sink, QUEUE_URL, [msg(eventBody(7, 'RUNNING', 3))], signal());
    await until(() => ecsMock.commandCalls(DescribeTasksCommand).length === 1);
    await clock.advance(240_000);
    await until(() => sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).length === 1);
    await flush();
    await clock.advance(5_000);
    await until(() => sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).length === 2);
    answer({ tasks: [] });
    await handling;
  });
});

// -------------------------------------------------------------------------------------------- run loop

/** ReceiveMessage answers like a long poll: a short real wait, then the next prepared batch or nothing. */
function receiveBatches(batches: Message[][]) {
  sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
    await tick(2);
    return { Messages: batches.shift() ?? [] };
  });
}

async function runUntil(o: SqsObserver, sink: RecordingSink, pred: () => boolean): Promise<void> {
  const ac = new AbortController();
  const running = o.run(sink, ac.signal);
  try {
    await until(pred);
  } finally {
    ac.abort();
    await running;
  }
}

describe('SqsObserver queue resolution', () => {
  it('tries <pool>-ecs-events, then prefect-ecs-tasks-events, then <pool>-events, and says which and why', async () => {
    const { o, logger } = observer();
    sqsMock.on(GetQueueUrlCommand).rejects(notExist());
    sqsMock.on(GetQueueUrlCommand, { QueueName: 'pool-a-events' }).resolves({ QueueUrl: QUEUE_URL });
    receiveBatches([]);
    const sink = new RecordingSink();
    await runUntil(o, sink, () => sink.health.length > 0);
    expect(sqsMock.commandCalls(GetQueueUrlCommand).map((c) => c.args[0].input.QueueName)).toEqual([
      'pool-a-ecs-events',
      'prefect-ecs-tasks-events',
      'pool-a-events',
    ]);
    const line = logger.records.find(
      (r) => r.level === 'info' && r.message.startsWith('Consuming ECS task events'),
    );
    expect(line?.message).toContain("'pool-a-events'");
    expect(line?.message).toContain("prefect-aws's manual setup guide");
    expect(line?.message).toContain(
      "prefect-aws's default 'prefect-ecs-tasks-events' does not match the 'pool-a-ecs-events' its own deploy-events creates",
    );
    expect(sqsMock.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 20,
      VisibilityTimeout: 300,
      MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
    });
  });

  it('stops at the first queue found: the deploy name', async () => {
    const { o } = observer({ waitTimeSeconds: 1 });
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
    receiveBatches([]);
    const sink = new RecordingSink();
    await runUntil(o, sink, () => sink.health.length > 0);
    expect(sqsMock.commandCalls(GetQueueUrlCommand).map((c) => c.args[0].input.QueueName)).toEqual([
      'pool-a-ecs-events',
    ]);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.WaitTimeSeconds).toBe(1);
  });

  it('with queueName set, tries that queue only', async () => {
    const { o, logger } = observer({ queueName: 'custom', queueRegion: 'eu-west-1' });
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
    receiveBatches([]);
    const sink = new RecordingSink();
    await runUntil(o, sink, () => sink.health.length > 0);
    expect(sqsMock.commandCalls(GetQueueUrlCommand).map((c) => c.args[0].input.QueueName)).toEqual([
      'custom',
    ]);
    const line = logger.records.find((r) => r.message.startsWith('Consuming'));
    expect(line?.message).toContain("'custom' in region 'eu-west-1': the configured queueName");
  });

  it('without a queue: unhealthy with coverage none, one warning with the fix, a re-check every 5 minutes', async () => {
    const clock = new ManualClock();
    const { o, logger } = observer({ clock, cluster: 'prod' });
    sqsMock.on(GetQueueUrlCommand).rejects(notExist());
    receiveBatches([]);
    const sink = new RecordingSink();
    const ac = new AbortController();
    const running = o.run(sink, ac.signal);
    await until(() => sink.health.length === 1);
    expect(sink.health[0]).toMatchObject({ observer: 'ecs-sqs-events', healthy: false, coverage: 'none' });
    const warnings = logger.records.filter((r) => r.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain(
      "looked for 'pool-a-ecs-events', 'prefect-ecs-tasks-events', 'pool-a-events'",
    );
    expect(warnings[0]?.message).toContain('stevedore events deploy --pool "pool-a" --cluster prod');
    expect(warnings[0]?.message).toContain('DescribeTasks polling at full rate');
    expect(clock.sleeps).toEqual([300_000]);
    // Still missing at the next look: no second warning.
    await clock.advance(300_000);
    await until(() => sqsMock.commandCalls(GetQueueUrlCommand).length === 6);
    expect(logger.records.filter((r) => r.level === 'warn')).toHaveLength(1);
    // The queue appears: found at the next look, healthy with full coverage once a receive works.
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
    await clock.advance(300_000);
    await until(() => sink.health.length === 2);
    expect(sink.health[1]).toEqual({ observer: 'ecs-sqs-events', healthy: true, coverage: 'all' });
    ac.abort();
    await running;
  });

  it('reports other GetQueueUrl errors as unhealthy and retries with backoff', async () => {
    const { o, logger } = observer();
    sqsMock
      .on(GetQueueUrlCommand)
      .rejectsOnce(
        new SQSServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: {}, message: 'no' }),
      )
      .resolves({ QueueUrl: QUEUE_URL });
    receiveBatches([]);
    const sink = new RecordingSink();
    await runUntil(o, sink, () => sink.health.some((h) => h.healthy));
    expect(sink.health[0]).toMatchObject({ healthy: false, coverage: 'none' });
    expect(sink.health[0]?.reason).toContain('AccessDenied: no');
    expect(logger.records.find((r) => r.level === 'warn')?.message).toContain('sqs:GetQueueUrl');
  });
});

describe('SqsObserver health', () => {
  it('is healthy with coverage all while receives succeed, so the poller slows down', async () => {
    const { o } = observer();
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
    receiveBatches([]);
    const sink = new RecordingSink();
    await runUntil(o, sink, () => sqsMock.commandCalls(ReceiveMessageCommand).length >= 3);
    expect(sink.health).toEqual([{ observer: 'ecs-sqs-events', healthy: true, coverage: 'all' }]);
  });

  it('turns unhealthy after 3 failed receives in a row, and healthy again when they work', async () => {
    const clock = new FastClock();
    const { o, logger } = observer({ clock });
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
    const error = new SQSServiceException({
      name: 'InternalError',
      $fault: 'server',
      $metadata: {},
      message: 'down',
    });
    let n = 0;
    sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
      await tick(1);
      n += 1;
      if (n === 1 || (n >= 2 && n <= 4)) throw error;
      return { Messages: [] };
    });
    const sink = new RecordingSink();
    await runUntil(o, sink, () => sink.health.length >= 2);
    // n=1 fails; n=2..4 fail (4 in a row); the 3rd failure turns it unhealthy, n=5 recovers.
    expect(sink.health.map((h) => [h.healthy, h.coverage])).toEqual([
      [false, 'none'],
      [true, 'all'],
    ]);
    expect(sink.health[0]?.reason).toContain(
      "ReceiveMessage on SQS queue 'pool-a-ecs-events' failed 3 or more times in a row: InternalError: down",
    );
    expect(clock.sleeps.slice(0, 4)).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(logger.records.filter((r) => r.level === 'warn')).toHaveLength(1);
    expect(logger.records.some((r) => r.message.includes('works again'))).toBe(true);
  });

  it('a queue deleted while running: unhealthy, then looked for again', async () => {
    const clock = new ManualClock();
    const { o, logger } = observer({ clock });
    sqsMock.on(GetQueueUrlCommand).resolvesOnce({ QueueUrl: QUEUE_URL }).rejects(notExist());
    let n = 0;
    sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
      await tick(1);
      n += 1;
      if (n >= 2) throw notExist();
      return { Messages: [] };
    });
    const sink = new RecordingSink();
    const ac = new AbortController();
    const running = o.run(sink, ac.signal);
    await until(() => sink.health.length >= 3);
    expect(sink.health.slice(0, 2).map((h) => [h.healthy, h.coverage, h.reason])).toEqual([
      [true, 'all', undefined],
      [false, 'none', "SQS queue 'pool-a-ecs-events' no longer exists"],
    ]);
    expect(sink.health[2]).toMatchObject({ healthy: false, coverage: 'none' });
    expect(sink.health[2]?.reason).toContain('No SQS queue for ECS task events');
    expect(sqsMock.commandCalls(GetQueueUrlCommand).length).toBe(4);
    expect(logger.records.filter((r) => r.level === 'warn').map((r) => r.message)[0]).toContain(
      'no longer exists',
    );
    ac.abort();
    await running;
  });

  it('feeds received events to the sink and deletes them', async () => {
    const { o } = observer();
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
    const m = msg(eventBody(1, 'RUNNING', 3));
    receiveBatches([[m]]);
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    await runUntil(o, sink, () => deletedHandles().length === 1);
    expect(sink.changes.map((c) => c.status)).toEqual(['running']);
    expect(deletedHandles()).toEqual([m.ReceiptHandle]);
  });

  it('when disabled, makes no AWS call and resolves on abort', async () => {
    const { o } = observer({ enabled: false });
    const sink = new RecordingSink();
    const ac = new AbortController();
    const running = o.run(sink, ac.signal);
    await tick(20);
    ac.abort();
    await running;
    expect(sqsMock.calls()).toHaveLength(0);
    expect(sink.health).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------ several replicas

describe('SqsObserver several replicas', () => {
  /** Tasks 1–9 are flow runs of pool-a, 10–19 of pool-b, 20+ are not flow runs. */
  function tagsByTask() {
    ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks?: string[] }) => ({
      tasks: (input.tasks ?? []).map((arn) => {
        const n = Number.parseInt(arn.slice(arn.lastIndexOf('/') + 1), 16);
        const tags =
          n >= 20
            ? [{ key: 'team', value: 'x' }]
            : [
                { key: 'prefect.io/flow-run-id', value: `run-${n}` },
                { key: 'prefect.io/work-pool-name', value: n < 10 ? 'pool-a' : 'pool-b' },
              ];
        return { taskArn: arn, tags };
      }),
      failures: [],
    }));
  }

  /** Releases succeed; answers with the ids. */
  function releasesSucceed() {
    sqsMock
      .on(ChangeMessageVisibilityBatchCommand)
      .callsFake((input: { Entries?: Array<{ Id?: string }> }) => ({
        Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id })),
        Failed: [],
      }));
  }

  const releaseCalls = () =>
    sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).map((c) => c.args[0].input.Entries ?? []);

  const at = (m: Message, sentMs: number): Message => ({
    ...m,
    Attributes: { ...m.Attributes, SentTimestamp: String(sentMs) },
  });

  it("releases (visibility 0) an event of this pool's task another replica tracks; deletes other pools', untagged and tracked ones", async () => {
    tagsByTask();
    releasesSucceed();
    const clock = new FastClock();
    const { o } = observer({ clock });
    const sink = new RecordingSink();
    sink.items.push(trackedByName(1));
    const mine = at(msg(eventBody(1, 'STOPPED', 5)), clock.ms);
    const otherReplica = at(msg(eventBody(2, 'STOPPED', 5)), clock.ms);
    const otherPool = at(msg(eventBody(12, 'STOPPED', 5)), clock.ms);
    const notFlowRun = at(msg(eventBody(22, 'STOPPED', 5)), clock.ms);
    const result = await o.handleMessages(
      sink,
      QUEUE_URL,
      [mine, otherReplica, otherPool, notFlowRun],
      signal(),
    );
    expect(result).toEqual<HandledBatch>({
      deleted: [mine.MessageId, otherPool.MessageId, notFlowRun.MessageId].map(String),
      released: [String(otherReplica.MessageId)],
      kept: [],
    });
    expect(releaseCalls()).toEqual([
      [{ Id: 'm1', ReceiptHandle: otherReplica.ReceiptHandle, VisibilityTimeout: 0 }],
    ]);
    expect(deletedHandles()).toEqual([mine.ReceiptHandle, otherPool.ReceiptHandle, notFlowRun.ReceiptHandle]);
    expect(sink.changes.map((c) => [c.identifier, c.status])).toEqual([
      [trackedByName(1).identifier, 'stopped'],
    ]);
  });

  it('an idle replica (nothing tracked) releases events of its pool rather than dropping them', async () => {
    tagsByTask();
    releasesSucceed();
    const { o } = observer();
    const result = await o.handleMessages(
      new RecordingSink(),
      QUEUE_URL,
      [msg(eventBody(3, 'RUNNING', 3))],
      signal(),
    );
    expect(result.released).toHaveLength(1);
    expect(deletedHandles()).toEqual([]);
  });

  it("bounds releases by the receive count: deleted at the redrive policy's last receive before the DLQ (3 assumed)", async () => {
    tagsByTask();
    releasesSucceed();
    const clock = new FastClock();
    const { o, logger } = observer({ clock });
    const sink = new RecordingSink();
    const outcomes: HandledBatch[] = [];
    for (const receives of [1, 2, 3, 4]) {
      outcomes.push(
        await o.handleMessages(
          sink,
          QUEUE_URL,
          [at(msg(eventBody(4, 'RUNNING', 3), receives), clock.ms)],
          signal(),
        ),
      );
    }
    expect(
      outcomes.map((r) => (r.released.length > 0 ? 'release' : r.deleted.length > 0 ? 'delete' : 'keep')),
    ).toEqual(['release', 'release', 'delete', 'delete']);
    expect(logger.records.some((r) => r.message.includes('no replica took'))).toBe(true);
    // The first release makes the event visible at once; the second hides it 10 s (±20 %) so the receives left are
    // spread over time (a busy or restarting tracking replica still gets it).
    const [first, second] = releaseCalls().map((entries) => entries[0]?.VisibilityTimeout ?? -1);
    expect(first).toBe(0);
    expect(second).toBeGreaterThanOrEqual(8);
    expect(second).toBeLessThanOrEqual(12);
  });

  it('reads the queue’s maxReceiveCount; releaseMaxReceives bounds it further; no redrive policy → releaseMaxReceives', async () => {
    tagsByTask();
    releasesSucceed();
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
    const decide = async (redrive: string | undefined, options: Partial<SqsObserverOptions>) => {
      sqsMock
        .on(GetQueueAttributesCommand)
        .resolves({ Attributes: redrive ? { RedrivePolicy: redrive } : {} });
      const clock = new FastClock();
      const { o } = observer({ clock, ...options });
      // No SentTimestamp: the fast clock's skipped visibility extensions would age the events past the age bound.
      const batches = [1, 2, 3, 4, 5, 6].map((n) => [msg(eventBody(5, 'RUNNING', 3), n)]);
      const handles = batches.map((b) => b[0]?.ReceiptHandle);
      receiveBatches(batches);
      const before = deletedHandles().length;
      await runUntil(o, new RecordingSink(), () => deletedHandles().length > before);
      return { receivesBeforeDelete: handles.indexOf(deletedHandles()[before]) + 1, sleeps: clock.sleeps };
    };
    const dlq = 'arn:aws:sqs:us-east-1:111122223333:pool-a-ecs-events-dlq';
    expect(
      (await decide(JSON.stringify({ deadLetterTargetArn: dlq, maxReceiveCount: 4 }), {}))
        .receivesBeforeDelete,
    ).toBe(4);
    expect(
      (
        await decide(JSON.stringify({ deadLetterTargetArn: dlq, maxReceiveCount: 10 }), {
          releaseMaxReceives: 2,
        })
      ).receivesBeforeDelete,
    ).toBe(2);
    const noRedrive = await decide(undefined, {});
    expect(noRedrive.receivesBeforeDelete).toBe(5);
    // After each release, the next receive waits 0.5–1 s so a replica already waiting takes the event.
    // (The other sleeps are the visibility extensions' 240 s.)
    const pauses = noRedrive.sleeps.filter((ms) => ms !== 240_000);
    expect(pauses.length).toBeGreaterThanOrEqual(4);
    expect(pauses.every((ms) => ms >= 500 && ms <= 1000)).toBe(true);
    expect(sqsMock.commandCalls(GetQueueAttributesCommand)[0]?.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      AttributeNames: ['RedrivePolicy'],
    });
  });

  it('deletes an event of its pool older than releaseMaxAgeMs (by SentTimestamp)', async () => {
    tagsByTask();
    releasesSucceed();
    const clock = new FastClock();
    const { o } = observer({ clock, releaseMaxAgeMs: 30_000 });
    const young = at(msg(eventBody(6, 'RUNNING', 3)), clock.ms - 29_000);
    const old = at(msg(eventBody(7, 'RUNNING', 3)), clock.ms - 31_000);
    const result = await o.handleMessages(new RecordingSink(), QUEUE_URL, [young, old], signal());
    expect(result).toEqual<HandledBatch>({
      deleted: [String(old.MessageId)],
      released: [String(young.MessageId)],
      kept: [],
    });
  });

  it('keeps a message whose release failed (it comes back after the visibility timeout)', async () => {
    tagsByTask();
    sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: 'm0', Code: 'InternalError', SenderFault: false }],
    });
    const { o, logger } = observer();
    const m = msg(eventBody(8, 'RUNNING', 3));
    const result = await o.handleMessages(new RecordingSink(), QUEUE_URL, [m], signal());
    expect(result).toEqual<HandledBatch>({ deleted: [], released: [], kept: [String(m.MessageId)] });
    expect(
      logger.records.some((r) => r.level === 'warn' && r.message.startsWith('Could not release 1')),
    ).toBe(true);
  });
});
