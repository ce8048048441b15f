import { createHash } from 'node:crypto';
import type {
  AwsFaultHandle,
  ModelObject,
  ModelValue,
  SqsMessageFaultFilter,
  SqsMessageView,
  SqsQueueCounts,
  SqsQueueState,
} from './types.js';
import { AwsError, isObject, randomHex, randomUuid } from './util.js';

/**
 * Amazon SQS over its JSON protocol (`AmazonSQS.<Op>`, `application/x-amz-json-1.0`, awsQueryCompatible).
 * Standard queues only: visibility timeouts, long polling, delays, retention, redrive to a dead-letter
 * queue, batches, tags, plus message faults (duplicates, delays, reordering) for consumers' tests.
 */

// ---------------------------------------------------------------------------------------------- errors

/**
 * SQS errors, keyed by the model's shape name (what `__type` and the SDK's `error.name` carry), with the
 * awsQuery code SQS still reports in `x-amzn-query-error` (what botocore's `Error.Code` and the SDK's
 * `error.Code` carry) and the HTTP status, as the SDK's `awsQueryError` traits give them. Codes not listed
 * (InvalidParameterValue, MissingParameter…) are reported as themselves.
 */
export const SQS_ERRORS: Readonly<Record<string, { queryCode: string; status: number }>> = {
  BatchEntryIdsNotDistinct: { queryCode: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct', status: 400 },
  BatchRequestTooLong: { queryCode: 'AWS.SimpleQueueService.BatchRequestTooLong', status: 400 },
  EmptyBatchRequest: { queryCode: 'AWS.SimpleQueueService.EmptyBatchRequest', status: 400 },
  InvalidAddress: { queryCode: 'InvalidAddress', status: 404 },
  InvalidAttributeName: { queryCode: 'InvalidAttributeName', status: 400 },
  InvalidAttributeValue: { queryCode: 'InvalidAttributeValue', status: 400 },
  InvalidBatchEntryId: { queryCode: 'AWS.SimpleQueueService.InvalidBatchEntryId', status: 400 },
  InvalidMessageContents: { queryCode: 'InvalidMessageContents', status: 400 },
  InvalidSecurity: { queryCode: 'InvalidSecurity', status: 403 },
  MessageNotInflight: { queryCode: 'AWS.SimpleQueueService.MessageNotInflight', status: 400 },
  OverLimit: { queryCode: 'OverLimit', status: 403 },
  PurgeQueueInProgress: { queryCode: 'AWS.SimpleQueueService.PurgeQueueInProgress', status: 403 },
  QueueDeletedRecently: { queryCode: 'AWS.SimpleQueueService.QueueDeletedRecently', status: 400 },
  QueueDoesNotExist: { queryCode: 'AWS.SimpleQueueService.NonExistentQueue', status: 400 },
  QueueNameExists: { queryCode: 'QueueAlreadyExists', status: 400 },
  ReceiptHandleIsInvalid: { queryCode: 'ReceiptHandleIsInvalid', status: 404 },
  RequestThrottled: { queryCode: 'RequestThrottled', status: 403 },
  ResourceNotFoundException: { queryCode: 'ResourceNotFoundException', status: 404 },
  TooManyEntriesInBatchRequest: {
    queryCode: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
    status: 400,
  },
  UnsupportedOperation: { queryCode: 'AWS.SimpleQueueService.UnsupportedOperation', status: 400 },
};

/** The `__type`, `x-amzn-query-error` and status of an SQS error answer. */
export function sqsErrorWire(
  code: string,
  status: number,
): { type: string; queryError: string; status: number } {
  const known = SQS_ERRORS[code];
  const fault = (known?.status ?? status) >= 500 ? 'Receiver' : 'Sender';
  return {
    type: `com.amazonaws.sqs#${code}`,
    queryError: `${known?.queryCode ?? code};${fault}`,
    status: known?.status ?? status,
  };
}

function sqsError(code: string, message: string): AwsError {
  return new AwsError(code, message, SQS_ERRORS[code]?.status ?? 400);
}

const NOT_EXIST = 'The specified queue does not exist.';
const invalidParameter = (message: string) => sqsError('InvalidParameterValue', message);

// ------------------------------------------------------------------------------------------ attributes

/** Settable attributes of standard queues with their defaults (none: absent until set). */
const DEFAULT_ATTRIBUTES: Readonly<Record<string, string>> = {
  VisibilityTimeout: '30',
  MaximumMessageSize: '1048576',
  MessageRetentionPeriod: '345600',
  DelaySeconds: '0',
  ReceiveMessageWaitTimeSeconds: '0',
  SqsManagedSseEnabled: 'true',
};

const INTEGER_ATTRIBUTES: Readonly<Record<string, [number, number]>> = {
  VisibilityTimeout: [0, 43_200],
  MaximumMessageSize: [1024, 1_048_576],
  MessageRetentionPeriod: [60, 1_209_600],
  DelaySeconds: [0, 900],
  ReceiveMessageWaitTimeSeconds: [0, 20],
  KmsDataKeyReusePeriodSeconds: [60, 86_400],
};

const SETTABLE = new Set([
  ...Object.keys(INTEGER_ATTRIBUTES),
  'Policy',
  'RedrivePolicy',
  'RedriveAllowPolicy',
  'KmsMasterKeyId',
  'SqsManagedSseEnabled',
]);

const MESSAGE_SYSTEM_ATTRIBUTES = new Set([
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'AWSTraceHeader',
  'DeadLetterQueueSourceArn',
]);

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ID = /^[A-Za-z0-9_-]{1,80}$/;
/** Characters SQS accepts in message bodies and string attribute values. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the XML character ranges SQS documents
const INVALID_CHARS = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
/** Largest SendMessageBatch payload (all bodies and attributes together). */
const MAX_BATCH_BYTES = 1_048_576;

// -------------------------------------------------------------------------------------------- records

interface MessageAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: Uint8Array;
}

