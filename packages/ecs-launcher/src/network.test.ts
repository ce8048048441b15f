import {
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  EC2ServiceException,
} from '@aws-sdk/client-ec2';
import { isStevedoreError, type JobConfiguration } from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ecsErrorCodes } from './errors.js';
import { parseEcsJobConfiguration } from './job-configuration.js';
import {
  customNetworkConfiguration,
  inferNetworkConfiguration,
  resolveNetworkConfiguration,
} from './network.js';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({ region: 'us-east-1' });
const signal = new AbortController().signal;

function vpcNotFound(id: string): EC2ServiceException {
  return new EC2ServiceException({
    name: 'InvalidVpcID.NotFound',
    $fault: 'client',
    $metadata: {},
    message: `The vpc ID '${id}' does not exist`,
  });
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof Error)) throw new Error('expected a rejection');
  return e;
}

function config(extra: Record<string, unknown> = {}) {
  const base: JobConfiguration = {
    command: null,
    env: {},
    labels: {},
    name: null,
    task_definition: { containerDefinitions: [{}] },
    task_run_request: { launchType: 'FARGATE' },
    ...extra,
  };
  return parseEcsJobConfiguration(base);
}

beforeEach(() => {
  ec2Mock.reset();
});

describe('inferNetworkConfiguration (spec §2.4 D.5)', () => {
  it('uses every subnet of the default VPC with a public IP and no security groups', async () => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-default' }] });
    ec2Mock
      .on(DescribeSubnetsCommand)
      .resolves({ Subnets: [{ SubnetId: 'subnet-a' }, { SubnetId: 'subnet-b' }] });
    await expect(inferNetworkConfiguration(ec2, null, signal)).resolves.toEqual({
      awsvpcConfiguration: {
        subnets: ['subnet-a', 'subnet-b'],
        assignPublicIp: 'ENABLED',
        securityGroups: [],
      },
    });
    expect(ec2Mock.commandCalls(DescribeVpcsCommand)[0]?.args[0].input).toEqual({
      Filters: [{ Name: 'isDefault', Values: ['true'] }],
    });
    expect(ec2Mock.commandCalls(DescribeSubnetsCommand)[0]?.args[0].input).toEqual({
      Filters: [{ Name: 'vpc-id', Values: ['vpc-default'] }],
    });
  });

  it('looks the VPC up by id when vpc_id is set', async () => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-a' }] });
    await inferNetworkConfiguration(ec2, 'vpc-1', signal);
    expect(ec2Mock.commandCalls(DescribeVpcsCommand)[0]?.args[0].input).toEqual({ VpcIds: ['vpc-1'] });
  });

  it('fails with ECS_DEFAULT_VPC_NOT_FOUND without a default VPC', async () => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [] });
    const e = await failure(inferNetworkConfiguration(ec2, null, signal));
    expect(isStevedoreError(e, ecsErrorCodes.DEFAULT_VPC_NOT_FOUND)).toBe(true);
    expect(e.message).toBe(
      'Failed to find the default VPC. Network configuration cannot be inferred. Pass an explicit `vpc_id` or configure a default VPC.',
    );
  });

  it('fails with ECS_VPC_NOT_FOUND when EC2 says the VPC does not exist', async () => {
    ec2Mock.on(DescribeVpcsCommand).rejects(vpcNotFound('vpc-missing'));
    const e = await failure(inferNetworkConfiguration(ec2, 'vpc-missing', signal));
    expect(isStevedoreError(e, ecsErrorCodes.VPC_NOT_FOUND)).toBe(true);
    expect(e.message).toMatch(
      /^Failed to find VPC with ID vpc-missing\. Network configuration cannot be inferred\./,
    );
  });

  it.each([
    [null, 'Failed to find subnets for the default VPC. Network configuration cannot be inferred.'],
    ['vpc-1', 'Failed to find subnets for VPC with ID vpc-1. Network configuration cannot be inferred.'],
  ])('fails with ECS_SUBNETS_NOT_FOUND for a VPC without subnets (vpc_id %j)', async (vpcId, message) => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [] });
    const e = await failure(inferNetworkConfiguration(ec2, vpcId, signal));
    expect(isStevedoreError(e, ecsErrorCodes.SUBNETS_NOT_FOUND)).toBe(true);
    expect(e.message.startsWith(message)).toBe(true);
  });

  it('lets other EC2 errors through', async () => {
    const denied = new EC2ServiceException({
      name: 'UnauthorizedOperation',
      $fault: 'client',
      $metadata: {},
      message: 'no',
    });
    ec2Mock.on(DescribeVpcsCommand).rejects(denied);
    await expect(inferNetworkConfiguration(ec2, null, signal)).rejects.toBe(denied);
  });
});

