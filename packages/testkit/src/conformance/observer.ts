import type {
  InfrastructureStateChange,
  ObservationSink,
  Observer,
  ObserverHealth,
  TrackedInfrastructure,
} from '@stevedore/kernel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** What an observer conformance run needs. @public */
export interface ObserverFixture {
  observer: Observer;
  /** Launches something the observer can see; returns its identifier and flow run id. */
  launch(): Promise<TrackedInfrastructure>;
  /** Stops what `launch` started. */
  stop(identifier: string): Promise<void>;
  /** How long to wait for the observer to notice a change (default 10 s). */
  timeoutMs?: number;
  cleanup?: () => Promise<void>;
}

/** An in-memory sink recording what an observer reports. @public */
export class RecordingSink implements ObservationSink {
  readonly changes: InfrastructureStateChange[] = [];
  readonly health: Array<{ observer: string } & ObserverHealth> = [];
  readonly items: TrackedInfrastructure[] = [];
  constructor(private readonly intervalMs = 50) {}
  tracked(): readonly TrackedInfrastructure[] {
    return this.items;
  }
  report(change: InfrastructureStateChange): void {
    this.changes.push(change);
  }
  reportHealth(observer: string, health: ObserverHealth): void {
    this.health.push({ observer, ...health });
  }
  pollIntervalMs(): number {
    return this.intervalMs;
  }
  async waitFor(
    pred: (c: InfrastructureStateChange) => boolean,
    timeoutMs: number,
  ): Promise<InfrastructureStateChange> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.changes.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`No matching state change within ${timeoutMs} ms.`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * The contract every {@link Observer} keeps: reports `stopped` for a tracked identifier, ignores what
 * is not tracked, reports its health under its own name, and returns promptly when aborted.
 * @public
 */
export function describeObserverConformance(name: string, setup: () => Promise<ObserverFixture>): void {
  describe(`Observer conformance: ${name}`, () => {
    let f: ObserverFixture;
    beforeAll(async () => {
      f = await setup();
    });
    afterAll(async () => {
      await f?.cleanup?.();
    });

    it('declares its name, kind and infrastructure type', () => {
      expect(f.observer.name.length).toBeGreaterThan(0);
      expect(['polling', 'event']).toContain(f.observer.kind);
      expect(f.observer.infrastructureType.length).toBeGreaterThan(0);
    });
    it('reports a tracked identifier as stopped after it stops, and reports health', async () => {
      const sink = new RecordingSink();
      const ac = new AbortController();
      const running = f.observer.run(sink, ac.signal);
      try {
        const item = await f.launch();
        sink.items.push(item);
        await f.stop(item.identifier);
        const change = await sink.waitFor(
          (c) => c.identifier === item.identifier && c.status === 'stopped',
          f.timeoutMs ?? 10_000,
        );
        expect(change.status).toBe('stopped');
        expect(sink.health.some((h) => h.observer === f.observer.name)).toBe(true);
      } finally {
        ac.abort();
        await running;
      }
    });
    it('does not report changes for identifiers nobody tracks', async () => {
      const sink = new RecordingSink();
      const ac = new AbortController();
      const running = f.observer.run(sink, ac.signal);
      try {
        const item = await f.launch();
        await f.stop(item.identifier);
        await new Promise((r) => setTimeout(r, Math.min(f.timeoutMs ?? 10_000, 500)));
        expect(sink.changes.filter((c) => c.identifier === item.identifier && !c.flowRunId)).toEqual([]);
      } finally {
        ac.abort();
        await running;
      }
    });
    it('resolves promptly once aborted', async () => {
      const ac = new AbortController();
      const running = f.observer.run(new RecordingSink(), ac.signal);
      ac.abort();
      const result = await Promise.race([
        running.then(() => 'done'),
        new Promise((r) => setTimeout(() => r('timeout'), 2_000)),
      ]);
      expect(result).toBe('done');
    });
  });
}
