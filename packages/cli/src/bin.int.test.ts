/**
 * The real `stevedore` binary (dist/bin.js, as `pnpm --filter cli start` and the image run it): the seeds'
 * `--pool my-ecs-pool --type ecs` form, flags > env > file precedence, and bad input — one line per problem, exit 2.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type PrefectEmulator, startAwsEmulator, startPrefectEmulator } from '@stevedore/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const execFileP = promisify(execFile);
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

async function stevedore(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [bin, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('the stevedore binary', () => {
  let prefect: PrefectEmulator;
  let awsEnv: Record<string, string>;
  let stopAws: () => Promise<void>;
  beforeAll(async () => {
    prefect = await startPrefectEmulator({ mode: '3' });
    const aws = await startAwsEmulator({ region: 'us-east-1' });
    stopAws = () => aws.stop();
    awsEnv = {
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_REGION: aws.region,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  });
  afterAll(async () => {
    await prefect.stop();
    await stopAws();
  });

  it("runs the seeds' `--pool my-ecs-pool --type ecs` form and launches a flow run", async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'stevedore-bin-'));
    const env = { PREFECT_API_URL: prefect.url, ...awsEnv };
    // First start creates the pool (as `prefect worker start` does); the run is launched by the second.
    expect((await stevedore(['--pool', 'my-ecs-pool', '--type', 'ecs', '--run-once'], env, cwd)).code).toBe(
      0,
    );
    expect(prefect.getWorkPool('my-ecs-pool')?.type).toBe('ecs');
    const flow = prefect.seedFlow({ name: 'seed-flow' });
    const run = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'my-ecs-pool' });
    const r = await stevedore(
      ['start', '--pool', 'my-ecs-pool', '--type', 'ecs', '--run-once', '--json'],
      env,
      cwd,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toMatch(/::arn:aws:ecs:us-east-1:/);
    // Not a terminal: JSON lines, the summary last.
    const last = JSON.parse(r.stderr.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(last).toMatchObject({ msg: 'Worker summary', launched: 1 });
  });

  it('takes flags over env over the config file', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'stevedore-bin-'));
    writeFileSync(join(cwd, 'stevedore.config.yaml'), 'pool: from-file\nrunOnce: true\n');
    const base = { PREFECT_API_URL: prefect.url, ...awsEnv };
    expect((await stevedore([], base, cwd)).code).toBe(0);
    expect(prefect.getWorkPool('from-file')).toBeDefined();
    expect((await stevedore([], { ...base, STEVEDORE_POOL: 'from-env' }, cwd)).code).toBe(0);
    expect(prefect.getWorkPool('from-env')).toBeDefined();
    expect(
      (await stevedore(['--pool', 'from-flag'], { ...base, STEVEDORE_POOL: 'from-env' }, cwd)).code,
    ).toBe(0);
    expect(prefect.getWorkPool('from-flag')).toBeDefined();
  });

  it('reports every bad input on its own line and exits 2', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'stevedore-bin-'));
    const r = await stevedore(
      ['--pool', 'p', '--limit', '0', '--type', 'kubernetes', '-e', 'NOEQUALS'],
      { PREFECT_API_URL: prefect.url, PREFECT_WORKER_QUERY_SECONDS: 'often' },
      cwd,
    );
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^Invalid configuration \(4 problems\):$/);
    const problems = lines.slice(1);
    expect(problems).toHaveLength(4);
    for (const expected of [
      'querySeconds (env PREFECT_WORKER_QUERY_SECONDS): expected a number, got "often"',
      'type: expected \'ecs\', got "kubernetes" — drop --type or pass --type ecs',
      '--env: expected KEY=VALUE, got "NOEQUALS" — pass --env NAME=value',
      'limit: expected a value > 0, got number 0',
    ])
      expect(problems.filter((l) => l.includes(expected))).toHaveLength(1);
    expect((await stevedore(['--pool', 'p'], {}, cwd)).stderr).toContain('PREFECT_API_URL is not set');
    expect((await stevedore(['--version'], {}, cwd)).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
