import {
  type BaseJobTemplate,
  createKernel,
  isStevedoreError,
  KERNEL_STEVEDORE_VARIABLES,
  type Kernel,
  kernelErrorCodes,
  kernelTokens,
  type ServerInfo,
  withStevedoreVariables,
} from '@stevedore/kernel';
import type { Command } from 'commander';
import type { CliIo } from './main.js';
import { DEFAULT_PLUGINS, loadPluginPackage } from './plugins.js';

/** Options shared by the `work-pool` subcommands. */
export interface WorkPoolOptions {
  apiUrl?: string;
  type?: string;
  baseJobTemplate?: string;
  withStevedoreVariables?: boolean;
  overwrite?: boolean;
  plugin?: string[];
  defaultPlugins?: boolean;
}

interface Context {
  kernel: Kernel;
  server: ServerInfo;
}

function fail(io: CliIo, message: string, code = 1): number {
  io.err(message);
  return code;
}

async function context(name: string, opts: WorkPoolOptions, io: CliIo): Promise<Context | number> {
  const apiUrl = opts.apiUrl ?? io.env.PREFECT_API_URL;
  if (!apiUrl)
    return fail(
      io,
      'PREFECT_API_URL is not set: pass --api-url or export PREFECT_API_URL (and PREFECT_API_KEY).',
      2,
    );
  const plugins = [...(opts.defaultPlugins === false ? [] : DEFAULT_PLUGINS)];
  for (const pkg of opts.plugin ?? []) plugins.push(...(await loadPluginPackage(pkg, io.cwd)));
  const kernel = createKernel({
    plugins,
    config: {
      apiUrl,
      pool: name,
      ...(opts.type ? { type: opts.type } : {}),
      ...(io.env.PREFECT_API_KEY ? { apiKey: io.env.PREFECT_API_KEY } : {}),
      ...(io.env.PREFECT_API_AUTH_STRING ? { authString: io.env.PREFECT_API_AUTH_STRING } : {}),
      logLevel: 'error',
    },
    processEnv: io.env,
    cwd: io.cwd,
  });
  const infrastructure = kernel.infrastructure(); // the precise "No infrastructure 'x'" error when missing
  if (opts.type && opts.type !== infrastructure.type)
    return fail(
      io,
      `--type must be '${infrastructure.type}' (the type the installed plugins serve), got '${opts.type}'.`,
      2,
    );
  const server = await kernel.api.serverInfo({ signal: io.signal });
  return { kernel, server };
}

function isTemplate(v: unknown): v is BaseJobTemplate {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const t = v as Record<string, unknown>;
  const obj = (x: unknown) => Boolean(x) && typeof x === 'object' && !Array.isArray(x);
  return obj(t.job_configuration) && obj(t.variables);
}

/** The template to store: `--base-job-template` (any TemplateSource: a path, `file:`, `s3://`…) or the default; plus the `stevedore_*` variables on request. */
async function templateFor(
  ctx: Context,
  opts: WorkPoolOptions,
  io: CliIo,
  current?: BaseJobTemplate,
): Promise<BaseJobTemplate | string> {
  let template: BaseJobTemplate;
  if (opts.baseJobTemplate) {
    const loader = ctx.kernel.host.resolve(kernelTokens.templateLoader);
    const doc = await loader.load(opts.baseJobTemplate, { signal: io.signal });
    if (!isTemplate(doc))
      return `--base-job-template ${opts.baseJobTemplate}: expected a mapping with 'job_configuration' and 'variables' objects (a Prefect base job template), got something else.`;
    template = doc;
  } else if (current && Object.keys(current).length > 0) template = current;
  else template = ctx.kernel.infrastructure().defaultBaseJobTemplate({ server: ctx.server });
  if (opts.withStevedoreVariables) {
    const infra = ctx.kernel.infrastructure();
    template = withStevedoreVariables(template, {
      ...KERNEL_STEVEDORE_VARIABLES,
      ...(infra.stevedoreVariables?.() ?? {}),
    });
  }
  return template;
}

async function guard(io: CliIo, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) return fail(io, (e as Error).message);
    throw e;
  }
}

/** `stevedore work-pool create NAME` (as `prefect work-pool create NAME --type ecs`). */
export function workPoolCreate(name: string, opts: WorkPoolOptions, io: CliIo): Promise<number> {
  return guard(io, async () => {
    const ctx = await context(name, opts, io);
    if (typeof ctx === 'number') return ctx;
    const template = await templateFor(ctx, opts, io);
    if (typeof template === 'string') return fail(io, template, 2);
    const type = ctx.kernel.infrastructure().type;
    try {
      await ctx.kernel.api.createWorkPool({ name, type, base_job_template: template }, { signal: io.signal });
      io.out(`Created work pool '${name}' of type '${type}'.`);
      return 0;
    } catch (e) {
      if (!isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_EXISTS)) throw e;
    }
    if (!opts.overwrite)
      return fail(
        io,
        `Work pool '${name}' already exists. Pass --overwrite to replace its base job template.`,
      );
    const existing = await ctx.kernel.api.readWorkPool(name, { signal: io.signal });
    if (existing.type !== type)
      return fail(
        io,
        `Work pool '${name}' is of type '${existing.type}', not '${type}': refusing to overwrite it.`,
      );
    await ctx.kernel.api.updateWorkPool(name, { base_job_template: template }, { signal: io.signal });
    io.out(`Updated the base job template of work pool '${name}'.`);
    return 0;
  });
}

