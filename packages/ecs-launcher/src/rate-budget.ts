import type {
  FinalizeHandlerArguments,
  FinalizeHandlerOutput,
  FinalizeRequestMiddleware,
  HandlerExecutionContext,
  MetadataBearer,
  MiddlewareStack,
} from '@smithy/types';
import type { Clock } from '@stevedore/kernel';
import { SMITHY_CONTEXT_KEY } from './aws-sdk.js';

/**
 * A token-bucket quota: `burst` tokens at most, refilled at `ratePerSecond`. The same terms AWS uses for its
 * API throttling ("bucket maximum capacity" = burst, "bucket refill rate" = sustained rate).
 * @public
 */
export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

/**
 * Default budgets per API operation, from AWS's documented per-account, per-Region throttling quotas:
 *
 * - ECS, "Request throttling for the Amazon ECS API" (docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html):
 *   cluster resource modify actions (RunTask, StopTask, …) burst 100 / sustained 40; cluster resource read actions
 *   (DescribeTasks, ListTasks, …) 100 / 20; task definition read actions (DescribeTaskDefinition,
 *   ListTaskDefinitions) 50 / 20; task definition modify actions (RegisterTaskDefinition, DeregisterTaskDefinition)
 *   20 / 1; tag modify actions (TagResource) 20 / 10; cluster read actions (DescribeClusters) 50 / 20.
 * - Fargate additionally throttles RunTask to burst 100 / sustained 20 ("AWS Fargate throttling quotas",
 *   docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html): the stricter of the two is used, as most
 *   pools run on Fargate.
 * - EC2, "Request throttling for the Amazon EC2 API" (docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html):
 *   non-mutating actions (DescribeVpcs, DescribeSubnets, DescribeSecurityGroups) 100 / 20.
 * - CloudWatch Logs quotas (docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html):
 *   GetLogEvents 25 transactions per second; no burst is documented, so the burst equals the rate.
 *
 * @remarks AWS counts some of these per *category* (RunTask and StopTask share one bucket) and per account, across
 * every client of the account; this budget counts per operation and per process. It is a pacing aid that keeps a
 * burst of runs from hammering the API, not an exact mirror of the account's quota: throttles from other consumers
 * of the account are handled by the adaptive decrease and the SDK's retries.
 * @public
 */
export const DEFAULT_RATE_LIMITS: Readonly<Record<string, Readonly<RateLimit>>> = Object.freeze({
  RunTask: { ratePerSecond: 20, burst: 100 },
  StopTask: { ratePerSecond: 40, burst: 100 },
  DescribeTasks: { ratePerSecond: 20, burst: 100 },
  ListTasks: { ratePerSecond: 20, burst: 100 },
  DescribeTaskDefinition: { ratePerSecond: 20, burst: 50 },
  ListTaskDefinitions: { ratePerSecond: 20, burst: 50 },
  RegisterTaskDefinition: { ratePerSecond: 1, burst: 20 },
  DeregisterTaskDefinition: { ratePerSecond: 1, burst: 20 },
  TagResource: { ratePerSecond: 10, burst: 20 },
  DescribeClusters: { ratePerSecond: 20, burst: 50 },
  DescribeVpcs: { ratePerSecond: 20, burst: 100 },
  DescribeSubnets: { ratePerSecond: 20, burst: 100 },
  DescribeSecurityGroups: { ratePerSecond: 20, burst: 100 },
  GetLogEvents: { ratePerSecond: 25, burst: 25 },
});

/** The budget of an operation without a documented quota above (conservative: the lowest read rate, 20/s, burst 20). @public */
export const FALLBACK_RATE_LIMIT: Readonly<RateLimit> = Object.freeze({ ratePerSecond: 20, burst: 20 });

/** Which bucket a call draws from. @public */
export interface RateBudgetKey {
  /** The client's region (`default` when the SDK chain has none). */
  region: string;
  /** `ecs`, `ec2`, `logs`. */
  service: string;
  /** The API operation, e.g. `RunTask`. */
  operation: string;
}

/** Options of {@link RateBudget}. @public */
export interface RateBudgetOptions {
  clock: Clock;
  /** Per-operation overrides of {@link DEFAULT_RATE_LIMITS}; a partial entry keeps the default's other field. */
  limits?: Readonly<Partial<Record<string, Partial<RateLimit>>>>;
  /** Share of the configured rate regained per successful call after a throttle (additive increase). Default 0.05. */
  recoveryFraction?: number;
  /** Lowest rate the multiplicative decrease goes to, as a share of the configured rate. Default 1/16. */
  floorFraction?: number;
  /** Throttles closer than this to the last decrease do not halve the rate again (one decrease per burst of errors). Default 1000 ms. */
  decreaseCooldownMs?: number;
}

