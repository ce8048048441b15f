import { type Clock, systemClock } from './clock.js';
import { type ParsedConfig, parseWorkerConfig, type WorkerConfig } from './config.js';
import { checkPlugins, createRootContainer, type PluginHost, wirePlugins } from './container.js';
import { kernelErrorCodes, PluginError, StevedoreError } from './errors.js';
import { type EventEmitter, nullEventEmitter } from './events/types.js';
import { WebSocketEventEmitter } from './events/websocket-emitter.js';
import type { Infrastructure, PreflightResult } from './extension-points.js';
import { createLogger, type Logger, type LogSink, Redactor } from './logger.js';
import { type Metrics, MetricsRegistry } from './metrics.js';
import type { AnyPlugin } from './plugin.js';
import type { PrefectApi } from './prefect/api.js';
import { createPrefectClient, defaultUserAgent } from './prefect/client.js';
import { Worker } from './runtime/worker.js';
import { FileTemplateSource } from './template-sources/file-source.js';
import { createTemplateLoader } from './template-sources/loader.js';
import { kernelTokens } from './tokens.js';

/** Options of {@link createKernel}. @public */
export interface CreateKernelOptions {
  plugins: readonly AnyPlugin[];
  /** Raw configuration (from flags, env and files); validated here, every problem reported at once. */
  config: unknown;
  logger?: Logger;
  redactor?: Redactor;
  clock?: Clock;
  /** Replaces the HTTP Prefect client (tests). */
  prefectApi?: PrefectApi;
  /** The worker's explicitly set PREFECT_* settings, handed to flow runs (spec §1.7). */
  workerEnv?: Record<string, string>;
  /** The process environment for `{{ $NAME }}` placeholders; defaults to none. */
  processEnv?: Record<string, string | undefined>;
  cwd?: string;
  fetch?: typeof fetch;
  random?: () => number;
  onSubmission?: ConstructorParameters<typeof Worker>[0]['onSubmission'];
  /** Where log records go (default: JSON lines on stderr); level and redaction still come from the config. */
  logSink?: LogSink;
  /** The metrics registry (default: a new one, served at `/metrics` with `withHealthcheck`). */
  metrics?: Metrics;
  /**
   * Replaces the Prefect events emitter. Default: the `/events/in` websocket emitter, or none when `prefectApi`
   * is replaced (a fake API has no events socket).
   */
  events?: EventEmitter;
}

/** The result of one preflight check. @public */
export interface PreflightReport extends PreflightResult {
  id: string;
  description: string;
}

/**
 * The assembled kernel: validated config, the plugin graph and the worker.
 * @public
 */
export interface Kernel {
  readonly config: WorkerConfig;
  readonly host: PluginHost;
  readonly logger: Logger;
  readonly api: PrefectApi;
  readonly redactor: Redactor;
  /** The registry served at `/metrics`. */
  readonly metrics: Metrics;
  /** Sends Prefect events; also resolvable by plugins as `kernelTokens.events`. */
  readonly events: EventEmitter;
  /** The infrastructure serving this pool's type. */
  infrastructure(): Infrastructure;
  /** Runs every plugin's preflight checks. */
  preflight(signal: AbortSignal): Promise<PreflightReport[]>;
  /** Creates the worker (once). */
  worker(): Worker;
  /** Starts resources, runs the worker until `signal` aborts, then stops everything in reverse order. */
  run(signal: AbortSignal): Promise<void>;
}

/**
 * Validates the configuration and the plugin set, then wires everything. Nothing starts and no I/O
 * happens until {@link Kernel.run}.
 * @throws `KERNEL_CONFIG_INVALID` (every problem listed), `KERNEL_PLUGIN_*`.
 * @public
 */
