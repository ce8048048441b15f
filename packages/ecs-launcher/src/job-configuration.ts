import { type ConfigIssue, type JobConfiguration, pythonStr } from '@stevedore/kernel';
import { z } from 'zod';
import { AwsCredentialsSchema } from './aws-clients.js';
import { isFalsy } from './documents.js';
import { EcsError, ecsErrorCodes } from './errors.js';

/** pydantic's lax boolean strings (the job configuration is rendered, so `"true"` can arrive as text). */
const TRUE_TEXT = new Set(['true', '1', 'yes', 'on', 't', 'y']);
const FALSE_TEXT = new Set(['false', '0', 'no', 'off', 'f', 'n']);

function laxBoolean(v: unknown): unknown {
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (TRUE_TEXT.has(s)) return true;
    if (FALSE_TEXT.has(s)) return false;
  }
  if (v === 0 || v === 1) return v === 1;
  return v;
}

const optionalString = z
  .string()
  .nullish()
  .transform((v) => (v === undefined || v === null || v === '' ? null : v));

/** `bool | None`, default None. */
const optionalBoolean = z.preprocess(
  (v) => (v === undefined || v === null || v === '' ? null : laxBoolean(v)),
  z.boolean().nullable(),
);

/**
 * `bool`, default false. A null (a job variable explicitly set to null) also means false.
 * @remarks pydantic rejects null here; accepting it only turns a crash into the documented default.
 */
const flag = z.preprocess(
  (v) => (v === undefined || v === null || v === '' ? false : laxBoolean(v)),
  z.boolean(),
);

/** `dict`, default `{}` (null also gives `{}`, for the same reason as {@link flag}). */
const dict = z.preprocess((v) => v ?? {}, z.record(z.string(), z.unknown()));
const stringDict = z.preprocess((v) => v ?? {}, z.record(z.string(), z.string()));

/**
 * The base `env` validator coerces every non-null value to a string (spec §2.3). Null values are dropped,
 * as `prepare_for_flow_run` drops them (spec §1.7).
 */
const env = z
  .preprocess((v) => v ?? {}, z.record(z.string(), z.unknown()))
  .transform((record) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(record)) if (v !== null && v !== undefined) out[k] = pythonStr(v);
    return out;
  });

/**
 * Schema of the ECS job configuration: Prefect's `ECSJobConfiguration` fields (spec §2.3), with the same
 * defaults. The deprecated `stream_output`, `task_start_timeout_seconds` and `task_watch_poll_interval` are
 * accepted and dropped; other unknown keys are dropped too.
 * @public
 */
export const EcsJobConfigurationSchema = z.object({
  command: optionalString,
  env,
  labels: stringDict,
  name: optionalString,
  aws_credentials: AwsCredentialsSchema.nullish().transform((v) => v ?? AwsCredentialsSchema.parse({})),
  task_definition: dict,
  task_run_request: dict,
  configure_cloudwatch_logs: optionalBoolean,
  cloudwatch_logs_options: stringDict,
  cloudwatch_logs_prefix: optionalString,
  network_configuration: dict,
  auto_deregister_task_definition: flag,
  vpc_id: optionalString,
  container_name: optionalString,
  cluster: optionalString,
  match_latest_revision_in_family: flag,
  prefect_api_key_secret_arn: optionalString,
  prefect_api_auth_string_secret_arn: optionalString,
  execution_role_arn: optionalString,
});

/** The typed ECS job configuration, after validation and container-name inference. @public */
export type EcsJobConfiguration = z.output<typeof EcsJobConfigurationSchema>;

/** Reads `task_definition.containerDefinitions` as a list of container records (anything else → empty). @internal */
export function containerDefinitionsOf(taskDefinition: Record<string, unknown>): Record<string, unknown>[] {
  const list = taskDefinition.containerDefinitions;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (c): c is Record<string, unknown> => typeof c === 'object' && c !== null && !Array.isArray(c),
  );
}

/**
 * Infers the orchestration container's name from the task definition (validator 2, spec §2.3): `prefect` when a
 * container has that name, else `flow`, else the first container's name, else null.
 *
 * @remarks `flow` is our addition: it is the container the Prefect 1 ECS agent runs flows in (spec §4.3), so a
 * Prefect 1 template with a sidecar listed first still runs the flow in `flow`. The reference would pick the
 * sidecar. When `flow` is first (the usual case) both agree.
 * @public
 */
export function inferContainerName(taskDefinition: Record<string, unknown>): string | null {
  const containers = containerDefinitionsOf(taskDefinition);
  for (const preferred of ['prefect', 'flow'])
    if (containers.some((c) => c.name === preferred)) return preferred;
  const first = containers[0]?.name;
  return typeof first === 'string' && first !== '' ? first : null;
}

/**
 * The reference's validators (spec §2.3, same conditions and order), each reported as a {@link ConfigIssue}
 * naming the same fields as the reference's message and saying how to fix it.
 *
 * @remarks The reference raises on the first failure; we report every failure at once (STYLE.md, Config).
 * @internal
 */
