/**
 * `@stevedore/ecs-launcher`: the `ecs` work-pool type (prefect-aws's ECS worker, spec §2).
 * The only barrel of the package: explicit named exports.
 */
export {
  AWS_SDK_RETRY_SETTINGS,
  type AwsClientSettings,
  type AwsClientSource,
  type AwsCredentialsBlock,
  AwsCredentialsSchema,
  awsClientSettings,
  createEc2Client,
  createEcsClient,
  createLogsClient,
  defaultEcsClientSources,
  type EcsClientSources,
  type ResolvedAwsClientSettings,
} from './aws-clients.js';
export { loadEcsBaseJobTemplate } from './base-job-template.js';
export {
  CAPACITY_LADDER_VARIABLES,
  type CapacityLadderSettings,
  CapacityLadderWalk,
  capacityLadderSettings,
  DEFAULT_CAPACITY_BUDGET_SECONDS,
  type LadderStep,
} from './capacity-ladder.js';
export { GET_LOG_EVENTS_MAX_LIMIT } from './crash-logs.js';
export {
  DESCRIBE_TASKS_BATCH_SIZE,
  DESCRIBE_TASKS_CONCURRENCY,
  DescribeTasksObserver,
  type DescribeTasksObserverOptions,
  MISSING_TASK_REASON,
} from './describe-tasks-observer.js';
export {
  EcsInfrastructure,
  type EcsInfrastructureOptions,
  type EcsTaskContext,
  type EcsTaskContextSource,
  parseEcsIdentifier,
  STOP_TASK_REASON,
} from './ecs-infrastructure.js';
export { type AwsErrorInfo, EcsError, type EcsErrorCode, ecsErrorCodes } from './errors.js';
export { ignoredJobVariables } from './ignored-variables.js';
export {
  type EcsJobConfiguration,
  EcsJobConfigurationSchema,
  inferContainerName,
  parseEcsJobConfiguration,
} from './job-configuration.js';
export {
  type CapacityRetryPolicy,
  clusterCapacityProviders,
  ecsLaunchTypeToken,
  FARGATE_CAPACITY_FAILURE,
  FARGATE_CAPACITY_UNAVAILABLE,
  FARGATE_LAUNCH_TYPE,
  type LaunchType,
  LaunchTypes,
  launchTypeCompatibility,
  type RunTaskFailureInfo,
  selectedLaunchType,
} from './launch-type.js';
export {
  customNetworkConfiguration,
  inferNetworkConfiguration,
  resolveNetworkConfiguration,
} from './network.js';
export {
  createEcsLauncherInfrastructure,
  ECS_LAUNCHER_IAM_ACTIONS,
  type EcsLauncherConfig,
  EcsLauncherConfigSchema,
  type EcsLauncherDeps,
  ecsLauncherJobVariables,
  ecsLauncherPlugin,
  ecsLauncherTokens,
} from './plugin.js';
export {
  type AwsAttemptObserver,
  DEFAULT_RATE_LIMITS,
  FALLBACK_RATE_LIMIT,
  installRateBudget,
  isThrottlingError,
  RATE_BUDGET_MIDDLEWARE_NAME,
  RateBudget,
  type RateBudgetedClient,
  type RateBudgetKey,
  type RateBudgetOptions,
  type RateLimit,
  TokenBucket,
} from './rate-budget.js';
export { abortableSleep, defaultEcsRetryOptions, type EcsRetryOptions, type Sleep } from './retry.js';
export {
  CLIENT_TOKEN_MAX_LENGTH,
  DEREGISTER_TAG,
  ecsStartedBy,
  type PreparedRunTaskRequest,
  type PrepareRunTaskRequestInput,
  prepareRunTaskRequest,
  type RunTaskOptions,
  runTask,
  runTaskClientToken,
} from './run-task.js';
export { type BuiltTags, buildEcsTags, ECS_TAG_LIMITS, sanitizeTagText } from './tags.js';
export {
  defaultFamily,
  defaultPrefectImage,
  ECS_DEFAULTS,
  ECS_FAMILY_MAX_LENGTH,
  ECS_POST_REGISTRATION_FIELDS,
  normalizeTaskDefinition,
  orchestrationContainerName,
  type PrepareTaskDefinitionContext,
  prepareTaskDefinition,
  sanitizeFamily,
  taskDefinitionHash,
  taskDefinitionsEqual,
  validateTaskDefinition,
} from './task-definition.js';
export {
  describeExistingTaskDefinition,
  type GetOrRegisterOptions,
  type ResolvedTaskDefinition,
  TASK_DEFINITION_HASH_TAG,
  TaskDefinitionRegistry,
  type TaskDefinitionRegistryOptions,
} from './task-definition-registry.js';
export { type EcsTaskEventOptions, ecsTagMap, ecsTaskEvent, ecsTaskEventId } from './task-events.js';
export {
  changedAt,
  diagnoseEcsTask,
  type EcsContainerDescription,
  type EcsTaskDescription,
  ecsCrashMessage,
  ecsInterruption,
  ecsTaskStatus,
  FLOW_RUN_ID_TAG,
  flowRunIdOf,
  orchestrationContainer,
  shouldDiagnose,
  type ToStateChangeOptions,
  toStateChange,
} from './task-state.js';
export {
  applyWorkerTemplates,
  mergeRunTaskKwargs,
  WorkerTemplateCache,
  type WorkerTemplateReferences,
  type WorkerTemplates,
} from './worker-templates.js';
