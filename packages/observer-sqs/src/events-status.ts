import {
  type EventsClients,
  patternCovers,
  policyAllowsRule,
  type QueueState,
  type ResourceOwner,
  readQueue,
  readRule,
  redriveTarget,
  resolveClusterArn,
} from './aws-state.js';
import {
  EVENTS_DEFAULTS,
  type EventsCallOptions,
  type EventsResourceKind,
  isTransformed,
  targetToQueue,
} from './deploy.js';
import { type EventsResourceNames, eventsResourceNames } from './names.js';

/** Message counts of a queue. @public */
export interface QueueDepth {
  /** `ApproximateNumberOfMessages`: waiting to be received. */
  visible: number;
  /** `ApproximateNumberOfMessagesNotVisible`: received, not yet deleted. */
  inFlight: number;
  /** `ApproximateNumberOfMessagesDelayed`. */
  delayed: number;
}

/** One resource in {@link EventsStatusResult}. @public */
export interface EventsResourceStatus {
  resource: EventsResourceKind;
  name: string;
  exists: boolean;
  owner?: ResourceOwner;
  arn?: string;
  url?: string;
  detail?: string;
}

/** The result of {@link eventsStatus}. @public */
export interface EventsStatusResult {
  pool: string;
  names: EventsResourceNames;
  /** The cluster checked against the rule's pattern, when one was given. */
  clusterArn?: string;
  resources: EventsResourceStatus[];
  missing: EventsResourceKind[];
  queueDepth?: QueueDepth;
  dlqDepth?: QueueDepth;
  /** What does not work or needs attention (missing resources, DLQ messages, a disabled rule…). */
  problems: string[];
  /** Everything exists and works. */
  ok: boolean;
}

const count = (v: string | undefined): number => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

function depthOf(queue: QueueState): QueueDepth {
  return {
    visible: count(queue.attributes.ApproximateNumberOfMessages),
    inFlight: count(queue.attributes.ApproximateNumberOfMessagesNotVisible),
    delayed: count(queue.attributes.ApproximateNumberOfMessagesDelayed),
  };
}

/**
 * `stevedore events status --pool P [--cluster C]`: which of the pool's events resources exist, who owns them,
 * whether they are wired together (redrive, policy, target, the cluster in the rule's pattern), and the queue and
 * DLQ depths. Read-only.
 * @throws `OBSERVER_SQS_CLUSTER_NOT_FOUND` (with a cluster), `OBSERVER_SQS_READ_FAILED`.
 * @public
 */
export async function eventsStatus(
  target: { pool: string; cluster?: string },
  clients: EventsClients,
  options: EventsCallOptions = {},
): Promise<EventsStatusResult> {
  const { signal } = options;
  const names = eventsResourceNames(target.pool);
  const clusterArn = target.cluster
    ? await resolveClusterArn(clients.ecs, target.cluster, signal)
    : undefined;
  const [dlq, queue, rule] = await Promise.all([
    readQueue(clients.sqs, names.dlq, signal),
    readQueue(clients.sqs, names.queue, signal),
    readRule(clients.events, names.rule, signal),
  ]);
  const problems: string[] = [];
  const resources: EventsResourceStatus[] = [];
  const queueStatus = (
    kind: 'dlq' | 'queue',
    name: string,
    q: QueueState | undefined,
  ): EventsResourceStatus =>
    q
      ? { resource: kind, name, exists: true, owner: q.owner, arn: q.arn, url: q.url }
      : { resource: kind, name, exists: false };
  resources.push(queueStatus('dlq', names.dlq, dlq));
  const qs = queueStatus('queue', names.queue, queue);
  if (queue) {
    const redrive = redriveTarget(queue.attributes.RedrivePolicy);
    qs.detail = redrive
      ? `redrives to ${redrive.arn} after ${redrive.maxReceiveCount ?? '?'} receives`
      : 'no redrive policy';
    if (!redrive)
      problems.push(`Queue '${names.queue}' has no redrive policy: failing messages are never set aside.`);
    else if (dlq && redrive.arn !== dlq.arn)
      problems.push(`Queue '${names.queue}' redrives to ${redrive.arn}, not '${names.dlq}'.`);
  }
  resources.push(qs);
  const policyOk = Boolean(queue && rule && policyAllowsRule(queue.attributes.Policy, queue.arn, rule.arn));
  resources.push({
    resource: 'queue-policy',
    name: names.queue,
    exists: policyOk,
    ...(queue ? { owner: queue.owner } : {}),
    detail: policyOk
      ? 'allows EventBridge to send from the rule'
      : queue?.attributes.Policy
        ? 'does not allow the rule to send messages'
        : 'no policy',
  });
  const rs: EventsResourceStatus = rule
    ? {
        resource: 'rule',
        name: names.rule,
        exists: true,
        owner: rule.owner,
        arn: rule.arn,
        detail: `${rule.state ?? 'unknown state'}; pattern ${rule.eventPattern ?? 'none'}`,
      }
    : { resource: 'rule', name: names.rule, exists: false };
  if (rule && rule.state !== 'ENABLED')
    problems.push(`Rule '${names.rule}' is ${rule.state ?? 'not enabled'}.`);
  if (rule && clusterArn && !patternCovers(rule.eventPattern, clusterArn)) {
    problems.push(`Rule '${names.rule}' does not match the task events of ${clusterArn}.`);
  }
  resources.push(rs);
  const t = queue ? targetToQueue(rule, queue.arn) : undefined;
  resources.push({
    resource: 'target',
    name: `${names.rule} → ${names.queue}`,
    exists: Boolean(t),
    ...(rule ? { owner: rule.owner } : {}),
    ...(t
      ? { detail: isTransformed(t) ? `target '${t.Id}' transforms the events` : `target '${t.Id}'` }
      : {}),
  });
  if (t && isTransformed(t))
    problems.push(`Target '${t.Id}' transforms the events; the observer needs them raw.`);
  const missing = resources.filter((r) => !r.exists).map((r) => r.resource);
  if (missing.length > 0) {
    problems.unshift(
      `Missing: ${missing.join(', ')}. Run \`stevedore events deploy --pool ${JSON.stringify(target.pool)} --cluster ${target.cluster ?? '<cluster>'}\`.`,
    );
  }
  const dlqDepth = dlq ? depthOf(dlq) : undefined;
  if (dlqDepth && dlqDepth.visible > 0) {
    problems.push(
      `${dlqDepth.visible} message(s) in the dead-letter queue '${names.dlq}': events that failed ${EVENTS_DEFAULTS.maxReceiveCount} times (see the worker's warnings).`,
    );
  }
  return {
    pool: target.pool,
    names,
    ...(clusterArn ? { clusterArn } : {}),
    resources,
    missing,
    ...(queue ? { queueDepth: depthOf(queue) } : {}),
    ...(dlqDepth ? { dlqDepth } : {}),
    problems,
    ok: problems.length === 0,
  };
}
