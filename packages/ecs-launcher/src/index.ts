/**
 * `@stevedore/ecs-launcher`: the `ecs` work-pool type (prefect-aws's ECS worker, spec §2).
 * The only barrel of the package: explicit named exports.
 */
export {
  type AwsClientSettings,
  type AwsClientSource,
  type AwsCredentialsBlock,
  AwsCredentialsSchema,
  awsClientSettings,
  createEc2Client,
  createEcsClient,
  defaultEcsClientSources,
  type EcsClientSources,
  type ResolvedAwsClientSettings,
} from './aws-clients.js';
export { loadEcsBaseJobTemplate } from './base-job-template.js';
export {
  EcsInfrastructure,
  type EcsInfrastructureOptions,
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
  customNetworkConfiguration,
  inferNetworkConfiguration,
  resolveNetworkConfiguration,
} from './network.js';
export { abortableSleep, defaultEcsRetryOptions, type EcsRetryOptions, type Sleep } from './retry.js';
export {
  CLIENT_TOKEN_MAX_LENGTH,
  DEREGISTER_TAG,
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
