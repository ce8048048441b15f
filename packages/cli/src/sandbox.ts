import { createKernel, createLogger, type Kernel, type Logger, type StateType } from '@stevedore/kernel';
import { createEventsClients, deployEventsInfrastructure } from '@stevedore/observer-sqs';
import { startAwsEmulator, startPrefectEmulator } from '@stevedore/testkit';
import type { CliIo } from './main.js';
import { DEFAULT_PLUGINS } from './plugins.js';

/** One seeded flow run of the sandbox and the final state it must reach. */
interface SandboxRun {
  name: string;
  outcome: string;
  expected: StateType;
  /** Cancel it (as a user would in the UI) once it is running. */
  cancel?: boolean;
  explain: string;
}

const RUNS: readonly SandboxRun[] = [
  { name: 'hello-1', outcome: 'complete', expected: 'COMPLETED', explain: 'the engine reports Completed' },
  {
    name: 'hello-2',
    outcome: 'complete',
    expected: 'COMPLETED',
    explain: 'reuses the registered task definition',
  },
  {
    name: 'flaky',
    outcome: 'fail',
    expected: 'FAILED',
    explain: 'the flow raises; the engine reports Failed',
  },
  {
    name: 'out-of-memory',
    outcome: 'oom',
    expected: 'CRASHED',
    explain: 'exit 137 with no final state; the worker reports Crashed',
  },
  {
    name: 'bad-image',
    outcome: 'image-pull',
    expected: 'CRASHED',
    explain: 'the image cannot be pulled; the task never starts',
  },
  {
    name: 'cancel-me',
    outcome: 'hang',
    expected: 'CANCELLED',
    cancel: true,
    explain: 'cancelled from the UI; the worker stops its task',
  },
];

