import { createHash } from 'node:crypto';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ECSClient } from '@aws-sdk/client-ecs';
import { z } from 'zod';
import { ecsSdk, loadLogsSdk } from './aws-sdk.js';
import { loadEc2 } from './ec2-module.js';
import { EcsError, ecsErrorCodes } from './errors.js';
import { type AwsAttemptObserver, installRateBudget, type RateBudget } from './rate-budget.js';

const optionalString = z
  .string()
  .nullish()
  .transform((v) => (v === undefined || v === null || v === '' ? null : v));

/**
 * The `aws_credentials` block as it reaches the job configuration (Prefect's `AwsCredentials`, resolved from
 * its block document). Unknown keys are kept and ignored.
 * @public
 */
export const AwsCredentialsSchema = z
  .object({
    aws_access_key_id: optionalString,
    aws_secret_access_key: optionalString,
    aws_session_token: optionalString,
    profile_name: optionalString,
    region_name: optionalString,
    aws_client_parameters: z
      .looseObject({ endpoint_url: optionalString })
      .nullish()
      .transform((v) => v ?? { endpoint_url: null }),
    assume_role_arn: optionalString,
  })
  .loose();

/** @public */
export type AwsCredentialsBlock = z.output<typeof AwsCredentialsSchema>;

/**
 * What an AWS client is built from. Every field is optional: an absent field leaves the SDK's standard
 * configuration chain in charge (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL_ECS`, instance roles, …).
 * @public
 */
export interface AwsClientSettings {
  region?: string;
  profile?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  endpoint?: string;
}

/** {@link awsClientSettings}' result: the settings and the block keys this worker does not apply. @public */
export interface ResolvedAwsClientSettings {
  settings: AwsClientSettings;
  /** `aws_client_parameters` keys that were set but have no equivalent here (boto-only options). */
  ignoredParameters: string[];
}

/** Non-null `aws_client_parameters` defaults (any other key is a no-op when null). */
const CLIENT_PARAMETER_DEFAULTS: Record<string, unknown> = { use_ssl: true };

/**
 * Maps the pool's `aws_credentials` block onto AWS SDK client settings: `region_name` → `region`,
 * `profile_name` → `profile`, the static keys → `credentials`, `aws_client_parameters.endpoint_url` → `endpoint`.
 *
 * @remarks The reference builds a boto3 session from the same block (spec §2.4: "region from the credentials
 * block, otherwise from the boto defaults"). `assume_role_arn` is refused rather than ignored: running tasks
 * in the wrong account would be worse than not running them.
 * @throws `ECS_AWS_CREDENTIALS_INVALID` for a key id without its secret (or the reverse);
 * `ECS_AWS_CREDENTIALS_UNSUPPORTED` for `assume_role_arn`.
 * @public
 */
export function awsClientSettings(block: AwsCredentialsBlock): ResolvedAwsClientSettings {
  const settings: AwsClientSettings = {};
  if (block.region_name) settings.region = block.region_name;
  if (block.profile_name) settings.profile = block.profile_name;
  const keyId = block.aws_access_key_id;
  const secret = block.aws_secret_access_key;
  if ((keyId === null) !== (secret === null)) {
    throw new EcsError(
      ecsErrorCodes.AWS_CREDENTIALS_INVALID,
      `The work pool's aws_credentials block sets ${keyId ? 'aws_access_key_id' : 'aws_secret_access_key'} without ${
        keyId ? 'aws_secret_access_key' : 'aws_access_key_id'
      }. Set both, or neither to use the default AWS credential chain.`,
    );
  }
  if (keyId !== null && secret !== null) {
    settings.credentials = { accessKeyId: keyId, secretAccessKey: secret };
    if (block.aws_session_token) settings.credentials.sessionToken = block.aws_session_token;
  }
  if (block.assume_role_arn) {
    throw new EcsError(
      ecsErrorCodes.AWS_CREDENTIALS_UNSUPPORTED,
      'The aws_credentials block sets assume_role_arn, which this worker does not support yet. Give the worker ' +
        'credentials for the target account (environment, profile or instance role), or remove assume_role_arn.',
    );
  }
  const params = block.aws_client_parameters;
  if (params.endpoint_url) settings.endpoint = params.endpoint_url;
  const ignoredParameters = Object.entries(params)
    .filter(
      ([k, v]) => k !== 'endpoint_url' && v !== undefined && v !== null && v !== CLIENT_PARAMETER_DEFAULTS[k],
    )
    .map(([k]) => k);
  return { settings, ignoredParameters };
}

/** An AWS client, or a factory making one per distinct {@link AwsClientSettings}. @public */
export type AwsClientSource<C> = C | ((settings: AwsClientSettings) => C);

/**
 * The AWS clients {@link EcsInfrastructure} uses. Give instances to use one client for every pool (tests, a
 * single account), or factories to honour each pool's `aws_credentials` block. `logs` (CloudWatch Logs, for
 * crash logs) defaults to {@link createLogsClient}.
 * @public
 */
export interface EcsClientSources {
  ecs: AwsClientSource<ECSClient>;
  ec2: AwsClientSource<EC2Client>;
  logs?: AwsClientSource<CloudWatchLogsClient>;
}

