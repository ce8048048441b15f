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
export { type CreateTestKernelOptions, createTestKernel, type TestKernel } from './test-kernel.js';
