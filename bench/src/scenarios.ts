/**
 * Scenarios `tracked-5000` (a worker tracking N running tasks) and `cold-start` / `latency` (a worker at
 * low load). Each starts its own emulators and its own worker process, adds rows to the one table of
 * `pnpm bench` and writes `<scenario>.json`.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ECSClient, RegisterTaskDefinitionCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import {
  type AwsEmulator,
  awsClientConfig,
  DEFAULT_QUOTAS,
  type PrefectEmulator,
  startAwsEmulator,
  startPrefectEmulator,
} from '@stevedore/testkit';
import { describeTasksFigures } from './figures.js';
import type { ScenarioOutput } from './report.js';
import { median, mib, RssSampler } from './rss.js';
import { spawnWorker, type WorkerProcess, workerEnv } from './worker-process.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const say = (line: string) => console.error(`bench: ${line}`);
const isWorker = (headers: Record<string, string>) => (headers['user-agent'] ?? '').startsWith('stevedore/');
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
/** 150 MB (the goal) in MiB. */
const RSS_GOAL_MIB = 150e6 / 2 ** 20;

async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => boolean,
  worker?: WorkerProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    const exit = worker?.exit();
    if (exit)
      throw new Error(
        `the worker exited (code ${exit.code}, signal ${exit.signal}) while waiting for ${what}`,
      );
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(50);
  }
}

async function withEmulators<T>(fn: (prefect: PrefectEmulator, aws: AwsEmulator) => Promise<T>): Promise<T> {
  const prefect = await startPrefectEmulator({ mode: '3' });
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  try {
    return await fn(prefect, aws);
  } finally {
    await Promise.allSettled([prefect.stop(), aws.stop()]);
  }
}

// ---------------------------------------------------------------------------------------- tracked-5000

export interface TrackedOptions {
  tracked: number;
  /** How long the tracking is measured once every task is described. */
  seconds: number;
  querySeconds: number;
  trackerPollSeconds: number;
  resultsDir: string;
}

/**
 * N flow runs RUNNING in Prefect, each with its ECS task RUNNING (launched from here, with quotas lifted
 * for the setup only), then the worker starts and adopts them all; measured once its polls describe every
 * task: DescribeTasks calls per minute and per 100 tracked tasks per poll, throttling, the worker's RSS.
 */
