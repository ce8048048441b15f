import type { Target } from '@aws-sdk/client-eventbridge';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { loadEcsSdk, loadEventBridgeSdk, loadSqsSdk } from './aws-sdk.js';
import {
  clientRegion,
  describeOwner,
  type EventsClients,
  eventPattern,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  POOL_TAG,
  parseArn,
  patternClusters,
  patternCovers,
  policyAllowsRule,
  policyWithStatement,
  type QueueState,
  type ResourceOwner,
  type RuleState,
  readQueue,
  readRule,
  redriveTarget,
  resolveClusterArn,
} from './aws-state.js';
import { describeError, ObserverSqsError, observerSqsErrorCodes } from './errors.js';
import { type EventsResourceNames, eventsResourceNames } from './names.js';

/**
 * The settings of the resources `stevedore events deploy` creates: prefect-aws's `events-only.json` values
 * (spec §3.5): queue visibility 300 s and retention 7 days, DLQ visibility 60 s and retention 14 days, redrive after
 * 3 receives, target id `Target0`, the same rule description.
 * @public
 */
export const EVENTS_DEFAULTS = Object.freeze({
  maxReceiveCount: 3,
  queueVisibilityTimeoutSeconds: 300,
  queueRetentionSeconds: 604_800,
  dlqVisibilityTimeoutSeconds: 60,
  dlqRetentionSeconds: 1_209_600,
  targetId: 'Target0',
  ruleDescription: 'Capture ECS task state changes for Prefect workers',
});

/**
 * The IAM actions `stevedore events deploy|status|delete` call, exactly. CreateQueue and PutRule with tags are also
 * authorized as `sqs:TagQueue` / `events:TagResource`.
 * @public
 */
export const EVENTS_DEPLOY_IAM_ACTIONS: readonly string[] = Object.freeze([
  'ecs:DescribeClusters',
  'sqs:GetQueueUrl',
  'sqs:GetQueueAttributes',
  'sqs:ListQueueTags',
  'sqs:CreateQueue',
  'sqs:TagQueue',
  'sqs:SetQueueAttributes',
  'sqs:DeleteQueue',
  'events:DescribeRule',
  'events:ListTagsForResource',
  'events:ListTargetsByRule',
  'events:PutRule',
  'events:TagResource',
  'events:PutTargets',
  'events:RemoveTargets',
  'events:DeleteRule',
]);

/** The resources of a pool's events setup. @public */
export type EventsResourceKind = 'dlq' | 'queue' | 'queue-policy' | 'rule' | 'target';

/** What deploy does to one resource. `keep`: it exists as needed (created by anyone: adopted, not recreated). @public */
export type PlannedAction = 'create' | 'update' | 'keep';

/** One step of a plan, in the order deploy applies them. @public */
export interface PlannedStep {
  resource: EventsResourceKind;
  name: string;
  action: PlannedAction;
  /** Who owns the resource, when it exists. */
  owner?: ResourceOwner;
  /** What is done and why, for people. */
  detail: string;
}

/** What `stevedore events deploy` targets. @public */
export interface EventsTarget {
  pool: string;
  /** Cluster name or ARN; resolved to the ARN for the rule's pattern. */
  cluster: string;
}

/** Options of the events functions. @public */
export interface EventsCallOptions {
  signal?: AbortSignal;
}

/** The plan of `stevedore events deploy` (all of `--dry-run`). @public */
export interface EventsPlan {
  pool: string;
  cluster: string;
  clusterArn: string;
  region: string;
  names: EventsResourceNames;
  steps: PlannedStep[];
  /** Things deploy will not change (CloudFormation-owned resources that are not as needed); non-empty → nothing is applied. */
  conflicts: string[];
  /** Things worth knowing that do not block (a queue redriving elsewhere, names changed to be valid). */
  notes: string[];
  /** Every step is `keep`. */
  upToDate: boolean;
  /** ARNs: existing ones, or the ones the resources will get. */
  queueArn: string;
  dlqArn: string;
  ruleArn: string;
}

