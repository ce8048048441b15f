import type { DescribeClustersCommandOutput, ECSClient } from '@aws-sdk/client-ecs';
import type { EventBridgeClient, Target } from '@aws-sdk/client-eventbridge';
import type { QueueAttributeName, SQSClient } from '@aws-sdk/client-sqs';
import { loadEcsSdk, loadEventBridgeSdk, loadSqsSdk } from './aws-sdk.js';
import {
  describeError,
  isAwsError,
  isQueueMissing,
  ObserverSqsError,
  observerSqsErrorCodes,
} from './errors.js';
import { ECS_EVENT_SOURCE, ECS_TASK_STATE_CHANGE } from './events.js';

/** The tag every resource `stevedore events deploy` creates carries, with the value {@link MANAGED_BY_VALUE}. @public */
export const MANAGED_BY_TAG = 'stevedore:managed-by';
/** The value of {@link MANAGED_BY_TAG}. @public */
export const MANAGED_BY_VALUE = 'stevedore';
/** The tag naming the work pool a created resource belongs to. @public */
export const POOL_TAG = 'stevedore:pool';
/** The tag CloudFormation puts on the resources of a stack (prefect-aws's `deploy-events` creates one, spec §3.5). @public */
export const CLOUDFORMATION_STACK_TAG = 'aws:cloudformation:stack-name';
/** The `Sid` of the queue-policy statement `stevedore events deploy` adds. @public */
export const POLICY_STATEMENT_SID = 'StevedoreEcsTaskEvents';

/** Who owns an existing resource, from its tags. @public */
export type ResourceOwner =
  | { kind: 'stevedore'; pool?: string }
  | { kind: 'cloudformation'; stackName: string }
  | { kind: 'unmanaged' };

/** The three AWS clients the events commands use; all in the cluster's region. @public */
export interface EventsClients {
  sqs: SQSClient;
  events: EventBridgeClient;
  ecs: ECSClient;
}

/** An existing queue. @internal */
export interface QueueState {
  name: string;
  url: string;
  arn: string;
  attributes: Record<string, string>;
  tags: Record<string, string>;
  owner: ResourceOwner;
}

/** An existing rule with its targets. @internal */
export interface RuleState {
  name: string;
  arn: string;
  eventPattern: string | undefined;
  state: string | undefined;
  description: string | undefined;
  tags: Record<string, string>;
  owner: ResourceOwner;
  targets: Target[];
}

/** The parts of an ARN. @internal */
export interface ArnParts {
  partition: string;
  service: string;
  region: string;
  account: string;
  resource: string;
}

/** Splits an ARN, or `undefined` when it is not one. @internal */
export function parseArn(arn: string): ArnParts | undefined {
  const m = /^arn:([^:]+):([^:]+):([^:]*):([^:]*):(.+)$/.exec(arn);
  if (!m) return undefined;
  return {
    partition: m[1] as string,
    service: m[2] as string,
    region: m[3] as string,
    account: m[4] as string,
    resource: m[5] as string,
  };
}

/** The owner of a resource with these tags. @internal */
export function ownerOf(tags: Record<string, string>): ResourceOwner {
  const stackName = tags[CLOUDFORMATION_STACK_TAG];
  if (stackName) return { kind: 'cloudformation', stackName };
  if (tags[MANAGED_BY_TAG] === MANAGED_BY_VALUE) {
    const pool = tags[POOL_TAG];
    return pool ? { kind: 'stevedore', pool } : { kind: 'stevedore' };
  }
  return { kind: 'unmanaged' };
}

/** How an owner reads in messages. @internal */
export function describeOwner(owner: ResourceOwner): string {
  if (owner.kind === 'cloudformation') return `CloudFormation stack '${owner.stackName}'`;
  if (owner.kind === 'stevedore') return 'stevedore events deploy';
  return 'no Stevedore or CloudFormation tag';
}

const readFailed = (what: string, e: unknown): ObserverSqsError =>
  new ObserverSqsError(observerSqsErrorCodes.READ_FAILED, `${what} failed: ${describeError(e)}`, {
    cause: e,
  });

/**
 * Resolves a cluster name or ARN to the ARN of an ACTIVE cluster (DescribeClusters), as the reference's
 * `deploy-events` checks it (spec §3.5 step 2).
 * @throws `OBSERVER_SQS_CLUSTER_NOT_FOUND` when ECS does not know it or it is not ACTIVE; `OBSERVER_SQS_READ_FAILED`.
 * @public
 */
export async function resolveClusterArn(
  ecs: ECSClient,
  cluster: string,
  signal?: AbortSignal,
): Promise<string> {
  let out: DescribeClustersCommandOutput;
  try {
    out = await ecs.send(new (loadEcsSdk().DescribeClustersCommand)({ clusters: [cluster] }), {
      abortSignal: signal,
    });
  } catch (e) {
    throw readFailed(`DescribeClusters '${cluster}'`, e);
  }
  const found = out.clusters?.find((c) => c.status === 'ACTIVE' && c.clusterArn);
  if (!found?.clusterArn) {
    const region = await clientRegion(ecs);
    throw new ObserverSqsError(
      observerSqsErrorCodes.CLUSTER_NOT_FOUND,
      `ECS cluster '${cluster}' not found or not active${region ? ` in region '${region}'` : ''}. Check the name or ARN, and the region (--region).`,
      { details: { cluster, region } },
    );
  }
  return found.clusterArn;
}

