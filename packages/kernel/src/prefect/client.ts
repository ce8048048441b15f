/**
 * The default {@link PrefectApi}: typed calls through openapi-fetch over the Prefect 3 OpenAPI schema,
 * sent by {@link PrefectTransport} with Prefect's client conventions (spec §1.0).
 *
 * The endpoints the worker uses exist with the same shape on Prefect 2.10+ servers; where 2.x differs it
 * is handled here (no flow-run labels endpoint, no CSRF token endpoint).
 */
import createClient from 'openapi-fetch';
import { isStevedoreError, kernelErrorCodes, PrefectApiError } from '../errors.js';
import type { components, paths } from '../generated/prefect-v3.js';
import { type Logger, nullLogger } from '../logger.js';
import type { CallOptions, PrefectApi } from './api.js';
import type { RandomSource } from './jitter.js';
import {
  DEFAULT_PREFECT_CLOUD_API_URL,
  defaultSleep,
  kernelPackageVersion,
  PREFECT_API_VERSION,
  PrefectTransport,
  parseBodyText,
  responseError,
  type SleepFn,
} from './transport.js';
import type {
  BaseJobTemplate,
  BlockDocument,
  Deployment,
  Flow,
  FlowRun,
  FlowRunFilterBody,
  OrchestrationResult,
  PoolWorker,
  PrefectLog,
  ServerInfo,
  State,
  WorkerFlowRunResponse,
  WorkPool,
} from './types.js';

/**
 * Options of {@link createPrefectClient}. The names follow Prefect's settings; the CLI maps the
 * `PREFECT_*` environment variables onto them.
 * @public
 */
export interface PrefectClientOptions {
  /** `PREFECT_API_URL`, e.g. `http://127.0.0.1:4200/api`. */
  apiUrl: string;
  /** `PREFECT_API_KEY`, sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** `PREFECT_API_AUTH_STRING`, sent as `Authorization: Basic base64(<string>)`; wins over `apiKey`. */
  authString?: string;
  /** `PREFECT_CLOUD_API_URL`. URLs under it are Prefect Cloud (no CSRF). Default `https://api.prefect.cloud/api`. */
  cloudApiUrl?: string;
  /** `PREFECT_API_REQUEST_TIMEOUT` in ms, per attempt. Default 60000. 0 or `Infinity` means no timeout. */
  timeoutMs?: number;
  /** `PREFECT_CLIENT_MAX_RETRIES`. Default 5 (so at most 6 attempts). */
  maxRetries?: number;
  /**
   * Cap on retries of responses carrying `Prefect-Maintenance: true`, which do not count against
   * `maxRetries`. Prefect has no cap; we keep one so a stuck maintenance flag cannot loop forever. Default 100.
   */
  maxMaintenanceRetries?: number;
  /** `PREFECT_CLIENT_RETRY_EXTRA_CODES`: statuses retried in addition to 429, 502, 503 and 408. */
  retryExtraCodes?: number[];
  /** `PREFECT_CLIENT_RETRY_JITTER_FACTOR`. Default 0.2. */
  jitterFactor?: number;
  /** `PREFECT_CLIENT_CSRF_SUPPORT_ENABLED`. Default true. Never used against Cloud. */
  csrfEnabled?: boolean;
  /** `PREFECT_CLIENT_CUSTOM_HEADERS`. `User-Agent` and the CSRF headers are ignored with a warning. */
  customHeaders?: Record<string, string>;
  /** Value of `X-Prefect-Worker-Name`, read on every request (Prefect: `PREFECT__WORKER_NAME`). */
  workerName?: () => string | undefined;
  /** Value of `X-Prefect-Worker-Id`, read on every request (Prefect: `PREFECT__WORKER_ID`). */
  workerId?: () => string | undefined;
  /**
   * `User-Agent`. Default `stevedore/<kernel version> (API 0.8.4)`: we deliberately identify as Stevedore
   * rather than copying Prefect's `prefect/<version>`, so server operators can tell the two apart.
   */
  userAgent?: string;
  /** The fetch implementation. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Sleep between retries; must honour the signal. Default a `setTimeout` sleep. */
  sleep?: SleepFn;
  /** Random source for retry jitter. Default `Math.random`. */
  random?: RandomSource;
  /** Clock for CSRF-token expiry and `Retry-After` dates. Default `() => new Date()`. */
  clock?: () => Date;
  /** Receives retry debug records and the documented warnings. Default: discards. */
  logger?: Logger;
}

