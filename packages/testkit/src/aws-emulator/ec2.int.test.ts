import {
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AwsEmulator, awsClientConfig, startAwsEmulator } from './index.js';

let aws: AwsEmulator;
let ec2: EC2Client;

beforeEach(async () => {
  aws = await startAwsEmulator({ seed: 3 });
  ec2 = new EC2Client(awsClientConfig(aws));
});

afterEach(async () => {
  expect(aws.schemaErrors()).toEqual([]);
  ec2.destroy();
  await aws.stop();
});

describe('EC2 (query protocol, parsed by the real EC2Client)', () => {
  it('finds the default VPC, its subnets and its default security group', async () => {
    const vpcs = await ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'isDefault', Values: ['true'] }] }),
    );
    expect(vpcs.Vpcs).toHaveLength(1);
    const vpc = vpcs.Vpcs?.[0];
    expect(vpc).toMatchObject({
      IsDefault: true,
      State: 'available',
      CidrBlock: '172.31.0.0/16',
      OwnerId: aws.accountId,
    });
    expect(vpc?.CidrBlockAssociationSet?.[0]?.CidrBlockState?.State).toBe('associated');
    const vpcId = vpc?.VpcId ?? '';
    expect(vpcId).toBe(aws.ec2.defaultVpcId());

    const subnets = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
    );
    expect(subnets.Subnets).toHaveLength(2);
    expect(subnets.Subnets?.map((s) => s.AvailabilityZone)).toEqual(['us-east-1a', 'us-east-1b']);
    expect(subnets.Subnets?.every((s) => s.MapPublicIpOnLaunch === true && s.DefaultForAz === true)).toBe(
      true,
    );
    expect(subnets.Subnets?.[0]?.AvailableIpAddressCount).toBe(4091);

    const groups = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-name', Values: ['default'] },
        ],
      }),
    );
    expect(groups.SecurityGroups).toHaveLength(1);
    expect(groups.SecurityGroups?.[0]).toMatchObject({ GroupName: 'default', VpcId: vpcId });
    expect(groups.SecurityGroups?.[0]?.IpPermissionsEgress?.[0]?.IpRanges?.[0]?.CidrIp).toBe('0.0.0.0/0');
  });

  it('seeds resources with given ids only when EC2 would accept them in a lookup', async () => {
    const vpc = aws.ec2.seedVpc({ vpcId: 'vpc-0c0ffee0c0ffee000' });
    aws.ec2.seedSubnet({ vpcId: vpc.VpcId, subnetId: 'subnet-0123abcd' });
    const byId = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: ['subnet-0123abcd'] }));
    expect(byId.Subnets?.[0]?.VpcId).toBe('vpc-0c0ffee0c0ffee000');
    expect(() => aws.ec2.seedVpc({ vpcId: 'vpc-custom' })).toThrow(/Cannot seed a VPC 'vpc-custom'/);
    expect(() => aws.ec2.seedSubnet({ vpcId: vpc.VpcId, subnetId: 'subnet-Z' })).toThrow(/hex digits/);
    expect(() => aws.ec2.seedSecurityGroup({ vpcId: vpc.VpcId, groupId: 'sg-x', groupName: 'g' })).toThrow(
      /Cannot seed a security group/,
    );
  });

  it('looks up seeded resources by id and filters, with tags and wildcards', async () => {
    const vpc = aws.ec2.seedVpc({ cidrBlock: '10.1.0.0/16', tags: [{ Key: 'Name', Value: 'work' }] });
    const a = aws.ec2.seedSubnet({
      vpcId: vpc.VpcId,
      availabilityZone: 'us-east-1c',
      mapPublicIpOnLaunch: false,
    });
    aws.ec2.seedSubnet({ vpcId: vpc.VpcId, availabilityZone: 'us-east-1d' });
    const sg = aws.ec2.seedSecurityGroup({ vpcId: vpc.VpcId, groupName: 'flows', description: 'flow runs' });

    const byId = await ec2.send(new DescribeVpcsCommand({ VpcIds: [vpc.VpcId] }));
    expect(byId.Vpcs?.[0]?.Tags).toEqual([{ Key: 'Name', Value: 'work' }]);
    const byTag = await ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: ['wo*'] }] }),
    );
    expect(byTag.Vpcs?.map((v) => v.VpcId)).toEqual([vpc.VpcId]);

    const one = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [a.SubnetId] }));
    expect(one.Subnets?.[0]).toMatchObject({
      SubnetId: a.SubnetId,
      MapPublicIpOnLaunch: false,
      VpcId: vpc.VpcId,
    });
    const notDefault = await ec2.send(
      new DescribeSubnetsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpc.VpcId] },
          { Name: 'default-for-az', Values: ['false'] },
        ],
      }),
    );
    expect(notDefault.Subnets).toHaveLength(2);

    const groups = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg.GroupId] }));
    expect(groups.SecurityGroups?.[0]).toMatchObject({ GroupName: 'flows', Description: 'flow runs' });

    const paged = await ec2.send(new DescribeSubnetsCommand({ MaxResults: 5 }));
    expect(paged.Subnets).toHaveLength(4);
    expect(paged.NextToken).toBeUndefined();
  });

  it('answers EC2 errors in the query protocol XML', async () => {
    await expect(
      ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-0123456789abcdef0'] })),
    ).rejects.toMatchObject({
      name: 'InvalidVpcID.NotFound',
      message: "The vpc ID 'vpc-0123456789abcdef0' does not exist",
      $metadata: { httpStatusCode: 400 },
    });
    await expect(
      ec2.send(new DescribeSubnetsCommand({ SubnetIds: ['subnet-0123456789abcdef0'] })),
    ).rejects.toMatchObject({
      name: 'InvalidSubnetID.NotFound',
    });
    await expect(
      ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-0123456789abcdef0'] })),
    ).rejects.toMatchObject({
      name: 'InvalidGroup.NotFound',
    });
    await expect(
      ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'bogus', Values: ['x'] }] })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: "The filter 'bogus' is invalid",
    });
    await expect(ec2.send(new DescribeVpcsCommand({ DryRun: true }))).rejects.toMatchObject({
      name: 'DryRunOperation',
    });
  });

  it('models an account without a default VPC', async () => {
    aws.ec2.removeDefaultVpc();
    const vpcs = await ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'isDefault', Values: ['true'] }] }),
    );
    expect(vpcs.Vpcs).toEqual([]);
    expect(aws.ec2.defaultVpcId()).toBeNull();
    expect(aws.ec2.subnets()).toEqual([]);
  });

  it('rejects unknown query parameters and malformed values like EC2', async () => {
    const post = (body: string) =>
      fetch(aws.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body,
      });
    const unknown = await post('Action=DescribeVpcs&Version=2016-11-15&Bogus=1');
    expect(unknown.status).toBe(400);
    const text = await unknown.text();
    expect(text).toContain('<Code>UnknownParameter</Code>');
    expect(text).toMatch(
      /<Response><Errors><Error><Code>UnknownParameter<\/Code><Message>The parameter Bogus is not recognized<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>/,
    );
    const badInt = await post('Action=DescribeVpcs&Version=2016-11-15&MaxResults=many');
    expect(await badInt.text()).toContain('<Code>InvalidParameterValue</Code>');
    const badAction = await post('Action=LaunchRockets&Version=2016-11-15');
    expect(await badAction.text()).toContain('<Code>InvalidAction</Code>');
  });
});
