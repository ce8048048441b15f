/**
 * The benchmark's figures, computed from what the emulators recorded (request logs, tasks, flow-run
 * states). Pure functions: no clock, no I/O.
 */
import type { AwsRecordedRequest, EcsTask, LogJson, RecordedRequest, StateJson } from '@stevedore/testkit';

/** Error codes the AWS services answer when a caller is over its quota. */
const THROTTLING_CODES = new Set([
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'TooManyRequestsException',
]);

/** Text that says throttling, in a state message or a flow-run log line. */
export const THROTTLING_TEXT = /throttl|rate exceeded|request limit exceeded|RequestLimitExceeded/i;

export function isThrottled(r: AwsRecordedRequest): boolean {
  return r.throttled || (r.errorCode !== null && THROTTLING_CODES.has(r.errorCode));
}

function isSuccess(r: AwsRecordedRequest): boolean {
  return r.status !== null && r.status >= 200 && r.status < 300 && r.errorCode === null;
}

function opKey(r: AwsRecordedRequest): string {
  return `${r.service ?? '?'}:${r.operation ?? '?'}`;
}

const round = (n: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

// ------------------------------------------------------------------------------------------------ RunTask

export interface RunTaskFigures {
  /** The emulator's RunTask quota (tasks launched per second) and burst. */
  quotaPerSecond: number;
  burst: number;
  /** RunTask requests, every attempt. */
  attempts: number;
  /** RunTask attempts answered with a throttling error. */
  throttled: number;
  /** Tasks launched: the `count` of every RunTask answered 2xx. */
  launched: number;
  /** Tasks launched after the burst (after the one that took token number `burst`). */
  sustainedLaunches: number;
  /** Length of the sustained phase, from the launch that spent the burst to the last launch (s). */
  sustainedWindowSeconds: number;
  /** Sustained launches per second ÷ the quota; null when too few launches came after the burst. */
  sustainedRatio: number | null;
  /** Why `sustainedRatio` is null. */
  sustainedNote: string | null;
  /**
   * Share of the burst the worker drew on: (burst − fewest tokens left) ÷ burst, replaying the emulator's
   * token bucket over the admitted RunTask requests. 1.0: the quota bound at some point; low: the worker
   * never went as fast as AWS would have let it.
   */
  burstUsed: number;
  /**
   * (launched − burst) ÷ quota — the shortest time AWS allows from the first launch to the last — ÷ the time
   * it took. 1.0: launched as fast as the quota allows, burst included. Null when launched ≤ burst + 40.
   */
  scheduleEfficiency: number | null;
}

/** Fewest launches after the burst for the sustained ratio to mean anything. */
const MIN_SUSTAINED_LAUNCHES = 40;

/**
 * RunTask throughput in the sustained phase: once the first `burst` tasks are launched, the quota
 * allows `ratePerSecond` more per second. Taken from the emulator's request log: the start times of the
 * RunTask requests answered 2xx (one entry per task of `count`), not the wall clock of the whole run.
 * The phase runs from the launch that took the last burst token to the last launch, so a worker that
 * launches as fast as the quota allows scores 1.0 (slightly more when it spent the burst slowly, since
 * the bucket refilled meanwhile); one that is slower, or backs off too long after throttling, scores less.
 */
export function runTaskFigures(
  requests: readonly AwsRecordedRequest[],
  quota: { burst: number; ratePerSecond: number },
): RunTaskFigures {
  const runTasks = requests.filter((r) => r.service === 'ecs' && r.operation === 'RunTask');
  const launches: number[] = [];
  for (const r of runTasks) {
    if (!isSuccess(r)) continue;
    const count = typeof r.input?.count === 'number' ? r.input.count : 1;
    for (let i = 0; i < count; i += 1) launches.push(r.startedAt);
  }
  launches.sort((a, b) => a - b);
  // Replay the emulator's bucket: full at the first request, refilled continuously, drawn by every
  // RunTask it admitted (not throttled), successful or not.
  let tokens = quota.burst;
  let minTokens = quota.burst;
  let at: number | undefined;
  for (const r of [...runTasks].sort((a, b) => a.startedAt - b.startedAt)) {
    if (at !== undefined)
      tokens = Math.min(quota.burst, tokens + ((r.startedAt - at) / 1000) * quota.ratePerSecond);
    at = r.startedAt;
    if (isThrottled(r)) continue;
    tokens -= Math.max(1, typeof r.input?.count === 'number' ? r.input.count : 1);
    minTokens = Math.min(minTokens, tokens);
  }
  const first = launches[0];
  const span = first === undefined ? 0 : ((launches[launches.length - 1] ?? first) - first) / 1000;
  const excess = launches.length - quota.burst;
  const base = {
    quotaPerSecond: quota.ratePerSecond,
    burst: quota.burst,
    attempts: runTasks.length,
    throttled: runTasks.filter(isThrottled).length,
    launched: launches.length,
    burstUsed: round(Math.min(1, (quota.burst - Math.max(0, minTokens)) / quota.burst), 2),
    scheduleEfficiency:
      excess >= MIN_SUSTAINED_LAUNCHES && span > 0 ? round(excess / quota.ratePerSecond / span, 2) : null,
  };
  const burstEnd = launches[quota.burst - 1];
  const last = launches[launches.length - 1];
  const sustainedLaunches = Math.max(0, launches.length - quota.burst);
  if (burstEnd === undefined || last === undefined || sustainedLaunches < MIN_SUSTAINED_LAUNCHES) {
    return {
      ...base,
      sustainedLaunches,
      sustainedWindowSeconds: 0,
      sustainedRatio: null,
      sustainedNote: `n/a: ${sustainedLaunches} launches after the burst of ${quota.burst} (needs ≥ ${MIN_SUSTAINED_LAUNCHES}; use more runs)`,
    };
  }
  const seconds = (last - burstEnd) / 1000;
  return {
    ...base,
    sustainedLaunches,
    sustainedWindowSeconds: round(seconds),
    sustainedRatio: seconds > 0 ? round(sustainedLaunches / seconds / quota.ratePerSecond) : null,
    sustainedNote: seconds > 0 ? null : 'n/a: every launch after the burst has the same timestamp',
  };
}

// ---------------------------------------------------------------------------------------------- throttling

/** Throttling errors answered to the worker, by operation (`ecs:RunTask`…). */
export function throttlingByOperation(requests: readonly AwsRecordedRequest[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of requests) if (isThrottled(r)) out[opKey(r)] = (out[opKey(r)] ?? 0) + 1;
  return sortKeys(out);
}

/** AWS calls (every attempt) ÷ runs, by operation. */
export function callsPerRun(counts: Record<string, number>, runs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [op, n] of Object.entries(counts)) out[op] = runs > 0 ? round(n / runs, 4) : 0;
  return sortKeys(out);
}

