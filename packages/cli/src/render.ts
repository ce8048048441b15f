import {
  type BaseJobTemplate,
  buildJobConfiguration,
  createKernel,
  type Deployment,
  type Flow,
  type FlowRun,
  type FlowRunJob,
  type InfrastructurePreview,
  isStevedoreError,
  kernelTokens,
  mergeJobVariables,
  nullLogger,
  type PrefectApi,
  parseTemplateDocument,
  type ServerInfo,
  type WorkPool,
} from '@stevedore/kernel';
import { workerEnvFrom } from './env-config.js';
import type { CliIo } from './main.js';
import { DEFAULT_PLUGINS, loadPluginPackage } from './plugins.js';

/** Options of `stevedore render`. */
export interface RenderOptions {
  pool?: string;
  deployment?: string;
  flowRun?: string;
  jobVariables?: string;
  template?: string;
  apiUrl?: string;
  name?: string;
  serverVersion?: string;
  json?: boolean;
  plugin?: string[];
  defaultPlugins?: boolean;
}

/** What `render` prints (`--json`: this object). */
export interface RenderResult {
  configuration: Record<string, unknown>;
  requests: InfrastructurePreview['requests'];
  notes: string[];
}

const PREVIEW_RUN_ID = '00000000-0000-4000-8000-000000000000';
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

class InputError extends Error {}

/** A Prefect API for `--template` without `PREFECT_API_URL`: every call says what it needed the API for. */
function offlineApi(): PrefectApi {
  return new Proxy({ apiUrl: 'offline' } as PrefectApi, {
    get(target, prop) {
      if (prop === 'apiUrl') return target.apiUrl;
      if (prop === 'then') return undefined;
      return () =>
        Promise.reject(
          new InputError(
            `Rendering offline, but the template needs the Prefect API (${String(prop)}: a block or variable reference). Set PREFECT_API_URL.`,
          ),
        );
    },
  });
}

function parseServerVersion(v: string): ServerInfo {
  const major = Number(v.split('.')[0]);
  if (major !== 2 && major !== 3) throw new InputError(`--server-version: expected 2.x or 3.x, got '${v}'.`);
  return { version: v, major, isCloud: false };
}

