import type { ECSClient } from '@aws-sdk/client-ecs';
import { token } from '@stevedore/kernel';
import { ecsSdk } from './aws-sdk.js';
import { type Doc, isFalsy } from './documents.js';
import { EcsError, ecsErrorCodes } from './errors.js';

/** One entry of RunTask's `failures[]`, as ECS reports it. @public */
export interface RunTaskFailureInfo {
  arn?: string | undefined;
  reason?: string | undefined;
  detail?: string | undefined;
}

/**
 * The `LaunchType` extension point: what one kind of ECS capacity needs beyond the reference's shaping of the task
 * definition and the RunTask request (spec §2.4 B–D, kept in this package as the reference has it).
 *
 * - `name`: the `launch_type` job variable value it provides (`FARGATE`, `FARGATE_SPOT`, `EC2`).
 * - `shapeRunTaskRequest`: called on the prepared request when the user gave no `capacityProviderStrategy` (a
 *   user-supplied strategy always passes through untouched).
 * - `classifyRunTaskFailure`: names the class of a RunTask `failures[]` answer this capacity understands (e.g.
 *   `spot-capacity`), or `undefined`.
 * - `capacityFallback`: the launch type to relaunch on, in place, after a classified failure; `undefined` for none.
 *
 * Plugins contribute launch types with `registrar.contribute(ecsLaunchTypeToken, …)`; `FARGATE` is built in.
 * @public
 */
export interface LaunchType {
  readonly name: string;
  /** The package that provides it (named in the "no launch type" error). */
  readonly packageName: string;
  /**
   * The task-definition compatibility it needs (`FARGATE` or `EC2`), checked against the definition's
   * `compatibilities` before a capacity ladder steps onto it. Default: `EC2` for `EC2`, else `FARGATE`.
   */
  readonly compatibility?: string;
  shapeRunTaskRequest?(request: Doc): void;
  classifyRunTaskFailure?(failures: readonly RunTaskFailureInfo[]): string | undefined;
  capacityFallback?(failureClass: string): string | undefined;
  /**
   * How a classified capacity failure is waited out on this launch type before the next rung of the ladder: RunTask
   * again after a backoff, while capacity scales out (EC2 Auto Scaling). `undefined`: go to the next rung at once.
   * With a policy, the reference's three quick RunTask attempts are replaced by it for that class.
   */
  capacityRetry?(failureClass: string): CapacityRetryPolicy | undefined;
}

/** Backoff for a classified capacity failure ({@link LaunchType.capacityRetry}). @public */
export interface CapacityRetryPolicy {
  /** RunTask attempts on this rung in all, the first included (≥ 1). */
  attempts: number;
  /** Wait before the second attempt; doubled for each next one (with ±20 % jitter). */
  initialDelayMs: number;
  /** Longest wait between two attempts. */
  maxDelayMs: number;
}

/** The task-definition compatibility a launch type needs. @public */
export function launchTypeCompatibility(t: LaunchType): string {
  return t.compatibility ?? (t.name === 'EC2' ? 'EC2' : 'FARGATE');
}

/** The reason ECS gives in RunTask's `failures[]` when Fargate (or Fargate Spot) has no capacity for the task. @public */
export const FARGATE_CAPACITY_UNAVAILABLE = 'Capacity is unavailable at this time';

/** The failure class of "on-demand Fargate has no capacity" at RunTask. @public */
export const FARGATE_CAPACITY_FAILURE = 'fargate-capacity';

/** The multi-valued token plugins contribute {@link LaunchType}s to. @public */
export const ecsLaunchTypeToken = token<LaunchType>('ecs-launcher.launch-type');

/** The built-in `FARGATE` launch type: the reference's shaping, nothing more. @public */
export const FARGATE_LAUNCH_TYPE: LaunchType = Object.freeze({
  name: 'FARGATE',
  packageName: '@stevedore/ecs-launcher',
  // Fargate itself can run out of capacity in a zone; classified so a capacity ladder can step past it.
  classifyRunTaskFailure(failures: readonly RunTaskFailureInfo[]) {
    return failures.some((f) => (f.reason ?? '').includes(FARGATE_CAPACITY_UNAVAILABLE))
      ? FARGATE_CAPACITY_FAILURE
      : undefined;
  },
});

