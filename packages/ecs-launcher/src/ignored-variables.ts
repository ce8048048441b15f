import { findPlaceholders, placeholderKinds, type WorkPool } from '@stevedore/kernel';
import { isDoc, isFalsy } from './documents.js';

/**
 * Job-configuration fields that only shape a task definition Stevedore builds. With `task_definition_arn`
 * nothing is built, so the variables rendered into them have no effect.
 */
const TASK_DEFINITION_ONLY_FIELDS = [
  'task_definition',
  'execution_role_arn',
  'configure_cloudwatch_logs',
  'cloudwatch_logs_options',
  'cloudwatch_logs_prefix',
  'prefect_api_key_secret_arn',
  'prefect_api_auth_string_secret_arn',
  'match_latest_revision_in_family',
  'auto_deregister_task_definition',
];

/** The job variables a template value references: the first segment of each STANDARD placeholder (`a.b[0]` → `a`). */
function variablesIn(value: unknown, into: Set<string>): void {
  for (const p of findPlaceholders(value)) {
    if (p.kind !== placeholderKinds.STANDARD) continue;
    const name = p.name.split(/[.[]/)[0] ?? '';
    if (name !== '') into.add(name);
  }
}

/**
 * The job variables that have no effect because `task_definition_arn` is set: those the pool's template renders
 * only into task-definition fields (the `task_definition` section, `execution_role_arn`, the CloudWatch options,
 * the secret ARNs, the reuse flags) and nowhere else, and that are actually set — by the deployment or flow run
 * (`jobVariables`) or by a non-empty default in the pool's variables.
 *
 * @remarks The reference lists every placeholder of the `task_definition` template, set or not, including
 * `cpu`/`memory`/`container_name`, which still apply through the RunTask overrides (spec §2.4 A). This list is
 * exactly what the user set and loses.
 * @public
 */
export function ignoredJobVariables(workPool: WorkPool, jobVariables: Record<string, unknown>): string[] {
  const template = workPool.base_job_template;
  const jobConfiguration = isDoc(template.job_configuration) ? template.job_configuration : {};
  const only = new Set<string>();
  const elsewhere = new Set<string>();
  for (const [field, value] of Object.entries(jobConfiguration)) {
    variablesIn(value, TASK_DEFINITION_ONLY_FIELDS.includes(field) ? only : elsewhere);
  }
  const properties =
    isDoc(template.variables) && isDoc(template.variables.properties) ? template.variables.properties : {};
  const isSet = (name: string) => {
    const given = jobVariables[name];
    if (given !== undefined && given !== null) return !isFalsy(given);
    const schema = properties[name];
    return isDoc(schema) && !isFalsy(schema.default);
  };
  return [...only].filter((name) => !elsewhere.has(name) && isSet(name));
}
