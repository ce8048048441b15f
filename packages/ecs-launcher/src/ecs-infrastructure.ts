import type { ECSClient, RunTaskCommandInput, Task } from '@aws-sdk/client-ecs';
import {
  type BaseJobTemplate,
  type Clock,
  type Counter,
  type FlowRunJob,
  type Infrastructure,
  InfrastructureNotAvailableError,
  InfrastructureNotFoundError,
  type InfrastructurePreview,
  type JobConfiguration,
  type LiveInfrastructure,
  type Logger,
  type Metrics,
  nullLogger,
  type ServerInfo,
  type SubmitResult,
  systemClock,
  type TemplateContext,
  type TemplateLoader,
} from '@stevedore/kernel';
import {
  AwsClientPool,
  type AwsClientSettings,
  AwsCredentialsSchema,
  awsClientSettings,
  clientRegion,
  defaultEcsClientSources,
  type EcsClientSources,
} from './aws-clients.js';
import { ecsSdk } from './aws-sdk.js';
import { loadEcsBaseJobTemplate } from './base-job-template.js';
import { CAPACITY_LADDER_VARIABLES, CapacityLadderWalk, capacityLadderSettings } from './capacity-ladder.js';
import { readCrashLogs } from './crash-logs.js';
import { type Doc, isFalsy } from './documents.js';
import { awsErrorInfo, EcsError, ecsErrorCodes, isAwsError } from './errors.js';
import { ignoredJobVariables } from './ignored-variables.js';
import { type EcsJobConfiguration, parseEcsJobConfiguration } from './job-configuration.js';
import {
  FARGATE_CAPACITY_UNAVAILABLE,
  type LaunchType,
  LaunchTypes,
  type RunTaskFailureInfo,
} from './launch-type.js';
import { findStoppedTasks, type LiveTaskScope, listLiveTasks, newStoppedLookupState } from './live-tasks.js';
import { resolveNetworkConfiguration } from './network.js';
import { diffTaskDefinitions } from './preview.js';
import { type AwsAttemptObserver, RateBudget, type RateLimit } from './rate-budget.js';
import { abortableSleep, defaultEcsRetryOptions, type EcsRetryOptions, type Sleep } from './retry.js';
import { prepareRunTaskRequest, type RunTaskOptions, runTask, runTaskClientToken } from './run-task.js';
import {
  defaultPrefectImage,
  orchestrationContainerName,
  prepareTaskDefinition,
  validateTaskDefinition,
} from './task-definition.js';
import { describeExistingTaskDefinition, TaskDefinitionRegistry } from './task-definition-registry.js';
import { ecsTagMap } from './task-events.js';
import {
  applyWorkerTemplates,
  WorkerTemplateCache,
  type WorkerTemplateReferences,
} from './worker-templates.js';

/** The reason StopTask records; the reference's text, kept for anyone filtering on it (spec §2.5). @public */
export const STOP_TASK_REASON = 'Stopped by Prefect worker';

/** Options of {@link EcsInfrastructure}. All optional. @public */
export interface EcsInfrastructureOptions {
  /** Worker-level logger, for what happens outside a flow run (kill). Submissions log to `job.runLogger`. */
  logger?: Logger;
  /** Image for the Prefect container when nothing sets one. Default: {@link defaultPrefectImage}. */
  defaultImage?: (server: ServerInfo) => string;
  /** RunTask / RegisterTaskDefinition retry timing. Default: the reference's ({@link defaultEcsRetryOptions}). */
  retry?: Partial<EcsRetryOptions>;
  /** For tests: the wait between retries. */
  sleep?: Sleep;
  /** For tests: the jitter source, in [0, 1). */
  random?: () => number;
  /** Time for the rate budget's waits. Default: the kernel's system clock. */
  clock?: Clock;
  /** Per-operation overrides of the AWS rate budget ({@link DEFAULT_RATE_LIMITS}), e.g. `{ RunTask: { ratePerSecond: 5 } }`. */
  rateLimits?: Readonly<Partial<Record<string, Partial<RateLimit>>>>;
  /** Worker-level job-variable defaults, returned by {@link EcsInfrastructure.defaultJobVariables}. */
  defaultJobVariables?: Readonly<Record<string, unknown>>;
  /** Where `stevedore_aws_requests_total{service,operation,outcome}` is counted (the kernel's `/metrics` registry). */
  metrics?: Metrics;
  /**
   * The active launch types (the plugin passes FARGATE plus every contributed one). Default: open, so a directly
   * constructed infrastructure accepts every launch type with the reference's shaping only.
   */
  launchTypes?: LaunchTypes;
  /**
   * Worker-level capacity ladder: launch types walked in order on classified capacity failures, e.g.
   * `['FARGATE_SPOT', 'FARGATE', 'EC2']`. Per deployment or run: `stevedore_capacity_ladder`. Default: none (only a
   * launch type's own fallback, FARGATE_SPOT → FARGATE).
   */
  capacityLadder?: readonly string[];
  /** Total seconds a launch may spend on capacity retries and fallbacks (default 600). Per run: `stevedore_capacity_budget_seconds`. */
  capacityBudgetSeconds?: number;
  /**
   * Worker-level templates (task definition, RunTask parameters), loaded through `loader` at the first submission
   * and kept (see {@link applyWorkerTemplates}).
   */
  templates?: { loader: TemplateLoader; references: WorkerTemplateReferences };
}

