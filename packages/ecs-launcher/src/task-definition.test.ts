import { isStevedoreError, type JobConfiguration } from '@stevedore/kernel';
import { describe, expect, it } from 'vitest';
import { ecsErrorCodes } from './errors.js';
import { parseEcsJobConfiguration } from './job-configuration.js';
import {
  defaultFamily,
  defaultPrefectImage,
  normalizeTaskDefinition,
  type PrepareTaskDefinitionContext,
  prepareTaskDefinition,
  sanitizeFamily,
  taskDefinitionHash,
  taskDefinitionsEqual,
  validateTaskDefinition,
} from './task-definition.js';

const ctx: PrepareTaskDefinitionContext = {
  region: 'us-east-1',
  workPoolName: 'ecs-pool',
  deploymentId: 'dep-1',
  flowId: 'flow-1',
  defaultImage: 'prefecthq/prefect:3-latest',
};

function config(extra: Record<string, unknown> = {}) {
  const base: JobConfiguration = {
    command: 'prefect flow-run execute',
    env: {},
    labels: {},
    name: 'run',
    task_definition: { containerDefinitions: [{}] },
    task_run_request: { launchType: 'FARGATE', overrides: { containerOverrides: [{}] } },
    ...extra,
  };
  return parseEcsJobConfiguration(base);
}

function ec2(extra: Record<string, unknown> = {}) {
  return config({ task_run_request: { launchType: 'EC2' }, ...extra });
}

