import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { EventsEndpoint, type EventsStream } from './events.js';
import { Faults } from './faults.js';
import {
  type ApiContext,
  applyPoolUpdate,
  HANDLERS,
  type HandlerResult,
  normalizeUuid,
  orchestrationJson,
  parseBool,
  VALID_STATE_TYPES,
} from './handlers.js';
import {
  loadOpenApiModel,
  type OpenApiModel,
  type OperationSpec,
  type PydanticError,
  toIssues,
  toPydanticErrors,
} from './openapi.js';
import { Orchestrator, parseDetails } from './orchestration.js';
import { Serializer } from './serialize.js';
import { EmulatorError, Store } from './store.js';
import type {
  BlockDocumentJson,
  DeploymentJson,
  FaultController,
  FlowJson,
  FlowRunJson,
  JsonObject,
  JsonValue,
  LogJson,
  OrchestrationResultJson,
  OrchestrationScript,
  PrefectEmulatorOptions,
  PrefectMode,
  ProposedStateInput,
  RecordedRequest,
  SchemaIssue,
  SeedBlockDocumentInput,
  SeedDeploymentInput,
  SeedFlowInput,
  SeedFlowRunInput,
  SeedVariableInput,
  SeedWorkPoolInput,
  StateJson,
  StateType,
  ValidationIssue,
  VariableJson,
  WorkerJson,
  WorkPoolJson,
  WorkQueueJson,
} from './types.js';
import { createRng, isJsonObject, isUuidLike, sleep } from './util.js';

export interface PrefectEmulator {
  /** API base URL, e.g. `http://127.0.0.1:41234/api` (what `PREFECT_API_URL` is set to). */
  readonly url: string;
  readonly port: number;
  readonly mode: PrefectMode;
  readonly version: string;
  stop(): Promise<void>;

  seedWorkPool(input: SeedWorkPoolInput): WorkPoolJson;
  seedFlow(input: SeedFlowInput): FlowJson;
  seedDeployment(input: SeedDeploymentInput): DeploymentJson;
  seedFlowRun(input: SeedFlowRunInput): FlowRunJson;
  seedBlockDocument(input: SeedBlockDocumentInput): BlockDocumentJson;
  seedVariable(input: SeedVariableInput): VariableJson;
  /** Proposes a state as a client would (the flow engine proposing Running/Completed, the UI cancelling...). */
  setFlowRunState(
    id: string,
    state: StateType | ProposedStateInput,
    options?: { force?: boolean },
  ): OrchestrationResultJson;
  /** Queue a scripted WAIT or ABORT answer for matching set_state proposals. */
  scriptOrchestration(script: OrchestrationScript): void;
  updateWorkPool(
    name: string,
    patch: { is_paused?: boolean; concurrency_limit?: number | null; base_job_template?: JsonObject },
  ): WorkPoolJson;
  updateWorkQueue(
    poolName: string,
    queueName: string,
    patch: { is_paused?: boolean; concurrency_limit?: number | null; priority?: number },
  ): WorkQueueJson;
  deleteWorkPool(name: string): boolean;
  deleteDeployment(id: string): boolean;

  getWorkPool(name: string): WorkPoolJson | undefined;
  listWorkPools(): WorkPoolJson[];
  listWorkQueues(poolName: string): WorkQueueJson[];
  /** Workers that sent heartbeats (optionally for one pool). */
  listWorkers(poolName?: string): WorkerJson[];
  getFlowRun(id: string): FlowRunJson | undefined;
  listFlowRuns(): FlowRunJson[];
  /** Every state the run has had, oldest first (seeded state included). */
  stateHistory(id: string): StateJson[];
  getDeployment(id: string): DeploymentJson | undefined;
  logs(): LogJson[];

  /** Every request received, in order (a copy). */
  readonly requests: RecordedRequest[];
  clearRequests(): void;
  /** Response-validation failures and calls to endpoints the emulator does not implement; tests expect `[]`. */
  schemaErrors(): SchemaIssue[];
  readonly faults: FaultController;
  /** The events websocket `/events/in` (Prefect 3 mode; in Prefect 2 mode it does not exist and stays empty). */
  readonly events: EventsStream;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

type ParsedBody = { ok: true; value: JsonValue | undefined } | { ok: false; error: string; position: number };

interface Outcome {
  status: number;
  body: JsonValue | undefined;
  headers: Record<string, string>;
  /** The operation whose documented responses apply (null for router/middleware answers). */
  op: OperationSpec | null;
}

class EmulatorServer {
  readonly store: Store;
  readonly serializer: Serializer;
  readonly orchestrator: Orchestrator;
  readonly faults: Faults;
  readonly model: OpenApiModel;
  readonly ctx: ApiContext;
  readonly log: RecordedRequest[] = [];
  readonly issues: SchemaIssue[] = [];
  readonly events: EventsEndpoint;
  private seq = 0;
  baseUrl = '';

