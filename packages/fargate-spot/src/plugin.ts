import {
  clusterCapacityProviders,
  createEcsClient,
  ecsLauncherTokens,
  ecsLaunchTypeToken,
  type LaunchType,
  type RunTaskFailureInfo,
} from '@stevedore/ecs-launcher';
import { definePlugin, type PreflightCheck } from '@stevedore/kernel';
import { z } from 'zod';

/**
 * The `plugins.fargate-spot` config section. Every key is optional; unknown keys are errors.
 *
 * - `fallbackToOnDemand` (default `true`): when Fargate Spot has no capacity at RunTask, relaunch the task in place
 *   on on-demand `FARGATE` (the run stays Pending; a new clientToken).
 * - `spotWeight` (default 1), `onDemandWeight` (default 0), `onDemandBase` (default 0): the capacity provider
 *   strategy `launch_type: FARGATE_SPOT` becomes. With the defaults it is prefect-aws's
 *   `[{capacityProvider: "FARGATE_SPOT", weight: 1}]`; an on-demand weight or base adds a `FARGATE` entry.
 * - `checkCluster` (default `true`): a preflight check that the worker's cluster has `FARGATE_SPOT` attached.
 * @public
 */
export const FargateSpotConfigSchema = z.strictObject({
  fallbackToOnDemand: z
    .boolean()
    .optional()
    .describe('Relaunch on on-demand FARGATE when Spot capacity is unavailable at RunTask (default true).'),
  spotWeight: z.number().int().min(0).max(1000).optional().describe('Weight of FARGATE_SPOT (default 1).'),
  onDemandWeight: z.number().int().min(0).max(1000).optional().describe('Weight of FARGATE (default 0).'),
  onDemandBase: z
    .number()
    .int()
    .min(0)
    .max(100000)
    .optional()
    .describe('Tasks placed on on-demand FARGATE first (default 0).'),
  checkCluster: z
    .boolean()
    .optional()
    .describe('Preflight: the cluster has FARGATE_SPOT attached (default true).'),
});

/** The validated `plugins.fargate-spot` section. @public */
export type FargateSpotConfig = z.output<typeof FargateSpotConfigSchema>;

/** The failure class of "Fargate Spot has no capacity" at RunTask. @public */
export const SPOT_CAPACITY_FAILURE = 'spot-capacity';

/**
 * The reason ECS gives in RunTask's `failures[]` when Fargate (Spot) has no capacity for the task
 * ("Capacity is unavailable at this time. Please try again later or in a different availability zone").
 * @public
 */
export const CAPACITY_UNAVAILABLE_REASON = 'Capacity is unavailable at this time';

/** The `FARGATE_SPOT` launch type for a config section. @public */
export function fargateSpotLaunchType(config: FargateSpotConfig = {}): LaunchType {
  const spotWeight = config.spotWeight ?? 1;
  const onDemandWeight = config.onDemandWeight ?? 0;
  const onDemandBase = config.onDemandBase ?? 0;
  if (spotWeight === 0 && onDemandWeight === 0) {
    throw new Error(
      'plugins.fargate-spot: spotWeight and onDemandWeight are both 0; ECS needs one weight above 0. Set spotWeight to 1.',
    );
  }
  const fallback = config.fallbackToOnDemand ?? true;
  return Object.freeze({
    name: 'FARGATE_SPOT',
    packageName: '@stevedore/fargate-spot',
    shapeRunTaskRequest(request: Record<string, unknown>) {
      // The reference's strategy ([{FARGATE_SPOT, weight 1}]) unless a mix is configured.
      if (spotWeight === 1 && onDemandWeight === 0 && onDemandBase === 0) return;
      const strategy: Array<Record<string, unknown>> = [];
      if (spotWeight > 0) strategy.push({ capacityProvider: 'FARGATE_SPOT', weight: spotWeight });
      if (onDemandWeight > 0 || onDemandBase > 0) {
        strategy.push({
          capacityProvider: 'FARGATE',
          weight: onDemandWeight,
          ...(onDemandBase > 0 ? { base: onDemandBase } : {}),
        });
      }
      request.capacityProviderStrategy = strategy;
    },
    classifyRunTaskFailure(failures: readonly RunTaskFailureInfo[]) {
      return failures.some((f) => (f.reason ?? '').includes(CAPACITY_UNAVAILABLE_REASON))
        ? SPOT_CAPACITY_FAILURE
        : undefined;
    },
    capacityFallback(failureClass: string) {
      return fallback && failureClass === SPOT_CAPACITY_FAILURE ? 'FARGATE' : undefined;
    },
  });
}

