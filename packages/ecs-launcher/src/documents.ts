/**
 * Helpers for the loosely typed documents the ECS job configuration carries (`task_definition`,
 * `task_run_request`): they come from user templates, so they are `Record<string, unknown>` until they are
 * handed to the SDK.
 * @internal
 */
export type Doc = Record<string, unknown>;

/** A plain JSON object (not an array, not null). @internal */
export function isDoc(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Python truthiness, as the reference tests values (`if value:`): null, undefined, `''`, `0`, NaN, `false`,
 * `[]` and `{}` are falsy.
 * @internal
 */
export function isFalsy(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === false || v === 0 || Number.isNaN(v)) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isDoc(v)) return Object.keys(v).length === 0;
  return false;
}

/**
 * `_drop_empty_keys_from_dict` (spec §2.4 A.9), in place and with the reference's exact order of operations:
 * a falsy value is removed unless it is the boolean `false`; dicts are then cleaned recursively, and so are
 * dicts inside lists, except lists under `capacity_provider_strategy`. A dict emptied by the recursion stays.
 * @internal
 */
export function dropEmptyKeys(doc: Doc): Doc {
  for (const [key, value] of Object.entries(doc)) {
    if (isFalsy(value) && typeof value !== 'boolean') delete doc[key];
    if (isDoc(value)) dropEmptyKeys(value);
    if (Array.isArray(value) && key !== 'capacity_provider_strategy') {
      for (const item of value) if (isDoc(item)) dropEmptyKeys(item);
    }
  }
  return doc;
}

/** Removes `null` and `undefined` values everywhere (the SDK would serialise a null, and AWS rejects it). @internal */
export function dropNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.filter((v) => v !== null && v !== undefined).map(dropNulls) as T;
  if (isDoc(value)) {
    const out: Doc = {};
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = dropNulls(v);
    return out as T;
  }
  return value;
}

/** JSON with object keys sorted at every level: the canonical text used for hashing and comparison. @internal */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (!isDoc(v)) return v;
    const sorted: Doc = {};
    for (const k of Object.keys(v).sort()) sorted[k] = v[k];
    return sorted;
  });
}

/** Deep copy of a JSON-like document (Dates survive as Dates). @internal */
export function cloneDoc<T>(value: T): T {
  return structuredClone(value);
}
