/**
 * @stevedore/kernel — the worker kernel: extension points, plugin wiring, the Prefect API client and
 * the worker runtime. The only barrel of the package: explicit named exports.
 * @packageDocumentation
 */
export { type Clock, systemClock } from './clock.js';
export {
  type ParsedConfig,
  parseWorkerConfig,
  type WorkerConfig,
  type WorkerConfigInput,
  WorkerConfigSchema,
  zodIssuesToConfigIssues,
} from './config.js';
export { checkPlugins, type PluginHost } from './container.js';
export {
  abortError,
  ConfigError,
  type ConfigIssue,
  formatConfigIssues,
  InfrastructureNotAvailableError,
  InfrastructureNotFoundError,
  isStevedoreError,
  type KernelErrorCode,
  kernelErrorCodes,
  PluginError,
  PrefectApiError,
  StevedoreError,
  type StevedoreErrorOptions,
  TemplateNotFoundError,
} from './errors.js';
export { deterministicEventId, slugify } from './events/ids.js';
export {
  type EventEmitter,
  type EventEmitterState,
  type EventEmitterStats,
  nullEventEmitter,
  type PrefectEvent,
} from './events/types.js';
export {
  eventsInSocketUrl,
  WebSocketEventEmitter,
  type WebSocketEventEmitterOptions,
} from './events/websocket-emitter.js';
export { flowRunRelatedResources, workerResource } from './events/worker-events.js';
export type {
  FlowRunJob,
  Infrastructure,
  InfrastructureDiagnosis,
  InfrastructureInterruption,
  InfrastructurePreview,
  InfrastructureStateChange,
  InfrastructureStatus,
  JobConfiguration,
  LiveInfrastructure,
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
export { type CreateKernelOptions, createKernel, type Kernel, type PreflightReport } from './kernel.js';
export {
  type CreateLoggerOptions,
  createLogger,
  createMemoryLogger,
  type Logger,
  type LogLevel,
  type LogMeta,
  type LogRecord,
  type LogSink,
  nullLogger,
  Redactor,
} from './logger.js';
export { type Counter, type Histogram, type Labels, type Metrics, MetricsRegistry } from './metrics.js';
export {
  type AnyPlugin,
  type DepsMap,
  definePlugin,
  type Factory,
  isPluginDefinition,
  type PluginDefinition,
  type PluginRegistrar,
  type ResolvedDeps,
} from './plugin.js';
export type { CallOptions, PrefectApi } from './prefect/api.js';
export {
  createPrefectClient,
  defaultUserAgent,
  formatScheduledBefore,
  type PrefectClientOptions,
} from './prefect/client.js';
export {
  boundedPoissonInterval,
  clampedPoissonInterval,
  poissonInterval,
  type RandomSource,
} from './prefect/jitter.js';
export {
  DEFAULT_PREFECT_CLOUD_API_URL,
  DEFAULT_RETRY_STATUS_CODES,
  defaultSleep,
  isCloudApiUrl,
  PREFECT_API_VERSION,
  type SleepFn,
} from './prefect/transport.js';
export {
  type BaseJobTemplate,
  type BlockDocument,
  type Deployment,
  type Flow,
  type FlowRun,
  type FlowRunFilterBody,
  type OrchestrationResult,
  type OrchestrationStatus,
  type PoolWorker,
  type PrefectLog,
  type ServerInfo,
  type State,
  type StateType,
  TERMINAL_STATE_TYPES,
  type WorkerFlowRunResponse,
  type WorkPool,
} from './prefect/types.js';
export { type BuildJobInput, buildJobConfiguration } from './runtime/job-builder.js';
export { claimStateOf, pidIsStale, type ReconcileReport } from './runtime/reconciler.js';
export { isTransientFailure, runServiceLoop, type ServiceLoopOptions } from './runtime/service-loop.js';
export type { SubmissionOutcome } from './runtime/submitter.js';
export { crashMessage, RunTracker, type TrackedRun } from './runtime/tracker.js';
export { defaultWorkerName, Worker, type WorkerDeps } from './runtime/worker.js';
export { FileTemplateSource } from './template-sources/file-source.js';
export {
  createTemplateLoader,
  type TemplateLoader,
  templateReferenceToUrl,
} from './template-sources/loader.js';
export { parseTemplateDocument } from './template-sources/parse.js';
export { type ApplyValuesOptions, applyValues } from './templating/apply-values.js';
export {
  mergeJobVariables,
  type RenderJobConfigurationOptions,
  type ResolveReferencesOptions,
  renderJobConfiguration,
  resolveBlockReferences,
  resolveVariables,
  type TemplateReferenceResolver,
} from './templating/job-configuration.js';
export {
  BLOCK_DOCUMENT_PLACEHOLDER_PREFIX,
  ENV_VAR_PLACEHOLDER_PREFIX,
  findPlaceholders,
  getFromPath,
  isNotSet,
  NOT_SET,
  type NotSet,
  PLACEHOLDER_PATTERN,
  type Placeholder,
  type PlaceholderKind,
  placeholderKind,
  placeholderKinds,
  splitKeyPath,
  VARIABLE_PLACEHOLDER_PREFIX,
} from './templating/placeholders.js';
export {
  defaultFlowRunCommand,
  PREFECT_2_FLOW_RUN_COMMAND,
  PREFECT_3_FLOW_RUN_COMMAND,
  type PrepareForFlowRunContext,
  prepareForFlowRun,
  shellQuote,
  splitCommand,
} from './templating/prepare.js';
export { pythonNumber, pythonRepr, pythonStr, pythonStringRepr } from './templating/python-str.js';
export {
  type JobVariableSchema,
  KERNEL_STEVEDORE_VARIABLES,
  withStevedoreVariables,
} from './templating/stevedore-variables.js';
export { allOf, kernelTokens, type Token, type TokenType, token } from './tokens.js';
export { KERNEL_VERSION } from './version.js';