  constructor(
    readonly mode: PrefectMode,
    readonly version: string,
    private readonly options: PrefectEmulatorOptions,
  ) {
    const rng = createRng(options.seed ?? 1);
    this.model = loadOpenApiModel(mode, options.referenceDir);
    this.store = new Store(mode, rng);
    this.serializer = new Serializer(this.store, mode);
    this.orchestrator = new Orchestrator(this.store, {
      mode,
      concurrencySlotWaitSeconds: options.concurrencySlotWaitSeconds ?? 30,
    });
    this.faults = new Faults(rng, options.latencyMs ?? 0);
    this.events = new EventsEndpoint(
      mode,
      this.model,
      { authString: options.authString, apiKey: options.apiKey },
      this.issues,
    );
    this.ctx = {
      mode,
      version,
      csrf: options.csrf === true,
      csrfTokenExpirationSeconds: options.csrfTokenExpirationSeconds ?? 3600,
      csrfTokens: new Map(),
      store: this.store,
      serializer: this.serializer,
      orchestrator: this.orchestrator,
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const raw = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) query[key] = value;
    let parsed: ParsedBody = { ok: true, value: undefined };
    if (raw.length > 0) {
      try {
        parsed = { ok: true, value: JSON.parse(raw) as JsonValue };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const position = Number(/position (\d+)/.exec(message)?.[1] ?? 0);
        parsed = { ok: false, error: message, position };
      }
    }
    const apiPath =
      url.pathname === '/api' || url.pathname.startsWith('/api/') ? url.pathname.slice(4) || '/' : null;
    const match = apiPath === null ? null : this.model.match(method, apiPath);
    const record: RecordedRequest = {
      seq: ++this.seq,
      method,
      path: apiPath ?? url.pathname,
      route: match?.kind === 'ok' ? match.op.template : null,
      query,
      headers,
      body: parsed.ok ? parsed.value : raw,
      status: null,
      responseBody: undefined,
      requestErrors: [],
      responseErrors: [],
      fault: null,
      startedAt,
      durationMs: 0,
    };
    this.log.push(record);

    const plan = this.faults.plan({
      method,
      path: record.path,
      route: record.route,
      query,
      headers,
      body: record.body,
    });
    if (plan.names.length > 0) record.fault = plan.names.join(',');
    if (plan.latencyMs > 0) await sleep(plan.latencyMs);
    if (plan.drop === 'before') {
      record.durationMs = Date.now() - startedAt;
      req.socket.destroy();
      return;
    }
    if (plan.response) {
      const h: Record<string, string> = { ...(plan.response.headers ?? {}) };
      if (plan.response.retryAfter !== undefined) h['retry-after'] = String(plan.response.retryAfter);
      const body = plan.response.body === undefined ? { detail: 'Injected fault' } : plan.response.body;
      this.finish(record, res, { status: plan.response.status, body, headers: h, op: null }, false);
      return;
    }

    // From here to the response everything is synchronous: a request is handled atomically.
    const outcome = this.process(method, apiPath, match, query, headers, raw, parsed, record);
    if (plan.drop === 'after') {
      record.durationMs = Date.now() - startedAt;
      this.validateResponse(record, outcome);
      record.responseBody = outcome.body;
      req.socket.destroy();
      return;
    }
    this.finish(record, res, outcome, true);
  }

