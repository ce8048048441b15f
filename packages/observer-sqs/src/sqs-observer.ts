import type { ECSClient } from '@aws-sdk/client-ecs';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import {
  type EcsTaskContextSource,
  type EcsTaskDescription,
  ecsTagMap,
  ecsTaskEvent,
  FLOW_RUN_ID_TAG,
  sanitizeTagText,
  toStateChange,
} from '@stevedore/ecs-launcher';
import {
  type Clock,
  type EventEmitter,
  type InfrastructureStateChange,
  type Logger,
  nullLogger,
  type ObservationSink,
  type Observer,
  type ObserverHealth,
  systemClock,
  type TrackedInfrastructure,
} from '@stevedore/kernel';
import { loadEcsSdk, loadSqsSdk } from './aws-sdk.js';
import { EVENTS_DEFAULTS } from './deploy.js';
import { type AwsErrorSummary, awsErrorSummary, describeError, isQueueMissing } from './errors.js';
import { type EcsTaskStateChangeEvent, parseEcsTaskEvent } from './events.js';
import { LruMap } from './lru.js';
import {
  type QueueCandidate,
  type QueueNameSource,
  queueCandidates,
  REFERENCE_DEFAULT_QUEUE_NAME,
} from './names.js';

/** Most messages one ReceiveMessage returns (an SQS limit), and most entries of a batch delete. @public */
export const SQS_BATCH_SIZE = 10;
/** Default long-polling wait of ReceiveMessage, the longest SQS allows (spec §3.3 step 2). @public */
export const DEFAULT_WAIT_TIME_SECONDS = 20;
/** Visibility timeout of received messages, as the reference asks for (spec §3.3 step 2). @public */
export const VISIBILITY_TIMEOUT_SECONDS = 300;
/** How often the visibility of messages still being handled is extended (spec §3.3 step 3). @public */
export const VISIBILITY_EXTENSION_MS = 240_000;
/** How often a missing queue is looked for again. @public */
export const QUEUE_RECHECK_MS = 300_000;
/**
 * Most receives of an event of this pool's task that no replica here tracks before it is deleted (capped below the
 * queue's redrive `maxReceiveCount`). @public
 */
export const DEFAULT_RELEASE_MAX_RECEIVES = 5;
/** Oldest such event (by `SentTimestamp`) still released rather than deleted. @public */
export const DEFAULT_RELEASE_MAX_AGE_MS = 60_000;
/** Longest pause of a replica's next receive after it released events, so another replica takes them. @public */
export const DEFAULT_RELEASE_PAUSE_MS = 1_000;
/**
 * Visibility timeout of a second release (its first is 0 s), doubling with each further one (±20 % jitter): an
 * event bouncing between replicas that do not track its run waits for the one that does (busy, or restarting and
 * about to adopt the run) instead of using up the redrive policy's few receives within milliseconds. @public
 */
export const DEFAULT_RELEASE_BACKOFF_SECONDS = 10;
/** The tag naming a task's work pool (set by the kernel's labels, sanitized like every ECS tag). */
const WORK_POOL_TAG = 'prefect.io/work-pool-name';
/** Most tasks one DescribeTasks call accepts. */
const DESCRIBE_TASKS_MAX = 100;
/** After a failed visibility extension, the reference tries again every 5 s (spec §3.3 step 3). */
const VISIBILITY_RETRY_MS = 5_000;

/** Options of {@link SqsObserver}. @public */
export interface SqsObserverOptions {
  /**
   * The SQS client of the queue's region (`queueRegion`, else the SDK's default chain), or a function building it,
   * called once on first use.
   */
  sqs: SQSClient | (() => SQSClient);
  /**
   * The ECS client and orchestration container of an identifier: ecs-launcher's `EcsInfrastructure`, so tag
   * lookups share its clients and rate budget, and changes name the same container the DescribeTasks poller does.
   */
  tasks: EcsTaskContextSource;
  /** The work pool, for the queue names `<pool>-ecs-events` and `<pool>-events`. */
  pool: string;
  /** The queue to read; when set, the only one tried (`PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME`). */
  queueName?: string | undefined;
  /** The queue's region, for messages (the client is already built for it). */
  queueRegion?: string | undefined;
  /** The default cluster, named in the `stevedore events deploy` hint when no queue is found. */
  cluster?: string | undefined;
  /** When false, `run` only waits for the abort: no AWS calls, no health reports. Default true. */
  enabled?: boolean;
  logger?: Logger;
  clock?: Clock;
  /** ReceiveMessage's `WaitTimeSeconds` (0–20; default 20, long polling). */
  waitTimeSeconds?: number;
  /** Visibility timeout asked for on receive and on each extension (default 300 s). */
  visibilityTimeoutSeconds?: number;
  /** How often visibility is extended while a batch is being handled (default 240 s, or 80 % of a shorter timeout). */
  visibilityExtensionMs?: number;
  /** How often a missing queue is looked for again (default 5 min). */
  queueRecheckMs?: number;
  /** Consecutive ReceiveMessage failures before the observer reports itself unhealthy (default 3, spec §3.3 step 4). */
  failuresBeforeUnhealthy?: number;
  /** Longest wait between two attempts after failures (default 60 s). */
  maxBackoffMs?: number;
  /** Entries of the per-task caches (tags and highest versions; default 10,000). */
  cacheSize?: number;
  /**
   * Most receives (`ApproximateReceiveCount`) of an event of this pool's task that this replica does not track before
   * it is deleted instead of released to the other replicas (default 5). Always kept below the queue's redrive
   * `maxReceiveCount`, so such an event never lands in the dead-letter queue.
   */
  releaseMaxReceives?: number;
  /** Oldest such event (by `SentTimestamp`, ms) still released (default 60 s); older ones are deleted. */
  releaseMaxAgeMs?: number;
  /** Longest pause of the next receive after releasing events (default 1 s, jittered from half of it). */
  releasePauseMs?: number;
  /** Visibility timeout (s) of an event's second release, doubled for each later one; the first is 0 s (default 10). */
  releaseBackoffSeconds?: number;
  /** Random numbers in [0, 1) for the jitter (default `Math.random`). */
  random?: () => number;
  /**
   * Where each task state change also goes as a `prefect.ecs.task.<status>` Prefect event (`kernelTokens.events`), as
   * prefect-aws's `replicate_ecs_event` does: for every task with a `prefect.io/flow-run-id` tag, tracked or not.
   */
  events?: EventEmitter;
}

