import { loadEventBridgeSdk, loadSqsSdk } from './aws-sdk.js';
import { describeOwner, type EventsClients, type ResourceOwner, readQueue, readRule } from './aws-state.js';
import type { EventsCallOptions, EventsResourceKind } from './deploy.js';
import { describeError, isQueueMissing, ObserverSqsError, observerSqsErrorCodes } from './errors.js';
import { eventsResourceNames } from './names.js';

/** The result of {@link deleteEventsInfrastructure}. @public */
export interface EventsDeleteResult {
  status: 'deleted' | 'nothing-to-delete' | 'refused' | 'dry-run';
  /** Deleted (or, for `dry-run`, to be deleted), in order. */
  deleted: Array<{ resource: EventsResourceKind; name: string }>;
  /** Existing resources left in place, with why. */
  kept: Array<{ resource: EventsResourceKind; name: string; reason: string }>;
  /** One paragraph for people; for `refused`, which stack owns what and how to delete it. */
  message: string;
}

const isOurs = (owner: ResourceOwner, pool: string): boolean =>
  owner.kind === 'stevedore' && (owner.pool === undefined || owner.pool === pool);

/**
 * `stevedore events delete --pool P`: removes exactly what `events deploy` created — the resources tagged
 * `stevedore:managed-by=stevedore` for this pool — in the order target, rule, queue, DLQ. Adopted resources are kept
 * (with why). When any of the pool's events resources belongs to a CloudFormation stack (tag
 * `aws:cloudformation:stack-name`, e.g. prefect-aws's `deploy-events`), nothing is touched and the result is
 * `refused`, naming the stack and how to delete it.
 * @throws `OBSERVER_SQS_READ_FAILED`, `OBSERVER_SQS_DEPLOY_FAILED` (a delete call failed).
 * @public
 */
export async function deleteEventsInfrastructure(
  target: { pool: string },
  clients: EventsClients,
  options: EventsCallOptions & { dryRun?: boolean } = {},
): Promise<EventsDeleteResult> {
  const { signal } = options;
  const names = eventsResourceNames(target.pool);
  const [dlq, queue, rule] = await Promise.all([
    readQueue(clients.sqs, names.dlq, signal),
    readQueue(clients.sqs, names.queue, signal),
    readRule(clients.events, names.rule, signal),
  ]);
  const existing: Array<{ resource: EventsResourceKind; name: string; owner: ResourceOwner }> = [];
  if (rule) existing.push({ resource: 'rule', name: names.rule, owner: rule.owner });
  if (queue) existing.push({ resource: 'queue', name: names.queue, owner: queue.owner });
  if (dlq) existing.push({ resource: 'dlq', name: names.dlq, owner: dlq.owner });
  const stacks = existing.filter((r) => r.owner.kind === 'cloudformation');
  if (stacks.length > 0) {
    const stackNames = [
      ...new Set(stacks.map((r) => (r.owner.kind === 'cloudformation' ? r.owner.stackName : ''))),
    ];
    return {
      status: 'refused',
      deleted: [],
      kept: existing.map((r) => ({ resource: r.resource, name: r.name, reason: describeOwner(r.owner) })),
      message:
        `Refusing to delete: ${stacks.map((r) => `'${r.name}'`).join(', ')} belong${stacks.length === 1 ? 's' : ''} to CloudFormation stack ${stackNames
          .map((s) => `'${s}'`)
          .join(', ')}. Nothing was changed. Delete the stack instead: ` +
        stackNames.map((s) => `aws cloudformation delete-stack --stack-name ${s}`).join('; ') +
        ' (or prefect-aws ecs-worker delete <stack>).',
    };
  }

  const deleted: EventsDeleteResult['deleted'] = [];
  const kept: EventsDeleteResult['kept'] = [];
  const dryRun = options.dryRun ?? false;
  const ownQueue = queue && isOurs(queue.owner, target.pool) ? queue : undefined;
  const keepReason = (owner: ResourceOwner): string =>
    owner.kind === 'stevedore'
      ? `created by stevedore for pool '${owner.pool}'`
      : 'not created by stevedore events deploy';

  const run = async (what: string, call: () => Promise<unknown>): Promise<void> => {
    if (dryRun) return;
    try {
      await call();
    } catch (e) {
      if (isQueueMissing(e)) return; // already gone
      throw new ObserverSqsError(
        observerSqsErrorCodes.DEPLOY_FAILED,
        `${what} failed: ${describeError(e)}. Run delete again once fixed.`,
        {
          cause: e,
          details: { deleted: deleted.map((d) => `${d.resource} ${d.name}`) },
        },
      );
    }
  };

  if (rule) {
    const ruleIsOurs = isOurs(rule.owner, target.pool);
    // Our target: the one sending to our queue. Removed with our rule, and also from an adopted rule when the queue
    // it points at is deleted (a target to a deleted queue only produces delivery failures).
    const ours = rule.targets.filter((t) => queue && t.Arn === queue.arn && (ruleIsOurs || ownQueue));
    if (ours.length > 0) {
      await run(`RemoveTargets '${names.rule}'`, () =>
        clients.events.send(
          new (loadEventBridgeSdk().RemoveTargetsCommand)({
            Rule: names.rule,
            Ids: ours.map((t) => t.Id ?? '').filter(Boolean),
          }),
          { abortSignal: signal },
        ),
      );
      deleted.push({ resource: 'target', name: `${names.rule} → ${names.queue}` });
    }
    const others = rule.targets.length - ours.length;
    if (!ruleIsOurs) kept.push({ resource: 'rule', name: names.rule, reason: keepReason(rule.owner) });
    else if (others > 0) {
      kept.push({ resource: 'rule', name: names.rule, reason: `it has ${others} other target(s)` });
    } else {
      await run(`DeleteRule '${names.rule}'`, () =>
        clients.events.send(new (loadEventBridgeSdk().DeleteRuleCommand)({ Name: names.rule }), {
          abortSignal: signal,
        }),
      );
      deleted.push({ resource: 'rule', name: names.rule });
    }
  }
  for (const [kind, q] of [
    ['queue', queue],
    ['dlq', dlq],
  ] as const) {
    if (!q) continue;
    if (!isOurs(q.owner, target.pool)) {
      kept.push({ resource: kind, name: q.name, reason: keepReason(q.owner) });
      continue;
    }
    await run(`DeleteQueue '${q.name}'`, () =>
      clients.sqs.send(new (loadSqsSdk().DeleteQueueCommand)({ QueueUrl: q.url }), { abortSignal: signal }),
    );
    deleted.push({ resource: kind, name: q.name });
  }
  const status: EventsDeleteResult['status'] = dryRun
    ? 'dry-run'
    : deleted.length > 0
      ? 'deleted'
      : 'nothing-to-delete';
  const keptText = kept.length > 0 ? ` Kept: ${kept.map((k) => `${k.name} (${k.reason})`).join(', ')}.` : '';
  const message =
    status === 'nothing-to-delete'
      ? `Nothing to delete for pool '${target.pool}'.${keptText}`
      : `${dryRun ? 'Would delete' : 'Deleted'}: ${deleted.map((d) => `${d.resource} ${d.name}`).join(', ') || 'nothing'}.${keptText}${
          !dryRun && deleted.some((d) => d.resource === 'queue' || d.resource === 'dlq')
            ? ' SQS needs 60 s before a queue of the same name can be created again.'
            : ''
        }`;
  return { status, deleted, kept, message };
}