describe('customNetworkConfiguration', () => {
  const custom = { subnets: ['subnet-a'], securityGroups: ['sg-1'], assignPublicIp: 'DISABLED' };

  it('passes the configuration through as given when its subnets belong to the VPC', async () => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock
      .on(DescribeSubnetsCommand)
      .resolves({ Subnets: [{ SubnetId: 'subnet-a' }, { SubnetId: 'subnet-b' }] });
    await expect(customNetworkConfiguration(ec2, custom, 'vpc-1', signal)).resolves.toEqual({
      awsvpcConfiguration: custom,
    });
  });

  it('names the subnets outside the VPC (ECS_SUBNETS_NOT_IN_VPC)', async () => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-b' }] });
    const e = await failure(customNetworkConfiguration(ec2, custom, 'vpc-1', signal));
    expect(isStevedoreError(e, ecsErrorCodes.SUBNETS_NOT_IN_VPC)).toBe(true);
    expect(e.message).toMatch(/^Subnets \["subnet-a"\] not found within VPC with ID vpc-1\. Please check/);
  });

  it('fails with ECS_VPC_NOT_FOUND and ECS_SUBNETS_NOT_FOUND', async () => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [] });
    expect(
      isStevedoreError(
        await failure(customNetworkConfiguration(ec2, custom, 'vpc-1', signal)),
        ecsErrorCodes.VPC_NOT_FOUND,
      ),
    ).toBe(true);
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock.on(DescribeSubnetsCommand).resolves({});
    expect(
      isStevedoreError(
        await failure(customNetworkConfiguration(ec2, custom, 'vpc-1', signal)),
        ecsErrorCodes.SUBNETS_NOT_FOUND,
      ),
    ).toBe(true);
  });
});

describe('resolveNetworkConfiguration', () => {
  const awsvpc = { networkMode: 'awsvpc' };
  const ec2Factory = () => ec2;

  it('does nothing for non-awsvpc definitions', async () => {
    await expect(
      resolveNetworkConfiguration(ec2Factory, config(), { networkMode: 'bridge' }, signal),
    ).resolves.toBeUndefined();
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('infers when neither the request nor the configuration has a network', async () => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-a' }] });
    await expect(resolveNetworkConfiguration(ec2Factory, config(), awsvpc, signal)).resolves.toMatchObject({
      awsvpcConfiguration: { subnets: ['subnet-a'] },
    });
  });

  it('keeps a request networkConfiguration', async () => {
    const c = config({
      task_run_request: { networkConfiguration: { awsvpcConfiguration: { subnets: ['s'] } } },
    });
    await expect(resolveNetworkConfiguration(ec2Factory, c, awsvpc, signal)).resolves.toBeUndefined();
  });

  it('uses a custom network_configuration with vpc_id, over the request value', async () => {
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-1' }] });
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-a' }] });
    const c = config({
      vpc_id: 'vpc-1',
      network_configuration: { subnets: ['subnet-a'] },
      task_run_request: { networkConfiguration: { awsvpcConfiguration: { subnets: ['s'] } } },
    });
    await expect(resolveNetworkConfiguration(ec2Factory, c, awsvpc, signal)).resolves.toEqual({
      awsvpcConfiguration: { subnets: ['subnet-a'] },
    });
  });
});
