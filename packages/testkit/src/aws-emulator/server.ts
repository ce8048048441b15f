import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodeAwsQuery,
  decodeEc2Query,
  ec2ErrorXml,
  ec2ResponseXml,
  jsonBody,
  queryErrorXml,
  queryResponseXml,
} from './codec.js';
import { Ec2Store } from './ec2.js';
import { EcsStore } from './ecs.js';
import { defaultTaskBehavior } from './engine.js';
import { EventsStore, toBusEvent } from './eventbridge.js';
import { Faults, Quotas, THROTTLE_ERROR } from './faults.js';
import { IdentityStore } from './identity.js';
import { DEFAULT_DURATIONS, TaskLifecycle, type TaskRecord, taskEventDetail } from './lifecycle.js';
import { LogsStore } from './logs.js';
import { loadServiceModel, type ServiceModel, validationMessage, type WalkIssue, walk } from './model.js';
import { S3Store } from './s3.js';
import { SqsStore, sqsErrorWire, sqsRequestError } from './sqs.js';
import type {
  AwsClientConfig,
  AwsEmulator,
  AwsEmulatorOptions,
  AwsJsonObject,
  AwsRecordedRequest,
  AwsSchemaIssue,
  AwsServiceName,
  EcsTask,
  EcsTaskStateChangeEvent,
  EcsTaskStatus,
  ModelObject,
  TaskBehaviorFn,
  TaskDurations,
} from './types.js';
import { AwsError, createRng, isObject, randomUuid, sleep, toJsonObject } from './util.js';

type Handler = (input: ModelObject) => ModelObject | Promise<ModelObject>;

interface ServiceEntry {
  name: AwsServiceName;
  model: ServiceModel;
  handlers: Record<string, Handler>;
  /** Error code for requests that break the model's constraints (required, enum, length…). */
  validationCode: string;
  /** Maps request validation issues to the service's own error; null accepts the request (SQS). */
  requestError?: (operation: string, issues: WalkIssue[]) => AwsError | null;
  /** The `__type`, extra headers and status of an error answer (SQS: namespaced, `x-amzn-query-error`). */
  errorWire?: (
    code: string,
    status: number,
  ) => { type: string; headers: Record<string, string>; status: number };
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
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

function eventTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

class AwsEmulatorServer {
  readonly rng: () => number;
  readonly quotas: Quotas;
  readonly faults: Faults;
  readonly ec2: Ec2Store;
  readonly logs = new LogsStore();
  readonly ecs: EcsStore;
  readonly sqs: SqsStore;
  readonly events: EventsStore;
  readonly identity: IdentityStore;
  readonly s3: S3Store;
  readonly lifecycle: TaskLifecycle;
  readonly log: AwsRecordedRequest[] = [];
  readonly issues: AwsSchemaIssue[] = [];
  readonly counts = new Map<string, number>();
  readonly listeners = new Set<(event: EcsTaskStateChangeEvent) => void>();
  readonly services: {
    ecs: ServiceEntry;
    logs: ServiceEntry;
    ec2: ServiceEntry;
    sqs: ServiceEntry;
    events: ServiceEntry;
    sts: ServiceEntry;
    iam: ServiceEntry;
  };
  behavior: TaskBehaviorFn;
  private seq = 0;

