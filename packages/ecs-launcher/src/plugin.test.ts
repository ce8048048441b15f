import {
  type Factory,
  isStevedoreError,
  kernelErrorCodes,
  kernelTokens,
  mergeJobVariables,
  type PluginRegistrar,
  renderJobConfiguration,
  type Token,
} from '@stevedore/kernel';
import { createTestKernel } from '@stevedore/testkit';
import { describe, expect, it } from 'vitest';
import { loadEcsBaseJobTemplate } from './base-job-template.js';
import { DescribeTasksObserver } from './describe-tasks-observer.js';
import { EcsInfrastructure } from './ecs-infrastructure.js';
import {
  ECS_LAUNCHER_IAM_ACTIONS,
  type EcsLauncherConfig,
  EcsLauncherConfigSchema,
  ecsLauncherJobVariables,
  ecsLauncherPlugin,
  ecsLauncherTokens,
} from './plugin.js';

const API_URL = 'http://127.0.0.1:9/api';

function kernel(section?: Record<string, unknown>) {
  return createTestKernel({
    plugins: [ecsLauncherPlugin],
    apiUrl: API_URL,
    config: section ? { plugins: { 'ecs-launcher': section } } : {},
  });
}

describe('ecsLauncherPlugin', () => {
  it('declares its manifest', () => {
    expect(ecsLauncherPlugin).toMatchObject({
      id: 'ecs-launcher',
      kernel: '^0.1.0',
      packageName: '@stevedore/ecs-launcher',
    });
  });

  it('registers one infrastructure instance behind the token, the infrastructure and the observer', () => {
    const provided: Array<{ kind: string; token?: symbol; deps: string[] }> = [];
    const iam: string[][] = [];
    const record =
      (kind: string) =>
      <D extends Record<string, Token<unknown>>>(f: Factory<unknown, D, EcsLauncherConfig>, tok?: symbol) =>
        provided.push({ kind, token: tok, deps: Object.keys(f.deps ?? {}) });
    const registrar: PluginRegistrar<EcsLauncherConfig> = {
      provideInfrastructure: (f) => record('infrastructure')(f),
      provideObserver: (f) => record('observer')(f),
      provideTemplateSource: (f) => record('templateSource')(f),
      addPreflightCheck: (f) => record('preflight')(f),
      provide: (tok, f) => record('provide')(f, tok),
      contribute: (tok, f) => record('contribute')(f, tok),
      requireIamActions: (actions) => iam.push([...actions]),
    };
    ecsLauncherPlugin.register(registrar);
    expect(provided).toEqual([
      {
        kind: 'provide',
        token: ecsLauncherTokens.infrastructure,
        deps: ['logger', 'templates', 'clock', 'metrics', 'launchTypes'],
      },
      { kind: 'infrastructure', token: undefined, deps: ['ecs'] },
      { kind: 'observer', token: undefined, deps: ['ecs', 'logger', 'clock', 'events'] },
    ]);
    expect(iam).toEqual([[...ECS_LAUNCHER_IAM_ACTIONS]]);
  });

  it('boots in the real kernel: ecs infrastructure, the DescribeTasks observer, the same instance, IAM actions', () => {
    const k = kernel({ cluster: 'prod', launchType: 'FARGATE' });
    const infra = k.infrastructure();
    expect(infra.type).toBe('ecs');
    expect(infra).toBeInstanceOf(EcsInfrastructure);
    expect(k.host.resolve(ecsLauncherTokens.infrastructure)).toBe(infra);
    const observers = k.host.resolveAll(kernelTokens.observer);
    expect(observers.map((o) => [o.name, o.kind, o.infrastructureType])).toEqual([
      ['ecs-describe-tasks', 'polling', 'ecs'],
    ]);
    expect(observers[0]).toBeInstanceOf(DescribeTasksObserver);
    expect(k.host.iamActions()).toEqual([{ plugin: 'ecs-launcher', actions: ECS_LAUNCHER_IAM_ACTIONS }]);
    expect(infra.defaultJobVariables?.()).toEqual({ cluster: 'prod', launch_type: 'FARGATE' });
  });

  it('works without a config section', () => {
    const k = kernel();
    expect(k.infrastructure().defaultJobVariables?.()).toEqual({});
  });

  it('rejects unknown keys and bad values, listing every problem', () => {
    const error = (() => {
      try {
        kernel({
          clusterName: 'x',
          launchType: 'LAMBDA',
          observer: { pollSeconds: 0 },
          rateLimits: { RunTasks: {} },
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isStevedoreError(error, kernelErrorCodes.CONFIG_INVALID)).toBe(true);
    const text = (error as Error).message;
    for (const path of ['clusterName', 'launchType', 'observer.pollSeconds', 'rateLimits'])
      expect(text).toContain(`plugins.ecs-launcher.${path}`);
  });
});

describe('config → job variables', () => {
  const config = EcsLauncherConfigSchema.parse({
    cluster: 'arn:aws:ecs:us-east-1:1:cluster/prod',
    launchType: 'FARGATE_SPOT',
    taskRoleArn: 'arn:aws:iam::1:role/task',
    executionRoleArn: 'arn:aws:iam::1:role/exec',
    vpcId: 'vpc-1',
    image: 'org/flows:1',
    env: { TEAM: 'data', REGION: 'us-east-1' },
    defaultImage: 'org/prefect:3',
  });

  it('maps the worker-level defaults onto job-variable names', () => {
    expect(ecsLauncherJobVariables(config)).toEqual({
      cluster: 'arn:aws:ecs:us-east-1:1:cluster/prod',
      launch_type: 'FARGATE_SPOT',
      task_role_arn: 'arn:aws:iam::1:role/task',
      execution_role_arn: 'arn:aws:iam::1:role/exec',
      vpc_id: 'vpc-1',
      image: 'org/flows:1',
      env: { TEAM: 'data', REGION: 'us-east-1' },
    });
  });

  it('layers them above the pool template’s defaults and below deployment and flow-run job variables', () => {
    const infra = kernel(config).infrastructure();
    const workerDefaults = infra.defaultJobVariables?.() ?? {};
    type Vars = Parameters<typeof mergeJobVariables>[0];
    // The kernel's layering (job-builder): worker defaults < deployment < flow run, env merged at each step.
    const vars = mergeJobVariables(
      mergeJobVariables(workerDefaults as Vars, { cluster: 'dev', env: { TEAM: 'ml' } } as Vars),
      { env: { RUN: '1' } } as Vars,
    );
    const rendered = renderJobConfiguration(loadEcsBaseJobTemplate(), vars);
    expect(rendered).toMatchObject({
      cluster: 'dev',
      vpc_id: 'vpc-1',
      execution_role_arn: 'arn:aws:iam::1:role/exec',
      env: { TEAM: 'ml', REGION: 'us-east-1', RUN: '1' },
      task_definition: { containerDefinitions: [{ image: 'org/flows:1' }] },
      task_run_request: {
        launchType: 'FARGATE_SPOT',
        cluster: 'dev',
        overrides: { taskRoleArn: 'arn:aws:iam::1:role/task' },
      },
    });
  });
});
