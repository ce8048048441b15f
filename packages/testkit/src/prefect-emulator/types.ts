/** Public types of the Prefect server emulator. JSON shapes follow the server's OpenAPI schemas. */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** `'3'` serves the Prefect 3 API (3.4.x); `'2'` serves a Prefect 2.12 server. */
export type PrefectMode = '3' | '2';

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

export const STATE_TYPES: readonly StateType[] = [
  'SCHEDULED',
  'PENDING',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'CRASHED',
  'PAUSED',
  'CANCELLING',
];

export type SetStateStatus = 'ACCEPT' | 'REJECT' | 'ABORT' | 'WAIT';

export interface PrefectEmulatorOptions {
  /** API flavour. Default `'3'`. */
  mode?: PrefectMode;
  /** Returned by `GET /admin/version`. Default `'3.4.11'` (mode 3) or `'2.12.0'` (mode 2). */
  version?: string;
  /** Prefect 3 self-hosted CSRF protection (`PREFECT_SERVER_CSRF_PROTECTION_ENABLED`). Default false. Mode 3 only. */
  csrf?: boolean;
  /** Lifetime of issued CSRF tokens. Default 3600 s (the server default). */
  csrfTokenExpirationSeconds?: number;
  /** When set, every request needs `Authorization: Bearer <apiKey>` (Prefect Cloud style), else 401. */
  apiKey?: string;
  /** When set, every request needs `Authorization: Basic base64(<authString>)` (`PREFECT_SERVER_API_AUTH_STRING`), else 401. */
  authString?: string;
  /** Seed of the PRNG used for probabilistic faults and generated names. Default 1. */
  seed?: number;
  /** Latency added to every request before it is handled. Default 0. */
  latencyMs?: number;
  /** Seconds a deployment-concurrency REJECT schedules the run ahead (`concurrency_slot_wait_seconds`). Default 30. */
  concurrencySlotWaitSeconds?: number;
  /** Directory holding `prefect-openapi.json` and `prefect-2.12-openapi.json`. Default: the repository's `reference/`. */
  referenceDir?: string;
  /** Port to listen on (127.0.0.1). Default 0: an ephemeral port. */
  port?: number;
}

// ---------------------------------------------------------------- JSON shapes returned by the API

export interface StateDetailsJson {
  flow_run_id: string | null;
  task_run_id: string | null;
  child_flow_run_id: string | null;
  scheduled_time: string | null;
  cache_key: string | null;
  cache_expiration: string | null;
  untrackable_result: boolean;
  pause_timeout: string | null;
  pause_reschedule: boolean;
  pause_key: string | null;
  refresh_cache: boolean | null;
  /** Prefect 3 only. */
  deferred?: boolean | null;
  run_input_keyset?: Record<string, string> | null;
  retriable?: boolean | null;
  transition_id?: string | null;
  task_parameters_id?: string | null;
  traceparent?: string | null;
  deployment_concurrency_lease_id?: string | null;
}

export interface StateJson {
  id: string;
  type: StateType;
  name: string | null;
  timestamp: string;
  message: string | null;
  data: JsonValue;
  state_details: StateDetailsJson;
}

export interface FlowRunPolicyJson {
  max_retries: number;
  retry_delay_seconds: number;
  retries: number | null;
  retry_delay: number | null;
  pause_keys: string[];
  resuming: boolean;
  /** Prefect 3 only. */
  retry_type?: 'in_process' | 'reschedule' | null;
}

export interface FlowRunJson {
  id: string;
  created: string;
  updated: string;
  name: string;
  flow_id: string;
  state_id: string | null;
  deployment_id: string | null;
  work_queue_id: string | null;
  work_queue_name: string | null;
  flow_version: string | null;
  parameters: JsonObject;
  idempotency_key: string | null;
  context: JsonObject;
  empirical_policy: FlowRunPolicyJson;
  tags: string[];
  parent_task_run_id: string | null;
  state_type: StateType | null;
  state_name: string | null;
  run_count: number;
  expected_start_time: string | null;
  next_scheduled_start_time: string | null;
  start_time: string | null;
  end_time: string | null;
  total_run_time: number;
  estimated_run_time: number;
  estimated_start_time_delta: number;
  auto_scheduled: boolean;
  infrastructure_document_id: string | null;
  infrastructure_pid: string | null;
  created_by: JsonObject | null;
  state: StateJson | null;
  /** FlowRunResponse only (absent on the core FlowRun inside `get_scheduled_flow_runs`). */
  work_pool_id?: string | null;
  work_pool_name?: string | null;
  /** Prefect 3 only. */
  deployment_version?: string | null;
  labels?: Record<string, string | number | boolean>;
  job_variables?: JsonObject | null;
}