/** The result of {@link deployEventsInfrastructure}. @public */
export interface EventsDeployResult {
  status: 'dry-run' | 'up-to-date' | 'applied' | 'conflict';
  plan: EventsPlan;
  /** The steps applied (none for `dry-run`, `up-to-date` and `conflict`). */
  applied: PlannedStep[];
  queueUrl?: string;
  queueArn: string;
  dlqArn: string;
  ruleArn: string;
  /** One line for people. */
  message: string;
}

/**
 * AWS clients for the events commands: one region for all three, `region` else the cluster ARN's region, else the
 * SDK's default chain. EventBridge delivers ECS events only in the cluster's region, so the rule and the queue live
 * there.
 * @public
 */
export function createEventsClients(options: { region?: string; cluster?: string } = {}): EventsClients {
  const region = options.region ?? (options.cluster ? parseArn(options.cluster)?.region : undefined);
  const config = region ? { region } : {};
  return {
    sqs: new (loadSqsSdk().SQSClient)(config),
    events: new (loadEventBridgeSdk().EventBridgeClient)(config),
    ecs: new (loadEcsSdk().ECSClient)(config),
  };
}

const tagText = (pool: string): string => `tagged ${MANAGED_BY_TAG}=${MANAGED_BY_VALUE}, ${POOL_TAG}=${pool}`;
const reused = (owner: ResourceOwner): string => `exists (${describeOwner(owner)}); reused`;

interface Observed {
  dlq: QueueState | undefined;
  queue: QueueState | undefined;
  rule: RuleState | undefined;
}

interface Computed {
  plan: EventsPlan;
  observed: Observed;
  /** The pattern to put when the rule step is create/update. */
  pattern: string;
  /** The target id to use when the target step is create/update. */
  targetId: string;
}

async function checkRegions(clients: EventsClients, clusterArn: string): Promise<string> {
  const clusterRegion = parseArn(clusterArn)?.region ?? '';
  for (const [service, client] of [
    ['SQS', clients.sqs],
    ['EventBridge', clients.events],
  ] as const) {
    const region = await clientRegion(client);
    if (region && clusterRegion && region !== clusterRegion) {
      throw new ObserverSqsError(
        observerSqsErrorCodes.REGION_MISMATCH,
        `ECS cluster '${clusterArn}' is in region '${clusterRegion}' but the ${service} client uses '${region}'. ` +
          `EventBridge delivers ECS events only in the cluster's region: pass --region ${clusterRegion}.`,
        { details: { clusterArn, clusterRegion, service, region } },
      );
    }
  }
  return clusterRegion;
}

/** The rule's target that sends to the queue. @internal */
export function targetToQueue(rule: RuleState | undefined, queueArn: string): Target | undefined {
  return rule?.targets.find((t) => t.Arn === queueArn);
}

/** The target does not send the raw event. @internal */
export const isTransformed = (t: Target): boolean =>
  t.Input !== undefined || t.InputPath !== undefined || t.InputTransformer !== undefined;

