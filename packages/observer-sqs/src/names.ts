import { createHash } from 'node:crypto';

/**
 * The queue prefect-aws's observer reads when `PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME` is not set
 * (spec §3.1). Its own `deploy-events` creates `<pool>-ecs-events` instead (spec §3.5), so the two do not meet
 * unless the variable is set.
 * @public
 */
export const REFERENCE_DEFAULT_QUEUE_NAME = 'prefect-ecs-tasks-events';

/** Longest SQS queue name. */
const SQS_NAME_MAX = 80;
/** Longest EventBridge rule name. */
const RULE_NAME_MAX = 64;
const RULE_SUFFIX = '-ecs-task-events';

/**
 * The names of the events resources of one work pool, as prefect-aws's `events-only.json` stack names them
 * (spec §3.5): queue `<pool>-ecs-events`, DLQ `<pool>-ecs-events-dlq`, rule `<pool>-ecs-task-events`.
 * @public
 */
export interface EventsResourceNames {
  queue: string;
  dlq: string;
  rule: string;
  /**
   * True when the pool name had to be changed to make valid AWS names (characters other than letters, digits, `-`
   * and `_` become `-`; a name too long for EventBridge's 64 characters is shortened with a hash). prefect-aws's
   * stack would fail for such a pool, so nothing can be adopted from it.
   */
  sanitized: boolean;
}

/**
 * The pool name as a valid prefix of SQS queue names (letters, digits, `-`, `_`) and EventBridge rule names (64
 * characters with the `-ecs-task-events` suffix). Valid, short pool names are unchanged, so the names are
 * exactly prefect-aws's.
 */
function poolPrefix(pool: string): string {
  const cleaned = pool.replace(/[^A-Za-z0-9_-]/g, '-');
  const max = RULE_NAME_MAX - RULE_SUFFIX.length;
  if (cleaned.length <= max) return cleaned;
  const hash = createHash('sha256').update(pool).digest('hex').slice(0, 8);
  return `${cleaned.slice(0, max - hash.length - 1)}-${hash}`;
}

/**
 * The names of a pool's events resources, shared by `events deploy|status|delete` and the observer's queue
 * resolution, so they always agree.
 * @public
 */
export function eventsResourceNames(pool: string): EventsResourceNames {
  const prefix = poolPrefix(pool);
  return {
    queue: `${prefix}-ecs-events`,
    dlq: `${prefix}-ecs-events-dlq`,
    rule: `${prefix}${RULE_SUFFIX}`,
    sanitized: prefix !== pool,
  };
}

/** Where a queue name the observer tries comes from. @public */
export type QueueNameSource = 'configured' | 'deploy' | 'reference-default' | 'manual-guide';

/** One queue name the observer tries, in order. @public */
export interface QueueCandidate {
  name: string;
  source: QueueNameSource;
}

/**
 * The queues the observer looks for, in order:
 *
 * 1. `queueName` (the CLI maps `PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME` onto it), alone when set;
 * 2. `<pool>-ecs-events`: what `stevedore events deploy` and prefect-aws's `deploy-events` create (spec §3.5);
 * 3. `prefect-ecs-tasks-events`: prefect-aws's default setting (spec §3.1), for workers set up with it;
 * 4. `<pool>-events`: the name prefect-aws's manual setup guide uses.
 *
 * @remarks Deliberately differs from the reference, which reads only its setting's default
 * (`prefect-ecs-tasks-events`) and so never finds the queue its own `deploy-events` creates unless the variable
 * is set (spec §3.1 note). Trying the deploy name first makes `events deploy` + `start` work with no setting.
 * @public
 */
export function queueCandidates(pool: string, queueName?: string): QueueCandidate[] {
  if (queueName) return [{ name: queueName, source: 'configured' }];
  const prefix = poolPrefix(pool);
  const all: QueueCandidate[] = [
    { name: eventsResourceNames(pool).queue, source: 'deploy' },
    { name: REFERENCE_DEFAULT_QUEUE_NAME, source: 'reference-default' },
    { name: `${prefix}-events`.slice(0, SQS_NAME_MAX), source: 'manual-guide' },
  ];
  return all.filter((c, i) => all.findIndex((other) => other.name === c.name) === i);
}
