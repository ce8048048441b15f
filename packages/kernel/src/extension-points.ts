import type { Logger } from './logger.js';
import type { PrefectApi } from './prefect/api.js';
import type { BaseJobTemplate, Deployment, Flow, FlowRun, ServerInfo, WorkPool } from './prefect/types.js';

/**
 * Everything an {@link Infrastructure} needs to launch one flow run: the Prefect objects, and the
 * job configuration rendered from the pool's base job template and the job variables (spec §1.6) and
 * prepared for the run (spec §1.7: `env`, `labels`, `name`, `command` filled in).
 * @public
 */
export interface FlowRunJob {
  flowRun: FlowRun;
  flow: Flow;
  deployment: Deployment | undefined;
  workPool: WorkPool;
  /** The job configuration after rendering and `prepare_for_flow_run`. Infrastructure-specific keys are left as rendered. */
  configuration: JobConfiguration;
  /** The merged job variables (deployment ⊕ flow run) the configuration was rendered from, including `stevedore_*` keys. */
  jobVariables: Record<string, unknown>;
  server: ServerInfo;
  /** Logs to the flow run's own logs in Prefect (as Prefect's worker does) and to the worker log. */
  runLogger: Logger;
  /** Idempotency key for this launch attempt: derived from the flow run id and its current PENDING state id. */
  attemptKey: string;
}

/** The base fields of every job configuration (Prefect's `BaseJobConfiguration`). @public */
export interface JobConfiguration {
  command: string | null;
  env: Record<string, string>;
  labels: Record<string, string>;
  name: string | null;
  [key: string]: unknown;
}

/** What {@link Infrastructure.submit} returns once the infrastructure exists. @public */
export interface SubmitResult {
  /** Stable identifier reported as the flow run's `infrastructure_pid` (ECS: `cluster::task_arn`). */
  identifier: string;
}

/** Context handed to {@link Infrastructure.defaultBaseJobTemplate}. @public */
export interface TemplateContext {
  server: ServerInfo;
}

/**
 * One work-pool type (`ecs`). Submits flow runs and kills their infrastructure.
 * @public
 */
export interface Infrastructure {
  /** The work-pool type this infrastructure serves, e.g. `ecs`. */
  readonly type: string;
  /** The default base job template a new pool of this type gets (identical to the reference worker's). */
  defaultBaseJobTemplate(ctx: TemplateContext): BaseJobTemplate;
  /**
   * Launches the flow run. Must be idempotent for a given `job.attemptKey`: a retried call after a lost
   * response never launches a second copy. Rejects (never resolves) when nothing was launched.
   */
  submit(job: FlowRunJob, opts: { signal: AbortSignal }): Promise<SubmitResult>;
  /**
   * Stops the infrastructure behind `identifier`.
   * @throws `KERNEL_INFRASTRUCTURE_NOT_FOUND` when it no longer exists; `KERNEL_INFRASTRUCTURE_NOT_AVAILABLE`
   * when this worker cannot act on it (another account, region or cluster).
   */
  kill(
    identifier: string,
    opts: { signal: AbortSignal; gracePeriodSeconds: number; configuration?: JobConfiguration },
  ): Promise<void>;
  /**
   * Optional: worker-level defaults for job variables (the Prefect 1 agent's options: default cluster,
   * launch type, roles…). The kernel layers them above the pool template's defaults and below the
   * deployment's and the flow run's job variables.
   */
  defaultJobVariables?(): Record<string, unknown>;
  /**
   * Optional: the last lines the flow run's container logged (ECS: its CloudWatch awslogs stream), sent to
   * the run's logs when it crashes. Resolves to `[]` when there are none; never rejects for missing logs.
   */
  crashLogs?(identifier: string, opts: { signal: AbortSignal; limit: number }): Promise<string[]>;
  /**
   * Optional: the kernel no longer tracks `identifier` (its run is final, or it was adopted and let go).
   * Lets the infrastructure clean up per-run resources safely (ECS: deregister a task definition once no
   * tracked run uses it). Must not reject for expected conditions; failures are logged by the kernel.
   */
  released?(identifier: string, opts: { signal: AbortSignal }): Promise<void>;
  /**
   * Optional: the infrastructure of this work pool that is alive now (ECS: running tasks tagged with the
   * pool's name), for reconciliation — one whose flow run is final or deleted is stopped. `known` are the
   * identifiers the kernel tracks, a hint where to look (ECS: their clusters); they may be left out of the answer
   * (the kernel knows them; ECS spares their DescribeTasks). An infrastructure that cannot list returns `[]`.
   */
  listLive?(opts: {
    signal: AbortSignal;
    workPool: string;
    known: readonly string[];
  }): Promise<LiveInfrastructure[]>;
  /**
   * Optional (reconciliation): the pool's recently stopped infrastructure launched for these flow runs. Asked about
   * Running runs with no infrastructure_pid and nothing live: their worker died between the launch and the PATCH,
   * and the infrastructure stopped before any reconciliation round saw it live. What is found is adopted, so the
   * tracker reports its outcome. ECS: `ListTasks desiredStatus=STOPPED` (about an hour of history), bounded.
   */
  findStopped?(opts: {
    signal: AbortSignal;
    workPool: string;
    flowRunIds: readonly string[];
    known: readonly string[];
  }): Promise<LiveInfrastructure[]>;
  /**
   * Optional: this infrastructure's `stevedore_*` job variables (JSON Schema properties), added to a pool's
   * template only on request (`work-pool create --with-stevedore-variables`), never to the default one.
   */
  stevedoreVariables?(): Record<string, Record<string, unknown>>;
  /**
   * Optional: what {@link Infrastructure.submit} would send for `job`, without sending it (`stevedore render`).
   * Must use the same code path as `submit`. With `offline`, no provider calls are made and anything that needs
   * one is described in `notes` (e.g. "network configuration: inferred at launch").
   */
  preview?(job: FlowRunJob, opts: { signal: AbortSignal; offline: boolean }): Promise<InfrastructurePreview>;
  /** Optional: resources held between runs. */
  start?(signal: AbortSignal): Promise<void>;
  stop?(): Promise<void>;
}

