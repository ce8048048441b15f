/**
 * @stevedore/testkit — emulators of the Prefect API and AWS, a test kernel and fakes. The conformance
 * suites (which need vitest) live on the `@stevedore/testkit/conformance` entry point, so this one can be
 * imported outside a test run (the CLI's `sandbox` does).
 * @packageDocumentation
 */

export {
  type AwsClientConfig,
  type AwsEmulator,
  type AwsEmulatorOptions,
  type AwsFaultController,
  type AwsFaultRule,
  type AwsQuotaOptions,
  type AwsRecordedRequest,
  type AwsSchemaIssue,
  awsClientConfig,
  DEFAULT_DURATIONS,
  DEFAULT_QUOTAS,
  defaultTaskBehavior,
  type EcsTask,
  type EcsTaskDefinition,
  type EcsTaskStateChangeEvent,
  SIM_OUTCOME_ENV,
  SIM_OUTCOMES,
  SIM_RUN_MS_ENV,
  type SimOutcome,
  startAwsEmulator,
  type TaskBehavior,
  type TaskBehaviorFn,
  type TaskDurations,
} from './aws-emulator/index.js';
export {
  createFakeInfrastructure,
  FakeInfrastructure,
  type FakeInfrastructureOptions,
  FakeLaunchError,
  type FakeSubmission,
  fakeBaseJobTemplate,
  fakeInfrastructurePlugin,
} from './fakes/fake-infrastructure.js';
export {
  type BlockDocumentJson,
  type DeploymentJson,
  type FaultController,
  type FaultHandle,
  type FaultRequestInfo,
  type FaultRule,
  type FlowJson,
  type FlowRunJson,
  type JsonObject,
  type JsonValue,
  type LogJson,
  type OrchestrationResultJson,
  type OrchestrationScript,
  type PrefectEmulator,
  type PrefectEmulatorOptions,
  type PrefectMode,
  type RecordedRequest,
  type SchemaIssue,
  type SeedBlockDocumentInput,
  type SeedDeploymentInput,
  type SeedFlowInput,
  type SeedFlowRunInput,
  type SeedVariableInput,
  type SeedWorkPoolInput,
  STATE_TYPES,
  type StateJson,
  startPrefectEmulator,
  type ValidationIssue,
  type WorkPoolJson,
} from './prefect-emulator/index.js';
export { type CreateTestKernelOptions, createTestKernel, type TestKernel } from './test-kernel.js';
