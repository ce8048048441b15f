/**
 * Prefect's `BaseJobConfiguration.prepare_for_flow_run` (spec §1.7): fills in the environment, labels,
 * name and command of a rendered job configuration for one flow run. Also POSIX `shlex.split`, which the
 * ECS worker uses to turn the command string into argv.
 */

import { kernelErrorCodes, StevedoreError } from '../errors.js';
import type { JobConfiguration } from '../extension-points.js';
import type { Deployment, Flow, FlowRun } from '../prefect/types.js';
import { cloneJson, describeType } from './apply-values.js';
import { getFromPath, isPlainObject, NOT_SET, placeholderScanner, setOwn } from './placeholders.js';
import { pythonStr } from './python-str.js';

/** The default command for Prefect 3 servers: the runner reads `PREFECT__FLOW_RUN_ID`. @public */
export const PREFECT_3_FLOW_RUN_COMMAND = 'prefect flow-run execute';
/** The default command for Prefect 2 servers (their images have no `prefect flow-run execute`). @public */
export const PREFECT_2_FLOW_RUN_COMMAND = 'python -m prefect.engine';

/**
 * The command a job runs when its configuration sets none, by server generation.
 * @public
 */
export function defaultFlowRunCommand(serverMajor: 2 | 3): string {
  return serverMajor === 2 ? PREFECT_2_FLOW_RUN_COMMAND : PREFECT_3_FLOW_RUN_COMMAND;
}

/** What {@link prepareForFlowRun} needs to know about the run and the worker. @public */
export interface PrepareForFlowRunContext {
  flowRun: FlowRun;
  /** The run's flow; `PREFECT__FLOW_NAME` and the `prefect.io/flow-*` labels need it. */
  flow?: Flow | undefined;
  /** The run's deployment, when it has one. */
  deployment?: Deployment | undefined;
  /** The work pool the run came from (`prefect.io/work-pool-*` labels). */
  workPool?: { id: string; name: string } | undefined;
  workerName: string;
  /** The worker's id, known only when the server returned one on heartbeat (Prefect Cloud). */
  workerId?: string | undefined;
  /**
   * The worker's explicitly set Prefect settings as environment variables (Prefect's
   * `settings.to_environment_variables(exclude_unset=True)`: `PREFECT_API_URL`, `PREFECT_API_KEY`, …).
   */
  workerEnv: Readonly<Record<string, string>>;
  /** Reported as the `prefect.io/version` label. */
  prefectVersion: string;
  /** Used when the configuration sets no command; see {@link defaultFlowRunCommand}. */
  defaultCommand: string;
}

/**
 * Fills in `env`, `labels`, `name` and `command` of a rendered job configuration for one flow run, as
 * Prefect's `prepare_for_flow_run` does (spec §1.7). Returns a new configuration; the input is not mutated.
 *
 * @remarks
 * - `env`, later layers winning: the worker's Prefect settings (`ctx.workerEnv`); `PREFECT__FLOW_RUN_ID`;
 *   the attribution variables `PREFECT__WORKER_ID` (when known), `PREFECT__WORKER_NAME`,
 *   `PREFECT__FLOW_ID`, `PREFECT__FLOW_NAME` (when the flow is known), `PREFECT__DEPLOYMENT_ID` (when the
 *   run has one), `PREFECT__DEPLOYMENT_NAME` (when the deployment is known); then the configuration's own
 *   `env`. Entries whose value is `null` are then dropped, which is how a job variable unsets a variable.
 *   Other non-string values are converted with Python `str()` ({@link pythonStr}: `1` → `"1"`,
 *   `true` → `"True"`), as pydantic 1 coerced them; Prefect 3's stricter validation would reject them.
 * - `labels`, later entries winning: `prefect.io/flow-run-id`, `prefect.io/flow-run-name`,
 *   `prefect.io/version`, `prefect.io/work-pool-name`, `prefect.io/work-pool-id`, `prefect.io/worker-name`,
 *   `prefect.io/flow-id`, `prefect.io/flow-name`, `prefect.io/deployment-id`,
 *   `prefect.io/deployment-name`, `prefect.io/deployment-updated` (UTC, `+00:00`), then the
 *   configuration's `labels` (non-string values converted as for `env`, `null` values dropped).
 * - `name`: when the configuration sets one, its `{{ ctx.flow.* }}` and `{{ ctx.flow_run.* }}`
 *   placeholders are rendered against the flow and flow run (missing → `""`, other placeholders left as
 *   they are); when it sets none, or renders empty, the flow run's name.
 * - `command`: the configuration's, or `ctx.defaultCommand` when it is unset, `null` or `""`.
 *
 * Infrastructure-specific adjustments (the ECS worker removing `PREFECT_API_KEY` when a secret ARN is
 * configured) are not made here.
 * @throws `KERNEL_TEMPLATE_RENDER` when `env` or `labels` is not an object, or `command` is not a string.
 * @public
 */
