/**
 * `@stevedore/fargate-spot`: the `FARGATE_SPOT` launch type for `@stevedore/ecs-launcher`.
 * @packageDocumentation
 */
export {
  CAPACITY_UNAVAILABLE_REASON,
  type FargateSpotConfig,
  FargateSpotConfigSchema,
  fargateSpotLaunchType,
  fargateSpotPlugin,
  fargateSpotPreflightCheck,
  SPOT_CAPACITY_FAILURE,
} from './plugin.js';

/** The plugin id, equal to the package suffix. @public */
export const PLUGIN_ID = 'fargate-spot';
