import {
  allOf,
  type Clock,
  definePlugin,
  kernelTokens,
  type Logger,
  type Metrics,
  type TemplateLoader,
  token,
} from '@stevedore/kernel';
import { z } from 'zod';
import { defaultEcsClientSources, type EcsClientSources } from './aws-clients.js';
import { DescribeTasksObserver } from './describe-tasks-observer.js';
import { EcsInfrastructure } from './ecs-infrastructure.js';
import { ecsLaunchTypeToken, type LaunchType, LaunchTypes } from './launch-type.js';
import { DEFAULT_RATE_LIMITS } from './rate-budget.js';

const nonEmpty = z.string().min(1);
const operations = Object.keys(DEFAULT_RATE_LIMITS) as [string, ...string[]];

/**
 * The `plugins.ecs-launcher` config section. Every key is optional; unknown keys are errors.
 *
 * - `cluster`, `launchType`, `taskRoleArn`, `executionRoleArn`, `vpcId`, `image`, `env`, `labels`: worker-level
 *   defaults of the job variables `cluster`, `launch_type`, `task_role_arn`, `execution_role_arn`, `vpc_id`,
 *   `image`, `env`, `labels`
 *   (the Prefect 1 ECS agent's options). The kernel layers them above the pool template's defaults and below the
 *   deployment's and the flow run's job variables.
 * - `taskDefinition`, `runTaskKwargs`: template references (a path, `file:` or `s3://` URI) loaded at the first
 *   submission and kept: a task definition replacing the job configuration's `task_definition` (unless
 *   `task_definition_arn` is set), and RunTask parameters merged under `task_run_request`.
 * - `observer.pollSeconds`: the shortest interval between two DescribeTasks polls.
 * - `defaultImage`: the Prefect container's image when nothing else sets one.
 * - `rateLimits`: per-operation overrides of the AWS rate budget, e.g. `{ RunTask: { ratePerSecond: 5 } }`.
 * - `capacityLadder`, `capacityBudgetSeconds`: the capacity ladder: launch types
 *   walked in order on classified capacity failures, and the total time the walk may take (default 600 s).
 * @public
 */
export const EcsLauncherConfigSchema = z.strictObject({
  cluster: nonEmpty.optional().describe('Default ECS cluster (name or ARN): the `cluster` job variable.'),
  launchType: z
    .enum(['FARGATE', 'FARGATE_SPOT', 'EC2', 'EXTERNAL'])
    .optional()
    .describe('Default launch type: the `launch_type` job variable.'),
  taskRoleArn: nonEmpty.optional().describe('Default task role: the `task_role_arn` job variable.'),
  executionRoleArn: nonEmpty
    .optional()
    .describe('Default execution role: the `execution_role_arn` job variable.'),
  vpcId: nonEmpty.optional().describe('Default VPC: the `vpc_id` job variable.'),
  image: nonEmpty.optional().describe('Default image of the Prefect container: the `image` job variable.'),
  env: z
    .record(z.string(), z.string().nullable())
    .optional()
    .describe('Default environment of the Prefect container: the `env` job variable (merged key by key).'),
  labels: z
    .record(z.string(), z.string())
    .optional()
    .describe('Default labels of the flow runs: the `labels` job variable (tags on every task; `--label`).'),
  taskDefinition: nonEmpty
    .optional()
    .describe(
      'Task definition template (path or s3:// URI) replacing the job configuration’s task_definition.',
    ),
  runTaskKwargs: nonEmpty
    .optional()
    .describe(
      'RunTask parameters template (path or s3:// URI) merged under the job configuration’s task_run_request.',
    ),
  observer: z
    .strictObject({
      pollSeconds: z
        .number()
        .positive()
        .optional()
        .describe('Shortest interval between two DescribeTasks polls.'),
    })
    .optional(),
  defaultImage: nonEmpty.optional().describe('Image of the Prefect container when nothing else sets one.'),
  capacityLadder: z
    .array(z.enum(['FARGATE_SPOT', 'FARGATE', 'EC2']))
    .refine((l) => new Set(l).size === l.length, 'launch types must not repeat')
    .optional()
    .describe(
      'Launch types walked in order on capacity failures, e.g. ["FARGATE_SPOT", "FARGATE", "EC2"]; per deployment or run: stevedore_capacity_ladder.',
    ),
  capacityBudgetSeconds: z
    .number()
    .min(0)
    .optional()
    .describe(
      'Total seconds a launch may spend on capacity retries and fallbacks (default 600); per deployment or run: stevedore_capacity_budget_seconds.',
    ),
  rateLimits: z
    .partialRecord(
      z.enum(operations),
      z.strictObject({
        ratePerSecond: z.number().positive().optional(),
        burst: z.number().int().positive().optional(),
      }),
    )
    .optional()
    .describe('Per-operation overrides of the AWS rate budget.'),
});

/** The validated `plugins.ecs-launcher` section. @public */
export type EcsLauncherConfig = z.output<typeof EcsLauncherConfigSchema>;

/**
 * The IAM actions this package calls, exactly (printed by `stevedore iam-policy`):
 * RegisterTaskDefinition and DescribeTaskDefinition (task definitions, crash logs), TagResource (RegisterTaskDefinition
 * and RunTask tag on create, which ECS authorizes as `ecs:TagResource`), RunTask, StopTask, DescribeTasks (the
 * observer, crash logs), ListTasks (reconciliation: tasks of finished runs), DescribeVpcs and DescribeSubnets (network inference), GetLogEvents (crash logs), and
 * DeregisterTaskDefinition (`auto_deregister_task_definition`), and
 * `iam:PassRole` for the task and execution roles handed to RegisterTaskDefinition and RunTask.
 * @public
 */
