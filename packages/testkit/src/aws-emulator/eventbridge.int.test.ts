import { readFileSync } from 'node:fs';
import { ECSClient, RegisterTaskDefinitionCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import {
  DeleteRuleCommand,
  DescribeRuleCommand,
  EventBridgeClient,
  ListRulesCommand,
  ListTagsForResourceCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  TagResourceCommand,
  TestEventPatternCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AwsEmulator, awsClientConfig, type EventBridgeEvent, startAwsEmulator } from './index.js';

const reference = JSON.parse(
  readFileSync(new URL('../../../../reference/ecs-task-state-change-event.json', import.meta.url), 'utf8'),
) as { detail: Record<string, unknown> } & Record<string, unknown>;

let aws: AwsEmulator;
let events: EventBridgeClient;
let sqs: SQSClient;
let ecs: ECSClient;

const CLUSTER_ARN = 'arn:aws:ecs:us-east-1:123456789012:cluster/default';

beforeEach(async () => {
  aws = await startAwsEmulator({ seed: 3, durations: { runMs: 30 } });
  events = new EventBridgeClient(awsClientConfig(aws));
  sqs = new SQSClient(awsClientConfig(aws));
  ecs = new ECSClient(awsClientConfig(aws));
});

afterEach(async () => {
  expect(aws.schemaErrors()).toEqual([]);
  events.destroy();
  sqs.destroy();
  ecs.destroy();
  await aws.stop();
});

/** What `prefect-aws ecs-worker deploy-events` (events-only.json) sets up for a pool and a cluster. */
async function deployEvents(
  pool: string,
  clusterArn: string,
): Promise<{ queueUrl: string; ruleArn: string }> {
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${pool}-ecs-events-dlq`,
      Attributes: { MessageRetentionPeriod: '1209600', VisibilityTimeout: '60' },
    }),
  );
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn;
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${pool}-ecs-events`,
      Attributes: {
        MessageRetentionPeriod: '604800',
        VisibilityTimeout: '300',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }),
      },
    }),
  );
  const queueArn = `arn:aws:sqs:us-east-1:123456789012:${pool}-ecs-events`;
  const rule = await events.send(
    new PutRuleCommand({
      Name: `${pool}-ecs-task-events`,
      Description: 'Capture ECS task state changes for Prefect workers',
      State: 'ENABLED',
      EventPattern: JSON.stringify({
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: { clusterArn: [clusterArn] },
      }),
    }),
  );
  const actions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: queue.QueueUrl,
      Attributes: {
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: actions,
              Resource: queueArn,
              Condition: { ArnEquals: { 'aws:SourceArn': rule.RuleArn } },
            },
            {
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: actions,
              Resource: queueArn,
            },
          ],
        }),
      },
    }),
  );
  await events.send(
    new PutTargetsCommand({ Rule: `${pool}-ecs-task-events`, Targets: [{ Id: 'Target0', Arn: queueArn }] }),
  );
  return { queueUrl: queue.QueueUrl ?? '', ruleArn: rule.RuleArn ?? '' };
}

async function runTask(cluster?: string): Promise<string> {
  const td = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'prefect_pool',
      containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-python3.12' }],
      cpu: '1024',
      memory: '2048',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
    }),
  );
  const subnets = aws.ec2.subnets(aws.ec2.defaultVpcId() ?? undefined).map((s) => s.SubnetId);
  const out = await ecs.send(
    new RunTaskCommand({
      ...(cluster !== undefined ? { cluster } : {}),
      taskDefinition: td.taskDefinition?.taskDefinitionArn,
      launchType: 'FARGATE',
      networkConfiguration: { awsvpcConfiguration: { subnets, assignPublicIp: 'ENABLED' } },
      tags: [{ key: 'prefect.io/flow-run-id', value: 'abc' }],
    }),
  );
  return out.tasks?.[0]?.taskArn ?? '';
}

/** Receives (and deletes) messages as the observer does until one carries a STOPPED event. */
async function drainUntilStopped(queueUrl: string): Promise<Message[]> {
  const got: Message[] = [];
  for (let i = 0; i < 50; i++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
        VisibilityTimeout: 300,
      }),
    );
    for (const m of out.Messages ?? []) {
      got.push(m);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
    if (got.some((m) => (JSON.parse(m.Body ?? '{}') as EventBridgeEvent).detail.lastStatus === 'STOPPED'))
      break;
  }
  return got;
}

