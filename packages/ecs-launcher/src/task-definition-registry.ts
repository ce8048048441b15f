import type { ECSClient, RegisterTaskDefinitionCommandInput, Tag } from '@aws-sdk/client-ecs';
import type { Logger } from '@stevedore/kernel';
import { ecsSdk } from './aws-sdk.js';
import { cloneDoc, type Doc, isDoc } from './documents.js';
import { awsErrorInfo, EcsError, ecsErrorCodes, isAwsError } from './errors.js';
import type { EcsRetryOptions, Sleep } from './retry.js';
import { ECS_DEFAULTS, taskDefinitionHash, taskDefinitionsEqual } from './task-definition.js';

/** Tag holding a registered definition's content hash ({@link taskDefinitionHash}). @public */
export const TASK_DEFINITION_HASH_TAG = 'stevedore.io/task-definition-hash';

/** A task definition ready to run. @public */
export interface ResolvedTaskDefinition {
  arn: string;
  /** The definition as ECS describes it (or as registered). */
  taskDefinition: Doc;
  /** True when this call registered it (drives the auto-deregister tag, spec §2.4 D.11). */
  registered: boolean;
}

/** Options of {@link TaskDefinitionRegistry.getOrRegister}. @public */
export interface GetOrRegisterOptions {
  /** The reference's cache key: the deployment id, else the flow id (spec §2.4 B). */
  cacheKey: string;
  matchLatestRevisionInFamily: boolean;
  autoDeregister: boolean;
  logger: Logger;
  signal: AbortSignal;
}

/** Timing and randomness of {@link TaskDefinitionRegistry}. @public */
export interface TaskDefinitionRegistryOptions {
  retry: Pick<EcsRetryOptions, 'registerMaxAttempts' | 'registerInitialDelayMs' | 'registerMaxDelayMs'>;
  sleep: Sleep;
  random: () => number;
  /** Monotonic milliseconds, for how long a known revision is trusted without describing it (default `performance.now`). */
  now?: () => number;
  /** How long a revision registered or verified by this process is reused without a DescribeTaskDefinition (60 s). */
  knownTtlMs?: number;
}

interface Described {
  taskDefinition: Doc;
  tags: Tag[];
}

/**
 * Finds or registers task definitions (spec §2.4 B, `_get_or_register_task_definition`), one registration per
 * family at a time within the process, so concurrent submissions of one deployment register at most once.
 *
 * Lookup order:
 * 1. the ARN cached for this deployment (or flow): reused when ACTIVE and equal — as the reference;
 * 2. the latest ACTIVE revision of the family:
 *    - with `match_latest_revision_in_family`: reused when equal — as the reference;
 *    - otherwise, when `auto_deregister_task_definition` is off: reused when its `stevedore.io/task-definition-hash`
 *      tag carries the same content hash, i.e. Stevedore registered this exact definition before;
 * 3. RegisterTaskDefinition with the hash tag, retried with the reference's backoff.
 *
 * @remarks Step 2's second case is ours: the reference's cache dies with the process, so every restart and
 * every replica registers a new revision of an unchanged definition. Reusing only what carries our own hash tag
 * keeps the reference's "only reuse on request" promise for definitions others registered. It is skipped with
 * auto-deregister, because the observer deregisters the definition when the task that registered it stops,
 * which would pull it from under a run that reused it.
 * @public
 */
export class TaskDefinitionRegistry {
  private readonly cache = new Map<string, string>();
  /**
   * Content hash → the revision known to hold it (registered or verified by this process). A hit costs no AWS
   * call at all; the reference describes the cached ARN on every run, which caps launches at the
   * DescribeTaskDefinition rate (the benchmark showed it: 20/s, one call at a time per family).
   */
  private readonly known = new Map<
    string,
    { arn: string; taskDefinition: Described['taskDefinition']; at: number }
  >();

  private knownFor(hash: string): { arn: string; taskDefinition: Described['taskDefinition'] } | undefined {
    const hit = this.known.get(hash);
    if (!hit) return undefined;
    // Bounded trust: a revision deregistered behind our back is noticed within the TTL by the describe below.
    if (this.nowMs() - hit.at > (this.options.knownTtlMs ?? 60_000)) {
      this.known.delete(hash);
      return undefined;
    }
    return hit;
  }

  private nowMs(): number {
    return this.options.now ? this.options.now() : performance.now();
  }
  private readonly locks = new Map<string, Promise<void>>();

  constructor(private readonly options: TaskDefinitionRegistryOptions) {}

