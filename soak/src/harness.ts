/**
 * The fault suite's harness: K worker processes of the real CLI against the Prefect API and AWS emulators
 * (quotas enforced, the events queue deployed), N flow runs seeded over time, faults injected at moments a
 * seeded schedule picks, then every fault cleared, every worker brought back, the system drained, and the
 * invariants checked over the emulators' records.
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { deployEventsInfrastructure } from '@stevedore/observer-sqs';
import {
  type AwsEmulator,
  type AwsFaultRule,
  awsClientConfig,
  type PrefectEmulator,
  startAwsEmulator,
  startPrefectEmulator,
} from '@stevedore/testkit';
import { FAULT_CATALOGUE, type FaultEvent, type FaultKind, scheduleFaults } from './faults.js';
import {
  checkInvariants,
  type InvariantResult,
  type RunRecord,
  SecretScanner,
  type TaskRecord,
  TERMINAL_STATES,
} from './invariants.js';
import { Prng } from './prng.js';
import { WorkerPool, workerBin } from './workers.js';

export interface SoakOptions {
  runs: number;
  seed: number;
  workers: number;
  faults: readonly FaultKind[];
  /** Flow runs seeded per second (default 10: half the RunTask quota, so faults, not the quota, set the pace). */
  arrivalPerSecond?: number;
  /** Simulated flow run time, drawn per run in [min, max] ms (default 300–2500). */
  runMs?: readonly [number, number];
  /** Deploy the EventBridge → SQS events queue (the SQS observer tracks tasks). Default true. */
  events?: boolean;
  /** After the last fault: how long the system may take to settle (default 90 s). */
  drainTimeoutMs?: number;
  /** Stop draining when nothing changed for this long (default 30 s: longer than the 15 s DescribeTasks safety net plus the 5 s crash grace). */
  stallMs?: number;
  /** Worker log level (default info). */
  logLevel?: 'debug' | 'info';
  /** Where the worker log (`workers.log`) and the worker's config file go; default a temporary directory, removed at the end. */
  outDir?: string;
  /** Progress lines. */
  say?: (line: string) => void;
}

export interface FaultTally {
  kind: FaultKind;
  needs: string | undefined;
  scheduled: number;
  /** Applied: a window opened, a worker killed, a task interrupted, an injection armed that fired… */
  injected: number;
  /** Requests, tasks or messages the fault reached (the emulators' rule hits). */
  hits: number;
}

export interface SoakResult {
  seed: number;
  settings: {
    runs: number;
    workers: number;
    arrivalPerSecond: number;
    runMs: readonly [number, number];
    events: boolean;
    faults: FaultKind[];
  };
  /** Every invariant held. */
  ok: boolean;
  invariants: InvariantResult[];
  faults: FaultTally[];
  runs: { seeded: number; byState: Record<string, number> };
  tasks: { launched: number; stillRunning: number };
  workers: { processesStarted: number; killed: number; exitedOnTheirOwn: string[] };
  aws: {
    calls: number;
    throttled: number;
    schemaErrors: number;
    /** SQS calls by operation (the events queue's cost, which grows with the replicas sharing it). */
    sqs: Record<string, number>;
  };
  prefect: { calls: number; schemaErrors: number };
  drained: boolean;
  durationMs: number;
  workerLog?: string;
}

const POOL = 'soak-pool';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Secret values derived from the seed: long, and unlike anything else in the logs. */
function secretsFor(rng: Prng): { apiKey: string; awsSecret: string } {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const draw = (n: number) => Array.from({ length: n }, () => chars[rng.int(0, chars.length - 1)]).join('');
  return { apiKey: `pnu_${draw(36)}`, awsSecret: `soak${draw(36)}` };
}

type AwsFaultRequestInfo = Parameters<NonNullable<AwsFaultRule['when']>>[0];

function tagValue(tags: unknown, key: string): string | undefined {
  if (!Array.isArray(tags)) return undefined;
  for (const t of tags) {
    if (t && typeof t === 'object' && (t as { key?: unknown }).key === key)
      return String((t as { value?: unknown }).value);
  }
  return undefined;
}

