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

/** Inputs of {@link buildJobConfiguration}. @internal */
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
 * @internal
 */
export async function buildJobConfiguration(
  input: BuildJobInput,
): Promise<{ configuration: JobConfiguration; jobVariables: Record<string, unknown> }> {
  const jobVariables = mergeJobVariables(
    deploymentJobVariables(input.deployment),
    (input.flowRun.job_variables ?? {}) as Record<string, unknown>,
  );
  const template =
    input.workPool.base_job_template && Object.keys(input.workPool.base_job_template).length > 0
      ? (input.workPool.base_job_template as BaseJobTemplate)
      : input.defaultTemplate;
  const rendered = renderJobConfiguration(template, jobVariables, { env: input.processEnv });
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
