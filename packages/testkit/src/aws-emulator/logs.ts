import type { LogEventJson, ModelObject } from './types.js';
import { AwsError } from './util.js';

interface StoredEvent extends LogEventJson {
  eventId: string;
}

interface LogGroup {
  name: string;
  createdAt: number;
  streams: Map<string, StoredEvent[]>;
}

const TOKEN_DIGITS = 56;

function token(direction: 'f' | 'b', index: number): string {
  return `${direction}/${String(index).padStart(TOKEN_DIGITS, '0')}`;
}

function parseToken(value: string): { direction: 'f' | 'b'; index: number } {
  const m = /^([fb])\/(\d+)$/.exec(value);
  if (!m) throw new AwsError('InvalidParameterException', 'The specified nextToken is invalid.');
  return { direction: m[1] === 'b' ? 'b' : 'f', index: Number(m[2]) };
}

/** A CloudWatch Logs filter pattern, in its simplest forms: terms (all must appear) and quoted phrases. */
function matchesPattern(message: string, pattern: string | undefined): boolean {
  if (pattern === undefined || pattern.trim() === '') return true;
  const terms: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(pattern); m !== null; m = re.exec(pattern)) terms.push(m[1] ?? m[2] ?? '');
  return terms.every((t) =>
    t.startsWith('-') && t.length > 1 ? !message.includes(t.slice(1)) : message.includes(t),
  );
}

export class LogsStore {
  readonly groups = new Map<string, LogGroup>();
  private eventCounter = 0;

  seedLogGroup(name: string): void {
    if (!this.groups.has(name)) this.groups.set(name, { name, createdAt: Date.now(), streams: new Map() });
  }

  createStream(group: string, stream: string): void {
    const g = this.groups.get(group);
    if (g && !g.streams.has(stream)) g.streams.set(stream, []);
  }

  put(group: string, stream: string, messages: string[], at = Date.now()): void {
    this.seedLogGroup(group);
    this.createStream(group, stream);
    const events = this.groups.get(group)?.streams.get(stream);
    if (!events) return;
    for (const message of messages) {
      this.eventCounter += 1;
      events.push({
        timestamp: at,
        message,
        ingestionTime: at,
        eventId: String(this.eventCounter).padStart(56, '0'),
      });
    }
  }

  events(group: string, stream: string): LogEventJson[] {
    return (this.groups.get(group)?.streams.get(stream) ?? []).map((e) => ({
      timestamp: e.timestamp,
      message: e.message,
      ingestionTime: e.ingestionTime,
    }));
  }

  private group(input: ModelObject): LogGroup {
    const id = input.logGroupIdentifier;
    const name = typeof input.logGroupName === 'string' ? input.logGroupName : undefined;
    if (name !== undefined && id !== undefined) {
      throw new AwsError(
        'InvalidParameterException',
        'LogGroup name and LogGroup ARN are mutually exclusive parameters.',
      );
    }
    let groupName = name;
    if (typeof id === 'string') {
      const m = /^arn:aws[^:]*:logs:[^:]*:\d{12}:log-group:(.+?)(:\*)?$/.exec(id);
      groupName = m ? m[1] : id;
    }
    if (groupName === undefined) {
      throw new AwsError(
        'InvalidParameterException',
        'Should provide either logGroupName or logGroupIdentifier.',
      );
    }
    const group = this.groups.get(groupName);
    if (!group) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.');
    return group;
  }

  getLogEvents(input: ModelObject): ModelObject {
    const group = this.group(input);
    const events = group.streams.get(String(input.logStreamName));
    if (!events) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
    const limit = typeof input.limit === 'number' ? input.limit : 10000;
    const startTime = typeof input.startTime === 'number' ? input.startTime : Number.NEGATIVE_INFINITY;
    const endTime = typeof input.endTime === 'number' ? input.endTime : Number.POSITIVE_INFINITY;
    const inRange = events.filter((e) => e.timestamp >= startTime && e.timestamp < endTime);
    let start: number;
    let end: number;
    if (typeof input.nextToken === 'string') {
      const t = parseToken(input.nextToken);
      if (t.direction === 'f') {
        start = Math.min(t.index, inRange.length);
        end = Math.min(inRange.length, start + limit);
      } else {
        end = Math.min(t.index, inRange.length);
        start = Math.max(0, end - limit);
      }
    } else if (input.startFromHead === true) {
      start = 0;
      end = Math.min(inRange.length, limit);
    } else {
      end = inRange.length;
      start = Math.max(0, end - limit);
    }
    return {
      events: inRange.slice(start, end).map((e) => ({
        timestamp: e.timestamp,
        message: e.message,
        ingestionTime: e.ingestionTime,
      })),
      nextForwardToken: token('f', end),
      nextBackwardToken: token('b', start),
    };
  }

  filterLogEvents(input: ModelObject): ModelObject {
    const group = this.group(input);
    if (input.logStreamNames !== undefined && input.logStreamNamePrefix !== undefined) {
      throw new AwsError(
        'InvalidParameterException',
        'Cannot specify both logStreamNames and logStreamNamePrefix.',
      );
    }
    let names = [...group.streams.keys()];
    if (Array.isArray(input.logStreamNames)) {
      const wanted = input.logStreamNames.map(String);
      names = names.filter((n) => wanted.includes(n));
    }
    if (typeof input.logStreamNamePrefix === 'string') {
      const prefix = input.logStreamNamePrefix;
      names = names.filter((n) => n.startsWith(prefix));
    }
    const startTime = typeof input.startTime === 'number' ? input.startTime : Number.NEGATIVE_INFINITY;
    const endTime = typeof input.endTime === 'number' ? input.endTime : Number.POSITIVE_INFINITY;
    const pattern = typeof input.filterPattern === 'string' ? input.filterPattern : undefined;
    const all = names
      .flatMap((n) => (group.streams.get(n) ?? []).map((e) => ({ ...e, logStreamName: n })))
      .filter((e) => e.timestamp >= startTime && e.timestamp <= endTime && matchesPattern(e.message, pattern))
      .sort((a, b) => a.timestamp - b.timestamp || a.eventId.localeCompare(b.eventId));
    const limit = typeof input.limit === 'number' ? input.limit : 10000;
    let start = 0;
    if (typeof input.nextToken === 'string') start = parseToken(input.nextToken).index;
    const page = all.slice(start, start + limit);
    const out: ModelObject = {
      events: page.map((e) => ({
        logStreamName: e.logStreamName,
        timestamp: e.timestamp,
        message: e.message,
        ingestionTime: e.ingestionTime,
        eventId: e.eventId,
      })),
      searchedLogStreams: names.map((n) => ({ logStreamName: n, searchedCompletely: true })),
    };
    if (start + page.length < all.length) out.nextToken = token('f', start + page.length);
    return out;
  }

  handlers(): Record<string, (input: ModelObject) => ModelObject> {
    return {
      GetLogEvents: (i) => this.getLogEvents(i),
      FilterLogEvents: (i) => this.filterLogEvents(i),
    };
  }
}
