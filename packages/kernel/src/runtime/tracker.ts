import type { Clock } from '../clock.js';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import type {
  Infrastructure,
  InfrastructureStateChange,
  JobConfiguration,
  ObservationSink,
  ObserverHealth,
  TrackedInfrastructure,
} from '../extension-points.js';
import type { Logger } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import { type FlowRun, type ServerInfo, type StateType, TERMINAL_STATE_TYPES } from '../prefect/types.js';
import {
  describeHistory,
  INTERRUPTION_RETRY_MARK,
  isInterruptionRetry,
  markCancelled,
  proposeAwaitingRetry,
  proposeCrashed,
  stateBody,
} from './states.js';

/** What {@link RunTracker.settle} keeps of each run it reads. */
type SettleView = Pick<FlowRun, 'state' | 'state_type' | 'infrastructure_pid' | 'start_time'>;

/** One run this worker launched (or adopted) and has not yet seen finish. @public */
export interface TrackedRun {
  flowRunId: string;
  flowRunName: string;
  identifier: string;
  infrastructureType: string;
  launchedAt: Date;
  lastChange?: InfrastructureStateChange;
  stoppedAt?: Date;
  /** First time an observer saw it running. */
  runningAt?: Date;
  /** How long it may stay pending before it is stopped and the run crashed (`stevedore_start_timeout_seconds`). */
  startTimeoutMs?: number;
  /** An InfrastructurePending proposal was made (or is in flight) for this run. */
  pendingProposed?: boolean;
  /** Found in Prefect (after a restart, or launched by another replica) rather than launched by this process. */
  adopted?: boolean;
  /** Counts toward `--limit`: launched by this worker, or adopted with this worker's name on its labels. */
  countsTowardLimit?: boolean;
  /** Adopted from this worker when it stopped heartbeating: left to it again once it heartbeats (reconciliation). */
  takenOverFrom?: string;
  /** The job configuration it was launched with, when launched by this process (used to kill it). */
  configuration?: JobConfiguration;
  /** Longest the infrastructure may run before it is stopped and the run crashed (`stevedore_max_runtime_seconds`). */
  maxRuntimeMs?: number;
  /** First time the tracker saw the run final in Prefect while its infrastructure had not been seen stop. */
  finalSeenAt?: Date;
  /** The crash diagnosis and container log tail went to the run's logs (a failed crash report is retried without them). */
  crashLogged?: boolean;
  /** Times the run may be rescheduled after an infrastructure interruption (`stevedore_interruption_retries`). */
  interruptionRetries?: number;
}

/** Options of {@link RunTracker}. @internal */
export interface RunTrackerOptions {
  api: PrefectApi;
  clock: Clock;
  logger: Logger;
  server: () => ServerInfo | undefined;
  crashGraceMs: number;
  /** Poll interval for polling observers while no event observer covers everything. */
  fastPollMs: number;
  /** Safety-net interval for polling observers while an event observer is healthy with full coverage. */
  slowPollMs: number;
  runLogger: (flowRunId: string) => Logger;
  /** Default start timeout (ms) for runs that carry none; 0 disables it. */
  startTimeoutMs: number;
  /**
   * How long the infrastructure of a run that Prefect says is final may keep running before it is stopped
   * (an engine that hangs after reporting). 0 releases such runs at once without stopping anything.
   */
  teardownGraceMs: number;
  /** Default maximum runtime (ms) for runs that carry none; 0 means none. */
  maxRuntimeMs: number;
  /** Default interruption budget for runs that carry none (`interruptionRetries`); 0 crashes interrupted runs. */
  interruptionRetries?: number;
  /** Called when the tracker reschedules an interrupted run, with the interruption's class (metrics). */
  onRetried?: (cls: string) => void;
  /** Called when the tracker reports a run Crashed, or marks one Cancelled (metrics). */
  onCrashed?: () => void;
  onCancelled?: () => void;
  /** Lines of the container's log sent to a crashed run's logs. */
  crashLogLines: number;
  infrastructure: Pick<Infrastructure, 'kill' | 'crashLogs' | 'released'>;
  /** Rebuilds the job configuration of a run (spec §1.9 step 4), for killing runs this process did not launch. */
  configurationFor?: (flowRunId: string, signal: AbortSignal) => Promise<JobConfiguration | undefined>;
}

