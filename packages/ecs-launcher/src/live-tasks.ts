import type { ECSClient } from '@aws-sdk/client-ecs';
import type { LiveInfrastructure, Logger } from '@stevedore/kernel';
import { ecsSdk } from './aws-sdk.js';
import { awsErrorInfo, isAwsError } from './errors.js';
import { sanitizeTagText } from './tags.js';

/** One cluster to look into, with the client that reaches it. */
export interface LiveTaskScope {
  cluster: string;
  ecs: ECSClient;
}

/** DescribeTasks takes at most 100 tasks; ListTasks returns at most 100 per page. */
const PAGE = 100;

/**
 * The running tasks of `workPool` in the given clusters: `ListTasks` (desired status RUNNING, 100 per page)
 * then `DescribeTasks include=TAGS` per 100, keeping tasks whose `prefect.io/work-pool-name` tag is the pool
 * (tag values are sanitized like every label, so the pool name is sanitized the same way). Costs 2 calls per
 * 100 running tasks of a cluster per reconciliation round (`reconcileSeconds`, 60 s by default). A cluster that
 * does not exist is skipped; other errors are logged and the cluster skipped for this round.
 */
export async function listLiveTasks(
  scopes: readonly LiveTaskScope[],
  workPool: string,
  opts: { signal: AbortSignal; logger: Logger },
): Promise<LiveInfrastructure[]> {
  return listTasks(scopes, workPool, { ...opts, desiredStatus: 'RUNNING' });
}

/** Pages of stopped tasks {@link findStoppedTasks} reads per cluster at most (2,000 tasks). */
export const STOPPED_PAGES_PER_CLUSTER = 20;

/**
 * The recently stopped tasks (ECS lists them for about an hour) of `workPool` launched for `flowRunIds`: the same
 * `ListTasks` + `DescribeTasks include=TAGS` walk with `desiredStatus: STOPPED`, ending once every run is found or
 * after {@link STOPPED_PAGES_PER_CLUSTER} pages per cluster. Asked only for Running runs whose pid was never reported
 * and that have nothing live (rare), at most once per 3 × reconcileSeconds.
 */
export async function findStoppedTasks(
  scopes: readonly LiveTaskScope[],
  workPool: string,
  flowRunIds: readonly string[],
  opts: { signal: AbortSignal; logger: Logger },
): Promise<LiveInfrastructure[]> {
  const wanted = new Set(flowRunIds);
  if (wanted.size === 0) return [];
  return listTasks(scopes, workPool, {
    ...opts,
    desiredStatus: 'STOPPED',
    wanted,
    maxPages: STOPPED_PAGES_PER_CLUSTER,
  });
}

async function listTasks(
  scopes: readonly LiveTaskScope[],
  workPool: string,
  opts: {
    signal: AbortSignal;
    logger: Logger;
    desiredStatus: 'RUNNING' | 'STOPPED';
    wanted?: Set<string>;
    maxPages?: number;
  },
): Promise<LiveInfrastructure[]> {
  const poolTag = sanitizeTagText(workPool);
  const out: LiveInfrastructure[] = [];
  const missing = opts.wanted ? new Set(opts.wanted) : undefined;
  for (const { cluster, ecs } of scopes) {
    if (missing?.size === 0) break;
    try {
      let nextToken: string | undefined;
      let pages = 0;
      do {
        pages += 1;
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
        const arns = page.taskArns ?? [];
        if (arns.length === 0) continue;
        const described = await ecs.send(
          new ecsSdk.DescribeTasksCommand({ cluster, tasks: arns, include: ['TAGS'] }),
          {
            abortSignal: opts.signal,
          },
        );
        for (const task of described.tasks ?? []) {
          const tags = new Map((task.tags ?? []).map((t) => [t.key ?? '', t.value ?? '']));
          if (tags.get('prefect.io/work-pool-name') !== poolTag || !task.taskArn) continue;
          const flowRunId = tags.get('prefect.io/flow-run-id');
          if (missing && (!flowRunId || !missing.has(flowRunId))) continue;
          if (missing && flowRunId) missing.delete(flowRunId);
          out.push({
            identifier: `${task.clusterArn ?? cluster}::${task.taskArn}`,
            ...(flowRunId ? { flowRunId } : {}),
          });
        }
      } while (nextToken && missing?.size !== 0 && (opts.maxPages === undefined || pages < opts.maxPages));
    } catch (e) {
      opts.signal.throwIfAborted();
      if (isAwsError(e, 'ClusterNotFoundException')) continue;
      const aws = awsErrorInfo(e);
      opts.logger.warn(
        `Could not list the ${opts.desiredStatus === 'RUNNING' ? 'running' : 'stopped'} tasks of cluster '${cluster}': ${aws.name}: ${aws.message}`,
        {
          cluster,
        },
      );
    }
  }
  return out;
}
