/**
 * Worker-level acceptance of event-driven tracking: the real kernel with `ecsLauncherPlugin` and `observerSqsPlugin`,
 * real AWS SDK clients over HTTP against the testkit AWS emulator (ECS → "ECS Task State Change" events →
 * EventBridge rule, queue policy enforced → SQS, as `deployEventsInfrastructure` sets them up), and the Prefect API
 * emulator. Every run is finished by the emulator's simulated Prefect engine (`STEVEDORE_SIM_OUTCOME`); a crashed
 * run is crashed by the worker from what an observer saw.
 *
 * Assertions are on counts and states only: the DescribeTasks poller's calls are told apart from the observer's
 * tag lookups by `include: ['TAGS']`, and "at the safety-net rate" means at most the one poll in flight when the
 * observer turned healthy, against one every 100 ms at full rate.
 *
 * The worker's AWS clients (ECS and SQS) find the emulator through the SDK's configuration chain, as
 * `stevedore sandbox` does; the variables are set per test and restored after the file.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DeleteQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ecsLauncherPlugin, loadEcsBaseJobTemplate } from '@stevedore/ecs-launcher';
import {
  type AwsEmulator,
  awsClientConfig,
  createTestKernel,
  type FlowRunJson,
  type JsonObject,
  type PrefectEmulator,
  type StateJson,
  startAwsEmulator,
  startPrefectEmulator,
  type TestKernel,
} from '@stevedore/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deployEventsInfrastructure } from './deploy.js';
import { observerSqsPlugin } from './plugin.js';

// ------------------------------------------------------------------------------------------------ helpers

const POOL = 'ecs-pool';
const QUEUE = `${POOL}-ecs-events`;
const DLQ = `${POOL}-ecs-events-dlq`;
const FINAL_TYPES = new Set(['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED']);
const CRASH_MESSAGE = "The following containers stopped with a non-zero exit code: ['prefect']";

async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const AWS_ENV_KEYS = [
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_ECS',
  'AWS_ENDPOINT_URL_SQS',
  'AWS_ENDPOINT_URL_EC2',
  'AWS_ENDPOINT_URL_CLOUDWATCH_LOGS',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
] as const;
const savedEnv = new Map<string, string | undefined>();
beforeAll(() => {
  for (const k of AWS_ENV_KEYS) savedEnv.set(k, process.env[k]);
});
afterAll(() => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

interface Env {
  prefect: PrefectEmulator;
  aws: AwsEmulator;
  /** The test's own SQS client (injection, deletion): the real SDK, like any other producer. */
  sqs: SQSClient;
  queueUrl: string;
  worker: TestKernel;
  flowId: string;
  deploymentId: string;
}

/**
 * Both emulators, the events queue and rule deployed as `stevedore events deploy` does, an `ecs` pool, and the real
 * worker with both plugins; resolves once the SQS observer has received from its queue (it is healthy from then on,
 * so the poller drops to its safety-net interval).
 */
