import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';
import type { AnyPlugin } from './plugin.js';

const seconds = (def: number) => z.number().nonnegative().default(def);

/**
 * The kernel's configuration: the options of `prefect worker start` plus Stevedore's own.
 * Keys are the CLI flags' long names in camelCase. Plugin settings live under `plugins.<plugin id>`.
 * @public
 */
export const WorkerConfigSchema = z.strictObject({
  /** PREFECT_API_URL, e.g. `http://127.0.0.1:4200/api` or the Cloud workspace URL. */
  apiUrl: z.url({ protocol: /^https?$/ }),
  apiKey: z.string().min(1).optional(),
  authString: z.string().min(1).optional(),
  cloudApiUrl: z.string().default('https://api.prefect.cloud/api'),
  pool: z.string().min(1),
  /** Worker name; defaults to `<Type>Worker <uuid>` like Prefect (`ECSWorker 1b2c…`). */
  name: z
    .string()
    .min(1)
    .refine((s) => !/[/%]/.test(s), { message: "a name without '/' or '%'" })
    .optional(),
  workQueues: z.array(z.string().min(1)).default([]),
  /** The work-pool type; must be served by an installed infrastructure (`ecs`). */
  type: z.string().min(1).optional(),
  /** Maximum flow runs launched and not yet seen finish (Prefect's `--limit`). */
  limit: z.number().int().positive().optional(),
  /** Maximum submissions in flight at once (claim → launch → infrastructure_pid). */
  submissionLimit: z.number().int().positive().default(20),
  prefetchSeconds: seconds(10),
  heartbeatSeconds: z.number().positive().default(30),
  querySeconds: z.number().positive().default(10),
  runOnce: z.boolean().default(false),
  createPoolIfNotFound: z.boolean().default(true),
  baseJobTemplate: z
    .strictObject({
      job_configuration: z.record(z.string(), z.unknown()),
      variables: z.record(z.string(), z.unknown()),
    })
    .optional(),
  enableCancellation: z.boolean().default(true),
  cancellationPollSeconds: z.number().positive().default(10),
  /** How long a started run's engine gets to cancel itself before its infrastructure is killed. */
  cancellationGraceSeconds: seconds(30),
  /** How often the worker reconciles the pool's Pending/Running runs and live infrastructure with what it tracks (adoption, relaunch, orphan teardown). */
  reconcileSeconds: z.number().positive().default(60),
  /**
   * Reconciliation: a run claimed (Pending) whose infrastructure_pid was never reported is launched again
   * (with the same idempotency key) once its Pending state is this old — when it was claimed by this
   * worker's name or by a worker whose heartbeat is stale.
   */
  reconcilePendingSeconds: seconds(60),
  /**
   * The same for runs whose claiming worker is unknown on a Prefect 2 server (no flow-run labels): wait longer than
   * any launch can take (the infrastructure call is bounded by 15 minutes). On Prefect 3 a worker labels its claim
   * at once, so an unlabelled claim gets `reconcilePendingSeconds`.
   */
  unownedPendingSeconds: seconds(1200),
  /** A worker whose last heartbeat is older than this many of its heartbeat intervals is considered gone. */
  staleHeartbeatIntervals: z.number().positive().default(3),
  /**
   * How long the infrastructure of a run that Prefect says is final may keep running before it is stopped
   * (guaranteed teardown). 0 turns stopping off.
   */
  teardownGraceSeconds: seconds(60),
  /** Longest a run's infrastructure may run before it is stopped and the run crashed; 0 = no limit. Per deployment or run: `stevedore_max_runtime_seconds`. */
  maxRuntimeSeconds: seconds(0),
  /**
   * While an event observer (observer-sqs) is healthy and covers every task, polling observers (DescribeTasks) slow
   * to this interval: the safety net for events lost on the way. Never below `querySeconds`. With several replicas
   * sharing one events queue an event can miss the replica tracking its run (observer-sqs README, "Several
   * replicas"); this is then the longest such a stop goes unreported.
   */
  safetyNetSeconds: z.number().positive().default(120),
  /** How often the kernel checks Prefect for the states of the runs it tracks. */
  trackerPollSeconds: z.number().positive().default(15),
  /** After the infrastructure stopped, how long the engine gets to report a final state before the run is marked Crashed. */
  crashGraceSeconds: seconds(30),
  /**
   * How long a launched run's infrastructure may stay pending before it is stopped and the run crashed
   * (prefect-aws's `task_start_timeout_seconds`, 300). Per deployment or run: job variable `stevedore_start_timeout_seconds`. 0 disables it.
   */
  startTimeoutSeconds: seconds(300),
  /**
   * How many times a run whose infrastructure was interrupted by the provider (Fargate Spot reclaimed) is rescheduled
   * (a forced Scheduled "AwaitingRetry" state, due now) before it is crashed. Counted from the run's state history, so
   * every replica and every restart agrees. Per deployment or run: `stevedore_interruption_retries`. 0 crashes at once,
   * as prefect-aws does.
   */
  interruptionRetries: z.number().int().min(0).max(100).default(3),
  /** Lines of a crashed container's log sent to the run's logs (prefect-aws's observer default: 500). */
  crashLogLines: z.number().int().min(0).max(10000).default(500),
  withHealthcheck: z.boolean().default(false),
  healthcheckHost: z.string().default('0.0.0.0'),
  healthcheckPort: z.number().int().min(0).max(65535).default(8080),
  requestTimeoutSeconds: z.number().positive().default(60),
  maxRetries: z.number().int().nonnegative().default(5),
  stopTimeoutSeconds: z.number().positive().default(30),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * Send Prefect events (worker and ECS task events) over the `/events/in` websocket, as Prefect's worker does.
   * `STEVEDORE_EVENTS=false` switches them off.
   */
  events: z.boolean().default(true),
  /** Most events held in memory while the events socket is down; when full, the oldest are dropped and counted. */
  eventsBufferSize: z.number().int().positive().default(10_000),
  plugins: z.record(z.string(), z.unknown()).default({}),
});

