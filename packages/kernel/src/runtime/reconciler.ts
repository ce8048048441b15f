import type { Clock } from '../clock.js';
import type { WorkerConfig } from '../config.js';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import type { Infrastructure, JobConfiguration, LiveInfrastructure } from '../extension-points.js';
import type { Logger } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import { type FlowRun, type State, TERMINAL_STATE_TYPES } from '../prefect/types.js';
import type { PoolSync } from './pool-sync.js';
import { isInterruptionRetry } from './states.js';
import type { RunTracker } from './tracker.js';

/** Dependencies of {@link Reconciler}. @internal */
export interface ReconcilerDeps {
  api: PrefectApi;
  config: WorkerConfig;
  clock: Clock;
  logger: Logger;
  infrastructure: Infrastructure;
  sync: PoolSync;
  tracker: RunTracker;
  workerName: string;
  /** True while this process is submitting the run. */
  isSubmitting(flowRunId: string): boolean;
  /** Starts launching a claimed run again with the attempt key of its claim. */
  relaunch(flowRun: FlowRun, claimStateId: string): void;
  configurationFor(flowRunId: string, signal: AbortSignal): Promise<JobConfiguration | undefined>;
}

/** What one reconciliation round did, for logs and tests. @public */
export interface ReconcileReport {
  adopted: number;
  relaunched: number;
  /** Runs left alone because a live worker other than this one claimed them. */
  ownedElsewhere: number;
  orphansStopped: number;
}

/**
 * The claim of a Pending run: the first state of the run's trailing streak of PENDING states (the claim,
 * then renames such as "Submitting" and "InfrastructurePending"). Its id is the attempt key's second half.
 * @internal
 */
export function claimStateOf(history: readonly State[]): State | undefined {
  let claim: State | undefined;
  for (let i = history.length - 1; i >= 0; i--) {
    const s = history[i];
    if (s?.type !== 'PENDING') break;
    claim = s;
  }
  return claim;
}

/**
 * Whether a Pending run's infrastructure_pid is an earlier attempt's: a Stevedore interruption retry names it, or —
 * when the live infrastructure could be listed and this pid is not among it — the run was scheduled again after a
 * claim (a retry, a reschedule), so the pid may predate the current claim and the claim's own launch is unknown.
 * Relaunching with the claim's attempt key is safe either way: a launch the claim made is returned, not repeated.
 * @internal
 */
export function pidIsStale(history: readonly State[], pid: string, pidNotLive: boolean): boolean {
  if (history.some((s) => isInterruptionRetry(s) && (s.message ?? '').includes(pid))) return true;
  if (!pidNotLive) return false;
  let claimed = false;
  for (const s of history) {
    if (s.type === 'PENDING') claimed = true;
    else if (s.type === 'SCHEDULED' && claimed) return true;
  }
  return false;
}

/**
 * Compares the pool's Pending/Running runs and live infrastructure with what this worker tracks, on start
 * and every `reconcileSeconds` (the exactly-once issue's restart reconciliation):
 *
 * - Ownership: a run whose `prefect.worker.name` label names another worker is left alone while that
 *   worker heartbeats (its last heartbeat younger than `staleHeartbeatIntervals` of its interval). Runs of
 *   this worker's name, of a gone worker, or without the label (Prefect 2) are reconciled here.
 * - A run with an infrastructure_pid is adopted (tracked: crash detection, teardown, cancellation); it
 *   counts toward `--limit` when it is this worker's or was taken over from a gone worker.
 * - A Pending run with no infrastructure_pid (the claiming worker died between the claim and the PATCH) is
 *   launched again once its Pending state is older than `reconcilePendingSeconds` (`unownedPendingSeconds`
 *   when the claimer is unknown), with the attempt key of its claim: the infrastructure's idempotency
 *   returns the launch made before, if any, so it is never launched twice.
 * - Live infrastructure of the pool whose run is final (for longer than `teardownGraceSeconds`) or deleted
 *   and that nobody here tracks is stopped.
 *
 * Prefect's worker does none of this: a run claimed by a worker that died stays Pending until someone
 * intervenes, and a task outliving its run keeps running.
 * @internal
 */
