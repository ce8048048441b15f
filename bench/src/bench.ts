/**
 * `pnpm bench`: the Stevedore worker (`stevedore start`, in its own process) against the Prefect API
 * emulator and the AWS emulator (quotas enforced), both in this process. Scenario `burst`: N flow runs
 * scheduled at once. Prints the figures, writes them to bench/results/latest.json and prints a
 * markdown section for packages/ecs-launcher/README.md. A benchmark, not a test: it exits 0 whatever
 * the figures, and 1 only when it could not measure (the worker died, runs never finished).
 */

import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createEventsClients, deployEventsInfrastructure } from '@stevedore/observer-sqs';
import {
  type AwsRecordedRequest,
  type RecordedRequest,
  startAwsEmulator,
  startPrefectEmulator,
} from '@stevedore/testkit';
import {
  callsPerRun,
  describeTasksFigures,
  prefectCallsPerRun,
  runOutcomeFigures,
  runTaskFigures,
  throttlingByOperation,
} from './figures.js';
import {
  type BenchResult,
  burstRows,
  formatMarkdown,
  formatNotes,
  formatScenarioMarkdown,
  formatScenarioTable,
  type ScenarioOutput,
} from './report.js';
import { median, mib, RssSampler, readCpuMs } from './rss.js';
import { runColdStart, runLatency, runTracked } from './scenarios.js';
import { benchDir, gitState, repoRoot, stopWorker, workerBin, workerEnv } from './worker-process.js';

const HELP = `Usage: pnpm bench [--scenario S] [options]

The worker runs as its own process (the built CLI) against the Prefect API and AWS emulators (AWS quotas
enforced). Scenarios (default: all, in this order):
  burst          N flow runs scheduled at once (RunTask throughput against the quota, throttles reaching runs)
  tracked-5000   a worker adopting and tracking N running tasks (DescribeTasks per poll and per minute, RSS)
  cold-start     worker process spawned → first poll, median over repeated starts
  latency        scheduled → RunTask at low load, median over repeated runs

  --scenario <s>               burst, tracked-5000, cold-start, latency or all; a comma-separated list works too
  --runs <n>                   burst: flow runs to seed (default 1000; 100 is a quick check)
  --run-ms <ms>                burst: how long each simulated flow runs (default 2000)
  --submission-limit <n>       burst: the worker's STEVEDORE_SUBMISSION_LIMIT (default 50)
  --query-seconds <s>          the worker's PREFECT_WORKER_QUERY_SECONDS (default 1; tracked-5000: 10, Prefect's default)
  --tracker-poll-seconds <s>   the worker's STEVEDORE_TRACKER_POLL_SECONDS (default 2; tracked-5000: 15)
  --idle-seconds <s>           burst: how long to sample the idle worker before seeding (default 5)
  --run-task-rate <n>          burst: the emulated account's RunTask refill rate per second (default: AWS's 20;
                               lower it to see the worker meet a quota below the one it assumes)
  --events                     burst: deploy the EventBridge → SQS events queue first (as \`stevedore events deploy\`),
                               so the SQS observer tracks tasks; without it the SQS observer is disabled
  --tracked <n>                tracked-5000: running tasks to track (default 5000)
  --tracked-seconds <s>        tracked-5000: how long to measure once every task is described (default 60)
  --repeat <n>                 cold-start and latency: samples (default 7)
  --timeout <s>                burst: give up waiting for the runs after this long (default 120 + 0.3 × runs)
  --out <file>                 the combined JSON (default bench/results/latest.json; each scenario's beside it)
  -h, --help                   this help`;

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED']);
const POOL = 'bench-ecs-pool';
/**
 * DescribeTasks calls closer together than this belong to one poll. The calls of one poll go out within
 * a few tens of ms of each other; polls are PREFECT_WORKER_QUERY_SECONDS apart (the observer's interval).
 */
const POLL_GAP_MS = 400;
const WORKER_NAME = 'bench-worker';