/** The region a client is configured for, or `undefined` when it cannot tell. @internal */
export async function clientRegion(client: { config: { region?: unknown } }): Promise<string | undefined> {
  try {
    const region = client.config.region;
    const value = typeof region === 'function' ? await (region as () => Promise<unknown>)() : region;
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  } catch {
    return undefined; // no region configured: the calls themselves will say so
  }
}

const QUEUE_ATTRIBUTES: QueueAttributeName[] = [
  'QueueArn',
  'Policy',
  'RedrivePolicy',
  'VisibilityTimeout',
  'MessageRetentionPeriod',
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
];

/** The queue, its attributes and tags; `undefined` when it does not exist. @internal */
export async function readQueue(
  sqs: SQSClient,
  name: string,
  signal?: AbortSignal,
): Promise<QueueState | undefined> {
  let url: string | undefined;
  try {
    url = (
      await sqs.send(new (loadSqsSdk().GetQueueUrlCommand)({ QueueName: name }), { abortSignal: signal })
    ).QueueUrl;
  } catch (e) {
    if (isQueueMissing(e)) return undefined;
    throw readFailed(`GetQueueUrl '${name}'`, e);
  }
  if (!url) return undefined;
  try {
    const [attrs, tags] = await Promise.all([
      sqs.send(
        new (loadSqsSdk().GetQueueAttributesCommand)({ QueueUrl: url, AttributeNames: QUEUE_ATTRIBUTES }),
        {
          abortSignal: signal,
        },
      ),
      sqs.send(new (loadSqsSdk().ListQueueTagsCommand)({ QueueUrl: url }), { abortSignal: signal }),
    ]);
    const attributes = attrs.Attributes ?? {};
    const tagMap = tags.Tags ?? {};
    return {
      name,
      url,
      arn: attributes.QueueArn ?? '',
      attributes,
      tags: tagMap,
      owner: ownerOf(tagMap),
    };
  } catch (e) {
    if (isQueueMissing(e)) return undefined; // deleted between the two calls
    throw readFailed(`Reading queue '${name}'`, e);
  }
}

/** The rule, its tags and targets; `undefined` when it does not exist. @internal */
export async function readRule(
  events: EventBridgeClient,
  name: string,
  signal?: AbortSignal,
): Promise<RuleState | undefined> {
  let rule: { Arn?: string; EventPattern?: string; State?: string; Description?: string };
  try {
    rule = await events.send(new (loadEventBridgeSdk().DescribeRuleCommand)({ Name: name }), {
      abortSignal: signal,
    });
  } catch (e) {
    if (isAwsError(e, 'ResourceNotFoundException')) return undefined;
    throw readFailed(`DescribeRule '${name}'`, e);
  }
  if (!rule.Arn) return undefined;
  try {
    const tagsOut = await events.send(
      new (loadEventBridgeSdk().ListTagsForResourceCommand)({ ResourceARN: rule.Arn }),
      {
        abortSignal: signal,
      },
    );
    const tags: Record<string, string> = {};
    for (const t of tagsOut.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
    const targets: Target[] = [];
    let next: string | undefined;
    do {
      const page = await events.send(
        new (loadEventBridgeSdk().ListTargetsByRuleCommand)({ Rule: name, NextToken: next }),
        {
          abortSignal: signal,
        },
      );
      targets.push(...(page.Targets ?? []));
      next = page.NextToken;
    } while (next);
    return {
      name,
      arn: rule.Arn,
      eventPattern: rule.EventPattern,
      state: rule.State,
      description: rule.Description,
      tags,
      owner: ownerOf(tags),
      targets,
    };
  } catch (e) {
    if (isAwsError(e, 'ResourceNotFoundException')) return undefined;
    throw readFailed(`Reading rule '${name}'`, e);
  }
}

/** The event pattern `stevedore events deploy` gives the rule (spec §3.5 item 4). @public */
export function eventPattern(clusterArns: readonly string[]): string {
  return JSON.stringify({
    source: [ECS_EVENT_SOURCE],
    'detail-type': [ECS_TASK_STATE_CHANGE],
    detail: { clusterArn: [...clusterArns] },
  });
}

const asStrings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The cluster ARNs an event pattern filters on; `[]` for a pattern without a cluster filter. @internal */
export function patternClusters(pattern: string | undefined): string[] {
  const doc = parseJson(pattern);
  if (!isRecord(doc) || !isRecord(doc.detail)) return [];
  return asStrings(doc.detail.clusterArn) ?? [];
}

/**
 * True when the pattern delivers every "ECS Task State Change" of the cluster: its source and detail-type lists
 * include them, and the only other filter is a cluster list that includes the cluster (or none at all).
 * @internal
 */
export function patternCovers(pattern: string | undefined, clusterArn: string): boolean {
  const doc = parseJson(pattern);
  if (!isRecord(doc)) return false;
  const allowedTop = new Set(['source', 'detail-type', 'detail', 'account', 'region']);
  if (Object.keys(doc).some((k) => !allowedTop.has(k))) return false;
  if (!asStrings(doc.source)?.includes(ECS_EVENT_SOURCE)) return false;
  if (!asStrings(doc['detail-type'])?.includes(ECS_TASK_STATE_CHANGE)) return false;
  if (doc.detail === undefined) return true;
  if (!isRecord(doc.detail)) return false;
  if (Object.keys(doc.detail).some((k) => k !== 'clusterArn')) return false;
  if (doc.detail.clusterArn === undefined) return true;
  return asStrings(doc.detail.clusterArn)?.includes(clusterArn) ?? false;
}

const toList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const lower = (v: unknown): string => (typeof v === 'string' ? v.toLowerCase() : '');

function principalIsEventBridge(principal: unknown): boolean {
  if (principal === '*') return true;
  if (!isRecord(principal)) return false;
  if (principal.AWS === '*') return true;
  return toList(principal.Service).some((s) => s === 'events.amazonaws.com');
}

/** `*` and `?` glob match, as IAM's `ArnLike` does. */
function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(value);
}