async function setup(
  options: { provisioningMs?: number; visibilityTimeoutSeconds?: number } = {},
): Promise<Env> {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  const aws = await startAwsEmulator({
    region: 'us-east-1',
    seed: 7,
    durations: { provisioningMs: options.provisioningMs ?? 100, pendingMs: 100, activatingMs: 50 },
    eventBridge: { enforceQueuePolicy: true },
  });
  cleanups.push(() => aws.stop());
  for (const k of AWS_ENV_KEYS) delete process.env[k];
  process.env.AWS_ENDPOINT_URL = aws.endpoint;
  process.env.AWS_REGION = aws.region;
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

  const config = awsClientConfig(aws);
  const sqs = new SQSClient(config);
  const events = new EventBridgeClient(config);
  const ecs = new ECSClient(config);
  cleanups.push(async () => {
    sqs.destroy();
    events.destroy();
    ecs.destroy();
  });
  const deployed = await deployEventsInfrastructure({ pool: POOL, cluster: 'default' }, { sqs, events, ecs });
  expect(deployed.status).toBe('applied');
  const queueUrl = aws.sqs.queue(QUEUE)?.url ?? '';

  prefect.seedWorkPool({
    name: POOL,
    type: 'ecs',
    base_job_template: JSON.parse(JSON.stringify(loadEcsBaseJobTemplate())) as JsonObject,
  });
  const flow = prefect.seedFlow({ name: 'etl' });
  const deployment = prefect.seedDeployment({ flow_id: flow.id, name: 'nightly', work_pool_name: POOL });

  const worker = createTestKernel({
    plugins: [ecsLauncherPlugin, observerSqsPlugin],
    apiUrl: prefect.url,
    pool: POOL,
    config: {
      querySeconds: 0.1,
      trackerPollSeconds: 0.1,
      cancellationPollSeconds: 0.1,
      crashGraceSeconds: 0,
      plugins: {
        'ecs-launcher': { observer: { pollSeconds: 0.1 } },
        // Short waits and timeouts so redeliveries happen within the test (both are real config keys).
        'observer-sqs': {
          waitTimeSeconds: 1,
          visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 2,
        },
      },
    },
    overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
  });
  const handle = worker.start();
  cleanups.push(() => handle.stop());
  await waitFor(
    () => aws.requests.some((r) => r.operation === 'ReceiveMessage' && r.status === 200),
    'the SQS observer’s first receive',
  );
  return { prefect, aws, sqs, queueUrl, worker, flowId: flow.id, deploymentId: deployment.id };
}

function seedRun(env: Env, outcome: string, runMs: number): FlowRunJson {
  return env.prefect.seedFlowRun({
    flow_id: env.flowId,
    deployment_id: env.deploymentId,
    job_variables: { env: { STEVEDORE_SIM_OUTCOME: outcome, STEVEDORE_SIM_RUN_MS: String(runMs) } },
  });
}

async function finalState(env: Env, id: string): Promise<StateJson> {
  return waitFor(() => {
    const state = env.prefect.getFlowRun(id)?.state;
    return state && FINAL_TYPES.has(state.type) ? state : undefined;
  }, `flow run ${id} to reach a final state`);
}

/** `TYPE/Name` of each state a run went through. */
function history(env: Env, id: string): string[] {
  return env.prefect.stateHistory(id).map((s) => `${s.type}/${s.name}`);
}

/** DescribeTasks calls of the poller (the observer's tag lookups ask for `include: ['TAGS']`). */
/**
 * DescribeTasks calls after `fromSeq`. Both the poller and the observer's tag lookups ask for TAGS (the poller needs
 * them for Prefect's `prefect.ecs.task.*` events), but the observer looks up only tasks the worker did not launch —
 * none in these scenarios but the redelivery one — so every call counted here is the poller's.
 */
function pollerCalls(aws: AwsEmulator, fromSeq = 0): number {
  return aws.requests.filter((r) => r.seq > fromSeq && r.operation === 'DescribeTasks').length;
}

function tagLookups(aws: AwsEmulator) {
  return aws.requests.filter(
    (r) => r.operation === 'DescribeTasks' && JSON.stringify(r.input ?? {}).includes('TAGS'),
  );
}

function lastSeq(aws: AwsEmulator): number {
  return aws.requests.at(-1)?.seq ?? 0;
}

/** The task ARN of a run, from its `infrastructure_pid` (`cluster::task ARN`). */
async function taskOf(env: Env, id: string): Promise<string> {
  const pid = await waitFor(() => env.prefect.getFlowRun(id)?.infrastructure_pid, `run ${id}'s task`);
  return pid.slice(pid.indexOf('::') + 2);
}

/** The events the bus delivered for one task, oldest first (their bodies are what SQS carries). */
function eventsOf(aws: AwsEmulator, taskArn: string) {
  return aws.events
    .events()
    .filter((e) => e.detail.taskArn === taskArn)
    .sort((a, b) => Number(a.detail.version) - Number(b.detail.version));
}

async function send(env: Env, body: string): Promise<void> {
  await env.sqs.send(new SendMessageCommand({ QueueUrl: env.queueUrl, MessageBody: body }));
}