/**
 * How to reach one task: the ECS client of its region and credentials, and the orchestration container's name
 * when this process launched it. What observers need to describe tasks they only know by identifier.
 * @public
 */
export interface EcsTaskContext {
  ecs: ECSClient;
  containerName?: string | undefined;
  /** The tags it was launched with, when this process launched it (spares observers a DescribeTasks for them). */
  tags?: Record<string, string> | undefined;
}

/** Anything that can give the {@link EcsTaskContext} of an identifier ({@link EcsInfrastructure} does). @public */
export interface EcsTaskContextSource {
  taskContext(identifier: string): EcsTaskContext;
}

/** What the infrastructure remembers about a task it launched in this process. */
interface LaunchedTask {
  settings: AwsClientSettings;
  containerName: string;
  taskDefinitionArn: string;
  tags: Record<string, string>;
  /** Registered for this run with `auto_deregister_task_definition`: deregister once no tracked run uses it. */
  autoDeregister?: boolean;
  /** The kernel no longer tracks it. */
  released?: boolean;
}

/** Counts every AWS HTTP attempt of the infrastructure's clients by service, operation and outcome. */
function awsRequestCounter(metrics: Metrics | undefined): AwsAttemptObserver | undefined {
  if (!metrics) return undefined;
  const requests = metrics.counter(
    'stevedore_aws_requests_total',
    'AWS HTTP requests (every attempt, SDK retries included) by service, operation and outcome: ok, throttled, error.',
  );
  return (key, outcome) => requests.inc({ service: key.service, operation: key.operation, outcome });
}

/** How many launches are remembered (oldest forgotten first): far more than one worker tracks at once. */
const LAUNCH_MEMORY = 10_000;

/**
 * Splits an infrastructure identifier `<cluster>::<task arn>` on the first `::` (spec §2.5 step 1).
 * @throws `ECS_IDENTIFIER_INVALID`
 * @public
 */
export function parseEcsIdentifier(identifier: string): { cluster: string; taskArn: string } {
  const at = identifier.indexOf('::');
  const cluster = at < 0 ? '' : identifier.slice(0, at);
  const taskArn = at < 0 ? '' : identifier.slice(at + 2);
  if (cluster === '' || taskArn === '') {
    throw new EcsError(
      ecsErrorCodes.IDENTIFIER_INVALID,
      `'${identifier}' is not an ECS infrastructure identifier; expected '<cluster>::<task arn>'.`,
    );
  }
  return { cluster, taskArn };
}

/** `arn:aws:ecs:<region>:<account>:cluster/<name>` → its parts; a plain name → just the name. */
function parseEcsArn(value: string): { region?: string; name: string } {
  const m = /^arn:[^:]+:ecs:([^:]*):[^:]*:[a-z-]+\/(.+)$/.exec(value);
  if (!m) return { name: value };
  return { region: m[1] || undefined, name: m[2] ?? value };
}

function sameCluster(a: string, b: string): boolean {
  if (a === b) return true;
  const x = parseEcsArn(a);
  const y = parseEcsArn(b);
  return x.name === y.name && (x.region === undefined || y.region === undefined || x.region === y.region);
}

/**
 * The `ecs` work-pool type: launches each flow run as an ECS task, the way prefect-aws's `ECSWorker` does
 * (spec §2), and stops it on cancellation.
 *
 * `submit` validates the configuration, builds or reuses the task definition, settles the network, calls
 * RunTask and returns `cluster::task_arn`. It does not wait for the task: observers report its state.
 *
 * AWS clients come from `clients`: instances are used as they are; factories are called once per distinct
 * `aws_credentials` block (region, profile, keys, endpoint). The default factories build real SDK clients and,
 * without an `aws_credentials` block, leave everything to the SDK's standard chain. Every client it uses draws
 * from one {@link RateBudget} (added to the client's middleware stack; a client instance shared by two
 * infrastructures keeps the budget of the last one).
 *
 * It remembers, for the tasks it launched in this process, the client settings, the orchestration container and the
 * task definition, so observers ({@link EcsInfrastructure.taskContext}), `kill` without a configuration and
 * {@link EcsInfrastructure.crashLogs} reach each task with the credentials and region it was launched with.
 * @public
 */
export class EcsInfrastructure implements Infrastructure, EcsTaskContextSource {
  readonly type = 'ecs';
  /** The rate budget every AWS call of this infrastructure draws from. */
  readonly rateBudget: RateBudget;
  private readonly clients: AwsClientPool;
  private readonly launched = new Map<string, LaunchedTask>();
  private readonly networks = new Map<
    string,
    { value: Awaited<ReturnType<typeof resolveNetworkConfiguration>>; at: number }
  >();
  private readonly templates: WorkerTemplateCache | undefined;
  private readonly jobVariableDefaults: Readonly<Record<string, unknown>>;
  private readonly registry: TaskDefinitionRegistry;
  private readonly logger: Logger;
  private readonly defaultImage: (server: ServerInfo) => string;
  private readonly retry: EcsRetryOptions;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly launchTypes: LaunchTypes;
  private readonly retriedTotal: Counter | undefined;
  private readonly capacityLadder: readonly string[] | undefined;
  private readonly capacityBudgetSeconds: number | undefined;
  private template: BaseJobTemplate | undefined;