/** Options of `stevedore sandbox`. */
export interface SandboxOptions {
  keepRunning: boolean;
  timeoutSeconds: number;
  verbose: boolean;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/**
 * `stevedore sandbox`: the Prefect API emulator and the AWS emulators in-process, an `ecs` pool, a
 * deployment and a few flow runs with different fates, and the real worker with the real plugins
 * between them. Prints each state change as it happens, then a summary; exits 0 only when every run
 * ended as expected.
 */
export async function runSandbox(opts: SandboxOptions, io: CliIo): Promise<number> {
  const prefect = await startPrefectEmulator({ mode: '3' });
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  const started = Date.now();
  const stamp = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
  io.out(`Prefect API emulator: ${prefect.url}`);
  io.out(`AWS emulator (ECS, EC2, CloudWatch Logs): ${aws.endpoint}`);
  // The worker's AWS clients find the emulator through the SDK's own configuration chain, exactly as
  // they would find a real endpoint: nothing sandbox-specific reaches the ecs-launcher plugin.
  const env: Record<string, string | undefined> = {
    ...io.env,
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_REGION: aws.region,
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
  };
  delete env.AWS_PROFILE;
  for (const k of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const)
    process.env[k] = env[k];
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  // The SDK's notice that its releases after January 2027 need Node 22 is true but noise in a demo;
  // `stevedore start` keeps it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

  const pool = 'sandbox-ecs-pool';
  const logs: string[] = [];
  const logger: Logger = createLogger({
    level: opts.verbose ? 'debug' : 'info',
    sink: (r) => {
      const line = `${r.level.toUpperCase().padEnd(5)} ${r.message}`;
      logs.push(line);
      if (opts.verbose || r.level === 'error') io.err(`        ${line}`);
    },
  });
  let kernel: Kernel;
  try {
    kernel = createKernel({
      plugins: DEFAULT_PLUGINS,
      config: {
        apiUrl: prefect.url,
        pool,
        name: 'sandbox-worker',
        querySeconds: 1,
        heartbeatSeconds: 5,
        trackerPollSeconds: 0.5,
        cancellationPollSeconds: 0.5,
        cancellationGraceSeconds: 2,
        crashGraceSeconds: 1,
        plugins: {
          'ecs-launcher': { cluster: 'sandbox', observer: { pollSeconds: 0.5 } },
          'observer-sqs': { waitTimeSeconds: 1 },
        },
      },
      logger,
      workerEnv: { PREFECT_API_URL: prefect.url },
      processEnv: env,
    });
  } catch (e) {
    await Promise.allSettled([prefect.stop(), aws.stop()]);
    throw e;
  }
  aws.ecs.seedCluster({ name: 'sandbox' });
  // Event-driven tracking, as `stevedore events deploy` sets it up: EventBridge rule → SQS queue; the
  // DescribeTasks poller then drops to its safety-net rate.
  const deployed = await deployEventsInfrastructure(
    { pool, cluster: 'sandbox' },
    createEventsClients({ region: aws.region }),
  );
  io.out(`events: ${deployed.message}`);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  io.signal.addEventListener('abort', onAbort, { once: true });
  const running = kernel.run(stop.signal).catch((e: unknown) => {
    io.err(`Worker stopped: ${(e as Error).message}`);
    throw e;
  });
  running.catch(() => stop.abort());

  try {
    const created = await waitUntil(() => prefect.getWorkPool(pool), 15_000, stop.signal);
    if (!created) return fail(io, 'The worker did not create the work pool.', logs);
    io.out(`${stamp()}  worker created work pool '${pool}' (type ecs, the default ecs base job template)`);
    const flow = prefect.seedFlow({ name: 'hello-flow' });
    const deployment = prefect.seedDeployment({
      flow_id: flow.id,
      name: 'hello',
      work_pool_name: pool,
      job_variables: {
        configure_cloudwatch_logs: true,
        execution_role_arn: 'arn:aws:iam::123456789012:role/sandbox-execution',
      },
    });
    const seeded = RUNS.map((r) => ({
      spec: r,
      run: prefect.seedFlowRun({
        flow_id: flow.id,
        deployment_id: deployment.id,
        name: r.name,
        job_variables: {
          env: {
            STEVEDORE_SIM_OUTCOME: r.outcome,
            STEVEDORE_SIM_RUN_MS: r.outcome === 'hang' ? '600000' : '1500',
          },
        },
      }),
    }));
    io.out(`${stamp()}  seeded deployment 'hello-flow/hello' and ${seeded.length} flow runs`);
    const last = new Map<string, string>();
    const deadline = Date.now() + opts.timeoutSeconds * 1000;
    for (;;) {
      if (stop.signal.aborted) break;
      let done = 0;
      for (const { spec, run } of seeded) {
        const current = prefect.getFlowRun(run.id);
        const state = current?.state;
        const label = state
          ? `${state.type === 'PENDING' || state.type === 'SCHEDULED' ? state.name : state.type}`
          : 'unknown';
        if (last.get(run.id) !== label) {
          last.set(run.id, label);
          const pid = current?.infrastructure_pid ? `  ${current.infrastructure_pid.split('/').pop()}` : '';
          io.out(
            `${stamp()}  ${pad(spec.name, 14)} ${pad(label, 22)}${state?.message ? ` ${state.message}` : ''}${label === 'Submitting' ? '' : pid}`,
          );
        }
        if (spec.cancel && state?.type === 'RUNNING') {
          prefect.setFlowRunState(run.id, { type: 'CANCELLING', name: 'Cancelling' }, { force: true });
        }
        if (state && ['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED'].includes(state.type)) done += 1;
      }
      if (done === seeded.length || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Summary.
    io.out('');
    io.out(`${pad('flow run', 14)} ${pad('expected', 10)} ${pad('final state', 12)} ok  why`);
    let ok = true;
    for (const { spec, run } of seeded) {
      const actual = prefect.getFlowRun(run.id)?.state?.type ?? 'unknown';
      const good = actual === spec.expected;
      ok &&= good;
      io.out(
        `${pad(spec.name, 14)} ${pad(spec.expected, 10)} ${pad(actual, 12)} ${good ? 'yes' : 'NO '} ${spec.explain}`,
      );
    }
    const counts = aws.callCounts();
    const perOp = Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
    io.out('');
    io.out(`AWS calls for ${seeded.length} runs: ${perOp}`);
    const problems = [...prefect.schemaErrors(), ...aws.schemaErrors()];
    if (problems.length > 0) {
      ok = false;
      io.err(`${problems.length} request/response(s) did not match the Prefect or AWS API schemas.`);
    }
    io.out(
      ok
        ? 'Every flow run ended as expected.'
        : 'Some flow runs did not end as expected (add --verbose for the worker log).',
    );
    if (opts.keepRunning && !io.signal.aborted) {
      io.out(`Still running (--keep-running). Prefect API: ${prefect.url} — press Ctrl+C to stop.`);
      await new Promise<void>((resolve) => {
        if (io.signal.aborted) resolve();
        else io.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    return ok ? 0 : 1;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    stop.abort();
    await running.catch(() => undefined);
    await Promise.allSettled([prefect.stop(), aws.stop()]);
  }
}

function fail(io: CliIo, message: string, logs: readonly string[]): number {
  io.err(message);
  for (const l of logs.slice(-20)) io.err(`  ${l}`);
  return 1;
}

async function waitUntil<T>(
  check: () => T | undefined,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal.aborted) {
    const v = check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}