export function validateEcsJobConfiguration(config: EcsJobConfiguration): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const hasArn = !isFalsy(config.task_run_request.taskDefinition);

  // 1. "A task definition must be provided if a task definition ARN is not present on the task run request."
  if (!hasArn && isFalsy(config.task_definition)) {
    issues.push({
      path: 'task_definition',
      expected: 'a task_definition, or a task definition ARN in task_run_request.taskDefinition',
      received: 'an empty task_definition and no task_run_request.taskDefinition',
      fix: "set the task_definition_arn job variable to an existing task definition, or restore the task_definition section of the work pool's base job template",
    });
  }

  // 3. "At least one container in the task definition must be marked as essential."
  const containers = containerDefinitionsOf(config.task_definition);
  if (containers.length > 0 && containers.every((c) => c.essential === false)) {
    issues.push({
      path: 'task_definition.containerDefinitions',
      expected: 'at least one container marked as essential',
      received: `every container has "essential": false (${containers.map((c) => String(c.name ?? '?')).join(', ')})`,
      fix: 'remove "essential": false from the container that runs the flow (containers are essential by default)',
    });
  }

  // 4. "An `execution_role_arn` must be provided to use `configure_cloudwatch_logs` or `stream_logs`."
  if (
    config.configure_cloudwatch_logs &&
    !config.execution_role_arn &&
    !hasArn &&
    isFalsy(config.task_definition.executionRoleArn)
  ) {
    issues.push({
      path: 'execution_role_arn',
      expected: 'an execution role when configure_cloudwatch_logs is enabled',
      received: 'no execution_role_arn and no task_definition.executionRoleArn',
      fix: 'set the execution_role_arn job variable to a role allowed to write CloudWatch logs, or disable configure_cloudwatch_logs',
    });
  }

  // 5. "`configure_cloudwatch_log` must be enabled to use `cloudwatch_logs_options`."
  if (Object.keys(config.cloudwatch_logs_options).length > 0 && !config.configure_cloudwatch_logs) {
    issues.push({
      path: 'cloudwatch_logs_options',
      expected: 'configure_cloudwatch_logs enabled when cloudwatch_logs_options is set',
      received: `configure_cloudwatch_logs = ${String(config.configure_cloudwatch_logs)}`,
      fix: 'set the configure_cloudwatch_logs job variable to true, or remove cloudwatch_logs_options',
    });
  }

  // 6. "You must provide a `vpc_id` to enable custom `network_configuration`."
  if (Object.keys(config.network_configuration).length > 0 && !config.vpc_id) {
    issues.push({
      path: 'vpc_id',
      expected: 'a vpc_id alongside a custom network_configuration',
      received: 'no vpc_id',
      fix: 'set the vpc_id job variable to the VPC of the subnets in network_configuration, or remove network_configuration to let the worker infer the network',
    });
  }
  return issues;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Renders issues one per line: `path: expected X, got Y — fix`. @internal */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  const head = `Invalid ECS job configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):`;
  return [
    head,
    ...issues.map((i) => `  - ${i.path || '(root)'}: expected ${i.expected}, got ${i.received} — ${i.fix}.`),
  ].join('\n');
}

/**
 * Validates the kernel's rendered {@link JobConfiguration} into an {@link EcsJobConfiguration}: the schema, the
 * reference's validators, container-name inference (validator 2) and the ECS part of `prepare_for_flow_run`
 * (spec §1.7): `PREFECT_API_KEY` / `PREFECT_API_AUTH_STRING` leave `env` when their secret ARN is set.
 *
 * @remarks The reference deletes `PREFECT_API_KEY` with `del`, which crashes the run when the key is absent
 * (spec §1.7); we delete it only when present.
 * @throws `ECS_JOB_CONFIGURATION_INVALID` listing every problem (`details.issues`).
 * @public
 */
export function parseEcsJobConfiguration(configuration: JobConfiguration): EcsJobConfiguration {
  const parsed = EcsJobConfigurationSchema.safeParse(configuration);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (i): ConfigIssue => ({
        path: i.path.map(String).join('.'),
        expected: 'expected' in i && typeof i.expected === 'string' ? i.expected : i.message,
        received: describeValue(valueAt(configuration, i.path)),
        fix: "fix the job variable or the work pool's base job template that renders this field",
      }),
    );
    throw new EcsError(ecsErrorCodes.JOB_CONFIGURATION_INVALID, formatIssues(issues), {
      details: { issues },
    });
  }
  const config = parsed.data;
  if (config.container_name === null) config.container_name = inferContainerName(config.task_definition);
  const issues = validateEcsJobConfiguration(config);
  if (issues.length > 0) {
    throw new EcsError(ecsErrorCodes.JOB_CONFIGURATION_INVALID, formatIssues(issues), {
      details: { issues },
    });
  }
  if (config.prefect_api_key_secret_arn) delete config.env.PREFECT_API_KEY;
  if (config.prefect_api_auth_string_secret_arn) delete config.env.PREFECT_API_AUTH_STRING;
  return config;
}