/** Builds the diagnosis a Crashed state carries from what the observer saw. @internal */
export function crashMessage(change: InfrastructureStateChange | undefined): string {
  const reason = [change?.stopCode, change?.stopReason]
    .filter((s) => typeof s === 'string' && s.length > 0)
    .join(': ');
  const code = change?.exitCode;
  if (typeof code === 'number' && code !== 0) {
    return `Flow run infrastructure exited with non-zero status code ${code}.${reason ? ` ${reason}` : ''}`;
  }
  if (typeof code === 'number') {
    return `Flow run infrastructure exited with status code 0, but the flow run never reported a final state.${reason ? ` ${reason}` : ''}`;
  }
  return `Flow run infrastructure stopped without an exit code.${reason ? ` ${reason}` : ' The container may have failed to start.'}`;
}

/**
 * Keeps the runs this worker is responsible for (they count toward `--limit`), takes state changes
 * from observers (de-duplicated by `version`), and settles runs: a run whose Prefect state is final
 * is released; a stopped infrastructure whose run is still not final after the crash grace period is
 * reported Crashed with the diagnosis; one whose run is CANCELLING is marked Cancelled.
 * @public
 */
export class RunTracker implements ObservationSink {
  private readonly runs = new Map<string, TrackedRun>();
  private readonly byIdentifier = new Map<string, string>();
  private readonly health = new Map<string, ObserverHealth & { kind: 'polling' | 'event' }>();
  private readonly kinds = new Map<string, 'polling' | 'event'>();
  /** Pollers waiting in {@link RunTracker.pollIntervalShortened}. */
  private readonly shortenedWaiters = new Set<() => void>();

  constructor(private readonly opts: RunTrackerOptions) {}

  get size(): number {
    return this.runs.size;
  }

  /** Runs that count toward `--limit`. */
  get limitCount(): number {
    let n = 0;
    for (const r of this.runs.values()) if (r.countsTowardLimit !== false) n += 1;
    return n;
  }

  /** The configuration to kill a run with: the one it was launched with, or rebuilt from Prefect. */
  async configurationOf(run: TrackedRun, signal: AbortSignal): Promise<JobConfiguration | undefined> {
    if (run.configuration) return run.configuration;
    try {
      return await this.opts.configurationFor?.(run.flowRunId, signal);
    } catch (e) {
      // Killing with the default AWS configuration is still better than not killing at all.
      this.opts.logger.warn(
        `Could not rebuild the job configuration of flow run '${run.flowRunId}': ${(e as Error).message}`,
      );
      return undefined;
    }
  }

  has(flowRunId: string): boolean {
    return this.runs.has(flowRunId);
  }

  get(flowRunId: string): TrackedRun | undefined {
    return this.runs.get(flowRunId);
  }

  list(): TrackedRun[] {
    return [...this.runs.values()];
  }

  add(run: Omit<TrackedRun, 'launchedAt'> & { launchedAt?: Date }): void {
    const tracked: TrackedRun = { ...run, launchedAt: run.launchedAt ?? this.opts.clock.now() };
    this.runs.set(run.flowRunId, tracked);
    this.byIdentifier.set(run.identifier, run.flowRunId);
  }