  constructor(
    readonly region: string,
    readonly accountId: string,
    options: AwsEmulatorOptions,
  ) {
    this.rng = createRng(options.seed ?? Math.floor(Math.random() * 2 ** 31));
    this.quotas = new Quotas(options.quotas);
    this.faults = new Faults(this.rng, this.quotas);
    this.behavior = options.behavior ?? defaultTaskBehavior;
    const durations: TaskDurations = { ...DEFAULT_DURATIONS, ...(options.durations ?? {}) };
    this.ec2 = new Ec2Store(this.rng, region, accountId);
    this.s3 = new S3Store(region, loadServiceModel('s3-2006-03-01.min.json', 's3.constraints.json'));
    this.identity = new IdentityStore(accountId);
    this.lifecycle = new TaskLifecycle({
      changed: (t) => this.emit(t),
      logs: this.logs,
      durations,
      behavior: () => this.behavior,
      prefectFetch: options.prefectFetch ?? ((input, init) => fetch(input, init)),
    });
    const ecsModel = loadServiceModel('ecs-2014-11-13.min.json', 'ecs.constraints.json');
    const describeOut = ecsModel.operation('DescribeTaskDefinition')?.output;
    const tdMember = describeOut ? ecsModel.resolve(describeOut).members?.taskDefinition : undefined;
    const tdMembers = new Set(Object.keys((tdMember && ecsModel.resolve(tdMember).members) ?? {}));
    this.ecs = new EcsStore({
      region,
      accountId,
      rng: this.rng,
      ec2: this.ec2,
      lifecycle: this.lifecycle,
      taskDefinitionMembers: tdMembers,
    });
    this.sqs = new SqsStore({
      region,
      accountId,
      rng: this.rng,
      ...(options.sqs?.deletedQueueCooldownMs !== undefined
        ? { deletedQueueCooldownMs: options.sqs.deletedQueueCooldownMs }
        : {}),
    });
    this.events = new EventsStore({
      region,
      accountId,
      rng: this.rng,
      sqs: this.sqs,
      ...(options.eventBridge?.enforceQueuePolicy !== undefined
        ? { enforceQueuePolicy: options.eventBridge.enforceQueuePolicy }
        : {}),
      ...(options.eventBridge?.deliveryDelayMs !== undefined
        ? { deliveryDelayMs: options.eventBridge.deliveryDelayMs }
        : {}),
    });
    // ECS puts every task state change on the default event bus, as AWS does.
    this.listeners.add((event) => {
      this.events.put(toBusEvent(event));
    });
    this.services = {
      ecs: {
        name: 'ecs',
        model: ecsModel,
        handlers: this.ecs.handlers(),
        validationCode: 'InvalidParameterException',
      },
      logs: {
        name: 'logs',
        model: loadServiceModel('logs-2014-03-28.min.json', 'logs.constraints.json'),
        handlers: this.logs.handlers(),
        validationCode: 'InvalidParameterException',
      },
      ec2: {
        name: 'ec2',
        model: loadServiceModel('ec2-2016-11-15.min.json', 'ec2.constraints.json'),
        handlers: this.ec2.handlers(),
        validationCode: 'InvalidParameterValue',
      },
      sqs: {
        name: 'sqs',
        model: loadServiceModel('sqs-2012-11-05.min.json', 'sqs.constraints.json'),
        handlers: this.sqs.handlers(),
        validationCode: 'InvalidParameterValue',
        requestError: sqsRequestError,
        errorWire: (code, status) => {
          const wire = sqsErrorWire(code, status);
          return { type: wire.type, headers: { 'x-amzn-query-error': wire.queryError }, status: wire.status };
        },
      },
      events: {
        name: 'events',
        model: loadServiceModel('eventbridge-2015-10-07.min.json', 'eventbridge.constraints.json'),
        handlers: this.events.handlers(),
        validationCode: 'ValidationException',
      },
      sts: {
        name: 'sts',
        model: loadServiceModel('sts-2011-06-15.min.json', 'sts.constraints.json'),
        handlers: this.identity.stsHandlers(),
        validationCode: 'ValidationError',
      },
      iam: {
        name: 'iam',
        model: loadServiceModel('iam-2010-05-08.min.json', 'iam.constraints.json'),
        handlers: this.identity.iamHandlers(),
        validationCode: 'ValidationError',
      },
    };
  }

