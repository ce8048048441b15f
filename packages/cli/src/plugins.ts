import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ec2CapacityPlugin } from '@stevedore/ec2-capacity';
import { ecsLauncherPlugin } from '@stevedore/ecs-launcher';
import { fargateSpotPlugin } from '@stevedore/fargate-spot';
import { type AnyPlugin, isPluginDefinition, kernelErrorCodes, PluginError } from '@stevedore/kernel';
import { observerSqsPlugin } from '@stevedore/observer-sqs';
import { templateS3Plugin } from '@stevedore/template-s3';

/**
 * First-party plugins the CLI activates by default. Each first-party package joins this list when it
 * registers a plugin (`definePlugin`); `--no-default-plugins` starts from an empty set.
 */
export const DEFAULT_PLUGINS: readonly AnyPlugin[] = [
  ecsLauncherPlugin,
  fargateSpotPlugin,
  ec2CapacityPlugin,
  observerSqsPlugin,
  templateS3Plugin,
];

/** Finds the plugin definitions a module exports (named exports or a `plugin`/`plugins` export). */
export function pluginsFromModule(mod: Record<string, unknown>): AnyPlugin[] {
  const found: AnyPlugin[] = [];
  for (const value of Object.values(mod)) {
    if (isPluginDefinition(value)) found.push(value);
    else if (Array.isArray(value)) for (const v of value) if (isPluginDefinition(v)) found.push(v);
  }
  return [...new Set(found)];
}

/**
 * Loads a plugin package by name: resolved from the working directory's node_modules first, then
 * from the CLI's own dependencies.
 */
export async function loadPluginPackage(name: string, cwd: string): Promise<AnyPlugin[]> {
  let specifier: string | undefined;
  for (const base of [join(cwd, 'package.json'), import.meta.url]) {
    try {
      specifier = pathToFileURL(createRequire(base).resolve(name)).href;
      break;
    } catch {
      // not resolvable from this base; try the next one
    }
  }
  if (!specifier) {
    throw new PluginError(
      kernelErrorCodes.PLUGIN_MISSING,
      undefined,
      `Plugin package '${name}' is not installed. Install it next to your config (npm install ${name}) and try again.`,
    );
  }
  const mod = (await import(specifier)) as Record<string, unknown>;
  const plugins = pluginsFromModule(mod);
  if (plugins.length === 0) {
    throw new PluginError(
      kernelErrorCodes.PLUGIN_INVALID,
      undefined,
      `Package '${name}' exports no Stevedore plugin. A plugin package exports the result of definePlugin(...).`,
    );
  }
  return plugins;
}