function conditionAllowsRule(condition: unknown, ruleArn: string): boolean {
  if (condition === undefined) return true;
  if (!isRecord(condition)) return false;
  const ops = Object.entries(condition);
  if (ops.length === 0) return true;
  return ops.every(([op, body]) => {
    if (!isRecord(body)) return false;
    const entries = Object.entries(body);
    return entries.every(([key, values]) => {
      if (key.toLowerCase() !== 'aws:sourcearn') return false;
      const list = toList(values).filter((v): v is string => typeof v === 'string');
      if (op === 'ArnEquals' || op === 'StringEquals') return list.includes(ruleArn);
      if (op === 'ArnLike' || op === 'StringLike') return list.some((p) => globMatch(p, ruleArn));
      return false;
    });
  });
}

/**
 * True when the queue policy lets EventBridge send messages from the rule: an Allow statement for
 * `events.amazonaws.com` (or `*`) with `sqs:SendMessage` on the queue, unconditioned or conditioned on the rule's
 * ARN. Conditions it cannot evaluate count as "does not allow" (deploy then adds its own statement).
 * @internal
 */
export function policyAllowsRule(policy: string | undefined, queueArn: string, ruleArn: string): boolean {
  const doc = parseJson(policy);
  if (!isRecord(doc)) return false;
  return toList(doc.Statement).some((raw) => {
    if (!isRecord(raw) || raw.Effect !== 'Allow') return false;
    if (!principalIsEventBridge(raw.Principal)) return false;
    const actions = toList(raw.Action).map(lower);
    if (!actions.some((a) => a === 'sqs:sendmessage' || a === 'sqs:*' || a === '*')) return false;
    const resources = toList(raw.Resource);
    if (resources.length > 0 && !resources.some((r) => r === '*' || r === queueArn)) return false;
    return conditionAllowsRule(raw.Condition, ruleArn);
  });
}

/**
 * The queue policy with Stevedore's statement (Sid {@link POLICY_STATEMENT_SID}) added or replaced, other statements
 * kept: EventBridge may `sqs:SendMessage` to the queue **only from the rule** (`ArnEquals aws:SourceArn`).
 *
 * @remarks Deliberately differs from prefect-aws's stack, whose policy also carries an unconditioned statement that
 * lets any EventBridge rule of any account write to the queue (spec §3.5 item 3).
 * @internal
 */
export function policyWithStatement(policy: string | undefined, queueArn: string, ruleArn: string): string {
  const parsed = parseJson(policy);
  const doc: Record<string, unknown> = isRecord(parsed) ? { ...parsed } : { Version: '2012-10-17' };
  if (doc.Version === undefined) doc.Version = '2012-10-17';
  const statements = toList(doc.Statement).filter((s) => !(isRecord(s) && s.Sid === POLICY_STATEMENT_SID));
  statements.push({
    Sid: POLICY_STATEMENT_SID,
    Effect: 'Allow',
    Principal: { Service: 'events.amazonaws.com' },
    Action: 'sqs:SendMessage',
    Resource: queueArn,
    Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
  });
  doc.Statement = statements;
  return JSON.stringify(doc);
}

/** The dead-letter queue ARN of a `RedrivePolicy` attribute, when it has one. @internal */
export function redriveTarget(
  redrivePolicy: string | undefined,
): { arn: string; maxReceiveCount?: number } | undefined {
  const doc = parseJson(redrivePolicy);
  if (!isRecord(doc) || typeof doc.deadLetterTargetArn !== 'string') return undefined;
  const max = Number(doc.maxReceiveCount);
  return Number.isFinite(max)
    ? { arn: doc.deadLetterTargetArn, maxReceiveCount: max }
    : { arn: doc.deadLetterTargetArn };
}
