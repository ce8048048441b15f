/**
 * `@stevedore/ec2-capacity`: the `EC2` launch type for `@stevedore/ecs-launcher`.
 * @packageDocumentation
 */
export {
  EC2_CAPACITY_FAILURE,
  EC2_CAPACITY_REASONS,
  type Ec2CapacityConfig,
  Ec2CapacityConfigSchema,
  ec2CapacityPlugin,
  ec2LaunchType,
  isEc2CapacityFailure,
} from './plugin.js';

/** The plugin id, equal to the package suffix. @public */
export const PLUGIN_ID = 'ec2-capacity';
