import type { ECSClient, ListTasksCommandOutput } from '@aws-sdk/client-ecs';
import type { LiveInfrastructure, Logger } from '@stevedore/kernel';
import { ecsSdk } from './aws-sdk.js';
import { awsErrorInfo, isAwsError } from './errors.js';
import { ecsStartedBy } from './run-task.js';
import { sanitizeTagText } from './tags.js';

/** One cluster to look into, with the client that reaches it. */
export interface LiveTaskScope {
  cluster: string;
  ecs: ECSClient;
}

/** DescribeTasks takes at most 100 tasks; ListTasks returns at most 100 per page. */
const PAGE = 100;

/** One task of the pool, as {@link describePoolTasks} found it. */
interface PoolTask {
  identifier: string;
  flowRunId: string | undefined;
  createdAt: number;
}

/**
 * `DescribeTasks include=TAGS` for `arns` (100 per call), keeping the tasks whose `prefect.io/work-pool-name` tag
 * is `poolTag` (the pool name sanitized like every label), with their `prefect.io/flow-run-id` tag.
 */
async function describePoolTasks(
  ecs: ECSClient,
  cluster: string,
  arns: readonly string[],
  poolTag: string,
  signal: AbortSignal,
): Promise<PoolTask[]> {
  const out: PoolTask[] = [];
  for (let i = 0; i < arns.length; i += PAGE) {
    const described = await ecs.send(
      new ecsSdk.DescribeTasksCommand({ cluster, tasks: arns.slice(i, i + PAGE), include: ['TAGS'] }),
      { abortSignal: signal },
    );
    for (const task of described.tasks ?? []) {
      const tags = new Map((task.tags ?? []).map((t) => [t.key ?? '', t.value ?? '']));
      if (tags.get('prefect.io/work-pool-name') !== poolTag || !task.taskArn) continue;
      out.push({
        identifier: `${task.clusterArn ?? cluster}::${task.taskArn}`,
        flowRunId: tags.get('prefect.io/flow-run-id') || undefined,
        createdAt: task.createdAt ? task.createdAt.getTime() : 0,
      });
    }
  }
  return out;
}

/** A cluster that does not exist is skipped quietly; another error is logged and the cluster skipped. */
function skipCluster(
  e: unknown,
  cluster: string,
  what: string,
  opts: { signal: AbortSignal; logger: Logger },
) {
  opts.signal.throwIfAborted();
  if (isAwsError(e, 'ClusterNotFoundException')) return;
  const aws = awsErrorInfo(e);
  opts.logger.warn(`Could not list the ${what} tasks of cluster '${cluster}': ${aws.name}: ${aws.message}`, {
    cluster,
  });
}

/**
 * The running tasks of `workPool` in the given clusters: `ListTasks` (desired status RUNNING, 100 per page)
 * then `DescribeTasks include=TAGS` per 100, keeping tasks whose `prefect.io/work-pool-name` tag is the pool
 * (tag values are sanitized like every label, so the pool name is sanitized the same way). Tasks in `known` (task
 * ARNs the worker tracks) are neither described nor returned: the reconciler only needs the others, and a worker
 * tracking 5,000 tasks would otherwise describe them all again each round (the benchmark counted those 50 calls
 * against its DescribeTasks-per-poll figure). Costs 1 call per 100 running tasks of a cluster plus 1 per 100 not
 * tracked, per reconciliation round (`reconcileSeconds`, 60 s by default). A cluster that does not exist is
 * skipped; other errors are logged and the cluster skipped for this round.
 */
export async function listLiveTasks(
  scopes: readonly LiveTaskScope[],
  workPool: string,
  opts: { signal: AbortSignal; logger: Logger; known?: ReadonlySet<string> },
): Promise<LiveInfrastructure[]> {
  return listTasks(scopes, workPool, { ...opts, desiredStatus: 'RUNNING' });
}

async function listTasks(
  scopes: readonly LiveTaskScope[],
  workPool: string,
  opts: {
    signal: AbortSignal;
    logger: Logger;
    desiredStatus: 'RUNNING';
    known?: ReadonlySet<string> | undefined;
  },
): Promise<LiveInfrastructure[]> {
  const poolTag = sanitizeTagText(workPool);
  const out: LiveInfrastructure[] = [];
  for (const { cluster, ecs } of scopes) {
    try {
      // Untracked tasks of all pages, described together (100 per call).
      const unknown: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await ecs.send(
          new ecsSdk.ListTasksCommand({
            cluster,
            desiredStatus: opts.desiredStatus,
            maxResults: PAGE,
            nextToken,
          }),
          { abortSignal: opts.signal },
        );
        nextToken = page.nextToken;
        for (const arn of page.taskArns ?? []) if (!opts.known?.has(arn)) unknown.push(arn);
      } while (nextToken);
      for (const t of await describePoolTasks(ecs, cluster, unknown, poolTag, opts.signal))
        out.push({ identifier: t.identifier, ...(t.flowRunId ? { flowRunId: t.flowRunId } : {}) });
    } catch (e) {
      skipCluster(e, cluster, 'running', opts);
    }
  }
  return out;
}

/** At most this many ListTasks pages (of 100) of stopped tasks are scanned per cluster and call: 2,000 tasks. */
export const STOPPED_PAGES = 20;

/** At most this many `ListTasks startedBy` look-ups (one run in one cluster each) per call. */
export const STARTED_BY_LOOKUPS = 50;

/** What {@link findStoppedTasks} keeps between calls: one per infrastructure. */
export interface StoppedLookupState {
  /** The call in which each run was last looked up by `startedBy`: the least recently looked up go first. */
  lookedUp: Map<string, number>;
  calls: number;
  /** Clusters whose ListTasks refused `startedBy` next to `desiredStatus`: only scanned from then on. */
  startedByRefused: Set<string>;
}

