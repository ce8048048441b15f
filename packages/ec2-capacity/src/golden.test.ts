/**
 * Golden payloads of `launch_type: EC2` with this plugin active: the RegisterTaskDefinition and RunTask inputs `submit`
 * would send (built offline by `EcsInfrastructure.preview`, which runs submit's own functions), written by hand from
 * spec §2.4 A.7 (container-level integer cpu/memory for non-Fargate launch types, task-level strings kept) and D.3–D.5.
 * The environment and tags, the same for every launch type, are checked by ecs-launcher's own golden files.
 */
import { previewPayloads } from '@stevedore/ecs-launcher/testing';
import { describe, expect, it } from 'vitest';
import { ec2LaunchType } from './plugin.js';

const FAMILY = 'prefect_ecs-pool_d3000000-0000-4000-8000-000000000003';
const HASH_TAG = [
  { key: 'stevedore.io/task-definition-hash', value: expect.stringMatching(/^[0-9a-f]{64}$/) },
];

describe('golden payloads: EC2', () => {
  it('launch_type EC2 on the default template: container-level integer cpu/memory, launchType EC2, no FARGATE compatibility', async () => {
    const out = await previewPayloads({
      launchTypes: [ec2LaunchType()],
      jobVariables: { launch_type: 'EC2', cluster: 'gpu-cluster', cpu: 4096, memory: 16384 },
    });
    // The default template's definition has no networkMode: ECS's default for EC2 is bridge, so nothing is inferred.
    expect(out.registerTaskDefinition).toStrictEqual({
      family: FAMILY,
      containerDefinitions: [
        { name: 'prefect', image: 'prefecthq/prefect:3-latest', cpu: 4096, memory: 16384 },
      ],
      // The template's task-level `{{ cpu }}`/`{{ memory }}` stay, as strings (A.8).
      cpu: '4096',
      memory: '16384',
      tags: HASH_TAG,
    });
    expect(out.runTask).toStrictEqual({
      taskDefinition: `arn:aws:ecs:<region>:<account>:task-definition/${FAMILY}:<revision>`,
      cluster: 'gpu-cluster',
      launchType: 'EC2',
      overrides: {
        containerOverrides: [
          {
            name: 'prefect',
            command: ['prefect', 'flow-run', 'execute'],
            cpu: 4096,
            memory: 16384,
            environment: expect.any(Array),
          },
        ],
        cpu: '4096',
        memory: '16384',
      },
      tags: expect.any(Array),
      clientToken: expect.stringMatching(/^[0-9a-f]{64}$/),
      startedBy: 'stevedore/a7000000-0000-4000-8000-000000000004', // not in the reference: README of ecs-launcher
    });
  });

  it('a null launch type is FARGATE (D.3); an ASG capacity provider strategy passes through without launchType (D.4)', async () => {
    const out = await previewPayloads({
      launchTypes: [ec2LaunchType()],
      jobVariables: { launch_type: null, capacity_provider_strategy: null, cluster: 'asg-cluster' },
    });
    // Spec §2.4 D.3: without a launch type the reference sends FARGATE; the definition is FARGATE then.
    expect(out.runTask?.launchType).toBe('FARGATE');
    const asg = await previewPayloads({
      launchTypes: [ec2LaunchType()],
      jobVariables: {
        cluster: 'asg-cluster',
        launch_type: 'EC2',
        capacity_provider_strategy: [{ capacityProvider: 'gpu-asg', weight: 1, base: 0 }],
      },
    });
    // An ASG capacity provider strategy passes through; D.4 removes launchType next to it.
    expect(asg.runTask?.capacityProviderStrategy).toStrictEqual([
      { capacityProvider: 'gpu-asg', weight: 1, base: 0 },
    ]);
    expect(asg.runTask).not.toHaveProperty('launchType');
  });
});
