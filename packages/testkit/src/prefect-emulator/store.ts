import type {
  JsonObject,
  JsonValue,
  PrefectMode,
  SeedBlockDocumentInput,
  SeedDeploymentInput,
  SeedFlowInput,
  SeedFlowRunInput,
  SeedVariableInput,
  SeedWorkPoolInput,
  SeedWorkQueueInput,
  StateType,
} from './types.js';
import { deepCopy, defaultStateName, newId, randomSlug, toEpochMs } from './util.js';

/** In-memory records. Times are epoch milliseconds; serialisation to a mode's JSON is in serialize.ts. */

export interface StateDetailsRecord {
  flow_run_id: string | null;
  task_run_id: string | null;
  child_flow_run_id: string | null;
  scheduled_time: number | null;
  cache_key: string | null;
  cache_expiration: number | null;
  deferred: boolean | null;
  untrackable_result: boolean;
  pause_timeout: number | null;
  pause_reschedule: boolean;
  pause_key: string | null;
  run_input_keyset: Record<string, string> | null;
  refresh_cache: boolean | null;
  retriable: boolean | null;
  transition_id: string | null;
  task_parameters_id: string | null;
  traceparent: string | null;
  deployment_concurrency_lease_id: string | null;
}

export interface StateRecord {
  id: string;
  type: StateType;
  name: string;
  timestamp: number;
  message: string | null;
  data: JsonValue;
  details: StateDetailsRecord;
}

export interface WorkQueueRecord {
  id: string;
  created: number;
  updated: number;
  name: string;
  description: string | null;
  is_paused: boolean;
  concurrency_limit: number | null;
  priority: number;
  work_pool_id: string;
  last_polled: number | null;
}

export interface WorkPoolRecord {
  id: string;
  created: number;
  updated: number;
  name: string;
  description: string | null;
  type: string;
  base_job_template: JsonObject;
  is_paused: boolean;
  concurrency_limit: number | null;
  default_queue_id: string;
  storage_configuration: JsonObject;
  queues: WorkQueueRecord[];
}

export interface WorkerRecord {
  id: string;
  name: string;
  work_pool_id: string;
  created: number;
  last_heartbeat_time: number;
  heartbeat_interval_seconds: number | null;
  heartbeat_count: number;
}

export interface FlowRecord {
  id: string;
  created: number;
  updated: number;
  name: string;
  tags: string[];
  labels: Record<string, string | number | boolean>;
}

export interface DeploymentRecord {
  id: string;
  created: number;
  updated: number;
  name: string;
  flow_id: string;
  version: string | null;
  description: string | null;
  job_variables: JsonObject;
  parameters: JsonObject;
  tags: string[];
  work_pool_name: string;
  work_queue_name: string;
  concurrency_limit: number | null;
  concurrency_limit_id: string | null;
  collision_strategy: 'ENQUEUE' | 'CANCEL_NEW' | null;
  entrypoint: string | null;
  path: string | null;
  pull_steps: JsonObject[] | null;
  last_polled: number | null;
}

export interface FlowRunPolicyRecord {
  retries: number | null;
  retry_delay: number | null;
  pause_keys: string[];
  resuming: boolean;
  retry_type: 'in_process' | 'reschedule' | null;
}

export interface FlowRunRecord {
  id: string;
  created: number;
  updated: number;
  name: string;
  flow_id: string;
  deployment_id: string | null;
  work_queue_id: string | null;
  work_queue_name: string | null;
  parameters: JsonObject;
  tags: string[];
  labels: Record<string, string | number | boolean>;
  job_variables: JsonObject | null;
  state: StateRecord | null;
  history: StateRecord[];
  run_count: number;
  expected_start_time: number | null;
  next_scheduled_start_time: number | null;
  start_time: number | null;
  end_time: number | null;
  total_run_time: number;
  infrastructure_pid: string | null;
  flow_version: string | null;
  empirical_policy: FlowRunPolicyRecord;
  /** Holds a deployment concurrency slot (acquired by an accepted PENDING proposal). */
  holds_deployment_slot: boolean;
}

export interface BlockDocumentRecord {
  id: string;
  created: number;
  updated: number;
  name: string;
  data: JsonObject;
  secret_fields: string[];
  block_type: { id: string; created: number; updated: number; name: string; slug: string };
  block_schema: { id: string; created: number; updated: number; checksum: string };
}

export interface VariableRecord {
  id: string;
  created: number;
  updated: number;
  name: string;
  value: JsonValue;
  tags: string[];
}

export interface LogRecord {
  id: string;
  received: number;
  name: string;
  level: number;
  message: string;
  timestamp: number;
  flow_run_id: string | null;
  task_run_id: string | null;
}