/**
 * One token bucket with an adaptive refill rate (AIMD): a throttle halves the rate (not below the floor) and empties
 * the bucket; each success adds back a fixed share of the configured rate, never above it.
 *
 * Tokens may go negative: {@link TokenBucket.reserve} takes a token at once and tells how long to wait for it, so
 * concurrent callers are served in order without polling (the "virtual scheduling" form of the token bucket).
 * Times are milliseconds from an injected clock.
 * @public
 */
export class TokenBucket {
  private tokens: number;
  private currentRate: number;
  private last: number;
  private lastDecrease = Number.NEGATIVE_INFINITY;
  private readonly floor: number;
  private readonly step: number;
  private readonly cooldownMs: number;

  constructor(
    readonly limit: Readonly<RateLimit>,
    now: number,
    options: Pick<RateBudgetOptions, 'recoveryFraction' | 'floorFraction' | 'decreaseCooldownMs'> = {},
  ) {
    this.tokens = limit.burst;
    this.currentRate = limit.ratePerSecond;
    this.last = now;
    this.floor = limit.ratePerSecond * (options.floorFraction ?? 1 / 16);
    this.step = limit.ratePerSecond * (options.recoveryFraction ?? 0.05);
    this.cooldownMs = options.decreaseCooldownMs ?? 1000;
  }

  /** The refill rate in force now (tokens per second). */
  get rate(): number {
    return this.currentRate;
  }

  /** Tokens in the bucket at `now` (negative: that many reservations are waiting). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes one token; returns how many milliseconds the caller must wait before using it (0: go now). */
  reserve(now: number): number {
    this.refill(now);
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    return Math.ceil((-this.tokens / this.currentRate) * 1000);
  }

  /** Gives back a reserved token that was not used (the caller was aborted while waiting). */
  cancel(): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + 1);
  }

  /** AWS said "slow down": halve the rate (once per cooldown) and spend no saved-up burst. */
  onThrottle(now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.tokens, 0);
    if (now - this.lastDecrease < this.cooldownMs) return;
    this.lastDecrease = now;
    this.currentRate = Math.max(this.floor, this.currentRate / 2);
  }

  /** A call went through: recover a little of the rate lost to throttles. */
  onSuccess(now: number): void {
    this.refill(now);
    this.currentRate = Math.min(this.limit.ratePerSecond, this.currentRate + this.step);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.limit.burst, this.tokens + (elapsed / 1000) * this.currentRate);
  }
}

/**
 * Every AWS call of one {@link EcsInfrastructure} draws from this budget: one {@link TokenBucket} per
 * (region, service, operation), shared by all the clients the infrastructure uses (one per `aws_credentials`
 * block), so a burst of runs is paced instead of failed.
 * @public
 */
export class RateBudget {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly clock: Clock;

  constructor(private readonly options: RateBudgetOptions) {
    this.clock = options.clock;
  }

  /** The configured limit of an operation: its override, else {@link DEFAULT_RATE_LIMITS}, else the fallback. */
  limitFor(operation: string): RateLimit {
    const base = DEFAULT_RATE_LIMITS[operation] ?? FALLBACK_RATE_LIMIT;
    const override = this.options.limits?.[operation];
    return {
      ratePerSecond: override?.ratePerSecond ?? base.ratePerSecond,
      burst: override?.burst ?? base.burst,
    };
  }

  /** The bucket of `key`, created full on first use. */
  bucket(key: RateBudgetKey): TokenBucket {
    const id = `${key.region}\0${key.service}\0${key.operation}`;
    let bucket = this.buckets.get(id);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.limitFor(key.operation), this.now(), this.options);
      this.buckets.set(id, bucket);
    }
    return bucket;
  }

  /**
   * Waits for a token of `key`'s bucket.
   * @throws the signal's reason when it aborts while waiting (the token is given back).
   */
  async acquire(key: RateBudgetKey, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const bucket = this.bucket(key);
    const waitMs = bucket.reserve(this.now());
    if (waitMs <= 0) return;
    try {
      await this.clock.sleep(waitMs, signal);
    } catch (e) {
      bucket.cancel();
      throw e;
    }
  }

  recordSuccess(key: RateBudgetKey): void {
    this.bucket(key).onSuccess(this.now());
  }

  recordThrottle(key: RateBudgetKey): void {
    this.bucket(key).onThrottle(this.now());
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}

/**
 * Error names the AWS SDK treats as throttling (smithy's `THROTTLING_ERROR_CODES`), less `LimitExceededException`:
 * ECS uses that name for resource limits (too many tags, revisions…), which waiting does not fix.
 */
const THROTTLING_ERROR_NAMES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);

/**
 * True when `e` is an AWS throttling error (`ThrottlingException`, EC2's `RequestLimitExceeded`, HTTP 429, or an
 * error the SDK marked `$retryable.throttling`). Duck-typed: works across duplicate SDK copies.
 * @public
 */
