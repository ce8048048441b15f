/**
 * Points the AWS SDK's standard configuration chain of this process at an emulator: every `AWS_*` variable is removed
 * (a developer's own `AWS_PROFILE` or keys must not leak into a test), then `AWS_ENDPOINT_URL`, `AWS_REGION`, test
 * credentials, `AWS_EC2_METADATA_DISABLED` and the SDK's Node-version warning switch are set. Returns the function that
 * puts every `AWS_*` variable back as it was (call it in `afterEach` / `afterAll` or a cleanup list).
 *
 * Only for code that builds its own SDK clients from the environment (the CLI, plugins' default client factories);
 * code that takes clients should get `awsClientConfig(aws)` clients instead.
 * @public
 */
export function pointAwsSdkAt(aws: { endpoint: string; region: string }): () => void {
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('AWS_'));
  const clear = (): void => {
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
  };
  clear();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_REGION: aws.region,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  return () => {
    clear();
    for (const [k, v] of saved) process.env[k] = v;
  };
}
