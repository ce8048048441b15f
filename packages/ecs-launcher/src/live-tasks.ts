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

async function listTasks(
  scopes: readonly LiveTaskScope[],
  workPool: string,
  opts: {
    signal: AbortSignal;
    logger: Logger;
    desiredStatus: 'RUNNING';
  },
): Promise<LiveInfrastructure[]> {
  const poolTag = sanitizeTagText(workPool);
  const out: LiveInfrastructure[] = [];
  for (const { cluster, ecs } of scopes) {
    try {
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
          out.push({
            identifier: `${task.clusterArn ?? cluster}::${task.taskArn}`,
            ...(flowRunId ? { flowRunId } : {}),
          });
        }
      } while (nextToken);
    } catch (e) {
      opts.signal.throwIfAborted();
      if (isAwsError(e, 'ClusterNotFoundException')) continue;
      const aws = awsErrorInfo(e);
      opts.logger.warn(
        `Could not list the running tasks of cluster '${cluster}': ${aws.name}: ${aws.message}`,
        {
          cluster,
        },
      );
    }
  }
  return out;
}

/** At most this many ListTasks pages (of 100) of stopped tasks are scanned per cluster and call: 2,000 tasks. */
export const STOPPED_PAGES = 20;

/**
 * The stopped tasks of `workPool` launched for `flowRunIds`, in the given clusters: `ListTasks` (desired status
 * STOPPED — ECS shows a stopped task for about an hour — 100 per page) then `DescribeTasks include=TAGS` per 100,
 * keeping tasks whose `prefect.io/work-pool-name` tag is the pool (sanitized, as in {@link listLiveTasks}) and
 * whose `prefect.io/flow-run-id` tag is one of `flowRunIds`. One task per flow run: the most recently created one
 * seen. Paging stops as soon as every requested run has been found, and after {@link STOPPED_PAGES} pages per
 * cluster (2,000 stopped tasks: at most 40 calls per cluster), so a busy cluster's older stopped tasks may go
 * unseen. A cluster that does not exist is skipped; other errors are logged and the cluster skipped.
 */
export async function findStoppedTasks(
  scopes: readonly LiveTaskScope[],
  workPool: string,
  flowRunIds: readonly string[],
  opts: { signal: AbortSignal; logger: Logger; maxPages?: number },
): Promise<LiveInfrastructure[]> {
  const poolTag = sanitizeTagText(workPool);
  const wanted = new Set(flowRunIds);
  const maxPages = opts.maxPages ?? STOPPED_PAGES;
  const best = new Map<string, { identifier: string; createdAt: number }>();
  const allFound = () => best.size >= wanted.size;
  for (const { cluster, ecs } of scopes) {
    if (wanted.size === 0 || allFound()) break;
    try {
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
        if (arns.length === 0) continue;
        const described = await ecs.send(
          new ecsSdk.DescribeTasksCommand({ cluster, tasks: arns, include: ['TAGS'] }),
          { abortSignal: opts.signal },
        );
        for (const task of described.tasks ?? []) {
          const tags = new Map((task.tags ?? []).map((t) => [t.key ?? '', t.value ?? '']));
          if (tags.get('prefect.io/work-pool-name') !== poolTag || !task.taskArn) continue;
          const flowRunId = tags.get('prefect.io/flow-run-id');
          if (!flowRunId || !wanted.has(flowRunId)) continue;
          const createdAt = task.createdAt ? task.createdAt.getTime() : 0;
          const seen = best.get(flowRunId);
          if (seen && seen.createdAt >= createdAt) continue;
          best.set(flowRunId, { identifier: `${task.clusterArn ?? cluster}::${task.taskArn}`, createdAt });
        }
      } while (nextToken && !allFound() && pages < maxPages);
      if (nextToken && !allFound())
        opts.logger.debug(
          `Stopped looking for stopped tasks in cluster '${cluster}' after ${pages} pages (${pages * PAGE} tasks).`,
          { cluster },
        );
    } catch (e) {
      opts.signal.throwIfAborted();
      if (isAwsError(e, 'ClusterNotFoundException')) continue;
      const aws = awsErrorInfo(e);
      opts.logger.warn(
        `Could not list the stopped tasks of cluster '${cluster}': ${aws.name}: ${aws.message}`,
        { cluster },
      );
    }
  }
  return [...best].map(([flowRunId, { identifier }]) => ({ identifier, flowRunId }));
}
