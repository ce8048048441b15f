import { randomBytes } from 'node:crypto';
import type { OrchestrationOutcome, Orchestrator } from './orchestration.js';
import { proposedFromBody } from './orchestration.js';
import type { Serializer } from './serialize.js';
import { isSlotHolder } from './serialize.js';
import type { FlowRunRecord, Store, WorkPoolRecord, WorkQueueRecord } from './store.js';
import type { JsonObject, JsonValue, OrchestrationResultJson, PrefectMode } from './types.js';
import { STATE_TYPES } from './types.js';
import { deepCopy, isJsonObject, newId, parseDateTime } from './util.js';

/** What an endpoint answers. `body: undefined` sends no content. */
export interface HandlerResult {
  status: number;
  body?: JsonValue;
  headers?: Record<string, string>;
  /** A 422 raised by a model validator: pydantic-style error entries, wrapped by the server. */
  validationErrors?: JsonObject[];
}

export interface HandlerRequest {
  params: Record<string, string>;
  query: Record<string, string>;
  /** The validated JSON body (embedded-body `null`s already removed). */
  body: JsonValue | undefined;
}

export interface ApiContext {
  mode: PrefectMode;
  version: string;
  csrf: boolean;
  csrfTokenExpirationSeconds: number;
  csrfTokens: Map<string, { id: string; token: string; created: number; expiration: number }>;
  store: Store;
  serializer: Serializer;
  orchestrator: Orchestrator;
}

type Handler = (ctx: ApiContext, req: HandlerRequest) => HandlerResult;

const DEFAULT_LIMIT = 200;

function detail(status: number, message: string): HandlerResult {
  return { status, body: { detail: message } };
}

function bodyObject(req: HandlerRequest): JsonObject {
  return isJsonObject(req.body) ? req.body : {};
}

function str(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function strings(value: JsonValue | undefined): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}

