import { createHash } from 'node:crypto';
import type {
  ECSClient,
  Failure,
  NetworkConfiguration,
  RunTaskCommandInput,
  Task,
} from '@aws-sdk/client-ecs';
import { type Logger, splitCommand } from '@stevedore/kernel';
import { ecsSdk } from './aws-sdk.js';
import { cloneDoc, type Doc, dropNulls, isDoc, isFalsy } from './documents.js';
import { awsErrorInfo, EcsError, type EcsErrorCode, ecsErrorCodes, isAwsError } from './errors.js';
import type { EcsJobConfiguration } from './job-configuration.js';
import { type LaunchType, launchTypeCompatibility } from './launch-type.js';
import { redactForLog } from './redact.js';
import type { EcsRetryOptions, Sleep } from './retry.js';
import { buildEcsTags } from './tags.js';
import { orchestrationContainerName } from './task-definition.js';

/** The auto-deregister tag the observer acts on. Misspelt as in the reference (spec §2.4 D.11); do not fix. @public */
export const DEREGISTER_TAG = 'prefect.io/degregister-task-definition';

/** Longest `clientToken` RunTask accepts. @public */
export const CLIENT_TOKEN_MAX_LENGTH = 64;

/**
 * The RunTask `clientToken` for a launch attempt: the hex SHA-256 of the kernel's `attemptKey` (64 characters,
 * all in ECS's allowed range 33–126). The same attempt always gets the same token, so a RunTask retried after a
 * lost response — by us or by the kernel re-submitting — returns the task already started instead of a second one.
 *
 * `round` > 1 gives a new token for a retry after ECS answered with `failures` (no task was started then, and a
 * reused token could only replay that failed answer).
 * @public
 */
export function runTaskClientToken(attemptKey: string, round = 1): string {
  const material =
    round === 1 ? `stevedore:run-task:${attemptKey}` : `stevedore:run-task:${attemptKey}#${round}`;
  return createHash('sha256').update(material).digest('hex');
}

/** ECS's rule for RunTask's `startedBy`: up to 128 letters, digits, hyphens, forward slashes and underscores. */
const STARTED_BY = /^[A-Za-z0-9_/-]{1,128}$/;

/**
 * The RunTask `startedBy` Stevedore gives a flow run's task: `stevedore/<flow run id>`, or `undefined` when the id
 * cannot be one (flow run ids are UUIDs, so always valid in practice). ECS filters `ListTasks` by it, which is how
 * reconciliation finds one run's stopped task among a busy cluster's thousands (see `findStoppedTasks`).
 * @public
 */
export function ecsStartedBy(flowRunId: string): string | undefined {
  const value = `stevedore/${flowRunId}`;
  return STARTED_BY.test(value) ? value : undefined;
}

/** Input of {@link prepareRunTaskRequest}. @public */
export interface PrepareRunTaskRequestInput {
  config: EcsJobConfiguration;
  /** The flow run the task is for: its `startedBy` (see {@link ecsStartedBy}). Left out, no `startedBy` is set. */
  flowRunId?: string | undefined;
  /** The definition that will run (built and registered, or described from `task_definition_arn`). */
  taskDefinition: Doc;
  /** Its ARN: the registered one, or `task_definition_arn` exactly as given. */
  taskDefinitionArn: string;
  /** From {@link resolveNetworkConfiguration}; `undefined` keeps the request's own. */
  networkConfiguration: NetworkConfiguration | undefined;
  /** This submission registered the definition (for the auto-deregister tag). */
  newlyRegistered: boolean;
  /** The selected {@link LaunchType}: its `shapeRunTaskRequest` runs after step 4 unless the user gave a strategy. */
  launchType?: LaunchType | undefined;
}

/** A shaped RunTask request, with what the caller should warn about. @public */
export interface PreparedRunTaskRequest {
  request: RunTaskCommandInput;
  warnings: string[];
}

function toEnvironmentList(env: unknown): unknown[] {
  if (Array.isArray(env)) return env;
  if (isDoc(env)) return Object.entries(env).map(([name, value]) => ({ name, value }));
  return [];
}