export const TERMINAL_STATES: ReadonlySet<StateType> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'CRASHED',
]);

export function emptyDetails(): StateDetailsRecord {
  return {
    flow_run_id: null,
    task_run_id: null,
    child_flow_run_id: null,
    scheduled_time: null,
    cache_key: null,
    cache_expiration: null,
    deferred: false,
    untrackable_result: false,
    pause_timeout: null,
    pause_reschedule: false,
    pause_key: null,
    run_input_keyset: null,
    refresh_cache: null,
    retriable: null,
    transition_id: null,
    task_parameters_id: null,
    traceparent: null,
    deployment_concurrency_lease_id: null,
  };
}

export class EmulatorError extends Error {}

/** The emulated server's database. Only the orchestration module changes run states. */
export class Store {
  readonly pools = new Map<string, WorkPoolRecord>();
  readonly workers: WorkerRecord[] = [];
  readonly flows = new Map<string, FlowRecord>();
  readonly deployments = new Map<string, DeploymentRecord>();
  readonly flowRuns = new Map<string, FlowRunRecord>();
  readonly blockDocuments = new Map<string, BlockDocumentRecord>();
  readonly variables = new Map<string, VariableRecord>();
  readonly logs: LogRecord[] = [];
  /** Block types by slug, created on demand by block document seeding. */
  private readonly blockTypes = new Map<string, BlockDocumentRecord['block_type']>();

  constructor(
    readonly mode: PrefectMode,
    private readonly rng: () => number,
  ) {}

  // ------------------------------------------------------------ lookups

  poolByName(name: string): WorkPoolRecord | undefined {
    return this.pools.get(name);
  }

  poolById(id: string): WorkPoolRecord | undefined {
    for (const pool of this.pools.values()) if (pool.id === id) return pool;
    return undefined;
  }

  queueById(id: string | null): { queue: WorkQueueRecord; pool: WorkPoolRecord } | undefined {
    if (!id) return undefined;
    for (const pool of this.pools.values()) {
      const queue = pool.queues.find((q) => q.id === id);
      if (queue) return { queue, pool };
    }
    return undefined;
  }

  /** Runs currently holding deployment `id`'s concurrency slots. */
  deploymentActiveSlots(id: string): number {
    let n = 0;
    for (const run of this.flowRuns.values()) if (run.deployment_id === id && run.holds_deployment_slot) n++;
    return n;
  }

  // ------------------------------------------------------------ writes used by handlers and seeding

  createWorkPool(
    input: {
      name: string;
      type?: string;
      description?: string | null;
      base_job_template?: JsonObject;
      is_paused?: boolean;
      concurrency_limit?: number | null;
      storage_configuration?: JsonObject;
    },
    queues: readonly SeedWorkQueueInput[] = [],
  ): WorkPoolRecord {
    if (this.pools.has(input.name)) throw new EmulatorError(`Work pool ${input.name} already exists`);
    const now = Date.now();
    const pool: WorkPoolRecord = {
      id: newId(),
      created: now,
      updated: now,
      name: input.name,
      description: input.description ?? null,
      type: input.type ?? 'prefect-agent',
      base_job_template: deepCopy(input.base_job_template ?? {}),
      is_paused: input.is_paused ?? false,
      concurrency_limit: input.concurrency_limit ?? null,
      default_queue_id: '',
      storage_configuration: {
        bundle_upload_step: null,
        bundle_execution_step: null,
        default_result_storage_block_id: null,
        ...(input.storage_configuration ?? {}),
      },
      queues: [],
    };
    const defaultSpec = queues.find((q) => q.name === 'default') ?? {
      name: 'default',
      description: "The work pool's default queue.",
    };
    const defaultQueue = this.addQueue(pool, { priority: 1, ...defaultSpec });
    pool.default_queue_id = defaultQueue.id;
    for (const q of queues) if (q.name !== 'default') this.addQueue(pool, q);
    this.pools.set(pool.name, pool);
    return pool;
  }

  addQueue(pool: WorkPoolRecord, spec: SeedWorkQueueInput): WorkQueueRecord {
    const existing = pool.queues.find((q) => q.name === spec.name);
    if (existing) return existing;
    const now = Date.now();
    const maxPriority = pool.queues.reduce((m, q) => Math.max(m, q.priority), 0);
    const queue: WorkQueueRecord = {
      id: newId(),
      created: now,
      updated: now,
      name: spec.name,
      description: spec.description ?? '',
      is_paused: spec.is_paused ?? false,
      concurrency_limit: spec.concurrency_limit ?? null,
      priority: spec.priority ?? maxPriority + 1,
      work_pool_id: pool.id,
      last_polled: null,
    };
    pool.queues.push(queue);
    return queue;
  }

