/**
 * `pnpm soak`: the fault suite's long mode. Prints a table of the faults injected and the invariants held,
 * writes the result as JSON, and exits 1 when an invariant was violated.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseFaultKinds } from './faults.js';
import { runSoak } from './harness.js';
import { MERGED_FEATURES } from './pending.js';
import { describeFaultKinds, formatSoak, formatSoakMarkdown } from './report.js';

const HELP = `Usage: pnpm soak [--runs N] [--seed S] [--workers K] [options]

Runs K worker processes (the built CLI) against the Prefect API and AWS emulators, seeds N flow runs over
time, injects faults at moments the seed picks, then drains and checks the invariants.

  --runs <n>          flow runs to seed (default 1000)
  --seed <s>          PRNG seed: the same seed gives the same fault schedule and run mix (default: random)
  --workers <k>       worker processes (default 3)
  --rate <n>          flow runs seeded per second (default 10)
  --faults <list>     default | all | none | kind,kind,… (default: the kinds whose worker features are merged;
                      'all' adds the ones marked [needs …], expected to fail until then)
  --events            deploy the EventBridge → SQS events queue (the SQS observer tracks tasks; SQS faults).
                      Default: on with one worker; with several only once MERGED_FEATURES.replicasShareEventsQueue
                      (src/pending.ts) is true, since replicas sharing the queue lose each other's events
  --no-events         do not deploy the events queue (the SQS observer stays off; no SQS faults)
  --log-level <l>     the workers' log level: info (default) or debug
  --stall-seconds <s> stop draining when no run or task changed for this long (default 30)
  --out <dir>         where the JSON and the workers' log go (default soak/results)
  -h, --help          this help

Fault kinds:
${describeFaultKinds().join('\n')}`;

const soakDir = join(dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv[0] === '--' ? argv.slice(1) : argv,
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      workers: { type: 'string' },
      rate: { type: 'string' },
      faults: { type: 'string' },
      events: { type: 'boolean' },
      'no-events': { type: 'boolean' },
      'log-level': { type: 'string' },
      'stall-seconds': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const num = (name: string, raw: string | undefined, fallback: number, min = 1): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} expects a whole number ≥ ${min}, got '${raw}'.`);
    return n;
  };
  const workers = num('workers', values.workers, 3);
  const events =
    values['no-events'] === true
      ? false
      : values.events === true || workers === 1 || MERGED_FEATURES.replicasShareEventsQueue;
  if (!events && values['no-events'] !== true)
    console.error(
      'soak: events queue off: several workers share it badly until MERGED_FEATURES.replicasShareEventsQueue (soak/src/pending.ts); --events forces it',
    );
  const logLevel = values['log-level'] ?? 'info';
  if (logLevel !== 'info' && logLevel !== 'debug')
    throw new Error(`--log-level expects info or debug, got '${logLevel}'.`);
  const seed = num('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0);
  const out = values.out
    ? resolve(process.env.INIT_CWD ?? process.cwd(), values.out)
    : join(soakDir, 'results');
  mkdirSync(out, { recursive: true });
  const runs = num('runs', values.runs, 1000);
  const result = await runSoak({
    runs,
    seed,
    workers,
    arrivalPerSecond: num('rate', values.rate, 10),
    faults: parseFaultKinds(values.faults ?? 'default', events),
    events,
    logLevel,
    outDir: out,
    // The stall check (no run or task changed for --stall-seconds) ends a drain that is stuck; the timeout
    // only bounds one that keeps moving: 100 ms per run (a 3,000-run soak once had ~1,900 runs queued when
    // the faults stopped, and 90 s cut its drain short while the workers were still launching them).
    drainTimeoutMs: Math.max(
      90_000,
      runs * 100,
      num('stall-seconds', values['stall-seconds'], 30) * 1000 + 30_000,
    ),
    stallMs: num('stall-seconds', values['stall-seconds'], 30) * 1000,
    say: (line) => console.error(`soak: ${line}`),
  });
  const file = join(out, `soak-${seed}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(out, `soak-${seed}.md`), `${formatSoakMarkdown(result).join('\n')}\n`);
  console.log('');
  for (const line of formatSoak(result)) console.log(line);
  console.log('');
  console.log(
    `Result: ${relative(process.cwd(), file)}; workers' log: ${relative(process.cwd(), join(out, 'workers.log'))}`,
  );
  console.log(
    `Reproduce: pnpm soak --runs ${runs} --seed ${seed} --workers ${result.settings.workers}${events ? (workers > 1 ? ' --events' : '') : workers === 1 ? ' --no-events' : ''}${values.faults ? ` --faults ${values.faults}` : ''}`,
  );
  return result.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`soak: ${(e as Error).message}`);
    process.exitCode = 2;
  },
);
