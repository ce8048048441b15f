import { DescribeClustersCommand, ECSClient } from '@aws-sdk/client-ecs';
import {
  DeleteRuleCommand,
  DescribeRuleCommand,
  EventBridgeClient,
  ListTagsForResourceCommand,
  ListTargetsByRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  ResourceNotFoundException,
  TagResourceCommand,
  type Target,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueueTagsCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  SQSClient,
  TagQueueCommand,
} from '@aws-sdk/client-sqs';
import { isStevedoreError } from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type EventsClients, policyAllowsRule, policyWithStatement } from './aws-state.js';
import { deployEventsInfrastructure, planEventsInfrastructure } from './deploy.js';
import { observerSqsErrorCodes } from './errors.js';
import { deleteEventsInfrastructure } from './events-delete.js';
import { eventsStatus } from './events-status.js';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/prod`;
const OTHER_CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/batch`;
const RULE_ARN = `arn:aws:events:${REGION}:${ACCOUNT}:rule/pool-a-ecs-task-events`;
const QUEUE_ARN = `arn:aws:sqs:${REGION}:${ACCOUNT}:pool-a-ecs-events`;
const DLQ_ARN = `arn:aws:sqs:${REGION}:${ACCOUNT}:pool-a-ecs-events-dlq`;

// ---------------------------------------------------------------------------------- a tiny stateful AWS

interface FakeQueue {
  name: string;
  url: string;
  arn: string;
  attributes: Record<string, string>;
  tags: Record<string, string>;
}
interface FakeRule {
  name: string;
  arn: string;
  pattern: string;
  state: string;
  description?: string;
  tags: Record<string, string>;
  targets: Target[];
}

const sqs = new SQSClient({ region: REGION });
const events = new EventBridgeClient({ region: REGION });
const ecs = new ECSClient({ region: REGION });
const sqsMock = mockClient(sqs);
const eventsMock = mockClient(events);
const ecsMock = mockClient(ecs);
const clients: EventsClients = { sqs, events, ecs };

let queues: Map<string, FakeQueue>;
let rules: Map<string, FakeRule>;

const queueByUrl = (url: string | undefined): FakeQueue => {
  const q = [...queues.values()].find((x) => x.url === url);
  if (!q) throw new QueueDoesNotExist({ message: 'The specified queue does not exist.', $metadata: {} });
  return q;
};
const ruleNotFound = (name: string) =>
  new ResourceNotFoundException({ message: `Rule ${name} does not exist.`, $metadata: {} });

function addQueue(
  name: string,
  attributes: Record<string, string> = {},
  tags: Record<string, string> = {},
): FakeQueue {
  const q = {
    name,
    url: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`,
    arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`,
    attributes: { VisibilityTimeout: '30', ...attributes },
    tags: { ...tags },
  };
  queues.set(name, q);
  return q;
}