  deleteWorkPool(name: string): boolean {
    const pool = this.pools.get(name);
    if (!pool) return false;
    const queueIds = new Set(pool.queues.map((q) => q.id));
    for (const run of this.flowRuns.values()) {
      if (run.work_queue_id && queueIds.has(run.work_queue_id)) run.work_queue_id = null;
    }
    for (let i = this.workers.length - 1; i >= 0; i--) {
      if (this.workers[i]?.work_pool_id === pool.id) this.workers.splice(i, 1);
    }
    this.pools.delete(name);
    return true;
  }

  recordHeartbeat(pool: WorkPoolRecord, name: string, intervalSeconds: number | null): WorkerRecord {
    const now = Date.now();
    let worker = this.workers.find((w) => w.work_pool_id === pool.id && w.name === name);
    if (!worker) {
      worker = {
        id: newId(),
        name,
        work_pool_id: pool.id,
        created: now,
        last_heartbeat_time: now,
        heartbeat_interval_seconds: intervalSeconds,
        heartbeat_count: 0,
      };
      this.workers.push(worker);
    }
    worker.last_heartbeat_time = now;
    worker.heartbeat_interval_seconds = intervalSeconds;
    worker.heartbeat_count += 1;
    return worker;
  }

  // ------------------------------------------------------------ seeding

  seedWorkPool(input: SeedWorkPoolInput): WorkPoolRecord {
    return this.createWorkPool(
      {
        name: input.name,
        type: input.type ?? 'ecs',
        description: input.description ?? null,
        base_job_template: input.base_job_template ?? {},
        is_paused: input.is_paused ?? false,
        concurrency_limit: input.concurrency_limit ?? null,
      },
      input.queues ?? [],
    );
  }

  seedFlow(input: SeedFlowInput): FlowRecord {
    const now = Date.now();
    const flow: FlowRecord = {
      id: newId(),
      created: now,
      updated: now,
      name: input.name,
      tags: [...(input.tags ?? [])],
      labels: { ...(input.labels ?? {}) },
    };
    this.flows.set(flow.id, flow);
    return flow;
  }

  seedDeployment(input: SeedDeploymentInput): DeploymentRecord {
    if (!this.flows.has(input.flow_id)) throw new EmulatorError(`Unknown flow ${input.flow_id}`);
    const pool = this.pools.get(input.work_pool_name);
    if (!pool) throw new EmulatorError(`Unknown work pool ${input.work_pool_name}`);
    const hasLimit = input.concurrency_limit !== undefined && input.concurrency_limit !== null;
    if (this.mode === '2' && hasLimit) {
      throw new EmulatorError('Prefect 2.12 has no deployment concurrency limits');
    }
    const queueName = input.work_queue_name ?? 'default';
    this.addQueue(pool, { name: queueName });
    const now = Date.now();
    const deployment: DeploymentRecord = {
      id: newId(),
      created: now,
      updated: now,
      name: input.name,
      flow_id: input.flow_id,
      version: input.version ?? null,
      description: null,
      job_variables: deepCopy(input.job_variables ?? {}),
      parameters: deepCopy(input.parameters ?? {}),
      tags: [...(input.tags ?? [])],
      work_pool_name: pool.name,
      work_queue_name: queueName,
      concurrency_limit: hasLimit ? (input.concurrency_limit ?? null) : null,
      concurrency_limit_id: hasLimit ? newId() : null,
      collision_strategy: hasLimit ? (input.collision_strategy ?? null) : null,
      entrypoint: input.entrypoint === undefined ? 'flows/main.py:main' : input.entrypoint,
      path: input.path ?? null,
      pull_steps: input.pull_steps === undefined ? null : deepCopy(input.pull_steps),
      last_polled: null,
    };
    this.deployments.set(deployment.id, deployment);
    return deployment;
  }

