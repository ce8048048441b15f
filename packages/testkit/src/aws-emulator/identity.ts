import type { ModelObject } from './types.js';
import { AwsError } from './util.js';

/** An IAM role as the emulator keeps it. @public */
export interface IamRoleRecord {
  RoleName: string;
  RoleId: string;
  Arn: string;
  Path: string;
  CreateDate: Date;
  AssumeRolePolicyDocument: string;
  MaxSessionDuration: number;
}

/**
 * STS and IAM, as much as `stevedore doctor` needs: GetCallerIdentity, GetRole and SimulatePrincipalPolicy.
 * Every action is allowed unless a test denies it (`deny`); the caller may be made unable to simulate
 * (`simulation: 'denied'`, as for principals without iam:SimulatePrincipalPolicy) or to authenticate at all
 * (`credentials: 'invalid'`, STS's InvalidClientTokenId).
 */
export class IdentityStore {
  readonly roles = new Map<string, IamRoleRecord>();
  readonly denied = new Set<string>();
  simulation: 'allowed' | 'denied' = 'allowed';
  credentials: 'valid' | 'invalid' = 'valid';
  readonly callerArn: string;
  private seq = 0;

  constructor(private readonly accountId: string) {
    this.callerArn = `arn:aws:iam::${accountId}:user/stevedore`;
  }

  seedRole(name: string, path = '/'): IamRoleRecord {
    this.seq += 1;
    const role: IamRoleRecord = {
      RoleName: name,
      RoleId: `AROA${String(this.seq).padStart(17, '0')}`,
      Arn: `arn:aws:iam::${this.accountId}:role${path}${name}`,
      Path: path,
      CreateDate: new Date(Date.UTC(2026, 0, 1)),
      AssumeRolePolicyDocument: encodeURIComponent(
        JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        }),
      ),
      MaxSessionDuration: 3600,
    };
    this.roles.set(name, role);
    return role;
  }

  private authenticate(): void {
    if (this.credentials === 'invalid')
      throw new AwsError(
        'InvalidClientTokenId',
        'The security token included in the request is invalid.',
        403,
      );
  }

  stsHandlers(): Record<string, (input: ModelObject) => ModelObject> {
    return {
      GetCallerIdentity: () => {
        this.authenticate();
        return { UserId: 'AIDAEXAMPLEUSERID0001', Account: this.accountId, Arn: this.callerArn };
      },
    };
  }

  iamHandlers(): Record<string, (input: ModelObject) => ModelObject> {
    return {
      GetRole: (input) => {
        this.authenticate();
        const name = String(input.RoleName ?? '');
        const role = this.roles.get(name);
        if (!role) throw new AwsError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404);
        return { Role: { ...role } };
      },
      SimulatePrincipalPolicy: (input) => {
        this.authenticate();
        if (this.simulation === 'denied')
          throw new AwsError(
            'AccessDenied',
            `User: ${this.callerArn} is not authorized to perform: iam:SimulatePrincipalPolicy on resource: ${String(input.PolicySourceArn)}`,
            403,
          );
        const actions = (input.ActionNames as string[] | undefined) ?? [];
        const resources = (input.ResourceArns as string[] | undefined) ?? ['*'];
        return {
          EvaluationResults: actions.flatMap((action) =>
            resources.map((resource) => ({
              EvalActionName: action,
              EvalResourceName: resource,
              EvalDecision: this.denied.has(action) ? 'implicitDeny' : 'allowed',
              MatchedStatements: [],
              MissingContextValues: [],
            })),
          ),
          IsTruncated: false,
        };
      },
    };
  }
}