function tagEntries(tags: unknown): Array<[string, string]> {
  const list = isDoc(tags)
    ? Object.entries(tags).map(([key, value]) => ({ key, value }))
    : Array.isArray(tags)
      ? tags
      : [];
  return list
    .filter(
      (t): t is Doc => isDoc(t) && typeof t.key === 'string' && t.value !== null && t.value !== undefined,
    )
    .map((t) => [t.key as string, String(t.value)]);
}

/**
 * Shapes the RunTask request from `task_run_request`, as `_prepare_task_run_request` does (spec §2.4 D):
 *
 * 1. `taskDefinition` = the ARN; 2. `cluster` from `cluster` when the request has none;
 * 3. `launchType` defaults to `FARGATE` (removed when the definition requires EC2);
 * 4. a capacity provider strategy removes `launchType`; `FARGATE_SPOT` becomes
 *    `[{capacityProvider: "FARGATE_SPOT", weight: 1}]`;
 * 5. the network configuration; 6–7. the orchestration override is named and gets `command`;
 * 8. every override's string `command` becomes argv (POSIX shlex) and its `environment` a list without nulls;
 * 9–11. tags: request tags not overridden by `labels`, then `labels`, sanitised; plus the auto-deregister tag
 *    when a definition was registered with `auto_deregister_task_definition`;
 * 10. task-level `overrides.cpu`/`memory` as strings; 12. the orchestration override's environment = its
 *    entries not in `env`, then `env`; 13. empty overrides removed.
 *
 * @remarks Differences, and why:
 * - when no override names the orchestration container, one is added: otherwise the task starts without the
 *   flow run's command and environment and the run never executes (the reference skips it);
 * - `PREFECT_API_KEY` / `PREFECT_API_AUTH_STRING` are removed from override environments when their secret ARN
 *   is set, so the secret is not shadowed by a plain value;
 * - an empty `capacityProviderStrategy`, empty `environment` lists and null values are left out (AWS rejects
 *   nulls, and an empty strategy next to a launch type);
 * - tags follow ECS's limits (see {@link buildEcsTags});
 * - `startedBy` is `stevedore/<flow run id>` unless the request sets its own (the reference sets none, spec §2.4
 *   D): restart reconciliation asks ECS for one run's stopped task with it (`ListTasks startedBy`) instead of
 *   paging through every stopped task of the cluster.
 * @throws `KERNEL_TEMPLATE_RENDER` (from the kernel's `splitCommand`) when a command is not valid shell syntax.
 * @public
 */
