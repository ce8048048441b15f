import {
  type AnyPlugin,
  type BaseJobTemplate,
  definePlugin,
  type FlowRunJob,
  type Infrastructure,
  InfrastructureNotFoundError,
  type InfrastructureStateChange,
  KERNEL_VERSION,
  type LiveInfrastructure,
  type ObservationSink,
  type Observer,
  StevedoreError,
} from '@stevedore/kernel';

/** A submission the fake infrastructure received. @public */
export interface FakeSubmission {
  identifier: string;
  job: FlowRunJob;
  attemptKey: string;
  /** How many times `submit` was called with this attempt key (retries are idempotent). */
  calls: number;
}

/** Options of {@link createFakeInfrastructure}. @public */
export interface FakeInfrastructureOptions {
  type?: string;
  template?: BaseJobTemplate;
  /** Return an error to make `submit` fail for a job. */
  failSubmit?: (job: FlowRunJob) => Error | undefined;
  /** Delay of each submit, in ms. */
  latencyMs?: number;
}

/** A minimal base job template for the fake type: command, env, labels, name, plus an `image` variable. @public */
export const fakeBaseJobTemplate: BaseJobTemplate = {
  job_configuration: {
    command: '{{ command }}',
    env: '{{ env }}',
    labels: '{{ labels }}',
    name: '{{ name }}',
    image: '{{ image }}',
    cpu: '{{ cpu }}',
  },
  variables: {
    type: 'object',
    properties: {
      command: { type: 'string', title: 'Command' },
      env: { type: 'object', title: 'Environment Variables', additionalProperties: { type: 'string' } },
      labels: { type: 'object', title: 'Labels', additionalProperties: { type: 'string' } },
      name: { type: 'string', title: 'Name' },
      image: { type: 'string', title: 'Image', default: 'prefecthq/prefect:3-latest' },
      cpu: { type: 'integer', title: 'CPU', default: 1024 },
    },
  },
};

/**
 * An in-memory {@link Infrastructure}: records submissions, is idempotent per attempt key, and lets
 * tests drive the lifecycle of what it "launched" through its observer.
 * @public
 */
export class FakeInfrastructure implements Infrastructure {
  readonly type: string;
  readonly submissions = new Map<string, FakeSubmission>();
  readonly killed: string[] = [];
  private readonly byAttempt = new Map<string, string>();
  private readonly stopped = new Set<string>();
  private sink: ObservationSink | undefined;
  private seq = 0;

  constructor(private readonly options: FakeInfrastructureOptions = {}) {
    this.type = options.type ?? 'fake';
  }

  defaultBaseJobTemplate(): BaseJobTemplate {
    return structuredClone(this.options.template ?? fakeBaseJobTemplate);
  }

  async submit(job: FlowRunJob, opts: { signal: AbortSignal }): Promise<{ identifier: string }> {
    if (this.options.latencyMs) await new Promise((r) => setTimeout(r, this.options.latencyMs));
    if (opts.signal.aborted) throw opts.signal.reason;
    const existing = this.byAttempt.get(job.attemptKey);
    if (existing) {
      const s = this.submissions.get(existing) as FakeSubmission;
      s.calls += 1;
      return { identifier: existing };
    }
    const failure = this.options.failSubmit?.(job);
    if (failure) throw failure;
    this.seq += 1;
    const identifier = `fake-cluster::fake-task-${this.seq}`;
    this.byAttempt.set(job.attemptKey, identifier);
    this.submissions.set(identifier, { identifier, job, attemptKey: job.attemptKey, calls: 1 });
    return { identifier };
  }

  async kill(identifier: string): Promise<void> {
    if (!this.submissions.has(identifier) || this.stopped.has(identifier)) {
      throw new InfrastructureNotFoundError(`No fake task '${identifier}'.`);
    }
    this.killed.push(identifier);
    this.emit({
      identifier,
      status: 'stopped',
      exitCode: 143,
      stopCode: 'UserInitiated',
      stopReason: 'Killed by worker',
    });
  }

  /** Reconciliation: what is "running" (submitted and not stopped) for `workPool`. */
  async listLive(opts: { workPool: string }): Promise<LiveInfrastructure[]> {
    return [...this.submissions.values()]
      .filter((s) => !this.stopped.has(s.identifier) && s.job.workPool.name === opts.workPool)
      .map((s) => ({ identifier: s.identifier, flowRunId: s.job.flowRun.id }));
  }

  /** Reconciliation: stopped submissions of these runs in `workPool`. */
  async findStopped(opts: {
    workPool: string;
    flowRunIds: readonly string[];
  }): Promise<LiveInfrastructure[]> {
    const wanted = new Set(opts.flowRunIds);
    return [...this.submissions.values()]
      .filter(
        (s) =>
          this.stopped.has(s.identifier) &&
          s.job.workPool.name === opts.workPool &&
          wanted.has(s.job.flowRun.id),
      )
      .map((s) => ({ identifier: s.identifier, flowRunId: s.job.flowRun.id }));
  }

  /** Flow runs submitted, by id (one entry per launched task). */
  flowRunIds(): string[] {
    return [...this.submissions.values()].map((s) => s.job.flowRun.id);
  }

  /** Reports a state change through the fake observer (when the worker runs it). */
  emit(change: InfrastructureStateChange): void {
    if (change.status === 'stopped') this.stopped.add(change.identifier);
    // Like a real observer: only identifiers the kernel tracks are reported.
    if (this.sink?.tracked().some((t) => t.identifier === change.identifier)) this.sink.report(change);
  }

  /** The observer that delivers {@link FakeInfrastructure.emit} changes to the kernel. */
  observer(): Observer {
    return {
      name: `${this.type}-fake-observer`,
      kind: 'event',
      infrastructureType: this.type,
      run: async (sink, signal) => {
        this.sink = sink;
        sink.reportHealth(`${this.type}-fake-observer`, { healthy: true, coverage: 'all' });
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.sink = undefined;
      },
    };
  }
}

/** Creates a {@link FakeInfrastructure}. @public */
export function createFakeInfrastructure(options: FakeInfrastructureOptions = {}): FakeInfrastructure {
  return new FakeInfrastructure(options);
}

/** Wraps a fake infrastructure (and its observer) as a plugin. @public */
export function fakeInfrastructurePlugin(fake: FakeInfrastructure, id = 'fake-infrastructure'): AnyPlugin {
  return definePlugin({
    id,
    kernel: `^${KERNEL_VERSION}`,
    packageName: '@stevedore/testkit',
    register(r) {
      r.provideInfrastructure({ create: () => fake });
      r.provideObserver({ create: () => fake.observer() });
    },
  });
}

/** An error class for tests that need a named failure. @public */
export class FakeLaunchError extends StevedoreError {
  constructor(message: string) {
    super('TESTKIT_FAKE_LAUNCH', message);
  }
}