/** @public */
export type WorkerConfig = z.output<typeof WorkerConfigSchema>;
/** @public */
export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;

/** How to fix each kernel field, used in error messages. */
const FIXES: Record<string, string> = {
  apiUrl:
    'set PREFECT_API_URL (or --api-url) to your Prefect API, e.g. http://127.0.0.1:4200/api; or run `stevedore sandbox`',
  pool: 'pass --pool <work pool name> (or set STEVEDORE_POOL)',
  name: "choose a worker name without '/' or '%' (--name)",
  limit: 'pass a whole number ≥ 1 to --limit, or leave it out for no limit',
  submissionLimit: 'pass a whole number ≥ 1 to --submission-limit',
  workQueues: 'pass queue names with --work-queue/-q (repeatable)',
};

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function getAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/**
 * Turns zod issues into {@link ConfigIssue}s (path, expected, got, fix).
 * @public
 */
export function zodIssuesToConfigIssues(
  error: z.ZodError,
  input: unknown,
  prefix = '',
  fixes: Record<string, string> = {},
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    const top = String(issue.path[0] ?? '');
    const received = getAt(input, issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const keyPath = [path, key].filter(Boolean).join('.');
        out.push({
          path: keyPath,
          expected: 'no such key',
          received: `unknown key '${key}'`,
          fix: `remove '${key}' or check its spelling`,
        });
      }
      continue;
    }
    let expected: string = issue.message;
    if (issue.code === 'invalid_type') expected = issue.expected;
    else if (issue.code === 'invalid_value')
      expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    else if (issue.code === 'too_small' || issue.code === 'too_big') {
      const what = issue.origin === 'string' ? 'a length' : issue.origin === 'array' ? 'a count' : 'a value';
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const op =
        issue.code === 'too_small'
          ? issue.inclusive === false
            ? '>'
            : '≥'
          : issue.inclusive === false
            ? '<'
            : '≤';
      expected = `${what} ${op} ${String(bound)}`;
    } else if (issue.code === 'invalid_format') expected = `a valid ${issue.format}`;
    out.push({
      path,
      expected,
      received: describeValue(received),
      fix: fixes[top] ?? (received === undefined ? `set ${path}` : `change ${path} (${issue.message})`),
    });
  }
  return out;
}

/** The validated configuration, with each plugin's section parsed by its own schema. @public */
export interface ParsedConfig {
  config: WorkerConfig;
  pluginConfigs: Map<string, unknown>;
}

/**
 * Validates the whole configuration (kernel and every plugin section) and reports every problem at once.
 * @throws ConfigError (`KERNEL_CONFIG_INVALID`) listing all issues.
 * @public
 */
export function parseWorkerConfig(input: unknown, plugins: readonly AnyPlugin[]): ParsedConfig {
  const issues: ConfigIssue[] = [];
  const parsed = WorkerConfigSchema.safeParse(input);
  if (!parsed.success) issues.push(...zodIssuesToConfigIssues(parsed.error, input, '', FIXES));
  const pluginSections =
    input && typeof input === 'object' && typeof (input as { plugins?: unknown }).plugins === 'object'
      ? ((input as { plugins: Record<string, unknown> }).plugins ?? {})
      : {};
  const known = new Set(plugins.map((p) => p.id));
  for (const key of Object.keys(pluginSections)) {
    if (!known.has(key)) {
      issues.push({
        path: `plugins.${key}`,
        expected: `a loaded plugin id (${[...known].join(', ') || 'none loaded'})`,
        received: `settings for '${key}'`,
        fix: `load the plugin '${key}' or remove its section`,
      });
    }
  }
  const pluginConfigs = new Map<string, unknown>();
  for (const plugin of plugins) {
    const section = pluginSections[plugin.id];
    if (!plugin.configSchema) {
      if (
        section !== undefined &&
        !(typeof section === 'object' && section && Object.keys(section).length === 0)
      ) {
        issues.push({
          path: `plugins.${plugin.id}`,
          expected: 'no settings (this plugin has none)',
          received: describeValue(section),
          fix: `remove plugins.${plugin.id}`,
        });
      }
      continue;
    }
    const r = plugin.configSchema.safeParse(section ?? {});
    if (r.success) pluginConfigs.set(plugin.id, r.data);
    else issues.push(...zodIssuesToConfigIssues(r.error, section ?? {}, `plugins.${plugin.id}`));
  }
  if (issues.length > 0 || !parsed.success) throw new ConfigError(issues);
  return { config: parsed.data, pluginConfigs };
}
