import { createRequire } from 'node:module';
import type { DependencyContainer } from 'tsyringe';
import { kernelErrorCodes, PluginError } from './errors.js';
import type { Logger } from './logger.js';
import type { AnyPlugin, DepsMap, Factory, PluginRegistrar, ResolvedDeps } from './plugin.js';
import { allOfTarget, kernelTokens, type Token } from './tokens.js';
import { KERNEL_VERSION } from './version.js';

// These packages are CommonJS. An ES module's `import` of a CommonJS file costs Node 20 two extra passes over it
// (format detection, a scan for named exports) before the `require` that runs it, so they are required. The same
// module instances either way (one `require` cache): plugins importing tsyringe share its container.
const require = createRequire(import.meta.url);
require('reflect-metadata');
const { container: globalContainer, instanceCachingFactory } =
  require('tsyringe') as typeof import('tsyringe');
// Two functions of semver, not its index (which loads all ~45 of its modules).
const satisfies = require('semver/functions/satisfies.js') as typeof import('semver/functions/satisfies.js');
const validRange = require('semver/ranges/valid.js') as typeof import('semver/ranges/valid.js');

/**
 * The wired plugin graph: a tsyringe container hidden behind typed `resolve` helpers.
 * Plugins never see tsyringe.
 * @public
 */
export interface PluginHost {
  readonly plugins: readonly AnyPlugin[];
  resolve<T>(tok: Token<T>): T;
  /** Every value contributed to a multi-valued token, in plugin order. */
  resolveAll<T>(tok: Token<T>): T[];
  isRegistered(tok: Token<unknown>): boolean;
  /** IAM actions declared by each plugin. */
  iamActions(): ReadonlyArray<{ plugin: string; actions: readonly string[] }>;
}

/** Creates a fresh root container; never tsyringe's global one. @internal */
export function createRootContainer(): DependencyContainer {
  return globalContainer.createChildContainer();
}

function describeToken(tok: symbol): string {
  return tok.description ?? tok.toString();
}

/**
 * Orders plugins so each comes after the plugins it depends on, and checks manifests.
 * A plugin listed twice (the same definition) is kept once; two different definitions with one id fail.
 * @throws `KERNEL_PLUGIN_VERSION_MISMATCH`, `KERNEL_PLUGIN_DUPLICATE`, `KERNEL_PLUGIN_MISSING`
 * @public
 */
export function checkPlugins(plugins: readonly AnyPlugin[], kernelVersion = KERNEL_VERSION): AnyPlugin[] {
  const byId = new Map<string, AnyPlugin>();
  for (const p of plugins) {
    const existing = byId.get(p.id);
    if (existing && existing !== p && existing.packageName !== p.packageName) {
      throw new PluginError(
        kernelErrorCodes.PLUGIN_DUPLICATE,
        p.id,
        `Two different plugins use the id '${p.id}' (${existing.packageName ?? 'unknown package'} and ${p.packageName ?? 'unknown package'}). Remove one of them.`,
      );
    }
    if (!existing) byId.set(p.id, p);
  }
  for (const p of byId.values()) {
    const range = validRange(p.kernel);
    if (!range || !satisfies(kernelVersion, range, { includePrerelease: true })) {
      const pkg = p.packageName ?? `the package that provides '${p.id}'`;
      throw new PluginError(
        kernelErrorCodes.PLUGIN_VERSION_MISMATCH,
        p.id,
        `Plugin '${p.id}' was built for kernel ${p.kernel}, but this is @stevedore/kernel ${kernelVersion}. ` +
          `Install a version of ${pkg} built for kernel ${kernelVersion}, or a kernel that satisfies ${p.kernel}.`,
        { details: { kernelRange: p.kernel, kernelVersion } },
      );
    }
    for (const dep of p.dependsOn ?? []) {
      if (!byId.has(dep)) {
        throw new PluginError(
          kernelErrorCodes.PLUGIN_MISSING,
          p.id,
          `Plugin '${p.id}' needs plugin '${dep}', which is not loaded. Add @stevedore/${dep} to the plugins.`,
          { details: { missing: dep } },
        );
      }
    }
  }
  // Topological order, stable with respect to the given order.
  const ordered: AnyPlugin[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: AnyPlugin, trail: string[]) => {
    const s = state.get(p.id);
    if (s === 'done') return;
    if (s === 'visiting') {
      throw new PluginError(
        kernelErrorCodes.PLUGIN_INVALID,
        p.id,
        `Plugins depend on each other in a cycle: ${[...trail, p.id].join(' → ')}.`,
      );
    }
    state.set(p.id, 'visiting');
    for (const dep of p.dependsOn ?? []) visit(byId.get(dep) as AnyPlugin, [...trail, p.id]);
    state.set(p.id, 'done');
    ordered.push(p);
  };
  for (const p of byId.values()) visit(p, []);
  return ordered;
}

