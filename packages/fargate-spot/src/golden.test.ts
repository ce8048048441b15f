/**
 * Golden payloads of `launch_type: FARGATE_SPOT` with this plugin active: the RegisterTaskDefinition and RunTask inputs
 * `submit` would send (built offline by `EcsInfrastructure.preview`, which runs submit's own functions), written by hand
 * from spec §2.4 A.7 / D.4 and this plugin's config. The environment and tags, the same for every launch type, are
 * checked by ecs-launcher's own golden files; the network configuration is settled at launch (offline, none is sent).
 */
import { previewPayloads } from '@stevedore/ecs-launcher/testing';
import { describe, expect, it } from 'vitest';
import { fargateSpotLaunchType } from './plugin.js';

/** A custom network configuration (validated against the VPC at launch; offline, nothing is described). */
const REGISTER = {
  family: 'prefect_ecs-pool_d3000000-0000-4000-8000-000000000003',
  containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }],
  cpu: '1024',
  memory: '2048',
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  tags: [{ key: 'stevedore.io/task-definition-hash', value: expect.stringMatching(/^[0-9a-f]{64}$/) }],
};
const runTask = (extra: Record<string, unknown>) => ({
  taskDefinition:
    'arn:aws:ecs:<region>:<account>:task-definition/prefect_ecs-pool_d3000000-0000-4000-8000-000000000003:<revision>',
  overrides: {
    containerOverrides: [
      { name: 'prefect', command: ['prefect', 'flow-run', 'execute'], environment: expect.any(Array) },
    ],
  },
  tags: expect.any(Array),
  clientToken: expect.stringMatching(/^[0-9a-f]{64}$/),
  startedBy: 'stevedore/a7000000-0000-4000-8000-000000000004', // not in the reference: README of ecs-launcher
  ...extra,
});

describe('golden payloads: FARGATE_SPOT', () => {
  it('default config: the reference’s strategy [{FARGATE_SPOT, weight 1}] and no launchType; a FARGATE definition', async () => {
    const out = await previewPayloads({
      launchTypes: [fargateSpotLaunchType()],
      jobVariables: { launch_type: 'FARGATE_SPOT' },
    });
    expect(out.registerTaskDefinition).toStrictEqual(REGISTER);
    expect(out.runTask).toStrictEqual(
      runTask({ capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] }),
    );
    expect(out.notes).toContain(
      'Capacity: if FARGATE_SPOT capacity is unavailable at RunTask, the task is relaunched on FARGATE.',
    );
  });

  it('a configured mix: Spot weight 3, on-demand base 1 and weight 1', async () => {
    const out = await previewPayloads({
      launchTypes: [fargateSpotLaunchType({ spotWeight: 3, onDemandWeight: 1, onDemandBase: 1 })],
      jobVariables: { launch_type: 'FARGATE_SPOT' },
    });
    expect(out.runTask).toStrictEqual(
      runTask({
        capacityProviderStrategy: [
          { capacityProvider: 'FARGATE_SPOT', weight: 3 },
          { capacityProvider: 'FARGATE', weight: 1, base: 1 },
        ],
      }),
    );
  });

  it('a capacity_provider_strategy job variable passes through untouched, whatever the config', async () => {
    const strategy = [
      { capacityProvider: 'FARGATE', base: 2, weight: 1 },
      { capacityProvider: 'FARGATE_SPOT', weight: 4 },
    ];
    const out = await previewPayloads({
      launchTypes: [fargateSpotLaunchType({ spotWeight: 3, onDemandWeight: 1 })],
      jobVariables: {
        launch_type: 'FARGATE_SPOT',
        capacity_provider_strategy: strategy,
      },
    });
    expect(out.runTask?.capacityProviderStrategy).toStrictEqual(strategy);
    expect(out.runTask).not.toHaveProperty('launchType');
  });
});

describe('render notes', () => {
  it('names the capacity ladder when one is set', async () => {
    const out = await previewPayloads({
      launchTypes: [fargateSpotLaunchType()],
      jobVariables: { launch_type: 'FARGATE_SPOT', stevedore_capacity_ladder: ['FARGATE_SPOT', 'FARGATE'] },
    });
    expect(out.notes).toContain(
      'Capacity: on classified capacity failures the launch walks the ladder FARGATE_SPOT → FARGATE (within 600 s).',
    );
  });
});
