/**
 * An in-process AWS emulator for integration tests of the ECS worker: ECS and CloudWatch Logs (JSON 1.1)
 * and EC2 (query protocol) on one local endpoint, validated against AWS's published service models.
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
export { DEFAULT_QUOTAS } from './faults.js';
export { DEFAULT_DURATIONS } from './lifecycle.js';
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
  LogEventJson,
  LogsEmulatorApi,
  RunTaskFailureInjection,
  SchemaIssueDetail,
  SeedClusterInput,
  SeedSecurityGroupInput,
  SeedSubnetInput,
  SeedVpcInput,
  SimOutcome,
  StartFailureInjection,
  TaskBehavior,
  TaskBehaviorFn,
  TaskDurations,
  TokenBucketQuota,
} from './types.js';
export { SIM_OUTCOMES } from './types.js';
