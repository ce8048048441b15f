// SCRATCH ONLY (deleted before hand-off): stands in for @stevedore/kernel's index until the lead exports these names.
export type {
  FlowRunJob,
  Infrastructure,
  JobConfiguration,
  SubmitResult,
  TemplateContext,
} from '../../kernel/src/extension-points.js';
export type { BaseJobTemplate, ServerInfo, WorkPool, FlowRun, Flow, Deployment } from '../../kernel/src/prefect/types.js';
export type { Logger, LogMeta } from '../../kernel/src/logger.js';
export type { ConfigIssue } from '../../kernel/src/errors.js';
export {
  StevedoreError,
  InfrastructureNotFoundError,
  InfrastructureNotAvailableError,
  isStevedoreError,
} from '../../kernel/src/errors.js';
