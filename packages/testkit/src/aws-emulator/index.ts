/**
 * An in-process AWS emulator for integration tests of the ECS worker: ECS, CloudWatch Logs and EventBridge
 * (JSON 1.1), SQS (JSON 1.0) and EC2 (query protocol) on one local endpoint, validated against AWS's
 * published service models. ECS task state changes are put on the EventBridge default bus, whose rules
 * deliver them to SQS queues (what prefect-aws's ECS observer consumes).
 *
 * ```ts
 * const aws = await startAwsEmulator();
 * const ecs = new ECSClient(awsClientConfig(aws));
 * const { taskDefinition } = await ecs.send(new RegisterTaskDefinitionCommand({ ... }));
 * const { tasks } = await ecs.send(new RunTaskCommand({ taskDefinition: taskDefinition?.taskDefinitionArn, ... }));
 * await aws.ecs.waitForTask(tasks![0]!.taskArn!);
 * expect(aws.schemaErrors()).toEqual([]);
 * await aws.stop();
 * ```
 *
 * Simulated containers play the Prefect engine (RUNNING, then COMPLETED/FAILED through
 * `PREFECT_API_URL`); `STEVEDORE_SIM_OUTCOME` in the container environment picks the outcome.
 */
export { defaultTaskBehavior, SIM_OUTCOME_ENV, SIM_RUN_MS_ENV } from './engine.js';
export { EventPatternError, matchesEventPattern, parseEventPattern } from './event-pattern.js';
export { DEFAULT_QUOTAS } from './faults.js';
export { DEFAULT_DURATIONS } from './lifecycle.js';
export { pointAwsSdkAt } from './sdk-env.js';
export { awsClientConfig, startAwsEmulator } from './server.js';
export type {
  AwsClientConfig,
  AwsEmulator,
  AwsEmulatorOptions,
  AwsFaultController,
  AwsFaultHandle,
  AwsFaultRequestInfo,
  AwsFaultRule,
  AwsJsonObject,
  AwsJsonValue,
  AwsQuotaOptions,
  AwsRecordedRequest,
  AwsSchemaIssue,
  AwsServiceName,
  Ec2EmulatorApi,
  Ec2SecurityGroup,
  Ec2Subnet,
  Ec2Tag,
  Ec2Vpc,
  EcsCapacityProviderStrategyItem,
  EcsClusterInfo,
  EcsContainer,
  EcsEmulatorApi,
  EcsKeyValue,
  EcsStopCode,
  EcsTag,
  EcsTask,
  EcsTaskDefinition,
  EcsTaskStateChangeEvent,
  EcsTaskStatus,
  EventBridgeDelivery,
  EventBridgeEmulatorApi,
  EventBridgeEmulatorOptions,
  EventBridgeEvent,
  EventBridgeEventInput,
  EventBridgeRuleView,
  EventBridgeTargetView,
  IdentityEmulatorApi,
  LogEventJson,
  LogsEmulatorApi,
  RunTaskFailureInjection,
  S3EmulatorApi,
  SchemaIssueDetail,
  SeedClusterInput,
  SeedSecurityGroupInput,
  SeedSubnetInput,
  SeedVpcInput,
  SimOutcome,
  SqsEmulatorApi,
  SqsEmulatorOptions,
  SqsMessageFaultFilter,
  SqsMessageView,
  SqsQueueCounts,
  SqsQueueState,
  StartFailureInjection,
  TaskBehavior,
  TaskBehaviorFn,
  TaskDurations,
  TokenBucketQuota,
} from './types.js';
export { SIM_OUTCOMES } from './types.js';
