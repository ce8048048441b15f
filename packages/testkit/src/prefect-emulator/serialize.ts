import type {
  BlockDocumentRecord,
  DeploymentRecord,
  FlowRecord,
  FlowRunRecord,
  LogRecord,
  StateRecord,
  Store,
  VariableRecord,
  WorkerRecord,
  WorkPoolRecord,
  WorkQueueRecord,
} from './store.js';
import type {
  BlockDocumentJson,
  DeploymentJson,
  FlowJson,
  FlowRunJson,
  JsonObject,
  JsonValue,
  LogJson,
  PrefectMode,
  StateDetailsJson,
  StateJson,
  VariableJson,
  WorkerJson,
  WorkPoolJson,
  WorkQueueJson,
} from './types.js';
import { deepCopy, formatNullableTime, formatTime, isJsonObject } from './util.js';

/**
 * Records → the JSON each mode's server returns. Prefect 3 objects carry the pydantic v2 models' full field
 * sets; Prefect 2 objects carry only what the 2.12 models have (no labels, no job_variables, deployments
 * with `infra_overrides`, ...). The response validator closes every schema, so a stray field fails.
 */
export class Serializer {
  constructor(
    private readonly store: Store,
    private readonly mode: PrefectMode,
  ) {}

  /** An epoch-millisecond time in this mode's JSON form. */
  time(ms: number): string {
    return formatTime(ms, this.mode);
  }

  private t(ms: number): string {
    return formatTime(ms, this.mode);
  }

  private tn(ms: number | null): string | null {
    return formatNullableTime(ms, this.mode);
  }

  state(state: StateRecord): StateJson {
    const d = state.details;
    const details: StateDetailsJson = {
      flow_run_id: d.flow_run_id,
      task_run_id: d.task_run_id,
      child_flow_run_id: d.child_flow_run_id,
      scheduled_time: this.tn(d.scheduled_time),
      cache_key: d.cache_key,
      cache_expiration: this.tn(d.cache_expiration),
      untrackable_result: d.untrackable_result,
      pause_timeout: this.tn(d.pause_timeout),
      pause_reschedule: d.pause_reschedule,
      pause_key: d.pause_key,
      refresh_cache: d.refresh_cache,
    };
    if (this.mode === '3') {
      details.deferred = d.deferred;
      details.run_input_keyset = d.run_input_keyset;
      details.retriable = d.retriable;
      details.transition_id = d.transition_id;
      details.task_parameters_id = d.task_parameters_id;
      details.traceparent = d.traceparent;
      details.deployment_concurrency_lease_id = d.deployment_concurrency_lease_id;
    }
    return {
      id: state.id,
      type: state.type,
      name: state.name,
      timestamp: this.t(state.timestamp),
      message: state.message,
      data: deepCopy(state.data),
      state_details: details,
    };
  }

