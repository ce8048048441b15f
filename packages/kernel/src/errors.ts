/**
 * The kernel's error family. Every error Stevedore throws on purpose is a {@link StevedoreError} with a
 * stable `code` (SCREAMING_SNAKE, area prefix). Check codes with {@link isStevedoreError}, not
 * `instanceof`, so two installed copies of the kernel still agree.
 * @public
 */
export const kernelErrorCodes = Object.freeze({
  CONFIG_INVALID: 'KERNEL_CONFIG_INVALID',
  PLUGIN_INVALID: 'KERNEL_PLUGIN_INVALID',
  PLUGIN_VERSION_MISMATCH: 'KERNEL_PLUGIN_VERSION_MISMATCH',
  PLUGIN_DUPLICATE: 'KERNEL_PLUGIN_DUPLICATE',
  PLUGIN_MISSING: 'KERNEL_PLUGIN_MISSING',
  INFRASTRUCTURE_MISSING: 'KERNEL_INFRASTRUCTURE_MISSING',
  INFRASTRUCTURE_NOT_FOUND: 'KERNEL_INFRASTRUCTURE_NOT_FOUND',
  INFRASTRUCTURE_NOT_AVAILABLE: 'KERNEL_INFRASTRUCTURE_NOT_AVAILABLE',
  TEMPLATE_SOURCE_MISSING: 'KERNEL_TEMPLATE_SOURCE_MISSING',
  TEMPLATE_NOT_FOUND: 'KERNEL_TEMPLATE_NOT_FOUND',
  TEMPLATE_INVALID: 'KERNEL_TEMPLATE_INVALID',
  TEMPLATE_RENDER: 'KERNEL_TEMPLATE_RENDER',
  PREFECT_API: 'KERNEL_PREFECT_API',
  PREFECT_OBJECT_NOT_FOUND: 'KERNEL_PREFECT_OBJECT_NOT_FOUND',
  PREFECT_OBJECT_EXISTS: 'KERNEL_PREFECT_OBJECT_EXISTS',
  PREFECT_UNREACHABLE: 'KERNEL_PREFECT_UNREACHABLE',
  SERVICE_ERROR_THRESHOLD: 'KERNEL_SERVICE_ERROR_THRESHOLD',
  LIFECYCLE_STOP_TIMEOUT: 'KERNEL_LIFECYCLE_STOP_TIMEOUT',
  ABORTED: 'KERNEL_ABORTED',
} as const);

/** @public */
export type KernelErrorCode = (typeof kernelErrorCodes)[keyof typeof kernelErrorCodes];

/** @public */
export interface StevedoreErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  /** Already-redacted context for logs and messages. */
  details?: Record<string, unknown>;
}

const BRAND = Symbol.for('stevedore:error');

/**
 * Base of every deliberate Stevedore error.
 * @public
 */
export class StevedoreError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;
  readonly [BRAND] = true;

  constructor(code: string, message: string, options: StevedoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** True for any StevedoreError, from any installed copy of the kernel. @public */
export function isStevedoreError(e: unknown, code?: string): e is StevedoreError {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as Record<symbol, unknown>)[BRAND] === true &&
    (code === undefined || (e as StevedoreError).code === code)
  );
}

/** One problem in a configuration: where, what was expected, what was found, how to fix it. @public */
export interface ConfigIssue {
  path: string;
  expected: string;
  received: string;
  fix: string;
}

/** Configuration failed validation; `issues` lists every problem at once. @public */
export class ConfigError extends StevedoreError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options: StevedoreErrorOptions = {}) {
    super(kernelErrorCodes.CONFIG_INVALID, formatConfigIssues(issues), options);
    this.issues = issues;
  }
}

/** Renders config issues one per line: `path: expected X, got Y — fix`. @public */
export function formatConfigIssues(issues: readonly ConfigIssue[]): string {
  const head = `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):`;
  return [
    head,
    ...issues.map((i) => `  - ${i.path || '(root)'}: expected ${i.expected}, got ${i.received} — ${i.fix}`),
  ].join('\n');
}

/** A plugin is missing, malformed, or built for another kernel. @public */
export class PluginError extends StevedoreError {
  readonly pluginId: string | undefined;
  constructor(
    code: string,
    pluginId: string | undefined,
    message: string,
    options: StevedoreErrorOptions = {},
  ) {
    super(code, message, options);
    this.pluginId = pluginId;
  }
}

/** The infrastructure behind an identifier no longer exists (Prefect's InfrastructureNotFound). @public */
export class InfrastructureNotFoundError extends StevedoreError {
  constructor(message: string, options: StevedoreErrorOptions = {}) {
    super(kernelErrorCodes.INFRASTRUCTURE_NOT_FOUND, message, options);
  }
}

/** The infrastructure exists but cannot be acted on by this worker (Prefect's InfrastructureNotAvailable). @public */
export class InfrastructureNotAvailableError extends StevedoreError {
  constructor(message: string, options: StevedoreErrorOptions = {}) {
    super(kernelErrorCodes.INFRASTRUCTURE_NOT_AVAILABLE, message, options);
  }
}

/** A template document could not be found by its source. @public */
export class TemplateNotFoundError extends StevedoreError {
  constructor(message: string, options: StevedoreErrorOptions = {}) {
    super(kernelErrorCodes.TEMPLATE_NOT_FOUND, message, options);
  }
}

/**
 * An HTTP error from the Prefect API. `status` is the HTTP status (0 for transport errors).
 * @public
 */
export class PrefectApiError extends StevedoreError {
  readonly status: number;
  readonly method: string;
  readonly path: string;
  constructor(
    code: string,
    init: { status: number; method: string; path: string; message: string },
    options: StevedoreErrorOptions = {},
  ) {
    super(code, init.message, options);
    this.status = init.status;
    this.method = init.method;
    this.path = init.path;
  }
  /** Transient per spec §1.11: transport errors and HTTP ≥ 500 count against the error budget. */
  get isTransient(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

/** Builds the error an aborted operation rejects with. @public */
export function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new StevedoreError(kernelErrorCodes.ABORTED, 'The operation was aborted.');
}
