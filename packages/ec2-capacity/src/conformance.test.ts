import { launchTypeConformance } from '@stevedore/ecs-launcher/testing';
import { ec2LaunchType } from './plugin.js';

launchTypeConformance('EC2', {
  make: () => ec2LaunchType(),
  capacityFailures: [
    [{ reason: 'RESOURCE:MEMORY', arn: 'arn:aws:ecs:us-east-1:123456789012:container-instance/c/1' }],
    [{ reason: 'RESOURCE:CPU' }],
    [{ reason: 'No Container Instances were found in your cluster.' }],
  ],
});
