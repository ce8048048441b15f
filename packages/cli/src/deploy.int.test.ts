/**
 * The Dockerfile's build steps without Docker: `pnpm --filter @stevedore/cli deploy --prod` into a temporary folder
 * (what the image's second stage copies), then `stevedore --version` and a sandbox run from that folder alone.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The pnpm running this test (`pnpm test` sets npm_execpath), else the pinned one through npx. */
function pnpm(): { cmd: string; args: string[] } {
  const exec = process.env.npm_execpath;
  if (exec && /pnpm/.test(exec)) return { cmd: process.execPath, args: [exec] };
  return { cmd: 'npx', args: ['-y', 'pnpm@10.34.8'] };
}

it(
  'deploys the CLI with production dependencies only, and the folder runs --version and a sandbox',
  { timeout: 180_000 },
  async () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('pnpm --filter @stevedore/cli deploy --prod --legacy /out');
    expect(dockerfile).toMatch(/^USER node$/m);
    const out = await mkdtemp(join(tmpdir(), 'stevedore-deploy-'));
    try {
      const p = pnpm();
      const deployed = spawnSync(
        p.cmd,
        [...p.args, '--filter', '@stevedore/cli', 'deploy', '--prod', '--legacy', '--offline', out],
        {
          cwd: root,
          encoding: 'utf8',
          env: { ...process.env, CI: 'true' },
        },
      );
      expect(deployed.status, deployed.stderr).toBe(0);
      const env = { PATH: process.env.PATH ?? '', HOME: tmpdir(), NODE_ENV: 'production' };
      const version = await run(process.execPath, [join(out, 'dist/bin.js'), '--version'], { cwd: out, env });
      expect(version.stdout.trim()).toBe(
        JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')).version,
      );
      // No dev tooling in the deployed folder: no TypeScript compiler, no turbo, no biome.
      for (const dev of ['typescript', 'turbo', '@biomejs/biome'])
        expect(() => readFileSync(join(out, 'node_modules', dev, 'package.json'))).toThrow();
      const sandbox = await run(process.execPath, [join(out, 'dist/bin.js'), 'sandbox'], {
        cwd: out,
        env,
        timeout: 150_000,
      });
      expect(sandbox.stdout).toContain('Every flow run ended as expected.');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);