  /**
   * `variant: 'response'` is FlowRunResponse (GET, filter); `'core'` is the core FlowRun embedded in
   * `get_scheduled_flow_runs`, which the server loads without its state relationship (`state: null`).
   */
  flowRun(run: FlowRunRecord, variant: 'response' | 'core' = 'response'): FlowRunJson {
    const now = Date.now();
    const located = this.store.queueById(run.work_queue_id);
    const running = run.state?.type === 'RUNNING';
    const estimatedRunTime =
      run.total_run_time + (running && run.state ? (now - run.state.timestamp) / 1000 : 0);
    let startDelta = 0;
    if (run.expected_start_time !== null) {
      if (run.start_time !== null)
        startDelta = Math.max(0, (run.start_time - run.expected_start_time) / 1000);
      else if (run.state && !['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'].includes(run.state.type)) {
        startDelta = Math.max(0, (now - run.expected_start_time) / 1000);
      }
    }
    const policy: FlowRunJson['empirical_policy'] = {
      max_retries: 0,
      retry_delay_seconds: 0,
      retries: run.empirical_policy.retries,
      retry_delay: run.empirical_policy.retry_delay,
      pause_keys: [...run.empirical_policy.pause_keys],
      resuming: run.empirical_policy.resuming,
    };
    if (this.mode === '3') policy.retry_type = run.empirical_policy.retry_type;
    const out: FlowRunJson = {
      id: run.id,
      created: this.t(run.created),
      updated: this.t(run.updated),
      name: run.name,
      flow_id: run.flow_id,
      state_id: run.state?.id ?? null,
      deployment_id: run.deployment_id,
      work_queue_id: located ? run.work_queue_id : null,
      work_queue_name: run.work_queue_name,
      flow_version: run.flow_version,
      parameters: deepCopy(run.parameters),
      idempotency_key: null,
      context: {},
      empirical_policy: policy,
      tags: [...run.tags],
      parent_task_run_id: null,
      state_type: run.state?.type ?? null,
      state_name: run.state?.name ?? null,
      run_count: run.run_count,
      expected_start_time: this.tn(run.expected_start_time),
      next_scheduled_start_time: this.tn(run.next_scheduled_start_time),
      start_time: this.tn(run.start_time),
      end_time: this.tn(run.end_time),
      total_run_time: run.total_run_time,
      estimated_run_time: estimatedRunTime,
      estimated_start_time_delta: startDelta,
      auto_scheduled: false,
      infrastructure_document_id: null,
      infrastructure_pid: run.infrastructure_pid,
      created_by: null,
      state: variant === 'core' || !run.state ? null : this.state(run.state),
    };
    if (variant === 'response') {
      out.work_pool_id = located?.pool.id ?? null;
      out.work_pool_name = located?.pool.name ?? null;
    }
    if (this.mode === '3') {
      out.deployment_version = null;
      out.labels = { ...run.labels };
      out.job_variables = run.job_variables === null ? null : deepCopy(run.job_variables);
    }
    return out;
  }

  workPool(pool: WorkPoolRecord): WorkPoolJson {
    const out: WorkPoolJson = {
      id: pool.id,
      created: this.t(pool.created),
      updated: this.t(pool.updated),
      name: pool.name,
      description: pool.description,
      type: pool.type,
      base_job_template: deepCopy(pool.base_job_template),
      is_paused: pool.is_paused,
      concurrency_limit: pool.concurrency_limit,
      default_queue_id: pool.default_queue_id,
    };
    if (this.mode === '3') {
      out.status = this.poolStatus(pool);
      out.storage_configuration = deepCopy(pool.storage_configuration);
      out.active_slots = pool.concurrency_limit === null ? null : this.poolActiveSlots(pool);
    }
    return out;
  }

  poolStatus(pool: WorkPoolRecord): 'READY' | 'NOT_READY' | 'PAUSED' {
    if (pool.is_paused) return 'PAUSED';
    return this.store.workers.some((w) => w.work_pool_id === pool.id && this.workerOnline(w))
      ? 'READY'
      : 'NOT_READY';
  }

  poolActiveSlots(pool: WorkPoolRecord): number {
    const ids = new Set(pool.queues.map((q) => q.id));
    let n = 0;
    for (const run of this.store.flowRuns.values()) {
      if (run.work_queue_id && ids.has(run.work_queue_id) && isSlotHolder(run)) n++;
    }
    return n;
  }

  workerOnline(worker: WorkerRecord): boolean {
    const interval = worker.heartbeat_interval_seconds ?? 30;
    return Date.now() - worker.last_heartbeat_time < interval * 3 * 1000;
  }

  workQueueJson(queue: WorkQueueRecord, pool: WorkPoolRecord): WorkQueueJson {
    return {
      id: queue.id,
      created: this.t(queue.created),
      updated: this.t(queue.updated),
      name: queue.name,
      description: queue.description,
      is_paused: queue.is_paused,
      concurrency_limit: queue.concurrency_limit,
      priority: queue.priority,
      work_pool_id: pool.id,
      work_pool_name: pool.name,
      last_polled: this.tn(queue.last_polled),
      status: queue.is_paused
        ? 'PAUSED'
        : queue.last_polled !== null && Date.now() - queue.last_polled < 60_000
          ? 'READY'
          : 'NOT_READY',
    };
  }