export function prepareForFlowRun(
  config: Readonly<Record<string, unknown>> | Readonly<JobConfiguration>,
  ctx: PrepareForFlowRunContext,
): JobConfiguration {
  const { flowRun, flow, deployment, workPool } = ctx;

  const attribution: Record<string, string> = {};
  if (ctx.workerId) attribution.PREFECT__WORKER_ID = ctx.workerId;
  if (ctx.workerName) attribution.PREFECT__WORKER_NAME = ctx.workerName;
  if (flowRun.flow_id) attribution.PREFECT__FLOW_ID = flowRun.flow_id;
  if (flow) attribution.PREFECT__FLOW_NAME = flow.name;
  if (flowRun.deployment_id) attribution.PREFECT__DEPLOYMENT_ID = flowRun.deployment_id;
  if (deployment) attribution.PREFECT__DEPLOYMENT_NAME = deployment.name;

  const env = stringEntries({
    ...ctx.workerEnv,
    PREFECT__FLOW_RUN_ID: flowRun.id,
    ...attribution,
    ...objectField(config, 'env'),
  });

  const baseLabels: Record<string, string> = {
    'prefect.io/flow-run-id': flowRun.id,
    'prefect.io/flow-run-name': flowRun.name,
    'prefect.io/version': ctx.prefectVersion,
  };
  if (workPool) {
    baseLabels['prefect.io/work-pool-name'] = workPool.name;
    baseLabels['prefect.io/work-pool-id'] = workPool.id;
  }
  if (ctx.workerName) baseLabels['prefect.io/worker-name'] = ctx.workerName;
  if (flow) {
    baseLabels['prefect.io/flow-id'] = flow.id;
    baseLabels['prefect.io/flow-name'] = flow.name;
  }
  if (deployment) {
    baseLabels['prefect.io/deployment-id'] = deployment.id;
    baseLabels['prefect.io/deployment-name'] = deployment.name;
    if (deployment.updated) baseLabels['prefect.io/deployment-updated'] = toPythonUtcIso(deployment.updated);
  }
  const labels = stringEntries({ ...baseLabels, ...objectField(config, 'labels') });

  const result: Record<string, unknown> = cloneJson({ ...config });
  result.env = env;
  result.labels = labels;
  result.name = renderName(config.name, flowRun, flow);
  result.command = commandOrDefault(config.command, ctx.defaultCommand);
  return result as JobConfiguration;
}

/** `config[key]` as an object; absent or `null` is `{}`. */
function objectField(
  config: Readonly<Record<string, unknown>>,
  key: 'env' | 'labels',
): Record<string, unknown> {
  const value = config[key];
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) {
    throw new StevedoreError(
      kernelErrorCodes.TEMPLATE_RENDER,
      `The job configuration's '${key}' must be an object of strings, got ${describeType(value)}. ` +
        `Check the '${key}' job variable and the base job template.`,
      { details: { field: key } },
    );
  }
  return value;
}

/** Drops `null`/`undefined` values and converts the rest to strings with Python `str()`. */
function stringEntries(entries: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(entries)) {
    if (value === null || value === undefined) continue;
    setOwn(out, key, pythonStr(value));
  }
  return out;
}

function renderName(name: unknown, flowRun: FlowRun, flow: Flow | undefined): string {
  if (name === null || name === undefined || name === '') return flowRun.name;
  const text = pythonStr(name);
  const ctx = { ctx: { flow: flow ?? {}, flow_run: flowRun } };
  const rendered = text.replace(placeholderScanner(), (fullMatch: string, key: string) => {
    if (!key.startsWith('ctx.flow.') && !key.startsWith('ctx.flow_run.')) return fullMatch;
    const value = getFromPath(ctx, key);
    return value === NOT_SET ? '' : pythonStr(value);
  });
  return rendered === '' ? flowRun.name : rendered;
}

