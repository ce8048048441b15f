import {
  EventPatternError,
  matchesEventPattern,
  type PatternObject,
  parseEventPattern,
} from './event-pattern.js';
import type { SqsStore } from './sqs.js';
import type {
  EventBridgeDelivery,
  EventBridgeEvent,
  EventBridgeEventInput,
  EventBridgeRuleView,
  EventBridgeTargetView,
  ModelObject,
  ModelValue,
} from './types.js';
import { AwsError, isObject, randomUuid, toJsonObject } from './util.js';

/**
 * Amazon EventBridge (JSON 1.1, `AWSEvents.<Op>`): rules with event patterns on the default event bus,
 * targets, tags, PutEvents, TestEventPattern. Matching events are delivered to SQS targets as the raw
 * event JSON (or the target's Input / InputPath / InputTransformer result) in the message Body.
 */

const MAX_TARGETS_PER_RULE = 5;
const SCHEDULE = /^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/;

interface RuleRecord {
  name: string;
  arn: string;
  eventPattern?: string;
  pattern?: PatternObject;
  scheduleExpression?: string;
  state: string;
  description?: string;
  roleArn?: string;
  targets: Map<string, ModelObject>;
  tags: Map<string, string>;
}

function str(value: ModelValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function eventTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function validation(message: string): AwsError {
  return new AwsError('ValidationException', message);
}

/** Reads `$`, `$.a.b`, `$.a[0].b` from a JSON value. */
function jsonPath(value: unknown, path: string): unknown {
  if (path === '$') return value;
  if (!path.startsWith('$.') && !path.startsWith('$[')) return undefined;
  const parts = path.slice(1).match(/\.[^.[]+|\[\d+\]/g) ?? [];
  let current: unknown = value;
  for (const part of parts) {
    if (part.startsWith('[')) {
      const i = Number(part.slice(1, -1));
      current = Array.isArray(current) ? current[i] : undefined;
    } else {
      current = isObject(current) ? current[part.slice(1)] : undefined;
    }
    if (current === undefined) return undefined;
  }
  return current;
}

function globMatches(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(value);
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

/**
 * Whether an SQS queue policy lets EventBridge send a rule's events: an Allow statement for
 * `events.amazonaws.com` (or `*`) on `sqs:SendMessage` (or `sqs:*`, `*`) whose Resource covers the queue and
 * whose conditions (`aws:SourceArn` with ArnEquals/ArnLike/StringEquals/StringLike, `aws:SourceAccount`)
 * hold, and no matching Deny.
 */
export function queuePolicyAllows(
  policy: string | undefined,
  queueArn: string,
  ruleArn: string,
  account: string,
): boolean {
  if (!policy) return false;
  let doc: unknown;
  try {
    doc = JSON.parse(policy);
  } catch {
    return false;
  }
  if (!isObject(doc)) return false;
  const context: Record<string, string> = { 'aws:sourcearn': ruleArn, 'aws:sourceaccount': account };
  const applies = (st: Record<string, unknown>): boolean => {
    const principal = st.Principal;
    const principalOk =
      principal === '*' ||
      (isObject(principal) &&
        (asList(principal.Service).includes('events.amazonaws.com') || asList(principal.AWS).includes('*')));
    if (!principalOk) return false;
    const actions = asList(st.Action).filter((a): a is string => typeof a === 'string');
    if (!actions.some((a) => ['sqs:sendmessage', 'sqs:*', '*'].includes(a.toLowerCase()))) return false;
    const resources = asList(st.Resource).filter((r): r is string => typeof r === 'string');
    if (resources.length > 0 && !resources.some((r) => globMatches(r, queueArn))) return false;
    const condition = st.Condition;
    if (condition === undefined) return true;
    if (!isObject(condition)) return false;
    return Object.entries(condition).every(([op, block]) => {
      if (!isObject(block)) return false;
      return Object.entries(block).every(([key, expected]) => {
        const actual = context[key.toLowerCase()];
        if (actual === undefined) return false;
        const values = asList(expected).filter((v): v is string => typeof v === 'string');
        if (op === 'ArnEquals' || op === 'StringEquals') return values.includes(actual);
        if (op === 'ArnLike' || op === 'StringLike') return values.some((v) => globMatches(v, actual));
        return false;
      });
    });
  };
  const statements = asList(doc.Statement).filter(isObject);
  if (statements.some((st) => st.Effect === 'Deny' && applies(st))) return false;
  return statements.some((st) => st.Effect === 'Allow' && applies(st));
}

export interface EventsStoreOptions {
  region: string;
  accountId: string;
  rng: () => number;
  sqs: SqsStore;
  enforceQueuePolicy?: boolean;
  deliveryDelayMs?: number;
}

export class EventsStore {
  readonly rules = new Map<string, RuleRecord>();
  readonly log: EventBridgeEvent[] = [];
  readonly deliveryLog: EventBridgeDelivery[] = [];
  enforcePolicy: boolean;
  deliveryDelayMs: number;
  private readonly busTags = new Map<string, string>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly region: string;
  private readonly accountId: string;
  private readonly rng: () => number;
  private readonly sqs: SqsStore;

  constructor(options: EventsStoreOptions) {
    this.region = options.region;
    this.accountId = options.accountId;
    this.rng = options.rng;
    this.sqs = options.sqs;
    this.enforcePolicy = options.enforceQueuePolicy ?? false;
    this.deliveryDelayMs = options.deliveryDelayMs ?? 0;
  }

  get busArn(): string {
    return `arn:aws:events:${this.region}:${this.accountId}:event-bus/default`;
  }

  ruleArn(name: string): string {
    return `arn:aws:events:${this.region}:${this.accountId}:rule/${name}`;
  }

  /** Only the default bus exists: `default`, its ARN, or nothing. */
  private checkBus(input: ModelObject): void {
    const bus = str(input.EventBusName);
    if (bus === undefined || bus === 'default' || bus === this.busArn) return;
    const name = bus.startsWith('arn:') ? (bus.split('/').pop() ?? bus) : bus;
    throw new AwsError('ResourceNotFoundException', `Event bus ${name} does not exist.`);
  }

  private rule(input: ModelObject, member: 'Name' | 'Rule'): RuleRecord {
    this.checkBus(input);
    const name = str(input[member]) ?? '';
    const rule = this.rules.get(name);
    if (!rule)
      throw new AwsError('ResourceNotFoundException', `Rule ${name} does not exist on EventBus default.`);
    return rule;
  }

  // -------------------------------------------------------------------------------------- delivery

  /** Puts an event on the default bus; returns the names of the rules it matched. */
  put(event: EventBridgeEvent): string[] {
    this.log.push(event);
    const matched: string[] = [];
    for (const rule of this.rules.values()) {
      if (rule.state !== 'ENABLED' || !rule.pattern) continue;
      if (!matchesEventPattern(rule.pattern, event)) continue;
      matched.push(rule.name);
      for (const target of rule.targets.values()) {
        if (this.deliveryDelayMs > 0) {
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            this.deliver(rule, target, event);
          }, this.deliveryDelayMs);
          this.timers.add(timer);
        } else {
          this.deliver(rule, target, event);
        }
      }
    }
    return matched;
  }

  /** Fills in an event from `events.put()` the way PutEvents does. */
  complete(input: EventBridgeEventInput): EventBridgeEvent {
    return {
      version: input.version ?? '0',
      id: input.id ?? randomUuid(this.rng),
      'detail-type': input['detail-type'],
      source: input.source,
      account: input.account ?? this.accountId,
      time: input.time ?? eventTime(Date.now()),
      region: input.region ?? this.region,
      resources: input.resources ?? [],
      detail: input.detail ?? {},
    };
  }

  private body(rule: RuleRecord, target: ModelObject, event: EventBridgeEvent): string {
    const input = str(target.Input);
    if (input !== undefined) return input;
    const inputPath = str(target.InputPath);
    if (inputPath !== undefined) return JSON.stringify(jsonPath(event, inputPath) ?? null);
    const transformer = target.InputTransformer;
    if (isObject(transformer)) {
      const paths = isObject(transformer.InputPathsMap) ? transformer.InputPathsMap : {};
      const values: Record<string, string> = {
        'aws.events.rule-arn': rule.arn,
        'aws.events.rule-name': rule.name,
        'aws.events.event.ingestion-time': event.time,
        'aws.events.event.json': JSON.stringify(event),
      };
      for (const [k, p] of Object.entries(paths)) {
        const v = typeof p === 'string' ? jsonPath(event, p) : undefined;
        values[k] = typeof v === 'string' ? v : JSON.stringify(v ?? null);
      }
      const template = str(transformer.InputTemplate as ModelValue) ?? '';
      return template.replace(/<([A-Za-z0-9_.-]+)>/g, (whole, name: string) => values[name] ?? whole);
    }
    return JSON.stringify(event);
  }

  private deliver(rule: RuleRecord, target: ModelObject, event: EventBridgeEvent): void {
    const targetId = str(target.Id) ?? '';
    const targetArn = str(target.Arn) ?? '';
    const record: EventBridgeDelivery = {
      eventId: event.id,
      rule: rule.name,
      targetId,
      targetArn,
      ok: false,
      at: Date.now(),
    };
    this.deliveryLog.push(record);
    if (!targetArn.startsWith('arn:aws:sqs:')) {
      record.error = 'The AWS emulator delivers to SQS targets only.';
      return;
    }
    const queue = this.sqs.byArn(targetArn);
    if (!queue) {
      record.error = `Queue ${targetArn} does not exist.`;
      return;
    }
    if (
      this.enforcePolicy &&
      !queuePolicyAllows(queue.attributes.Policy, queue.arn, rule.arn, this.accountId)
    ) {
      record.error = 'The queue policy does not allow events.amazonaws.com to send messages for this rule.';
      return;
    }
    try {
      record.messageId = this.sqs.sendTo(queue.name, this.body(rule, target, event));
      record.ok = true;
    } catch (error) {
      record.error = error instanceof Error ? error.message : String(error);
    }
  }

  // -------------------------------------------------------------------------------------- views

  view(rule: RuleRecord): EventBridgeRuleView {
    return {
      name: rule.name,
      arn: rule.arn,
      eventBusName: 'default',
      ...(rule.eventPattern !== undefined ? { eventPattern: rule.eventPattern } : {}),
      ...(rule.scheduleExpression !== undefined ? { scheduleExpression: rule.scheduleExpression } : {}),
      state: rule.state,
      ...(rule.description !== undefined ? { description: rule.description } : {}),
      targets: [...rule.targets.values()].map((t) => toJsonObject(t) as EventBridgeTargetView),
      tags: Object.fromEntries(rule.tags),
    };
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  // ------------------------------------------------------------------------------------ handlers

  private putRule(input: ModelObject): ModelObject {
    this.checkBus(input);
    const name = str(input.Name) ?? '';
    const eventPattern = str(input.EventPattern);
    const schedule = str(input.ScheduleExpression);
    if (eventPattern === undefined && schedule === undefined) {
      throw validation('Parameter(s) EventPattern or ScheduleExpression must be specified.');
    }
    if (schedule !== undefined && !SCHEDULE.test(schedule)) {
      throw validation('Parameter ScheduleExpression is not valid.');
    }
    let pattern: PatternObject | undefined;
    if (eventPattern !== undefined) {
      try {
        pattern = parseEventPattern(eventPattern);
      } catch (error) {
        if (!(error instanceof EventPatternError)) throw error;
        throw new AwsError(
          'InvalidEventPatternException',
          `Event pattern is not valid. Reason: ${error.message}`,
        );
      }
    }
    const existing = this.rules.get(name);
    const rule: RuleRecord = {
      name,
      arn: this.ruleArn(name),
      ...(eventPattern !== undefined ? { eventPattern } : {}),
      ...(pattern !== undefined ? { pattern } : {}),
      ...(schedule !== undefined ? { scheduleExpression: schedule } : {}),
      state: str(input.State) ?? 'ENABLED',
      ...(str(input.Description) !== undefined ? { description: str(input.Description) } : {}),
      ...(str(input.RoleArn) !== undefined ? { roleArn: str(input.RoleArn) } : {}),
      targets: existing?.targets ?? new Map(),
      tags: existing?.tags ?? new Map(),
    };
    if (!existing) {
      for (const tag of Array.isArray(input.Tags) ? input.Tags : []) {
        if (isObject(tag) && typeof tag.Key === 'string') rule.tags.set(tag.Key, String(tag.Value ?? ''));
      }
    }
    this.rules.set(name, rule);
    return { RuleArn: rule.arn };
  }

  private describeRule(input: ModelObject): ModelObject {
    const rule = this.rule(input, 'Name');
    return {
      Name: rule.name,
      Arn: rule.arn,
      ...(rule.eventPattern !== undefined ? { EventPattern: rule.eventPattern } : {}),
      ...(rule.scheduleExpression !== undefined ? { ScheduleExpression: rule.scheduleExpression } : {}),
      State: rule.state,
      ...(rule.description !== undefined ? { Description: rule.description } : {}),
      ...(rule.roleArn !== undefined ? { RoleArn: rule.roleArn } : {}),
      EventBusName: 'default',
      CreatedBy: this.accountId,
    };
  }

  private listRules(input: ModelObject): ModelObject {
    this.checkBus(input);
    const prefix = str(input.NamePrefix) ?? '';
    const rules = [...this.rules.values()]
      .filter((r) => r.name.startsWith(prefix))
      .sort((a, b) => a.name.localeCompare(b.name));
    const limit = typeof input.Limit === 'number' ? input.Limit : 100;
    const token = str(input.NextToken);
    const start = token === undefined ? 0 : Number(Buffer.from(token, 'base64').toString('utf8'));
    if (Number.isNaN(start)) throw validation('The NextToken provided is invalid.');
    const page = rules.slice(start, start + limit);
    const next = start + page.length;
    return {
      Rules: page.map((r) => ({
        Name: r.name,
        Arn: r.arn,
        ...(r.eventPattern !== undefined ? { EventPattern: r.eventPattern } : {}),
        State: r.state,
        ...(r.description !== undefined ? { Description: r.description } : {}),
        ...(r.scheduleExpression !== undefined ? { ScheduleExpression: r.scheduleExpression } : {}),
        ...(r.roleArn !== undefined ? { RoleArn: r.roleArn } : {}),
        EventBusName: 'default',
      })),
      ...(next < rules.length ? { NextToken: Buffer.from(String(next)).toString('base64') } : {}),
    };
  }

  private deleteRule(input: ModelObject): ModelObject {
    this.checkBus(input);
    const rule = this.rules.get(str(input.Name) ?? '');
    if (!rule) return {};
    if (rule.targets.size > 0) throw validation("Rule can't be deleted since it has targets.");
    this.rules.delete(rule.name);
    return {};
  }

  private putTargets(input: ModelObject): ModelObject {
    const rule = this.rule(input, 'Rule');
    const targets = (Array.isArray(input.Targets) ? input.Targets : []).filter(isObject) as ModelObject[];
    for (const t of targets) {
      const given = ['Input', 'InputPath', 'InputTransformer'].filter((k) => t[k] !== undefined);
      if (given.length > 1) {
        throw validation(
          `Only one of Input, InputPath, or InputTransformer may be specified for target ${String(t.Id)}.`,
        );
      }
    }
    const ids = new Set([...rule.targets.keys(), ...targets.map((t) => String(t.Id))]);
    if (ids.size > MAX_TARGETS_PER_RULE) {
      throw new AwsError(
        'LimitExceededException',
        'The requested resource exceeds the maximum number allowed.',
      );
    }
    for (const t of targets) rule.targets.set(String(t.Id), structuredClone(t));
    return { FailedEntryCount: 0, FailedEntries: [] };
  }

  private listTargetsByRule(input: ModelObject): ModelObject {
    const rule = this.rule(input, 'Rule');
    const targets = [...rule.targets.values()];
    const limit = typeof input.Limit === 'number' ? input.Limit : 100;
    const token = str(input.NextToken);
    const start = token === undefined ? 0 : Number(Buffer.from(token, 'base64').toString('utf8'));
    if (Number.isNaN(start)) throw validation('The NextToken provided is invalid.');
    const page = targets.slice(start, start + limit);
    const next = start + page.length;
    return {
      Targets: page.map((t) => structuredClone(t)),
      ...(next < targets.length ? { NextToken: Buffer.from(String(next)).toString('base64') } : {}),
    };
  }

  private removeTargets(input: ModelObject): ModelObject {
    const rule = this.rule(input, 'Rule');
    for (const id of Array.isArray(input.Ids) ? input.Ids : [])
      if (typeof id === 'string') rule.targets.delete(id);
    return { FailedEntryCount: 0, FailedEntries: [] };
  }

  private tagsOf(arn: string): Map<string, string> {
    if (arn === this.busArn) return this.busTags;
    const prefix = `arn:aws:events:${this.region}:${this.accountId}:rule/`;
    if (arn.startsWith(prefix)) {
      const name = arn.slice(prefix.length);
      const rule = this.rules.get(name);
      if (!rule)
        throw new AwsError('ResourceNotFoundException', `Rule ${name} does not exist on EventBus default.`);
      return rule.tags;
    }
    throw new AwsError('ResourceNotFoundException', `Resource ${arn} does not exist.`);
  }

  private putEvents(input: ModelObject): ModelObject {
    const entries = (Array.isArray(input.Entries) ? input.Entries : []).filter(isObject) as ModelObject[];
    const results: ModelObject[] = [];
    let failed = 0;
    for (const e of entries) {
      const error = (code: string, message: string): void => {
        failed += 1;
        results.push({ ErrorCode: code, ErrorMessage: message });
      };
      const source = str(e.Source);
      const detailType = str(e.DetailType);
      const detailText = str(e.Detail);
      const bus = str(e.EventBusName);
      if (bus !== undefined && bus !== 'default' && bus !== this.busArn) {
        error('InvalidArgument', `Event bus ${bus} does not exist.`);
        continue;
      }
      if (source === undefined) {
        error('InvalidArgument', 'Parameter Source is not valid. Reason: Source is a required argument.');
        continue;
      }
      if (detailType === undefined) {
        error(
          'InvalidArgument',
          'Parameter DetailType is not valid. Reason: DetailType is a required argument.',
        );
        continue;
      }
      if (detailText === undefined) {
        error('InvalidArgument', 'Parameter Detail is not valid. Reason: Detail is a required argument.');
        continue;
      }
      if (source.startsWith('aws.')) {
        error('NotAuthorizedForSourceException', 'Not authorized for the source.');
        continue;
      }
      let detail: unknown;
      try {
        detail = JSON.parse(detailText);
      } catch {
        detail = undefined;
      }
      if (!isObject(detail)) {
        error('MalformedDetail', 'Detail is malformed.');
        continue;
      }
      const time = e.Time instanceof Date ? e.Time.getTime() : Date.now();
      const event = this.complete({
        source,
        'detail-type': detailType,
        detail: toJsonObject(detail),
        time: eventTime(time),
        resources: (Array.isArray(e.Resources) ? e.Resources : []).filter(
          (r): r is string => typeof r === 'string',
        ),
      });
      this.put(event);
      results.push({ EventId: event.id });
    }
    return { FailedEntryCount: failed, Entries: results };
  }

  private testEventPattern(input: ModelObject): ModelObject {
    let pattern: PatternObject;
    try {
      pattern = parseEventPattern(str(input.EventPattern) ?? '');
    } catch (error) {
      if (!(error instanceof EventPatternError)) throw error;
      throw new AwsError(
        'InvalidEventPatternException',
        `Event pattern is not valid. Reason: ${error.message}`,
      );
    }
    let event: unknown;
    try {
      event = JSON.parse(str(input.Event) ?? '');
    } catch {
      event = undefined;
    }
    const required = ['id', 'account', 'source', 'time', 'region', 'resources', 'detail-type'];
    if (!isObject(event) || required.some((k) => event[k] === undefined)) {
      throw validation('Parameter Event is not valid.');
    }
    return { Result: matchesEventPattern(pattern, event) };
  }

  handlers(): Record<string, (input: ModelObject) => ModelObject> {
    return {
      PutRule: (i) => this.putRule(i),
      DescribeRule: (i) => this.describeRule(i),
      ListRules: (i) => this.listRules(i),
      DeleteRule: (i) => this.deleteRule(i),
      EnableRule: (i) => {
        this.rule(i, 'Name').state = 'ENABLED';
        return {};
      },
      DisableRule: (i) => {
        this.rule(i, 'Name').state = 'DISABLED';
        return {};
      },
      PutTargets: (i) => this.putTargets(i),
      ListTargetsByRule: (i) => this.listTargetsByRule(i),
      RemoveTargets: (i) => this.removeTargets(i),
      ListRuleNamesByTarget: (i) => {
        this.checkBus(i);
        const arn = str(i.TargetArn) ?? '';
        const names = [...this.rules.values()]
          .filter((r) => [...r.targets.values()].some((t) => t.Arn === arn))
          .map((r) => r.name)
          .sort();
        return { RuleNames: names };
      },
      TagResource: (i) => {
        const tags = this.tagsOf(str(i.ResourceARN) ?? '');
        for (const tag of Array.isArray(i.Tags) ? i.Tags : []) {
          if (isObject(tag) && typeof tag.Key === 'string') tags.set(tag.Key, String(tag.Value ?? ''));
        }
        if (tags.size > 50) throw validation('The number of tags exceeds the limit of 50.');
        return {};
      },
      UntagResource: (i) => {
        const tags = this.tagsOf(str(i.ResourceARN) ?? '');
        for (const key of Array.isArray(i.TagKeys) ? i.TagKeys : [])
          if (typeof key === 'string') tags.delete(key);
        return {};
      },
      ListTagsForResource: (i) => {
        const tags = this.tagsOf(str(i.ResourceARN) ?? '');
        return { Tags: [...tags].map(([Key, Value]) => ({ Key, Value })) };
      },
      PutEvents: (i) => this.putEvents(i),
      TestEventPattern: (i) => this.testEventPattern(i),
    };
  }
}

/** An ECS (or any) event object as the bus stores it (a JSON copy). */
export function toBusEvent(event: object): EventBridgeEvent {
  return JSON.parse(JSON.stringify(event)) as EventBridgeEvent;
}