  constructor(clients: EcsClientSources = defaultEcsClientSources, options: EcsInfrastructureOptions = {}) {
    this.rateBudget = new RateBudget({
      clock: options.clock ?? systemClock,
      ...(options.rateLimits ? { limits: options.rateLimits } : {}),
    });
    this.clients = new AwsClientPool(clients, this.rateBudget, awsRequestCounter(options.metrics));
    this.templates = options.templates
      ? new WorkerTemplateCache(options.templates.loader, options.templates.references)
      : undefined;
    this.jobVariableDefaults = options.defaultJobVariables ?? {};
    this.logger = options.logger ?? nullLogger;
    this.defaultImage = options.defaultImage ?? defaultPrefectImage;
    this.retry = { ...defaultEcsRetryOptions, ...options.retry };
    this.sleep = options.sleep ?? abortableSleep;
    this.random = options.random ?? Math.random;
    this.registry = new TaskDefinitionRegistry({ retry: this.retry, sleep: this.sleep, random: this.random });
    this.launchTypes = options.launchTypes ?? LaunchTypes.open();
    this.capacityLadder = options.capacityLadder;
    this.capacityBudgetSeconds = options.capacityBudgetSeconds;
    // The kernel's own series (WorkerMetrics registers it too; the registry returns the one family).
    this.retriedTotal = options.metrics?.counter(
      'stevedore_flow_runs_retried_total',
      'Launches retried or resumed, by class (e.g. relaunch after a worker died, capacity, spot interruption).',
    );
  }

  /** The `stevedore_*` job variables of this infrastructure: the capacity ladder's (see {@link CAPACITY_LADDER_VARIABLES}). */
  stevedoreVariables(): Record<string, Record<string, unknown>> {
    return structuredClone({ ...CAPACITY_LADDER_VARIABLES });
  }

  /** The prefect-aws `ecs` base job template, unchanged (a fresh copy per call). */
  defaultBaseJobTemplate(_ctx: TemplateContext): BaseJobTemplate {
    this.template ??= loadEcsBaseJobTemplate();
    return structuredClone(this.template);
  }

  /**
   * Worker-level job-variable defaults (the plugin's `cluster`, `launchType`, roles, `vpcId`, `image`, `env`). The
   * kernel layers them above the pool template's defaults and below the deployment's and the flow run's job
   * variables. A fresh copy per call.
   */
  defaultJobVariables(): Record<string, unknown> {
    return structuredClone({ ...this.jobVariableDefaults });
  }

  /**
   * The ECS client (and orchestration container) for an identifier: the launch's own client settings when this
   * process launched it; else the region of the cluster (or task) ARN in the identifier, with the default
   * credential chain; else the default client.
   * @throws `ECS_IDENTIFIER_INVALID`
   */
  taskContext(identifier: string): EcsTaskContext {
    const launched = this.launched.get(identifier);
    if (launched)
      return {
        ecs: this.clients.ecs(launched.settings),
        containerName: launched.containerName,
        tags: launched.tags,
      };
    const { cluster, taskArn } = parseEcsIdentifier(identifier);
    const region = parseEcsArn(cluster).region ?? parseEcsArn(taskArn).region;
    return { ecs: this.clients.ecs(region ? { region } : {}) };
  }

  /**
   * The last `limit` lines the task's orchestration container wrote to CloudWatch (awslogs), for the crashed run's
   * logs (spec §3.4 (b) 5). Resolves to `[]` when there are none or anything fails (logged at debug level): logs
   * are a courtesy, never a reason to fail crash handling.
   * @throws only the signal's reason, when it aborts.
   */
  async crashLogs(identifier: string, opts: { signal: AbortSignal; limit: number }): Promise<string[]> {
    const { signal } = opts;
    try {
      const { cluster, taskArn } = parseEcsIdentifier(identifier);
      const launched = this.launched.get(identifier);
      const { ecs, containerName } = this.taskContext(identifier);
      const settings = launched?.settings ?? {};
      return await readCrashLogs({
        ecs,
        logs: (region) => this.clients.logs(region ? { ...settings, region } : settings),
        cluster,
        taskArn,
        containerName,
        taskDefinitionArn: launched?.taskDefinitionArn,
        limit: opts.limit,
        signal,
        logger: this.logger,
      });
    } catch (e) {
      signal.throwIfAborted();
      // Crash logs are best effort, like the reference's forwarding (every failure swallowed at debug level): the
      // run is crashed with its diagnosis either way.
      this.logger.debug('Could not read the crashed task’s CloudWatch logs.', {
        identifier,
        aws: awsErrorInfo(e),
      });
      return [];
    }
  }

  /**
   * Launches the flow run as an ECS task.
   * @throws `ECS_*` errors (see the README's table); AWS errors outside the reference's rewrites as they are.
   */
  async submit(job: FlowRunJob, opts: { signal: AbortSignal }): Promise<SubmitResult> {
    try {
      return await this.launch(job, opts.signal);
    } catch (e) {
      // The SDK rejects an aborted call with its own AbortError; callers expect the signal's reason.
      opts.signal.throwIfAborted();
      throw e;
    }
  }

