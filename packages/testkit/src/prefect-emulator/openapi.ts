import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { JsonObject, JsonValue, PrefectMode, ValidationIssue } from './types.js';
import { isJsonObject, isUuidLike, parseDateTime } from './util.js';

/**
 * Loading and applying the Prefect OpenAPI documents.
 *
 * - Mode 3 uses the Prefect 3 document (OpenAPI 3.1, JSON Schema 2020-12) with Ajv 2020.
 * - Mode 2 uses the Prefect 2.12 document (OpenAPI 3.0) with draft-07 Ajv, after translating OpenAPI 3.0
 *   specifics: `nullable: true`, `example`, and pydantic v1's habit of not marking `Optional[X] = None`
 *   fields as nullable (every non-required property without a default accepts `null`).
 * - Requests are validated as the server would (extra keys allowed unless the schema forbids them, and
 *   lenient pydantic-style `date-time`/`uuid` formats). Responses are validated strictly: every object
 *   schema with `properties` is closed (`additionalProperties: false`), and formats are the canonical ones,
 *   so an emulator object that carries a field the mode does not have, or lacks a required one, is caught.
 */

type SchemaNode = { [key: string]: unknown };

export interface ParamSpec {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: SchemaNode;
}

export interface OperationSpec {
  method: string;
  template: string;
  segments: string[];
  parameters: ParamSpec[];
  /** Synthetic schema key of the JSON request body, `null` when the operation takes none. */
  requestKey: string | null;
  requestRequired: boolean;
  /** FastAPI "embedded" body (several `Body()` params): top-level `null`s mean "not given". */
  requestEmbedded: boolean;
  /** Status → synthetic schema key, or `null` when the status has no JSON content. */
  responses: Map<string, string | null>;
}

export type RouteMatch =
  | { kind: 'ok'; op: OperationSpec; params: Record<string, string> }
  | { kind: 'method-not-allowed'; template: string }
  | { kind: 'redirect'; location: string }
  | { kind: 'not-found' };

export interface PydanticError {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: JsonValue;
  ctx?: JsonObject;
}

const FILES: Record<PrefectMode, string> = {
  '3': 'prefect-openapi.json',
  '2': 'prefect-2.12-openapi.json',
};

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);
/** Keys whose values are data, not subschemas. */
const DATA_KEYS = new Set(['enum', 'const', 'default', 'example', 'examples', 'required']);

// Canonical formats, used for responses.
const STRICT_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STRICT_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function locateDocument(mode: PrefectMode, referenceDir?: string): string {
  const file = FILES[mode];
  const candidates: string[] = [];
  if (referenceDir) candidates.push(join(referenceDir, file));
  // src/prefect-emulator/*.ts and dist/prefect-emulator/*.js sit at the same depth below the repository.
  candidates.push(fileURLToPath(new URL(`../../../../reference/${file}`, import.meta.url)));
  // A package-local copy (packages/testkit/reference/), for a published build.
  candidates.push(fileURLToPath(new URL(`../../reference/${file}`, import.meta.url)));
  for (const candidate of candidates) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`Prefect emulator: cannot find ${file}; looked in ${candidates.join(', ')}`);
}

function asNode(value: unknown): SchemaNode | null {
  return isSchemaNode(value) ? value : null;
}

function isSchemaNode(value: unknown): value is SchemaNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Applies `fn` bottom-up to every subschema of `node`, skipping data-valued keywords. */
function mapSchema(node: unknown, fn: (n: SchemaNode) => SchemaNode): unknown {
  if (Array.isArray(node)) return node.map((item) => mapSchema(item, fn));
  if (!isSchemaNode(node)) return node;
  const out: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    if (DATA_KEYS.has(key)) {
      out[key] = value;
    } else if (key === 'properties' && isSchemaNode(value)) {
      const props: SchemaNode = {};
      for (const [name, sub] of Object.entries(value)) props[name] = mapSchema(sub, fn);
      out[key] = props;
    } else {
      out[key] = mapSchema(value, fn);
    }
  }
  return fn(out);
}

function allowNull(schema: unknown): SchemaNode {
  return { anyOf: [schema, { type: 'null' }] };
}

