import { launchTypeConformance } from '@stevedore/ecs-launcher/testing';
import { fargateSpotLaunchType } from './plugin.js';

const capacityFailures = [
  [
    {
      reason:
        'Capacity is unavailable at this time. Please try again later or in a different availability zone',
    },
  ],
];
launchTypeConformance('FARGATE_SPOT (defaults)', { make: () => fargateSpotLaunchType(), capacityFailures });
launchTypeConformance('FARGATE_SPOT (mix, no fallback)', {
  make: () =>
    fargateSpotLaunchType({ spotWeight: 2, onDemandWeight: 1, onDemandBase: 1, fallbackToOnDemand: false }),
  capacityFailures,
});