export function newStoppedLookupState(): StoppedLookupState {
  return { lookedUp: new Map(), calls: 0, startedByRefused: new Set() };
}

/**
 * The stopped tasks of `workPool` launched for `flowRunIds`, in the given clusters, keeping tasks whose
 * `prefect.io/work-pool-name` tag is the pool (sanitized, as in {@link listLiveTasks}) and whose
 * `prefect.io/flow-run-id` tag is one of `flowRunIds`; one task per flow run, the most recently created one seen.
 * ECS shows a stopped task for about an hour.
 *
 * 1. Each run is looked up by the `startedBy` its tasks are launched with ({@link ecsStartedBy}): `ListTasks
 *    startedBy desiredStatus=STOPPED`, then `DescribeTasks include=TAGS` per 100 tasks found. About 2 calls per run
 *    whatever the size of the cluster, at most {@link STARTED_BY_LOOKUPS} look-ups per call (runs looked up least
 *    recently first, so every run gets its turn). ECS's documentation says `startedBy` "must be the only filter";
 *    if a cluster refuses it next to `desiredStatus` (InvalidParameterException), it is not asked again.
 * 2. The runs still missing (a task launched with the user's own `startedBy`, or by a version that set none) are
 *    looked for by paging through the cluster's stopped tasks (`ListTasks desiredStatus=STOPPED`, 100 per page,
 *    with a DescribeTasks per page), stopping once every run is found and after {@link STOPPED_PAGES} pages per
 *    cluster (2,000 stopped tasks: at most 40 calls), so a busy cluster's older stopped tasks may go unseen there.
 *    ListTasks promises no order; before step 1 existed, a 10,000-run soak left 15 runs Running whose tasks were
 *    beyond the bound.
 *
 * A cluster that does not exist is skipped; other errors are logged and the cluster skipped.
 */
export async function findStoppedTasks(
  scopes: readonly LiveTaskScope[],
  workPool: string,
  flowRunIds: readonly string[],
  opts: {
    signal: AbortSignal;
    logger: Logger;
    maxPages?: number;
    maxLookups?: number;
    state?: StoppedLookupState;
  },
): Promise<LiveInfrastructure[]> {
  const poolTag = sanitizeTagText(workPool);
  const wanted = new Set(flowRunIds);
  const maxPages = opts.maxPages ?? STOPPED_PAGES;
  const state = opts.state ?? newStoppedLookupState();
  const call = ++state.calls;
  for (const id of state.lookedUp.keys()) if (!wanted.has(id)) state.lookedUp.delete(id);
  let lookups = opts.maxLookups ?? STARTED_BY_LOOKUPS;
  const best = new Map<string, { identifier: string; createdAt: number }>();
  const allFound = () => best.size >= wanted.size;
  const describe = async (cluster: string, ecs: ECSClient, arns: string[]) => {
    for (const { identifier, flowRunId, createdAt } of await describePoolTasks(
      ecs,
      cluster,
      arns,
      poolTag,
      opts.signal,
    )) {
      if (!flowRunId || !wanted.has(flowRunId)) continue;
      const seen = best.get(flowRunId);
      if (seen && seen.createdAt >= createdAt) continue;
      best.set(flowRunId, { identifier, createdAt });
    }
  };
  for (const { cluster, ecs } of scopes) {
    if (wanted.size === 0 || allFound()) break;
    try {
      if (!state.startedByRefused.has(cluster) && lookups > 0) {
        const order = [...wanted]
          .filter((id) => !best.has(id) && ecsStartedBy(id) !== undefined)
          .sort((a, b) => (state.lookedUp.get(a) ?? 0) - (state.lookedUp.get(b) ?? 0))
          .slice(0, lookups);
        const arns: string[] = [];
        for (const id of order) {
          lookups -= 1;
          state.lookedUp.set(id, call);
          let page: ListTasksCommandOutput;
          try {
            page = await ecs.send(
              new ecsSdk.ListTasksCommand({
                cluster,
                startedBy: ecsStartedBy(id),
                desiredStatus: 'STOPPED',
                maxResults: PAGE,
              }),
              { abortSignal: opts.signal },
            );
          } catch (e) {
            if (!isAwsError(e, 'InvalidParameterException')) throw e;
            state.startedByRefused.add(cluster);
            opts.logger.info(
              `Cluster '${cluster}' does not filter stopped tasks by startedBy (${awsErrorInfo(e).message}); looking for them page by page instead.`,
              { cluster },
            );
            break;
          }
          arns.push(...(page.taskArns ?? []));
        }
        if (arns.length > 0) await describe(cluster, ecs, arns);
        if (allFound()) break;
      }
      let nextToken: string | undefined;
      let pages = 0;
      do {
        const page = await ecs.send(
          new ecsSdk.ListTasksCommand({ cluster, desiredStatus: 'STOPPED', maxResults: PAGE, nextToken }),
          { abortSignal: opts.signal },
        );
        pages += 1;
        nextToken = page.nextToken;
        const arns = page.taskArns ?? [];
        if (arns.length > 0) await describe(cluster, ecs, arns);
      } while (nextToken && !allFound() && pages < maxPages);
      if (nextToken && !allFound())
        opts.logger.debug(
          `Stopped looking for stopped tasks in cluster '${cluster}' after ${pages} pages (${pages * PAGE} tasks).`,
          { cluster },
        );
    } catch (e) {
      skipCluster(e, cluster, 'stopped', opts);
    }
  }
  return [...best].map(([flowRunId, { identifier }]) => ({ identifier, flowRunId }));
}
