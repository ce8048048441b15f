import {
  DescribeTasksCommand,
  ECSClient,
  ECSServiceException,
  ServerException,
  type Task,
} from '@aws-sdk/client-ecs';
import type { Clock, TrackedInfrastructure } from '@stevedore/kernel';
import { RecordingSink } from '@stevedore/testkit/conformance';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DESCRIBE_TASKS_CONCURRENCY,
  DescribeTasksObserver,
  MISSING_TASK_REASON,
} from './describe-tasks-observer.js';
import type { EcsTaskContext, EcsTaskContextSource } from './ecs-infrastructure.js';

const ACCOUNT = '111122223333';
const CLUSTER_A = `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/a`;
const CLUSTER_B = `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/b`;
const taskArn = (cluster: string, n: number) =>
  `arn:aws:ecs:us-east-1:${ACCOUNT}:task/${cluster.split('/').pop()}/${n.toString(16).padStart(32, '0')}`;
const identifier = (cluster: string, n: number) => `${cluster}::${taskArn(cluster, n)}`;
const tracked = (cluster: string, n: number, type = 'ecs'): TrackedInfrastructure => ({
  identifier: identifier(cluster, n),
  flowRunId: `run-${n}`,
  infrastructureType: type,
});

const defaultClient = new ECSClient({ region: 'us-east-1' });
const ecsMock = mockClient(defaultClient);

/** Every identifier → the default client, unless told otherwise. */
function contexts(overrides: Record<string, EcsTaskContext> = {}): EcsTaskContextSource {
  return { taskContext: (id) => overrides[id] ?? { ecs: defaultClient } };
}

/** Answers DescribeTasks with the given status for every requested task. */
function describeAs(status: (arn: string) => Partial<Task> | 'MISSING') {
  ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks?: string[] }) => {
    const tasks: Task[] = [];
    const failures: Array<{ arn: string; reason: string }> = [];
    for (const arn of input.tasks ?? []) {
      const s = status(arn);
      if (s === 'MISSING') failures.push({ arn, reason: 'MISSING' });
      else tasks.push({ taskArn: arn, ...s });
    }
    return { tasks, failures };
  });
}

const signal = () => new AbortController().signal;

beforeEach(() => {
  ecsMock.reset();
});

