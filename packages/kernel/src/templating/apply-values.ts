/**
 * Prefect's `apply_values` (spec §1.6, step 7): fills `{{ name }}` placeholders of a job-configuration
 * template from the job variables. Pure: the worker's environment is passed in, never read here.
 */

import { kernelErrorCodes, StevedoreError } from '../errors.js';
import {
  ENV_VAR_PLACEHOLDER_PREFIX,
  findPlaceholders,
  getFromPath,
  isPlainObject,
  NOT_SET,
  placeholderKind,
  placeholderKinds,
  placeholderScanner,
  setOwn,
} from './placeholders.js';
import { pythonStr } from './python-str.js';

export { isNotSet, NOT_SET, type NotSet } from './placeholders.js';

/** Options of {@link applyValues}. @public */
export interface ApplyValuesOptions {
  /**
   * Prefect's `remove_notset`, `true` by default (the setting the worker uses). When `false`, missing
   * embedded placeholders are left as written and object keys whose value is missing keep their template.
   */
  removeNotSet?: boolean;
  /**
   * The worker process's environment, for `{{ $NAME }}` placeholders. Missing (or `undefined`) entries
   * count as unset. Defaults to an empty environment.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Renders a template against `values`, following every rule of Prefect's `apply_values` (spec §1.6).
 *
 * @remarks
 * - `null`, numbers and booleans are returned unchanged; so is a string without placeholders.
 * - A string that is exactly one STANDARD placeholder (`"{{ cpu }}"`) becomes the raw value at that key
 *   path, of any JSON type, or {@link NOT_SET} when the path is missing. A `null` value stays `null`.
 * - Any other string with placeholders is rendered as text: STANDARD placeholders become Python
 *   `str(value)` ({@link pythonStr}: `True`, `None`, dict reprs), `{{ $NAME }}` becomes `env.NAME` (so a
 *   whole-string `"{{ $X }}"` always yields a string), a missing value becomes `""`, and block and
 *   variable placeholders are left for {@link resolveBlockReferences} and {@link resolveVariables}.
 * - Objects: every value is rendered and keys whose value is {@link NOT_SET} are removed. Arrays: items
 *   that render to {@link NOT_SET} are dropped (whatever `removeNotSet` says, as in Prefect).
 * - Rendering is a single pass: text substituted from `values` is never rendered again. (Prefect replaces
 *   placeholder by placeholder in set order, so a value containing `{{ other }}` may or may not be
 *   rendered there depending on hash order; Stevedore always leaves it alone, as spec §1.6 states.)
 *
 * Inputs are never mutated, and the result never aliases them: values substituted whole are deep-copied.
 * @returns the rendered template, or {@link NOT_SET} when `template` itself is a missing whole-string
 * placeholder.
 * @throws `KERNEL_TEMPLATE_RENDER` when the template contains a value JSON cannot hold (a function,
 * `undefined`, a class instance), as Prefect raises `ValueError` on unexpected types.
 * @public
 */
export function applyValues(
  template: unknown,
  values: Readonly<Record<string, unknown>>,
  options: ApplyValuesOptions = {},
): unknown {
  const removeNotSet = options.removeNotSet ?? true;
  const env = options.env ?? {};
  return render(template, values, removeNotSet, env, '');
}

function render(
  template: unknown,
  values: Readonly<Record<string, unknown>>,
  removeNotSet: boolean,
  env: Readonly<Record<string, string | undefined>>,
  where: string,
): unknown {
  if (template === null || template === NOT_SET) return template;
  if (typeof template === 'number' || typeof template === 'boolean') return template;
  if (typeof template === 'string') return renderString(template, values, removeNotSet, env);
  if (Array.isArray(template)) {
    const out: unknown[] = [];
    template.forEach((item, i) => {
      const rendered = render(item, values, removeNotSet, env, `${where}[${i}]`);
      if (rendered !== NOT_SET) out.push(rendered);
    });
    return out;
  }
  if (isPlainObject(template)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) {
      const rendered = render(value, values, removeNotSet, env, where ? `${where}.${key}` : key);
      if (rendered !== NOT_SET) setOwn(out, key, rendered);
      else if (!removeNotSet) setOwn(out, key, cloneJson(value));
    }
    return out;
  }
  throw new StevedoreError(
    kernelErrorCodes.TEMPLATE_RENDER,
    `Cannot render the job template at '${where || '(root)'}': unexpected value of type ${describeType(template)}. ` +
      'A job template may hold only JSON values (objects, arrays, strings, numbers, booleans and null).',
    { details: { path: where } },
  );
}

function renderString(
  template: string,
  values: Readonly<Record<string, unknown>>,
  removeNotSet: boolean,
  env: Readonly<Record<string, string | undefined>>,
): unknown {
  const placeholders = findPlaceholders(template);
  if (placeholders.length === 0) return template;
  const [only] = placeholders;
  if (
    placeholders.length === 1 &&
    only &&
    only.fullMatch === template &&
    only.kind === placeholderKinds.STANDARD
  ) {
    // spec §1.6: a whole-string STANDARD placeholder keeps the raw type of the value.
    return cloneJson(getFromPath(values, only.name));
  }
  return template.replace(placeholderScanner(), (fullMatch: string, name: string) => {
    const kind = placeholderKind(name);
    let value: unknown;
    if (kind === placeholderKinds.STANDARD) value = getFromPath(values, name);
    else if (kind === placeholderKinds.ENV_VAR) value = envLookup(env, name);
    else return fullMatch; // block and variable placeholders: later passes.
    if (value === NOT_SET) return removeNotSet ? '' : fullMatch;
    return pythonStr(value);
  });
}

/**
 * `os.environ.get(name.lstrip("$"))`: Python's `lstrip` removes *every* leading `$`, so `{{ $$HOME }}`
 * reads `HOME` (spec §1.6 quirk).
 */
function envLookup(env: Readonly<Record<string, string | undefined>>, name: string): unknown {
  let key = name;
  while (key.startsWith(ENV_VAR_PLACEHOLDER_PREFIX)) key = key.slice(ENV_VAR_PLACEHOLDER_PREFIX.length);
  if (!Object.hasOwn(env, key)) return NOT_SET;
  const value = env[key];
  return value === undefined ? NOT_SET : value;
}

/**
 * A deep copy of JSON data (objects, arrays, scalars); other values are returned as they are. Used so that
 * rendered output never aliases the inputs.
 * @internal
 */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => cloneJson(item)) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, cloneJson(v));
    return out as T;
  }
  return value;
}

/** A short description of a value's type for error messages. @internal */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
