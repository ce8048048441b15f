import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeClustersCommand, ECSClient } from '@aws-sdk/client-ecs';
import { GetRoleCommand, IAMClient, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import {
  isStevedoreError,
  type Kernel,
  kernelErrorCodes,
  type PrefectApiError,
  type WorkPool,
} from '@stevedore/kernel';

/** One line of `stevedore doctor`. */
export interface DoctorResult {
  id: string;
  status: 'pass' | 'fail' | 'warn' | 'skip';
  message: string;
  /** How to fix it (failures and warnings). */
  fix?: string;
}

/** The AWS clients doctor uses; tests may pass their own. */
export interface DoctorClients {
  sts: STSClient;
  iam: IAMClient;
  ecs: ECSClient;
  ec2: EC2Client;
}

function defaultClients(region?: string): DoctorClients {
  const c = region ? { region } : {};
  return { sts: new STSClient(c), iam: new IAMClient(c), ecs: new ECSClient(c), ec2: new EC2Client(c) };
}

function awsMessage(e: unknown): string {
  const err = e as { name?: string; message?: string };
  return `${err.name ?? 'Error'}: ${err.message ?? String(e)}`;
}

/** The job variables a run gets when its deployment sets none: the pool template's defaults under the worker's. */
function effectiveDefaults(
  pool: WorkPool | undefined,
  workerDefaults: Record<string, unknown>,
): Record<string, unknown> {
  const props =
    (
      pool?.base_job_template as
        | { variables?: { properties?: Record<string, { default?: unknown }> } }
        | undefined
    )?.variables?.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) if (v && v.default !== undefined) out[k] = v.default;
  return { ...out, ...workerDefaults };
}