describe('DescribeTasksObserver', () => {
  it('declares itself as the polling observer of ecs', () => {
    const observer = new DescribeTasksObserver(contexts());
    expect([observer.name, observer.kind, observer.infrastructureType]).toEqual([
      'ecs-describe-tasks',
      'polling',
      'ecs',
    ]);
  });

  it('describes 250 tasks of one cluster in 3 calls of at most 100', async () => {
    describeAs(() => ({ lastStatus: 'RUNNING', version: 3 }));
    const sink = new RecordingSink();
    sink.items.push(...Array.from({ length: 250 }, (_, i) => tracked(CLUSTER_A, i)));
    await new DescribeTasksObserver(contexts()).poll(sink, signal());
    const calls = ecsMock.commandCalls(DescribeTasksCommand);
    expect(calls.map((c) => c.args[0].input.tasks?.length).sort()).toEqual([100, 100, 50]);
    expect(calls.every((c) => c.args[0].input.cluster === CLUSTER_A)).toBe(true);
    expect(sink.changes).toHaveLength(250);
    expect(sink.changes[0]).toMatchObject({ status: 'running', providerStatus: 'RUNNING', version: 3 });
  });

  it(`keeps at most ${DESCRIBE_TASKS_CONCURRENCY} DescribeTasks calls in flight, and still describes every task`, async () => {
    let inFlight = 0;
    let most = 0;
    ecsMock.on(DescribeTasksCommand).callsFake(async (input: { tasks?: string[] }) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight -= 1;
      return {
        tasks: (input.tasks ?? []).map((taskArn) => ({ taskArn, lastStatus: 'RUNNING', version: 1 })),
      };
    });
    const sink = new RecordingSink();
    sink.items.push(...Array.from({ length: 2_000 }, (_, i) => tracked(CLUSTER_A, i)));
    await new DescribeTasksObserver(contexts()).poll(sink, signal());
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(20);
    expect(most).toBe(DESCRIBE_TASKS_CONCURRENCY);
    expect(new Set(sink.changes.map((c) => c.identifier)).size).toBe(2_000);
  });

  it('makes separate calls per cluster and per AWS client', async () => {
    describeAs(() => ({ lastStatus: 'PENDING', version: 1 }));
    const other = new ECSClient({ region: 'eu-west-1' });
    const otherMock = mockClient(other);
    otherMock
      .on(DescribeTasksCommand)
      .resolves({ tasks: [{ taskArn: taskArn(CLUSTER_A, 9), lastStatus: 'RUNNING' }] });
    const sink = new RecordingSink();
    sink.items.push(
      tracked(CLUSTER_A, 1),
      tracked(CLUSTER_B, 2),
      tracked(CLUSTER_A, 3),
      tracked(CLUSTER_A, 9),
    );
    const observer = new DescribeTasksObserver(contexts({ [identifier(CLUSTER_A, 9)]: { ecs: other } }));
    await observer.poll(sink, signal());
    const calls = ecsMock.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls.find((c) => c.cluster === CLUSTER_A)?.tasks).toEqual([
      taskArn(CLUSTER_A, 1),
      taskArn(CLUSTER_A, 3),
    ]);
    expect(calls.find((c) => c.cluster === CLUSTER_B)?.tasks).toEqual([taskArn(CLUSTER_B, 2)]);
    expect(otherMock.commandCalls(DescribeTasksCommand)[0]?.args[0].input).toEqual({
      cluster: CLUSTER_A,
      tasks: [taskArn(CLUSTER_A, 9)],
      include: ['TAGS'],
    });
    expect(sink.changes.map((c) => [c.identifier, c.status, c.pendingMessage])).toEqual(
      expect.arrayContaining([
        [identifier(CLUSTER_A, 1), 'pending', 'ECS task is pending.'],
        [identifier(CLUSTER_B, 2), 'pending', 'ECS task is pending.'],
        [identifier(CLUSTER_A, 9), 'running', undefined],
      ]),
    );
    otherMock.restore();
  });

  it('reports a task only when its (lastStatus, version) changed, and again once re-tracked', async () => {
    let version = 1;
    let lastStatus = 'PROVISIONING';
    describeAs(() => ({ lastStatus, version }));
    const sink = new RecordingSink();
    sink.items.push(tracked(CLUSTER_A, 1));
    const observer = new DescribeTasksObserver(contexts());
    await observer.poll(sink, signal());
    await observer.poll(sink, signal());
    expect(sink.changes.map((c) => c.providerStatus)).toEqual(['PROVISIONING']);
    lastStatus = 'PENDING';
    version = 2;
    await observer.poll(sink, signal());
    expect(sink.changes.map((c) => c.providerStatus)).toEqual(['PROVISIONING', 'PENDING']);
    // No longer tracked: forgotten; tracked again: reported again.
    sink.items.length = 0;
    await observer.poll(sink, signal());
    sink.items.push(tracked(CLUSTER_A, 1));
    await observer.poll(sink, signal());
    expect(sink.changes.map((c) => c.providerStatus)).toEqual(['PROVISIONING', 'PENDING', 'PENDING']);
  });

  it('normalizes a stopped task with the orchestration container the launch named', async () => {
    describeAs(() => ({
      lastStatus: 'STOPPED',
      version: 6,
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      containers: [
        { name: 'sidecar', exitCode: 0 },
        { name: 'flow', exitCode: 1 },
      ],
    }));
    const sink = new RecordingSink();
    sink.items.push(tracked(CLUSTER_A, 1));
    const id = identifier(CLUSTER_A, 1);
    await new DescribeTasksObserver(contexts({ [id]: { ecs: defaultClient, containerName: 'flow' } })).poll(
      sink,
      signal(),
    );
    expect(sink.changes[0]).toMatchObject({
      identifier: id,
      status: 'stopped',
      exitCode: 1,
      stopCode: 'EssentialContainerExited',
      crashMessage: "The following containers stopped with a non-zero exit code: ['flow']",
    });
    expect(sink.changes[0]?.diagnosis?.summary).toBe('Essential container exited');
  });

  it('reports a MISSING task stopped only after it was missing twice in a row', async () => {
    let missing = true;
    describeAs(() => (missing ? 'MISSING' : { lastStatus: 'PENDING', version: 1 }));
    const sink = new RecordingSink();
    sink.items.push(tracked(CLUSTER_A, 1));
    const observer = new DescribeTasksObserver(contexts());
    await observer.poll(sink, signal()); // right after RunTask: eventual consistency
    expect(sink.changes).toEqual([]);
    missing = false;
    await observer.poll(sink, signal()); // found after all: the count starts again
    missing = true;
    await observer.poll(sink, signal());
    expect(sink.changes.map((c) => c.status)).toEqual(['pending']);
    await observer.poll(sink, signal());
    expect(sink.changes.at(-1)).toEqual({
      identifier: identifier(CLUSTER_A, 1),
      status: 'stopped',
      providerStatus: 'MISSING',
      exitCode: null,
      stopCode: null,
      stopReason: MISSING_TASK_REASON,
    });
    await observer.poll(sink, signal());
    expect(sink.changes).toHaveLength(2);
  });

  it('keeps a STOPPED report when ECS later forgets the task', async () => {
    let gone = false;
    describeAs(() =>
      gone
        ? 'MISSING'
        : { lastStatus: 'STOPPED', version: 9, containers: [{ name: 'prefect', exitCode: 0 }] },
    );
    const sink = new RecordingSink();
    sink.items.push(tracked(CLUSTER_A, 1));
    const observer = new DescribeTasksObserver(contexts());
    await observer.poll(sink, signal());
    gone = true;
    await observer.poll(sink, signal());
    await observer.poll(sink, signal());
    expect(sink.changes.map((c) => [c.status, c.exitCode])).toEqual([['stopped', 0]]);
  });

  it('reports itself unhealthy when a call is throttled, and healthy again after a good poll', async () => {
    ecsMock
      .on(DescribeTasksCommand)
      .rejectsOnce(
        // ECS models no ThrottlingException class: the SDK raises its service exception with that name.
        new ECSServiceException({
          name: 'ThrottlingException',
          $fault: 'client',
          message: 'Rate exceeded',
          $metadata: {},
        }),
      )
      .resolves({ tasks: [{ taskArn: taskArn(CLUSTER_A, 1), lastStatus: 'RUNNING', version: 2 }] });
    const sink = new RecordingSink();
    sink.items.push(tracked(CLUSTER_A, 1));
    const observer = new DescribeTasksObserver(contexts());
    await observer.poll(sink, signal());
    expect(sink.health).toEqual([
      {
        observer: 'ecs-describe-tasks',
        healthy: false,
        coverage: 'partial',
        reason: `DescribeTasks failed for cluster '${CLUSTER_A}': ThrottlingException: Rate exceeded`,
      },
    ]);
    expect(sink.changes).toEqual([]);
    await observer.poll(sink, signal());
    expect(sink.health.at(-1)).toEqual({ observer: 'ecs-describe-tasks', healthy: true, coverage: 'all' });
    expect(sink.changes.map((c) => c.status)).toEqual(['running']);
  });

  it('reports failures other than MISSING as partial coverage', async () => {
    ecsMock
      .on(DescribeTasksCommand)
      .resolves({ failures: [{ arn: taskArn(CLUSTER_A, 1), reason: 'ACCESS_DENIED' }] });
    const sink = new RecordingSink();
    sink.items.push(tracked(CLUSTER_A, 1));
    await new DescribeTasksObserver(contexts()).poll(sink, signal());
    expect(sink.health.at(-1)).toMatchObject({ healthy: false, coverage: 'partial' });
    expect(sink.health.at(-1)?.reason).toContain('ACCESS_DENIED');
  });

  it('skips identifiers of other infrastructure types and malformed identifiers', async () => {
    describeAs(() => ({ lastStatus: 'RUNNING', version: 1 }));
    const sink = new RecordingSink();
    sink.items.push(tracked(CLUSTER_A, 1, 'kubernetes'), {
      identifier: 'not-an-ecs-identifier',
      flowRunId: 'run-x',
      infrastructureType: 'ecs',
    });
    await new DescribeTasksObserver(contexts()).poll(sink, signal());
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
    expect(sink.changes).toEqual([]);
    expect(sink.health.at(-1)).toMatchObject({ healthy: true, coverage: 'all' });
  });

  it('polls at the sink’s interval (or the configured minimum) until aborted, and never rejects', async () => {
    ecsMock
      .on(DescribeTasksCommand)
      .rejectsOnce(new ServerException({ message: 'boom', $metadata: {} }))
      .resolves({ tasks: [] });
    const ac = new AbortController();
    const sleeps: number[] = [];
    const clock: Clock = {
      now: () => new Date(0),
      sleep: async (ms, s) => {
        sleeps.push(ms);
        if (sleeps.length >= 3) ac.abort();
        s?.throwIfAborted();
      },
    };
    const sink = new RecordingSink(25);
    sink.items.push(tracked(CLUSTER_A, 1));
    await new DescribeTasksObserver(contexts(), { clock, minPollIntervalMs: 40 }).run(sink, ac.signal);
    expect(sleeps).toEqual([40, 40, 40]);
    expect(sink.health.map((h) => h.healthy)).toEqual([false, true, true]);
    const fast = new RecordingSink(25);
    const ac2 = new AbortController();
    const fastSleeps: number[] = [];
    await new DescribeTasksObserver(contexts(), {
      clock: {
        now: () => new Date(0),
        sleep: async (ms, s) => {
          fastSleeps.push(ms);
          ac2.abort();
          s?.throwIfAborted();
        },
      },
    }).run(fast, ac2.signal);
    expect(fastSleeps).toEqual([25]);
  });
  it('polls at once when the kernel shortens the interval during a safety-net sleep', async () => {
    describeAs(() => ({ lastStatus: 'RUNNING', version: 1 }));
    const ac = new AbortController();
    const sleeps: number[] = [];
    let wake: (() => void) | undefined;
    // A clock whose sleeps end only when their signal aborts: a safety-net sleep that never ends on its own.
    const clock: Clock = {
      now: () => new Date(0),
      sleep: (ms, s) => {
        sleeps.push(ms);
        return new Promise((_, reject) =>
          s?.addEventListener('abort', () => reject(s.reason), { once: true }),
        );
      },
    };
    let interval = 120_000;
    const sink = Object.assign(new RecordingSink(), {
      pollIntervalMs: () => interval,
      pollIntervalShortened: (s: AbortSignal) =>
        new Promise<void>((resolve) => {
          wake = resolve;
          s.addEventListener('abort', () => resolve(), { once: true });
        }),
    });
    sink.items.push(tracked(CLUSTER_A, 1));
    const running = new DescribeTasksObserver(contexts(), { clock }).run(sink, ac.signal);
    await vi.waitFor(() => expect(sleeps).toEqual([120_000]));
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(1);
    interval = 1_000;
    wake?.();
    await vi.waitFor(() => expect(sleeps).toEqual([120_000, 1_000]));
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(2);
    ac.abort();
    await running;
  });
});