/**
 * Retry settings of the clients the default factories build: the SDK's `standard` strategy (exponential backoff
 * with jitter, throttling errors retried on a longer base delay) with 8 attempts instead of 3, so a throttled call
 * rides out a few seconds of throttling instead of failing.
 *
 * @remarks Not `adaptive`: its client-side rate limiter is per client and sleeps without honouring the abort
 * signal, while the infrastructure's {@link RateBudget} already adapts the rate per API, shared by all clients.
 * @public
 */
export const AWS_SDK_RETRY_SETTINGS = Object.freeze({ retryMode: 'standard', maxAttempts: 8 } as const);

/** Builds an `ECSClient` from settings; absent settings fall through to the SDK's own chain. @public */
export function createEcsClient(settings: AwsClientSettings): ECSClient {
  return new ecsSdk.ECSClient({ ...AWS_SDK_RETRY_SETTINGS, ...settings });
}

/** Builds an `EC2Client` from settings; absent settings fall through to the SDK's own chain. @public */
export function createEc2Client(settings: AwsClientSettings): EC2Client {
  const { EC2Client } = loadEc2();
  return new EC2Client({ ...AWS_SDK_RETRY_SETTINGS, ...settings });
}

/**
 * Builds a `CloudWatchLogsClient` from settings; absent settings fall through to the SDK's own chain
 * (including `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`).
 * @public
 */
export function createLogsClient(settings: AwsClientSettings): CloudWatchLogsClient {
  return new (loadLogsSdk().CloudWatchLogsClient)({ ...AWS_SDK_RETRY_SETTINGS, ...settings });
}

/** Factories building real SDK clients from each pool's `aws_credentials`. @public */
export const defaultEcsClientSources: EcsClientSources = Object.freeze({
  ecs: createEcsClient,
  ec2: createEc2Client,
  logs: createLogsClient,
});

/**
 * Caches clients per distinct settings, like the reference caches boto3 clients per credentials (spec §2.4).
 * Secrets are hashed into the cache key, never kept as key text.
 * @internal
 */
export class AwsClientPool {
  private readonly ecsClients = new Map<string, ECSClient>();
  private readonly ec2Clients = new Map<string, EC2Client>();
  private readonly logsClients = new Map<string, CloudWatchLogsClient>();
  private readonly budgeted = new WeakSet<object>();

  /**
   * @param budget - when given, added to every client the pool hands out (built or given), once per client, so
   *   all of them share one rate budget per API.
   */
  constructor(
    private readonly sources: EcsClientSources,
    private readonly budget?: RateBudget,
    private readonly observe?: AwsAttemptObserver,
  ) {}

  ecs(settings: AwsClientSettings): ECSClient {
    const client = pick(this.sources.ecs, this.ecsClients, settings);
    if (this.budget && this.firstSight(client)) installRateBudget(client, this.budget, 'ecs', this.observe);
    return client;
  }

  ec2(settings: AwsClientSettings): EC2Client {
    const client = pick(this.sources.ec2, this.ec2Clients, settings);
    if (this.budget && this.firstSight(client)) installRateBudget(client, this.budget, 'ec2', this.observe);
    return client;
  }

  logs(settings: AwsClientSettings): CloudWatchLogsClient {
    const client = pick(this.sources.logs ?? createLogsClient, this.logsClients, settings);
    if (this.budget && this.firstSight(client)) installRateBudget(client, this.budget, 'logs', this.observe);
    return client;
  }

  /** Destroys the clients this pool built (never the instances it was given). */
  destroy(): void {
    for (const c of [...this.ecsClients.values(), ...this.ec2Clients.values(), ...this.logsClients.values()])
      c.destroy();
    this.ecsClients.clear();
    this.ec2Clients.clear();
    this.logsClients.clear();
  }

  /** True the first time `client` is seen (the budget is added once per client). */
  private firstSight(client: object): boolean {
    if (this.budgeted.has(client)) return false;
    this.budgeted.add(client);
    return true;
  }
}

function pick<C>(source: AwsClientSource<C>, cache: Map<string, C>, settings: AwsClientSettings): C {
  if (typeof source !== 'function') return source;
  const key = settingsKey(settings);
  let client = cache.get(key);
  if (client === undefined) {
    client = (source as (s: AwsClientSettings) => C)(settings);
    cache.set(key, client);
  }
  return client;
}

function settingsKey(s: AwsClientSettings): string {
  const c = s.credentials;
  const secret = c
    ? createHash('sha256')
        .update(`${c.secretAccessKey}\0${c.sessionToken ?? ''}`)
        .digest('hex')
    : null;
  return JSON.stringify([
    s.region ?? null,
    s.profile ?? null,
    s.endpoint ?? null,
    c?.accessKeyId ?? null,
    secret,
  ]);
}

/**
 * The region an SDK client resolved (its own setting or the SDK chain), used for `awslogs-region`
 * (spec §2.4 A.5 "client region") and for the kill-time region check.
 * @internal
 */
export async function clientRegion(client: { config: { region: unknown } }): Promise<string | undefined> {
  const r = client.config.region;
  try {
    const value = typeof r === 'function' ? await (r as () => Promise<unknown>)() : r;
    return typeof value === 'string' && value !== '' ? value : undefined;
  } catch {
    // No region anywhere in the chain: callers treat "unknown" as "do not compare", and the AWS call itself
    // then fails with the SDK's own "Region is missing" error, which names the fix.
    return undefined;
  }
}
