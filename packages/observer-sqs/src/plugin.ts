import type { SQSClient } from '@aws-sdk/client-sqs';
import { type EcsTaskContextSource, ecsLauncherTokens } from '@stevedore/ecs-launcher';
import {
  type Clock,
  definePlugin,
  type EventEmitter,
  kernelTokens,
  type Logger,
  type PreflightCheck,
  token,
} from '@stevedore/kernel';
import { z } from 'zod';
import { loadSqsSdk } from './aws-sdk.js';
import { DEFAULT_WAIT_TIME_SECONDS, SqsObserver, VISIBILITY_TIMEOUT_SECONDS } from './sqs-observer.js';

/**
 * The `plugins.observer-sqs` config section. Every key is optional; unknown keys are errors. The CLI maps
 * `PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME` / `_REGION` onto `queueName` / `queueRegion` (packages
 * never read the environment).
 *
 * - `queueName`: the queue to read, and the only one tried; unset → `<pool>-ecs-events`, `prefect-ecs-tasks-events`,
 *   `<pool>-events`, in that order;
 * - `queueRegion`: the queue's region (default: the SDK's chain, `AWS_REGION`…);
 * - `waitTimeSeconds`: ReceiveMessage's long-polling wait, 0–20 (default 20);
 * - `visibilityTimeoutSeconds`: the visibility timeout asked for on receive, 1–43,200 (default 300, the reference's):
 *   how long a message whose handling failed stays hidden before it is redelivered;
 * - `enabled`: false turns the observer off (DescribeTasks polling alone watches tasks). The reference defines
 *   `PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED` but never reads it (spec §3.1); this one is honoured.
 * @public
 */
export const ObserverSqsConfigSchema = z.strictObject({
  queueName: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,80}$/, 'an SQS queue name: 1–80 letters, digits, hyphens or underscores')
    .optional()
    .describe('SQS queue of ECS task events (PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME).'),
  queueRegion: z
    .string()
    .min(1)
    .optional()
    .describe('Region of the queue (PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_REGION).'),
  waitTimeSeconds: z
    .number()
    .int()
    .min(0)
    .max(20)
    .default(DEFAULT_WAIT_TIME_SECONDS)
    .describe('Long-polling wait of ReceiveMessage, in seconds.'),
  visibilityTimeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(43_200)
    .default(VISIBILITY_TIMEOUT_SECONDS)
    .describe(
      'Visibility timeout of received messages, in seconds: how long a message whose handling failed stays hidden before it is redelivered.',
    ),
  enabled: z.boolean().default(true).describe('Consume ECS task events from SQS.'),
});

/** The validated `plugins.observer-sqs` section. @public */
export type ObserverSqsConfig = z.output<typeof ObserverSqsConfigSchema>;

/**
 * The IAM actions the observer calls at run time, exactly (printed by `stevedore iam-policy`):
 * `sqs:GetQueueUrl` (queue resolution), `sqs:ReceiveMessage`, `sqs:DeleteMessage` (DeleteMessageBatch is authorized
 * as it), `sqs:ChangeMessageVisibility` (ChangeMessageVisibilityBatch likewise: visibility extensions, and events released to
 * the replica that tracks their run), `sqs:GetQueueAttributes` (the queue's redrive `maxReceiveCount`, which bounds
 * those releases; optional, 3 is assumed without it) and `ecs:DescribeTasks` (tags of
 * tasks not matched by identifier, and of every task while Prefect events are on). `stevedore events
 * deploy|status|delete` need others:
 * `EVENTS_DEPLOY_IAM_ACTIONS`.
 * @public
 */
export const OBSERVER_SQS_IAM_ACTIONS: readonly string[] = Object.freeze([
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueAttributes',
  'ecs:DescribeTasks',
]);

/** Tokens of the services this plugin provides. `observer` is the one {@link SqsObserver}. @public */
export const observerSqsTokens = Object.freeze({
  observer: token<SqsObserver>('observer-sqs.observer'),
});

