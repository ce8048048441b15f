export { readConfigFile } from './config-file.js';
export { ENV_KEYS, readEnvConfig, workerEnvFrom } from './env-config.js';
export { type CliIo, runCli } from './main.js';
export { DEFAULT_PLUGINS, loadPluginPackage, pluginsFromModule } from './plugins.js';
