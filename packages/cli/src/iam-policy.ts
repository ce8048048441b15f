import { createKernel } from '@stevedore/kernel';
import type { CliIo } from './main.js';
import { DEFAULT_PLUGINS, loadPluginPackage } from './plugins.js';

/** Options of `stevedore iam-policy`. */
export interface IamPolicyOptions {
  cluster?: string;
  region?: string;
  account?: string;
  taskRoleArn?: string[];
  executionRoleArn?: string[];
  secretArn?: string[];
  logGroup?: string;
  json?: boolean;
  plugin?: string[];
  defaultPlugins?: boolean;
}

interface Statement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Statement[];
}

/** ECS actions that accept the `ecs:cluster` condition key (the Service Authorization Reference). */
const CLUSTER_SCOPED = new Set([
  'ecs:RunTask',
  'ecs:StopTask',
  'ecs:DescribeTasks',
  'ecs:ListTasks',
  'ecs:DescribeClusters',
]);

function clusterArn(cluster: string, region: string, account: string): string {
  return cluster.startsWith('arn:') ? cluster : `arn:aws:ecs:${region}:${account}:cluster/${cluster}`;
}

function sid(text: string): string {
  return text
    .replace(/(^|[^a-zA-Z0-9])([a-zA-Z0-9])/g, (_m, _s, c: string) => c.toUpperCase())
    .replace(/[^a-zA-Z0-9]/g, '');
}

/**
 * The worker role's policy, from the actions each active plugin declares (`requireIamActions`), narrowed where AWS
 * allows: cluster-scoped ECS actions to the cluster, `ecs:TagResource` to tag-on-create, `iam:PassRole` to the roles
 * handed to ECS (or, without them, to any role passed to `ecs-tasks.amazonaws.com`).
 */
export function workerRolePolicy(
  declared: ReadonlyArray<{ plugin: string; actions: readonly string[] }>,
  opts: IamPolicyOptions,
): PolicyDocument {
  const region = opts.region ?? '*';
  const account = opts.account ?? '*';
  const all = new Map<string, Set<string>>();
  for (const { plugin, actions } of declared)
    for (const a of actions) all.set(a, (all.get(a) ?? new Set()).add(plugin));
  const statements: Statement[] = [];
  const take = (pred: (a: string) => boolean) => [...all.keys()].filter(pred).sort();
  const clusterActions = take((a) => CLUSTER_SCOPED.has(a));
  const passRole = take((a) => a === 'iam:PassRole');
  const tag = take((a) => a === 'ecs:TagResource');
  const rest = take((a) => !CLUSTER_SCOPED.has(a) && a !== 'iam:PassRole' && a !== 'ecs:TagResource');
  if (clusterActions.length > 0) {
    statements.push({
      Sid: 'EcsTasksInTheCluster',
      Effect: 'Allow',
      Action: clusterActions,
      Resource: '*',
      ...(opts.cluster
        ? { Condition: { ArnEquals: { 'ecs:cluster': clusterArn(opts.cluster, region, account) } } }
        : {}),
    });
  }
  if (tag.length > 0) {
    statements.push({
      Sid: 'EcsTagOnCreate',
      Effect: 'Allow',
      Action: tag,
      Resource: '*',
      Condition: { StringEquals: { 'ecs:CreateAction': ['RunTask', 'RegisterTaskDefinition'] } },
    });
  }
  // Grouped by service so each statement stays readable.
  const byService = new Map<string, string[]>();
  for (const a of rest) {
    const svc = a.split(':')[0] ?? a;
    byService.set(svc, [...(byService.get(svc) ?? []), a]);
  }
  for (const [svc, actions] of byService) {
    const plugins = [...new Set(actions.flatMap((a) => [...(all.get(a) ?? [])]))].sort();
    statements.push({
      Sid: sid(`${svc} ${plugins.join(' ')}`),
      Effect: 'Allow',
      Action: actions,
      Resource: '*',
    });
  }
  if (passRole.length > 0) {
    const roles = [...(opts.taskRoleArn ?? []), ...(opts.executionRoleArn ?? [])];
    statements.push({
      Sid: 'PassRolesToEcsTasks',
      Effect: 'Allow',
      Action: passRole,
      Resource: roles.length > 0 ? roles : '*',
      Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

/**
 * The execution role of the flow-run tasks: what ECS itself needs to start them — pull the image (ECR), write the
 * awslogs stream (and create the group when `configure_cloudwatch_logs` does), and read the secrets the task
 * definition references (`prefect_api_key_secret_arn`, `prefect_api_auth_string_secret_arn`). It is the
 * AmazonECSTaskExecutionRolePolicy narrowed to what Stevedore's task definitions use.
 */
export function executionRolePolicy(opts: IamPolicyOptions): PolicyDocument {
  const region = opts.region ?? '*';
  const account = opts.account ?? '*';
  const group = opts.logGroup ?? 'prefect';
  const statements: Statement[] = [
    { Sid: 'EcrAuth', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
    {
      Sid: 'EcrPull',
      Effect: 'Allow',
      Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
      Resource: `arn:aws:ecr:${region}:${account}:repository/*`,
    },
    {
      Sid: 'AwslogsStreams',
      Effect: 'Allow',
      Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: [
        `arn:aws:logs:${region}:${account}:log-group:${group}`,
        `arn:aws:logs:${region}:${account}:log-group:${group}:*`,
      ],
    },
  ];
  if ((opts.secretArn ?? []).length > 0) {
    statements.push({
      Sid: 'PrefectApiSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: opts.secretArn ?? [],
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

/** `stevedore iam-policy`: prints both policies (text: two labelled JSON documents; `--json`: one object). */
export async function iamPolicyCommand(opts: IamPolicyOptions, io: CliIo): Promise<number> {
  const plugins = [...(opts.defaultPlugins === false ? [] : DEFAULT_PLUGINS)];
  for (const pkg of opts.plugin ?? []) plugins.push(...(await loadPluginPackage(pkg, io.cwd)));
  // Only the plugin graph is needed: the kernel does no I/O until it runs.
  const kernel = createKernel({ plugins, config: { apiUrl: 'http://127.0.0.1/api', pool: 'iam-policy' } });
  const declared = kernel.host.iamActions();
  const worker = workerRolePolicy(declared, opts);
  const execution = executionRolePolicy(opts);
  if (opts.json) {
    io.out(JSON.stringify({ workerRole: worker, executionRole: execution }));
    return 0;
  }
  io.out(
    `# Worker role: the task role of the Stevedore worker service (plugins: ${declared.map((d) => d.plugin).join(', ') || 'none'})`,
  );
  io.out(JSON.stringify(worker, null, 2));
  io.out('');
  io.out(
    '# Execution role of the flow-run tasks (job variable execution_role_arn): what ECS needs to start them',
  );
  io.out(JSON.stringify(execution, null, 2));
  const missing: string[] = [];
  if (!opts.cluster)
    missing.push('--cluster (narrows RunTask/StopTask/DescribeTasks/ListTasks to one cluster)');
  if (!opts.taskRoleArn && !opts.executionRoleArn)
    missing.push('--task-role-arn / --execution-role-arn (narrow iam:PassRole to those roles)');
  if (!opts.secretArn) missing.push('--secret-arn (when PREFECT_API_KEY comes from Secrets Manager)');
  if (!opts.region || !opts.account) missing.push('--region and --account (replace the * in ARNs)');
  if (missing.length > 0) {
    io.out('');
    io.out(`# Narrower with: ${missing.join('; ')}.`);
  }
  return 0;
}
