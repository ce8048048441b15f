/**
 * Building a flow run's job configuration from the work pool's base job template and the job variables
 * (spec §1.6, steps 1–8): variable merging, template defaults, `env` handling, dotted keys, placeholder
 * rendering, then block-document and Prefect-variable resolution.
 */

import { abortError, kernelErrorCodes, StevedoreError } from '../errors.js';
import type { BaseJobTemplate } from '../prefect/types.js';
import { applyValues, cloneJson, describeType } from './apply-values.js';
import {
  BLOCK_DOCUMENT_PLACEHOLDER_PREFIX,
  findPlaceholders,
  getFromPath,
  isPlainObject,
  NOT_SET,
  type Placeholder,
  placeholderKinds,
  placeholderScanner,
  setOwn,
  VARIABLE_PLACEHOLDER_PREFIX,
} from './placeholders.js';
import { pythonStr } from './python-str.js';

type JsonObject = Record<string, unknown>;

/**
 * Step 1: merges the deployment's job variables with the flow run's.
 *
 * @remarks
 * As Prefect does (spec §1.6 step 1): when the deployment's `env` is an object, the flow run's `env` is
 * merged into it (the flow run wins per variable) instead of replacing it; every other key, and `env` when
 * the deployment has no `env` object, is a shallow override by the flow run. `null`/`undefined` inputs
 * count as `{}`. Neither input is mutated (Prefect mutates the deployment's `env` in place).
 * @throws `KERNEL_TEMPLATE_RENDER` when the deployment has an `env` object and the flow run's `env` is
 * present but not an object (Prefect's `dict.update` raises `TypeError` there).
 * @public
 */
export function mergeJobVariables(
  deploymentVars: Readonly<JsonObject> | null | undefined,
  flowRunVars: Readonly<JsonObject> | null | undefined,
): JsonObject {
  const merged = cloneJson({ ...(deploymentVars ?? {}) });
  const overrides: JsonObject = { ...(flowRunVars ?? {}) };
  if (isPlainObject(merged.env)) {
    // `flow_run.job_variables.pop("env", {})`: popped, so it is not applied again by the shallow update.
    const flowRunEnv = Object.hasOwn(overrides, 'env') ? overrides.env : {};
    delete overrides.env;
    if (!isPlainObject(flowRunEnv)) {
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_RENDER,
        `The flow run's job variable 'env' must be an object of environment variables, got ${describeType(flowRunEnv)}. ` +
          'Set it to an object such as {"NAME": "value"} (use null as a value to unset a variable).',
        { details: { jobVariable: 'env' } },
      );
    }
    merged.env = { ...merged.env, ...cloneJson(flowRunEnv) };
  }
  for (const [key, value] of Object.entries(overrides)) setOwn(merged, key, cloneJson(value));
  return merged;
}