function addRule(name: string, rule: Partial<FakeRule> = {}): FakeRule {
  const r: FakeRule = {
    name,
    arn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${name}`,
    pattern: JSON.stringify({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { clusterArn: [CLUSTER_ARN] },
    }),
    state: 'ENABLED',
    tags: {},
    targets: [],
    ...rule,
  };
  rules.set(name, r);
  return r;
}

function installFakeAws() {
  sqsMock.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => {
    const q = queues.get(input.QueueName);
    if (!q) throw new QueueDoesNotExist({ message: 'The specified queue does not exist.', $metadata: {} });
    return { QueueUrl: q.url };
  });
  sqsMock
    .on(CreateQueueCommand)
    .callsFake(
      (input: { QueueName: string; Attributes?: Record<string, string>; tags?: Record<string, string> }) => ({
        QueueUrl: addQueue(input.QueueName, input.Attributes, input.tags).url,
      }),
    );
  sqsMock.on(GetQueueAttributesCommand).callsFake((input: { QueueUrl: string }) => {
    const q = queueByUrl(input.QueueUrl);
    return {
      Attributes: {
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
        ApproximateNumberOfMessagesDelayed: '0',
        ...q.attributes,
        QueueArn: q.arn,
      },
    };
  });
  sqsMock
    .on(ListQueueTagsCommand)
    .callsFake((input: { QueueUrl: string }) => ({ Tags: queueByUrl(input.QueueUrl).tags }));
  sqsMock
    .on(SetQueueAttributesCommand)
    .callsFake((input: { QueueUrl: string; Attributes: Record<string, string> }) => {
      Object.assign(queueByUrl(input.QueueUrl).attributes, input.Attributes);
      return {};
    });
  sqsMock.on(DeleteQueueCommand).callsFake((input: { QueueUrl: string }) => {
    queues.delete(queueByUrl(input.QueueUrl).name);
    return {};
  });
  eventsMock.on(DescribeRuleCommand).callsFake((input: { Name: string }) => {
    const r = rules.get(input.Name);
    if (!r) throw ruleNotFound(input.Name);
    return { Name: r.name, Arn: r.arn, EventPattern: r.pattern, State: r.state, Description: r.description };
  });
  eventsMock
    .on(PutRuleCommand)
    .callsFake(
      (input: {
        Name: string;
        EventPattern: string;
        State: string;
        Description?: string;
        Tags?: Array<{ Key: string; Value: string }>;
      }) => {
        const existing = rules.get(input.Name);
        const r =
          existing ??
          addRule(input.Name, { tags: Object.fromEntries((input.Tags ?? []).map((t) => [t.Key, t.Value])) });
        r.pattern = input.EventPattern;
        r.state = input.State;
        if (input.Description !== undefined) r.description = input.Description;
        return { RuleArn: r.arn };
      },
    );
  eventsMock.on(ListTagsForResourceCommand).callsFake((input: { ResourceARN: string }) => {
    const r = [...rules.values()].find((x) => x.arn === input.ResourceARN);
    if (!r) throw ruleNotFound(input.ResourceARN);
    return { Tags: Object.entries(r.tags).map(([Key, Value]) => ({ Key, Value })) };
  });
  eventsMock.on(ListTargetsByRuleCommand).callsFake((input: { Rule: string }) => {
    const r = rules.get(input.Rule);
    if (!r) throw ruleNotFound(input.Rule);
    return { Targets: r.targets };
  });
  eventsMock.on(PutTargetsCommand).callsFake((input: { Rule: string; Targets: Target[] }) => {
    const r = rules.get(input.Rule);
    if (!r) throw ruleNotFound(input.Rule);
    for (const t of input.Targets) r.targets = [...r.targets.filter((x) => x.Id !== t.Id), t];
    return { FailedEntryCount: 0, FailedEntries: [] };
  });
  eventsMock.on(RemoveTargetsCommand).callsFake((input: { Rule: string; Ids: string[] }) => {
    const r = rules.get(input.Rule);
    if (!r) throw ruleNotFound(input.Rule);
    r.targets = r.targets.filter((t) => !input.Ids.includes(t.Id ?? ''));
    return { FailedEntryCount: 0 };
  });
  eventsMock.on(DeleteRuleCommand).callsFake((input: { Name: string }) => {
    const r = rules.get(input.Name);
    if (r && r.targets.length > 0) throw new Error('Rule still has targets.');
    rules.delete(input.Name);
    return {};
  });
  ecsMock.on(DescribeClustersCommand).callsFake((input: { clusters?: string[] }) => {
    const c = input.clusters?.[0] ?? 'default';
    const known = [CLUSTER_ARN, OTHER_CLUSTER_ARN].find((arn) => arn === c || arn.endsWith(`/${c}`));
    return known
      ? {
          clusters: [{ clusterArn: known, clusterName: known.split('/').pop(), status: 'ACTIVE' }],
          failures: [],
        }
      : { clusters: [], failures: [{ arn: c, reason: 'MISSING' }] };
  });
}

const MUTATING = [
  CreateQueueCommand,
  SetQueueAttributesCommand,
  TagQueueCommand,
  DeleteQueueCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  DeleteRuleCommand,
  TagResourceCommand,
] as const;

function mutatingCalls(): string[] {
  return [...sqsMock.calls(), ...eventsMock.calls()]
    .sort((a, b) => (a.calledBefore(b) ? -1 : 1))
    .map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name)
    .filter((name) => MUTATING.some((cmd) => cmd.name === name));
}

/** The resources prefect-aws's `deploy-events` CloudFormation stack leaves (spec §3.5). */
function prefectAwsStack(stack = 'prefect-ecs-events', cluster = CLUSTER_ARN) {
  const tags = { 'aws:cloudformation:stack-name': stack, ManagedBy: 'prefect-aws-cli' };
  const dlq = addQueue(
    'pool-a-ecs-events-dlq',
    { MessageRetentionPeriod: '1209600', VisibilityTimeout: '60' },
    tags,
  );
  const rule = addRule('pool-a-ecs-task-events', {
    tags,
    pattern: JSON.stringify({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { clusterArn: [cluster] },
    }),
    description: 'Capture ECS task state changes for Prefect workers',
  });
  const queue = addQueue(
    'pool-a-ecs-events',
    {
      MessageRetentionPeriod: '604800',
      VisibilityTimeout: '300',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 3 }),
    },
    tags,
  );
  const actions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
  queue.attributes.Policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: actions,
        Resource: queue.arn,
        Condition: { ArnEquals: { 'aws:SourceArn': rule.arn } },
      },
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: actions,
        Resource: queue.arn,
      },
    ],
  });
  rule.targets = [{ Id: 'Target0', Arn: queue.arn }];
  return { dlq, queue, rule };
}

beforeEach(() => {
  sqsMock.reset();
  eventsMock.reset();
  ecsMock.reset();
  queues = new Map();
  rules = new Map();
  installFakeAws();
});

describe('deployEventsInfrastructure', () => {
  it('creates the DLQ, the queue, the rule, the policy and the target, tagged, with the prefect-aws names', async () => {
    const result = await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    expect(result.status).toBe('applied');
    expect(result.applied.map((s) => [s.resource, s.action])).toEqual([
      ['dlq', 'create'],
      ['queue', 'create'],
      ['rule', 'create'],
      ['queue-policy', 'create'],
      ['target', 'create'],
    ]);
    expect(result).toMatchObject({ queueArn: QUEUE_ARN, dlqArn: DLQ_ARN, ruleArn: RULE_ARN });
    const tags = { 'stevedore:managed-by': 'stevedore', 'stevedore:pool': 'pool-a' };

    const creates = sqsMock.commandCalls(CreateQueueCommand).map((c) => c.args[0].input);
    expect(creates).toEqual([
      {
        QueueName: 'pool-a-ecs-events-dlq',
        Attributes: { MessageRetentionPeriod: '1209600', VisibilityTimeout: '60' },
        tags,
      },
      {
        QueueName: 'pool-a-ecs-events',
        Attributes: {
          MessageRetentionPeriod: '604800',
          VisibilityTimeout: '300',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: DLQ_ARN, maxReceiveCount: 3 }),
        },
        tags,
      },
    ]);

    // The cluster name was resolved to its ARN for the pattern.
    expect(eventsMock.commandCalls(PutRuleCommand)[0]?.args[0].input).toEqual({
      Name: 'pool-a-ecs-task-events',
      EventPattern: JSON.stringify({
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: { clusterArn: [CLUSTER_ARN] },
      }),
      State: 'ENABLED',
      Description: 'Capture ECS task state changes for Prefect workers',
      Tags: [
        { Key: 'stevedore:managed-by', Value: 'stevedore' },
        { Key: 'stevedore:pool', Value: 'pool-a' },
      ],
    });

    // The policy lets EventBridge send from that rule only.
    const policy = JSON.parse(queues.get('pool-a-ecs-events')?.attributes.Policy ?? '{}');
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'StevedoreEcsTaskEvents',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sqs:SendMessage',
          Resource: QUEUE_ARN,
          Condition: { ArnEquals: { 'aws:SourceArn': RULE_ARN } },
        },
      ],
    });
    expect(eventsMock.commandCalls(PutTargetsCommand)[0]?.args[0].input).toEqual({
      Rule: 'pool-a-ecs-task-events',
      Targets: [{ Id: 'Target0', Arn: QUEUE_ARN }],
    });
    // In order: the rule exists before the policy names it, the policy before the target sends anything.
    expect(mutatingCalls()).toEqual([
      'CreateQueueCommand',
      'CreateQueueCommand',
      'PutRuleCommand',
      'SetQueueAttributesCommand',
      'PutTargetsCommand',
    ]);
  });

  it('is idempotent: a second run changes nothing and makes no create call', async () => {
    await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    sqsMock.resetHistory();
    eventsMock.resetHistory();
    const again = await deployEventsInfrastructure({ pool: 'pool-a', cluster: CLUSTER_ARN }, clients);
    expect(again.status).toBe('up-to-date');
    expect(again.applied).toEqual([]);
    expect(again.plan.upToDate).toBe(true);
    expect(mutatingCalls()).toEqual([]);
    expect(again).toMatchObject({ queueArn: QUEUE_ARN, dlqArn: DLQ_ARN, ruleArn: RULE_ARN });
  });

  it('--dry-run: the plan from read-only calls, nothing changed', async () => {
    const result = await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients, {
      dryRun: true,
    });
    expect(result.status).toBe('dry-run');
    expect(result.plan.steps.map((s) => [s.resource, s.name, s.action])).toEqual([
      ['dlq', 'pool-a-ecs-events-dlq', 'create'],
      ['queue', 'pool-a-ecs-events', 'create'],
      ['rule', 'pool-a-ecs-task-events', 'create'],
      ['queue-policy', 'pool-a-ecs-events', 'create'],
      ['target', 'pool-a-ecs-task-events → pool-a-ecs-events', 'create'],
    ]);
    expect(result.plan.steps.find((s) => s.resource === 'queue-policy')?.detail).toContain(RULE_ARN);
    expect(result).toMatchObject({ queueArn: QUEUE_ARN, dlqArn: DLQ_ARN, ruleArn: RULE_ARN });
    expect(mutatingCalls()).toEqual([]);
    expect(queues.size + rules.size).toBe(0);
    const plan = await planEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    expect(plan).toEqual(result.plan);
  });

  it('adopts what prefect-aws deploy-events created, without touching it', async () => {
    prefectAwsStack();
    const result = await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    expect(result.status).toBe('up-to-date');
    expect(result.plan.steps.every((s) => s.action === 'keep')).toBe(true);
    expect(result.plan.steps[0]?.owner).toEqual({ kind: 'cloudformation', stackName: 'prefect-ecs-events' });
    expect(mutatingCalls()).toEqual([]);
  });

  it('refuses to change a CloudFormation-owned rule for another cluster', async () => {
    prefectAwsStack('prefect-ecs-events', OTHER_CLUSTER_ARN);
    const result = await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    expect(result.status).toBe('conflict');
    expect(result.message).toContain("CloudFormation stack 'prefect-ecs-events'");
    expect(result.message).toContain(CLUSTER_ARN);
    expect(mutatingCalls()).toEqual([]);
  });

  it('completes manually created resources without tagging them as its own', async () => {
    const dlq = addQueue('pool-a-ecs-events-dlq');
    const queue = addQueue('pool-a-ecs-events');
    addRule('pool-a-ecs-task-events', {
      state: 'DISABLED',
      targets: [{ Id: 'Target0', Arn: 'arn:aws:lambda:x' }],
    });
    const result = await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    expect(result.applied.map((s) => [s.resource, s.action])).toEqual([
      ['queue', 'update'],
      ['rule', 'update'],
      ['queue-policy', 'create'],
      ['target', 'create'],
    ]);
    expect(JSON.parse(queue.attributes.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlq.arn,
      maxReceiveCount: 3,
    });
    expect(rules.get('pool-a-ecs-task-events')?.state).toBe('ENABLED');
    // Target0 is taken by another target: a new id, the other target kept.
    expect(rules.get('pool-a-ecs-task-events')?.targets).toEqual([
      { Id: 'Target0', Arn: 'arn:aws:lambda:x' },
      { Id: 'StevedoreQueue', Arn: queue.arn },
    ]);
    expect(sqsMock.commandCalls(CreateQueueCommand)).toHaveLength(0);
    expect(eventsMock.commandCalls(PutRuleCommand)[0]?.args[0].input.Tags).toBeUndefined();
    expect(queue.tags).toEqual({});
    // And `events delete` leaves them alone.
    const deleted = await deleteEventsInfrastructure({ pool: 'pool-a' }, clients);
    expect(deleted.status).toBe('nothing-to-delete');
    expect(deleted.kept.map((k) => k.resource)).toEqual(['rule', 'queue', 'dlq']);
    expect(queues.size).toBe(2);
  });

  it('adds a second cluster of the same pool to its own rule', async () => {
    await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    const result = await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'batch' }, clients);
    expect(result.applied.map((s) => [s.resource, s.action])).toEqual([['rule', 'update']]);
    expect(JSON.parse(rules.get('pool-a-ecs-task-events')?.pattern ?? '{}').detail.clusterArn).toEqual([
      CLUSTER_ARN,
      OTHER_CLUSTER_ARN,
    ]);
  });

  it('fails clearly for an unknown cluster and for clients in another region', async () => {
    const e1 = await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'nope' }, clients).catch(
      (e: unknown) => e,
    );
    expect(isStevedoreError(e1, observerSqsErrorCodes.CLUSTER_NOT_FOUND)).toBe(true);
    expect((e1 as Error).message).toContain(
      "ECS cluster 'nope' not found or not active in region 'us-east-1'",
    );
    const eu = new SQSClient({ region: 'eu-west-1' });
    const e2 = await deployEventsInfrastructure(
      { pool: 'pool-a', cluster: 'prod' },
      { ...clients, sqs: eu },
    ).catch((e: unknown) => e);
    expect(isStevedoreError(e2, observerSqsErrorCodes.REGION_MISMATCH)).toBe(true);
    expect((e2 as Error).message).toContain('--region us-east-1');
    expect(mutatingCalls()).toEqual([]);
  });

  it('wraps a failed create with what was done, and is safe to run again', async () => {
    sqsMock
      .on(CreateQueueCommand, { QueueName: 'pool-a-ecs-events' })
      .rejectsOnce(new QueueDoesNotExist({ message: 'x', $metadata: {} }));
    const e = await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients).catch(
      (x: unknown) => x,
    );
    expect(isStevedoreError(e, observerSqsErrorCodes.DEPLOY_FAILED)).toBe(true);
    expect((e as { details: { applied: string[] } }).details.applied).toEqual([
      'create dlq pool-a-ecs-events-dlq',
    ]);
  });
});

describe('eventsStatus', () => {
  it('lists what is missing, with the deploy command', async () => {
    const status = await eventsStatus({ pool: 'pool-a' }, clients);
    expect(status.ok).toBe(false);
    expect(status.missing).toEqual(['dlq', 'queue', 'queue-policy', 'rule', 'target']);
    expect(status.problems[0]).toContain('stevedore events deploy --pool "pool-a" --cluster <cluster>');
    expect(mutatingCalls()).toEqual([]);
  });

  it('shows what exists, who owns it, and the queue and DLQ depths', async () => {
    await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    Object.assign(queues.get('pool-a-ecs-events')?.attributes ?? {}, {
      ApproximateNumberOfMessages: '4',
      ApproximateNumberOfMessagesNotVisible: '2',
    });
    const ok = await eventsStatus({ pool: 'pool-a', cluster: 'prod' }, clients);
    expect(ok.ok).toBe(true);
    expect(ok.missing).toEqual([]);
    expect(ok.clusterArn).toBe(CLUSTER_ARN);
    expect(ok.queueDepth).toEqual({ visible: 4, inFlight: 2, delayed: 0 });
    expect(ok.dlqDepth).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(ok.resources.map((r) => [r.resource, r.exists, r.owner?.kind])).toEqual([
      ['dlq', true, 'stevedore'],
      ['queue', true, 'stevedore'],
      ['queue-policy', true, 'stevedore'],
      ['rule', true, 'stevedore'],
      ['target', true, 'stevedore'],
    ]);
    Object.assign(queues.get('pool-a-ecs-events-dlq')?.attributes ?? {}, {
      ApproximateNumberOfMessages: '3',
    });
    const dlq = await eventsStatus({ pool: 'pool-a', cluster: 'batch' }, clients);
    expect(dlq.ok).toBe(false);
    expect(dlq.problems).toEqual([
      `Rule 'pool-a-ecs-task-events' does not match the task events of ${OTHER_CLUSTER_ARN}.`,
      "3 message(s) in the dead-letter queue 'pool-a-ecs-events-dlq': events that failed 3 times (see the worker's warnings).",
    ]);
  });
});

describe('deleteEventsInfrastructure', () => {
  it('removes exactly what deploy created, target first', async () => {
    await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    sqsMock.resetHistory();
    eventsMock.resetHistory();
    const dry = await deleteEventsInfrastructure({ pool: 'pool-a' }, clients, { dryRun: true });
    expect(dry.status).toBe('dry-run');
    expect(mutatingCalls()).toEqual([]);
    const result = await deleteEventsInfrastructure({ pool: 'pool-a' }, clients);
    expect(result.status).toBe('deleted');
    expect(result.deleted.map((d) => d.resource)).toEqual(['target', 'rule', 'queue', 'dlq']);
    expect(dry.deleted).toEqual(result.deleted);
    expect(mutatingCalls()).toEqual([
      'RemoveTargetsCommand',
      'DeleteRuleCommand',
      'DeleteQueueCommand',
      'DeleteQueueCommand',
    ]);
    expect(queues.size + rules.size).toBe(0);
    const again = await deleteEventsInfrastructure({ pool: 'pool-a' }, clients);
    expect(again.status).toBe('nothing-to-delete');
  });

  it('refuses to touch resources owned by a CloudFormation stack, naming it', async () => {
    prefectAwsStack('my-events-stack');
    const result = await deleteEventsInfrastructure({ pool: 'pool-a' }, clients);
    expect(result.status).toBe('refused');
    expect(result.deleted).toEqual([]);
    expect(result.message).toContain("CloudFormation stack 'my-events-stack'");
    expect(result.message).toContain('aws cloudformation delete-stack --stack-name my-events-stack');
    expect(mutatingCalls()).toEqual([]);
    expect(queues.size).toBe(2);
  });

  it('keeps a rule that has other targets and another pool’s resources', async () => {
    await deployEventsInfrastructure({ pool: 'pool-a', cluster: 'prod' }, clients);
    rules.get('pool-a-ecs-task-events')?.targets.push({ Id: 'Audit', Arn: 'arn:aws:sns:x' });
    const dlq = queues.get('pool-a-ecs-events-dlq');
    if (dlq) dlq.tags['stevedore:pool'] = 'pool-b';
    const result = await deleteEventsInfrastructure({ pool: 'pool-a' }, clients);
    expect(result.deleted.map((d) => d.resource)).toEqual(['target', 'queue']);
    expect(result.kept).toEqual([
      { resource: 'rule', name: 'pool-a-ecs-task-events', reason: 'it has 1 other target(s)' },
      { resource: 'dlq', name: 'pool-a-ecs-events-dlq', reason: "created by stevedore for pool 'pool-b'" },
    ]);
  });
});

describe('queue policy helpers', () => {
  it('recognise a statement for the rule, an open one, and refuse others', () => {
    const statement = (s: Record<string, unknown>) => JSON.stringify({ Statement: [s] });
    const base = {
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: QUEUE_ARN,
    };
    expect(policyAllowsRule(statement(base), QUEUE_ARN, RULE_ARN)).toBe(true);
    expect(
      policyAllowsRule(
        statement({ ...base, Condition: { ArnEquals: { 'aws:SourceArn': RULE_ARN } } }),
        QUEUE_ARN,
        RULE_ARN,
      ),
    ).toBe(true);
    expect(
      policyAllowsRule(
        statement({
          ...base,
          Condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:events:*:*:rule/pool-a-*' } },
        }),
        QUEUE_ARN,
        RULE_ARN,
      ),
    ).toBe(true);
    expect(
      policyAllowsRule(
        statement({ ...base, Condition: { ArnEquals: { 'aws:SourceArn': 'arn:other' } } }),
        QUEUE_ARN,
        RULE_ARN,
      ),
    ).toBe(false);
    expect(policyAllowsRule(statement({ ...base, Effect: 'Deny' }), QUEUE_ARN, RULE_ARN)).toBe(false);
    expect(policyAllowsRule(statement({ ...base, Action: 'sqs:ReceiveMessage' }), QUEUE_ARN, RULE_ARN)).toBe(
      false,
    );
    expect(
      policyAllowsRule(
        statement({ ...base, Principal: { Service: 'sns.amazonaws.com' } }),
        QUEUE_ARN,
        RULE_ARN,
      ),
    ).toBe(false);
    expect(policyAllowsRule(undefined, QUEUE_ARN, RULE_ARN)).toBe(false);
  });

  it('adds its statement once and keeps the others', () => {
    const other = {
      Sid: 'Mine',
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::1:root' },
      Action: 'sqs:*',
      Resource: QUEUE_ARN,
    };
    const once = policyWithStatement(
      JSON.stringify({ Version: '2012-10-17', Statement: [other] }),
      QUEUE_ARN,
      RULE_ARN,
    );
    const twice = policyWithStatement(once, QUEUE_ARN, RULE_ARN);
    expect(twice).toBe(once);
    expect(JSON.parse(twice).Statement.map((s: { Sid: string }) => s.Sid)).toEqual([
      'Mine',
      'StevedoreEcsTaskEvents',
    ]);
  });
});