/** What {@link Infrastructure.preview} returns. @public */
export interface InfrastructurePreview {
  /** The provider requests `submit` would make, in order (e.g. `ecs` `RegisterTaskDefinition`, `RunTask`). */
  requests: Array<{ service: string; operation: string; input: unknown }>;
  /** What the requests alone do not say: reuse of existing resources, diffs, values decided only at launch. */
  notes: string[];
}

/** One piece of live infrastructure found by {@link Infrastructure.listLive}. @public */
export interface LiveInfrastructure {
  identifier: string;
  /** The flow run it was launched for, when the infrastructure records it (ECS tag `prefect.io/flow-run-id`). */
  flowRunId?: string;
}

/** Normalized state of the infrastructure behind one identifier, as observers report it. @public */
export type InfrastructureStatus = 'pending' | 'running' | 'stopped';

/** @public */
export interface InfrastructureStateChange {
  identifier: string;
  status: InfrastructureStatus;
  /** Raw provider status, e.g. ECS `lastStatus` (`PROVISIONING`, `RUNNING`, `STOPPED`, …). */
  providerStatus?: string;
  /** Exit code of the main container, when stopped and known. */
  exitCode?: number | null;
  /** Provider stop code, e.g. ECS `EssentialContainerExited`, `TaskFailedToStart`, `SpotInterruption`. */
  stopCode?: string | null;
  /** Human-readable reason, e.g. ECS `stoppedReason` plus container reasons. */
  stopReason?: string | null;
  /** Monotonic version from the provider (ECS `version`); an older change never overrides a newer one. */
  version?: number;
  /** When the provider says the change happened (ISO-8601). */
  at?: string;
  /** The flow run id when the observer learned it from the infrastructure (ECS tag `prefect.io/flow-run-id`). */
  flowRunId?: string;
  /**
   * For `pending`: the message of the Pending "InfrastructurePending" state the kernel proposes
   * (ECS: "ECS task is provisioning." / "ECS task is pending.", as prefect-aws's observer says).
   */
  pendingMessage?: string;
  /** For `stopped`: what went wrong, in the provider's terms; logged to the flow run when it crashes. */
  diagnosis?: InfrastructureDiagnosis;
  /** For `stopped`: the message of the Crashed state, when the provider can say it better than the kernel's default. */
  crashMessage?: string;
  /**
   * For `stopped`: the provider took the infrastructure away for a reason that is not the flow's (ECS: stopCode
   * `SpotInterruption`). Instead of crashing the run, the kernel reschedules it — a forced Scheduled state named
   * `AwaitingRetry`, due now — while the run's interruption budget lasts (`interruptionRetries`,
   * `stevedore_interruption_retries`); when it is spent the run ends Crashed with the whole history.
   */
  interruption?: InfrastructureInterruption;
}

