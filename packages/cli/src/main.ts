import { createRequire } from 'node:module';
import {
  ConfigError,
  type ConfigIssue,
  createKernel,
  formatConfigIssues,
  isStevedoreError,
  type Kernel,
  kernelTokens,
} from '@stevedore/kernel';
import { Command, CommanderError, Option } from 'commander';
import { readConfigFile } from './config-file.js';
import { readEnvConfig, workerEnvFrom } from './env-config.js';
import { type EventsOptions, eventsDelete, eventsDeploy, eventsStatusCommand } from './events.js';
import { type IamPolicyOptions, iamPolicyCommand } from './iam-policy.js';
import { createCliSink, outputOptions, writeSummary } from './output.js';
import { DEFAULT_PLUGINS, loadPluginPackage } from './plugins.js';
import { type RenderOptions, renderCommand } from './render.js';
import { registerWorkPoolCommands } from './work-pool.js';

/** This package's version (`stevedore --version`); read from package.json next to dist/ and src/. */
export const CLI_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string })
  .version;

/** Where the CLI writes; injected so tests can capture it. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted on SIGTERM/SIGINT by the bin; tests abort it themselves. */
  signal: AbortSignal;
  /** Where the worker's log goes (default: stderr), and whether that is a terminal (default: stderr's). */
  log?: (line: string) => void;
  logIsTTY?: boolean;
}

const NO_API_URL = [
  'PREFECT_API_URL is not set, so the worker does not know which Prefect API to poll.',
  '  Set it to your Prefect server (export PREFECT_API_URL=http://127.0.0.1:4200/api) or Prefect Cloud workspace',
  '  (https://api.prefect.cloud/api/accounts/<account>/workspaces/<workspace>) and PREFECT_API_KEY, or pass --api-url.',
  '  To try Stevedore without Prefect or AWS, run `stevedore sandbox`.',
].join('\n');

const collect = (v: string, prev: string[] = []) => [...prev, v];
const int = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n))
    throw new CommanderError(2, 'stevedore.invalidArgument', `${flag} expects a whole number, got '${v}'.`);
  return n;
};
const num = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n))
    throw new CommanderError(2, 'stevedore.invalidArgument', `${flag} expects a number, got '${v}'.`);
  return n;
};

/** Options of `stevedore start` that map one-to-one onto config keys. */
const START_KEYS = [
  'apiUrl',
  'pool',
  'name',
  'workQueue',
  'type',
  'limit',
  'submissionLimit',
  'prefetchSeconds',
  'runOnce',
  'withHealthcheck',
  'createPoolIfNotFound',
  'enableCancellation',
  'logLevel',
] as const;