function workerEnv(
  prefect: PrefectEmulator,
  aws: AwsEmulator,
  secrets: { apiKey: string; awsSecret: string },
  logLevel: string,
  events: boolean,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (
      /^(npm_|PNPM_|AWS_|PREFECT_|STEVEDORE_|TSX_|VITEST)/i.test(k) ||
      k === 'INIT_CWD' ||
      k === 'NODE_OPTIONS' ||
      k === 'NODE_ENV'
    )
      continue;
    env[k] = v;
  }
  return {
    ...env,
    PREFECT_API_URL: prefect.url,
    PREFECT_API_KEY: secrets.apiKey,
    // Short enough that the timeout fault costs seconds, not minutes.
    PREFECT_API_REQUEST_TIMEOUT: '4',
    PREFECT_WORKER_QUERY_SECONDS: '1',
    PREFECT_WORKER_HEARTBEAT_SECONDS: '2',
    PREFECT_WORKER_CANCELLATION_POLL_SECONDS: '2',
    STEVEDORE_TRACKER_POLL_SECONDS: '1',
    STEVEDORE_CRASH_GRACE_SECONDS: '3',
    STEVEDORE_LOG_LEVEL: logLevel,
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_REGION: aws.region,
    AWS_ACCESS_KEY_ID: 'AKIASOAKTESTWORKER01',
    AWS_SECRET_ACCESS_KEY: secrets.awsSecret,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(events ? {} : { PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED: 'false' }),
  };
}

/** The run mix: mostly runs that complete, some that fail or crash on their own. */
function runEnv(rng: Prng, runMs: readonly [number, number]): Record<string, string> {
  const r = rng.next();
  const outcome = r < 0.85 ? 'complete' : r < 0.95 ? 'fail' : 'crash';
  return { STEVEDORE_SIM_OUTCOME: outcome, STEVEDORE_SIM_RUN_MS: String(rng.int(runMs[0], runMs[1])) };
}

interface Removable {
  remove(): void;
  hits(): number;
}

