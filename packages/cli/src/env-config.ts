import type { ConfigIssue } from '@stevedore/kernel';

type Kind = 'string' | 'number' | 'int' | 'boolean' | 'list';

/**
 * Environment variables read by the CLI, by config key. `PREFECT_*` names are Prefect's own, so a
 * worker environment written for `prefect worker start` works unchanged; `STEVEDORE_*` names are for
 * settings only Stevedore has.
 */
export const ENV_KEYS: ReadonlyArray<{ env: string; key: string; kind: Kind }> = [
  { env: 'PREFECT_API_URL', key: 'apiUrl', kind: 'string' },
  { env: 'PREFECT_API_KEY', key: 'apiKey', kind: 'string' },
  { env: 'PREFECT_API_AUTH_STRING', key: 'authString', kind: 'string' },
  { env: 'PREFECT_CLOUD_API_URL', key: 'cloudApiUrl', kind: 'string' },
  { env: 'PREFECT_API_REQUEST_TIMEOUT', key: 'requestTimeoutSeconds', kind: 'number' },
  { env: 'PREFECT_CLIENT_MAX_RETRIES', key: 'maxRetries', kind: 'int' },
  { env: 'PREFECT_WORKER_HEARTBEAT_SECONDS', key: 'heartbeatSeconds', kind: 'number' },
  { env: 'PREFECT_WORKER_QUERY_SECONDS', key: 'querySeconds', kind: 'number' },
  { env: 'PREFECT_WORKER_PREFETCH_SECONDS', key: 'prefetchSeconds', kind: 'number' },
  { env: 'PREFECT_WORKER_ENABLE_CANCELLATION', key: 'enableCancellation', kind: 'boolean' },
  { env: 'PREFECT_WORKER_CANCELLATION_POLL_SECONDS', key: 'cancellationPollSeconds', kind: 'number' },
  { env: 'PREFECT_WORKER_WEBSERVER_HOST', key: 'healthcheckHost', kind: 'string' },
  { env: 'PREFECT_WORKER_WEBSERVER_PORT', key: 'healthcheckPort', kind: 'int' },
  { env: 'STEVEDORE_POOL', key: 'pool', kind: 'string' },
  { env: 'STEVEDORE_WORKER_NAME', key: 'name', kind: 'string' },
  { env: 'STEVEDORE_WORK_QUEUES', key: 'workQueues', kind: 'list' },
  { env: 'STEVEDORE_LIMIT', key: 'limit', kind: 'int' },
  { env: 'STEVEDORE_SUBMISSION_LIMIT', key: 'submissionLimit', kind: 'int' },
  { env: 'STEVEDORE_CANCELLATION_GRACE_SECONDS', key: 'cancellationGraceSeconds', kind: 'number' },
  { env: 'STEVEDORE_TRACKER_POLL_SECONDS', key: 'trackerPollSeconds', kind: 'number' },
  { env: 'STEVEDORE_CRASH_GRACE_SECONDS', key: 'crashGraceSeconds', kind: 'number' },
  { env: 'STEVEDORE_RECONCILE_SECONDS', key: 'reconcileSeconds', kind: 'number' },
  { env: 'STEVEDORE_RECONCILE_PENDING_SECONDS', key: 'reconcilePendingSeconds', kind: 'number' },
  { env: 'STEVEDORE_UNOWNED_PENDING_SECONDS', key: 'unownedPendingSeconds', kind: 'number' },
  { env: 'STEVEDORE_SAFETY_NET_SECONDS', key: 'safetyNetSeconds', kind: 'number' },
  { env: 'STEVEDORE_TEARDOWN_GRACE_SECONDS', key: 'teardownGraceSeconds', kind: 'number' },
  { env: 'STEVEDORE_MAX_RUNTIME_SECONDS', key: 'maxRuntimeSeconds', kind: 'number' },
  { env: 'STEVEDORE_STOP_TIMEOUT_SECONDS', key: 'stopTimeoutSeconds', kind: 'number' },
  { env: 'STEVEDORE_LOG_LEVEL', key: 'logLevel', kind: 'string' },
  { env: 'STEVEDORE_EVENTS', key: 'events', kind: 'boolean' },
  { env: 'STEVEDORE_EVENTS_BUFFER_SIZE', key: 'eventsBufferSize', kind: 'int' },
];