function buildProgram(io: CliIo, exit: { code: number }): Command {
  const program = new Command('stevedore')
    .description('Run Prefect flow runs as AWS ECS tasks.')
    .version(CLI_VERSION, '-V, --version', 'print the version of the stevedore CLI')
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
    })
    .exitOverride()
    .showHelpAfterError('(add --help for the list of options)');

  program
    .command('start', { isDefault: true })
    .description(
      'Start a worker that polls a work pool and runs each flow run as an ECS task (`prefect worker start`).',
    )
    .option('-p, --pool <name>', 'the work pool to poll (required)')
    .option('-n, --name <name>', "the worker's name (default: ECSWorker <uuid>)")
    .option(
      '-q, --work-queue <name>',
      'only poll this work queue (repeatable; default: every queue of the pool)',
      collect,
    )
    .option(
      '-t, --type <type>',
      "the work-pool type; must be 'ecs' (or an installed plugin's type) when given",
    )
    .option('-l, --limit <n>', 'maximum flow runs launched and not yet finished', int('--limit'))
    .option('--submission-limit <n>', 'maximum submissions in flight at once', int('--submission-limit'))
    .option(
      '--prefetch-seconds <s>',
      'submit runs scheduled up to this many seconds ahead',
      num('--prefetch-seconds'),
    )
    .option('--run-once', 'poll once, submit what is due, then exit')
    .option('--with-healthcheck', 'serve GET /health (PREFECT_WORKER_WEBSERVER_HOST/PORT)')
    .option(
      '--base-job-template <file>',
      'base job template (JSON or YAML) used only when the pool is created',
    )
    .option('--no-create-pool-if-not-found', 'fail instead of creating the work pool when it does not exist')
    .option('--no-enable-cancellation', 'do not cancel runs from the worker (the engine still can)')
    .addOption(
      new Option(
        '--install-policy <policy>',
        'accepted for compatibility with `prefect worker start`; not applicable',
      ).choices(['always', 'if-not-present', 'never', 'prompt']),
    )
    .option('--api-url <url>', 'the Prefect API URL (default: PREFECT_API_URL)')
    .option('--config <file>', 'settings file (default: stevedore.config.yaml|json in the working directory)')
    .option('--plugin <package>', 'load a third-party plugin package (repeatable)', collect)
    .option('--no-default-plugins', 'activate only the plugins given with --plugin')
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']))
    .option('--json', 'log JSON lines even on a terminal (the default when the output is not a terminal)')
    // The options of the Prefect 1 `prefect agent ecs start`: worker-level defaults of the matching job variables.
    .option('--cluster <name-or-arn>', 'default ECS cluster (job variable cluster)')
    .addOption(
      new Option('--launch-type <type>', 'default launch type (job variable launch_type)').choices([
        'FARGATE',
        'FARGATE_SPOT',
        'EC2',
        'EXTERNAL',
      ]),
    )
    .option('--task-role-arn <arn>', 'default task role (job variable task_role_arn)')
    .option('--execution-role-arn <arn>', 'default execution role (job variable execution_role_arn)')
    .option(
      '--task-definition <path|s3://…>',
      "task definition template replacing the template's task_definition",
    )
    .option('--run-task-kwargs <path|s3://…>', 'RunTask parameters deep-merged into task_run_request')
    .option('-e, --env <KEY=VALUE>', "environment of the flow runs' container (repeatable)", collect)
    .option('--label <KEY[=VALUE]>', 'a tag on every flow-run task (repeatable)', collect)
    .option('--region <region>', "AWS region of the worker's clients (default: the SDK chain)")
    .option('--profile <profile>', 'AWS profile (default: the SDK chain)')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      exit.code = await startCommand(opts, io, (k) => cmd.getOptionValueSource(k));
    });

  program
    .command('sandbox')
    .description(
      'Run the worker against in-process emulators of the Prefect API and AWS, with a few seeded flow runs; no account needed.',
    )
    .option('--keep-running', 'keep the emulators and the worker running after the seeded runs finish')
    .option(
      '--timeout <seconds>',
      'give up waiting for the seeded runs after this long',
      num('--timeout'),
      120,
    )
    .option('--verbose', 'print the worker log')
    .action(async (opts: { keepRunning?: boolean; timeout: number; verbose?: boolean }) => {
      // Loaded on use: the sandbox pulls in the testkit's emulators (and their schema validator), which
      // `stevedore start` never needs and which cost it ~15 MB of memory and ~80 ms of cold start.
      const { runSandbox } = await import('./sandbox.js');
      exit.code = await runSandbox(
        {
          keepRunning: Boolean(opts.keepRunning),
          timeoutSeconds: opts.timeout,
          verbose: Boolean(opts.verbose),
        },
        io,
      );
    });

  const events = program
    .command('events')
    .description(
      'The EventBridge → SQS queue that makes task tracking event-driven (as `prefect-aws ecs-worker deploy-events`).',
    );
  const eventsAction =
    (fn: (o: EventsOptions, io: CliIo) => Promise<number>) =>
    async (opts: EventsOptions & { profile?: string }) => {
      try {
        exit.code = await withAwsProfile(opts.profile, () => fn(opts, io));
      } catch (e) {
        if (isStevedoreError(e)) throw e;
        // AWS SDK errors (credentials, permissions, region): one line, never a stack trace.
        io.err(`AWS call failed: ${(e as Error).name}: ${(e as Error).message}`);
        exit.code = 1;
      }
    };
  events
    .command('deploy')
    .description('Create the queue, its DLQ and policy, and the EventBridge rule and target (idempotent).')
    .requiredOption('-p, --pool <name>', 'the work pool')
    .option('--cluster <name-or-arn>', 'the ECS cluster whose task state changes to route')
    .option('--region <region>', 'AWS region (default: the SDK chain, or the cluster ARN)')
    .option('--profile <profile>', 'AWS profile')
    .option('--dry-run', 'print the plan without changing anything')
    .action(eventsAction(eventsDeploy));
  events
    .command('status')
    .description('Show what exists and what is missing, with queue and DLQ depths.')
    .requiredOption('-p, --pool <name>', 'the work pool')
    .option('--cluster <name-or-arn>', 'check that the rule matches this cluster')
    .option('--region <region>', 'AWS region')
    .option('--profile <profile>', 'AWS profile')
    .action(eventsAction(eventsStatusCommand));
  events
    .command('delete')
    .description(
      'Remove exactly what deploy created; resources owned by a CloudFormation stack are left alone.',
    )
    .requiredOption('-p, --pool <name>', 'the work pool')
    .option('--region <region>', 'AWS region')
    .option('--profile <profile>', 'AWS profile')
    .option('--dry-run', 'print what would be deleted')
    .action(eventsAction(eventsDelete));

  program
    .command('render')
    .description(
      "Render a pool's job exactly as the worker would and print the configuration and the requests it would send.",
    )
    .option('-p, --pool <name>', 'the work pool')
    .option(
      '--deployment <id-or-name>',
      "a deployment (id or 'flow-name/deployment-name') whose job variables apply",
    )
    .option('--flow-run <id>', 'render for an existing flow run')
    .option(
      '--job-variables <json|@file>',
      'job variables as JSON/YAML, or @file (a path, file: or s3:// URL)',
    )
    .option(
      '--template <file>',
      "use this base job template instead of the pool's (offline without PREFECT_API_URL)",
    )
    .option('--server-version <version>', 'offline: the Prefect server version to render for', '3.0.0')
    .option('--api-url <url>', 'the Prefect API URL (default: PREFECT_API_URL)')
    .option('-n, --name <name>', "the worker name the labels carry (default 'stevedore-render')")
    .option('--json', 'print one JSON object: configuration, requests, notes')
    .option('--plugin <package>', 'load a third-party plugin package (repeatable)', collect)
    .option('--no-default-plugins', 'activate only the plugins given with --plugin')
    .action(async (opts: RenderOptions) => {
      exit.code = await renderCommand(opts, io);
    });

  program
    .command('doctor')
    .description(
      'Check everything the worker needs — Prefect API and pool, plugins, AWS identity, cluster, network, roles, IAM permissions — one line each with the fix.',
    )
    .option('-p, --pool <name>', 'the work pool')
    .option('-n, --name <name>', "the worker's name")
    .option('-t, --type <type>', "the pool type: 'ecs'")
    .option('--api-url <url>', 'the Prefect API URL (default: PREFECT_API_URL)')
    .option('--config <file>', 'settings file (default: stevedore.config.yaml|json in the working directory)')
    .option('--region <region>', 'AWS region (default: the SDK chain)')
    .option('--profile <profile>', 'AWS profile')
    .option('--json', 'one JSON object per check')
    .option('--plugin <package>', 'load a third-party plugin package (repeatable)', collect)
    .option('--no-default-plugins', 'activate only the plugins given with --plugin')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      exit.code = await doctorCommand(opts, io, (k) => cmd.getOptionValueSource(k));
    });

  program
    .command('iam-policy')
    .description(
      'Print the least-privilege IAM policies: for the worker role (from what the active plugins declare) and for the execution role of flow-run tasks.',
    )
    .option('--cluster <name-or-arn>', 'narrow the ECS task actions to this cluster')
    .option('--region <region>', 'the region in resource ARNs (default *)')
    .option('--account <id>', 'the account id in resource ARNs (default *)')
    .option('--task-role-arn <arn>', 'a task role the worker passes to ECS (repeatable)', collect)
    .option('--execution-role-arn <arn>', 'an execution role the worker passes to ECS (repeatable)', collect)
    .option(
      '--secret-arn <arn>',
      'a Secrets Manager secret the tasks read, e.g. PREFECT_API_KEY (repeatable)',
      collect,
    )
    .option('--log-group <name>', "the awslogs group of the tasks (default 'prefect')")
    .option('--json', 'print one JSON object {workerRole, executionRole}')
    .option('--plugin <package>', 'load a third-party plugin package (repeatable)', collect)
    .option('--no-default-plugins', 'activate only the plugins given with --plugin')
    .action(async (opts: IamPolicyOptions) => {
      exit.code = await iamPolicyCommand(opts, io);
    });

  registerWorkPoolCommands(program, io, exit, collect);
  return program;
}