/** The outcome of {@link SqsObserver.resolveQueue}. @public */
export type QueueResolution =
  | {
      found: true;
      name: string;
      url: string;
      source: QueueNameSource;
      /** The names tried, in order, up to the one found. */
      tried: string[];
      /** The log line: which queue, why that one. */
      message: string;
    }
  | {
      found: false;
      tried: string[];
      /** What is missing or failing, and how to fix it. */
      message: string;
      /** Set when a lookup failed for another reason than a missing queue (access denied, network). */
      error?: AwsErrorSummary;
    };

/** What became of each message of a handled batch (by `MessageId`). @public */
export interface HandledBatch {
  /** Acknowledged and deleted: reported, duplicates, older versions, malformed, or not ours. */
  deleted: string[];
  /**
   * Made visible again at once (`ChangeMessageVisibilityBatch` to 0 s): events of this pool's tasks whose run this
   * replica does not track, for the replica that does (see "Several replicas" in the README).
   */
  released: string[];
  /** Left on the queue for redelivery (handling failed), or whose delete failed. */
  kept: string[];
}

type Outcome = 'ack' | 'retry' | 'release';

interface Entry {
  /** Batch-request id (unique within the batch). */
  id: string;
  message: Message & { ReceiptHandle: string };
  /** Visibility timeout (s) of its release, when released. */
  releaseSeconds?: number;
}

interface PendingEvent {
  entry: Entry;
  event: EcsTaskStateChangeEvent;
}

interface TrackedIndex {
  byTaskArn: Map<string, TrackedInfrastructure>;
  byTaskId: Map<string, TrackedInfrastructure>;
  flowRunIds: Set<string>;
  size: number;
}

const taskIdOf = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