/** Options of {@link renderJobConfiguration}. @public */
export interface RenderJobConfigurationOptions {
  /** The worker process's environment, for `{{ $NAME }}` placeholders (never read from `process.env` here). */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Steps 2–7: renders a base job template's `job_configuration` with the merged job variables.
 *
 * @remarks
 * Exactly as Prefect's `BaseJobConfiguration.from_template_and_values` before resolution (spec §1.6):
 * 2. deep-copies `job_configuration`;
 * 3. takes defaults from `variables.properties[*].default`, leaving out `null` defaults on purpose so
 *    their placeholders are dropped (`false`, `0` and `""` are kept);
 * 4. when the `env` default is truthy, merges it into the configuration's `env` object, or *replaces* a
 *    non-object `env` (the default template's `"{{ env }}"`) with it;
 * 5. expands dotted job variables (`"env.FOO": "1"`) into nested objects, lays the plain keys on top
 *    (deep-merged with the nested form winning when both are objects), and shallow-updates the defaults;
 * 6. when the configuration's `env` is an object and the variables' `env` is truthy, merges the latter
 *    into it, so the job variables' `env` adds to the template's instead of replacing it;
 * 7. renders placeholders with {@link applyValues}.
 *
 * The result still holds `{{ prefect.blocks.* }}` / `{{ prefect.variables.* }}` placeholders and `$ref`
 * block references: pass it to {@link resolveBlockReferences}, then {@link resolveVariables}. Inputs are
 * not mutated.
 * @throws `KERNEL_TEMPLATE_RENDER` when the template has no `job_configuration` object, when an `env` to
 * be merged is not an object, or when dotted job variables conflict.
 * @public
 */
export function renderJobConfiguration(
  baseJobTemplate: BaseJobTemplate | Readonly<JsonObject>,
  jobVariables: Readonly<JsonObject>,
  options: RenderJobConfigurationOptions = {},
): JsonObject {
  const jobConfiguration: unknown = baseJobTemplate.job_configuration;
  if (!isPlainObject(jobConfiguration)) {
    throw new StevedoreError(
      kernelErrorCodes.TEMPLATE_RENDER,
      `The work pool's base job template has no 'job_configuration' object (got ${describeType(jobConfiguration)}). ` +
        "Fix the pool's base job template, or reset it to the infrastructure's default.",
    );
  }
  const baseConfig = cloneJson(jobConfiguration);
  const variables = templateDefaults(baseJobTemplate.variables);

  if (isPythonTruthy(variables.env)) {
    baseConfig.env = isPlainObject(baseConfig.env)
      ? mergeEnv(baseConfig.env, variables.env, "the 'env' variable's default in the base job template")
      : cloneJson(variables.env);
  }

  for (const [key, value] of Object.entries(expandDottedKeys(jobVariables))) setOwn(variables, key, value);

  if (isPlainObject(baseConfig.env) && isPythonTruthy(variables.env)) {
    baseConfig.env = mergeEnv(baseConfig.env, variables.env, "the job variable 'env'");
  }

  return applyValues(baseConfig, variables, { env: options.env ?? {} }) as JsonObject;
}

/** Step 3: `{name: default}` for every property whose `default` exists and is not null. */
function templateDefaults(variablesSchema: unknown): JsonObject {
  const defaults: JsonObject = {};
  const properties = isPlainObject(variablesSchema) ? variablesSchema.properties : undefined;
  if (!isPlainObject(properties)) return defaults;
  for (const [name, schema] of Object.entries(properties)) {
    if (!isPlainObject(schema) || !Object.hasOwn(schema, 'default')) continue;
    const value = schema.default;
    if (value === null || value === undefined) continue;
    setOwn(defaults, name, cloneJson(value));
  }
  return defaults;
}

/** Python `dict | other`; any other right-hand side raises `TypeError` in Prefect. */
function mergeEnv(base: JsonObject, addition: unknown, what: string): JsonObject {
  if (!isPlainObject(addition)) {
    throw new StevedoreError(
      kernelErrorCodes.TEMPLATE_RENDER,
      `Cannot merge ${what} into the job configuration's env: expected an object of environment variables, got ` +
        `${describeType(addition)}. Set it to an object such as {"NAME": "value"}.`,
    );
  }
  return { ...base, ...cloneJson(addition) };
}

/** Python truthiness of a JSON value. */
function isPythonTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (typeof value === 'number' && Number.isNaN(value)) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

/**
 * Step 5: dotted keys (`"env.FOO": "1"`) become nested objects; plain keys are then laid on top, deep-merged
 * with the nested form winning when both sides are objects, replacing otherwise. Splits on `.` only.
 */
function expandDottedKeys(jobVariables: Readonly<JsonObject>): JsonObject {
  const result: JsonObject = {};
  const plain: [string, unknown][] = [];
  for (const [key, value] of Object.entries(jobVariables)) {
    if (key.includes('.')) setPath(result, key, cloneJson(value));
    else plain.push([key, value]);
  }
  for (const [key, value] of plain) {
    const nested = Object.hasOwn(result, key) ? result[key] : undefined;
    const merged =
      isPlainObject(nested) && isPlainObject(value) ? deepMerge(cloneJson(value), nested) : cloneJson(value);
    setOwn(result, key, merged);
  }
  return result;
}

function setPath(target: JsonObject, dottedKey: string, value: unknown): void {
  const segments = dottedKey.split('.');
  const last = segments.pop() ?? '';
  let node = target;
  for (const [i, segment] of segments.entries()) {
    if (!Object.hasOwn(node, segment)) setOwn(node, segment, {});
    const next = node[segment];
    if (!isPlainObject(next)) {
      const prefix = segments.slice(0, i + 1).join('.');
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_RENDER,
        `The job variable '${dottedKey}' conflicts with another job variable that sets '${prefix}' to a non-object ` +
          `(${describeType(next)}). Remove one of them.`,
        { details: { jobVariable: dottedKey } },
      );
    }
    node = next;
  }
  setOwn(node, last, value);
}

/** A new object: `base` with `overlay` merged in recursively; `overlay` wins. */
function deepMerge(base: JsonObject, overlay: JsonObject): JsonObject {
  const result: JsonObject = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const existing = Object.hasOwn(result, key) ? result[key] : undefined;
    setOwn(result, key, isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : value);
  }
  return result;
}