/** The default `User-Agent`. @public */
export function defaultUserAgent(): string {
  return `stevedore/${kernelPackageVersion()} (API ${PREFECT_API_VERSION})`;
}

/**
 * Creates the default {@link PrefectApi}.
 *
 * @remarks Behaviour follows Prefect's `PrefectHttpxAsyncClient` (spec §1.0): auth, version, attribution and
 * custom headers; CSRF tokens against self-hosted servers; retries of 429/502/503/408 (+ extra codes) and of
 * transport errors with `2**attempt` s backoff (Prefect's clamped-Poisson jitter, about [0.82, 1.2]×) or
 * the server's `Retry-After` (jittered to [1, 1.2]×); connection-refused errors only after one successful
 * connection; every attempt bounded by `timeoutMs` and the caller's signal.
 *
 * @throws {@link PrefectApiError} with code `KERNEL_PREFECT_OBJECT_NOT_FOUND` (404),
 * `KERNEL_PREFECT_OBJECT_EXISTS` (409), `KERNEL_PREFECT_API` (other non-2xx, with `status`) or
 * `KERNEL_PREFECT_UNREACHABLE` (transport failure after retries, `status` 0, `retryable`). An aborted call
 * rejects with the signal's reason. A bad custom header throws `KERNEL_CONFIG_INVALID` at creation.
 * @public
 */
export function createPrefectClient(options: PrefectClientOptions): PrefectApi {
  const logger = options.logger ?? nullLogger;
  const transport = new PrefectTransport({
    apiUrl: options.apiUrl,
    apiKey: options.apiKey,
    authString: options.authString,
    cloudApiUrl: options.cloudApiUrl ?? DEFAULT_PREFECT_CLOUD_API_URL,
    timeoutMs: options.timeoutMs ?? 60_000,
    maxRetries: options.maxRetries ?? 5,
    maxMaintenanceRetries: options.maxMaintenanceRetries ?? 100,
    retryExtraCodes: options.retryExtraCodes ?? [],
    jitterFactor: options.jitterFactor ?? 0.2,
    csrfEnabled: options.csrfEnabled ?? true,
    customHeaders: options.customHeaders ?? {},
    workerName: options.workerName,
    workerId: options.workerId,
    userAgent: options.userAgent ?? defaultUserAgent(),
    fetch: options.fetch ?? globalThis.fetch,
    sleep: options.sleep ?? defaultSleep,
    random: options.random ?? Math.random,
    clock: options.clock ?? (() => new Date()),
    logger,
  });
  return new OpenApiPrefectClient(transport, logger);
}

/**
 * Formats a date the way Python's `str(datetime)` does for a UTC datetime:
 * `YYYY-MM-DD HH:MM:SS.ffffff+00:00`. Like Python, the fraction is left out when it is zero
 * (`YYYY-MM-DD HH:MM:SS+00:00`). This is the `scheduled_before` form Prefect's worker sends (spec §1.4).
 * @throws TypeError for an invalid date.
 * @public
 */
export function formatScheduledBefore(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new TypeError('formatScheduledBefore: invalid date');
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const base =
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  const micros = date.getUTCMilliseconds() * 1000;
  return `${base}${micros ? `.${pad(micros, 6)}` : ''}+00:00`;
}

type Schemas = components['schemas'];
type ApiFetch = (request: Request) => Promise<Response>;
interface RawResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}
interface CallResult {
  data: unknown;
  response: Response;
  method: string;
  path: string;
}

/** Statuses after which `serverInfo` tries the next way of finding the version. */
const VERSION_FALLBACK_STATUSES: ReadonlySet<number> = new Set([401, 403, 404]);
const UNPROCESSABLE: ReadonlySet<number> = new Set([422]);

/** True for a Prefect API error (from any installed copy of the kernel) with one of `statuses`. */
function hasStatus(e: unknown, statuses: ReadonlySet<number>): boolean {
  if (!isStevedoreError(e)) return false;
  const status = (e as { status?: unknown }).status;
  return typeof status === 'number' && statuses.has(status);
}

class OpenApiPrefectClient implements PrefectApi {
  readonly apiUrl: string;
  private readonly api: ReturnType<typeof createClient<paths>>;
  /** Major version learned by {@link serverInfo}; undefined until it has run. */
  private serverMajor: 2 | 3 | undefined;

