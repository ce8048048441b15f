import { kernelErrorCodes, StevedoreError } from '../errors.js';
import type { JobConfiguration } from '../extension-points.js';
import type { PrefectApi } from '../prefect/api.js';
import type { BaseJobTemplate, Deployment, Flow, FlowRun, ServerInfo, WorkPool } from '../prefect/types.js';
import {
  mergeJobVariables,
  renderJobConfiguration,
  resolveBlockReferences,
  resolveVariables,
} from '../templating/job-configuration.js';
import { defaultFlowRunCommand, prepareForFlowRun } from '../templating/prepare.js';

/** Inputs of {@link buildJobConfiguration}. @public */
export interface BuildJobInput {
  flowRun: FlowRun;
  flow: Flow;
  deployment: Deployment | undefined;
  workPool: WorkPool;
  server: ServerInfo;
  workerName: string;
  workerId: string | undefined;
  /** The worker's explicitly set PREFECT_* settings, passed to the flow run (spec §1.7 layer 1). */
  workerEnv: Record<string, string>;
  /** The worker process environment, for `{{ $NAME }}` placeholders. */
  processEnv: Record<string, string | undefined>;
  /** The default base job template of the infrastructure, used when the pool snapshot has none. */
  defaultTemplate: BaseJobTemplate;
  api: PrefectApi;
  /** Worker-level job-variable defaults from the infrastructure (`Infrastructure.defaultJobVariables`). */
  workerDefaults?: Record<string, unknown>;
  signal: AbortSignal;
}

/**
 * Deployment job variables: `job_variables` (Prefect 3, 2.17+) or `infra_overrides` (older Prefect 2).
 * @internal
 */
export function deploymentJobVariables(deployment: Deployment | undefined): Record<string, unknown> {
  if (!deployment) return {};
  return (deployment.job_variables ?? deployment.infra_overrides ?? {}) as Record<string, unknown>;
}

/**
 * Spec §1.6 + §1.7: merge job variables, render the pool's base job template, resolve block and
 * variable references, then fill env/labels/name/command for the run.
 * @public
 */
export async function buildJobConfiguration(
  input: BuildJobInput,
): Promise<{ configuration: JobConfiguration; jobVariables: Record<string, unknown> }> {
  // Worker-level defaults < deployment < flow run; env dicts merge at each step (spec §1.6 step 1).
  const withDeployment = mergeJobVariables(
    input.workerDefaults ?? {},
    deploymentJobVariables(input.deployment),
  );
  const jobVariables = mergeJobVariables(
    withDeployment,
    (input.flowRun.job_variables ?? {}) as Record<string, unknown>,
  );
  const template =
    input.workPool.base_job_template && Object.keys(input.workPool.base_job_template).length > 0
      ? (input.workPool.base_job_template as BaseJobTemplate)
      : input.defaultTemplate;
  const rendered = renderJobConfiguration(template, jobVariables, { env: input.processEnv });
  // `stevedore_*` settings edited in the pool's template (`work-pool create --with-stevedore-variables`) apply
  // as defaults: they are read from the job variables, which otherwise hold only what deployments and runs set.
  const properties = (
    template.variables as { properties?: Record<string, { default?: unknown }> } | undefined
  )?.properties;
  for (const [name, schema] of Object.entries(properties ?? {})) {
    if (name.startsWith('stevedore_') && jobVariables[name] === undefined && schema?.default !== undefined)
      jobVariables[name] = structuredClone(schema.default);
  }
  const resolver = {
    readBlockDocument: (id: string) => input.api.readBlockDocument(id, { signal: input.signal }),
    readBlockDocumentByName: (slug: string, name: string) =>
      input.api.readBlockDocumentByName(slug, name, { signal: input.signal }),
    readVariable: (name: string) => input.api.readVariableValue(name, { signal: input.signal }),
  };
  const withBlocks = await resolveBlockReferences(rendered, resolver);
  const withVariables = await resolveVariables(withBlocks, resolver);
  const configuration = prepareForFlowRun(withVariables as Record<string, unknown>, {
    flowRun: input.flowRun,
    flow: input.flow,
    deployment: input.deployment,
    workPool: input.workPool,
    workerName: input.workerName,
    workerId: input.workerId,
    workerEnv: input.workerEnv,
    prefectVersion: input.server.version,
    defaultCommand: defaultFlowRunCommand(input.server.major),
  });
  return { configuration, jobVariables };
}

/**
 * Reads a Stevedore-only job variable (`stevedore_*`) that must be a non-negative number of seconds (or, `count`, a
 * non-negative whole number).
 * These never appear in the default base job template; they arrive as extra deployment or flow-run
 * job variables, which Prefect servers store as given.
 * @throws `KERNEL_CONFIG_INVALID` naming the variable when it is not a non-negative number.
 * @internal
 */
export function stevedoreNumber(
  jobVariables: Record<string, unknown>,
  name: string,
  kind: 'seconds' | 'count' = 'seconds',
): number | undefined {
  const raw = jobVariables[name];
  if (raw === undefined || raw === null || raw === '') return undefined;
  const n = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (kind === 'count' && !Number.isInteger(n))) {
    throw new StevedoreError(
      kernelErrorCodes.CONFIG_INVALID,
      `Job variable '${name}' must be ${kind === 'count' ? 'a whole number' : 'a number of seconds'} ≥ 0, got ${JSON.stringify(raw)}. Fix it in the deployment's or flow run's job variables.`,
    );
  }
  return n;
}