/** UUIDs in requests may be upper-case or unhyphenated (pydantic accepts both); records use canonical form. */
export function normalizeUuid(value: string): string {
  const hex = value
    .replace(/^urn:uuid:/i, '')
    .replace(/[{}-]/g, '')
    .toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return value;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function uuids(value: JsonValue | undefined): string[] | undefined {
  return strings(value)?.map(normalizeUuid);
}

function limitFrom(body: JsonObject): number | HandlerResult {
  const raw = body.limit;
  const limit = typeof raw === 'number' ? raw : DEFAULT_LIMIT;
  if (limit < 0) return detail(422, 'Invalid limit: must be greater than or equal to 0.');
  if (limit > DEFAULT_LIMIT)
    return detail(422, `Invalid limit: must be less than or equal to ${DEFAULT_LIMIT}.`);
  return limit;
}

const PLACEHOLDER = /\{\{\s*([\w.\-[\]$]+)\s*\}\}/g;

/**
 * The server's `validate_base_job_template`: `{}` is fine; otherwise both `job_configuration` and
 * `variables` are needed, and the standard placeholders used in the job configuration must be declared
 * as variables. Returns the error message, or null.
 */
function baseJobTemplateError(template: JsonObject): string | null {
  if (Object.keys(template).length === 0) return null;
  const jobConfig = template.job_configuration;
  const variables = template.variables;
  const truthy = (v: JsonValue | undefined) =>
    v !== undefined && v !== null && v !== false && !(isJsonObject(v) && Object.keys(v).length === 0);
  if (!truthy(jobConfig) || !truthy(variables)) {
    return 'The `base_job_template` must contain both a `job_configuration` key and a `variables` key.';
  }
  const used = new Set<string>();
  if (isJsonObject(jobConfig)) {
    for (const value of Object.values(jobConfig)) {
      for (const m of JSON.stringify(value).matchAll(PLACEHOLDER)) {
        const name = m[1] ?? '';
        if (
          name.startsWith('prefect.blocks.') ||
          name.startsWith('prefect.variables.') ||
          name.startsWith('$')
        )
          continue;
        used.add(name);
      }
    }
  }
  const props = isJsonObject(variables) && isJsonObject(variables.properties) ? variables.properties : {};
  const missing = [...used].filter((name) => !(name in props));
  if (missing.length === 0) return null;
  return (
    'The variables specified in the job configuration template must be present as properties in the ' +
    `variables schema. Your job configuration uses the following undeclared variable(s): ${missing.join(' ,')}.`
  );
}

function valueError(message: string, field: string, input: JsonValue, mode: PrefectMode): HandlerResult {
  const error: JsonObject =
    mode === '3'
      ? {
          type: 'value_error',
          loc: ['body', field],
          msg: `Value error, ${message}`,
          input,
          ctx: { error: {} },
        }
      : { loc: ['body', field], msg: message, type: 'value_error' };
  return { status: 422, validationErrors: [error] };
}

// ---------------------------------------------------------------- work pools

function poolNotFound(name: string): HandlerResult {
  return detail(404, `Work pool "${name}" not found.`);
}

const readWorkPool: Handler = (ctx, req) => {
  const pool = ctx.store.poolByName(req.params.name ?? '');
  if (!pool) return poolNotFound(req.params.name ?? '');
  return { status: 200, body: toJson(ctx.serializer.workPool(pool)) };
};

const createWorkPool: Handler = (ctx, req) => {
  const body = bodyObject(req);
  const name = str(body.name) ?? '';
  // The template validator belongs to the request model, so its 422 comes before the endpoint's checks.
  const template = isJsonObject(body.base_job_template) ? body.base_job_template : {};
  const error = baseJobTemplateError(template);
  if (error) return valueError(error, 'base_job_template', template, ctx.mode);
  if (name.toLowerCase().startsWith('prefect')) {
    return detail(403, "Work pools starting with 'Prefect' are reserved for internal use.");
  }
  if (ctx.store.poolByName(name)) return detail(409, 'A work pool with this name already exists.');
  const pool = ctx.store.createWorkPool({
    name,
    type: str(body.type) ?? 'prefect-agent',
    description: str(body.description) ?? null,
    base_job_template: template,
    is_paused: body.is_paused === true,
    concurrency_limit: typeof body.concurrency_limit === 'number' ? body.concurrency_limit : null,
    storage_configuration: isJsonObject(body.storage_configuration) ? body.storage_configuration : {},
  });
  return { status: 201, body: toJson(ctx.serializer.workPool(pool)) };
};

const updateWorkPool: Handler = (ctx, req) => {
  const name = req.params.name ?? '';
  const body = bodyObject(req);
  if (isJsonObject(body.base_job_template)) {
    const error = baseJobTemplateError(body.base_job_template);
    if (error) return valueError(error, 'base_job_template', body.base_job_template, ctx.mode);
  }
  const keys = Object.keys(body);
  if (
    name.toLowerCase().startsWith('prefect') &&
    keys.some((k) => k !== 'is_paused' && k !== 'concurrency_limit')
  ) {
    return detail(
      403,
      "Work pools starting with 'Prefect' are reserved for internal use and can only be updated to set concurrency limits or pause.",
    );
  }
  const pool = ctx.store.poolByName(name);
  if (!pool) return poolNotFound(name);
  applyPoolUpdate(pool, body);
  return { status: 204 };
};

export function applyPoolUpdate(pool: WorkPoolRecord, body: JsonObject): void {
  if ('description' in body) pool.description = str(body.description) ?? null;
  if (typeof body.is_paused === 'boolean') pool.is_paused = body.is_paused;
  if (isJsonObject(body.base_job_template)) pool.base_job_template = deepCopy(body.base_job_template);
  if ('concurrency_limit' in body) {
    pool.concurrency_limit = typeof body.concurrency_limit === 'number' ? body.concurrency_limit : null;
  }
  if (isJsonObject(body.storage_configuration)) {
    pool.storage_configuration = { ...pool.storage_configuration, ...deepCopy(body.storage_configuration) };
  }
  pool.updated = Date.now();
}

const heartbeat: Handler = (ctx, req) => {
  const poolName = req.params.work_pool_name ?? '';
  const pool = ctx.store.poolByName(poolName);
  if (!pool) return poolNotFound(poolName);
  const body = bodyObject(req);
  // 2.12 has no `heartbeat_interval_seconds` body field (it is ignored there); the open-source server
  // ignores `return_id` and `metadata` in both modes (Cloud answers 200 with the worker id).
  const interval =
    ctx.mode === '3' && typeof body.heartbeat_interval_seconds === 'number'
      ? body.heartbeat_interval_seconds
      : null;
  ctx.store.recordHeartbeat(pool, str(body.name) ?? '', interval);
  return { status: 204 };
};

function findQueue(pool: WorkPoolRecord, name: string): WorkQueueRecord | undefined {
  return pool.queues.find((q) => q.name === name);
}

function queueNotFound(pool: string, queue: string): HandlerResult {
  return detail(404, `Work pool queue '${pool}/${queue}' not found.`);
}

const getScheduledFlowRuns: Handler = (ctx, req) => {
  const poolName = req.params.name ?? '';
  const pool = ctx.store.poolByName(poolName);
  if (!pool) return poolNotFound(poolName);
  const body = bodyObject(req);
  const limit = limitFrom(body);
  if (typeof limit !== 'number') return limit;

  const names = strings(body.work_queue_names) ?? [];
  let queues: WorkQueueRecord[];
  if (names.length === 0) {
    queues = [...pool.queues];
  } else {
    queues = [];
    for (const n of names) {
      const q = findQueue(pool, n);
      if (!q) return queueNotFound(poolName, n);
      if (!queues.includes(q)) queues.push(q);
    }
  }
  const before = str(body.scheduled_before);
  const after = str(body.scheduled_after);
  const beforeMs = before === undefined ? null : parseDateTime(before);
  const afterMs = after === undefined ? null : parseDateTime(after);

  const runs = [...ctx.store.flowRuns.values()];
  const now = Date.now();
  for (const q of queues) q.last_polled = now;
  const polledQueueIds = new Set(queues.map((q) => q.id));
  for (const d of ctx.store.deployments.values()) {
    const dq = d.work_pool_name === pool.name ? findQueue(pool, d.work_queue_name) : undefined;
    if (dq && polledQueueIds.has(dq.id)) d.last_polled = now;
  }

  if (pool.is_paused) return { status: 200, body: [] };

  // Pool slots count PENDING/RUNNING runs in the pool's unpaused queues (as the server's SQL does).
  let poolAvailable = Number.POSITIVE_INFINITY;
  if (pool.concurrency_limit !== null) {
    const unpaused = new Set(pool.queues.filter((q) => !q.is_paused).map((q) => q.id));
    const active = runs.filter(
      (r) => r.work_queue_id && unpaused.has(r.work_queue_id) && isSlotHolder(r),
    ).length;
    poolAvailable = Math.max(0, pool.concurrency_limit - active);
  }

  const picked: { run: FlowRunRecord; queue: WorkQueueRecord }[] = [];
  for (const queue of queues) {
    if (queue.is_paused) continue;
    let queueAvailable = Number.POSITIVE_INFINITY;
    if (queue.concurrency_limit !== null) {
      const active = runs.filter((r) => r.work_queue_id === queue.id && isSlotHolder(r)).length;
      queueAvailable = Math.max(0, queue.concurrency_limit - active);
    }
    const candidates = runs
      .filter((r) => {
        if (r.work_queue_id !== queue.id || r.state?.type !== 'SCHEDULED') return false;
        if (r.empirical_policy.retry_type === 'in_process') return false;
        const t = r.next_scheduled_start_time;
        if (beforeMs !== null && (t === null || t > beforeMs)) return false;
        if (afterMs !== null && (t === null || t < afterMs)) return false;
        if (ctx.mode === '3' && r.deployment_id) {
          const d = ctx.store.deployments.get(r.deployment_id);
          if (
            d &&
            d.concurrency_limit !== null &&
            ctx.store.deploymentActiveSlots(d.id) >= d.concurrency_limit
          ) {
            return false;
          }
        }
        return true;
      })
      .sort(byScheduledTime)
      .slice(0, Math.min(1000, queueAvailable));
    for (const run of candidates) picked.push({ run, queue });
  }
  const ordered = picked.sort((a, b) => a.queue.priority - b.queue.priority || byScheduledTime(a.run, b.run));
  const chosen = ordered.slice(0, Math.min(1000, poolAvailable)).slice(0, limit);
  return {
    status: 200,
    body: chosen.map(({ run, queue }) => ({
      work_pool_id: pool.id,
      work_queue_id: queue.id,
      flow_run: toJson(ctx.serializer.flowRun(run, 'core')),
    })),
  };
};

function byScheduledTime(a: FlowRunRecord, b: FlowRunRecord): number {
  const ta = a.next_scheduled_start_time ?? Number.POSITIVE_INFINITY;
  const tb = b.next_scheduled_start_time ?? Number.POSITIVE_INFINITY;
  return ta - tb;
}

const readWorkQueues: Handler = (ctx, req) => {
  const poolName = req.params.work_pool_name ?? '';
  const pool = ctx.store.poolByName(poolName);
  if (!pool) return poolNotFound(poolName);
  const body = bodyObject(req);
  const limit = limitFrom(body);
  if (typeof limit !== 'number') return limit;
  const offset = typeof body.offset === 'number' ? body.offset : 0;
  const filter = isJsonObject(body.work_queues) ? body.work_queues : {};
  const nameAny = isJsonObject(filter.name) ? strings(filter.name.any_) : undefined;
  const idAny = isJsonObject(filter.id) ? uuids(filter.id.any_) : undefined;
  const queues = [...pool.queues]
    .filter((q) => (nameAny ? nameAny.includes(q.name) : true) && (idAny ? idAny.includes(q.id) : true))
    .sort((a, b) => a.priority - b.priority)
    .slice(offset, offset + limit);
  return { status: 200, body: queues.map((q) => ctx.serializer.workQueue(q, pool)) };
};

const readWorkQueue: Handler = (ctx, req) => {
  const poolName = req.params.work_pool_name ?? '';
  const pool = ctx.store.poolByName(poolName);
  if (!pool) return poolNotFound(poolName);
  const queue = findQueue(pool, req.params.name ?? '');
  if (!queue) return queueNotFound(poolName, req.params.name ?? '');
  return { status: 200, body: ctx.serializer.workQueue(queue, pool) };
};

// ---------------------------------------------------------------- flow runs

function flowRunNotFound(): HandlerResult {
  return detail(404, 'Flow run not found');
}

function runById(ctx: ApiContext, id: string | undefined): FlowRunRecord | undefined {
  return id ? ctx.store.flowRuns.get(normalizeUuid(id)) : undefined;
}

const readFlowRun: Handler = (ctx, req) => {
  const run = runById(ctx, req.params.id);
  if (!run) return flowRunNotFound();
  return { status: 200, body: toJson(ctx.serializer.flowRun(run)) };
};

const updateFlowRun: Handler = (ctx, req) => {
  const run = runById(ctx, req.params.id);
  const body = bodyObject(req);
  if (ctx.mode === '3' && isJsonObject(body.job_variables)) {
    if (!run) return flowRunNotFound();
    if (!run.state) return detail(400, 'Flow run state is required to update job variables but none exists');
    if (run.state.type !== 'SCHEDULED') {
      return detail(400, `Job variables for a flow run in state ${run.state.type} cannot be updated`);
    }
    if (!run.deployment_id || !ctx.store.deployments.has(run.deployment_id)) {
      return detail(400, 'A deployment for the flow run could not be found');
    }
  }
  if (!run) return flowRunNotFound();
  if (typeof body.name === 'string') run.name = body.name;
  if ('flow_version' in body) run.flow_version = str(body.flow_version) ?? null;
  if (isJsonObject(body.parameters)) run.parameters = deepCopy(body.parameters);
  if (Array.isArray(body.tags)) run.tags = strings(body.tags) ?? [];
  if ('infrastructure_pid' in body) run.infrastructure_pid = str(body.infrastructure_pid) ?? null;
  if (ctx.mode === '3' && 'job_variables' in body) {
    run.job_variables = isJsonObject(body.job_variables) ? deepCopy(body.job_variables) : null;
  }
  if (isJsonObject(body.empirical_policy)) {
    const p = body.empirical_policy;
    if (typeof p.retries === 'number' || p.retries === null) run.empirical_policy.retries = p.retries;
    if (typeof p.retry_delay === 'number' || p.retry_delay === null)
      run.empirical_policy.retry_delay = p.retry_delay;
  }
  run.updated = Date.now();
  return { status: 204 };
};

const updateFlowRunLabels: Handler = (ctx, req) => {
  const run = runById(ctx, req.params.id);
  if (!run) return flowRunNotFound();
  for (const [key, value] of Object.entries(bodyObject(req))) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      run.labels[key] = value;
  }
  run.updated = Date.now();
  return { status: 204 };
};

