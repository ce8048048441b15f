import { describe, expect, it } from 'vitest';
import { systemClock } from '../clock.js';
import { nullLogger } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import { crashMessage, RunTracker } from './tracker.js';

describe('crashMessage', () => {
  it('uses the message format of Prefect for non-zero exit codes, with the diagnosis', () => {
    expect(
      crashMessage({
        identifier: 'c::t',
        status: 'stopped',
        exitCode: 137,
        stopCode: 'EssentialContainerExited',
        stopReason: 'OutOfMemoryError: Container killed due to memory usage',
      }),
    ).toBe(
      'Flow run infrastructure exited with non-zero status code 137. EssentialContainerExited: OutOfMemoryError: Container killed due to memory usage',
    );
  });
  it('explains a zero exit without a final state, and a stop without an exit code', () => {
    expect(crashMessage({ identifier: 'c::t', status: 'stopped', exitCode: 0 })).toBe(
      'Flow run infrastructure exited with status code 0, but the flow run never reported a final state.',
    );
    expect(
      crashMessage({
        identifier: 'c::t',
        status: 'stopped',
        stopCode: 'TaskFailedToStart',
        stopReason: 'CannotPullContainerError',
      }),
    ).toBe(
      'Flow run infrastructure stopped without an exit code. TaskFailedToStart: CannotPullContainerError',
    );
  });
});

describe('RunTracker poll interval', () => {
  const tracker = () => {
    const t = new RunTracker({
      api: {} as PrefectApi,
      clock: systemClock,
      logger: nullLogger,
      server: () => undefined,
      crashGraceMs: 0,
      teardownGraceMs: 0,
      maxRuntimeMs: 0,
      fastPollMs: 1_000,
      slowPollMs: 120_000,
      runLogger: () => nullLogger,
      startTimeoutMs: 0,
      crashLogLines: 0,
      infrastructure: { kill: async () => undefined },
    });
    t.registerObserver('events', 'event');
    return t;
  };

  it('wakes waiting pollers when an event observer stops covering everything, not when it becomes healthy', async () => {
    const t = tracker();
    let woken = 0;
    const wait = () =>
      t.pollIntervalShortened(new AbortController().signal).then(() => {
        woken += 1;
      });
    const first = wait();
    t.reportHealth('events', { healthy: true, coverage: 'all' });
    expect(t.pollIntervalMs()).toBe(120_000);
    await Promise.resolve();
    expect(woken).toBe(0);
    const second = wait();
    t.reportHealth('events', { healthy: false, coverage: 'none', reason: 'queue deleted' });
    await Promise.all([first, second]);
    expect(woken).toBe(2);
    expect(t.pollIntervalMs()).toBe(1_000);
  });

  it('resolves a wait when its signal aborts, and at once for an aborted signal', async () => {
    const t = tracker();
    const ac = new AbortController();
    const waiting = t.pollIntervalShortened(ac.signal);
    ac.abort();
    await expect(waiting).resolves.toBeUndefined();
    await expect(t.pollIntervalShortened(ac.signal)).resolves.toBeUndefined();
  });
});
