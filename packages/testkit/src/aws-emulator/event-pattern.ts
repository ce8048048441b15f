import { isObject } from './util.js';

/**
 * EventBridge event patterns: parsing (with the checks `PutRule` applies) and matching, for the subset of
 * the content-filtering language tests need: exact values (strings, numbers, booleans, null), arrays of
 * values, nested fields (`detail.clusterArn`), `prefix`, `suffix`, `anything-but`, `numeric`, `exists`,
 * `equals-ignore-case`, `wildcard`, `cidr` (IPv4) and `$or`.
 *
 * Matching follows EventBridge's flattened semantics: arrays in the event are expanded, so a leaf matches
 * when any value found at its path matches any of the pattern's values.
 */

export type PatternLeaf =
  | { kind: 'exact'; value: string | number | boolean | null }
  | { kind: 'prefix'; value: string; ignoreCase: boolean }
  | { kind: 'suffix'; value: string; ignoreCase: boolean }
  | { kind: 'equals-ignore-case'; value: string }
  | { kind: 'anything-but'; values: PatternLeaf[] }
  | { kind: 'numeric'; conditions: { op: string; value: number }[] }
  | { kind: 'exists'; value: boolean }
  | { kind: 'wildcard'; regex: RegExp }
  | { kind: 'cidr'; network: number; mask: number };

export interface PatternObject {
  fields: Record<string, PatternObject | PatternLeaf[]>;
  or: PatternObject[];
}

export class EventPatternError extends Error {}

const NUMERIC_OPS = new Set(['<', '<=', '=', '>', '>=']);

function fail(reason: string): never {
  throw new EventPatternError(reason);
}

function wildcardRegex(source: string): RegExp {
  if (source.includes('**')) fail('Consecutive wildcard characters are not allowed');
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i] ?? '';
    if (c === '\\' && (source[i + 1] === '*' || source[i + 1] === '\\')) {
      out += `\\${source[i + 1]}`;
      i += 1;
    } else if (c === '*') out += '.*';
    else out += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

function ipv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

function parseCidr(value: unknown): PatternLeaf {
  if (typeof value !== 'string') fail('cidr match pattern must be a string');
  const [ip, bits] = value.split('/');
  const network = ipv4(ip ?? '');
  const maskBits = Number(bits);
  if (network === null || !/^\d{1,2}$/.test(bits ?? '') || maskBits > 32) {
    fail(`Malformed CIDR, one '/' required`);
  }
  const mask = maskBits === 0 ? 0 : (0xffffffff << (32 - maskBits)) >>> 0;
  return { kind: 'cidr', network: (network & mask) >>> 0, mask };
}

function parseAnythingBut(value: unknown): PatternLeaf {
  if (Array.isArray(value)) {
    if (value.length === 0) fail('Empty arrays are not allowed');
    return {
      kind: 'anything-but',
      values: value.map((v) => {
        if (typeof v !== 'string' && typeof v !== 'number') {
          fail('Inside anything but list, start|null|boolean is not supported.');
        }
        return { kind: 'exact', value: v } as const;
      }),
    };
  }
  if (typeof value === 'string' || typeof value === 'number') {
    return { kind: 'anything-but', values: [{ kind: 'exact', value }] };
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length !== 1)
      fail('Inside anything-but, only one of prefix, suffix, equals-ignore-case, wildcard');
    const key = keys[0] ?? '';
    const inner = value[key];
    const strings = (v: unknown): string[] => {
      const list = Array.isArray(v) ? v : [v];
      if (list.length === 0 || list.some((s) => typeof s !== 'string')) {
        fail(`Inside anything-but/${key}, the value must be a string or a list of strings`);
      }
      return list as string[];
    };
    if (key === 'prefix' || key === 'suffix') {
      return {
        kind: 'anything-but',
        values: strings(inner).map((s) => ({ kind: key, value: s, ignoreCase: false })),
      };
    }
    if (key === 'equals-ignore-case') {
      return {
        kind: 'anything-but',
        values: strings(inner).map((s) => ({ kind: 'equals-ignore-case', value: s })),
      };
    }
    if (key === 'wildcard') {
      return {
        kind: 'anything-but',
        values: strings(inner).map((s) => ({ kind: 'wildcard', regex: wildcardRegex(s) })),
      };
    }
    fail(`Unsupported anything-but pattern: ${key}`);
  }
  fail('Value of anything-but must be an array or single string/number value.');
}

function parseNumeric(value: unknown): PatternLeaf {
  if (!Array.isArray(value) || value.length === 0 || value.length % 2 !== 0 || value.length > 4) {
    fail('Value of numeric must be an array.');
  }
  const conditions: { op: string; value: number }[] = [];
  for (let i = 0; i < value.length; i += 2) {
    const op = value[i];
    const n = value[i + 1];
    if (typeof op !== 'string' || !NUMERIC_OPS.has(op)) fail(`Unrecognized numeric range operator: ${op}`);
    if (typeof n !== 'number') fail(`Value of ${op} must be numeric`);
    conditions.push({ op, value: n });
  }
  return { kind: 'numeric', conditions };
}

