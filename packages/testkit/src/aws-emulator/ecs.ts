import type { Ec2Store } from './ec2.js';
import { type ContainerRecord, type TaskLifecycle, type TaskRecord, taskEventDetail } from './lifecycle.js';
import type {
  EcsCapacityProviderStrategyItem,
  EcsClusterInfo,
  EcsTag,
  EcsTask,
  EcsTaskDefinition,
  ModelObject,
  ModelValue,
  RunTaskFailureInjection,
  SeedClusterInput,
} from './types.js';
import { AwsError, canonicalJson, isObject, randomHex, randomUuid } from './util.js';

interface ClusterRecord {
  name: string;
  arn: string;
  capacityProviders: string[];
  defaultCapacityProviderStrategy: EcsCapacityProviderStrategyItem[];
  registeredContainerInstancesCount: number;
  ec2Capacity?: { cpu: number; memory: number };
  tags: EcsTag[];
}

interface TaskDefRecord {
  family: string;
  revision: number;
  arn: string;
  status: 'ACTIVE' | 'INACTIVE' | 'DELETE_IN_PROGRESS';
  /** The description as DescribeTaskDefinition returns it (model form, Dates for timestamps). */
  definition: ModelObject;
  tags: EcsTag[];
}

interface IdempotencyRecord {
  fingerprint: string;
  taskArns: string[];
  failures: ModelObject[];
}

interface Injection<T> {
  value: T;
  remaining: number;
  hits: number;
}

const FARGATE_PROVIDERS = new Set(['FARGATE', 'FARGATE_SPOT']);

/** Valid Fargate task sizes: CPU units → allowed memory (MiB). */
function fargateMemoryOptions(cpu: number): number[] {
  const range = (from: number, to: number, step: number): number[] => {
    const out: number[] = [];
    for (let m = from; m <= to; m += step) out.push(m);
    return out;
  };
  switch (cpu) {
    case 256:
      return [512, 1024, 2048];
    case 512:
      return range(1024, 4096, 1024);
    case 1024:
      return range(2048, 8192, 1024);
    case 2048:
      return range(4096, 16384, 1024);
    case 4096:
      return range(8192, 30720, 1024);
    case 8192:
      return range(16384, 61440, 4096);
    case 16384:
      return range(32768, 122880, 8192);
    default:
      return [];
  }
}

/** `"1024"`, `"1 vCPU"`, `"2 GB"` → CPU units / MiB. */
function parseSize(value: ModelValue | undefined, unit: 'cpu' | 'memory'): number | null {
  if (typeof value !== 'string') return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const m = /^(\d+(?:\.\d+)?)\s*(vcpu|gb)$/i.exec(v);
  if (!m) return null;
  const n = Number(m[1]) * 1024;
  const u = (m[2] ?? '').toLowerCase();
  if ((unit === 'cpu' && u !== 'vcpu') || (unit === 'memory' && u !== 'gb')) return null;
  return n;
}

function str(v: ModelValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function list(v: ModelValue | undefined): ModelValue[] {
  return Array.isArray(v) ? v : [];
}

function obj(v: ModelValue | undefined): ModelObject {
  return isObject(v) ? (v as ModelObject) : {};
}

function tagsOf(v: ModelValue | undefined): EcsTag[] {
  return list(v).map((t) => {
    const o = obj(t);
    return { key: String(o.key ?? ''), value: String(o.value ?? '') };
  });
}

function mergeTags(existing: EcsTag[], added: EcsTag[]): EcsTag[] {
  const out = existing.filter((t) => !added.some((a) => a.key === t.key));
  return [...out, ...added];
}

function envList(v: ModelValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of list(v)) {
    const o = obj(e);
    if (typeof o.name === 'string') out[o.name] = typeof o.value === 'string' ? o.value : '';
  }
  return out;
}

export interface EcsStoreOptions {
  region: string;
  accountId: string;
  rng: () => number;
  ec2: Ec2Store;
  lifecycle: TaskLifecycle;
  /** Members of the TaskDefinition output shape (what a registration may store). */
  taskDefinitionMembers: Set<string>;
}

export class EcsStore {
  readonly clusters = new Map<string, ClusterRecord>();
  readonly taskDefs: TaskDefRecord[] = [];
  readonly tasks = new Map<string, TaskRecord>();
  private readonly idempotency = new Map<string, IdempotencyRecord>();