  release(flowRunId: string): void {
    const run = this.runs.get(flowRunId);
    if (!run) return;
    this.runs.delete(flowRunId);
    this.byIdentifier.delete(run.identifier);
    const released = this.opts.infrastructure.released;
    if (released) {
      released
        .call(this.opts.infrastructure, run.identifier, { signal: AbortSignal.timeout(60_000) })
        .catch((e: unknown) => {
          // Clean-up is best effort: the run's outcome is already settled.
          this.opts.logger.warn(`Clean-up after flow run '${flowRunId}' failed: ${(e as Error).message}`, {
            flowRunId,
          });
        });
    }
  }

  registerObserver(name: string, kind: 'polling' | 'event'): void {
    this.kinds.set(name, kind);
  }

  // ObservationSink
  tracked(): readonly TrackedInfrastructure[] {
    return [...this.runs.values()].map((r) => ({
      identifier: r.identifier,
      flowRunId: r.flowRunId,
      infrastructureType: r.infrastructureType,
    }));
  }

  report(change: InfrastructureStateChange): void {
    const flowRunId = this.byIdentifier.get(change.identifier) ?? change.flowRunId;
    const run = flowRunId ? this.runs.get(flowRunId) : undefined;
    if (!run) return; // not ours: ignored cheaply
    const prev = run.lastChange;
    if (
      prev &&
      typeof prev.version === 'number' &&
      typeof change.version === 'number' &&
      change.version < prev.version
    )
      return;
    if (prev?.status === 'stopped' && change.status !== 'stopped') return; // stopped is final
    if (
      prev &&
      prev.status === change.status &&
      prev.version === change.version &&
      prev.exitCode === change.exitCode
    )
      return;
    run.lastChange = change;
    if (change.status === 'running' && !run.runningAt) run.runningAt = this.opts.clock.now();
    if (change.status === 'pending' && !run.pendingProposed) {
      run.pendingProposed = true;
      void this.proposeInfrastructurePending(run, change);
    }
    if (change.status === 'stopped' && !run.stoppedAt) {
      run.stoppedAt = this.opts.clock.now();
      this.opts.logger.debug('Infrastructure stopped.', {
        flowRunId: run.flowRunId,
        identifier: run.identifier,
        change,
      });
    }
  }

  reportHealth(observer: string, health: ObserverHealth): void {
    const kind = this.kinds.get(observer) ?? 'polling';
    const before = this.health.get(observer);
    const intervalBefore = this.pollIntervalMs();
    if (before?.healthy && !health.healthy) {
      this.opts.logger.warn(`Observer '${observer}' is unhealthy: ${health.reason ?? 'no reason given'}.`, {
        observer,
      });
    }
    this.health.set(observer, { ...health, kind });
    if (this.pollIntervalMs() < intervalBefore) {
      // The poller may be asleep for the whole safety-net interval: wake it so it takes over now.
      for (const wake of [...this.shortenedWaiters]) wake();
    }
  }