const SCENARIOS = ['burst', 'tracked-5000', 'cold-start', 'latency'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Options {
  scenarios: Scenario[];
  tracked: number;
  trackedSeconds: number;
  repeat: number;
  /** Query/tracker intervals given on the command line (else each scenario's default). */
  querySecondsGiven: boolean;
  trackerPollSecondsGiven: boolean;
  runs: number;
  runMs: number;
  submissionLimit: number;
  querySeconds: number;
  trackerPollSeconds: number;
  idleSeconds: number;
  runTaskRate: number | undefined;
  /** Deploy the EventBridge → SQS events queue first, so the SQS observer tracks tasks (the poller drops to its safety net). */
  events: boolean;
  timeoutSeconds: number;
  out: string;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv[0] === '--' ? argv.slice(1) : argv,
    options: {
      scenario: { type: 'string' },
      tracked: { type: 'string' },
      'tracked-seconds': { type: 'string' },
      repeat: { type: 'string' },
      runs: { type: 'string' },
      'run-ms': { type: 'string' },
      'submission-limit': { type: 'string' },
      'query-seconds': { type: 'string' },
      'tracker-poll-seconds': { type: 'string' },
      'idle-seconds': { type: 'string' },
      'run-task-rate': { type: 'string' },
      events: { type: 'boolean' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const num = (name: string, raw: string | undefined, fallback: number, integer = false): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
      throw new Error(`--${name} expects a positive ${integer ? 'whole number' : 'number'}, got '${raw}'.`);
    return n;
  };
  const runs = num('runs', values.runs, 1000, true);
  const wanted = (values.scenario ?? 'all').split(',').map((x) => x.trim());
  const scenarios = wanted.includes('all') ? [...SCENARIOS] : [];
  for (const w of wanted) {
    if (w === 'all') continue;
    if (!(SCENARIOS as readonly string[]).includes(w))
      throw new Error(`--scenario expects ${SCENARIOS.join(', ')} or all, got '${w}'.`);
    if (!scenarios.includes(w as Scenario)) scenarios.push(w as Scenario);
  }
  return {
    scenarios,
    tracked: num('tracked', values.tracked, 5000, true),
    trackedSeconds: num('tracked-seconds', values['tracked-seconds'], 60),
    repeat: num('repeat', values.repeat, 7, true),
    querySecondsGiven: values['query-seconds'] !== undefined,
    trackerPollSecondsGiven: values['tracker-poll-seconds'] !== undefined,
    runs,
    runMs: num('run-ms', values['run-ms'], 2000, true),
    submissionLimit: num('submission-limit', values['submission-limit'], 50, true),
    querySeconds: num('query-seconds', values['query-seconds'], 1),
    trackerPollSeconds: num('tracker-poll-seconds', values['tracker-poll-seconds'], 2),
    idleSeconds: num('idle-seconds', values['idle-seconds'], 5),
    runTaskRate:
      values['run-task-rate'] === undefined ? undefined : num('run-task-rate', values['run-task-rate'], 20),
    events: values.events === true,
    timeoutSeconds: num('timeout', values.timeout, Math.round(120 + 0.3 * runs)),
    // Relative to where `pnpm bench` was typed (pnpm runs the script in bench/).
    out: values.out
      ? resolve(process.env.INIT_CWD ?? process.cwd(), values.out)
      : join(benchDir, 'results', 'latest.json'),
  };
}

/** Per second since the runs were seeded: tasks launched and RunTask attempts throttled (diagnostics). */
function launchTimeline(
  requests: readonly AwsRecordedRequest[],
  from: number,
): { launchesPerSecond: number[]; runTaskThrottledPerSecond: number[] } {
  const launches: number[] = [];
  const throttled: number[] = [];
  for (const r of requests) {
    if (r.service !== 'ecs' || r.operation !== 'RunTask') continue;
    const s = Math.max(0, Math.floor((r.startedAt - from) / 1000));
    const into = r.throttled ? throttled : r.errorCode === null && r.status === 200 ? launches : null;
    if (!into) continue;
    while (into.length <= s) into.push(0);
    into[s] = (into[s] ?? 0) + (typeof r.input?.count === 'number' ? r.input.count : 1);
  }
  const n = Math.max(launches.length, throttled.length);
  while (launches.length < n) launches.push(0);
  while (throttled.length < n) throttled.push(0);
  return { launchesPerSecond: launches, runTaskThrottledPerSecond: throttled };
}

/** The AWS request log, one JSON line per request, times in ms since the runs were seeded. */
function awsRequestDump(requests: readonly AwsRecordedRequest[], from: number): string {
  const runOf = (r: AwsRecordedRequest): string | undefined => {
    const tags = r.operation === 'RunTask' && Array.isArray(r.input?.tags) ? r.input.tags : [];
    for (const t of tags) {
      if (t && typeof t === 'object' && !Array.isArray(t) && t.key === 'prefect.io/flow-run-id')
        return String(t.value);
    }
    return undefined;
  };
  return jsonLines(
    requests.map((r) => ({
      seq: r.seq,
      t: r.startedAt - from,
      ms: r.durationMs,
      op: `${r.service}:${r.operation}`,
      status: r.status,
      error: r.errorCode ?? undefined,
      tasks: Array.isArray(r.input?.tasks) ? r.input.tasks.length : undefined,
      run: runOf(r),
    })),
  );
}

/** The Prefect API request log: who called (the worker, or the simulated engine in a task), route, timing. */
function prefectRequestDump(requests: readonly RecordedRequest[], from: number): string {
  return jsonLines(
    requests.map((r) => {
      const body = r.body && typeof r.body === 'object' && !Array.isArray(r.body) ? r.body : {};
      const state =
        body.state && typeof body.state === 'object' && !Array.isArray(body.state) ? body.state : {};
      return {
        seq: r.seq,
        t: r.startedAt - from,
        ms: r.durationMs,
        by: (r.headers['user-agent'] ?? '').startsWith('stevedore/') ? 'worker' : 'other',
        call: `${r.method} ${r.route ?? r.path}`,
        status: r.status,
        run: /^\/flow_runs\/([0-9a-f-]{36})/.exec(r.path)?.[1],
        state: typeof state.type === 'string' ? state.type : undefined,
      };
    }),
  );
}

function jsonLines(rows: readonly object[]): string {
  return rows
    .map((row) => JSON.stringify(row))
    .join('\n')
    .concat('\n');
}

interface CpuMark {
  at: number;
  worker: number;
  bench: NodeJS.CpuUsage;
}

function cpuMark(pid: number): CpuMark {
  return { at: Date.now(), worker: readCpuMs(pid) ?? 0, bench: process.cpuUsage() };
}

/** CPU used since `m` by the worker and by this process (the emulators), and each as a share of one core. */
function cpuSince(m: CpuMark, pid: number): { workerMs: number; workerShare: number; benchShare: number } {
  const wall = Math.max(1, Date.now() - m.at);
  const workerMs = Math.max(0, (readCpuMs(pid) ?? m.worker) - m.worker);
  const bench = process.cpuUsage(m.bench);
  const benchMs = (bench.user + bench.system) / 1000;
  const share = (ms: number) => Math.round((ms / wall) * 100) / 100;
  return { workerMs, workerShare: share(workerMs), benchShare: share(benchMs) };
}

/** Lines of the worker's log by level (its lines are JSON with a `level`; others count as `text`). */
function logLevels(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let level = 'text';
    try {
      const parsed = JSON.parse(line) as { level?: unknown };
      if (typeof parsed.level === 'string') level = parsed.level;
    } catch {
      // not JSON: a plain line (a warning from Node, a stack trace)
    }
    out[level] = (out[level] ?? 0) + 1;
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class WorkerExited extends Error {}
class Interrupted extends Error {}

/** Scenario `burst`: writes `burst.json` (and the request logs) beside `opts.out`; adds its rows to the table. */
async function runBurst(opts: Options, out: ScenarioOutput): Promise<number> {
  const bin = workerBin();
  const resultsDir = dirname(opts.out);
  mkdirSync(resultsDir, { recursive: true });
  const logPath = join(resultsDir, 'worker.log');

  const prefect = await startPrefectEmulator({ mode: '3' });
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  if (opts.runTaskRate !== undefined) {
    const burst = aws.faults.quotas()['ecs:RunTask']?.burst ?? 100;
    aws.faults.setQuota('ecs:RunTask', { burst, ratePerSecond: opts.runTaskRate });
  }
  say(`Prefect API emulator ${prefect.url}; AWS emulator ${aws.endpoint} (quotas enforced)`);
  if (opts.events) {
    // What `stevedore events deploy --pool P --cluster default` does, through the SDK's own chain.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    const deployed = await deployEventsInfrastructure(
      { pool: POOL, cluster: 'default' },
      createEventsClients({ region: aws.region }),
    );
    say(`events: ${deployed.message}`);
    aws.clearRequests();
  }

  const log = createWriteStream(logPath);
  const child = spawn(process.execPath, [bin, 'start', '--pool', POOL, '--name', WORKER_NAME], {
    cwd: resultsDir,
    env: workerEnv(prefect, aws, {
      PREFECT_WORKER_QUERY_SECONDS: String(opts.querySeconds),
      STEVEDORE_TRACKER_POLL_SECONDS: String(opts.trackerPollSeconds),
      STEVEDORE_SUBMISSION_LIMIT: String(opts.submissionLimit),
      // The SQS observer is the default plugin set's; off unless the events queue is deployed.
      ...(opts.events ? {} : { PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED: 'false' }),
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitInfo: { code: number | null; signal: string | null } | null = null;
  child.once('exit', (code, signal) => {
    exitInfo = { code, signal };
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the worker process');
  say(
    `worker pid ${pid}: node ${relative(repoRoot, bin)} start --pool ${POOL} --name ${WORKER_NAME} (log: ${relative(process.cwd(), logPath)})`,
  );
  const rss = new RssSampler(pid, 250);
  rss.start();

  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const alive = () => {
    if (exitInfo)
      throw new WorkerExited(`the worker exited early (code ${exitInfo.code}, signal ${exitInfo.signal})`);
    if (interrupted.signal.aborted)
      throw new Interrupted('interrupted; stopping the worker and the emulators');
  };

  try {
    // The worker creates the pool (type ecs, the default base job template) at its first sync.
    const poolDeadline = Date.now() + 30_000;
    while (!prefect.getWorkPool(POOL)) {
      alive();
      if (Date.now() > poolDeadline) throw new Error('the worker did not create the work pool within 30 s');
      await sleep(100);
    }
    say(`worker created pool '${POOL}'; sampling idle RSS for ${opts.idleSeconds} s`);
    rss.mark('idle');
    const idleStart = cpuMark(pid);
    await sleep(opts.idleSeconds * 1000);
    alive();
    const idleCpu = cpuSince(idleStart, pid);
    const idleKiB = median(rss.of('idle').map((s) => s.rssKiB));

    rss.mark('load');
    const flow = prefect.seedFlow({ name: 'bench-flow' });
    const deployment = prefect.seedDeployment({ flow_id: flow.id, name: 'burst', work_pool_name: POOL });
    const seededAt = Date.now();
    const loadStart = cpuMark(pid);
    const ids = new Set<string>();
    for (let i = 0; i < opts.runs; i += 1) {
      const run = prefect.seedFlowRun({
        flow_id: flow.id,
        deployment_id: deployment.id,
        name: `burst-${String(i + 1).padStart(4, '0')}`,
        job_variables: {
          env: { STEVEDORE_SIM_OUTCOME: 'complete', STEVEDORE_SIM_RUN_MS: String(opts.runMs) },
        },
      });
      ids.add(run.id);
    }
    say(`seeded ${opts.runs} flow runs scheduled now; waiting for them (timeout ${opts.timeoutSeconds} s)`);

    const deadline = Date.now() + opts.timeoutSeconds * 1000;
    let lastProgress = 0;
    let terminal = 0;
    for (;;) {
      alive();
      terminal = prefect
        .listFlowRuns()
        .filter((r) => ids.has(r.id) && r.state && TERMINAL.has(r.state.type)).length;
      if (terminal === ids.size) break;
      if (Date.now() > deadline) break;
      if (Date.now() - lastProgress >= 5000) {
        lastProgress = Date.now();
        say(`  ${aws.ecs.tasks().length} tasks launched, ${terminal} of ${ids.size} runs final`);
      }
      await sleep(1000);
    }
    const loadCpu = cpuSince(loadStart, pid);
    const finished = terminal === ids.size;
    if (!finished) say(`timed out with ${terminal} of ${ids.size} runs final`);

    // Let the tracker see every task stop and settle, so its DescribeTasks calls after the runs ended
    // (which would be waste) are in the log too.
    const stopDeadline = Date.now() + 60_000;
    while (aws.ecs.tasks().some((t) => t.lastStatus !== 'STOPPED') && Date.now() < stopDeadline)
      await sleep(250);
    rss.mark('settled');
    await sleep(opts.trackerPollSeconds * 3000);
    alive();
    const settledKiB = median(rss.of('settled').map((s) => s.rssKiB));
    rss.stop();

    const requests = aws.requests;
    const prefectRequests = prefect.requests;
    const counts = aws.callCounts();
    const tasks = aws.ecs.tasks();
    const runs = prefect.listFlowRuns().filter((r) => ids.has(r.id));
    const runTaskQuota = aws.faults.quotas()['ecs:RunTask'] ?? { burst: 100, ratePerSecond: 20 };
    const throttling = throttlingByOperation(requests);
    const registers = counts['ecs:RegisterTaskDefinition'] ?? 0;
    const peakKiB = rss.peakKiB;
    const result: BenchResult = {
      scenario: 'burst',
      date: new Date().toISOString(),
      ...gitState(),
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
      settings: {
        runs: opts.runs,
        runMs: opts.runMs,
        querySeconds: opts.querySeconds,
        trackerPollSeconds: opts.trackerPollSeconds,
        submissionLimit: opts.submissionLimit,
        quotasEnforced: true,
        runTaskQuota,
      },
      finished,
      outcomes: runOutcomeFigures(runs, (id) => prefect.stateHistory(id), prefect.logs()),
      runTask: runTaskFigures(requests, runTaskQuota),
      throttling: { byOperation: throttling, total: Object.values(throttling).reduce((a, b) => a + b, 0) },
      aws: {
        calls: counts,
        callsPerRun: callsPerRun(counts, opts.runs),
        registerTaskDefinition: registers,
        registerTaskDefinitionAfterFirst: Math.max(0, registers - 1),
      },
      describeTasks: describeTasksFigures(requests, tasks, POLL_GAP_MS),
      prefect: prefectCallsPerRun(prefectRequests, opts.runs),
      rss: {
        idleMiB: mib(idleKiB),
        peakMiB: mib(peakKiB),
        hwmMiB: mib(rss.hwmKiB),
        settledMiB: mib(settledKiB),
        peakOverIdle: idleKiB > 0 ? Math.round((peakKiB / idleKiB) * 100) / 100 : 0,
        samples: rss.count,
      },
      cpu: {
        workerMsPerRun: Math.round((loadCpu.workerMs / opts.runs) * 100) / 100,
        workerShareOfCore: loadCpu.workerShare,
        workerIdleShareOfCore: idleCpu.workerShare,
        emulatorsShareOfCore: loadCpu.benchShare,
      },
      emulatorSchemaErrors: { aws: aws.schemaErrors().length, prefect: prefect.schemaErrors().length },
      worker: { exitCode: null, signal: null, log: relative(repoRoot, logPath), logLevels: {} },
      timeline: launchTimeline(requests, seededAt),
    };
    writeFileSync(join(resultsDir, 'aws-requests.jsonl'), awsRequestDump(requests, seededAt));
    writeFileSync(join(resultsDir, 'prefect-requests.jsonl'), prefectRequestDump(prefectRequests, seededAt));

    await stopWorker(child, exited);
    const info = exitInfo as { code: number | null; signal: string | null } | null;
    result.worker.exitCode = info?.code ?? null;
    result.worker.signal = info?.signal ?? null;
    await new Promise<void>((r) => log.write('', () => r()));
    result.worker.logLevels = logLevels(readFileSync(logPath, 'utf8'));

    writeFileSync(join(resultsDir, 'burst.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(resultsDir, 'burst.md'), `${formatMarkdown(result).join('\n')}\n`);
    out.results.burst = result;
    out.rows.push(...burstRows(result).map((r) => ({ scenario: 'burst', ...r })));
    out.notes.push(...formatNotes(result).map((l) => `burst: ${l}`));
    return finished ? 0 : 1;
  } catch (e) {
    if (e instanceof Interrupted) {
      console.error(`bench: ${e.message}`);
      return 130;
    }
    if (e instanceof WorkerExited) {
      console.error(`bench: ${e.message}; last lines of ${relative(process.cwd(), logPath)}:`);
      await new Promise<void>((r) => log.write('', () => r()));
      const tail = readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-20);
      for (const l of tail) console.error(`  ${l}`);
      return 1;
    }
    throw e;
  } finally {
    rss.stop();
    await stopWorker(child, exited);
    log.end();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.allSettled([prefect.stop(), aws.stop()]);
  }
}

async function main(): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    console.error(HELP);
    return 2;
  }
  if (opts === 'help') {
    console.log(HELP);
    return 0;
  }
  const resultsDir = dirname(opts.out);
  mkdirSync(resultsDir, { recursive: true });
  const out: ScenarioOutput = { results: {}, rows: [], notes: [] };
  let code = 0;
  for (const scenario of opts.scenarios) {
    say(`scenario ${scenario}`);
    let c: number;
    if (scenario === 'burst') c = await runBurst(opts, out);
    else if (scenario === 'tracked-5000')
      c = await runTracked(
        {
          tracked: opts.tracked,
          seconds: opts.trackedSeconds,
          querySeconds: opts.querySecondsGiven ? opts.querySeconds : 10,
          trackerPollSeconds: opts.trackerPollSecondsGiven ? opts.trackerPollSeconds : 15,
          resultsDir,
        },
        out,
      );
    else {
      const low = { repeat: opts.repeat, querySeconds: opts.querySeconds, resultsDir, seed: 1 };
      c = scenario === 'cold-start' ? await runColdStart(low, out) : await runLatency(low, out);
    }
    if (c === 130) return c;
    code = Math.max(code, c);
  }
  const machine = {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverage: loadavg(),
  };
  const combined = {
    date: new Date().toISOString(),
    ...gitState(),
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    machine,
    scenarios: out.results,
    table: out.rows,
  };
  writeFileSync(opts.out, `${JSON.stringify(combined, null, 2)}\n`);
  writeFileSync(join(resultsDir, 'table.md'), `${formatScenarioMarkdown(out.rows).join('\n')}\n`);
  console.log('');
  console.log(
    `pnpm bench: ${opts.scenarios.join(', ')}; node ${process.versions.node}, ${machine.cpus} cores (${machine.cpuModel}), commit ${combined.commit?.slice(0, 12) ?? 'unknown'}${combined.dirty ? ' (uncommitted changes)' : ''}.`,
  );
  console.log('');
  for (const line of formatScenarioTable(out.rows)) console.log(line);
  if (out.notes.length > 0) {
    console.log('');
    for (const line of out.notes) console.log(line);
  }
  console.log('');
  console.log(
    `JSON: ${relative(process.cwd(), opts.out)} (each scenario's beside it; table.md: the table as markdown${opts.scenarios.includes('burst') ? '; burst.md: the section for packages/ecs-launcher/README.md' : ''}).`,
  );
  return code;
}

const say = (line: string) => console.error(`bench: ${line}`);

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`bench: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
  },
);
