import type { JobConfiguration, TemplateLoader } from '@stevedore/kernel';
import { cloneDoc, type Doc, isDoc, isFalsy } from './documents.js';
import { EcsError, ecsErrorCodes } from './errors.js';
import { containerDefinitionsOf, inferContainerName } from './job-configuration.js';

/** Worker-level template references (paths or URIs such as `s3://bucket/key.yaml`). @public */
export interface WorkerTemplateReferences {
  /** A task definition (RegisterTaskDefinition input) replacing the job configuration's `task_definition`. */
  taskDefinition?: string | undefined;
  /** RunTask parameters merged under the job configuration's `task_run_request`. */
  runTaskKwargs?: string | undefined;
}

/** The loaded worker-level templates. @public */
export interface WorkerTemplates {
  taskDefinition?: Doc;
  runTaskKwargs?: Doc;
}

/**
 * Loads the worker-level templates through the kernel's {@link TemplateLoader} on first use and keeps them for the
 * life of the process (one read per reference, shared by concurrent submissions). A failed load is not kept, so
 * the next submission tries again (a template uploaded late, a transient S3 error).
 * @public
 */
export class WorkerTemplateCache {
  private readonly cache = new Map<string, Promise<Doc>>();

  constructor(
    private readonly loader: TemplateLoader,
    private readonly references: WorkerTemplateReferences,
  ) {}

  /**
   * @throws the loader's errors (`KERNEL_TEMPLATE_NOT_FOUND`, `KERNEL_TEMPLATE_INVALID`,
   * `KERNEL_TEMPLATE_SOURCE_MISSING`); `ECS_WORKER_TEMPLATE_INVALID` when a document is not a mapping.
   */
  async load(signal: AbortSignal): Promise<WorkerTemplates> {
    const out: WorkerTemplates = {};
    const { taskDefinition, runTaskKwargs } = this.references;
    if (taskDefinition) out.taskDefinition = await this.read('taskDefinition', taskDefinition, signal);
    if (runTaskKwargs) out.runTaskKwargs = await this.read('runTaskKwargs', runTaskKwargs, signal);
    return out;
  }

  private async read(key: string, reference: string, signal: AbortSignal): Promise<Doc> {
    let pending = this.cache.get(reference);
    if (pending === undefined) {
      pending = this.loader.load(reference, { signal }).then((doc) => {
        if (!isDoc(doc)) {
          throw new EcsError(
            ecsErrorCodes.WORKER_TEMPLATE_INVALID,
            `plugins.ecs-launcher.${key} ('${reference}') must be a mapping (a JSON or YAML object), got ${
              Array.isArray(doc) ? 'a list' : typeof doc
            }.`,
            { details: { reference } },
          );
        }
        return doc;
      });
      this.cache.set(reference, pending);
      pending.catch(() => this.cache.delete(reference));
    }
    // Every caller gets its own copy: the job configuration is modified in place further down.
    return cloneDoc(await pending);
  }
}

function setIfGiven(target: Doc, key: string, value: unknown): void {
  if (value !== undefined && value !== null && value !== '') target[key] = value;
}

/**
 * Replaces the job configuration's `task_definition` with the worker-level template (unless the run uses an
 * existing definition through `task_definition_arn`), then puts back the job variables the default base job
 * template renders into the task definition: `image` on the orchestration container, `cpu`, `memory`, `family`,
 * `execution_role_arn` → `executionRoleArn`.
 *
 * @remarks Putting those back is what the Prefect 1 ECS agent did with its `task_definition_path` (the run
 * config's image, cpu and memory won over the template's): without it, a deployment's `image` job variable would
 * be silently dropped whenever the worker has a template.
 * @internal
 */
function applyTaskDefinitionTemplate(
  configuration: JobConfiguration,
  template: Doc,
  jobVariables: Record<string, unknown>,
): void {
  const request = isDoc(configuration.task_run_request) ? configuration.task_run_request : {};
  if (!isFalsy(request.taskDefinition)) return;
  const definition = cloneDoc(template);
  setIfGiven(definition, 'cpu', jobVariables.cpu);
  setIfGiven(definition, 'memory', jobVariables.memory);
  setIfGiven(definition, 'family', jobVariables.family);
  setIfGiven(definition, 'executionRoleArn', jobVariables.execution_role_arn);
  const image = jobVariables.image;
  if (typeof image === 'string' && image !== '') {
    const name =
      (typeof configuration.container_name === 'string' && configuration.container_name) ||
      inferContainerName(definition) ||
      'prefect';
    const containers = containerDefinitionsOf(definition);
    // The same rule as building the definition (spec §2.4 A.2): `prefect` may be an unnamed container.
    const target =
      containers.find((c) => c.name === name) ??
      (name === 'prefect' ? containers.find((c) => isFalsy(c.name)) : undefined);
    if (target) target.image = image;
  }
  configuration.task_definition = definition;
}