  constructor(
    private readonly transport: PrefectTransport,
    private readonly logger: Logger,
  ) {
    this.apiUrl = transport.apiUrl;
    this.api = createClient<paths>({ baseUrl: transport.apiUrl });
  }

  /**
   * Runs one openapi-fetch call through the transport and turns a non-2xx response into a
   * {@link PrefectApiError}.
   */
  private async call(
    opts: CallOptions | undefined,
    run: (fetch: ApiFetch) => Promise<RawResult>,
  ): Promise<CallResult> {
    const signal = opts?.signal;
    const target: { method: string; path: string; status: number | undefined } = {
      method: '',
      path: '',
      status: undefined,
    };
    const fetch: ApiFetch = async (request) => {
      target.method = request.method.toUpperCase();
      target.path = this.transport.pathOf(request.url);
      const response = await this.transport.send(
        request,
        signal,
        opts?.retries === undefined ? {} : { maxRetries: opts.retries },
      );
      target.status = response.status;
      return response;
    };
    let result: RawResult;
    try {
      result = await run(fetch);
    } catch (e) {
      // Errors before a response (abort, transport, Kernel errors) pass through unchanged. After a
      // response the only failure left is openapi-fetch parsing the body.
      if (target.status === undefined || isStevedoreError(e) || signal?.aborted) throw e;
      throw new PrefectApiError(
        kernelErrorCodes.PREFECT_API,
        {
          status: target.status,
          method: target.method,
          path: target.path,
          message: `${target.method} ${target.path} failed: ${target.status}: the response body is not valid JSON`,
        },
        { cause: e },
      );
    }
    if (!result.response.ok) {
      throw responseError(target.method, target.path, result.response, result.error, (s) =>
        this.transport.redact(s),
      );
    }
    return { data: result.data, response: result.response, method: target.method, path: target.path };
  }

  private unexpected(r: CallResult, expected: string): PrefectApiError {
    return new PrefectApiError(kernelErrorCodes.PREFECT_API, {
      status: r.response.status,
      method: r.method,
      path: r.path,
      message: `${r.method} ${r.path} failed: ${r.response.status}: expected ${expected} in the response`,
    });
  }

  /** The response as a JSON object, typed as the kernel's view of it. */
  private object<T>(r: CallResult): T {
    if (r.data === null || typeof r.data !== 'object' || Array.isArray(r.data))
      throw this.unexpected(r, 'a JSON object');
    return r.data as T;
  }

  private array<T>(r: CallResult): T[] {
    if (!Array.isArray(r.data)) throw this.unexpected(r, 'a JSON array');
    return r.data as T[];
  }

  async serverInfo(opts?: CallOptions): Promise<ServerInfo> {
    const isCloud = this.transport.isCloud;
    let version: string;
    try {
      version = await this.readVersion('/admin/version', opts);
    } catch (adminError) {
      if (!hasStatus(adminError, VERSION_FALLBACK_STATUSES)) throw adminError;
      try {
        version = await this.readVersion('/version', opts);
      } catch (versionError) {
        if (!isCloud || !hasStatus(versionError, VERSION_FALLBACK_STATUSES)) throw adminError;
        // Prefect Cloud is always 3.x; it just may not tell us which release.
        version = 'unknown';
      }
    }
    const major: 2 | 3 = !isCloud && version.startsWith('2.') ? 2 : 3;
    this.serverMajor = major;
    return { version, major, isCloud };
  }

  private async readVersion(path: '/admin/version' | '/version', opts?: CallOptions): Promise<string> {
    const r = await this.call(opts, (fetch) => this.api.GET(path, { parseAs: 'text', fetch }));
    const parsed = typeof r.data === 'string' ? parseBodyText(r.data.trim()) : undefined;
    if (typeof parsed !== 'string' || !parsed.trim()) throw this.unexpected(r, 'a version string');
    return parsed.trim();
  }

  async readWorkPool(name: string, opts?: CallOptions): Promise<WorkPool> {
    const r = await this.call(opts, (fetch) =>
      this.api.GET('/work_pools/{name}', { params: { path: { name } }, fetch }),
    );
    return this.object<WorkPool>(r);
  }

  async createWorkPool(
    body: { name: string; type: string; base_job_template?: BaseJobTemplate },
    opts?: CallOptions,
  ): Promise<WorkPool> {
    // Only the fields that were set are sent (spec §1.3).
    const payload: Schemas['WorkPoolCreate'] = { name: body.name, type: body.type };
    if (body.base_job_template !== undefined) payload.base_job_template = jsonObject(body.base_job_template);
    const r = await this.call(opts, (fetch) => this.api.POST('/work_pools/', { body: payload, fetch }));
    return this.object<WorkPool>(r);
  }

