import type { ServiceModel } from './model.js';
import type { ModelValue } from './types.js';
import { isObject } from './util.js';

// -------------------------------------------------------------------------------------------- JSON 1.1

/** Converts a model value to AWS JSON 1.1 form: timestamps as epoch seconds (numbers), blobs as base64. */
export function jsonReady(value: ModelValue): unknown {
  if (value instanceof Date) return Math.round(value.getTime()) / 1000;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(jsonReady);
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonReady(v as ModelValue);
    return out;
  }
  return value;
}

export function jsonBody(value: ModelValue | undefined): string {
  return JSON.stringify(value === undefined ? {} : jsonReady(value));
}

// ------------------------------------------------------------------------------------ EC2 query protocol

interface QueryNode {
  shape?: string;
  type?: string;
  members?: Record<string, QueryNode>;
  member?: QueryNode;
  locationName?: string;
  queryName?: string;
  flattened?: boolean;
}

function ucfirst(s: string): string {
  return s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1);
}

/** The query parameter name of a structure member under the EC2 protocol. */
function ec2QueryName(name: string, member: { locationName?: string; queryName?: string }): string {
  if (member.queryName !== undefined) return member.queryName;
  if (member.locationName !== undefined) return ucfirst(member.locationName);
  return ucfirst(name);
}

export interface QueryDecodeResult {
  value: Record<string, unknown>;
  /** Parameter names no member of the input shape accounts for. */
  unknown: string[];
}

/**
 * Rebuilds the input structure from flat EC2 query parameters (`Filter.1.Name=…&Filter.1.Value.1=…`).
 * Scalars stay strings; `walk(…, { source: 'query' })` converts them.
 */
export function decodeEc2Query(
  model: ServiceModel,
  input: QueryNode | undefined,
  params: Map<string, string>,
): QueryDecodeResult {
  const used = new Set<string>(['Action', 'Version']);
  const keys = [...params.keys()];
  const value = input ? decodeStructure(model, input, '', params, keys, used, 'ec2') : {};
  return { value, unknown: keys.filter((k) => !used.has(k)) };
}

/**
 * Rebuilds the input structure from awsQuery parameters (STS, IAM): member names as in the model, lists as
 * `Name.member.N` (`Name.N` when flattened).
 */
export function decodeAwsQuery(
  model: ServiceModel,
  input: QueryNode | undefined,
  params: Map<string, string>,
): QueryDecodeResult {
  const used = new Set<string>(['Action', 'Version']);
  const keys = [...params.keys()];
  const value = input ? decodeStructure(model, input, '', params, keys, used, 'query') : {};
  return { value, unknown: keys.filter((k) => !used.has(k)) };
}

type QueryStyle = 'ec2' | 'query';

/** An awsQuery empty list is sent as `Name=` (botocore): it decodes to []. */
function emptyList(key: string, params: Map<string, string>, used: Set<string>): [] | undefined {
  if (params.get(key) !== '') return undefined;
  used.add(key);
  return [];
}