export class Reconciler {
  constructor(private readonly d: ReconcilerDeps) {}

  async tick(signal: AbortSignal): Promise<ReconcileReport> {
    const report: ReconcileReport = { adopted: 0, relaunched: 0, ownedElsewhere: 0, orphansStopped: 0 };
    const pool = this.d.sync.state.pool;
    if (!this.d.sync.state.hasSynced || !pool) return report;
    const page = (offset: number) =>
      this.d.api.filterFlowRuns(
        {
          work_pools: { name: { any_: [pool.name] } },
          flow_runs: { state: { type: { any_: ['PENDING', 'RUNNING'] } } },
          sort: 'EXPECTED_START_TIME_ASC',
          limit: 200,
          offset,
        },
        { signal },
      );
    // The three reads are independent: one round trip instead of three before the worker's first poll.
    const [workers, live, first] = await Promise.all([
      this.liveWorkers(pool.name, signal),
      this.listLive(pool.name, signal),
      page(0),
    ]);
    if (workers) this.handBack(workers);
    // `undefined` when the infrastructure could not list its live tasks (or cannot list at all).
    const liveByRun = live === undefined ? undefined : new Map<string, LiveInfrastructure>();
    for (const l of live ?? []) if (l.flowRunId) liveByRun?.set(l.flowRunId, l);
    let runs = first;
    const stoppedCandidates: Array<{ run: FlowRun; owner: string | undefined; ownerGone: boolean }> = [];
    for (let offset = 0; ; ) {
      for (const r of runs) await this.reconcileRun(r, workers, liveByRun, report, signal, stoppedCandidates);
      if (runs.length < 200) break;
      offset += 200;
      runs = await page(offset);
    }
    if (stoppedCandidates.length > 0) await this.adoptStopped(pool.name, stoppedCandidates, report, signal);
    if (live && this.d.config.teardownGraceSeconds > 0) await this.stopOrphans(live, report, signal);
    if (report.relaunched + report.orphansStopped > 0)
      this.d.logger.info(
        `Reconciled the pool: ${report.adopted} adopted, ${report.relaunched} relaunched, ${report.orphansStopped} orphaned tasks stopped.`,
        { ...report },
      );
    return report;
  }

  /** Names of the pool's workers that heartbeat; `undefined` when they cannot be read (every claimer then counts as alive). */
  private async liveWorkers(pool: string, signal: AbortSignal): Promise<Set<string> | undefined> {
    const now = this.d.clock.now().getTime();
    const names = new Set<string>([this.d.workerName]);
    try {
      for (let offset = 0; ; offset += 200) {
        const workers = await this.d.api.filterWorkers(pool, { limit: 200, offset }, { signal });
        for (const w of workers) {
          const beat = w.last_heartbeat_time ? Date.parse(w.last_heartbeat_time) : Number.NaN;
          // 2.x sends no interval, and sub-second intervals are sent truncated to 0: assume ours then.
          const interval = (w.heartbeat_interval_seconds || this.d.config.heartbeatSeconds) * 1000;
          if (now - beat <= this.d.config.staleHeartbeatIntervals * interval) names.add(w.name);
        }
        if (workers.length < 200) break;
      }
      return names;
    } catch (e) {
      if (signal.aborted) throw e;
      this.d.logger.debug(`Could not read the workers of pool '${pool}': ${(e as Error).message}`);
      return undefined;
    }
  }

  /** The pool's live infrastructure, or `undefined` when the infrastructure cannot list it. */
  private async listLive(pool: string, signal: AbortSignal): Promise<LiveInfrastructure[] | undefined> {
    const listLive = this.d.infrastructure.listLive;
    if (!listLive) return undefined;
    const known = this.d.tracker.list().map((t) => t.identifier);
    try {
      return await listLive.call(this.d.infrastructure, { signal, workPool: pool, known });
    } catch (e) {
      if (signal.aborted) throw e;
      this.d.logger.warn(`Could not list the pool's live infrastructure: ${(e as Error).message}`);
      return undefined;
    }
  }