// ----------------------------------------------------------------------------------------- DescribeTasks

export interface DescribeTasksFigures {
  /** DescribeTasks requests, every attempt. */
  calls: number;
  throttled: number;
  /** Polls: bursts of DescribeTasks calls separated by more than `gapMs`. */
  polls: number;
  /** Tasks named per call, mean and max (AWS takes at most 100). */
  meanTasksPerCall: number;
  maxTasksPerCall: number;
  /**
   * Calls per poll ÷ ⌈distinct tasks of the poll ÷ 100⌉ — the fewest calls that could describe them —
   * worst poll and mean over polls. Goal ≤ 1: one call per 100 tracked tasks per poll.
   */
  callsPer100TrackedPerPollMax: number;
  callsPer100TrackedPerPollMean: number;
  /** Calls beyond ⌈distinct ÷ 100⌉, summed over polls (0 when every poll is fully batched). */
  excessCalls: number;
  /** A task named again within the same poll (another call of that poll). */
  duplicateDescriptions: number;
  /** Task descriptions in all (the sum of `tasks` over answered calls). */
  taskDescriptions: number;
  /**
   * Descriptions of a task that were made after an earlier description had already seen it STOPPED
   * (after the task's `stoppedAt`): the worker kept watching a finished task.
   */
  descriptionsAfterSeenStopped: number;
  /** Answered calls all of whose tasks an earlier call had already seen STOPPED: wholly wasted calls. */
  callsOnlyForTasksSeenStopped: number;
}

/**
 * DescribeTasks batching, from the request bodies. A poll is a run of DescribeTasks calls with gaps
 * shorter than `gapMs` (the worker's tracker interval is a few seconds; the calls of one poll go out
 * together). Throttled attempts count as calls (they cost quota) but name no task described.
 */
