import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import type { Logger } from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { findStoppedTasks, listLiveTasks, newStoppedLookupState } from './live-tasks.js';

const ecsMock = mockClient(ECSClient);
const CLUSTER_ARN = 'arn:aws:ecs:us-east-1:111122223333:cluster/default';
const arn = (n: number) => `arn:aws:ecs:us-east-1:111122223333:task/default/task-${n}`;

const messages: string[] = [];
const logger: Logger = {
  debug: (m) => void messages.push(m),
  info: (m) => void messages.push(m),
  warn: (m) => void messages.push(m),
  error: (m) => void messages.push(m),
  child: () => logger,
};

/** Stopped task n: pool, run and creation time by the given table. */
function stoppedTasks(table: Record<number, { pool: string; run: string; createdAt?: number }>) {
  ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
    tasks: input.tasks.map((t) => {
      const n = Number(t.split('-').pop());
      const row = table[n];
      return {
        taskArn: t,
        clusterArn: CLUSTER_ARN,
        lastStatus: 'STOPPED',
        desiredStatus: 'STOPPED',
        ...(row?.createdAt !== undefined ? { createdAt: new Date(row.createdAt) } : {}),
        tags: row
          ? [
              { key: 'prefect.io/work-pool-name', value: row.pool },
              { key: 'prefect.io/flow-run-id', value: row.run },
            ]
          : [],
      };
    }),
    failures: [],
  }));
}

const scopes = () => [{ cluster: 'default', ecs: new ECSClient({ region: 'us-east-1' }) }];
const signal = () => new AbortController().signal;

beforeEach(() => {
  ecsMock.reset();
  messages.length = 0;
});