export interface WorkPoolJson {
  id: string;
  created: string;
  updated: string;
  name: string;
  description: string | null;
  type: string;
  base_job_template: JsonObject;
  is_paused: boolean;
  concurrency_limit: number | null;
  default_queue_id: string | null;
  /** Prefect 3 only. */
  status?: 'READY' | 'NOT_READY' | 'PAUSED' | null;
  storage_configuration?: JsonObject;
  active_slots?: number | null;
}

export interface WorkQueueJson {
  id: string;
  created: string;
  updated: string;
  name: string;
  description: string | null;
  is_paused: boolean;
  concurrency_limit: number | null;
  priority: number;
  work_pool_id: string;
  work_pool_name: string;
  last_polled: string | null;
  status: 'READY' | 'NOT_READY' | 'PAUSED';
}

export interface WorkerJson {
  id: string;
  name: string;
  work_pool_name: string;
  work_pool_id: string;
  created: string;
  last_heartbeat_time: string;
  heartbeat_interval_seconds: number | null;
  heartbeat_count: number;
  status: 'ONLINE' | 'OFFLINE';
}

export interface FlowJson {
  id: string;
  created: string;
  updated: string;
  name: string;
  tags: string[];
  /** Prefect 3 only. */
  labels?: Record<string, string | number | boolean>;
}

export interface DeploymentJson {
  id: string;
  created: string;
  updated: string;
  name: string;
  version: string | null;
  description: string | null;
  flow_id: string;
  parameters: JsonObject;
  tags: string[];
  work_queue_name: string | null;
  work_pool_name: string | null;
  path: string | null;
  pull_steps: JsonObject[] | null;
  entrypoint: string | null;
  parameter_openapi_schema: JsonObject | null;
  storage_document_id: string | null;
  infrastructure_document_id: string | null;
  created_by: JsonObject | null;
  updated_by: JsonObject | null;
  /** Prefect 3. */
  job_variables?: JsonObject;
  paused?: boolean;
  schedules?: JsonObject[];
  concurrency_limit?: number | null;
  global_concurrency_limit?: JsonObject | null;
  concurrency_options?: JsonObject | null;
  labels?: Record<string, string | number | boolean>;
  work_queue_id?: string | null;
  last_polled?: string | null;
  status?: 'READY' | 'NOT_READY' | null;
  enforce_parameter_schema?: boolean;
  /** Prefect 2. */
  infra_overrides?: JsonObject;
  schedule?: JsonObject | null;
  is_schedule_active?: boolean;
  manifest_path?: string | null;
}

export interface BlockDocumentJson {
  id: string;
  created: string;
  updated: string;
  name: string | null;
  data: JsonObject;
  block_schema_id: string;
  block_schema: JsonObject | null;
  block_type_id: string;
  block_type: JsonObject | null;
  block_document_references: JsonObject;
  is_anonymous: boolean;
  /** Prefect 3 only. */
  block_type_name?: string | null;
}

export interface VariableJson {
  id: string;
  created: string;
  updated: string;
  name: string;
  value: JsonValue;
  tags: string[];
}

export interface LogJson {
  id: string;
  received: string;
  name: string;
  level: number;
  message: string;
  timestamp: string;
  flow_run_id: string | null;
  task_run_id: string | null;
}

export type StateDetailsInput = { [key: string]: JsonValue | undefined };

export interface OrchestrationResultJson {
  status: SetStateStatus;
  state: StateJson | null;
  details:
    | { type: 'accept_details' }
    | { type: 'reject_details'; reason: string | null }
    | { type: 'abort_details'; reason: string | null }
    | { type: 'wait_details'; delay_seconds: number; reason: string | null };
}

// ---------------------------------------------------------------- seeding inputs

export interface SeedWorkQueueInput {
  name: string;
  priority?: number;
  concurrency_limit?: number | null;
  is_paused?: boolean;
  description?: string | null;
}

export interface SeedWorkPoolInput {
  name: string;
  /** Default `'ecs'`. */
  type?: string;
  base_job_template?: JsonObject;
  concurrency_limit?: number | null;
  is_paused?: boolean;
  description?: string | null;
  /** Extra queues; the pool always gets a `default` queue (priority 1) unless one is listed here. */
  queues?: SeedWorkQueueInput[];
}

export interface SeedFlowInput {
  name: string;
  tags?: string[];
  labels?: Record<string, string | number | boolean>;
}

export interface SeedDeploymentInput {
  flow_id: string;
  name: string;
  work_pool_name: string;
  /** Default `'default'`. Created in the pool when missing. */
  work_queue_name?: string;
  /** Stored as `job_variables` (Prefect 3) or `infra_overrides` (Prefect 2). */
  job_variables?: JsonObject;
  /** Deployment concurrency limit (Prefect 3 only). */
  concurrency_limit?: number | null;
  collision_strategy?: 'ENQUEUE' | 'CANCEL_NEW';
  parameters?: JsonObject;
  tags?: string[];
  version?: string | null;
  entrypoint?: string | null;
  pull_steps?: JsonObject[] | null;
  path?: string | null;
}