function indexTracked(items: readonly TrackedInfrastructure[]): TrackedIndex {
  const index: TrackedIndex = { byTaskArn: new Map(), byTaskId: new Map(), flowRunIds: new Set(), size: 0 };
  for (const item of items) {
    if (item.infrastructureType !== 'ecs') continue;
    index.size += 1;
    index.flowRunIds.add(item.flowRunId);
    const at = item.identifier.indexOf('::');
    if (at < 0) continue;
    const taskArn = item.identifier.slice(at + 2);
    if (taskArn === '') continue;
    index.byTaskArn.set(taskArn, item);
    index.byTaskId.set(taskIdOf(taskArn), item);
  }
  return index;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Puts the events of each task in `version` order, in the slots its events already hold (other tasks' events do not
 * move): a batch holding one task's RUNNING before its PENDING reports both, oldest first, instead of dropping the
 * PENDING as out of date.
 */
function orderByVersion(events: PendingEvent[]): void {
  const slots = new Map<string, number[]>();
  events.forEach((e, i) => {
    const arn = e.event.detail.taskArn;
    const list = slots.get(arn);
    if (list) list.push(i);
    else slots.set(arn, [i]);
  });
  for (const indexes of slots.values()) {
    if (indexes.length < 2) continue;
    const sorted = indexes
      .map((i) => events[i] as PendingEvent)
      .sort((a, b) => (a.event.detail.version ?? 0) - (b.event.detail.version ?? 0));
    indexes.forEach((slot, k) => {
      events[slot] = sorted[k] as PendingEvent;
    });
  }
}

const SOURCE_TEXT: Record<QueueNameSource, string> = {
  configured: 'the configured queueName (PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME)',
  deploy: 'the queue `stevedore events deploy` and prefect-aws `ecs-worker deploy-events` create',
  'reference-default': "prefect-aws's default PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME",
  'manual-guide': "the name prefect-aws's manual setup guide uses",
};

/**
 * The event-driven ECS observer: consumes EventBridge "ECS Task State Change" events from an SQS queue (the raw
 * event as the message body, spec §3.3) and reports the same normalized changes as ecs-launcher's DescribeTasks
 * poller ({@link toStateChange} with the same identifier and container), so Pending ("InfrastructurePending"),
 * Cancelled and Crashed outcomes do not depend on which observer saw a change first.
 *
 * - **Queue**: the configured `queueName`, else `<pool>-ecs-events`, `prefect-ecs-tasks-events`, `<pool>-events`
 *   ({@link queueCandidates}); none → unhealthy with coverage `none` (the poller keeps its full rate), a warning
 *   naming the names tried and the `stevedore events deploy` fix, and another look every {@link QUEUE_RECHECK_MS}.
 *   The reference gives up for good when its one queue is missing (spec §3.3 step 1).
 * - **Receive**: long polling (20 s), 10 messages at a time (the reference takes 1), visibility 300 s, extended every
 *   240 s while a batch is slow; handled messages are deleted in one batch call.
 * - **Messages**: no body, malformed, another kind of event → acknowledged and logged, never redelivered forever.
 *   A failure while handling → left on the queue: redelivered, then moved to the DLQ by the redrive policy.
 * - **Matching**: by the tracked identifier's task ARN (so an identifier with the cluster's name still matches the
 *   event's cluster ARN), else by the `prefect.io/flow-run-id` tag (DescribeTasks `include: TAGS`, batched per
 *   cluster, cached, negatives too), so runs launched by another replica or before a restart are handled.
 * - **Several replicas**: an event of this pool's task (`prefect.io/work-pool-name`) whose run is not tracked here is
 *   released (visibility 0 s, then 10 s, 20 s…, and a short jittered pause before the next receive) for the replica
 *   that tracks it,
 *   and deleted only past `releaseMaxReceives`, `releaseMaxAgeMs` or the redrive policy's last receive; events of
 *   other pools' tasks are deleted at once.
 * - **Ordering**: at-least-once and out-of-order safe: per task, only an event with a higher ECS `version` than the
 *   last one reported is reported (the kernel guards too).
 * - **Health**: healthy with coverage `all` while receives succeed, which slows the poller to its safety net;
 *   unhealthy after 3 failed receives in a row or when the queue disappears.
 * @public
 */
export class SqsObserver implements Observer {
  readonly name = 'ecs-sqs-events';
  readonly kind = 'event';
  readonly infrastructureType = 'ecs';
  private sqsClient: SQSClient | (() => SQSClient);
  private readonly tasks: EcsTaskContextSource;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly candidates: QueueCandidate[];
  private readonly pool: string;
  private readonly queueRegion: string | undefined;
  private readonly cluster: string | undefined;
  /** False when the plugin config disables the observer (`enabled: false`). */
  readonly isEnabled: boolean;
  private readonly waitTimeSeconds: number;
  private readonly visibilityTimeoutSeconds: number;
  private readonly visibilityExtensionMs: number;
  private readonly queueRecheckMs: number;
  private readonly failuresBeforeUnhealthy: number;
  private readonly maxBackoffMs: number;
  /** Task ARN → its tags, or `null` when it has no flow run id tag (or ECS no longer knows it). */
  private readonly tags: LruMap<string, Record<string, string> | null>;
  private readonly events: EventEmitter | undefined;
  /** Task ARN → highest ECS `version` reported. */
  private readonly versions: LruMap<string, number>;
  /** The last health reported in the current run, to report changes only. */
  private reported: string | undefined;
  private readonly releaseMaxReceives: number;
  private readonly releaseMaxAgeMs: number;
  private readonly releasePauseMs: number;
  private readonly releaseBackoffSeconds: number;
  private readonly random: () => number;
  private readonly poolTag: string;
  /** The queue's redrive `maxReceiveCount`: null without a redrive policy, undefined until read. */
  private maxReceiveCount: number | null | undefined;

  /** The SQS client, built on first use when given as a function. */
  private get sqs(): SQSClient {
    if (typeof this.sqsClient === 'function') this.sqsClient = this.sqsClient();
    return this.sqsClient;
  }

  constructor(options: SqsObserverOptions) {
    this.sqsClient = options.sqs;
    this.tasks = options.tasks;
    this.pool = options.pool;
    this.logger = options.logger ?? nullLogger;
    this.clock = options.clock ?? systemClock;
    this.candidates = queueCandidates(options.pool, options.queueName);
    this.queueRegion = options.queueRegion;
    this.cluster = options.cluster;
    this.isEnabled = options.enabled ?? true;
    this.waitTimeSeconds = Math.min(20, Math.max(0, options.waitTimeSeconds ?? DEFAULT_WAIT_TIME_SECONDS));
    this.visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? VISIBILITY_TIMEOUT_SECONDS;
    // Extended before it runs out: every 240 s of the default 300 s, every 80 % of a shorter timeout.
    this.visibilityExtensionMs =
      options.visibilityExtensionMs ?? Math.min(VISIBILITY_EXTENSION_MS, this.visibilityTimeoutSeconds * 800);
    this.queueRecheckMs = options.queueRecheckMs ?? QUEUE_RECHECK_MS;
    this.failuresBeforeUnhealthy = Math.max(1, options.failuresBeforeUnhealthy ?? 3);
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
    const cacheSize = options.cacheSize ?? 10_000;
    this.tags = new LruMap(cacheSize);
    this.versions = new LruMap(cacheSize);
    this.events = options.events;
    this.releaseMaxReceives = Math.max(1, options.releaseMaxReceives ?? DEFAULT_RELEASE_MAX_RECEIVES);
    this.releaseMaxAgeMs = options.releaseMaxAgeMs ?? DEFAULT_RELEASE_MAX_AGE_MS;
    this.releasePauseMs = Math.max(0, options.releasePauseMs ?? DEFAULT_RELEASE_PAUSE_MS);
    this.releaseBackoffSeconds = Math.max(
      0,
      options.releaseBackoffSeconds ?? DEFAULT_RELEASE_BACKOFF_SECONDS,
    );
    this.random = options.random ?? Math.random;
    this.poolTag = sanitizeTagText(options.pool);
  }

  /** The queue names tried, in order. */
  get queueNames(): readonly string[] {
    return this.candidates.map((c) => c.name);
  }

  /**
   * Looks for the queue: `GetQueueUrl` for each candidate in order; `QueueDoesNotExist` moves on to the next one.
   * Never rejects, except with the signal's reason when it aborts.
   */
  async resolveQueue(signal: AbortSignal): Promise<QueueResolution> {
    const tried: string[] = [];
    for (const candidate of this.candidates) {
      tried.push(candidate.name);
      try {
        const out = await this.sqs.send(
          new (loadSqsSdk().GetQueueUrlCommand)({ QueueName: candidate.name }),
          {
            abortSignal: signal,
          },
        );
        if (!out.QueueUrl) continue;
        return {
          found: true,
          name: candidate.name,
          url: out.QueueUrl,
          source: candidate.source,
          tried: [...tried],
          message: this.foundMessage(candidate, tried),
        };
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (isQueueMissing(e)) continue;
        return {
          found: false,
          tried,
          error: awsErrorSummary(e),
          message: `Cannot look up SQS queue '${candidate.name}' ${this.regionText()}: ${describeError(e)}. ECS tasks are still watched by DescribeTasks polling at full rate. Grant sqs:GetQueueUrl (and sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility) on the queue.`,
        };
      }
    }
    return { found: false, tried, message: this.missingMessage(tried) };
  }

  private regionText(): string {
    return this.queueRegion ? `in region '${this.queueRegion}'` : 'in the default region';
  }

  private foundMessage(candidate: QueueCandidate, tried: readonly string[]): string {
    const base = `Consuming ECS task events from SQS queue '${candidate.name}' ${this.regionText()}: ${SOURCE_TEXT[candidate.source]}`;
    if (candidate.source === 'configured') return `${base}.`;
    const notFound = tried.slice(0, -1);
    const skipped = notFound.length > 0 ? ` (not found: ${notFound.map((n) => `'${n}'`).join(', ')})` : '';
    return (
      `${base}${skipped}. Looked for, in order: ${this.candidates.map((c) => `'${c.name}'`).join(', ')}, because ` +
      `prefect-aws's default '${REFERENCE_DEFAULT_QUEUE_NAME}' does not match the '${this.candidates[0]?.name}' its own deploy-events creates.`
    );
  }

  private missingMessage(tried: readonly string[]): string {
    const names = tried.map((n) => `'${n}'`).join(', ');
    const cluster = this.cluster ?? '<cluster>';
    const configured = this.candidates[0]?.source === 'configured';
    return (
      `No SQS queue for ECS task events ${this.regionText()} (looked for ${names}). ECS tasks are still watched by ` +
      `DescribeTasks polling at full rate. To get events, run \`stevedore events deploy --pool ${JSON.stringify(this.pool)} --cluster ${cluster}\`` +
      (configured
        ? ', or fix the configured queueName (PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME).'
        : ', or set PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME to an existing queue.') +
      ` Looking again every ${Math.round(this.queueRecheckMs / 1000)} s.`
    );
  }

  /** Consumes the queue until `signal` aborts, then resolves. Never rejects. */
  async run(sink: ObservationSink, signal: AbortSignal): Promise<void> {
    this.reported = undefined;
    if (!this.isEnabled) {
      this.logger.info('The SQS events observer is disabled; DescribeTasks polling watches ECS tasks.');
      await this.sleep(Number.POSITIVE_INFINITY, signal);
      return;
    }
    let lastProblem: string | undefined;
    let errors = 0;
    while (!signal.aborted) {
      let resolution: QueueResolution;
      try {
        resolution = await this.resolveQueue(signal);
      } catch {
        break; // only the abort rejects
      }
      if (!resolution.found) {
        this.setHealth(sink, { healthy: false, coverage: 'none', reason: resolution.message });
        // Warn when the problem changes; repeating the same warning every few minutes only adds noise.
        if (resolution.message !== lastProblem)
          this.logger.warn(resolution.message, { queues: resolution.tried });
        else this.logger.debug(resolution.message, { queues: resolution.tried });
        lastProblem = resolution.message;
        errors = resolution.error ? errors + 1 : 0;
        const wait = resolution.error ? this.backoffMs(errors) : this.queueRecheckMs;
        if (!(await this.sleep(wait, signal))) break;
        continue;
      }
      lastProblem = undefined;
      this.logger.info(resolution.message, { queue: resolution.name, queueUrl: resolution.url });
      await this.readRedrive(resolution, signal);
      try {
        await this.consume(sink, resolution, signal);
      } catch (e) {
        if (signal.aborted) break;
        // consume() handles AWS errors itself; anything reaching here is a bug or a broken sink. Looking for the
        // queue again and carrying on is safe (unacknowledged messages come back); ending would blind the worker.
        this.logger.warn('Consuming ECS task events failed unexpectedly; starting over.', {
          error: describeError(e),
        });
        errors += 1;
        if (!(await this.sleep(this.backoffMs(errors), signal))) break;
      }
    }
  }

  /**
   * Reads the queue's redrive `maxReceiveCount` (`GetQueueAttributes`), which bounds how often an event this replica
   * does not track is released to the others. When it cannot be read (no `sqs:GetQueueAttributes`), the deploy
   * command's (and prefect-aws's) 3 is assumed.
   */
  private async readRedrive(
    queue: Extract<QueueResolution, { found: true }>,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      const out = await this.sqs.send(
        new (loadSqsSdk().GetQueueAttributesCommand)({
          QueueUrl: queue.url,
          AttributeNames: ['RedrivePolicy'],
        }),
        { abortSignal: signal },
      );
      const raw = out?.Attributes?.RedrivePolicy;
      const count = raw
        ? Number((JSON.parse(raw) as { maxReceiveCount?: unknown }).maxReceiveCount)
        : Number.NaN;
      this.maxReceiveCount = Number.isInteger(count) && count > 0 ? count : null;
    } catch (e) {
      if (signal.aborted) return;
      this.maxReceiveCount = EVENTS_DEFAULTS.maxReceiveCount;
      this.logger.debug(
        `Could not read the redrive policy of SQS queue '${queue.name}'; assuming maxReceiveCount ${EVENTS_DEFAULTS.maxReceiveCount}.`,
        { queue: queue.name, error: describeError(e) },
      );
    }
  }

  /**
   * The receive count from which an event of this pool that this replica does not track is deleted rather than
   * released: the configured bound, and at the latest the queue's last receive before its redrive to the DLQ.
   */
  private releaseLimit(): number {
    const redrive =
      this.maxReceiveCount === undefined ? EVENTS_DEFAULTS.maxReceiveCount : this.maxReceiveCount;
    return redrive === null ? this.releaseMaxReceives : Math.min(this.releaseMaxReceives, redrive);
  }

  /** Receives and handles batches until the signal aborts or the queue disappears. */
  private async consume(
    sink: ObservationSink,
    queue: Extract<QueueResolution, { found: true }>,
    signal: AbortSignal,
  ): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let messages: Message[];
      try {
        const out = await this.sqs.send(
          new (loadSqsSdk().ReceiveMessageCommand)({
            QueueUrl: queue.url,
            MaxNumberOfMessages: SQS_BATCH_SIZE,
            WaitTimeSeconds: this.waitTimeSeconds,
            VisibilityTimeout: this.visibilityTimeoutSeconds,
            // `AttributeNames` is deprecated in favour of this member; same attribute, same permission.
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
      } catch (e) {
        if (signal.aborted) return;
        if (isQueueMissing(e)) {
          const reason = `SQS queue '${queue.name}' no longer exists`;
          this.setHealth(sink, { healthy: false, coverage: 'none', reason });
          this.logger.warn(
            `${reason}; looking for the events queue again. DescribeTasks polling watches ECS tasks at full rate meanwhile.`,
            { queue: queue.name },
          );
          return;
        }
        failures += 1;
        // The same wording for every failure past the threshold, so a lasting outage is reported once.
        const reason = `ReceiveMessage on SQS queue '${queue.name}' failed ${this.failuresBeforeUnhealthy} or more times in a row: ${describeError(e)}`;
        if (failures >= this.failuresBeforeUnhealthy) {
          this.setHealth(sink, { healthy: false, coverage: 'none', reason });
        }
        if (failures === this.failuresBeforeUnhealthy) {
          this.logger.warn(
            `${reason}. DescribeTasks polling watches ECS tasks at full rate until it recovers.`,
            {
              queue: queue.name,
              aws: awsErrorSummary(e),
            },
          );
        } else {
          this.logger.debug('ReceiveMessage failed; trying again.', {
            queue: queue.name,
            aws: awsErrorSummary(e),
          });
        }
        if (!(await this.sleep(this.backoffMs(failures), signal))) return;
        continue;
      }
      if (failures >= this.failuresBeforeUnhealthy) {
        this.logger.info(`ReceiveMessage on SQS queue '${queue.name}' works again.`, { queue: queue.name });
      }
      failures = 0;
      this.setHealth(sink, { healthy: true, coverage: 'all' });
      if (messages.length === 0) continue;
      const handled = await this.handleMessages(sink, queue.url, messages, signal);
      // Another replica's events were just made visible: let the replicas already waiting take them before this one
      // receives again (jittered, so replicas releasing together do not come back together).
      if (handled.released.length > 0) {
        const pause = this.releasePauseMs * (0.5 + 0.5 * this.random());
        if (!(await this.sleep(pause, signal))) return;
      }
    }
  }

  /**
   * Handles one received batch: parses, matches, reports, then deletes what was handled, while extending the
   * batch's visibility every {@link VISIBILITY_EXTENSION_MS} if handling is slow. Never rejects.
   * @internal exposed for tests.
   */
  async handleMessages(
    sink: ObservationSink,
    queueUrl: string,
    messages: readonly Message[],
    signal: AbortSignal,
  ): Promise<HandledBatch> {
    const entries: Entry[] = [];
    messages.forEach((message, i) => {
      if (message.ReceiptHandle)
        entries.push({ id: `m${i}`, message: { ...message, ReceiptHandle: message.ReceiptHandle } });
    });
    const done = new AbortController();
    const extending = this.extendVisibility(queueUrl, entries, AbortSignal.any([signal, done.signal]));
    let outcomes: Map<string, Outcome>;
    try {
      outcomes = await this.process(sink, entries, signal);
    } finally {
      done.abort();
      await extending;
    }
    const acked = entries.filter((e) => outcomes.get(e.id) === 'ack');
    const releasing = entries.filter((e) => outcomes.get(e.id) === 'release');
    const failedReleases = signal.aborted
      ? new Set(releasing.map((e) => e.id))
      : await this.releaseBatch(queueUrl, releasing, signal);
    const failedDeletes = signal.aborted
      ? new Set(acked.map((e) => e.id))
      : await this.deleteBatch(queueUrl, acked, signal);
    const result: HandledBatch = { deleted: [], released: [], kept: [] };
    for (const e of entries) {
      const id = e.message.MessageId ?? e.id;
      const outcome = outcomes.get(e.id);
      if (outcome === 'ack' && !failedDeletes.has(e.id)) result.deleted.push(id);
      else if (outcome === 'release' && !failedReleases.has(e.id)) result.released.push(id);
      else result.kept.push(id);
    }
    return result;
  }

  /** Decides each message's fate; reports the changes. Never rejects. */
  private async process(
    sink: ObservationSink,
    entries: readonly Entry[],
    signal: AbortSignal,
  ): Promise<Map<string, Outcome>> {
    const outcomes = new Map<string, Outcome>();
    const events: PendingEvent[] = [];
    for (const entry of entries) {
      const parsed = parseEcsTaskEvent(entry.message.Body);
      if (parsed.ok) {
        events.push({ entry, event: parsed.event });
        continue;
      }
      this.logger[parsed.level](`Ignoring an SQS message: ${parsed.reason}.`, this.messageMeta(entry));
      outcomes.set(entry.id, 'ack');
    }
    if (events.length === 0) return outcomes;
    orderByVersion(events);
    try {
      const tracked = indexTracked(sink.tracked());
      const matched = new Map<PendingEvent, TrackedInfrastructure>();
      const lookups: PendingEvent[] = [];
      // EventBridge events carry no tags: Prefect events need them for every task (their related resources).
      const wantsTags = this.events?.enabled === true;
      for (const pending of events) {
        const { detail } = pending.event;
        if (this.isStale(detail)) continue; // decided below, after the earlier events of the batch
        const item = tracked.byTaskArn.get(detail.taskArn) ?? tracked.byTaskId.get(taskIdOf(detail.taskArn));
        if (item) matched.set(pending, item);
        // Untracked tasks are looked up even when nothing is tracked here: an event of this pool's task may be another
        // replica's, which must get it (released), not lose it (deleted).
        const needed = wantsTags || !item;
        if (!needed || this.tags.has(detail.taskArn)) continue;
        // A task this process launched: its tags are known without asking ECS.
        const known = item ? this.launchTags(item.identifier) : undefined;
        if (known) this.tags.set(detail.taskArn, known[FLOW_RUN_ID_TAG] ? known : null);
        else lookups.push(pending);
      }
      const failedLookups = await this.lookupTags(lookups, signal);
      for (const pending of events) {
        outcomes.set(
          pending.entry.id,
          this.handleEvent(sink, pending, matched.get(pending), tracked, failedLookups),
        );
      }
    } catch (e) {
      // A bug or a broken sink: nothing is lost by leaving the undecided messages on the queue (they come back, and
      // the DLQ takes them after the redrive policy's receives); ending the observer would blind the worker.
      this.logger.warn('Handling a batch of ECS task events failed; the messages will be redelivered.', {
        error: describeError(e),
      });
      for (const { entry } of events) if (!outcomes.has(entry.id)) outcomes.set(entry.id, 'retry');
    }
    return outcomes;
  }

  private isStale(detail: EcsTaskDescription & { taskArn: string }): boolean {
    const seen = this.versions.get(detail.taskArn);
    return typeof detail.version === 'number' && seen !== undefined && detail.version <= seen;
  }

  /** One event: report it (ack), ignore it (ack) or leave it for redelivery (retry). */
  private handleEvent(
    sink: ObservationSink,
    pending: PendingEvent,
    item: TrackedInfrastructure | undefined,
    tracked: TrackedIndex,
    failedLookups: ReadonlySet<string>,
  ): Outcome {
    const { detail } = pending.event;
    const meta = { ...this.messageMeta(pending.entry), taskArn: detail.taskArn, version: detail.version };
    if (this.isStale(detail)) {
      this.logger.debug('Ignoring an ECS task event already superseded (duplicate or out of order).', meta);
      return 'ack';
    }
    if (item || !failedLookups.has(detail.taskArn)) this.emitTaskEvent(pending.event);
    try {
      let change: InfrastructureStateChange;
      if (item) {
        change = toStateChange(detail, {
          identifier: item.identifier,
          containerName: this.containerName(item.identifier),
        });
      } else {
        if (failedLookups.has(detail.taskArn)) return 'retry';
        const tags = this.tags.get(detail.taskArn);
        const flowRunId = tags?.[FLOW_RUN_ID_TAG];
        if (!tags || !flowRunId || !tracked.flowRunIds.has(flowRunId)) {
          if (tags && tags[WORK_POOL_TAG] === this.poolTag) return this.releaseOrDrop(pending, meta);
          // Not a task of this pool's runs: another pool's, or not Prefect's at all.
          this.logger.debug('Ignoring an ECS task event for a task of another pool or not a flow run.', meta);
          return 'ack';
        }
        const identifier = `${detail.clusterArn}::${detail.taskArn}`;
        change = toStateChange(
          { ...detail, tags: [{ key: FLOW_RUN_ID_TAG, value: flowRunId }] },
          { identifier, containerName: this.containerName(identifier) },
        );
      }
      sink.report(change);
      if (typeof detail.version === 'number') this.versions.set(detail.taskArn, detail.version);
      this.logger.debug('ECS task state changed.', {
        identifier: change.identifier,
        status: change.status,
        providerStatus: change.providerStatus,
        version: change.version,
      });
      return 'ack';
    } catch (e) {
      const receives = pending.entry.message.Attributes?.ApproximateReceiveCount;
      this.logger.warn(
        'Failed to process an ECS task event; it stays on the queue, is redelivered after the visibility timeout, ' +
          "and moves to the dead-letter queue after the redrive policy's maximum receives.",
        { ...meta, receiveCount: receives, error: describeError(e) },
      );
      return 'retry';
    }
  }

  /**
   * An event of this pool's task whose run this replica does not track: another replica's (replicas share the pool's
   * queue and SQS gives each message to one of them), or a run no replica tracks any more (finished, worker gone).
   * Released for the others while it has been received fewer than {@link releaseLimit} times and is younger than
   * `releaseMaxAgeMs`; deleted after that, before the redrive policy moves it to the DLQ. The tracking replica's
   * DescribeTasks safety net covers an event deleted that way.
   */
  private releaseOrDrop(pending: PendingEvent, meta: Record<string, unknown>): Outcome {
    const attributes = pending.entry.message.Attributes ?? {};
    const receives = Number(attributes.ApproximateReceiveCount ?? '1');
    const sent = Number(attributes.SentTimestamp);
    const age = Number.isFinite(sent) ? this.clock.now().getTime() - sent : 0;
    const limit = this.releaseLimit();
    if (receives < limit && age < this.releaseMaxAgeMs) {
      // First release: visible again at once (a replica waiting in ReceiveMessage takes it). Later ones: hidden for a
      // growing, jittered while, so the receives the redrive policy allows are spread over time.
      const backoff = receives <= 1 ? 0 : this.releaseBackoffSeconds * 2 ** (receives - 2);
      const seconds = Math.min(43_200, Math.round(backoff * (0.8 + 0.4 * this.random())));
      pending.entry.releaseSeconds = seconds;
      this.logger.debug('Releasing an ECS task event of this pool for the replica that tracks its run.', {
        ...meta,
        receiveCount: receives,
        visibilityTimeout: seconds,
      });
      return 'release';
    }
    this.logger.debug('Ignoring an ECS task event of this pool that no replica took.', {
      ...meta,
      receiveCount: receives,
      receiveLimit: limit,
      ageMs: age,
    });
    return 'ack';
  }

  /** The event's `prefect.ecs.task.<status>` Prefect event, when its task's tags are known and name a flow run. */
  private emitTaskEvent(event: EcsTaskStateChangeEvent): void {
    if (!this.events?.enabled) return;
    const tags = this.tags.get(event.detail.taskArn);
    if (!tags) return;
    const time = event.time && !Number.isNaN(Date.parse(event.time)) ? event.time : undefined;
    const prefectEvent = ecsTaskEvent(event.detail, { tags, occurred: time, now: this.clock.now() });
    if (prefectEvent) this.events.emit(prefectEvent);
  }

  private launchTags(identifier: string): Record<string, string> | undefined {
    try {
      return this.tasks.taskContext(identifier).tags;
    } catch {
      return undefined;
    }
  }

  private containerName(identifier: string): string | undefined {
    try {
      return this.tasks.taskContext(identifier).containerName;
    } catch {
      return undefined; // an identifier the infrastructure cannot parse: the normalization picks `prefect`
    }
  }

  /**
   * Reads the tags of tasks not matched by identifier (their `prefect.io/flow-run-id` tag), and of every task while
   * Prefect events are on (their related resources): `DescribeTasks` with `include: ['TAGS']`, one call per client
   * and cluster for the whole batch, and caches the answer — a task without the flow-run tag, or one ECS no longer
   * knows, is cached as `null` so it is never described twice.
   * @returns the task ARNs whose lookup failed (their messages are retried; nothing is cached for them).
   */
  private async lookupTags(events: readonly PendingEvent[], signal: AbortSignal): Promise<Set<string>> {
    const failed = new Set<string>();
    const groups = new Map<ECSClient, Map<string, Set<string>>>();
    for (const { event } of events) {
      const { clusterArn, taskArn } = event.detail;
      let ecs: ECSClient;
      try {
        ecs = this.tasks.taskContext(`${clusterArn}::${taskArn}`).ecs;
      } catch (e) {
        this.logger.debug('No ECS client for an event’s task; ignoring it.', {
          taskArn,
          error: describeError(e),
        });
        this.tags.set(taskArn, null);
        continue;
      }
      const clusters = groups.get(ecs) ?? new Map<string, Set<string>>();
      groups.set(ecs, clusters);
      const arns = clusters.get(clusterArn) ?? new Set<string>();
      clusters.set(clusterArn, arns);
      arns.add(taskArn);
    }
    const calls: Array<Promise<void>> = [];
    for (const [ecs, clusters] of groups) {
      for (const [cluster, arns] of clusters) {
        for (const tasks of chunk([...arns], DESCRIBE_TASKS_MAX)) {
          calls.push(this.describeTags(ecs, cluster, tasks, failed, signal));
        }
      }
    }
    await Promise.all(calls);
    return failed;
  }

  private async describeTags(
    ecs: ECSClient,
    cluster: string,
    tasks: string[],
    failed: Set<string>,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      const out = await ecs.send(
        new (loadEcsSdk().DescribeTasksCommand)({ cluster, tasks, include: ['TAGS'] }),
        {
          abortSignal: signal,
        },
      );
      const answered = new Set<string>();
      for (const task of out.tasks ?? []) {
        if (!task.taskArn) continue;
        answered.add(task.taskArn);
        const tags = ecsTagMap(task);
        this.tags.set(task.taskArn, tags[FLOW_RUN_ID_TAG] ? tags : null);
      }
      for (const failure of out.failures ?? []) {
        if (!failure.arn) continue;
        answered.add(failure.arn);
        if (failure.reason === 'MISSING') this.tags.set(failure.arn, null);
        else failed.add(failure.arn);
      }
      for (const arn of tasks) if (!answered.has(arn)) this.tags.set(arn, null);
    } catch (e) {
      for (const arn of tasks) failed.add(arn);
      if (signal.aborted) return;
      this.logger.warn('Could not read the tags of ECS tasks; their events will be redelivered.', {
        cluster,
        tasks: tasks.length,
        aws: awsErrorSummary(e),
      });
    }
  }

  /** Extends the visibility of the batch every interval until `signal` aborts (handling done, or shutdown). */
  private async extendVisibility(
    queueUrl: string,
    entries: readonly Entry[],
    signal: AbortSignal,
  ): Promise<void> {
    if (entries.length === 0) return;
    let delay = this.visibilityExtensionMs;
    for (;;) {
      if (!(await this.sleep(delay, signal))) return;
      try {
        const out = await this.sqs.send(
          new (loadSqsSdk().ChangeMessageVisibilityBatchCommand)({
            QueueUrl: queueUrl,
            Entries: entries.map((e) => ({
              Id: e.id,
              ReceiptHandle: e.message.ReceiptHandle,
              VisibilityTimeout: this.visibilityTimeoutSeconds,
            })),
          }),
          { abortSignal: signal },
        );
        if ((out.Failed ?? []).length > 0) {
          this.logger.debug('Some message visibilities could not be extended.', { failed: out.Failed });
        }
        delay = this.visibilityExtensionMs;
      } catch (e) {
        if (signal.aborted) return;
        this.logger.debug('Extending message visibility failed; trying again shortly.', {
          aws: awsErrorSummary(e),
        });
        delay = VISIBILITY_RETRY_MS;
      }
    }
  }

  /**
   * Makes released messages visible again (`ChangeMessageVisibilityBatch` to each one's release timeout, 10 per call).
   * @returns the ids whose release failed (they come back after the visibility timeout).
   */
  private async releaseBatch(
    queueUrl: string,
    entries: readonly Entry[],
    signal: AbortSignal,
  ): Promise<Set<string>> {
    const failed = await this.inBatches(entries, signal, 'ChangeMessageVisibilityBatch (release)', (part) =>
      this.sqs.send(
        new (loadSqsSdk().ChangeMessageVisibilityBatchCommand)({
          QueueUrl: queueUrl,
          Entries: part.map((e) => ({
            Id: e.id,
            ReceiptHandle: e.message.ReceiptHandle,
            VisibilityTimeout: e.releaseSeconds ?? 0,
          })),
        }),
        { abortSignal: signal },
      ),
    );
    if (failed.size > 0 && !signal.aborted) {
      this.logger.warn(
        `Could not release ${failed.size} SQS messages of runs other replicas track; they come back after the visibility timeout, and those replicas' DescribeTasks safety net covers them meanwhile.`,
      );
    }
    return failed;
  }

  /** One batch call per 10 entries. @returns the ids of the entries that failed, or whose call failed. */
  private async inBatches(
    entries: readonly Entry[],
    signal: AbortSignal,
    what: string,
    call: (part: Entry[]) => Promise<{ Failed?: Array<{ Id?: string | undefined }> | undefined } | undefined>,
  ): Promise<Set<string>> {
    const failed = new Set<string>();
    for (const part of chunk(entries, SQS_BATCH_SIZE)) {
      try {
        const out = await call(part);
        for (const f of out?.Failed ?? []) if (f.Id) failed.add(f.Id);
      } catch (e) {
        for (const entry of part) failed.add(entry.id);
        if (signal.aborted) continue;
        this.logger.debug(`${what} failed.`, { aws: awsErrorSummary(e) });
      }
    }
    return failed;
  }

  /** Deletes handled messages, 10 per call. @returns the ids whose delete failed (they will be redelivered). */
  private async deleteBatch(
    queueUrl: string,
    entries: readonly Entry[],
    signal: AbortSignal,
  ): Promise<Set<string>> {
    const failed = await this.inBatches(entries, signal, 'DeleteMessageBatch', (part) =>
      this.sqs.send(
        new (loadSqsSdk().DeleteMessageBatchCommand)({
          QueueUrl: queueUrl,
          Entries: part.map((e) => ({ Id: e.id, ReceiptHandle: e.message.ReceiptHandle })),
        }),
        { abortSignal: signal },
      ),
    );
    if (failed.size > 0 && !signal.aborted) {
      // Safe: a redelivered event is a duplicate, which the version check acknowledges without reporting.
      this.logger.warn(
        `Could not delete ${failed.size} handled SQS messages; they will be redelivered and ignored.`,
      );
    }
    return failed;
  }

  private messageMeta(entry: Entry): Record<string, unknown> {
    return { messageId: entry.message.MessageId };
  }

  private setHealth(sink: ObservationSink, health: ObserverHealth): void {
    const key = JSON.stringify(health);
    if (key === this.reported) return;
    this.reported = key;
    sink.reportHealth(this.name, health);
  }

  private backoffMs(failures: number): number {
    return Math.min(this.maxBackoffMs, 1000 * 2 ** Math.max(0, failures - 1));
  }

  /** Sleeps on the injected clock. @returns false when the signal aborted. */
  private async sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    if (ms === Number.POSITIVE_INFINITY) {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return false;
    }
    try {
      await this.clock.sleep(ms, signal);
      return true;
    } catch {
      return false; // the clock's sleep rejects only when the signal aborts
    }
  }
}