  /**
   * `stevedore render`: the RegisterTaskDefinition and RunTask requests {@link EcsInfrastructure.submit} would send
   * for `job`, built by the same functions in the same order (worker templates, job configuration, task definition,
   * validation, reuse decision, network, RunTask shaping, clientToken), without registering or launching anything.
   * Online it describes (read-only) the cached / latest revision and infers the network as at launch; offline it
   * says what is decided at launch instead.
   */
  async preview(
    job: FlowRunJob,
    opts: { signal: AbortSignal; offline: boolean },
  ): Promise<InfrastructurePreview> {
    const { signal, offline } = opts;
    const notes: string[] = [];
    const requests: InfrastructurePreview['requests'] = [];
    const config = parseEcsJobConfiguration(await this.withWorkerTemplates(job, signal));
    const settings = this.settingsFor(config, job.runLogger);
    const ecs = offline ? undefined : this.clients.ecs(settings);
    const cacheKey = job.flowRun.deployment_id || job.flowRun.flow_id;
    let taskDefinitionArn: string;
    let taskDefinition: Doc;
    let newlyRegistered = false;
    const givenArn = config.task_run_request.taskDefinition;
    // Fails before anything is registered when no active plugin provides the launch type.
    if (isFalsy(givenArn)) this.launchTypes.select(config.task_run_request, config.task_definition);
    if (!isFalsy(givenArn)) {
      taskDefinitionArn = String(givenArn);
      notes.push(
        `task_definition_arn is set: '${taskDefinitionArn}' is used as given, nothing is registered.`,
      );
      const ignored = ignoredJobVariables(job.workPool, job.jobVariables);
      if (ignored.length > 0)
        notes.push(`These job variables are ignored with task_definition_arn: ${ignored.join(', ')}.`);
      taskDefinition = ecs ? await describeExistingTaskDefinition(ecs, taskDefinitionArn, signal) : {};
    } else {
      const prepared = prepareTaskDefinition(config, {
        region: config.configure_cloudwatch_logs ? (ecs ? await clientRegion(ecs) : '<region>') : undefined,
        workPoolName: job.workPool.name,
        deploymentId: job.flowRun.deployment_id,
        flowId: job.flowRun.flow_id,
        defaultImage: this.defaultImage(job.server),
      });
      validateTaskDefinition(prepared, config);
      requests.push({
        service: 'ecs',
        operation: 'RegisterTaskDefinition',
        input: this.registry.registrationPayload(prepared),
      });
      const family = String(prepared.family);
      if (ecs) {
        const found = await this.registry.lookup(ecs, prepared, {
          cacheKey,
          matchLatestRevisionInFamily: config.match_latest_revision_in_family,
          autoDeregister: config.auto_deregister_task_definition,
          logger: job.runLogger,
          signal,
        });
        if (found.reuse) {
          notes.push(
            `Task definition: '${found.reuse.arn}' would be reused; RegisterTaskDefinition would not be called.`,
          );
          taskDefinitionArn = found.reuse.arn;
          taskDefinition = found.reuse.taskDefinition;
        } else {
          const diff = found.latest ? diffTaskDefinitions(found.latest, prepared) : [];
          notes.push(
            found.latest
              ? `Task definition: a new revision of '${family}' would be registered; against the latest (${String(found.latest.taskDefinitionArn)}):${diff.length > 0 ? `\n    ${diff.join('\n    ')}` : ' no field differs (registered anyway: auto_deregister_task_definition or no reuse tag)'}`
              : `Task definition: family '${family}' has no revision yet; it would be registered.`,
          );
          taskDefinitionArn = `arn:aws:ecs:<region>:<account>:task-definition/${family}:<new revision>`;
          taskDefinition = prepared;
          newlyRegistered = true;
        }
      } else {
        notes.push(
          `Task definition: offline, so whether a revision of '${family}' would be reused is decided at launch.`,
        );
        taskDefinitionArn = `arn:aws:ecs:<region>:<account>:task-definition/${family}:<revision>`;
        taskDefinition = prepared;
        newlyRegistered = true;
      }
    }
    let networkConfiguration: Awaited<ReturnType<EcsInfrastructure['networkFor']>> | undefined;
    if (ecs) networkConfiguration = await this.networkFor(settings, config, taskDefinition, signal);
    else if ((taskDefinition.networkMode ?? 'awsvpc') === 'awsvpc')
      notes.push(
        'Network configuration: inferred at launch (default VPC, or vpc_id), unless network_configuration is set.',
      );
    const launchType = this.launchTypes.select(config.task_run_request, taskDefinition);
    const { request, warnings } = prepareRunTaskRequest({
      config,
      flowRunId: job.flowRun.id,
      taskDefinition,
      taskDefinitionArn,
      networkConfiguration,
      newlyRegistered,
      launchType,
    });
    notes.push(...warnings);
    const ladder = capacityLadderSettings(
      job.jobVariables,
      { ladder: this.capacityLadder, budgetSeconds: this.capacityBudgetSeconds },
      this.launchTypes,
    );
    // Fargate's own "no capacity" answer, to learn where the launch type falls back to without a ladder.
    const capacityClass = launchType?.classifyRunTaskFailure?.([
      { reason: `${FARGATE_CAPACITY_UNAVAILABLE}.` },
    ]);
    const fallback = capacityClass ? this.fallbackTarget(launchType, config, capacityClass) : undefined;
    if (ladder.ladder && isFalsy(config.task_run_request.capacityProviderStrategy))
      notes.push(
        `Capacity: on classified capacity failures the launch walks the ladder ${ladder.ladder.join(' → ')} (within ${ladder.budgetMs / 1000} s).`,
      );
    else if (fallback)
      notes.push(
        `Capacity: if ${launchType?.name} capacity is unavailable at RunTask, the task is relaunched on ${fallback.name}.`,
      );
    requests.push({
      service: 'ecs',
      operation: 'RunTask',
      input: { ...request, clientToken: runTaskClientToken(job.attemptKey) },
    });
    return { requests, notes };
  }