  private process(
    method: string,
    apiPath: string | null,
    match: ReturnType<OpenApiModel['match']> | null,
    query: Record<string, string>,
    headers: Record<string, string>,
    raw: string,
    parsed: ParsedBody,
    record: RecordedRequest,
  ): Outcome {
    const plain = (
      status: number,
      body: JsonValue | undefined,
      extra: Record<string, string> = {},
    ): Outcome => ({
      status,
      body,
      headers: extra,
      op: null,
    });

    // CSRF middleware (outermost on the server, so before authentication).
    if (this.ctx.csrf && MUTATING.has(method)) {
      const token = headers['prefect-csrf-token'];
      const client = headers['prefect-csrf-client'];
      if (token === undefined) return plain(403, { detail: 'Missing CSRF token.' });
      if (client === undefined) return plain(403, { detail: 'Missing client identifier.' });
      const stored = this.ctx.csrfTokens.get(client);
      if (!stored || stored.token !== token || stored.expiration <= Date.now()) {
        return plain(
          403,
          { detail: 'Invalid CSRF token or client identifier.' },
          { 'access-control-allow-origin': '*' },
        );
      }
    }

    const auth = headers.authorization;
    if (this.options.authString !== undefined) {
      const [scheme, creds] = (auth ?? '').trim().split(/\s+/);
      const decoded = scheme === 'Basic' && creds ? Buffer.from(creds, 'base64').toString('utf8') : null;
      if (decoded !== this.options.authString) return plain(401, { exception_message: 'Unauthorized' });
    } else if (this.options.apiKey !== undefined && auth !== `Bearer ${this.options.apiKey}`) {
      return plain(401, { detail: 'Unauthorized' });
    }

    if (apiPath === null || match === null || match.kind === 'not-found')
      return plain(404, { detail: 'Not Found' });
    if (match.kind === 'method-not-allowed') return plain(405, { detail: 'Method Not Allowed' });
    if (match.kind === 'redirect') {
      return plain(307, undefined, { location: `${this.baseUrl}${match.location}` });
    }
    const { op, params } = match;
    const fail = (errors: JsonObject[], body: JsonValue | undefined): Outcome => {
      record.requestErrors.push(
        ...errors.map((e) => ({
          path: `/${(Array.isArray(e.loc) ? e.loc : []).join('/')}`,
          message: String(e.msg),
          keyword: String(e.type),
        })),
      );
      return { status: 422, body: this.validationBody(errors, body), headers: {}, op };
    };

    // EnforceMinimumAPIVersion (every router except the bare health check).
    const apiVersion = headers['x-prefect-api-version'];
    if (apiVersion && op.template !== '/health') {
      const parts = apiVersion.split('.');
      const nums = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN));
      if (nums.length !== 3 || nums.some(Number.isNaN)) {
        return {
          status: 400,
          body: {
            detail: `Invalid X-PREFECT-API-VERSION header format.Expected header in format 'x.y.z' but received ${apiVersion}`,
          },
          headers: {},
          op,
        };
      }
      const [maj = 0, min = 0, pat = 0] = nums;
      if (maj * 1e6 + min * 1e3 + pat < 8000) {
        return {
          status: 400,
          body: {
            detail: `The request specified API version ${apiVersion} but this server requires version 0.8.0 or higher.`,
          },
          headers: {},
          op,
        };
      }
    }

    // Path and query parameters.
    const paramErrors: PydanticError[] = [];
    for (const p of op.parameters) {
      const value = p.in === 'path' ? params[p.name] : p.in === 'query' ? query[p.name] : undefined;
      if (p.in !== 'path' && p.in !== 'query') continue;
      if (value === undefined) {
        if (p.required) paramErrors.push(this.simpleError('missing', [p.in, p.name], null));
        continue;
      }
      const type = typeof p.schema.type === 'string' ? p.schema.type : undefined;
      if (p.schema.format === 'uuid' && !isUuidLike(value)) {
        paramErrors.push(this.simpleError('uuid', [p.in, p.name], value));
      } else if (type === 'boolean' && parseBool(value) === null) {
        paramErrors.push(this.simpleError('bool', [p.in, p.name], value));
      } else if (type === 'integer' && !/^-?\d+$/.test(value)) {
        paramErrors.push(this.simpleError('int', [p.in, p.name], value));
      }
    }

