/**
 * Golden payloads: ten job-variable sets rendered through the real `ecs` base job template (the kernel's
 * `mergeJobVariables` → `renderJobConfiguration` → `prepareForFlowRun`, as its job builder runs them) and submitted
 * through {@link EcsInfrastructure}; the RegisterTaskDefinition and RunTask inputs must equal `golden/*.json`.
 *
 * The golden files hold what prefect-aws sends, derived by hand from the rules of spec §2.4 (and §1.6/§1.7 for the
 * job configuration) — never captured from this package's output. Where Stevedore deliberately sends something else,
 * {@link deliberateDifferences} rewrites the reference payload, each rewrite citing the spec and the README.
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  DescribeSubnetsCommand,
  type DescribeSubnetsCommandInput,
  DescribeVpcsCommand,
  type DescribeVpcsCommandInput,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  ClientException,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  RunTaskCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EcsInfrastructure } from './ecs-infrastructure.js';
import { fixedWorldJob } from './testing/index.js';

type Json = Record<string, unknown>;

interface Golden {
  description: string;
  spec: string;
  jobVariables: { deployment: Json; flowRun: Json };
  registerTaskDefinition: Json;
  runTask: Json;
  identifier: string;
}

const GOLDEN_DIR = new URL('./golden/', import.meta.url);
const goldens: Array<[string, Golden]> = readdirSync(GOLDEN_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(new URL(f, GOLDEN_DIR), 'utf8')) as Golden]);

// ------------------------------------------------------------------------------------------ the fixed world
// `fixedWorldJob` (`@stevedore/ecs-launcher/testing`): pool `ecs-pool`, flow `etl`, deployment `nightly`, flow run
// a7000000-…-000000000004, Prefect 3.4.11. The worker's environment carries an API key (see 08-secrets).

const workerEnv = {
  PREFECT_API_URL: 'https://prefect.example.com/api',
  PREFECT_API_KEY: 'pnu_golden0123456789abcdef',
};

/** What ECS answers: the registered ARN (fixed, so the RunTask must carry exactly the answered one), a task. */
const TD_ARN = 'arn:aws:ecs:us-east-1:123456789012:task-definition/golden:7';
const TASK_ARN = 'arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef';
const DEFAULT_CLUSTER_ARN = 'arn:aws:ecs:us-east-1:123456789012:cluster/default';
const SUBNETS: Record<string, string[]> = {
  'vpc-0a1b2c3d4e5f60718': ['subnet-0aaa1111aaaa1111a', 'subnet-0bbb2222bbbb2222b'],
  'vpc-0c0ffee0c0ffee000': ['subnet-0ccc3333cccc3333c', 'subnet-0ddd4444dddd4444d'],
};

const ecsMock = mockClient(ECSClient);
const ec2Mock = mockClient(EC2Client);

beforeEach(() => {
  ecsMock.reset();
  ec2Mock.reset();
  // A first run: the family has no revision yet.
  ecsMock
    .on(DescribeTaskDefinitionCommand)
    .rejects(new ClientException({ message: 'Unable to describe task definition.', $metadata: {} }));
  ecsMock.on(RegisterTaskDefinitionCommand).callsFake((input: RegisterTaskDefinitionCommandInput) => {
    const { tags, ...definition } = input;
    return {
      taskDefinition: { ...definition, taskDefinitionArn: TD_ARN, revision: 7, status: 'ACTIVE' },
      tags,
    };
  });
  ecsMock.on(RunTaskCommand).resolves({
    tasks: [{ taskArn: TASK_ARN, clusterArn: DEFAULT_CLUSTER_ARN, lastStatus: 'PROVISIONING' }],
    failures: [],
  });
  ec2Mock.on(DescribeVpcsCommand).callsFake((input: DescribeVpcsCommandInput) => {
    const wanted = input.VpcIds ?? ['vpc-0a1b2c3d4e5f60718'];
    return { Vpcs: wanted.filter((id) => id in SUBNETS).map((VpcId) => ({ VpcId })) };
  });
  ec2Mock.on(DescribeSubnetsCommand).callsFake((input: DescribeSubnetsCommandInput) => {
    const vpc = input.Filters?.find((f) => f.Name === 'vpc-id')?.Values?.[0] ?? '';
    return { Subnets: (SUBNETS[vpc] ?? []).map((SubnetId) => ({ SubnetId, VpcId: vpc })) };
  });
});

/** The kernel's job builder for one deployment run (spec §1.6 steps 1–7 and §1.7), without the Prefect API. */
function buildJob(golden: Golden) {
  return fixedWorldJob({
    deploymentVariables: golden.jobVariables.deployment,
    flowRunVariables: golden.jobVariables.flowRun,
    workerEnv,
  });
}

