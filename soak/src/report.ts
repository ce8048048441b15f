import { FAULT_CATALOGUE } from './faults.js';
import type { SoakResult } from './harness.js';

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** The soak's table: faults injected, invariants held, run outcomes. */
export function formatSoak(r: SoakResult): string[] {
  const out: string[] = [];
  out.push(
    `Soak: seed ${r.seed}, ${r.settings.runs} runs (${r.settings.arrivalPerSecond}/s), ${r.settings.workers} workers, events queue ${r.settings.events ? 'on' : 'off'}, ${Math.round(r.durationMs / 1000)} s`,
  );
  out.push('');
  out.push(
    ...table(
      ['fault', 'scheduled', 'injected', 'reached', 'needs'],
      r.faults.map((f) => [f.kind, String(f.scheduled), String(f.injected), String(f.hits), f.needs ?? '']),
    ),
  );
  out.push('');
  out.push(
    ...table(
      ['invariant', 'held', 'checked'],
      r.invariants.map((i) => [i.name, i.held ? 'yes' : `NO (${i.violations.length})`, i.checked]),
    ),
  );
  for (const i of r.invariants.filter((x) => !x.held)) {
    out.push('');
    out.push(`${i.name} — violations:`);
    for (const v of i.violations) out.push(`  ${v}`);
  }
  out.push('');
  const states = Object.entries(r.runs.byState)
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  out.push(
    `Runs: ${r.runs.seeded} seeded → ${states}. Tasks: ${r.tasks.launched} launched, ${r.tasks.stillRunning} not stopped.`,
  );
  out.push(
    `Workers: ${r.workers.processesStarted} processes started, ${r.workers.killed} killed with SIGKILL, ${r.workers.exitedOnTheirOwn.length} exited on their own.`,
  );
  out.push(
    `AWS: ${r.aws.calls} calls, ${r.aws.throttled} answered a throttling error (quotas and injected); Prefect API: ${r.prefect.calls} calls. Responses off the models/OpenAPI: AWS ${r.aws.schemaErrors}, Prefect ${r.prefect.schemaErrors}.`,
  );
  const sqs = Object.entries(r.aws.sqs);
  if (sqs.length > 0) {
    const total = sqs.reduce((n, [, c]) => n + c, 0);
    const perRun = r.runs.seeded > 0 ? (total / r.runs.seeded).toFixed(1) : '0';
    out.push(`SQS: ${total} calls (${perRun} per run): ${sqs.map(([op, n]) => `${op} ${n}`).join(', ')}.`);
  }
  out.push(`${r.drained ? 'Drained' : 'NOT drained'}; invariants ${r.ok ? 'all held' : 'VIOLATED'}.`);
  return out;
}

/** The fault kinds and what each does, for --help. */
export function describeFaultKinds(): string[] {
  return Object.values(FAULT_CATALOGUE).map(
    (f) => `  ${f.kind.padEnd(22)} ${f.what}${f.needs ? ` [needs ${f.needs}]` : ''}`,
  );
}

/** The soak's figures as markdown (for the root README's "Reliability" section). */
export function formatSoakMarkdown(r: SoakResult): string[] {
  const states = Object.entries(r.runs.byState)
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  return [
    `Seed ${r.seed}: ${r.settings.runs} runs at ${r.settings.arrivalPerSecond}/s, ${r.settings.workers} workers, events queue ${r.settings.events ? 'on' : 'off'}; ${r.runs.seeded} runs → ${states}; ${r.tasks.launched} tasks.`,
    '',
    '| fault | scheduled | injected | requests, tasks or messages reached |',
    '| --- | --- | --- | --- |',
    ...r.faults.map((f) => `| ${f.kind} | ${f.scheduled} | ${f.injected} | ${f.hits} |`),
    '',
    '| invariant | held | checked |',
    '| --- | --- | --- |',
    ...r.invariants.map(
      (i) => `| ${i.name} | ${i.held ? 'yes' : `**no** (${i.violations.length})`} | ${i.checked} |`,
    ),
  ];
}