  /** The RunTask `clientToken` that started each task, by task ARN (tasks started without one are absent). */
  clientTokens(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [token, record] of this.idempotency) for (const arn of record.taskArns) out.set(arn, token);
    return out;
  }
  private readonly runTaskFailures: Injection<RunTaskFailureInjection>[] = [];
  private readonly startFailures: Injection<string | undefined>[] = [];
  private readonly registerConflicts: Injection<null>[] = [];
  private readonly region: string;
  private readonly accountId: string;

  constructor(private readonly o: EcsStoreOptions) {
    this.region = o.region;
    this.accountId = o.accountId;
    this.seedCluster({ name: 'default' });
  }

  private arn(resource: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:${resource}`;
  }

  // -------------------------------------------------------------------------------------------- seeding

  seedCluster(input: SeedClusterInput): EcsClusterInfo {
    const record: ClusterRecord = {
      name: input.name,
      arn: this.arn(`cluster/${input.name}`),
      capacityProviders: input.capacityProviders ?? ['FARGATE', 'FARGATE_SPOT'],
      defaultCapacityProviderStrategy: input.defaultCapacityProviderStrategy ?? [],
      registeredContainerInstancesCount: input.registeredContainerInstancesCount ?? 0,
      ...(input.ec2Capacity ? { ec2Capacity: { ...input.ec2Capacity } } : {}),
      tags: input.tags ?? [],
    };
    this.clusters.set(input.name, record);
    return this.clusterInfo(record);
  }

  scaleOutEc2(name: string, add: { cpu: number; memory: number; instances?: number }): EcsClusterInfo {
    const c = this.findCluster(name);
    if (!c) throw new Error(`no cluster ${name}`);
    c.registeredContainerInstancesCount += add.instances ?? 1;
    const now = c.ec2Capacity ?? { cpu: 0, memory: 0 };
    c.ec2Capacity = { cpu: now.cpu + add.cpu, memory: now.memory + add.memory };
    return this.clusterInfo(c);
  }

  /**
   * What an EC2 task of `def` (with `overrides`) reserves: task-level cpu/memory when set, else the sum of its
   * containers' `cpu` and `memory` (or `memoryReservation`).
   */
  private ec2Needs(def: ModelObject, overrides: ModelObject): { cpu: number; memory: number } {
    const containers = list(def.containerDefinitions).map(obj);
    const sum = (f: (c: ModelObject) => unknown) => containers.reduce((n, c) => n + (Number(f(c)) || 0), 0);
    const cpu = Number(str(overrides.cpu) ?? str(def.cpu)) || sum((c) => c.cpu);
    const memory =
      Number(str(overrides.memory) ?? str(def.memory)) || sum((c) => c.memory ?? c.memoryReservation);
    return { cpu, memory };
  }

  /** ECS's answer when no container instance has room: one `RESOURCE:*` failure per instance (at most 10). */
  private ec2PlacementFailures(
    cluster: ClusterRecord,
    need: { cpu: number; memory: number },
  ): ModelObject[] | null {
    const capacity = cluster.ec2Capacity;
    if (!capacity) return null;
    const used = { cpu: 0, memory: 0 };
    for (const t of this.tasks.values()) {
      if (t.clusterArn !== cluster.arn || t.lastStatus === 'STOPPED' || !t.ec2Reservation) continue;
      used.cpu += t.ec2Reservation.cpu;
      used.memory += t.ec2Reservation.memory;
    }
    const reason =
      need.memory > capacity.memory - used.memory
        ? 'RESOURCE:MEMORY'
        : need.cpu > capacity.cpu - used.cpu
          ? 'RESOURCE:CPU'
          : null;
    if (!reason) return null;
    const n = Math.max(1, Math.min(10, cluster.registeredContainerInstancesCount));
    return Array.from({ length: n }, (_, i) => ({
      arn: this.arn(`container-instance/${cluster.name}/${(i + 1).toString(16).padStart(32, '0')}`),
      reason,
    }));
  }

  clusterInfo(c: ClusterRecord): EcsClusterInfo {
    return {
      clusterArn: c.arn,
      clusterName: c.name,
      capacityProviders: [...c.capacityProviders],
      defaultCapacityProviderStrategy: c.defaultCapacityProviderStrategy.map((s) => ({ ...s })),
      registeredContainerInstancesCount: c.registeredContainerInstancesCount,
    };
  }

  private inject<T>(queue: Injection<T>[], value: T, times: number, name: string) {
    const entry: Injection<T> = { value, remaining: times, hits: 0 };
    queue.push(entry);
    return {
      name,
      hits: () => entry.hits,
      remaining: () => entry.remaining,
      remove: () => {
        const i = queue.indexOf(entry);
        if (i >= 0) queue.splice(i, 1);
      },
    };
  }

  private consume<T>(queue: Injection<T>[], match: (v: T) => boolean = () => true): Injection<T> | undefined {
    const entry = queue.find((e) => e.remaining > 0 && match(e.value));
    if (!entry) return undefined;
    entry.remaining -= 1;
    entry.hits += 1;
    if (entry.remaining <= 0) queue.splice(queue.indexOf(entry), 1);
    return entry;
  }

  injectRunTaskFailure(f: RunTaskFailureInjection) {
    return this.inject(this.runTaskFailures, f, f.times ?? 1, `RunTask failure ${f.reason}`);
  }

  injectStartFailure(reason: string | undefined, times: number) {
    return this.inject(this.startFailures, reason, times, 'TaskFailedToStart');
  }

  injectRegisterConflict(times: number) {
    return this.inject(this.registerConflicts, null, times, 'RegisterTaskDefinition conflict');
  }

  // ------------------------------------------------------------------------------------------- lookups

  private cluster(ref: ModelValue | undefined): ClusterRecord {
    const name = typeof ref === 'string' && ref !== '' ? ref : 'default';
    const m = /^arn:aws[^:]*:ecs:[^:]+:\d{12}:cluster\/(.+)$/.exec(name);
    const c = this.clusters.get(m ? (m[1] ?? '') : name);
    if (!c || (m && c.arn !== name)) throw new AwsError('ClusterNotFoundException', 'Cluster not found.');
    return c;
  }

  findCluster(ref: string): ClusterRecord | undefined {
    try {
      return this.cluster(ref);
    } catch {
      return undefined;
    }
  }

  /** By ARN, `family:revision` or `family` (latest ACTIVE revision). */
  findTaskDef(ref: string): TaskDefRecord | undefined {
    const arn = /^arn:aws[^:]*:ecs:([^:]+):(\d{12}):task-definition\/([^:]+):(\d+)$/.exec(ref);
    if (arn) {
      if (arn[1] !== this.region || arn[2] !== this.accountId) return undefined;
      return this.taskDefs.find((d) => d.family === arn[3] && d.revision === Number(arn[4]));
    }
    const fr = /^([^:/]+):(\d+)$/.exec(ref);
    if (fr) return this.taskDefs.find((d) => d.family === fr[1] && d.revision === Number(fr[2]));
    const active = this.taskDefs.filter((d) => d.family === ref && d.status === 'ACTIVE');
    return active.at(-1);
  }

  findTask(ref: string, cluster?: ClusterRecord): TaskRecord | undefined {
    const id = ref.startsWith('arn:') ? (ref.split('/').at(-1) ?? '') : ref;
    const t = this.tasks.get(id);
    if (!t) return undefined;
    if (ref.startsWith('arn:') && t.arn !== ref) return undefined;
    if (cluster && t.clusterArn !== cluster.arn) return undefined;
    return t;
  }

  taskDefinitionView(d: TaskDefRecord): EcsTaskDefinition {
    const definition = JSON.parse(JSON.stringify(d.definition)) as EcsTaskDefinition['definition'];
    return {
      taskDefinitionArn: d.arn,
      family: d.family,
      revision: d.revision,
      status: d.status,
      containerDefinitions: Array.isArray(definition.containerDefinitions)
        ? (definition.containerDefinitions as EcsTaskDefinition['containerDefinitions'])
        : [],
      tags: d.tags.map((t) => ({ ...t })),
      definition,
    };
  }

  taskView(t: TaskRecord, withTags = true): EcsTask {
    const detail = taskEventDetail(t);
    if (withTags) detail.tags = t.tags.map((x) => ({ ...x }));
    return detail;
  }

  // -------------------------------------------------------------------------------- task definitions

  registerTaskDefinition(input: ModelObject): ModelObject {
    if (this.consume(this.registerConflicts)) {
      throw new AwsError(
        'ClientException',
        'Too many concurrent attempts to create a new revision of the specified family.',
      );
    }
    const family = String(input.family ?? '');
    if (!/^[a-zA-Z0-9_-]{1,255}$/.test(family)) {
      throw new AwsError(
        'ClientException',
        'Family must be between 1 and 255 characters long and contain only letters (uppercase and lowercase), numbers, hyphens, and underscores.',
      );
    }
    const containers = list(input.containerDefinitions).map(obj);
    if (containers.length === 0) throw new AwsError('ClientException', 'Container list cannot be empty.');
    const names = new Set<string>();
    const requires = list(input.requiresCompatibilities).map(String);
    const fargate = requires.includes('FARGATE');
    for (const c of containers) {
      const name = str(c.name);
      if (!name) throw new AwsError('ClientException', 'Container.name should not be null or empty.');
      if (!str(c.image))
        throw new AwsError('ClientException', 'Container.image should not be null or empty.');
      if (names.has(name)) throw new AwsError('ClientException', `Duplicate container name found: ${name}.`);
      names.add(name);
      if (
        !fargate &&
        input.memory === undefined &&
        c.memory === undefined &&
        c.memoryReservation === undefined
      ) {
        throw new AwsError(
          'ClientException',
          `Invalid setting for container '${name}'. At least one of 'memory' or 'memoryReservation' must be specified.`,
        );
      }
    }
    if (fargate) {
      const mode = str(input.networkMode);
      if (mode !== 'awsvpc')
        throw new AwsError('ClientException', "Fargate only supports network mode 'awsvpc'.");
      if (input.cpu === undefined)
        throw new AwsError('ClientException', "Fargate requires that 'cpu' be defined at the task level.");
      if (input.memory === undefined) {
        throw new AwsError('ClientException', "Fargate requires that 'memory' be defined at the task level.");
      }
      const cpu = parseSize(input.cpu, 'cpu');
      const memory = parseSize(input.memory, 'memory');
      if (cpu === null || memory === null || !fargateMemoryOptions(cpu).includes(memory)) {
        throw new AwsError(
          'ClientException',
          `No Fargate configuration exists for given values: ${String(input.cpu)} CPU, ${String(input.memory)} memory. See the Amazon ECS documentation for the valid values.`,
        );
      }
      const awslogs = containers.some((c) => str(obj(c.logConfiguration).logDriver) === 'awslogs');
      if (awslogs && !str(input.executionRoleArn)) {
        throw new AwsError(
          'ClientException',
          'Fargate requires task definition to have execution role ARN to support log driver awslogs.',
        );
      }
    }
    const revision = this.taskDefs.filter((d) => d.family === family).length + 1;
    const arn = this.arn(`task-definition/${family}:${revision}`);
    const definition: ModelObject = {};
    for (const [k, v] of Object.entries(input)) {
      if (k !== 'tags' && this.o.taskDefinitionMembers.has(k)) definition[k] = v;
    }
    definition.taskDefinitionArn = arn;
    definition.family = family;
    definition.revision = revision;
    definition.status = 'ACTIVE';
    definition.containerDefinitions = containers.map((c) => ({
      cpu: 0,
      portMappings: [],
      essential: true,
      environment: [],
      mountPoints: [],
      volumesFrom: [],
      ...c,
    }));
    definition.volumes = list(input.volumes);
    definition.placementConstraints = list(input.placementConstraints);
    const awsvpc = str(input.networkMode) === 'awsvpc';
    const attrs: ModelObject[] = [{ name: 'com.amazonaws.ecs.capability.docker-remote-api.1.18' }];
    if (awsvpc) attrs.push({ name: 'ecs.capability.task-eni' });
    if (containers.some((c) => str(obj(c.logConfiguration).logDriver) === 'awslogs')) {
      attrs.push({ name: 'com.amazonaws.ecs.capability.logging-driver.awslogs' });
      if (str(input.executionRoleArn)) attrs.push({ name: 'ecs.capability.execution-role-awslogs' });
    }
    definition.requiresAttributes = attrs;
    const compat = ['EC2'];
    if (awsvpc || fargate) compat.push('FARGATE');
    definition.compatibilities = compat;
    definition.registeredAt = new Date();
    definition.registeredBy = `arn:aws:iam::${this.accountId}:root`;
    const tags = tagsOf(input.tags);
    this.taskDefs.push({ family, revision, arn, status: 'ACTIVE', definition, tags });
    const out: ModelObject = { taskDefinition: definition };
    if (tags.length > 0) out.tags = tags.map((t) => ({ key: t.key, value: t.value }));
    return out;
  }

  describeTaskDefinition(input: ModelObject): ModelObject {
    const d = this.findTaskDef(String(input.taskDefinition ?? ''));
    if (!d) throw new AwsError('ClientException', 'Unable to describe task definition.');
    const out: ModelObject = { taskDefinition: d.definition };
    if (list(input.include).includes('TAGS')) out.tags = d.tags.map((t) => ({ key: t.key, value: t.value }));
    return out;
  }

  listTaskDefinitions(input: ModelObject): ModelObject {
    const status = str(input.status) ?? 'ACTIVE';
    const prefix = str(input.familyPrefix);
    const sort = str(input.sort) ?? 'ASC';
    let items = this.taskDefs.filter(
      (d) => d.status === status && (prefix === undefined || d.family.startsWith(prefix)),
    );
    items = [...items].sort((a, b) => a.family.localeCompare(b.family) || a.revision - b.revision);
    if (sort === 'DESC') items.reverse();
    return this.page(
      items.map((d) => d.arn),
      input,
      'taskDefinitionArns',
    );
  }

  deregisterTaskDefinition(input: ModelObject): ModelObject {
    const ref = String(input.taskDefinition ?? '');
    if (!ref.includes(':')) {
      throw new AwsError(
        'ClientException',
        'The specified task definition identifier is invalid. Specify a valid revision.',
      );
    }
    const d = this.findTaskDef(ref);
    if (!d) throw new AwsError('ClientException', 'The specified task definition does not exist.');
    if (d.status === 'ACTIVE') {
      d.status = 'INACTIVE';
      d.definition.status = 'INACTIVE';
      d.definition.deregisteredAt = new Date();
    }
    return { taskDefinition: d.definition };
  }

  private page(items: string[], input: ModelObject, key: string): ModelObject {
    const max = typeof input.maxResults === 'number' ? input.maxResults : 100;
    if (max < 1 || max > 100)
      throw new AwsError('InvalidParameterException', 'maxResults must be between 1 and 100.');
    let start = 0;
    if (typeof input.nextToken === 'string') {
      const n = Number(Buffer.from(input.nextToken, 'base64').toString('utf8'));
      if (!Number.isInteger(n) || n < 0)
        throw new AwsError('InvalidParameterException', 'Invalid nextToken.');
      start = n;
    }
    const slice = items.slice(start, start + max);
    const out: ModelObject = { [key]: slice };
    if (start + slice.length < items.length)
      out.nextToken = Buffer.from(String(start + slice.length)).toString('base64');
    return out;
  }

  // ------------------------------------------------------------------------------------------------ tags

  /** The record holding a resource's tags (task definition, task or cluster), by ARN. */
  private tagged(arn: string): { tags: EcsTag[] } | null {
    if (/:task-definition\//.test(arn)) return this.taskDefs.find((d) => d.arn === arn) ?? null;
    if (/:task\//.test(arn)) return this.findTask(arn) ?? null;
    return [...this.clusters.values()].find((c) => c.arn === arn) ?? null;
  }

  tagResource(input: ModelObject): ModelObject {
    const r = this.tagged(String(input.resourceArn ?? ''));
    if (!r) throw new AwsError('InvalidParameterException', 'The specified resource is not found.');
    const tags = mergeTags(r.tags, tagsOf(input.tags));
    if (tags.length > 50) throw new AwsError('InvalidParameterException', 'Tags can have at most 50 items.');
    r.tags = tags;
    return {};
  }

  untagResource(input: ModelObject): ModelObject {
    const r = this.tagged(String(input.resourceArn ?? ''));
    if (!r) throw new AwsError('InvalidParameterException', 'The specified resource is not found.');
    const keys = list(input.tagKeys).map(String);
    r.tags = r.tags.filter((t) => !keys.includes(t.key));
    return {};
  }

  listTagsForResource(input: ModelObject): ModelObject {
    const r = this.tagged(String(input.resourceArn ?? ''));
    if (!r) throw new AwsError('InvalidParameterException', 'The specified resource is not found.');
    return { tags: r.tags.map((t) => ({ key: t.key, value: t.value })) };
  }

  // ---------------------------------------------------------------------------------------------- tasks

  taskModel(t: TaskRecord, withTags: boolean): ModelObject {
    const d = taskEventDetail(t);
    const out: ModelObject = {};
    const dates = new Set([
      'createdAt',
      'connectivityAt',
      'pullStartedAt',
      'pullStoppedAt',
      'startedAt',
      'stoppingAt',
      'executionStoppedAt',
      'stoppedAt',
    ]);
    for (const [k, v] of Object.entries(d)) {
      if (k === 'updatedAt' || v === undefined) continue;
      out[k] = dates.has(k) && typeof v === 'string' ? new Date(v) : (v as ModelValue);
    }
    if (t.eni) {
      out.attachments = [
        {
          id: t.eni.attachmentId,
          type: 'ElasticNetworkInterface',
          status: t.eni.status,
          details: [
            { name: 'subnetId', value: t.eni.subnetId },
            { name: 'networkInterfaceId', value: t.eni.eniId },
            { name: 'macAddress', value: t.eni.mac },
            { name: 'privateDnsName', value: `ip-${t.eni.ip.replace(/\./g, '-')}.ec2.internal` },
            { name: 'privateIPv4Address', value: t.eni.ip },
          ],
        },
      ];
    }
    if (withTags) out.tags = t.tags.map((x) => ({ key: x.key, value: x.value }));
    return out;
  }

  runTask(input: ModelObject): ModelObject {
    const cluster = this.cluster(input.cluster);
    const token = str(input.clientToken);
    const { clientToken: _ignored, ...rest } = input;
    const fingerprint = canonicalJson({ ...rest, cluster: cluster.arn });
    if (token !== undefined) {
      if (token.length > 64 || !/^[\x21-\x7e]+$/.test(token)) {
        throw new AwsError(
          'InvalidParameterException',
          'The clientToken must be 1-64 characters in the range 33-126.',
        );
      }
      const prior = this.idempotency.get(token);
      if (prior) {
        if (prior.fingerprint !== fingerprint) {
          throw new AwsError(
            'ConflictException',
            'The specified clientToken is already in use with a different RunTask request.',
            400,
            { resourceIds: [...prior.taskArns] },
          );
        }
        return {
          tasks: prior.taskArns
            .map((a) => this.findTask(a))
            .filter((t) => t !== undefined)
            .map((t) => this.taskModel(t, true)),
          failures: prior.failures,
        };
      }
    }
    const td = this.findTaskDef(String(input.taskDefinition ?? ''));
    if (!td) throw new AwsError('ClientException', 'TaskDefinition not found.');
    if (td.status !== 'ACTIVE') throw new AwsError('ClientException', 'TaskDefinition is inactive');
    const def = td.definition;
    const count = typeof input.count === 'number' ? input.count : 1;
    if (count < 1 || count > 10)
      throw new AwsError('InvalidParameterException', 'Count must be between 1 and 10.');

    // Launch type or capacity provider strategy.
    const strategy = list(input.capacityProviderStrategy).map(obj);
    let launchType = str(input.launchType);
    if (launchType !== undefined && strategy.length > 0) {
      throw new AwsError(
        'InvalidParameterException',
        'Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.',
      );
    }
    let provider: string | undefined;
    const chosen =
      strategy.length > 0
        ? strategy
        : launchType === undefined
          ? cluster.defaultCapacityProviderStrategy.map((s) => ({ ...s }) as ModelObject)
          : [];
    if (chosen.length > 0) {
      for (const s of chosen) {
        const name = String(s.capacityProvider ?? '');
        if (!cluster.capacityProviders.includes(name)) {
          throw new AwsError(
            'InvalidParameterException',
            'The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.',
          );
        }
      }
      const fargateKinds = new Set(chosen.map((s) => FARGATE_PROVIDERS.has(String(s.capacityProvider))));
      if (fargateKinds.size > 1) {
        throw new AwsError(
          'InvalidParameterException',
          'The capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again.',
        );
      }
      const withBase = chosen.find((s) => typeof s.base === 'number' && s.base > 0);
      const byWeight = [...chosen].sort((a, b) => Number(b.weight ?? 0) - Number(a.weight ?? 0))[0];
      provider = String((withBase ?? byWeight)?.capacityProvider ?? '');
      launchType = FARGATE_PROVIDERS.has(provider) ? 'FARGATE' : 'EC2';
    } else if (launchType === undefined) launchType = 'EC2';

    const compat = list(def.compatibilities).map(String);
    if (launchType === 'FARGATE' && !compat.includes('FARGATE')) {
      throw new AwsError(
        'InvalidParameterException',
        'Task definition does not support launch_type FARGATE.',
      );
    }
    if (launchType === 'EC2' && provider === undefined && cluster.registeredContainerInstancesCount === 0) {
      throw new AwsError('InvalidParameterException', 'No Container Instances were found in your cluster.');
    }
    if (launchType === 'EXTERNAL') {
      throw new AwsError('InvalidParameterException', 'No Container Instances were found in your cluster.');
    }

    // Network configuration.
    const awsvpc = str(def.networkMode) === 'awsvpc';
    const netConf = obj(input.networkConfiguration);
    const vpcConf = obj(netConf.awsvpcConfiguration);
    let subnetId: string | undefined;
    let az = `${this.region}a`;
    if (awsvpc) {
      if (input.networkConfiguration === undefined || netConf.awsvpcConfiguration === undefined) {
        throw new AwsError(
          'InvalidParameterException',
          "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        );
      }
      const subnets = list(vpcConf.subnets).map(String);
      if (subnets.length === 0) throw new AwsError('InvalidParameterException', 'subnets can not be empty.');
      const vpcs = new Set<string>();
      for (const id of subnets) {
        const s = this.o.ec2.subnets.get(id);
        if (!s) {
          throw new AwsError(
            'InvalidParameterException',
            `Error retrieving subnet information for [${id}]: The subnet ID '${id}' does not exist (ErrorCode: InvalidSubnetID.NotFound)`,
          );
        }
        vpcs.add(s.VpcId);
      }
      if (vpcs.size > 1)
        throw new AwsError('InvalidParameterException', 'Subnets must all belong to the same VPC.');
      for (const id of list(vpcConf.securityGroups).map(String)) {
        const g = this.o.ec2.securityGroups.get(id);
        if (!g) {
          throw new AwsError(
            'InvalidParameterException',
            `Error retrieving security group information for [${id}]: The security group '${id}' does not exist (ErrorCode: InvalidGroup.NotFound)`,
          );
        }
        if (!vpcs.has(g.VpcId)) {
          throw new AwsError(
            'InvalidParameterException',
            `Security group ${id} and subnet ${subnets[0]} belong to different networks.`,
          );
        }
      }
      if (str(vpcConf.assignPublicIp) === 'ENABLED' && launchType !== 'FARGATE') {
        throw new AwsError(
          'InvalidParameterException',
          'Assign public IP is not supported for this launch type.',
        );
      }
      subnetId = subnets[Math.floor(this.o.rng() * subnets.length)] ?? subnets[0];
      az = (subnetId && this.o.ec2.subnets.get(subnetId)?.AvailabilityZone) || az;
    } else if (input.networkConfiguration !== undefined) {
      throw new AwsError(
        'InvalidParameterException',
        'Network Configuration is not valid for the given networkMode of this task definition.',
      );
    }
    if (launchType === 'FARGATE' && !awsvpc) {
      throw new AwsError('InvalidParameterException', "Fargate only supports network mode 'awsvpc'.");
    }

    // Overrides must name containers of the definition.
    const containerDefs = list(def.containerDefinitions).map(obj);
    const containerNames = containerDefs.map((c) => String(c.name));
    const overrides = obj(input.overrides);
    const containerOverrides = list(overrides.containerOverrides).map(obj);
    for (const co of containerOverrides) {
      const name = str(co.name);
      if (name === undefined || !containerNames.includes(name)) {
        throw new AwsError(
          'InvalidParameterException',
          `Override for container named ${name ?? 'null'} is not a container in the TaskDefinition.`,
        );
      }
    }

    // Capacity failures (injected) are answered in `failures`, with no tasks.
    const failure = this.consume(
      this.runTaskFailures,
      (f) =>
        (f.cluster === undefined || this.findCluster(f.cluster) === cluster) &&
        (f.capacityProvider === undefined || f.capacityProvider === (provider ?? launchType)),
    );
    if (failure) {
      const f = failure.value;
      const failures: ModelObject[] = [
        { arn: f.arn ?? cluster.arn, reason: f.reason, ...(f.detail ? { detail: f.detail } : {}) },
      ];
      if (token !== undefined) this.idempotency.set(token, { fingerprint, taskArns: [], failures });
      return { tasks: [], failures };
    }
    // Simulated EC2 capacity (`ec2Capacity`): no room on any container instance → RESOURCE:* failures.
    const ec2Need =
      launchType === 'EC2' && provider === undefined ? this.ec2Needs(def, overrides) : undefined;
    if (ec2Need) {
      const need = { cpu: ec2Need.cpu * count, memory: ec2Need.memory * count };
      const failures = this.ec2PlacementFailures(cluster, need);
      if (failures) {
        if (token !== undefined) this.idempotency.set(token, { fingerprint, taskArns: [], failures });
        return { tasks: [], failures };
      }
    }

    const orchestration =
      containerNames.find((n) => n === 'prefect') ??
      containerOverrides.map((c) => String(c.name)).find((n) => containerNames.includes(n)) ??
      containerNames[0] ??
      'prefect';
    let tags = tagsOf(input.tags);
    if (str(input.propagateTags) === 'TASK_DEFINITION') tags = mergeTags(td.tags, tags);
    if (input.enableECSManagedTags === true)
      tags = mergeTags(tags, [{ key: 'aws:ecs:clusterName', value: cluster.name }]);
    const cpu = str(overrides.cpu) ?? str(def.cpu);
    const memory = str(overrides.memory) ?? str(def.memory);

    const created: TaskRecord[] = [];
    for (let i = 0; i < count; i++) {
      const id = randomHex(this.o.rng, 32);
      const taskArn = this.arn(`task/${cluster.name}/${id}`);
      const containers: ContainerRecord[] = containerDefs.map((c) => {
        const name = String(c.name);
        const log = obj(c.logConfiguration);
        const opts = obj(log.options);
        const group = str(opts['awslogs-group']);
        const prefix = str(opts['awslogs-stream-prefix']);
        const awslogs =
          str(log.logDriver) === 'awslogs' && group
            ? {
                group,
                stream: prefix ? `${prefix}/${name}/${id}` : `${name}/${id}`,
                createGroup: str(opts['awslogs-create-group']) === 'true',
              }
            : undefined;
        return {
          name,
          arn: this.arn(`container/${cluster.name}/${id}/${randomUuid(this.o.rng)}`),
          image: String(c.image ?? ''),
          lastStatus: 'PENDING',
          cpu: String(typeof c.cpu === 'number' ? c.cpu : 0),
          ...(typeof c.memory === 'number' ? { memory: String(c.memory) } : {}),
          ...(awslogs ? { awslogs } : {}),
        };
      });
      const defEnv = envList(containerDefs.find((c) => c.name === orchestration)?.environment);
      const overrideEnv = envList(containerOverrides.find((c) => c.name === orchestration)?.environment);
      const startFailure = this.consume(this.startFailures);
      const now = Date.now();
      const record: TaskRecord = {
        id,
        arn: taskArn,
        clusterArn: cluster.arn,
        clusterName: cluster.name,
        taskDefinitionArn: td.arn,
        family: td.family,
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        containers,
        overrides: {
          containerOverrides: containerOverrides as ModelValue[],
          inferenceAcceleratorOverrides: [],
          ...Object.fromEntries(Object.entries(overrides).filter(([k]) => k !== 'containerOverrides')),
        },
        tags,
        launchType,
        ...(provider !== undefined ? { capacityProviderName: provider } : {}),
        ...(launchType === 'FARGATE'
          ? {
              platformVersion:
                str(input.platformVersion) === 'LATEST' || input.platformVersion === undefined
                  ? '1.4.0'
                  : String(input.platformVersion),
            }
          : {}),
        group: str(input.group) ?? `family:${td.family}`,
        ...(str(input.startedBy) !== undefined ? { startedBy: str(input.startedBy) } : {}),
        ...(cpu !== undefined ? { cpu } : {}),
        ...(memory !== undefined ? { memory } : {}),
        availabilityZone: az,
        ...(awsvpc && subnetId
          ? {
              eni: {
                attachmentId: randomUuid(this.o.rng),
                subnetId,
                eniId: `eni-${randomHex(this.o.rng, 17)}`,
                mac: Array.from({ length: 6 }, () => randomHex(this.o.rng, 2)).join(':'),
                ip: `10.0.${Math.floor(this.o.rng() * 250) + 1}.${Math.floor(this.o.rng() * 250) + 2}`,
                status: 'PRECREATED',
              },
            }
          : {}),
        enableExecuteCommand: input.enableExecuteCommand === true,
        createdAt: now,
        updatedAt: now,
        version: 1,
        ...(ec2Need && cluster.ec2Capacity ? { ec2Reservation: ec2Need } : {}),
        env: { ...defEnv, ...overrideEnv },
        orchestration,
        behavior: null,
        ...(startFailure
          ? {
              startFailure:
                startFailure.value ??
                'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 10.0.0.1:443: i/o timeout. Please check your task network configuration.',
            }
          : {}),
        abort: new AbortController(),
        timers: new Set(),
      };
      this.tasks.set(id, record);
      created.push(record);
    }
    if (token !== undefined)
      this.idempotency.set(token, { fingerprint, taskArns: created.map((t) => t.arn), failures: [] });
    const response: ModelObject = { tasks: created.map((t) => this.taskModel(t, true)), failures: [] };
    for (const t of created) this.o.lifecycle.start(t);
    return response;
  }

  describeTasks(input: ModelObject): ModelObject {
    const cluster = this.cluster(input.cluster);
    const refs = list(input.tasks).map(String);
    if (refs.length === 0) throw new AwsError('InvalidParameterException', 'Tasks cannot be empty.');
    if (refs.length > 100)
      throw new AwsError('InvalidParameterException', 'taskIds can have at most 100 items.');
    const withTags = list(input.include).includes('TAGS');
    const tasks: ModelObject[] = [];
    const failures: ModelObject[] = [];
    for (const ref of refs) {
      const t = this.findTask(ref, cluster);
      if (t) tasks.push(this.taskModel(t, withTags));
      else
        failures.push({
          arn: ref.startsWith('arn:') ? ref : this.arn(`task/${cluster.name}/${ref}`),
          reason: 'MISSING',
        });
    }
    return { tasks, failures };
  }

  listTasks(input: ModelObject): ModelObject {
    const cluster = this.cluster(input.cluster);
    const desired = str(input.desiredStatus) ?? 'RUNNING';
    const family = str(input.family);
    const startedBy = str(input.startedBy);
    const launchType = str(input.launchType);
    const arns = [...this.tasks.values()]
      .filter(
        (t) =>
          t.clusterArn === cluster.arn &&
          (desired === 'PENDING'
            ? t.lastStatus === 'PENDING' || t.lastStatus === 'PROVISIONING'
            : t.desiredStatus === desired) &&
          (family === undefined || t.family === family) &&
          (startedBy === undefined || t.startedBy === startedBy) &&
          (launchType === undefined || t.launchType === launchType),
      )
      .map((t) => t.arn);
    return this.page(arns, input, 'taskArns');
  }

  stopTask(input: ModelObject): ModelObject {
    const cluster = this.cluster(input.cluster);
    const t = this.findTask(String(input.task ?? ''), cluster);
    if (!t) throw new AwsError('InvalidParameterException', 'The referenced task was not found.');
    this.o.lifecycle.stop(t, str(input.reason) ?? 'Task stopped by user');
    return { task: this.taskModel(t, false) };
  }

  describeClusters(input: ModelObject): ModelObject {
    const refs = list(input.clusters).map(String);
    if (refs.length > 100)
      throw new AwsError('InvalidParameterException', 'clusters can have at most 100 items.');
    const include = list(input.include).map(String);
    const clusters: ModelObject[] = [];
    const failures: ModelObject[] = [];
    for (const ref of refs.length > 0 ? refs : ['default']) {
      const c = this.findCluster(ref);
      if (!c) {
        failures.push({ arn: ref.startsWith('arn:') ? ref : this.arn(`cluster/${ref}`), reason: 'MISSING' });
        continue;
      }
      const tasks = [...this.tasks.values()].filter(
        (t) => t.clusterArn === c.arn && t.lastStatus !== 'STOPPED',
      );
      const out: ModelObject = {
        clusterArn: c.arn,
        clusterName: c.name,
        status: 'ACTIVE',
        registeredContainerInstancesCount: c.registeredContainerInstancesCount,
        runningTasksCount: tasks.filter((t) => t.lastStatus === 'RUNNING').length,
        pendingTasksCount: tasks.filter((t) => t.lastStatus !== 'RUNNING').length,
        activeServicesCount: 0,
        statistics: [],
        tags: include.includes('TAGS') ? c.tags.map((t) => ({ key: t.key, value: t.value })) : [],
        settings: include.includes('SETTINGS') ? [{ name: 'containerInsights', value: 'disabled' }] : [],
        capacityProviders: [...c.capacityProviders],
        defaultCapacityProviderStrategy: c.defaultCapacityProviderStrategy.map((s) => ({
          capacityProvider: s.capacityProvider,
          weight: s.weight ?? 0,
          base: s.base ?? 0,
        })),
      };
      clusters.push(out);
    }
    return { clusters, failures };
  }

  handlers(): Record<string, (input: ModelObject) => ModelObject> {
    return {
      RegisterTaskDefinition: (i) => this.registerTaskDefinition(i),
      DescribeTaskDefinition: (i) => this.describeTaskDefinition(i),
      ListTaskDefinitions: (i) => this.listTaskDefinitions(i),
      DeregisterTaskDefinition: (i) => this.deregisterTaskDefinition(i),
      TagResource: (i) => this.tagResource(i),
      UntagResource: (i) => this.untagResource(i),
      ListTagsForResource: (i) => this.listTagsForResource(i),
      RunTask: (i) => this.runTask(i),
      DescribeTasks: (i) => this.describeTasks(i),
      ListTasks: (i) => this.listTasks(i),
      StopTask: (i) => this.stopTask(i),
      DescribeClusters: (i) => this.describeClusters(i),
    };
  }
}