function decodeStructure(
  model: ServiceModel,
  node: QueryNode,
  prefix: string,
  params: Map<string, string>,
  keys: string[],
  used: Set<string>,
  style: QueryStyle,
): Record<string, unknown> {
  const shape = model.resolve(node);
  const out: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(shape.members ?? {})) {
    const key = `${prefix}${style === 'ec2' ? ec2QueryName(name, member) : (member.locationName ?? name)}`;
    const v = decodeValue(model, member, key, params, keys, used, style);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function decodeValue(
  model: ServiceModel,
  node: QueryNode,
  key: string,
  params: Map<string, string>,
  keys: string[],
  used: Set<string>,
  style: QueryStyle,
): unknown {
  const shape = model.resolve(node);
  if (shape.type === 'structure') {
    if (!keys.some((k) => k.startsWith(`${key}.`))) return undefined;
    return decodeStructure(model, node, `${key}.`, params, keys, used, style);
  }
  if (shape.type === 'list' && style === 'query' && !shape.flattened) {
    // awsQuery: `Name.member.N`; an empty list is sent as `Name=` (botocore) and decodes to [].
    return (
      decodeValue(
        model,
        { type: 'list', member: shape.member ?? {}, flattened: true },
        `${key}.member`,
        params,
        keys,
        used,
        style,
      ) ?? emptyList(key, params, used)
    );
  }
  if (shape.type === 'list') {
    const indices = new Set<number>();
    for (const k of keys) {
      if (!k.startsWith(`${key}.`)) continue;
      const seg = k.slice(key.length + 1).split('.')[0] ?? '';
      if (/^[1-9]\d*$/.test(seg)) indices.add(Number(seg));
    }
    if (indices.size === 0) {
      if (params.has(key) && params.get(key) === '') {
        used.add(key);
        return [];
      }
      return undefined;
    }
    return [...indices]
      .sort((a, b) => a - b)
      .map((i) => decodeValue(model, shape.member ?? {}, `${key}.${i}`, params, keys, used, style));
  }
  if (shape.type === 'map') return undefined;
  if (!params.has(key)) return undefined;
  used.add(key);
  return params.get(key);
}

// ------------------------------------------------------------------------------------------ EC2 XML out

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === "'" ? '&apos;' : '&quot;',
  );
}

function scalarXml(value: ModelValue): string {
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return escapeXml(String(value));
}

function elementXml(model: ServiceModel, node: QueryNode, name: string, value: ModelValue): string {
  const shape = model.resolve(node);
  if (shape.type === 'list' && Array.isArray(value)) {
    const member = shape.member ?? {};
    const itemName = model.resolve(member).locationName ?? 'member';
    const items = value.map((v) => elementXml(model, member, itemName, v)).join('');
    return shape.flattened
      ? value.map((v) => elementXml(model, member, name, v)).join('')
      : `<${name}>${items}</${name}>`;
  }
  if (shape.type === 'structure' && isObject(value)) {
    return `<${name}>${structureXml(model, node, value as Record<string, ModelValue>)}</${name}>`;
  }
  return `<${name}>${scalarXml(value)}</${name}>`;
}

function structureXml(model: ServiceModel, node: QueryNode, value: Record<string, ModelValue>): string {
  const shape = model.resolve(node);
  let out = '';
  for (const [name, member] of Object.entries(shape.members ?? {})) {
    const v = value[name];
    if (v === undefined) continue;
    out += elementXml(model, member, member.locationName ?? name, v);
  }
  return out;
}

/** An EC2 query-protocol response document. */
export function ec2ResponseXml(
  model: ServiceModel,
  operation: string,
  output: QueryNode | undefined,
  value: Record<string, ModelValue>,
  requestId: string,
): string {
  const body = output ? structureXml(model, output, value) : '';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<${operation}Response xmlns="http://ec2.amazonaws.com/doc/${model.apiVersion}/">` +
    `<requestId>${requestId}</requestId>${body}</${operation}Response>`
  );
}

export function ec2ErrorXml(code: string, message: string, requestId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors>` +
    `<RequestID>${requestId}</RequestID></Response>`
  );
}

/** An awsQuery (STS, IAM) response document: `<OpResponse><OpResult>…</OpResult><ResponseMetadata>`. */
export function queryResponseXml(
  model: ServiceModel,
  operation: string,
  output: (QueryNode & { resultWrapper?: string }) | undefined,
  value: Record<string, ModelValue>,
  requestId: string,
): string {
  const xmlns = String(model.raw.metadata.xmlNamespace ?? '');
  const body = output ? structureXml(model, output, value) : '';
  const wrapper = output?.resultWrapper;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<${operation}Response xmlns="${xmlns}">` +
    (wrapper ? `<${wrapper}>${body}</${wrapper}>` : body) +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${operation}Response>`
  );
}

/** An awsQuery error document, as STS and IAM send it. */
export function queryErrorXml(
  model: ServiceModel,
  code: string,
  message: string,
  requestId: string,
  type: 'Sender' | 'Receiver' = 'Sender',
): string {
  const xmlns = String(model.raw.metadata.xmlNamespace ?? '');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<ErrorResponse xmlns="${xmlns}"><Error><Type>${type}</Type><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}
