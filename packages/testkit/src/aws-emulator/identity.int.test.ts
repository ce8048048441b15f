import { GetRoleCommand, IAMClient, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, describe, expect, it } from 'vitest';
import { awsClientConfig, startAwsEmulator } from './index.js';
import type { AwsEmulator } from './types.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function emulator(): Promise<AwsEmulator> {
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  cleanups.push(() => aws.stop());
  return aws;
}

describe('STS and IAM emulation (query protocol)', () => {
  it('answers GetCallerIdentity, GetRole and SimulatePrincipalPolicy through the real SDK clients', async () => {
    const aws = await emulator();
    const config = awsClientConfig(aws);
    const sts = new STSClient(config);
    const iam = new IAMClient(config);
    const me = await sts.send(new GetCallerIdentityCommand({}));
    expect(me).toMatchObject({ Account: aws.accountId, Arn: aws.identity.callerArn });
    const arn = aws.identity.seedRole('flow-task');
    const role = await iam.send(new GetRoleCommand({ RoleName: 'flow-task' }));
    expect(role.Role?.Arn).toBe(arn);
    expect(role.Role?.CreateDate).toBeInstanceOf(Date);
    await expect(iam.send(new GetRoleCommand({ RoleName: 'nope' }))).rejects.toMatchObject({
      name: 'NoSuchEntityException',
      message: 'The role with name nope cannot be found.',
    });
    aws.identity.deny(['ecs:RunTask']);
    const sim = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: aws.identity.callerArn,
        ActionNames: ['ecs:RunTask', 'ecs:StopTask'],
      }),
    );
    expect(sim.EvaluationResults?.map((r) => [r.EvalActionName, r.EvalDecision])).toEqual([
      ['ecs:RunTask', 'implicitDeny'],
      ['ecs:StopTask', 'allowed'],
    ]);
    aws.identity.setSimulation('denied');
    await expect(
      iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: 'x', ActionNames: ['ecs:RunTask'] })),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    aws.identity.setCredentials('invalid');
    await expect(sts.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
    });
    expect(aws.schemaErrors()).toEqual([]);
    sts.destroy();
    iam.destroy();
  });
});
