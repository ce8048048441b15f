import {
  type InfrastructureDiagnosis,
  type InfrastructureInterruption,
  type InfrastructureStateChange,
  type InfrastructureStatus,
  pythonRepr,
  pythonStringRepr,
} from '@stevedore/kernel';

/** The tag carrying the flow run id on every task the worker starts (spec §2.4 D.11, §3.3). @public */
export const FLOW_RUN_ID_TAG = 'prefect.io/flow-run-id';

/** The reference observer's hard-coded orchestration container name (spec §3.4 (b) 2). */
const DEFAULT_CONTAINER_NAME = 'prefect';

/** One container of a described task, as DescribeTasks or an EventBridge event detail gives it. @public */
export interface EcsContainerDescription {
  name?: string;
  containerArn?: string;
  lastStatus?: string;
  exitCode?: number | null;
  reason?: string | null;
}

/**
 * An ECS task as DescribeTasks (the SDK's `Task`, dates as `Date`) or an EventBridge "ECS Task State Change"
 * `detail` (dates as ISO strings, some fields `null`) describes it: the fields the normalization reads.
 * @public
 */
export interface EcsTaskDescription {
  taskArn?: string;
  clusterArn?: string;
  taskDefinitionArn?: string;
  lastStatus?: string;
  desiredStatus?: string;
  version?: number;
  stopCode?: string | null;
  stoppedReason?: string | null;
  containers?: readonly EcsContainerDescription[];
  tags?: ReadonlyArray<{ key?: string; value?: string }>;
  createdAt?: Date | string;
  pullStartedAt?: Date | string;
  pullStoppedAt?: Date | string;
  startedAt?: Date | string;
  stoppingAt?: Date | string;
  stoppedAt?: Date | string;
  executionStoppedAt?: Date | string;
}

/** Options of {@link toStateChange}. @public */
export interface ToStateChangeOptions {
  /** The kernel's identifier of the task (`cluster::task_arn`). */
  identifier: string;
  /**
   * The orchestration container's name, when the caller knows it (the worker that launched the task knows its job
   * configuration's `container_name`).
   */
  containerName?: string | undefined;
}

/** `InfrastructurePending` messages, word for word as prefect-aws's observer proposes them (spec §3.4 (a)). */
const PENDING_MESSAGES: Readonly<Record<string, string>> = Object.freeze({
  PROVISIONING: 'ECS task is provisioning.',
  PENDING: 'ECS task is pending.',
  // ACTIVATING (after the image pull, before RUNNING) never reaches the reference's handler; the task is still
  // "pending" from the run's point of view, so it gets the same message as PENDING.
  ACTIVATING: 'ECS task is pending.',
});

const RUNNING_STATUSES = new Set(['RUNNING', 'DEACTIVATING', 'STOPPING', 'DEPROVISIONING']);

/**
 * Maps ECS `lastStatus` onto the kernel's three states: PROVISIONING / PENDING / ACTIVATING → `pending`; RUNNING and
 * the way down (DEACTIVATING, STOPPING, DEPROVISIONING) → `running` until the task is STOPPED → `stopped`.
 * An absent or unknown status is `pending`: the task exists but has not said it runs.
 * @public
 */
export function ecsTaskStatus(lastStatus: string | undefined): InfrastructureStatus {
  if (lastStatus === 'STOPPED') return 'stopped';
  if (lastStatus !== undefined && RUNNING_STATUSES.has(lastStatus)) return 'running';
  return 'pending';
}