/** OpenAPI 3.0 (pydantic v1) → draft-07. */
function translateOpenApi30(node: SchemaNode): SchemaNode {
  let out: SchemaNode = { ...node };
  delete out.example;
  if (out.nullable === true) {
    delete out.nullable;
    out = allowNull(out);
  }
  const props = asNode(out.properties);
  if (props) {
    const required = new Set(Array.isArray(out.required) ? out.required : []);
    const next: SchemaNode = {};
    for (const [name, sub] of Object.entries(props)) {
      const subNode = asNode(sub);
      // pydantic v1 writes `Optional[X] = None` as plain X: a non-required field without a default may be null.
      next[name] = subNode && !required.has(name) && !('default' in subNode) ? allowNull(subNode) : sub;
    }
    out.properties = next;
  }
  return out;
}

function closeObjects(node: SchemaNode): SchemaNode {
  if (isSchemaNode(node.properties) && node.additionalProperties === undefined) {
    return { ...node, additionalProperties: false };
  }
  return node;
}

function ajvOptions(): Options {
  return { strict: false, allErrors: true, logger: false, validateFormats: true };
}

function addFormats(ajv: Ajv | Ajv2020, strict: boolean): void {
  if (strict) {
    ajv.addFormat('uuid', STRICT_UUID);
    ajv.addFormat('date-time', STRICT_DATE_TIME);
  } else {
    ajv.addFormat('uuid', isUuidLike);
    ajv.addFormat('date-time', (value: string) => parseDateTime(value) !== null);
  }
  ajv.addFormat('uri', /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/);
  for (const name of ['time-delta', 'path', 'password', 'duration', 'binary', 'byte']) {
    ajv.addFormat(name, true);
  }
}

interface RouteEntry {
  template: string;
  segments: string[];
  literalCount: number;
  ops: Map<string, OperationSpec>;
}

/** One mode's OpenAPI document: route table, validators and error formatting. */
export class OpenApiModel {
  readonly mode: PrefectMode;
  private readonly routes: RouteEntry[] = [];
  private readonly requestAjv: Ajv | Ajv2020;
  private readonly responseAjv: Ajv | Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly schemaId: string;

  constructor(mode: PrefectMode, referenceDir?: string) {
    this.mode = mode;
    const raw: unknown = JSON.parse(readFileSync(locateDocument(mode, referenceDir), 'utf8'));
    if (!isSchemaNode(raw) || !isSchemaNode(raw.paths) || !isSchemaNode(raw.components)) {
      throw new Error('Prefect emulator: the OpenAPI document has no paths/components');
    }
    const components = asNode(raw.components.schemas);
    if (!components) throw new Error('Prefect emulator: the OpenAPI document has no component schemas');
    const schemas: SchemaNode = { ...components };

    let opIndex = 0;
    for (const [template, pathItem] of Object.entries(raw.paths)) {
      if (!isSchemaNode(pathItem)) continue;
      const segments = template.split('/').slice(1);
      const entry: RouteEntry = {
        template,
        segments,
        literalCount: segments.filter((s) => !s.startsWith('{')).length,
        ops: new Map(),
      };
      for (const [method, opRaw] of Object.entries(pathItem)) {
        if (!HTTP_METHODS.has(method) || !isSchemaNode(opRaw)) continue;
        const n = opIndex++;
        const op: OperationSpec = {
          method: method.toUpperCase(),
          template,
          segments,
          parameters: [],
          requestKey: null,
          requestRequired: false,
          requestEmbedded: false,
          responses: new Map(),
        };
        if (Array.isArray(opRaw.parameters)) {
          for (const p of opRaw.parameters) {
            if (!isSchemaNode(p) || typeof p.name !== 'string') continue;
            const where = p.in;
            if (where !== 'path' && where !== 'query' && where !== 'header' && where !== 'cookie') continue;
            op.parameters.push({
              name: p.name,
              in: where,
              required: p.required === true,
              schema: asNode(p.schema) ?? {},
            });
          }
        }
        const body = asNode(opRaw.requestBody);
        const bodySchema = asNode(asNode(asNode(body?.content)?.['application/json'])?.schema);
        if (body && bodySchema) {
          const key = `__op${n}_request`;
          schemas[key] = bodySchema;
          op.requestKey = key;
          op.requestRequired = body.required === true;
          const ref = typeof bodySchema.$ref === 'string' ? bodySchema.$ref : '';
          op.requestEmbedded = ref.startsWith('#/components/schemas/Body_');
        }
        const responses = asNode(opRaw.responses) ?? {};
        for (const [status, resp] of Object.entries(responses)) {
          const schema = asNode(asNode(asNode(asNode(resp)?.content)?.['application/json'])?.schema);
          if (schema) {
            const key = `__op${n}_${status}`;
            schemas[key] = schema;
            op.responses.set(status, key);
          } else {
            op.responses.set(status, null);
          }
        }
        entry.ops.set(op.method, op);
      }
      this.routes.push(entry);
    }

    // Error bodies of statuses the document does not list (404, 409, 403, ...): FastAPI's HTTPException
    // `{"detail": ...}` or Prefect's handlers' `{"exception_message": ...}`.
    schemas.__error_body = {
      type: 'object',
      anyOf: [{ required: ['detail'] }, { required: ['exception_message'] }],
    };

    this.schemaId = `prefect-openapi-${mode}`;
    const translated = mode === '2' ? mapSchema(schemas, translateOpenApi30) : schemas;
    const closed = mapSchema(translated, closeObjects);

    this.requestAjv = mode === '3' ? new Ajv2020(ajvOptions()) : new Ajv(ajvOptions());
    this.responseAjv = mode === '3' ? new Ajv2020(ajvOptions()) : new Ajv(ajvOptions());
    addFormats(this.requestAjv, false);
    addFormats(this.responseAjv, true);
    this.requestAjv.addSchema({ $id: this.schemaId, components: { schemas: translated } });
    this.responseAjv.addSchema({ $id: this.schemaId, components: { schemas: closed } });
  }

