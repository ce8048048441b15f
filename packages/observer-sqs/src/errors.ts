import { StevedoreError } from '@stevedore/kernel';

/**
 * Every error code this package throws on purpose. Stable: tests, docs and users match on them. The README carries
 * the same table with causes and fixes.
 * @public
 */
export const observerSqsErrorCodes = Object.freeze({
  /** `events deploy|status`: DescribeClusters does not know the cluster, or it is not ACTIVE (spec §3.5 step 2). */
  CLUSTER_NOT_FOUND: 'OBSERVER_SQS_CLUSTER_NOT_FOUND',
  /** `events deploy`: the SQS or EventBridge client is in another region than the cluster. */
  REGION_MISMATCH: 'OBSERVER_SQS_REGION_MISMATCH',
  /** `events deploy`: an AWS call that creates or changes a resource failed (`cause` has the AWS error). */
  DEPLOY_FAILED: 'OBSERVER_SQS_DEPLOY_FAILED',
  /** `events status|delete|deploy`: an AWS call that reads a resource failed (`cause` has the AWS error). */
  READ_FAILED: 'OBSERVER_SQS_READ_FAILED',
} as const);

/** @public */
export type ObserverSqsErrorCode = (typeof observerSqsErrorCodes)[keyof typeof observerSqsErrorCodes];

/** The AWS side of an error, kept for logs (never credentials or request bodies). @public */
export interface AwsErrorSummary {
  /** The SDK exception name, e.g. `QueueDoesNotExist`. */
  name: string;
  message: string;
  /** `client` or `server`, from the SDK's `$fault`. */
  fault?: string;
  requestId?: string;
}

/**
 * Reads the name, message, fault and request id of an AWS SDK v3 exception (or any error). Duck-typed on purpose:
 * `instanceof` breaks across duplicate SDK copies (STYLE.md, smithy).
 * @internal
 */
export function awsErrorSummary(e: unknown): AwsErrorSummary {
  if (typeof e !== 'object' || e === null) return { name: 'Error', message: String(e) };
  const rec = e as {
    name?: unknown;
    message?: unknown;
    $fault?: unknown;
    $metadata?: { requestId?: unknown };
  };
  const out: AwsErrorSummary = {
    name: typeof rec.name === 'string' ? rec.name : 'Error',
    message: typeof rec.message === 'string' ? rec.message : '',
  };
  if (typeof rec.$fault === 'string') out.fault = rec.$fault;
  if (typeof rec.$metadata?.requestId === 'string') out.requestId = rec.$metadata.requestId;
  return out;
}

/** `name: message` of an error, for health reasons and messages. @internal */
export function describeError(e: unknown): string {
  const { name, message } = awsErrorSummary(e);
  return message ? `${name}: ${message}` : name;
}

/** True when `e` is an AWS SDK exception named one of `names` (or carrying one of them as its query-protocol `Code`). @internal */
export function isAwsError(e: unknown, ...names: string[]): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const rec = e as { name?: unknown; Code?: unknown };
  return names.some((n) => rec.name === n || rec.Code === n);
}

/**
 * SQS says the queue does not exist: `QueueDoesNotExist` (JSON protocol) or the query protocol's
 * `AWS.SimpleQueueService.NonExistentQueue`, which the reference matches (spec §3.3 step 1).
 * @internal
 */
export function isQueueMissing(e: unknown): boolean {
  return isAwsError(e, 'QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue');
}

/**
 * An error of this package. `aws` carries the AWS exception it wraps, when there is one.
 * @public
 */
export class ObserverSqsError extends StevedoreError {
  readonly aws: AwsErrorSummary | undefined;

  constructor(
    code: ObserverSqsErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown> } = {},
  ) {
    const cause = options.cause;
    const aws =
      typeof cause === 'object' && cause !== null && '$metadata' in cause
        ? awsErrorSummary(cause)
        : undefined;
    super(code, message, {
      cause,
      retryable: options.retryable ?? false,
      details: aws ? { ...options.details, aws } : (options.details ?? {}),
    });
    this.aws = aws;
  }
}