describe('findStoppedTasks', () => {
  it("lists STOPPED tasks and keeps the pool's (sanitized name) tasks of the requested runs, the latest per run", async () => {
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [arn(1), arn(2), arn(3), arn(4), arn(5)] });
    stoppedTasks({
      1: { pool: 'ecs-pool', run: 'run-a', createdAt: 1000 },
      2: { pool: 'other-pool', run: 'run-b' },
      3: { pool: 'ecs-pool', run: 'run-c' },
      4: { pool: 'ecs-pool', run: 'run-a', createdAt: 2000 },
      5: { pool: 'ecs-pool', run: 'run-a', createdAt: 1500 },
    });
    const found = await findStoppedTasks(scopes(), 'ecs pool', ['run-a', 'run-b'], {
      signal: signal(),
      logger,
      maxLookups: 0,
    });
    expect(found).toEqual([{ identifier: `${CLUSTER_ARN}::${arn(4)}`, flowRunId: 'run-a' }]);
    const list = ecsMock.commandCalls(ListTasksCommand)[0]?.args[0].input;
    expect(list).toMatchObject({ cluster: 'default', desiredStatus: 'STOPPED', maxResults: 100 });
    expect(ecsMock.commandCalls(DescribeTasksCommand)[0]?.args[0].input).toMatchObject({
      cluster: 'default',
      include: ['TAGS'],
    });
  });

  it('pages: stops once every requested run is found, and after maxPages pages', async () => {
    let page = 0;
    ecsMock.on(ListTasksCommand).callsFake(() => {
      page += 1;
      return { taskArns: [arn(page)], nextToken: `token-${page}` };
    });
    stoppedTasks({ 2: { pool: 'ecs-pool', run: 'run-a' }, 3: { pool: 'ecs-pool', run: 'run-b' } });
    const found = await findStoppedTasks(scopes(), 'ecs-pool', ['run-a', 'run-b'], {
      signal: signal(),
      logger,
      maxLookups: 0,
    });
    expect(found.map((f) => f.flowRunId).sort()).toEqual(['run-a', 'run-b']);
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(3);
    expect(ecsMock.commandCalls(ListTasksCommand)[1]?.args[0].input.nextToken).toBe('token-1');

    ecsMock.resetHistory();
    page = 10;
    const none = await findStoppedTasks(scopes(), 'ecs-pool', ['run-z'], {
      signal: signal(),
      logger,
      maxLookups: 0,
    });
    expect(none).toEqual([]);
    // 20 pages of 100 (2,000 stopped tasks) at most per cluster and call.
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(20);
    expect(messages.some((m) => /after 20 pages \(2000 tasks\)/.test(m))).toBe(true);
  });

  it('asks nothing for no runs, and skips a cluster that does not exist', async () => {
    expect(await findStoppedTasks(scopes(), 'ecs-pool', [], { signal: signal(), logger })).toEqual([]);
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(0);
    ecsMock
      .on(ListTasksCommand)
      .rejects(Object.assign(new Error('Cluster not found.'), { name: 'ClusterNotFoundException' }));
    expect(await findStoppedTasks(scopes(), 'ecs-pool', ['run-a'], { signal: signal(), logger })).toEqual([]);
    expect(messages).toEqual([]);
  });
  /** ListTasks: by `startedBy` → the tasks of that run (table below); without it → one page per call of `scan`. */
  function listTasks(byRun: Record<string, number[]>, scan: number[][] = []) {
    let page = 0;
    ecsMock.on(ListTasksCommand).callsFake((input: { startedBy?: string }) => {
      if (input.startedBy !== undefined) {
        const run = input.startedBy.replace(/^stevedore\//, '');
        return { taskArns: (byRun[run] ?? []).map(arn) };
      }
      const arns = (scan[page] ?? []).map(arn);
      page += 1;
      return { taskArns: arns, ...(page < scan.length ? { nextToken: `token-${page}` } : {}) };
    });
  }
  const startedByAsked = () =>
    ecsMock
      .commandCalls(ListTasksCommand)
      .map((c) => c.args[0].input.startedBy)
      .filter((s) => s !== undefined);

  it("looks each run up by its startedBy first, wherever ECS lists it, and pages only for runs it didn't find", async () => {
    // run-a's task is past the pages a scan would read (maxPages 1): found by startedBy all the same.
    listTasks({ 'run-a': [7] }, [[1], [7]]);
    stoppedTasks({ 1: { pool: 'ecs-pool', run: 'run-x' }, 7: { pool: 'ecs-pool', run: 'run-a' } });
    const found = await findStoppedTasks(scopes(), 'ecs-pool', ['run-a'], {
      signal: signal(),
      logger,
      maxPages: 1,
    });
    expect(found).toEqual([{ identifier: `${CLUSTER_ARN}::${arn(7)}`, flowRunId: 'run-a' }]);
    expect(ecsMock.commandCalls(ListTasksCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: 'default', startedBy: 'stevedore/run-a', desiredStatus: 'STOPPED', maxResults: 100 },
    ]);
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(1);

    // run-b was launched with the user's own startedBy: not found by ours, so the stopped tasks are paged.
    ecsMock.resetHistory();
    listTasks({ 'run-a': [7] }, [[1, 8]]);
    stoppedTasks({ 7: { pool: 'ecs-pool', run: 'run-a' }, 8: { pool: 'ecs-pool', run: 'run-b' } });
    const both = await findStoppedTasks(scopes(), 'ecs-pool', ['run-a', 'run-b'], {
      signal: signal(),
      logger,
    });
    expect(both.map((f) => f.flowRunId).sort()).toEqual(['run-a', 'run-b']);
    expect(startedByAsked()).toEqual(['stevedore/run-a', 'stevedore/run-b']);
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(3);
  });

  it('takes turns when there are more runs than look-ups, least recently looked up first', async () => {
    listTasks({});
    stoppedTasks({});
    const state = newStoppedLookupState();
    const ask = () =>
      findStoppedTasks(scopes(), 'ecs-pool', ['run-a', 'run-b', 'run-c'], {
        signal: signal(),
        logger,
        maxLookups: 2,
        state,
      });
    await ask();
    expect(startedByAsked()).toEqual(['stevedore/run-a', 'stevedore/run-b']);
    ecsMock.resetHistory();
    await ask();
    expect(startedByAsked()).toEqual(['stevedore/run-c', 'stevedore/run-a']);
    ecsMock.resetHistory();
    await ask();
    // b was asked a call before a and c; a and c tie, in the order given.
    expect(startedByAsked()).toEqual(['stevedore/run-b', 'stevedore/run-a']);
  });

  it('stops asking a cluster that refuses startedBy next to desiredStatus, and pages instead', async () => {
    ecsMock.on(ListTasksCommand).callsFake((input: { startedBy?: string }) => {
      if (input.startedBy !== undefined)
        throw Object.assign(new Error('startedBy must be the only filter.'), {
          name: 'InvalidParameterException',
        });
      return { taskArns: [arn(3)] };
    });
    stoppedTasks({ 3: { pool: 'ecs-pool', run: 'run-a' } });
    const state = newStoppedLookupState();
    const ask = () => findStoppedTasks(scopes(), 'ecs-pool', ['run-a'], { signal: signal(), logger, state });
    expect(await ask()).toEqual([{ identifier: `${CLUSTER_ARN}::${arn(3)}`, flowRunId: 'run-a' }]);
    expect(messages.some((m) => /does not filter stopped tasks by startedBy/.test(m))).toBe(true);
    ecsMock.resetHistory();
    expect(await ask()).toHaveLength(1);
    expect(startedByAsked()).toEqual([]);
  });
});

describe('listLiveTasks', () => {
  it('describes only the tasks the worker does not track, 100 per call across pages, and returns those', async () => {
    // 3 pages of 100 running tasks; the worker tracks all but tasks 5, 150 and 299.
    ecsMock.on(ListTasksCommand).callsFake((input: { nextToken?: string }) => {
      const page = input.nextToken ? Number(input.nextToken) : 0;
      return {
        taskArns: Array.from({ length: 100 }, (_, i) => arn(page * 100 + i)),
        ...(page < 2 ? { nextToken: String(page + 1) } : {}),
      };
    });
    ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
      tasks: input.tasks.map((t) => ({
        taskArn: t,
        clusterArn: CLUSTER_ARN,
        tags: [
          { key: 'prefect.io/work-pool-name', value: 'ecs-pool' },
          { key: 'prefect.io/flow-run-id', value: `run-${t.split('-').pop()}` },
        ],
      })),
      failures: [],
    }));
    const untracked = new Set([5, 150, 299]);
    const known = new Set(
      Array.from({ length: 300 }, (_, n) => n)
        .filter((n) => !untracked.has(n))
        .map(arn),
    );
    const live = await listLiveTasks(scopes(), 'ecs-pool', { signal: signal(), logger, known });
    expect(live.map((l) => l.flowRunId)).toEqual(['run-5', 'run-150', 'run-299']);
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(3);
    // One DescribeTasks for the three, after the last page (was one per page of 100 before).
    expect(ecsMock.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input.tasks)).toEqual([
      [arn(5), arn(150), arn(299)],
    ]);
  });
});
