import { isStevedoreError } from '@stevedore/kernel';
import { describe, expect, it } from 'vitest';
import { FARGATE_LAUNCH_TYPE, LaunchTypes, selectedLaunchType } from './launch-type.js';

describe('selectedLaunchType', () => {
  it('takes the request’s launch type, else EC2 for EC2 definitions, else FARGATE', () => {
    expect(selectedLaunchType({ launchType: 'FARGATE_SPOT' }, {})).toBe('FARGATE_SPOT');
    expect(selectedLaunchType({ launchType: null }, { requiresCompatibilities: ['EC2'] })).toBe('EC2');
    expect(selectedLaunchType({ launchType: '' }, {})).toBe('FARGATE');
    expect(selectedLaunchType({}, { requiresCompatibilities: ['FARGATE'] })).toBe('FARGATE');
  });
  it('selects none for EXTERNAL and for a user strategy without a launch type (ECS decides)', () => {
    expect(selectedLaunchType({ launchType: 'EXTERNAL' }, {})).toBeUndefined();
    expect(
      selectedLaunchType({ capacityProviderStrategy: [{ capacityProvider: 'my-asg', weight: 1 }] }, {}),
    ).toBeUndefined();
  });
});

describe('LaunchTypes', () => {
  it('has FARGATE built in and lists contributed ones', () => {
    const types = new LaunchTypes([{ name: 'FARGATE_SPOT', packageName: '@stevedore/fargate-spot' }]);
    expect(types.names()).toEqual(['FARGATE', 'FARGATE_SPOT']);
    expect(types.select({}, {})).toBe(FARGATE_LAUNCH_TYPE);
    expect(types.select({ launchType: 'FARGATE_SPOT' }, {})?.packageName).toBe('@stevedore/fargate-spot');
  });
  it('names the package to add for a first-party launch type nobody provides', () => {
    const types = new LaunchTypes();
    let error: unknown;
    try {
      types.select({ launchType: 'EC2' }, {});
    } catch (e) {
      error = e;
    }
    expect(isStevedoreError(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'ECS_LAUNCH_TYPE_UNAVAILABLE',
      message: "No launch type 'EC2'. Active: FARGATE. Add @stevedore/ec2-capacity.",
    });
    expect(() => types.select({}, { requiresCompatibilities: ['EC2'] })).toThrow(
      "No launch type 'EC2'. Active: FARGATE. Add @stevedore/ec2-capacity.",
    );
    expect(() => types.select({ launchType: 'FARGATE_SPOT' }, {})).toThrow('Add @stevedore/fargate-spot.');
    expect(() => types.select({ launchType: 'WEIRD' }, {})).toThrow(
      "No launch type 'WEIRD'. Active: FARGATE. Set the launch_type job variable to an active one.",
    );
  });
  it('open: accepts any launch type (embedding without plugin wiring), with no hooks', () => {
    const types = LaunchTypes.open();
    expect(types.select({ launchType: 'EC2' }, {})).toBeUndefined();
    expect(types.select({}, {})).toBe(FARGATE_LAUNCH_TYPE);
  });
});