  private emit(t: TaskRecord): void {
    if (this.listeners.size === 0) return;
    const detail = taskEventDetail(t);
    const event: EcsTaskStateChangeEvent = {
      version: '0',
      id: randomUuid(this.rng),
      'detail-type': 'ECS Task State Change',
      source: 'aws.ecs',
      account: this.accountId,
      time: eventTime(t.updatedAt),
      region: this.region,
      resources: [t.arn],
      detail,
    };
    for (const listener of this.listeners) {
      try {
        listener(structuredClone(event));
      } catch (error) {
        this.issues.push({
          kind: 'emulator-error',
          service: 'ecs',
          operation: 'onTaskChange',
          errors: [{ path: '', message: `listener threw: ${String(error)}`, keyword: 'exception' }],
        });
      }
    }
  }

  // ------------------------------------------------------------------------------------------- requests

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = Date.now();
    const raw = await readBody(req);
    const requestId = randomUuid(this.rng);
    const target = req.headers['x-amz-target'];
    const record: AwsRecordedRequest = {
      seq: ++this.seq,
      service: null,
      operation: null,
      input: undefined,
      status: null,
      errorCode: null,
      requestErrors: [],
      responseErrors: [],
      fault: null,
      throttled: false,
      responseLost: false,
      startedAt,
      durationMs: 0,
    };
    this.log.push(record);
    const send = (reply: Reply): void => {
      record.status = reply.status;
      record.durationMs = Date.now() - startedAt;
      res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
      res.end(reply.body);
    };

    // S3 speaks REST: the SigV4 credential scope (`…/<region>/s3/aws4_request`) tells it from the query services.
    const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(
      req.headers.authorization ?? '',
    );
    if (scope?.[2] === 's3') {
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(',') : v;
      const r = this.s3.handle(
        req.method ?? 'GET',
        req.url ?? '/',
        headers,
        Buffer.from(raw),
        scope[1] ?? this.region,
      );
      record.service = 's3';
      record.operation = r.operation;
      record.errorCode = r.errorCode ?? null;
      this.count('s3', r.operation);
      record.status = r.status;
      record.durationMs = Date.now() - startedAt;
      res.writeHead(r.status, {
        ...r.headers,
        'content-length': r.headers['content-length'] ?? Buffer.byteLength(r.body),
      });
      res.end(req.method === 'HEAD' ? undefined : r.body);
      return;
    }
    let reply: Reply | 'drop-before' | 'drop-after';
    if (typeof target === 'string') reply = await this.handleJson(target, raw, requestId, record);
    else reply = await this.handleQuery(raw, requestId, record, this.queryService(req.headers.authorization));
    if (reply === 'drop-before' || reply === 'drop-after') {
      record.responseLost = reply === 'drop-after';
      record.durationMs = Date.now() - startedAt;
      req.socket.destroy();
      return;
    }
    send(reply);
  }

