export {
  describeInfrastructureConformance,
  type InfrastructureFixture,
} from './conformance/infrastructure.js';
export { describeObserverConformance, type ObserverFixture, RecordingSink } from './conformance/observer.js';
export {
  describeTemplateSourceConformance,
  type TemplateSourceFixture,
} from './conformance/template-source.js';
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
