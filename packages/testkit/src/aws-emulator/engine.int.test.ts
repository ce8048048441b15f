import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import { afterEach, describe, expect, it } from 'vitest';
import { startPrefectEmulator } from '../prefect-emulator/index.js';
import {
  type AwsEmulator,
  type AwsEmulatorOptions,
  awsClientConfig,
  type EcsTask,
  type SimOutcome,
  startAwsEmulator,
} from './index.js';

interface SetStateCall {
  flowRunId: string;
  type: string;
  name: string;
  force: unknown;
  authorization: string | undefined;
}

/** A tiny Prefect API: records set_state proposals and answers ACCEPT (or scripted answers). */
async function fakePrefect(script: (call: SetStateCall, n: number) => object | null = () => null) {
  const calls: SetStateCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/api\/flow_runs\/([^/]+)\/set_state$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        state: { type: string; name: string };
        force: unknown;
      };
      const call: SetStateCall = {
        flowRunId: m[1] ?? '',
        type: body.state.type,
        name: body.state.name,
        force: body.force,
        authorization: req.headers.authorization,
      };
      calls.push(call);
      const scripted = script(call, calls.length);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          scripted ?? {
            status: 'ACCEPT',
            state: { type: body.state.type, name: body.state.name },
            details: { type: 'accept_details' },
          },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  return {
    url,
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const stops: (() => Promise<void>)[] = [];
let aws: AwsEmulator | undefined;

afterEach(async () => {
  if (aws) expect(aws.schemaErrors()).toEqual([]);
  for (const stop of stops.splice(0).reverse()) await stop();
  aws = undefined;
});

const FLOW_RUN = '0b3c4b8e-4f2a-4b8e-9d6c-2a1b3c4d5e6f';

async function launch(
  env: Record<string, string>,
  opts: { options?: AwsEmulatorOptions; definitionEnv?: Record<string, string>; containerName?: string } = {},
): Promise<{ emu: AwsEmulator; ecs: ECSClient; taskArn: string }> {
  const emu = await startAwsEmulator({ seed: 9, durations: { runMs: 20 }, ...opts.options });
  aws = emu;
  stops.push(() => emu.stop());
  const ecs = new ECSClient(awsClientConfig(emu));
  stops.push(async () => ecs.destroy());
  const name = opts.containerName ?? 'prefect';
  const td = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'flow',
      cpu: '256',
      memory: '512',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      containerDefinitions: [
        {
          name,
          image: 'prefecthq/prefect:3-python3.12',
          environment: Object.entries(opts.definitionEnv ?? {}).map(([k, v]) => ({ name: k, value: v })),
        },
      ],
    }),
  );
  const request: RunTaskCommandInput = {
    taskDefinition: td.taskDefinition?.taskDefinitionArn,
    launchType: 'FARGATE',
    networkConfiguration: { awsvpcConfiguration: { subnets: emu.ec2.subnets().map((s) => s.SubnetId) } },
    overrides: {
      containerOverrides: [
        { name, environment: Object.entries(env).map(([k, v]) => ({ name: k, value: v })) },
      ],
    },
  };
  const out = await ecs.send(new RunTaskCommand(request));
  return { emu, ecs, taskArn: out.tasks?.[0]?.taskArn ?? '' };
}

async function outcome(sim: SimOutcome, extraEnv: Record<string, string> = {}) {
  const prefect = await fakePrefect();
  stops.push(prefect.stop);
  const { emu, taskArn } = await launch({
    PREFECT_API_URL: prefect.url,
    PREFECT__FLOW_RUN_ID: FLOW_RUN,
    STEVEDORE_SIM_OUTCOME: sim,
    ...extraEnv,
  });
  const task = await emu.ecs.waitForTask(taskArn);
  return { task, calls: prefect.calls.map((c) => c.type), prefect };
}

function exitCode(task: EcsTask): number | undefined {
  return task.containers[0]?.exitCode;
}