const setFlowRunState: Handler = (ctx, req) => {
  const id = req.params.id ?? '';
  const run = runById(ctx, id);
  if (!run) return { status: 404, body: { exception_message: `Flow run with id ${id} not found` } };
  const body = bodyObject(req);
  const state = isJsonObject(body.state) ? body.state : {};
  const outcome = ctx.orchestrator.setState(run, proposedFromBody(state), body.force === true);
  return { status: outcome.created ? 201 : 200, body: toJson(orchestrationJson(ctx, outcome)) };
};

export function orchestrationJson(ctx: ApiContext, outcome: OrchestrationOutcome): OrchestrationResultJson {
  return {
    status: outcome.status,
    state: outcome.state ? ctx.serializer.state(outcome.state) : null,
    details: outcome.details,
  };
}

type Filter = JsonObject;

function sub(f: Filter, key: string): Filter | undefined {
  const v = f[key];
  return isJsonObject(v) ? v : undefined;
}

function combine(checks: boolean[], operator: JsonValue | undefined): boolean {
  if (checks.length === 0) return true;
  return operator === 'or_' ? checks.some(Boolean) : checks.every(Boolean);
}

function timeChecks(f: Filter | undefined, value: number | null): boolean[] {
  if (!f) return [];
  const checks: boolean[] = [];
  const before = str(f.before_);
  const after = str(f.after_);
  if (before !== undefined) checks.push(value !== null && value <= (parseDateTime(before) ?? Number.NaN));
  if (after !== undefined) checks.push(value !== null && value >= (parseDateTime(after) ?? Number.NaN));
  if (typeof f.is_null_ === 'boolean') checks.push(f.is_null_ ? value === null : value !== null);
  return checks;
}