function parseMatcher(value: unknown): PatternLeaf {
  if (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean'
  ) {
    return { kind: 'exact', value };
  }
  if (Array.isArray(value)) fail('Match value must be String, number, true, false, or null');
  if (!isObject(value)) fail('Match value must be String, number, true, false, or null');
  const keys = Object.keys(value);
  if (keys.length !== 1) fail('Only one key allowed in match expression');
  const key = keys[0] ?? '';
  const inner = value[key];
  switch (key) {
    case 'prefix':
    case 'suffix': {
      if (typeof inner === 'string') return { kind: key, value: inner, ignoreCase: false };
      if (
        isObject(inner) &&
        typeof inner['equals-ignore-case'] === 'string' &&
        Object.keys(inner).length === 1
      ) {
        return { kind: key, value: inner['equals-ignore-case'], ignoreCase: true };
      }
      return fail(`${key} match pattern must be a string`);
    }
    case 'equals-ignore-case':
      if (typeof inner !== 'string') fail('equals-ignore-case match pattern must be a string');
      return { kind: 'equals-ignore-case', value: inner };
    case 'anything-but':
      return parseAnythingBut(inner);
    case 'numeric':
      return parseNumeric(inner);
    case 'exists':
      if (typeof inner !== 'boolean') fail('exists match pattern must be either true or false.');
      return { kind: 'exists', value: inner };
    case 'wildcard':
      if (typeof inner !== 'string') fail('wildcard match pattern must be a string');
      return { kind: 'wildcard', regex: wildcardRegex(inner) };
    case 'cidr':
      return parseCidr(inner);
    default:
      return fail(`Unrecognized match type ${key}`);
  }
}

function parseObject(value: Record<string, unknown>): PatternObject {
  const out: PatternObject = { fields: {}, or: [] };
  const entries = Object.entries(value);
  if (entries.length === 0) fail('Empty objects are not allowed');
  for (const [key, v] of entries) {
    if (key === '$or') {
      if (!Array.isArray(v) || v.length < 2) fail('$or must be an array of at least two patterns');
      out.or = v.map((p) => {
        if (!isObject(p)) fail('Each $or alternative must be an object');
        return parseObject(p);
      });
      continue;
    }
    if (Array.isArray(v)) {
      if (v.length === 0) fail('Empty arrays are not allowed');
      out.fields[key] = v.map(parseMatcher);
    } else if (isObject(v)) {
      out.fields[key] = parseObject(v);
    } else {
      fail(`"${key}" must be an object or an array`);
    }
  }
  return out;
}

/** Parses an `EventPattern` string; throws EventPatternError with the reason when it is not valid. */
export function parseEventPattern(text: string): PatternObject {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail('Filter is not valid JSON');
  }
  if (!isObject(json)) fail('Filter is not an object');
  return parseObject(json);
}

// -------------------------------------------------------------------------------------------- matching

function flatten(values: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of values) {
    if (Array.isArray(v)) out.push(...flatten(v));
    else if (v !== undefined) out.push(v);
  }
  return out;
}

function matchesLeaf(leaf: PatternLeaf, value: unknown): boolean {
  switch (leaf.kind) {
    case 'exact':
      if (typeof leaf.value === 'number') return typeof value === 'number' && value === leaf.value;
      return value === leaf.value;
    case 'prefix':
    case 'suffix': {
      if (typeof value !== 'string') return false;
      const v = leaf.ignoreCase ? value.toLowerCase() : value;
      const p = leaf.ignoreCase ? leaf.value.toLowerCase() : leaf.value;
      return leaf.kind === 'prefix' ? v.startsWith(p) : v.endsWith(p);
    }
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === leaf.value.toLowerCase();
    case 'anything-but':
      if (value === null || isObject(value)) return false;
      return !leaf.values.some((inner) => matchesLeaf(inner, value));
    case 'numeric':
      if (typeof value !== 'number') return false;
      return leaf.conditions.every(({ op, value: n }) => {
        switch (op) {
          case '<':
            return value < n;
          case '<=':
            return value <= n;
          case '=':
            return value === n;
          case '>':
            return value > n;
          default:
            return value >= n;
        }
      });
    case 'exists':
      return leaf.value && !isObject(value);
    case 'wildcard':
      return typeof value === 'string' && leaf.regex.test(value);
    case 'cidr': {
      if (typeof value !== 'string') return false;
      const ip = ipv4(value);
      return ip !== null && (ip & leaf.mask) >>> 0 === leaf.network;
    }
  }
}

function matchesAt(pattern: PatternObject, nodes: unknown[]): boolean {
  for (const [key, sub] of Object.entries(pattern.fields)) {
    const children = flatten(nodes.filter(isObject).map((n) => n[key]));
    if (Array.isArray(sub)) {
      const leaves = children.filter((c) => !isObject(c));
      if (leaves.length === 0) {
        if (!sub.some((l) => l.kind === 'exists' && !l.value)) return false;
        continue;
      }
      if (!leaves.some((value) => sub.some((leaf) => matchesLeaf(leaf, value)))) return false;
    } else {
      if (!matchesAt(sub, children.filter(isObject))) return false;
    }
  }
  if (pattern.or.length > 0 && !pattern.or.some((alt) => matchesAt(alt, nodes))) return false;
  return true;
}

/** Whether `event` (a whole EventBridge event: `source`, `detail-type`, `detail`…) matches the pattern. */
export function matchesEventPattern(pattern: PatternObject, event: unknown): boolean {
  return matchesAt(pattern, [event]);
}
