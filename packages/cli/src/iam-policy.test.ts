import { describe, expect, it } from 'vitest';
import { type CliIo, runCli } from './main.js';

function io(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env: {},
    cwd: '/nonexistent-stevedore-test-dir',
    signal: AbortSignal.timeout(5000),
  };
}

interface Policy {
  Version: string;
  Statement: Array<{ Sid: string; Action: string[]; Resource: string | string[]; Condition?: unknown }>;
}

describe('stevedore iam-policy', () => {
  it('assembles the worker role from what the default plugins declare, narrowed where AWS allows', async () => {
    const t = io();
    const args = [
      'iam-policy',
      '--json',
      '--cluster',
      'prod',
      '--region',
      'eu-west-1',
      '--account',
      '123456789012',
      '--task-role-arn',
      'arn:aws:iam::123456789012:role/flow-task',
      '--execution-role-arn',
      'arn:aws:iam::123456789012:role/flow-exec',
      '--secret-arn',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prefect-api-key',
    ];
    expect(await runCli(args, t)).toBe(0);
    const { workerRole, executionRole } = JSON.parse(t.lines[0] ?? '{}') as {
      workerRole: Policy;
      executionRole: Policy;
    };
    const actions = workerRole.Statement.flatMap((s) => s.Action);
    for (const a of [
      'ecs:RunTask',
      'ecs:StopTask',
      'ecs:DescribeTasks',
      'ecs:ListTasks',
      'ecs:RegisterTaskDefinition',
      'ecs:TagResource',
      'ec2:DescribeVpcs',
      'logs:GetLogEvents',
      'sqs:ReceiveMessage',
      'iam:PassRole',
    ])
      expect(actions).toContain(a);
    expect(new Set(actions).size).toBe(actions.length); // each action once (DescribeTasks is declared twice)
    const byAction = (a: string) => workerRole.Statement.find((s) => s.Action.includes(a));
    expect(byAction('ecs:RunTask')?.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod' },
    });
    expect(byAction('iam:PassRole')).toMatchObject({
      Resource: ['arn:aws:iam::123456789012:role/flow-task', 'arn:aws:iam::123456789012:role/flow-exec'],
      Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    expect(byAction('ecs:TagResource')?.Condition).toEqual({
      StringEquals: { 'ecs:CreateAction': ['RunTask', 'RegisterTaskDefinition'] },
    });
    const exec = executionRole.Statement.flatMap((s) => s.Action);
    expect(exec).toEqual(
      expect.arrayContaining(['ecr:BatchGetImage', 'logs:CreateLogStream', 'secretsmanager:GetSecretValue']),
    );
    expect(executionRole.Statement.find((s) => s.Sid === 'PrefectApiSecrets')?.Resource).toEqual([
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prefect-api-key',
    ]);
  });

  it('prints both documents with what would narrow them further', async () => {
    const t = io();
    expect(await runCli(['iam-policy'], t)).toBe(0);
    const text = t.lines.join('\n');
    expect(text).toContain(
      '# Worker role: the task role of the Stevedore worker service (plugins: ecs-launcher, fargate-spot, observer-sqs, template-s3)',
    );
    expect(text).toContain('# Execution role of the flow-run tasks');
    expect(text).toContain('# Narrower with: --cluster');
  });

  it('declares nothing without plugins', async () => {
    const t = io();
    expect(await runCli(['iam-policy', '--json', '--no-default-plugins'], t)).toBe(0);
    expect((JSON.parse(t.lines[0] ?? '{}') as { workerRole: Policy }).workerRole.Statement).toEqual([]);
  });
});