  private async launch(job: FlowRunJob, signal: AbortSignal): Promise<SubmitResult> {
    signal.throwIfAborted();
    const logger = job.runLogger;
    const config = parseEcsJobConfiguration(await this.withWorkerTemplates(job, signal));
    const settings = this.settingsFor(config, logger);
    const ecs = this.clients.ecs(settings);
    const cacheKey = job.flowRun.deployment_id || job.flowRun.flow_id;

    let taskDefinitionArn: string;
    let taskDefinition: Doc;
    let newlyRegistered = false;
    const givenArn = config.task_run_request.taskDefinition;
    // Fails before anything is registered when no active plugin provides the launch type.
    if (isFalsy(givenArn)) this.launchTypes.select(config.task_run_request, config.task_definition);
    if (!isFalsy(givenArn)) {
      taskDefinitionArn = String(givenArn);
      taskDefinition = await describeExistingTaskDefinition(ecs, taskDefinitionArn, signal);
      this.reportIgnoredVariables(job, config, logger);
      this.registry.remember(cacheKey, taskDefinitionArn);
    } else {
      const prepared = prepareTaskDefinition(config, {
        region: config.configure_cloudwatch_logs ? await clientRegion(ecs) : undefined,
        workPoolName: job.workPool.name,
        deploymentId: job.flowRun.deployment_id,
        flowId: job.flowRun.flow_id,
        defaultImage: this.defaultImage(job.server),
      });
      // Validated before registering (the reference validates after), so an unusable definition is never registered.
      validateTaskDefinition(prepared, config);
      const resolved = await this.registry.getOrRegister(ecs, prepared, {
        cacheKey,
        matchLatestRevisionInFamily: config.match_latest_revision_in_family,
        autoDeregister: config.auto_deregister_task_definition,
        logger,
        signal,
      });
      taskDefinitionArn = resolved.arn;
      taskDefinition = resolved.taskDefinition;
      newlyRegistered = resolved.registered;
    }
    validateTaskDefinition(taskDefinition, config);
    logger.info(`Using ECS task definition '${taskDefinitionArn}'...`, {
      taskDefinitionArn,
      newlyRegistered,
    });

    const networkConfiguration = await this.networkFor(settings, config, taskDefinition, signal);
    const launchType = this.launchTypes.select(config.task_run_request, taskDefinition);
    const runInput = {
      config,
      flowRunId: job.flowRun.id,
      taskDefinition,
      taskDefinitionArn,
      networkConfiguration,
      newlyRegistered,
    };
    const { request, warnings } = prepareRunTaskRequest({ ...runInput, launchType });
    for (const warning of warnings) logger.warn(warning);

    const runOptions = {
      signal,
      logger,
      attemptKey: job.attemptKey,
      retry: this.retry,
      sleep: this.sleep,
      random: this.random,
      cloudwatchLogs: config.configure_cloudwatch_logs === true,
    };
    const task = await this.walkCapacityLadder(job, config, runInput, request, runOptions, launchType, ecs);
    const cluster = config.cluster ?? task.clusterArn;
    if (!task.taskArn || !cluster) {
      throw new EcsError(
        ecsErrorCodes.RUN_TASK_FAILED,
        'RunTask returned a task without taskArn or clusterArn.',
      );
    }
    logger.info(`Created ECS task '${task.taskArn}'`, { taskArn: task.taskArn, cluster });
    // spec §1.8: the configured cluster exactly as given (name or ARN), else the cluster ARN ECS returned.
    const identifier = `${cluster}::${task.taskArn}`;
    this.remember(identifier, {
      settings,
      containerName: orchestrationContainerName(config),
      taskDefinitionArn,
      tags: ecsTagMap(request),
      autoDeregister: config.auto_deregister_task_definition === true,
    });
    return { identifier };
  }