/** `--profile` and `--region` are the SDK's own settings; the CLI sets them for the command's duration only. */
async function withAwsEnv<T>(
  settings: { profile?: string | undefined; region?: string | undefined },
  fn: () => Promise<T>,
): Promise<T> {
  const before = { AWS_PROFILE: process.env.AWS_PROFILE, AWS_REGION: process.env.AWS_REGION };
  if (settings.profile) process.env.AWS_PROFILE = settings.profile;
  if (settings.region) process.env.AWS_REGION = settings.region;
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** `--profile` is the SDK's own setting; the CLI sets it for the command's duration only. */
async function withAwsProfile<T>(profile: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (!profile) return fn();
  const before = process.env.AWS_PROFILE;
  process.env.AWS_PROFILE = profile;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.AWS_PROFILE;
    else process.env.AWS_PROFILE = before;
  }
}

function fromFlags(
  opts: Record<string, unknown>,
  source: (k: string) => string | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of START_KEYS) {
    if (opts[key] === undefined || source(key) === 'default') continue;
    out[key === 'workQueue' ? 'workQueues' : key] = opts[key];
  }
  return out;
}

/**
 * The Prefect 1 agent's options as ecs-launcher settings (flags win over env and file, like every flag):
 * `--cluster`, `--launch-type`, roles, `--task-definition`/`--run-task-kwargs` (TemplateSource references: paths or
 * s3:// with template-s3), `--env KEY=VALUE`, `--label KEY[=VALUE]` (task tags, through the `labels` job variable).
 */
