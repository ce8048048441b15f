import type { ECSClient, Failure, Task } from '@aws-sdk/client-ecs';
import {
  type Clock,
  type EventEmitter,
  type InfrastructureStateChange,
  type Logger,
  nullLogger,
  type ObservationSink,
  type Observer,
  systemClock,
  type TrackedInfrastructure,
} from '@stevedore/kernel';
import { ecsSdk } from './aws-sdk.js';
import { type EcsTaskContextSource, parseEcsIdentifier } from './ecs-infrastructure.js';
import { awsErrorInfo } from './errors.js';
import { ecsTagMap, ecsTaskEvent } from './task-events.js';
import { toStateChange } from './task-state.js';

/** Most tasks one DescribeTasks call accepts. @public */
export const DESCRIBE_TASKS_BATCH_SIZE = 100;

/**
 * Most DescribeTasks calls one poll has in flight. Each answer (100 tasks with their tags: a few hundred KB of
 * JSON) is held as bytes, text and objects until it is handled, so 5,000 tracked tasks described all at once held
 * 50 of them (tens of MB) at the same moment. Five in flight still outpace the account's sustained DescribeTasks
 * quota (20 calls/s) at AWS's usual latencies, so a poll takes no longer in practice. @public
 */
export const DESCRIBE_TASKS_CONCURRENCY = 5;

/** The `stopReason` reported for a task ECS no longer knows. @public */
export const MISSING_TASK_REASON =
  'ECS no longer knows this task (it stopped more than about an hour ago or was never started)';

/** Options of {@link DescribeTasksObserver}. @public */
export interface DescribeTasksObserverOptions {
  logger?: Logger;
  clock?: Clock;
  /**
   * The shortest interval between two polls, whatever the kernel asks for (the plugin's `observer.pollSeconds`):
   * spares the DescribeTasks quota when many workers share an account. Default: none.
   */
  minPollIntervalMs?: number;
  /**
   * How many polls in a row must find a task `MISSING` before it is reported stopped. Default 2: right after
   * RunTask, DescribeTasks can briefly miss a task it just started (eventual consistency).
   */
  missingPollsBeforeStopped?: number;
  /** Where each task state change also goes as a `prefect.ecs.task.<status>` Prefect event (`kernelTokens.events`). */
  events?: EventEmitter;
}

/** What the observer remembers per identifier between polls. */
interface Seen {
  lastStatus?: string | undefined;
  version?: number | undefined;
  /** Consecutive polls that found the task MISSING. */
  missing: number;
}

interface Batch {
  ecs: ECSClient;
  cluster: string;
  /** Task ARN (as in the identifier) → identifier. */
  tasks: Map<string, string>;
  containerNames: Map<string, string | undefined>;
  /** Task ID → identifier, for answers that name a task by another ARN form; built on first use, once per poll. */
  byTaskId?: Map<string, string>;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const taskIdOf = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

/**
 * The default ECS observer: watches every tracked task to the end with batched `DescribeTasks` calls, without any
 * extra AWS infrastructure (no EventBridge rule, no SQS queue).
 *
 * Each poll takes the kernel's tracked identifiers, groups them by AWS client (region and credentials of the launch,
 * see {@link EcsTaskContextSource}) and cluster, describes them 100 at a time, and reports each task whose
 * `(lastStatus, version)` changed since the last report, normalized by {@link toStateChange}. A task ECS reports
 * `MISSING` twice in a row is reported stopped. AWS errors make the observer report itself unhealthy (partial
 * coverage) and try again at the next poll; they never end it.
 *
 * @remarks The kernel turns these changes into Prefect states (InfrastructurePending, Crashed, Cancelled, the crash
 * grace period, the start timeout); this class only knows ECS.
 * @public
 */
export class DescribeTasksObserver implements Observer {
  readonly name = 'ecs-describe-tasks';
  readonly kind = 'polling';
  readonly infrastructureType = 'ecs';
  private readonly seen = new Map<string, Seen>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly minPollIntervalMs: number;
  private readonly missingThreshold: number;
  private readonly invalid = new Set<string>();
  private readonly events: EventEmitter | undefined;

  constructor(
    private readonly tasks: EcsTaskContextSource,
    options: DescribeTasksObserverOptions = {},
  ) {
    this.logger = options.logger ?? nullLogger;
    this.clock = options.clock ?? systemClock;
    this.minPollIntervalMs = options.minPollIntervalMs ?? 0;
    this.missingThreshold = Math.max(1, options.missingPollsBeforeStopped ?? 2);
    this.events = options.events;
  }

