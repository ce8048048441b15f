/**
 * Prefect's `{{ … }}` placeholder syntax and dotted-path lookup (spec §1.6 "Placeholder syntax"), as
 * `prefect.utilities.templating` and `prefect.utilities.collections.get_from_dict` implement them.
 * Pure functions: nothing here reads the environment or the network.
 */

/**
 * Python's `\s` for `str` patterns (the characters for which `str.isspace()` is true). JavaScript's `\s`
 * differs slightly (it lacks U+001C–U+001F and U+0085 and adds U+FEFF), so the class is spelled out.
 */
const PY_WHITESPACE =
  '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/**
 * Python's `\w` for `str` patterns: letters, numbers (every Unicode `N` category) and `_`. Python decides
 * with its own Unicode tables; an engine on another Unicode version may disagree on newly assigned
 * characters, which never occur in real job-variable names.
 */
const PY_WORD = '\\p{L}\\p{N}_';

/**
 * Prefect's placeholder regex, `{{\s*([\w\.\-\[\]$]+)\s*}}`, with Python's Unicode `\s` and `\w`. Group 1
 * is the placeholder name. Not global: use {@link findPlaceholders} to scan a string.
 * @public
 */
export const PLACEHOLDER_PATTERN: RegExp = new RegExp(
  `\\{\\{[${PY_WHITESPACE}]*([${PY_WORD}.\\-\\[\\]$]+)[${PY_WHITESPACE}]*\\}\\}`,
  'u',
);

/** A fresh global copy of {@link PLACEHOLDER_PATTERN}, so no `lastIndex` state is ever shared. @internal */
export function placeholderScanner(): RegExp {
  return new RegExp(PLACEHOLDER_PATTERN.source, 'gu');
}

/** Names starting with this are block-document placeholders (resolved in pass 2). @public */
export const BLOCK_DOCUMENT_PLACEHOLDER_PREFIX = 'prefect.blocks.';
/** Names starting with this are Prefect variable placeholders (resolved in pass 3). @public */
export const VARIABLE_PLACEHOLDER_PREFIX = 'prefect.variables.';
/** Names starting with this are worker-process environment variable placeholders. @public */
export const ENV_VAR_PLACEHOLDER_PREFIX = '$';

/**
 * The kinds of placeholder, with the values of Prefect's `PlaceholderType` enum.
 * @public
 */
export const placeholderKinds = Object.freeze({
  STANDARD: 'standard',
  BLOCK_DOCUMENT: 'block_document',
  VARIABLE: 'variable',
  ENV_VAR: 'env_var',
} as const);

/** @public */
export type PlaceholderKind = (typeof placeholderKinds)[keyof typeof placeholderKinds];

/** One placeholder found in a template string. @public */
export interface Placeholder {
  /** The whole match, braces included, e.g. `{{ cpu }}`. */
  fullMatch: string;
  /** The name inside the braces, e.g. `cpu`. */
  name: string;
  kind: PlaceholderKind;
}

/**
 * The kind of a placeholder name. Checked in Prefect's order: `prefect.blocks.`, then
 * `prefect.variables.`, then `$`; anything else is STANDARD (spec §1.6).
 * @public
 */
export function placeholderKind(name: string): PlaceholderKind {
  if (name.startsWith(BLOCK_DOCUMENT_PLACEHOLDER_PREFIX)) return placeholderKinds.BLOCK_DOCUMENT;
  if (name.startsWith(VARIABLE_PLACEHOLDER_PREFIX)) return placeholderKinds.VARIABLE;
  if (name.startsWith(ENV_VAR_PLACEHOLDER_PREFIX)) return placeholderKinds.ENV_VAR;
  return placeholderKinds.STANDARD;
}

/**
 * The distinct placeholders of a template: of a string, or of every string nested in objects and arrays.
 *
 * @remarks
 * Prefect returns a *set*, so a placeholder written twice counts once; this returns them de-duplicated by
 * their full match, in order of first appearance. Callers that test "exactly one placeholder covering the
 * whole string" rely on that (spec §1.6: `"{{ a }}{{ a }}"` is one placeholder, but not a whole-string one).
 * Numbers, booleans, `null` and other values have none.
 * @public
 */
export function findPlaceholders(template: unknown): Placeholder[] {
  const found = new Map<string, Placeholder>();
  collectPlaceholders(template, found);
  return [...found.values()];
}

