export { type CreateTestKernelOptions, type TestKernel, createTestKernel } from './test-kernel.js';
export {
  FakeInfrastructure,
  type FakeInfrastructureOptions,
  FakeLaunchError,
  type FakeSubmission,
  createFakeInfrastructure,
  fakeBaseJobTemplate,
  fakeInfrastructurePlugin,
} from './fakes/fake-infrastructure.js';
export { type InfrastructureFixture, describeInfrastructureConformance } from './conformance/infrastructure.js';
export { type ObserverFixture, RecordingSink, describeObserverConformance } from './conformance/observer.js';
export { type TemplateSourceFixture, describeTemplateSourceConformance } from './conformance/template-source.js';