/** Why the provider took a run's infrastructure away (see {@link InfrastructureStateChange.interruption}). @public */
export interface InfrastructureInterruption {
  /** A short class name for metrics and messages, e.g. `spot-interruption`. */
  class: string;
  /** What happened, in one sentence, e.g. "Fargate Spot capacity was reclaimed (Your Spot Task was interrupted.)". */
  summary: string;
}

/** A provider's explanation of a stop (spec §3.4 `diagnose_ecs_task`). @public */
export interface InfrastructureDiagnosis {
  summary: string;
  detail: string;
  resolution: string;
  level: 'error' | 'warning';
}

/** An observer's view of its own health; the kernel slows polling observers while an event-driven one is healthy. @public */
export interface ObserverHealth {
  healthy: boolean;
  /** `all`: sees every change of every tracked identifier; `partial`/`none` otherwise. */
  coverage: 'all' | 'partial' | 'none';
  reason?: string;
}

/** A tracked piece of infrastructure, as the kernel gives it to observers. @public */
export interface TrackedInfrastructure {
  identifier: string;
  flowRunId: string;
  infrastructureType: string;
}

/** Where observers send what they see. @public */
export interface ObservationSink {
  /** The identifiers currently tracked by the kernel. */
  tracked(): readonly TrackedInfrastructure[];
  report(change: InfrastructureStateChange): void;
  reportHealth(observer: string, health: ObserverHealth): void;
  /**
   * For polling observers: the interval to poll at now. Full rate normally; the slow safety-net
   * interval while an event-driven observer reports healthy `all` coverage.
   */
  pollIntervalMs(): number;
  /**
   * For polling observers: resolves as soon as {@link ObservationSink.pollIntervalMs} drops — an event-driven
   * observer stopped covering everything (its queue was deleted, its receives fail) — so a poller sleeping the
   * safety-net interval wakes up and polls at full rate at once instead of up to that interval later. Also resolves
   * when `signal` aborts; never rejects. Optional: a sink without it leaves pollers to their sleep.
   */
  pollIntervalShortened?(signal: AbortSignal): Promise<void>;
}

/**
 * Feeds infrastructure state changes to the kernel's tracker. Several may run at once; the kernel
 * de-duplicates by identifier and version.
 * @public
 */
export interface Observer {
  readonly name: string;
  /** `polling` observers are slowed down while an `event` observer is healthy. */
  readonly kind: 'polling' | 'event';
  /** The infrastructure type whose identifiers this observer understands (e.g. `ecs`). */
  readonly infrastructureType: string;
  /** Runs until `signal` aborts; resolves then. Must not reject on transient errors (report health instead). */
  run(sink: ObservationSink, signal: AbortSignal): Promise<void>;
}

/**
 * Loads a template document (task-definition templates, run-task kwargs, base job templates) by URI
 * scheme. Returns the parsed document (JSON or YAML).
 * @public
 */
export interface TemplateSource {
  /** URI scheme without the colon: `file`, `s3`. */
  readonly scheme: string;
  /** @throws `KERNEL_TEMPLATE_NOT_FOUND` when missing, `KERNEL_TEMPLATE_INVALID` when unparsable. */
  read(uri: URL, opts: { signal: AbortSignal }): Promise<unknown>;
}

/** A check run once at `start` (and by `doctor`). @public */
export interface PreflightCheck {
  id: string;
  description: string;
  run(opts: { signal: AbortSignal }): Promise<PreflightResult>;
}

/** @public */
export interface PreflightResult {
  ok: boolean;
  /** What was found; on failure, what is wrong and how to fix it. */
  message: string;
  /** A failure that should not stop the worker from starting. */
  severity?: 'error' | 'warning';
}

/** Context given to plugin factories. @public */
export interface PluginContext {
  logger: Logger;
  prefect: PrefectApi;
}