function collectPlaceholders(template: unknown, found: Map<string, Placeholder>): void {
  if (typeof template === 'string') {
    for (const match of template.matchAll(placeholderScanner())) {
      const fullMatch = match[0];
      const name = match[1] ?? '';
      if (!found.has(fullMatch)) found.set(fullMatch, { fullMatch, name, kind: placeholderKind(name) });
    }
  } else if (Array.isArray(template)) {
    for (const item of template) collectPlaceholders(item, found);
  } else if (isPlainObject(template)) {
    for (const value of Object.values(template)) collectPlaceholders(value, found);
  }
}

/**
 * Marks a missing value: a placeholder whose key path does not exist, Prefect's `NotSet`. A registered
 * symbol, so two installed copies of the kernel agree on it.
 * @public
 */
export const NOT_SET: unique symbol = Symbol.for('stevedore:templating:NotSet');

/** The type of {@link NOT_SET}. @public */
export type NotSet = typeof NOT_SET;

/** True when `value` is the {@link NOT_SET} sentinel. @public */
export function isNotSet(value: unknown): value is NotSet {
  return value === NOT_SET;
}

/**
 * Splits a key path as `get_from_dict` does: `[` becomes `.`, `]` is deleted, then the string is split on
 * `.`. So `a.b[0].c` is `['a', 'b', '0', 'c']`, and `a..b` has an empty segment.
 * @public
 */
export function splitKeyPath(path: string): string[] {
  return path.replaceAll('[', '.').replaceAll(']', '').split('.');
}

/** Python `int(str)` for decimal strings: optional sign, digits with single `_` separators, outer whitespace. */
const PY_INT = /^\s*[+-]?[0-9]+(?:_[0-9]+)*\s*$/;

/**
 * Parses a path segment the way Python's `int(key)` would, or returns `undefined` when Python would raise
 * `ValueError`. Only ASCII digits are recognised (Python also accepts other Unicode decimal digits).
 * @internal
 */
export function parsePythonInt(segment: string): number | undefined {
  if (!PY_INT.test(segment)) return undefined;
  return Number(segment.trim().replaceAll('_', ''));
}

/**
 * Looks up a dotted key path (`a.b[0].c`) in JSON data, returning {@link NOT_SET} when any step is missing.
 *
 * @remarks
 * A deliberate match of Prefect's `get_from_dict` (spec §1.6), quirks included:
 * - every segment that parses as a Python `int` is used as an integer key: it indexes lists (negative
 *   indexes count from the end, as in Python) and strings (one character, by code point); on an object it
 *   looks for an *integer* key, which JSON objects never have, so `{{ a.1 }}` over `{"a": {"1": "x"}}` is
 *   missing;
 * - other segments only index objects; on a list, string, number, boolean or `null` they are missing;
 * - `[` and `]` are just separators, so `a[0]`, `a.0` and `a[0]]` are the same path.
 * @public
 */
export function getFromPath(values: unknown, path: string): unknown {
  let current: unknown = values;
  for (const segment of splitKeyPath(path)) {
    const index = parsePythonInt(segment);
    const next = index === undefined ? getByKey(current, segment) : getByIndex(current, index);
    if (next === NOT_SET) return NOT_SET;
    current = next;
  }
  return current;
}

function getByKey(container: unknown, key: string): unknown {
  if (!isPlainObject(container) || !Object.hasOwn(container, key)) return NOT_SET;
  const value = container[key];
  return value === undefined ? NOT_SET : value;
}

function getByIndex(container: unknown, index: number): unknown {
  if (Array.isArray(container)) {
    const i = index < 0 ? container.length + index : index;
    if (i < 0 || i >= container.length) return NOT_SET;
    const value: unknown = container[i];
    return value === undefined ? NOT_SET : value;
  }
  if (typeof container === 'string') {
    const chars = Array.from(container);
    const i = index < 0 ? chars.length + index : index;
    return i < 0 || i >= chars.length ? NOT_SET : chars[i];
  }
  // Objects (JSON keys are strings, never integers), numbers, booleans and null: KeyError / TypeError.
  return NOT_SET;
}

/** True for `{…}` objects (not arrays, class instances or null). @internal */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Sets an own, enumerable property, even for the key `__proto__` (plain assignment would call the
 * prototype setter instead). Keys come from user-supplied JSON.
 * @internal
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}