// ---------------------------------------------------------------------------- where we deliberately differ

/** The reference's image for a run without one: its own Prefect and Python versions (3.4.11, 3.12 in the files). */
const REFERENCE_DEFAULT_IMAGE = 'prefecthq/prefect:3.4.11-python3.12';

function containersOf(td: Json): Json[] {
  return Array.isArray(td.containerDefinitions) ? (td.containerDefinitions as Json[]) : [];
}

/**
 * Rewrites the reference payloads (`golden/*.json`) into what Stevedore sends, one documented difference at a time
 * (README, "Where we differ from prefect-aws"). Returns the expected RegisterTaskDefinition and RunTask inputs.
 */
function deliberateDifferences(name: string, golden: Golden): { register: Json; runTask: Json } {
  const register = structuredClone(golden.registerTaskDefinition);
  const runTask = structuredClone(golden.runTask);

  // Spec §2.1 (`image`) / §2.4 A.3: the reference defaults to `prefecthq/prefect:<its Prefect version>-python<its
  // Python version>`; this worker has neither, so it follows the server's generation (README, "Default image").
  for (const c of containersOf(register)) {
    if (c.image === REFERENCE_DEFAULT_IMAGE) c.image = 'prefecthq/prefect:3-latest';
  }

  // Not in the spec (§2.4 A/B register the prepared definition as it is): every definition Stevedore registers
  // carries its content hash, so a restarted worker or a replica reuses it (README, "Task definitions are reused").
  register.tags = [
    { key: 'stevedore.io/task-definition-hash', value: expect.stringMatching(/^[0-9a-f]{64}$/) },
  ];

  // Spec §2.4 D says nothing of a clientToken: ours makes RunTask idempotent, the hex SHA-256 of the kernel's
  // attempt key (README, "RunTask is idempotent").
  runTask.clientToken = expect.stringMatching(/^[0-9a-f]{64}$/);

  // Spec §2.4 D sets no startedBy: ours names the flow run, so reconciliation can ask ECS for one run's stopped
  // task (`ListTasks startedBy`) instead of paging through the cluster (README, "Tasks are started by").
  runTask.startedBy = 'stevedore/a7000000-0000-4000-8000-000000000004';

  if (name === '09-custom-family') {
    // Spec §2.4 A.6 quirk: the reference computes the slug and throws it away, so 'ETL flows/nightly (v2)' goes
    // to ECS, which rejects it. We send the slug (README, "Family names are sanitised"): runs of characters other
    // than letters, digits, '-' and '_' become one '-', and '-' is stripped at both ends.
    expect(register.family).toBe('ETL flows/nightly (v2)');
    register.family = 'ETL-flows-nightly-v2';
  }

  if (name === '10-labels-role-cluster-network') {
    // Spec §2.4 D.11: "The 50-tag and length limits are not enforced", so the reference sends the user label
    // 'aws:reserved', and ECS rejects the whole RunTask for a key with the reserved 'aws:' prefix. We leave it out
    // with a warning (README, "Tags follow ECS limits").
    const tags = runTask.tags as Array<{ key: string }>;
    runTask.tags = tags.filter((t) => t.key !== 'aws:reserved');
  }
  return { register, runTask };
}

// ------------------------------------------------------------------------------------------------- the test

describe('golden RegisterTaskDefinition and RunTask payloads (spec §2.4)', () => {
  it('has the ten golden files', () => {
    expect(goldens.map(([name]) => name)).toHaveLength(10);
  });

  it.each(goldens)('%s', async (name, golden) => {
    const ecs = new ECSClient({ region: 'us-east-1' });
    const ec2 = new EC2Client({ region: 'us-east-1' });
    const infrastructure = new EcsInfrastructure({ ecs, ec2 }, { sleep: async () => {} });
    try {
      const { identifier } = await infrastructure.submit(buildJob(golden), {
        signal: AbortSignal.timeout(10_000),
      });
      const expected = deliberateDifferences(name, golden);

      const registered = ecsMock.commandCalls(RegisterTaskDefinitionCommand).map((c) => c.args[0].input);
      expect(registered).toHaveLength(1);
      expect(registered[0]).toStrictEqual(expected.register);

      const runs = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toStrictEqual(expected.runTask);

      // Spec §2.4 F / §1.8: the configured cluster as given, else the cluster ARN RunTask answered.
      expect(identifier).toBe(golden.identifier);
    } finally {
      await infrastructure.stop();
      ecs.destroy();
      ec2.destroy();
    }
  });
});
