import {
  createEventsClients,
  deleteEventsInfrastructure,
  deployEventsInfrastructure,
  eventsStatus,
} from '@stevedore/observer-sqs';
import type { CliIo } from './main.js';

/** Options shared by the `events` subcommands. */
export interface EventsOptions {
  pool: string;
  cluster?: string;
  region?: string;
  dryRun?: boolean;
}

/**
 * `stevedore events deploy`: the SQS queue, its DLQ and policy, and the EventBridge rule and target for
 * a pool's cluster, with prefect-aws's names (existing resources are adopted, not recreated).
 */
export async function eventsDeploy(opts: EventsOptions, io: CliIo): Promise<number> {
  if (!opts.cluster) {
    io.err(
      'events deploy needs --cluster <name or ARN>: the rule matches the task state changes of that cluster.',
    );
    return 2;
  }
  const clients = createEventsClients({ region: opts.region, cluster: opts.cluster });
  const result = await deployEventsInfrastructure({ pool: opts.pool, cluster: opts.cluster }, clients, {
    dryRun: Boolean(opts.dryRun),
    signal: io.signal,
  });
  for (const step of result.plan.steps)
    io.out(`  ${step.action.padEnd(6)} ${step.resource.padEnd(12)} ${step.name}  ${step.detail}`);
  for (const note of result.plan.notes) io.out(`  note: ${note}`);
  for (const conflict of result.plan.conflicts) io.err(`  conflict: ${conflict}`);
  io.out(result.message);
  if (result.status === 'applied' || result.status === 'up-to-date') {
    io.out(
      `Start the worker with PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME=${result.plan.names.queue} (or leave it unset: Stevedore finds '${result.plan.names.queue}' by itself).`,
    );
  }
  return result.status === 'conflict' ? 1 : 0;
}

/** `stevedore events status`: what exists, what is missing, queue and DLQ depths. */
export async function eventsStatusCommand(opts: EventsOptions, io: CliIo): Promise<number> {
  const clients = createEventsClients({ region: opts.region, cluster: opts.cluster });
  const result = await eventsStatus(
    { pool: opts.pool, ...(opts.cluster ? { cluster: opts.cluster } : {}) },
    clients,
  );
  for (const r of result.resources) {
    io.out(
      `  ${r.exists ? 'ok     ' : 'missing'} ${r.resource.padEnd(12)} ${r.name}${r.owner ? `  (${r.owner.kind})` : ''}${r.detail ? `  ${r.detail}` : ''}`,
    );
  }
  if (result.queueDepth) io.out(`  queue depth: ${JSON.stringify(result.queueDepth)}`);
  if (result.dlqDepth) io.out(`  DLQ depth:   ${JSON.stringify(result.dlqDepth)}`);
  for (const p of result.problems) io.err(`  problem: ${p}`);
  io.out(
    result.ok
      ? 'Events infrastructure is complete.'
      : 'Events infrastructure is incomplete (see above); run `stevedore events deploy`.',
  );
  return result.ok ? 0 : 1;
}

/** `stevedore events delete`: removes exactly what deploy created; refuses CloudFormation-owned resources. */
export async function eventsDelete(opts: EventsOptions, io: CliIo): Promise<number> {
  const clients = createEventsClients({ region: opts.region, cluster: opts.cluster });
  const result = await deleteEventsInfrastructure({ pool: opts.pool }, clients, {
    dryRun: Boolean(opts.dryRun),
    signal: io.signal,
  });
  for (const d of result.deleted)
    io.out(`  ${result.status === 'dry-run' ? 'would delete' : 'deleted'} ${d.resource} ${d.name}`);
  for (const k of result.kept) io.out(`  kept ${k.resource} ${k.name}: ${k.reason}`);
  io.out(result.message);
  return result.status === 'refused' ? 1 : 0;
}