export async function runTracked(o: TrackedOptions, out: ScenarioOutput): Promise<number> {
  return withEmulators(async (prefect, aws) => {
    const pool = 'bench-tracked-pool';
    const ecs = new ECSClient(awsClientConfig(aws));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'bench-tracked',
        networkMode: 'awsvpc',
        requiresCompatibilities: ['FARGATE'],
        cpu: '256',
        memory: '512',
        containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-latest', essential: true }],
      }),
    );
    const subnets = aws.ec2.subnets(aws.ec2.defaultVpcId() ?? undefined).map((s) => s.SubnetId);
    prefect.seedWorkPool({ name: pool, type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'bench-flow' });
    const deployment = prefect.seedDeployment({ flow_id: flow.id, name: 'tracked', work_pool_name: pool });
    // Setup only: launch the tasks as fast as the emulator goes, then put AWS's quota back.
    aws.faults.setQuota('ecs:RunTask', { burst: 1e9, ratePerSecond: 1e9 });
    say(`tracked: launching ${o.tracked} long-running tasks and seeding their RUNNING flow runs`);
    let launched = 0;
    const launchOne = async () => {
      const res = await ecs.send(
        new RunTaskCommand({
          cluster: 'default',
          taskDefinition: td.taskDefinition?.taskDefinitionArn,
          launchType: 'FARGATE',
          networkConfiguration: {
            awsvpcConfiguration: { subnets: subnets.slice(0, 1), assignPublicIp: 'ENABLED' },
          },
          overrides: {
            containerOverrides: [
              { name: 'prefect', environment: [{ name: 'STEVEDORE_SIM_OUTCOME', value: 'hang' }] },
            ],
          },
        }),
      );
      const task = res.tasks?.[0];
      if (!task?.taskArn || !task.clusterArn)
        throw new Error(`RunTask launched no task: ${JSON.stringify(res.failures)}`);
      launched += 1;
      prefect.seedFlowRun({
        flow_id: flow.id,
        deployment_id: deployment.id,
        name: `tracked-${String(launched).padStart(5, '0')}`,
        state: 'RUNNING',
        infrastructure_pid: `${task.clusterArn}::${task.taskArn}`,
      });
    };
    for (let i = 0; i < o.tracked; i += 25) {
      await Promise.all(Array.from({ length: Math.min(25, o.tracked - i) }, launchOne));
    }
    aws.faults.setQuota('ecs:RunTask', DEFAULT_QUOTAS['ecs:RunTask'] ?? { burst: 100, ratePerSecond: 20 });
    await waitFor('every task RUNNING', 120_000, () =>
      aws.ecs.tasks().every((t) => t.lastStatus === 'RUNNING'),
    );
    aws.clearRequests();
    prefect.clearRequests();

    const worker = spawnWorker({
      pool,
      name: 'bench-tracked-worker',
      cwd: o.resultsDir,
      logPath: join(o.resultsDir, 'worker-tracked.log'),
      env: workerEnv(prefect, aws, {
        PREFECT_WORKER_QUERY_SECONDS: String(o.querySeconds),
        STEVEDORE_TRACKER_POLL_SECONDS: String(o.trackerPollSeconds),
        PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED: 'false',
      }),
    });
    const rss = new RssSampler(worker.pid, 250);
    rss.start();
    try {
      say(`tracked: worker pid ${worker.pid} adopting ${o.tracked} runs`);
      // Tracked: some DescribeTasks poll named every task.
      const gapMs = Math.max(400, (o.querySeconds * 1000) / 2);
      await waitFor(
        'a DescribeTasks poll naming every task',
        300_000,
        () => {
          const named = new Set<string>();
          for (const r of aws.requests) {
            if (r.operation !== 'DescribeTasks' || !Array.isArray(r.input?.tasks)) continue;
            for (const t of r.input.tasks) named.add(String(t));
          }
          return named.size >= o.tracked;
        },
        worker,
      );
      // Start the window at a poll boundary: after the next quiet gap.
      await sleep(gapMs);
      const from = Date.now();
      rss.mark('tracked');
      say(`tracked: every task described; measuring for ${o.seconds} s`);
      await sleep(o.seconds * 1000);
      const to = Date.now();
      rss.stop();
      // A poll still going on when the window closes is cut in two: look a little past the end to see whether the
      // last poll in the window went on, and leave that one out of the per-poll count (it once read 3,300 of 5,000).
      await sleep(gapMs);
      const inWindow = aws.requests.filter((r) => r.startedAt >= from && r.startedAt < to);
      const lastInWindow = inWindow.filter((r) => r.operation === 'DescribeTasks').at(-1)?.startedAt;
      const lastPollCut =
        lastInWindow !== undefined &&
        aws.requests.some(
          (r) => r.operation === 'DescribeTasks' && r.startedAt >= to && r.startedAt - lastInWindow <= gapMs,
        );
      const dt = describeTasksFigures(inWindow, aws.ecs.tasks(), gapMs);
      const minutes = (to - from) / 60_000;
      const perPoll: number[] = [];
      {
        let prev = Number.NEGATIVE_INFINITY;
        let current: Set<string> | null = null;
        for (const r of inWindow.filter((x) => x.operation === 'DescribeTasks')) {
          if (r.startedAt - prev > gapMs || current === null) {
            current = new Set();
            perPoll.push(0);
          }
          prev = r.startedAt;
          for (const t of Array.isArray(r.input?.tasks) ? r.input.tasks : []) current.add(String(t));
          perPoll[perPoll.length - 1] = current.size;
        }
        if (lastPollCut && perPoll.length > 1) perPoll.pop();
      }
      const prefectCalls = prefect.requests.filter(
        (r) => r.startedAt >= from && r.startedAt < to && isWorker(r.headers),
      );
      const result = {
        scenario: 'tracked-5000',
        settings: { ...o, resultsDir: undefined, observer: 'DescribeTasks poller (SQS observer off)' },
        windowSeconds: round((to - from) / 1000, 1),
        trackedPerPoll: { min: Math.min(...perPoll), max: Math.max(...perPoll), polls: perPoll.length },
        describeTasks: { ...dt, perMinute: round(dt.calls / minutes, 1) },
        awsCallsPerMinute: Object.fromEntries(
          Object.entries(
            inWindow.reduce<Record<string, number>>((acc, r) => {
              const k = `${r.service}:${r.operation}`;
              acc[k] = (acc[k] ?? 0) + 1;
              return acc;
            }, {}),
          ).map(([k, n]) => [k, round(n / minutes, 1)]),
        ),
        prefectCallsPerMinute: round(prefectCalls.length / minutes, 1),
        rss: {
          peakMiB: mib(rss.peakKiB),
          hwmMiB: mib(rss.hwmKiB),
          trackedMedianMiB: mib(median(rss.of('tracked').map((s) => s.rssKiB))),
        },
      };
      out.results['tracked-5000'] = result;
      writeFileSync(join(o.resultsDir, 'tracked-5000.json'), `${JSON.stringify(result, null, 2)}\n`);
      const s = 'tracked-5000';
      out.rows.push(
        {
          scenario: s,
          figure: 'tasks described per poll (fewest / most)',
          value: `${result.trackedPerPoll.min} / ${result.trackedPerPoll.max} over ${perPoll.length} polls`,
          goal: String(o.tracked),
          met: result.trackedPerPoll.min >= o.tracked,
        },
        {
          scenario: s,
          figure: 'DescribeTasks calls per 100 tracked tasks per poll (worst / mean)',
          value: `${dt.callsPer100TrackedPerPollMax.toFixed(2)} / ${dt.callsPer100TrackedPerPollMean.toFixed(2)} (${dt.meanTasksPerCall.toFixed(1)} tasks per call)`,
          goal: '≤ 1',
          met: dt.callsPer100TrackedPerPollMax <= 1,
        },
        {
          scenario: s,
          figure: 'DescribeTasks calls per minute',
          value: `${result.describeTasks.perMinute} (poll every ${o.querySeconds} s; ${dt.calls} calls in ${result.windowSeconds} s)`,
          goal: '—',
          met: null,
        },
        {
          scenario: s,
          figure: 'DescribeTasks calls throttled',
          value: String(dt.throttled),
          goal: '0',
          met: dt.throttled === 0,
        },
        {
          scenario: s,
          figure: 'Prefect API calls per minute (worker)',
          value: String(result.prefectCallsPerMinute),
          goal: '—',
          met: null,
        },
        {
          scenario: s,
          figure: `worker peak RSS at ${o.tracked} tracked tasks (MiB)`,
          value: `${result.rss.peakMiB.toFixed(1)} (VmHWM ${result.rss.hwmMiB.toFixed(1)}; median while tracking ${result.rss.trackedMedianMiB.toFixed(1)})`,
          goal: '≤ 143 (150 MB)',
          met: Math.max(result.rss.peakMiB, result.rss.hwmMiB) <= RSS_GOAL_MIB,
        },
      );
      return result.trackedPerPoll.min >= o.tracked ? 0 : 1;
    } finally {
      rss.stop();
      await worker.stop();
    }
  });
}

