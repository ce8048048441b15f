import { deterministicEventId, type PrefectEvent, slugify } from '@stevedore/kernel';
import { changedAt, type EcsTaskDescription, FLOW_RUN_ID_TAG } from './task-state.js';

/** An ECS task's tags as a map (`tags` of DescribeTasks with `include: ['TAGS']`). @public */
export function ecsTagMap(task: Pick<EcsTaskDescription, 'tags'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of task.tags ?? []) if (t.key && t.value !== undefined) out[t.key] = t.value;
  return out;
}

/**
 * The id of the `prefect.ecs.task.<status>` event of one state change: a name-based UUID of the task ARN and its
 * `lastStatus`, so the DescribeTasks poller and the SQS observer (and any redelivery) build the same id for the
 * same change, and the server stores it once.
 * @public
 */
export function ecsTaskEventId(taskArn: string, lastStatus: string): string {
  return deterministicEventId('prefect.ecs.task', taskArn, lastStatus.toUpperCase());
}

function related(id: string, role: string, name: string | undefined): Record<string, string> {
  return {
    'prefect.resource.id': id,
    'prefect.resource.role': role,
    ...(name ? { 'prefect.resource.name': name } : {}),
  };
}

/** Options of {@link ecsTaskEvent}. @public */
export interface EcsTaskEventOptions {
  /** The task's tags (`prefect.io/*`); EventBridge events carry none, so observers look them up. */
  tags: Readonly<Record<string, string>>;
  /** When the change happened (EventBridge's `time`); default: the task's own timestamp for its status, else `now`. */
  occurred?: string | undefined;
  now: Date;
}

/**
 * prefect-aws's `replicate_ecs_event` (spec §3.4 (a)): the `prefect.ecs.task.<lastStatus lowercased>` event of an ECS
 * task state change, with the task as resource (`prefect.ecs.task.<task id>`, its task, cluster and task definition
 * ARNs) and the flow run, deployment, flow, work pool and worker named by its `prefect.io/*` tags as related
 * resources. `undefined` for a task that is not a flow run's (no `prefect.io/flow-run-id` tag) or has no status.
 *
 * @remarks The reference uses the EventBridge event id; ours is {@link ecsTaskEventId}, the same for a change
 * whichever observer sees it (the reference only has the SQS one), so the server de-duplicates them.
 * @public
 */
export function ecsTaskEvent(
  task: EcsTaskDescription,
  options: EcsTaskEventOptions,
): PrefectEvent | undefined {
  const { taskArn, lastStatus } = task;
  const tags = options.tags;
  const flowRunId = tags[FLOW_RUN_ID_TAG];
  if (!taskArn || !lastStatus || !flowRunId) return undefined;
  const resource: Record<string, string> = {
    'prefect.resource.id': `prefect.ecs.task.${taskArn.slice(taskArn.lastIndexOf('/') + 1)}`,
    'ecs.taskArn': taskArn,
  };
  if (task.clusterArn) resource['ecs.clusterArn'] = task.clusterArn;
  if (task.taskDefinitionArn) resource['ecs.taskDefinitionArn'] = task.taskDefinitionArn;
  const rel: Array<Record<string, string>> = [
    related(`prefect.flow-run.${flowRunId}`, 'flow-run', tags['prefect.io/flow-run-name']),
  ];
  const deploymentId = tags['prefect.io/deployment-id'];
  if (deploymentId)
    rel.push(related(`prefect.deployment.${deploymentId}`, 'deployment', tags['prefect.io/deployment-name']));
  const flowId = tags['prefect.io/flow-id'];
  if (flowId) rel.push(related(`prefect.flow.${flowId}`, 'flow', tags['prefect.io/flow-name']));
  const poolId = tags['prefect.io/work-pool-id'];
  if (poolId)
    rel.push(related(`prefect.work-pool.${poolId}`, 'work-pool', tags['prefect.io/work-pool-name']));
  const worker = tags['prefect.io/worker-name'];
  if (worker) {
    rel.push({
      ...related(`prefect.worker.ecs.${slugify(worker)}`, 'worker', worker),
      'prefect.worker-type': 'ecs',
      // The reference puts its own Prefect version; the task carries the one the worker reported at launch.
      'prefect.version': tags['prefect.io/version'] ?? 'unknown',
    });
  }
  return {
    id: ecsTaskEventId(taskArn, lastStatus),
    occurred: options.occurred ?? changedAt(task) ?? options.now.toISOString(),
    event: `prefect.ecs.task.${lastStatus.toLowerCase()}`,
    resource,
    related: rel,
    payload: {},
  };
}