  /** Records the ARN used for a deployment (the reference caches user-given ARNs too). */
  remember(cacheKey: string, arn: string): void {
    this.cache.set(cacheKey, arn);
  }

  /** Forgets every deployment cached with `arn` (it was deregistered). */
  forgetArn(arn: string): void {
    for (const [key, value] of [...this.cache]) if (value === arn) this.cache.delete(key);
    for (const [hash, value] of [...this.known]) if (value.arn === arn) this.known.delete(hash);
  }

  /** Finds a reusable definition equal to `prepared`, or registers it. */
  async getOrRegister(
    ecs: ECSClient,
    prepared: Doc,
    opts: GetOrRegisterOptions,
  ): Promise<ResolvedTaskDefinition> {
    const family = typeof prepared.family === 'string' ? prepared.family : ECS_DEFAULTS.family;
    const hash = taskDefinitionHash(prepared);
    const hit = this.knownFor(hash);
    if (hit) {
      this.cache.set(opts.cacheKey, hit.arn);
      return { arn: hit.arn, taskDefinition: hit.taskDefinition, registered: false };
    }
    return this.withLock(family, opts.signal, async () => {
      const again = this.knownFor(hash); // registered by the holder of the lock we waited for
      if (again) {
        this.cache.set(opts.cacheKey, again.arn);
        return { arn: again.arn, taskDefinition: again.taskDefinition, registered: false };
      }
      const found = await this.lookup(ecs, prepared, opts);
      if (found.reuse) return found.reuse;
      const registered = await this.register(ecs, prepared, opts);
      this.cache.set(opts.cacheKey, registered.arn);
      this.known.set(hash, {
        arn: registered.arn,
        taskDefinition: registered.taskDefinition,
        at: this.nowMs(),
      });
      return registered;
    });
  }

  /**
   * The reuse decision of {@link TaskDefinitionRegistry.getOrRegister} without registering: the revision that
   * would be reused (the cached ARN, or the family's latest when allowed), else the family's latest revision for a
   * diff. Used by `getOrRegister` (under its lock) and by `stevedore render`.
   */
  async lookup(
    ecs: ECSClient,
    prepared: Doc,
    opts: GetOrRegisterOptions,
  ): Promise<{ reuse?: ResolvedTaskDefinition; latest?: Doc }> {
    const family = typeof prepared.family === 'string' ? prepared.family : ECS_DEFAULTS.family;
    const hash = taskDefinitionHash(prepared);
    const hit = this.knownFor(hash);
    if (hit) return { reuse: { arn: hit.arn, taskDefinition: hit.taskDefinition, registered: false } };
    const { logger, signal } = opts;
    const matches = (d: Described) =>
      hashTagOf(d) === hash || taskDefinitionsEqual(prepared, d.taskDefinition);
    const cached = this.cache.get(opts.cacheKey);
    if (cached !== undefined) {
      try {
        const d = await describe(ecs, cached, signal);
        if (d.taskDefinition.status === 'ACTIVE' && matches(d))
          return { reuse: this.reuse(opts.cacheKey, d, cached, hash) };
        logger.debug('The cached task definition is inactive or differs; not reusing it.', {
          taskDefinitionArn: cached,
        });
      } catch (e) {
        signal.throwIfAborted();
        // A failed describe only costs a registration, as in the reference (spec §2.4 B).
        logger.warn(`Failed to retrieve task definition for cached arn '${cached}'.`, {
          error: awsErrorInfo(e),
        });
      }
    }
    let latest: Doc | undefined;
    if (opts.matchLatestRevisionInFamily || !opts.autoDeregister) {
      try {
        const d = await describe(ecs, family, signal);
        latest = d.taskDefinition;
        const reusable = opts.matchLatestRevisionInFamily ? matches(d) : hashTagOf(d) === hash;
        const arn = d.taskDefinition.taskDefinitionArn;
        if (reusable && typeof arn === 'string') return { reuse: this.reuse(opts.cacheKey, d, arn, hash) };
      } catch (e) {
        signal.throwIfAborted();
        // A family that does not exist yet is the normal first-run case; any other failure costs a registration.
        const log = opts.matchLatestRevisionInFamily ? logger.warn : logger.debug;
        log.call(logger, `Failed to retrieve the latest task definition of family '${family}'.`, {
          error: awsErrorInfo(e),
        });
      }
    }
    return latest ? { latest } : {};
  }

