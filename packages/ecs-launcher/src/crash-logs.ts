import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { ContainerDefinition, ECSClient } from '@aws-sdk/client-ecs';
import type { Logger } from '@stevedore/kernel';
import { ecsSdk, loadLogsSdk } from './aws-sdk.js';
import { awsErrorInfo, isAwsError } from './errors.js';

/** Most events one GetLogEvents call returns. */
export const GET_LOG_EVENTS_MAX_LIMIT = 10_000;

/** Inputs of {@link readCrashLogs}. @internal */
export interface ReadCrashLogsInput {
  ecs: ECSClient;
  /** The CloudWatch Logs client for a region (`undefined`: the SDK chain's). */
  logs: (region: string | undefined) => CloudWatchLogsClient;
  cluster: string;
  taskArn: string;
  /** The orchestration container's name, when the launch is known. */
  containerName?: string | undefined;
  /** The task definition the task runs, when the launch is known (saves a DescribeTasks). */
  taskDefinitionArn?: string | undefined;
  limit: number;
  signal: AbortSignal;
  logger: Logger;
}

const regionOfArn = (arn: string): string | undefined => /^arn:[^:]+:[^:]+:([^:]+):/.exec(arn)?.[1];

/**
 * Picks the container whose logs to read (spec §3.4 (b) 5.1): the known orchestration container; else `prefect`;
 * else, when the task has no containers (it never started), the definition's `prefect` container or its only one;
 * else the task's only container; else none (several containers, none identifiable).
 */
function pickContainer(
  definitions: ContainerDefinition[],
  running: ReadonlyArray<{ name?: string | undefined }> | undefined,
  known: string | undefined,
): ContainerDefinition | undefined {
  const byName = (name: string | undefined) =>
    name === undefined ? undefined : definitions.find((d) => d.name === name);
  if (known && byName(known)) return byName(known);
  const containers = running ?? [];
  if (containers.some((c) => c.name === 'prefect')) return byName('prefect');
  if (containers.length === 0)
    return byName('prefect') ?? (definitions.length === 1 ? definitions[0] : undefined);
  if (containers.length === 1) return byName(containers[0]?.name);
  return undefined;
}

/**
 * Reads the last lines the orchestration container wrote to its CloudWatch awslogs stream, the way prefect-aws's
 * observer forwards them for crashed runs (spec §3.4 (b) 5): the task definition's `awslogs` options
 * (`awslogs-group`, `awslogs-stream-prefix`, `awslogs-region`), then `GetLogEvents` on
 * `<prefix>/<container>/<task id>` with `startFromHead: false`, so the tail — the traceback — is what comes back.
 *
 * Resolves to `[]` when the container does not log to CloudWatch or the stream does not exist
 * (`ResourceNotFoundException`). Other failures reject; {@link EcsInfrastructure.crashLogs} turns them into `[]`.
 * @internal
 */
export async function readCrashLogs(input: ReadCrashLogsInput): Promise<string[]> {
  const { ecs, cluster, taskArn, signal, logger } = input;
  let taskDefinitionArn = input.taskDefinitionArn;
  let running: ReadonlyArray<{ name?: string | undefined }> | undefined;
  if (!taskDefinitionArn || !input.containerName) {
    const out = await ecs.send(new ecsSdk.DescribeTasksCommand({ cluster, tasks: [taskArn] }), {
      abortSignal: signal,
    });
    const task = out.tasks?.[0];
    taskDefinitionArn ??= task?.taskDefinitionArn;
    running = task?.containers;
  }
  if (!taskDefinitionArn) {
    logger.debug('No crash logs: the task definition of the task is unknown.', { taskArn });
    return [];
  }
  const described = await ecs.send(
    new ecsSdk.DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn }),
    {
      abortSignal: signal,
    },
  );
  const container = pickContainer(
    described.taskDefinition?.containerDefinitions ?? [],
    running,
    input.containerName,
  );
  const log = container?.logConfiguration;
  const group = log?.options?.['awslogs-group'];
  const prefix = log?.options?.['awslogs-stream-prefix'];
  if (!container?.name || log?.logDriver !== 'awslogs' || !group || !prefix) {
    logger.debug('No crash logs: the orchestration container does not log to CloudWatch (awslogs).', {
      taskArn,
      taskDefinitionArn,
      container: container?.name,
    });
    return [];
  }
  const taskId = taskArn.slice(taskArn.lastIndexOf('/') + 1);
  const logStreamName = `${prefix}/${container.name}/${taskId}`;
  const region = log.options?.['awslogs-region'] || regionOfArn(taskDefinitionArn);
  const limit = Math.max(1, Math.min(GET_LOG_EVENTS_MAX_LIMIT, Math.floor(input.limit)));
  const { GetLogEventsCommand } = loadLogsSdk();
  try {
    const out = await input
      .logs(region)
      .send(new GetLogEventsCommand({ logGroupName: group, logStreamName, limit, startFromHead: false }), {
        abortSignal: signal,
      });
    return (out.events ?? [])
      .map((e) => e.message)
      .filter((m): m is string => typeof m === 'string')
      .map((m) => m.replace(/\r?\n$/, ''));
  } catch (e) {
    if (isAwsError(e, 'ResourceNotFoundException')) {
      logger.debug('No crash logs: the CloudWatch log stream does not exist.', {
        logGroupName: group,
        logStreamName,
        aws: awsErrorInfo(e),
      });
      return [];
    }
    throw e;
  }
}
