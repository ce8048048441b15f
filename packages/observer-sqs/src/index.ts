/**
 * `@stevedore/observer-sqs`: event-driven ECS task tracking from EventBridge through SQS (prefect-aws's ECS observer,
 * spec §3), and the library behind `stevedore events deploy|status|delete`. The only barrel of the package: explicit
 * named exports.
 * @packageDocumentation
 */
export {
  CLOUDFORMATION_STACK_TAG,
  type EventsClients,
  eventPattern,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  POLICY_STATEMENT_SID,
  POOL_TAG,
  type ResourceOwner,
  resolveClusterArn,
} from './aws-state.js';
export {
  createEventsClients,
  deployEventsInfrastructure,
  EVENTS_DEFAULTS,
  EVENTS_DEPLOY_IAM_ACTIONS,
  type EventsCallOptions,
  type EventsDeployResult,
  type EventsPlan,
  type EventsResourceKind,
  type EventsTarget,
  type PlannedAction,
  type PlannedStep,
  planEventsInfrastructure,
} from './deploy.js';
export {
  type AwsErrorSummary,
  ObserverSqsError,
  type ObserverSqsErrorCode,
  observerSqsErrorCodes,
} from './errors.js';
export {
  ECS_EVENT_SOURCE,
  ECS_TASK_STATE_CHANGE,
  type EcsTaskEventDetail,
  type EcsTaskStateChangeEvent,
  type ParsedEventMessage,
  parseEcsTaskEvent,
} from './events.js';
export { deleteEventsInfrastructure, type EventsDeleteResult } from './events-delete.js';
export {
  type EventsResourceStatus,
  type EventsStatusResult,
  eventsStatus,
  type QueueDepth,
} from './events-status.js';
export {
  type EventsResourceNames,
  eventsResourceNames,
  type QueueCandidate,
  type QueueNameSource,
  queueCandidates,
  REFERENCE_DEFAULT_QUEUE_NAME,
} from './names.js';
export {
  createSqsObserver,
  OBSERVER_SQS_IAM_ACTIONS,
  type ObserverSqsConfig,
  ObserverSqsConfigSchema,
  observerSqsPlugin,
  observerSqsTokens,
  type SqsObserverDeps,
  sqsQueuePreflightCheck,
} from './plugin.js';
export {
  DEFAULT_RELEASE_BACKOFF_SECONDS,
  DEFAULT_RELEASE_MAX_AGE_MS,
  DEFAULT_RELEASE_MAX_RECEIVES,
  DEFAULT_RELEASE_PAUSE_MS,
  DEFAULT_WAIT_TIME_SECONDS,
  type HandledBatch,
  QUEUE_RECHECK_MS,
  type QueueResolution,
  SQS_BATCH_SIZE,
  SqsObserver,
  type SqsObserverOptions,
  VISIBILITY_EXTENSION_MS,
  VISIBILITY_TIMEOUT_SECONDS,
} from './sqs-observer.js';
