import type { Clock } from '../clock.js';
import type { Logger, LogLevel, LogMeta, Redactor } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import type { PrefectLog } from '../prefect/types.js';

const PY_LEVEL: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Ships worker messages about a flow run to that run's logs in Prefect (`POST /logs/`), as Prefect's
 * worker does through its flow-run logger. Batched; never blocks the caller; a failed upload is
 * logged locally and dropped (the worker log still has the line).
 * @internal
 */
export class FlowRunLogShipper {
  private queue: PrefectLog[] = [];
  private flushing: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly api: PrefectApi,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly redactor: Redactor,
    private readonly maxBatch = 200,
    private readonly flushDelayMs = 500,
  ) {}

  /** A logger that writes to the worker log and to the flow run's Prefect logs. */
  forRun(flowRunId: string, meta: LogMeta = {}): Logger {
    const local = this.logger.child({ flowRunId, ...meta });
    const make = (base: Logger): Logger => {
      const emit = (level: LogLevel) => (message: string, m?: LogMeta) => {
        base[level](message, m);
        if (level !== 'debug') this.enqueue(flowRunId, level, message);
      };
      return {
        debug: emit('debug'),
        info: emit('info'),
        warn: emit('warn'),
        error: emit('error'),
        child: (m) => make(base.child(m)),
      };
    };
    return make(local);
  }

  private enqueue(flowRunId: string, level: LogLevel, message: string): void {
    this.queue.push({
      name: 'prefect.flow_runs.worker',
      level: PY_LEVEL[level],
      message: this.redactor.redactString(message),
      timestamp: this.clock.now().toISOString(),
      flow_run_id: flowRunId,
    });
    if (this.queue.length >= this.maxBatch) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushDelayMs);
      this.timer.unref?.();
    }
  }

  /** Sends everything queued; resolves when sent (or dropped after a failure). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.flushing = this.api
      .createLogs(batch, { signal: AbortSignal.timeout(30_000) })
      .catch((e: unknown) => {
        // Losing these lines is acceptable: each was also written to the worker log.
        this.logger.warn('Could not send worker messages to the flow run logs in Prefect.', {
          error: e,
          lines: batch.length,
        });
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
    if (this.queue.length > 0) await this.flush();
  }
}
