import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import type { Logger } from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { findStoppedTasks } from './live-tasks.js';

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
    });
    expect(found).toEqual([{ identifier: `${CLUSTER_ARN}::${arn(4)}`, flowRunId: 'run-a' }]);
    const list = ecsMock.commandCalls(ListTasksCommand)[0]?.args[0].input;
    expect(list).toMatchObject({ cluster: 'default', desiredStatus: 'STOPPED', maxResults: 100 });
    expect(ecsMock.commandCalls(DescribeTasksCommand)[0]?.args[0].input).toMatchObject({
      cluster: 'default',
      include: ['TAGS'],
    });
  });

  it('stops paging once every requested run is found, and after maxPages pages', async () => {
    let page = 0;
    ecsMock.on(ListTasksCommand).callsFake(() => {
      page += 1;
      return { taskArns: [arn(page)], nextToken: `token-${page}` };
    });
    stoppedTasks({ 2: { pool: 'ecs-pool', run: 'run-a' }, 3: { pool: 'ecs-pool', run: 'run-b' } });
    const found = await findStoppedTasks(scopes(), 'ecs-pool', ['run-a', 'run-b'], {
      signal: signal(),
      logger,
    });
    expect(found.map((f) => f.flowRunId).sort()).toEqual(['run-a', 'run-b']);
    expect(ecsMock.commandCalls(ListTasksCommand)).toHaveLength(3);
    expect(ecsMock.commandCalls(ListTasksCommand)[1]?.args[0].input.nextToken).toBe('token-1');

    ecsMock.resetHistory();
    page = 10;
    const none = await findStoppedTasks(scopes(), 'ecs-pool', ['run-z'], { signal: signal(), logger });
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
});
