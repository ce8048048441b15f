/**
 * The kernel's own version; plugin manifests declare a semver range it must satisfy.
 * Kept in step with package.json by a unit test.
 * @public
 */
export const KERNEL_VERSION = '0.1.0';