export function describeTasksFigures(
  requests: readonly AwsRecordedRequest[],
  tasks: readonly EcsTask[],
  gapMs: number,
): DescribeTasksFigures {
  const calls = requests
    .filter((r) => r.service === 'ecs' && r.operation === 'DescribeTasks')
    .sort((a, b) => a.startedAt - b.startedAt);
  const stoppedAt = new Map<string, number>();
  for (const t of tasks) if (t.stoppedAt) stoppedAt.set(t.taskArn, Date.parse(t.stoppedAt));

  const polls: AwsRecordedRequest[][] = [];
  let prev = Number.NEGATIVE_INFINITY;
  for (const c of calls) {
    if (c.startedAt - prev > gapMs || polls.length === 0) polls.push([]);
    polls[polls.length - 1]?.push(c);
    prev = c.startedAt;
  }

  let taskDescriptions = 0;
  let maxTasksPerCall = 0;
  let answered = 0;
  let excessCalls = 0;
  let duplicateDescriptions = 0;
  let descriptionsAfterSeenStopped = 0;
  let callsOnlyForTasksSeenStopped = 0;
  const ratios: number[] = [];
  /** Per task: whether a description after its stoppedAt already happened. */
  const seenStopped = new Set<string>();
  for (const poll of polls) {
    const distinct = new Set<string>();
    for (const c of poll) {
      const named = Array.isArray(c.input?.tasks) ? (c.input.tasks as unknown[]).map(String) : [];
      if (isSuccess(c)) {
        answered += 1;
        taskDescriptions += named.length;
        maxTasksPerCall = Math.max(maxTasksPerCall, named.length);
        let wasted = 0;
        for (const arn of named) {
          const stop = stoppedAt.get(arn);
          if (stop !== undefined && c.startedAt > stop) {
            if (seenStopped.has(arn)) wasted += 1;
            else seenStopped.add(arn);
          }
        }
        descriptionsAfterSeenStopped += wasted;
        if (named.length > 0 && wasted === named.length) callsOnlyForTasksSeenStopped += 1;
      }
      for (const arn of named) {
        if (distinct.has(arn) && isSuccess(c)) duplicateDescriptions += 1;
        distinct.add(arn);
      }
    }
    const needed = Math.max(1, Math.ceil(distinct.size / 100));
    excessCalls += Math.max(0, poll.length - needed);
    ratios.push(poll.length / needed);
  }
  return {
    calls: calls.length,
    throttled: calls.filter(isThrottled).length,
    polls: polls.length,
    meanTasksPerCall: answered > 0 ? round(taskDescriptions / answered, 1) : 0,
    maxTasksPerCall,
    callsPer100TrackedPerPollMax: ratios.length > 0 ? round(Math.max(...ratios), 2) : 0,
    callsPer100TrackedPerPollMean:
      ratios.length > 0 ? round(ratios.reduce((a, b) => a + b, 0) / ratios.length, 2) : 0,
    excessCalls,
    duplicateDescriptions,
    taskDescriptions,
    descriptionsAfterSeenStopped,
    callsOnlyForTasksSeenStopped,
  };
}

// ------------------------------------------------------------------------------------------------ runs

export interface RunOutcomeFigures {
  runs: number;
  /** Final state types, e.g. `{ COMPLETED: 998, CRASHED: 2 }`. */
  finalStates: Record<string, number>;
  completed: number;
  notCompleted: number;
  /** Runs that did not complete and whose final state message says throttling. Goal 0. */
  crashedByThrottling: number;
  /** Runs with throttling in any state message or any of their flow-run log lines. Goal 0. */
  runsThrottlingReached: number;
  /** A few final messages of runs that did not complete (distinct), for the report. */
  sampleMessages: string[];
}

export function runOutcomeFigures(
  runs: ReadonlyArray<{ id: string; state: StateJson | null }>,
  history: (id: string) => readonly StateJson[],
  logs: readonly LogJson[],
): RunOutcomeFigures {
  const finalStates: Record<string, number> = {};
  let completed = 0;
  let crashedByThrottling = 0;
  let reached = 0;
  const samples = new Set<string>();
  const loggedThrottling = new Set<string>();
  for (const l of logs)
    if (l.flow_run_id && THROTTLING_TEXT.test(l.message)) loggedThrottling.add(l.flow_run_id);
  for (const run of runs) {
    const type = run.state?.type ?? 'UNKNOWN';
    finalStates[type] = (finalStates[type] ?? 0) + 1;
    const message = run.state?.message ?? '';
    if (type === 'COMPLETED') completed += 1;
    else {
      if (THROTTLING_TEXT.test(message)) crashedByThrottling += 1;
      if (samples.size < 5) samples.add(`${type}: ${message || '(no message)'}`);
    }
    const inHistory =
      THROTTLING_TEXT.test(message) || history(run.id).some((s) => THROTTLING_TEXT.test(s.message ?? ''));
    if (inHistory || loggedThrottling.has(run.id)) reached += 1;
  }
  return {
    runs: runs.length,
    finalStates: sortKeys(finalStates),
    completed,
    notCompleted: runs.length - completed,
    crashedByThrottling,
    runsThrottlingReached: reached,
    sampleMessages: [...samples],
  };
}

// ------------------------------------------------------------------------------------------- Prefect API

/** The worker's Prefect API requests (its User-Agent is `stevedore/…`) ÷ runs, by route. */
export function prefectCallsPerRun(
  requests: readonly RecordedRequest[],
  runs: number,
): { total: number; perRun: number; byRoute: Record<string, number> } {
  const mine = requests.filter((r) => (r.headers['user-agent'] ?? '').startsWith('stevedore/'));
  const counts: Record<string, number> = {};
  for (const r of mine) {
    const key = `${r.method} ${r.route ?? r.path}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  const byRoute: Record<string, number> = {};
  for (const [k, n] of Object.entries(counts)) byRoute[k] = runs > 0 ? round(n / runs, 3) : 0;
  return {
    total: mine.length,
    perRun: runs > 0 ? round(mine.length / runs, 2) : 0,
    byRoute: sortKeys(byRoute),
  };
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
