import type { JobVariableSchema } from '@stevedore/kernel';
import { type Doc, isFalsy } from './documents.js';
import { EcsError, ecsErrorCodes } from './errors.js';
import {
  type CapacityRetryPolicy,
  type LaunchType,
  type LaunchTypes,
  launchTypeCompatibility,
} from './launch-type.js';

/** Default of {@link CapacityLadderSettings.budgetMs}: ten minutes, well inside the kernel's 15-minute submit bound. @public */
export const DEFAULT_CAPACITY_BUDGET_SECONDS = 600;

/**
 * The capacity ladder of one submission: the launch types to walk, in order, when a launch type's capacity runs
 * out (`undefined`: no ladder — only the launch type's own fallback, e.g. FARGATE_SPOT → FARGATE), and the total
 * time the walk may take, backoffs included.
 * @public
 */
export interface CapacityLadderSettings {
  ladder: string[] | undefined;
  budgetMs: number;
}

/**
 * The `stevedore_*` job variables of the capacity ladder (for `work-pool create --with-stevedore-variables`).
 * @public
 */
export const CAPACITY_LADDER_VARIABLES: Readonly<Record<string, JobVariableSchema>> = Object.freeze({
  stevedore_capacity_ladder: {
    title: 'Capacity ladder (Stevedore)',
    description:
      "Launch types to fall back through, in order, when capacity is unavailable, e.g. ['FARGATE_SPOT', 'FARGATE', 'EC2'] (Stevedore workers only; default: the worker's plugins.ecs-launcher.capacityLadder). Failures of the flow's own (exit codes, images, IAM) are never retried.",
    type: 'array',
    items: { type: 'string', enum: ['FARGATE_SPOT', 'FARGATE', 'EC2'] },
  },
  stevedore_capacity_budget_seconds: {
    title: 'Capacity budget (Stevedore)',
    description:
      "Seconds a launch may spend waiting out and falling back through capacity failures before the run crashes (Stevedore workers only; default: the worker's plugins.ecs-launcher.capacityBudgetSeconds, 600).",
    type: 'integer',
    minimum: 0,
  },
});

function invalid(name: string, raw: unknown, expected: string): EcsError {
  return new EcsError(
    ecsErrorCodes.CAPACITY_LADDER_INVALID,
    `Job variable '${name}' must be ${expected}, got ${JSON.stringify(raw)}. Fix it in the deployment's or flow run's job variables.`,
    { details: { variable: name } },
  );
}

/** `['A', 'B']`, `"A, B"` or `"A → B"` / `"A -> B"` → names; `null`/empty → `undefined`. */
function parseLadder(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/\s*(?:,|→|->)\s*/) : null;
  if (!items || !items.every((x) => typeof x === 'string' && x.trim() !== ''))
    throw invalid(
      'stevedore_capacity_ladder',
      raw,
      "a list of launch types, e.g. ['FARGATE_SPOT', 'FARGATE', 'EC2']",
    );
  return (items as string[]).map((x) => x.trim().toUpperCase());
}

/**
 * The ladder settings of a submission: `stevedore_capacity_ladder` / `stevedore_capacity_budget_seconds` from the
 * merged job variables, else the worker's defaults. Every rung must be an active launch type.
 * @throws `ECS_CAPACITY_LADDER_INVALID` naming the variable, or `ECS_LAUNCH_TYPE_UNAVAILABLE` for a rung no active
 * plugin provides.
 * @public
 */
export function capacityLadderSettings(
  jobVariables: Readonly<Record<string, unknown>>,
  defaults: { ladder?: readonly string[] | undefined; budgetSeconds?: number | undefined },
  launchTypes: LaunchTypes,
): CapacityLadderSettings {
  const fromJob = parseLadder(jobVariables.stevedore_capacity_ladder);
  const ladder =
    fromJob ?? (defaults.ladder && defaults.ladder.length > 0 ? [...defaults.ladder] : undefined);
  if (ladder) {
    const seen = new Set<string>();
    for (const name of ladder) {
      if (seen.has(name))
        throw invalid(
          'stevedore_capacity_ladder',
          ladder,
          `a list of distinct launch types ('${name}' repeats)`,
        );
      seen.add(name);
      // The same "No launch type 'EC2'. Active: … Add @stevedore/ec2-capacity." as a selected launch type.
      launchTypes.require(name);
    }
  }
  const rawBudget = jobVariables.stevedore_capacity_budget_seconds;
  let budgetSeconds = defaults.budgetSeconds ?? DEFAULT_CAPACITY_BUDGET_SECONDS;
  if (rawBudget !== undefined && rawBudget !== null && rawBudget !== '') {
    const n = typeof rawBudget === 'string' ? Number(rawBudget) : rawBudget;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
      throw invalid('stevedore_capacity_budget_seconds', rawBudget, 'a number of seconds ≥ 0');
    budgetSeconds = n;
  }
  return { ladder, budgetMs: budgetSeconds * 1000 };
}

