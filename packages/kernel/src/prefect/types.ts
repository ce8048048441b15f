/**
 * The Prefect objects the worker reads, narrowed to the fields it uses (spec §5 "fields read").
 * Wire shapes are checked against the OpenAPI schema by the testkit emulator; these types are the
 * kernel's view and tolerate extra fields, as the server may add some.
 * @public
 */
export type StateType =
  | 'SCHEDULED'
  | 'PENDING'
  | 'RUNNING'
  | 'COMPLETED'
  | 'FAILED'
  | 'CANCELLED'
  | 'CRASHED'
  | 'PAUSED'
  | 'CANCELLING';

/** @public */
export const TERMINAL_STATE_TYPES: ReadonlySet<StateType> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'CRASHED',
]);

/** @public */
export interface State {
  id?: string;
  type: StateType;
  name?: string | null;
  timestamp?: string;
  message?: string | null;
  state_details?: Record<string, unknown>;
  [k: string]: unknown;
}

/** A worker of a work pool as `POST /work_pools/{name}/workers/filter` returns it. @public */
export interface PoolWorker {
  id?: string;
  name: string;
  /** Absent on Prefect 2 servers that never saw a heartbeat from it. */
  last_heartbeat_time?: string | null;
  /** Prefect 3 only: the interval the worker promised; Prefect 2 has no such field. */
  heartbeat_interval_seconds?: number | null;
  [k: string]: unknown;
}

/** @public */
export interface FlowRun {
  id: string;
  name: string;
  flow_id: string;
  deployment_id?: string | null;
  work_queue_name?: string | null;
  work_queue_id?: string | null;
  work_pool_id?: string | null;
  work_pool_name?: string | null;
  /** Absent on Prefect 2 servers. */
  job_variables?: Record<string, unknown> | null;
  state?: State | null;
  state_type?: StateType | null;
  state_name?: string | null;
  start_time?: string | null;
  infrastructure_pid?: string | null;
  tags?: string[];
  labels?: Record<string, unknown>;
  parameters?: Record<string, unknown>;
  created?: string | null;
  updated?: string | null;
  next_scheduled_start_time?: string | null;
  [k: string]: unknown;
}

/** @public */
export interface Flow {
  id: string;
  name: string;
  tags?: string[];
  labels?: Record<string, unknown>;
  [k: string]: unknown;
}

/** @public */
export interface Deployment {
  id: string;
  name: string;
  flow_id: string;
  updated?: string | null;
  tags?: string[];
  /** Prefect 3 (and 2.17+). */
  job_variables?: Record<string, unknown> | null;
  /** Prefect 2.x before `job_variables`. */
  infra_overrides?: Record<string, unknown> | null;
  work_queue_name?: string | null;
  [k: string]: unknown;
}

/** @public */
export interface BaseJobTemplate {
  job_configuration: Record<string, unknown>;
  variables: {
    type?: string;
    properties: Record<string, Record<string, unknown>>;
    required?: string[];
    [k: string]: unknown;
  };
}

/** @public */
export interface WorkPool {
  id: string;
  name: string;
  type: string;
  description?: string | null;
  base_job_template: BaseJobTemplate | Record<string, never>;
  is_paused?: boolean;
  concurrency_limit?: number | null;
  status?: string | null;
  default_queue_id?: string | null;
  [k: string]: unknown;
}

/** One entry of `get_scheduled_flow_runs`. @public */
export interface WorkerFlowRunResponse {
  work_pool_id: string;
  work_queue_id: string;
  flow_run: FlowRun;
}

/** @public */
export type OrchestrationStatus = 'ACCEPT' | 'REJECT' | 'ABORT' | 'WAIT';

/** @public */
export interface OrchestrationResult {
  status: OrchestrationStatus;
  state: State | null;
  details: { type?: string; reason?: string | null; delay_seconds?: number; [k: string]: unknown };
}

/** @public */
export interface BlockDocument {
  id: string;
  name?: string | null;
  data: Record<string, unknown>;
  [k: string]: unknown;
}

/** @public */
export interface PrefectLog {
  name: string;
  level: number;
  message: string;
  timestamp: string;
  flow_run_id: string | null;
  task_run_id?: string | null;
}

/** Server generation detected at start (spec: `GET /admin/version`). @public */
export interface ServerInfo {
  /** Version string reported by the server, e.g. "3.4.11" or "2.12.0". */
  version: string;
  major: 2 | 3;
  /** Prefect Cloud (URL under PREFECT_CLOUD_API_URL). Cloud is always 3.x. */
  isCloud: boolean;
}

/** A flow-run filter, as the `/flow_runs/filter` body's `flow_runs` key. @public */
export interface FlowRunFilterBody {
  flow_runs?: Record<string, unknown>;
  work_pools?: Record<string, unknown>;
  work_pool_queues?: Record<string, unknown>;
  sort?: string;
  limit?: number;
  offset?: number;
}