  /** WorkQueueResponse as the API returns it (mode-specific field set). */
  workQueue(queue: WorkQueueRecord, pool: WorkPoolRecord): JsonObject {
    const base = this.workQueueJson(queue, pool);
    const out: JsonObject = {
      id: base.id,
      created: base.created,
      updated: base.updated,
      name: base.name,
      description: base.description,
      is_paused: base.is_paused,
      concurrency_limit: base.concurrency_limit,
      priority: base.priority,
      work_pool_id: base.work_pool_id,
      filter: null,
      last_polled: base.last_polled,
      work_pool_name: base.work_pool_name,
    };
    if (this.mode === '3') {
      out.status = base.status;
      out.active_slots = queue.concurrency_limit === null ? null : this.queueActiveSlots(queue);
    }
    return out;
  }

  queueActiveSlots(queue: WorkQueueRecord): number {
    let n = 0;
    for (const run of this.store.flowRuns.values())
      if (run.work_queue_id === queue.id && isSlotHolder(run)) n++;
    return n;
  }

  /**
   * A worker as `POST /work_pools/{name}/workers/filter` returns it: 3.x `WorkerResponse` (with the promised
   * heartbeat interval and a status derived from it), 2.12 `Worker` (no interval, no status).
   */
  poolWorker(worker: WorkerRecord): JsonObject {
    const base: JsonObject = {
      id: worker.id,
      created: this.t(worker.created),
      updated: this.t(worker.last_heartbeat_time),
      name: worker.name,
      work_pool_id: worker.work_pool_id,
      last_heartbeat_time: this.t(worker.last_heartbeat_time),
    };
    if (this.mode === '2') return base;
    return {
      ...base,
      heartbeat_interval_seconds: worker.heartbeat_interval_seconds,
      status: this.workerOnline(worker) ? 'ONLINE' : 'OFFLINE',
    };
  }

  worker(worker: WorkerRecord): WorkerJson {
    const pool = this.store.poolById(worker.work_pool_id);
    return {
      id: worker.id,
      name: worker.name,
      work_pool_name: pool?.name ?? '',
      work_pool_id: worker.work_pool_id,
      created: this.t(worker.created),
      last_heartbeat_time: this.t(worker.last_heartbeat_time),
      heartbeat_interval_seconds: worker.heartbeat_interval_seconds,
      heartbeat_count: worker.heartbeat_count,
      status: this.workerOnline(worker) ? 'ONLINE' : 'OFFLINE',
    };
  }

  flow(flow: FlowRecord): FlowJson {
    const out: FlowJson = {
      id: flow.id,
      created: this.t(flow.created),
      updated: this.t(flow.updated),
      name: flow.name,
      tags: [...flow.tags],
    };
    if (this.mode === '3') out.labels = { ...flow.labels };
    return out;
  }

  deployment(d: DeploymentRecord): DeploymentJson {
    const pool = this.store.poolByName(d.work_pool_name);
    const queue = pool?.queues.find((q) => q.name === d.work_queue_name);
    const common: DeploymentJson = {
      id: d.id,
      created: this.t(d.created),
      updated: this.t(d.updated),
      name: d.name,
      version: d.version,
      description: d.description,
      flow_id: d.flow_id,
      parameters: deepCopy(d.parameters),
      tags: [...d.tags],
      work_queue_name: d.work_queue_name,
      work_pool_name: d.work_pool_name,
      path: d.path,
      pull_steps: d.pull_steps === null ? null : deepCopy(d.pull_steps),
      entrypoint: d.entrypoint,
      parameter_openapi_schema: { title: 'Parameters', type: 'object', properties: {} },
      storage_document_id: null,
      infrastructure_document_id: null,
      created_by: null,
      updated_by: null,
    };
    if (this.mode === '2') {
      return {
        ...common,
        schedule: null,
        is_schedule_active: true,
        infra_overrides: deepCopy(d.job_variables),
        manifest_path: null,
      };
    }
    const limit =
      d.concurrency_limit === null || d.concurrency_limit_id === null
        ? null
        : {
            id: d.concurrency_limit_id,
            created: this.t(d.created),
            updated: this.t(d.updated),
            active: true,
            name: `deployment:${d.id}`,
            limit: d.concurrency_limit,
            active_slots: this.store.deploymentActiveSlots(d.id),
            slot_decay_per_second: 0,
          };
    const flow = this.store.flows.get(d.flow_id);
    return {
      ...common,
      paused: false,
      schedules: [],
      concurrency_limit: null,
      global_concurrency_limit: limit,
      concurrency_options: d.collision_strategy
        ? { collision_strategy: d.collision_strategy, grace_period_seconds: null }
        : null,
      job_variables: deepCopy(d.job_variables),
      labels: { ...(flow?.labels ?? {}), 'prefect.flow.id': d.flow_id },
      work_queue_id: queue?.id ?? null,
      last_polled: this.tn(d.last_polled),
      status: d.last_polled !== null && Date.now() - d.last_polled < 60_000 ? 'READY' : 'NOT_READY',
      enforce_parameter_schema: true,
    };
  }

