import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock.js';
import type { WorkerConfig } from '../config.js';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import { type EventEmitter, nullEventEmitter } from '../events/types.js';
import { WorkerEvents } from '../events/worker-events.js';
import type { Infrastructure, JobConfiguration, Observer } from '../extension-points.js';
import type { Logger, Redactor } from '../logger.js';
import { type Metrics, MetricsRegistry } from '../metrics.js';
import type { PrefectApi } from '../prefect/api.js';
import { formatScheduledBefore } from '../prefect/client.js';
import type { FlowRun } from '../prefect/types.js';
import { Canceller } from './cancellation.js';
import { FlowRunLogShipper } from './flow-run-logs.js';
import { startHealthServer } from './health.js';
import { buildJobConfiguration } from './job-builder.js';
import { PoolSync } from './pool-sync.js';
import { type ReconcileReport, Reconciler } from './reconciler.js';
import { isTransientFailure, runServiceLoop } from './service-loop.js';
import { type SubmissionOutcome, Submitter } from './submitter.js';
import { RunTracker } from './tracker.js';
import { WorkerMetrics } from './worker-metrics.js';

/** The server's default page size of `get_scheduled_flow_runs` (PREFECT_API_DEFAULT_LIMIT): a page this long may have more behind it. */
const FULL_PAGE = 200;
/** Poll rounds one poll tick may run back to back (see {@link Worker.pollOnce}). */
const MAX_POLL_ROUNDS = 20;

/** Dependencies of {@link Worker}. @public */
export interface WorkerDeps {
  api: PrefectApi;
  config: WorkerConfig;
  clock: Clock;
  logger: Logger;
  redactor: Redactor;
  infrastructure: Infrastructure;
  observers: readonly Observer[];
  /** The worker's explicitly set PREFECT_* settings, handed to every flow run (spec §1.7). */
  workerEnv: Record<string, string>;
  /** The worker's process environment, for `{{ $NAME }}` placeholders. */
  processEnv: Record<string, string | undefined>;
  random?: () => number;
  /** The registry `GET /metrics` serves; the worker adds its series. Default: a private one. */
  metrics?: Metrics;
  /** Called after each submission settles (tests, metrics). */
  onSubmission?: (flowRunId: string, outcome: SubmissionOutcome) => void;
  /** Where the worker's Prefect events go (spec §1.12). Default: nowhere. */
  events?: EventEmitter;
}

/** Prefect's default worker name: `"<ClassName> <uuid4>"`, e.g. `ECSWorker 1b2c…` (spec §1.1). */
export function defaultWorkerName(type: string): string {
  return `${type.toUpperCase()}Worker ${randomUUID()}`;
}

/**
 * The worker runtime: sync/heartbeat, polling and claiming, submission, tracking, cancellation and
 * the health endpoint, each a small service composed here. Holds no AWS code.
 * @public
 */
export class Worker {
  readonly name: string;
  readonly sync: PoolSync;
  readonly tracker: RunTracker;
  private readonly logs: FlowRunLogShipper;
  private readonly submitter: Submitter;
  private readonly canceller: Canceller;
  private readonly reconciler: Reconciler;
  readonly metrics: WorkerMetrics;
  private readonly events: WorkerEvents;
  private readonly submitting = new Map<string, Promise<SubmissionOutcome>>();
  private readonly shutdown = new AbortController();
  private lastPolledAt: Date;
  private stopped: Promise<void> | undefined;

