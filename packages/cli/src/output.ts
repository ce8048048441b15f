import type { LogRecord, LogSink, Metrics } from '@stevedore/kernel';

/** How the worker's log is written: human-friendly on a terminal, JSON lines otherwise or with `--json`. */
export interface OutputOptions {
  json: boolean;
  /** The stream is a terminal. */
  tty: boolean;
  /** Colours (a terminal without `NO_COLOR`). */
  color: boolean;
  write: (line: string) => void;
}

/** Picks the output mode from `--json`, the stream and `NO_COLOR`/`FORCE_COLOR` (https://no-color.org). */
export function outputOptions(
  json: boolean,
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined>,
  write: (line: string) => void,
): OutputOptions {
  const tty = Boolean(stream.isTTY) && !json;
  const color = tty && !env.NO_COLOR && env.TERM !== 'dumb';
  return { json: json || !tty, tty, color: color || (tty && Boolean(env.FORCE_COLOR)), write };
}

const COLORS = { debug: '\x1b[90m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' } as const;
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** Meta keys that every line carries and a person does not need to read again. */
const QUIET_KEYS = new Set(['worker', 'component', 'service']);

function metaValue(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (
    v instanceof Error ||
    (typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string')
  )
    return JSON.stringify((v as { message: string }).message);
  return undefined; // nested objects stay in the JSON output
}

/** One record as a terminal line: `12:15:32 INFO  message key=value`. */
export function formatPretty(r: LogRecord, color: boolean): string {
  const time = r.time.slice(11, 19);
  const level = r.level.toUpperCase().padEnd(5);
  const meta = Object.entries(r.meta)
    .filter(([k]) => !QUIET_KEYS.has(k))
    .map(([k, v]) => {
      const s = metaValue(v);
      return s === undefined ? undefined : `${k}=${s}`;
    })
    .filter((s): s is string => s !== undefined)
    .join(' ');
  if (!color) return `${time} ${level} ${r.message}${meta ? ` ${meta}` : ''}`;
  return `${DIM}${time}${RESET} ${COLORS[r.level]}${level}${RESET} ${r.message}${meta ? ` ${DIM}${meta}${RESET}` : ''}`;
}

/** The kernel's log sink for this output mode (records arrive already redacted). */
export function createCliSink(o: OutputOptions): LogSink {
  if (o.json)
    return (r) => o.write(JSON.stringify({ level: r.level, time: r.time, msg: r.message, ...r.meta }));
  return (r) => o.write(formatPretty(r, o.color));
}

const SUMMARY: ReadonlyArray<readonly [string, string, Record<string, string>?]> = [
  ['claimed', 'stevedore_flow_runs_claimed_total'],
  ['launched', 'stevedore_flow_runs_launched_total'],
  ['crashed before launch', 'stevedore_flow_runs_crashed_total', { stage: 'submit' }],
  ['crashed after launch', 'stevedore_flow_runs_crashed_total', { stage: 'infrastructure' }],
  ['cancelled', 'stevedore_flow_runs_cancelled_total'],
  ['relaunched', 'stevedore_flow_runs_retried_total', { class: 'relaunch' }],
];

/** The counts of the worker's session, read from its metrics registry. */
export function sessionSummary(metrics: Metrics): Array<[string, number]> {
  return SUMMARY.map(([label, name, labels]) => [label, metrics.counter(name, '').get(labels)]);
}

/** Prints the summary: a small table on a terminal, one JSON line otherwise. */
export function writeSummary(o: OutputOptions, metrics: Metrics): void {
  const rows = sessionSummary(metrics);
  if (o.json) {
    o.write(
      JSON.stringify({
        level: 'info',
        time: new Date().toISOString(),
        msg: 'Worker summary',
        ...Object.fromEntries(rows.map(([k, v]) => [k.replace(/ /g, '_'), v])),
      }),
    );
    return;
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  o.write('Flow runs this session:');
  for (const [k, v] of rows) o.write(`  ${k.padEnd(width)}  ${String(v).padStart(6)}`);
}
