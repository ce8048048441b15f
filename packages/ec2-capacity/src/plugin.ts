import { ecsLaunchTypeToken, type LaunchType, type RunTaskFailureInfo } from '@stevedore/ecs-launcher';
import { definePlugin } from '@stevedore/kernel';

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
export function ec2LaunchType(): LaunchType {
  return Object.freeze({
    name: 'EC2',
    packageName: '@stevedore/ec2-capacity',
    classifyRunTaskFailure(failures: readonly RunTaskFailureInfo[]) {
      return failures.length > 0 && failures.every(isEc2CapacityFailure) ? EC2_CAPACITY_FAILURE : undefined;
    },
  });
}

/**
 * The `ec2-capacity` plugin: contributes the `EC2` launch type to `@stevedore/ecs-launcher`.
 * @public
 */
export const ec2CapacityPlugin = definePlugin({
  id: 'ec2-capacity',
  kernel: '^0.1.0',
  packageName: '@stevedore/ec2-capacity',
  dependsOn: ['ecs-launcher'],
  register(r) {
    r.contribute(ecsLaunchTypeToken, { create: () => ec2LaunchType() });
  },
});
