import { readFileSync } from 'node:fs';
import type { ModelValue, SchemaIssueDetail } from './types.js';

/**
 * AWS service models (the `aws-sdk` v2 `*.min.json` files, see assets/aws-models/README.md) plus the
 * enum/length/range/pattern constraints and error lists extracted from botocore's full models.
 */

export type ShapeType =
  | 'structure'
  | 'list'
  | 'map'
  | 'string'
  | 'integer'
  | 'long'
  | 'boolean'
  | 'timestamp'
  | 'double'
  | 'float'
  | 'blob';

/** A node of the min model: a named shape, or an inline shape / member reference. */
interface RawShape {
  shape?: string;
  type?: string;
  members?: Record<string, RawShape>;
  member?: RawShape;
  key?: RawShape;
  value?: RawShape;
  required?: string[];
  locationName?: string;
  queryName?: string;
  flattened?: boolean;
  idempotencyToken?: boolean;
  timestampFormat?: string;
}

interface RawModel {
  metadata: Record<string, unknown>;
  operations: Record<string, { input?: RawShape; output?: RawShape }>;
  shapes: Record<string, RawShape>;
}

export interface Constraint {
  enum?: string[];
  min?: number;
  max?: number;
  pattern?: string;
}

interface RawConstraints {
  source?: string;
  operations: Record<
    string,
    { errors: string[]; input: Record<string, Constraint>; output: Record<string, Constraint> }
  >;
}

/** A shape with its `shape` reference merged (member-level `locationName` etc. win). */
export interface Shape {
  type: ShapeType;
  members?: Record<string, RawShape>;
  member?: RawShape;
  key?: RawShape;
  value?: RawShape;
  required: string[];
  locationName?: string;
  queryName?: string;
  flattened?: boolean;
  idempotencyToken?: boolean;
}

export interface OperationModel {
  name: string;
  input: RawShape | undefined;
  output: RawShape | undefined;
  errors: string[];
  inputConstraints: Record<string, Constraint>;
  outputConstraints: Record<string, Constraint>;
}

const SHAPE_TYPES = new Set<string>([
  'structure',
  'list',
  'map',
  'string',
  'integer',
  'long',
  'boolean',
  'timestamp',
  'double',
  'float',
  'blob',
]);

export class ServiceModel {
  private readonly resolved = new WeakMap<RawShape, Shape>();
  private readonly patterns = new Map<string, RegExp | null>();

  constructor(
    readonly raw: RawModel,
    readonly constraints: RawConstraints | null,
  ) {}

  get targetPrefix(): string {
    return String(this.raw.metadata.targetPrefix ?? '');
  }

  get apiVersion(): string {
    return String(this.raw.metadata.apiVersion ?? '');
  }

  /** `1.0` (SQS) or `1.1` (ECS, Logs, EventBridge): the `application/x-amz-json-<v>` of JSON services. */
  get jsonVersion(): string {
    return String(this.raw.metadata.jsonVersion ?? '1.1');
  }

  hasOperation(name: string): boolean {
    return Object.hasOwn(this.raw.operations, name);
  }

  operation(name: string): OperationModel | undefined {
    const op = this.raw.operations[name];
    if (!op) return undefined;
    const c = this.constraints?.operations[name];
    return {
      name,
      input: op.input,
      output: op.output,
      errors: c?.errors ?? [],
      inputConstraints: c?.input ?? {},
      outputConstraints: c?.output ?? {},
    };
  }

  resolve(node: RawShape): Shape {
    const cached = this.resolved.get(node);
    if (cached) return cached;
    let base: RawShape = {};
    if (node.shape !== undefined) {
      const target = this.raw.shapes[node.shape];
      if (!target) throw new Error(`model has no shape ${node.shape}`);
      base = this.resolve(target);
    }
    const merged = { ...base, ...node };
    const type = merged.type ?? 'string';
    if (!SHAPE_TYPES.has(type)) throw new Error(`unsupported shape type ${type}`);
    const shape: Shape = {
      type: type as ShapeType,
      required: merged.required ?? [],
      ...(merged.members ? { members: merged.members } : {}),
      ...(merged.member ? { member: merged.member } : {}),
      ...(merged.key ? { key: merged.key } : {}),
      ...(merged.value ? { value: merged.value } : {}),
      ...(merged.locationName !== undefined ? { locationName: merged.locationName } : {}),
      ...(merged.queryName !== undefined ? { queryName: merged.queryName } : {}),
      ...(merged.flattened !== undefined ? { flattened: merged.flattened } : {}),
      ...(merged.idempotencyToken !== undefined ? { idempotencyToken: merged.idempotencyToken } : {}),
    };
    this.resolved.set(node, shape);
    return shape;
  }