/**
 * Maps plugin records onto tsyringe: one child container per plugin (its logger bound as
 * `logger.child({ plugin: id })`), every contribution registered in the root as a caching factory
 * that resolves its deps from the plugin's child container.
 * @internal
 */
export function wirePlugins(
  root: DependencyContainer,
  plugins: readonly AnyPlugin[],
  pluginConfigs: ReadonlyMap<string, unknown>,
  logger: Logger,
): PluginHost {
  const ordered = checkPlugins(plugins);
  const iam: Array<{ plugin: string; actions: readonly string[] }> = [];
  for (const plugin of ordered) {
    const child = root.createChildContainer();
    child.register(kernelTokens.logger, { useValue: logger.child({ plugin: plugin.id }) });
    const config = pluginConfigs.get(plugin.id);
    const bind = <T, D extends DepsMap>(tok: Token<T>, factory: Factory<T, D, unknown>) => {
      root.register(tok, {
        useFactory: instanceCachingFactory(() => {
          const deps = {} as Record<string, unknown>;
          for (const [name, depToken] of Object.entries(factory.deps ?? {})) {
            const all = allOfTarget(depToken);
            if (all !== undefined) {
              deps[name] = child.isRegistered(all, true) ? child.resolveAll(all) : [];
              continue;
            }
            if (!child.isRegistered(depToken, true)) {
              throw new PluginError(
                kernelErrorCodes.PLUGIN_MISSING,
                plugin.id,
                `Plugin '${plugin.id}' needs '${describeToken(depToken)}' (as '${name}'), but nothing provides it. ` +
                  'Load the plugin that provides it, or check the plugin order.',
              );
            }
            deps[name] = child.resolve(depToken);
          }
          return factory.create(deps as ResolvedDeps<D>, config);
        }),
      });
    };
    const registrar: PluginRegistrar<unknown> = {
      provideInfrastructure: (f) => bind(kernelTokens.infrastructure, f),
      provideObserver: (f) => bind(kernelTokens.observer, f),
      provideTemplateSource: (f) => bind(kernelTokens.templateSource, f),
      addPreflightCheck: (f) => bind(kernelTokens.preflightCheck, f),
      provide: (tok, f) => bind(tok, f),
      contribute: (tok, f) => bind(tok, f),
      requireIamActions: (actions) => {
        iam.push({ plugin: plugin.id, actions: Object.freeze([...actions]) });
      },
    };
    plugin.register(registrar);
  }
  return {
    plugins: ordered,
    resolve: <T>(tok: Token<T>) => {
      if (!root.isRegistered(tok, true)) {
        throw new PluginError(
          kernelErrorCodes.PLUGIN_MISSING,
          undefined,
          `Nothing provides '${describeToken(tok)}'. Did you forget to add the plugin?`,
        );
      }
      return root.resolve<T>(tok);
    },
    resolveAll: <T>(tok: Token<T>) => (root.isRegistered(tok, true) ? root.resolveAll<T>(tok) : []),
    isRegistered: (tok) => root.isRegistered(tok, true),
    iamActions: () => iam,
  };
}