  private async reconcileRun(
    r: FlowRun,
    live: Set<string> | undefined,
    liveByRun: ReadonlyMap<string, LiveInfrastructure> | undefined,
    report: ReconcileReport,
    signal: AbortSignal,
    stoppedCandidates: Array<{ run: FlowRun; owner: string | undefined; ownerGone: boolean }> = [],
  ): Promise<void> {
    if (this.d.tracker.has(r.id) || this.d.isSubmitting(r.id)) return;
    const label = r.labels?.['prefect.worker.name'];
    const owner = typeof label === 'string' && label.length > 0 ? label : undefined;
    const mine = owner === this.d.workerName;
    const ownerGone = owner !== undefined && !mine && live !== undefined && !live.has(owner);
    if (owner !== undefined && !mine && !ownerGone) {
      report.ownedElsewhere += 1;
      return;
    }
    let pid = r.infrastructure_pid;
    let history: State[] | undefined;
    const type = r.state?.type ?? r.state_type;
    // Pending: checked also when the live list is unavailable; Running: only when the list shows the pid not live.
    const livePid = liveByRun?.get(r.id)?.identifier;
    if (pid && livePid !== pid && (type === 'PENDING' || (type === 'RUNNING' && liveByRun !== undefined))) {
      // A claim of a rescheduled run keeps the infrastructure_pid of its previous attempt until the new launch
      // reports its own: adopting that stopped task would leave the new claim Pending with nothing launched when its
      // worker died before RunTask (the 1,500-run soak: "PENDING 'Submitting' with no live task" after a Spot
      // interruption). Such a pid counts as never reported.
      // Running too: when that worker died after RunTask but before the PATCH and the new task started the engine,
      // the run is Running under the old pid; adopting it, the tracker saw an interruption it had already retried
      // and let go, round after round, and the new task was never looked for (the 10,000-run soak, one run). For a
      // Running run only an interruption retry naming the pid marks it stale: a claim-then-Scheduled history alone
      // does not, as the engine's own retries run in the same infrastructure.
      history = await this.d.api.readFlowRunStates(r.id, { signal });
      if (pidIsStale(history, pid, type === 'PENDING' && liveByRun !== undefined)) {
        this.d.logger.info(
          `Flow run '${r.name}' (${r.id}) was claimed again after '${pid}' ended; that infrastructure belongs to an earlier attempt.`,
          { flowRunId: r.id },
        );
        pid = undefined;
      }
    }
    const found = pid ? undefined : liveByRun?.get(r.id);
    if (found) {
      // Launched, but the worker died before reporting it (or the PATCH failed): report it now.
      pid = found.identifier;
      await this.reportPid(r.id, pid, signal);
    }
    if (pid) {
      this.adopt(r, pid, mine || ownerGone, ownerGone ? owner : undefined);
      report.adopted += 1;
      this.d.logger.info(
        `Watching flow run '${r.name}' (${r.id}), launched earlier as '${pid}'${ownerGone ? ` by worker '${owner}', which stopped heartbeating` : ''}${found ? ' (found by its tags: its infrastructure_pid had never been reported)' : ''}.`,
        { flowRunId: r.id },
      );
      return;
    }
    const since = Date.parse(r.state?.timestamp ?? '');
    if (
      type === 'RUNNING' &&
      liveByRun !== undefined &&
      !Number.isNaN(since) &&
      this.d.clock.now().getTime() - since >= this.d.config.reconcilePendingSeconds * 1000
    ) {
      // Running, no pid, nothing live: its worker died between the launch and the PATCH and the infrastructure
      // stopped before a round saw it live. Looked up among the recently stopped ones after this pass.
      stoppedCandidates.push({ run: r, owner, ownerGone });
      return;
    }
    if (type !== 'PENDING' || Number.isNaN(since)) return;
    // Prefect 3 workers label a run right after claiming it, so an unlabelled claim older than the usual age is a
    // dead worker's; Prefect 2 servers have no labels: any worker may still be launching it, wait longer.
    const labelled = (this.d.sync.state.server?.major ?? 3) >= 3;
    const minAge =
      owner === undefined && !labelled
        ? this.d.config.unownedPendingSeconds
        : this.d.config.reconcilePendingSeconds;
    if (this.d.clock.now().getTime() - since < minAge * 1000) return;
    const claim = claimStateOf(history ?? (await this.d.api.readFlowRunStates(r.id, { signal })));
    // The run may have moved on between the two reads (a late PATCH, or it started): leave it to the next round.
    if (!claim?.id || this.d.tracker.has(r.id) || this.d.isSubmitting(r.id)) return;
    this.d.logger.warn(
      `Flow run '${r.name}' (${r.id}) was claimed${owner ? ` by worker '${owner}'` : ''} but never reported its infrastructure; launching it again with the claim's idempotency key.`,
      { flowRunId: r.id },
    );
    report.relaunched += 1;
    this.d.relaunch(r, claim.id);
  }

