import { createHash } from 'node:crypto';
import type { ServerInfo } from '@stevedore/kernel';
import { canonicalJson, cloneDoc, type Doc, dropEmptyKeys, isDoc, isFalsy } from './documents.js';
import { EcsError, ecsErrorCodes } from './errors.js';
import type { EcsJobConfiguration } from './job-configuration.js';

/** The reference's constants (spec §2). @public */
export const ECS_DEFAULTS = Object.freeze({
  containerName: 'prefect',
  cpu: 1024,
  memory: 2048,
  launchType: 'FARGATE',
  family: 'prefect',
});

/** Fields ECS adds on registration, removed before comparing definitions (spec §2 constants). @public */
export const ECS_POST_REGISTRATION_FIELDS: readonly string[] = Object.freeze([
  'compatibilities',
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
]);

/** Longest task definition family ECS accepts. @public */
export const ECS_FAMILY_MAX_LENGTH = 255;

/**
 * The image of the Prefect container when neither the `image` variable nor the template sets one.
 *
 * @remarks The reference uses `prefecthq/prefect:<its own Prefect version>-python<its Python version>`
 * (spec §2.1). This worker has neither a Prefect nor a Python version, so it follows the server's generation:
 * `prefecthq/prefect:3-latest` for a Prefect 3 server (and Cloud), `prefecthq/prefect:2-latest` for Prefect 2.
 * Pass `defaultImage` to {@link EcsInfrastructure} to pin something else.
 * @public
 */
export function defaultPrefectImage(server: ServerInfo): string {
  return server.major === 2 ? 'prefecthq/prefect:2-latest' : 'prefecthq/prefect:3-latest';
}

/**
 * Makes `name` a valid ECS family: letters, numbers, hyphens and underscores, at most 255 characters.
 * Runs of other characters become one `-`, and leading/trailing `-` go.
 *
 * @remarks The reference computes this slug and throws it away (spec §2.4 A.6 quirk), so a pool name with a
 * space gives a family ECS rejects. We apply it. Case is kept (python-slugify would lowercase, but the
 * reference's actual families keep case, and a family that was valid must stay the same family so existing
 * revisions are reused). A valid name is returned unchanged.
 * @public
 */
export function sanitizeFamily(name: string): string {
  const slug = name
    .replace(/[^a-zA-Z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, ECS_FAMILY_MAX_LENGTH)
    .replace(/-+$/, '');
  return slug === '' ? ECS_DEFAULTS.family : slug;
}

/** The generated family: `prefect_<work pool name>_<deployment id or flow id>` (spec §2.4 A.6), sanitised. @public */
export function defaultFamily(
  workPoolName: string,
  deploymentId: string | null | undefined,
  flowId: string,
): string {
  return sanitizeFamily(`prefect_${workPoolName}_${deploymentId || flowId}`);
}

/** What {@link prepareTaskDefinition} needs besides the configuration. @public */
export interface PrepareTaskDefinitionContext {
  /** The ECS client's region, for `awslogs-region`. Unknown → the option is left out. */
  region: string | undefined;
  workPoolName: string;
  deploymentId: string | null | undefined;
  flowId: string;
  /** Image for the orchestration container when it has none (see {@link defaultPrefectImage}). */
  defaultImage: string;
}

function containersOf(td: Doc): Doc[] {
  const list = td.containerDefinitions;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) {
    throw new EcsError(
      ecsErrorCodes.TASK_DEFINITION_INVALID,
      "task_definition.containerDefinitions must be a list of container definitions. Fix the task_definition section of the work pool's base job template.",
    );
  }
  return list.filter(isDoc);
}

/** The orchestration container's name: `container_name`, else the inferred name, else `prefect` (spec §2.4 A.2). @public */
export function orchestrationContainerName(config: EcsJobConfiguration): string {
  return config.container_name ?? ECS_DEFAULTS.containerName;
}

function toInteger(value: unknown, field: string): number {
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n)) {
    throw new EcsError(
      ecsErrorCodes.TASK_DEFINITION_INVALID,
      `Container-level ${field} must be an integer for EC2 and EXTERNAL tasks, got ${JSON.stringify(value)}. Set the ${field} job variable to a number (CPU units or MiB).`,
    );
  }
  return n;
}

const SECRET_ENV: ReadonlyArray<readonly [string, (c: EcsJobConfiguration) => string | null]> = [
  ['PREFECT_API_KEY', (c) => c.prefect_api_key_secret_arn],
  ['PREFECT_API_AUTH_STRING', (c) => c.prefect_api_auth_string_secret_arn],
];

