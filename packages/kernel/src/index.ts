/**
 * @stevedore/kernel — the worker kernel: extension points, plugin wiring, the Prefect API client and
 * the worker runtime. The only barrel of the package: explicit named exports.
 * @packageDocumentation
 */
export { type Clock, systemClock } from './clock.js';
export {
  type ParsedConfig,
  type WorkerConfig,
  type WorkerConfigInput,
  WorkerConfigSchema,
  parseWorkerConfig,
  zodIssuesToConfigIssues,
} from './config.js';
export { type PluginHost, checkPlugins } from './container.js';
export {
  type ConfigIssue,
  ConfigError,
  InfrastructureNotAvailableError,
  InfrastructureNotFoundError,
  type KernelErrorCode,
  PluginError,
  PrefectApiError,
  StevedoreError,
  type StevedoreErrorOptions,
  TemplateNotFoundError,
  abortError,
  formatConfigIssues,
  isStevedoreError,
  kernelErrorCodes,
} from './errors.js';
export type {
  FlowRunJob,
  Infrastructure,
  InfrastructureStateChange,
  InfrastructureStatus,
  JobConfiguration,
  ObservationSink,
  Observer,
  ObserverHealth,
  PluginContext,
  PreflightCheck,
  PreflightResult,
  SubmitResult,
  TemplateContext,
  TemplateSource,
  TrackedInfrastructure,
} from './extension-points.js';
export { type CreateKernelOptions, type Kernel, type PreflightReport, createKernel } from './kernel.js';
export {
  type CreateLoggerOptions,
  type LogLevel,
  type LogMeta,
  type LogRecord,
  type LogSink,
  type Logger,
  Redactor,
  createLogger,
  createMemoryLogger,
  nullLogger,
} from './logger.js';
export {
  type AnyPlugin,
  type DepsMap,
  type Factory,
  type PluginDefinition,
  type PluginRegistrar,
  type ResolvedDeps,
  definePlugin,
  isPluginDefinition,
} from './plugin.js';
export type { CallOptions, PrefectApi } from './prefect/api.js';
export { type PrefectClientOptions, createPrefectClient, formatScheduledBefore } from './prefect/client.js';
export {
  type BaseJobTemplate,
  type BlockDocument,
  type Deployment,
  type Flow,
  type FlowRun,
  type FlowRunFilterBody,
  type OrchestrationResult,
  type OrchestrationStatus,
  type PrefectLog,
  type ServerInfo,
  type State,
  type StateType,
  TERMINAL_STATE_TYPES,
  type WorkPool,
  type WorkerFlowRunResponse,
} from './prefect/types.js';
export { defaultCommandFor } from './runtime/job-builder.js';
export { isTransientFailure, runServiceLoop, type ServiceLoopOptions } from './runtime/service-loop.js';
export type { SubmissionOutcome } from './runtime/submitter.js';
export { RunTracker, type TrackedRun, crashMessage } from './runtime/tracker.js';
export { Worker, type WorkerDeps, defaultWorkerName } from './runtime/worker.js';
export { FileTemplateSource } from './template-sources/file-source.js';
export { type TemplateLoader, createTemplateLoader, templateReferenceToUrl } from './template-sources/loader.js';
export { parseTemplateDocument } from './template-sources/parse.js';
export { applyValues, NOT_SET, isNotSet } from './templating/apply-values.js';
export {
  mergeJobVariables,
  renderJobConfiguration,
  resolveBlockReferences,
  resolveVariables,
  type TemplateReferenceResolver,
} from './templating/job-configuration.js';
export { pythonStr } from './templating/python-str.js';
export { type Token, type TokenType, kernelTokens, token } from './tokens.js';
export { KERNEL_VERSION } from './version.js';
