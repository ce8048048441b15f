import type { Clock } from '../clock.js';
import type { WorkerConfig } from '../config.js';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import type { WorkerEvents } from '../events/worker-events.js';
import type { FlowRunJob, Infrastructure } from '../extension-points.js';
import type { Logger } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import type { Deployment, FlowRun, State } from '../prefect/types.js';
import type { FlowRunLogShipper } from './flow-run-logs.js';
import { buildJobConfiguration, stevedoreNumber } from './job-builder.js';
import type { PoolSync } from './pool-sync.js';
import { markCancelled, proposeCrashed, stateBody } from './states.js';
import type { RunTracker } from './tracker.js';

/** How one submission ended, for tests and metrics. @public */
export type SubmissionOutcome =
  | { kind: 'submitted'; identifier: string }
  | { kind: 'not-claimed'; reason: string }
  | { kind: 'cancelled'; reason: string }
  | { kind: 'crashed'; message: string };

/** Dependencies of {@link Submitter}. @internal */
export interface SubmitterDeps {
  api: PrefectApi;
  config: WorkerConfig;
  clock: Clock;
  logger: Logger;
  infrastructure: Infrastructure;
  sync: PoolSync;
  tracker: RunTracker;
  logs: FlowRunLogShipper;
  workerName: string;
  workerEnv: Record<string, string>;
  processEnv: Record<string, string | undefined>;
  events?: WorkerEvents;
}

/** Python's `type(exc).__name__` equivalent for the crash message of spec §1.5. */
function errorClassName(e: unknown): string {
  if (e instanceof Error) return e.name || e.constructor.name || 'Error';
  return 'Error';
}

/**
 * Claims and submits one flow run exactly as spec §1.5 describes.
 * @internal
 */
export class Submitter {
  constructor(private readonly d: SubmitterDeps) {}

  /**
   * `shutdown` aborts when the worker stops: a run not yet claimed is left alone; a claimed run that
   * has not reached the infrastructure is handed back (Scheduled, forced) so another worker takes it;
   * once the infrastructure call started it runs to completion (it is idempotent per attempt).
   */
  async submit(flowRun: FlowRun, shutdown: AbortSignal, onClaimed?: () => void): Promise<SubmissionOutcome> {
    const runLog = this.d.logs.forRun(flowRun.id, { flowRunName: flowRun.name });
    const server = this.d.sync.state.server;
    const pool = this.d.sync.state.pool;
    if (!pool || !server) return { kind: 'not-claimed', reason: 'no work pool yet' };
    runLog.info(`Worker '${this.d.workerName}' submitting flow run '${flowRun.id}'`);
    if (this.d.sync.state.workerId) runLog.info(`Running on worker id: ${this.d.sync.state.workerId}.`);

    // Spec §1.5 step 4: the deployment must still exist.
    const read = await this.readDeployment(flowRun, runLog, shutdown);
    if (read.kind === 'done') return read.outcome;
    const deployment = read.deployment;

    // Spec §1.5 step 5: claim by proposing PENDING.
    const claim = await this.claim(flowRun, runLog, shutdown);
    onClaimed?.();
    if (claim.kind !== 'claimed') return claim.outcome;
    return this.launch(flowRun, deployment, claim.state?.id ?? 'pending', runLog, shutdown, false);
  }

  /**
   * Reconciliation: launches a run that a worker claimed (it is Pending) but whose infrastructure_pid was
   * never reported — the worker died between the claim and the PATCH. The attempt key is rebuilt from the
   * claim's state id, so the infrastructure's idempotency (ECS: the RunTask clientToken) returns the task
   * launched before, if there was one, instead of launching a second.
   */
  async relaunch(flowRun: FlowRun, claimStateId: string, shutdown: AbortSignal): Promise<SubmissionOutcome> {
    const runLog = this.d.logs.forRun(flowRun.id, { flowRunName: flowRun.name });
    if (!this.d.sync.state.pool || !this.d.sync.state.server)
      return { kind: 'not-claimed', reason: 'no work pool yet' };
    runLog.warn(
      `Worker '${this.d.workerName}' resuming the launch of flow run '${flowRun.id}': it was claimed but its infrastructure was never reported. A launch made before is reused, not repeated.`,
    );
    const read = await this.readDeployment(flowRun, runLog, shutdown);
    if (read.kind === 'done') return read.outcome;
    return this.launch(flowRun, read.deployment, claimStateId, runLog, shutdown, true);
  }