  async updateWorkPool(
    name: string,
    body: { base_job_template: BaseJobTemplate },
    opts?: CallOptions,
  ): Promise<void> {
    await this.call(opts, (fetch) =>
      this.api.PATCH('/work_pools/{name}', {
        params: { path: { name } },
        body: { base_job_template: jsonObject(body.base_job_template) },
        parseAs: 'text',
        fetch,
      }),
    );
  }

  async heartbeat(
    pool: string,
    body: {
      name: string;
      heartbeat_interval_seconds: number;
      return_id?: boolean;
      metadata?: Record<string, unknown>;
    },
    opts?: CallOptions,
  ): Promise<string | undefined> {
    try {
      return await this.sendHeartbeat(pool, body, opts);
    } catch (e) {
      if (!body.return_id || !hasStatus(e, UNPROCESSABLE)) throw e;
      // Servers that do not know `return_id` reject it; Prefect warns and heartbeats without it.
      this.logger.warn('Failed to retrieve worker ID from the Prefect API server.', { workPool: pool });
      const { return_id: _returnId, ...withoutReturnId } = body;
      await this.sendHeartbeat(pool, withoutReturnId, opts);
      return undefined;
    }
  }

  private async sendHeartbeat(
    pool: string,
    body: {
      name: string;
      heartbeat_interval_seconds: number;
      return_id?: boolean;
      metadata?: Record<string, unknown>;
    },
    opts?: CallOptions,
  ): Promise<string | undefined> {
    // `return_id` and `metadata` are Cloud extensions absent from the open-source schema.
    const payload: Schemas['Body_worker_heartbeat_work_pools__work_pool_name__workers_heartbeat_post'] = body;
    const r = await this.call(opts, (fetch) =>
      this.api.POST('/work_pools/{work_pool_name}/workers/heartbeat', {
        params: { path: { work_pool_name: pool } },
        body: payload,
        parseAs: 'text',
        fetch,
      }),
    );
    if (!body.return_id || typeof r.data !== 'string') return undefined;
    // Cloud answers with the worker UUID as plain text; accept a JSON string too.
    const parsed = parseBodyText(r.data.trim());
    return typeof parsed === 'string' && parsed.trim() ? parsed.trim() : undefined;
  }

  async getScheduledFlowRuns(
    pool: string,
    body: { work_queue_names: string[]; scheduled_before: string; scheduled_after?: string; limit?: number },
    opts?: CallOptions,
  ): Promise<WorkerFlowRunResponse[]> {
    const r = await this.call(opts, (fetch) =>
      this.api.POST('/work_pools/{name}/get_scheduled_flow_runs', {
        params: { path: { name: pool } },
        body,
        fetch,
      }),
    );
    return this.array<WorkerFlowRunResponse>(r);
  }

  async readDeploymentByName(
    flowName: string,
    deploymentName: string,
    opts?: CallOptions,
  ): Promise<Deployment> {
    const r = await this.call(opts, (fetch) =>
      this.api.GET('/deployments/name/{flow_name}/{deployment_name}', {
        params: { path: { flow_name: flowName, deployment_name: deploymentName } },
        fetch,
      }),
    );
    return this.object<Deployment>(r);
  }

  async readDeployment(id: string, opts?: CallOptions): Promise<Deployment> {
    const r = await this.call(opts, (fetch) =>
      this.api.GET('/deployments/{id}', { params: { path: { id } }, fetch }),
    );
    return this.object<Deployment>(r);
  }

  async readFlow(id: string, opts?: CallOptions): Promise<Flow> {
    const r = await this.call(opts, (fetch) =>
      this.api.GET('/flows/{id}', { params: { path: { id } }, fetch }),
    );
    return this.object<Flow>(r);
  }

  async readFlowRun(id: string, opts?: CallOptions): Promise<FlowRun> {
    const r = await this.call(opts, (fetch) =>
      this.api.GET('/flow_runs/{id}', { params: { path: { id } }, fetch }),
    );
    return this.object<FlowRun>(r);
  }

