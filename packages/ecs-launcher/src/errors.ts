import { StevedoreError } from '@stevedore/kernel';

/**
 * Every error code the `ecs` infrastructure throws on purpose. Stable: tests, docs and users match on them.
 * The README carries the same table with causes and fixes.
 * @public
 */
export const ecsErrorCodes = Object.freeze({
  /** The rendered job configuration failed the schema or the reference's validators (spec §2.3). */
  JOB_CONFIGURATION_INVALID: 'ECS_JOB_CONFIGURATION_INVALID',
  /** The `aws_credentials` block is incomplete (an access key id without its secret, or the reverse). */
  AWS_CREDENTIALS_INVALID: 'ECS_AWS_CREDENTIALS_INVALID',
  /** The `aws_credentials` block asks for something this worker does not do (for example `assume_role_arn`). */
  AWS_CREDENTIALS_UNSUPPORTED: 'ECS_AWS_CREDENTIALS_UNSUPPORTED',
  /** The named orchestration container is not in the task definition (spec §2.4 A.2). */
  CONTAINER_NOT_FOUND: 'ECS_CONTAINER_NOT_FOUND',
  /** The task definition cannot run as configured (spec §2.4 C). */
  TASK_DEFINITION_INVALID: 'ECS_TASK_DEFINITION_INVALID',
  /** `task_definition_arn` names a definition ECS cannot describe. */
  TASK_DEFINITION_NOT_FOUND: 'ECS_TASK_DEFINITION_NOT_FOUND',
  /** RegisterTaskDefinition failed after every attempt. */
  TASK_DEFINITION_REGISTRATION_FAILED: 'ECS_TASK_DEFINITION_REGISTRATION_FAILED',
  /** No `vpc_id` and the region has no default VPC. */
  DEFAULT_VPC_NOT_FOUND: 'ECS_DEFAULT_VPC_NOT_FOUND',
  /** `vpc_id` names a VPC that does not exist in the region. */
  VPC_NOT_FOUND: 'ECS_VPC_NOT_FOUND',
  /** The VPC has no subnets. */
  SUBNETS_NOT_FOUND: 'ECS_SUBNETS_NOT_FOUND',
  /** `network_configuration.subnets` lists subnets outside `vpc_id`. */
  SUBNETS_NOT_IN_VPC: 'ECS_SUBNETS_NOT_IN_VPC',
  /** RunTask returned failures, no task, or an error not classified below. */
  RUN_TASK_FAILED: 'ECS_RUN_TASK_FAILED',
  /** RunTask: the cluster does not exist in the region. */
  CLUSTER_NOT_FOUND: 'ECS_CLUSTER_NOT_FOUND',
  /** RunTask with launch type EC2 on a cluster without container instances. */
  NO_CONTAINER_INSTANCES: 'ECS_NO_CONTAINER_INSTANCES',
  /** RunTask: the execution role may not write CloudWatch logs. */
  CLOUDWATCH_LOGS_ACCESS_DENIED: 'ECS_CLOUDWATCH_LOGS_ACCESS_DENIED',
  /** RunTask: the task definition is INACTIVE (deregistered). */
  TASK_DEFINITION_INACTIVE: 'ECS_TASK_DEFINITION_INACTIVE',
  /** RunTask: capacity provider misconfigured or out of capacity. */
  CAPACITY_PROVIDER_ERROR: 'ECS_CAPACITY_PROVIDER_ERROR',
  /** The selected launch type is provided by no active plugin (e.g. `EC2` without `@stevedore/ec2-capacity`). */
  LAUNCH_TYPE_UNAVAILABLE: 'ECS_LAUNCH_TYPE_UNAVAILABLE',
  /** `stevedore_capacity_ladder` / `stevedore_capacity_budget_seconds` are not usable. */
  CAPACITY_LADDER_INVALID: 'ECS_CAPACITY_LADDER_INVALID',
  /** RunTask: subnets or security groups rejected. */
  NETWORK_CONFIGURATION_ERROR: 'ECS_NETWORK_CONFIGURATION_ERROR',
  /** An infrastructure identifier is not `<cluster>::<task arn>`. */
  IDENTIFIER_INVALID: 'ECS_IDENTIFIER_INVALID',
  /** StopTask failed for a reason that is neither "not found" nor "not available". */
  STOP_TASK_FAILED: 'ECS_STOP_TASK_FAILED',
  /** The packaged base job template could not be read (broken install). */
  BASE_JOB_TEMPLATE_UNREADABLE: 'ECS_BASE_JOB_TEMPLATE_UNREADABLE',
  /** The plugin's `taskDefinition` or `runTaskKwargs` template is not a mapping. */
  WORKER_TEMPLATE_INVALID: 'ECS_WORKER_TEMPLATE_INVALID',
} as const);

/** @public */
export type EcsErrorCode = (typeof ecsErrorCodes)[keyof typeof ecsErrorCodes];

/** The AWS side of an error, kept for logs and support (never credentials or request bodies). @public */
export interface AwsErrorInfo {
  /** The SDK exception name, e.g. `ClusterNotFoundException`. */
  name: string;
  message: string;
  /** `client` or `server`, from the SDK's `$fault`. */
  fault?: string;
  requestId?: string;
}

/**
 * Reads the name, message, fault and request id of an AWS SDK v3 exception (or any error).
 * Duck-typed on purpose: `instanceof` breaks across duplicate SDK copies (STYLE.md, smithy).
 * @internal
 */
export function awsErrorInfo(e: unknown): AwsErrorInfo {
  if (typeof e !== 'object' || e === null) return { name: 'Error', message: String(e) };
  const rec = e as {
    name?: unknown;
    message?: unknown;
    $fault?: unknown;
    $metadata?: { requestId?: unknown };
  };
  const info: AwsErrorInfo = {
    name: typeof rec.name === 'string' ? rec.name : 'Error',
    message: typeof rec.message === 'string' ? rec.message : '',
  };
  if (typeof rec.$fault === 'string') info.fault = rec.$fault;
  if (typeof rec.$metadata?.requestId === 'string') info.requestId = rec.$metadata.requestId;
  return info;
}

/** True when `e` is an AWS SDK exception with this `name` (e.g. `InvalidParameterException`). @internal */
export function isAwsError(e: unknown, name: string): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === name;
}

/**
 * An error of the `ecs` infrastructure. `aws` carries the AWS exception it wraps, when there is one
 * (STYLE.md's `LaunchError`: keep the request id and fault for support).
 * @public
 */
export class EcsError extends StevedoreError {
  readonly aws: AwsErrorInfo | undefined;

  constructor(
    code: EcsErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown> } = {},
  ) {
    const aws = isAwsException(options.cause) ? awsErrorInfo(options.cause) : undefined;
    super(code, message, {
      cause: options.cause,
      retryable: options.retryable ?? false,
      details: aws ? { ...options.details, aws } : (options.details ?? {}),
    });
    this.aws = aws;
  }
}

function isAwsException(e: unknown): boolean {
  return typeof e === 'object' && e !== null && '$metadata' in e;
}