  constructor(private readonly d: WorkerDeps) {
    this.name = d.config.name ?? defaultWorkerName(d.infrastructure.type);
    this.lastPolledAt = d.clock.now();
    const logger = d.logger.child({ worker: this.name });
    this.logs = new FlowRunLogShipper(d.api, d.clock, logger, d.redactor);
    this.sync = new PoolSync(d.api, d.config, d.infrastructure, this.name, logger);
    this.events = new WorkerEvents(d.events ?? nullEventEmitter, d.clock, {
      name: this.name,
      type: d.infrastructure.type,
      prefectVersion: () => this.sync.state.server?.version ?? 'unknown',
      workPool: () => this.sync.state.pool,
    });
    const runLogger = (id: string) => this.logs.forRun(id);
    this.metrics = new WorkerMetrics(d.metrics ?? new MetricsRegistry(), {
      tracked: () => this.tracker.size,
      limitCount: () => this.tracker.limitCount,
      submitting: () => this.submitting.size,
    });
    this.tracker = new RunTracker({
      api: d.api,
      clock: d.clock,
      logger,
      server: () => this.sync.state.server,
      crashGraceMs: d.config.crashGraceSeconds * 1000,
      fastPollMs: d.config.querySeconds * 1000,
      slowPollMs: Math.max(d.config.querySeconds, d.config.safetyNetSeconds) * 1000,
      runLogger,
      startTimeoutMs: d.config.startTimeoutSeconds * 1000,
      crashLogLines: d.config.crashLogLines,
      teardownGraceMs: d.config.teardownGraceSeconds * 1000,
      interruptionRetries: d.config.interruptionRetries,
      onRetried: (cls) => this.metrics.retried(cls),
      onCrashed: () => this.metrics.crashed(),
      onCancelled: () => this.metrics.cancelled(),
      maxRuntimeMs: d.config.maxRuntimeSeconds * 1000,
      infrastructure: d.infrastructure,
      configurationFor: (id, signal) => this.configurationFor(id, signal),
    });
    for (const o of d.observers) this.tracker.registerObserver(o.name, o.kind);
    this.submitter = new Submitter({
      api: d.api,
      config: d.config,
      clock: d.clock,
      logger,
      infrastructure: d.infrastructure,
      sync: this.sync,
      tracker: this.tracker,
      logs: this.logs,
      workerName: this.name,
      workerEnv: d.workerEnv,
      processEnv: d.processEnv,
      events: this.events,
    });
    this.reconciler = new Reconciler({
      api: d.api,
      config: d.config,
      clock: d.clock,
      logger,
      infrastructure: d.infrastructure,
      sync: this.sync,
      tracker: this.tracker,
      workerName: this.name,
      isSubmitting: (id) => this.submitting.has(id),
      relaunch: (run, claimStateId) => {
        this.metrics.retried('relaunch');
        void this.startSubmission(run, (signal) => this.submitter.relaunch(run, claimStateId, signal));
      },
      configurationFor: (id, signal) => this.configurationFor(id, signal),
    });
    this.canceller = new Canceller({
      api: d.api,
      clock: d.clock,
      config: d.config,
      infrastructure: d.infrastructure,
      tracker: this.tracker,
      logger,
      server: () => this.sync.state.server,
      isSubmitting: (id) => this.submitting.has(id),
      runLogger,
      configurationFor: (id, signal) => this.configurationFor(id, signal),
      onCancelled: () => this.metrics.cancelled(),
    });
  }

  /** Runs launched and not yet seen finish, plus submissions in flight: what `--limit` counts. */
  get inFlight(): number {
    return this.tracker.limitCount + this.submitting.size;
  }

  get submissionsInFlight(): number {
    return this.submitting.size;
  }

  isHealthy(): boolean {
    return (
      this.d.clock.now().getTime() - this.lastPolledAt.getTime() <= this.d.config.querySeconds * 30 * 1000
    );
  }