// ------------------------------------------------------------------------------ cold-start and latency

export interface LowLoadOptions {
  repeat: number;
  querySeconds: number;
  resultsDir: string;
  /** Seed of the pauses between latency samples (so they fall at different points of the poll cycle). */
  seed: number;
}

function stats(values: readonly number[]): { median: number; min: number; max: number; samples: number[] } {
  return {
    median: round(median(values), 1),
    min: round(Math.min(...values), 1),
    max: round(Math.max(...values), 1),
    samples: values.map((v) => round(v, 1)),
  };
}

/**
 * Cold start: the worker process spawned → its first poll for scheduled runs (the pool exists), `repeat`
 * times, each a new process. Median, min and max in ms.
 */
export async function runColdStart(o: LowLoadOptions, out: ScenarioOutput): Promise<number> {
  return withEmulators(async (prefect, aws) => {
    const pool = 'bench-cold-pool';
    prefect.seedWorkPool({ name: pool, type: 'ecs' });
    const firstPoll: number[] = [];
    const firstRequest: number[] = [];
    for (let i = 1; i <= o.repeat; i += 1) {
      prefect.clearRequests();
      const worker = spawnWorker({
        pool,
        name: `bench-cold-${i}`,
        cwd: o.resultsDir,
        logPath: join(o.resultsDir, 'worker-cold-start.log'),
        env: workerEnv(prefect, aws, {
          PREFECT_WORKER_QUERY_SECONDS: String(o.querySeconds),
          PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED: 'false',
        }),
      });
      try {
        const poll = () =>
          prefect.requests.find(
            (r) => r.route === '/work_pools/{name}/get_scheduled_flow_runs' && isWorker(r.headers),
          );
        await waitFor('the first poll', 30_000, () => poll() !== undefined, worker);
        const first = prefect.requests.find((r) => isWorker(r.headers));
        firstPoll.push((poll()?.startedAt ?? 0) - worker.spawnedAt);
        firstRequest.push((first?.startedAt ?? 0) - worker.spawnedAt);
      } finally {
        await worker.stop();
      }
    }
    const result = {
      scenario: 'cold-start',
      settings: { repeat: o.repeat, querySeconds: o.querySeconds },
      spawnToFirstPollMs: stats(firstPoll),
      spawnToFirstPrefectRequestMs: stats(firstRequest),
    };
    out.results['cold-start'] = result;
    writeFileSync(join(o.resultsDir, 'cold-start.json'), `${JSON.stringify(result, null, 2)}\n`);
    out.rows.push(
      {
        scenario: 'cold-start',
        figure: `process spawned → first poll, median of ${o.repeat} (ms)`,
        value: `${result.spawnToFirstPollMs.median} (${result.spawnToFirstPollMs.min}–${result.spawnToFirstPollMs.max})`,
        goal: '< 500',
        met: result.spawnToFirstPollMs.median < 500,
      },
      {
        scenario: 'cold-start',
        figure: 'process spawned → first Prefect API request, median (ms)',
        value: `${result.spawnToFirstPrefectRequestMs.median} (${result.spawnToFirstPrefectRequestMs.min}–${result.spawnToFirstPrefectRequestMs.max})`,
        goal: '—',
        met: null,
      },
    );
    return 0;
  });
}

