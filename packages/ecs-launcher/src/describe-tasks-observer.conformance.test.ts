import { DescribeTasksCommand, ECSClient, type Task } from '@aws-sdk/client-ecs';
import { describeObserverConformance } from '@stevedore/testkit/conformance';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeTasksObserver } from './describe-tasks-observer.js';

const CLUSTER = 'arn:aws:ecs:us-east-1:111122223333:cluster/default';

describeObserverConformance('DescribeTasksObserver', async () => {
  // A tiny in-memory ECS: launch() starts a RUNNING task, stop() stops it; DescribeTasks reads the table.
  const tasks = new Map<string, Task>();
  const ecs = new ECSClient({ region: 'us-east-1' });
  const mock = mockClient(ecs);
  mock.on(DescribeTasksCommand).callsFake((input: { tasks?: string[] }) => ({
    tasks: (input.tasks ?? []).flatMap((arn) => {
      const task = tasks.get(arn);
      return task ? [task] : [];
    }),
    failures: (input.tasks ?? []).filter((arn) => !tasks.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
  }));
  let n = 0;
  return {
    observer: new DescribeTasksObserver({ taskContext: () => ({ ecs }) }),
    timeoutMs: 2_000,
    async launch() {
      n += 1;
      const taskArn = `arn:aws:ecs:us-east-1:111122223333:task/default/${n.toString().padStart(32, '0')}`;
      tasks.set(taskArn, { taskArn, lastStatus: 'RUNNING', version: 2, containers: [{ name: 'prefect' }] });
      return { identifier: `${CLUSTER}::${taskArn}`, flowRunId: `run-${n}`, infrastructureType: 'ecs' };
    },
    async stop(identifier) {
      const taskArn = identifier.slice(identifier.indexOf('::') + 2);
      const task = tasks.get(taskArn);
      if (task) {
        tasks.set(taskArn, {
          ...task,
          lastStatus: 'STOPPED',
          version: 4,
          stopCode: 'UserInitiated',
          containers: [{ name: 'prefect', exitCode: 143 }],
        });
      }
    },
    async cleanup() {
      mock.restore();
      ecs.destroy();
    },
  };
});
