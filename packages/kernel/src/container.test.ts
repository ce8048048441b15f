import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import pkg from '../package.json' with { type: 'json' };
import { checkPlugins, createRootContainer, wirePlugins } from './container.js';
import { isStevedoreError, kernelErrorCodes } from './errors.js';
import type { Infrastructure } from './extension-points.js';
import { createMemoryLogger } from './logger.js';
import { definePlugin } from './plugin.js';
import { allOf, kernelTokens, token } from './tokens.js';
import { KERNEL_VERSION } from './version.js';

const infra = (type: string): Infrastructure => ({
  type,
  defaultBaseJobTemplate: () => ({ job_configuration: {}, variables: { properties: {} } }),
  submit: async () => ({ identifier: 'x' }),
  kill: async () => {},
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('definePlugin', () => {
  it('freezes a valid definition', () => {
    const p = definePlugin({ id: 'demo', kernel: '^0.1.0', register() {} });
    expect(Object.isFrozen(p)).toBe(true);
  });
  it.each([['Demo'], ['demo plugin'], [''], ['-x']])('rejects the id %j', (id) => {
    const e = catchError(() => definePlugin({ id, kernel: '^0.1.0', register() {} }));
    expect(isStevedoreError(e, kernelErrorCodes.PLUGIN_INVALID)).toBe(true);
  });
  it('requires a kernel range', () => {
    const e = catchError(() => definePlugin({ id: 'demo', kernel: '', register() {} }));
    expect((e as Error).message).toContain("Plugin 'demo' does not declare the kernel range");
  });
});

describe('checkPlugins', () => {
  it('keeps the kernel version in step with package.json', () => {
    expect(KERNEL_VERSION).toBe(pkg.version);
  });
  it('rejects a plugin built for another kernel, naming both versions and the package', () => {
    const p = definePlugin({ id: 'old', kernel: '^9.0.0', packageName: '@acme/old', register() {} });
    const e = catchError(() => checkPlugins([p]));
    expect(isStevedoreError(e, kernelErrorCodes.PLUGIN_VERSION_MISMATCH)).toBe(true);
    expect((e as Error).message).toBe(
      `Plugin 'old' was built for kernel ^9.0.0, but this is @stevedore/kernel ${KERNEL_VERSION}. Install a version of @acme/old built for kernel ${KERNEL_VERSION}, or a kernel that satisfies ^9.0.0.`,
    );
  });
  it('names a missing dependency and the package to add', () => {
    const p = definePlugin({
      id: 'fargate-spot',
      kernel: '^0.1.0',
      dependsOn: ['ecs-launcher'],
      register() {},
    });
    const e = catchError(() => checkPlugins([p]));
    expect(isStevedoreError(e, kernelErrorCodes.PLUGIN_MISSING)).toBe(true);
    expect((e as Error).message).toContain(
      "needs plugin 'ecs-launcher', which is not loaded. Add @stevedore/ecs-launcher",
    );
  });
  it('orders plugins after their dependencies and ignores the same plugin listed twice', () => {
    const a = definePlugin({ id: 'a', kernel: '^0.1.0', register() {} });
    const b = definePlugin({ id: 'b', kernel: '^0.1.0', dependsOn: ['a'], register() {} });
    expect(checkPlugins([b, a, b]).map((p) => p.id)).toEqual(['a', 'b']);
  });
  it('rejects two different plugins with one id', () => {
    const a1 = definePlugin({ id: 'a', kernel: '^0.1.0', packageName: 'x', register() {} });
    const a2 = definePlugin({ id: 'a', kernel: '^0.1.0', packageName: 'y', register() {} });
    expect(
      isStevedoreError(
        catchError(() => checkPlugins([a1, a2])),
        kernelErrorCodes.PLUGIN_DUPLICATE,
      ),
    ).toBe(true);
  });
  it('detects dependency cycles', () => {
    const a = definePlugin({ id: 'a', kernel: '^0.1.0', dependsOn: ['b'], register() {} });
    const b = definePlugin({ id: 'b', kernel: '^0.1.0', dependsOn: ['a'], register() {} });
    expect((catchError(() => checkPlugins([a, b])) as Error).message).toContain('cycle');
  });
});

describe('wirePlugins', () => {
  it('resolves contributions lazily, once, with typed deps and a per-plugin logger', () => {
    const logger = createMemoryLogger();
    const greeting = token<{ hello(): string }>('test.greeting');
    let created = 0;
    const provider = definePlugin({
      id: 'provider',
      kernel: '^0.1.0',
      register(r) {
        r.provide(greeting, {
          deps: { logger: kernelTokens.logger },
          create: ({ logger: l }) => {
            created += 1;
            l.info('created');
            return { hello: () => 'hi' };
          },
        });
      },
    });
    const consumer = definePlugin({
      id: 'consumer',
      kernel: '^0.1.0',
      dependsOn: ['provider'],
      configSchema: z.object({ suffix: z.string() }),
      register(r) {
        r.provideInfrastructure({
          deps: { greeting },
          create: ({ greeting: g }, config) => infra(`${g.hello()}-${config.suffix}`),
        });
        r.requireIamActions(['ecs:RunTask']);
      },
    });
    const root = createRootContainer();
    root.register(kernelTokens.logger, { useValue: logger });
    const host = wirePlugins(
      root,
      [provider, consumer],
      new Map([['consumer', { suffix: 'there' }]]),
      logger,
    );
    expect(created).toBe(0);
    expect(host.resolveAll(kernelTokens.infrastructure).map((i) => i.type)).toEqual(['hi-there']);
    host.resolveAll(kernelTokens.infrastructure);
    expect(created).toBe(1);
    expect(logger.records.find((r) => r.message === 'created')?.meta).toEqual({ plugin: 'provider' });
    expect(host.iamActions()).toEqual([{ plugin: 'consumer', actions: ['ecs:RunTask'] }]);
  });
  it('explains a dependency nobody provides', () => {
    const logger = createMemoryLogger();
    const missing = token<string>('test.missing');
    const p = definePlugin({
      id: 'needy',
      kernel: '^0.1.0',
      register(r) {
        r.provideInfrastructure({ deps: { m: missing }, create: () => infra('x') });
      },
    });
    const host = wirePlugins(createRootContainer(), [p], new Map(), logger);
    const e = catchError(() => host.resolveAll(kernelTokens.infrastructure));
    expect((e as Error).message).toContain(
      "Plugin 'needy' needs 'stevedore:test.missing' (as 'm'), but nothing provides it.",
    );
  });
  it('hands a factory every contribution of a multi-valued token with allOf (none: an empty list)', () => {
    const logger = createMemoryLogger();
    const kinds = token<string>('test.kinds');
    const host = definePlugin({
      id: 'host',
      kernel: '^0.1.0',
      register(r) {
        r.provideInfrastructure({
          deps: { kinds: allOf(kinds) },
          create: ({ kinds }) => infra(kinds.join('+') || 'none'),
        });
      },
    });
    const adds = (id: string) =>
      definePlugin({ id, kernel: '^0.1.0', register: (r) => r.contribute(kinds, { create: () => id }) });
    const wired = wirePlugins(createRootContainer(), [host, adds('a'), adds('b')], new Map(), logger);
    expect(wired.resolveAll(kernelTokens.infrastructure).map((i) => i.type)).toEqual(['a+b']);
    const alone = wirePlugins(createRootContainer(), [host], new Map(), logger);
    expect(alone.resolveAll(kernelTokens.infrastructure).map((i) => i.type)).toEqual(['none']);
  });
  it('uses a fresh container each time (no global state)', () => {
    const logger = createMemoryLogger();
    const p = definePlugin({
      id: 'p',
      kernel: '^0.1.0',
      register: (r) => r.provideInfrastructure({ create: () => infra('p') }),
    });
    const h1 = wirePlugins(createRootContainer(), [p], new Map(), logger);
    const h2 = wirePlugins(createRootContainer(), [], new Map(), logger);
    expect(h1.resolveAll(kernelTokens.infrastructure)).toHaveLength(1);
    expect(h2.resolveAll(kernelTokens.infrastructure)).toHaveLength(0);
  });
});