async function queueDrained(env: Env): Promise<void> {
  await waitFor(() => {
    const q = env.aws.sqs.queue(QUEUE);
    return q !== undefined && env.aws.sqs.messages(QUEUE).length === 0;
  }, 'the events queue to drain');
}

/** Worker set_state proposals of a run (User-Agent `stevedore/…`). */
function workerProposals(env: Env, id: string): string[] {
  const out: string[] = [];
  for (const r of env.prefect.requests) {
    if (r.method !== 'POST' || r.path !== `/flow_runs/${id}/set_state`) continue;
    if (!(r.headers['user-agent'] ?? '').startsWith('stevedore/')) continue;
    const state = (r.body as JsonObject | undefined)?.state as JsonObject | undefined;
    out.push(`${String(state?.type)}/${String(state?.name)}`);
  }
  return out;
}

function logMessages(env: Env, level: string): string[] {
  return env.worker.records.filter((r) => r.level === level).map((r) => r.message);
}

function expectClean(env: Env): void {
  expect(env.prefect.schemaErrors()).toEqual([]);
  expect(env.aws.schemaErrors()).toEqual([]);
  expect(env.aws.sqs.messages(DLQ)).toEqual([]);
}

// ------------------------------------------------------------------------------------------------- tests

describe('the ecs worker tracking runs by ECS events from SQS', () => {
  it('tracks runs purely by events: the poller stays at its safety-net rate while runs complete and one crashes', async () => {
    const env = await setup();
    const { aws } = env;
    const before = pollerCalls(aws);
    const completes = Array.from({ length: 4 }, () => seedRun(env, 'complete', 300));
    const crash = seedRun(env, 'crash', 300);
    const states = await Promise.all([...completes, crash].map((r) => finalState(env, r.id)));
    expect(states.map((s) => s.type)).toEqual([
      'COMPLETED',
      'COMPLETED',
      'COMPLETED',
      'COMPLETED',
      'CRASHED',
    ]);
    expect(states[4]?.message).toBe(CRASH_MESSAGE);
    expect(workerProposals(env, crash.id).filter((p) => p.startsWith('CRASHED/'))).toEqual([
      'CRASHED/Crashed',
    ]);
    await queueDrained(env);

    // Five tasks, each through seven ECS states: every change reached the worker by SQS; the poller made at most the
    // one call that was in flight when the observer turned healthy (at full rate it polls every 100 ms).
    expect(aws.ecs.tasks()).toHaveLength(5);
    expect(aws.events.events().length).toBeGreaterThanOrEqual(5 * 5);
    expect(pollerCalls(aws) - before).toBeLessThanOrEqual(1);
    expect(aws.callCounts()['sqs:ReceiveMessage']).toBeGreaterThan(0);
    expect(aws.callCounts()['sqs:DeleteMessageBatch']).toBeGreaterThan(0);
    expect(logMessages(env, 'warn').filter((m) => m.includes('unhealthy'))).toEqual([]);
    expectClean(env);
  });

  it('changes nothing and loses nothing with duplicated, reordered, malformed and unknown-task messages', async () => {
    const env = await setup();
    const { aws } = env;
    const ok = seedRun(env, 'complete', 4000);
    const crash = seedRun(env, 'crash', 4000);
    await waitFor(
      () => [ok, crash].every((r) => env.prefect.getFlowRun(r.id)?.state?.type === 'RUNNING'),
      'both runs to be Running',
    );
    const okTask = await taskOf(env, ok.id);
    const crashTask = await taskOf(env, crash.id);
    await waitFor(
      () => eventsOf(aws, okTask).some((e) => e.detail.lastStatus === 'RUNNING'),
      'the RUNNING event of the first task',
    );
    const historiesRunning = [history(env, ok.id), history(env, crash.id)];

    // While both runs are tracked and running: every event so far twice more, the oldest after the newest, a task
    // nobody knows, and garbage.
    const garbage = [
      'not json',
      '{}',
      '[1,2,3]',
      JSON.stringify({ source: 'aws.ecs', 'detail-type': 'ECS Task State Change', detail: {} }),
      JSON.stringify({ ...eventsOf(aws, okTask)[0], source: 'my.app' }),
    ];
    let sent = 0;
    for (const task of [okTask, crashTask]) {
      const seen = eventsOf(aws, task);
      for (const e of [...seen, ...seen]) await send(env, JSON.stringify(e));
      const oldest = seen[0];
      if (oldest) await send(env, JSON.stringify(oldest));
      sent += seen.length * 2 + 1;
    }
    const template = eventsOf(aws, okTask).at(-1);
    const unknownTask = `${okTask.slice(0, okTask.lastIndexOf('/') + 1)}${'f'.repeat(32)}`;
    await send(env, JSON.stringify({ ...template, detail: { ...template?.detail, taskArn: unknownTask } }));
    for (const body of garbage) await send(env, body);
    expect(sent).toBeGreaterThanOrEqual(8);
    await queueDrained(env);
    expect([history(env, ok.id), history(env, crash.id)]).toEqual(historiesRunning);

    const [okFinal, crashFinal] = await Promise.all([finalState(env, ok.id), finalState(env, crash.id)]);
    expect(okFinal.type).toBe('COMPLETED');
    expect(crashFinal).toMatchObject({ type: 'CRASHED', message: CRASH_MESSAGE });
    const finalHistories = [history(env, ok.id), history(env, crash.id)];

    // After the end: the whole story again, the last event first, then an older one after it.
    for (const task of [okTask, crashTask]) {
      const all = eventsOf(aws, task);
      for (const e of [...all].reverse()) await send(env, JSON.stringify(e));
      const running = all.find((e) => e.detail.lastStatus === 'RUNNING');
      await send(env, JSON.stringify(running));
    }
    await queueDrained(env);
    expect([history(env, ok.id), history(env, crash.id)]).toEqual(finalHistories);
    for (const h of finalHistories) {
      expect(h.filter((s) => s === 'RUNNING/Running')).toHaveLength(1);
      expect(h.filter((s) => FINAL_TYPES.has(s.split('/')[0] ?? ''))).toHaveLength(1);
      expect(FINAL_TYPES.has(h.at(-1)?.split('/')[0] ?? '')).toBe(true);
    }
    expect(workerProposals(env, crash.id).filter((p) => p.startsWith('CRASHED/'))).toEqual([
      'CRASHED/Crashed',
    ]);
    expect(workerProposals(env, ok.id).every((p) => p.startsWith('PENDING/'))).toBe(true);

    // Malformed messages were acknowledged the first time they were received: one warning each, none in the DLQ.
    const ignored = logMessages(env, 'warn').filter((m) => m.startsWith('Ignoring an SQS message'));
    expect(ignored).toHaveLength(garbage.length);
    // The unknown task was looked up once (ECS answers MISSING) and acknowledged.
    const lookups = tagLookups(aws).filter((r) => JSON.stringify(r.input).includes(unknownTask));
    expect(lookups).toHaveLength(1);
    expectClean(env);
  }, 40_000);

  it('redelivers a message whose handling failed, and the run still ends right', async () => {
    // The only remote call of handling a message is the tag lookup of a task not (yet) tracked: make the events of a
    // task arrive before the worker tracks it (RunTask's answer is lost, the SDK's retry is slow), and the first
    // lookup fail. A long provisioning leaves the PROVISIONING event alone on the queue meanwhile.
    const env = await setup({ provisioningMs: 4000, visibilityTimeoutSeconds: 2 });
    const { aws } = env;
    const other = seedRun(env, 'complete', 1000);
    const otherTask = await taskOf(env, other.id); // tracked: events of untracked tasks are now looked up by tag
    let runTasks = 0;
    aws.faults.add({ name: 'lose RunTask', operation: 'RunTask', times: 1, drop: 'after' });
    aws.faults.add({
      name: 'slow retry',
      operation: 'RunTask',
      latencyMs: 300,
      when: () => ++runTasks === 2,
    });
    const lookupFault = aws.faults.add({
      name: 'tag lookup fails',
      operation: 'DescribeTasks',
      times: 1,
      // The observer's lookup of the untracked task, not a poll of the tracked one (the poller asks for TAGS too).
      when: (info) => {
        const input = JSON.stringify(info.input ?? {});
        return input.includes('TAGS') && !input.includes(otherTask);
      },
      // Not retried by the SDK (a 5xx would be, and the observer would never see it).
      error: {
        code: 'AccessDeniedException',
        message: 'injected: not authorized to perform ecs:DescribeTasks',
      },
    });
    const run = seedRun(env, 'complete', 300);
    const taskArn = await taskOf(env, run.id);
    expect(aws.requests.filter((r) => r.operation === 'RunTask' && r.responseLost)).toHaveLength(1);

    const [state, otherState] = await Promise.all([finalState(env, run.id), finalState(env, other.id)]);
    expect(state.type).toBe('COMPLETED');
    expect(otherState.type).toBe('COMPLETED');
    await queueDrained(env);

    // The first handling failed: the lookup of the task's tag was answered with an error, and the message was kept.
    expect(lookupFault.hits()).toBe(1);
    // The first DescribeTasks naming this task: the observer's lookup (the poller describes it only once tracked).
    const failed = tagLookups(aws).find((r) => JSON.stringify(r.input ?? {}).includes(taskArn));
    expect(failed?.errorCode).toBe('AccessDeniedException');
    expect(JSON.stringify(failed?.input)).toContain(taskArn);
    expect(logMessages(env, 'warn')).toContain(
      'Could not read the tags of ECS tasks; their events will be redelivered.',
    );
    // Redelivered after the visibility timeout, it was reported: the run went InfrastructurePending with the
    // PROVISIONING message (the only event of the task before PENDING, which says "pending"); nothing reached the DLQ.
    const pending = env.prefect.stateHistory(run.id).filter((s) => s.name === 'InfrastructurePending');
    expect(pending.map((s) => s.message)).toEqual(['ECS task is provisioning.']);
    expect(history(env, run.id).at(-1)).toBe('COMPLETED/Completed');
    expectClean(env);
  }, 40_000);

  it('hands tracking to the poller at full rate when the queue is deleted mid-run, losing no run', async () => {
    const env = await setup();
    const { aws, prefect } = env;
    const completes = Array.from({ length: 3 }, () => seedRun(env, 'complete', 2000));
    const crashes = Array.from({ length: 2 }, () => seedRun(env, 'crash', 2000));
    const runs = [...completes, ...crashes];
    await waitFor(
      () => runs.every((r) => prefect.getFlowRun(r.id)?.state?.type === 'RUNNING'),
      'every run to be Running',
    );
    const pollsWhileHealthy = pollerCalls(aws);
    expect(pollsWhileHealthy).toBeLessThanOrEqual(1);
    const deletedAt = lastSeq(aws);
    await env.sqs.send(new DeleteQueueCommand({ QueueUrl: env.queueUrl }));

    const states = await Promise.all(runs.map((r) => finalState(env, r.id)));
    expect(states.map((s) => s.type)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'CRASHED', 'CRASHED']);
    for (const s of states.slice(3)) expect(s.message).toBe(CRASH_MESSAGE);

    // Why, in the worker's log: the observer's own warning and the kernel's.
    const warnings = logMessages(env, 'warn');
    expect(warnings).toContainEqual(
      expect.stringContaining(`SQS queue '${QUEUE}' no longer exists; looking for the events queue again.`),
    );
    expect(warnings).toContainEqual(
      `Observer 'ecs-sqs-events' is unhealthy: SQS queue '${QUEUE}' no longer exists.`,
    );
    // The crashed runs' STOPPED changes came from the poller, which polled at full rate from the deletion on: many
    // calls where it made at most one while the observer was healthy.
    expect(pollerCalls(aws, deletedAt)).toBeGreaterThanOrEqual(5);
    expect(prefect.schemaErrors()).toEqual([]);
    expect(aws.schemaErrors()).toEqual([]);
  }, 40_000);
});