/** Launch types and the package providing each, for the "Add …" hint of an unknown one. */
const KNOWN_PROVIDERS: Readonly<Record<string, string>> = Object.freeze({
  FARGATE_SPOT: '@stevedore/fargate-spot',
  EC2: '@stevedore/ec2-capacity',
});

/**
 * The launch type a job configuration selects: `task_run_request.launchType`; else `EC2` when the definition
 * requires EC2 compatibility, else `FARGATE` (the reference's default, spec §2.4 D step 3). `EXTERNAL` (ECS
 * Anywhere) and a request with its own `capacityProviderStrategy` and no launch type select none: ECS decides.
 * @public
 */
export function selectedLaunchType(request: Doc, taskDefinition: Doc): string | undefined {
  const given = isFalsy(request.launchType) ? undefined : String(request.launchType);
  if (given === 'EXTERNAL') return undefined;
  if (given !== undefined) return given;
  if (!isFalsy(request.capacityProviderStrategy)) return undefined;
  const compat = Array.isArray(taskDefinition.requiresCompatibilities)
    ? taskDefinition.requiresCompatibilities
    : [];
  return compat.includes('EC2') ? 'EC2' : 'FARGATE';
}

/**
 * The active launch types: `FARGATE` plus every contributed one (a later contribution of the same name wins).
 * `open` (a directly constructed {@link EcsInfrastructure} without plugin wiring) accepts any name with no hooks.
 * @public
 */
export class LaunchTypes {
  private readonly byName = new Map<string, LaunchType>();

  constructor(
    contributed: readonly LaunchType[] = [],
    private readonly open = false,
  ) {
    this.byName.set(FARGATE_LAUNCH_TYPE.name, FARGATE_LAUNCH_TYPE);
    for (const t of contributed) this.byName.set(t.name, t);
  }

  /** Accepts every launch type name (those not active run with the reference's shaping only). */
  static open(contributed: readonly LaunchType[] = []): LaunchTypes {
    return new LaunchTypes(contributed, true);
  }

  /** Active names, sorted. */
  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  get(name: string): LaunchType | undefined {
    return this.byName.get(name);
  }

  /**
   * The active launch type `name`.
   * @throws `ECS_LAUNCH_TYPE_UNAVAILABLE` ("No launch type 'EC2'. Active: FARGATE. Add @stevedore/ec2-capacity.")
   */
  require(name: string): LaunchType {
    const found = this.byName.get(name);
    if (found) return found;
    const hint = KNOWN_PROVIDERS[name];
    throw new EcsError(
      ecsErrorCodes.LAUNCH_TYPE_UNAVAILABLE,
      `No launch type '${name}'. Active: ${this.names().join(', ')}.${hint ? ` Add ${hint}.` : ' Set the launch_type job variable to an active one.'}`,
      { details: { launchType: name, active: this.names() } },
    );
  }

  /**
   * The launch type for a job configuration's request and (template or described) task definition.
   * @throws `ECS_LAUNCH_TYPE_UNAVAILABLE` when no active plugin provides it.
   */
  select(request: Doc, taskDefinition: Doc): LaunchType | undefined {
    const name = selectedLaunchType(request, taskDefinition);
    if (name === undefined) return undefined;
    const found = this.byName.get(name);
    if (found || this.open) return found;
    return this.require(name);
  }
}

/**
 * The capacity providers attached to a cluster (DescribeClusters), for launch-type preflight checks; `undefined`
 * when the cluster does not exist.
 * @public
 */
export async function clusterCapacityProviders(
  ecs: ECSClient,
  cluster: string,
  signal: AbortSignal,
): Promise<string[] | undefined> {
  const out = await ecs.send(new ecsSdk.DescribeClustersCommand({ clusters: [cluster] }), {
    abortSignal: signal,
  });
  const found = out.clusters?.find((c) => c.status !== 'INACTIVE');
  return found ? [...(found.capacityProviders ?? [])] : undefined;
}
