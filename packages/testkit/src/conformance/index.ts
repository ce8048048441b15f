/**
 * Conformance suites for the kernel's extension points (vitest): every plugin of ours passes them, and
 * third-party plugin authors run them too.
 * @packageDocumentation
 */
export {
  describeInfrastructureConformance,
  type InfrastructureFixture,
} from './infrastructure.js';
export { describeObserverConformance, type ObserverFixture, RecordingSink } from './observer.js';
export {
  describeTemplateSourceConformance,
  type TemplateSourceFixture,
} from './template-source.js';