// A filter is matched against every record: its `any_` lists are normalized into sets once per request (keyed by
// the parsed array), not once per record — at 3,000 runs the per-record normalizing of 200 ids made the emulator the
// soak's bottleneck (profiled: normalizeUuid was its hottest function).
const memberSets = [new WeakMap<object, Set<string>>(), new WeakMap<object, Set<string>>()] as const;

function memberSet(value: JsonValue | undefined, normalize: boolean): Set<string> | undefined {
  if (!Array.isArray(value)) return undefined;
  const cache = memberSets[normalize ? 1 : 0];
  let set = cache.get(value);
  if (!set) {
    set = new Set(normalize ? uuids(value) : strings(value));
    cache.set(value, set);
  }
  return set;
}

function anyChecks(f: Filter | undefined, value: string | null, normalize = false): boolean[] {
  if (!f) return [];
  const checks: boolean[] = [];
  const any = memberSet(f.any_, normalize);
  const notAny = memberSet(f.not_any_, normalize);
  if (any) checks.push(value !== null && any.has(value));
  if (notAny) checks.push(value === null || !notAny.has(value));
  if (typeof f.is_null_ === 'boolean') checks.push(f.is_null_ ? value === null : value !== null);
  if (typeof f.like_ === 'string' && value !== null) checks.push(value.includes(f.like_));
  return checks;
}

