import { DescribeTasksCommand, ECSClient, ListClustersCommand } from '@aws-sdk/client-ecs';
import type { Clock } from '@stevedore/kernel';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RATE_LIMITS,
  installRateBudget,
  isThrottlingError,
  RATE_BUDGET_MIDDLEWARE_NAME,
  RateBudget,
  TokenBucket,
} from './rate-budget.js';

/** A clock whose sleeps move time forward at once (sequential callers) and are recorded. */
function steppingClock(start = 0): Clock & { sleeps: number[]; advance(ms: number): void } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    advance: (ms) => {
      now += ms;
    },
    now: () => new Date(now),
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      now += ms;
    },
  };
}

/** A clock whose sleeps only record and then wait for the abort signal (time stands still). */
function frozenClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => new Date(0),
    sleep: (ms, signal) => {
      sleeps.push(ms);
      return new Promise<void>((resolve, reject) => {
        if (!signal) return resolve();
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    },
  };
}

const KEY = { region: 'us-east-1', service: 'ecs', operation: 'RunTask' };

describe('TokenBucket', () => {
  it('lets the burst through at once, then paces at the sustained rate', () => {
    const bucket = new TokenBucket({ ratePerSecond: 20, burst: 100 }, 0);
    for (let i = 0; i < 100; i++) expect(bucket.reserve(0)).toBe(0);
    // Reservations queue up behind each other: 1/20 s apart.
    expect([bucket.reserve(0), bucket.reserve(0), bucket.reserve(0)]).toEqual([50, 100, 150]);
    // Refill never goes above the burst.
    const idle = new TokenBucket({ ratePerSecond: 20, burst: 100 }, 0);
    expect(idle.available(3_600_000)).toBe(100);
  });

  it('halves the rate on a throttle, empties the bucket, and halves at most once per cooldown', () => {
    const bucket = new TokenBucket({ ratePerSecond: 20, burst: 100 }, 0);
    bucket.onThrottle(0);
    expect(bucket.rate).toBe(10);
    expect(bucket.available(0)).toBe(0);
    expect(bucket.reserve(0)).toBe(100); // 1 token at 10/s
    bucket.onThrottle(500); // same burst of errors
    expect(bucket.rate).toBe(10);
    bucket.onThrottle(1000);
    expect(bucket.rate).toBe(5);
  });

  it('never goes below the floor (1/16 of the configured rate)', () => {
    const bucket = new TokenBucket({ ratePerSecond: 16, burst: 16 }, 0);
    for (let t = 0; t < 20_000; t += 1000) bucket.onThrottle(t);
    expect(bucket.rate).toBe(1);
  });

  it('recovers additively after successes, never above the configured rate', () => {
    const bucket = new TokenBucket({ ratePerSecond: 20, burst: 100 }, 0);
    bucket.onThrottle(0);
    expect(bucket.rate).toBe(10);
    bucket.onSuccess(10);
    expect(bucket.rate).toBe(11); // + 5 % of 20 per success
    for (let i = 0; i < 50; i++) bucket.onSuccess(20);
    expect(bucket.rate).toBe(20);
  });

  it('gives a cancelled reservation back', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 }, 0);
    expect(bucket.reserve(0)).toBe(0);
    expect(bucket.reserve(0)).toBe(1000);
    bucket.cancel();
    expect(bucket.reserve(0)).toBe(1000);
  });
});

