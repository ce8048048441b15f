import type {
  AwsFaultController,
  AwsFaultHandle,
  AwsFaultRequestInfo,
  AwsFaultRule,
  AwsQuotaOptions,
  AwsServiceName,
  TokenBucketQuota,
} from './types.js';

/**
 * Default token buckets, per account and Region as AWS applies them. Sources:
 * - ECS: "Request throttling for the Amazon ECS API" (APIReference/request-throttling.html) describes
 *   per-action token buckets without a stable public table for every action; RunTask uses the Fargate
 *   task launch rate from "AWS Fargate throttling quotas" (burst 100, refill 20/s, documented). The other
 *   ECS numbers are approximations in the same range (reads 100/20, writes 20/5, StopTask 100/40).
 * - EC2: "Request throttling for the Amazon EC2 API": non-mutating (Describe*) actions 100 burst, 20/s refill.
 * - CloudWatch Logs quotas: GetLogEvents 25 TPS, FilterLogEvents 5 TPS (per account and Region).
 */
export const DEFAULT_QUOTAS: Readonly<Record<string, TokenBucketQuota>> = {
  'ecs:RunTask': { burst: 100, ratePerSecond: 20 },
  'ecs:StopTask': { burst: 100, ratePerSecond: 40 },
  'ecs:DescribeTasks': { burst: 100, ratePerSecond: 20 },
  'ecs:ListTasks': { burst: 100, ratePerSecond: 20 },
  'ecs:DescribeTaskDefinition': { burst: 100, ratePerSecond: 20 },
  'ecs:ListTaskDefinitions': { burst: 100, ratePerSecond: 20 },
  'ecs:DescribeClusters': { burst: 100, ratePerSecond: 20 },
  'ecs:ListTagsForResource': { burst: 100, ratePerSecond: 20 },
  'ecs:RegisterTaskDefinition': { burst: 20, ratePerSecond: 5 },
  'ecs:DeregisterTaskDefinition': { burst: 20, ratePerSecond: 5 },
  'ecs:TagResource': { burst: 20, ratePerSecond: 5 },
  'ecs:UntagResource': { burst: 20, ratePerSecond: 5 },
  'ec2:DescribeVpcs': { burst: 100, ratePerSecond: 20 },
  'ec2:DescribeSubnets': { burst: 100, ratePerSecond: 20 },
  'ec2:DescribeSecurityGroups': { burst: 100, ratePerSecond: 20 },
  'logs:GetLogEvents': { burst: 25, ratePerSecond: 25 },
  'logs:FilterLogEvents': { burst: 5, ratePerSecond: 5 },
};

