import {
  parseEcsJobConfiguration,
  prepareTaskDefinition,
  validateTaskDefinition,
} from '@stevedore/ecs-launcher';
import { describe, expect, it } from 'vitest';

const ctx = {
  region: undefined,
  workPoolName: 'gpu-pool',
  deploymentId: 'd1',
  flowId: 'f1',
  defaultImage: 'prefecthq/prefect:3-latest',
};

describe('EC2 task definitions', () => {
  it('a GPU requirement and ephemeral storage reach the task definition; cpu/memory are container-level', () => {
    const config = parseEcsJobConfiguration({
      name: 'run',
      env: {},
      labels: {},
      command: 'prefect flow-run execute',
      task_run_request: { launchType: 'EC2' },
      task_definition: {
        networkMode: 'bridge',
        requiresCompatibilities: ['EC2'],
        cpu: 4096,
        memory: 16384,
        ephemeralStorage: { sizeInGiB: 100 },
        containerDefinitions: [{ name: 'prefect', resourceRequirements: [{ type: 'GPU', value: '1' }] }],
      },
    });
    const td = prepareTaskDefinition(config, ctx);
    validateTaskDefinition(td, config);
    expect(td).toEqual({
      family: 'prefect_gpu-pool_d1',
      networkMode: 'bridge',
      requiresCompatibilities: ['EC2'],
      cpu: '4096',
      memory: '16384',
      ephemeralStorage: { sizeInGiB: 100 },
      containerDefinitions: [
        {
          name: 'prefect',
          image: 'prefecthq/prefect:3-latest',
          resourceRequirements: [{ type: 'GPU', value: '1' }],
          cpu: 4096,
          memory: 16384,
        },
      ],
    });
  });
});
