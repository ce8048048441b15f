import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEcsBaseJobTemplate } from '@stevedore/ecs-launcher';
import { type PrefectEmulator, startPrefectEmulator } from '@stevedore/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, runCli } from './main.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function emulator(mode: '2' | '3' = '3'): Promise<PrefectEmulator> {
  const prefect = await startPrefectEmulator({ mode });
  cleanups.push(() => prefect.stop());
  return prefect;
}

function io(prefect: PrefectEmulator, cwd = tmpdir()): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env: { PREFECT_API_URL: prefect.url },
    cwd,
    signal: AbortSignal.timeout(10_000),
  };
}

const properties = (prefect: PrefectEmulator, pool: string) =>
  (prefect.getWorkPool(pool)?.base_job_template as { variables: { properties: Record<string, unknown> } })
    .variables.properties;

describe.each(['3', '2'] as const)('stevedore work-pool (Prefect %s)', (mode) => {
  it('creates an ecs pool with the default template, refuses a second create, overwrites on request', async () => {
    const prefect = await emulator(mode);
    const t = io(prefect);
    expect(await runCli(['work-pool', 'create', 'my-ecs-pool', '--type', 'ecs'], t)).toBe(0);
    expect(t.lines).toEqual(["Created work pool 'my-ecs-pool' of type 'ecs'."]);
    const pool = prefect.getWorkPool('my-ecs-pool');
    expect(pool?.type).toBe('ecs');
    expect(pool?.base_job_template).toEqual(JSON.parse(JSON.stringify(loadEcsBaseJobTemplate())));

    const again = io(prefect);
    expect(await runCli(['work-pool', 'create', 'my-ecs-pool'], again)).toBe(1);
    expect(again.errors).toEqual([
      "Work pool 'my-ecs-pool' already exists. Pass --overwrite to replace its base job template.",
    ]);

    const over = io(prefect);
    expect(
      await runCli(['work-pool', 'create', 'my-ecs-pool', '--overwrite', '--with-stevedore-variables'], over),
    ).toBe(0);
    const props = properties(prefect, 'my-ecs-pool');
    expect(Object.keys(props).filter((k) => k.startsWith('stevedore_'))).toEqual([
      'stevedore_start_timeout_seconds',
      'stevedore_max_runtime_seconds',
      'stevedore_interruption_retries',
      // The ecs infrastructure's own (the capacity ladder).
      'stevedore_capacity_ladder',
      'stevedore_capacity_budget_seconds',
    ]);
    // The job configuration is untouched: a pool made by Stevedore still works for the Python worker.
    expect(
      (prefect.getWorkPool('my-ecs-pool')?.base_job_template as { job_configuration: unknown })
        .job_configuration,
    ).toEqual(loadEcsBaseJobTemplate().job_configuration);
    expect(prefect.schemaErrors()).toEqual([]);
  });

  it('adds the stevedore variables to a customised template without losing the edits, and inspects it', async () => {
    const prefect = await emulator(mode);
    const dir = await mkdtemp(join(tmpdir(), 'stevedore-wp-'));
    const custom = structuredClone(loadEcsBaseJobTemplate()) as {
      variables: { properties: Record<string, { default?: unknown }> };
    };
    (custom.variables.properties.cpu as { default?: unknown }).default = 2048;
    writeFileSync(join(dir, 'template.yaml'), JSON.stringify(custom));
    expect(
      await runCli(['work-pool', 'create', 'p', '--base-job-template', 'template.yaml'], io(prefect, dir)),
    ).toBe(0);
    expect(
      await runCli(['work-pool', 'update-template', 'p', '--with-stevedore-variables'], io(prefect, dir)),
    ).toBe(0);
    const props = properties(prefect, 'p');
    expect((props.cpu as { default?: unknown }).default).toBe(2048);
    expect(props.stevedore_max_runtime_seconds).toMatchObject({ type: 'integer', minimum: 0 });

    const t = io(prefect, dir);
    expect(await runCli(['work-pool', 'inspect', 'p'], t)).toBe(0);
    const text = t.lines.join('\n');
    expect(text).toContain('"name": "p"');
    expect(text).toContain('type: ecs');
    expect(text).toMatch(/template: customised \(\d+ variables\)/);
    expect(text).toContain(
      'stevedore_* variables: stevedore_start_timeout_seconds, stevedore_max_runtime_seconds',
    );
    expect(prefect.schemaErrors()).toEqual([]);
  });
});

describe('stevedore work-pool errors', () => {
  it('gives one clear line for each bad input', async () => {
    const prefect = await emulator();
    const wrongType = io(prefect);
    expect(await runCli(['work-pool', 'create', 'p', '--type', 'kubernetes'], wrongType)).toBe(2);
    expect(wrongType.errors).toEqual([
      "No infrastructure 'kubernetes'. Installed: ecs. Did you forget to add the plugin?",
    ]);

    const missing = io(prefect);
    expect(await runCli(['work-pool', 'inspect', 'nope'], missing)).toBe(1);
    expect(missing.errors.join('\n')).toMatch(/nope/);

    const nothing = io(prefect);
    expect(await runCli(['work-pool', 'update-template', 'p'], nothing)).toBe(2);
    expect(nothing.errors).toEqual([
      'Nothing to update: pass --base-job-template FILE and/or --with-stevedore-variables.',
    ]);

    const dir = await mkdtemp(join(tmpdir(), 'stevedore-wp-'));
    writeFileSync(join(dir, 'bad.json'), '{"job_configuration": {}}');
    const bad = io(prefect, dir);
    expect(await runCli(['work-pool', 'create', 'p', '--base-job-template', 'bad.json'], bad)).toBe(2);
    expect(bad.errors).toEqual([
      "--base-job-template bad.json: expected a mapping with 'job_configuration' and 'variables' objects (a Prefect base job template), got something else.",
    ]);

    const noUrl = { ...io(prefect), env: {} };
    expect(await runCli(['work-pool', 'create', 'p'], noUrl)).toBe(2);
  });
});