class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(readonly quota: TokenBucketQuota) {
    this.tokens = quota.burst;
    this.last = performance.now();
  }

  take(n: number): boolean {
    const now = performance.now();
    this.tokens = Math.min(
      this.quota.burst,
      this.tokens + ((now - this.last) / 1000) * this.quota.ratePerSecond,
    );
    this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

export class Quotas {
  private readonly buckets = new Map<string, TokenBucket>();
  enforce: boolean;

  constructor(options: AwsQuotaOptions | false | undefined) {
    this.enforce = options !== false && options?.enforce !== false;
    const overrides = options === false ? {} : (options?.overrides ?? {});
    for (const [key, quota] of Object.entries({ ...DEFAULT_QUOTAS, ...overrides })) {
      this.buckets.set(key, new TokenBucket(quota));
    }
  }

  /** False when the request is over quota. `tokens` is how many the call consumes (RunTask: its `count`). */
  admit(key: string, tokens = 1): boolean {
    if (!this.enforce) return true;
    const bucket = this.buckets.get(key);
    return bucket ? bucket.take(tokens) : true;
  }

  set(key: string, quota: TokenBucketQuota): void {
    this.buckets.set(key, new TokenBucket(quota));
  }

  all(): Record<string, TokenBucketQuota> {
    const out: Record<string, TokenBucketQuota> = {};
    for (const [key, bucket] of this.buckets) out[key] = { ...bucket.quota };
    return out;
  }
}

export interface FaultPlan {
  latencyMs: number;
  error: NonNullable<AwsFaultRule['error']> | null;
  drop: 'before' | 'after' | null;
  names: string[];
}

interface ActiveRule {
  rule: AwsFaultRule;
  name: string;
  remaining: number;
  hits: number;
}

function operationMatches(pattern: string, service: AwsServiceName, operation: string): boolean {
  const i = pattern.indexOf(':');
  if (i < 0) return pattern === operation;
  return pattern.slice(0, i) === service && pattern.slice(i + 1) === operation;
}

function ruleMatches(rule: AwsFaultRule, info: AwsFaultRequestInfo): boolean {
  if (rule.service !== undefined && rule.service !== info.service) return false;
  if (rule.operation !== undefined) {
    const ops = typeof rule.operation === 'string' ? [rule.operation] : rule.operation;
    if (!ops.some((p) => operationMatches(p, info.service, info.operation))) return false;
  }
  return !rule.when || rule.when(info);
}

const SERVER_ERROR: Record<AwsServiceName, { code: string; status: number }> = {
  ecs: { code: 'ServerException', status: 500 },
  logs: { code: 'ServiceUnavailableException', status: 503 },
  ec2: { code: 'InternalError', status: 500 },
  sqs: { code: 'InternalFailure', status: 500 },
  events: { code: 'InternalException', status: 500 },
  sts: { code: 'InternalFailure', status: 500 },
  iam: { code: 'ServiceFailure', status: 500 },
  s3: { code: 'InternalError', status: 500 },
};

export const THROTTLE_ERROR: Record<AwsServiceName, { code: string; status: number; message: string }> = {
  ecs: { code: 'ThrottlingException', status: 400, message: 'Rate exceeded' },
  logs: { code: 'ThrottlingException', status: 400, message: 'Rate exceeded' },
  ec2: { code: 'RequestLimitExceeded', status: 503, message: 'Request limit exceeded.' },
  sqs: { code: 'RequestThrottled', status: 403, message: 'Rate exceeded' },
  events: { code: 'ThrottlingException', status: 400, message: 'Rate exceeded' },
  sts: { code: 'Throttling', status: 400, message: 'Rate exceeded' },
  iam: { code: 'Throttling', status: 400, message: 'Rate exceeded' },
  s3: { code: 'SlowDown', status: 503, message: 'Please reduce your request rate.' },
};

/** Fault rules consulted in insertion order; latencies add up, the first error or drop decides. */
export class Faults implements AwsFaultController {
  private rules: ActiveRule[] = [];
  private counter = 0;
  private latency: { ms: number; operation?: string } = { ms: 0 };

  constructor(
    private readonly rng: () => number,
    private readonly quotaTable: Quotas,
  ) {}

  add(rule: AwsFaultRule): AwsFaultHandle {
    this.counter += 1;
    const active: ActiveRule = {
      rule,
      name: rule.name ?? `fault-${this.counter}`,
      remaining: rule.times ?? Number.POSITIVE_INFINITY,
      hits: 0,
    };
    this.rules.push(active);
    return {
      name: active.name,
      hits: () => active.hits,
      remaining: () => active.remaining,
      remove: () => {
        this.rules = this.rules.filter((r) => r !== active);
      },
    };
  }

  throttle(operation: string, times = 1): AwsFaultHandle {
    return this.add({ name: `throttle ${operation}`, operation, times, error: { code: '@throttle' } });
  }

  serverError(operation: string, times = 1): AwsFaultHandle {
    return this.add({ name: `server error ${operation}`, operation, times, error: { code: '@server' } });
  }

  loseResponse(operation: string, times = 1): AwsFaultHandle {
    return this.add({ name: `lose response ${operation}`, operation, times, drop: 'after' });
  }

  setLatency(ms: number, operation?: string): void {
    this.latency = operation === undefined ? { ms } : { ms, operation };
  }

  clear(): void {
    this.rules = [];
    this.latency = { ms: 0 };
  }

  enforceQuotas(enabled: boolean): void {
    this.quotaTable.enforce = enabled;
  }

  setQuota(operation: string, quota: TokenBucketQuota): void {
    this.quotaTable.set(operation, quota);
  }

  quotas(): Record<string, TokenBucketQuota> {
    return this.quotaTable.all();
  }

  plan(info: AwsFaultRequestInfo): FaultPlan {
    const plan: FaultPlan = { latencyMs: 0, error: null, drop: null, names: [] };
    const lat = this.latency;
    if (
      lat.ms > 0 &&
      (lat.operation === undefined || operationMatches(lat.operation, info.service, info.operation))
    ) {
      plan.latencyMs += lat.ms;
    }
    for (const active of this.rules) {
      if (active.remaining <= 0 || !ruleMatches(active.rule, info)) continue;
      const decides = active.rule.error !== undefined || active.rule.drop !== undefined;
      if (decides && (plan.error || plan.drop)) continue;
      const probability = active.rule.probability ?? 1;
      if (probability < 1 && this.rng() >= probability) continue;
      active.remaining -= 1;
      active.hits += 1;
      plan.names.push(active.name);
      plan.latencyMs += active.rule.latencyMs ?? 0;
      if (active.rule.error) plan.error = resolveError(active.rule.error, info.service);
      else if (active.rule.drop) plan.drop = active.rule.drop;
    }
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return plan;
  }
}

const FIVE_HUNDREDS =
  /^(ServerException|InternalFailure|InternalError|InternalException|InternalServerError|ServiceUnavailable.*)$/;

function resolveError(
  error: NonNullable<AwsFaultRule['error']>,
  service: AwsServiceName,
): NonNullable<AwsFaultRule['error']> {
  if (error.code === '@throttle') {
    const t = THROTTLE_ERROR[service];
    return { code: t.code, message: t.message, status: t.status };
  }
  if (error.code === '@server') {
    const s = SERVER_ERROR[service];
    return { code: s.code, message: 'Service unavailable (injected fault)', status: s.status };
  }
  let status = error.status;
  if (status === undefined) {
    if (service === 'ec2' && (error.code === 'RequestLimitExceeded' || error.code === 'Unavailable'))
      status = 503;
    else if (FIVE_HUNDREDS.test(error.code)) status = error.code.startsWith('ServiceUnavailable') ? 503 : 500;
    else status = 400;
  }
  return { code: error.code, message: error.message ?? `${error.code} (injected fault)`, status };
}
