/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. @public */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/** The real {@link Sleep}: a timer cleared on abort. @public */
export const abortableSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Retry timing of the two AWS calls the reference retries itself (spec §3.1 settings, §2.4 B and E).
 * Defaults are the reference's.
 * @public
 */
export interface EcsRetryOptions {
  /** RunTask attempts (`…_CREATE_TASK_RUN_MAX_ATTEMPTS`, 3). */
  runTaskMaxAttempts: number;
  /** Fixed wait between RunTask attempts (`…_CREATE_TASK_RUN_MIN_DELAY_SECONDS`, 1 s). */
  runTaskDelayMs: number;
  /** Jitter added to that wait, uniform in [min, max] (0–3 s). */
  runTaskMinJitterMs: number;
  runTaskMaxJitterMs: number;
  /** RegisterTaskDefinition attempts (`…_REGISTER_TASK_DEFINITION_MAX_ATTEMPTS`, 3). */
  registerMaxAttempts: number;
  /** Exponential backoff start and cap (1 s, 10 s); each wait is `min(initial·2^(n-1) + U(0, 1 s), max)`. */
  registerInitialDelayMs: number;
  registerMaxDelayMs: number;
}

/** The reference's retry settings. @public */
export const defaultEcsRetryOptions: Readonly<EcsRetryOptions> = Object.freeze({
  runTaskMaxAttempts: 3,
  runTaskDelayMs: 1000,
  runTaskMinJitterMs: 0,
  runTaskMaxJitterMs: 3000,
  registerMaxAttempts: 3,
  registerInitialDelayMs: 1000,
  registerMaxDelayMs: 10_000,
});