  /**
   * RunTask on the selected launch type, then — on classified capacity failures only — the capacity ladder: the same
   * rung again after a backoff while capacity scales out (EC2), then the next rung the task definition supports, within
   * the ladder's total budget. Every step is logged to the flow run and counted. The run stays Pending throughout;
   * each rung and each retry gets its own clientToken (a failed RunTask started nothing). A failure no launch type
   * classifies — the flow's own: image, IAM, network, task definition — is thrown at once, never retried here. A
   * user-supplied capacity provider strategy passes through untouched: ECS walks it, not us.
   */
  private async walkCapacityLadder(
    job: FlowRunJob,
    config: EcsJobConfiguration,
    runInput: Omit<Parameters<typeof prepareRunTaskRequest>[0], 'launchType'>,
    firstRequest: RunTaskCommandInput,
    runOptions: RunTaskOptions,
    first: LaunchType | undefined,
    ecs: ECSClient,
  ): Promise<Task> {
    const logger = job.runLogger;
    const userStrategy = !isFalsy(config.task_run_request.capacityProviderStrategy);
    const settings = capacityLadderSettings(
      job.jobVariables,
      { ladder: this.capacityLadder, budgetSeconds: this.capacityBudgetSeconds },
      this.launchTypes,
    );
    const walk = new CapacityLadderWalk(
      first,
      settings,
      this.launchTypes,
      runInput.taskDefinition,
      () => performance.now(),
      this.random,
    );
    let request = firstRequest;
    let baseKey = job.attemptKey;
    for (;;) {
      const rung = walk.current;
      const attemptKey = walk.attempt === 1 ? baseKey : `${baseKey}#capacity-retry-${walk.attempt}`;
      try {
        return await runTask(ecs, request, {
          ...runOptions,
          attemptKey,
          // A class with its own backoff, or with a next rung on a configured ladder, replaces the reference's three
          // quick attempts: the user asked for the ladder to be walked on capacity failures.
          stopEarly: (failures) => {
            if (userStrategy) return false;
            const cls = rung?.classifyRunTaskFailure?.(failures);
            return cls !== undefined && (walk.retryPolicy(cls) !== undefined || walk.hasNextRung());
          },
        });
      } catch (e) {
        const failureClass = userStrategy ? undefined : classifyFailure(e, rung);
        if (!failureClass) throw e;
        const step = walk.decide(failureClass);
        const reason = (e as Error).message;
        if (step.kind === 'stop') {
          if (walk.index > 0 || walk.attempt > 1 || settings.ladder)
            logger.error(`${rung?.name} capacity is unavailable (${reason}) and ${step.why}.`, {
              failureClass,
            });
          throw e;
        }
        this.retriedTotal?.inc({ class: failureClass });
        if (step.kind === 'retry') {
          logger.warn(
            `${rung?.name} capacity is unavailable (${reason}); trying again in ${Math.round(step.delayMs / 1000)} s while capacity scales out (attempt ${step.attempt} of ${step.of}).`,
            { failureClass, launchType: rung?.name, delayMs: step.delayMs },
          );
          await this.sleep(step.delayMs, runOptions.signal);
          continue;
        }
        for (const skipped of step.skipped)
          logger.warn(`Skipping ${skipped.name} on the capacity ladder: ${skipped.why}.`);
        // Relaunch in place on the next rung: same definition, the run stays Pending, a new clientToken.
        logger.warn(
          `${rung?.name} capacity is unavailable (${reason}); launching the task on ${step.to.name} instead.`,
          { failureClass, from: rung?.name, to: step.to.name },
        );
        const nextConfig: EcsJobConfiguration = {
          ...config,
          task_run_request: { ...config.task_run_request, launchType: step.to.name },
        };
        const next = prepareRunTaskRequest({ ...runInput, config: nextConfig, launchType: step.to });
        for (const warning of next.warnings) logger.warn(warning);
        request = next.request;
        baseKey = `${job.attemptKey}:${step.to.name}`;
      }
    }
  }

  /**
   * The launch type a classified RunTask failure falls back to: only when the user gave no capacity provider
   * strategy (theirs passes through untouched) and the fallback is active.
   */
  private fallbackTarget(
    launchType: LaunchType | undefined,
    config: EcsJobConfiguration,
    failureClass: string,
  ): LaunchType | undefined {
    if (!launchType?.capacityFallback || !isFalsy(config.task_run_request.capacityProviderStrategy))
      return undefined;
    const name = launchType.capacityFallback(failureClass);
    return name === undefined ? undefined : this.launchTypes.get(name);
  }

  /**
   * `auto_deregister_task_definition`, made safe with reuse: prefect-aws deregisters the revision as soon as the
   * task that registered it stops, even when other runs of the deployment still use it; here the revision is
   * deregistered only when no run this worker still tracks uses it, and the registry forgets it so the next run
   * registers a fresh one instead of launching an INACTIVE revision.
   */
  /**
   * Reconciliation (kernel): this pool's running tasks in the clusters this worker knows — those of the tasks it
   * launched or tracks, and the worker-level default cluster (or the account's `default` cluster). Each cluster
   * is listed with the credentials a task there was launched with, else the SDK's default chain. Tasks in
   * clusters reachable only through another pool's `aws_credentials` block are found once one of them is tracked.
   */
  listLive(opts: {
    signal: AbortSignal;
    workPool: string;
    known: readonly string[];
  }): Promise<LiveInfrastructure[]> {
    const known = new Set<string>();
    for (const identifier of opts.known) {
      try {
        known.add(parseEcsIdentifier(identifier).taskArn);
      } catch {
        // Not an ECS identifier: nothing of ours to skip.
      }
    }
    return listLiveTasks(this.taskScopes(opts.known), opts.workPool, {
      signal: opts.signal,
      logger: this.logger,
      known,
    });
  }

  private readonly stoppedLookups = newStoppedLookupState();