function commandOrDefault(command: unknown, defaultCommand: string): string {
  if (command === undefined || command === null || command === '') return defaultCommand;
  if (typeof command !== 'string') {
    throw new StevedoreError(
      kernelErrorCodes.TEMPLATE_RENDER,
      `The job configuration's 'command' must be a string, got ${describeType(command)}. ` +
        'Set the command job variable to a single string such as "prefect flow-run execute", or leave it unset.',
      { details: { field: 'command' } },
    );
  }
  return command;
}

const ISO_DATETIME =
  /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A timestamp as Python's `datetime.astimezone(timezone.utc).isoformat()` prints it:
 * `2024-05-01T10:20:30.123456+00:00`, microseconds only when non-zero. Timestamps without an offset are
 * taken as UTC (the server always sends one). Unparsable input is returned unchanged.
 * @internal
 */
export function toPythonUtcIso(timestamp: string): string {
  const m = ISO_DATETIME.exec(timestamp.trim());
  if (!m) return timestamp;
  const [, date = '', hh = '00', mm = '00', ss = '00', fraction = '', offset = 'Z'] = m;
  const micros = fraction.padEnd(6, '0').slice(0, 6);
  const normalizedOffset = offset.toUpperCase() === 'Z' ? 'Z' : `${offset.slice(0, 3)}:${offset.slice(-2)}`;
  const ms = Date.parse(`${date}T${hh}:${mm}:${ss}${normalizedOffset}`);
  if (Number.isNaN(ms)) return timestamp;
  const whole = new Date(ms).toISOString().slice(0, 19);
  return `${whole}${/^0+$/.test(micros) ? '' : `.${micros}`}+00:00`;
}

/**
 * Splits a command string into argv exactly as Python's `shlex.split` (POSIX mode) does.
 *
 * @remarks
 * Words are separated by space, tab, CR and LF. Outside quotes a backslash takes the next character
 * literally. Inside single quotes everything is literal. Inside double quotes a backslash escapes only `"`
 * and `\` and is kept before any other character. Quoted and unquoted parts of a word join up, and `''`
 * is an empty argument. No comments, no variable or glob expansion.
 * @throws `KERNEL_TEMPLATE_RENDER` on an unclosed quote ("No closing quotation") or a trailing backslash
 * ("No escaped character"), where Python raises `ValueError`.
 * @public
 */
export function splitCommand(cmd: string): string[] {
  const WHITESPACE = ' \t\r\n';
  const args: string[] = [];
  let token = '';
  let inToken = false; // a word has started (possibly an empty quoted one)
  let quote: '"' | "'" | undefined;
  const chars = Array.from(cmd);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else token += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\') {
        const next = chars[++i];
        if (next === undefined) throw shlexError('No escaped character', cmd);
        token += next === '"' || next === '\\' ? next : `\\${next}`;
      } else token += ch;
    } else if (WHITESPACE.includes(ch)) {
      if (inToken) args.push(token);
      token = '';
      inToken = false;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inToken = true;
    } else if (ch === '\\') {
      const next = chars[++i];
      if (next === undefined) throw shlexError('No escaped character', cmd);
      token += next;
      inToken = true;
    } else {
      token += ch;
      inToken = true;
    }
  }
  if (quote) throw shlexError('No closing quotation', cmd);
  if (inToken) args.push(token);
  return args;
}

function shlexError(reason: string, cmd: string): StevedoreError {
  return new StevedoreError(
    kernelErrorCodes.TEMPLATE_RENDER,
    `Cannot split the command ${JSON.stringify(cmd)} into arguments: ${reason}. Close every quote and escape ` +
      'a trailing backslash in the command job variable.',
    { details: { reason } },
  );
}

/** Characters Python's `shlex.quote` leaves unquoted (`[\w@%+=:,./-]`, ASCII). */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Python's `shlex.quote`: returns `arg` unchanged when it is made only of safe characters, otherwise wraps
 * it in single quotes (`'it'"'"'s'`). `splitCommand(args.map(shellQuote).join(' '))` returns `args`.
 * @public
 */
export function shellQuote(arg: string): string {
  if (arg === '') return "''";
  if (SHELL_SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'"'"'`)}'`;
}