/** What {@link createSqsObserver} needs besides the config. @public */
export interface SqsObserverDeps {
  /** The work pool (the kernel config's `pool`). */
  pool: string;
  logger: Logger;
  clock: Clock;
  /** ECS clients and container names per identifier: ecs-launcher's `EcsInfrastructure`. */
  tasks: EcsTaskContextSource;
  /** The default cluster, for the `stevedore events deploy` hint. */
  cluster?: string | undefined;
  /** Default: an SDK client for `queueRegion`, else the SDK's default chain. */
  sqs?: SQSClient;
  /** Prefect events of task state changes (`kernelTokens.events`). */
  events?: EventEmitter;
}

/** Builds the plugin's {@link SqsObserver} from its config section. @public */
export function createSqsObserver(
  config: Partial<ObserverSqsConfig> | undefined,
  deps: SqsObserverDeps,
): SqsObserver {
  const c = ObserverSqsConfigSchema.parse(config ?? {});
  return new SqsObserver({
    // Built on first use: a disabled observer never loads the SQS client.
    sqs: deps.sqs ?? (() => new (loadSqsSdk().SQSClient)(c.queueRegion ? { region: c.queueRegion } : {})),
    tasks: deps.tasks,
    pool: deps.pool,
    queueName: c.queueName,
    queueRegion: c.queueRegion,
    cluster: deps.cluster,
    enabled: c.enabled,
    waitTimeSeconds: c.waitTimeSeconds,
    visibilityTimeoutSeconds: c.visibilityTimeoutSeconds,
    logger: deps.logger,
    clock: deps.clock,
    ...(deps.events ? { events: deps.events } : {}),
  });
}

/**
 * The preflight check: is there a queue to read? A missing queue is a **warning**, never a reason not to start: the
 * DescribeTasks poller watches every task at full rate without it.
 * @public
 */
export function sqsQueuePreflightCheck(observer: SqsObserver): PreflightCheck {
  return {
    id: 'observer-sqs.queue',
    description: 'The SQS queue of ECS task events exists and can be read.',
    async run({ signal }) {
      if (!observer.isEnabled) return { ok: true, message: 'The SQS events observer is disabled.' };
      const r = await observer.resolveQueue(signal);
      return r.found
        ? { ok: true, message: r.message }
        : { ok: false, severity: 'warning', message: r.message };
    },
  };
}

/**
 * The `observer-sqs` plugin: the event-driven ECS observer ({@link SqsObserver}) next to ecs-launcher's DescribeTasks
 * poller, which drops to its safety-net interval while this one is healthy. Needs `ecs-launcher` (its
 * infrastructure gives the ECS clients and the orchestration container names).
 * @public
 */
export const observerSqsPlugin = definePlugin<ObserverSqsConfig>({
  id: 'observer-sqs',
  kernel: '^0.1.0',
  packageName: '@stevedore/observer-sqs',
  dependsOn: ['ecs-launcher'],
  configSchema: ObserverSqsConfigSchema,
  register(r) {
    r.provide(observerSqsTokens.observer, {
      deps: {
        worker: kernelTokens.config,
        logger: kernelTokens.logger,
        clock: kernelTokens.clock,
        ecs: ecsLauncherTokens.infrastructure,
        events: kernelTokens.events,
      },
      create: ({ worker, logger, clock, ecs, events }, config) => {
        const cluster = ecs.defaultJobVariables?.().cluster;
        return createSqsObserver(config, {
          pool: worker.pool,
          logger: logger.child({ component: 'ecs-sqs-events' }),
          clock,
          tasks: ecs,
          cluster: typeof cluster === 'string' ? cluster : undefined,
          events,
        });
      },
    });
    r.provideObserver({ deps: { observer: observerSqsTokens.observer }, create: ({ observer }) => observer });
    r.addPreflightCheck({
      deps: { observer: observerSqsTokens.observer },
      create: ({ observer }) => sqsQueuePreflightCheck(observer),
    });
    r.requireIamActions(OBSERVER_SQS_IAM_ACTIONS);
  },
});