async function compute(
  target: EventsTarget,
  clients: EventsClients,
  signal?: AbortSignal,
): Promise<Computed> {
  const clusterArn = await resolveClusterArn(clients.ecs, target.cluster, signal);
  const region = await checkRegions(clients, clusterArn);
  const arn = parseArn(clusterArn);
  const names = eventsResourceNames(target.pool);
  const [dlq, queue, rule] = await Promise.all([
    readQueue(clients.sqs, names.dlq, signal),
    readQueue(clients.sqs, names.queue, signal),
    readRule(clients.events, names.rule, signal),
  ]);
  const partition = arn?.partition ?? 'aws';
  const account = arn?.account ?? '';
  const dlqArn = dlq?.arn || `arn:${partition}:sqs:${region}:${account}:${names.dlq}`;
  const queueArn = queue?.arn || `arn:${partition}:sqs:${region}:${account}:${names.queue}`;
  const ruleArn = rule?.arn || `arn:${partition}:events:${region}:${account}:rule/${names.rule}`;
  const steps: PlannedStep[] = [];
  const conflicts: string[] = [];
  const notes: string[] = [];
  if (names.sanitized) {
    notes.push(
      `The pool name '${target.pool}' is not valid in AWS resource names; the resources are named '${names.queue}', '${names.dlq}' and '${names.rule}'.`,
    );
  }
  const cfn = (owner: ResourceOwner | undefined): owner is { kind: 'cloudformation'; stackName: string } =>
    owner?.kind === 'cloudformation';

  // DLQ
  steps.push(
    dlq
      ? { resource: 'dlq', name: names.dlq, action: 'keep', owner: dlq.owner, detail: reused(dlq.owner) }
      : {
          resource: 'dlq',
          name: names.dlq,
          action: 'create',
          detail: `create the dead-letter queue (retention 14 days), ${tagText(target.pool)}`,
        },
  );

  // Queue and its redrive policy
  if (!queue) {
    steps.push({
      resource: 'queue',
      name: names.queue,
      action: 'create',
      detail: `create the queue (visibility 300 s, retention 7 days, redrive to '${names.dlq}' after ${EVENTS_DEFAULTS.maxReceiveCount} receives), ${tagText(target.pool)}`,
    });
  } else {
    const redrive = redriveTarget(queue.attributes.RedrivePolicy);
    if (redrive) {
      if (redrive.arn !== dlqArn) {
        notes.push(
          `Queue '${names.queue}' already redrives to '${redrive.arn}', not '${names.dlq}'; left as is.`,
        );
      }
      steps.push({
        resource: 'queue',
        name: names.queue,
        action: 'keep',
        owner: queue.owner,
        detail: reused(queue.owner),
      });
    } else if (cfn(queue.owner)) {
      notes.push(
        `Queue '${names.queue}' (CloudFormation stack '${queue.owner.stackName}') has no redrive policy; left as is.`,
      );
      steps.push({
        resource: 'queue',
        name: names.queue,
        action: 'keep',
        owner: queue.owner,
        detail: reused(queue.owner),
      });
    } else {
      steps.push({
        resource: 'queue',
        name: names.queue,
        action: 'update',
        owner: queue.owner,
        detail: `exists (${describeOwner(queue.owner)}); add a redrive policy to '${names.dlq}' after ${EVENTS_DEFAULTS.maxReceiveCount} receives`,
      });
    }
  }

  // Rule
  let pattern = eventPattern([clusterArn]);
  if (!rule) {
    steps.push({
      resource: 'rule',
      name: names.rule,
      action: 'create',
      detail: `create the rule matching aws.ecs "ECS Task State Change" events of ${clusterArn}, ${tagText(target.pool)}`,
    });
  } else {
    const covers = patternCovers(rule.eventPattern, clusterArn);
    const enabled = rule.state === 'ENABLED';
    if (covers && enabled) {
      steps.push({
        resource: 'rule',
        name: names.rule,
        action: 'keep',
        owner: rule.owner,
        detail: reused(rule.owner),
      });
    } else if (cfn(rule.owner)) {
      conflicts.push(
        `Rule '${names.rule}' belongs to CloudFormation stack '${rule.owner.stackName}' and ${
          covers
            ? 'is disabled'
            : `does not match the task events of ${clusterArn} (pattern: ${rule.eventPattern ?? 'none'})`
        }. Update the stack (prefect-aws ecs-worker deploy-events --existing-cluster-arn ${clusterArn}) or delete it first.`,
      );
      steps.push({
        resource: 'rule',
        name: names.rule,
        action: 'keep',
        owner: rule.owner,
        detail: reused(rule.owner),
      });
    } else {
      const clusters = [...new Set([...patternClusters(rule.eventPattern), clusterArn])];
      pattern = covers && rule.eventPattern ? rule.eventPattern : eventPattern(clusters);
      const what = [
        covers
          ? undefined
          : `set its pattern to aws.ecs "ECS Task State Change" events of ${clusters.join(', ')}`,
        enabled ? undefined : 'enable it',
      ].filter((s): s is string => s !== undefined);
      steps.push({
        resource: 'rule',
        name: names.rule,
        action: 'update',
        owner: rule.owner,
        detail: `exists (${describeOwner(rule.owner)}); ${what.join(' and ')}`,
      });
    }
  }

  // Queue policy
  const policyDetail = `allow events.amazonaws.com to sqs:SendMessage only from rule ${ruleArn}`;
  if (!queue) {
    steps.push({ resource: 'queue-policy', name: names.queue, action: 'create', detail: policyDetail });
  } else if (policyAllowsRule(queue.attributes.Policy, queueArn, ruleArn)) {
    steps.push({
      resource: 'queue-policy',
      name: names.queue,
      action: 'keep',
      owner: queue.owner,
      detail: 'allows EventBridge to send from the rule',
    });
  } else if (cfn(queue.owner)) {
    conflicts.push(
      `The policy of queue '${names.queue}' (CloudFormation stack '${queue.owner.stackName}') does not let rule ${ruleArn} send messages. Update or delete the stack first.`,
    );
    steps.push({
      resource: 'queue-policy',
      name: names.queue,
      action: 'keep',
      owner: queue.owner,
      detail: 'left as is',
    });
  } else {
    steps.push({
      resource: 'queue-policy',
      name: names.queue,
      action: queue.attributes.Policy ? 'update' : 'create',
      owner: queue.owner,
      detail: `${policyDetail}${queue.attributes.Policy ? ' (other statements kept)' : ''}`,
    });
  }

  // Target
  const existingTarget = targetToQueue(rule, queueArn);
  const takenIds = new Set((rule?.targets ?? []).map((t) => t.Id));
  let targetId =
    existingTarget?.Id ??
    (takenIds.has(EVENTS_DEFAULTS.targetId) ? 'StevedoreQueue' : EVENTS_DEFAULTS.targetId);
  if (existingTarget && !isTransformed(existingTarget)) {
    steps.push({
      resource: 'target',
      name: `${names.rule} → ${names.queue}`,
      action: 'keep',
      owner: rule?.owner,
      detail: `target '${existingTarget.Id}' sends the events to the queue`,
    });
  } else if (cfn(rule?.owner)) {
    conflicts.push(
      `Rule '${names.rule}' (CloudFormation stack '${rule?.owner.kind === 'cloudformation' ? rule.owner.stackName : ''}') ${
        existingTarget ? 'transforms the events it sends to' : 'has no target for'
      } queue '${names.queue}'. Update or delete the stack first.`,
    );
    steps.push({
      resource: 'target',
      name: `${names.rule} → ${names.queue}`,
      action: 'keep',
      owner: rule?.owner,
      detail: 'left as is',
    });
  } else {
    targetId = existingTarget?.Id ?? targetId;
    steps.push({
      resource: 'target',
      name: `${names.rule} → ${names.queue}`,
      action: existingTarget ? 'update' : 'create',
      ...(rule ? { owner: rule.owner } : {}),
      detail: existingTarget
        ? `target '${targetId}' transforms the events; send them raw (the observer reads the event itself)`
        : `send the raw events of the rule to the queue (target id '${targetId}')`,
    });
  }

  const plan: EventsPlan = {
    pool: target.pool,
    cluster: target.cluster,
    clusterArn,
    region,
    names,
    steps,
    conflicts,
    notes,
    upToDate: steps.every((s) => s.action === 'keep'),
    queueArn,
    dlqArn,
    ruleArn,
  };
  return { plan, observed: { dlq, queue, rule }, pattern, targetId };
}