describe('rules and targets', () => {
  it('puts, describes, lists and tags a rule; DeleteRule fails while targets exist', async () => {
    const { ruleArn } = await deployEvents('pool', CLUSTER_ARN);
    expect(ruleArn).toBe('arn:aws:events:us-east-1:123456789012:rule/pool-ecs-task-events');
    const described = await events.send(new DescribeRuleCommand({ Name: 'pool-ecs-task-events' }));
    expect(described).toMatchObject({
      Name: 'pool-ecs-task-events',
      Arn: ruleArn,
      State: 'ENABLED',
      EventBusName: 'default',
      Description: 'Capture ECS task state changes for Prefect workers',
    });
    expect(JSON.parse(described.EventPattern ?? '')).toEqual({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { clusterArn: [CLUSTER_ARN] },
    });
    const listed = await events.send(new ListRulesCommand({ NamePrefix: 'pool-' }));
    expect(listed.Rules?.map((r) => r.Name)).toEqual(['pool-ecs-task-events']);
    const targets = await events.send(new ListTargetsByRuleCommand({ Rule: 'pool-ecs-task-events' }));
    expect(targets.Targets).toEqual([
      { Id: 'Target0', Arn: 'arn:aws:sqs:us-east-1:123456789012:pool-ecs-events' },
    ]);

    await events.send(
      new TagResourceCommand({
        ResourceARN: ruleArn,
        Tags: [{ Key: 'ManagedBy', Value: 'prefect-aws-cli' }],
      }),
    );
    const tags = await events.send(new ListTagsForResourceCommand({ ResourceARN: ruleArn }));
    expect(tags.Tags).toEqual([{ Key: 'ManagedBy', Value: 'prefect-aws-cli' }]);

    await expect(events.send(new DeleteRuleCommand({ Name: 'pool-ecs-task-events' }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: "Rule can't be deleted since it has targets.",
    });
    const removed = await events.send(
      new RemoveTargetsCommand({ Rule: 'pool-ecs-task-events', Ids: ['Target0'] }),
    );
    expect(removed.FailedEntryCount).toBe(0);
    await events.send(new DeleteRuleCommand({ Name: 'pool-ecs-task-events' }));
    await expect(
      events.send(new DescribeRuleCommand({ Name: 'pool-ecs-task-events' })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'Rule pool-ecs-task-events does not exist on EventBus default.',
    });
    expect(aws.events.rules()).toEqual([]);
  });

  it('rejects invalid patterns, unknown rules and oversized names through the model', async () => {
    await expect(
      events.send(new PutRuleCommand({ Name: 'bad', EventPattern: '{"source":"aws.ecs"}' })),
    ).rejects.toMatchObject({ name: 'InvalidEventPatternException' });
    await expect(
      events.send(
        new PutTargetsCommand({
          Rule: 'missing',
          Targets: [{ Id: 't', Arn: 'arn:aws:sqs:us-east-1:123456789012:q' }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(
      events.send(new PutRuleCommand({ Name: 'x'.repeat(65), EventPattern: '{"source":["a"]}' })),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('Member must have length less than or equal to 64'),
    });
    const test = await events.send(
      new TestEventPatternCommand({
        EventPattern: JSON.stringify({ source: ['aws.ecs'], detail: { lastStatus: ['STOPPED'] } }),
        Event: JSON.stringify(reference),
      }),
    );
    expect(test.Result).toBe(true);
  });
});

describe('delivery to SQS', () => {
  it('routes ECS task state changes of the cluster to the queue through the lifecycle, raw event JSON as Body', async () => {
    const { queueUrl } = await deployEvents('pool', CLUSTER_ARN);
    aws.ecs.seedCluster({ name: 'other' });
    const taskArn = await runTask();
    await runTask('other');
    await aws.ecs.waitForTask(taskArn);
    const messages = await drainUntilStopped(queueUrl);
    const bodies = messages.map((m) => JSON.parse(m.Body ?? '') as EventBridgeEvent);
    // One event per task `version`: RUNNING repeats when the container stops before the task does.
    const statuses = bodies.map((b) => b.detail.lastStatus).filter((s, i, all) => s !== all[i - 1]);
    expect(bodies.map((b) => b.detail.version)).toEqual(bodies.map((_, i) => i + 1));
    expect(statuses).toEqual([
      'PROVISIONING',
      'PENDING',
      'ACTIVATING',
      'RUNNING',
      'DEPROVISIONING',
      'STOPPED',
    ]);
    for (const body of bodies) {
      expect(Object.keys(body).sort()).toEqual(Object.keys(reference).sort());
      expect(body).toMatchObject({
        version: '0',
        'detail-type': 'ECS Task State Change',
        source: 'aws.ecs',
        account: '123456789012',
        region: 'us-east-1',
        resources: [taskArn],
        detail: { clusterArn: CLUSTER_ARN, taskArn },
      });
      expect(body.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      for (const key of Object.keys(body.detail)) expect(Object.keys(reference.detail)).toContain(key);
    }
    // The body is the event exactly as the bus saw it (no SNS envelope, no transformation).
    const onBus = aws.events.events().filter((e) => e.detail.taskArn === taskArn);
    expect(messages.map((m) => m.Body)).toEqual(onBus.map((e) => JSON.stringify(e)));
    expect(bodies.at(-1)?.detail).toMatchObject({
      stopCode: 'EssentialContainerExited',
      desiredStatus: 'STOPPED',
    });
    // The other cluster's task matched no rule.
    expect(aws.events.deliveries().every((d) => d.ok && d.rule === 'pool-ecs-task-events')).toBe(true);
    expect(aws.events.deliveries()).toHaveLength(bodies.length);
  });

  it('delivers PutEvents and events.put() entries to matching rules only', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'custom' }));
    await events.send(
      new PutRuleCommand({ Name: 'custom', EventPattern: JSON.stringify({ source: [{ prefix: 'my.' }] }) }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: 'custom',
        Targets: [{ Id: 'q', Arn: 'arn:aws:sqs:us-east-1:123456789012:custom', InputPath: '$.detail' }],
      }),
    );
    const put = await events.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'my.app', DetailType: 'Thing', Detail: '{"n":1}' },
          { Source: 'other.app', DetailType: 'Thing', Detail: '{"n":2}' },
          { Source: 'my.app', DetailType: 'Thing', Detail: 'not json' },
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(1);
    expect(put.Entries?.[2]).toEqual({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
    const helper = aws.events.put({ source: 'my.helper', 'detail-type': 'Thing', detail: { n: 3 } });
    expect(helper.matchedRules).toEqual(['custom']);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
    expect(got.Messages?.map((m) => m.Body)).toEqual(['{"n":1}', '{"n":3}']);
  });

  it('honours the queue policy when asked to', async () => {
    const { queueUrl } = await deployEvents('pool', CLUSTER_ARN);
    await sqs.send(new CreateQueueCommand({ QueueName: 'no-policy' }));
    await events.send(
      new PutRuleCommand({ Name: 'second', EventPattern: JSON.stringify({ source: ['aws.ecs'] }) }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: 'second',
        Targets: [{ Id: 'q', Arn: 'arn:aws:sqs:us-east-1:123456789012:no-policy' }],
      }),
    );
    aws.events.enforceQueuePolicy(true);
    aws.events.put({
      source: 'aws.ecs',
      'detail-type': 'ECS Task State Change',
      detail: { clusterArn: CLUSTER_ARN },
    });
    const deliveries = aws.events.deliveries();
    expect(deliveries.find((d) => d.rule === 'pool-ecs-task-events')).toMatchObject({ ok: true });
    expect(deliveries.find((d) => d.rule === 'second')).toMatchObject({
      ok: false,
      error: expect.stringContaining('queue policy'),
    });
    expect(aws.sqs.queue('pool-ecs-events')?.visible).toBe(1);
    expect(aws.sqs.queue('no-policy')?.visible).toBe(0);
    expect(queueUrl).toContain('pool-ecs-events');
  });

  it('delays delivery and duplicates events on request (observer faults)', async () => {
    const { queueUrl } = await deployEvents('pool', CLUSTER_ARN);
    aws.sqs.injectDuplicate({ queue: 'pool-ecs-events', match: (b) => b.includes('"lastStatus":"RUNNING"') });
    aws.events.setDeliveryDelay(50);
    const taskArn = await runTask();
    await aws.ecs.waitForTask(taskArn);
    const messages = await drainUntilStopped(queueUrl);
    const onBus = aws.events.events().filter((e) => e.detail.taskArn === taskArn);
    // Every event arrives once, the first RUNNING one twice with the same MessageId and Body.
    expect(messages).toHaveLength(onBus.length + 1);
    const running = messages.filter((m) => m.Body?.includes('"lastStatus":"RUNNING"'));
    expect(running[0]?.MessageId).toBe(running[1]?.MessageId);
    expect(running[0]?.Body).toBe(running[1]?.Body);
    expect(aws.events.deliveries().every((d) => d.at >= 0 && d.ok)).toBe(true);
  });
});
