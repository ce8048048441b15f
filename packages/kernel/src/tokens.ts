import type { Clock } from './clock.js';
import type { WorkerConfig } from './config.js';
import type { EventEmitter } from './events/types.js';
import type { Infrastructure, Observer, PreflightCheck, TemplateSource } from './extension-points.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { PrefectApi } from './prefect/api.js';
import type { TemplateLoader } from './template-sources/loader.js';

/**
 * A DI token that carries the type of what it resolves to (Backstage's `ServiceRef.T` idea).
 * Built on `Symbol.for`, so two installed copies of the kernel agree on every token.
 * @public
 */
export type Token<T> = symbol & { readonly __type?: T };

/** Creates (or finds) the token `stevedore:<id>`. @public */
export function token<T>(id: string): Token<T> {
  return Symbol.for(`stevedore:${id}`) as Token<T>;
}

const allOfTokens = new Map<symbol, symbol>();

/**
 * A dependency on every value contributed to a multi-valued token (`registrar.contribute`), in plugin order; an
 * empty list when nothing contributes. Use it in a factory's `deps`: `deps: { all: allOf(someToken) }`.
 * @public
 */
export function allOf<T>(tok: Token<T>): Token<T[]> {
  const all = Symbol.for(`stevedore:all-of:${tok.description ?? ''}`);
  allOfTokens.set(all, tok);
  return all as Token<T[]>;
}

/** The multi-valued token an {@link allOf} token stands for, if it is one. @internal */
export function allOfTarget(tok: symbol): symbol | undefined {
  return allOfTokens.get(tok);
}

/** The type a token resolves to. @public */
export type TokenType<K> = K extends Token<infer T> ? T : never;

/**
 * Tokens of the services the kernel provides to plugins, and of the kernel's extension points.
 * `infrastructure`, `observer`, `templateSource` and `preflightCheck` are multi-valued: every plugin
 * may contribute to them.
 * @public
 */
export const kernelTokens = Object.freeze({
  logger: token<Logger>('kernel.logger'),
  clock: token<Clock>('kernel.clock'),
  config: token<WorkerConfig>('kernel.config'),
  prefectApi: token<PrefectApi>('kernel.prefectApi'),
  /** Sends Prefect events (`emit` never blocks); `enabled` is false when events are off or unsupported. */
  events: token<EventEmitter>('kernel.events'),
  templateLoader: token<TemplateLoader>('kernel.templateLoader'),
  /** The Prometheus registry served at `GET /metrics`; plugins add their series. */
  metrics: token<Metrics>('kernel.metrics'),
  infrastructure: token<Infrastructure>('kernel.infrastructure'),
  observer: token<Observer>('kernel.observer'),
  templateSource: token<TemplateSource>('kernel.templateSource'),
  preflightCheck: token<PreflightCheck>('kernel.preflightCheck'),
});
