import type { DescribeTasksFigures, RunOutcomeFigures, RunTaskFigures } from './figures.js';

/** Everything `pnpm bench` measured, as written to `bench/results/latest.json`. */
export interface BenchResult {
  scenario: 'burst';
  /** ISO time the benchmark finished. */
  date: string;
  commit: string | null;
  /** Tracked files differed from `commit` (work in progress was measured). */
  dirty: boolean;
  node: string;
  platform: string;
  settings: {
    runs: number;
    runMs: number;
    querySeconds: number;
    trackerPollSeconds: number;
    submissionLimit: number;
    quotasEnforced: true;
    /** The emulated account's RunTask token bucket. */
    runTaskQuota: { burst: number; ratePerSecond: number };
  };
  /** Whether every run reached a final state before the timeout. */
  finished: boolean;
  outcomes: RunOutcomeFigures;
  runTask: RunTaskFigures;
  throttling: {
    /** Throttling errors the emulator answered the worker, by operation. */
    byOperation: Record<string, number>;
    total: number;
  };
  aws: {
    /** Requests (every attempt) by operation. */
    calls: Record<string, number>;
    /** Requests ÷ runs, by operation. */
    callsPerRun: Record<string, number>;
    registerTaskDefinition: number;
    registerTaskDefinitionAfterFirst: number;
  };
  describeTasks: DescribeTasksFigures;
  prefect: { total: number; perRun: number; byRoute: Record<string, number> };
  rss: {
    /** Median VmRSS while the worker idled on an empty pool, before the runs were seeded (MiB). */
    idleMiB: number;
    /** Largest VmRSS sampled (every 250 ms) over the whole benchmark (MiB). */
    peakMiB: number;
    /** VmHWM at the end: the kernel's own peak of the resident set (MiB). */
    hwmMiB: number;
    /** VmRSS once every run was final and the tracker had settled (MiB). */
    settledMiB: number;
    /** Peak ÷ idle. */
    peakOverIdle: number;
    samples: number;
  };
  cpu: {
    /** Worker CPU (user + system) from seeding to the last run final, ÷ runs (ms). */
    workerMsPerRun: number;
    /** Worker CPU ÷ elapsed time over that phase: 1.0 is one core saturated (its event loop is bound to one). */
    workerShareOfCore: number;
    /** The same while idle before seeding. */
    workerIdleShareOfCore: number;
    /** The benchmark process (both emulators) over the load phase: near 1.0 means the emulators set the pace. */
    emulatorsShareOfCore: number;
  };
  emulatorSchemaErrors: { aws: number; prefect: number };
  worker: {
    exitCode: number | null;
    signal: string | null;
    log: string;
    /** Lines of its log by level (`info`, `warn`, `error`…; `text` for lines that are not JSON). */
    logLevels: Record<string, number>;
  };
  /** Diagnostics, per second since the runs were seeded (not figures: they depend on the machine). */
  timeline: { launchesPerSecond: number[]; runTaskThrottledPerSecond: number[] };
}

export interface Row {
  figure: string;
  value: string;
  goal: string;
  met: boolean | null;
}

/** One row of the combined table of `pnpm bench`. */
export interface ScenarioRow extends Row {
  scenario: string;
}

/** What the scenarios of one `pnpm bench` produced: JSON per scenario, rows of the one table, notes under it. */
export interface ScenarioOutput {
  results: Record<string, unknown>;
  rows: ScenarioRow[];
  notes: string[];
}

const fmt = (n: number, digits = 2): string => n.toFixed(digits);