export function createKernel(options: CreateKernelOptions): Kernel {
  const ordered = checkPlugins(options.plugins);
  const parsed: ParsedConfig = parseWorkerConfig(options.config, ordered);
  const config = parsed.config;
  const redactor = options.redactor ?? new Redactor();
  redactor.addSecret(config.apiKey, config.authString);
  const logger =
    options.logger ??
    createLogger({ level: config.logLevel, redactor, ...(options.logSink ? { sink: options.logSink } : {}) });
  const clock = options.clock ?? systemClock;
  const api =
    options.prefectApi ??
    createPrefectClient({
      apiUrl: config.apiUrl,
      apiKey: config.apiKey,
      authString: config.authString,
      cloudApiUrl: config.cloudApiUrl,
      timeoutMs: config.requestTimeoutSeconds * 1000,
      maxRetries: config.maxRetries,
      logger: logger.child({ component: 'prefect-client' }),
      // Attribution headers (spec §1.0): Prefect reads them from its own process env; we ask the worker.
      workerName: () => worker?.name,
      workerId: () => worker?.sync.state.workerId,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });

  const events: EventEmitter =
    options.events ??
    (options.prefectApi
      ? nullEventEmitter
      : new WebSocketEventEmitter({
          apiUrl: config.apiUrl,
          apiKey: config.apiKey,
          authString: config.authString,
          cloudApiUrl: config.cloudApiUrl,
          enabled: config.events,
          bufferSize: config.eventsBufferSize,
          userAgent: defaultUserAgent(),
          logger: logger.child({ component: 'events' }),
          ...(options.random ? { random: options.random } : {}),
        }));

  const root = createRootContainer();
  root.register(kernelTokens.logger, { useValue: logger });
  root.register(kernelTokens.clock, { useValue: clock });
  root.register(kernelTokens.config, { useValue: config });
  root.register(kernelTokens.prefectApi, { useValue: api });
  const metrics = options.metrics ?? new MetricsRegistry();
  root.register(kernelTokens.metrics, { useValue: metrics });
  root.register(kernelTokens.events, { useValue: events });
  metrics.gauge(
    'stevedore_events',
    'Prefect events by fate: emitted, delivered (confirmed), dropped (buffer full).',
    () => {
      const s = events.stats();
      return [
        [{ fate: 'emitted' }, s.emitted],
        [{ fate: 'delivered' }, s.delivered],
        [{ fate: 'dropped' }, s.dropped],
      ];
    },
  );
  metrics.gauge(
    'stevedore_events_buffered',
    'Prefect events held in memory (waiting, or sent and not confirmed).',
    () => events.stats().buffered,
  );
  root.register(kernelTokens.templateSource, { useValue: new FileTemplateSource() });
  const host = wirePlugins(root, ordered, parsed.pluginConfigs, logger);
  root.register(kernelTokens.templateLoader, {
    useFactory: () => createTemplateLoader(host.resolveAll(kernelTokens.templateSource), options.cwd),
  });

  let infra: Infrastructure | undefined;
  const infrastructure = (): Infrastructure => {
    if (infra) return infra;
    const all = host.resolveAll(kernelTokens.infrastructure);
    const type = config.type ?? (all.length === 1 ? all[0]?.type : undefined) ?? 'ecs';
    const found = all.find((i) => i.type === type);
    if (!found) {
      const installed = all.map((i) => i.type).join(', ') || 'none';
      throw new PluginError(
        kernelErrorCodes.INFRASTRUCTURE_MISSING,
        undefined,
        `No infrastructure '${type}'. Installed: ${installed}.${type === 'ecs' ? ' Add @stevedore/ecs-launcher.' : ' Did you forget to add the plugin?'}`,
      );
    }
    infra = found;
    return found;
  };

  let worker: Worker | undefined;
  const getWorker = (): Worker => {
    if (!worker) {
      const inf = infrastructure();
      worker = new Worker({
        api,
        config,
        clock,
        logger,
        redactor,
        infrastructure: inf,
        observers: host.resolveAll(kernelTokens.observer).filter((o) => o.infrastructureType === inf.type),
        workerEnv: options.workerEnv ?? {},
        processEnv: options.processEnv ?? {},
        random: options.random,
        onSubmission: options.onSubmission,
        metrics,
        events,
      });
    }
    return worker;
  };

  const preflight = async (signal: AbortSignal): Promise<PreflightReport[]> => {
    const reports: PreflightReport[] = [];
    for (const check of host.resolveAll(kernelTokens.preflightCheck)) {
      try {
        const r = await check.run({ signal });
        reports.push({ id: check.id, description: check.description, ...r });
      } catch (e) {
        reports.push({
          id: check.id,
          description: check.description,
          ok: false,
          severity: 'error',
          message: `The check itself failed: ${(e as Error).message}`,
        });
      }
    }
    return reports;
  };

  return {
    config,
    host,
    logger,
    api,
    redactor,
    metrics,
    events,
    infrastructure,
    worker: getWorker,
    preflight,
    async run(signal) {
      const w = getWorker();
      const inf = infrastructure();
      const started: Array<{ stop?: () => Promise<void> }> = [];
      const stopAll = async () => {
        const errors: unknown[] = [];
        for (const r of started.reverse()) {
          try {
            await r.stop?.();
          } catch (e) {
            errors.push(e);
          }
        }
        if (errors.length > 0) throw new AggregateError(errors, 'Some resources failed to stop.');
      };
      try {
        // Start order: template sources → infrastructure (observers start inside the worker's run).
        for (const source of host.resolveAll(kernelTokens.templateSource)) {
          const s = source as { start?: (sig: AbortSignal) => Promise<void>; stop?: () => Promise<void> };
          if (s.start) await s.start(signal);
          started.push(s);
        }
        if (inf.start) await inf.start(signal);
        started.push(inf);
        // The preflight checks run while the worker connects to Prefect (cold start waits for the slower of the two);
        // the worker claims nothing until they pass and stops with their error if they fail. A failed preflight may
        // therefore leave one heartbeat behind in the pool, which a start that checked first did not.
        const checked = preflight(signal).then((reports) => {
          const failed = reports.filter((r) => !r.ok && r.severity !== 'warning');
          for (const r of reports.filter((x) => !x.ok && x.severity === 'warning'))
            logger.warn(`Preflight ${r.id}: ${r.message}`);
          if (failed.length > 0) {
            throw new StevedoreError(
              kernelErrorCodes.CONFIG_INVALID,
              `Preflight checks failed:\n${failed.map((r) => `  - ${r.id}: ${r.message}`).join('\n')}`,
            );
          }
        });
        checked.catch(() => {}); // awaited by the worker; this only keeps an early exit from leaving it unhandled
        await w.run(signal, { ready: checked });
      } finally {
        try {
          await stopAll();
        } finally {
          // Last, so the worker's stopped event and the observers' last task events get a chance to go out.
          await events.stop?.(Math.min(config.stopTimeoutSeconds, 10) * 1000);
        }
      }
    },
  };
}
