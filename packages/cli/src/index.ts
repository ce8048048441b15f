export { type CliIo, runCli } from './main.js';
export { DEFAULT_PLUGINS, loadPluginPackage, pluginsFromModule } from './plugins.js';
export { readEnvConfig, workerEnvFrom, ENV_KEYS } from './env-config.js';
export { readConfigFile } from './config-file.js';
