import { type AwsEmulator, startAwsEmulator } from '@stevedore/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type CliIo, runCli } from './main.js';

let aws: AwsEmulator;
const saved: Record<string, string | undefined> = {};
const env = (): Record<string, string> => ({
  AWS_ENDPOINT_URL: aws.endpoint,
  AWS_REGION: aws.region,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
});

beforeAll(async () => {
  aws = await startAwsEmulator({});
  aws.ecs.seedCluster({ name: 'prod' });
  for (const [k, v] of Object.entries(env())) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await aws.stop();
});

function io(): CliIo & { text: () => string } {
  const lines: string[] = [];
  return {
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
    env: {},
    cwd: process.cwd(),
    signal: AbortSignal.timeout(20_000),
    text: () => lines.join('\n'),
  };
}

it('deploys the events infrastructure idempotently, reports its status and deletes exactly it', async () => {
  const dry = io();
  expect(await runCli(['events', 'deploy', '--pool', 'etl', '--cluster', 'prod', '--dry-run'], dry)).toBe(0);
  expect(aws.sqs.queues()).toHaveLength(0);

  const first = io();
  expect(await runCli(['events', 'deploy', '-p', 'etl', '--cluster', 'prod'], first), first.text()).toBe(0);
  expect(first.text()).toContain('etl-ecs-events');
  const queues = aws.sqs
    .queues()
    .map((q) => q.name)
    .sort();
  expect(queues).toEqual(['etl-ecs-events', 'etl-ecs-events-dlq']);
  const policy = JSON.parse(String(aws.sqs.queue('etl-ecs-events')?.attributes.Policy));
  expect(JSON.stringify(policy)).toContain(':rule/etl-ecs-task-events');

  const mutatingBefore = Object.entries(aws.callCounts()).filter(([op]) =>
    /:(Create|Put|Set|Tag|Delete)/.test(op),
  );
  const second = io();
  expect(await runCli(['events', 'deploy', '-p', 'etl', '--cluster', 'prod'], second)).toBe(0);
  const mutatingAfter = Object.entries(aws.callCounts()).filter(([op]) =>
    /:(Create|Put|Set|Tag|Delete)/.test(op),
  );
  expect(mutatingAfter).toEqual(mutatingBefore);

  const status = io();
  expect(await runCli(['events', 'status', '-p', 'etl', '--cluster', 'prod'], status), status.text()).toBe(0);
  expect(status.text()).toContain('Events infrastructure is complete.');

  const removed = io();
  expect(await runCli(['events', 'delete', '-p', 'etl'], removed), removed.text()).toBe(0);
  expect(aws.sqs.queues()).toHaveLength(0);
  expect(aws.events.rules()).toHaveLength(0);

  const after = io();
  expect(await runCli(['events', 'status', '-p', 'etl'], after)).toBe(1);
  expect(aws.schemaErrors()).toEqual([]);
});

it('explains an unknown cluster in one line', async () => {
  const t = io();
  const code = await runCli(['events', 'deploy', '-p', 'etl', '--cluster', 'nope'], t);
  expect(code).not.toBe(0);
  expect(t.text()).toMatch(/nope/);
  expect(t.text()).not.toMatch(/\n\s+at /);
});