  pollIntervalShortened(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const done = () => {
        this.shortenedWaiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.shortenedWaiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  pollIntervalMs(): number {
    for (const h of this.health.values())
      if (h.kind === 'event' && h.healthy && h.coverage === 'all') return this.opts.slowPollMs;
    return this.opts.fastPollMs;
  }

  /**
   * Spec §3.4(a): while the infrastructure is provisioning, the run becomes Pending named
   * "InfrastructurePending" — unless it is already Running, final, paused or being cancelled.
   */
  private async proposeInfrastructurePending(
    run: TrackedRun,
    change: InfrastructureStateChange,
  ): Promise<void> {
    const { api, logger } = this.opts;
    try {
      const current = await api.readFlowRun(run.flowRunId);
      const type = current.state?.type ?? current.state_type;
      // Only a Pending run is renamed. The server accepts Pending over a final Crashed or Failed state (re-runs), so
      // the read must not be stale: a run this tracker has meanwhile seen start or stop (or settled) is left alone —
      // found by the fault suite, where a delayed SQS event's proposal landed after the run had crashed.
      if (type !== 'PENDING' || !this.stillPending(run)) return;
      const message =
        change.pendingMessage ??
        `Infrastructure is ${String(change.providerStatus ?? 'pending').toLowerCase()}.`;
      for (let attempt = 0; attempt < 5; attempt++) {
        if (!this.stillPending(run)) return;
        // Not retried: a retry of a proposal whose answer was lost can land after the engine moved the run on
        // (Prefect accepts Pending over Completed/Crashed), leaving it Pending. The rename is cosmetic; skip it.
        const result = await api.setFlowRunState(
          run.flowRunId,
          {
            state: stateBody(run.flowRunId, 'PENDING', 'InfrastructurePending', message, this.opts.server()),
            force: false,
          },
          { retries: 0 },
        );
        if (result.status !== 'WAIT') return;
        await this.opts.clock.sleep(Math.max(0, Number(result.details.delay_seconds ?? 0)) * 1000);
      }
    } catch (e) {
      if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) return;
      logger.warn(
        `Could not mark flow run '${run.flowRunId}' as InfrastructurePending: ${(e as Error).message}`,
        {
          flowRunId: run.flowRunId,
        },
      );
    }
  }

  /** Still tracked and not seen past pending: an InfrastructurePending proposal would not overwrite a later state. */
  private stillPending(run: TrackedRun): boolean {
    return (
      this.runs.get(run.flowRunId) === run &&
      !run.stoppedAt &&
      !run.runningAt &&
      run.lastChange?.status === 'pending'
    );
  }

  /**
   * Crashes a run with the diagnosis and the tail of its container log, then stops tracking it. When the
   * crash report fails (the Prefect API answered an error, or did not answer), the run stays tracked and the
   * next settle reports it again: released, it would stay Running (or Pending) with its infrastructure gone.
   */
  private async crash(run: TrackedRun, message: string, signal: AbortSignal): Promise<void> {
    const log = this.opts.runLogger(run.flowRunId);
    if (!run.crashLogged) {
      run.crashLogged = true;
      const d = run.lastChange?.diagnosis;
      if (d)
        log[d.level === 'warning' ? 'warn' : 'error'](
          `${d.summary}: ${d.detail} Resolution: ${d.resolution}`,
        );
      if (this.opts.infrastructure.crashLogs && this.opts.crashLogLines > 0) {
        try {
          const lines = await this.opts.infrastructure.crashLogs(run.identifier, {
            signal,
            limit: this.opts.crashLogLines,
          });
          if (lines.length > 0) {
            log.info(`Last ${lines.length} log lines of the flow run's container:`);
            for (const line of lines) log.info(line);
          }
        } catch (e) {
          // The crash report matters more than the log tail; the failure is recorded locally.
          this.opts.logger.debug('Could not read the crashed container log.', {
            flowRunId: run.flowRunId,
            error: e,
          });
        }
      }
    }
    const result = await proposeCrashed(
      this.opts.api,
      run.flowRunId,
      message,
      this.opts.server(),
      log,
      signal,
    );
    if (result === 'failed') {
      this.opts.logger.warn(
        `Flow run '${run.flowRunName}' stays tracked: its crash report will be sent again at the next check.`,
        { flowRunId: run.flowRunId },
      );
      return;
    }
    this.opts.onCrashed?.();
    this.release(run.flowRunId);
  }

  /**
   * Reads the Prefect states of all tracked runs (batched `POST /flow_runs/filter`) and settles them.
   * Runs once per tracker interval.
   */
  async settle(signal: AbortSignal): Promise<void> {
    if (this.runs.size === 0) return;
    const ids = [...this.runs.keys()];
    // The states read below are as of this moment: a run whose infrastructure stopped after it is judged at
    // the next settle, not crashed on a state read before the engine could report its end.
    const readAt = this.opts.clock.now().getTime();
    // Only the fields read below are kept: the whole runs (parameters, labels, policies…) of thousands of tracked
    // runs, all alive until the last page arrived, made the worker's memory peak at every round.
    const found = new Map<string, SettleView>();
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      const runs = await this.opts.api.filterFlowRuns(
        { flow_runs: { id: { any_: chunk } }, limit: chunk.length },
        { signal },
      );
      for (const r of runs)
        found.set(r.id, {
          state: r.state,
          state_type: r.state_type,
          infrastructure_pid: r.infrastructure_pid,
          start_time: r.start_time,
        });
    }
    const now = this.opts.clock.now().getTime();
    for (const id of ids) {
      const tracked = this.runs.get(id);
      if (!tracked) continue;
      const flowRun = found.get(id);
      if (!flowRun) {
        this.opts.logger.info(`Flow run '${id}' no longer exists; no longer tracking it.`, { flowRunId: id });
        this.release(id);
        continue;
      }
      const type = flowRun.state?.type ?? flowRun.state_type ?? undefined;
      if (!flowRun.infrastructure_pid && (type === 'PENDING' || type === 'RUNNING'))
        await this.reportPidAgain(tracked, signal);
      if (
        tracked.stoppedAt &&
        tracked.lastChange?.interruption &&
        flowRun.infrastructure_pid &&
        flowRun.infrastructure_pid !== tracked.identifier
      ) {
        // The run has been launched again elsewhere since (it was rescheduled): its new attempt is not ours to judge.
        this.release(id);
        continue;
      }
      if (
        tracked.stoppedAt &&
        tracked.lastChange?.interruption &&
        this.interruptible(type, tracked, readAt)
      ) {
        await this.rescheduleOrCrash(tracked, type, signal);
        continue;
      }
      if (type && TERMINAL_STATE_TYPES.has(type)) {
        // Guaranteed teardown: a final run's infrastructure must stop. Normally the observer sees it stop
        // within seconds; one still running after the grace period is stopped (an engine hung on exit).
        if (tracked.stoppedAt || this.opts.teardownGraceMs <= 0) {
          this.release(id);
          continue;
        }
        tracked.finalSeenAt ??= this.opts.clock.now();
        // The flow run is over: it no longer holds a `--limit` slot while its infrastructure winds down.
        tracked.countsTowardLimit = false;
        if (now - tracked.finalSeenAt.getTime() >= this.opts.teardownGraceMs)
          await this.teardown(tracked, type, signal);
        continue;
      }
      if (!tracked.stoppedAt) {
        const maxRuntime = tracked.maxRuntimeMs ?? this.opts.maxRuntimeMs;
        const startedAt =
          tracked.runningAt ?? (flowRun.start_time ? new Date(flowRun.start_time) : undefined);
        if (maxRuntime > 0 && startedAt && now - startedAt.getTime() > maxRuntime) {
          await this.killAndCrash(
            tracked,
            `Flow run exceeded its maximum runtime of ${maxRuntime / 1000} s (stevedore_max_runtime_seconds); its infrastructure was stopped.`,
            signal,
          );
          continue;
        }
        const timeout = tracked.startTimeoutMs ?? this.opts.startTimeoutMs;
        if (
          !tracked.runningAt &&
          timeout > 0 &&
          now - tracked.launchedAt.getTime() > timeout &&
          type !== 'RUNNING'
        ) {
          await this.startTimedOut(tracked, timeout, signal);
        }
        continue;
      }
      const log = this.opts.runLogger(id);
      if (type === 'CANCELLING') {
        await markCancelled(
          this.opts.api,
          id,
          flowRun.state,
          'Flow run was cancelled; its infrastructure has stopped.',
          this.opts.server(),
          log,
          signal,
        );
        this.opts.onCancelled?.();
        this.release(id);
        continue;
      }
      if (
        readAt - tracked.stoppedAt.getTime() < this.opts.crashGraceMs ||
        readAt < tracked.stoppedAt.getTime()
      )
        continue;
      const message = tracked.lastChange?.crashMessage ?? crashMessage(tracked.lastChange);
      if (!tracked.crashLogged)
        log.error(
          `Flow run '${tracked.flowRunName}' infrastructure stopped but the run is still ${type ?? 'unknown'}.`,
        );
      await this.crash(tracked, message, signal);
    }
  }

