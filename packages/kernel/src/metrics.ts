/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges read at scrape time, and
 * histograms, with labels. The kernel owns one (`kernelTokens.metrics`); plugins add their own series to it.
 * Served at `GET /metrics` next to `/health` with `--with-healthcheck`.
 */

/** Label values of one series. @public */
export type Labels = Readonly<Record<string, string>>;

/** @public */
export interface Counter {
  inc(labels?: Labels, by?: number): void;
  /** The current value of one series (tests, summaries). */
  get(labels?: Labels): number;
}

/** @public */
export interface Histogram {
  observe(value: number, labels?: Labels): void;
}

/** The registry plugins see. @public */
export interface Metrics {
  /** Creates (or returns the existing) counter `name`. Names follow Prometheus rules; `_total` is conventional. */
  counter(name: string, help: string): Counter;
  /** A gauge whose value is read from `read` at scrape time. */
  gauge(name: string, help: string, read: () => number | ReadonlyArray<readonly [Labels, number]>): void;
  histogram(name: string, help: string, buckets: readonly number[]): Histogram;
  /** The exposition text. */
  render(): string;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function key(labels: Labels | undefined): string {
  if (!labels) return '';
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`)
    .join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function series(name: string, labelKey: string, value: number): string {
  return `${name}${labelKey ? `{${labelKey}}` : ''} ${Number.isFinite(value) ? value : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN'}`;
}

type Family =
  | { kind: 'counter'; help: string; values: Map<string, number> }
  | { kind: 'gauge'; help: string; read: () => number | ReadonlyArray<readonly [Labels, number]> }
  | {
      kind: 'histogram';
      help: string;
      buckets: readonly number[];
      values: Map<string, { counts: number[]; sum: number; count: number }>;
    };

/** The default {@link Metrics} implementation. @public */
export class MetricsRegistry implements Metrics {
  private readonly families = new Map<string, Family>();

  private family<F extends Family>(name: string, make: () => F, kind: F['kind']): F {
    if (!NAME.test(name)) throw new Error(`Invalid metric name '${name}'.`);
    const existing = this.families.get(name);
    if (existing) {
      if (existing.kind !== kind) throw new Error(`Metric '${name}' is already a ${existing.kind}.`);
      return existing as F;
    }
    const f = make();
    this.families.set(name, f);
    return f;
  }

  counter(name: string, help: string): Counter {
    const f = this.family(
      name,
      () => ({ kind: 'counter' as const, help, values: new Map<string, number>() }),
      'counter',
    );
    return {
      inc: (labels, by = 1) => {
        const k = key(labels);
        f.values.set(k, (f.values.get(k) ?? 0) + by);
      },
      get: (labels) => f.values.get(key(labels)) ?? 0,
    };
  }

  gauge(name: string, help: string, read: () => number | ReadonlyArray<readonly [Labels, number]>): void {
    const f = this.family(name, () => ({ kind: 'gauge' as const, help, read }), 'gauge');
    f.read = read;
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const sorted = [...buckets].sort((a, b) => a - b);
    const f = this.family(
      name,
      () => ({
        kind: 'histogram' as const,
        help,
        buckets: sorted,
        values: new Map<string, { counts: number[]; sum: number; count: number }>(),
      }),
      'histogram',
    );
    return {
      observe: (value, labels) => {
        const k = key(labels);
        let v = f.values.get(k);
        if (!v) {
          v = { counts: f.buckets.map(() => 0), sum: 0, count: 0 };
          f.values.set(k, v);
        }
        f.buckets.forEach((b, i) => {
          if (value <= b && v) v.counts[i] = (v.counts[i] ?? 0) + 1;
        });
        v.sum += value;
        v.count += 1;
      },
    };
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of [...this.families].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} ${f.kind}`);
      if (f.kind === 'counter') {
        if (f.values.size === 0) lines.push(series(name, '', 0));
        for (const [k, v] of f.values) lines.push(series(name, k, v));
      } else if (f.kind === 'gauge') {
        let read: number | ReadonlyArray<readonly [Labels, number]>;
        try {
          read = f.read();
        } catch {
          read = Number.NaN;
        }
        if (typeof read === 'number') lines.push(series(name, '', read));
        else for (const [labels, v] of read) lines.push(series(name, key(labels), v));
      } else {
        for (const [k, v] of f.values) {
          const sep = k ? `${k},` : '';
          f.buckets.forEach((b, i) => {
            lines.push(series(`${name}_bucket`, `${sep}le="${b}"`, v.counts[i] ?? 0));
          });
          lines.push(series(`${name}_bucket`, `${sep}le="+Inf"`, v.count));
          lines.push(series(`${name}_sum`, k, v.sum), series(`${name}_count`, k, v.count));
        }
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
