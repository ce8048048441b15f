import { describe, expect, it } from 'vitest';
import { type CliIo, runCli } from './main.js';

function io(env: Record<string, string> = {}): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env,
    cwd: '/nonexistent-stevedore-test-dir',
    signal: AbortSignal.timeout(5000),
  };
}

describe('stevedore CLI', () => {
  it('starts by default and explains a missing PREFECT_API_URL, pointing at sandbox', async () => {
    const t = io();
    expect(await runCli([], t)).toBe(2);
    expect(t.errors.join('\n')).toContain('PREFECT_API_URL is not set');
    expect(t.errors.join('\n')).toContain('stevedore sandbox');
  });
  it.each([
    [['--', 'start', '--pool', 'p', '--run-once']],
    [['start', '--pool', 'p', '--run-once']],
    [['--pool', 'p', '--run-once']],
  ])('accepts %j with or without a leading --', async (argv) => {
    // Nothing listens on port 9: the worker logs that it cannot reach the API, polls once (no pool yet) and exits.
    const t = io({
      PREFECT_API_URL: 'http://127.0.0.1:9/api',
      PREFECT_CLIENT_MAX_RETRIES: '0',
      STEVEDORE_LOG_LEVEL: 'error',
    });
    expect(await runCli(argv, t)).toBe(0);
    expect(t.errors).toEqual([]);
  });
  it('names the missing infrastructure plugin with --no-default-plugins', async () => {
    const t = io({ PREFECT_API_URL: 'http://127.0.0.1:9/api' });
    expect(await runCli(['start', '--pool', 'p', '--no-default-plugins'], t)).toBe(2);
    expect(t.errors.join('\n')).toBe(
      "No infrastructure 'ecs'. Installed: none. Add @stevedore/ecs-launcher.",
    );
  });
  it('lists every configuration problem at once, naming fields and fixes', async () => {
    const t = io({
      PREFECT_API_URL: 'not a url',
      PREFECT_WORKER_QUERY_SECONDS: 'often',
      STEVEDORE_SUBMISSION_LIMIT: '0',
    });
    expect(await runCli(['start', '--name', 'bad/name', '--limit', '0'], t)).toBe(2);
    const text = t.errors.join('\n');
    expect(text).toMatch(/^Invalid configuration \(\d+ problems\):/);
    expect(text).toContain('querySeconds (env PREFECT_WORKER_QUERY_SECONDS): expected a number, got "often"');
    expect(text).toContain('apiUrl: expected a valid url');
    expect(text).toContain('pool: expected string, got nothing — pass --pool <work pool name>');
    expect(text).toContain("name: expected a name without '/' or '%'");
    expect(text).toContain('limit: expected a value > 0, got number 0');
    expect(text).toContain('submissionLimit: expected a value > 0, got number 0');
  });
  it('rejects a --type other than ecs when only first-party plugins are active', async () => {
    const t = io({ PREFECT_API_URL: 'http://127.0.0.1:1/api' });
    expect(await runCli(['start', '-p', 'p', '-t', 'kubernetes'], t)).toBe(2);
    expect(t.errors.join('\n')).toContain('type: expected \'ecs\', got "kubernetes"');
  });
  it('explains --install-policy as not applicable', async () => {
    const t = io();
    await runCli(['start', '--install-policy', 'always'], t);
    expect(t.errors[0]).toContain('--install-policy is accepted for compatibility and ignored');
  });
  it('says which plugin package is missing', async () => {
    const t = io({ PREFECT_API_URL: 'http://127.0.0.1:1/api' });
    expect(await runCli(['start', '-p', 'p', '--plugin', '@acme/stevedore-nope'], t)).toBe(2);
    expect(t.errors.join('\n')).toContain("Plugin package '@acme/stevedore-nope' is not installed.");
  });
  it('prints help', async () => {
    const t = io();
    expect(await runCli(['start', '--help'], t)).toBe(0);
    expect(t.lines.join('\n')).toContain('--work-queue <name>');
  });
});
