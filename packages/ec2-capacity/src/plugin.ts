import {
  type CapacityRetryPolicy,
  ecsLaunchTypeToken,
  type LaunchType,
  type RunTaskFailureInfo,
} from '@stevedore/ecs-launcher';
import { definePlugin } from '@stevedore/kernel';
import { z } from 'zod';

/**
 * The `plugins.ec2-capacity` config section. Every key is optional; unknown keys are errors.
 *
 * - `capacityRetries` (default 4): RunTask attempts in all on EC2 when the cluster's container instances cannot place
 *   the task (`RESOURCE:*`, placement, no instances), waiting between them while the Auto Scaling group scales out;
 *   then the next rung of the capacity ladder, if any, else the run crashes with ECS's reason. 1 = no retry.
 * - `capacityRetryDelaySeconds` (default 15): the first wait; doubled for each next one, ±20 % jitter.
 * - `capacityRetryMaxDelaySeconds` (default 60): the longest wait.
 *
 * All of it within the launch's capacity budget (`plugins.ecs-launcher.capacityBudgetSeconds`, 600 s by default).
 * @public
 */
export const Ec2CapacityConfigSchema = z.strictObject({
  capacityRetries: z
    .number()
    .int()
    .min(1)
    .max(20)
    .optional()
    .describe('RunTask attempts on EC2 while capacity scales out (default 4; 1 = no retry).'),
  capacityRetryDelaySeconds: z
    .number()
    .min(0)
    .max(600)
    .optional()
    .describe('First wait between EC2 capacity attempts, doubled each time (default 15).'),
  capacityRetryMaxDelaySeconds: z
    .number()
    .min(0)
    .max(600)
    .optional()
    .describe('Longest wait between EC2 capacity attempts (default 60).'),
});

/** The validated `plugins.ec2-capacity` section. @public */
export type Ec2CapacityConfig = z.output<typeof Ec2CapacityConfigSchema>;

/** The failure class of "the cluster's EC2 capacity cannot place the task" at RunTask. @public */
export const EC2_CAPACITY_FAILURE = 'ec2-capacity';

/**
 * RunTask `failures[].reason` values ECS gives when the cluster's container instances cannot place the task:
 * not enough CPU or memory (`RESOURCE:CPU`, `RESOURCE:MEMORY`, also `RESOURCE:GPU`, `RESOURCE:PORTS`), no
 * instance matching the placement constraints or attributes (`MemberOf`, `MISSING`, `ATTRIBUTE`), or no instance
 * at all. Each is capacity that may appear as the Auto Scaling group scales out.
 * @public
 */
export const EC2_CAPACITY_REASONS: readonly string[] = Object.freeze([
  'RESOURCE:CPU',
  'RESOURCE:MEMORY',
  'RESOURCE:GPU',
  'RESOURCE:PORTS',
  'RESOURCE:ENI',
  'MemberOf',
  'MISSING',
  'ATTRIBUTE',
  'No Container Instances were found',
]);

/** True when one RunTask failure is an EC2 capacity failure ({@link EC2_CAPACITY_REASONS}). @public */
export function isEc2CapacityFailure(failure: RunTaskFailureInfo): boolean {
  const reason = failure.reason ?? '';
  // Whole reasons only: `MISSING` is a placement failure, `MISSING_TASK_DEFINITION` is not capacity.
  return EC2_CAPACITY_REASONS.some((r) => reason === r || reason.startsWith(`${r} `));
}

/**
 * The `EC2` launch type: the reference's EC2 shaping (container-level integer cpu/memory, the template's network
 * mode, no network configuration unless `awsvpc`, `launchType` left out for an EC2 definition without one so the
 * cluster's default capacity provider strategy applies) plus the classification of EC2 capacity failures.
 * @public
 */
export function ec2LaunchType(config: Ec2CapacityConfig = {}): LaunchType {
  const policy: CapacityRetryPolicy = {
    attempts: config.capacityRetries ?? 4,
    initialDelayMs: (config.capacityRetryDelaySeconds ?? 15) * 1000,
    maxDelayMs: (config.capacityRetryMaxDelaySeconds ?? 60) * 1000,
  };
  return Object.freeze({
    name: 'EC2',
    packageName: '@stevedore/ec2-capacity',
    compatibility: 'EC2',
    classifyRunTaskFailure(failures: readonly RunTaskFailureInfo[]) {
      return failures.length > 0 && failures.every(isEc2CapacityFailure) ? EC2_CAPACITY_FAILURE : undefined;
    },
    capacityRetry(failureClass: string) {
      return failureClass === EC2_CAPACITY_FAILURE && policy.attempts > 1 ? policy : undefined;
    },
  });
}

/**
 * The `ec2-capacity` plugin: contributes the `EC2` launch type to `@stevedore/ecs-launcher`.
 * @public
 */
export const ec2CapacityPlugin = definePlugin<Ec2CapacityConfig>({
  id: 'ec2-capacity',
  kernel: '^0.1.0',
  packageName: '@stevedore/ec2-capacity',
  dependsOn: ['ecs-launcher'],
  configSchema: Ec2CapacityConfigSchema,
  register(r) {
    r.contribute(ecsLaunchTypeToken, { create: (_deps, config) => ec2LaunchType(config ?? {}) });
  },
});
