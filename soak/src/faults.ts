import { MERGED_FEATURES, type PendingFeature } from './pending.js';
import type { Prng } from './prng.js';

/** One kind of fault the suite injects. */
export interface FaultKindInfo {
  kind: FaultKind;
  what: string;
  /** Injected this many times per 100 runs (at least once per soak when enabled). */
  per100Runs: number;
  /** A worker feature the invariants need under this fault (see pending.ts). */
  needs?: PendingFeature;
  /** Only with the events queue deployed (the SQS observer). */
  needsEvents?: boolean;
}

export const FAULT_KINDS = [
  'worker-kill',
  'kill-after-run-task',
  'kill-before-run-task',
  'worker-lost',
  'prefect-5xx',
  'prefect-429',
  'prefect-timeout',
  'prefect-lost-response',
  'ecs-throttle',
  'ecs-5xx',
  'ecs-capacity',
  'task-failed-to-start',
  'spot-interruption',
  'sqs-duplicate',
  'sqs-reorder',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export const FAULT_CATALOGUE: Record<FaultKind, FaultKindInfo> = {
  'worker-kill': {
    kind: 'worker-kill',
    what: 'kill -9 a worker at a random moment, restart it (same name) 0.2–1.5 s later',
    per100Runs: 1.5,
    needs: 'reconciliation',
  },
  'kill-after-run-task': {
    kind: 'kill-after-run-task',
    what: 'kill -9 the worker whose RunTask ECS just handled, before the answer reaches it (so before the infrastructure_pid PATCH); restart',
    per100Runs: 1,
    needs: 'reconciliation',
  },
  'kill-before-run-task': {
    kind: 'kill-before-run-task',
    what: 'kill -9 the worker as its RunTask leaves (not handled): the run is claimed (Pending), no task exists; restart',
    per100Runs: 1,
    needs: 'reconciliation',
  },
  'worker-lost': {
    kind: 'worker-lost',
    what: 'kill -9 a worker and restart it only after 3 heartbeat intervals: another replica must take over its runs',
    per100Runs: 0.5,
    needs: 'reconciliation',
  },
  'prefect-5xx': {
    kind: 'prefect-5xx',
    what: "for 1–4 s, 25% of the worker's Prefect API calls answer 500, 502 or 503 (not handled)",
    per100Runs: 2,
  },
  'prefect-429': {
    kind: 'prefect-429',
    what: "for 1–4 s, 25% of the worker's Prefect API calls answer 429 with Retry-After: 1 (not handled)",
    per100Runs: 2,
  },
  'prefect-timeout': {
    kind: 'prefect-timeout',
    what: "for 1–4 s, 10% of the worker's Prefect API calls hang past the client's timeout, then the connection drops (not handled)",
    per100Runs: 1,
  },
  'prefect-lost-response': {
    kind: 'prefect-lost-response',
    what: "for 1–4 s, 10% of the worker's mutating Prefect API calls are handled but the answer is lost",
    per100Runs: 1,
    needs: 'reconciliation',
  },
  'ecs-throttle': {
    kind: 'ecs-throttle',
    what: 'for 1–4 s, 30% of ECS calls answer ThrottlingException, on top of the quotas (which are enforced throughout)',
    per100Runs: 2,
  },
  'ecs-5xx': {
    kind: 'ecs-5xx',
    what: 'for 1–3 s, 15% of ECS calls answer ServerException (500)',
    per100Runs: 1,
  },
  'ecs-capacity': {
    kind: 'ecs-capacity',
    what: 'the next 1–5 RunTask calls answer a capacity failure (RESOURCE:MEMORY, AGENT or "Capacity is unavailable")',
    per100Runs: 2,
  },
  'task-failed-to-start': {
    kind: 'task-failed-to-start',
    what: 'the next 1–3 tasks stop with TaskFailedToStart (ResourceInitializationError)',
    per100Runs: 2,
  },
  'spot-interruption': {
    kind: 'spot-interruption',
    what: 'a RUNNING task is stopped as Fargate Spot does (stopCode SpotInterruption)',
    per100Runs: 3,
  },
  'sqs-duplicate': {
    kind: 'sqs-duplicate',
    what: 'the next 1–10 task state change messages of the events queue are delivered twice or three times',
    per100Runs: 2,
    needsEvents: true,
  },
  'sqs-reorder': {
    kind: 'sqs-reorder',
    what: 'the next 2–10 messages of the events queue are held and delivered in reverse order',
    per100Runs: 2,
    needsEvents: true,
  },
};

/** The kinds whose needed features are merged (the default set, and what CI's short mode runs). */
export function defaultFaultKinds(events: boolean): FaultKind[] {
  return FAULT_KINDS.filter((k) => {
    const info = FAULT_CATALOGUE[k];
    return (info.needs === undefined || MERGED_FEATURES[info.needs]) && (events || !info.needsEvents);
  });
}

/** `--faults`: `default`, `all`, `none`, or a comma-separated list of kinds. */
export function parseFaultKinds(spec: string, events: boolean): FaultKind[] {
  const s = spec.trim();
  if (s === 'default') return defaultFaultKinds(events);
  if (s === 'none') return [];
  if (s === 'all') return FAULT_KINDS.filter((k) => events || !FAULT_CATALOGUE[k].needsEvents);
  const out: FaultKind[] = [];
  for (const raw of s.split(',')) {
    const k = raw.trim();
    if (k === '') continue;
    if (!(FAULT_KINDS as readonly string[]).includes(k))
      throw new Error(
        `--faults: unknown fault kind '${k}'; expected default, all, none or a comma-separated list of: ${FAULT_KINDS.join(', ')}.`,
      );
    if (FAULT_CATALOGUE[k as FaultKind].needsEvents && !events)
      throw new Error(`--faults: '${k}' needs the events queue; drop --no-events.`);
    out.push(k as FaultKind);
  }
  return out;
}

/** One scheduled injection. */
export interface FaultEvent {
  /** Milliseconds after the first runs were seeded. */
  at: number;
  kind: FaultKind;
  /** For windows: how long the fault lasts. */
  durationMs: number;
  /** For counted faults: how many requests, tasks or messages. */
  count: number;
  /** A number in [0, 1) for the injector's own choices (which worker, which task). */
  pick: number;
}

/** The faults that take a worker process down (kill -9, or lost for a few heartbeats). */
export const PROCESS_FAULTS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'worker-kill',
  'kill-after-run-task',
  'kill-before-run-task',
  'worker-lost',
]);

