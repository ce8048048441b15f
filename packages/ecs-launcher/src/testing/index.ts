/**
 * `@stevedore/ecs-launcher/testing`: the {@link LaunchType} conformance suite for plugin authors (vitest), and
 * {@link previewPayloads} and {@link fixedWorldJob} for their golden payload tests.
 * @packageDocumentation
 */
import {
  type FlowRunJob,
  mergeJobVariables,
  nullLogger,
  prepareForFlowRun,
  renderJobConfiguration,
} from '@stevedore/kernel';
import { describe, expect, it } from 'vitest';
import { defaultEcsClientSources } from '../aws-clients.js';
import { loadEcsBaseJobTemplate } from '../base-job-template.js';
import type { Doc } from '../documents.js';
import { EcsInfrastructure } from '../ecs-infrastructure.js';
import { parseEcsJobConfiguration } from '../job-configuration.js';
import { type LaunchType, LaunchTypes, type RunTaskFailureInfo } from '../launch-type.js';
import { prepareRunTaskRequest } from '../run-task.js';

/** Options of {@link launchTypeConformance}. @public */
export interface LaunchTypeConformanceOptions {
  /** Builds the launch type under test (a fresh one per test). */
  make: () => LaunchType;
  /** `failures[]` answers of RunTask the launch type must classify (each must get a class). */
  capacityFailures?: ReadonlyArray<readonly RunTaskFailureInfo[]>;
}