/**
 * Environment variables that set a plugin's settings (`plugins.<id>.<key>`): prefect-aws's names for its
 * SQS observer, so a worker environment written for prefect-aws keeps working.
 */
export const PLUGIN_ENV_KEYS: ReadonlyArray<{ env: string; plugin: string; key: string; kind: Kind }> = [
  {
    env: 'PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME',
    plugin: 'observer-sqs',
    key: 'queueName',
    kind: 'string',
  },
  {
    env: 'PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_REGION',
    plugin: 'observer-sqs',
    key: 'queueRegion',
    kind: 'string',
  },
  {
    env: 'PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_ENABLED',
    plugin: 'observer-sqs',
    key: 'enabled',
    kind: 'boolean',
  },
];

const TRUE = new Set(['1', 'true', 'yes', 'on', 't', 'y']);
const FALSE = new Set(['0', 'false', 'no', 'off', 'f', 'n']);

/** Reads config keys from the environment; a value that cannot be converted becomes an issue naming the variable. */
export function readEnvConfig(env: Record<string, string | undefined>): {
  values: Record<string, unknown>;
  issues: ConfigIssue[];
} {
  const values: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  const entries = [
    ...ENV_KEYS.map((e) => ({
      ...e,
      set: (v: unknown) => {
        values[e.key] = v;
      },
    })),
    ...PLUGIN_ENV_KEYS.map((e) => ({
      ...e,
      key: `plugins.${e.plugin}.${e.key}`,
      set: (v: unknown) => {
        if (values.plugins === undefined) values.plugins = {};
        const plugins = values.plugins as Record<string, Record<string, unknown>>;
        plugins[e.plugin] = { ...plugins[e.plugin], [e.key]: v };
      },
    })),
  ];
  for (const { env: name, key, kind, set } of entries) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const bad = (expected: string) =>
      issues.push({
        path: `${key} (env ${name})`,
        expected,
        received: JSON.stringify(raw),
        fix: `set ${name} to ${expected}, or unset it`,
      });
    if (kind === 'string') set(raw);
    else if (kind === 'list')
      set(
        raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    else if (kind === 'boolean') {
      const v = raw.trim().toLowerCase();
      if (TRUE.has(v)) set(true);
      else if (FALSE.has(v)) set(false);
      else bad('true or false');
    } else {
      const n = Number(raw);
      if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n)))
        bad(kind === 'int' ? 'a whole number' : 'a number');
      else set(n);
    }
  }
  if (env.PREFECT_LOGGING_LEVEL && values.logLevel === undefined) {
    const lvl = env.PREFECT_LOGGING_LEVEL.toLowerCase();
    values.logLevel = lvl === 'warning' ? 'warn' : lvl === 'critical' ? 'error' : lvl;
  }
  return { values, issues };
}

/**
 * The worker's explicitly set Prefect settings, handed to every flow run (spec §1.7, like Prefect's
 * `to_environment_variables(exclude_unset=True)`): every `PREFECT_*` variable of the process, plus
 * the API settings given by flag or file. Attribution variables (`PREFECT__*`) are set per run instead.
 */
export function workerEnvFrom(
  env: Record<string, string | undefined>,
  config: { apiUrl?: unknown; apiKey?: unknown; authString?: unknown },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('PREFECT_') && !k.startsWith('PREFECT__') && typeof v === 'string') out[k] = v;
  }
  if (typeof config.apiUrl === 'string') out.PREFECT_API_URL = config.apiUrl;
  if (typeof config.apiKey === 'string') out.PREFECT_API_KEY = config.apiKey;
  if (typeof config.authString === 'string') out.PREFECT_API_AUTH_STRING = config.authString;
  return out;
}