export const ECS_LAUNCHER_IAM_ACTIONS: readonly string[] = Object.freeze([
  'ecs:RegisterTaskDefinition',
  'ecs:DeregisterTaskDefinition',
  'ecs:DescribeTaskDefinition',
  'ecs:TagResource',
  'ecs:RunTask',
  'ecs:StopTask',
  'ecs:DescribeTasks',
  'ecs:ListTasks',
  'ec2:DescribeVpcs',
  'ec2:DescribeSubnets',
  'logs:GetLogEvents',
  'iam:PassRole',
]);

/**
 * Tokens of the services this plugin provides to others. `infrastructure` is the one {@link EcsInfrastructure}
 * behind both the `ecs` infrastructure and the DescribeTasks observer.
 * @public
 */
export const ecsLauncherTokens = Object.freeze({
  infrastructure: token<EcsInfrastructure>('ecs-launcher.infrastructure'),
});

/**
 * The job-variable defaults the config sets, under their job-variable names (`launchType` → `launch_type`, …).
 * @public
 */
export function ecsLauncherJobVariables(config: EcsLauncherConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const map = [
    ['cluster', 'cluster'],
    ['launchType', 'launch_type'],
    ['taskRoleArn', 'task_role_arn'],
    ['executionRoleArn', 'execution_role_arn'],
    ['vpcId', 'vpc_id'],
    ['image', 'image'],
    ['env', 'env'],
    ['labels', 'labels'],
  ] as const;
  for (const [key, variable] of map) {
    const value = config[key];
    if (value !== undefined) out[variable] = structuredClone(value);
  }
  return out;
}

/** What {@link createEcsLauncherInfrastructure} needs from the kernel. @public */
export interface EcsLauncherDeps {
  logger: Logger;
  templates: TemplateLoader;
  clock: Clock;
  /** AWS clients; default: real SDK clients per `aws_credentials` block. */
  clients?: EcsClientSources;
  /** The kernel's `/metrics` registry. */
  metrics?: Metrics;
  /**
   * Launch types contributed by plugins (`FARGATE` is built in). Given (even empty), only the active ones may be
   * selected; absent, every launch type is accepted with the reference's shaping (embedding without plugins).
   */
  launchTypes?: readonly LaunchType[];
}

/** Builds the plugin's {@link EcsInfrastructure} from its config section. @public */
export function createEcsLauncherInfrastructure(
  config: EcsLauncherConfig,
  deps: EcsLauncherDeps,
): EcsInfrastructure {
  const { defaultImage, rateLimits, taskDefinition, runTaskKwargs, capacityLadder, capacityBudgetSeconds } =
    config;
  return new EcsInfrastructure(deps.clients ?? defaultEcsClientSources, {
    logger: deps.logger,
    clock: deps.clock,
    defaultJobVariables: ecsLauncherJobVariables(config),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.launchTypes ? { launchTypes: new LaunchTypes(deps.launchTypes) } : {}),
    ...(defaultImage ? { defaultImage: () => defaultImage } : {}),
    ...(rateLimits ? { rateLimits } : {}),
    ...(capacityLadder ? { capacityLadder } : {}),
    ...(capacityBudgetSeconds === undefined ? {} : { capacityBudgetSeconds }),
    ...(taskDefinition || runTaskKwargs
      ? { templates: { loader: deps.templates, references: { taskDefinition, runTaskKwargs } } }
      : {}),
  });
}

/**
 * The `ecs-launcher` plugin: the `ecs` infrastructure ({@link EcsInfrastructure}) and its default observer
 * ({@link DescribeTasksObserver}), sharing one infrastructure instance (its AWS clients, rate budget and the
 * memory of what it launched).
 * @public
 */
export const ecsLauncherPlugin = definePlugin<EcsLauncherConfig>({
  id: 'ecs-launcher',
  kernel: '^0.1.0',
  packageName: '@stevedore/ecs-launcher',
  configSchema: EcsLauncherConfigSchema,
  register(r) {
    r.provide(ecsLauncherTokens.infrastructure, {
      deps: {
        logger: kernelTokens.logger,
        templates: kernelTokens.templateLoader,
        clock: kernelTokens.clock,
        metrics: kernelTokens.metrics,
        launchTypes: allOf(ecsLaunchTypeToken),
      },
      create: ({ logger, templates, clock, metrics, launchTypes }, config) =>
        createEcsLauncherInfrastructure(config ?? {}, { logger, templates, clock, metrics, launchTypes }),
    });
    r.provideInfrastructure({
      deps: { ecs: ecsLauncherTokens.infrastructure },
      create: ({ ecs }) => ecs,
    });
    r.provideObserver({
      deps: {
        ecs: ecsLauncherTokens.infrastructure,
        logger: kernelTokens.logger,
        clock: kernelTokens.clock,
        events: kernelTokens.events,
      },
      create: ({ ecs, logger, clock, events }, config) => {
        const pollSeconds = config?.observer?.pollSeconds;
        return new DescribeTasksObserver(ecs, {
          logger: logger.child({ component: 'ecs-describe-tasks' }),
          clock,
          events,
          ...(pollSeconds !== undefined ? { minPollIntervalMs: pollSeconds * 1000 } : {}),
        });
      },
    });
    r.requireIamActions(ECS_LAUNCHER_IAM_ACTIONS);
  },
});
