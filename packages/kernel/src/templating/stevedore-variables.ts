import type { BaseJobTemplate } from '../prefect/types.js';

/** One job-variable schema property (JSON Schema, as Prefect's UI renders it). @public */
export type JobVariableSchema = Record<string, unknown>;

/**
 * The kernel's `stevedore_*` job variables. They are never part of a default base job template (a pool made
 * for the Python worker must stay identical); `work-pool create --with-stevedore-variables` adds them so the
 * Prefect UI can edit them per pool, deployment or run. Without a default they fall back to the worker's config.
 * @public
 */
export const KERNEL_STEVEDORE_VARIABLES: Readonly<Record<string, JobVariableSchema>> = Object.freeze({
  stevedore_start_timeout_seconds: {
    title: 'Start timeout (Stevedore)',
    description:
      "Seconds the run's infrastructure may stay pending before it is stopped and the run crashed (Stevedore workers only; default: the worker's startTimeoutSeconds, 300). 0 disables it.",
    type: 'integer',
    minimum: 0,
  },
  stevedore_max_runtime_seconds: {
    title: 'Maximum runtime (Stevedore)',
    description:
      "Seconds the run's infrastructure may run before it is stopped and the run crashed (Stevedore workers only; default: the worker's maxRuntimeSeconds, none).",
    type: 'integer',
    minimum: 0,
  },
  stevedore_interruption_retries: {
    title: 'Interruption retries (Stevedore)',
    description:
      "Times the run is rescheduled (Scheduled 'AwaitingRetry') when its infrastructure is interrupted by the provider, e.g. Fargate Spot reclaimed, before it is crashed (Stevedore workers only; default: the worker's interruptionRetries, 3). 0 crashes at once.",
    type: 'integer',
    minimum: 0,
  },
});

/**
 * `template` with the given `stevedore_*` variables added to `variables.properties` (existing properties of the
 * same name are kept as they are: a user's edits win). Returns a copy.
 * @public
 */
export function withStevedoreVariables(
  template: BaseJobTemplate,
  variables: Readonly<Record<string, JobVariableSchema>>,
): BaseJobTemplate {
  const out = structuredClone(template) as BaseJobTemplate & {
    variables: { properties?: Record<string, unknown> };
  };
  out.variables ??= { type: 'object', properties: {} } as never;
  out.variables.properties ??= {};
  const properties = out.variables.properties;
  for (const [name, schema] of Object.entries(variables)) {
    if (!name.startsWith('stevedore_'))
      throw new Error(`Stevedore-only job variables must be named stevedore_*: '${name}'.`);
    if (!(name in properties)) properties[name] = structuredClone(schema);
  }
  return out;
}