  /**
   * An interrupted run is rescheduled (or crashed, budget spent) when its engine died with it: the run is still
   * Pending/Running after the crash grace, or the engine reported Crashed on the SIGTERM. Completed, Failed and
   * Cancelled runs finished before the interruption and are left alone; a CANCELLING one is marked Cancelled.
   */
  private interruptible(type: StateType | undefined, run: TrackedRun, readAt: number): boolean {
    if (type === 'CRASHED') return true;
    if (type === undefined || TERMINAL_STATE_TYPES.has(type) || type === 'CANCELLING' || type === 'PAUSED')
      return false;
    const stoppedAt = run.stoppedAt?.getTime() ?? readAt;
    return readAt - stoppedAt >= this.opts.crashGraceMs && readAt >= stoppedAt;
  }

  /**
   * Reschedules an interrupted run — a forced Scheduled state named `AwaitingRetry`, due now, so any replica may
   * pick it up and Prefect's state history shows the retry — while its interruption budget lasts. Attempts are
   * counted from the run's state history (the AwaitingRetry states this mechanism wrote), so every replica and every
   * restart counts the same. When the budget is spent the run ends Crashed with the history in its message.
   * A failed proposal keeps the run tracked: the next settle tries again.
   */
  private async rescheduleOrCrash(
    run: TrackedRun,
    type: StateType | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const interruption = run.lastChange?.interruption;
    if (!interruption) return;
    const log = this.opts.runLogger(run.flowRunId);
    const budget = run.interruptionRetries ?? this.opts.interruptionRetries ?? 0;
    let history: Awaited<ReturnType<PrefectApi['readFlowRunStates']>>;
    try {
      history = await this.opts.api.readFlowRunStates(run.flowRunId, { signal });
    } catch (e) {
      if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) {
        this.release(run.flowRunId);
        return;
      }
      this.opts.logger.warn(
        `Could not read the state history of interrupted flow run '${run.flowRunId}': ${(e as Error).message}; trying again at the next check.`,
        { flowRunId: run.flowRunId },
      );
      return;
    }
    if (history.some((s) => isInterruptionRetry(s) && (s.message ?? '').includes(run.identifier))) {
      // Already rescheduled for this infrastructure (a proposal whose answer was lost, or another replica): the run
      // has moved on, maybe claimed again; touching it now could end its new attempt.
      this.release(run.flowRunId);
      return;
    }
    const used = history.filter(isInterruptionRetry).length;
    if (used < budget) {
      const message = `${interruption.summary} Rescheduled (${INTERRUPTION_RETRY_MARK} ${used + 1} of ${budget}; infrastructure ${run.identifier}).`;
      const result = await proposeAwaitingRetry(
        this.opts.api,
        run.flowRunId,
        message,
        this.opts.clock.now(),
        this.opts.server(),
        signal,
      ).catch((e: unknown) => {
        if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) return 'gone' as const;
        this.opts.logger.warn(
          `Could not reschedule interrupted flow run '${run.flowRunId}': ${(e as Error).message}; trying again at the next check.`,
          { flowRunId: run.flowRunId },
        );
        return 'failed' as const;
      });
      if (result === 'failed') return;
      if (result !== 'gone' && result.status === 'ACCEPT') {
        log.warn(
          `${interruption.summary} The flow run was rescheduled to run again (${INTERRUPTION_RETRY_MARK} ${used + 1} of ${budget}).`,
        );
        this.opts.onRetried?.(interruption.class);
      } else if (result !== 'gone') {
        log.warn(
          `${interruption.summary} Rescheduling the flow run was not accepted (${result.status}: ${String(result.details.reason ?? '')}).`,
        );
      }
      this.release(run.flowRunId);
      return;
    }
    const message =
      budget === 0
        ? `${interruption.summary} The flow run is not rescheduled: its interruption budget is 0 (stevedore_interruption_retries).`
        : `${interruption.summary} The flow run was interrupted ${used + 1} times and its interruption budget of ${budget} (stevedore_interruption_retries) is spent. History: ${describeHistory(history)}.`;
    if (type === 'CRASHED') {
      // The engine already reported Crashed on the SIGTERM; a second Crashed would be refused. The history goes to
      // the run's logs instead.
      log.error(message);
      this.opts.onCrashed?.();
      this.release(run.flowRunId);
      return;
    }
    log.error(`Flow run '${run.flowRunName}' infrastructure was interrupted and will not be rescheduled.`);
    await this.crash(run, message, signal);
  }

  /**
   * The submission's infrastructure_pid PATCH failed (Prefect's worker logs it and gives up: the run is then not
   * cancellable, and a worker restarting after this one cannot find a task that has already stopped). Sent again at
   * every check until it lands. Found by the fault suite: a lost PATCH, then a kill -9, then a Spot interruption left
   * a run Running with nothing to tell that its task was gone.
   */
  private async reportPidAgain(run: TrackedRun, signal: AbortSignal): Promise<void> {
    try {
      await this.opts.api.setInfrastructurePid(run.flowRunId, run.identifier, { signal });
      this.opts
        .runLogger(run.flowRunId)
        .info(
          `Reported infrastructure_pid '${run.identifier}' of flow run '${run.flowRunName}' (an earlier report had failed).`,
        );
    } catch (e) {
      if (signal.aborted) throw e;
      this.opts.logger.debug(
        `Could not report infrastructure_pid of flow run '${run.flowRunId}' yet: ${(e as Error).message}`,
        { flowRunId: run.flowRunId },
      );
    }
  }

  private async startTimedOut(run: TrackedRun, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const status = run.lastChange?.providerStatus ?? run.lastChange?.status ?? 'unknown';
    const seconds = Math.round(timeoutMs / 1000);
    await this.killAndCrash(
      run,
      `Flow run infrastructure did not start within ${seconds} s (last status: ${status}); it was stopped. Raise stevedore_start_timeout_seconds if the image needs longer to start.`,
      signal,
    );
  }

  /** Stops the infrastructure at once (already gone is fine), then crashes the run with `message`. */
  private async killAndCrash(run: TrackedRun, message: string, signal: AbortSignal): Promise<void> {
    await this.killNow(run, signal);
    await this.crash(run, message, signal);
  }

  private async killNow(run: TrackedRun, signal: AbortSignal): Promise<void> {
    try {
      const configuration = await this.configurationOf(run, signal);
      await this.opts.infrastructure.kill(run.identifier, {
        signal,
        gracePeriodSeconds: 0,
        ...(configuration ? { configuration } : {}),
      });
    } catch (e) {
      if (!isStevedoreError(e, kernelErrorCodes.INFRASTRUCTURE_NOT_FOUND)) throw e;
    }
  }

  /** The run is final in Prefect but its infrastructure was not seen stop within the grace period: stop it. */
  private async teardown(run: TrackedRun, type: string, signal: AbortSignal): Promise<void> {
    const seconds = Math.round(this.opts.teardownGraceMs / 1000);
    try {
      await this.killNow(run, signal);
    } catch (e) {
      // Kept tracked: the next round tries again.
      this.opts.logger.warn(
        `Could not stop the infrastructure of flow run '${run.flowRunId}' (${type}): ${(e as Error).message}`,
        { flowRunId: run.flowRunId, identifier: run.identifier },
      );
      return;
    }
    this.opts
      .runLogger(run.flowRunId)
      .warn(
        `Flow run is ${type} but its infrastructure had not stopped ${seconds} s later; it was stopped (${run.identifier}).`,
      );
    this.release(run.flowRunId);
  }
}
