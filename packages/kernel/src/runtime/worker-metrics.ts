import type { Metrics } from '../metrics.js';
import type { SubmissionOutcome } from './submitter.js';

/** Launch latency buckets, seconds: claim → infrastructure reported. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The kernel's series on the worker's registry (`GET /metrics`):
 * `stevedore_flow_runs_{claimed,launched,crashed,cancelled,retried}_total`, the launch latency histogram, and
 * gauges of runs tracked and submissions in flight. Plugins add theirs (ecs-launcher: AWS calls by operation).
 * @internal
 */
export class WorkerMetrics {
  private readonly claimed;
  private readonly launched;
  private readonly crashedTotal;
  private readonly cancelledTotal;
  private readonly retriedTotal;
  private readonly latency;

  constructor(
    readonly registry: Metrics,
    gauges: { tracked: () => number; submitting: () => number; limitCount: () => number },
  ) {
    this.claimed = registry.counter(
      'stevedore_flow_runs_claimed_total',
      'Flow runs this worker claimed (Pending accepted).',
    );
    this.launched = registry.counter(
      'stevedore_flow_runs_launched_total',
      'Flow runs whose infrastructure this worker launched (or found again on a relaunch).',
    );
    this.crashedTotal = registry.counter(
      'stevedore_flow_runs_crashed_total',
      'Flow runs this worker reported Crashed, by stage: submit (before the infrastructure existed) or infrastructure.',
    );
    this.cancelledTotal = registry.counter(
      'stevedore_flow_runs_cancelled_total',
      'Flow runs this worker marked Cancelled.',
    );
    this.retriedTotal = registry.counter(
      'stevedore_flow_runs_retried_total',
      'Launches retried or resumed, by class (e.g. relaunch after a worker died, capacity, spot interruption).',
    );
    this.latency = registry.histogram(
      'stevedore_launch_latency_seconds',
      'Time from a claim to the infrastructure being reported (RunTask and infrastructure_pid included).',
      LATENCY_BUCKETS,
    );
    registry.gauge(
      'stevedore_flow_runs_tracked',
      'Flow runs whose infrastructure this worker watches.',
      gauges.tracked,
    );
    registry.gauge(
      'stevedore_flow_runs_limit_count',
      'Flow runs counting toward --limit.',
      gauges.limitCount,
    );
    registry.gauge(
      'stevedore_submissions_in_flight',
      'Submissions between claim and infrastructure_pid.',
      gauges.submitting,
    );
  }

  /** One submission settled; `claimedAt`/`endedAt` in ms when the claim happened. */
  submission(outcome: SubmissionOutcome, claimedAt: number | undefined, endedAt: number): void {
    if (claimedAt !== undefined && outcome.kind !== 'not-claimed') this.claimed.inc();
    if (outcome.kind === 'submitted') {
      this.launched.inc();
      if (claimedAt !== undefined) this.latency.observe((endedAt - claimedAt) / 1000);
    } else if (outcome.kind === 'crashed') this.crashedTotal.inc({ stage: 'submit' });
    else if (outcome.kind === 'cancelled') this.cancelledTotal.inc();
  }

  crashed(): void {
    this.crashedTotal.inc({ stage: 'infrastructure' });
  }

  cancelled(): void {
    this.cancelledTotal.inc();
  }

  retried(cls: string): void {
    this.retriedTotal.inc({ class: cls });
  }
}