  blockDocument(doc: BlockDocumentRecord, includeSecrets: boolean): BlockDocumentJson {
    const blockType: JsonObject = {
      id: doc.block_type.id,
      created: this.t(doc.block_type.created),
      updated: this.t(doc.block_type.updated),
      name: doc.block_type.name,
      slug: doc.block_type.slug,
      logo_url: null,
      documentation_url: null,
      description: null,
      code_example: null,
      is_protected: false,
    };
    const properties: JsonObject = {};
    for (const key of Object.keys(doc.data)) properties[key] = { title: key };
    const blockSchema: JsonObject = {
      id: doc.block_schema.id,
      created: this.t(doc.block_schema.created),
      updated: this.t(doc.block_schema.updated),
      checksum: doc.block_schema.checksum,
      fields: {
        title: doc.block_type.name.replace(/\s+/g, ''),
        type: 'object',
        properties,
        secret_fields: [...doc.secret_fields],
        block_type_slug: doc.block_type.slug,
        block_schema_references: {},
      },
      block_type_id: doc.block_type.id,
      block_type: blockType,
      capabilities: [],
      version: 'non-versioned',
    };
    const out: BlockDocumentJson = {
      id: doc.id,
      created: this.t(doc.created),
      updated: this.t(doc.updated),
      name: doc.name,
      data: includeSecrets ? deepCopy(doc.data) : obfuscate(doc.data, doc.secret_fields),
      block_schema_id: doc.block_schema.id,
      block_schema: blockSchema,
      block_type_id: doc.block_type.id,
      block_type: blockType,
      block_document_references: {},
      is_anonymous: false,
    };
    if (this.mode === '3') out.block_type_name = doc.block_type.name;
    return out;
  }

  variable(v: VariableRecord): VariableJson {
    return {
      id: v.id,
      created: this.t(v.created),
      updated: this.t(v.updated),
      name: v.name,
      value: deepCopy(v.value),
      tags: [...v.tags],
    };
  }

  log(l: LogRecord): LogJson {
    return {
      id: l.id,
      received: this.t(l.received),
      name: l.name,
      level: l.level,
      message: l.message,
      timestamp: this.t(l.timestamp),
      flow_run_id: l.flow_run_id,
      task_run_id: l.task_run_id,
    };
  }
}

/** Runs that count against pool and queue concurrency in `get_scheduled_flow_runs` (PENDING or RUNNING). */
export function isSlotHolder(run: FlowRunRecord): boolean {
  return run.state?.type === 'PENDING' || run.state?.type === 'RUNNING';
}

const OBFUSCATED = '********';

/** Replaces secret values (top-level keys or dotted paths) the way `include_secrets=false` does. */
function obfuscate(data: JsonObject, secretFields: readonly string[]): JsonObject {
  const copy = deepCopy(data);
  for (const field of secretFields) {
    const parts = field.split('.');
    let node: JsonValue | undefined = copy;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      if (!isJsonObject(node)) break;
      if (part === '*') {
        for (const key of Object.keys(node)) node[key] = OBFUSCATED;
        break;
      }
      if (i === parts.length - 1) {
        if (part in node) node[part] = OBFUSCATED;
      } else {
        node = node[part];
      }
    }
  }
  return copy;
}