export function prepareRunTaskRequest(input: PrepareRunTaskRequestInput): PreparedRunTaskRequest {
  const { config, taskDefinition } = input;
  const warnings: string[] = [];
  const req = cloneDoc(config.task_run_request);

  // 1–2.
  if (isFalsy(req.taskDefinition)) req.taskDefinition = input.taskDefinitionArn;
  if (config.cluster && isFalsy(req.cluster)) req.cluster = config.cluster;
  // Stevedore: see the remarks; a user's own startedBy is kept (reconciliation then pages through the cluster).
  const startedBy = input.flowRunId === undefined ? undefined : ecsStartedBy(input.flowRunId);
  if (startedBy && isFalsy(req.startedBy)) req.startedBy = startedBy;

  // 3.
  const compat = Array.isArray(taskDefinition.requiresCompatibilities)
    ? taskDefinition.requiresCompatibilities
    : [];
  if (isFalsy(req.launchType)) {
    if (compat.includes('EC2')) delete req.launchType;
    else req.launchType = 'FARGATE';
  }

  // 4.
  if (!isFalsy(req.capacityProviderStrategy)) {
    if ('launchType' in req)
      warnings.push('Found capacityProviderStrategy. Removing launchType from task run request.');
    delete req.launchType;
  } else {
    delete req.capacityProviderStrategy;
    if (req.launchType === 'FARGATE_SPOT') {
      delete req.launchType;
      req.capacityProviderStrategy = [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }];
    }
    input.launchType?.shapeRunTaskRequest?.(req);
  }

  // 5.
  if (input.networkConfiguration) req.networkConfiguration = structuredClone(input.networkConfiguration);
  // Stevedore: ECS refuses a public IP for awsvpc tasks on EC2 ("Assign public IP is not supported for this launch
  // type"), and the reference's inferred network always asks for one, so an EC2 awsvpc task never starts there.
  const awsvpc = isDoc(req.networkConfiguration) ? req.networkConfiguration.awsvpcConfiguration : undefined;
  if (
    input.launchType &&
    launchTypeCompatibility(input.launchType) === 'EC2' &&
    isDoc(awsvpc) &&
    awsvpc.assignPublicIp === 'ENABLED'
  ) {
    delete awsvpc.assignPublicIp;
    warnings.push(
      'EC2 tasks in awsvpc network mode cannot have a public IP: assignPublicIp was left out of the network configuration.',
    );
  }

  // 6–8.
  const overrides: Doc = isDoc(req.overrides) ? req.overrides : {};
  req.overrides = overrides;
  const containerOverrides = (
    Array.isArray(overrides.containerOverrides) ? overrides.containerOverrides : []
  ).filter(isDoc);
  overrides.containerOverrides = containerOverrides;
  const name = orchestrationContainerName(config);
  const first = containerOverrides[0];
  if (first && isFalsy(first.name)) first.name = name;
  let orchestration = containerOverrides.find((o) => o.name === name);
  if (orchestration === undefined) {
    orchestration = { name };
    containerOverrides.push(orchestration);
  }
  if (config.command !== null) orchestration.command = config.command;
  const secretNames = new Set<string>();
  if (config.prefect_api_key_secret_arn) secretNames.add('PREFECT_API_KEY');
  if (config.prefect_api_auth_string_secret_arn) secretNames.add('PREFECT_API_AUTH_STRING');
  for (const o of containerOverrides) {
    if (typeof o.command === 'string') o.command = splitCommand(o.command);
    o.environment = toEnvironmentList(o.environment).filter(
      (e) => isDoc(e) && e.value !== null && e.value !== undefined && !secretNames.has(String(e.name)),
    );
  }

  // 9, 11.
  const labelKeys = new Set(Object.keys(config.labels));
  const entries: Array<[string, string]> = [
    ...tagEntries(req.tags).filter(([key]) => !labelKeys.has(key)),
    ...Object.entries(config.labels).filter(
      (e): e is [string, string] => e[1] !== null && e[1] !== undefined,
    ),
  ];
  if (input.newlyRegistered && config.auto_deregister_task_definition) entries.push([DEREGISTER_TAG, 'true']);
  const { tags, dropped } = buildEcsTags(entries);
  if (dropped.length > 0) {
    warnings.push(
      `Left out tags ECS would reject (reserved, empty or over the 50-tag limit): ${dropped.join(', ')}.`,
    );
  }
  if (tags.length > 0) req.tags = tags;
  else delete req.tags;

  // 10.
  for (const key of ['cpu', 'memory'] as const) {
    if (!isFalsy(overrides[key])) overrides[key] = String(overrides[key]);
  }

  // 12.
  const envKeys = new Set(Object.keys(config.env));
  const environment = [
    ...(orchestration.environment as Doc[]).filter((e) => !envKeys.has(String(e.name))),
    ...Object.entries(config.env).map(([n, value]) => ({ name: n, value })),
  ];
  orchestration.environment = environment;

  // 13.
  for (const o of containerOverrides)
    if (Array.isArray(o.environment) && o.environment.length === 0) delete o.environment;
  overrides.containerOverrides = containerOverrides.filter((o) => Object.keys(o).length > 0);

  // Built from the user's template: ECS validates the shape, the SDK only serialises it.
  return { request: dropNulls(req) as unknown as RunTaskCommandInput, warnings };
}