describe('RateBudget', () => {
  it('uses the documented defaults, with per-operation overrides', () => {
    const budget = new RateBudget({
      clock: steppingClock(),
      limits: { RunTask: { ratePerSecond: 5 }, StopTask: { ratePerSecond: 2, burst: 4 } },
    });
    expect(DEFAULT_RATE_LIMITS.RunTask).toEqual({ ratePerSecond: 20, burst: 100 });
    expect(DEFAULT_RATE_LIMITS.DescribeTasks).toEqual({ ratePerSecond: 20, burst: 100 });
    expect(DEFAULT_RATE_LIMITS.RegisterTaskDefinition).toEqual({ ratePerSecond: 1, burst: 20 });
    expect(budget.limitFor('RunTask')).toEqual({ ratePerSecond: 5, burst: 100 });
    expect(budget.limitFor('StopTask')).toEqual({ ratePerSecond: 2, burst: 4 });
    expect(budget.limitFor('SomethingElse')).toEqual({ ratePerSecond: 20, burst: 20 });
  });

  it('paces a burst of RunTask calls instead of failing them (fake clock)', async () => {
    const clock = steppingClock();
    const budget = new RateBudget({ clock });
    for (let i = 0; i < 105; i++) await budget.acquire(KEY);
    expect(clock.sleeps).toEqual([50, 50, 50, 50, 50]);
    expect(clock.now().getTime()).toBe(250);
  });

  it('queues concurrent callers in order', async () => {
    const clock = frozenClock();
    const budget = new RateBudget({ clock, limits: { RunTask: { ratePerSecond: 10, burst: 1 } } });
    await budget.acquire(KEY);
    const ac = new AbortController();
    const waiting = [1, 2, 3].map(() => budget.acquire(KEY, ac.signal).catch(() => 'aborted'));
    expect(clock.sleeps).toEqual([100, 200, 300]);
    ac.abort();
    expect(await Promise.all(waiting)).toEqual(['aborted', 'aborted', 'aborted']);
  });

  it('keeps one bucket per region, service and operation', async () => {
    const clock = steppingClock();
    const budget = new RateBudget({ clock, limits: { RunTask: { burst: 1 } } });
    await budget.acquire(KEY);
    await budget.acquire({ ...KEY, region: 'eu-west-1' });
    await budget.acquire({ ...KEY, operation: 'StopTask' });
    expect(clock.sleeps).toEqual([]);
    await budget.acquire(KEY);
    expect(clock.sleeps).toEqual([50]);
  });

  it('slows an operation down after a throttle and speeds it up again after successes', async () => {
    const clock = steppingClock();
    const budget = new RateBudget({ clock, limits: { DescribeTasks: { ratePerSecond: 20, burst: 1 } } });
    const key = { ...KEY, operation: 'DescribeTasks' };
    budget.recordThrottle(key);
    await budget.acquire(key);
    expect(clock.sleeps).toEqual([100]); // 10/s
    for (let i = 0; i < 10; i++) budget.recordSuccess(key);
    expect(budget.bucket(key).rate).toBe(20);
  });

  it('rejects with the signal reason and returns the token when aborted before or while waiting', async () => {
    const budget = new RateBudget({ clock: frozenClock(), limits: { RunTask: { burst: 1 } } });
    const ac = new AbortController();
    ac.abort(new Error('shutting down'));
    await expect(budget.acquire(KEY, ac.signal)).rejects.toThrow('shutting down');
    expect(budget.bucket(KEY).available(0)).toBe(1);
  });
});

describe('isThrottlingError', () => {
  it('recognises AWS throttling errors by name, SDK flag or HTTP 429', () => {
    expect(isThrottlingError({ name: 'ThrottlingException' })).toBe(true);
    expect(isThrottlingError({ name: 'RequestLimitExceeded' })).toBe(true);
    expect(isThrottlingError({ name: 'X', $retryable: { throttling: true } })).toBe(true);
    expect(isThrottlingError({ name: 'X', $metadata: { httpStatusCode: 429 } })).toBe(true);
    expect(isThrottlingError({ name: 'LimitExceededException' })).toBe(false);
    expect(isThrottlingError({ name: 'ClientException' })).toBe(false);
    expect(isThrottlingError(undefined)).toBe(false);
  });
});