  match(method: string, path: string): RouteMatch {
    const result = this.matchExact(method, path);
    if (result.kind !== 'not-found') return result;
    // Starlette's redirect_slashes: `/work_pools` → 307 to `/work_pools/` (and the reverse).
    const alternative = path.endsWith('/') ? path.slice(0, -1) : `${path}/`;
    if (alternative !== '' && this.matchExact(method, alternative).kind === 'ok') {
      return { kind: 'redirect', location: alternative };
    }
    return result;
  }

  private matchExact(method: string, path: string): RouteMatch {
    const segments = path.split('/').slice(1);
    const candidates: { entry: RouteEntry; params: Record<string, string> }[] = [];
    for (const entry of this.routes) {
      if (entry.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segments.length; i++) {
        const want = entry.segments[i] ?? '';
        const got = segments[i] ?? '';
        if (want.startsWith('{') && want.endsWith('}')) {
          if (got === '') {
            ok = false;
            break;
          }
          params[want.slice(1, -1)] = safeDecode(got);
        } else if (want !== safeDecode(got)) {
          ok = false;
          break;
        }
      }
      if (ok) candidates.push({ entry, params });
    }
    if (candidates.length === 0) return { kind: 'not-found' };
    const withMethod = candidates
      .filter((c) => c.entry.ops.has(method))
      .sort((a, b) => b.entry.literalCount - a.entry.literalCount);
    const best = withMethod[0];
    if (best) {
      const op = best.entry.ops.get(method);
      if (op) return { kind: 'ok', op, params: best.params };
    }
    return { kind: 'method-not-allowed', template: candidates[0]?.entry.template ?? path };
  }

  private validator(kind: 'request' | 'response', key: string): ValidateFunction {
    const cacheKey = `${kind}:${key}`;
    let fn = this.compiled.get(cacheKey);
    if (!fn) {
      const ajv = kind === 'request' ? this.requestAjv : this.responseAjv;
      fn = ajv.compile({ $ref: `${this.schemaId}#/components/schemas/${key}` });
      this.compiled.set(cacheKey, fn);
    }
    return fn;
  }

  /** Validates `data` against a component schema (e.g. `ValidationError`) with response strictness. */
  validateComponent(name: string, data: unknown): ErrorObject[] {
    const fn = this.validator('response', name);
    return fn(data) ? [] : [...(fn.errors ?? [])];
  }

  /** Validates `data` against a component schema (e.g. `Event`) with request strictness. */
  validateRequestComponent(name: string, data: unknown): ErrorObject[] {
    const fn = this.validator('request', name);
    return fn(data) ? [] : [...(fn.errors ?? [])];
  }

  validateRequestBody(op: OperationSpec, body: unknown): ErrorObject[] {
    if (!op.requestKey) return [];
    const fn = this.validator('request', op.requestKey);
    return fn(body) ? [] : [...(fn.errors ?? [])];
  }

  /** The schema key to validate a response with, or a reason it cannot be validated. */
  responseSchemaFor(op: OperationSpec, status: number): { key: string | null; documented: boolean } {
    const exact = op.responses.get(String(status));
    if (exact !== undefined) return { key: exact, documented: true };
    if (status >= 200 && status < 300) {
      // FastAPI documents only the default success status; set_state answers 201 or 200 with one schema.
      for (const [code, key] of op.responses) {
        if (code.startsWith('2')) return { key, documented: false };
      }
    }
    return { key: '__error_body', documented: false };
  }