function iso(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The timestamp that goes with `lastStatus` (ISO-8601), when the description has it. @public */
export function changedAt(task: EcsTaskDescription): string | undefined {
  switch (task.lastStatus) {
    case 'PROVISIONING':
      return iso(task.createdAt);
    case 'PENDING':
      return iso(task.pullStartedAt ?? task.createdAt);
    case 'ACTIVATING':
      return iso(task.pullStoppedAt ?? task.pullStartedAt ?? task.createdAt);
    case 'RUNNING':
      return iso(task.startedAt ?? task.createdAt);
    case 'DEACTIVATING':
    case 'STOPPING':
    case 'DEPROVISIONING':
      return iso(task.stoppingAt ?? task.startedAt ?? task.createdAt);
    case 'STOPPED':
      return iso(task.stoppedAt ?? task.executionStoppedAt ?? task.stoppingAt);
    default:
      return iso(task.createdAt);
  }
}

/**
 * The container the flow runs in: the one named `containerName` when the caller knows it and the task has it,
 * else the one named `prefect` (what the reference observer looks for), else the only container; `undefined` when
 * none of these applies (several containers, none identifiable).
 *
 * @remarks The known name comes first because it is, by definition, the container the worker put the flow run's
 * command in (spec §2.4 D.6); the reference's observer does not know it and hard-codes `prefect`.
 * @public
 */
export function orchestrationContainer(
  task: EcsTaskDescription,
  containerName?: string,
): EcsContainerDescription | undefined {
  const containers = task.containers ?? [];
  if (containerName) {
    const known = containers.find((c) => c.name === containerName);
    if (known) return known;
  }
  const prefect = containers.find((c) => c.name === DEFAULT_CONTAINER_NAME);
  if (prefect) return prefect;
  return containers.length === 1 ? containers[0] : undefined;
}

const isNonZero = (c: EcsContainerDescription): boolean => c.exitCode === null || c.exitCode !== 0;

/**
 * The containers whose exit decides the run (spec §3.4 (b) 2): the orchestration container when it can be told
 * apart, else all of them. Sidecars that fail next to a healthy orchestration container are not fatal.
 */
function checkedContainers(task: EcsTaskDescription, containerName?: string): EcsContainerDescription[] {
  const main = orchestrationContainer(task, containerName);
  return main ? [main] : [...(task.containers ?? [])];
}

/**
 * The reference's `should_diagnose` (spec §3.4 (b) 3): a checked container stopped with a non-zero or missing exit
 * code, or the task has no containers at all (it never started).
 * @public
 */
export function shouldDiagnose(task: EcsTaskDescription, containerName?: string): boolean {
  if (task.lastStatus !== 'STOPPED') return false;
  const containers = task.containers ?? [];
  return containers.length === 0 || checkedContainers(task, containerName).some(isNonZero);
}

const RESOLUTIONS = Object.freeze({
  imagePull:
    'Verify that the container image exists and the URI is correct. If the image is in a private registry, ensure ' +
    'the task execution role has permissions to pull from it and that a repository authentication configuration ' +
    'is attached to the container definition.',
  failedToStart:
    'Check the stopped reason for specifics. Common causes include resource limits, missing IAM permissions, or ' +
    'networking misconfigurations. Review the ECS task and execution role policies.',
  essentialExited:
    'An essential container in the task exited, causing the task to stop. Check the container logs for errors. If ' +
    'the exit was due to an application error, fix the underlying issue. If the container was killed by the ' +
    'infrastructure, consider increasing memory or CPU limits.',
  terminated:
    'The task was stopped without container exit codes, which typically means ECS or the underlying infrastructure ' +
    'killed the task. Common causes include spot instance interruptions, scaling events, or manual stops. Check ' +
    'CloudTrail and ECS service events for more context.',
  nonZero:
    'One or more containers exited with a non-zero status code. Check the container logs in CloudWatch for error ' +
    'details. Exit code 137 often indicates an out-of-memory condition — consider increasing the task memory ' +
    'allocation.',
  spot:
    'AWS reclaimed the Fargate Spot capacity the task ran on (it gets a two-minute warning, then SIGTERM). Retry ' +
    'the flow run, add a FARGATE capacity provider to the strategy as a fallback, or run on FARGATE for work that ' +
    'cannot be interrupted.',
  oom:
    'The container used more memory than its limit and was killed. Increase the memory job variable (task-level ' +
    'memory) or the container memory in the task definition, or reduce what the flow holds in memory.',
});

/** The per-container sentences of the reference's `_diagnose_container_exit_codes`. */
function exitCodeDiagnosis(task: EcsTaskDescription, essentialExited: boolean): InfrastructureDiagnosis {
  const nullExit: string[] = [];
  const nonZeroExit: Array<[string, number]> = [];
  for (const c of task.containers ?? []) {
    const name = c.name ?? '<unknown>';
    if (c.exitCode === null || c.exitCode === undefined) nullExit.push(name);
    else if (c.exitCode !== 0) nonZeroExit.push([name, c.exitCode]);
  }
  const parts = nonZeroExit.map(
    ([name, code]) => `Container ${pythonStringRepr(name)} exited with code ${code}.`,
  );
  if (nullExit.length > 0) {
    parts.push(
      `Container(s) ${nullExit.map(pythonStringRepr).join(', ')} had no exit code, indicating the task was terminated by ECS or the underlying infrastructure.`,
    );
  }
  const detail = parts.length > 0 ? parts.join(' ') : 'No container exit code details available.';
  const onlyNull = nullExit.length > 0 && nonZeroExit.length === 0;
  const level = onlyNull ? 'warning' : 'error';
  if (essentialExited) {
    return { summary: 'Essential container exited', detail, resolution: RESOLUTIONS.essentialExited, level };
  }
  if (onlyNull) {
    return {
      summary: 'Task terminated by infrastructure',
      detail,
      resolution: RESOLUTIONS.terminated,
      level,
    };
  }
  return {
    summary: 'Container exited with non-zero exit code',
    detail,
    resolution: RESOLUTIONS.nonZero,
    level,
  };
}

/**
 * Explains why a STOPPED task stopped, in ECS's terms: prefect-aws's `diagnose_ecs_task` (spec §3.4 (b) 3), first
 * match wins, plus two Stevedore rules placed before the generic exit-code rules so they are not shadowed:
 *
 * 1. `stoppedReason` contains `CannotPullContainerError` → "Container image pull failed" (error);
 * 2. `stopCode` `TaskFailedToStart` → "ECS task failed to start" (error);
 * 3. Stevedore: `stopCode` `SpotInterruption` → "Fargate Spot capacity was reclaimed" (warning);
 * 4. Stevedore: a container `reason` contains `OutOfMemoryError` → "Container ran out of memory" (error);
 * 5. `stopCode` `EssentialContainerExited` → "Essential container exited", with one sentence per container;
 * 6. a container with a non-zero or missing exit code → "Task terminated by infrastructure" (warning, only missing
 *    codes) or "Container exited with non-zero exit code" (error).
 *
 * Returns `undefined` for a task that is not STOPPED or when no rule matches.
 * @public
 */
export function diagnoseEcsTask(task: EcsTaskDescription): InfrastructureDiagnosis | undefined {
  if (task.lastStatus !== 'STOPPED') return undefined;
  const stoppedReason = task.stoppedReason ?? '';
  const stopCode = task.stopCode ?? '';
  if (stoppedReason.includes('CannotPullContainerError')) {
    return {
      summary: 'Container image pull failed',
      detail: stoppedReason,
      resolution: RESOLUTIONS.imagePull,
      level: 'error',
    };
  }
  if (stopCode === 'TaskFailedToStart') {
    return {
      summary: 'ECS task failed to start',
      detail: stoppedReason || 'Task failed to start (no additional detail).',
      resolution: RESOLUTIONS.failedToStart,
      level: 'error',
    };
  }
  if (stopCode === 'SpotInterruption') {
    return {
      summary: 'Fargate Spot capacity was reclaimed',
      detail: stoppedReason || 'The task was stopped because its Spot capacity was interrupted.',
      resolution: RESOLUTIONS.spot,
      level: 'warning',
    };
  }
  const oom = (task.containers ?? []).filter((c) => (c.reason ?? '').includes('OutOfMemoryError'));
  if (oom.length > 0) {
    return {
      summary: 'Container ran out of memory',
      detail: oom
        .map(
          (c) =>
            `Container ${pythonStringRepr(c.name ?? '<unknown>')} was stopped: ${c.reason}${
              typeof c.exitCode === 'number' ? ` (exit code ${c.exitCode})` : ''
            }.`,
        )
        .join(' '),
      resolution: RESOLUTIONS.oom,
      level: 'error',
    };
  }
  if (stopCode === 'EssentialContainerExited') return exitCodeDiagnosis(task, true);
  if ((task.containers ?? []).some(isNonZero)) return exitCodeDiagnosis(task, false);
  return undefined;
}

/**
 * The message of the Crashed state the reference's observer proposes (spec §3.4 (b) 4), or `undefined` when it would
 * not crash the run:
 * - no containers and `stopCode` `TaskFailedToStart` → "ECS task failed to start: <stoppedReason or 'unknown
 *   reason'>. The capacity provider could not place the task.";
 * - a checked container stopped non-zero or without exit code → "The following containers stopped with a non-zero
 *   exit code: ['prefect']" (a Python list repr, names or else container ARNs).
 *
 * @remarks Exit code 0 gives `undefined`. The reference leaves such a run alone (its own process reports the final
 * state); Stevedore's kernel crashes a run whose infrastructure stopped with 0 but whose state is still not final
 * after the grace period — the engine died without reporting — and writes its own message ("exited with status code
 * 0 but never reported a final state"), which says it better than anything ECS knows.
 * @public
 */
export function ecsCrashMessage(task: EcsTaskDescription, containerName?: string): string | undefined {
  if (task.lastStatus !== 'STOPPED') return undefined;
  const containers = task.containers ?? [];
  if (containers.length === 0 && task.stopCode === 'TaskFailedToStart') {
    return `ECS task failed to start: ${task.stoppedReason || 'unknown reason'}. The capacity provider could not place the task.`;
  }
  const failed = checkedContainers(task, containerName).filter(isNonZero);
  if (failed.length === 0) return undefined;
  return `The following containers stopped with a non-zero exit code: ${pythonRepr(
    failed.map((c) => c.name || c.containerArn || null),
  )}`;
}

/** `stoppedReason`, then each container's reason (`name: reason`), joined with `; `. */
function stopReasonOf(task: EcsTaskDescription): string | null {
  const parts: string[] = [];
  if (task.stoppedReason) parts.push(task.stoppedReason);
  for (const c of task.containers ?? []) {
    if (c.reason) parts.push(`${c.name ?? c.containerArn ?? 'container'}: ${c.reason}`);
  }
  return parts.length > 0 ? parts.join('; ') : null;
}

/** The `prefect.io/flow-run-id` tag, when the description carries tags (DescribeTasks with `include: ['TAGS']`). @public */
export function flowRunIdOf(task: EcsTaskDescription): string | undefined {
  const value = task.tags?.find((t) => t.key === FLOW_RUN_ID_TAG)?.value;
  return value ? value : undefined;
}

/**
 * Normalizes a described ECS task into the kernel's {@link InfrastructureStateChange}. Shared by every ECS
 * observer (DescribeTasks polling here, EventBridge/SQS later), so all of them say the same thing about a task.
 *
 * - `status` from {@link ecsTaskStatus}; `providerStatus` = `lastStatus`; `version`; `at` = the timestamp that goes
 *   with the status (createdAt, pullStartedAt, startedAt, stoppingAt, stoppedAt);
 * - `pendingMessage` for PROVISIONING / PENDING / ACTIVATING, as prefect-aws's observer words it;
 * - `flowRunId` from the `prefect.io/flow-run-id` tag when tags are present;
 * - when STOPPED: `exitCode` of the orchestration container ({@link orchestrationContainer}; `null` when it has
 *   none or cannot be told apart), `stopCode`, `stopReason` (`stoppedReason` plus container reasons), `diagnosis`
 *   ({@link diagnoseEcsTask}, only when {@link shouldDiagnose} — a task that exited 0 everywhere is not explained
 *   as a failure) and `crashMessage` ({@link ecsCrashMessage}).
 * @public
 */
export function toStateChange(
  task: EcsTaskDescription,
  opts: ToStateChangeOptions,
): InfrastructureStateChange {
  const status = ecsTaskStatus(task.lastStatus);
  const change: InfrastructureStateChange = { identifier: opts.identifier, status };
  if (task.lastStatus !== undefined) change.providerStatus = task.lastStatus;
  if (typeof task.version === 'number') change.version = task.version;
  const at = changedAt(task);
  if (at !== undefined) change.at = at;
  const flowRunId = flowRunIdOf(task);
  if (flowRunId !== undefined) change.flowRunId = flowRunId;
  if (status === 'pending' && task.lastStatus !== undefined) {
    const message = PENDING_MESSAGES[task.lastStatus];
    if (message !== undefined) change.pendingMessage = message;
  }
  if (status !== 'stopped') return change;

  const main = orchestrationContainer(task, opts.containerName);
  change.exitCode = typeof main?.exitCode === 'number' ? main.exitCode : null;
  change.stopCode = task.stopCode ?? null;
  change.stopReason = stopReasonOf(task);
  if (shouldDiagnose(task, opts.containerName)) {
    const diagnosis = diagnoseEcsTask(task);
    if (diagnosis !== undefined) change.diagnosis = diagnosis;
  }
  const crash = ecsCrashMessage(task, opts.containerName);
  if (crash !== undefined) change.crashMessage = crash;
  const interruption = ecsInterruption(task);
  if (interruption !== undefined) change.interruption = interruption;
  return change;
}

/**
 * The interruption a STOPPED task suffered, when AWS took its capacity away rather than the flow ending: the kernel
 * reschedules such a run (within its budget) instead of crashing it. prefect-aws crashes it.
 *
 * - `stopCode` `SpotInterruption`: Fargate Spot (or a Spot capacity provider) reclaimed the capacity
 *   (class `spot-interruption`);
 * - `stopCode` `TerminationNotice`: the infrastructure under the task was terminated (Fargate task retirement, a
 *   container instance terminated; class `infrastructure-terminated`).
 *
 * A task that stopped for any other reason (its container exited, a user or a worker stopped it, it failed to
 * start) gives `undefined`: those are crashes or ordinary ends, never retried here.
 * @public
 */
export function ecsInterruption(task: EcsTaskDescription): InfrastructureInterruption | undefined {
  if (task.lastStatus !== 'STOPPED') return undefined;
  const reason = task.stoppedReason ? ` (${task.stoppedReason})` : '';
  if (task.stopCode === 'SpotInterruption')
    return { class: 'spot-interruption', summary: `Fargate Spot capacity was reclaimed${reason}.` };
  if (task.stopCode === 'TerminationNotice')
    return {
      class: 'infrastructure-terminated',
      summary: `The infrastructure under the ECS task was terminated${reason}.`,
    };
  return undefined;
}
