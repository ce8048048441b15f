/**
 * Structured logging with redaction. Plugins receive a {@link Logger}; they never write to the console.
 * @public
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogMeta = Record<string, unknown>;

/** @public */
export interface Logger {
  debug(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  error(message: string, meta?: LogMeta): void;
  child(meta: LogMeta): Logger;
}

/** One emitted record, as given to a {@link LogSink}. @public */
export interface LogRecord {
  level: LogLevel;
  time: string;
  message: string;
  meta: LogMeta;
}

/** @public */
export type LogSink = (record: LogRecord) => void;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Keys whose values are never logged, whatever their nesting. Case-insensitive, matched as substrings. */
const SENSITIVE_KEY =
  /(api[_-]?key|auth[_-]?string|password|passwd|secret|token|credential|authorization|session)/i;

/** Tracks literal secret values (for example the Prefect API key) so they are masked wherever they appear. @public */
export class Redactor {
  private readonly secrets = new Set<string>();

  /** Registers literal values to mask. Values shorter than 4 characters are ignored (too many false hits). */
  addSecret(...values: Array<string | undefined | null>): this {
    for (const v of values) if (typeof v === 'string' && v.length >= 4) this.secrets.add(v);
    return this;
  }

  isSensitiveKey(key: string): boolean {
    return SENSITIVE_KEY.test(key) && !/_ARN$|Arn$|_arn$/.test(key);
  }

  redactString(s: string): string {
    let out = s;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join('***');
    return out;
  }

  /** Deep-copies `value`, masking sensitive keys and every registered secret value. */
  redact(value: unknown, depth = 0): unknown {
    if (depth > 12) return '[…]';
    if (typeof value === 'string') return this.redactString(value);
    if (value instanceof Error) {
      const base: Record<string, unknown> = { name: value.name, message: this.redactString(value.message) };
      const code = (value as { code?: unknown }).code;
      if (code !== undefined) base.code = code;
      return base;
    }
    if (Array.isArray(value)) return value.map((v) => this.redact(v, depth + 1));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        out[k] =
          this.isSensitiveKey(k) && v !== null && v !== undefined && v !== ''
            ? '***'
            : this.redact(v, depth + 1);
      }
      // ECS-style env lists: [{ name: 'PREFECT_API_KEY', value: '…' }]
      if (typeof out.name === 'string' && 'value' in out && this.isSensitiveKey(out.name)) out.value = '***';
      return out;
    }
    return value;
  }
}

/** Options of {@link createLogger}. @public */
export interface CreateLoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  redactor?: Redactor;
  meta?: LogMeta;
  clock?: () => Date;
}

class SinkLogger implements Logger {
  constructor(
    private readonly min: number,
    private readonly sink: LogSink,
    private readonly redactor: Redactor,
    private readonly meta: LogMeta,
    private readonly now: () => Date,
  ) {}
  private emit(level: LogLevel, message: string, meta?: LogMeta): void {
    if (LEVELS[level] < this.min) return;
    const merged = meta ? { ...this.meta, ...meta } : this.meta;
    this.sink({
      level,
      time: this.now().toISOString(),
      message: this.redactor.redactString(message),
      meta: this.redactor.redact(merged) as LogMeta,
    });
  }
  debug(m: string, meta?: LogMeta) {
    this.emit('debug', m, meta);
  }
  info(m: string, meta?: LogMeta) {
    this.emit('info', m, meta);
  }
  warn(m: string, meta?: LogMeta) {
    this.emit('warn', m, meta);
  }
  error(m: string, meta?: LogMeta) {
    this.emit('error', m, meta);
  }
  child(meta: LogMeta): Logger {
    return new SinkLogger(this.min, this.sink, this.redactor, { ...this.meta, ...meta }, this.now);
  }
}

/** A logger that redacts, filters by level and hands records to a sink (JSON lines on stderr by default). @public */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const sink: LogSink =
    options.sink ??
    ((r) =>
      process.stderr.write(
        `${JSON.stringify({ level: r.level, time: r.time, msg: r.message, ...r.meta })}\n`,
      ));
  return new SinkLogger(
    LEVELS[options.level ?? 'info'],
    sink,
    options.redactor ?? new Redactor(),
    options.meta ?? {},
    options.clock ?? (() => new Date()),
  );
}

/** A logger that keeps records in memory, for tests. @public */
export function createMemoryLogger(
  options: Omit<CreateLoggerOptions, 'sink'> = {},
): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = createLogger({ level: 'debug', ...options, sink: (r) => records.push(r) });
  return Object.assign(logger, { records });
}

/** A logger that discards everything. @public */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
};