  private count(service: AwsServiceName, operation: string): void {
    const key = `${service}:${operation}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private jsonError(
    code: string,
    message: string,
    status: number,
    requestId: string,
    record: AwsRecordedRequest,
    extra: ModelObject = {},
    entry?: ServiceEntry,
  ): Reply {
    record.errorCode = code;
    const wire = entry?.errorWire?.(code, status);
    return {
      status: wire?.status ?? status,
      headers: {
        'content-type': `application/x-amz-json-${entry?.model.jsonVersion ?? '1.1'}`,
        'x-amzn-requestid': requestId,
        'x-amzn-errortype': code,
        ...(wire?.headers ?? {}),
      },
      body: jsonBody({ __type: wire?.type ?? code, message, ...extra }),
    };
  }

  private ec2Error(
    code: string,
    message: string,
    status: number,
    requestId: string,
    record: AwsRecordedRequest,
  ): Reply {
    record.errorCode = code;
    return {
      status,
      headers: { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId },
      body: ec2ErrorXml(code, message, requestId),
    };
  }

  /** Faults, then quota. Returns a decided reply, or null to go on handling (after any latency). */
  private async gate(
    service: AwsServiceName,
    operation: string,
    input: AwsJsonObject | undefined,
    record: AwsRecordedRequest,
    error: (code: string, message: string, status: number) => Reply,
  ): Promise<{ reply: Reply | 'drop-before' | null; dropAfter: boolean }> {
    const plan = this.faults.plan({ service, operation, input });
    if (plan.names.length > 0) record.fault = plan.names.join(',');
    if (plan.latencyMs > 0) await sleep(plan.latencyMs);
    if (plan.drop === 'before') return { reply: 'drop-before', dropAfter: false };
    if (plan.error) {
      if (plan.error.code === THROTTLE_ERROR[service].code) record.throttled = true;
      return {
        reply: error(plan.error.code, plan.error.message ?? plan.error.code, plan.error.status ?? 400),
        dropAfter: false,
      };
    }
    const tokens =
      service === 'ecs' && operation === 'RunTask' && typeof input?.count === 'number' ? input.count : 1;
    if (!this.quotas.admit(`${service}:${operation}`, Math.max(1, tokens))) {
      record.throttled = true;
      const t = THROTTLE_ERROR[service];
      return { reply: error(t.code, t.message, t.status), dropAfter: false };
    }
    return { reply: null, dropAfter: plan.drop === 'after' };
  }

  private async run(
    entry: ServiceEntry,
    operation: string,
    input: ModelObject,
  ): Promise<{ output: ModelObject } | { error: AwsError }> {
    const handler = entry.handlers[operation];
    if (!handler) throw new Error('no handler');
    try {
      return { output: await handler(input) };
    } catch (error) {
      if (error instanceof AwsError) return { error };
      this.issues.push({
        kind: 'emulator-error',
        service: entry.name,
        operation,
        errors: [
          {
            path: '',
            message: error instanceof Error ? (error.stack ?? error.message) : String(error),
            keyword: 'exception',
          },
        ],
      });
      const code =
        entry.name === 'ec2'
          ? 'InternalError'
          : entry.name === 'ecs'
            ? 'ServerException'
            : entry.name === 'sqs'
              ? 'InternalFailure'
              : entry.name === 'events'
                ? 'InternalException'
                : 'ServiceUnavailableException';
      return {
        error: new AwsError(code, `Emulator error: ${String(error)}`, entry.name === 'logs' ? 503 : 500),
      };
    }
  }

  private checkOutput(
    entry: ServiceEntry,
    operation: string,
    output: ModelObject,
    record: AwsRecordedRequest,
  ): void {
    const op = entry.model.operation(operation);
    if (!op?.output) return;
    const issues: WalkIssue[] = [];
    walk(entry.model, op.output, output, { source: 'model', constraints: op.outputConstraints }, issues);
    if (issues.length === 0) return;
    const errors = issues.map((i) => ({
      path: i.path,
      message: `${i.kind}: ${i.message}`,
      keyword: i.keyword,
    }));
    record.responseErrors.push(...errors);
    this.issues.push({ kind: 'response', service: entry.name, operation, errors });
  }

  private async handleJson(
    target: string,
    raw: string,
    requestId: string,
    record: AwsRecordedRequest,
  ): Promise<Reply | 'drop-before' | 'drop-after'> {
    const dot = target.lastIndexOf('.');
    const prefix = target.slice(0, dot);
    const operation = target.slice(dot + 1);
    const entry = [this.services.ecs, this.services.logs, this.services.sqs, this.services.events].find(
      (s) => s.model.targetPrefix === prefix,
    );
    const err = (code: string, message: string, status: number, extra?: ModelObject) =>
      this.jsonError(code, message, status, requestId, record, extra, entry);
    if (!entry || dot < 0) return err('UnknownOperationException', `Unknown target ${target}`, 400);
    record.service = entry.name;
    record.operation = operation;
    let parsed: unknown;
    try {
      parsed = raw.trim() === '' ? {} : JSON.parse(raw);
    } catch {
      this.count(entry.name, operation);
      return err('SerializationException', 'Start of structure or map found where not expected.', 400);
    }
    record.input = isObject(parsed) ? toJsonObject(parsed) : undefined;
    this.count(entry.name, operation);
    const op = entry.model.operation(operation);
    if (!op) return err('UnknownOperationException', `Unknown operation ${operation}`, 400);

    const gate = await this.gate(entry.name, operation, record.input, record, err);
    if (gate.reply) return gate.reply;

    if (!entry.handlers[operation]) {
      this.issues.push({
        kind: 'unimplemented',
        service: entry.name,
        operation,
        errors: [
          {
            path: '',
            message: `the emulator does not implement ${entry.name}:${operation}`,
            keyword: 'unimplemented',
          },
        ],
      });
      return err('UnknownOperationException', `The AWS emulator does not implement ${operation}`, 400);
    }
    const issues: WalkIssue[] = [];
    const input = op.input
      ? walk(entry.model, op.input, parsed, { source: 'json', constraints: op.inputConstraints }, issues)
      : {};
    record.requestErrors = issues.map((i) => ({ path: i.path, message: i.message, keyword: i.keyword }));
    if (issues.some((i) => i.kind === 'type')) {
      const first = issues.find((i) => i.kind === 'type');
      return err(
        'SerializationException',
        `Invalid value at '${first?.path ?? ''}': ${first?.message ?? ''}`,
        400,
      );
    }
    if (issues.length > 0) {
      const mapped = entry.requestError ? entry.requestError(operation, issues) : undefined;
      if (mapped) return err(mapped.code, mapped.message, mapped.status);
      if (mapped === undefined) return err(entry.validationCode, validationMessage(issues), 400);
      record.requestErrors = [];
    }

    const result = await this.run(entry, operation, (input ?? {}) as ModelObject);
    if ('error' in result) {
      const e = result.error;
      const reply = err(e.code, e.message, e.status, e.extra);
      return gate.dropAfter ? 'drop-after' : reply;
    }
    this.checkOutput(entry, operation, result.output, record);
    if (gate.dropAfter) {
      record.status = 200;
      return 'drop-after';
    }
    return {
      status: 200,
      headers: {
        'content-type': `application/x-amz-json-${entry.model.jsonVersion}`,
        'x-amzn-requestid': requestId,
      },
      body: jsonBody(result.output),
    };
  }

  /**
   * Query-protocol services share one endpoint: the SigV4 credential scope names the service
   * (`Credential=AKID/20261122/us-east-1/sts/aws4_request`). EC2 when it names none of STS and IAM.
   */
  private queryService(authorization: string | undefined): ServiceEntry {
    const service = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '')?.[1];
    if (service === 'sts') return this.services.sts;
    if (service === 'iam') return this.services.iam;
    return this.services.ec2;
  }

  private async handleQuery(
    raw: string,
    requestId: string,
    record: AwsRecordedRequest,
    entry: ServiceEntry,
  ): Promise<Reply | 'drop-before' | 'drop-after'> {
    const ec2 = entry.name === 'ec2';
    const params = new Map<string, string>();
    for (const [k, v] of new URLSearchParams(raw)) params.set(k, v);
    const err = (code: string, message: string, status: number) =>
      ec2
        ? this.ec2Error(code, message, status, requestId, record)
        : this.queryError(entry, code, message, status, requestId, record);
    const operation = params.get('Action');
    record.input = Object.fromEntries(params);
    if (!operation) return err('MissingAction', 'The request must contain the parameter Action', 400);
    record.service = entry.name;
    record.operation = operation;
    this.count(entry.name, operation);
    if (params.get('Version') !== entry.model.apiVersion) {
      return err('InvalidParameterValue', `Invalid API version: ${params.get('Version') ?? '(none)'}`, 400);
    }
    const op = entry.model.operation(operation);
    if (!op) return err('InvalidAction', `The action ${operation} is not valid for this web service.`, 400);

    const gate = await this.gate(entry.name, operation, record.input, record, err);
    if (gate.reply) return gate.reply;

    if (!entry.handlers[operation]) {
      this.issues.push({
        kind: 'unimplemented',
        service: entry.name,
        operation,
        errors: [
          {
            path: '',
            message: `the emulator does not implement ${entry.name}:${operation}`,
            keyword: 'unimplemented',
          },
        ],
      });
      return err('InvalidAction', `The AWS emulator does not implement ${operation}`, 400);
    }
    const decoded = (ec2 ? decodeEc2Query : decodeAwsQuery)(entry.model, op.input, params);
    if (decoded.unknown.length > 0) {
      record.requestErrors = decoded.unknown.map((k) => ({
        path: k,
        message: 'unknown parameter',
        keyword: 'additionalProperties',
      }));
      return err('UnknownParameter', `The parameter ${decoded.unknown[0]} is not recognized`, 400);
    }
    const issues: WalkIssue[] = [];
    const input = op.input
      ? walk(
          entry.model,
          op.input,
          decoded.value,
          { source: 'query', constraints: op.inputConstraints },
          issues,
        )
      : {};
    record.requestErrors = issues.map((i) => ({ path: i.path, message: i.message, keyword: i.keyword }));
    const first = issues[0];
    if (first?.kind === 'required')
      return err('MissingParameter', `The request must contain the parameter ${first.path}`, 400);
    if (first)
      return err(
        'InvalidParameterValue',
        `Invalid value '${first.value ?? ''}' for ${first.path}: ${first.message}`,
        400,
      );
    if (isObject(input) && input.DryRun === true) {
      return err('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    }

    const result = await this.run(entry, operation, (input ?? {}) as ModelObject);
    if ('error' in result) {
      const e = result.error;
      const reply = err(e.code, e.message, e.status);
      return gate.dropAfter ? 'drop-after' : reply;
    }
    this.checkOutput(entry, operation, result.output, record);
    if (gate.dropAfter) {
      record.status = 200;
      return 'drop-after';
    }
    return {
      status: 200,
      headers: { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId },
      body: ec2
        ? ec2ResponseXml(entry.model, operation, op.output, result.output, requestId)
        : queryResponseXml(entry.model, operation, op.output, result.output, requestId),
    };
  }

  private queryError(
    entry: ServiceEntry,
    code: string,
    message: string,
    status: number,
    requestId: string,
    record: AwsRecordedRequest,
  ): Reply {
    record.errorCode = code;
    return {
      status,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
      body: queryErrorXml(entry.model, code, message, requestId, status >= 500 ? 'Receiver' : 'Sender'),
    };
  }

  dispose(): void {
    for (const t of this.ecs.tasks.values()) this.lifecycle.dispose(t);
    this.listeners.clear();
    this.sqs.dispose();
    this.events.dispose();
  }
}

function statusMatches(task: EcsTask, until: EcsTaskStatus | ((task: EcsTask) => boolean)): boolean {
  return typeof until === 'function' ? until(task) : task.lastStatus === until;
}

/**
 * Starts the AWS emulator: one HTTP endpoint on 127.0.0.1 serving ECS, CloudWatch Logs and EventBridge
 * (JSON 1.1) and SQS (JSON 1.0), dispatched on `X-Amz-Target`, and EC2 (query protocol, dispatched on
 * `Action=`).
 */
export async function startAwsEmulator(options: AwsEmulatorOptions = {}): Promise<AwsEmulator> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '123456789012';
  const emu = new AwsEmulatorServer(region, accountId, options);
  const server = createServer((req, res) => {
    emu.handle(req, res).catch((error: unknown) => {
      emu.issues.push({
        kind: 'emulator-error',
        service: 'ecs',
        operation: String(req.headers['x-amz-target'] ?? 'unknown'),
        errors: [
          {
            path: '',
            message: error instanceof Error ? (error.stack ?? error.message) : String(error),
            keyword: 'exception',
          },
        ],
      });
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'InternalFailure', message: String(error) }));
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  const port = await listen(server, options.port ?? 0);
  const endpoint = `http://127.0.0.1:${port}`;
  emu.sqs.endpoint = endpoint;
  let stopping: Promise<void> | undefined;

  const findTask = (ref: string) => emu.ecs.findTask(ref);
  return {
    endpoint,
    port,
    region,
    accountId,
    ecs: {
      seedCluster: (input) => emu.ecs.seedCluster(input),
      scaleOutEc2: (cluster, add) => emu.ecs.scaleOutEc2(cluster, add),
      clusters: () => [...emu.ecs.clusters.values()].map((c) => emu.ecs.clusterInfo(c)),
      tasks: (cluster) => {
        const c = cluster === undefined ? undefined : emu.ecs.findCluster(cluster);
        if (cluster !== undefined && !c) return [];
        return [...emu.ecs.tasks.values()]
          .filter((t) => !c || t.clusterArn === c.arn)
          .map((t) => emu.ecs.taskView(t));
      },
      taskStatuses: () =>
        [...emu.ecs.tasks.values()].map((t) => ({
          taskArn: t.arn,
          lastStatus: t.lastStatus,
          desiredStatus: t.desiredStatus,
        })),
      task: (ref) => {
        const t = findTask(ref);
        return t ? emu.ecs.taskView(t) : undefined;
      },
      taskDefinitions: () => emu.ecs.taskDefs.map((d) => emu.ecs.taskDefinitionView(d)),
      taskDefinition: (ref) => {
        const d = emu.ecs.findTaskDef(ref);
        return d ? emu.ecs.taskDefinitionView(d) : undefined;
      },
      taskEnvironment: (ref) => {
        const t = findTask(ref);
        return t ? { ...t.env } : undefined;
      },
      runTaskClientTokens: () => Object.fromEntries(emu.ecs.clientTokens()),
      injectRunTaskFailure: (failure) => emu.ecs.injectRunTaskFailure(failure),
      injectStartFailure: (failure) =>
        emu.ecs.injectStartFailure(failure?.stoppedReason, failure?.times ?? 1),
      injectRegisterConflict: (times) => emu.ecs.injectRegisterConflict(times ?? 1),
      interruptSpot: (ref) => {
        const t = findTask(ref);
        if (!t) throw new AwsError('InvalidParameterException', 'The referenced task was not found.');
        emu.lifecycle.interruptSpot(t);
      },
      stopTask: (ref, reason) => {
        const t = findTask(ref);
        if (!t) throw new AwsError('InvalidParameterException', 'The referenced task was not found.');
        emu.lifecycle.stop(t, reason ?? 'Task stopped by user');
      },
      setBehavior: (behavior) => {
        emu.behavior = behavior;
      },
      waitForTask: (ref, until = 'STOPPED', timeoutMs = 10_000) => {
        const t = findTask(ref);
        if (!t) return Promise.reject(new Error(`no task ${ref}`));
        const view = () => emu.ecs.taskView(t);
        if (statusMatches(view(), until)) return Promise.resolve(view());
        return new Promise<EcsTask>((resolve, reject) => {
          const listener = (): void => {
            const v = view();
            if (statusMatches(v, until)) {
              cleanup();
              resolve(v);
            }
          };
          const timer = setTimeout(() => {
            cleanup();
            reject(
              new Error(
                `task ${ref} did not reach ${typeof until === 'string' ? until : 'the condition'} in ${timeoutMs} ms (last status ${t.lastStatus})`,
              ),
            );
          }, timeoutMs);
          const cleanup = (): void => {
            clearTimeout(timer);
            emu.listeners.delete(listener);
          };
          emu.listeners.add(listener);
        });
      },
    },
    identity: {
      seedRole: (name, path) => emu.identity.seedRole(name, path).Arn,
      deny: (actions) => {
        for (const a of actions) emu.identity.denied.add(a);
      },
      setSimulation: (mode) => {
        emu.identity.simulation = mode;
      },
      setCredentials: (mode) => {
        emu.identity.credentials = mode;
      },
      callerArn: emu.identity.callerArn,
    },
    s3: {
      createBucket: (name, region) => emu.s3.createBucket(name, region),
      putObject: (bucket, key, body, contentType) => emu.s3.putObject(bucket, key, body, contentType),
      deny: (bucket, key) => emu.s3.deny(bucket, key),
    },
    ec2: {
      seedVpc: (input) => emu.ec2.seedVpc(input),
      seedSubnet: (input) => emu.ec2.seedSubnet(input),
      seedSecurityGroup: (input) => emu.ec2.seedSecurityGroup(input),
      removeDefaultVpc: () => emu.ec2.removeDefaultVpc(),
      defaultVpcId: () => emu.ec2.defaultVpcId(),
      vpcs: () => [...emu.ec2.vpcs.values()].map((v) => structuredClone(v)),
      subnets: (vpcId) =>
        [...emu.ec2.subnets.values()]
          .filter((s) => vpcId === undefined || s.VpcId === vpcId)
          .map((s) => structuredClone(s)),
      securityGroups: (vpcId) =>
        [...emu.ec2.securityGroups.values()]
          .filter((g) => vpcId === undefined || g.VpcId === vpcId)
          .map((g) => structuredClone(g)),
    },
    logs: {
      events: (group, stream) => emu.logs.events(group, stream),
      seedLogGroup: (name) => emu.logs.seedLogGroup(name),
      putEvents: (group, stream, messages) => emu.logs.put(group, stream, messages),
      groups: () => [...emu.logs.groups.keys()],
      streams: (group) => [...(emu.logs.groups.get(group)?.streams.keys() ?? [])],
    },
    sqs: {
      queue: (name) => emu.sqs.state(name),
      queues: () =>
        [...emu.sqs.queues.keys()]
          .sort()
          .map((name) => emu.sqs.state(name))
          .filter((q) => q !== undefined),
      messages: (name) => emu.sqs.messages(name),
      createQueue: (name, attributes, tags) => emu.sqs.createQueue(name, attributes ?? {}, tags ?? {}),
      send: (queue, body, options) =>
        emu.sqs.sendTo(
          queue,
          body,
          options?.delaySeconds !== undefined ? { delaySeconds: options.delaySeconds } : {},
        ),
      sendRaw: (queue, body) => emu.sqs.sendTo(queue, body, { raw: true }),
      deleteQueue: (name) => emu.sqs.deleteQueue(name, false),
      purge: (name) => emu.sqs.purge(name),
      injectDuplicate: (filter) => emu.sqs.injectDuplicate(filter),
      injectDelay: (filter) => emu.sqs.injectDelay(filter),
      injectReorder: (filter) => emu.sqs.injectReorder(filter),
      clearFaults: () => emu.sqs.clearFaults(),
    },
    events: {
      rules: () =>
        [...emu.events.rules.values()]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((r) => emu.events.view(r)),
      put: (input) => {
        const event = emu.events.complete(input);
        return { event: structuredClone(event), matchedRules: emu.events.put(event) };
      },
      events: () => emu.events.log.map((e) => structuredClone(e)),
      deliveries: () => emu.events.deliveryLog.map((d) => ({ ...d })),
      setDeliveryDelay: (ms) => {
        emu.events.deliveryDelayMs = ms;
      },
      enforceQueuePolicy: (enabled) => {
        emu.events.enforcePolicy = enabled;
      },
    },
    faults: emu.faults,
    callCounts: () => Object.fromEntries([...emu.counts.entries()].sort(([a], [b]) => a.localeCompare(b))),
    get requests() {
      return emu.log.map((r) => ({ ...r }));
    },
    clearRequests: () => {
      emu.log.length = 0;
      emu.counts.clear();
    },
    schemaErrors: () => [...emu.issues],
    onTaskChange: (listener) => {
      emu.listeners.add(listener);
      return () => {
        emu.listeners.delete(listener);
      };
    },
    stop: () => {
      stopping ??= new Promise<void>((resolve, reject) => {
        emu.dispose();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

/** Client configuration for the AWS SDK v3 clients (signatures are not verified). */
export function awsClientConfig(emulator: Pick<AwsEmulator, 'endpoint' | 'region'>): AwsClientConfig {
  return {
    region: emulator.region,
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
}