/** Why the walk moved on or stopped, for the flow run's logs. */
export type LadderStep =
  | { kind: 'retry'; delayMs: number; attempt: number; of: number }
  | { kind: 'next'; to: LaunchType; skipped: Array<{ name: string; why: string }> }
  | { kind: 'stop'; why: string };

/**
 * One launch's walk down the capacity ladder. `decide` is asked after each classified capacity failure and says:
 * retry the same rung after a backoff ({@link LaunchType.capacityRetry}), step to the next rung the task definition
 * supports, or stop (no rung left, budget spent). Without a ladder the next rung is the launch type's own
 * `capacityFallback`, once.
 * @public
 */
export class CapacityLadderWalk {
  private rung: LaunchType | undefined;
  private rungIndex = 0;
  private attemptOnRung = 1;
  private readonly started: number;
  private fallbackUsed = false;

  constructor(
    first: LaunchType | undefined,
    private readonly settings: CapacityLadderSettings,
    private readonly launchTypes: LaunchTypes,
    private readonly taskDefinition: Doc,
    private readonly now: () => number,
    private readonly random: () => number,
  ) {
    this.rung = first;
    this.started = now();
  }

  get current(): LaunchType | undefined {
    return this.rung;
  }

  /** 0 for the launch type the configuration selected, then 1, 2, … for each rung stepped onto. */
  get index(): number {
    return this.rungIndex;
  }

  get attempt(): number {
    return this.attemptOnRung;
  }

  /** A ladder is configured and a rung after the current one can run the task definition. */
  hasNextRung(): boolean {
    const ladder = this.settings.ladder;
    if (!ladder) return false;
    const at = this.rung ? ladder.indexOf(this.rung.name) : -1;
    return ladder.slice(at + 1).some((n) => {
      const t = this.launchTypes.get(n);
      return t !== undefined && this.unsupported(t) === undefined;
    });
  }

  /** The backoff policy of the current rung for a failure class. */
  retryPolicy(failureClass: string): CapacityRetryPolicy | undefined {
    return this.rung?.capacityRetry?.(failureClass);
  }

  decide(failureClass: string): LadderStep {
    const elapsed = this.now() - this.started;
    const policy = this.retryPolicy(failureClass);
    if (policy && this.attemptOnRung < policy.attempts) {
      const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (this.attemptOnRung - 1));
      const delayMs = Math.round(base * (0.8 + 0.4 * this.random()));
      if (elapsed + delayMs <= this.settings.budgetMs) {
        this.attemptOnRung += 1;
        return { kind: 'retry', delayMs, attempt: this.attemptOnRung, of: policy.attempts };
      }
    }
    if (elapsed > this.settings.budgetMs)
      return { kind: 'stop', why: `the capacity budget of ${this.settings.budgetMs / 1000} s is spent` };
    const skipped: Array<{ name: string; why: string }> = [];
    for (const candidate of this.nextCandidates(failureClass)) {
      const why = this.unsupported(candidate);
      if (why) {
        skipped.push({ name: candidate.name, why });
        continue;
      }
      this.rung = candidate;
      this.rungIndex += 1;
      this.attemptOnRung = 1;
      return { kind: 'next', to: candidate, skipped };
    }
    const tail = skipped.length > 0 ? ` (${skipped.map((s) => `${s.name}: ${s.why}`).join('; ')})` : '';
    return {
      kind: 'stop',
      why: this.settings.ladder
        ? `no rung of the capacity ladder ${this.settings.ladder.join(' → ')} is left${tail}`
        : `no fallback for ${this.rung?.name ?? 'this launch type'}${tail}`,
    };
  }

  private nextCandidates(failureClass: string): LaunchType[] {
    const ladder = this.settings.ladder;
    if (!ladder) {
      if (this.fallbackUsed || !this.rung?.capacityFallback) return [];
      this.fallbackUsed = true;
      const name = this.rung.capacityFallback(failureClass);
      const found = name === undefined ? undefined : this.launchTypes.get(name);
      return found ? [found] : [];
    }
    const at = this.rung ? ladder.indexOf(this.rung.name) : -1;
    // A selected launch type that is not on the ladder steps onto its first rung.
    return ladder
      .slice(at + 1)
      .map((n) => this.launchTypes.get(n))
      .filter((t): t is LaunchType => t !== undefined);
  }

  /** Why the task definition cannot run on `t`, or `undefined` when it can. */
  private unsupported(t: LaunchType): string | undefined {
    const need = launchTypeCompatibility(t);
    const declared = Array.isArray(this.taskDefinition.compatibilities)
      ? this.taskDefinition.compatibilities
      : Array.isArray(this.taskDefinition.requiresCompatibilities)
        ? this.taskDefinition.requiresCompatibilities
        : undefined;
    if (declared && !declared.includes(need))
      return `the task definition is not compatible with ${need} (compatibilities: ${declared.join(', ') || 'none'})`;
    if (
      need === 'FARGATE' &&
      !isFalsy(this.taskDefinition.networkMode) &&
      this.taskDefinition.networkMode !== 'awsvpc'
    )
      return `Fargate needs network mode awsvpc, the task definition uses ${String(this.taskDefinition.networkMode)}`;
    return undefined;
  }
}