  /** Spec §1.2 setup: one sync; a transient failure is logged and the worker keeps trying. */
  async setup(signal: AbortSignal, ready?: Promise<void>): Promise<void> {
    // The first sync (server version, pool, heartbeat) runs while `ready` (the plugins' preflight checks) is
    // pending: start-up waits for the slower of the two instead of both in a row. Nothing is claimed or launched
    // before `ready` resolves; when it rejects, the sync is aborted and its error is the start-up's.
    const syncAbort = new AbortController();
    const onAbort = () => syncAbort.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const syncing = this.sync.sync(syncAbort.signal).then(
      () => undefined,
      (e: unknown) => ({ error: e }),
    );
    try {
      if (ready) {
        try {
          await ready;
        } catch (e) {
          syncAbort.abort(e);
          await syncing;
          throw e;
        }
      }
      const synced = await syncing;
      if (synced) throw synced.error;
      // Before the first poll, so runs launched before a restart count toward --limit at once.
      await this.reconcile(signal);
    } catch (e) {
      if (
        ready &&
        (await ready.then(
          () => false,
          () => true,
        ))
      )
        throw e;
      if (signal.aborted) return; // stopped while starting up: a graceful stop, not a failure
      if (!isTransientFailure(e)) throw e;
      this.d.logger.warn(
        `Unable to reach the Prefect API while starting up; the worker will keep attempting to connect: ${(e as Error).message}`,
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Spec §1.9 step 4: rebuilds a run's job configuration (pool template ⊕ job variables), so killing a
   * run this process did not launch still uses the pool's credentials and region.
   */
  async configurationFor(flowRunId: string, signal: AbortSignal): Promise<JobConfiguration | undefined> {
    const pool = this.sync.state.pool;
    const server = this.sync.state.server;
    if (!pool || !server) return undefined;
    const flowRun = await this.d.api.readFlowRun(flowRunId, { signal });
    const flow = await this.d.api.readFlow(flowRun.flow_id, { signal });
    const deployment = flowRun.deployment_id
      ? await this.d.api.readDeployment(flowRun.deployment_id, { signal }).catch(() => undefined)
      : undefined;
    const { configuration } = await buildJobConfiguration({
      flowRun,
      flow,
      deployment,
      workPool: pool,
      server,
      workerName: this.name,
      workerId: this.sync.state.workerId,
      workerEnv: this.d.workerEnv,
      processEnv: this.d.processEnv,
      defaultTemplate: this.sync.defaultTemplate(server),
      workerDefaults: this.d.infrastructure.defaultJobVariables?.(),
      api: this.d.api,
      signal,
    });
    return configuration;
  }

  /** One reconciliation round (see {@link Reconciler}); runs on start and every `reconcileSeconds`. */
  reconcile(signal: AbortSignal): Promise<ReconcileReport> {
    return this.reconciler.tick(signal);
  }

  /**
   * Spec §1.4/§1.5: one poll for scheduled runs, each claimed and submitted concurrently, stopping
   * at `--limit` (runs launched and not seen finish) and at `--submission-limit` (submissions in flight).
   *
   * Deviation (throughput): when the page was full (the server's default limit, 200) or submissions were
   * held back by `--submission-limit`, more runs are due now. Instead of waiting for the next interval as
   * Prefect's worker does, this waits until the claims it started are settled (so the next page does not
   * return them again) and half the submission slots are free, then polls again — at most
   * {@link MAX_POLL_ROUNDS} rounds per tick. `--limit` still ends the tick.
   */
  async pollOnce(signal: AbortSignal, opts: { repoll?: boolean } = {}): Promise<void> {
    const repoll = opts.repoll ?? true;
    for (let round = 0; round < MAX_POLL_ROUNDS && !signal.aborted; round++) {
      this.lastPolledAt = this.d.clock.now();
      const pool = this.sync.state.pool;
      if (!this.sync.state.hasSynced || !pool) return;
      const before = new Date(
        this.d.clock.now().getTime() + Math.trunc(this.d.config.prefetchSeconds) * 1000,
      );
      let responses: Awaited<ReturnType<PrefectApi['getScheduledFlowRuns']>>;
      try {
        responses = await this.d.api.getScheduledFlowRuns(
          pool.name,
          {
            work_queue_names: [...this.d.config.workQueues],
            scheduled_before: formatScheduledBefore(before),
          },
          { signal },
        );
      } catch (e) {
        if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) return; // pool gone; next sync recreates it
        throw e;
      }
      const claims: Array<Promise<void>> = [];
      let heldBack = false;
      for (const { flow_run: run } of responses) {
        if (this.submitting.has(run.id) || this.tracker.has(run.id)) continue;
        if (this.d.config.limit !== undefined && this.inFlight >= this.d.config.limit) {
          this.d.logger.debug(`Flow run limit reached; ${this.inFlight} runs in flight.`, {
            limit: this.d.config.limit,
          });
          return;
        }
        if (this.submitting.size >= this.d.config.submissionLimit) {
          heldBack = true;
          break;
        }
        claims.push(this.startSubmission(run));
      }
      if (!repoll || (!heldBack && responses.length < FULL_PAGE) || claims.length === 0) return;
      await Promise.all(claims);
      // Wait for free slots, but never longer than one poll interval: the next tick then polls as usual (and
      // the health check, which watches the last poll, stays truthful while launches are slow).
      const target = Math.floor(this.d.config.submissionLimit / 2);
      const deadline = this.d.clock.now().getTime() + this.d.config.querySeconds * 1000;
      while (this.submitting.size > target && !signal.aborted) {
        const left = deadline - this.d.clock.now().getTime();
        if (left <= 0) return;
        const timer = new AbortController();
        await Promise.race([
          Promise.race(this.submitting.values()),
          this.d.clock.sleep(left, timer.signal).catch(() => undefined),
        ]);
        timer.abort();
      }
    }
  }

  /** Starts one submission; resolves when its claim is settled (claimed or not), not when it ends. */
  private startSubmission(
    run: FlowRun,
    launch: (shutdown: AbortSignal, onClaimed: () => void) => Promise<SubmissionOutcome> = (
      shutdown,
      onClaimed,
    ) => this.submitter.submit(run, shutdown, onClaimed),
  ): Promise<void> {
    let claimed!: () => void;
    const claimSettled = new Promise<void>((resolve) => {
      claimed = resolve;
    });
    let claimedAt: number | undefined;
    const p = launch(this.shutdown.signal, () => {
      claimedAt = this.d.clock.now().getTime();
      claimed();
    })
      .catch((e: unknown): SubmissionOutcome => {
        this.d.logger.error(`Unexpected error while submitting flow run '${run.id}'.`, {
          error: e,
          flowRunId: run.id,
        });
        return { kind: 'crashed', message: (e as Error).message };
      })
      .then((outcome) => {
        this.submitting.delete(run.id);
        claimed();
        this.metrics.submission(outcome, claimedAt, this.d.clock.now().getTime());
        this.d.onSubmission?.(run.id, outcome);
        return outcome;
      });
    this.submitting.set(run.id, p);
    return claimSettled;
  }

  /** Waits for every submission in flight. */
  async drainSubmissions(): Promise<void> {
    while (this.submitting.size > 0) await Promise.allSettled([...this.submitting.values()]);
  }

  /**
   * Runs until `signal` aborts (graceful stop) or a loop gives up (rejects). With `runOnce`: one sync,
   * one poll, then waits for the submissions it started.
   */
  /** `ready`: the worker claims and launches nothing before it resolves, and stops with its error (see setup). */
  async run(signal: AbortSignal, opts: { ready?: Promise<void> } = {}): Promise<void> {
    const loops = new AbortController();
    // Every in-flight Prefect and AWS call listens on these signals; dozens at once is normal.
    setMaxListeners(0, loops.signal, signal, this.shutdown.signal);
    const onAbort = () => loops.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const health = this.d.config.withHealthcheck
      ? await startHealthServer({
          host: this.d.config.healthcheckHost,
          port: this.d.config.healthcheckPort,
          isHealthy: () => this.isHealthy(),
          metrics: () => this.metrics.registry.render(),
        })
      : undefined;
    if (health) {
      this.d.logger.info(`Health check listening on ${health.url}/health.`);
      this.d.logger.info(`Prometheus metrics at ${health.url}/metrics.`);
    }
    try {
      await this.setup(loops.signal, opts.ready);
      this.events.started();
      this.d.logger.info(`Worker '${this.name}' started!`, { pool: this.d.config.pool });
      if (this.d.config.runOnce) {
        await this.pollOnce(loops.signal, { repoll: false });
        await this.drainSubmissions();
        return;
      }
      const common = {
        clock: this.d.clock,
        logger: this.d.logger,
        signal: loops.signal,
        random: this.d.random,
      };
      const services: Array<Promise<void>> = [
        runServiceLoop((s) => this.pollOnce(s), {
          ...common,
          name: 'poll',
          intervalMs: () => this.d.config.querySeconds * 1000,
        }),
        runServiceLoop((s) => this.sync.sync(s), {
          ...common,
          name: 'sync',
          intervalMs: () => this.d.config.heartbeatSeconds * 1000,
        }),
        runServiceLoop(async (s) => void (await this.reconcile(s)), {
          ...common,
          name: 'reconcile',
          intervalMs: () => this.d.config.reconcileSeconds * 1000,
        }),
        runServiceLoop((s) => this.tracker.settle(s), {
          ...common,
          name: 'tracker',
          intervalMs: () => this.d.config.trackerPollSeconds * 1000,
        }),
      ];
      if (this.d.config.enableCancellation) {
        services.push(
          runServiceLoop((s) => (this.sync.state.hasSynced ? this.canceller.tick(s) : Promise.resolve()), {
            ...common,
            name: 'cancellation',
            intervalMs: () => this.d.config.cancellationPollSeconds * 1000,
          }),
        );
      }
      for (const o of this.d.observers) services.push(this.runObserver(o, loops.signal));
      // The first loop to fail stops all of them; a graceful stop ends them all quietly. A loop that
      // ends early on its own (an observer giving up) does not end the worker.
      await new Promise<void>((resolve, reject) => {
        let pending = services.length;
        for (const p of services) {
          p.then(
            () => {
              pending -= 1;
              if (pending === 0) resolve();
            },
            (e: unknown) => {
              loops.abort(e);
              reject(e);
            },
          );
        }
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
      loops.abort();
      await this.stop();
      await health?.close();
    }
  }

  private async runObserver(o: Observer, signal: AbortSignal): Promise<void> {
    try {
      await o.run(this.tracker, signal);
    } catch (e) {
      if (signal.aborted) return;
      this.tracker.reportHealth(o.name, { healthy: false, coverage: 'none', reason: (e as Error).message });
      this.d.logger.error(`Observer '${o.name}' stopped with an error.`, { error: e });
    }
  }

  /**
   * Graceful stop, idempotent and bounded by `stopTimeoutSeconds`: stop polling, let submissions in
   * flight finish (a claimed run that has not reached the infrastructure is handed back), flush the
   * flow-run logs.
   */
  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = (async () => {
        this.shutdown.abort();
        const timer = new AbortController();
        const deadline = this.d.clock.sleep(this.d.config.stopTimeoutSeconds * 1000, timer.signal).then(
          () => 'timeout' as const,
          () => 'cancelled' as const,
        );
        const outcome = await Promise.race([
          this.drainSubmissions().then(() => 'drained' as const),
          deadline,
        ]);
        timer.abort();
        if (outcome === 'timeout') {
          this.d.logger.error(
            `Stopped with ${this.submitting.size} submissions still in flight after ${this.d.config.stopTimeoutSeconds} s.`,
            { flowRunIds: [...this.submitting.keys()] },
          );
        }
        await this.logs.flush();
        this.events.stopped();
        this.d.logger.info(`Worker '${this.name}' stopped.`);
      })();
    }
    return this.stopped;
  }
}