/** Environment entries as `[name, value]` pairs, from a list of `{name, value}` or a mapping. */
function environmentEntries(env: unknown): Array<[string, unknown]> {
  if (Array.isArray(env)) {
    return env.filter(isDoc).map((e): [string, unknown] => [String(e.name), e.value]);
  }
  if (isDoc(env)) return Object.entries(env);
  return [];
}

/** Merges two container overrides: `over` wins; `environment` is merged by variable name. */
function mergeContainerOverride(base: Doc, over: Doc): Doc {
  const merged = deepMerge(base, over);
  if ('environment' in base || 'environment' in over) {
    const byName = new Map<string, unknown>(environmentEntries(base.environment));
    for (const [name, value] of environmentEntries(over.environment)) byName.set(name, value);
    merged.environment = [...byName].map(([name, value]) => ({ name, value }));
  }
  return merged;
}

/**
 * Merges `over` onto `base`: mappings recursively, anything else (lists included) replaced by `over`'s value; a
 * `null` or absent value in `over` keeps `base`'s.
 */
function deepMerge(base: Doc, over: Doc): Doc {
  const out: Doc = cloneDoc(base);
  for (const [key, value] of Object.entries(over)) {
    if (value === null || value === undefined) continue;
    const current = out[key];
    out[key] = isDoc(current) && isDoc(value) ? deepMerge(current, value) : cloneDoc(value);
  }
  return out;
}

/**
 * Merges the rendered `task_run_request` over the worker-level `runTaskKwargs`: the kwargs are the base, the
 * rendered request (pool template, deployment and flow-run job variables) wins where both set a value. Mappings
 * merge recursively; `overrides.containerOverrides` merge by container `name` (the rendered request's unnamed
 * first override is the orchestration container's), and their `environment` by variable name.
 *
 * @remarks The Prefect 1 ECS agent's `run_task_kwargs_path` worked the same way: the file is the base, the agent's
 * and the run's own settings go on top. One consequence: the pool template always renders `launchType` (default
 * `FARGATE`), so a `launchType` in the kwargs is overridden — use the plugin's `launchType` key or the
 * `launch_type` job variable; a `capacityProviderStrategy` in the kwargs does apply (it removes the launch type).
 * @public
 */
export function mergeRunTaskKwargs(kwargs: Doc, rendered: Doc, orchestrationContainerName: string): Doc {
  const merged = deepMerge(kwargs, rendered);
  const kwargsOverrides = isDoc(kwargs.overrides) ? kwargs.overrides.containerOverrides : undefined;
  const renderedOverrides = isDoc(rendered.overrides) ? rendered.overrides.containerOverrides : undefined;
  if (!Array.isArray(kwargsOverrides) || !Array.isArray(renderedOverrides)) return merged;

  const result: Doc[] = kwargsOverrides.filter(isDoc).map((o) => cloneDoc(o));
  renderedOverrides.filter(isDoc).forEach((override, index) => {
    const name = isFalsy(override.name) && index === 0 ? orchestrationContainerName : override.name;
    if (isFalsy(name)) {
      result.push(cloneDoc(override));
      return;
    }
    const named = { ...cloneDoc(override), name };
    const at = result.findIndex((o) => o.name === name);
    if (at < 0) result.push(named);
    else result[at] = mergeContainerOverride(result[at] as Doc, named);
  });
  (merged.overrides as Doc).containerOverrides = result;
  return merged;
}

/**
 * Applies the worker-level templates to a rendered job configuration (in place, and returned): `taskDefinition`
 * replaces `task_definition` unless `task_definition_arn` is set; `runTaskKwargs` goes under `task_run_request`
 * ({@link mergeRunTaskKwargs}).
 * @public
 */
export function applyWorkerTemplates(
  configuration: JobConfiguration,
  templates: WorkerTemplates,
  jobVariables: Record<string, unknown>,
): JobConfiguration {
  if (templates.taskDefinition)
    applyTaskDefinitionTemplate(configuration, templates.taskDefinition, jobVariables);
  if (templates.runTaskKwargs) {
    const rendered = isDoc(configuration.task_run_request) ? configuration.task_run_request : {};
    const definition = isDoc(configuration.task_definition) ? configuration.task_definition : {};
    const name =
      (typeof configuration.container_name === 'string' && configuration.container_name) ||
      inferContainerName(definition) ||
      'prefect';
    configuration.task_run_request = mergeRunTaskKwargs(templates.runTaskKwargs, rendered, name);
  }
  return configuration;
}