  /**
   * Lets go of runs taken over from a worker that heartbeats again (a replica back after a network partition or a
   * restart under the same name): that worker adopts its runs again, and two trackers of one run could both act on
   * its end — both reschedule a Spot interruption at once, spending two of its interruption budget. The run is not
   * touched; its owner reconciles it.
   */
  private handBack(workers: ReadonlySet<string>): void {
    for (const t of this.d.tracker.list()) {
      const owner = t.takenOverFrom;
      if (!owner || owner === this.d.workerName || !workers.has(owner)) continue;
      this.d.tracker.release(t.flowRunId);
      this.d.logger.info(
        `Worker '${owner}' heartbeats again; leaving flow run '${t.flowRunName}' (${t.flowRunId}), taken over from it, to it.`,
        { flowRunId: t.flowRunId },
      );
    }
  }

  /** Tracks a run launched elsewhere (or by an earlier process) under `pid`. */
  private adopt(
    r: FlowRun,
    pid: string,
    countsTowardLimit: boolean,
    takenOverFrom: string | undefined,
  ): void {
    const since = r.start_time ?? r.state?.timestamp;
    this.d.tracker.add({
      flowRunId: r.id,
      flowRunName: r.name,
      identifier: pid,
      infrastructureType: this.d.infrastructure.type,
      adopted: true,
      countsTowardLimit,
      ...(takenOverFrom ? { takenOverFrom } : {}),
      ...(r.start_time ? { runningAt: new Date(r.start_time) } : {}),
      ...(since ? { launchedAt: new Date(since) } : {}),
    });
  }

  /** Reports an infrastructure_pid found here; a failure is logged (the tracker sends it again at its checks). */
  private async reportPid(flowRunId: string, pid: string, signal: AbortSignal): Promise<void> {
    try {
      await this.d.api.setInfrastructurePid(flowRunId, pid, { signal });
    } catch (e) {
      if (signal.aborted) throw e;
      this.d.logger.warn(
        `Could not report infrastructure_pid '${pid}' of flow run '${flowRunId}': ${(e as Error).message}`,
      );
    }
  }

  private lastStoppedLookup = Number.NEGATIVE_INFINITY;