describe('installRateBudget (SDK middleware)', () => {
  /** A real ECSClient whose HTTP handler answers from a script. */
  function scriptedClient(responses: Array<{ status: number; body: unknown }>) {
    const targets: string[] = [];
    const client = new ECSClient({
      region: 'eu-central-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 3,
      requestHandler: {
        handle: async (request: { headers: Record<string, string> }) => {
          targets.push(request.headers['x-amz-target'] ?? '');
          const next = responses.shift() ?? { status: 200, body: {} };
          return {
            response: {
              statusCode: next.status,
              headers: { 'content-type': 'application/x-amz-json-1.1' },
              body: new TextEncoder().encode(JSON.stringify(next.body)),
            },
          };
        },
      },
    });
    return { client, targets };
  }

  it('sits inside the retry loop, before signing, once per client', () => {
    const { client } = scriptedClient([]);
    const budget = new RateBudget({ clock: steppingClock() });
    installRateBudget(client, budget, 'ecs');
    installRateBudget(client, budget, 'ecs');
    const stack = client.middlewareStack.identify();
    const at = stack.findIndex((m) => m.startsWith(RATE_BUDGET_MIDDLEWARE_NAME));
    expect(stack.filter((m) => m.startsWith(RATE_BUDGET_MIDDLEWARE_NAME))).toHaveLength(1);
    expect(stack[at - 1]).toMatch(/^retryMiddleware/);
    expect(stack[at + 1]).toMatch(/^httpSigningMiddleware/);
  });

  it('takes a token per HTTP attempt and halves the rate when an attempt is throttled', async () => {
    const { client, targets } = scriptedClient([
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
      { status: 200, body: { tasks: [], failures: [] } },
    ]);
    const clock = steppingClock();
    const budget = new RateBudget({ clock, limits: { DescribeTasks: { ratePerSecond: 20, burst: 5 } } });
    installRateBudget(client, budget, 'ecs');
    const out = await client.send(new DescribeTasksCommand({ cluster: 'c', tasks: ['t'] }));
    expect(out.$metadata.attempts).toBe(2);
    expect(targets).toHaveLength(2);
    const bucket = budget.bucket({ region: 'eu-central-1', service: 'ecs', operation: 'DescribeTasks' });
    // Halved to 10/s by the throttle, +1 by the success that followed.
    expect(bucket.rate).toBe(11);
    // The throttle emptied the bucket: the retry waited for a token at the halved rate.
    expect(clock.sleeps).toEqual([100]);
    client.destroy();
  });

  it('tells the observer the outcome of every attempt (the /metrics AWS request counter)', async () => {
    const { client } = scriptedClient([
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
      { status: 200, body: { tasks: [], failures: [] } },
      { status: 400, body: { __type: 'ClusterNotFoundException', message: 'Cluster not found.' } },
    ]);
    const seen: string[] = [];
    installRateBudget(client, new RateBudget({ clock: steppingClock() }), 'ecs', (key, outcome) =>
      seen.push(`${key.service}/${key.operation}/${outcome}`),
    );
    await client.send(new DescribeTasksCommand({ cluster: 'c', tasks: ['t'] }));
    await expect(client.send(new DescribeTasksCommand({ cluster: 'c', tasks: ['t'] }))).rejects.toThrow(
      /Cluster not found/,
    );
    expect(seen).toEqual(['ecs/DescribeTasks/throttled', 'ecs/DescribeTasks/ok', 'ecs/DescribeTasks/error']);
    client.destroy();
  });

  it('honours the abort signal while waiting for a token', async () => {
    const { client, targets } = scriptedClient([]);
    const budget = new RateBudget({ clock: frozenClock(), limits: { ListClusters: { burst: 1 } } });
    installRateBudget(client, budget, 'ecs');
    await client.send(new ListClustersCommand({}));
    const ac = new AbortController();
    const pending = client.send(new ListClustersCommand({}), { abortSignal: ac.signal });
    await new Promise((r) => setTimeout(r, 10));
    ac.abort(new Error('stop'));
    await expect(pending).rejects.toThrow();
    expect(targets).toHaveLength(1);
    client.destroy();
  });
});
