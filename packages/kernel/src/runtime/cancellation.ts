import type { Clock } from '../clock.js';
import type { WorkerConfig } from '../config.js';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import type { Infrastructure, JobConfiguration } from '../extension-points.js';
import type { Logger } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import type { FlowRun, ServerInfo } from '../prefect/types.js';
import { markCancelled } from './states.js';
import type { RunTracker } from './tracker.js';

/** Options of {@link Canceller}. @internal */
export interface CancellerDeps {
  api: PrefectApi;
  clock: Clock;
  config: WorkerConfig;
  infrastructure: Infrastructure;
  tracker: RunTracker;
  logger: Logger;
  server: () => ServerInfo | undefined;
  isSubmitting: (flowRunId: string) => boolean;
  runLogger: (flowRunId: string) => Logger;
  /** Spec §1.9 step 4: the job configuration is rebuilt before killing, so the pool's aws_credentials apply. */
  configurationFor: (flowRunId: string, signal: AbortSignal) => Promise<JobConfiguration | undefined>;
  /** Called for each run this canceller marked Cancelled (metrics). */
  onCancelled?: () => void;
}

/**
 * Worker-side cancellation, on by default (Prefect's is off by default and only sees runs it is
 * submitting at that moment; ours covers the whole pool so cancellation works across restarts and
 * replicas). Every tick reads the pool's CANCELLING runs:
 * - never started (no `start_time`) with infrastructure: kill it now and mark Cancelled;
 * - started: the engine inside gets `cancellationGraceSeconds` (counted from the CANCELLING state's
 *   timestamp) to cancel itself and run its hooks, then the infrastructure is killed and the run marked Cancelled;
 * - no infrastructure_pid: cancelled once the CANCELLING state is older than the grace period and no
 *   worker of ours is submitting it (a launch may still be in flight elsewhere until then).
 * @internal
 */
export class Canceller {
  constructor(private readonly d: CancellerDeps) {}

  async tick(signal: AbortSignal): Promise<void> {
    const runs = await this.d.api.filterFlowRuns(
      {
        work_pools: { name: { any_: [this.d.config.pool] } },
        flow_runs: { state: { type: { any_: ['CANCELLING'] } } },
        sort: 'EXPECTED_START_TIME_ASC',
        limit: 200,
      },
      { signal },
    );
    for (const run of runs) {
      if (signal.aborted) return;
      if (this.d.isSubmitting(run.id)) continue;
      try {
        await this.cancel(run, signal);
      } catch (e) {
        if (signal.aborted) return;
        // Left for the next tick: the run stays CANCELLING, so nothing is lost by retrying later.
        this.d.logger.warn(`Could not cancel flow run '${run.id}' yet: ${(e as Error).message}`, {
          flowRunId: run.id,
        });
      }
    }
  }

  private async cancel(run: FlowRun, signal: AbortSignal): Promise<void> {
    const grace = this.d.config.cancellationGraceSeconds * 1000;
    const since = run.state?.timestamp ? Date.parse(run.state.timestamp) : Number.NaN;
    const age = Number.isNaN(since) ? Number.POSITIVE_INFINITY : this.d.clock.now().getTime() - since;
    const log = this.d.runLogger(run.id);
    const pid = run.infrastructure_pid;
    if (!pid) {
      if (age < grace) return;
      await markCancelled(
        this.d.api,
        run.id,
        run.state,
        'Flow run cancelled by worker (no infrastructure found).',
        this.d.server(),
        log,
        signal,
      );
      this.d.onCancelled?.();
      return;
    }
    const started = Boolean(run.start_time);
    if (started && age < grace) return; // the engine gets its chance to cancel itself first
    // Stop tracking first so the tracker does not settle the stop this kill causes with its own message;
    // if the kill fails, the run stays CANCELLING and the next tick tries again.
    const tracked = this.d.tracker.get(run.id);
    this.d.tracker.release(run.id);
    try {
      const configuration = tracked
        ? await this.d.tracker.configurationOf(tracked, signal)
        : await this.d.configurationFor(run.id, signal).catch(() => undefined);
      await this.d.infrastructure.kill(pid, {
        signal,
        gracePeriodSeconds: 30,
        ...(configuration ? { configuration } : {}),
      });
      log.info(`Killed infrastructure '${pid}' of cancelled flow run '${run.id}'.`);
    } catch (e) {
      if (isStevedoreError(e, kernelErrorCodes.INFRASTRUCTURE_NOT_AVAILABLE)) {
        log.warn(`Cannot kill infrastructure '${pid}' of flow run '${run.id}': ${(e as Error).message}`);
        return;
      }
      if (!isStevedoreError(e, kernelErrorCodes.INFRASTRUCTURE_NOT_FOUND)) throw e;
      log.info(`Infrastructure '${pid}' of flow run '${run.id}' was already gone.`);
    }
    const message = started
      ? `Flow run cancelled by worker: its engine did not stop within ${this.d.config.cancellationGraceSeconds} s, so its infrastructure was stopped.`
      : 'Flow run cancelled by worker while pending.';
    await markCancelled(this.d.api, run.id, run.state, message, this.d.server(), log, signal);
    this.d.onCancelled?.();
  }
}
