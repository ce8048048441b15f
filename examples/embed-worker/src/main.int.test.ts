/**
 * The kernel README's embedding example, executed: `src/main.ts` (the README shows this file verbatim) runs as its
 * own process against the emulators, launches a flow run that completes, and stops cleanly on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startAwsEmulator, startPrefectEmulator } from '@stevedore/testkit';
import { afterEach, expect, it } from 'vitest';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

it('is the code the kernel README shows', () => {
  const readme = readFileSync(
    fileURLToPath(new URL('../../../packages/kernel/README.md', import.meta.url)),
    'utf8',
  );
  const source = readFileSync(fileURLToPath(new URL('./main.ts', import.meta.url)), 'utf8');
  expect(readme).toContain(source.trim());
});

it('runs a flow run to completion and stops on SIGTERM', async () => {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  const aws = await startAwsEmulator({ region: 'us-east-1' });
  cleanups.push(() => aws.stop());
  prefect.seedWorkPool({ name: 'embedded-pool', type: 'ecs' });
  const flow = prefect.seedFlow({ name: 'etl' });
  const deployment = prefect.seedDeployment({
    flow_id: flow.id,
    name: 'nightly',
    work_pool_name: 'embedded-pool',
    job_variables: { env: { STEVEDORE_SIM_OUTCOME: 'complete', STEVEDORE_SIM_RUN_MS: '50' } },
  });
  const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
  const child: ChildProcess = spawn(
    process.execPath,
    [fileURLToPath(new URL('../dist/main.js', import.meta.url))],
    {
      env: {
        PATH: process.env.PATH ?? '',
        PREFECT_API_URL: prefect.url,
        STEVEDORE_POOL: 'embedded-pool',
        STEVEDORE_EVENTS: 'off',
        AWS_ENDPOINT_URL: aws.endpoint,
        AWS_REGION: aws.region,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 20_000;
  while (prefect.getFlowRun(run.id)?.state?.type !== 'COMPLETED') {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`The run did not complete.\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toMatch(/::arn:aws:ecs:us-east-1:/);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(stderr).toContain("Worker 'embedded-worker' stopped.");
});
