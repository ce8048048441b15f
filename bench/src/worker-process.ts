/** The worker under measurement: the built CLI in its own process, and what every scenario needs around it. */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AwsEmulator, PrefectEmulator } from '@stevedore/testkit';

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = join(benchDir, '..');

/** `packages/cli/dist/bin.js`, found through the workspace dependency. */
export function workerBin(): string {
  const require = createRequire(import.meta.url);
  const bin = join(dirname(require.resolve('@stevedore/cli/package.json')), 'dist', 'bin.js');
  try {
    readFileSync(bin);
  } catch {
    throw new Error(`${bin} is missing: build the CLI first (pnpm bench does: turbo run build).`);
  }
  return bin;
}

/** HEAD, and whether tracked files differ from it (read-only: no index refresh, no lock). */
export function gitState(): { commit: string | null; dirty: boolean } {
  const git = (...args: string[]) =>
    execFileSync('git', ['--no-optional-locks', ...args], { cwd: repoRoot, encoding: 'utf8' }).trim();
  try {
    return {
      commit: git('rev-parse', 'HEAD'),
      dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
    };
  } catch {
    return { commit: null, dirty: false };
  }
}

/**
 * The worker's environment: this process's, without package-manager, AWS, Prefect or Stevedore settings,
 * pointed at the emulators, plus `extra`.
 */
export function workerEnv(
  prefect: PrefectEmulator,
  aws: AwsEmulator,
  extra: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(npm_|PNPM_|AWS_|PREFECT_|STEVEDORE_|TSX_)/i.test(k) || k === 'INIT_CWD' || k === 'NODE_OPTIONS')
      continue;
    env[k] = v;
  }
  return {
    ...env,
    PREFECT_API_URL: prefect.url,
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_REGION: aws.region,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    STEVEDORE_LOG_LEVEL: 'info',
    // For profiling the worker under a scenario (e.g. `--heap-prof`, `--cpu-prof`): the calling shell's
    // NODE_OPTIONS is dropped above, so that a figure never depends on it by accident.
    ...(process.env.BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS } : {}),
    ...extra,
  };
}

/** Stops the worker with SIGTERM (graceful), then SIGKILL after `graceMs`. */
export async function stopWorker(
  child: ChildProcess,
  exited: Promise<unknown>,
  graceMs = 15_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** `process.hrtime.bigint()`-free wall clock of the spawn call (ms since the epoch, sub-ms precision). */
  spawnedAt: number;
  exited: Promise<void>;
  /** Null while it runs. */
  exit(): { code: number | null; signal: string | null } | null;
  stop(graceMs?: number): Promise<void>;
}

/** `node <bin> start --pool P --name N`, its output appended to `logPath`. */
export function spawnWorker(opts: {
  pool: string;
  name: string;
  env: Record<string, string>;
  cwd: string;
  logPath: string;
}): WorkerProcess {
  const log = createWriteStream(opts.logPath, { flags: 'a' });
  const spawnedAt = performance.timeOrigin + performance.now();
  const child = spawn(process.execPath, [workerBin(), 'start', '--pool', opts.pool, '--name', opts.name], {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let info: { code: number | null; signal: string | null } | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      info = { code, signal };
      log.end();
      resolve();
    }),
  );
  if (child.pid === undefined) throw new Error('could not start the worker process');
  return {
    child,
    pid: child.pid,
    spawnedAt,
    exited,
    exit: () => info,
    stop: (graceMs) => stopWorker(child, exited, graceMs),
  };
}