describe('prepareTaskDefinition', () => {
  it('builds the reference payload for an all-default FARGATE deployment run (spec §2.4 A)', () => {
    expect(prepareTaskDefinition(config(), ctx)).toEqual({
      containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }],
      family: 'prefect_ecs-pool_dep-1',
      cpu: '1024',
      memory: '2048',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
    });
  });

  it.each([
    [
      'FARGATE',
      { cpu: 512, memory: 1024 },
      { cpu: '512', memory: '1024', requiresCompatibilities: ['FARGATE'] },
    ],
    [
      'FARGATE_SPOT',
      {},
      { cpu: '1024', memory: '2048', requiresCompatibilities: ['FARGATE'], networkMode: 'awsvpc' },
    ],
    ['FARGATE', { requiresCompatibilities: ['EC2'] }, { requiresCompatibilities: ['EC2', 'FARGATE'] }],
    ['FARGATE', { networkMode: 'bridge' }, { networkMode: 'bridge' }],
  ])('%s: task-level cpu/memory strings, FARGATE compatibility, awsvpc by default (%j)', (launchType, td, expected) => {
    const built = prepareTaskDefinition(
      config({ task_definition: { containerDefinitions: [{}], ...td }, task_run_request: { launchType } }),
      ctx,
    );
    expect(built).toMatchObject(expected);
    expect(built.containerDefinitions).toEqual([{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }]);
  });

  it.each([
    [{}, {}, { cpu: 1024, memory: 2048 }],
    [{ cpu: '256', memory: 512 }, {}, { cpu: 256, memory: 512 }],
    [{}, { cpu: 128 }, { cpu: 128, memory: 2048 }],
  ])('EC2: container-level integer cpu/memory default from the task level (%j, container %j)', (task, container, expected) => {
    const built = prepareTaskDefinition(
      ec2({ task_definition: { ...task, containerDefinitions: [{ name: 'prefect', ...container }] } }),
      ctx,
    );
    expect(built.containerDefinitions).toEqual([
      { name: 'prefect', image: 'prefecthq/prefect:3-latest', ...expected },
    ]);
    expect(built).not.toHaveProperty('requiresCompatibilities');
    expect(built).not.toHaveProperty('networkMode');
    if ('cpu' in task) expect(built.cpu).toBe('256');
  });

  it('EC2 with a launch type missing from the request behaves like EC2', () => {
    const built = prepareTaskDefinition(config({ task_run_request: {} }), ctx);
    expect(built.containerDefinitions).toEqual([
      { name: 'prefect', image: 'prefecthq/prefect:3-latest', cpu: 1024, memory: 2048 },
    ]);
  });

  describe('containers', () => {
    it('uses the container named prefect and keeps the others', () => {
      const built = prepareTaskDefinition(
        config({
          task_definition: { containerDefinitions: [{ name: 'sidecar', image: 's' }, { name: 'prefect' }] },
        }),
        ctx,
      );
      expect(built.containerDefinitions).toEqual([
        { name: 'sidecar', image: 's' },
        { name: 'prefect', image: 'prefecthq/prefect:3-latest' },
      ]);
    });

    it('names the first unnamed container prefect (the default template with only an image)', () => {
      const built = prepareTaskDefinition(
        config({ task_definition: { containerDefinitions: [{ image: 'my/image:1' }] } }),
        ctx,
      );
      expect(built.containerDefinitions).toEqual([{ name: 'prefect', image: 'my/image:1' }]);
    });

    it('appends a prefect container when every container is named otherwise and none is inferred', () => {
      const built = prepareTaskDefinition(
        config({
          container_name: 'prefect',
          task_definition: { containerDefinitions: [{ name: 'x', image: 'x' }] },
        }),
        ctx,
      );
      expect(built.containerDefinitions).toEqual([
        { name: 'x', image: 'x' },
        { name: 'prefect', image: 'prefecthq/prefect:3-latest' },
      ]);
    });

    it('runs in the first container when no container is named prefect (inferred name)', () => {
      const built = prepareTaskDefinition(
        config({
          task_definition: { containerDefinitions: [{ name: 'app' }, { name: 'sidecar', image: 's' }] },
        }),
        ctx,
      );
      expect(built.containerDefinitions).toEqual([
        { name: 'app', image: 'prefecthq/prefect:3-latest' },
        { name: 'sidecar', image: 's' },
      ]);
    });

    it('uses the Prefect 1 flow container of a migrated template, even after a sidecar', () => {
      const built = prepareTaskDefinition(
        config({
          task_definition: { containerDefinitions: [{ name: 'envoy', image: 'envoy' }, { name: 'flow' }] },
        }),
        ctx,
      );
      expect(built.containerDefinitions).toEqual([
        { name: 'envoy', image: 'envoy' },
        { name: 'flow', image: 'prefecthq/prefect:3-latest' },
      ]);
    });

    it('fails with ECS_CONTAINER_NOT_FOUND when container_name is not in the template', () => {
      let error: unknown;
      try {
        prepareTaskDefinition(
          config({ container_name: 'app', task_definition: { containerDefinitions: [{ name: 'x' }] } }),
          ctx,
        );
      } catch (e) {
        error = e;
      }
      expect(isStevedoreError(error, ecsErrorCodes.CONTAINER_NOT_FOUND)).toBe(true);
      expect((error as Error).message).toMatch(/^Container 'app' not found in task definition\. .*'x'/);
    });

    it('keeps an image the template sets and replaces a null one', () => {
      expect(
        prepareTaskDefinition(
          config({ task_definition: { containerDefinitions: [{ name: 'prefect', image: 'a' }] } }),
          ctx,
        ).containerDefinitions,
      ).toEqual([{ name: 'prefect', image: 'a' }]);
      expect(
        prepareTaskDefinition(
          config({ task_definition: { containerDefinitions: [{ name: 'prefect', image: null }] } }),
          ctx,
        ).containerDefinitions,
      ).toEqual([{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }]);
    });

    it('removes null-valued environment entries of the orchestration container', () => {
      const built = prepareTaskDefinition(
        config({
          task_definition: {
            containerDefinitions: [
              {
                name: 'prefect',
                environment: [
                  { name: 'A', value: '1' },
                  { name: 'B', value: null },
                ],
              },
            ],
          },
        }),
        ctx,
      );
      expect(built.containerDefinitions).toEqual([
        { name: 'prefect', image: 'prefecthq/prefect:3-latest', environment: [{ name: 'A', value: '1' }] },
      ]);
    });
  });

  it('picks the Prefect 3 or Prefect 2 image by server generation', () => {
    expect(defaultPrefectImage({ version: '3.4.11', major: 3, isCloud: false })).toBe(
      'prefecthq/prefect:3-latest',
    );
    expect(defaultPrefectImage({ version: '2.12.0', major: 2, isCloud: false })).toBe(
      'prefecthq/prefect:2-latest',
    );
  });

  describe('awslogs', () => {
    it('adds the awslogs configuration with the default stream prefix', () => {
      const built = prepareTaskDefinition(
        config({ configure_cloudwatch_logs: true, execution_role_arn: 'arn:role' }),
        ctx,
      );
      expect(built.containerDefinitions).toEqual([
        {
          name: 'prefect',
          image: 'prefecthq/prefect:3-latest',
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-create-group': 'true',
              'awslogs-group': 'prefect',
              'awslogs-region': 'us-east-1',
              'awslogs-stream-prefix': 'prefect-logs_ecs-pool_dep-1',
            },
          },
        },
      ]);
    });

    it('uses the flow id without a deployment, the given prefix, and lets user options win', () => {
      const built = prepareTaskDefinition(
        config({
          configure_cloudwatch_logs: true,
          execution_role_arn: 'arn:role',
          cloudwatch_logs_prefix: 'custom',
          cloudwatch_logs_options: { 'awslogs-group': 'mine', 'awslogs-datetime-format': '%Y' },
          task_definition: {
            containerDefinitions: [{ name: 'prefect', logConfiguration: { logDriver: 'splunk' } }],
          },
        }),
        { ...ctx, deploymentId: null },
      );
      const [container] = built.containerDefinitions as Array<Record<string, unknown>>;
      expect(container?.logConfiguration).toEqual({
        logDriver: 'awslogs',
        options: {
          'awslogs-create-group': 'true',
          'awslogs-group': 'mine',
          'awslogs-region': 'us-east-1',
          'awslogs-stream-prefix': 'custom',
          'awslogs-datetime-format': '%Y',
        },
      });
      expect(
        prepareTaskDefinition(config({ configure_cloudwatch_logs: true, execution_role_arn: 'r' }), {
          ...ctx,
          deploymentId: null,
        }).containerDefinitions,
      ).toMatchObject([
        { logConfiguration: { options: { 'awslogs-stream-prefix': 'prefect-logs_ecs-pool_flow-1' } } },
      ]);
    });
  });

  describe('family', () => {
    it.each([
      ['prefect_ecs-pool_dep-1', 'prefect_ecs-pool_dep-1'],
      ['prefect_my pool!!_dep-1', 'prefect_my-pool-_dep-1'],
      ['prefect_Pool.With.Dots_x', 'prefect_Pool-With-Dots_x'],
      ['  --weird--  ', 'weird'],
      ['✓✓✓', 'prefect'],
      [`a${'b'.repeat(300)}`, `a${'b'.repeat(254)}`],
    ])('sanitizeFamily(%j) → %j', (input, expected) => {
      expect(sanitizeFamily(input)).toBe(expected);
      expect(sanitizeFamily(input)).toMatch(/^[a-zA-Z0-9_-]{1,255}$/);
    });

    it('generates prefect_<pool>_<deployment or flow>, sanitised (the reference forgets to)', () => {
      expect(defaultFamily('My Pool', 'dep-1', 'flow-1')).toBe('prefect_My-Pool_dep-1');
      expect(defaultFamily('pool', null, 'flow-1')).toBe('prefect_pool_flow-1');
      expect(prepareTaskDefinition(config(), { ...ctx, workPoolName: 'ECS pool (prod)' }).family).toBe(
        'prefect_ECS-pool-prod-_dep-1',
      );
    });

    it('keeps a family from the template, sanitised', () => {
      expect(
        prepareTaskDefinition(
          config({ task_definition: { family: 'my family', containerDefinitions: [{}] } }),
          ctx,
        ).family,
      ).toBe('my-family');
    });
  });

  describe('secrets', () => {
    it('adds PREFECT_API_KEY and PREFECT_API_AUTH_STRING secrets and removes env entries of those names', () => {
      const built = prepareTaskDefinition(
        config({
          prefect_api_key_secret_arn: 'arn:key',
          prefect_api_auth_string_secret_arn: 'arn:auth',
          task_definition: {
            containerDefinitions: [
              {
                name: 'prefect',
                environment: [
                  { name: 'PREFECT_API_KEY', value: 'plain' },
                  { name: 'KEEP', value: '1' },
                ],
              },
            ],
          },
        }),
        ctx,
      );
      expect(built.containerDefinitions).toEqual([
        {
          name: 'prefect',
          image: 'prefecthq/prefect:3-latest',
          environment: [{ name: 'KEEP', value: '1' }],
          secrets: [
            { name: 'PREFECT_API_KEY', valueFrom: 'arn:key' },
            { name: 'PREFECT_API_AUTH_STRING', valueFrom: 'arn:auth' },
          ],
        },
      ]);
    });

    it('replaces an existing secret of the same name and keeps unrelated secrets', () => {
      const built = prepareTaskDefinition(
        config({
          prefect_api_key_secret_arn: 'arn:new',
          task_definition: {
            containerDefinitions: [
              {
                name: 'prefect',
                secrets: [
                  { name: 'DB', valueFrom: 'arn:db' },
                  { name: 'PREFECT_API_KEY', valueFrom: 'arn:old' },
                ],
              },
            ],
          },
        }),
        ctx,
      );
      expect((built.containerDefinitions as Array<Record<string, unknown>>)[0]?.secrets).toEqual([
        { name: 'DB', valueFrom: 'arn:db' },
        { name: 'PREFECT_API_KEY', valueFrom: 'arn:new' },
      ]);
    });
  });

  it('drops empty keys but keeps false (spec §2.4 A.9)', () => {
    const built = prepareTaskDefinition(
      config({
        task_definition: {
          containerDefinitions: [
            { name: 'prefect', readonlyRootFilesystem: false, portMappings: [], cpu: 0, command: null },
          ],
          executionRoleArn: '',
          volumes: [],
          pidMode: null,
          ephemeralStorage: {},
        },
      }),
      ctx,
    );
    expect(built).not.toHaveProperty('executionRoleArn');
    expect(built).not.toHaveProperty('volumes');
    expect(built).not.toHaveProperty('ephemeralStorage');
    expect(built.containerDefinitions).toEqual([
      { name: 'prefect', image: 'prefecthq/prefect:3-latest', readonlyRootFilesystem: false },
    ]);
  });

  it('does not mutate the configuration', () => {
    const c = config();
    const before = structuredClone(c.task_definition);
    prepareTaskDefinition(c, ctx);
    expect(c.task_definition).toEqual(before);
  });
});