/** The FlowRunFilter fields the worker uses (plus a few common ones); unknown keys are ignored. */
function matchesFlowRun(run: FlowRunRecord, f: Filter): boolean {
  const checks: boolean[] = [];
  checks.push(...anyChecks(sub(f, 'id'), run.id, true));
  checks.push(...anyChecks(sub(f, 'name'), run.name));
  checks.push(...anyChecks(sub(f, 'deployment_id'), run.deployment_id, true));
  checks.push(...anyChecks(sub(f, 'work_queue_name'), run.work_queue_name));
  checks.push(...anyChecks(sub(f, 'flow_version'), run.flow_version));
  const tags = sub(f, 'tags');
  if (tags) {
    const all = strings(tags.all_);
    const any = strings(tags.any_);
    if (all) checks.push(all.every((t) => run.tags.includes(t)));
    if (any) checks.push(any.some((t) => run.tags.includes(t)));
    if (typeof tags.is_null_ === 'boolean')
      checks.push(tags.is_null_ ? run.tags.length === 0 : run.tags.length > 0);
  }
  const state = sub(f, 'state');
  if (state) {
    const stateChecks = [
      ...anyChecks(sub(state, 'type'), run.state?.type ?? null),
      ...anyChecks(sub(state, 'name'), run.state?.name ?? null),
    ];
    checks.push(combine(stateChecks, state.operator));
  }
  checks.push(...timeChecks(sub(f, 'start_time'), run.start_time));
  checks.push(...timeChecks(sub(f, 'end_time'), run.end_time));
  checks.push(...timeChecks(sub(f, 'expected_start_time'), run.expected_start_time));
  checks.push(...timeChecks(sub(f, 'next_scheduled_start_time'), run.next_scheduled_start_time));
  return combine(checks, f.operator);
}