/**
 * What `stevedore events deploy` would do, from read-only calls (DescribeClusters, GetQueueUrl, GetQueueAttributes,
 * ListQueueTags, DescribeRule, ListTagsForResource, ListTargetsByRule): `--dry-run` prints it.
 * @throws `OBSERVER_SQS_CLUSTER_NOT_FOUND`, `OBSERVER_SQS_REGION_MISMATCH`, `OBSERVER_SQS_READ_FAILED`.
 * @public
 */
export async function planEventsInfrastructure(
  target: EventsTarget,
  clients: EventsClients,
  options: EventsCallOptions = {},
): Promise<EventsPlan> {
  return (await compute(target, clients, options.signal)).plan;
}

const failed = (what: string, e: unknown, applied: readonly PlannedStep[]): ObserverSqsError =>
  new ObserverSqsError(
    observerSqsErrorCodes.DEPLOY_FAILED,
    `${what} failed: ${describeError(e)}.${
      /QueueDeletedRecently/.test(describeError(e))
        ? ' SQS needs 60 s after a delete before a queue of the same name can be created.'
        : ''
    } Deploy is idempotent: run it again once fixed.`,
    { cause: e, details: { applied: applied.map((s) => `${s.action} ${s.resource} ${s.name}`) } },
  );

async function queueArnOf(sqs: SQSClient, url: string, signal?: AbortSignal): Promise<string> {
  const out = await sqs.send(
    new (loadSqsSdk().GetQueueAttributesCommand)({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    {
      abortSignal: signal,
    },
  );
  return out.Attributes?.QueueArn ?? '';
}

/**
 * `stevedore events deploy --pool P --cluster C`: creates, with direct SDK calls and idempotently, the DLQ
 * `<pool>-ecs-events-dlq`, the queue `<pool>-ecs-events` (redrive after 3 receives), the EventBridge rule
 * `<pool>-ecs-task-events` matching `aws.ecs` "ECS Task State Change" events of the cluster, the queue policy
 * letting EventBridge send from that rule only, and the rule's target — the names of prefect-aws's
 * `deploy-events` stack (spec §3.5), so existing resources are reused (adopted, not recreated). What it creates is
 * tagged `stevedore:managed-by=stevedore` and `stevedore:pool=<pool>`; adopted resources keep their tags.
 *
 * - A second run finds everything in place and changes nothing (`up-to-date`).
 * - `dryRun`: the plan, from read-only calls.
 * - CloudFormation-owned resources are never changed: when one is not as needed, nothing is applied (`conflict`).
 * - Another cluster for the same pool is added to the rule's cluster list.
 *
 * @remarks Differs from the reference, which deploys a CloudFormation stack (spec §3.5): direct calls need no
 * `cloudformation:*` nor `CAPABILITY_NAMED_IAM`, and the queue policy has no unconditioned statement.
 * @throws `OBSERVER_SQS_CLUSTER_NOT_FOUND`, `OBSERVER_SQS_REGION_MISMATCH`, `OBSERVER_SQS_READ_FAILED`,
 * `OBSERVER_SQS_DEPLOY_FAILED` (`details.applied` lists what was done before the failure).
 * @public
 */
export async function deployEventsInfrastructure(
  target: EventsTarget,
  clients: EventsClients,
  options: EventsCallOptions & { dryRun?: boolean } = {},
): Promise<EventsDeployResult> {
  const { signal } = options;
  const { plan, observed, pattern, targetId } = await compute(target, clients, signal);
  const base = { plan, applied: [], queueArn: plan.queueArn, dlqArn: plan.dlqArn, ruleArn: plan.ruleArn };
  const queueUrl = observed.queue?.url;
  if (options.dryRun) {
    const changes = plan.steps.filter((s) => s.action !== 'keep').length;
    return {
      ...base,
      ...(queueUrl ? { queueUrl } : {}),
      status: 'dry-run',
      message: plan.conflicts.length
        ? `Dry run: deploy would stop on ${plan.conflicts.length} conflict(s).`
        : `Dry run: ${changes === 0 ? 'nothing to change' : `${changes} change(s)`}; nothing was changed.`,
    };
  }
  if (plan.conflicts.length > 0) {
    return {
      ...base,
      ...(queueUrl ? { queueUrl } : {}),
      status: 'conflict',
      message: `Nothing was changed: ${plan.conflicts.join(' ')}`,
    };
  }
  if (plan.upToDate) {
    return {
      ...base,
      ...(queueUrl ? { queueUrl } : {}),
      status: 'up-to-date',
      message: `The events resources of pool '${plan.pool}' are in place; nothing to change.`,
    };
  }

  const applied: PlannedStep[] = [];
  const step = (resource: EventsResourceKind): PlannedStep =>
    plan.steps.find((s) => s.resource === resource) as PlannedStep;
  const tags = { [MANAGED_BY_TAG]: MANAGED_BY_VALUE, [POOL_TAG]: plan.pool };
  const { names } = plan;
  let dlqArn = plan.dlqArn;
  let queueArn = plan.queueArn;
  let ruleArn = plan.ruleArn;
  let url = queueUrl;

  const dlqStep = step('dlq');
  if (dlqStep.action === 'create') {
    try {
      const out = await clients.sqs.send(
        new (loadSqsSdk().CreateQueueCommand)({
          QueueName: names.dlq,
          Attributes: {
            MessageRetentionPeriod: String(EVENTS_DEFAULTS.dlqRetentionSeconds),
            VisibilityTimeout: String(EVENTS_DEFAULTS.dlqVisibilityTimeoutSeconds),
          },
          tags,
        }),
        { abortSignal: signal },
      );
      dlqArn = (out.QueueUrl && (await queueArnOf(clients.sqs, out.QueueUrl, signal))) || dlqArn;
    } catch (e) {
      throw failed(`CreateQueue '${names.dlq}'`, e, applied);
    }
    applied.push(dlqStep);
  }

  const redrivePolicy = JSON.stringify({
    deadLetterTargetArn: dlqArn,
    maxReceiveCount: EVENTS_DEFAULTS.maxReceiveCount,
  });
  const queueStep = step('queue');
  try {
    if (queueStep.action === 'create') {
      const out = await clients.sqs.send(
        new (loadSqsSdk().CreateQueueCommand)({
          QueueName: names.queue,
          Attributes: {
            MessageRetentionPeriod: String(EVENTS_DEFAULTS.queueRetentionSeconds),
            VisibilityTimeout: String(EVENTS_DEFAULTS.queueVisibilityTimeoutSeconds),
            RedrivePolicy: redrivePolicy,
          },
          tags,
        }),
        { abortSignal: signal },
      );
      url = out.QueueUrl;
      queueArn = (url && (await queueArnOf(clients.sqs, url, signal))) || queueArn;
      applied.push(queueStep);
    } else if (queueStep.action === 'update' && url) {
      await clients.sqs.send(
        new (loadSqsSdk().SetQueueAttributesCommand)({
          QueueUrl: url,
          Attributes: { RedrivePolicy: redrivePolicy },
        }),
        { abortSignal: signal },
      );
      applied.push(queueStep);
    }
  } catch (e) {
    throw failed(
      `${queueStep.action === 'create' ? 'CreateQueue' : 'SetQueueAttributes'} '${names.queue}'`,
      e,
      applied,
    );
  }

  const ruleStep = step('rule');
  if (ruleStep.action !== 'keep') {
    try {
      const out = await clients.events.send(
        new (loadEventBridgeSdk().PutRuleCommand)({
          Name: names.rule,
          EventPattern: pattern,
          State: 'ENABLED',
          Description: observed.rule?.description ?? EVENTS_DEFAULTS.ruleDescription,
          ...(ruleStep.action === 'create'
            ? { Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }
            : {}),
        }),
        { abortSignal: signal },
      );
      ruleArn = out.RuleArn ?? ruleArn;
    } catch (e) {
      throw failed(`PutRule '${names.rule}'`, e, applied);
    }
    applied.push(ruleStep);
  }

  const policyStep = step('queue-policy');
  if (policyStep.action !== 'keep' && url) {
    try {
      await clients.sqs.send(
        new (loadSqsSdk().SetQueueAttributesCommand)({
          QueueUrl: url,
          Attributes: { Policy: policyWithStatement(observed.queue?.attributes.Policy, queueArn, ruleArn) },
        }),
        { abortSignal: signal },
      );
    } catch (e) {
      throw failed(`SetQueueAttributes Policy '${names.queue}'`, e, applied);
    }
    applied.push(policyStep);
  }

  const targetStep = step('target');
  if (targetStep.action !== 'keep') {
    try {
      const out = await clients.events.send(
        new (loadEventBridgeSdk().PutTargetsCommand)({
          Rule: names.rule,
          Targets: [{ Id: targetId, Arn: queueArn }],
        }),
        { abortSignal: signal },
      );
      if ((out.FailedEntryCount ?? 0) > 0) {
        const entry = out.FailedEntries?.[0];
        throw new Error(
          `${entry?.ErrorCode ?? 'error'}: ${entry?.ErrorMessage ?? 'the target was not added'}`,
        );
      }
    } catch (e) {
      throw failed(`PutTargets '${names.rule}'`, e, applied);
    }
    applied.push(targetStep);
  }

  return {
    plan,
    applied,
    status: 'applied',
    ...(url ? { queueUrl: url } : {}),
    queueArn,
    dlqArn,
    ruleArn,
    message: `Deployed the events resources of pool '${plan.pool}': ${applied
      .map((s) => `${s.action} ${s.resource}`)
      .join(', ')}. The worker finds queue '${names.queue}' without any setting.`,
  };
}
