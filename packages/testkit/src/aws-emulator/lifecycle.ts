import { defaultTaskBehavior, type EngineContext, proposeState } from './engine.js';
import type { LogsStore } from './logs.js';
import type {
  EcsStopCode,
  EcsTag,
  EcsTask,
  EcsTaskStatus,
  ModelObject,
  TaskBehavior,
  TaskBehaviorFn,
  TaskDurations,
} from './types.js';
import { iso, sleep } from './util.js';

export const DEFAULT_DURATIONS: TaskDurations = {
  provisioningMs: 20,
  pendingMs: 20,
  activatingMs: 10,
  runMs: 200,
  deactivatingMs: null,
  stoppingMs: null,
  deprovisioningMs: 20,
};

export interface ContainerRecord {
  name: string;
  arn: string;
  image: string;
  lastStatus: 'PENDING' | 'RUNNING' | 'STOPPED';
  exitCode?: number;
  reason?: string;
  runtimeId?: string;
  cpu: string;
  memory?: string;
  /** awslogs destination, when the container definition configures it. */
  awslogs?: { group: string; stream: string; createGroup: boolean };
}

export interface TaskRecord {
  id: string;
  /** CPU units and MiB this EC2-launched task holds on the cluster's simulated container instances until it stops. */
  ec2Reservation?: { cpu: number; memory: number };
  arn: string;
  clusterArn: string;
  clusterName: string;
  taskDefinitionArn: string;
  family: string;
  lastStatus: EcsTaskStatus;
  desiredStatus: 'RUNNING' | 'STOPPED';
  containers: ContainerRecord[];
  overrides: ModelObject;
  tags: EcsTag[];
  launchType?: string;
  capacityProviderName?: string;
  platformVersion?: string;
  group: string;
  startedBy?: string;
  cpu?: string;
  memory?: string;
  availabilityZone: string;
  eni?: { attachmentId: string; subnetId: string; eniId: string; mac: string; ip: string; status: string };
  enableExecuteCommand: boolean;
  createdAt: number;
  connectivityAt?: number;
  pullStartedAt?: number;
  pullStoppedAt?: number;
  startedAt?: number;
  stoppingAt?: number;
  executionStoppedAt?: number;
  stoppedAt?: number;
  updatedAt: number;
  stopCode?: EcsStopCode;
  stoppedReason?: string;
  version: number;
  /** Environment of the orchestration container. */
  env: Record<string, string>;
  orchestration: string;
  behavior: TaskBehavior | null;
  /** Set when an injected start failure applies to this task. */
  startFailure?: string;
  /** Aborted when the task is stopped from outside (StopTask, Spot): the engine stops talking. */
  abort: AbortController;
  timers: Set<NodeJS.Timeout>;
}

function when(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : iso(ms);
}

/** The task as an `ECS Task State Change` event's `detail` carries it (no tags, ISO timestamps). */
export function taskEventDetail(t: TaskRecord): EcsTask {
  const detail: EcsTask = {
    taskArn: t.arn,
    clusterArn: t.clusterArn,
    taskDefinitionArn: t.taskDefinitionArn,
    lastStatus: t.lastStatus,
    desiredStatus: t.desiredStatus,
    containers: t.containers.map((c) => ({
      containerArn: c.arn,
      taskArn: t.arn,
      name: c.name,
      image: c.image,
      lastStatus: c.lastStatus,
      ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
      ...(c.reason !== undefined ? { reason: c.reason } : {}),
      ...(c.runtimeId !== undefined ? { runtimeId: c.runtimeId } : {}),
      cpu: c.cpu,
      ...(c.memory !== undefined ? { memory: c.memory } : {}),
      ...(t.eni
        ? { networkInterfaces: [{ attachmentId: t.eni.attachmentId, privateIpv4Address: t.eni.ip }] }
        : {}),
    })),
    overrides: JSON.parse(JSON.stringify(t.overrides)),
    availabilityZone: t.availabilityZone,
    group: t.group,
    enableExecuteCommand: t.enableExecuteCommand,
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt),
    version: t.version,
  };
  if (t.eni) {
    detail.attachments = [
      {
        id: t.eni.attachmentId,
        type: 'eni',
        status: t.eni.status,
        details: [
          { name: 'subnetId', value: t.eni.subnetId },
          { name: 'networkInterfaceId', value: t.eni.eniId },
          { name: 'macAddress', value: t.eni.mac },
          { name: 'privateIPv4Address', value: t.eni.ip },
        ],
      },
    ];
  }
  const optional: Partial<EcsTask> = {
    capacityProviderName: t.capacityProviderName,
    launchType: t.launchType,
    platformVersion: t.platformVersion,
    cpu: t.cpu,
    memory: t.memory,
    startedBy: t.startedBy,
    connectivity: t.connectivityAt !== undefined ? 'CONNECTED' : undefined,
    connectivityAt: when(t.connectivityAt),
    pullStartedAt: when(t.pullStartedAt),
    pullStoppedAt: when(t.pullStoppedAt),
    startedAt: when(t.startedAt),
    stoppingAt: when(t.stoppingAt),
    executionStoppedAt: when(t.executionStoppedAt),
    stoppedAt: when(t.stoppedAt),
    stopCode: t.stopCode,
    stoppedReason: t.stoppedReason,
  };
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) (detail as unknown as Record<string, unknown>)[k] = v;
  }
  return detail;
}