  /** The compiled full-match regular expression of a model pattern, or null when JS cannot compile it. */
  pattern(source: string): RegExp | null {
    if (!this.patterns.has(source)) {
      let re: RegExp | null = null;
      try {
        re = new RegExp(`^(?:${source})$`, 'u');
      } catch {
        re = null;
      }
      this.patterns.set(source, re);
    }
    return this.patterns.get(source) ?? null;
  }
}

const cache = new Map<string, ServiceModel>();

function assetUrl(name: string): URL {
  return new URL(`../../assets/aws-models/${name}`, import.meta.url);
}

export function loadServiceModel(file: string, constraintsFile: string): ServiceModel {
  const hit = cache.get(file);
  if (hit) return hit;
  const raw = JSON.parse(readFileSync(assetUrl(file), 'utf8')) as RawModel;
  let constraints: RawConstraints | null = null;
  try {
    constraints = JSON.parse(readFileSync(assetUrl(constraintsFile), 'utf8')) as RawConstraints;
  } catch {
    constraints = null;
  }
  const model = new ServiceModel(raw, constraints);
  cache.set(file, model);
  return model;
}

// ---------------------------------------------------------------------------------------------- walker

export type IssueKind = 'unknown-member' | 'required' | 'type' | 'constraint';

export interface WalkIssue extends SchemaIssueDetail {
  kind: IssueKind;
  /** The offending value, as AWS quotes it in validation messages. */
  value?: string;
}

export interface WalkOptions {
  /**
   * How scalar values arrive: `json` (wire JSON: timestamps are epoch-second numbers, blobs base64),
   * `query` (every scalar is a string, as EC2 query parameters are) or `model` (handler output:
   * timestamps are `Date`s).
   */
  source: 'json' | 'query' | 'model';
  constraints: Record<string, Constraint>;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'timestamp';
  return typeof value;
}

export function displayValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value) ?? String(value);
}

function codePoints(value: string): number {
  let n = 0;
  for (const _ of value) n += 1;
  return n;
}

/**
 * Walks `value` against `node`, converting scalars to their model form (numbers, booleans, `Date`s) and
 * collecting issues. Members whose value is `null` count as absent, as AWS JSON services read them.
 */
export function walk(
  model: ServiceModel,
  node: RawShape,
  value: unknown,
  options: WalkOptions,
  issues: WalkIssue[],
): ModelValue | undefined {
  return walkAt(model, node, value, options, issues, '', '');
}