/**
 * Preflight: the cluster has `FARGATE_SPOT` attached as a capacity provider (else every FARGATE_SPOT RunTask fails
 * with "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the
 * cluster"). Severity `error` (the worker does not start) or `warning`.
 * @public
 */
export function fargateSpotPreflightCheck(
  cluster: string,
  describe: (cluster: string, signal: AbortSignal) => Promise<string[] | undefined>,
  /** `error` stops the worker (its default launch type is FARGATE_SPOT); `warning` only reports. */
  severity: 'error' | 'warning' = 'error',
): PreflightCheck {
  return {
    id: 'fargate-spot.cluster-capacity-provider',
    description: `Cluster '${cluster}' has FARGATE_SPOT attached as a capacity provider`,
    async run({ signal }) {
      let providers: string[] | undefined;
      try {
        providers = await describe(cluster, signal);
      } catch (e) {
        // No credentials or no network at start must not stop the worker: ECS answers RunTask precisely anyway.
        return {
          ok: false,
          severity: 'warning',
          message: `Could not describe cluster '${cluster}' to check for FARGATE_SPOT: ${(e as Error).message}`,
        };
      }
      if (providers === undefined)
        return {
          ok: false,
          severity: 'warning',
          message: `Cluster '${cluster}' was not found, so FARGATE_SPOT could not be checked. Set plugins.ecs-launcher.cluster to your cluster.`,
        };
      if (providers.includes('FARGATE_SPOT'))
        return { ok: true, message: `Cluster '${cluster}' has FARGATE_SPOT (${providers.join(', ')}).` };
      return {
        ok: false,
        severity,
        message:
          `Cluster '${cluster}' does not have FARGATE_SPOT attached as a capacity provider (it has: ${providers.join(', ') || 'none'}), so launch_type FARGATE_SPOT cannot run there. ` +
          `Attach it: aws ecs put-cluster-capacity-providers --cluster ${cluster} --capacity-providers FARGATE FARGATE_SPOT ${providers.filter((p) => p !== 'FARGATE').join(' ')} --default-capacity-provider-strategy []`,
      };
    },
  };
}

/**
 * The `fargate-spot` plugin: contributes the `FARGATE_SPOT` launch type to `@stevedore/ecs-launcher` and the
 * cluster preflight check.
 * @public
 */
export const fargateSpotPlugin = definePlugin<FargateSpotConfig>({
  id: 'fargate-spot',
  kernel: '^0.1.0',
  packageName: '@stevedore/fargate-spot',
  dependsOn: ['ecs-launcher'],
  configSchema: FargateSpotConfigSchema,
  register(r) {
    r.contribute(ecsLaunchTypeToken, { create: (_deps, config) => fargateSpotLaunchType(config ?? {}) });
    r.addPreflightCheck({
      deps: { ecs: ecsLauncherTokens.infrastructure },
      create: ({ ecs }, config) => {
        const defaults = ecs.defaultJobVariables();
        const configured = defaults.cluster;
        // Installing the plugin must not stop FARGATE-only workers: an error only when Spot is the worker's default.
        const severity = defaults.launch_type === 'FARGATE_SPOT' ? 'error' : 'warning';
        const cluster = typeof configured === 'string' && configured !== '' ? configured : 'default';
        if (config?.checkCluster === false)
          return {
            id: 'fargate-spot.cluster-capacity-provider',
            description: 'FARGATE_SPOT cluster check (disabled)',
            run: async () => ({ ok: true, message: 'Skipped: plugins.fargate-spot.checkCluster is false.' }),
          };
        return fargateSpotPreflightCheck(
          cluster,
          (c, signal) => clusterCapacityProviders(createEcsClient({}), c, signal),
          severity,
        );
      },
    });
    r.requireIamActions(['ecs:DescribeClusters']);
  },
});