  async filterWorkers(
    pool: string,
    body: { limit?: number; offset?: number },
    opts?: CallOptions,
  ): Promise<PoolWorker[]> {
    const r = await this.call(opts, (fetch) =>
      this.api.POST('/work_pools/{work_pool_name}/workers/filter', {
        params: { path: { work_pool_name: pool } },
        body,
        fetch,
      }),
    );
    return this.array<PoolWorker>(r);
  }

  async readFlowRunStates(flowRunId: string, opts?: CallOptions): Promise<State[]> {
    const r = await this.call(opts, (fetch) =>
      this.api.GET('/flow_run_states/', { params: { query: { flow_run_id: flowRunId } }, fetch }),
    );
    // The server orders by timestamp; sorting again keeps the contract whatever the server does.
    return this.array<State>(r).sort((a, b) => (a.timestamp ?? '').localeCompare(b.timestamp ?? ''));
  }

  async filterFlowRuns(body: FlowRunFilterBody, opts?: CallOptions): Promise<FlowRun[]> {
    // The kernel's filter is deliberately loose (Record<string, unknown>); the server validates it.
    const payload = body as Schemas['Body_read_flow_runs_flow_runs_filter_post'];
    const r = await this.call(opts, (fetch) => this.api.POST('/flow_runs/filter', { body: payload, fetch }));
    return this.array<FlowRun>(r);
  }

  async setFlowRunState(
    id: string,
    body: { state: Partial<State> & { type: State['type'] }; force?: boolean },
    opts?: CallOptions,
  ): Promise<OrchestrationResult> {
    const payload: Schemas['Body_set_flow_run_state_flow_runs__id__set_state_post'] = {
      state: body.state as Schemas['StateCreate'],
      force: body.force ?? false,
    };
    const r = await this.call(opts, (fetch) =>
      this.api.POST('/flow_runs/{id}/set_state', { params: { path: { id } }, body: payload, fetch }),
    );
    return this.object<OrchestrationResult>(r);
  }

  async updateFlowRunLabels(id: string, labels: Record<string, string>, opts?: CallOptions): Promise<void> {
    if (this.serverMajor === 2) {
      // Prefect 2 has no flow-run labels; Prefect 3's worker would fail here, we skip quietly.
      this.logger.debug('Skipping flow-run labels: the Prefect 2 API has no labels endpoint.', {
        flowRunId: id,
      });
      return;
    }
    await this.call(opts, (fetch) =>
      this.api.PATCH('/flow_runs/{id}/labels', {
        params: { path: { id } },
        body: labels,
        parseAs: 'text',
        fetch,
      }),
    );
  }

  async setInfrastructurePid(id: string, pid: string, opts?: CallOptions): Promise<void> {
    await this.call(opts, (fetch) =>
      this.api.PATCH('/flow_runs/{id}', {
        params: { path: { id } },
        body: { infrastructure_pid: pid },
        parseAs: 'text',
        fetch,
      }),
    );
  }

  async readBlockDocument(id: string, opts?: CallOptions): Promise<BlockDocument> {
    const r = await this.call(opts, (fetch) =>
      this.api.GET('/block_documents/{id}', {
        params: { path: { id }, query: { include_secrets: true } },
        fetch,
      }),
    );
    return this.object<BlockDocument>(r);
  }

  async readBlockDocumentByName(
    blockTypeSlug: string,
    name: string,
    opts?: CallOptions,
  ): Promise<BlockDocument> {
    const r = await this.call(opts, (fetch) =>
      this.api.GET('/block_types/slug/{slug}/block_documents/name/{block_document_name}', {
        params: {
          path: { slug: blockTypeSlug, block_document_name: name },
          query: { include_secrets: true },
        },
        fetch,
      }),
    );
    return this.object<BlockDocument>(r);
  }

  async readVariableValue(name: string, opts?: CallOptions): Promise<{ found: boolean; value: unknown }> {
    let r: CallResult;
    try {
      r = await this.call(opts, (fetch) =>
        this.api.GET('/variables/name/{name}', { params: { path: { name } }, fetch }),
      );
    } catch (e) {
      if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND))
        return { found: false, value: undefined };
      throw e;
    }
    return { found: true, value: this.object<{ value?: unknown }>(r).value };
  }

  async createLogs(logs: PrefectLog[], opts?: CallOptions): Promise<void> {
    await this.call(opts, (fetch) => this.api.POST('/logs/', { body: logs, parseAs: 'text', fetch }));
  }
}

/** Views a kernel object type as the schema's free-form JSON object. */
function jsonObject(value: object): Record<string, unknown> {
  return value as Record<string, unknown>;
}