/**
 * Reads what the job configuration references: block documents (with secrets) and Prefect variables.
 * The kernel adapts its `PrefectApi` to this; tests pass fakes.
 * @public
 */
export interface TemplateReferenceResolver {
  /**
   * `GET /block_documents/{id}?include_secrets=true`.
   * Rejects with an error whose `code` is `KERNEL_PREFECT_OBJECT_NOT_FOUND` when there is no such document.
   */
  readBlockDocument(id: string): Promise<{ data: Record<string, unknown> }>;
  /**
   * `GET /block_types/slug/{slug}/block_documents/name/{name}?include_secrets=true`.
   * Rejects with an error whose `code` is `KERNEL_PREFECT_OBJECT_NOT_FOUND` when there is no such document.
   */
  readBlockDocumentByName(blockTypeSlug: string, name: string): Promise<{ data: Record<string, unknown> }>;
  /** `GET /variables/name/{name}`; `found: false` when the variable does not exist (404). */
  readVariable(name: string): Promise<{ found: boolean; value: unknown }>;
}

/** Options of {@link resolveBlockReferences} and {@link resolveVariables}. @public */
export interface ResolveReferencesOptions {
  /** Checked before every fetch; an aborted signal rejects with its reason. */
  signal?: AbortSignal;
}

const NOT_FOUND_CODE = kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND;

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === NOT_FOUND_CODE;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Step 8, pass 2: replaces block-document references with the documents' data.
 *
 * @remarks
 * Spec §1.6 "Block references":
 * - any object with `"$ref": {"block_document_id": "<id>"}` (a truthy id), anywhere, is replaced by that
 *   document's `data` (its other keys are discarded, and the data itself is not searched again here);
 * - a string that is exactly `{{ prefect.blocks.<slug>.<name>[.<key path>] }}` becomes the raw value;
 *   embedded in other text, each such placeholder becomes Python `str(value)`, and an object or array
 *   value is an error;
 * - when the document's data has exactly one key, `value`, and the key path does not start with `value`,
 *   the `value` is unwrapped first (system blocks such as `Secret`, `String`, `JSON`);
 * - a key path is looked up like placeholders ({@link getFromPath}); a missing one is an error.
 *
 * Documents are fetched once per (slug, name) and once per id within one call; each use gets its own
 * copy. Fetches run one at a time, in template order.
 * @throws `KERNEL_TEMPLATE_RENDER` for a malformed placeholder, a missing key path, an object or array
 * embedded in text, or a block document that does not exist ("Block not found"). Other resolver errors
 * (transport, 5xx) and aborts propagate unchanged.
 * @public
 */