const SORTS: Record<string, (a: FlowRunRecord, b: FlowRunRecord) => number> = {
  ID_DESC: (a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  START_TIME_ASC: (a, b) =>
    nullsLast(a.start_time ?? a.expected_start_time, b.start_time ?? b.expected_start_time),
  START_TIME_DESC: (a, b) =>
    nullsLast(b.start_time ?? b.expected_start_time, a.start_time ?? a.expected_start_time),
  EXPECTED_START_TIME_ASC: (a, b) => nullsLast(a.expected_start_time, b.expected_start_time),
  EXPECTED_START_TIME_DESC: (a, b) => nullsLast(b.expected_start_time, a.expected_start_time),
  NAME_ASC: (a, b) => a.name.localeCompare(b.name),
  NAME_DESC: (a, b) => b.name.localeCompare(a.name),
  NEXT_SCHEDULED_START_TIME_ASC: (a, b) =>
    nullsLast(a.next_scheduled_start_time, b.next_scheduled_start_time),
  END_TIME_DESC: (a, b) => nullsLast(b.end_time, a.end_time),
};

function nullsLast(a: number | null, b: number | null): number {
  if (a === null && b === null) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a - b;
}

const readFlowRuns: Handler = (ctx, req) => {
  const body = bodyObject(req);
  const limit = limitFrom(body);
  if (typeof limit !== 'number') return limit;
  const offset = typeof body.offset === 'number' ? body.offset : 0;
  const runFilter = sub(body, 'flow_runs');
  const flowFilter = sub(body, 'flows');
  const deploymentFilter = sub(body, 'deployments');
  const poolFilter = sub(body, 'work_pools');
  const queueFilter = sub(body, 'work_pool_queues');
  const sort = SORTS[str(body.sort) ?? 'ID_DESC'] ?? SORTS.ID_DESC;
  const result = [...ctx.store.flowRuns.values()].filter((run) => {
    if (runFilter && !matchesFlowRun(run, runFilter)) return false;
    if (flowFilter) {
      const flow = ctx.store.flows.get(run.flow_id);
      const checks = [
        ...anyChecks(sub(flowFilter, 'id'), run.flow_id, true),
        ...anyChecks(sub(flowFilter, 'name'), flow?.name ?? null),
      ];
      if (!combine(checks, flowFilter.operator)) return false;
    }
    if (deploymentFilter) {
      const d = run.deployment_id ? ctx.store.deployments.get(run.deployment_id) : undefined;
      if (!d) return false;
      const checks = [
        ...anyChecks(sub(deploymentFilter, 'id'), d.id, true),
        ...anyChecks(sub(deploymentFilter, 'name'), d.name),
      ];
      if (!combine(checks, deploymentFilter.operator)) return false;
    }
    const located = ctx.store.queueById(run.work_queue_id);
    if (poolFilter) {
      if (!located) return false;
      const checks = [
        ...anyChecks(sub(poolFilter, 'name'), located.pool.name),
        ...anyChecks(sub(poolFilter, 'id'), located.pool.id, true),
        ...anyChecks(sub(poolFilter, 'type'), located.pool.type),
      ];
      if (!combine(checks, poolFilter.operator)) return false;
    }
    if (queueFilter) {
      if (!located) return false;
      const checks = [
        ...anyChecks(sub(queueFilter, 'name'), located.queue.name),
        ...anyChecks(sub(queueFilter, 'id'), located.queue.id, true),
      ];
      if (!combine(checks, queueFilter.operator)) return false;
    }
    return true;
  });
  result.sort(sort);
  return {
    status: 200,
    body: result.slice(offset, offset + limit).map((run) => toJson(ctx.serializer.flowRun(run))),
  };
};

// ---------------------------------------------------------------- deployments, flows, blocks, variables, logs

const readDeployment: Handler = (ctx, req) => {
  const d = ctx.store.deployments.get(normalizeUuid(req.params.id ?? ''));
  if (!d) return detail(404, 'Deployment not found');
  return { status: 200, body: toJson(ctx.serializer.deployment(d)) };
};

const readDeploymentByName: Handler = (ctx, req) => {
  const flow = [...ctx.store.flows.values()].find((f) => f.name === req.params.flow_name);
  const d = flow
    ? [...ctx.store.deployments.values()].find(
        (x) => x.flow_id === flow.id && x.name === req.params.deployment_name,
      )
    : undefined;
  if (!d) return detail(404, 'Deployment not found');
  return { status: 200, body: toJson(ctx.serializer.deployment(d)) };
};

const readFlow: Handler = (ctx, req) => {
  const flow = ctx.store.flows.get(normalizeUuid(req.params.id ?? ''));
  if (!flow) return detail(404, 'Flow not found');
  return { status: 200, body: toJson(ctx.serializer.flow(flow)) };
};

function includeSecrets(req: HandlerRequest): boolean {
  return parseBool(req.query.include_secrets ?? 'false') === true;
}

const readBlockDocument: Handler = (ctx, req) => {
  const doc = ctx.store.blockDocuments.get(normalizeUuid(req.params.id ?? ''));
  if (!doc) return detail(404, 'Block document not found');
  return { status: 200, body: toJson(ctx.serializer.blockDocument(doc, includeSecrets(req))) };
};

const readBlockDocumentByName: Handler = (ctx, req) => {
  const slug = req.params.slug ?? '';
  const name = req.params.block_document_name ?? '';
  const doc = [...ctx.store.blockDocuments.values()].find(
    (d) => d.block_type.slug === slug && d.name === name,
  );
  if (!doc) return detail(404, 'Block document not found');
  return { status: 200, body: toJson(ctx.serializer.blockDocument(doc, includeSecrets(req))) };
};

const readVariableByName: Handler = (ctx, req) => {
  const v = [...ctx.store.variables.values()].find((x) => x.name === req.params.name);
  if (!v) return detail(404, 'Variable not found.');
  return { status: 200, body: toJson(ctx.serializer.variable(v)) };
};

const createLogs: Handler = (ctx, req) => {
  const now = Date.now();
  for (const item of Array.isArray(req.body) ? req.body : []) {
    if (!isJsonObject(item)) continue;
    ctx.store.logs.push({
      id: newId(),
      received: now,
      name: str(item.name) ?? '',
      level: typeof item.level === 'number' ? item.level : 0,
      message: str(item.message) ?? '',
      timestamp: parseDateTime(str(item.timestamp) ?? '') ?? now,
      flow_run_id: typeof item.flow_run_id === 'string' ? normalizeUuid(item.flow_run_id) : null,
      task_run_id: typeof item.task_run_id === 'string' ? normalizeUuid(item.task_run_id) : null,
    });
  }
  return { status: 201, body: null };
};

// ---------------------------------------------------------------- root, admin, csrf

const health: Handler = () => ({ status: 200, body: true });

const version: Handler = (ctx) => ({ status: 200, body: ctx.version });

const csrfToken: Handler = (ctx, req) => {
  if (!ctx.csrf) return detail(422, 'CSRF protection is disabled.');
  const client = req.query.client ?? '';
  const now = Date.now();
  const existing = ctx.csrfTokens.get(client);
  const token = {
    id: existing?.id ?? newId(),
    created: existing?.created ?? now,
    token: randomBytes(32).toString('hex'),
    expiration: now + ctx.csrfTokenExpirationSeconds * 1000,
  };
  ctx.csrfTokens.set(client, token);
  for (const [c, t] of ctx.csrfTokens) if (t.expiration <= now) ctx.csrfTokens.delete(c);
  return {
    status: 200,
    body: {
      id: token.id,
      created: ctx.serializer.time(token.created),
      updated: ctx.serializer.time(now),
      token: token.token,
      client,
      expiration: ctx.serializer.time(token.expiration),
    },
  };
};

/**
 * `POST /work_pools/{work_pool_name}/workers/filter`. The server filters on `last_heartbeat_time` and (3.x)
 * `status`, and orders by the last heartbeat, newest first.
 */
const readWorkers: Handler = (ctx, req) => {
  const poolName = req.params.work_pool_name ?? '';
  const pool = ctx.store.poolByName(poolName);
  if (!pool) return poolNotFound(poolName);
  const body = bodyObject(req);
  const limit = limitFrom(body);
  if (typeof limit !== 'number') return limit;
  const offset = typeof body.offset === 'number' ? body.offset : 0;
  const filter = sub(body, 'workers');
  const beat = filter ? sub(filter, 'last_heartbeat_time') : undefined;
  const statusAny = filter ? strings(sub(filter, 'status')?.any_) : undefined;
  const after = typeof beat?.after_ === 'string' ? parseDateTime(beat.after_) : null;
  const before = typeof beat?.before_ === 'string' ? parseDateTime(beat.before_) : null;
  const workers = ctx.store.workers
    .filter((w) => {
      if (w.work_pool_id !== pool.id) return false;
      const checks: boolean[] = [];
      if (after !== null) checks.push(w.last_heartbeat_time >= after);
      if (before !== null) checks.push(w.last_heartbeat_time <= before);
      if (statusAny && ctx.mode === '3')
        checks.push(statusAny.includes(ctx.serializer.workerOnline(w) ? 'ONLINE' : 'OFFLINE'));
      return combine(checks, filter?.operator);
    })
    .sort((a, b) => b.last_heartbeat_time - a.last_heartbeat_time)
    .slice(offset, offset + limit);
  return { status: 200, body: workers.map((w) => toJson(ctx.serializer.poolWorker(w))) };
};

/** `GET /flow_run_states/?flow_run_id=…`: the run's states, oldest first (the server orders by timestamp). */
const readFlowRunStates: Handler = (ctx, req) => {
  const run = runById(ctx, req.query.flow_run_id);
  // The real server answers an unknown run with an empty list, not a 404.
  const states = run ? [...run.history].sort((a, b) => a.timestamp - b.timestamp) : [];
  return { status: 200, body: states.map((s) => toJson(ctx.serializer.state(s))) };
};

export function parseBool(value: string): boolean | null {
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'on', 't', 'y'].includes(v)) return true;
  if (['false', '0', 'no', 'off', 'f', 'n'].includes(v)) return false;
  return null;
}