  /** Polls until `signal` aborts, then resolves. Never rejects. */
  async run(sink: ObservationSink, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.poll(sink, signal);
      } catch (e) {
        if (signal.aborted) break;
        // poll() handles AWS errors itself; anything reaching here is a bug or a broken sink. Losing one poll is
        // safe (the next one describes every task again); ending the observer would blind the worker.
        this.logger.warn('ECS task poll failed unexpectedly; retrying at the next poll.', {
          error: awsErrorInfo(e),
        });
        sink.reportHealth(this.name, {
          healthy: false,
          coverage: 'partial',
          reason: awsErrorInfo(e).message,
        });
      }
      if (!(await this.sleepUntilNextPoll(sink, signal))) break;
    }
  }

  /**
   * Sleeps the interval the kernel asks for (at least `minPollIntervalMs`), cut short when the kernel says it
   * shortened (an event observer became unhealthy while this one slept the safety-net interval): then polls
   * `minPollIntervalMs` after the last poll at the earliest. @returns false when `signal` aborted.
   */
  private async sleepUntilNextPoll(sink: ObservationSink, signal: AbortSignal): Promise<boolean> {
    const polledAt = this.clock.now().getTime();
    const wake = new AbortController();
    const sleeping = AbortSignal.any([signal, wake.signal]);
    void sink.pollIntervalShortened?.(sleeping).then(() => wake.abort());
    try {
      await this.clock.sleep(Math.max(this.minPollIntervalMs, sink.pollIntervalMs()), sleeping);
      return true;
    } catch {
      if (signal.aborted) return false; // the clock's sleep rejects only when its signal aborts
    } finally {
      wake.abort();
    }
    this.logger.debug('Polling now: the kernel shortened the poll interval.', {
      intervalMs: sink.pollIntervalMs(),
    });
    const rest = polledAt + this.minPollIntervalMs - this.clock.now().getTime();
    if (rest <= 0) return true;
    try {
      await this.clock.sleep(rest, signal);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * One poll: describes every tracked ECS task and reports what changed. Exposed for tests and for callers that
   * want a poll now (after a burst of submissions).
   */
  async poll(sink: ObservationSink, signal: AbortSignal): Promise<void> {
    const tracked = sink.tracked().filter((t) => t.infrastructureType === this.infrastructureType);
    this.forgetUntracked(tracked);
    const batches = this.batches(tracked);
    const problems: string[] = [];
    const calls = [...batches.values()].flatMap((batch) =>
      chunk([...batch.tasks.keys()], DESCRIBE_TASKS_BATCH_SIZE).map((arns) => ({ batch, arns })),
    );
    let next = 0;
    const describeNext = async (): Promise<void> => {
      for (let call = calls[next++]; call !== undefined && !signal.aborted; call = calls[next++]) {
        const { batch, arns } = call;
        try {
          const out = await batch.ecs.send(
            // TAGS: the `prefect.io/*` tags name the related resources of the task's Prefect events.
            new ecsSdk.DescribeTasksCommand({ cluster: batch.cluster, tasks: arns, include: ['TAGS'] }),
            {
              abortSignal: signal,
            },
          );
          this.handle(sink, batch, out.tasks ?? [], out.failures ?? [], problems);
        } catch (e) {
          if (signal.aborted) return;
          const aws = awsErrorInfo(e);
          problems.push(`DescribeTasks failed for cluster '${batch.cluster}': ${aws.name}: ${aws.message}`);
          this.logger.debug('DescribeTasks failed; the tasks are described again at the next poll.', {
            cluster: batch.cluster,
            tasks: arns.length,
            aws,
          });
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(DESCRIBE_TASKS_CONCURRENCY, calls.length) }, describeNext),
    );
    if (signal.aborted) return;
    if (problems.length === 0) {
      sink.reportHealth(this.name, { healthy: true, coverage: 'all' });
    } else {
      sink.reportHealth(this.name, { healthy: false, coverage: 'partial', reason: problems.join(' ') });
    }
  }

  private forgetUntracked(tracked: readonly TrackedInfrastructure[]): void {
    const ids = new Set(tracked.map((t) => t.identifier));
    for (const id of this.seen.keys()) if (!ids.has(id)) this.seen.delete(id);
    for (const id of this.invalid) if (!ids.has(id)) this.invalid.delete(id);
  }

  /** Groups identifiers by client, then cluster. */
  private batches(tracked: readonly TrackedInfrastructure[]): Map<string, Batch> {
    const clientIds = new Map<ECSClient, number>();
    const batches = new Map<string, Batch>();
    for (const item of tracked) {
      let cluster: string;
      let taskArn: string;
      let context: ReturnType<EcsTaskContextSource['taskContext']>;
      try {
        ({ cluster, taskArn } = parseEcsIdentifier(item.identifier));
        context = this.tasks.taskContext(item.identifier);
      } catch (e) {
        if (!this.invalid.has(item.identifier)) {
          this.invalid.add(item.identifier);
          this.logger.warn('Cannot watch this infrastructure: its identifier is not an ECS task.', {
            identifier: item.identifier,
            flowRunId: item.flowRunId,
            error: awsErrorInfo(e).message,
          });
        }
        continue;
      }
      let clientId = clientIds.get(context.ecs);
      if (clientId === undefined) {
        clientId = clientIds.size;
        clientIds.set(context.ecs, clientId);
      }
      const key = `${clientId}\0${cluster}`;
      let batch = batches.get(key);
      if (batch === undefined) {
        batch = { ecs: context.ecs, cluster, tasks: new Map(), containerNames: new Map() };
        batches.set(key, batch);
      }
      batch.tasks.set(taskArn, item.identifier);
      batch.containerNames.set(item.identifier, context.containerName);
    }
    return batches;
  }

  private handle(
    sink: ObservationSink,
    batch: Batch,
    tasks: readonly Task[],
    failures: readonly Failure[],
    problems: string[],
  ): void {
    const byTaskId = (): Map<string, string> => {
      if (batch.byTaskId === undefined) {
        batch.byTaskId = new Map();
        for (const [arn, identifier] of batch.tasks) batch.byTaskId.set(taskIdOf(arn), identifier);
      }
      return batch.byTaskId;
    };
    const identifierOf = (arn: string | undefined): string | undefined =>
      arn === undefined ? undefined : (batch.tasks.get(arn) ?? byTaskId().get(taskIdOf(arn)));

    for (const task of tasks) {
      const identifier = identifierOf(task.taskArn);
      if (identifier === undefined) continue;
      const seen = this.seen.get(identifier) ?? { missing: 0 };
      seen.missing = 0;
      this.seen.set(identifier, seen);
      if (seen.lastStatus === task.lastStatus && seen.version === task.version) continue;
      const statusChanged = seen.lastStatus !== task.lastStatus;
      seen.lastStatus = task.lastStatus;
      seen.version = task.version;
      this.report(
        sink,
        // The tags are read for the Prefect event; the change stays what the SQS observer reports for the same state
        // (EventBridge events carry no tags): tracked tasks are matched by identifier.
        toStateChange(
          { ...task, tags: undefined },
          { identifier, containerName: batch.containerNames.get(identifier) },
        ),
      );
      if (statusChanged && this.events?.enabled) {
        const event = ecsTaskEvent(task, { tags: ecsTagMap(task), now: this.clock.now() });
        if (event) this.events.emit(event);
      }
    }

    for (const failure of failures) {
      const identifier = identifierOf(failure.arn);
      if (identifier === undefined) continue;
      if (failure.reason !== 'MISSING') {
        problems.push(
          `DescribeTasks could not describe '${failure.arn}': ${failure.reason ?? 'unknown reason'}.`,
        );
        continue;
      }
      const seen = this.seen.get(identifier) ?? { missing: 0 };
      this.seen.set(identifier, seen);
      seen.missing += 1;
      // A task already reported STOPPED keeps that report (with its exit code) when ECS later forgets it.
      if (
        seen.missing < this.missingThreshold ||
        seen.lastStatus === 'MISSING' ||
        seen.lastStatus === 'STOPPED'
      )
        continue;
      seen.lastStatus = 'MISSING';
      seen.version = undefined;
      this.report(sink, {
        identifier,
        status: 'stopped',
        providerStatus: 'MISSING',
        exitCode: null,
        stopCode: null,
        stopReason: MISSING_TASK_REASON,
      });
    }
  }

  private report(sink: ObservationSink, change: InfrastructureStateChange): void {
    this.logger.debug('ECS task state changed.', {
      identifier: change.identifier,
      status: change.status,
      providerStatus: change.providerStatus,
      version: change.version,
    });
    sink.report(change);
  }
}
