import {
  type AnyPlugin,
  type Clock,
  type CreateKernelOptions,
  createKernel,
  createMemoryLogger,
  type Kernel,
  type LogRecord,
  Redactor,
} from '@stevedore/kernel';

/** Options of {@link createTestKernel}. @public */
export interface CreateTestKernelOptions {
  plugins: readonly AnyPlugin[];
  /** Prefect API URL, e.g. an emulator's `url`. */
  apiUrl: string;
  pool?: string;
  /** Any other config keys (camelCase flag names), merged over fast test defaults. */
  config?: Record<string, unknown>;
  clock?: Clock;
  overrides?: Partial<Omit<CreateKernelOptions, 'plugins' | 'config'>>;
}

/** A kernel plus its captured log records. @public */
export interface TestKernel extends Kernel {
  records: LogRecord[];
  /** Runs the worker in the background; `stop()` aborts it and waits. */
  start(): { stop(): Promise<void>; done: Promise<void> };
}

/**
 * Boots the real kernel wiring with a memory logger and fast intervals, for tests of plugins and of
 * the kernel itself (like Backstage's `startTestBackend`).
 * @public
 */
export function createTestKernel(options: CreateTestKernelOptions): TestKernel {
  const redactor = new Redactor();
  const logger = createMemoryLogger({ redactor });
  const kernel = createKernel({
    plugins: options.plugins,
    config: {
      apiUrl: options.apiUrl,
      pool: options.pool ?? 'test-pool',
      querySeconds: 0.05,
      heartbeatSeconds: 0.2,
      trackerPollSeconds: 0.05,
      cancellationPollSeconds: 0.05,
      crashGraceSeconds: 0,
      stopTimeoutSeconds: 5,
      maxRetries: 0,
      requestTimeoutSeconds: 5,
      ...options.config,
    },
    logger,
    redactor,
    ...(options.clock ? { clock: options.clock } : {}),
    ...options.overrides,
  });
  return Object.assign(kernel, {
    records: logger.records,
    start() {
      const ac = new AbortController();
      const done = kernel.run(ac.signal);
      return {
        done,
        async stop() {
          ac.abort();
          await done;
        },
      };
    },
  });
}