/** `stevedore work-pool update-template NAME`: a new template, or the `stevedore_*` variables added to the current one. */
export function workPoolUpdateTemplate(name: string, opts: WorkPoolOptions, io: CliIo): Promise<number> {
  return guard(io, async () => {
    if (!opts.baseJobTemplate && !opts.withStevedoreVariables)
      return fail(
        io,
        'Nothing to update: pass --base-job-template FILE and/or --with-stevedore-variables.',
        2,
      );
    const ctx = await context(name, opts, io);
    if (typeof ctx === 'number') return ctx;
    const pool = await ctx.kernel.api.readWorkPool(name, { signal: io.signal });
    const type = ctx.kernel.infrastructure().type;
    if (pool.type !== type)
      return fail(
        io,
        `Work pool '${name}' is of type '${pool.type}', not '${type}': Stevedore does not manage it.`,
      );
    const template = await templateFor(ctx, opts, io, pool.base_job_template as BaseJobTemplate);
    if (typeof template === 'string') return fail(io, template, 2);
    await ctx.kernel.api.updateWorkPool(name, { base_job_template: template }, { signal: io.signal });
    io.out(`Updated the base job template of work pool '${name}'.`);
    return 0;
  });
}

/** `stevedore work-pool inspect NAME`: the pool as JSON, then how its template compares with the default. */
export function workPoolInspect(
  name: string,
  opts: WorkPoolOptions & { json?: boolean },
  io: CliIo,
): Promise<number> {
  return guard(io, async () => {
    const ctx = await context(name, opts, io);
    if (typeof ctx === 'number') return ctx;
    const pool = await ctx.kernel.api.readWorkPool(name, { signal: io.signal });
    if (opts.json) {
      io.out(JSON.stringify(pool));
      return 0;
    }
    io.out(JSON.stringify(pool, null, 2));
    const template = pool.base_job_template as Partial<BaseJobTemplate>;
    const props = Object.keys((template.variables as { properties?: object } | undefined)?.properties ?? {});
    const stevedore = props.filter((p) => p.startsWith('stevedore_'));
    const defaults = ctx.kernel.infrastructure().defaultBaseJobTemplate({ server: ctx.server });
    const same = JSON.stringify(template) === JSON.stringify(defaults);
    io.out(
      [
        `type: ${pool.type}${pool.type === ctx.kernel.infrastructure().type ? '' : ` (Stevedore serves '${ctx.kernel.infrastructure().type}')`}`,
        `template: ${Object.keys(template).length === 0 ? 'empty (a worker fills in the default)' : same ? 'the default' : `customised (${props.length} variables)`}`,
        `stevedore_* variables: ${stevedore.length > 0 ? stevedore.join(', ') : 'none (add them with update-template --with-stevedore-variables)'}`,
      ].join('\n'),
    );
    return 0;
  });
}

/** Registers `work-pool create|inspect|update-template` on the program. */
export function registerWorkPoolCommands(
  program: Command,
  io: CliIo,
  exit: { code: number },
  collect: (v: string, prev?: string[]) => string[],
): void {
  const wp = program
    .command('work-pool')
    .description('Create, inspect and update `ecs` work pools (as `prefect work-pool …`).');
  const common = (c: Command) =>
    c
      .option('--api-url <url>', 'the Prefect API URL (default: PREFECT_API_URL)')
      .option('--plugin <package>', 'load a third-party plugin package (repeatable)', collect)
      .option('--no-default-plugins', 'activate only the plugins given with --plugin');
  common(
    wp
      .command('create <name>')
      .description(
        'Create a pool with the default ecs base job template (the same one Prefect gives a new pool).',
      )
      .option('-t, --type <type>', "the pool type: 'ecs'")
      .option('--base-job-template <file>', 'a base job template (JSON or YAML; a path, file: or s3:// URL)')
      .option('--with-stevedore-variables', 'add the stevedore_* job variables so the UI can edit them')
      .option('--overwrite', "replace an existing pool's base job template"),
  ).action(async (name: string, opts: WorkPoolOptions) => {
    exit.code = await workPoolCreate(name, opts, io);
  });
  common(
    wp
      .command('inspect <name>')
      .description('Print the pool and how its template compares with the default.')
      .option('--json', 'print the pool only, as one JSON line'),
  ).action(async (name: string, opts: WorkPoolOptions & { json?: boolean }) => {
    exit.code = await workPoolInspect(name, opts, io);
  });
  common(
    wp
      .command('update-template <name>')
      .description("Replace the pool's base job template, or add the stevedore_* variables to it.")
      .option('--base-job-template <file>', 'a base job template (JSON or YAML; a path, file: or s3:// URL)')
      .option(
        '--with-stevedore-variables',
        'add the stevedore_* job variables (keeping the current template)',
      ),
  ).action(async (name: string, opts: WorkPoolOptions) => {
    exit.code = await workPoolUpdateTemplate(name, opts, io);
  });
}