  /** Reconciliation (kernel): recently stopped tasks of these runs, in the same clusters as {@link listLive}. */
  findStopped(opts: {
    signal: AbortSignal;
    workPool: string;
    flowRunIds: readonly string[];
    known: readonly string[];
  }): Promise<LiveInfrastructure[]> {
    return findStoppedTasks(this.taskScopes(opts.known), opts.workPool, opts.flowRunIds, {
      signal: opts.signal,
      logger: this.logger,
      state: this.stoppedLookups,
    });
  }

  private taskScopes(known: readonly string[]): LiveTaskScope[] {
    const scopes = new Map<string, LiveTaskScope>();
    const add = (cluster: string, settings: AwsClientSettings) => {
      const key = cluster.split('/').pop() ?? cluster;
      if (!scopes.has(key)) scopes.set(key, { cluster, ecs: this.clients.ecs(settings) });
    };
    for (const identifier of [...this.launched.keys(), ...known]) {
      try {
        add(parseEcsIdentifier(identifier).cluster, this.launched.get(identifier)?.settings ?? {});
      } catch {
        // Not an ECS identifier (another infrastructure's run in the pool): nothing to list.
      }
    }
    const configured = this.jobVariableDefaults.cluster;
    add(typeof configured === 'string' && configured !== '' ? configured : 'default', {});
    return [...scopes.values()];
  }

  async released(identifier: string, opts: { signal: AbortSignal }): Promise<void> {
    const launched = this.launched.get(identifier);
    if (!launched) return;
    launched.released = true;
    if (!launched.autoDeregister) return;
    const arn = launched.taskDefinitionArn;
    for (const other of this.launched.values()) {
      if (!other.released && other.taskDefinitionArn === arn) return; // still in use
    }
    for (const other of this.launched.values())
      if (other.taskDefinitionArn === arn) other.autoDeregister = false;
    this.registry.forgetArn(arn);
    const ecs = this.clients.ecs(launched.settings);
    await ecs.send(new ecsSdk.DeregisterTaskDefinitionCommand({ taskDefinition: arn }), {
      abortSignal: opts.signal,
    });
    this.logger.info(`Task definition ${arn} successfully deregistered`, { taskDefinitionArn: arn });
  }

  /**
   * Network inference and validation (spec §2.4), remembered for 60 s per (credentials, VPC, network settings):
   * the reference describes the VPC and its subnets for every run, two EC2 reads per launch that share EC2's
   * read quota. Failures are not remembered, so a fixed VPC is seen on the next run.
   */
  private async networkFor(
    settings: AwsClientSettings,
    config: EcsJobConfiguration,
    taskDefinition: Doc,
    signal: AbortSignal,
  ): Promise<Awaited<ReturnType<typeof resolveNetworkConfiguration>>> {
    const key = JSON.stringify([
      settings,
      config.vpc_id ?? null,
      config.network_configuration ?? null,
      config.task_run_request.networkConfiguration ?? null,
      taskDefinition.networkMode ?? null,
    ]);
    const now = performance.now();
    const hit = this.networks.get(key);
    if (hit && now - hit.at < 60_000) return structuredClone(hit.value);
    const value = await resolveNetworkConfiguration(
      () => this.clients.ec2(settings),
      config,
      taskDefinition,
      signal,
    );
    this.networks.set(key, { value, at: now });
    if (this.networks.size > 1000) this.networks.delete(this.networks.keys().next().value as string);
    return structuredClone(value);
  }

  /** The job configuration with the worker-level templates applied (a copy), or as it is without templates. */
  private async withWorkerTemplates(job: FlowRunJob, signal: AbortSignal): Promise<JobConfiguration> {
    if (!this.templates) return job.configuration;
    const templates = await this.templates.load(signal);
    return applyWorkerTemplates(structuredClone(job.configuration), templates, job.jobVariables);
  }

  private remember(identifier: string, launched: LaunchedTask): void {
    this.launched.delete(identifier);
    this.launched.set(identifier, launched);
    if (this.launched.size > LAUNCH_MEMORY) {
      const oldest = this.launched.keys().next().value;
      if (oldest !== undefined) this.launched.delete(oldest);
    }
  }