/** RunTask failures that are the user's or nobody's capacity: a launch type must never classify them. */
const NOT_CAPACITY: ReadonlyArray<readonly RunTaskFailureInfo[]> = [
  [],
  [{ reason: 'AGENT' }],
  [{ reason: 'MISSING_TASK_DEFINITION' }],
  [{ reason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s): not found' }],
  [{ reason: 'AccessDeniedException: User is not authorized to perform: iam:PassRole' }],
];

function prepare(launchType: LaunchType, taskRunRequest: Doc) {
  const config = parseEcsJobConfiguration({
    task_definition: { containerDefinitions: [{ name: 'prefect' }] },
    task_run_request: taskRunRequest,
    command: 'prefect flow-run execute',
    env: {},
    labels: {},
    name: 'conformance',
  });
  return prepareRunTaskRequest({
    config,
    taskDefinition: {},
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/prefect:1',
    networkConfiguration: undefined,
    newlyRegistered: false,
    launchType,
  }).request as unknown as Doc;
}

/**
 * Registers vitest tests every {@link LaunchType} must pass: a valid name and package, selectable by name, a
 * RunTask request ECS accepts (never both `launchType` and a strategy), a user-supplied strategy passed through
 * untouched, deterministic shaping, no classification of failures that are not capacity, the given capacity
 * failures classified, and fallbacks that name another launch type.
 * @public
 */
export function launchTypeConformance(title: string, options: LaunchTypeConformanceOptions): void {
  const { make } = options;
  describe(`LaunchType conformance: ${title}`, () => {
    it('has an upper-case name and names its package', () => {
      const t = make();
      expect(t.name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(t.packageName).toMatch(/^(@[a-z0-9-]+\/)?[a-z0-9-]+$/);
    });
    it('is selected by its name among the active launch types', () => {
      const t = make();
      expect(new LaunchTypes([t]).select({ launchType: t.name }, {})).toBe(t);
    });
    it('shapes a request ECS accepts: never both launchType and capacityProviderStrategy', () => {
      const t = make();
      const request = prepare(t, { launchType: t.name });
      expect('launchType' in request && 'capacityProviderStrategy' in request).toBe(false);
      expect(prepare(make(), { launchType: t.name })).toEqual(request);
    });
    it('passes a user-supplied capacity provider strategy through untouched', () => {
      const t = make();
      const mine = [{ capacityProvider: 'my-provider', weight: 2, base: 1 }];
      const request = prepare(t, { launchType: t.name, capacityProviderStrategy: mine });
      expect(request.capacityProviderStrategy).toEqual(mine);
      expect(request).not.toHaveProperty('launchType');
    });
    it('never classifies failures that are not capacity', () => {
      const t = make();
      for (const failures of NOT_CAPACITY) expect(t.classifyRunTaskFailure?.(failures)).toBeUndefined();
    });
    it('classifies its capacity failures, and falls back only to another launch type', () => {
      const t = make();
      for (const failures of options.capacityFailures ?? []) {
        const cls = t.classifyRunTaskFailure?.(failures);
        expect(cls, JSON.stringify(failures)).toEqual(expect.any(String));
        const fallback = t.capacityFallback?.(cls as string);
        if (fallback !== undefined) expect(fallback).not.toBe(t.name);
      }
    });
  });
}

type MergeInput = Parameters<typeof mergeJobVariables>[0];

/** Input of {@link fixedWorldJob}. @public */
export interface FixedWorldJobInput {
  /** The deployment's job variables, over the `ecs` base job template's defaults. */
  deploymentVariables: Record<string, unknown>;
  /** The flow run's job variables, over the deployment's. */
  flowRunVariables?: Record<string, unknown>;
  /** The worker's environment the job configuration reads (`PREFECT_API_URL` only by default). */
  workerEnv?: Record<string, string>;
}

/**
 * The {@link FlowRunJob} the kernel's job builder makes (spec §1.6 steps 1–7 and §1.7: merge the job variables,
 * render the prefect-aws `ecs` base job template, prepare it for the run) for one deployment run in a fixed world:
 * pool `ecs-pool`, flow `etl`, deployment `nightly`, flow run `crimson-fox` (`a7000000-…-000000000004`), worker
 * `ECSWorker 6f1a2b3c-…`, Prefect 3.4.11, attempt key `<flow run id>:pending-state-1`. Built without the Prefect API,
 * for payload tests.
 * @public
 */
export function fixedWorldJob(input: FixedWorldJobInput): FlowRunJob {
  const server = { version: '3.4.11', major: 3, isCloud: false } as const;
  const template = loadEcsBaseJobTemplate();
  const workPool = {
    id: 'c0ffee00-0000-4000-8000-000000000001',
    name: 'ecs-pool',
    type: 'ecs',
    base_job_template: template,
  };
  const flow = { id: 'f1000000-0000-4000-8000-000000000002', name: 'etl' };
  const deploymentVariables = input.deploymentVariables as MergeInput;
  const flowRunVariables = (input.flowRunVariables ?? {}) as MergeInput;
  const deployment = {
    id: 'd3000000-0000-4000-8000-000000000003',
    name: 'nightly',
    flow_id: flow.id,
    updated: '2025-03-04T05:06:07.089Z',
  };
  const flowRun = {
    id: 'a7000000-0000-4000-8000-000000000004',
    name: 'crimson-fox',
    flow_id: flow.id,
    deployment_id: deployment.id,
    job_variables: flowRunVariables,
  };
  const jobVariables = mergeJobVariables(deploymentVariables, flowRunVariables);
  const configuration = prepareForFlowRun(renderJobConfiguration(template, jobVariables, { env: {} }), {
    flowRun,
    flow,
    deployment: { ...deployment, job_variables: deploymentVariables },
    workPool,
    workerName: 'ECSWorker 6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b',
    workerEnv: input.workerEnv ?? { PREFECT_API_URL: 'https://prefect.example.com/api' },
    prefectVersion: server.version,
    defaultCommand: 'prefect flow-run execute',
  });
  return {
    flowRun,
    flow,
    deployment,
    workPool,
    configuration,
    jobVariables,
    server,
    runLogger: nullLogger,
    attemptKey: `${flowRun.id}:pending-state-1`,
  };
}

/** Input of {@link previewPayloads}. @public */
export interface PreviewPayloadsInput {
  /** The launch types to make active (FARGATE is always there). */
  launchTypes: readonly LaunchType[];
  /** The deployment's job variables, over the prefect-aws `ecs` base job template's defaults. */
  jobVariables: Record<string, unknown>;
}

/**
 * The RegisterTaskDefinition and RunTask inputs `submit` would send for one deployment run of the `ecs` base job
 * template with `jobVariables` and the given launch types active — built offline by {@link EcsInfrastructure.preview},
 * which runs submit's own functions, in a fixed world (pool `ecs-pool`, flow `etl`, deployment `nightly`, Prefect
 * 3.4.11). For golden payload tests of launch-type plugins. Offline, so no network configuration is inferred: give
 * `network_configuration` in `jobVariables` to pin one.
 * @public
 */
export async function previewPayloads(
  input: PreviewPayloadsInput,
): Promise<{ registerTaskDefinition: Doc | undefined; runTask: Doc | undefined; notes: string[] }> {
  const job = fixedWorldJob({ deploymentVariables: input.jobVariables });
  const infrastructure = new EcsInfrastructure(defaultEcsClientSources, {
    launchTypes: new LaunchTypes(input.launchTypes),
  });
  try {
    const preview = await infrastructure.preview(job, { signal: AbortSignal.timeout(10_000), offline: true });
    const find = (operation: string) =>
      preview.requests.find((r) => r.operation === operation)?.input as Doc | undefined;
    return {
      registerTaskDefinition: find('RegisterTaskDefinition'),
      runTask: find('RunTask'),
      notes: preview.notes,
    };
  } finally {
    await infrastructure.stop();
  }
}