function walkAt(
  model: ServiceModel,
  node: RawShape,
  value: unknown,
  options: WalkOptions,
  issues: WalkIssue[],
  path: string,
  cpath: string,
): ModelValue | undefined {
  const shape = model.resolve(node);
  const where = path === '' ? '<root>' : path;
  const typeIssue = (expected: string): undefined => {
    issues.push({
      kind: 'type',
      path: where,
      message: `expected ${expected}, got ${describe(value)}`,
      keyword: 'type',
    });
    return undefined;
  };
  const constraint = cpath === '' ? undefined : options.constraints[cpath];
  const fail = (message: string): void => {
    issues.push({
      kind: 'constraint',
      path: where,
      message,
      keyword: 'constraint',
      value: displayValue(value),
    });
  };

  switch (shape.type) {
    case 'structure': {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
        return typeIssue('structure');
      }
      const members = shape.members ?? {};
      const out: Record<string, ModelValue> = {};
      for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
        const member = members[name];
        if (!member) {
          issues.push({
            kind: 'unknown-member',
            path: path === '' ? name : `${path}.${name}`,
            message: `unknown member '${name}'`,
            keyword: 'additionalProperties',
          });
          continue;
        }
        if (v === null || v === undefined) continue;
        const converted = walkAt(
          model,
          member,
          v,
          options,
          issues,
          path === '' ? name : `${path}.${name}`,
          cpath === '' ? name : `${cpath}.${name}`,
        );
        if (converted !== undefined) out[name] = converted;
      }
      for (const name of shape.required) {
        const v = (value as Record<string, unknown>)[name];
        if (v === null || v === undefined) {
          issues.push({
            kind: 'required',
            path: path === '' ? name : `${path}.${name}`,
            message: `missing required member '${name}'`,
            keyword: 'required',
          });
        }
      }
      return out;
    }
    case 'list': {
      if (!Array.isArray(value)) return typeIssue('list');
      if (constraint?.min !== undefined && value.length < constraint.min) {
        fail(`Member must have length greater than or equal to ${constraint.min}`);
      }
      if (constraint?.max !== undefined && value.length > constraint.max) {
        fail(`Member must have length less than or equal to ${constraint.max}`);
      }
      const member = shape.member ?? {};
      const out: ModelValue[] = [];
      value.forEach((item, i) => {
        if (item === null || item === undefined) {
          typeIssue('a list element');
          return;
        }
        const converted = walkAt(model, member, item, options, issues, `${path}[${i}]`, `${cpath}[]`);
        if (converted !== undefined) out.push(converted);
      });
      return out;
    }
    case 'map': {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
        return typeIssue('map');
      }
      const entries = Object.entries(value as Record<string, unknown>);
      if (constraint?.min !== undefined && entries.length < constraint.min) {
        fail(`Member must have length greater than or equal to ${constraint.min}`);
      }
      if (constraint?.max !== undefined && entries.length > constraint.max) {
        fail(`Member must have length less than or equal to ${constraint.max}`);
      }
      const out: Record<string, ModelValue> = {};
      for (const [k, v] of entries) {
        walkAt(model, shape.key ?? {}, k, options, issues, `${path}{${k}}`, `${cpath}{key}`);
        if (v === null || v === undefined) continue;
        const converted = walkAt(model, shape.value ?? {}, v, options, issues, `${path}.${k}`, `${cpath}{}`);
        if (converted !== undefined) out[k] = converted;
      }
      return out;
    }
    case 'string': {
      if (typeof value !== 'string') return typeIssue('string');
      if (constraint?.enum && !constraint.enum.includes(value)) {
        fail(`Member must satisfy enum value set: [${constraint.enum.join(', ')}]`);
      }
      const len = constraint?.min !== undefined || constraint?.max !== undefined ? codePoints(value) : 0;
      if (constraint?.min !== undefined && len < constraint.min) {
        fail(`Member must have length greater than or equal to ${constraint.min}`);
      }
      if (constraint?.max !== undefined && len > constraint.max) {
        fail(`Member must have length less than or equal to ${constraint.max}`);
      }
      if (constraint?.pattern !== undefined) {
        const re = model.pattern(constraint.pattern);
        if (re && !re.test(value))
          fail(`Member must satisfy regular expression pattern: ${constraint.pattern}`);
      }
      return value;
    }
    case 'integer':
    case 'long':
    case 'double':
    case 'float': {
      let n: number;
      if (options.source === 'query') {
        if (typeof value !== 'string' || value.trim() === '' || Number.isNaN(Number(value))) {
          return typeIssue(`${shape.type} (as a string)`);
        }
        n = Number(value);
      } else {
        if (typeof value !== 'number' || !Number.isFinite(value)) return typeIssue(shape.type);
        n = value;
      }
      if ((shape.type === 'integer' || shape.type === 'long') && !Number.isInteger(n)) {
        return typeIssue(shape.type);
      }
      if (shape.type === 'integer' && (n > 2147483647 || n < -2147483648))
        return typeIssue('a 32-bit integer');
      if (constraint?.min !== undefined && n < constraint.min) {
        fail(`Member must have value greater than or equal to ${constraint.min}`);
      }
      if (constraint?.max !== undefined && n > constraint.max) {
        fail(`Member must have value less than or equal to ${constraint.max}`);
      }
      return n;
    }
    case 'boolean': {
      if (options.source === 'query') {
        if (value !== 'true' && value !== 'false') return typeIssue('boolean (true/false)');
        return value === 'true';
      }
      if (typeof value !== 'boolean') return typeIssue('boolean');
      return value;
    }
    case 'timestamp': {
      if (options.source === 'model') {
        if (!(value instanceof Date) || Number.isNaN(value.getTime())) return typeIssue('timestamp (Date)');
        return value;
      }
      if (options.source === 'json') {
        if (typeof value !== 'number' || !Number.isFinite(value))
          return typeIssue('timestamp (epoch seconds)');
        return new Date(Math.round(value * 1000));
      }
      if (typeof value !== 'string') return typeIssue('timestamp');
      const t = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : Date.parse(value);
      if (Number.isNaN(t)) return typeIssue('timestamp (ISO 8601)');
      return new Date(t);
    }
    case 'blob': {
      if (options.source === 'model') {
        if (!(value instanceof Uint8Array)) return typeIssue('blob (Uint8Array)');
        return value;
      }
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return typeIssue('base64 blob');
      return new Uint8Array(Buffer.from(value, 'base64'));
    }
  }
}

/** The first issue, phrased the way AWS's request validation phrases it. */
export function validationMessage(issues: WalkIssue[]): string {
  const first = issues[0];
  if (!first) return 'Invalid request';
  if (first.kind === 'constraint') {
    const n = issues.filter((i) => i.kind === 'constraint').length;
    const parts = issues
      .filter((i) => i.kind === 'constraint')
      .map((i) => `Value '${i.value ?? ''}' at '${i.path}' failed to satisfy constraint: ${i.message}`);
    return `${n} validation error${n === 1 ? '' : 's'} detected: ${parts.join('; ')}`;
  }
  if (first.kind === 'required') {
    return `1 validation error detected: Value null at '${first.path}' failed to satisfy constraint: Member must not be null`;
  }
  if (first.kind === 'unknown-member') return `Unrecognized field '${first.path}' in the request`;
  return `Invalid value at '${first.path}': ${first.message}`;
}
