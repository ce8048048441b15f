/**
 * End to end: the real `stevedore` binary loads this package with `--plugin` (resolved from the working
 * directory, as a user's install would be) and renders a base job template served over HTTP through it.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const here = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../../../packages/cli/dist/bin.js', import.meta.url));
const template = readFileSync(
  fileURLToPath(new URL('../../../packages/ecs-launcher/assets/ecs-base-job-template.json', import.meta.url)),
  'utf8',
);

it('is loaded by `stevedore --plugin` and serves an http:// template to render', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/ecs-template.json')
      res.writeHead(200, { 'content-type': 'application/json' }).end(template);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ecs-template.json`;
  try {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
    const args = [
      'render',
      '--plugin',
      '@stevedore-example/template-http',
      '--pool',
      'p',
      '--template',
      url,
      '--json',
    ];
    const { stdout } = await run(process.execPath, [bin, ...args], { cwd: here, env });
    const out = JSON.parse(stdout) as {
      requests: Array<{ operation: string }>;
      configuration: { cluster?: unknown };
    };
    expect(out.requests.map((r) => r.operation)).toEqual(['RegisterTaskDefinition', 'RunTask']);

    // Without the plugin the scheme is unknown, and the error says so.
    const without = await run(process.execPath, [bin, ...args.slice(0, 1), ...args.slice(3)], {
      cwd: here,
      env,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/http/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
