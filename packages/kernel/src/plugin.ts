import type { ZodType } from 'zod';
import { kernelErrorCodes, PluginError } from './errors.js';
import type { Infrastructure, Observer, PreflightCheck, TemplateSource } from './extension-points.js';
import type { Token, TokenType } from './tokens.js';

/** A map of dependency names to tokens; resolved instances come back typed. @public */
export type DepsMap = Record<string, Token<unknown>>;

/** The resolved form of a {@link DepsMap}. @public */
export type ResolvedDeps<D extends DepsMap> = { [K in keyof D]: TokenType<D[K]> };

/**
 * How a plugin builds one thing: the tokens it needs, and a factory that receives them plus the
 * plugin's validated config section. Factories run lazily, once.
 * @public
 */
export interface Factory<T, D extends DepsMap, C> {
  deps?: D;
  create(deps: ResolvedDeps<D>, config: C): T;
}

/**
 * What a plugin's `register` receives. Registration only declares things: no I/O, no side effects.
 * @public
 */
export interface PluginRegistrar<C> {
  provideInfrastructure<D extends DepsMap>(factory: Factory<Infrastructure, D, C>): void;
  provideObserver<D extends DepsMap>(factory: Factory<Observer, D, C>): void;
  provideTemplateSource<D extends DepsMap>(factory: Factory<TemplateSource, D, C>): void;
  addPreflightCheck<D extends DepsMap>(factory: Factory<PreflightCheck, D, C>): void;
  /** Binds a single service that this plugin owns (its public API for other plugins). */
  provide<T, D extends DepsMap>(tok: Token<T>, factory: Factory<T, D, C>): void;
  /** Adds one value to a multi-valued extension point (declared by the kernel or by another plugin). */
  contribute<T, D extends DepsMap>(tok: Token<T>, factory: Factory<T, D, C>): void;
  /** IAM actions this plugin needs, printed by `stevedore iam-policy`. */
  requireIamActions(actions: readonly string[]): void;
}

/** A plugin: pure data. @public */
export interface PluginDefinition<C = unknown> {
  /** Unique id, equal to the package suffix (`ecs-launcher`). Lowercase kebab-case. */
  readonly id: string;
  /** Semver range of kernel versions this plugin was built for, e.g. `^0.1.0`. */
  readonly kernel: string;
  /** The npm package that ships it, for error messages ("Add @stevedore/ec2-capacity"). */
  readonly packageName?: string;
  /** Ids of plugins that must be loaded before this one. */
  readonly dependsOn?: readonly string[];
  /** zod schema of the plugin's config section (`plugins.<id>`); validated before anything starts. */
  readonly configSchema?: ZodType<C>;
  register(registrar: PluginRegistrar<C>): void;
}

/** Any plugin, whatever its config type. @public */
// biome-ignore lint/suspicious/noExplicitAny: the config type parameter is erased in plugin lists on purpose.
export type AnyPlugin = PluginDefinition<any>;

const ID = /^[a-z0-9][a-z0-9-]*$/;

/**
 * Declares a plugin. Checks the id and the kernel range, freezes the record and returns it.
 * @throws `KERNEL_PLUGIN_INVALID` when the definition is malformed.
 * @public
 */
export function definePlugin<C = undefined>(definition: PluginDefinition<C>): PluginDefinition<C> {
  const id = (definition as { id?: unknown }).id;
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new PluginError(
      kernelErrorCodes.PLUGIN_INVALID,
      typeof id === 'string' ? id : undefined,
      `Plugin id ${JSON.stringify(id)} is invalid: expected lowercase kebab-case like "ecs-launcher".`,
    );
  }
  if (typeof definition.kernel !== 'string' || definition.kernel.trim() === '') {
    throw new PluginError(
      kernelErrorCodes.PLUGIN_INVALID,
      id,
      `Plugin '${id}' does not declare the kernel range it was built for: set kernel: '^<major>.<minor>.0'.`,
    );
  }
  if (typeof definition.register !== 'function') {
    throw new PluginError(
      kernelErrorCodes.PLUGIN_INVALID,
      id,
      `Plugin '${id}' has no register(registrar) function.`,
    );
  }
  return Object.freeze({ ...definition, dependsOn: Object.freeze([...(definition.dependsOn ?? [])]) });
}

/** True when `value` looks like a plugin definition (used when loading plugins by package name). @public */
export function isPluginDefinition(value: unknown): value is AnyPlugin {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AnyPlugin).id === 'string' &&
    typeof (value as AnyPlugin).kernel === 'string' &&
    typeof (value as AnyPlugin).register === 'function'
  );
}