/**
 * Builds the RegisterTaskDefinition payload from the job configuration, exactly as the reference's
 * `_prepare_task_definition` (spec §2.4 A, steps 1–11), on a copy of `config.task_definition`:
 *
 * 1. `containerDefinitions` as a list, empty containers removed;
 * 2. the orchestration container (`container_name`, inferred, or `prefect`; a missing `prefect` is taken from the
 *    first unnamed container or appended);
 * 3. its `image` when it has none;
 * 4. its null-valued environment entries removed;
 * 5. the `awslogs` log configuration when `configure_cloudwatch_logs` (user options last);
 * 6. `family` (sanitised, see {@link sanitizeFamily});
 * 7. FARGATE/FARGATE_SPOT: task-level cpu/memory strings (1024/2048), `requiresCompatibilities` + `FARGATE`,
 *    `networkMode` `awsvpc` by default; otherwise container-level integer cpu/memory when absent;
 * 8. task-level cpu/memory as strings;
 * 9. empty keys dropped;
 * 10. `PREFECT_API_KEY` / `PREFECT_API_AUTH_STRING` secrets from their ARNs, replacing env entries of that name.
 *
 * @remarks Differences, and why: an image that is present but null or `""` is also replaced (the reference keeps
 * it and ECS then rejects the registration); the family is sanitised (see above).
 * @throws `ECS_CONTAINER_NOT_FOUND` when a named `container_name` is not in the template.
 * @public
 */
export function prepareTaskDefinition(config: EcsJobConfiguration, ctx: PrepareTaskDefinitionContext): Doc {
  const td = cloneDoc(config.task_definition);

  // 1.
  const containers = containersOf(td).filter((c) => Object.keys(c).length > 0);
  td.containerDefinitions = containers;

  // 2.
  const name = orchestrationContainerName(config);
  let container = containers.find((c) => c.name === name);
  if (container === undefined) {
    if (name !== ECS_DEFAULTS.containerName) {
      throw new EcsError(
        ecsErrorCodes.CONTAINER_NOT_FOUND,
        `Container '${name}' not found in task definition. Set the container_name job variable to one of: ${
          containers.map((c) => `'${String(c.name)}'`).join(', ') || '(the template has no containers)'
        }, or add a container named '${name}' to the task_definition template.`,
        { details: { containerName: name } },
      );
    }
    container = containers.find((c) => !('name' in c));
    if (container) container.name = name;
    else {
      container = { name };
      containers.push(container);
    }
  }

  // 3.
  if (isFalsy(container.image)) container.image = ctx.defaultImage;

  // 4.
  if (Array.isArray(container.environment)) {
    container.environment = container.environment.filter(
      (e) => isDoc(e) && e.value !== null && e.value !== undefined,
    );
  }

  // 5.
  if (config.configure_cloudwatch_logs) {
    container.logConfiguration = {
      logDriver: 'awslogs',
      options: {
        'awslogs-create-group': 'true',
        'awslogs-group': 'prefect',
        'awslogs-region': ctx.region,
        'awslogs-stream-prefix':
          config.cloudwatch_logs_prefix ??
          `prefect-logs_${ctx.workPoolName}_${ctx.deploymentId || ctx.flowId}`,
        ...config.cloudwatch_logs_options,
      },
    };
  }

  // 6.
  td.family =
    typeof td.family === 'string' && td.family !== ''
      ? sanitizeFamily(td.family)
      : defaultFamily(ctx.workPoolName, ctx.deploymentId, ctx.flowId);

  // 7.
  const cpu = isFalsy(td.cpu) ? ECS_DEFAULTS.cpu : td.cpu;
  const memory = isFalsy(td.memory) ? ECS_DEFAULTS.memory : td.memory;
  const launchType = config.task_run_request.launchType;
  if (launchType === 'FARGATE' || launchType === 'FARGATE_SPOT') {
    td.cpu = String(cpu);
    td.memory = String(memory);
    if (!Array.isArray(td.requiresCompatibilities)) td.requiresCompatibilities = [];
    const compat = td.requiresCompatibilities as unknown[];
    if (!compat.includes('FARGATE')) compat.push('FARGATE');
    if (!('networkMode' in td)) td.networkMode = 'awsvpc';
  } else {
    if (!('cpu' in container)) container.cpu = toInteger(cpu, 'cpu');
    if (!('memory' in container)) container.memory = toInteger(memory, 'memory');
  }

  // 8.
  if (!isFalsy(td.cpu)) td.cpu = String(td.cpu);
  if (!isFalsy(td.memory)) td.memory = String(td.memory);

  // 9.
  dropEmptyKeys(td);

  // 10.
  for (const [envName, arnOf] of SECRET_ENV) {
    const arn = arnOf(config);
    if (!arn) continue;
    if (Array.isArray(container.environment)) {
      container.environment = container.environment.filter((e) => !(isDoc(e) && e.name === envName));
    }
    const secrets = Array.isArray(container.secrets) ? (container.secrets as unknown[]) : [];
    const existing = secrets.find((s): s is Doc => isDoc(s) && s.name === envName);
    if (existing) existing.valueFrom = arn;
    else secrets.push({ name: envName, valueFrom: arn });
    container.secrets = secrets;
  }
  return td;
}

const byString =
  (key: string) =>
  (a: unknown, b: unknown): number => {
    const x = isDoc(a) ? String(a[key]) : '';
    const y = isDoc(b) ? String(b[key]) : '';
    return x < y ? -1 : x > y ? 1 : 0;
  };