/**
 * Latency at low load: one run at a time, scheduled for now, into an idle worker; from the run's scheduled
 * time to its RunTask request, and from the claim (PENDING proposed) to the RunTask request.
 */
export async function runLatency(o: LowLoadOptions, out: ScenarioOutput): Promise<number> {
  return withEmulators(async (prefect, aws) => {
    const pool = 'bench-latency-pool';
    const worker = spawnWorker({
      pool,
      name: 'bench-latency-worker',
      cwd: o.resultsDir,
      logPath: join(o.resultsDir, 'worker-latency.log'),
      env: workerEnv(prefect, aws, {
        PREFECT_WORKER_QUERY_SECONDS: String(o.querySeconds),
        STEVEDORE_TRACKER_POLL_SECONDS: '1',
        PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED: 'false',
      }),
    });
    try {
      await waitFor('the pool', 30_000, () => prefect.getWorkPool(pool) !== undefined, worker);
      const flow = prefect.seedFlow({ name: 'bench-flow' });
      const deployment = prefect.seedDeployment({ flow_id: flow.id, name: 'latency', work_pool_name: pool });
      // Warm-up run: the first launch registers the task definition and infers the network.
      const scheduledToRunTask: number[] = [];
      const claimToRunTask: number[] = [];
      let state = o.seed >>> 0 || 1;
      const nextPause = () => {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        return (state / 2 ** 32) * o.querySeconds * 1000;
      };
      for (let i = 0; i <= o.repeat; i += 1) {
        await sleep(nextPause());
        const scheduledAt = Date.now();
        const run = prefect.seedFlowRun({
          flow_id: flow.id,
          deployment_id: deployment.id,
          name: `latency-${i}`,
          next_scheduled_start_time: scheduledAt,
          job_variables: { env: { STEVEDORE_SIM_OUTCOME: 'complete', STEVEDORE_SIM_RUN_MS: '100' } },
        });
        const runTask = () =>
          aws.requests.find(
            (r) =>
              r.operation === 'RunTask' &&
              Array.isArray(r.input?.tags) &&
              r.input.tags.some((t) => t && typeof t === 'object' && !Array.isArray(t) && t.value === run.id),
          );
        await waitFor(`the RunTask of run ${i}`, 60_000, () => runTask() !== undefined, worker);
        const claim = prefect.requests.find(
          (r) =>
            r.path === `/flow_runs/${run.id}/set_state` &&
            isWorker(r.headers) &&
            JSON.stringify(r.body ?? '').includes('"PENDING"'),
        );
        if (i > 0) {
          scheduledToRunTask.push((runTask()?.startedAt ?? 0) - scheduledAt);
          if (claim) claimToRunTask.push((runTask()?.startedAt ?? 0) - claim.startedAt);
        }
        await waitFor(
          `run ${i} to finish`,
          60_000,
          () => ['COMPLETED', 'FAILED', 'CRASHED'].includes(prefect.getFlowRun(run.id)?.state?.type ?? ''),
          worker,
        );
        aws.clearRequests();
        prefect.clearRequests();
      }
      const result = {
        scenario: 'latency',
        settings: { repeat: o.repeat, querySeconds: o.querySeconds },
        scheduledToRunTaskMs: stats(scheduledToRunTask),
        claimToRunTaskMs: stats(claimToRunTask),
      };
      out.results.latency = result;
      writeFileSync(join(o.resultsDir, 'latency.json'), `${JSON.stringify(result, null, 2)}\n`);
      out.rows.push(
        {
          scenario: 'latency',
          figure: `scheduled → RunTask at low load, median of ${o.repeat} (ms)`,
          value: `${result.scheduledToRunTaskMs.median} (${result.scheduledToRunTaskMs.min}–${result.scheduledToRunTaskMs.max}; poll every ${o.querySeconds} s)`,
          goal: '—',
          met: null,
        },
        {
          scenario: 'latency',
          figure: 'claimed (PENDING proposed) → RunTask, median (ms)',
          value: `${result.claimToRunTaskMs.median} (${result.claimToRunTaskMs.min}–${result.claimToRunTaskMs.max})`,
          goal: '—',
          met: null,
        },
      );
      return 0;
    } finally {
      await worker.stop();
    }
  });
}
