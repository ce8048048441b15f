import { expect, it } from 'vitest';
import type { CliIo } from './main.js';
import { runSandbox } from './sandbox.js';

it('runs the seeded flow runs to their expected ends against the emulators and exits 0', async () => {
  const lines: string[] = [];
  const errors: string[] = [];
  const io: CliIo = {
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env: {},
    cwd: process.cwd(),
    signal: new AbortController().signal,
  };
  const code = await runSandbox({ keepRunning: false, timeoutSeconds: 60, verbose: false }, io);
  const text = lines.join('\n');
  expect(code, `${text}\n${errors.join('\n')}`).toBe(0);
  expect(text).toContain('Every flow run ended as expected.');
  for (const name of ['hello-1', 'hello-2', 'flaky', 'out-of-memory', 'bad-image', 'cancel-me']) {
    expect(text).toMatch(new RegExp(`^${name} .* yes `, 'm'));
  }
  // One task definition for all six runs of the deployment.
  expect(text).toContain('ecs:RegisterTaskDefinition 1,');
  expect(text).toContain('ecs:RunTask 6,');
}, 90_000);
