import { DescribeTasksCommand, ECSClient } from '@aws-sdk/client-ecs';
import {
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { describeObserverConformance } from '@stevedore/testkit/conformance';
import { mockClient } from 'aws-sdk-client-mock';
import { SqsObserver } from './sqs-observer.js';

const CLUSTER = 'arn:aws:ecs:us-east-1:111122223333:cluster/default';

describeObserverConformance('SqsObserver', async () => {
  // A tiny in-memory queue fed with EventBridge events: launch() sends PENDING and RUNNING, stop() sends STOPPED.
  const queue: Message[] = [];
  let n = 0;
  const sqs = new SQSClient({ region: 'us-east-1' });
  const sqsMock = mockClient(sqs);
  sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: 'https://sqs.local/pool-ecs-events' });
  sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
    await new Promise((r) => setTimeout(r, 10)); // a (short) long poll
    return { Messages: queue.splice(0, 10) };
  });
  sqsMock.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  const ecs = new ECSClient({ region: 'us-east-1' });
  const ecsMock = mockClient(ecs);
  ecsMock.on(DescribeTasksCommand).resolves({ tasks: [], failures: [] });

  const send = (
    taskArn: string,
    lastStatus: string,
    version: number,
    extra: Record<string, unknown> = {},
  ) => {
    n += 1;
    queue.push({
      MessageId: `m-${n}`,
      ReceiptHandle: `rh-${n}`,
      Body: JSON.stringify({
        'detail-type': 'ECS Task State Change',
        source: 'aws.ecs',
        detail: {
          taskArn,
          clusterArn: CLUSTER,
          lastStatus,
          version,
          containers: [{ name: 'prefect' }],
          ...extra,
        },
      }),
    });
  };
  let tasks = 0;
  return {
    observer: new SqsObserver({
      sqs,
      tasks: { taskContext: () => ({ ecs }) },
      pool: 'pool',
      waitTimeSeconds: 0,
    }),
    timeoutMs: 2_000,
    async launch() {
      tasks += 1;
      const taskArn = `arn:aws:ecs:us-east-1:111122223333:task/default/${tasks.toString().padStart(32, '0')}`;
      send(taskArn, 'PENDING', 2);
      send(taskArn, 'RUNNING', 3);
      return { identifier: `${CLUSTER}::${taskArn}`, flowRunId: `run-${tasks}`, infrastructureType: 'ecs' };
    },
    async stop(identifier) {
      const taskArn = identifier.slice(identifier.indexOf('::') + 2);
      send(taskArn, 'STOPPED', 5, {
        stopCode: 'UserInitiated',
        containers: [{ name: 'prefect', exitCode: 143 }],
      });
    },
    async cleanup() {
      sqsMock.restore();
      ecsMock.restore();
      sqs.destroy();
      ecs.destroy();
    },
  };
});