/** Applies the schedule's fault events against the emulators and the worker processes. */
class FaultInjector {
  readonly tallies = new Map<FaultKind, FaultTally>();
  /** Rules and injections still in place; removed at the end of their window or when the soak drains. */
  private readonly open = new Set<{ kind: FaultKind; handle: Removable }>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly prefect: PrefectEmulator,
    private readonly aws: AwsEmulator,
    private readonly workers: WorkerPool,
    private readonly queueName: string | undefined,
    private readonly rng: Prng,
    private readonly say: (line: string) => void,
  ) {}

  tally(kind: FaultKind): FaultTally {
    let t = this.tallies.get(kind);
    if (!t) {
      t = { kind, needs: FAULT_CATALOGUE[kind].needs, scheduled: 0, injected: 0, hits: 0 };
      this.tallies.set(kind, t);
    }
    return t;
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private hold(kind: FaultKind, handle: Removable, forMs: number | null): void {
    const entry = { kind, handle };
    this.open.add(entry);
    if (forMs !== null) this.later(forMs, () => this.close(entry));
  }

  private close(entry: { kind: FaultKind; handle: Removable }): void {
    if (!this.open.delete(entry)) return;
    entry.handle.remove();
    this.tally(entry.kind).hits += entry.handle.hits();
  }

  /** Removes every fault still in place and cancels pending ones (restarts are the pool's business). */
  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const entry of [...this.open]) this.close(entry);
    this.aws.faults.clear();
    this.aws.sqs.clearFaults();
    this.prefect.faults.clear();
  }

  /** The worker that claimed a run: the `prefect.worker.name` label it sets before RunTask. */
  private launcherOf(info: AwsFaultRequestInfo): string | undefined {
    const runId = tagValue(info.input?.tags, 'prefect.io/flow-run-id');
    const labels = runId ? this.prefect.getFlowRun(runId)?.labels : undefined;
    const name = labels?.['prefect.worker.name'];
    return typeof name === 'string' ? name : undefined;
  }

  apply(e: FaultEvent, attempt = 0): void {
    const t = this.tally(e.kind);
    const fromWorker = (info: { headers: Record<string, string> }) =>
      (info.headers['user-agent'] ?? '').startsWith('stevedore/');
    const restartMs = 200 + Math.floor(e.pick * 1300);
    switch (e.kind) {
      case 'worker-kill':
      case 'worker-lost': {
        const alive = this.workers.alive();
        if (alive.length === 0) return;
        const name = alive[Math.floor(e.pick * alive.length)] as string;
        // worker-lost: down for 3 heartbeat intervals (2 s each), so its heartbeat is stale.
        const down = e.kind === 'worker-lost' ? 6500 : restartMs;
        if (this.workers.kill(name, down)) {
          t.injected += 1;
          t.hits += 1;
          this.say(`fault ${e.kind}: kill -9 ${name}, back in ${down} ms`);
        }
        return;
      }
      case 'kill-after-run-task':
      case 'kill-before-run-task': {
        const drop = e.kind === 'kill-after-run-task' ? 'after' : 'before';
        const handle = this.aws.faults.add({
          name: e.kind,
          operation: 'ecs:RunTask',
          times: 1,
          drop,
          when: (info) => {
            const name = this.launcherOf(info);
            if (!name || !this.workers.isAlive(name)) return false;
            this.workers.kill(name, restartMs);
            t.injected += 1;
            this.say(
              `fault ${e.kind}: kill -9 ${name} at its RunTask (${drop === 'after' ? 'handled' : 'not handled'})`,
            );
            return true;
          },
        });
        this.hold(e.kind, handle, 10_000);
        return;
      }
      case 'prefect-5xx':
      case 'prefect-429':
      case 'prefect-timeout':
      case 'prefect-lost-response': {
        const status = this.rng.pick([500, 502, 503]);
        const handle = this.prefect.faults.add({
          name: e.kind,
          when: fromWorker,
          ...(e.kind === 'prefect-lost-response' ? { method: ['POST', 'PATCH', 'PUT', 'DELETE'] } : {}),
          probability: e.kind === 'prefect-timeout' || e.kind === 'prefect-lost-response' ? 0.1 : 0.25,
          ...(e.kind === 'prefect-5xx' ? { response: { status } } : {}),
          ...(e.kind === 'prefect-429'
            ? { response: { status: 429, retryAfter: 1, body: { detail: 'Too many requests' } } }
            : {}),
          ...(e.kind === 'prefect-timeout' ? { latencyMs: 4500, drop: 'before' as const } : {}),
          ...(e.kind === 'prefect-lost-response' ? { drop: 'after' as const } : {}),
        });
        t.injected += 1;
        this.hold(e.kind, handle, e.durationMs);
        return;
      }
      case 'ecs-throttle':
      case 'ecs-5xx': {
        const handle = this.aws.faults.add({
          name: e.kind,
          service: 'ecs',
          probability: e.kind === 'ecs-throttle' ? 0.3 : 0.15,
          error: { code: e.kind === 'ecs-throttle' ? '@throttle' : '@server' },
        });
        t.injected += 1;
        this.hold(e.kind, handle, e.durationMs);
        return;
      }
      case 'ecs-capacity': {
        const reason = this.rng.pick([
          'RESOURCE:MEMORY',
          'AGENT',
          'Capacity is unavailable at this time. Please try again later or in a different availability zone',
        ]);
        const handle = this.aws.ecs.injectRunTaskFailure({ reason, times: e.count });
        t.injected += 1;
        this.hold(e.kind, handle, 10_000);
        return;
      }
      case 'task-failed-to-start': {
        const handle = this.aws.ecs.injectStartFailure({ times: e.count });
        t.injected += 1;
        this.hold(e.kind, handle, 10_000);
        return;
      }
      case 'spot-interruption': {
        const running = this.aws.ecs.taskStatuses().filter((x) => x.lastStatus === 'RUNNING');
        if (running.length === 0) {
          // No task running at this moment: look again every 100 ms for up to 90 s. Under a loaded CI machine a
          // 10 s window once saw no RUNNING task at all (every task was still provisioning or already winding
          // down), and the soak then failed for a fault it never injected.
          if (attempt < 900) this.later(100, () => this.apply(e, attempt + 1));
          return;
        }
        const task = running[Math.floor(e.pick * running.length)];
        if (!task?.taskArn) return;
        this.aws.ecs.interruptSpot(task.taskArn);
        t.injected += 1;
        t.hits += 1;
        return;
      }
      case 'sqs-duplicate':
      case 'sqs-reorder': {
        if (!this.queueName) return;
        const handle =
          e.kind === 'sqs-duplicate'
            ? this.aws.sqs.injectDuplicate({
                queue: this.queueName,
                times: e.count,
                copies: 1 + (e.count % 2),
              })
            : this.aws.sqs.injectReorder({ queue: this.queueName, count: e.count, maxHoldMs: 1500 });
        t.injected += 1;
        this.hold(e.kind, handle, 10_000);
        return;
      }
    }
  }
}