export async function resolveBlockReferences(
  template: Readonly<JsonObject>,
  resolver: Pick<TemplateReferenceResolver, 'readBlockDocument' | 'readBlockDocumentByName'>,
  options?: ResolveReferencesOptions,
): Promise<JsonObject>;
export async function resolveBlockReferences(
  template: unknown,
  resolver: Pick<TemplateReferenceResolver, 'readBlockDocument' | 'readBlockDocumentByName'>,
  options?: ResolveReferencesOptions,
): Promise<unknown>;
export async function resolveBlockReferences(
  template: unknown,
  resolver: Pick<TemplateReferenceResolver, 'readBlockDocument' | 'readBlockDocumentByName'>,
  options: ResolveReferencesOptions = {},
): Promise<unknown> {
  const byId = new Map<string, JsonObject>();
  const byName = new Map<string, JsonObject>();
  const { signal } = options;

  const readById = async (id: string): Promise<JsonObject> => {
    const cached = byId.get(id);
    if (cached) return cached;
    checkAborted(signal);
    let data: JsonObject;
    try {
      ({ data } = await resolver.readBlockDocument(id));
    } catch (e) {
      if (!isNotFound(e)) throw e;
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_RENDER,
        `Block not found: the job configuration references block document '${id}' ({"$ref": {"block_document_id": ...}}), ` +
          'which does not exist. Select an existing block in the deployment or work pool job variables.',
        { cause: e, details: { blockDocumentId: id } },
      );
    }
    byId.set(id, data);
    return data;
  };

  const readByName = async (slug: string, name: string, placeholder: string): Promise<JsonObject> => {
    const key = JSON.stringify([slug, name]);
    const cached = byName.get(key);
    if (cached) return cached;
    checkAborted(signal);
    let data: JsonObject;
    try {
      ({ data } = await resolver.readBlockDocumentByName(slug, name));
    } catch (e) {
      if (!isNotFound(e)) throw e;
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_RENDER,
        `Block not found: ${placeholder} references a block document named '${name}' of block type '${slug}', ` +
          'which does not exist. Create it in Prefect, or correct the block type slug and document name.',
        { cause: e, details: { blockTypeSlug: slug, blockDocumentName: name } },
      );
    }
    byName.set(key, data);
    return data;
  };

  const blockValue = async (placeholder: Placeholder, template: string): Promise<unknown> => {
    // Python's `str.replace` removes the prefix wherever it occurs, not only at the start (spec §1.6 quirk).
    const parts = splitN(placeholder.name.replaceAll(BLOCK_DOCUMENT_PLACEHOLDER_PREFIX, ''), '.', 2);
    const [slug = '', name = '', keyPath] = parts;
    if (parts.length < 2 || slug === '' || name === '') {
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_RENDER,
        `Invalid block placeholder ${placeholder.fullMatch} in ${JSON.stringify(template)}: expected ` +
          '{{ prefect.blocks.<block-type-slug>.<block-document-name> }}, optionally followed by .<key path>.',
        { details: { placeholder: placeholder.fullMatch } },
      );
    }
    let data: unknown = await readByName(slug, name, placeholder.fullMatch);
    if (isPlainObject(data)) {
      const keys = Object.keys(data);
      if (keys.length === 1 && keys[0] === 'value' && !keyPath?.startsWith('value')) {
        data = data.value;
      }
    }
    if (keyPath === undefined) return data;
    const value = getFromPath(data, keyPath);
    if (value === NOT_SET) {
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_RENDER,
        `Invalid template ${JSON.stringify(template)}: the key path '${keyPath}' does not exist in the data of block ` +
          `'${slug}/${name}'. Check the key path against the block's fields.`,
        {
          details: {
            placeholder: placeholder.fullMatch,
            blockTypeSlug: slug,
            blockDocumentName: name,
            keyPath,
          },
        },
      );
    }
    return value;
  };

  const resolveString = async (template: string): Promise<unknown> => {
    const placeholders = findPlaceholders(template);
    const blocks = placeholders.filter((p) => p.kind === placeholderKinds.BLOCK_DOCUMENT);
    const [first] = blocks;
    if (!first) return template;
    if (placeholders.length === 1 && first.fullMatch === template)
      return cloneJson(await blockValue(first, template));
    const replacements = new Map<string, string>();
    for (const placeholder of blocks) {
      const value = await blockValue(placeholder, template);
      if (Array.isArray(value) || isPlainObject(value)) {
        throw new StevedoreError(
          kernelErrorCodes.TEMPLATE_RENDER,
          `Invalid template ${JSON.stringify(template)}: ${placeholder.fullMatch} is ${describeType(value)} and cannot be ` +
            'embedded in text. Make the placeholder the whole value, or add a key path to a single field.',
          { details: { placeholder: placeholder.fullMatch } },
        );
      }
      replacements.set(placeholder.fullMatch, pythonStr(value));
    }
    return template.replace(placeholderScanner(), (match: string) => replacements.get(match) ?? match);
  };

  const walk = async (node: unknown): Promise<unknown> => {
    if (typeof node === 'string') return resolveString(node);
    if (Array.isArray(node)) {
      const out: unknown[] = [];
      for (const item of node) out.push(await walk(item));
      return out;
    }
    if (isPlainObject(node)) {
      // `template.get("$ref", {}).get("block_document_id")`. Prefect crashes on a non-object `$ref`;
      // Stevedore treats such a dict as ordinary data.
      const ref = node.$ref;
      if (isPlainObject(ref) && isPythonTruthy(ref.block_document_id)) {
        return cloneJson(await readById(pythonStr(ref.block_document_id)));
      }
      const out: JsonObject = {};
      for (const [key, value] of Object.entries(node)) setOwn(out, key, await walk(value));
      return out;
    }
    return node;
  };

  return walk(template);
}