  private async readDeployment(
    flowRun: FlowRun,
    runLog: Logger,
    shutdown: AbortSignal,
  ): Promise<
    { kind: 'ok'; deployment: Deployment | undefined } | { kind: 'done'; outcome: SubmissionOutcome }
  > {
    const { api } = this.d;
    const server = this.d.sync.state.server;
    let deployment: Deployment | undefined;
    if (flowRun.deployment_id) {
      try {
        deployment = await api.readDeployment(flowRun.deployment_id, { signal: shutdown });
      } catch (e) {
        if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) {
          const message = `Deployment ${flowRun.deployment_id} no longer exists, cancelled run.`;
          runLog.warn(
            `Deployment ${flowRun.deployment_id} no longer exists. Flow run '${flowRun.id}' will be cancelled.`,
          );
          await markCancelled(api, flowRun.id, flowRun.state, message, server, runLog);
          return { kind: 'done', outcome: { kind: 'cancelled', reason: message } };
        }
        runLog.error(`Failed to read deployment ${flowRun.deployment_id} of flow run '${flowRun.id}'.`, {
          error: e,
        });
        return { kind: 'done', outcome: { kind: 'not-claimed', reason: (e as Error).message } };
      }
    }
    return { kind: 'ok', deployment };
  }

  private async launch(
    flowRun: FlowRun,
    deployment: Deployment | undefined,
    claimStateId: string,
    runLog: Logger,
    shutdown: AbortSignal,
    relaunch: boolean,
  ): Promise<SubmissionOutcome> {
    const { api, logger } = this.d;
    const server = this.d.sync.state.server;
    const pool = this.d.sync.state.pool;
    if (!pool || !server) return { kind: 'not-claimed', reason: 'no work pool yet' };

    // Spec §1.5 step 8 (Prefect 3 only: 2.x has no labels endpoint), done first instead of after rendering: the
    // `prefect.worker.name` label is how reconciliation tells whose claim this is, so the window in which a claimed
    // run carries no owner is one request long. Prefect's worker crashes the run when this PATCH fails; labels are
    // informational, so we log and carry on instead.
    if (server.major >= 3) {
      try {
        await api.updateFlowRunLabels(flowRun.id, {
          'prefect.worker.name': this.d.workerName,
          'prefect.worker.type': this.d.infrastructure.type,
          'prefect.work-pool.name': pool.name,
          'prefect.work-pool.id': pool.id,
        });
      } catch (e) {
        runLog.warn(`Could not set the worker labels on flow run '${flowRun.id}': ${(e as Error).message}`);
      }
    }
    // From here the run is ours: every failure before the infrastructure exists is reported as a crash.
    let job: FlowRunJob;
    try {
      if (shutdown.aborted) throw new Error('worker shutting down');
      const flow = await api.readFlow(flowRun.flow_id, { signal: shutdown });
      const { configuration, jobVariables } = await buildJobConfiguration({
        flowRun,
        flow,
        deployment,
        workPool: pool,
        server,
        workerName: this.d.workerName,
        workerId: this.d.sync.state.workerId,
        workerEnv: this.d.workerEnv,
        processEnv: this.d.processEnv,
        defaultTemplate: this.d.sync.defaultTemplate(server),
        workerDefaults: this.d.infrastructure.defaultJobVariables?.(),
        api,
        signal: AbortSignal.timeout(120_000),
      });
      job = {
        flowRun,
        flow,
        deployment,
        workPool: pool,
        configuration,
        jobVariables,
        server,
        runLogger: runLog,
        attemptKey: `${flowRun.id}:${claimStateId}`,
      };
    } catch (e) {
      if (shutdown.aborted) return this.handBackUnlessRelaunch(flowRun, runLog, relaunch);
      return this.crash(flowRun, e, runLog);
    }
    // Spec §1.5 step 7.
    const subject = { flowRun, flow: job.flow, deployment };
    const submittedEventId = this.d.events?.submitted(subject);

    // Step 9: Pending named "Submitting"; any failure is ignored, as Prefect does. Prefect 2 servers
    // abort a Pending → Pending rename (the exception for renames arrived with Prefect 3), so the call is skipped there.
    if (server.major >= 3 && !relaunch) {
      try {
        await api.setFlowRunState(flowRun.id, {
          state: stateBody(flowRun.id, 'PENDING', 'Submitting', undefined, server),
          force: false,
        });
      } catch (e) {
        logger.debug(`Could not set flow run '${flowRun.id}' to Submitting.`, { error: e });
      }
    }

    let startTimeoutSeconds: number | undefined;
    let maxRuntimeSeconds: number | undefined;
    let interruptionRetries: number | undefined;
    try {
      startTimeoutSeconds = stevedoreNumber(job.jobVariables, 'stevedore_start_timeout_seconds');
      maxRuntimeSeconds = stevedoreNumber(job.jobVariables, 'stevedore_max_runtime_seconds');
      interruptionRetries = stevedoreNumber(job.jobVariables, 'stevedore_interruption_retries', 'count');
    } catch (e) {
      return this.crash(flowRun, e, runLog);
    }
    if (shutdown.aborted) return this.handBackUnlessRelaunch(flowRun, runLog, relaunch);
    // Step 10: the infrastructure call is not aborted by shutdown: it is idempotent per attemptKey and
    // abandoning it half-way would leave a launched task without an infrastructure_pid.
    let identifier: string;
    try {
      const result = await this.d.infrastructure.submit(job, { signal: AbortSignal.timeout(15 * 60_000) });
      identifier = result.identifier;
    } catch (e) {
      return this.crash(flowRun, e, runLog);
    }
    this.d.tracker.add({
      flowRunId: flowRun.id,
      flowRunName: flowRun.name,
      identifier,
      infrastructureType: this.d.infrastructure.type,
      configuration: job.configuration,
      ...(startTimeoutSeconds === undefined ? {} : { startTimeoutMs: startTimeoutSeconds * 1000 }),
      ...(maxRuntimeSeconds === undefined ? {} : { maxRuntimeMs: maxRuntimeSeconds * 1000 }),
      ...(interruptionRetries === undefined ? {} : { interruptionRetries }),
    });
    // Step 11.
    try {
      await api.setInfrastructurePid(flowRun.id, identifier);
    } catch (e) {
      runLog.error(
        `An error occurred while setting the \`infrastructure_pid\` on flow run '${flowRun.id}'. The flow run will not be cancellable until it is set; the worker tries again at each check of the runs it tracks.`,
        { error: e },
      );
    }
    runLog.info(`Flow run '${flowRun.name}' submitted to infrastructure`, { identifier });
    // Step 13: the infrastructure call returns once the task exists, like prefect-aws's ECS worker (status 0).
    this.d.events?.executed(subject, identifier, 0, submittedEventId);
    return { kind: 'submitted', identifier };
  }

  private async claim(
    flowRun: FlowRun,
    runLog: Logger,
    shutdown: AbortSignal,
  ): Promise<{ kind: 'claimed'; state: State | null } | { kind: 'not'; outcome: SubmissionOutcome }> {
    const server = this.d.sync.state.server;
    for (;;) {
      let result: Awaited<ReturnType<PrefectApi['setFlowRunState']>>;
      try {
        result = await this.d.api.setFlowRunState(
          flowRun.id,
          { state: stateBody(flowRun.id, 'PENDING', 'Pending', undefined, server), force: false },
          { signal: shutdown },
        );
      } catch (e) {
        runLog.error(`Failed to update state of flow run '${flowRun.id}'`, { error: e });
        return { kind: 'not', outcome: { kind: 'not-claimed', reason: (e as Error).message } };
      }
      if (result.status === 'WAIT') {
        const delay = Math.max(0, Number(result.details.delay_seconds ?? 0)) * 1000;
        runLog.debug(`Server asked to wait ${delay} ms before claiming flow run '${flowRun.id}'.`);
        try {
          await this.d.clock.sleep(delay, shutdown);
        } catch {
          return { kind: 'not', outcome: { kind: 'not-claimed', reason: 'worker shutting down' } };
        }
        continue;
      }
      if (result.status === 'ABORT') {
        const reason = result.details.reason ?? '';
        runLog.info(`Aborted submission of flow run '${flowRun.id}'. Server sent an abort signal: ${reason}`);
        return { kind: 'not', outcome: { kind: 'not-claimed', reason: `ABORT: ${reason}` } };
      }
      if (result.status === 'REJECT' && result.state?.type !== 'PENDING') {
        runLog.info(
          `Aborted submission of flow run '${flowRun.id}': Server returned a non-pending state '${result.state?.type ?? 'unknown'}'`,
        );
        return {
          kind: 'not',
          outcome: { kind: 'not-claimed', reason: `REJECT: ${result.state?.type ?? 'unknown'}` },
        };
      }
      return { kind: 'claimed', state: result.state };
    }
  }

  /**
   * A relaunch is never handed back: the dead worker's launch may exist, and a new claim would get a new
   * attempt key (a second task). It stays Pending for the next reconciliation instead.
   */
  private handBackUnlessRelaunch(
    flowRun: FlowRun,
    runLog: Logger,
    relaunch: boolean,
  ): Promise<SubmissionOutcome> {
    if (!relaunch) return this.handBack(flowRun, runLog);
    runLog.info(
      `Worker '${this.d.workerName}' stopped; flow run '${flowRun.id}' stays Pending for reconciliation.`,
    );
    return Promise.resolve({ kind: 'not-claimed', reason: 'worker shutting down' });
  }

  private async crash(flowRun: FlowRun, e: unknown, runLog: Logger): Promise<SubmissionOutcome> {
    const message = `Failed to submit flow run to infrastructure: ${errorClassName(e)}: ${(e as Error)?.message ?? String(e)}`;
    runLog.error(`Failed to submit flow run '${flowRun.name}' to infrastructure.`, { error: e });
    // The run is claimed (Pending) and nothing was launched: a crash report lost to a transient API error
    // would leave it Pending for good, so it is sent up to five times, 1, 2, 4 and 8 s apart.
    for (let attempt = 1; ; attempt += 1) {
      const result = await proposeCrashed(this.d.api, flowRun.id, message, this.d.sync.state.server, runLog);
      if (result !== 'failed' || attempt === 5) break;
      await this.d.clock.sleep(1000 * 2 ** (attempt - 1));
    }
    return { kind: 'crashed', message };
  }

  /**
   * The worker is stopping after claiming a run but before launching it: hand the run back by proposing
   * Scheduled (forced, due now) so any worker picks it up, and say so in the run's logs.
   * Prefect's worker would leave such a run Pending until its infrastructure check times out.
   */
  private async handBack(flowRun: FlowRun, runLog: Logger): Promise<SubmissionOutcome> {
    const server = this.d.sync.state.server;
    const reason = `Worker '${this.d.workerName}' stopped before launching this flow run; it was returned to the queue.`;
    try {
      const body = stateBody(flowRun.id, 'SCHEDULED', 'Scheduled', reason, server);
      body.state_details.scheduled_time = this.d.clock.now().toISOString();
      await this.d.api.setFlowRunState(
        flowRun.id,
        { state: body, force: true },
        { signal: AbortSignal.timeout(10_000) },
      );
      runLog.warn(reason);
      return { kind: 'not-claimed', reason };
    } catch (e) {
      return this.crash(flowRun, e, runLog);
    }
  }
}