/** Routes by `METHOD template`, using the OpenAPI document's path templates. */
export const HANDLERS: Record<string, Handler> = {
  'GET /health': health,
  'GET /admin/version': version,
  'GET /csrf-token': csrfToken,
  'GET /work_pools/{name}': readWorkPool,
  'POST /work_pools/': createWorkPool,
  'PATCH /work_pools/{name}': updateWorkPool,
  'POST /work_pools/{work_pool_name}/workers/heartbeat': heartbeat,
  'POST /work_pools/{name}/get_scheduled_flow_runs': getScheduledFlowRuns,
  'POST /work_pools/{work_pool_name}/workers/filter': readWorkers,
  'POST /work_pools/{work_pool_name}/queues/filter': readWorkQueues,
  'GET /work_pools/{work_pool_name}/queues/{name}': readWorkQueue,
  'GET /flow_runs/{id}': readFlowRun,
  'PATCH /flow_runs/{id}': updateFlowRun,
  'PATCH /flow_runs/{id}/labels': updateFlowRunLabels,
  'POST /flow_runs/filter': readFlowRuns,
  'POST /flow_runs/{id}/set_state': setFlowRunState,
  'GET /flow_run_states/': readFlowRunStates,
  'GET /deployments/{id}': readDeployment,
  'GET /deployments/name/{flow_name}/{deployment_name}': readDeploymentByName,
  'GET /flows/{id}': readFlow,
  'GET /block_documents/{id}': readBlockDocument,
  'GET /block_types/slug/{slug}/block_documents/name/{block_document_name}': readBlockDocumentByName,
  'GET /variables/name/{name}': readVariableByName,
  'POST /logs/': createLogs,
};

/** Typed JSON views are plain JSON; this narrows them for the response writer. */
export function toJson<T extends object>(value: T): JsonObject {
  return value as unknown as JsonObject;
}

export const VALID_STATE_TYPES: ReadonlySet<string> = new Set(STATE_TYPES);
