import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.js';
import { isStevedoreError, kernelErrorCodes, PrefectApiError } from '../errors.js';
import { createMemoryLogger } from '../logger.js';
import { runServiceLoop } from './service-loop.js';

const instantClock: Clock = { now: () => new Date(0), sleep: async () => {} };
const apiError = (status: number) =>
  new PrefectApiError(status >= 500 ? kernelErrorCodes.PREFECT_API : kernelErrorCodes.PREFECT_API, {
    status,
    method: 'POST',
    path: '/x',
    message: `POST /x failed: ${status}`,
  });

describe('runServiceLoop (Prefect critical_service_loop)', () => {
  it('gives up after 4 rounds of 3 consecutive transient failures', async () => {
    const logger = createMemoryLogger();
    let calls = 0;
    const e = await runServiceLoop(
      async () => {
        calls += 1;
        throw apiError(503);
      },
      {
        name: 'poll',
        intervalMs: () => 10,
        clock: instantClock,
        logger,
        signal: new AbortController().signal,
      },
    ).catch((x: unknown) => x);
    expect(isStevedoreError(e, kernelErrorCodes.SERVICE_ERROR_THRESHOLD)).toBe(true);
    expect(calls).toBe(12);
    expect(logger.records.filter((r) => r.message.startsWith('Failed the last 3 attempts.'))).toHaveLength(4);
  });
  it('resets the budget after one success', async () => {
    const logger = createMemoryLogger();
    let calls = 0;
    const ac = new AbortController();
    await runServiceLoop(
      async () => {
        calls += 1;
        if (calls === 30) ac.abort();
        if (calls % 10 !== 0) throw apiError(502);
      },
      { name: 'poll', intervalMs: () => 10, clock: instantClock, logger, signal: ac.signal },
    );
    expect(calls).toBe(30);
    expect(logger.records.some((r) => r.message === 'Resetting backoff due to successful run.')).toBe(true);
  });
  it('stops at once on a client error such as 401', async () => {
    let calls = 0;
    const e = await runServiceLoop(
      async () => {
        calls += 1;
        throw apiError(401);
      },
      {
        name: 'sync',
        intervalMs: () => 10,
        clock: instantClock,
        logger: createMemoryLogger(),
        signal: new AbortController().signal,
      },
    ).catch((x: unknown) => x);
    expect((e as PrefectApiError).status).toBe(401);
    expect(calls).toBe(1);
  });
  it('counts a 429 whose retries ran out against the budget instead of stopping (unlike Prefect)', async () => {
    let calls = 0;
    const controller = new AbortController();
    await runServiceLoop(
      async () => {
        calls += 1;
        if (calls <= 5) throw apiError(429);
        controller.abort();
      },
      {
        name: 'poll',
        intervalMs: () => 10,
        clock: instantClock,
        logger: createMemoryLogger(),
        signal: controller.signal,
      },
    );
    expect(calls).toBe(6);
  });

  it('jitters the interval with a clamped Poisson draw, at most 1.3× the interval', async () => {
    const delays: number[] = [];
    const ac = new AbortController();
    const clock: Clock = {
      now: () => new Date(0),
      sleep: async (ms) => {
        delays.push(ms);
        if (delays.length === 200) ac.abort();
      },
    };
    let seed = 7;
    await runServiceLoop(async () => {}, {
      name: 'poll',
      intervalMs: () => 1000,
      clock,
      logger: createMemoryLogger(),
      signal: ac.signal,
      random: () => {
        seed = (seed * 16807) % 2147483647;
        return seed / 2147483647;
      },
    });
    expect(Math.max(...delays)).toBeLessThanOrEqual(1300);
    expect(Math.min(...delays)).toBeGreaterThan(0);
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(mean).toBeGreaterThan(850);
    expect(mean).toBeLessThan(1150);
  });
});