interface MessageRecord {
  id: string;
  body: string;
  md5: string;
  attributes: Record<string, MessageAttribute>;
  traceHeader?: string;
  senderId: string;
  sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  /** The receipt handle of the latest receive. */
  receipt?: string;
  deadLetterSourceArn?: string;
}

interface QueueRecord {
  name: string;
  url: string;
  arn: string;
  attributes: Record<string, string>;
  tags: Record<string, string>;
  createdAt: number;
  modifiedAt: number;
  lastPurgeAt?: number;
  messages: MessageRecord[];
  waiters: Set<() => void>;
  deleted: boolean;
}

interface MessageFault {
  kind: 'duplicate' | 'delay' | 'reorder';
  name: string;
  queue?: string;
  match?: (body: string) => boolean;
  remaining: number;
  hits: number;
  copies: number;
  delayMs: number;
  maxHoldMs: number;
  held: { queue: string; message: MessageRecord }[];
  timer?: ReturnType<typeof setTimeout>;
}

// ------------------------------------------------------------------------------------------------ md5

function md5Hex(data: string | Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/** The MD5 SQS reports for message attributes: sorted names, length-prefixed fields, transport byte. */
export function md5OfMessageAttributes(attributes: Record<string, MessageAttribute>): string {
  const hash = createHash('md5');
  const field = (bytes: Uint8Array): void => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const a = attributes[name];
    if (!a) continue;
    field(Buffer.from(name, 'utf8'));
    field(Buffer.from(a.DataType, 'utf8'));
    if (a.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      field(a.BinaryValue);
    } else {
      hash.update(Buffer.from([1]));
      field(Buffer.from(a.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

// ------------------------------------------------------------------------------------------- helpers

function str(value: ModelValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function num(value: ModelValue | undefined): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function stringMap(value: ModelValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(value)) for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

function list(value: ModelValue | undefined): ModelValue[] {
  return Array.isArray(value) ? value : [];
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

export interface SqsStoreOptions {
  region: string;
  accountId: string;
  rng: () => number;
  deletedQueueCooldownMs?: number;
}

export class SqsStore {
  readonly queues = new Map<string, QueueRecord>();
  /** Set once the server listens; queue URLs are `<endpoint>/<account>/<name>`. */
  endpoint = 'http://127.0.0.1';
  private readonly deletedAt = new Map<string, number>();
  private readonly receipts = new Map<string, { queue: QueueRecord; message: MessageRecord }>();
  private faults: MessageFault[] = [];
  private faultCounter = 0;
  private disposed = false;
  private readonly region: string;
  private readonly accountId: string;
  private readonly rng: () => number;
  private readonly cooldownMs: number;

  constructor(options: SqsStoreOptions) {
    this.region = options.region;
    this.accountId = options.accountId;
    this.rng = options.rng;
    this.cooldownMs = options.deletedQueueCooldownMs ?? 60_000;
  }

  // --------------------------------------------------------------------------------------- lookups

  arnOf(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.accountId}:${name}`;
  }

  byName(name: string): QueueRecord | undefined {
    return this.queues.get(name);
  }

  byArn(arn: string): QueueRecord | undefined {
    const prefix = `arn:aws:sqs:${this.region}:${this.accountId}:`;
    return arn.startsWith(prefix) ? this.queues.get(arn.slice(prefix.length)) : undefined;
  }

  private byUrl(url: string): QueueRecord {
    let segments: string[];
    try {
      segments = new URL(url).pathname.split('/').filter((s) => s !== '');
    } catch {
      throw sqsError('InvalidAddress', `The address ${url} is not valid for this endpoint.`);
    }
    const [account, name] = segments.length === 2 ? segments : [];
    if (account === undefined || name === undefined) {
      throw sqsError('InvalidAddress', `The address ${url} is not valid for this endpoint.`);
    }
    const q = account === this.accountId ? this.queues.get(name) : undefined;
    if (!q) throw sqsError('QueueDoesNotExist', NOT_EXIST);
    return q;
  }

  private queueOf(input: ModelObject): QueueRecord {
    return this.byUrl(str(input.QueueUrl) ?? '');
  }

  // ----------------------------------------------------------------------------------------- state

  private stateOf(m: MessageRecord, now: number): 'visible' | 'in-flight' | 'delayed' {
    if (m.visibleAt <= now) return 'visible';
    return m.receiveCount > 0 ? 'in-flight' : 'delayed';
  }

  private expire(q: QueueRecord, now: number): void {
    const retentionMs = Number(q.attributes.MessageRetentionPeriod ?? '345600') * 1000;
    if (q.messages.some((m) => m.sentAt + retentionMs <= now)) {
      q.messages = q.messages.filter((m) => m.sentAt + retentionMs > now);
    }
  }

  private counts(q: QueueRecord): SqsQueueCounts {
    const now = Date.now();
    this.expire(q, now);
    const c: SqsQueueCounts = { visible: 0, inFlight: 0, delayed: 0, held: 0, total: 0 };
    for (const m of q.messages) {
      const s = this.stateOf(m, now);
      if (s === 'visible') c.visible += 1;
      else if (s === 'in-flight') c.inFlight += 1;
      else c.delayed += 1;
    }
    for (const f of this.faults) c.held += f.held.filter((h) => h.queue === q.name).length;
    c.total = c.visible + c.inFlight + c.delayed;
    return c;
  }

  private redriveOf(q: QueueRecord): { arn: string; maxReceiveCount: number } | null {
    const raw = q.attributes.RedrivePolicy;
    if (!raw) return null;
    const parsed = JSON.parse(raw) as { deadLetterTargetArn: string; maxReceiveCount: number };
    return { arn: parsed.deadLetterTargetArn, maxReceiveCount: parsed.maxReceiveCount };
  }

  private notify(q: QueueRecord): void {
    for (const wake of [...q.waiters]) wake();
  }

  private wait(q: QueueRecord, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        q.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      q.waiters.add(done);
    });
  }

  // ----------------------------------------------------------------------------------- attributes

  private validateAttributes(attributes: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(attributes)) {
      if (name === 'FifoQueue' || name === 'ContentBasedDeduplication' || name === 'DeduplicationScope') {
        if (name === 'FifoQueue' && value === 'false') continue;
        if (name === 'FifoQueue') {
          throw sqsError(
            'UnsupportedOperation',
            'The AWS emulator supports standard queues only (not FIFO).',
          );
        }
        throw sqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
      }
      if (!SETTABLE.has(name)) throw sqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
      const range = INTEGER_ATTRIBUTES[name];
      if (range) {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < range[0] || n > range[1]) {
          throw sqsError('InvalidAttributeValue', `Invalid value for the parameter ${name}.`);
        }
        out[name] = String(n);
      } else if (name === 'RedrivePolicy') {
        out[name] = value === '' ? '' : this.normalizeRedrive(value);
      } else if (name === 'Policy' || name === 'RedriveAllowPolicy') {
        if (value !== '') {
          let parsed: unknown;
          try {
            parsed = JSON.parse(value);
          } catch {
            parsed = undefined;
          }
          if (!isObject(parsed)) {
            throw sqsError('InvalidAttributeValue', `Invalid value for the parameter ${name}.`);
          }
        }
        out[name] = value;
      } else if (name === 'SqsManagedSseEnabled') {
        if (value !== 'true' && value !== 'false') {
          throw sqsError('InvalidAttributeValue', `Invalid value for the parameter ${name}.`);
        }
        out[name] = value;
      } else {
        out[name] = value;
      }
    }
    return out;
  }

  private normalizeRedrive(value: string): string {
    const invalid = (reason: string): AwsError =>
      sqsError(
        'InvalidAttributeValue',
        `Value ${value} for parameter RedrivePolicy is invalid. Reason: ${reason}`,
      );
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw sqsError(
        'InvalidAttributeValue',
        'Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.',
      );
    }
    if (!isObject(parsed)) throw invalid('Redrive policy is not a valid JSON map.');
    for (const key of Object.keys(parsed)) {
      if (key !== 'deadLetterTargetArn' && key !== 'maxReceiveCount') {
        throw invalid(`Only following attributes are supported:[deadLetterTargetArn, maxReceiveCount].`);
      }
    }
    const arn = parsed.deadLetterTargetArn;
    if (typeof arn !== 'string')
      throw invalid('Redrive policy does not contain mandatory attribute: deadLetterTargetArn.');
    const rawCount = parsed.maxReceiveCount;
    if (rawCount === undefined)
      throw invalid('Redrive policy does not contain mandatory attribute: maxReceiveCount.');
    const count = typeof rawCount === 'string' && /^\d+$/.test(rawCount) ? Number(rawCount) : rawCount;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1000) {
      throw invalid(
        `Invalid value for maxReceiveCount: ${String(rawCount)}, valid values are from 1 to 1000 both inclusive.`,
      );
    }
    if (!this.byArn(arn)) throw invalid('Dead letter target does not exist.');
    return JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: count });
  }

  private attributeValues(q: QueueRecord, names: string[]): Record<string, string> {
    const all = names.includes('All');
    const c = this.counts(q);
    const values: Record<string, string> = {
      QueueArn: q.arn,
      ApproximateNumberOfMessages: String(c.visible),
      ApproximateNumberOfMessagesNotVisible: String(c.inFlight),
      ApproximateNumberOfMessagesDelayed: String(c.delayed),
      CreatedTimestamp: String(Math.floor(q.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(q.modifiedAt / 1000)),
    };
    for (const [k, v] of Object.entries(q.attributes)) if (v !== '') values[k] = v;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(values)) if (all || names.includes(k)) out[k] = v;
    return out;
  }

  // -------------------------------------------------------------------------------------- queues

  createQueue(name: string, attributes: Record<string, string>, tags: Record<string, string>): string {
    if (name.endsWith('.fifo')) {
      throw sqsError('UnsupportedOperation', 'The AWS emulator supports standard queues only (not FIFO).');
    }
    if (!QUEUE_NAME.test(name)) {
      throw invalidParameter(
        'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length',
      );
    }
    const attrs = this.validateAttributes(attributes);
    const existing = this.queues.get(name);
    if (existing) {
      for (const [k, v] of Object.entries(attrs)) {
        const current = existing.attributes[k] ?? DEFAULT_ATTRIBUTES[k] ?? '';
        if (current !== v) {
          throw sqsError(
            'QueueNameExists',
            `A queue already exists with the same name and a different value for attribute ${k}`,
          );
        }
      }
      return existing.url;
    }
    const deletedAt = this.deletedAt.get(name);
    if (deletedAt !== undefined && Date.now() - deletedAt < this.cooldownMs) {
      throw sqsError(
        'QueueDeletedRecently',
        'You must wait 60 seconds after deleting a queue before you can create another with the same name.',
      );
    }
    if (Object.keys(tags).length > 50) throw invalidParameter(`Too many tags added for queue ${name}.`);
    const now = Date.now();
    const stored: Record<string, string> = { ...DEFAULT_ATTRIBUTES };
    for (const [k, v] of Object.entries(attrs)) {
      if (v === '') delete stored[k];
      else stored[k] = v;
    }
    const q: QueueRecord = {
      name,
      url: `${this.endpoint}/${this.accountId}/${name}`,
      arn: this.arnOf(name),
      attributes: stored,
      tags: { ...tags },
      createdAt: now,
      modifiedAt: now,
      messages: [],
      waiters: new Set(),
      deleted: false,
    };
    this.queues.set(name, q);
    return q.url;
  }

  deleteQueue(name: string, cooldown: boolean): void {
    const q = this.queues.get(name);
    if (!q) throw sqsError('QueueDoesNotExist', NOT_EXIST);
    q.deleted = true;
    this.queues.delete(name);
    if (cooldown) this.deletedAt.set(name, Date.now());
    else this.deletedAt.delete(name);
    for (const [handle, r] of this.receipts) if (r.queue === q) this.receipts.delete(handle);
    this.notify(q);
  }

  purge(name: string): void {
    const q = this.queues.get(name);
    if (!q) throw sqsError('QueueDoesNotExist', NOT_EXIST);
    q.messages = [];
  }

  // ------------------------------------------------------------------------------------ messages

  private newMessage(body: string, delaySeconds: number, senderId: string): MessageRecord {
    const now = Date.now();
    return {
      id: randomUuid(this.rng),
      body,
      md5: md5Hex(body),
      attributes: {},
      senderId,
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    };
  }

  private faultMatches(f: MessageFault, queue: string, body: string): boolean {
    if (f.remaining <= 0) return false;
    if (f.queue !== undefined && f.queue !== queue) return false;
    return !f.match || f.match(body);
  }

  /** Puts a new message in the queue, through the message faults. */
  private enqueue(q: QueueRecord, m: MessageRecord): void {
    const reorder = this.faults.find((f) => f.kind === 'reorder' && this.faultMatches(f, q.name, m.body));
    if (reorder) {
      reorder.hits += 1;
      reorder.held.push({ queue: q.name, message: m });
      if (reorder.held.length >= reorder.remaining) this.release(reorder);
      else reorder.timer ??= setTimeout(() => this.release(reorder), reorder.maxHoldMs);
      return;
    }
    for (const f of this.faults) {
      if (f.kind !== 'delay' || !this.faultMatches(f, q.name, m.body)) continue;
      f.remaining -= 1;
      f.hits += 1;
      m.visibleAt = Math.max(m.visibleAt, Date.now() + f.delayMs);
    }
    q.messages.push(m);
    for (const f of this.faults) {
      if (f.kind !== 'duplicate' || !this.faultMatches(f, q.name, m.body)) continue;
      f.remaining -= 1;
      f.hits += 1;
      for (let i = 0; i < f.copies; i++) q.messages.push({ ...m, attributes: { ...m.attributes } });
    }
    this.faults = this.faults.filter((f) => f.remaining > 0 || f.held.length > 0);
    this.notify(q);
  }

  /** Enqueues the messages a reorder fault held, newest first, and ends the fault. */
  private release(f: MessageFault): void {
    if (f.timer) clearTimeout(f.timer);
    f.timer = undefined;
    const held = f.held.reverse();
    f.held = [];
    f.remaining = 0;
    this.faults = this.faults.filter((x) => x !== f);
    const now = Date.now();
    for (const { queue, message } of held) {
      const q = this.queues.get(queue);
      if (!q) continue;
      message.visibleAt = Math.max(message.visibleAt, now);
      q.messages.push(message);
      this.notify(q);
    }
  }

  private addFault(
    kind: MessageFault['kind'],
    filter: SqsMessageFaultFilter,
    extra: Partial<Pick<MessageFault, 'copies' | 'delayMs' | 'maxHoldMs'>>,
    times: number,
  ): AwsFaultHandle {
    this.faultCounter += 1;
    const f: MessageFault = {
      kind,
      name: `sqs ${kind} ${this.faultCounter}`,
      ...(filter.queue !== undefined ? { queue: filter.queue } : {}),
      ...(filter.match !== undefined ? { match: filter.match } : {}),
      remaining: times,
      hits: 0,
      copies: extra.copies ?? 1,
      delayMs: extra.delayMs ?? 0,
      maxHoldMs: extra.maxHoldMs ?? 2000,
      held: [],
    };
    this.faults.push(f);
    return {
      name: f.name,
      hits: () => f.hits,
      remaining: () => f.remaining,
      remove: () => {
        if (f.held.length > 0) this.release(f);
        this.faults = this.faults.filter((x) => x !== f);
      },
    };
  }

  injectDuplicate(filter: SqsMessageFaultFilter & { copies?: number } = {}): AwsFaultHandle {
    return this.addFault('duplicate', filter, { copies: Math.max(1, filter.copies ?? 1) }, filter.times ?? 1);
  }

  injectDelay(filter: SqsMessageFaultFilter & { delayMs: number }): AwsFaultHandle {
    return this.addFault('delay', filter, { delayMs: filter.delayMs }, filter.times ?? 1);
  }

  injectReorder(
    filter: Omit<SqsMessageFaultFilter, 'times'> & { count: number; maxHoldMs?: number },
  ): AwsFaultHandle {
    const extra = filter.maxHoldMs !== undefined ? { maxHoldMs: filter.maxHoldMs } : {};
    return this.addFault('reorder', filter, extra, Math.max(1, filter.count));
  }

  clearFaults(): void {
    for (const f of [...this.faults]) if (f.held.length > 0) this.release(f);
    this.faults = [];
  }

  /** Sends a message to a queue by name (helpers and EventBridge); returns its MessageId. */
  sendTo(name: string, body: string, options: { delaySeconds?: number; raw?: boolean } = {}): string {
    const q = this.queues.get(name);
    if (!q) throw sqsError('QueueDoesNotExist', NOT_EXIST);
    if (!options.raw) this.checkBody(q, body, 0);
    const delay = options.delaySeconds ?? Number(q.attributes.DelaySeconds ?? '0');
    const m = this.newMessage(body, delay, this.accountId);
    this.enqueue(q, m);
    return m.id;
  }

  private checkBody(q: QueueRecord, body: string, attributeBytes: number): void {
    if (body === '')
      throw sqsError('MissingParameter', 'The request must contain the parameter MessageBody.');
    if (INVALID_CHARS.test(body)) {
      throw sqsError(
        'InvalidMessageContents',
        'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF',
      );
    }
    const max = Number(q.attributes.MaximumMessageSize ?? '1048576');
    if (byteLength(body) + attributeBytes > max) {
      throw invalidParameter(
        `One or more parameters are invalid. Reason: Message must be shorter than ${max} bytes.`,
      );
    }
  }

  private readMessageAttributes(
    value: ModelValue | undefined,
    system: boolean,
  ): Record<string, MessageAttribute> {
    const out: Record<string, MessageAttribute> = {};
    if (!isObject(value)) return out;
    const entries = Object.entries(value);
    const kind = system ? 'message system attribute' : 'message (user) attribute';
    if (entries.length > 10) {
      throw invalidParameter(
        `Number of message attributes [${entries.length}] exceeds the allowed maximum [10].`,
      );
    }
    for (const [name, raw] of entries) {
      if (!isObject(raw)) continue;
      const a = raw as ModelObject;
      if (
        !system &&
        (!/^[A-Za-z0-9_.-]{1,256}$/.test(name) ||
          name.startsWith('.') ||
          name.endsWith('.') ||
          name.includes('..') ||
          /^(aws\.|amazon\.)/i.test(name))
      ) {
        throw invalidParameter(`Message (user) attribute name '${name}' is invalid.`);
      }
      const dataType = str(a.DataType) ?? '';
      const base = dataType.split('.')[0];
      if (base !== 'String' && base !== 'Number' && base !== 'Binary') {
        throw invalidParameter(
          `The type of ${kind} '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`,
        );
      }
      if (a.StringListValues !== undefined || a.BinaryListValues !== undefined) {
        throw invalidParameter('Message attribute list values in SendMessage operation are not supported.');
      }
      const missing = `The ${kind} '${name}' must contain a non-empty value of message attribute type '${base}'.`;
      if (base === 'Binary') {
        const bin = a.BinaryValue;
        if (!(bin instanceof Uint8Array) || bin.length === 0) throw invalidParameter(missing);
        out[name] = { DataType: dataType, BinaryValue: bin };
      } else {
        const s = str(a.StringValue);
        if (s === undefined || s === '') throw invalidParameter(missing);
        if (base === 'Number' && Number.isNaN(Number(s))) {
          throw invalidParameter(`Can't cast the value of ${kind} '${name}' to a number.`);
        }
        out[name] = { DataType: dataType, StringValue: s };
      }
    }
    return out;
  }

  private attributeBytes(attributes: Record<string, MessageAttribute>): number {
    let n = 0;
    for (const [name, a] of Object.entries(attributes)) {
      n += byteLength(name) + byteLength(a.DataType);
      n += a.BinaryValue ? a.BinaryValue.length : byteLength(a.StringValue ?? '');
    }
    return n;
  }

  /** SendMessage and each SendMessageBatch entry. */
  private send(q: QueueRecord, entry: ModelObject): ModelObject {
    const body = str(entry.MessageBody) ?? '';
    const attributes = this.readMessageAttributes(entry.MessageAttributes, false);
    const system = this.readMessageAttributes(entry.MessageSystemAttributes, true);
    this.checkBody(q, body, this.attributeBytes(attributes));
    const delay = num(entry.DelaySeconds);
    if (delay !== undefined && (delay < 0 || delay > 900)) {
      throw invalidParameter(
        `Value ${delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.`,
      );
    }
    if (entry.MessageDeduplicationId !== undefined) {
      throw invalidParameter(
        `Value ${String(entry.MessageDeduplicationId)} for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.`,
      );
    }
    const m = this.newMessage(body, delay ?? Number(q.attributes.DelaySeconds ?? '0'), this.accountId);
    m.attributes = attributes;
    const trace = system.AWSTraceHeader?.StringValue;
    if (trace !== undefined) m.traceHeader = trace;
    this.enqueue(q, m);
    return {
      MessageId: m.id,
      MD5OfMessageBody: m.md5,
      ...(Object.keys(attributes).length > 0
        ? { MD5OfMessageAttributes: md5OfMessageAttributes(attributes) }
        : {}),
      ...(Object.keys(system).length > 0
        ? { MD5OfMessageSystemAttributes: md5OfMessageAttributes(system) }
        : {}),
    };
  }

  /** Takes up to `max` receivable messages, redriving the ones past `maxReceiveCount`. */
  private take(q: QueueRecord, max: number, visibilityTimeout: number): MessageRecord[] {
    const now = Date.now();
    this.expire(q, now);
    const redrive = this.redriveOf(q);
    const dlq = redrive ? this.byArn(redrive.arn) : undefined;
    const out: MessageRecord[] = [];
    for (const m of [...q.messages]) {
      if (out.length >= max) break;
      if (m.visibleAt > now) continue;
      if (redrive && dlq && m.receiveCount >= redrive.maxReceiveCount) {
        q.messages = q.messages.filter((x) => x !== m);
        m.receipt = undefined;
        m.deadLetterSourceArn = q.arn;
        m.visibleAt = now;
        dlq.messages.push(m);
        this.notify(dlq);
        continue;
      }
      m.receiveCount += 1;
      m.firstReceivedAt ??= now;
      m.visibleAt = now + visibilityTimeout * 1000;
      const handle = Buffer.from(`${q.name} ${m.id} ${m.receiveCount} ${randomHex(this.rng, 32)}`).toString(
        'base64',
      );
      m.receipt = handle;
      this.receipts.set(handle, { queue: q, message: m });
      out.push(m);
    }
    return out;
  }

  private nextVisibleAt(q: QueueRecord, now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const m of q.messages) if (m.visibleAt > now && m.visibleAt < next) next = m.visibleAt;
    return next;
  }

  private messageOutput(m: MessageRecord, systemNames: Set<string>, attributeNames: string[]): ModelObject {
    const all = systemNames.has('All');
    const system: Record<string, string> = {
      SenderId: m.senderId,
      SentTimestamp: String(m.sentAt),
      ApproximateReceiveCount: String(m.receiveCount),
      ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt ?? m.sentAt),
    };
    if (m.traceHeader !== undefined) system.AWSTraceHeader = m.traceHeader;
    if (m.deadLetterSourceArn !== undefined) system.DeadLetterQueueSourceArn = m.deadLetterSourceArn;
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(system)) if (all || systemNames.has(k)) attrs[k] = v;
    const wanted = (name: string): boolean =>
      attributeNames.some(
        (p) =>
          p === 'All' || p === '.*' || p === name || (p.endsWith('.*') && name.startsWith(p.slice(0, -1))),
      );
    const userAttrs: Record<string, MessageAttribute> = {};
    for (const [k, v] of Object.entries(m.attributes)) if (wanted(k)) userAttrs[k] = v;
    const messageAttributes: ModelObject = {};
    for (const [k, v] of Object.entries(userAttrs)) {
      messageAttributes[k] = {
        DataType: v.DataType,
        ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}),
        ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}),
      };
    }
    return {
      MessageId: m.id,
      ReceiptHandle: m.receipt ?? '',
      MD5OfBody: m.md5,
      Body: m.body,
      ...(Object.keys(attrs).length > 0 ? { Attributes: attrs } : {}),
      ...(Object.keys(userAttrs).length > 0
        ? { MD5OfMessageAttributes: md5OfMessageAttributes(userAttrs), MessageAttributes: messageAttributes }
        : {}),
    };
  }

  private async receiveMessage(input: ModelObject): Promise<ModelObject> {
    const q = this.queueOf(input);
    const max = num(input.MaxNumberOfMessages) ?? 1;
    if (max < 1 || max > 10) {
      throw invalidParameter(
        `Value ${max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`,
      );
    }
    const wait = num(input.WaitTimeSeconds) ?? Number(q.attributes.ReceiveMessageWaitTimeSeconds ?? '0');
    if (wait < 0 || wait > 20) {
      throw invalidParameter(
        `Value ${wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.`,
      );
    }
    const visibility = num(input.VisibilityTimeout) ?? Number(q.attributes.VisibilityTimeout ?? '30');
    if (visibility < 0 || visibility > 43_200) {
      throw invalidParameter(
        `Value ${visibility} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.`,
      );
    }
    const systemNames = new Set(
      [...list(input.AttributeNames), ...list(input.MessageSystemAttributeNames)].filter(
        (n): n is string => typeof n === 'string',
      ),
    );
    const attributeNames = list(input.MessageAttributeNames).filter(
      (n): n is string => typeof n === 'string',
    );
    const deadline = Date.now() + wait * 1000;
    for (;;) {
      if (q.deleted) throw sqsError('QueueDoesNotExist', NOT_EXIST);
      const taken = this.take(q, max, visibility);
      if (taken.length > 0) {
        return { Messages: taken.map((m) => this.messageOutput(m, systemNames, attributeNames)) };
      }
      const now = Date.now();
      if (this.disposed || now >= deadline) return {};
      await this.wait(q, Math.min(deadline, this.nextVisibleAt(q, now)) - now);
    }
  }

  private receipt(
    q: QueueRecord,
    handle: string,
  ): { queue: QueueRecord; message: MessageRecord } | undefined {
    const r = this.receipts.get(handle);
    if (!r || r.queue !== q) {
      throw sqsError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
      );
    }
    return r.queue.messages.includes(r.message) ? r : undefined;
  }

  private deleteOne(q: QueueRecord, handle: string): void {
    const r = this.receipt(q, handle);
    if (r) q.messages = q.messages.filter((m) => m !== r.message);
  }

  private changeVisibilityOne(q: QueueRecord, handle: string, timeout: number | undefined): void {
    if (timeout === undefined) {
      throw sqsError('MissingParameter', 'The request must contain the parameter VisibilityTimeout.');
    }
    if (timeout < 0 || timeout > 43_200) {
      throw invalidParameter(
        `Value ${timeout} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.`,
      );
    }
    const r = this.receipt(q, handle);
    const now = Date.now();
    if (!r || r.message.receipt !== handle || r.message.visibleAt <= now) {
      throw sqsError(
        'MessageNotInflight',
        'Message does not exist or is not available for visibility timeout change.',
      );
    }
    r.message.visibleAt = now + timeout * 1000;
    // Waiting long polls sleep until the next visibility they knew of: wake them so they see the new one, as SQS
    // returns a message to a waiting ReceiveMessage as soon as it is visible again.
    this.notify(q);
  }

  private batch(
    entries: ModelValue | undefined,
    kind: string,
    each: (entry: ModelObject) => ModelObject,
  ): ModelObject {
    const list = Array.isArray(entries) ? entries.filter(isObject).map((e) => e as ModelObject) : [];
    if (list.length === 0) {
      throw sqsError('EmptyBatchRequest', `There should be at least one ${kind}RequestEntry in the request.`);
    }
    if (list.length > 10) {
      throw sqsError(
        'TooManyEntriesInBatchRequest',
        `Maximum number of entries per request are 10. You have sent ${list.length}.`,
      );
    }
    const seen = new Set<string>();
    for (const e of list) {
      const id = str(e.Id) ?? '';
      if (!BATCH_ID.test(id)) {
        throw sqsError(
          'InvalidBatchEntryId',
          'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
        );
      }
      if (seen.has(id)) throw sqsError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
      seen.add(id);
    }
    const successful: ModelObject[] = [];
    const failed: ModelObject[] = [];
    for (const e of list) {
      const id = str(e.Id) ?? '';
      try {
        successful.push({ Id: id, ...each(e) });
      } catch (error) {
        if (!(error instanceof AwsError)) throw error;
        failed.push({
          Id: id,
          SenderFault: error.status < 500,
          Code: SQS_ERRORS[error.code]?.queryCode ?? error.code,
          Message: error.message,
        });
      }
    }
    return { Successful: successful, Failed: failed };
  }

  // --------------------------------------------------------------------------------------- views

  state(name: string): SqsQueueState | undefined {
    const q = this.queues.get(name);
    if (!q) return undefined;
    const redrive = this.redriveOf(q);
    let dlq: SqsQueueState['dlq'] = null;
    if (redrive) {
      const target = this.byArn(redrive.arn);
      const dlqName = redrive.arn.split(':').pop() ?? '';
      dlq = {
        name: dlqName,
        arn: redrive.arn,
        exists: target !== undefined,
        ...(target ? this.counts(target) : { visible: 0, inFlight: 0, delayed: 0, held: 0, total: 0 }),
      };
    }
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(q.attributes)) if (v !== '') attributes[k] = v;
    return {
      name: q.name,
      url: q.url,
      arn: q.arn,
      ...this.counts(q),
      attributes,
      tags: { ...q.tags },
      dlq,
    };
  }

  messages(name: string): SqsMessageView[] {
    const q = this.queues.get(name);
    if (!q) return [];
    const now = Date.now();
    this.expire(q, now);
    return q.messages.map((m) => {
      const messageAttributes: SqsMessageView['messageAttributes'] = {};
      for (const [k, a] of Object.entries(m.attributes)) {
        messageAttributes[k] = {
          DataType: a.DataType,
          ...(a.StringValue !== undefined ? { StringValue: a.StringValue } : {}),
          ...(a.BinaryValue !== undefined
            ? { BinaryValue: Buffer.from(a.BinaryValue).toString('base64') }
            : {}),
        };
      }
      return {
        messageId: m.id,
        body: m.body,
        state: this.stateOf(m, now),
        receiveCount: m.receiveCount,
        sentAt: m.sentAt,
        ...(m.firstReceivedAt !== undefined ? { firstReceivedAt: m.firstReceivedAt } : {}),
        visibleAt: m.visibleAt,
        ...(m.deadLetterSourceArn !== undefined ? { deadLetterQueueSourceArn: m.deadLetterSourceArn } : {}),
        messageAttributes,
      };
    });
  }

  dispose(): void {
    this.disposed = true;
    for (const f of this.faults) if (f.timer) clearTimeout(f.timer);
    for (const q of this.queues.values()) this.notify(q);
  }

  // -------------------------------------------------------------------------------------- handlers

  handlers(): Record<string, (input: ModelObject) => ModelObject | Promise<ModelObject>> {
    return {
      CreateQueue: (i) => ({
        QueueUrl: this.createQueue(str(i.QueueName) ?? '', stringMap(i.Attributes), stringMap(i.tags)),
      }),
      GetQueueUrl: (i) => {
        const owner = str(i.QueueOwnerAWSAccountId);
        const q =
          owner === undefined || owner === this.accountId
            ? this.queues.get(str(i.QueueName) ?? '')
            : undefined;
        if (!q) throw sqsError('QueueDoesNotExist', NOT_EXIST);
        return { QueueUrl: q.url };
      },
      DeleteQueue: (i) => {
        this.deleteQueue(this.queueOf(i).name, true);
        return {};
      },
      ListQueues: (i) => {
        const prefix = str(i.QueueNamePrefix) ?? '';
        const urls = [...this.queues.values()]
          .filter((q) => q.name.startsWith(prefix))
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((q) => q.url);
        const maxResults = num(i.MaxResults);
        const token = str(i.NextToken);
        if (token !== undefined && maxResults === undefined) {
          throw invalidParameter(
            'MaxResults is a mandatory parameter when you provide a value for NextToken.',
          );
        }
        if (maxResults !== undefined && (maxResults < 1 || maxResults > 1000)) {
          throw invalidParameter(
            `Value ${maxResults} for parameter MaxResults is invalid. Reason: Must be between 1 and 1000, if provided.`,
          );
        }
        const start = token === undefined ? 0 : Number(Buffer.from(token, 'base64').toString('utf8'));
        if (Number.isNaN(start)) throw invalidParameter('Invalid NextToken value.');
        const page = urls.slice(start, start + (maxResults ?? 1000));
        const next = start + page.length;
        return {
          ...(page.length > 0 ? { QueueUrls: page } : {}),
          ...(maxResults !== undefined && next < urls.length
            ? { NextToken: Buffer.from(String(next)).toString('base64') }
            : {}),
        };
      },
      GetQueueAttributes: (i): ModelObject => {
        const q = this.queueOf(i);
        const names = list(i.AttributeNames).filter((n): n is string => typeof n === 'string');
        const attributes = this.attributeValues(q, names);
        return Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
      },
      SetQueueAttributes: (i) => {
        const q = this.queueOf(i);
        const attrs = this.validateAttributes(stringMap(i.Attributes));
        for (const [k, v] of Object.entries(attrs)) {
          if (v === '' && (k === 'Policy' || k === 'RedrivePolicy' || k === 'RedriveAllowPolicy')) {
            delete q.attributes[k];
          } else q.attributes[k] = v;
        }
        q.modifiedAt = Date.now();
        this.notify(q);
        return {};
      },
      TagQueue: (i) => {
        const q = this.queueOf(i);
        const next = { ...q.tags, ...stringMap(i.Tags) };
        if (Object.keys(next).length > 50) throw invalidParameter(`Too many tags added for queue ${q.name}.`);
        q.tags = next;
        return {};
      },
      UntagQueue: (i) => {
        const q = this.queueOf(i);
        for (const key of list(i.TagKeys)) if (typeof key === 'string') delete q.tags[key];
        return {};
      },
      ListQueueTags: (i): ModelObject => {
        const q = this.queueOf(i);
        return Object.keys(q.tags).length > 0 ? { Tags: { ...q.tags } } : {};
      },
      PurgeQueue: (i) => {
        const q = this.queueOf(i);
        const now = Date.now();
        if (q.lastPurgeAt !== undefined && now - q.lastPurgeAt < 60_000) {
          throw sqsError(
            'PurgeQueueInProgress',
            `Only one PurgeQueue operation on ${q.name} is allowed every 60 seconds.`,
          );
        }
        q.lastPurgeAt = now;
        q.messages = [];
        return {};
      },
      ListDeadLetterSourceQueues: (i) => {
        const q = this.queueOf(i);
        const urls = [...this.queues.values()]
          .filter((s) => this.redriveOf(s)?.arn === q.arn)
          .map((s) => s.url);
        return { queueUrls: urls };
      },
      SendMessage: (i) => this.send(this.queueOf(i), i),
      SendMessageBatch: (i) => {
        const q = this.queueOf(i);
        const entries = list(i.Entries)
          .filter(isObject)
          .map((e) => e as ModelObject);
        let total = 0;
        for (const e of entries) {
          total += byteLength(str(e.MessageBody) ?? '');
          total += this.attributeBytesOf(e.MessageAttributes);
        }
        if (entries.length <= 10 && total > MAX_BATCH_BYTES) {
          throw sqsError(
            'BatchRequestTooLong',
            `Batch requests cannot be longer than ${MAX_BATCH_BYTES} bytes. You have sent ${total} bytes.`,
          );
        }
        return this.batch(i.Entries, 'SendMessageBatch', (e) => this.send(q, e));
      },
      ReceiveMessage: (i) => this.receiveMessage(i),
      DeleteMessage: (i) => {
        this.deleteOne(this.queueOf(i), str(i.ReceiptHandle) ?? '');
        return {};
      },
      DeleteMessageBatch: (i) => {
        const q = this.queueOf(i);
        return this.batch(i.Entries, 'DeleteMessageBatch', (e) => {
          this.deleteOne(q, str(e.ReceiptHandle) ?? '');
          return {};
        });
      },
      ChangeMessageVisibility: (i) => {
        this.changeVisibilityOne(this.queueOf(i), str(i.ReceiptHandle) ?? '', num(i.VisibilityTimeout));
        return {};
      },
      ChangeMessageVisibilityBatch: (i) => {
        const q = this.queueOf(i);
        return this.batch(i.Entries, 'ChangeMessageVisibilityBatch', (e) => {
          this.changeVisibilityOne(q, str(e.ReceiptHandle) ?? '', num(e.VisibilityTimeout));
          return {};
        });
      },
    };
  }

  private attributeBytesOf(value: ModelValue | undefined): number {
    let n = 0;
    if (!isObject(value)) return n;
    for (const [name, a] of Object.entries(value)) {
      n += byteLength(name);
      if (!isObject(a)) continue;
      n += byteLength(str(a.DataType as ModelValue) ?? '');
      const bin = a.BinaryValue;
      n += bin instanceof Uint8Array ? bin.length : byteLength(str(a.StringValue as ModelValue) ?? '');
    }
    return n;
  }
}