async function readJobVariables(
  spec: string | undefined,
  load: (ref: string) => Promise<unknown>,
): Promise<Record<string, unknown>> {
  if (!spec) return {};
  let doc: unknown;
  try {
    doc = spec.startsWith('@') ? await load(spec.slice(1)) : parseTemplateDocument(spec, '--job-variables');
  } catch (e) {
    throw new InputError(`--job-variables: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new InputError(
      '--job-variables: expected a JSON (or YAML) mapping such as {"cpu": 1024}, or @file.',
    );
  return doc as Record<string, unknown>;
}

function isTemplate(v: unknown): v is BaseJobTemplate {
  const obj = (x: unknown) => Boolean(x) && typeof x === 'object' && !Array.isArray(x);
  return (
    obj(v) &&
    obj((v as Record<string, unknown>).job_configuration) &&
    obj((v as Record<string, unknown>).variables)
  );
}

/**
 * Renders a job exactly as the worker would (the same `buildJobConfiguration` and the infrastructure's `preview`,
 * which shares `submit`'s code path) and returns the configuration and the provider requests.
 */
export async function renderJob(opts: RenderOptions, io: CliIo): Promise<RenderResult> {
  if (!opts.pool) throw new InputError('--pool is required: the work pool whose template to render.');
  const apiUrl = opts.apiUrl ?? io.env.PREFECT_API_URL;
  const offline = !apiUrl;
  if (offline && !opts.template)
    throw new InputError(
      "render needs the Prefect API (PREFECT_API_URL or --api-url) to read the pool's template, or --template FILE to render offline.",
    );
  if (offline && (opts.deployment || opts.flowRun))
    throw new InputError('--deployment and --flow-run need the Prefect API: set PREFECT_API_URL.');
  const plugins = [...(opts.defaultPlugins === false ? [] : DEFAULT_PLUGINS)];
  for (const pkg of opts.plugin ?? []) plugins.push(...(await loadPluginPackage(pkg, io.cwd)));
  const config = {
    apiUrl: apiUrl ?? 'http://offline.invalid/api',
    pool: opts.pool,
    name: opts.name ?? 'stevedore-render',
    ...(io.env.PREFECT_API_KEY ? { apiKey: io.env.PREFECT_API_KEY } : {}),
    ...(io.env.PREFECT_API_AUTH_STRING ? { authString: io.env.PREFECT_API_AUTH_STRING } : {}),
    logLevel: 'error' as const,
  };
  const kernel = createKernel({
    plugins,
    config,
    processEnv: io.env,
    cwd: io.cwd,
    ...(offline ? { prefectApi: offlineApi() } : {}),
  });
  const api = kernel.api;
  const infra = kernel.infrastructure();
  const signal = io.signal;
  const loader = kernel.host.resolve(kernelTokens.templateLoader);
  const server = offline
    ? parseServerVersion(opts.serverVersion ?? '3.0.0')
    : await api.serverInfo({ signal });

  let template: BaseJobTemplate | undefined;
  if (opts.template) {
    const doc = await loader.load(opts.template, { signal });
    if (!isTemplate(doc))
      throw new InputError(
        `--template ${opts.template}: expected a base job template (a mapping with 'job_configuration' and 'variables').`,
      );
    template = doc;
  }
  const workPool: WorkPool = offline
    ? { id: PREVIEW_RUN_ID, name: opts.pool, type: infra.type, base_job_template: template ?? {} }
    : await api.readWorkPool(opts.pool, { signal });
  if (template) workPool.base_job_template = template;
  if (workPool.type !== infra.type)
    throw new InputError(
      `Work pool '${opts.pool}' is of type '${workPool.type}'; the installed plugins serve '${infra.type}'.`,
    );

  const jobVariables = await readJobVariables(opts.jobVariables, (ref) => loader.load(ref, { signal }));
  let flowRun: FlowRun;
  let deployment: Deployment | undefined;
  if (opts.flowRun) {
    flowRun = await api.readFlowRun(opts.flowRun, { signal });
    if (opts.jobVariables)
      flowRun = {
        ...flowRun,
        job_variables: mergeJobVariables(
          (flowRun.job_variables ?? {}) as Record<string, unknown>,
          jobVariables,
        ),
      };
    if (flowRun.deployment_id) deployment = await api.readDeployment(flowRun.deployment_id, { signal });
  } else {
    if (opts.deployment) {
      const [flowName, name] = opts.deployment.split('/');
      deployment = UUID.test(opts.deployment)
        ? await api.readDeployment(opts.deployment, { signal })
        : flowName && name
          ? await api.readDeploymentByName(flowName, name, { signal })
          : undefined;
      if (!deployment)
        throw new InputError(
          `--deployment: expected a deployment id or 'flow-name/deployment-name', got '${opts.deployment}'.`,
        );
    }
    flowRun = {
      id: PREVIEW_RUN_ID,
      name: 'render-preview',
      flow_id: deployment?.flow_id ?? PREVIEW_RUN_ID,
      deployment_id: deployment?.id ?? null,
      job_variables: jobVariables,
      state: null,
      labels: {},
      tags: [],
      parameters: {},
    };
  }
  const flow: Flow =
    offline || flowRun.flow_id === PREVIEW_RUN_ID
      ? { id: flowRun.flow_id, name: 'render-preview' }
      : await api.readFlow(flowRun.flow_id, { signal });

  const { configuration, jobVariables: merged } = await buildJobConfiguration({
    flowRun,
    flow,
    deployment,
    workPool,
    server,
    workerName: config.name,
    workerId: undefined,
    // What `stevedore start` hands every run (spec §1.7): the PREFECT_* settings of this environment.
    workerEnv: offline ? {} : workerEnvFrom(io.env, config),
    processEnv: io.env,
    defaultTemplate: infra.defaultBaseJobTemplate({ server }),
    api,
    workerDefaults: infra.defaultJobVariables?.(),
    signal,
  });
  const job: FlowRunJob = {
    flowRun,
    flow,
    deployment,
    workPool,
    configuration,
    jobVariables: merged,
    server,
    runLogger: nullLogger,
    attemptKey: `${flowRun.id}:render`,
  };
  const preview: InfrastructurePreview = infra.preview
    ? await infra.preview(job, { signal, offline })
    : { requests: [], notes: [`The '${infra.type}' infrastructure cannot preview its requests.`] };
  if (!opts.flowRun)
    preview.notes.push(
      `Rendered for a placeholder flow run (${PREVIEW_RUN_ID}); a real run's id, name and labels differ. Use --flow-run ID for an existing run.`,
    );
  return kernel.redactor.redact({
    configuration,
    requests: preview.requests,
    notes: preview.notes,
  }) as RenderResult;
}

/** `stevedore render`: prints the job configuration and the requests the worker would send. */
export async function renderCommand(opts: RenderOptions, io: CliIo): Promise<number> {
  let result: RenderResult;
  try {
    result = await renderJob(opts, io);
  } catch (e) {
    if (e instanceof InputError) {
      io.err(e.message);
      return 2;
    }
    if (isStevedoreError(e)) {
      io.err((e as Error).message);
      return 1;
    }
    throw e;
  }
  if (opts.json) {
    io.out(JSON.stringify(result));
    return 0;
  }
  io.out('Job configuration:');
  io.out(JSON.stringify(result.configuration, null, 2));
  for (const r of result.requests) {
    io.out('');
    io.out(`${r.service}:${r.operation}`);
    io.out(JSON.stringify(r.input, null, 2));
  }
  if (result.notes.length > 0) {
    io.out('');
    io.out('Notes:');
    for (const n of result.notes) io.out(`- ${n}`);
  }
  return 0;
}