function runRecords(prefect: PrefectEmulator, ids: ReadonlySet<string>): RunRecord[] {
  return prefect
    .listFlowRuns()
    .filter((r) => ids.has(r.id))
    .map((r) => ({
      id: r.id,
      name: r.name,
      state: r.state?.type ?? 'NONE',
      stateName: r.state?.name ?? '',
      history: prefect.stateHistory(r.id).map((s) => ({ id: s.id, type: s.type, name: s.name ?? s.type })),
    }));
}

function taskRecords(aws: AwsEmulator): TaskRecord[] {
  const tokens = aws.ecs.runTaskClientTokens();
  return aws.ecs.tasks().map((t) => {
    const arn = String(t.taskArn);
    return {
      arn,
      flowRunId: tagValue(t.tags, 'prefect.io/flow-run-id'),
      lastStatus: String(t.lastStatus),
      clientToken: tokens[arn],
      ...(t.lastStatus === 'STOPPED' ? { stopped: `${t.stopCode ?? ''}: ${t.stoppedReason ?? ''}` } : {}),
    };
  });
}

/** Runs one soak and checks the invariants. Never throws for a violated invariant: see `ok`. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const started = Date.now();
  const say = options.say ?? (() => {});
  const arrival = options.arrivalPerSecond ?? 10;
  const runMs = options.runMs ?? [300, 2500];
  const events = options.events ?? true;
  const root = new Prng(options.seed);
  const secrets = secretsFor(root.fork());
  const scheduleRng = root.fork();
  const runRng = root.fork();
  const injectRng = root.fork();
  const scanner = new SecretScanner({
    PREFECT_API_KEY: secrets.apiKey,
    AWS_SECRET_ACCESS_KEY: secrets.awsSecret,
  });
  const tempDir = options.outDir === undefined ? mkdtempSync(join(tmpdir(), 'stevedore-soak-')) : null;
  const dir = options.outDir ?? (tempDir as string);
  mkdirSync(dir, { recursive: true });
  // Reconciliation at soak speed: every 2 s instead of 60; a claimed run without infrastructure_pid is taken over
  // after 4 s (the default 60 s would outlast the drain); a final run's task is stopped after 10 s. The crash grace
  // (how long a stopped task's engine gets to report before the run is crashed or, interrupted, rescheduled) is 5 s
  // instead of 30: the simulated engine reports before its container exits, and 30 s outlasted the drain's 20 s stall
  // limit when a Spot interruption was the last thing to settle (a run was left Running, reported as a violation).
  // The DescribeTasks safety net runs every 15 s instead of 120 s while the events queue is healthy, for the same
  // reason: with three replicas sharing the queue, about 1 stop event in 200 misses the replica that tracks its run
  // (observer-sqs README, "Several replicas"), and the safety net is what reports it — within the drain's stall limit.
  // The tracker checks Prefect every 5 s instead of 15: a stop seen by the safety net (≤ 15 s), then the crash grace
  // (5 s), then the tracker's next check (≤ 15 s) outlasted the 30 s stall limit once in CI's short mode under load.
  writeFileSync(
    join(dir, 'stevedore.config.json'),
    `${JSON.stringify({ reconcileSeconds: 2, reconcilePendingSeconds: 4, teardownGraceSeconds: 10, crashGraceSeconds: 5, safetyNetSeconds: 15, trackerPollSeconds: 5 }, null, 2)}\n`,
  );

  const prefect = await startPrefectEmulator({ mode: '3', apiKey: secrets.apiKey, seed: options.seed });
  const aws = await startAwsEmulator({ region: 'us-east-1', seed: options.seed });
  let workers: WorkerPool | null = null;
  let injector: FaultInjector | null = null;
  try {
    let queueName: string | undefined;
    if (events) {
      const config = awsClientConfig(aws);
      const deployed = await deployEventsInfrastructure(
        { pool: POOL, cluster: 'default' },
        { sqs: new SQSClient(config), events: new EventBridgeClient(config), ecs: new ECSClient(config) },
      );
      queueName = deployed.queueArn.split(':').pop();
      say(`events queue ${queueName} deployed`);
    }
    workers = new WorkerPool({
      bin: workerBin(),
      count: options.workers,
      pool: POOL,
      env: workerEnv(prefect, aws, secrets, options.logLevel ?? 'info', events),
      cwd: dir,
      scanner,
      ...(options.outDir === undefined ? {} : { logFile: join(dir, 'workers.log') }),
      onEvent: say,
    });
    workers.startAll();
    const poolDeadline = Date.now() + 60_000;
    while (!prefect.getWorkPool(POOL)) {
      if (Date.now() > poolDeadline) throw new Error('no worker created the work pool within 60 s');
      await sleep(100);
    }
    say(`${options.workers} workers up; pool '${POOL}' exists`);

    const arrivalMs = Math.ceil((options.runs / arrival) * 1000);
    const windowMs = arrivalMs + 3000;
    // Faults land while runs arrive; the 3 s after leave room for the ones that wait for a running task.
    const schedule = scheduleFaults(scheduleRng, options.faults, options.runs, arrivalMs, options.workers);
    injector = new FaultInjector(prefect, aws, workers, queueName, injectRng, say);
    for (const kind of options.faults) injector.tally(kind);
    for (const e of schedule) injector.tally(e.kind).scheduled += 1;
    say(
      `seeding ${options.runs} runs over ${(arrivalMs / 1000).toFixed(1)} s; ${schedule.length} faults scheduled`,
    );

    const flow = prefect.seedFlow({ name: 'soak-flow' });
    const deployment = prefect.seedDeployment({ flow_id: flow.id, name: 'soak', work_pool_name: POOL });
    const ids = new Set<string>();
    const t0 = Date.now();
    let next = 0;
    let seeded = 0;
    let lastSay = 0;
    while (seeded < options.runs || next < schedule.length || Date.now() - t0 < windowMs) {
      const now = Date.now() - t0;
      const due = Math.min(options.runs, Math.floor((now / 1000) * arrival) + 1);
      for (; seeded < due; seeded += 1) {
        const run = prefect.seedFlowRun({
          flow_id: flow.id,
          deployment_id: deployment.id,
          name: `soak-${String(seeded + 1).padStart(5, '0')}`,
          job_variables: { env: runEnv(runRng, runMs) },
        });
        ids.add(run.id);
      }
      for (; next < schedule.length && (schedule[next] as FaultEvent).at <= now; next += 1)
        injector.apply(schedule[next] as FaultEvent);
      if (now - lastSay >= 10_000) {
        lastSay = now;
        const final = runRecords(prefect, ids).filter((r) => TERMINAL_STATES.has(r.state)).length;
        say(
          `  t=${Math.round(now / 1000)} s: ${seeded} seeded, ${final} final, ${aws.ecs.taskStatuses().length} tasks`,
        );
      }
      await sleep(50);
    }

    say('fault window over: clearing faults, bringing every worker back, draining');
    injector.clear();
    workers.reviveAll();
    const drainTimeout = options.drainTimeoutMs ?? 90_000;
    const stallMs = options.stallMs ?? 30_000;
    const drainStart = Date.now();
    let lastChange = Date.now();
    let fingerprint = '';
    let drained = false;
    // The emulators share this process's event loop with the drain check: a check over every run's history
    // every 250 ms starved them at 10,000 runs, so the check reads current states only, every 1–2 s.
    const checkEveryMs = options.runs > 2000 ? 2000 : 250;
    for (;;) {
      const states = prefect
        .listFlowRuns()
        .filter((r) => ids.has(r.id))
        .map((r) => r.state?.type ?? 'NONE');
      const taskStates = aws.ecs.taskStatuses().map((t) => t.lastStatus);
      if (states.every((st) => TERMINAL_STATES.has(st)) && taskStates.every((st) => st === 'STOPPED')) {
        drained = true;
        break;
      }
      const fp = `${states.join(',')}|${taskStates.join(',')}`;
      if (fp !== fingerprint) {
        fingerprint = fp;
        lastChange = Date.now();
      }
      if (Date.now() - drainStart > drainTimeout || Date.now() - lastChange > stallMs) break;
      await sleep(checkEveryMs);
    }
    // A last look a little later, so the trackers see the final task stops settle.
    await sleep(1500);
    say(drained ? 'drained' : 'stopped draining: nothing changed any more, or the drain timed out');

    const runs = runRecords(prefect, ids);
    const tasks = taskRecords(aws);
    await workers.stopAll();
    // The worker ships run logs to the Prefect API: scan those lines too.
    for (const log of prefect.logs()) scanner.scanLine('flow-run-logs', log.message);
    const invariants = checkInvariants(runs, tasks, scanner);
    invariants.push({
      name: 'no worker process died on its own',
      held: workers.unexpectedExits.length === 0,
      checked: `${workers.starts} worker processes`,
      violations: workers.unexpectedExits.slice(0, 20),
    });
    const byState: Record<string, number> = {};
    for (const r of runs) byState[r.state] = (byState[r.state] ?? 0) + 1;
    const requests = aws.requests;
    return {
      seed: options.seed,
      settings: {
        runs: options.runs,
        workers: options.workers,
        arrivalPerSecond: arrival,
        runMs,
        events,
        faults: [...options.faults],
      },
      ok: invariants.every((i) => i.held),
      invariants,
      faults: [...injector.tallies.values()],
      runs: { seeded: ids.size, byState },
      tasks: { launched: tasks.length, stillRunning: tasks.filter((x) => x.lastStatus !== 'STOPPED').length },
      workers: {
        processesStarted: workers.starts,
        killed: workers.kills,
        exitedOnTheirOwn: workers.unexpectedExits,
      },
      aws: {
        calls: requests.length,
        throttled: requests.filter((r) => r.throttled).length,
        schemaErrors: aws.schemaErrors().length,
        sqs: Object.fromEntries(
          Object.entries(aws.callCounts())
            .filter(([key]) => key.startsWith('sqs:'))
            .map(([key, n]) => [key.slice(4), n]),
        ),
      },
      prefect: { calls: prefect.requests.length, schemaErrors: prefect.schemaErrors().length },
      drained,
      durationMs: Date.now() - started,
      ...(options.outDir === undefined ? {} : { workerLog: join(dir, 'workers.log') }),
    };
  } finally {
    injector?.clear();
    await workers?.stopAll(5000);
    await Promise.allSettled([prefect.stop(), aws.stop()]);
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}