function agentOptions(opts: Record<string, unknown>, issues: ConfigIssue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const direct = [
    ['cluster', 'cluster'],
    ['launchType', 'launchType'],
    ['taskRoleArn', 'taskRoleArn'],
    ['executionRoleArn', 'executionRoleArn'],
    ['taskDefinition', 'taskDefinition'],
    ['runTaskKwargs', 'runTaskKwargs'],
  ] as const;
  for (const [flag, key] of direct) if (typeof opts[flag] === 'string') out[key] = opts[flag];
  const pairs = (flag: string, values: unknown, valueRequired: boolean) => {
    const map: Record<string, string> = {};
    for (const v of (values as string[] | undefined) ?? []) {
      const at = v.indexOf('=');
      if (at <= 0 && valueRequired) {
        issues.push({
          path: `--${flag}`,
          expected: 'KEY=VALUE',
          received: JSON.stringify(v),
          fix: `pass --${flag} NAME=value (repeat the flag for more)`,
        });
        continue;
      }
      if (at === 0) {
        issues.push({
          path: `--${flag}`,
          expected: 'KEY[=VALUE]',
          received: JSON.stringify(v),
          fix: 'start with a key',
        });
        continue;
      }
      map[at < 0 ? v : v.slice(0, at)] = at < 0 ? '' : v.slice(at + 1);
    }
    return map;
  };
  const env = pairs('env', opts.env, true);
  if (Object.keys(env).length > 0) out.env = env;
  const labels = pairs('label', opts.label, false);
  if (Object.keys(labels).length > 0) out.labels = labels;
  return out;
}

/** Assembles the kernel `start` would run, from flags, env and file; an exit code when the input is bad. */
async function buildKernel(
  opts: Record<string, unknown>,
  io: CliIo,
  source: (key: string) => string | undefined,
  logSink: NonNullable<Parameters<typeof createKernel>[0]['logSink']>,
): Promise<Kernel | number> {
  const issues: ConfigIssue[] = [];
  const file = readConfigFile(opts.config as string | undefined, io.cwd);
  const env = readEnvConfig(io.env);
  issues.push(...file.issues, ...env.issues);
  const flags = fromFlags(opts, source);
  const template = typeof opts.baseJobTemplate === 'string' ? opts.baseJobTemplate : undefined;
  // s3:// (or another plugin's scheme): read through the plugins' TemplateSources once the plugins are known.
  const remoteTemplate =
    template && /^[a-z][a-z0-9+.-]*:\/\//i.test(template) && !template.startsWith('file:')
      ? template
      : undefined;
  if (template && !remoteTemplate) {
    const t = readConfigFile(template, io.cwd);
    issues.push(...t.issues.map((i) => ({ ...i, path: '--base-job-template' })));
    flags.baseJobTemplate = t.values;
  }
  // Precedence: flags > env > file > defaults.
  const raw: Record<string, unknown> = { ...file.values, ...env.values, ...flags };
  // Plugin sections merge per plugin and per key, with the same precedence.
  const filePlugins = (file.values.plugins ?? {}) as Record<string, Record<string, unknown>>;
  const envPlugins = (env.values.plugins ?? {}) as Record<string, Record<string, unknown>>;
  if (file.values.plugins !== undefined || env.values.plugins !== undefined) {
    const merged: Record<string, unknown> = { ...filePlugins };
    for (const [id, section] of Object.entries(envPlugins)) merged[id] = { ...filePlugins[id], ...section };
    raw.plugins = merged;
  }
  const agent = agentOptions(opts, issues);
  if (Object.keys(agent).length > 0) {
    const sections = (raw.plugins ?? {}) as Record<string, Record<string, unknown>>;
    raw.plugins = { ...sections, 'ecs-launcher': { ...(sections['ecs-launcher'] ?? {}), ...agent } };
  }
  if (raw.apiUrl === undefined) {
    io.err(NO_API_URL);
    return 2;
  }
  if (raw.type !== undefined && raw.type !== 'ecs' && opts.defaultPlugins !== false && !opts.plugin) {
    issues.push({
      path: 'type',
      expected: "'ecs'",
      received: JSON.stringify(raw.type),
      fix: 'drop --type or pass --type ecs; other types need a plugin that provides them (--plugin)',
    });
  }
  const plugins = [...(opts.defaultPlugins === false ? [] : DEFAULT_PLUGINS)];
  for (const pkg of (opts.plugin as string[] | undefined) ?? [])
    plugins.push(...(await loadPluginPackage(pkg, io.cwd)));
  if (remoteTemplate) {
    try {
      // Only the plugin graph is needed to reach the TemplateSources; nothing connects.
      const probe = createKernel({
        plugins,
        config: { apiUrl: 'http://127.0.0.1/api', pool: 'probe' },
        cwd: io.cwd,
      });
      raw.baseJobTemplate = await probe.host
        .resolve(kernelTokens.templateLoader)
        .load(remoteTemplate, { signal: io.signal });
    } catch (e) {
      issues.push({
        path: '--base-job-template',
        expected: 'a readable base job template',
        received: remoteTemplate,
        fix: (e as Error).message,
      });
    }
  }
  try {
    const kernel = createKernel({
      plugins,
      config: raw,
      logSink,
      workerEnv: workerEnvFrom(io.env, raw),
      processEnv: io.env,
      cwd: io.cwd,
    });
    if (issues.length > 0) throw new ConfigError(issues);
    kernel.infrastructure();
    return kernel;
  } catch (e) {
    if (e instanceof ConfigError) {
      // The CLI's own problems (env conversions, files) and the kernel's, all in one list.
      io.err(formatConfigIssues(dedupe([...issues, ...e.issues])));
      return 2;
    }
    if (isStevedoreError(e)) {
      io.err((e as Error).message);
      return 2;
    }
    throw e;
  }
}