  seedFlowRun(input: SeedFlowRunInput): FlowRunRecord {
    const flow = this.flows.get(input.flow_id);
    if (!flow) throw new EmulatorError(`Unknown flow ${input.flow_id}`);
    const deployment = input.deployment_id ? this.deployments.get(input.deployment_id) : undefined;
    if (input.deployment_id && !deployment)
      throw new EmulatorError(`Unknown deployment ${input.deployment_id}`);
    if (this.mode === '2' && input.job_variables) {
      throw new EmulatorError('Prefect 2.12 flow runs have no job_variables');
    }
    const poolName = input.work_pool_name ?? deployment?.work_pool_name;
    const pool = poolName ? this.pools.get(poolName) : undefined;
    if (poolName && !pool) throw new EmulatorError(`Unknown work pool ${poolName}`);
    const queueName = input.work_queue_name ?? deployment?.work_queue_name ?? 'default';
    const queue = pool ? this.addQueue(pool, { name: queueName }) : undefined;
    const now = Date.now();
    const scheduled =
      input.next_scheduled_start_time === undefined ? now : toEpochMs(input.next_scheduled_start_time);
    const type: StateType = input.state ?? 'SCHEDULED';
    const id = newId();
    const details = emptyDetails();
    details.flow_run_id = id;
    if (type === 'SCHEDULED' || type === 'PENDING') details.scheduled_time = scheduled;
    const state: StateRecord = {
      id: newId(),
      type,
      name: input.state_name ?? defaultStateName(type),
      timestamp: now,
      message: null,
      data: null,
      details,
    };
    const labels: Record<string, string | number | boolean> = { ...flow.labels };
    labels['prefect.flow.id'] = flow.id;
    if (deployment) labels['prefect.deployment.id'] = deployment.id;
    Object.assign(labels, input.labels ?? {});
    const started = type === 'RUNNING' || TERMINAL_STATES.has(type) || type === 'CANCELLING';
    const run: FlowRunRecord = {
      id,
      created: now,
      updated: now,
      name: input.name ?? randomSlug(this.rng),
      flow_id: flow.id,
      deployment_id: deployment?.id ?? null,
      work_queue_id: queue?.id ?? null,
      work_queue_name: queue ? queueName : null,
      parameters: deepCopy(input.parameters ?? {}),
      tags: [...(input.tags ?? deployment?.tags ?? [])],
      labels,
      job_variables:
        this.mode === '3' && input.job_variables !== null ? deepCopy(input.job_variables ?? {}) : null,
      state,
      history: [state],
      run_count: started ? 1 : 0,
      expected_start_time: scheduled,
      next_scheduled_start_time: type === 'SCHEDULED' ? scheduled : null,
      start_time: started ? now : null,
      end_time: TERMINAL_STATES.has(type) ? now : null,
      total_run_time: 0,
      infrastructure_pid: input.infrastructure_pid ?? null,
      flow_version: null,
      empirical_policy: {
        retries: null,
        retry_delay: null,
        pause_keys: [],
        resuming: false,
        retry_type: null,
      },
      holds_deployment_slot:
        deployment?.concurrency_limit !== null &&
        deployment?.concurrency_limit !== undefined &&
        (type === 'PENDING' || type === 'RUNNING' || type === 'CANCELLING'),
    };
    this.flowRuns.set(run.id, run);
    return run;
  }

  seedBlockDocument(input: SeedBlockDocumentInput): BlockDocumentRecord {
    for (const doc of this.blockDocuments.values()) {
      if (doc.name === input.name && doc.block_type.slug === input.block_type_slug) {
        throw new EmulatorError(`Block document ${input.block_type_slug}/${input.name} already exists`);
      }
    }
    const now = Date.now();
    let blockType = this.blockTypes.get(input.block_type_slug);
    if (!blockType) {
      blockType = {
        id: newId(),
        created: now,
        updated: now,
        name: input.block_type_name ?? titleFromSlug(input.block_type_slug),
        slug: input.block_type_slug,
      };
      this.blockTypes.set(blockType.slug, blockType);
    }
    const doc: BlockDocumentRecord = {
      id: newId(),
      created: now,
      updated: now,
      name: input.name,
      data: deepCopy(input.data),
      secret_fields: [...(input.secret_fields ?? [])],
      block_type: blockType,
      block_schema: {
        id: newId(),
        created: now,
        updated: now,
        checksum: `sha256:${newId().replace(/-/g, '')}${newId().replace(/-/g, '')}`,
      },
    };
    this.blockDocuments.set(doc.id, doc);
    return doc;
  }

  seedVariable(input: SeedVariableInput): VariableRecord {
    if (this.mode === '2' && typeof input.value !== 'string') {
      throw new EmulatorError('Prefect 2.12 variables are strings');
    }
    for (const v of this.variables.values()) {
      if (v.name === input.name) throw new EmulatorError(`Variable ${input.name} already exists`);
    }
    const now = Date.now();
    const variable: VariableRecord = {
      id: newId(),
      created: now,
      updated: now,
      name: input.name,
      value: deepCopy(input.value),
      tags: [...(input.tags ?? [])],
    };
    this.variables.set(variable.id, variable);
    return variable;
  }
}

function titleFromSlug(slug: string): string {
  return slug
    .split('-')
    .map((w) => (w.length > 0 ? w.charAt(0).toUpperCase() + w.slice(1) : w))
    .join(' ');
}