export function isThrottlingError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const rec = e as {
    name?: unknown;
    $retryable?: { throttling?: unknown };
    $metadata?: { httpStatusCode?: unknown };
  };
  return (
    (typeof rec.name === 'string' && THROTTLING_ERROR_NAMES.has(rec.name)) ||
    rec.$retryable?.throttling === true ||
    rec.$metadata?.httpStatusCode === 429
  );
}

/** The name under which the budget middleware sits in a client's middleware stack. @public */
export const RATE_BUDGET_MIDDLEWARE_NAME = 'stevedoreRateBudgetMiddleware';

/** The part of an SDK v3 client {@link installRateBudget} needs. @public */
export interface RateBudgetedClient<I extends object, O extends MetadataBearer> {
  middlewareStack: MiddlewareStack<I, O>;
  config: { region: unknown };
}

function abortSignalOf(context: HandlerExecutionContext): AbortSignal | undefined {
  const signal = context[SMITHY_CONTEXT_KEY]?.abortSignal;
  return signal instanceof AbortSignal ? signal : undefined;
}

/** `RunTaskCommand` → `RunTask`. */
function operationOf(context: HandlerExecutionContext): string {
  const name = context.commandName ?? 'Unknown';
  return name.endsWith('Command') ? name.slice(0, -'Command'.length) : name;
}

async function regionOf(client: { config: { region: unknown } }): Promise<string> {
  const r = client.config.region;
  try {
    const value = typeof r === 'function' ? await (r as () => Promise<unknown>)() : r;
    return typeof value === 'string' && value !== '' ? value : 'default';
  } catch {
    // No region anywhere in the chain: the call itself fails with the SDK's "Region is missing", which names the
    // fix; the budget just needs a key.
    return 'default';
  }
}

/**
 * The middleware: waits for a token before each HTTP attempt, then feeds the outcome back to the bucket
 * (a throttle halves its rate, a success recovers some).
 * @internal
 */
/** Told the outcome of every HTTP attempt a budgeted client makes (metrics). @public */
export type AwsAttemptObserver = (key: RateBudgetKey, outcome: 'ok' | 'throttled' | 'error') => void;

export function rateBudgetMiddleware<I extends object, O extends MetadataBearer>(
  budget: RateBudget,
  service: string,
  region: () => Promise<string>,
  observe?: AwsAttemptObserver,
): FinalizeRequestMiddleware<I, O> {
  return (next, context) =>
    async (args: FinalizeHandlerArguments<I>): Promise<FinalizeHandlerOutput<O>> => {
      const key: RateBudgetKey = { region: await region(), service, operation: operationOf(context) };
      await budget.acquire(key, abortSignalOf(context));
      try {
        const out = await next(args);
        budget.recordSuccess(key);
        observe?.(key, 'ok');
        return out;
      } catch (e) {
        const throttled = isThrottlingError(e);
        if (throttled) budget.recordThrottle(key);
        observe?.(key, throttled ? 'throttled' : 'error');
        throw e;
      }
    };
}

/**
 * Adds the budget to a client's middleware stack (idempotent: a second install replaces the first).
 *
 * @remarks Placement: inside the SDK's retry loop, just before request signing, rather than at the `initialize` or
 * `build` step. AWS counts every HTTP attempt against the quota, so every attempt — retries included — takes a
 * token, and a throttled attempt lowers the rate even when the SDK's retry then succeeds (above the retry loop the
 * budget would only see the final outcome). Waiting before signing keeps the SigV4 timestamp fresh however long the
 * wait. When a future SDK renames the signing middleware, the budget falls back to the start of the
 * `finalizeRequest` step (before the retry loop).
 * @public
 */
export function installRateBudget<I extends object, O extends MetadataBearer>(
  client: RateBudgetedClient<I, O>,
  budget: RateBudget,
  service: string,
  observe?: AwsAttemptObserver,
): void {
  let region: Promise<string> | undefined;
  const mw = rateBudgetMiddleware<I, O>(
    budget,
    service,
    () => {
      region ??= regionOf(client);
      return region;
    },
    observe,
  );
  const stack = client.middlewareStack;
  const hasSigning = stack.identify().some((entry) => entry.startsWith('httpSigningMiddleware'));
  if (hasSigning) {
    stack.addRelativeTo(mw, {
      relation: 'before',
      toMiddleware: 'httpSigningMiddleware',
      name: RATE_BUDGET_MIDDLEWARE_NAME,
      override: true,
    });
  } else {
    stack.add(mw, {
      step: 'finalizeRequest',
      priority: 'high',
      name: RATE_BUDGET_MIDDLEWARE_NAME,
      override: true,
    });
  }
}