async function startCommand(
  opts: Record<string, unknown>,
  io: CliIo,
  source: (key: string) => string | undefined,
): Promise<number> {
  if (opts.installPolicy !== undefined) {
    io.err(
      '--install-policy is accepted for compatibility and ignored: Stevedore plugins are npm packages installed ahead of time, not pip packages installed at start.',
    );
  }
  const output = outputOptions(
    Boolean(opts.json),
    { isTTY: io.logIsTTY ?? process.stderr.isTTY },
    io.env,
    io.log ?? ((line) => process.stderr.write(`${line}\n`)),
  );
  const kernel = await buildKernel(opts, io, source, createCliSink(output));
  if (typeof kernel === 'number') return kernel;
  try {
    await withAwsEnv(
      { profile: opts.profile as string | undefined, region: opts.region as string | undefined },
      () => kernel.run(io.signal),
    );
    writeSummary(output, kernel.metrics);
    return 0;
  } catch (e) {
    writeSummary(output, kernel.metrics);
    io.err(`Worker stopped: ${(e as Error).message}`);
    return 1;
  }
}

/** `stevedore doctor`: every check, one line each; exit 1 when any fails. */
async function doctorCommand(
  opts: Record<string, unknown>,
  io: CliIo,
  source: (key: string) => string | undefined,
): Promise<number> {
  const kernel = await buildKernel(opts, io, source, () => undefined);
  if (typeof kernel === 'number') return kernel;
  // Loaded on use: the STS, IAM and EC2 clients are not needed by `start` (cold start).
  const { formatDoctor, runDoctor } = await import('./doctor.js');
  const results = await withAwsProfile(opts.profile as string | undefined, () =>
    runDoctor(kernel, { signal: io.signal, ...(opts.region ? { region: opts.region as string } : {}) }),
  );
  for (const line of formatDoctor(results, Boolean(opts.json))) io.out(line);
  const failed = results.filter((r) => r.status === 'fail').length;
  if (!opts.json)
    io.out(
      failed === 0
        ? `All ${results.length} checks passed or were skipped.`
        : `${failed} of ${results.length} checks failed.`,
    );
  return failed === 0 ? 0 : 1;
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}|${i.received}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Runs the CLI. Arguments may start with a `--` (as `pnpm --filter cli start -- start` passes them).
 * Returns the exit code.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  const exit = { code: 0 };
  const program = buildProgram(io, exit);
  try {
    await program.parseAsync(args, { from: 'user' });
    return exit.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return 0;
      if (e.code === 'stevedore.invalidArgument') io.err(e.message);
      return e.exitCode || 2;
    }
    if (isStevedoreError(e)) {
      io.err((e as Error).message);
      return 2;
    }
    throw e;
  }
}