/** The rows of scenario `burst`. */
export function burstRows(r: BenchResult): Row[] {
  const per = r.aws.callsPerRun;
  const rt = r.runTask;
  const dt = r.describeTasks;
  const other = Object.entries(r.outcomes.finalStates)
    .filter(([k]) => k !== 'COMPLETED')
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  return [
    {
      figure: 'runs COMPLETED / seeded',
      value: `${r.outcomes.completed} / ${r.outcomes.runs}${other ? ` (${other})` : ''}`,
      goal: 'all',
      met: r.outcomes.completed === r.outcomes.runs,
    },
    {
      figure: `RunTask throughput after the burst ÷ ${rt.quotaPerSecond}/s quota`,
      value:
        rt.sustainedRatio === null
          ? (rt.sustainedNote ?? 'n/a')
          : `${fmt(rt.sustainedRatio)} (${rt.sustainedLaunches} launches after the first ${rt.burst})`,
      goal: '→ 1.00',
      met: rt.sustainedRatio === null ? null : rt.sustainedRatio >= 0.9,
    },
    {
      figure: 'RunTask burst drawn on; launch schedule ÷ quota-ideal',
      value: `${fmt(rt.burstUsed)} of ${rt.burst} tokens; ${rt.scheduleEfficiency === null ? 'n/a' : fmt(rt.scheduleEfficiency)}`,
      goal: '1; 1',
      met: null,
    },
    {
      figure: 'throttling errors answered to the worker',
      value:
        r.throttling.total === 0
          ? '0'
          : `${r.throttling.total} (${Object.entries(r.throttling.byOperation)
              .map(([op, n]) => `${op} ${n}`)
              .join(', ')})`,
      goal: '—',
      met: null,
    },
    {
      figure: 'runs that throttling reached (state or run log)',
      value: `${r.outcomes.runsThrottlingReached} (${r.outcomes.crashedByThrottling} crashed by it)`,
      goal: '0',
      met: r.outcomes.runsThrottlingReached === 0,
    },
    {
      figure: 'RunTask calls per run',
      value: fmt(per['ecs:RunTask'] ?? 0, 3),
      goal: '1',
      met: Math.abs((per['ecs:RunTask'] ?? 0) - 1) < 0.0005,
    },
    {
      figure: 'RegisterTaskDefinition calls after the first',
      value: String(r.aws.registerTaskDefinitionAfterFirst),
      goal: '0',
      met: r.aws.registerTaskDefinitionAfterFirst === 0,
    },
    {
      figure: 'DescribeTasks calls per 100 tracked tasks per poll (worst / mean poll)',
      value: `${fmt(dt.callsPer100TrackedPerPollMax)} / ${fmt(dt.callsPer100TrackedPerPollMean)} (${dt.calls} calls, ${dt.polls} polls, ${fmt(dt.meanTasksPerCall, 1)} tasks per call)`,
      goal: '≤ 1',
      met: dt.callsPer100TrackedPerPollMax <= 1,
    },
    {
      figure: 'DescribeTasks: descriptions of tasks already seen STOPPED',
      value: `${dt.descriptionsAfterSeenStopped} of ${dt.taskDescriptions} descriptions (${dt.callsOnlyForTasksSeenStopped} calls named only such tasks)`,
      goal: '0',
      met: dt.descriptionsAfterSeenStopped === 0,
    },
    {
      figure: 'other AWS calls per run',
      value:
        Object.entries(per)
          .filter(([op]) => op !== 'ecs:RunTask' && op !== 'ecs:DescribeTasks')
          .map(([op, n]) => `${op} ${fmt(n, 3)}`)
          .join(', ') || 'none',
      goal: '—',
      met: null,
    },
    {
      figure: 'Prefect API calls per run (worker)',
      value: fmt(r.prefect.perRun),
      goal: '—',
      met: null,
    },
    {
      figure: 'worker CPU per run (ms); share of a core: worker / emulators',
      value: `${fmt(r.cpu.workerMsPerRun, 1)}; ${fmt(r.cpu.workerShareOfCore)} / ${fmt(r.cpu.emulatorsShareOfCore)} (idle worker ${fmt(r.cpu.workerIdleShareOfCore)})`,
      goal: '—',
      met: null,
    },
    {
      figure: 'worker RSS: idle → peak (MiB)',
      value: `${fmt(r.rss.idleMiB, 1)} → ${fmt(r.rss.peakMiB, 1)} (×${fmt(r.rss.peakOverIdle)}; VmHWM ${fmt(r.rss.hwmMiB, 1)}, settled ${fmt(r.rss.settledMiB, 1)})`,
      goal: '—',
      met: null,
    },
  ];
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** The lines under the table for scenario `burst`: runs that did not complete, the worker's exit and log. */
export function formatNotes(r: BenchResult): string[] {
  const lines: string[] = [];
  if (r.outcomes.sampleMessages.length > 0) {
    lines.push('runs that did not complete (sample):');
    for (const m of r.outcomes.sampleMessages) lines.push(`  ${m}`);
  }
  const levels = Object.entries(r.worker.logLevels)
    .map(([level, n]) => `${n} ${level}`)
    .join(', ');
  lines.push(
    `${r.settings.runs} runs; worker stopped with ${r.worker.signal ?? `exit code ${r.worker.exitCode}`} after SIGTERM; log lines: ${levels || 'none'}.`,
  );
  if (r.emulatorSchemaErrors.aws + r.emulatorSchemaErrors.prefect > 0) {
    lines.push(
      `warning: the emulators logged ${r.emulatorSchemaErrors.aws} AWS and ${r.emulatorSchemaErrors.prefect} Prefect schema errors; the figures may be off.`,
    );
  }
  return lines;
}

/** The one console table of `pnpm bench`: every scenario's figures. */
export function formatScenarioTable(rows: readonly ScenarioRow[]): string[] {
  const ws = Math.max(8, ...rows.map((x) => x.scenario.length));
  const wf = Math.max(6, ...rows.map((x) => x.figure.length));
  const wg = Math.max(4, ...rows.map((x) => x.goal.length));
  const lines = [
    `${pad('scenario', ws)}  ${pad('figure', wf)}  ${pad('goal', wg)}  met  value`,
    `${'-'.repeat(ws)}  ${'-'.repeat(wf)}  ${'-'.repeat(wg)}  ---  ${'-'.repeat(5)}`,
  ];
  for (const x of rows) {
    const met = x.met === null ? '   ' : x.met ? 'yes' : 'NO ';
    lines.push(`${pad(x.scenario, ws)}  ${pad(x.figure, wf)}  ${pad(x.goal, wg)}  ${met}  ${x.value}`);
  }
  return lines;
}

/** The table as markdown (for the root README's "Performance" section). */
export function formatScenarioMarkdown(rows: readonly ScenarioRow[]): string[] {
  const cell = (s: string) => s.replaceAll('|', '\\|');
  return [
    '| scenario | figure | goal | value |',
    '| --- | --- | --- | --- |',
    ...rows.map((x) => `| ${x.scenario} | ${cell(x.figure)} | ${cell(x.goal)} | ${cell(x.value)} |`),
  ];
}

/** A section for packages/ecs-launcher/README.md. */
export function formatMarkdown(r: BenchResult): string[] {
  const st = r.settings;
  const lines = [
    '### Benchmark',
    '',
    `\`pnpm bench\` (scenario \`${r.scenario}\`): ${st.runs} flow runs scheduled at once; the worker (\`stevedore start\`) in its own`,
    `process against the Prefect API and AWS emulators, AWS quotas enforced (RunTask: burst ${r.runTask.burst}, ${r.runTask.quotaPerSecond}/s).`,
    `Worker settings: submission limit ${st.submissionLimit}, query interval ${st.querySeconds} s (also the DescribeTasks poll interval),`,
    `tracker settle ${st.trackerPollSeconds} s; each simulated flow run lasts ${st.runMs} ms. Commit \`${r.commit?.slice(0, 12) ?? 'unknown'}\`${r.dirty ? ' with uncommitted changes' : ''},`,
    `Node ${r.node}, ${r.date.slice(0, 10)}; how each figure is measured: \`bench/README.md\`.`,
    '',
    '| figure | value | goal |',
    '| --- | --- | --- |',
  ];
  for (const x of burstRows(r)) {
    lines.push(`| ${x.figure} | ${x.value.replaceAll('|', '\\|')} | ${x.goal} |`);
  }
  return lines;
}
