import type { Clock } from '../clock.js';
import { isStevedoreError, kernelErrorCodes, StevedoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import { clampedPoissonInterval } from '../prefect/jitter.js';

/** Options of {@link runServiceLoop}. @public */
export interface ServiceLoopOptions {
  name: string;
  intervalMs: () => number;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
  /** Jitter range, as a fraction of the interval (Prefect: 0.3). */
  jitterRange?: number;
  /** Consecutive failures that make one backoff round (Prefect: 3). */
  failuresPerRound?: number;
  /** Backoff rounds tolerated before the loop gives up (Prefect: 4). */
  maxRounds?: number;
  random?: () => number;
  /** Run only once (`--run-once`). */
  once?: boolean;
}

/**
 * True for failures that count against the error budget instead of stopping the worker:
 * transport errors and HTTP ≥ 500 (spec §1.11), HTTP 429, and anything marked retryable.
 *
 * 429 differs from Prefect's `critical_service_loop`, which re-raises every status below 500 and so stops the
 * worker when its client's 429 retries run out. A rate limit is transient by definition: the worker backs off
 * within its error budget instead. Found by the 10,000-run soak (a worker exited on a `POST /flow_runs/filter`
 * answered 429 throughout an injected window).
 * @public
 */
export function isTransientFailure(e: unknown): boolean {
  if (isStevedoreError(e)) {
    const status = (e as { status?: unknown }).status;
    if (typeof status === 'number') return status === 0 || status === 429 || status >= 500;
    return e.retryable;
  }
  return false;
}

/**
 * Prefect's `critical_service_loop`: runs `fn` every interval (jittered); transient failures are
 * counted, and after `maxRounds` rounds of `failuresPerRound` consecutive failures (about 12) the loop
 * rejects with `KERNEL_SERVICE_ERROR_THRESHOLD`, which stops the worker. Non-transient errors (an HTTP
 * 4xx such as a bad API key) reject at once. One success resets the count.
 * @public
 */
export async function runServiceLoop(
  fn: (signal: AbortSignal) => Promise<void>,
  opts: ServiceLoopOptions,
): Promise<void> {
  const jitter = opts.jitterRange ?? 0.3;
  const perRound = opts.failuresPerRound ?? 3;
  const maxRounds = opts.maxRounds ?? 4;
  const random = opts.random ?? Math.random;
  let consecutive = 0;
  let rounds = 0;
  while (!opts.signal.aborted) {
    try {
      await fn(opts.signal);
      if (rounds > 0 || consecutive > 0)
        opts.logger.info('Resetting backoff due to successful run.', { service: opts.name });
      consecutive = 0;
      rounds = 0;
    } catch (e) {
      if (opts.signal.aborted) return;
      if (!isTransientFailure(e)) throw e;
      consecutive += 1;
      opts.logger.warn(`${opts.name} failed: ${(e as Error).message}`, { service: opts.name, error: e });
      if (consecutive >= perRound) {
        rounds += 1;
        consecutive = 0;
        opts.logger.error(
          `Failed the last ${perRound} attempts. Please check your environment and configuration (PREFECT_API_URL, PREFECT_API_KEY, network access to the Prefect API).`,
          { service: opts.name, round: rounds },
        );
        if (rounds >= maxRounds) {
          throw new StevedoreError(
            kernelErrorCodes.SERVICE_ERROR_THRESHOLD,
            `Service '${opts.name}' exceeded error threshold.`,
            {
              cause: e,
            },
          );
        }
      }
    }
    if (opts.once) return;
    const base = opts.intervalMs();
    // Prefect's clamped Poisson jitter: at most (1 + j)× the interval, mean about the interval.
    const delay = clampedPoissonInterval(base, jitter, random);
    try {
      await opts.clock.sleep(delay, opts.signal);
    } catch {
      return; // aborted: the loop ends quietly, the caller owns shutdown
    }
  }
}
