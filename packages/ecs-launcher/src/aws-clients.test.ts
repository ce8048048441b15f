import { type CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient, ListClustersCommand } from '@aws-sdk/client-ecs';
import { isStevedoreError, systemClock } from '@stevedore/kernel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AwsClientPool,
  type AwsClientSettings,
  AwsCredentialsSchema,
  awsClientSettings,
  clientRegion,
  createEcsClient,
  createLogsClient,
} from './aws-clients.js';
import { ecsErrorCodes } from './errors.js';
import { RATE_BUDGET_MIDDLEWARE_NAME, RateBudget } from './rate-budget.js';

const block = (data: Record<string, unknown>) => AwsCredentialsSchema.parse(data);

/** The URL a client would call, captured before anything leaves the process. */
async function endpointOf(client: ECSClient | CloudWatchLogsClient): Promise<string> {
  let url = '';
  const capture = () => async (args: { request: unknown }) => {
    const request = args.request as { protocol: string; hostname: string; port?: number };
    url = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}`;
    throw new Error('captured');
  };
  if (client instanceof ECSClient) {
    client.middlewareStack.add(capture, { step: 'finalizeRequest' });
    await client.send(new ListClustersCommand({})).catch(() => undefined);
  } else {
    client.middlewareStack.add(capture, { step: 'finalizeRequest' });
    await client.send(new DescribeLogGroupsCommand({})).catch(() => undefined);
  }
  return url;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('awsClientSettings', () => {
  it('gives empty settings for an absent or empty block, leaving the SDK chain in charge', () => {
    expect(awsClientSettings(block({}))).toEqual({ settings: {}, ignoredParameters: [] });
    expect(
      awsClientSettings(
        block({
          region_name: null,
          profile_name: '',
          aws_client_parameters: { use_ssl: true, verify: null },
        }),
      ),
    ).toEqual({ settings: {}, ignoredParameters: [] });
  });

  it('maps region, profile, static keys and endpoint_url', () => {
    expect(
      awsClientSettings(
        block({
          region_name: 'eu-west-1',
          profile_name: 'ops',
          aws_access_key_id: 'AKIAEXAMPLE',
          aws_secret_access_key: 'secret-value',
          aws_session_token: 'session-value',
          aws_client_parameters: {
            endpoint_url: 'http://localhost:4566',
            config: { retries: 3 },
            use_ssl: false,
          },
        }),
      ),
    ).toEqual({
      settings: {
        region: 'eu-west-1',
        profile: 'ops',
        credentials: {
          accessKeyId: 'AKIAEXAMPLE',
          secretAccessKey: 'secret-value',
          sessionToken: 'session-value',
        },
        endpoint: 'http://localhost:4566',
      },
      ignoredParameters: ['config', 'use_ssl'],
    });
  });

  it('rejects half a key pair and assume_role_arn', () => {
    for (const [data, code] of [
      [{ aws_access_key_id: 'AKIA' }, ecsErrorCodes.AWS_CREDENTIALS_INVALID],
      [{ aws_secret_access_key: 'x' }, ecsErrorCodes.AWS_CREDENTIALS_INVALID],
      [{ assume_role_arn: 'arn:aws:iam::1:role/r' }, ecsErrorCodes.AWS_CREDENTIALS_UNSUPPORTED],
    ] as const) {
      let error: unknown;
      try {
        awsClientSettings(block(data));
      } catch (e) {
        error = e;
      }
      expect(isStevedoreError(error, code)).toBe(true);
    }
  });
});

describe('createEcsClient', () => {
  it('uses the standard chain (AWS_REGION, AWS_ENDPOINT_URL_ECS) when settings are empty', async () => {
    vi.stubEnv('AWS_REGION', 'ap-south-1');
    vi.stubEnv('AWS_ENDPOINT_URL_ECS', 'http://127.0.0.1:4599');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAENV');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'env-secret');
    const client = createEcsClient({});
    expect(await clientRegion(client)).toBe('ap-south-1');
    expect(await endpointOf(client)).toBe('http://127.0.0.1:4599');
  });

  it('lets the block override region and endpoint', async () => {
    vi.stubEnv('AWS_REGION', 'ap-south-1');
    const client = createEcsClient({
      region: 'eu-west-1',
      endpoint: 'http://localhost:4566',
      credentials: { accessKeyId: 'AKIA', secretAccessKey: 'x' },
    });
    expect(await clientRegion(client)).toBe('eu-west-1');
    expect(await endpointOf(client)).toBe('http://localhost:4566');
  });
});

describe('createLogsClient', () => {
  it('uses the standard chain, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS included, and retries throttling 8 times', async () => {
    vi.stubEnv('AWS_REGION', 'ap-south-1');
    vi.stubEnv('AWS_ENDPOINT_URL_CLOUDWATCH_LOGS', 'http://127.0.0.1:4598');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAENV');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'env-secret');
    const client = createLogsClient({});
    expect(await clientRegion(client)).toBe('ap-south-1');
    expect(await client.config.maxAttempts()).toBe(8);
    expect(await endpointOf(client)).toBe('http://127.0.0.1:4598');
  });
});

describe('AwsClientPool', () => {
  it('adds the shared rate budget once to every client it hands out, built or given', () => {
    const given = new ECSClient({ region: 'us-east-1' });
    const pool = new AwsClientPool(
      { ecs: given, ec2: (s) => new EC2Client({ region: s.region ?? 'us-east-1' }) },
      new RateBudget({ clock: systemClock }),
    );
    const budgeted = (c: { middlewareStack: { identify(): string[] } }) =>
      c.middlewareStack.identify().filter((m) => m.startsWith(RATE_BUDGET_MIDDLEWARE_NAME)).length;
    pool.ecs({});
    pool.ecs({ region: 'eu-west-1' });
    expect(budgeted(given)).toBe(1);
    expect(budgeted(pool.ec2({ region: 'eu-west-1' }))).toBe(1);
    expect(budgeted(pool.logs({ region: 'eu-west-1' }))).toBe(1);
    pool.destroy();
  });

  it('calls a factory once per distinct settings and passes instances through', () => {
    const made: AwsClientSettings[] = [];
    const ec2 = new EC2Client({ region: 'us-east-1' });
    const pool = new AwsClientPool({
      ecs: (s) => {
        made.push(s);
        return new ECSClient({ region: s.region ?? 'us-east-1' });
      },
      ec2,
    });
    const a = pool.ecs({ region: 'eu-west-1' });
    expect(pool.ecs({ region: 'eu-west-1' })).toBe(a);
    expect(
      pool.ecs({ region: 'eu-west-1', credentials: { accessKeyId: 'A', secretAccessKey: 'B' } }),
    ).not.toBe(a);
    expect(
      pool.ecs({ region: 'eu-west-1', credentials: { accessKeyId: 'A', secretAccessKey: 'C' } }),
    ).not.toBe(a);
    expect(made).toHaveLength(3);
    expect(pool.ec2({ region: 'anything' })).toBe(ec2);
    pool.destroy();
  });
});