/** `arn:aws:sts::1:assumed-role/Name/session` → `arn:aws:iam::1:role/Name` (what SimulatePrincipalPolicy accepts). */
export function principalArn(callerArn: string): string {
  const m = /^arn:(aws[\w-]*):sts::(\d+):assumed-role\/([^/]+)\/.+$/.exec(callerArn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : callerArn;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Runs every check `stevedore doctor` makes, in order, never throwing: the Prefect API and its authentication, the
 * pool, the plugins' preflight checks, the AWS identity, the cluster and its capacity providers, the default VPC when
 * the network is inferred, the task and execution roles, and the IAM permissions the plugins declare.
 */
export async function runDoctor(
  kernel: Kernel,
  opts: { signal: AbortSignal; clients?: DoctorClients; region?: string },
): Promise<DoctorResult[]> {
  const { signal } = opts;
  const results: DoctorResult[] = [];
  const add = (r: DoctorResult) => results.push(r);
  const infra = kernel.infrastructure();

  // Prefect
  let pool: WorkPool | undefined;
  try {
    const server = await kernel.api.serverInfo({ signal });
    add({
      id: 'prefect.api',
      status: 'pass',
      message: `Prefect API ${kernel.config.apiUrl} answers (${server.isCloud ? 'Prefect Cloud' : `Prefect ${server.version}`}).`,
    });
    try {
      pool = await kernel.api.readWorkPool(kernel.config.pool, { signal });
      add({ id: 'prefect.auth', status: 'pass', message: 'The API accepts this worker’s credentials.' });
      add(
        pool.type === infra.type
          ? {
              id: 'prefect.pool',
              status: 'pass',
              message: `Work pool '${pool.name}' exists, type '${pool.type}'.`,
            }
          : {
              id: 'prefect.pool',
              status: 'fail',
              message: `Work pool '${pool.name}' is of type '${pool.type}', not '${infra.type}'.`,
              fix: `point --pool at an '${infra.type}' pool, or create one: stevedore work-pool create <name> --type ${infra.type}`,
            },
      );
    } catch (e) {
      if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) {
        add({ id: 'prefect.auth', status: 'pass', message: 'The API accepts this worker’s credentials.' });
        add(
          kernel.config.createPoolIfNotFound
            ? {
                id: 'prefect.pool',
                status: 'warn',
                message: `Work pool '${kernel.config.pool}' does not exist; the worker creates it on start.`,
                fix: `stevedore work-pool create ${kernel.config.pool} --type ${infra.type} creates it now`,
              }
            : {
                id: 'prefect.pool',
                status: 'fail',
                message: `Work pool '${kernel.config.pool}' does not exist and --no-create-pool-if-not-found is set.`,
                fix: `stevedore work-pool create ${kernel.config.pool} --type ${infra.type}`,
              },
        );
      } else {
        const status = (e as PrefectApiError).status;
        add({
          id: 'prefect.auth',
          status: 'fail',
          message: `Reading work pool '${kernel.config.pool}' failed: ${(e as Error).message}`,
          fix:
            status === 401 || status === 403
              ? 'check PREFECT_API_KEY (Prefect Cloud) or PREFECT_API_AUTH_STRING (self-hosted with basic auth)'
              : 'check the API URL and the server’s logs',
        });
      }
    }
  } catch (e) {
    add({
      id: 'prefect.api',
      status: 'fail',
      message: `Prefect API ${kernel.config.apiUrl} unreachable: ${(e as Error).message}`,
      fix: 'check PREFECT_API_URL (…/api for a self-hosted server, the workspace URL for Cloud) and the network path',
    });
  }

  // Plugin preflight checks.
  for (const r of await kernel.preflight(signal)) {
    add({
      id: r.id,
      status: r.ok ? 'pass' : r.severity === 'warning' ? 'warn' : 'fail',
      message: r.message,
    });
  }

  // AWS
  const clients = opts.clients ?? defaultClients(opts.region);
  let caller: string | undefined;
  try {
    const me = await clients.sts.send(new GetCallerIdentityCommand({}), { abortSignal: signal });
    const region = await clients.sts.config.region();
    caller = me.Arn;
    add({
      id: 'aws.identity',
      status: 'pass',
      message: `AWS credentials: ${me.Arn} (account ${me.Account}), region ${region}.`,
    });
  } catch (e) {
    add({
      id: 'aws.identity',
      status: 'fail',
      message: `AWS credentials or region: ${awsMessage(e)}`,
      fix: 'set AWS_REGION and credentials (AWS_PROFILE / --profile, or the task role in ECS), then retry',
    });
  }

  const vars = effectiveDefaults(pool, infra.defaultJobVariables?.() ?? {});
  const cluster = str(vars.cluster) ?? 'default';
  const launchType = str(vars.launch_type) ?? 'FARGATE';
  try {
    const out = await clients.ecs.send(new DescribeClustersCommand({ clusters: [cluster] }), {
      abortSignal: signal,
    });
    const found = out.clusters?.find((c) => c.status === 'ACTIVE');
    if (!found) {
      add({
        id: 'ecs.cluster',
        status: 'fail',
        message: `ECS cluster '${cluster}' not found (or not ACTIVE) in this account and region.`,
        fix: 'create it (aws ecs create-cluster) or set the cluster job variable / --cluster',
      });
    } else {
      add({ id: 'ecs.cluster', status: 'pass', message: `ECS cluster '${found.clusterName}' is ACTIVE.` });
      const providers = found.capacityProviders ?? [];
      const needed = launchType === 'FARGATE_SPOT' ? 'FARGATE_SPOT' : undefined;
      if (needed)
        add(
          providers.includes(needed)
            ? {
                id: 'ecs.capacity',
                status: 'pass',
                message: `Capacity provider ${needed} is attached to '${found.clusterName}'.`,
              }
            : {
                id: 'ecs.capacity',
                status: 'fail',
                message: `launch_type ${launchType} needs the ${needed} capacity provider, which '${found.clusterName}' does not have (attached: ${providers.join(', ') || 'none'}).`,
                fix: `aws ecs put-cluster-capacity-providers --cluster ${found.clusterName} --capacity-providers FARGATE FARGATE_SPOT --default-capacity-provider-strategy capacityProvider=FARGATE,weight=1`,
              },
        );
    }
  } catch (e) {
    add({
      id: 'ecs.cluster',
      status: 'fail',
      message: `DescribeClusters failed: ${awsMessage(e)}`,
      fix: 'allow ecs:DescribeClusters',
    });
  }

  const inferred = !vars.network_configuration && launchType !== 'EC2';
  if (inferred) {
    const vpcId = str(vars.vpc_id);
    try {
      const out = await clients.ec2.send(
        new DescribeVpcsCommand(
          vpcId ? { VpcIds: [vpcId] } : { Filters: [{ Name: 'isDefault', Values: ['true'] }] },
        ),
        { abortSignal: signal },
      );
      add(
        (out.Vpcs ?? []).length > 0
          ? {
              id: 'ec2.network',
              status: 'pass',
              message: `Network inferred from ${vpcId ? `VPC ${vpcId}` : `the default VPC ${out.Vpcs?.[0]?.VpcId}`}.`,
            }
          : {
              id: 'ec2.network',
              status: 'fail',
              message: vpcId
                ? `VPC ${vpcId} (vpc_id) not found.`
                : 'No default VPC: the network configuration cannot be inferred.',
              fix: 'set vpc_id or network_configuration in the pool or deployment job variables',
            },
      );
    } catch (e) {
      add({
        id: 'ec2.network',
        status: 'fail',
        message: `DescribeVpcs failed: ${awsMessage(e)}`,
        fix: 'allow ec2:DescribeVpcs',
      });
    }
  } else
    add({
      id: 'ec2.network',
      status: 'skip',
      message: 'Network configuration is given or not inferred (EC2).',
    });

  for (const [variable, label] of [
    ['task_role_arn', 'task role'],
    ['execution_role_arn', 'execution role'],
  ] as const) {
    const arn = str(vars[variable]);
    if (!arn) {
      add({
        id: `iam.${variable}`,
        status: 'skip',
        message: `No ${variable} set in the pool or worker defaults.`,
      });
      continue;
    }
    const name = arn.split('/').pop() ?? arn;
    try {
      await clients.iam.send(new GetRoleCommand({ RoleName: name }), { abortSignal: signal });
      add({ id: `iam.${variable}`, status: 'pass', message: `The ${label} ${arn} exists.` });
    } catch (e) {
      add({
        id: `iam.${variable}`,
        status: 'fail',
        message: `The ${label} ${arn} (${variable}): ${awsMessage(e)}`,
        fix: `create the role or fix ${variable}`,
      });
    }
  }

  const actions = [...new Set(kernel.host.iamActions().flatMap((d) => d.actions))].sort();
  if (!caller) add({ id: 'iam.permissions', status: 'skip', message: 'No AWS identity to simulate.' });
  else {
    try {
      const out = await clients.iam.send(
        new SimulatePrincipalPolicyCommand({ PolicySourceArn: principalArn(caller), ActionNames: actions }),
        { abortSignal: signal },
      );
      const denied = (out.EvaluationResults ?? [])
        .filter((r) => r.EvalDecision !== 'allowed')
        .map((r) => r.EvalActionName);
      add(
        denied.length === 0
          ? {
              id: 'iam.permissions',
              status: 'pass',
              message: `All ${actions.length} actions the plugins need are allowed.`,
            }
          : {
              id: 'iam.permissions',
              status: 'fail',
              message: `Not allowed: ${denied.join(', ')}.`,
              fix: 'stevedore iam-policy prints the policy the worker role needs',
            },
      );
    } catch (e) {
      add({
        id: 'iam.permissions',
        status: 'warn',
        message: `Permissions not simulated: ${awsMessage(e)}`,
        fix: 'allow iam:SimulatePrincipalPolicy on this principal to have doctor check them',
      });
    }
  }
  return results;
}

const MARK: Record<DoctorResult['status'], string> = {
  pass: 'PASS',
  fail: 'FAIL',
  warn: 'WARN',
  skip: 'SKIP',
};

/** One line per result (`--json`: one JSON object per line). */
export function formatDoctor(results: readonly DoctorResult[], json: boolean): string[] {
  if (json) return results.map((r) => JSON.stringify(r));
  return results.map((r) => `${MARK[r.status]}  ${r.id}: ${r.message}${r.fix ? ` — fix: ${r.fix}` : ''}`);
}