const EXIT_CODES: Partial<Record<TaskBehavior['outcome'], number>> = {
  complete: 0,
  fail: 1,
  crash: 1,
  'exit0-no-state': 0,
  oom: 137,
};

export interface LifecycleHooks {
  /** Called after every change (the version was incremented). */
  changed(task: TaskRecord): void;
  logs: LogsStore;
  durations: TaskDurations;
  behavior(): TaskBehaviorFn;
  prefectFetch: typeof fetch;
}

/**
 * Drives tasks through PROVISIONING → PENDING → ACTIVATING → RUNNING → (DEACTIVATING → STOPPING →)
 * DEPROVISIONING → STOPPED on timers, plays the Prefect engine inside the orchestration container and
 * writes its awslogs lines.
 */
export class TaskLifecycle {
  constructor(private readonly hooks: LifecycleHooks) {}

  private bump(t: TaskRecord, mutate: () => void): void {
    mutate();
    t.version += 1;
    t.updatedAt = Date.now();
    this.hooks.changed(t);
  }

  private later(t: TaskRecord, ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      t.timers.delete(timer);
      fn();
    }, ms);
    t.timers.add(timer);
  }

  private clearTimers(t: TaskRecord): void {
    for (const timer of t.timers) clearTimeout(timer);
    t.timers.clear();
  }

  private log(t: TaskRecord, lines: string[]): void {
    const c = t.containers.find((x) => x.name === t.orchestration);
    if (!c?.awslogs || lines.length === 0) return;
    if (!this.hooks.logs.groups.has(c.awslogs.group)) return;
    this.hooks.logs.put(c.awslogs.group, c.awslogs.stream, lines);
  }

  /** Starts the simulation of a task that RunTask just created (version 1, PROVISIONING). */
  start(t: TaskRecord): void {
    const d = this.hooks.durations;
    this.hooks.changed(t);
    this.later(t, d.provisioningMs, () => this.provisioned(t));
  }

  private behaviorOf(t: TaskRecord): TaskBehavior {
    if (!t.behavior) t.behavior = this.hooks.behavior()(taskEventDetail(t), { ...t.env });
    return t.behavior;
  }

  private provisioned(t: TaskRecord): void {
    const behavior = this.behaviorOf(t);
    if (t.startFailure !== undefined || behavior.outcome === 'fail-to-start') {
      const reason =
        behavior.stoppedReason ??
        t.startFailure ??
        'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s)';
      this.failToStart(t, reason, { removeContainers: true });
      return;
    }
    if (t.eni) t.eni.status = 'ATTACHED';
    this.bump(t, () => {
      t.lastStatus = 'PENDING';
      t.connectivityAt = Date.now();
      t.pullStartedAt = Date.now();
    });
    this.later(t, this.hooks.durations.pendingMs, () => this.pulled(t));
  }

  private pulled(t: TaskRecord): void {
    const behavior = this.behaviorOf(t);
    if (behavior.outcome === 'image-pull') {
      const image = t.containers.find((c) => c.name === t.orchestration)?.image ?? 'image';
      const reason =
        behavior.containerReason ??
        `CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref docker.io/${image}: not found`;
      for (const c of t.containers) c.reason = c.name === t.orchestration ? reason : undefined;
      this.failToStart(t, behavior.stoppedReason ?? reason, { removeContainers: false });
      return;
    }
    // awslogs: the log driver needs the group (or permission to create it) before containers start.
    for (const c of t.containers) {
      if (!c.awslogs) continue;
      if (!this.hooks.logs.groups.has(c.awslogs.group)) {
        if (c.awslogs.createGroup) this.hooks.logs.seedLogGroup(c.awslogs.group);
        else {
          this.failToStart(
            t,
            `ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1`,
            { removeContainers: false },
          );
          return;
        }
      }
    }
    t.pullStoppedAt = Date.now();
    const activating = this.hooks.durations.activatingMs;
    if (activating !== null) {
      this.bump(t, () => {
        t.lastStatus = 'ACTIVATING';
      });
      this.later(t, activating, () => this.running(t));
    } else this.running(t);
  }

  private running(t: TaskRecord): void {
    const behavior = this.behaviorOf(t);
    this.bump(t, () => {
      t.lastStatus = 'RUNNING';
      t.startedAt = Date.now();
      for (const c of t.containers) {
        c.lastStatus = 'RUNNING';
        c.runtimeId = `${t.id}-${Math.floor(Math.random() * 1e10)}`;
      }
    });
    for (const c of t.containers) {
      if (c.awslogs && this.hooks.logs.groups.has(c.awslogs.group)) {
        this.hooks.logs.createStream(c.awslogs.group, c.awslogs.stream);
      }
    }
    void this.play(t, behavior);
  }

  /** The orchestration container's run: the simulated Prefect engine, then the container exit. */
  private async play(t: TaskRecord, behavior: TaskBehavior): Promise<void> {
    const runMs = behavior.runMs ?? this.hooks.durations.runMs;
    const signal = t.abort.signal;
    const flowRunId = t.env.PREFECT__FLOW_RUN_ID;
    const apiUrl = t.env.PREFECT_API_URL;
    const engineOn = behavior.engine ?? (flowRunId !== undefined && apiUrl !== undefined);
    const ctx: EngineContext | null =
      engineOn && flowRunId && apiUrl
        ? {
            fetch: this.hooks.prefectFetch,
            apiUrl,
            flowRunId,
            signal,
            ...(t.env.PREFECT_API_KEY ? { apiKey: t.env.PREFECT_API_KEY } : {}),
            ...(t.env.PREFECT_API_AUTH_STRING ? { authString: t.env.PREFECT_API_AUTH_STRING } : {}),
          }
        : null;
    this.log(t, [`Starting flow run '${flowRunId ?? 'unknown'}'...`]);
    if (ctx) {
      const result = await proposeState(ctx, { type: 'RUNNING', name: 'Running' });
      if (result === 'cancelled' || signal.aborted) return;
      if (result === 'abort' || result === 'reject') {
        this.log(t, [`Flow run '${flowRunId}' was not allowed to run (${result}); exiting.`]);
        this.exit(t, 0, undefined);
        return;
      }
      if (result === 'error') {
        this.log(t, [
          'Traceback (most recent call last):',
          'prefect.exceptions.PrefectHTTPStatusError: could not set the Running state',
        ]);
        this.exit(t, 1, undefined);
        return;
      }
    }
    if (behavior.outcome === 'hang') return;
    await sleep(runMs, signal);
    if (signal.aborted) return;
    switch (behavior.outcome) {
      case 'spot-interruption':
        this.interruptSpot(t);
        return;
      case 'oom':
        this.exit(
          t,
          behavior.exitCode ?? 137,
          behavior.containerReason ?? 'OutOfMemoryError: Container killed due to memory usage',
        );
        return;
      case 'crash':
        this.log(t, [
          'Traceback (most recent call last):',
          '  File "/usr/local/lib/python3.12/site-packages/prefect/engine.py", line 42, in <module>',
          'RuntimeError: simulated crash (STEVEDORE_SIM_OUTCOME=crash)',
        ]);
        this.exit(t, behavior.exitCode ?? 1, behavior.containerReason);
        return;
      case 'exit0-no-state':
        this.log(t, ['Exiting without reporting a final state.']);
        this.exit(t, behavior.exitCode ?? 0, behavior.containerReason);
        return;
      case 'fail':
      case 'complete': {
        const failed = behavior.outcome === 'fail';
        if (ctx) {
          const state = failed
            ? {
                type: 'FAILED',
                name: 'Failed',
                message: 'Flow run encountered an exception: ValueError: simulated failure',
              }
            : { type: 'COMPLETED', name: 'Completed' };
          const result = await proposeState(ctx, state);
          if (result === 'cancelled' || signal.aborted) return;
        }
        this.log(t, [
          failed
            ? "Finished in state Failed('Flow run encountered an exception: ValueError: simulated failure')"
            : 'Finished in state Completed()',
        ]);
        this.exit(t, behavior.exitCode ?? EXIT_CODES[behavior.outcome] ?? 0, behavior.containerReason);
        return;
      }
      default:
        this.exit(t, behavior.exitCode ?? 1, behavior.containerReason);
    }
  }

  /** The essential (orchestration) container exits: the task stops with EssentialContainerExited. */
  private exit(t: TaskRecord, exitCode: number, reason: string | undefined): void {
    if (t.lastStatus === 'STOPPED' || t.desiredStatus === 'STOPPED') return;
    const now = Date.now();
    this.bump(t, () => {
      t.desiredStatus = 'STOPPED';
      t.stoppingAt = now;
      t.executionStoppedAt = now;
      t.stopCode = 'EssentialContainerExited';
      t.stoppedReason = t.behavior?.stoppedReason ?? 'Essential container in task exited';
      for (const c of t.containers) {
        c.lastStatus = 'STOPPED';
        c.exitCode = c.name === t.orchestration ? exitCode : 0;
        if (c.name === t.orchestration && reason !== undefined) c.reason = reason;
      }
    });
    this.wind(t);
  }

  private failToStart(t: TaskRecord, reason: string, opts: { removeContainers: boolean }): void {
    const now = Date.now();
    this.bump(t, () => {
      t.desiredStatus = 'STOPPED';
      t.stoppingAt = now;
      t.executionStoppedAt = now;
      t.stopCode = 'TaskFailedToStart';
      t.stoppedReason = reason;
      if (opts.removeContainers) t.containers = [];
      for (const c of t.containers) c.lastStatus = 'STOPPED';
    });
    this.wind(t);
  }

  /** StopTask: the task is stopped by the user, with exit code 143 if its containers were running. */
  stop(t: TaskRecord, reason: string): void {
    if (t.desiredStatus === 'STOPPED' || t.lastStatus === 'STOPPED') return;
    this.clearTimers(t);
    t.abort.abort();
    const wasRunning = t.lastStatus === 'RUNNING';
    const now = Date.now();
    this.bump(t, () => {
      t.desiredStatus = 'STOPPED';
      t.stoppingAt = now;
      t.stopCode = 'UserInitiated';
      t.stoppedReason = reason;
    });
    this.later(t, 5, () => {
      this.bump(t, () => {
        t.executionStoppedAt = Date.now();
        for (const c of t.containers) {
          c.lastStatus = 'STOPPED';
          if (wasRunning) c.exitCode = 143;
        }
      });
      this.wind(t);
    });
  }

  /** Fargate Spot reclaims the capacity: SIGTERM, containers stop with no recorded exit code. */
  interruptSpot(t: TaskRecord): void {
    if (t.desiredStatus === 'STOPPED' || t.lastStatus === 'STOPPED') return;
    this.clearTimers(t);
    t.abort.abort();
    const now = Date.now();
    this.bump(t, () => {
      t.desiredStatus = 'STOPPED';
      t.stoppingAt = now;
      t.executionStoppedAt = now;
      t.stopCode = 'SpotInterruption';
      t.stoppedReason = t.behavior?.stoppedReason ?? 'Your Spot Task was interrupted.';
      for (const c of t.containers) c.lastStatus = 'STOPPED';
    });
    this.wind(t);
  }

  /** RUNNING/stopping → (DEACTIVATING →) (STOPPING →) DEPROVISIONING → STOPPED. */
  private wind(t: TaskRecord): void {
    this.clearTimers(t);
    const d = this.hooks.durations;
    const steps: { status: EcsTaskStatus; ms: number }[] = [];
    if (d.deactivatingMs !== null && t.lastStatus === 'RUNNING')
      steps.push({ status: 'DEACTIVATING', ms: d.deactivatingMs });
    if (d.stoppingMs !== null) steps.push({ status: 'STOPPING', ms: d.stoppingMs });
    if (t.eni) steps.push({ status: 'DEPROVISIONING', ms: d.deprovisioningMs });
    const next = (i: number): void => {
      const step = steps[i];
      if (!step) {
        this.bump(t, () => {
          t.lastStatus = 'STOPPED';
          t.stoppedAt = Date.now();
          if (t.eni) t.eni.status = 'DELETED';
          for (const c of t.containers) c.lastStatus = 'STOPPED';
        });
        return;
      }
      this.bump(t, () => {
        t.lastStatus = step.status;
        if (step.status === 'DEPROVISIONING' && t.eni) t.eni.status = 'DETACHED';
      });
      this.later(t, step.ms, () => next(i + 1));
    };
    this.later(t, 1, () => next(0));
  }

  /** Stops all timers and engines (emulator shutdown). */
  dispose(t: TaskRecord): void {
    this.clearTimers(t);
    t.abort.abort();
  }
}

export { defaultTaskBehavior };