    // Body.
    let body: JsonValue | undefined;
    const bodyErrors: PydanticError[] = [];
    if (op.requestKey) {
      const contentType = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      const jsonish =
        contentType === '' || contentType === 'application/json' || contentType.endsWith('+json');
      if (raw.length === 0) {
        if (op.requestEmbedded) body = {};
        else if (op.requestRequired) bodyErrors.push(this.simpleError('missing', ['body'], null));
      } else if (!jsonish) {
        body = raw;
      } else if (!parsed.ok) {
        bodyErrors.push(
          this.mode === '3'
            ? {
                type: 'json_invalid',
                loc: ['body', parsed.position],
                msg: 'JSON decode error',
                input: {},
                ctx: { error: parsed.error },
              }
            : { type: 'value_error.jsondecode', loc: ['body', parsed.position], msg: parsed.error },
        );
      } else {
        body = parsed.value;
      }
      if (body !== undefined && bodyErrors.length === 0) {
        if (op.requestEmbedded && isJsonObject(body)) {
          // FastAPI treats an explicit null for an embedded body field as "not given".
          body = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null));
        }
        const errors = this.model.validateRequestBody(op, body);
        bodyErrors.push(...toPydanticErrors(errors, body, ['body'], this.mode));
        // pydantic v1's StateCreate requires `type` although the 2.12 document does not say so.
        if (
          errors.length === 0 &&
          op.template === '/flow_runs/{id}/set_state' &&
          isJsonObject(body) &&
          isJsonObject(body.state) &&
          !VALID_STATE_TYPES.has(String(body.state.type))
        ) {
          bodyErrors.push(this.simpleError('missing', ['body', 'state', 'type'], null));
        }
      }
    }
    const allErrors = [...paramErrors, ...bodyErrors];
    if (allErrors.length > 0) {
      return fail(
        allErrors.map((e) => e as unknown as JsonObject),
        parsed.ok ? parsed.value : raw,
      );
    }

    const handler = HANDLERS[`${op.method} ${op.template}`];
    if (!handler) {
      return {
        status: 501,
        body: { detail: `Not implemented by the Prefect emulator: ${op.method} ${op.template}` },
        headers: {},
        op,
      };
    }
    const result: HandlerResult = handler(this.ctx, { params, query, body });
    if (result.validationErrors) return fail(result.validationErrors, body);
    return { status: result.status, body: result.body, headers: result.headers ?? {}, op };
  }

  private simpleError(
    kind: 'missing' | 'uuid' | 'bool' | 'int',
    loc: (string | number)[],
    input: string | null,
  ): PydanticError {
    const table: Record<typeof kind, { v2: [string, string]; v1: [string, string] }> = {
      missing: { v2: ['missing', 'Field required'], v1: ['value_error.missing', 'field required'] },
      uuid: {
        v2: ['uuid_parsing', 'Input should be a valid UUID, invalid character'],
        v1: ['type_error.uuid', 'value is not a valid uuid'],
      },
      bool: {
        v2: ['bool_parsing', 'Input should be a valid boolean, unable to interpret input'],
        v1: ['type_error.bool', 'value could not be parsed to a boolean'],
      },
      int: {
        v2: ['int_parsing', 'Input should be a valid integer, unable to parse string as an integer'],
        v1: ['type_error.integer', 'value is not a valid integer'],
      },
    };
    if (this.mode === '3') {
      const [type, msg] = table[kind].v2;
      return { type, loc, msg, input };
    }
    const [type, msg] = table[kind].v1;
    return { type, loc, msg };
  }

  /** The server's RequestValidationError handler body. */
  private validationBody(errors: JsonObject[], requestBody: JsonValue | undefined): JsonObject {
    return {
      exception_message: 'Invalid request received.',
      exception_detail: errors,
      request_body: requestBody === undefined ? null : requestBody,
    };
  }

  private finish(record: RecordedRequest, res: ServerResponse, outcome: Outcome, validate: boolean): void {
    if (validate) this.validateResponse(record, outcome);
    record.status = outcome.status;
    record.responseBody = outcome.body;
    record.durationMs = Date.now() - record.startedAt;
    const headers: Record<string, string> = { ...outcome.headers };
    let payload = '';
    if (outcome.body !== undefined) {
      payload = JSON.stringify(outcome.body);
      headers['content-type'] = 'application/json';
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(outcome.status, headers);
    res.end(payload);
  }

  private validateResponse(record: RecordedRequest, outcome: Outcome): void {
    const { status, body, op } = outcome;
    const issue = (kind: SchemaIssue['kind'], errors: ValidationIssue[]): void => {
      record.responseErrors.push(...errors);
      this.issues.push({
        kind,
        method: record.method,
        path: record.path,
        route: record.route,
        status,
        errors,
        body,
      });
    };
    if (status === 307) return;
    if (status === 501) {
      issue('unimplemented-endpoint', [
        {
          path: '/',
          message: `${record.method} ${record.route ?? record.path} is not implemented`,
          keyword: 'route',
        },
      ]);
      return;
    }
    if (!op) {
      const errors = this.model.validateResponse('__error_body', body);
      if (errors.length > 0) issue('response-schema', toIssues(errors));
      return;
    }
    const { key, documented } = this.model.responseSchemaFor(op, status);
    if (key === null) {
      if (body !== undefined) {
        issue('unexpected-body', [
          { path: '/', message: `status ${status} is documented without content`, keyword: 'content' },
        ]);
      }
      return;
    }
    if (
      status >= 200 &&
      status < 300 &&
      !documented &&
      ![...op.responses.keys()].some((c) => c.startsWith('2'))
    ) {
      issue('undocumented-status', [
        { path: '/', message: `status ${status} is not documented`, keyword: 'status' },
      ]);
      return;
    }
    let target: unknown = body;
    let schemaKey = key;
    if (status === 422 && isJsonObject(body)) {
      const list = body.exception_detail ?? body.detail;
      if (Array.isArray(list)) target = { detail: list };
      else schemaKey = '__error_body';
    }
    const errors = this.model.validateResponse(schemaKey, target);
    if (errors.length > 0) issue('response-schema', toIssues(errors));
  }

  recordUpgrade(req: IncomingMessage, status: number): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const path = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
    this.log.push({
      seq: ++this.seq,
      method: 'WEBSOCKET',
      path,
      route: null,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: undefined,
      status,
      responseBody: undefined,
      requestErrors: [],
      responseErrors: [],
      fault: null,
      startedAt: Date.now(),
      durationMs: 0,
    });
  }

  // ------------------------------------------------------------ public helpers

  proposeState(id: string, state: StateType | ProposedStateInput, force: boolean): OrchestrationResultJson {
    const run = this.store.flowRuns.get(normalizeUuid(id));
    if (!run) throw new EmulatorError(`Unknown flow run ${id}`);
    const input: ProposedStateInput = typeof state === 'string' ? { type: state } : state;
    const outcome = this.orchestrator.setState(
      run,
      {
        type: input.type,
        name: input.name ?? null,
        message: input.message ?? null,
        data: input.data ?? null,
        details: parseDetails(input.state_details),
      },
      force,
    );
    return orchestrationJson(this.ctx, outcome);
  }

  updatePool(
    name: string,
    patch: { is_paused?: boolean; concurrency_limit?: number | null; base_job_template?: JsonObject },
  ): WorkPoolJson {
    const pool = this.store.poolByName(name);
    if (!pool) throw new EmulatorError(`Unknown work pool ${name}`);
    const body: JsonObject = {};
    if (patch.is_paused !== undefined) body.is_paused = patch.is_paused;
    if (patch.concurrency_limit !== undefined) body.concurrency_limit = patch.concurrency_limit;
    if (patch.base_job_template !== undefined) body.base_job_template = patch.base_job_template;
    applyPoolUpdate(pool, body);
    return this.serializer.workPool(pool);
  }

  updateQueue(
    poolName: string,
    queueName: string,
    patch: { is_paused?: boolean; concurrency_limit?: number | null; priority?: number },
  ): WorkQueueJson {
    const pool = this.store.poolByName(poolName);
    const queue = pool?.queues.find((q) => q.name === queueName);
    if (!pool || !queue) throw new EmulatorError(`Unknown work queue ${poolName}/${queueName}`);
    if (patch.is_paused !== undefined) queue.is_paused = patch.is_paused;
    if (patch.concurrency_limit !== undefined) queue.concurrency_limit = patch.concurrency_limit;
    if (patch.priority !== undefined) queue.priority = patch.priority;
    queue.updated = Date.now();
    return this.serializer.workQueueJson(queue, pool);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Starts an in-process HTTP server that behaves like a Prefect server for the worker protocol, validating
 * every request and response against the mode's OpenAPI document.
 */
export async function startPrefectEmulator(options: PrefectEmulatorOptions = {}): Promise<PrefectEmulator> {
  const mode: PrefectMode = options.mode ?? '3';
  if (mode === '2' && options.csrf) throw new EmulatorError('Prefect 2.12 has no CSRF protection');
  const version = options.version ?? (mode === '3' ? '3.4.11' : '2.12.0');
  const emu = new EmulatorServer(mode, version, options);
  const server = createServer((req, res) => {
    emu.handle(req, res).catch((error: unknown) => {
      emu.issues.push({
        kind: 'emulator-error',
        method: req.method ?? '',
        path: req.url ?? '',
        route: null,
        status: 500,
        errors: [
          {
            path: '/',
            message: error instanceof Error ? (error.stack ?? error.message) : String(error),
            keyword: 'exception',
          },
        ],
        body: undefined,
      });
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ exception_message: 'Internal Server Error', emulator_error: String(error) }),
        );
      }
    });
  });
  // WebSocket upgrades: `/api/events/in` (Prefect 3) is served; any other websocket route (the worker channel, and
  // events on Prefect 2.x) is refused as the server does: Starlette closes an unrouted websocket before accepting it,
  // which uvicorn answers `403 Forbidden` with an empty body.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // An upgraded socket has no 'error' listener of Node's: a client that dies mid-upgrade (a worker killed -9 while
    // its events socket connects) resets it, and an unhandled ECONNRESET would take the whole emulator down (found by
    // the fault suite). A reset socket is simply gone.
    socket.on('error', () => socket.destroy());
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const apiPath = path.startsWith('/api/') ? path.slice(4) : path;
    if (emu.events.serves(apiPath)) {
      emu.recordUpgrade(req, emu.events.upgrade(req, socket, head));
      return;
    }
    emu.recordUpgrade(req, 403);
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
  server.keepAliveTimeout = 5_000;
  const port = await listen(server, options.port ?? 0);
  const origin = `http://127.0.0.1:${port}`;
  emu.baseUrl = `${origin}/api`;
  const s = emu.serializer;
  const store = emu.store;
  const run = (id: string) => store.flowRuns.get(normalizeUuid(id));
  let stopping: Promise<void> | undefined;

  return {
    url: `${origin}/api`,
    port,
    mode,
    version,
    stop: () => {
      stopping ??= new Promise<void>((resolve, reject) => {
        emu.events.close();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return stopping;
    },
    seedWorkPool: (input) => s.workPool(store.seedWorkPool(input)),
    seedFlow: (input) => s.flow(store.seedFlow(input)),
    seedDeployment: (input) => s.deployment(store.seedDeployment(input)),
    seedFlowRun: (input) => {
      const record = store.seedFlowRun(input);
      if (input.wait_on_pending) {
        emu.orchestrator.addScript({
          flow_run_id: record.id,
          state_type: 'PENDING',
          times: input.wait_on_pending.times ?? 1,
          result: {
            status: 'WAIT',
            delay_seconds: input.wait_on_pending.delay_seconds,
            ...(input.wait_on_pending.reason === undefined ? {} : { reason: input.wait_on_pending.reason }),
          },
        });
      }
      return s.flowRun(record);
    },
    seedBlockDocument: (input) => s.blockDocument(store.seedBlockDocument(input), true),
    seedVariable: (input) => s.variable(store.seedVariable(input)),
    setFlowRunState: (id, state, opts) => emu.proposeState(id, state, opts?.force === true),
    scriptOrchestration: (script) => emu.orchestrator.addScript(script),
    updateWorkPool: (name, patch) => emu.updatePool(name, patch),
    updateWorkQueue: (poolName, queueName, patch) => emu.updateQueue(poolName, queueName, patch),
    deleteWorkPool: (name) => store.deleteWorkPool(name),
    deleteDeployment: (id) => store.deployments.delete(normalizeUuid(id)),
    getWorkPool: (name) => {
      const pool = store.poolByName(name);
      return pool ? s.workPool(pool) : undefined;
    },
    listWorkPools: () => [...store.pools.values()].map((p) => s.workPool(p)),
    listWorkQueues: (poolName) => {
      const pool = store.poolByName(poolName);
      return pool ? pool.queues.map((q) => s.workQueueJson(q, pool)) : [];
    },
    listWorkers: (poolName) => {
      const pool = poolName === undefined ? undefined : store.poolByName(poolName);
      if (poolName !== undefined && !pool) return [];
      return store.workers.filter((w) => !pool || w.work_pool_id === pool.id).map((w) => s.worker(w));
    },
    getFlowRun: (id) => {
      const r = run(id);
      return r ? s.flowRun(r) : undefined;
    },
    listFlowRuns: () => [...store.flowRuns.values()].map((r) => s.flowRun(r)),
    stateHistory: (id) => (run(id)?.history ?? []).map((st) => s.state(st)),
    getDeployment: (id) => {
      const d = store.deployments.get(normalizeUuid(id));
      return d ? s.deployment(d) : undefined;
    },
    logs: () => store.logs.map((l) => s.log(l)),
    get requests() {
      return [...emu.log];
    },
    clearRequests: () => {
      emu.log.length = 0;
    },
    schemaErrors: () => [...emu.issues],
    faults: emu.faults,
    events: emu.events,
  };
}