describe('task definition equality and hash (spec §2.4 B)', () => {
  const built = prepareTaskDefinition(
    config({
      task_definition: {
        containerDefinitions: [
          {
            name: 'prefect',
            environment: [
              { name: 'B', value: '2' },
              { name: 'A', value: '1' },
            ],
          },
        ],
      },
    }),
    ctx,
  );
  const described = {
    ...structuredClone(built),
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:1:task-definition/prefect_ecs-pool_dep-1:3',
    revision: 3,
    status: 'ACTIVE',
    compatibilities: ['EC2', 'FARGATE'],
    registeredAt: new Date('2026-01-01T00:00:00Z'),
    registeredBy: 'arn:aws:iam::1:role/worker',
    requiresAttributes: [{ name: 'com.amazonaws.ecs.capability.docker-remote-api.1.18' }],
    volumes: [],
    placementConstraints: [],
    enableFaultInjection: false,
    containerDefinitions: [
      {
        name: 'prefect',
        image: 'prefecthq/prefect:3-latest',
        cpu: 0,
        essential: true,
        portMappings: [],
        mountPoints: [],
        volumesFrom: [],
        environment: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
      },
    ],
  };

  it('treats a described definition with AWS-filled defaults as equal to the built one', () => {
    expect(taskDefinitionsEqual(built, described)).toBe(true);
    expect(taskDefinitionHash(built)).toBe(taskDefinitionHash(described));
  });

  it('sees real differences, including container order', () => {
    expect(taskDefinitionsEqual(built, { ...described, cpu: '2048' })).toBe(false);
    const twoContainers = { ...built, containerDefinitions: [{ name: 'a' }, { name: 'b' }] };
    const swapped = { ...built, containerDefinitions: [{ name: 'b' }, { name: 'a' }] };
    expect(taskDefinitionsEqual(twoContainers, swapped)).toBe(false);
    expect(taskDefinitionHash(twoContainers)).not.toBe(taskDefinitionHash(swapped));
    expect(taskDefinitionsEqual(built, null)).toBe(false);
  });

  it('defaults networkMode to bridge and containers to essential', () => {
    expect(normalizeTaskDefinition({ containerDefinitions: [{ name: 'a' }] })).toEqual({
      networkMode: 'bridge',
      containerDefinitions: [{ name: 'a', essential: true }],
    });
  });

  it('ignores tags, which DescribeTaskDefinition returns apart', () => {
    expect(taskDefinitionsEqual({ ...built, tags: [{ key: 'team', value: 'x' }] }, described)).toBe(true);
  });

  it('gives a stable 64-hex hash independent of key order', () => {
    const a = { family: 'f', cpu: '1', containerDefinitions: [{ name: 'x', image: 'i' }] };
    const b = { containerDefinitions: [{ image: 'i', name: 'x' }], cpu: '1', family: 'f' };
    expect(taskDefinitionHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(taskDefinitionHash(a)).toBe(taskDefinitionHash(b));
  });
});

describe('validateTaskDefinition (spec §2.4 C)', () => {
  function check(td: Record<string, unknown>, c = config()): string | undefined {
    try {
      validateTaskDefinition(td, c);
      return undefined;
    } catch (e) {
      expect(isStevedoreError(e, ecsErrorCodes.TASK_DEFINITION_INVALID)).toBe(true);
      return (e as Error).message;
    }
  }

  it('requires an execution role on the definition for CloudWatch logs', () => {
    const c = config({ configure_cloudwatch_logs: true, task_run_request: { taskDefinition: 'arn:td' } });
    expect(check({ networkMode: 'awsvpc' }, c)).toMatch(
      /^An execution role arn must be set on the task definition/,
    );
    expect(check({ networkMode: 'awsvpc', executionRoleArn: 'arn:role' }, c)).toBeUndefined();
  });

  it('rejects a definition without FARGATE for a FARGATE launch', () => {
    expect(check({ requiresCompatibilities: ['EC2'], networkMode: 'awsvpc' })).toMatch(
      /^Task definition does not have 'FARGATE' in 'requiresCompatibilities' and cannot be used with launch type 'FARGATE'/,
    );
  });

  it('rejects a non-awsvpc network mode for FARGATE and FARGATE_SPOT', () => {
    expect(check({ networkMode: 'bridge' })).toMatch(
      /^Found network mode 'bridge' which is not compatible with launch type 'FARGATE'/,
    );
    expect(
      check({ networkMode: 'bridge' }, config({ task_run_request: { launchType: 'FARGATE_SPOT' } })),
    ).toMatch(/launch type 'FARGATE_SPOT'/);
  });

  it('accepts EC2 definitions without a launch type and capacity provider strategies', () => {
    expect(
      check({ requiresCompatibilities: ['EC2'], networkMode: 'bridge' }, config({ task_run_request: {} })),
    ).toBeUndefined();
    expect(
      check(
        { requiresCompatibilities: ['EC2'], networkMode: 'bridge' },
        config({ task_run_request: { capacityProviderStrategy: [{ capacityProvider: 'cp', weight: 1 }] } }),
      ),
    ).toBeUndefined();
    expect(check({ requiresCompatibilities: ['EC2'], networkMode: 'host' }, ec2())).toBeUndefined();
  });

  it('lets EXTERNAL definitions through (the reference wrongly demands FARGATE)', () => {
    expect(
      check(
        { requiresCompatibilities: ['EXTERNAL'], networkMode: 'bridge' },
        config({ task_run_request: { launchType: 'EXTERNAL' } }),
      ),
    ).toBeUndefined();
  });
});