  /** The RegisterTaskDefinition input for `prepared`: its tags plus the content-hash tag. */
  registrationPayload(prepared: Doc): Doc {
    const payload = cloneDoc(prepared);
    const userTags = Array.isArray(payload.tags)
      ? payload.tags.filter((t) => isDoc(t) && t.key !== TASK_DEFINITION_HASH_TAG)
      : [];
    payload.tags = [...userTags, { key: TASK_DEFINITION_HASH_TAG, value: taskDefinitionHash(prepared) }];
    return payload;
  }

  private reuse(cacheKey: string, d: Described, arn: string, hash: string): ResolvedTaskDefinition {
    this.cache.set(cacheKey, arn);
    this.known.set(hash, { arn, taskDefinition: d.taskDefinition, at: this.nowMs() });
    return { arn, taskDefinition: d.taskDefinition, registered: false };
  }

  private async register(
    ecs: ECSClient,
    prepared: Doc,
    opts: GetOrRegisterOptions,
  ): Promise<ResolvedTaskDefinition> {
    const { retry, sleep, random } = this.options;
    const payload = this.registrationPayload(prepared);
    // The payload comes from the user's template: ECS validates it, the SDK only serialises it.
    const input = payload as unknown as RegisterTaskDefinitionCommandInput;
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await ecs.send(new ecsSdk.RegisterTaskDefinitionCommand(input), {
          abortSignal: opts.signal,
        });
        const arn = out.taskDefinition?.taskDefinitionArn;
        if (!arn) throw new Error('RegisterTaskDefinition returned no taskDefinitionArn.');
        return { arn, taskDefinition: (out.taskDefinition as Doc | undefined) ?? prepared, registered: true };
      } catch (e) {
        opts.signal.throwIfAborted();
        if (attempt >= retry.registerMaxAttempts) {
          const aws = awsErrorInfo(e);
          throw new EcsError(
            ecsErrorCodes.TASK_DEFINITION_REGISTRATION_FAILED,
            `Failed to register task definition family '${String(payload.family)}' after ${attempt} attempt(s): ${aws.name}: ${aws.message}`,
            { cause: e },
          );
        }
        // Reference: any exception is retried (tenacity, spec §2.4 B).
        const delayMs = Math.min(
          retry.registerInitialDelayMs * 2 ** (attempt - 1) + random() * 1000,
          retry.registerMaxDelayMs,
        );
        opts.logger.info(
          `Retrying task definition registration in ${(delayMs / 1000).toFixed(2)}s (attempt ${attempt}/${retry.registerMaxAttempts})`,
          { error: awsErrorInfo(e) },
        );
        await sleep(delayMs, opts.signal);
      }
    }
  }

  /** Runs `fn` after every earlier holder of `key` finished (a promise-chain mutex). */
  private async withLock<T>(key: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    let release = () => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.locks.set(key, tail);
    try {
      await previous;
      signal.throwIfAborted();
      return await fn();
    } finally {
      release();
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }
}

async function describe(ecs: ECSClient, taskDefinition: string, signal: AbortSignal): Promise<Described> {
  const out = await ecs.send(
    new ecsSdk.DescribeTaskDefinitionCommand({ taskDefinition, include: ['TAGS'] }),
    {
      abortSignal: signal,
    },
  );
  if (!out.taskDefinition)
    throw new Error(`DescribeTaskDefinition returned no task definition for '${taskDefinition}'.`);
  return { taskDefinition: out.taskDefinition as Doc, tags: out.tags ?? [] };
}

function hashTagOf(d: Described): string | undefined {
  return d.tags.find((t) => t.key === TASK_DEFINITION_HASH_TAG)?.value;
}

/**
 * Describes the task definition named by `task_definition_arn` (spec §2.4 A, "ARN given").
 * @throws `ECS_TASK_DEFINITION_NOT_FOUND` when ECS says it does not exist; other AWS errors as they are.
 * @public
 */
export async function describeExistingTaskDefinition(
  ecs: ECSClient,
  taskDefinition: string,
  signal: AbortSignal,
): Promise<Doc> {
  try {
    return (await describe(ecs, taskDefinition, signal)).taskDefinition;
  } catch (e) {
    // ECS answers a missing definition with ClientException ("Unable to describe task definition."); anything
    // else (access denied, throttling) is not "not found" and surfaces as it is.
    signal.throwIfAborted();
    if (!(isAwsError(e, 'ClientException') || isAwsError(e, 'InvalidParameterException'))) throw e;
    const aws = awsErrorInfo(e);
    throw new EcsError(
      ecsErrorCodes.TASK_DEFINITION_NOT_FOUND,
      `Task definition '${taskDefinition}' could not be described (${aws.name}: ${aws.message}). Check the task_definition_arn job variable and that it is in the worker's region.`,
      { cause: e },
    );
  }
}
