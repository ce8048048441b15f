import { ecsLauncherPlugin } from '@stevedore/ecs-launcher';
import { isStevedoreError, kernelErrorCodes } from '@stevedore/kernel';
import {
  type AwsEmulator,
  createTestKernel,
  type JsonObject,
  pointAwsSdkAt,
  startAwsEmulator,
  startPrefectEmulator,
} from '@stevedore/testkit';
import { describeTemplateSourceConformance } from '@stevedore/testkit/conformance';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { S3TemplateSource, templateS3Plugin } from './index.js';

let restoreEnv: () => void = () => {};
function pointSdkAt(aws: AwsEmulator): void {
  restoreEnv = pointAwsSdkAt(aws);
}

const TD_YAML =
  'family: from-s3\ncpu: "2048"\nmemory: "4096"\ncontainerDefinitions:\n  - name: prefect\n    image: acme/from-s3:1\n';

describe('S3TemplateSource', () => {
  let aws: AwsEmulator;
  beforeAll(async () => {
    aws = await startAwsEmulator({ region: 'us-east-1' });
    pointSdkAt(aws);
    aws.s3.putObject('templates', 'td.json', '{"family": "etl", "cpu": "1024"}', 'application/json');
    // YAML by content: no extension, a generic content type.
    aws.s3.putObject('templates', 'task-definition', 'family: etl\ncpu: "1024"\n');
    aws.s3.putObject('templates', 'broken.json', '{"unclosed": [');
  });
  afterAll(async () => {
    await aws.stop();
    restoreEnv();
  });

  describeTemplateSourceConformance('S3TemplateSource (S3 emulator)', async () => ({
    source: new S3TemplateSource(),
    json: { url: new URL('s3://templates/td.json'), expected: { family: 'etl', cpu: '1024' } },
    yaml: { url: new URL('s3://templates/task-definition'), expected: { family: 'etl', cpu: '1024' } },
    missing: new URL('s3://templates/missing.yaml'),
    invalid: new URL('s3://templates/broken.json'),
  }));

  const signal = () => AbortSignal.timeout(5000);

  it('revalidates with the ETag: a second read is a 304 that reuses the cached body', async () => {
    const source = new S3TemplateSource();
    const url = new URL('s3://templates/td.json');
    const before = aws.requests.length;
    expect(await source.read(url, { signal: signal() })).toEqual({ family: 'etl', cpu: '1024' });
    expect(await source.read(url, { signal: signal() })).toEqual({ family: 'etl', cpu: '1024' });
    const gets = aws.requests.slice(before).filter((r) => r.operation === 'GetObject');
    expect(gets.map((r) => r.status)).toEqual([200, 304]);
    // A changed object is read again.
    aws.s3.putObject('templates', 'td.json', '{"family": "etl", "cpu": "2048"}');
    expect(await source.read(url, { signal: signal() })).toEqual({ family: 'etl', cpu: '2048' });
    aws.s3.putObject('templates', 'td.json', '{"family": "etl", "cpu": "1024"}');
  });

  it('names the bucket, the key and the IAM action on AccessDenied, and the key on NoSuchKey', async () => {
    aws.s3.putObject('private', 'td.yaml', 'family: x\n');
    aws.s3.deny('private');
    const source = new S3TemplateSource();
    const denied = await source
      .read(new URL('s3://private/td.yaml'), { signal: signal() })
      .catch((e: unknown) => e);
    expect((denied as Error).message).toBe(
      "Template s3://private/td.yaml: access denied. The worker's AWS identity needs s3:GetObject on arn:aws:s3:::private/td.yaml (and the bucket policy must allow it).",
    );
    const missing = await source
      .read(new URL('s3://templates/nope.yaml'), { signal: signal() })
      .catch((e: unknown) => e);
    expect(isStevedoreError(missing, kernelErrorCodes.TEMPLATE_NOT_FOUND)).toBe(true);
    expect((missing as Error).message).toBe(
      "Template s3://templates/nope.yaml does not exist: bucket 'templates' has no key 'nope.yaml'.",
    );
    const noBucket = await source
      .read(new URL('s3://nobucket/x.yaml'), { signal: signal() })
      .catch((e: unknown) => e);
    expect((noBucket as Error).message).toBe(
      "Template s3://nobucket/x.yaml: bucket 'nobucket' does not exist.",
    );
    expect((denied as Error).stack ?? '').not.toMatch(/node_modules\/@aws-sdk/);
  });

  it('finds a bucket in another region through the 301 redirect', async () => {
    aws.s3.createBucket('eu-templates', 'eu-west-1');
    aws.s3.putObject('eu-templates', 'td.json', '{"family": "eu"}');
    const source = new S3TemplateSource();
    expect(await source.read(new URL('s3://eu-templates/td.json'), { signal: signal() })).toEqual({
      family: 'eu',
    });
    expect(aws.requests.some((r) => r.operation === 'GetObject' && r.status === 301)).toBe(true);
  });
});

describe('templates from S3, end to end through the worker', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  it('registers the task definition of an s3:// template (ecs-launcher taskDefinition)', async () => {
    const prefect = await startPrefectEmulator({ mode: '3' });
    cleanups.push(() => prefect.stop());
    const aws = await startAwsEmulator({ region: 'us-east-1' });
    cleanups.push(() => aws.stop());
    pointSdkAt(aws);
    cleanups.push(restoreEnv);
    aws.s3.putObject('templates', 'ecs/task-definition.yaml', TD_YAML);
    prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
    const flow = prefect.seedFlow({ name: 'etl' });
    const deployment = prefect.seedDeployment({
      flow_id: flow.id,
      name: 'nightly',
      work_pool_name: 'ecs-pool',
      job_variables: { env: { STEVEDORE_SIM_OUTCOME: 'complete', STEVEDORE_SIM_RUN_MS: '20' } },
    });
    const kernel = createTestKernel({
      plugins: [ecsLauncherPlugin, templateS3Plugin],
      apiUrl: prefect.url,
      pool: 'ecs-pool',
      config: {
        querySeconds: 0.1,
        trackerPollSeconds: 0.1,
        plugins: {
          'ecs-launcher': {
            taskDefinition: 's3://templates/ecs/task-definition.yaml',
            observer: { pollSeconds: 0.1 },
          },
        },
      },
      overrides: { workerEnv: { PREFECT_API_URL: prefect.url } },
    });
    const handle = kernel.start();
    cleanups.push(() => handle.stop());
    const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
    const deadline = Date.now() + 15_000;
    while (prefect.getFlowRun(run.id)?.state?.type !== 'COMPLETED') {
      if (Date.now() > deadline) throw new Error(`run is ${prefect.getFlowRun(run.id)?.state?.type}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const registered = aws.requests.find((r) => r.operation === 'RegisterTaskDefinition')
      ?.input as JsonObject;
    expect(registered.cpu).toBe('2048');
    expect((registered.containerDefinitions as JsonObject[])[0]?.image).toBe('acme/from-s3:1');
    expect(aws.requests.filter((r) => r.operation === 'GetObject').length).toBeGreaterThanOrEqual(1);
    expect(aws.schemaErrors()).toEqual([]);
  });
});
