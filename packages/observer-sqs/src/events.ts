import type { EcsContainerDescription, EcsTaskDescription } from '@stevedore/ecs-launcher';

/** EventBridge's `detail-type` of the events this observer consumes. @public */
export const ECS_TASK_STATE_CHANGE = 'ECS Task State Change';

/** EventBridge's `source` of ECS's own events. Custom events cannot use an `aws.` source, so it cannot be forged. @public */
export const ECS_EVENT_SOURCE = 'aws.ecs';

/** The `detail` of an "ECS Task State Change" event, reduced to what the normalization reads. @public */
export interface EcsTaskEventDetail extends EcsTaskDescription {
  taskArn: string;
  clusterArn: string;
  lastStatus: string;
}

/** An EventBridge "ECS Task State Change" event, as the SQS message body carries it (no SNS envelope, spec §3.3). @public */
export interface EcsTaskStateChangeEvent {
  /** The EventBridge event id (the same for every redelivery of one event). */
  id?: string;
  time?: string;
  region?: string;
  account?: string;
  detail: EcsTaskEventDetail;
}

/** What a message body turned out to be. @public */
export type ParsedEventMessage =
  | { ok: true; event: EcsTaskStateChangeEvent }
  | {
      ok: false;
      /** `warn` for bodies nobody should send to this queue (malformed); `debug` for events of another kind. */
      level: 'debug' | 'warn';
      reason: string;
    };

const DATE_FIELDS = [
  'createdAt',
  'pullStartedAt',
  'pullStoppedAt',
  'startedAt',
  'stoppingAt',
  'stoppedAt',
  'executionStoppedAt',
] as const;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function container(raw: Record<string, unknown>): EcsContainerDescription {
  const c: EcsContainerDescription = {};
  const name = str(raw.name);
  if (name !== undefined) c.name = name;
  const containerArn = str(raw.containerArn);
  if (containerArn !== undefined) c.containerArn = containerArn;
  const lastStatus = str(raw.lastStatus);
  if (lastStatus !== undefined) c.lastStatus = lastStatus;
  if (typeof raw.exitCode === 'number' && Number.isFinite(raw.exitCode)) c.exitCode = raw.exitCode;
  else if (raw.exitCode === null) c.exitCode = null;
  if (typeof raw.reason === 'string') c.reason = raw.reason;
  else if (raw.reason === null) c.reason = null;
  return c;
}

/**
 * Reads the fields of an event `detail` that the normalization uses, leniently: a field of an unexpected type is
 * left out rather than failing the whole event, and JSON `null` dates are dropped (a `null` would otherwise read
 * as 1970). Returns a reason when the detail cannot be used at all.
 */
function readDetail(raw: unknown): EcsTaskEventDetail | string {
  if (!isRecord(raw)) return 'the event has no detail object';
  const taskArn = str(raw.taskArn);
  const clusterArn = str(raw.clusterArn);
  const lastStatus = str(raw.lastStatus);
  if (taskArn === undefined || clusterArn === undefined || lastStatus === undefined) {
    return 'the event detail lacks taskArn, clusterArn or lastStatus';
  }
  const detail: EcsTaskEventDetail = { taskArn, clusterArn, lastStatus };
  const taskDefinitionArn = str(raw.taskDefinitionArn);
  if (taskDefinitionArn !== undefined) detail.taskDefinitionArn = taskDefinitionArn;
  const desiredStatus = str(raw.desiredStatus);
  if (desiredStatus !== undefined) detail.desiredStatus = desiredStatus;
  if (typeof raw.version === 'number' && Number.isFinite(raw.version)) detail.version = raw.version;
  if (typeof raw.stopCode === 'string' || raw.stopCode === null) detail.stopCode = raw.stopCode;
  if (typeof raw.stoppedReason === 'string' || raw.stoppedReason === null)
    detail.stoppedReason = raw.stoppedReason;
  for (const field of DATE_FIELDS) {
    const value = str(raw[field]);
    if (value !== undefined) detail[field] = value;
  }
  if (Array.isArray(raw.containers)) detail.containers = raw.containers.filter(isRecord).map(container);
  return detail;
}

/**
 * Parses an SQS message body as an EventBridge "ECS Task State Change" event from `aws.ecs` (spec §3.3 step 3):
 * no body, invalid JSON, a body that is not an event, another `detail-type` or `source`, or a detail without
 * `taskArn` / `clusterArn` / `lastStatus` give `ok: false` with the reason, and the caller acknowledges the message
 * (a malformed message never becomes a poison pill).
 * @public
 */
export function parseEcsTaskEvent(body: string | undefined): ParsedEventMessage {
  if (body === undefined || body.length === 0)
    return { ok: false, level: 'warn', reason: 'the message has no body' };
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { ok: false, level: 'warn', reason: 'the message body is not JSON' };
  }
  if (!isRecord(raw)) return { ok: false, level: 'warn', reason: 'the message body is not a JSON object' };
  if (raw.Type === 'Notification' && typeof raw.Message === 'string') {
    return {
      ok: false,
      level: 'warn',
      reason:
        'the message is an SNS notification; point the EventBridge rule at the queue directly (or enable raw message delivery)',
    };
  }
  const detailType = raw['detail-type'];
  if (typeof detailType !== 'string') {
    return {
      ok: false,
      level: 'warn',
      reason: 'the message body is not an EventBridge event (no detail-type)',
    };
  }
  if (detailType !== ECS_TASK_STATE_CHANGE) {
    return {
      ok: false,
      level: 'debug',
      reason: `the event is a '${detailType}', not an '${ECS_TASK_STATE_CHANGE}'`,
    };
  }
  if (raw.source !== ECS_EVENT_SOURCE) {
    return {
      ok: false,
      level: 'warn',
      reason: `the event's source is ${JSON.stringify(raw.source)}, not 'aws.ecs'`,
    };
  }
  const detail = readDetail(raw.detail);
  if (typeof detail === 'string') return { ok: false, level: 'warn', reason: detail };
  const event: EcsTaskStateChangeEvent = { detail };
  for (const key of ['id', 'time', 'region', 'account'] as const) {
    const value = str(raw[key]);
    if (value !== undefined) event[key] = value;
  }
  return { ok: true, event };
}