  /**
   * Running runs with no infrastructure_pid and nothing live (see reconcileRun): asks the infrastructure for their
   * recently stopped infrastructure, reports the pid and adopts it, so the tracker reports the outcome (crash,
   * interruption retry). At most once per `max(3 × reconcileSeconds, 10 s)` (3 minutes by default): on ECS it pages
   * through the cluster's stopped tasks.
   */
  private async adoptStopped(
    pool: string,
    candidates: ReadonlyArray<{ run: FlowRun; owner: string | undefined; ownerGone: boolean }>,
    report: ReconcileReport,
    signal: AbortSignal,
  ): Promise<void> {
    const findStopped = this.d.infrastructure.findStopped;
    if (!findStopped) return;
    const now = this.d.clock.now().getTime();
    if (now - this.lastStoppedLookup < Math.max(this.d.config.reconcileSeconds * 3, 10) * 1000) return;
    this.lastStoppedLookup = now;
    let found: LiveInfrastructure[];
    try {
      found = await findStopped.call(this.d.infrastructure, {
        signal,
        workPool: pool,
        flowRunIds: candidates.map((c) => c.run.id),
        known: this.d.tracker.list().map((t) => t.identifier),
      });
    } catch (e) {
      if (signal.aborted) throw e;
      this.d.logger.warn(`Could not look up the pool's stopped infrastructure: ${(e as Error).message}`);
      return;
    }
    const byRun = new Map(found.filter((f) => f.flowRunId).map((f) => [f.flowRunId as string, f.identifier]));
    for (const { run: r, owner, ownerGone } of candidates) {
      const pid = byRun.get(r.id);
      if (!pid || this.d.tracker.has(r.id) || this.d.isSubmitting(r.id)) continue;
      await this.reportPid(r.id, pid, signal);
      this.adopt(r, pid, false, ownerGone ? owner : undefined);
      report.adopted += 1;
      this.d.logger.warn(
        `Flow run '${r.name}' (${r.id}) is Running but its infrastructure '${pid}' has stopped; it was launched${owner ? ` by worker '${owner}'` : ''}${ownerGone ? ', which stopped heartbeating,' : ''} and its infrastructure_pid never reported. Watching it to report the outcome.`,
        { flowRunId: r.id },
      );
    }
  }

  /** Stops live infrastructure of the pool whose run is final (past the teardown grace) or deleted. */
  private async stopOrphans(
    found: readonly LiveInfrastructure[],
    report: ReconcileReport,
    signal: AbortSignal,
  ): Promise<void> {
    const candidates = found.filter(
      (l): l is LiveInfrastructure & { flowRunId: string } =>
        typeof l.flowRunId === 'string' &&
        !this.d.tracker.has(l.flowRunId) &&
        !this.d.isSubmitting(l.flowRunId),
    );
    if (candidates.length === 0) return;
    const runs = new Map<string, FlowRun>();
    const ids = [...new Set(candidates.map((c) => c.flowRunId))];
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      for (const r of await this.d.api.filterFlowRuns(
        { flow_runs: { id: { any_: chunk } }, limit: chunk.length },
        { signal },
      ))
        runs.set(r.id, r);
    }
    const now = this.d.clock.now().getTime();
    for (const c of candidates) {
      const run = runs.get(c.flowRunId);
      const type = run ? (run.state?.type ?? run.state_type ?? undefined) : undefined;
      let why: string;
      if (!run) why = 'no longer exists';
      else if (type && TERMINAL_STATE_TYPES.has(type)) {
        const finalSince = Date.parse(run.state?.timestamp ?? '');
        if (!Number.isNaN(finalSince) && now - finalSince < this.d.config.teardownGraceSeconds * 1000)
          continue;
        why = `is ${type}`;
      } else continue; // alive: adopted above when this worker may own it
      if (this.d.tracker.has(c.flowRunId)) continue;
      try {
        const configuration = run
          ? await this.d.configurationFor(c.flowRunId, signal).catch(() => undefined)
          : undefined;
        await this.d.infrastructure.kill(c.identifier, {
          signal,
          gracePeriodSeconds: 0,
          ...(configuration ? { configuration } : {}),
        });
      } catch (e) {
        if (isStevedoreError(e, kernelErrorCodes.INFRASTRUCTURE_NOT_FOUND)) continue;
        if (signal.aborted) throw e;
        this.d.logger.warn(
          `Could not stop orphaned infrastructure '${c.identifier}': ${(e as Error).message}`,
        );
        continue;
      }
      report.orphansStopped += 1;
      this.d.logger.warn(
        `Stopped '${c.identifier}': its flow run '${c.flowRunId}' ${why}, but the infrastructure was still running.`,
        { flowRunId: c.flowRunId, identifier: c.identifier },
      );
    }
  }
}
