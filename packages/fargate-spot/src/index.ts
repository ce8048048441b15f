/**
 * @stevedore/fargate-spot — planned; see README.md. The package exists so the workspace's shape and versioning
 * are fixed; it registers no plugin yet, and the CLI does not load it.
 * @packageDocumentation
 */

/** The plugin id this package will register, equal to its package suffix. @public */
export const PLUGIN_ID = 'fargate-spot';