/** Options of {@link runTask}. @public */
export interface RunTaskOptions {
  signal: AbortSignal;
  logger: Logger;
  /** The kernel's launch-attempt key; the source of the idempotent `clientToken`. */
  attemptKey: string;
  retry: Pick<
    EcsRetryOptions,
    'runTaskMaxAttempts' | 'runTaskDelayMs' | 'runTaskMinJitterMs' | 'runTaskMaxJitterMs'
  >;
  sleep: Sleep;
  random: () => number;
  /** `configure_cloudwatch_logs` was on (for the access-denied message). */
  cloudwatchLogs: boolean;
  /**
   * A `failures` answer this says yes to ends the attempts at once (the caller has its own backoff for it, e.g. EC2
   * capacity while the Auto Scaling group scales out).
   */
  stopEarly?: (failures: readonly Failure[]) => boolean;
}

class RunTaskFailures extends Error {
  constructor(readonly failures: Failure[]) {
    const f = failures[0];
    super(`Failed to run ECS task: ${f?.reason ?? 'unknown reason'}${f?.detail ? ` (${f.detail})` : ''}`);
  }
}

class NoTaskReturned extends Error {
  constructor() {
    super('Failed to run ECS task: no tasks or failures were returned.');
  }
}

/**
 * Calls RunTask, retrying like the reference (spec §2.4 E: 3 attempts, 1 s + U(0, 3 s) apart, on any error or
 * `failures`), and returns the started task.
 *
 * Every attempt carries a `clientToken` ({@link runTaskClientToken}): a thrown error (maybe a lost response)
 * is retried with the same token, a `failures` answer with the next round's token.
 *
 * @throws the reference's rewritten errors, each with its own code: `ECS_CLUSTER_NOT_FOUND`,
 * `ECS_NO_CONTAINER_INSTANCES`, `ECS_CLOUDWATCH_LOGS_ACCESS_DENIED`, `ECS_TASK_DEFINITION_INACTIVE`,
 * `ECS_CAPACITY_PROVIDER_ERROR`, `ECS_NETWORK_CONFIGURATION_ERROR`; else `ECS_RUN_TASK_FAILED`.
 * @public
 */
export async function runTask(
  ecs: ECSClient,
  request: RunTaskCommandInput,
  opts: RunTaskOptions,
): Promise<Task> {
  const { retry, signal } = opts;
  let round = 1;
  let lastError: unknown;
  for (let attempt = 1; attempt <= retry.runTaskMaxAttempts; attempt++) {
    const input: RunTaskCommandInput = {
      ...request,
      clientToken: runTaskClientToken(opts.attemptKey, round),
    };
    if (attempt === 1) opts.logger.debug('Preparing to run ECS task.', { request: redactForLog(input) });
    try {
      const out = await ecs.send(new ecsSdk.RunTaskCommand(input), { abortSignal: signal });
      const task = out.tasks?.[0];
      if (out.failures && out.failures.length > 0) {
        lastError = new RunTaskFailures(out.failures);
        round++;
        if (opts.stopEarly?.(out.failures)) break;
      } else if (task === undefined) {
        lastError = new NoTaskReturned();
        round++;
      } else {
        return task;
      }
    } catch (e) {
      signal.throwIfAborted();
      lastError = e;
    }
    if (attempt < retry.runTaskMaxAttempts) {
      const jitter =
        retry.runTaskMinJitterMs + opts.random() * (retry.runTaskMaxJitterMs - retry.runTaskMinJitterMs);
      const message = lastError instanceof Error ? lastError.message : String(lastError);
      opts.logger.debug(`RunTask attempt ${attempt}/${retry.runTaskMaxAttempts} failed; retrying.`, {
        reason: message,
      });
      await opts.sleep(retry.runTaskDelayMs + jitter, signal);
    }
  }
  throw runTaskError(lastError, {
    cluster: typeof request.cluster === 'string' ? request.cluster : undefined,
    launchType: request.launchType,
    cloudwatchLogs: opts.cloudwatchLogs,
  });
}