export interface SeedFlowRunInput {
  flow_id: string;
  deployment_id?: string | null;
  /** Default: the deployment's pool. */
  work_pool_name?: string;
  /** Default: the deployment's queue, else `'default'`. Created in the pool when missing. */
  work_queue_name?: string;
  /** Prefect 3 only. Default `{}`; `null` stores no job variables. */
  job_variables?: JsonObject | null;
  /** Default `'SCHEDULED'`. */
  state?: StateType;
  state_name?: string;
  /** Default: now. ISO string, epoch ms or Date. */
  next_scheduled_start_time?: string | number | Date;
  name?: string;
  tags?: string[];
  parameters?: JsonObject;
  labels?: Record<string, string | number | boolean>;
  infrastructure_pid?: string | null;
  /** Answer the first PENDING proposal(s) for this run with WAIT. */
  wait_on_pending?: { delay_seconds: number; reason?: string; times?: number };
}

export interface SeedBlockDocumentInput {
  block_type_slug: string;
  name: string;
  data: JsonObject;
  /** Top-level or dotted keys whose values are obfuscated unless `include_secrets=true`. */
  secret_fields?: string[];
  block_type_name?: string;
}

export interface SeedVariableInput {
  name: string;
  value: JsonValue;
  tags?: string[];
}

export interface ProposedStateInput {
  type: StateType;
  name?: string | null;
  message?: string | null;
  data?: JsonValue;
  state_details?: StateDetailsInput;
}

/** Scripted orchestration answer, consumed before the orchestration rules run. */
export interface OrchestrationScript {
  /** Only for this run (default: any run). */
  flow_run_id?: string;
  /** Only for proposals of this state type (default: any). */
  state_type?: StateType;
  /** How many proposals it answers (default 1). */
  times?: number;
  result: { status: 'WAIT'; delay_seconds: number; reason?: string } | { status: 'ABORT'; reason: string };
}

// ---------------------------------------------------------------- request log and validation issues

export interface ValidationIssue {
  /** JSON pointer into the validated document, e.g. `/flow_run/state/type`. */
  path: string;
  message: string;
  keyword: string;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  /** Path below `/api`, e.g. `/flow_runs/<id>/set_state`. */
  path: string;
  /** The OpenAPI path template the request matched, e.g. `/flow_runs/{id}/set_state`. */
  route: string | null;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Parsed JSON body (`undefined` when there was none, the raw text when it was not JSON). */
  body: JsonValue | undefined;
  /** `null` when the connection was dropped by a fault. */
  status: number | null;
  responseBody: JsonValue | undefined;
  requestErrors: ValidationIssue[];
  responseErrors: ValidationIssue[];
  /** Name of the injected fault that shaped this request, if any. */
  fault: string | null;
  startedAt: number;
  durationMs: number;
}

export interface SchemaIssue {
  kind:
    | 'response-schema'
    | 'undocumented-status'
    | 'unimplemented-endpoint'
    | 'unexpected-body'
    | 'event-schema'
    | 'emulator-error';
  method: string;
  path: string;
  route: string | null;
  status: number;
  errors: ValidationIssue[];
  body: JsonValue | undefined;
}

// ---------------------------------------------------------------- faults

export interface FaultRequestInfo {
  method: string;
  /** Path below `/api`. */
  path: string;
  route: string | null;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: JsonValue | undefined;
}

export interface FaultRule {
  name?: string;
  method?: string | readonly string[];
  /** `'/flow_runs/{id}/set_state'` (template; `{x}` and `*` match one segment), an exact path, a RegExp, or a predicate. */
  path?: string | RegExp | ((info: FaultRequestInfo) => boolean);
  /** Extra predicate (sees the parsed body). */
  when?: (info: FaultRequestInfo) => boolean;
  /** Number of requests this rule applies to; unlimited when omitted. */
  times?: number;
  /** Chance (0..1) that a matching request is affected, drawn from the seeded PRNG. Default 1. */
  probability?: number;
  /** Delay before the request is handled (outside any atomic section). */
  latencyMs?: number;
  /** Answer with this status instead of handling the request. */
  response?: {
    status: number;
    body?: JsonValue;
    retryAfter?: number | string;
    headers?: Record<string, string>;
  };
  /** Destroy the socket without a response: `'before'` (default for `true`) the request is handled, or `'after'`. */
  drop?: boolean | 'before' | 'after';
}

export interface FaultHandle {
  readonly name: string;
  /** Remaining applications (`Infinity` when unlimited). */
  remaining(): number;
  /** How many requests it has affected. */
  hits(): number;
  remove(): void;
}

export interface FaultController {
  add(rule: FaultRule): FaultHandle;
  /** Removes every rule and the global latency. */
  clear(): void;
  /** Latency for every request (or for those matching `match`); `0` turns it off. */
  setLatency(ms: number, match?: Pick<FaultRule, 'method' | 'path' | 'when'>): void;
}