  validateResponse(key: string, body: unknown): ErrorObject[] {
    const fn = this.validator('response', key);
    return fn(body) ? [] : [...(fn.errors ?? [])];
  }

  hasOperation(method: string, template: string): boolean {
    return this.routes.some((r) => r.template === template && r.ops.has(method));
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const MODELS = new Map<string, OpenApiModel>();

/** One parsed document and validator set per mode and reference directory, shared by all emulators. */
export function loadOpenApiModel(mode: PrefectMode, referenceDir?: string): OpenApiModel {
  const key = `${mode}:${referenceDir ?? ''}`;
  let model = MODELS.get(key);
  if (!model) {
    model = new OpenApiModel(mode, referenceDir);
    MODELS.set(key, model);
  }
  return model;
}

// ---------------------------------------------------------------- error formatting

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function locate(root: unknown, pointer: string): { loc: (string | number)[]; value: unknown } {
  const loc: (string | number)[] = [];
  let current: unknown = root;
  for (const seg of decodePointer(pointer)) {
    if (Array.isArray(current)) {
      const index = Number(seg);
      loc.push(index);
      current = current[index];
    } else {
      loc.push(seg);
      current = isJsonObject(current) ? current[seg] : undefined;
    }
  }
  return { loc, value: current };
}

/** Ajv reports every failed `anyOf` branch; keep the errors that explain the failure. */
function pruneErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const informative = errors.filter(
    (e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if',
  );
  const pruned = informative.filter((e) => {
    if (e.keyword === 'type' && e.params.type === 'null') {
      return !informative.some((o) => o !== e && o.instancePath === e.instancePath);
    }
    return true;
  });
  const base = pruned.length > 0 ? pruned : [...errors];
  const seen = new Set<string>();
  return base.filter((e) => {
    const k = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function toIssues(errors: readonly ErrorObject[]): ValidationIssue[] {
  return pruneErrors(errors).map((e) => {
    let path = e.instancePath;
    if (e.keyword === 'required') path += `/${String(e.params.missingProperty)}`;
    if (e.keyword === 'additionalProperties') path += `/${String(e.params.additionalProperty)}`;
    return { path: path || '/', message: e.message ?? e.keyword, keyword: e.keyword };
  });
}

function quoteList(values: readonly unknown[], mode: PrefectMode): string {
  const quoted = values.map((v) => `'${String(v)}'`);
  if (mode === '2') return quoted.join(', ');
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

function describe(e: ErrorObject, mode: PrefectMode): { type: string; msg: string } {
  const v2 = mode === '3';
  switch (e.keyword) {
    case 'required':
      return v2
        ? { type: 'missing', msg: 'Field required' }
        : { type: 'value_error.missing', msg: 'field required' };
    case 'additionalProperties':
      return v2
        ? { type: 'extra_forbidden', msg: 'Extra inputs are not permitted' }
        : { type: 'value_error.extra', msg: 'extra fields not permitted' };
    case 'enum': {
      const allowed = Array.isArray(e.params.allowedValues) ? e.params.allowedValues : [];
      return v2
        ? { type: 'enum', msg: `Input should be ${quoteList(allowed, mode)}` }
        : {
            type: 'type_error.enum',
            msg: `value is not a valid enumeration member; permitted: ${quoteList(allowed, mode)}`,
          };
    }
    case 'const':
      return v2
        ? { type: 'literal_error', msg: `Input should be '${String(e.params.allowedValue)}'` }
        : {
            type: 'value_error.const',
            msg: `unexpected value; permitted: '${String(e.params.allowedValue)}'`,
          };
    case 'type': {
      const t = String(e.params.type);
      const table: Record<string, [string, string, string, string]> = {
        string: ['string_type', 'Input should be a valid string', 'type_error.str', 'str type expected'],
        integer: [
          'int_type',
          'Input should be a valid integer',
          'type_error.integer',
          'value is not a valid integer',
        ],
        number: [
          'float_type',
          'Input should be a valid number',
          'type_error.float',
          'value is not a valid float',
        ],
        boolean: [
          'bool_type',
          'Input should be a valid boolean',
          'type_error.bool',
          'value could not be parsed to a boolean',
        ],
        object: [
          'dict_type',
          'Input should be a valid dictionary',
          'type_error.dict',
          'value is not a valid dict',
        ],
        array: ['list_type', 'Input should be a valid list', 'type_error.list', 'value is not a valid list'],
      };
      const row = table[t.split(',')[0] ?? ''] ?? [
        'type_error',
        `Input should be ${t}`,
        'type_error',
        `${t} expected`,
      ];
      return v2 ? { type: row[0], msg: row[1] } : { type: row[2], msg: row[3] };
    }
    case 'format': {
      const f = String(e.params.format);
      if (f === 'uuid') {
        return v2
          ? { type: 'uuid_parsing', msg: 'Input should be a valid UUID, invalid character' }
          : { type: 'type_error.uuid', msg: 'value is not a valid uuid' };
      }
      if (f === 'date-time') {
        return v2
          ? { type: 'datetime_from_date_parsing', msg: 'Input should be a valid datetime or date' }
          : { type: 'value_error.datetime', msg: 'invalid datetime format' };
      }
      return { type: v2 ? 'value_error' : 'value_error', msg: `invalid ${f}` };
    }
    case 'minimum':
      return v2
        ? {
            type: 'greater_than_equal',
            msg: `Input should be greater than or equal to ${String(e.params.limit)}`,
          }
        : {
            type: 'value_error.number.not_ge',
            msg: `ensure this value is greater than or equal to ${String(e.params.limit)}`,
          };
    case 'exclusiveMinimum':
      return v2
        ? { type: 'greater_than', msg: `Input should be greater than ${String(e.params.limit)}` }
        : {
            type: 'value_error.number.not_gt',
            msg: `ensure this value is greater than ${String(e.params.limit)}`,
          };
    case 'maximum':
      return v2
        ? { type: 'less_than_equal', msg: `Input should be less than or equal to ${String(e.params.limit)}` }
        : {
            type: 'value_error.number.not_le',
            msg: `ensure this value is less than or equal to ${String(e.params.limit)}`,
          };
    case 'pattern':
      return v2
        ? {
            type: 'string_pattern_mismatch',
            msg: `String should match pattern '${String(e.params.pattern)}'`,
          }
        : { type: 'value_error.str.regex', msg: `string does not match regex "${String(e.params.pattern)}"` };
    case 'maxLength':
      return v2
        ? { type: 'string_too_long', msg: `String should have at most ${String(e.params.limit)} characters` }
        : {
            type: 'value_error.any_str.max_length',
            msg: `ensure this value has at most ${String(e.params.limit)} characters`,
          };
    case 'minLength':
      return v2
        ? {
            type: 'string_too_short',
            msg: `String should have at least ${String(e.params.limit)} characters`,
          }
        : {
            type: 'value_error.any_str.min_length',
            msg: `ensure this value has at least ${String(e.params.limit)} characters`,
          };
    default:
      return { type: 'value_error', msg: e.message ?? e.keyword };
  }
}

function toJsonValue(value: unknown): JsonValue | undefined {
  if (value === undefined) return undefined;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : (JSON.parse(text) as JsonValue);
  } catch {
    return undefined;
  }
}

/** Ajv errors → FastAPI/pydantic `RequestValidationError.errors()` entries (v2 for mode 3, v1 for mode 2). */
export function toPydanticErrors(
  errors: readonly ErrorObject[],
  root: unknown,
  locPrefix: (string | number)[],
  mode: PrefectMode,
): PydanticError[] {
  return pruneErrors(errors).map((e) => {
    const { loc, value } = locate(root, e.instancePath);
    const full = [...locPrefix, ...loc];
    if (e.keyword === 'required') full.push(String(e.params.missingProperty));
    if (e.keyword === 'additionalProperties') full.push(String(e.params.additionalProperty));
    const { type, msg } = describe(e, mode);
    const out: PydanticError = { type, loc: full, msg };
    if (mode === '3') {
      if (e.keyword === 'required') {
        out.input = toJsonValue(value) ?? null;
      } else if (e.keyword === 'additionalProperties') {
        const parent = isJsonObject(value) ? value[String(e.params.additionalProperty)] : undefined;
        out.input = toJsonValue(parent) ?? null;
      } else {
        out.input = toJsonValue(value) ?? null;
      }
      if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) {
        out.ctx = { expected: quoteList(e.params.allowedValues, mode) };
      }
    }
    // pydantic v1 also sends `ctx` for some errors, but the 2.12 document's ValidationError has no such
    // field; it is left out so that mode-2 error bodies match the document.
    return out;
  });
}