/**
 * Step 8, pass 3: replaces `{{ prefect.variables.<name> }}` placeholders with Prefect variables.
 *
 * @remarks
 * Spec §1.6 "Variables": a whole-string placeholder becomes the variable's JSON value (any type), or `""`
 * when the variable does not exist; embedded in other text, each becomes Python `str(value)`, or `""`.
 * Each name is fetched once per call. Substituted text is not searched again.
 * @throws nothing of its own. A variable that does not exist (`found: false`, or a rejection with code
 * `KERNEL_PREFECT_OBJECT_NOT_FOUND`) counts as missing; other resolver errors and aborts propagate unchanged.
 * @public
 */
export async function resolveVariables(
  template: Readonly<JsonObject>,
  resolver: Pick<TemplateReferenceResolver, 'readVariable'>,
  options?: ResolveReferencesOptions,
): Promise<JsonObject>;
export async function resolveVariables(
  template: unknown,
  resolver: Pick<TemplateReferenceResolver, 'readVariable'>,
  options?: ResolveReferencesOptions,
): Promise<unknown>;
export async function resolveVariables(
  template: unknown,
  resolver: Pick<TemplateReferenceResolver, 'readVariable'>,
  options: ResolveReferencesOptions = {},
): Promise<unknown> {
  const cache = new Map<string, { found: boolean; value: unknown }>();
  const { signal } = options;

  const read = async (placeholder: Placeholder): Promise<{ found: boolean; value: unknown }> => {
    // As for blocks, Python's `str.replace` drops the prefix wherever it occurs.
    const name = placeholder.name.replaceAll(VARIABLE_PLACEHOLDER_PREFIX, '');
    const cached = cache.get(name);
    if (cached) return cached;
    checkAborted(signal);
    let result: { found: boolean; value: unknown };
    try {
      result = await resolver.readVariable(name);
    } catch (e) {
      // A resolver that reports a 404 by rejecting instead of `found: false` means the same thing.
      if (!isNotFound(e)) throw e;
      result = { found: false, value: undefined };
    }
    cache.set(name, result);
    return result;
  };

  const resolveString = async (template: string): Promise<unknown> => {
    const placeholders = findPlaceholders(template);
    const variables = placeholders.filter((p) => p.kind === placeholderKinds.VARIABLE);
    const [first] = variables;
    if (!first) return template;
    if (placeholders.length === 1 && first.fullMatch === template) {
      const { found, value } = await read(first);
      return found ? cloneJson(value) : '';
    }
    const replacements = new Map<string, string>();
    for (const placeholder of variables) {
      const { found, value } = await read(placeholder);
      replacements.set(placeholder.fullMatch, found ? pythonStr(value) : '');
    }
    return template.replace(placeholderScanner(), (match: string) => replacements.get(match) ?? match);
  };

  const walk = async (node: unknown): Promise<unknown> => {
    if (typeof node === 'string') return resolveString(node);
    if (Array.isArray(node)) {
      const out: unknown[] = [];
      for (const item of node) out.push(await walk(item));
      return out;
    }
    if (isPlainObject(node)) {
      const out: JsonObject = {};
      for (const [key, value] of Object.entries(node)) setOwn(out, key, await walk(value));
      return out;
    }
    return node;
  };

  return walk(template);
}

/** Python `s.split(sep, maxsplit)`: at most `maxsplit` splits, the rest kept whole in the last part. */
function splitN(s: string, sep: string, maxsplit: number): string[] {
  const parts: string[] = [];
  let rest = s;
  while (parts.length < maxsplit) {
    const at = rest.indexOf(sep);
    if (at < 0) break;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + sep.length);
  }
  parts.push(rest);
  return parts;
}
