import type { EC2Client } from '@aws-sdk/client-ec2';
import type { NetworkConfiguration } from '@aws-sdk/client-ecs';
import { type Doc, isFalsy } from './documents.js';
import { loadEc2 } from './ec2-module.js';
import { EcsError, ecsErrorCodes, isAwsError } from './errors.js';
import type { EcsJobConfiguration } from './job-configuration.js';

/**
 * DescribeVpcs, with "no such VPC" as an empty answer. EC2 answers `VpcIds=[missing]` with
 * `InvalidVpcID.NotFound` rather than an empty list, which the reference lets escape as a raw boto error.
 */
async function findVpcs(ec2: EC2Client, vpcId: string | null, signal: AbortSignal): Promise<string[]> {
  try {
    const out = await ec2.send(
      new (loadEc2().DescribeVpcsCommand)(
        vpcId ? { VpcIds: [vpcId] } : { Filters: [{ Name: 'isDefault', Values: ['true'] }] },
      ),
      { abortSignal: signal },
    );
    return (out.Vpcs ?? []).map((v) => v.VpcId).filter((id): id is string => typeof id === 'string');
  } catch (e) {
    signal.throwIfAborted();
    if (isAwsError(e, 'InvalidVpcID.NotFound') || isAwsError(e, 'InvalidVpcID.Malformed')) return [];
    throw e;
  }
}

async function subnetsOf(ec2: EC2Client, vpcId: string, signal: AbortSignal): Promise<string[]> {
  const out = await ec2.send(
    new (loadEc2().DescribeSubnetsCommand)({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
    {
      abortSignal: signal,
    },
  );
  return (out.Subnets ?? []).map((s) => s.SubnetId).filter((id): id is string => typeof id === 'string');
}

/**
 * Infers the awsvpc network from the default VPC, or from `vpcId` (spec §2.4 D.5, `_load_network_configuration`):
 * every subnet of the VPC, `assignPublicIp: ENABLED` (so tasks in public subnets can pull images without a NAT),
 * and no security groups (ECS then uses the VPC's default group).
 *
 * @throws `ECS_DEFAULT_VPC_NOT_FOUND`, `ECS_VPC_NOT_FOUND`, `ECS_SUBNETS_NOT_FOUND`
 * @public
 */
export async function inferNetworkConfiguration(
  ec2: EC2Client,
  vpcId: string | null,
  signal: AbortSignal,
): Promise<NetworkConfiguration> {
  const [vpc] = await findVpcs(ec2, vpcId, signal);
  if (vpc === undefined) {
    throw vpcId
      ? new EcsError(
          ecsErrorCodes.VPC_NOT_FOUND,
          `Failed to find VPC with ID ${vpcId}. Network configuration cannot be inferred. Check that the VPC exists in the current region, or fix the vpc_id job variable.`,
          { details: { vpcId } },
        )
      : new EcsError(
          ecsErrorCodes.DEFAULT_VPC_NOT_FOUND,
          'Failed to find the default VPC. Network configuration cannot be inferred. Pass an explicit `vpc_id` or configure a default VPC.',
        );
  }
  const subnets = await subnetsOf(ec2, vpc, signal);
  if (subnets.length === 0) {
    throw new EcsError(
      ecsErrorCodes.SUBNETS_NOT_FOUND,
      `Failed to find subnets for ${vpcId ? `VPC with ID ${vpcId}` : 'the default VPC'}. Network configuration cannot be inferred. Create a subnet in it, or set vpc_id to a VPC that has subnets.`,
      { details: { vpcId: vpc } },
    );
  }
  return { awsvpcConfiguration: { subnets, assignPublicIp: 'ENABLED', securityGroups: [] } };
}

/**
 * Uses the custom `network_configuration` as the `awsvpcConfiguration`, after checking its subnets belong to
 * `vpcId` (spec §2.4 D.5, `_custom_network_configuration`). Keys are passed through as given.
 *
 * @throws `ECS_VPC_NOT_FOUND`, `ECS_SUBNETS_NOT_FOUND`, `ECS_SUBNETS_NOT_IN_VPC`
 * @public
 */
export async function customNetworkConfiguration(
  ec2: EC2Client,
  networkConfiguration: Doc,
  vpcId: string,
  signal: AbortSignal,
): Promise<NetworkConfiguration> {
  const [vpc] = await findVpcs(ec2, vpcId, signal);
  if (vpc === undefined) {
    throw new EcsError(
      ecsErrorCodes.VPC_NOT_FOUND,
      `Failed to find VPC with ID ${vpcId}. Network configuration cannot be inferred. Pass an explicit \`vpc_id\` that exists in the current region.`,
      { details: { vpcId } },
    );
  }
  const vpcSubnets = await subnetsOf(ec2, vpc, signal);
  if (vpcSubnets.length === 0) {
    throw new EcsError(
      ecsErrorCodes.SUBNETS_NOT_FOUND,
      `Failed to find subnets for VPC with ID ${vpcId}. Network configuration cannot be inferred.`,
      { details: { vpcId } },
    );
  }
  const wanted = Array.isArray(networkConfiguration.subnets) ? networkConfiguration.subnets.map(String) : [];
  const outside = wanted.filter((s) => !vpcSubnets.includes(s));
  if (outside.length > 0) {
    throw new EcsError(
      ecsErrorCodes.SUBNETS_NOT_IN_VPC,
      `Subnets ${JSON.stringify(outside)} not found within VPC with ID ${vpcId}. Please check that VPC is associated with supplied subnets: fix network_configuration.subnets or vpc_id.`,
      { details: { vpcId, subnets: outside } },
    );
  }
  // The user's awsvpcConfiguration body, as given (the reference passes it through unchecked beyond subnets).
  return {
    awsvpcConfiguration: networkConfiguration as unknown as NetworkConfiguration['awsvpcConfiguration'],
  };
}

/**
 * Decides the RunTask `networkConfiguration` (spec §2.4 D.5). Only for `awsvpc` task definitions:
 * - no `networkConfiguration` in the request and no custom `network_configuration` → inferred;
 * - a custom `network_configuration` with `vpc_id` → the custom one (replacing any request value);
 * - otherwise `undefined`: keep whatever the request has.
 *
 * @param ec2 called only when EC2 is needed.
 * @public
 */
export async function resolveNetworkConfiguration(
  ec2: () => EC2Client,
  config: EcsJobConfiguration,
  taskDefinition: Doc,
  signal: AbortSignal,
): Promise<NetworkConfiguration | undefined> {
  if (taskDefinition.networkMode !== 'awsvpc') return undefined;
  const custom = !isFalsy(config.network_configuration);
  if (isFalsy(config.task_run_request.networkConfiguration) && !custom) {
    return inferNetworkConfiguration(ec2(), config.vpc_id, signal);
  }
  if (custom && config.vpc_id)
    return customNetworkConfiguration(ec2(), config.network_configuration, config.vpc_id, signal);
  return undefined;
}