/**
 * The comparable form of a task definition, as `_task_definitions_equal` builds it (spec §2.4 B): `networkMode`
 * defaults to `bridge`, containers to `essential: true`, `environment`/`secrets` sorted by name and
 * `environmentFiles` by value, empty keys dropped, post-registration fields removed.
 *
 * @remarks Also removed, and why: `tags` (RegisterTaskDefinition takes them but DescribeTaskDefinition returns
 * them apart, so the reference never finds a tagged template equal) and `enableFaultInjection: false` (ECS's
 * default, which DescribeTaskDefinition may echo).
 * @public
 */
export function normalizeTaskDefinition(taskDefinition: Doc): Doc {
  const td = cloneDoc(taskDefinition);
  if (!('networkMode' in td)) td.networkMode = 'bridge';
  if (Array.isArray(td.containerDefinitions)) {
    for (const c of td.containerDefinitions) {
      if (!isDoc(c)) continue;
      if (!('essential' in c)) c.essential = true;
      if (Array.isArray(c.environment)) c.environment.sort(byString('name'));
      if (Array.isArray(c.secrets)) c.secrets.sort(byString('name'));
      if (Array.isArray(c.environmentFiles)) c.environmentFiles.sort(byString('value'));
    }
  }
  dropEmptyKeys(td);
  for (const field of ECS_POST_REGISTRATION_FIELDS) delete td[field];
  delete td.tags;
  if (td.enableFaultInjection === false) delete td.enableFaultInjection;
  return td;
}

/** `_task_definitions_equal` (spec §2.4 B): equal after {@link normalizeTaskDefinition}; list order matters. @public */
export function taskDefinitionsEqual(a: Doc | null | undefined, b: Doc | null | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return canonicalJson(normalizeTaskDefinition(a)) === canonicalJson(normalizeTaskDefinition(b));
}

/**
 * Content hash of a task definition: SHA-256 of the canonical JSON of its normalised form, so two definitions
 * have the same hash exactly when {@link taskDefinitionsEqual} holds. Stored in the
 * `stevedore.io/task-definition-hash` tag for reuse across restarts and replicas.
 * @public
 */
export function taskDefinitionHash(taskDefinition: Doc): string {
  return createHash('sha256')
    .update(canonicalJson(normalizeTaskDefinition(taskDefinition)))
    .digest('hex');
}

function invalid(message: string): EcsError {
  return new EcsError(ecsErrorCodes.TASK_DEFINITION_INVALID, message);
}

/**
 * `_validate_task_definition` (spec §2.4 C): checks a built or described definition against the launch options.
 * Same conditions and order; messages keep the reference's wording and add the fix.
 *
 * @remarks One deliberate difference: the FARGATE-compatibility check (3) does not apply to `EXTERNAL`. The
 * reference applies it, so an ECS Anywhere definition (`requiresCompatibilities: ["EXTERNAL"]`) can never run;
 * ECS itself validates EXTERNAL compatibility at RunTask.
 * @throws `ECS_TASK_DEFINITION_INVALID`
 * @public
 */
export function validateTaskDefinition(taskDefinition: Doc, config: EcsJobConfiguration): void {
  if (config.configure_cloudwatch_logs && isFalsy(taskDefinition.executionRoleArn)) {
    throw invalid(
      'An execution role arn must be set on the task definition to use `configure_cloudwatch_logs` or `stream_logs` but no execution role was found on the task definition. ' +
        'Set the execution_role_arn job variable (or executionRoleArn in the task definition), or disable configure_cloudwatch_logs.',
    );
  }
  const request = config.task_run_request;
  let launchType = isFalsy(request.launchType) ? undefined : String(request.launchType);
  const hasStrategy = !isFalsy(request.capacityProviderStrategy);
  const compat = Array.isArray(taskDefinition.requiresCompatibilities)
    ? (taskDefinition.requiresCompatibilities as unknown[])
    : undefined;
  const requiresEc2 = compat?.includes('EC2') ?? false;
  if (launchType === undefined && !hasStrategy && !requiresEc2) launchType = 'FARGATE';

  if (hasStrategy && launchType !== 'FARGATE_SPOT') return;
  if (requiresEc2 && launchType === undefined) return;
  if (launchType !== 'EC2' && launchType !== 'EXTERNAL' && !(compat ?? ['FARGATE']).includes('FARGATE')) {
    throw invalid(
      `Task definition does not have 'FARGATE' in 'requiresCompatibilities' and cannot be used with launch type '${launchType}'. ` +
        "Use a task definition compatible with FARGATE, or set the launch_type job variable to 'EC2'.",
    );
  }
  const networkMode = isFalsy(taskDefinition.networkMode) ? 'awsvpc' : String(taskDefinition.networkMode);
  if ((launchType === 'FARGATE' || launchType === 'FARGATE_SPOT') && networkMode !== 'awsvpc') {
    throw invalid(
      `Found network mode '${networkMode}' which is not compatible with launch type '${launchType}'. Use either the 'EC2' launch type or the 'awsvpc' network mode.`,
    );
  }
}
