import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Deployment, Flow, FlowRun, WorkPool } from '../prefect/types.js';
import { slugify } from './ids.js';
import type { EventEmitter, PrefectEvent } from './types.js';

type Labels = Record<string, string>;

/** The worker as an event resource (spec §1.12): `prefect.worker.<type>.<slug of the name>`. @public */
export function workerResource(name: string, type: string, prefectVersion: string): Labels {
  return {
    'prefect.resource.id': `prefect.worker.${type}.${slugify(name)}`,
    'prefect.resource.name': name,
    'prefect.version': prefectVersion,
    'prefect.worker-type': type,
  };
}

function objectResource(kind: string, obj: { id: string; name: string }): Labels {
  return {
    'prefect.resource.id': `prefect.${kind}.${obj.id}`,
    'prefect.resource.role': kind,
    'prefect.resource.name': obj.name,
  };
}

function deploymentResource(d: Deployment): Labels {
  const labels = objectResource('deployment', d);
  // Prefect Cloud's deployment versioning (Prefect's `object_as_related_resource` adds these when present).
  const versionId = d.version_id;
  const info = d.version_info as { type?: unknown; version?: unknown } | null | undefined;
  if (typeof versionId === 'string') labels['prefect.deployment.version-id'] = versionId;
  if (info && typeof info.type === 'string') labels['prefect.deployment.version-type'] = info.type;
  if (info && typeof info.version === 'string') labels['prefect.deployment.version'] = info.version;
  return labels;
}

/**
 * The related resources of a flow-run event, in Prefect's order (`BaseJobConfiguration._related_resources` then the
 * work pool): deployment, flow, flow run, one `prefect.tag.<tag>` per tag of the three (sorted), work pool.
 * @public
 */
export function flowRunRelatedResources(input: {
  flowRun: FlowRun;
  flow?: Flow | undefined;
  deployment?: Deployment | undefined;
  workPool?: WorkPool | undefined;
  flowRunExtra?: Labels;
}): Labels[] {
  const related: Labels[] = [];
  const tags = new Set<string>();
  if (input.deployment) {
    related.push(deploymentResource(input.deployment));
    for (const t of input.deployment.tags ?? []) tags.add(t);
  }
  if (input.flow) {
    related.push(objectResource('flow', input.flow));
    for (const t of input.flow.tags ?? []) tags.add(t);
  }
  related.push({ ...objectResource('flow-run', input.flowRun), ...(input.flowRunExtra ?? {}) });
  for (const t of input.flowRun.tags ?? []) tags.add(t);
  for (const t of [...tags].sort())
    related.push({ 'prefect.resource.id': `prefect.tag.${t}`, 'prefect.resource.role': 'tag' });
  if (input.workPool) related.push(objectResource('work-pool', input.workPool));
  return related;
}

/** What {@link WorkerEvents} reads from the worker. @internal */
export interface WorkerEventsSource {
  name: string;
  type: string;
  prefectVersion(): string;
  workPool(): WorkPool | undefined;
}

/** The flow run a submission is about. @internal */
export interface SubmissionSubject {
  flowRun: FlowRun;
  flow?: Flow | undefined;
  deployment?: Deployment | undefined;
}

/**
 * The events Prefect's `BaseWorker` emits (spec §1.12), with the same names, resources and `follows` links:
 * `prefect.worker.started`, `prefect.worker.stopped` (follows started), `prefect.worker.submitted-flow-run` and
 * `prefect.worker.executed-flow-run` (follows submitted; the flow-run related resource carries
 * `prefect.infrastructure.identifier` and `prefect.infrastructure.status-code`).
 * @internal
 */
export class WorkerEvents {
  private startedId: string | undefined;

  constructor(
    private readonly emitter: EventEmitter,
    private readonly clock: Clock,
    private readonly source: WorkerEventsSource,
  ) {}

  private resource(): Labels {
    return workerResource(this.source.name, this.source.type, this.source.prefectVersion());
  }

  private poolRelated(): Labels[] {
    const pool = this.source.workPool();
    return pool ? [objectResource('work-pool', pool)] : [];
  }

  private send(event: string, related: Labels[], follows?: string): string | undefined {
    if (!this.emitter.enabled) return undefined;
    const e: PrefectEvent = {
      id: randomUUID(),
      occurred: this.clock.now().toISOString(),
      event,
      resource: this.resource(),
      related,
      payload: {},
      ...(follows ? { follows } : {}),
    };
    this.emitter.emit(e);
    return e.id;
  }

  started(): void {
    this.startedId = this.send('prefect.worker.started', this.poolRelated());
  }

  /** Emitted only after `started`, and once. */
  stopped(): void {
    if (!this.startedId) return;
    this.send('prefect.worker.stopped', this.poolRelated(), this.startedId);
    this.startedId = undefined;
  }

  /** @returns the event id, for the executed event's `follows`. */
  submitted(subject: SubmissionSubject): string | undefined {
    return this.send(
      'prefect.worker.submitted-flow-run',
      flowRunRelatedResources({ ...subject, workPool: this.source.workPool() }),
    );
  }

  executed(
    subject: SubmissionSubject,
    identifier: string,
    statusCode: number,
    submittedId: string | undefined,
  ): void {
    this.send(
      'prefect.worker.executed-flow-run',
      flowRunRelatedResources({
        ...subject,
        workPool: this.source.workPool(),
        flowRunExtra: {
          'prefect.infrastructure.identifier': identifier,
          'prefect.infrastructure.status-code': String(statusCode),
        },
      }),
      submittedId,
    );
  }
}