/**
 * Rewrites RunTask's final error as the reference does (spec §2.4 E, checked in order), with a code each.
 *
 * @remarks ECS reports most of these as generic `ClientException` / `InvalidParameterException` whose only
 * distinguishing mark is the message, so — unlike the rest of this package — matching is on text, as in the
 * reference. Rule 3 fixes the reference's bug (it reads a field that does not exist and raises AttributeError).
 * @internal
 */
export function runTaskError(
  e: unknown,
  ctx: { cluster: string | undefined; launchType: string | undefined; cloudwatchLogs: boolean },
): EcsError {
  const aws = awsErrorInfo(e);
  const text =
    e instanceof RunTaskFailures
      ? e.failures.map((f) => `${f.reason ?? ''} ${f.detail ?? ''}`).join(' ')
      : `${aws.name}: ${aws.message}`;
  const lower = text.toLowerCase();
  const cluster = ctx.cluster ?? 'default';
  const failures =
    e instanceof RunTaskFailures
      ? { failures: e.failures.map((f) => ({ arn: f.arn, reason: f.reason, detail: f.detail })) }
      : {};
  const make = (code: EcsErrorCode, message: string, retryable = false) =>
    new EcsError(code, message, { cause: e, retryable, details: { cluster, ...failures } });

  if (isAwsError(e, 'ClusterNotFoundException') || text.includes('ClusterNotFoundException')) {
    return make(
      ecsErrorCodes.CLUSTER_NOT_FOUND,
      `Failed to run ECS task, cluster '${cluster}' not found. Confirm that the cluster is configured in your region.`,
    );
  }
  if (text.includes('No Container Instances') && ctx.launchType === 'EC2') {
    return make(
      ecsErrorCodes.NO_CONTAINER_INSTANCES,
      `Failed to run ECS task, cluster '${cluster}' does not appear to have any container instances associated with it. Confirm that you have EC2 container instances available.`,
      true,
    );
  }
  if (
    text.includes('failed to validate logger args') &&
    text.includes('AccessDeniedException') &&
    ctx.cloudwatchLogs
  ) {
    return make(
      ecsErrorCodes.CLOUDWATCH_LOGS_ACCESS_DENIED,
      'Failed to run ECS task, the attached execution role does not appear to have sufficient permissions. Ensure that the execution role provided allows: logs:CreateLogStream, logs:CreateLogGroup, logs:PutLogEvents.',
    );
  }
  if (text.includes('TaskDefinition is inactive')) {
    return make(
      ecsErrorCodes.TASK_DEFINITION_INACTIVE,
      'Failed to run ECS task, the task definition is inactive. Re-register the task definition or remove the `task_definition_arn` from your work pool configuration to allow Prefect to register a new task definition automatically.',
    );
  }
  if (lower.includes('no capacity') || lower.includes('capacity provider')) {
    return make(
      ecsErrorCodes.CAPACITY_PROVIDER_ERROR,
      'Failed to run ECS task due to a capacity provider error. Verify that your Fargate or EC2 capacity providers are correctly configured for the cluster and that the requested capacity is available.',
      true,
    );
  }
  if (
    text.includes('InvalidParameterException') &&
    (lower.includes('subnet') || lower.includes('security group') || lower.includes('network'))
  ) {
    return make(
      ecsErrorCodes.NETWORK_CONFIGURATION_ERROR,
      "Failed to run ECS task due to a network configuration error. Verify the subnets and security groups in your work pool's network configuration are valid and belong to the expected VPC.",
    );
  }
  if (e instanceof RunTaskFailures) {
    return new EcsError(ecsErrorCodes.RUN_TASK_FAILED, e.message, {
      retryable: true,
      details: { cluster, ...failures },
    });
  }
  if (e instanceof NoTaskReturned) return make(ecsErrorCodes.RUN_TASK_FAILED, e.message);
  return make(ecsErrorCodes.RUN_TASK_FAILED, `Failed to run ECS task: ${aws.name}: ${aws.message}`);
}
