import { LaunchTypes } from '@stevedore/ecs-launcher';
import { describe, expect, it } from 'vitest';
import { EC2_CAPACITY_FAILURE, ec2LaunchType } from './plugin.js';

describe('EC2 launch type', () => {
  it('is selected for launch_type EC2 and for an EC2 definition without a launch type', () => {
    const types = new LaunchTypes([ec2LaunchType()]);
    expect(types.names()).toEqual(['EC2', 'FARGATE']);
    expect(types.select({ launchType: 'EC2' }, {})?.packageName).toBe('@stevedore/ec2-capacity');
    expect(types.select({ launchType: null }, { requiresCompatibilities: ['EC2'] })?.name).toBe('EC2');
  });
  it('classifies ECS’s capacity reasons, and only those', () => {
    const ec2 = ec2LaunchType();
    for (const reason of [
      'RESOURCE:MEMORY',
      'RESOURCE:CPU',
      'RESOURCE:GPU',
      'MemberOf',
      'No Container Instances were found',
    ])
      expect(ec2.classifyRunTaskFailure?.([{ reason }])).toBe(EC2_CAPACITY_FAILURE);
    expect(
      ec2.classifyRunTaskFailure?.([{ reason: 'RESOURCE:MEMORY' }, { reason: 'AGENT' }]),
    ).toBeUndefined();
    expect(ec2.classifyRunTaskFailure?.([{ reason: 'AGENT' }])).toBeUndefined();
    expect(ec2.classifyRunTaskFailure?.([])).toBeUndefined();
  });
  it('has no fallback rung yet: an EC2 capacity failure ends with ECS’s message', () => {
    expect(ec2LaunchType().capacityFallback).toBeUndefined();
  });
});