/** On average, a worker process lives at least this long between two process faults (see scheduleFaults). */
export const MIN_MEAN_WORKER_LIFE_MS = 20_000;

/**
 * The fault schedule of a soak: every enabled kind at least once, `per100Runs` × runs ÷ 100 times in all,
 * at uniform random moments of [0, windowMs), sorted by time. The same seed gives the same schedule.
 *
 * Process faults are also bounded by time: with `workers` given, all of them together take a worker down
 * at most once per MIN_MEAN_WORKER_LIFE_MS on average (each kind keeps at least one). Counting them per run
 * alone killed each of 3 workers every ~7 s in a 3,000-run soak at 10 runs/s: a restarted worker spent its
 * short life re-adopting a few hundred runs under injected Prefect and ECS faults, launched nothing for a
 * whole minute, and the soak measured the harness's kill rate instead of the worker. Real fleets restart in
 * minutes, not seconds; 20 s is still far harsher than any of them.
 */
export function scheduleFaults(
  rng: Prng,
  kinds: readonly FaultKind[],
  runs: number,
  windowMs: number,
  workers?: number,
): FaultEvent[] {
  const counts = new Map<FaultKind, number>();
  for (const kind of kinds)
    counts.set(kind, Math.max(1, Math.round((FAULT_CATALOGUE[kind].per100Runs * runs) / 100)));
  if (workers !== undefined) {
    const processKinds = kinds.filter((k) => PROCESS_FAULTS.has(k));
    const total = processKinds.reduce((sum, k) => sum + (counts.get(k) ?? 0), 0);
    const cap = Math.max(processKinds.length, Math.floor((windowMs * workers) / MIN_MEAN_WORKER_LIFE_MS));
    if (total > cap)
      for (const k of processKinds)
        counts.set(k, Math.max(1, Math.floor(((counts.get(k) ?? 0) * cap) / total)));
  }
  const events: FaultEvent[] = [];
  for (const kind of kinds) {
    const n = counts.get(kind) ?? 1;
    for (let i = 0; i < n; i += 1) {
      const window = kind === 'ecs-5xx' ? rng.int(1000, 3000) : rng.int(1000, 4000);
      const count =
        kind === 'ecs-capacity'
          ? rng.int(1, 5)
          : kind === 'task-failed-to-start'
            ? rng.int(1, 3)
            : kind === 'sqs-duplicate'
              ? rng.int(1, 10)
              : kind === 'sqs-reorder'
                ? rng.int(2, 10)
                : 1;
      events.push({
        at: Math.floor(rng.next() * windowMs),
        kind,
        durationMs: window,
        count,
        pick: rng.next(),
      });
    }
  }
  return events.sort((a, b) => a.at - b.at);
}
