import {
  FARGATE_LAUNCH_TYPE,
  LaunchTypes,
  parseEcsJobConfiguration,
  prepareRunTaskRequest,
} from '@stevedore/ecs-launcher';
import { describe, expect, it } from 'vitest';
import {
  FargateSpotConfigSchema,
  fargateSpotLaunchType,
  fargateSpotPreflightCheck,
  SPOT_CAPACITY_FAILURE,
} from './plugin.js';

const CAPACITY =
  'Capacity is unavailable at this time. Please try again later or in a different availability zone';

function request(taskRunRequest: Record<string, unknown>, config = {}) {
  const types = new LaunchTypes([fargateSpotLaunchType(config)]);
  const job = parseEcsJobConfiguration({
    task_definition: { containerDefinitions: [{ name: 'prefect' }] },
    task_run_request: taskRunRequest,
    command: 'prefect flow-run execute',
    env: {},
    labels: {},
    name: 'run',
  });
  const launchType = types.select(job.task_run_request, {});
  return prepareRunTaskRequest({
    config: job,
    taskDefinition: {},
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/prefect:1',
    networkConfiguration: undefined,
    newlyRegistered: false,
    launchType,
  }).request;
}

describe('FARGATE_SPOT run-task shaping', () => {
  it('defaults to the reference’s strategy, exactly', () => {
    const r = request({ launchType: 'FARGATE_SPOT' });
    expect(r.capacityProviderStrategy).toEqual([{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]);
    expect(r).not.toHaveProperty('launchType');
  });
  it('builds a FARGATE_SPOT/FARGATE mix with an on-demand base', () => {
    const r = request({ launchType: 'FARGATE_SPOT' }, { spotWeight: 3, onDemandWeight: 1, onDemandBase: 2 });
    expect(r.capacityProviderStrategy).toEqual([
      { capacityProvider: 'FARGATE_SPOT', weight: 3 },
      { capacityProvider: 'FARGATE', weight: 1, base: 2 },
    ]);
  });
  it('passes a user-supplied strategy through untouched', () => {
    const mine = [{ capacityProvider: 'FARGATE', weight: 1, base: 1 }];
    const r = request({ launchType: 'FARGATE_SPOT', capacityProviderStrategy: mine }, { spotWeight: 5 });
    expect(r.capacityProviderStrategy).toEqual(mine);
    expect(r).not.toHaveProperty('launchType');
  });
  it('rejects a config with no weight above 0', () => {
    expect(() => fargateSpotLaunchType({ spotWeight: 0 })).toThrow(
      'spotWeight and onDemandWeight are both 0',
    );
    expect(FargateSpotConfigSchema.safeParse({ spotWeigth: 1 }).success).toBe(false);
  });
});

describe('FARGATE_SPOT failure classes', () => {
  it('classifies "capacity unavailable" and falls back to FARGATE unless disabled', () => {
    const spot = fargateSpotLaunchType();
    expect(spot.classifyRunTaskFailure?.([{ reason: CAPACITY }])).toBe(SPOT_CAPACITY_FAILURE);
    expect(spot.classifyRunTaskFailure?.([{ reason: 'RESOURCE:MEMORY' }])).toBeUndefined();
    expect(spot.capacityFallback?.(SPOT_CAPACITY_FAILURE)).toBe(FARGATE_LAUNCH_TYPE.name);
    expect(
      fargateSpotLaunchType({ fallbackToOnDemand: false }).capacityFallback?.(SPOT_CAPACITY_FAILURE),
    ).toBe(undefined);
  });
});

describe('fargateSpotPreflightCheck', () => {
  const signal = new AbortController().signal;
  it('passes when the cluster has FARGATE_SPOT', async () => {
    const check = fargateSpotPreflightCheck('prod', async () => ['FARGATE', 'FARGATE_SPOT']);
    expect(await check.run({ signal })).toMatchObject({ ok: true });
  });
  it('names the cluster, what it has and the command that fixes it', async () => {
    const check = fargateSpotPreflightCheck('prod', async () => ['FARGATE']);
    const result = await check.run({ signal });
    expect(result.ok).toBe(false);
    expect(result.message).toContain(
      "Cluster 'prod' does not have FARGATE_SPOT attached as a capacity provider (it has: FARGATE)",
    );
    expect(result.message).toContain('aws ecs put-cluster-capacity-providers --cluster prod');
  });
  it('warns (never stops the worker) when AWS cannot be asked', async () => {
    const check = fargateSpotPreflightCheck('prod', async () => {
      throw new Error('Region is missing');
    });
    expect(await check.run({ signal })).toMatchObject({
      ok: false,
      severity: 'warning',
      message: "Could not describe cluster 'prod' to check for FARGATE_SPOT: Region is missing",
    });
  });
  it('warns when the cluster does not exist', async () => {
    const check = fargateSpotPreflightCheck('nope', async () => undefined);
    expect(await check.run({ signal })).toMatchObject({ ok: false, severity: 'warning' });
  });
});