describe('engine simulator', () => {
  it('complete: proposes RUNNING then COMPLETED and exits 0', async () => {
    const { task, calls, prefect } = await outcome('complete');
    expect(calls).toEqual(['RUNNING', 'COMPLETED']);
    expect(prefect.calls[0]).toMatchObject({
      flowRunId: FLOW_RUN,
      name: 'Running',
      force: false,
      authorization: undefined,
    });
    expect(task).toMatchObject({
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
    });
    expect(exitCode(task)).toBe(0);
  });

  it('fail: proposes RUNNING then FAILED and exits 1', async () => {
    const { task, calls } = await outcome('fail');
    expect(calls).toEqual(['RUNNING', 'FAILED']);
    expect(exitCode(task)).toBe(1);
  });

  it('crash: proposes RUNNING then nothing, exits 1', async () => {
    const { task, calls } = await outcome('crash');
    expect(calls).toEqual(['RUNNING']);
    expect(exitCode(task)).toBe(1);
    expect(task.stopCode).toBe('EssentialContainerExited');
  });

  it('exit0-no-state: proposes RUNNING, exits 0 without a final state', async () => {
    const { task, calls } = await outcome('exit0-no-state');
    expect(calls).toEqual(['RUNNING']);
    expect(exitCode(task)).toBe(0);
  });

  it('oom: exit 137 with OutOfMemoryError', async () => {
    const { task, calls } = await outcome('oom');
    expect(calls).toEqual(['RUNNING']);
    expect(task.containers[0]).toMatchObject({
      exitCode: 137,
      reason: 'OutOfMemoryError: Container killed due to memory usage',
    });
  });

  it('image-pull: never starts, nothing proposed, no exit code', async () => {
    const { task, calls } = await outcome('image-pull');
    expect(calls).toEqual([]);
    expect(task.stopCode).toBe('TaskFailedToStart');
    expect(task.stoppedReason).toMatch(/^CannotPullContainerError: /);
    expect(task.containers[0]?.reason).toMatch(/^CannotPullContainerError: /);
    expect(exitCode(task)).toBeUndefined();
    expect(task.startedAt).toBeUndefined();
  });

  it('fail-to-start: TaskFailedToStart with no containers', async () => {
    const { task, calls } = await outcome('fail-to-start');
    expect(calls).toEqual([]);
    expect(task).toMatchObject({ stopCode: 'TaskFailedToStart', containers: [] });
  });

  it('spot-interruption: RUNNING, then SpotInterruption with no final state', async () => {
    const { task, calls } = await outcome('spot-interruption');
    expect(calls).toEqual(['RUNNING']);
    expect(task.stopCode).toBe('SpotInterruption');
  });

  it('hang + StopTask: RUNNING, then nothing more; exit 143', async () => {
    const prefect = await fakePrefect();
    stops.push(prefect.stop);
    const { emu, ecs, taskArn } = await launch({
      PREFECT_API_URL: prefect.url,
      PREFECT__FLOW_RUN_ID: FLOW_RUN,
      STEVEDORE_SIM_OUTCOME: 'hang',
    });
    await emu.ecs.waitForTask(taskArn, 'RUNNING');
    await new Promise((r) => setTimeout(r, 50));
    await ecs.send(new StopTaskCommand({ task: taskArn, reason: 'Stopped by Prefect worker' }));
    const task = await emu.ecs.waitForTask(taskArn);
    expect(task).toMatchObject({ stopCode: 'UserInitiated', stoppedReason: 'Stopped by Prefect worker' });
    expect(exitCode(task)).toBe(143);
    expect(prefect.calls.map((c) => c.type)).toEqual(['RUNNING']);
  });

  it('a task stopped while its engine runs proposes nothing further', async () => {
    const prefect = await fakePrefect();
    stops.push(prefect.stop);
    const { emu, taskArn } = await launch(
      { PREFECT_API_URL: prefect.url, PREFECT__FLOW_RUN_ID: FLOW_RUN, STEVEDORE_SIM_RUN_MS: '2000' },
      {},
    );
    await emu.ecs.waitForTask(taskArn, 'RUNNING');
    await new Promise((r) => setTimeout(r, 50));
    emu.ecs.stopTask(taskArn, 'bye');
    await emu.ecs.waitForTask(taskArn);
    await new Promise((r) => setTimeout(r, 50));
    expect(prefect.calls.map((c) => c.type)).toEqual(['RUNNING']);
  });

  it('loops on WAIT, gives up on ABORT, and sends the API key', async () => {
    const prefect = await fakePrefect((_call, n) =>
      n === 1
        ? { status: 'WAIT', state: null, details: { type: 'wait_details', delay_seconds: 0.02 } }
        : null,
    );
    stops.push(prefect.stop);
    const { emu, taskArn } = await launch({
      PREFECT_API_URL: prefect.url,
      PREFECT__FLOW_RUN_ID: FLOW_RUN,
      PREFECT_API_KEY: 'pnu_secret',
    });
    await emu.ecs.waitForTask(taskArn);
    expect(prefect.calls.map((c) => c.type)).toEqual(['RUNNING', 'RUNNING', 'COMPLETED']);
    expect(prefect.calls[0]?.authorization).toBe('Bearer pnu_secret');

    const aborting = await fakePrefect(() => ({
      status: 'ABORT',
      state: null,
      details: { type: 'abort_details', reason: 'no' },
    }));
    stops.push(aborting.stop);
    const second = await launch({ PREFECT_API_URL: aborting.url, PREFECT__FLOW_RUN_ID: FLOW_RUN });
    const task = await second.emu.ecs.waitForTask(second.taskArn);
    expect(aborting.calls.map((c) => c.type)).toEqual(['RUNNING']);
    expect(exitCode(task)).toBe(0);
  });

  it('merges the definition env with the RunTask override of the orchestration container; sends Basic auth', async () => {
    const prefect = await fakePrefect();
    stops.push(prefect.stop);
    const { emu, taskArn } = await launch(
      { PREFECT__FLOW_RUN_ID: FLOW_RUN, STEVEDORE_SIM_OUTCOME: 'fail' },
      {
        definitionEnv: {
          PREFECT_API_URL: prefect.url,
          STEVEDORE_SIM_OUTCOME: 'complete',
          PREFECT_API_AUTH_STRING: 'admin:pw',
        },
        containerName: 'worker',
      },
    );
    expect(emu.ecs.taskEnvironment(taskArn)).toMatchObject({
      STEVEDORE_SIM_OUTCOME: 'fail',
      PREFECT_API_URL: prefect.url,
    });
    await emu.ecs.waitForTask(taskArn);
    expect(prefect.calls.map((c) => c.type)).toEqual(['RUNNING', 'FAILED']);
    expect(prefect.calls[0]?.authorization).toBe(`Basic ${Buffer.from('admin:pw').toString('base64')}`);
  });

  it('uses a custom behavior', async () => {
    const { emu, taskArn } = await launch(
      {},
      { options: { behavior: () => ({ outcome: 'crash', exitCode: 3, runMs: 5 }) } },
    );
    const task = await emu.ecs.waitForTask(taskArn);
    expect(exitCode(task)).toBe(3);
  });

  it('drives a flow run of the Prefect emulator to COMPLETED', async () => {
    const prefect = await startPrefectEmulator();
    stops.push(() => prefect.stop());
    prefect.seedWorkPool({ name: 'ecs-pool' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool', state: 'PENDING' });
    const { emu, taskArn } = await launch({ PREFECT_API_URL: prefect.url, PREFECT__FLOW_RUN_ID: run.id });
    await emu.ecs.waitForTask(taskArn);
    expect(prefect.stateHistory(run.id).map((s) => s.type)).toEqual(['PENDING', 'RUNNING', 'COMPLETED']);
    expect(prefect.schemaErrors()).toEqual([]);
  });
});