/**
 * Request validation issues, the SQS way: an unknown name in an attribute map or list →
 * `InvalidAttributeName`; ReceiveMessage's (deprecated) `AttributeNames` also accepts message system
 * attribute names (`ApproximateReceiveCount`…), as SQS does; a missing member → `MissingParameter`;
 * anything else → `InvalidParameterValue`. Null: the request is acceptable.
 */
export function sqsRequestError(
  operation: string,
  issues: { kind: string; path: string; message: string; value?: string }[],
): AwsError | null {
  const remaining = issues.filter((i) => {
    if (operation !== 'ReceiveMessage' || i.kind !== 'constraint') return true;
    return !(/^AttributeNames\[\d+\]$/.test(i.path) && MESSAGE_SYSTEM_ATTRIBUTES.has(i.value ?? ''));
  });
  const first = remaining[0];
  if (!first) return null;
  if (first.kind === 'constraint' && /(^|\.)\w*(Attributes\{|AttributeNames\[)/.test(first.path)) {
    return sqsError('InvalidAttributeName', `Unknown Attribute ${first.value ?? ''}.`);
  }
  if (first.kind === 'required') {
    return sqsError('MissingParameter', `The request must contain the parameter ${first.path}.`);
  }
  if (first.kind === 'unknown-member') {
    return invalidParameter(`Unrecognized parameter ${first.path}.`);
  }
  return invalidParameter(
    `Value ${first.value ?? ''} for parameter ${first.path} is invalid. Reason: ${first.message}`,
  );
}