  /**
   * Stops the task behind `cluster::task_arn` (spec §2.5). `gracePeriodSeconds` is not used: ECS sends SIGTERM,
   * then SIGKILL after the container's `stopTimeout`.
   *
   * @throws `KERNEL_INFRASTRUCTURE_NOT_FOUND` when ECS says the task does not exist (`InvalidParameterException`,
   * as the reference maps it); `KERNEL_INFRASTRUCTURE_NOT_AVAILABLE` when the task is in another cluster than the
   * configured one, in another region than the client's, in a cluster this account cannot see, or access is
   * denied; `ECS_IDENTIFIER_INVALID`; `ECS_STOP_TASK_FAILED` otherwise.
   */
  async kill(
    identifier: string,
    opts: { signal: AbortSignal; gracePeriodSeconds: number; configuration?: JobConfiguration },
  ): Promise<void> {
    const { signal } = opts;
    signal.throwIfAborted();
    const { cluster, taskArn } = parseEcsIdentifier(identifier);
    const { settings, configuredCluster } = this.killSettings(
      opts.configuration,
      this.launched.get(identifier)?.settings,
    );
    if (configuredCluster && !sameCluster(configuredCluster, cluster)) {
      throw new InfrastructureNotAvailableError(
        `Unable to stop ECS task '${taskArn}': this work pool is configured for cluster '${configuredCluster}' but the task runs in cluster '${cluster}'.`,
        { details: { cluster, configuredCluster, taskArn } },
      );
    }
    const ecs = this.clients.ecs(settings);
    const taskRegion = parseEcsArn(taskArn).region ?? parseEcsArn(cluster).region;
    const region = taskRegion ? await clientRegion(ecs) : undefined;
    if (taskRegion && region && taskRegion !== region) {
      throw new InfrastructureNotAvailableError(
        `Unable to stop ECS task '${taskArn}': it runs in region '${taskRegion}' but this worker's ECS client uses '${region}'.`,
        { details: { cluster, taskArn, region } },
      );
    }
    try {
      await ecs.send(new ecsSdk.StopTaskCommand({ cluster, task: taskArn, reason: STOP_TASK_REASON }), {
        abortSignal: signal,
      });
    } catch (e) {
      signal.throwIfAborted();
      if (isAwsError(e, 'InvalidParameterException')) {
        throw new InfrastructureNotFoundError(`ECS task '${taskArn}' not found in cluster '${cluster}'`, {
          cause: e,
          details: { cluster, taskArn, aws: awsErrorInfo(e) },
        });
      }
      if (isAwsError(e, 'ClusterNotFoundException') || isAwsError(e, 'AccessDeniedException')) {
        throw new InfrastructureNotAvailableError(
          `Unable to stop ECS task '${taskArn}': ${awsErrorInfo(e).name} for cluster '${cluster}' with this worker's AWS credentials.`,
          { cause: e, details: { cluster, taskArn, aws: awsErrorInfo(e) } },
        );
      }
      const aws = awsErrorInfo(e);
      throw new EcsError(
        ecsErrorCodes.STOP_TASK_FAILED,
        `Failed to stop ECS task '${taskArn}': ${aws.name}: ${aws.message}`,
        {
          cause: e,
          retryable: aws.fault === 'server',
        },
      );
    }
    this.logger.info(`Stopped ECS task '${taskArn}' in cluster '${cluster}'`, { cluster, taskArn });
  }

  /** Destroys the AWS clients this infrastructure built from factories. Idempotent. */
  async stop(): Promise<void> {
    this.clients.destroy();
  }

  private settingsFor(config: EcsJobConfiguration, logger: Logger): AwsClientSettings {
    const { settings, ignoredParameters } = awsClientSettings(config.aws_credentials);
    if (ignoredParameters.length > 0) {
      logger.warn(
        `These aws_credentials.aws_client_parameters have no effect in this worker and are ignored: ${ignoredParameters.join(', ')}.`,
      );
    }
    return settings;
  }

  /**
   * Credentials and cluster from a kill's configuration; only these two fields matter for StopTask. Without a
   * configuration, the settings the task was launched with, when this process launched it.
   */
  private killSettings(
    configuration: JobConfiguration | undefined,
    launchedWith: AwsClientSettings | undefined,
  ): {
    settings: AwsClientSettings;
    configuredCluster: string | null;
  } {
    if (!configuration) return { settings: launchedWith ?? {}, configuredCluster: null };
    const cluster =
      typeof configuration.cluster === 'string' && configuration.cluster !== ''
        ? configuration.cluster
        : null;
    const block = AwsCredentialsSchema.nullish().safeParse(configuration.aws_credentials);
    if (!block.success || !block.data) return { settings: {}, configuredCluster: cluster };
    return { settings: awsClientSettings(block.data).settings, configuredCluster: cluster };
  }

  private reportIgnoredVariables(job: FlowRunJob, config: EcsJobConfiguration, logger: Logger): void {
    const ignored = ignoredJobVariables(job.workPool, job.jobVariables);
    const head = 'Skipping task definition construction since a task definition ARN is provided.';
    if (ignored.length === 0) {
      logger.info(head, { taskDefinitionArn: config.task_run_request.taskDefinition });
      return;
    }
    let message = `${head} These job variables only shape a task definition the worker would build, so they are ignored: ${ignored.join(', ')}.`;
    const secrets = ['prefect_api_key_secret_arn', 'prefect_api_auth_string_secret_arn'].filter((v) =>
      ignored.includes(v),
    );
    if (secrets.length > 0) {
      message += ` With ${secrets.join(' and ')} set, the matching PREFECT_API_* variable is left out of the task's environment, so the existing task definition must provide it as a container secret.`;
    }
    logger.warn(message, { ignoredJobVariables: ignored });
  }
}

/**
 * The class a launch type gives RunTask's final `failures[]` (carried in the error's details), if any. ECS answers a
 * few capacity conditions with an exception instead (`No Container Instances were found in your cluster.`): its
 * message is classified as one failure reason.
 */
function classifyFailure(e: unknown, launchType: LaunchType | undefined): string | undefined {
  if (!(e instanceof EcsError) || !launchType?.classifyRunTaskFailure) return undefined;
  const failures = e.details.failures;
  if (Array.isArray(failures) && failures.length > 0)
    return launchType.classifyRunTaskFailure(failures as RunTaskFailureInfo[]);
  if (e.code !== ecsErrorCodes.NO_CONTAINER_INSTANCES) return undefined;
  return launchType.classifyRunTaskFailure([{ reason: awsErrorInfo(e.cause).message }]);
}
