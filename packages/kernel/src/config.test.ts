import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseWorkerConfig } from './config.js';
import { ConfigError } from './errors.js';
import { definePlugin } from './plugin.js';

function issuesOf(input: unknown, plugins = [] as Parameters<typeof parseWorkerConfig>[1]) {
  try {
    parseWorkerConfig(input, plugins);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('parseWorkerConfig', () => {
  it('applies Prefect defaults', () => {
    const { config } = parseWorkerConfig({ apiUrl: 'http://127.0.0.1:4200/api', pool: 'p' }, []);
    expect(config).toMatchObject({
      heartbeatSeconds: 30,
      querySeconds: 10,
      prefetchSeconds: 10,
      workQueues: [],
      createPoolIfNotFound: true,
      enableCancellation: true,
      healthcheckPort: 8080,
    });
  });
  it('lists every problem at once, each with the field, expectation, what was found and the fix', () => {
    const plugin = definePlugin({
      id: 'demo',
      kernel: '^0.1.0',
      configSchema: z.strictObject({ retries: z.number() }),
      register() {},
    });
    const e = issuesOf(
      {
        pool: '',
        limit: 'ten',
        bogus: 1,
        name: 'a/b',
        plugins: { demo: { retries: 'x', extra: true }, nope: {} },
      },
      [plugin],
    );
    const byPath = Object.fromEntries(e.issues.map((i) => [i.path, i]));
    expect(Object.keys(byPath).sort()).toEqual(
      [
        'apiUrl',
        'bogus',
        'limit',
        'name',
        'plugins.demo.extra',
        'plugins.demo.retries',
        'plugins.nope',
        'pool',
      ].sort(),
    );
    expect(byPath.apiUrl).toMatchObject({ received: 'nothing' });
    expect(byPath.apiUrl?.fix).toContain('PREFECT_API_URL');
    expect(byPath.apiUrl?.fix).toContain('stevedore sandbox');
    expect(byPath.limit).toMatchObject({ expected: 'number', received: 'the string "ten"' });
    expect(byPath.bogus).toMatchObject({ received: "unknown key 'bogus'" });
    expect(byPath['plugins.nope']?.fix).toContain("load the plugin 'nope'");
    expect(e.message).toMatch(/^Invalid configuration \(8 problems\):/);
    expect(e.message).toContain(
      '  - limit: expected number, got the string "ten" — pass a whole number ≥ 1 to --limit',
    );
  });
  it('passes each plugin its own parsed section', () => {
    const plugin = definePlugin({
      id: 'demo',
      kernel: '^0.1.0',
      configSchema: z.object({ retries: z.number().default(3) }),
      register() {},
    });
    const { pluginConfigs } = parseWorkerConfig({ apiUrl: 'https://api.prefect.cloud/api', pool: 'p' }, [
      plugin,
    ]);
    expect(pluginConfigs.get('demo')).toEqual({ retries: 3 });
  });
});
