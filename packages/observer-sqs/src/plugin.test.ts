import { GetQueueUrlCommand, QueueDoesNotExist, SQSClient } from '@aws-sdk/client-sqs';
import { DescribeTasksObserver, ecsLauncherPlugin } from '@stevedore/ecs-launcher';
import {
  type Factory,
  isStevedoreError,
  kernelErrorCodes,
  kernelTokens,
  type PluginRegistrar,
  type Token,
} from '@stevedore/kernel';
import { createTestKernel } from '@stevedore/testkit';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  OBSERVER_SQS_IAM_ACTIONS,
  type ObserverSqsConfig,
  ObserverSqsConfigSchema,
  observerSqsPlugin,
  observerSqsTokens,
} from './plugin.js';
import { SqsObserver } from './sqs-observer.js';

const API_URL = 'http://127.0.0.1:9/api';
// Every SQSClient the plugin builds answers through this mock.
const sqsMock = mockClient(SQSClient);

function kernel(
  section?: Record<string, unknown>,
  ecsSection: Record<string, unknown> = { cluster: 'prod' },
) {
  return createTestKernel({
    plugins: [ecsLauncherPlugin, observerSqsPlugin],
    apiUrl: API_URL,
    pool: 'pool-a',
    config: { plugins: { 'ecs-launcher': ecsSection, ...(section ? { 'observer-sqs': section } : {}) } },
  });
}

beforeEach(() => {
  sqsMock.reset();
});

describe('observerSqsPlugin', () => {
  it('declares its manifest and depends on ecs-launcher', () => {
    expect(observerSqsPlugin).toMatchObject({
      id: 'observer-sqs',
      kernel: '^0.1.0',
      packageName: '@stevedore/observer-sqs',
      dependsOn: ['ecs-launcher'],
    });
  });

  it('registers the observer behind its token, the observer, the preflight check and its IAM actions', () => {
    const provided: Array<{ kind: string; token?: symbol; deps: string[] }> = [];
    const iam: string[][] = [];
    const record =
      (kind: string) =>
      <D extends Record<string, Token<unknown>>>(f: Factory<unknown, D, ObserverSqsConfig>, tok?: symbol) =>
        provided.push({ kind, token: tok, deps: Object.keys(f.deps ?? {}) });
    const registrar: PluginRegistrar<ObserverSqsConfig> = {
      provideInfrastructure: (f) => record('infrastructure')(f),
      provideObserver: (f) => record('observer')(f),
      provideTemplateSource: (f) => record('templateSource')(f),
      addPreflightCheck: (f) => record('preflight')(f),
      provide: (tok, f) => record('provide')(f, tok),
      contribute: (tok, f) => record('contribute')(f, tok),
      requireIamActions: (actions) => iam.push([...actions]),
    };
    observerSqsPlugin.register(registrar);
    expect(provided).toEqual([
      {
        kind: 'provide',
        token: observerSqsTokens.observer,
        deps: ['worker', 'logger', 'clock', 'ecs', 'events'],
      },
      { kind: 'observer', token: undefined, deps: ['observer'] },
      { kind: 'preflight', token: undefined, deps: ['observer'] },
    ]);
    expect(iam).toEqual([
      [
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
        'ecs:DescribeTasks',
      ],
    ]);
  });

  it('boots in the real kernel next to the DescribeTasks poller, one instance behind the token', () => {
    const k = kernel();
    const observers = k.host.resolveAll(kernelTokens.observer);
    expect(observers.map((o) => [o.name, o.kind, o.infrastructureType])).toEqual([
      ['ecs-describe-tasks', 'polling', 'ecs'],
      ['ecs-sqs-events', 'event', 'ecs'],
    ]);
    expect(observers[0]).toBeInstanceOf(DescribeTasksObserver);
    expect(observers[1]).toBeInstanceOf(SqsObserver);
    expect(k.host.resolve(observerSqsTokens.observer)).toBe(observers[1]);
    expect(k.host.iamActions().find((a) => a.plugin === 'observer-sqs')?.actions).toEqual(
      OBSERVER_SQS_IAM_ACTIONS,
    );
    // The kernel's pool names the queues.
    expect((observers[1] as SqsObserver).queueNames).toEqual([
      'pool-a-ecs-events',
      'prefect-ecs-tasks-events',
      'pool-a-events',
    ]);
  });

  it('takes queueName (the env var, mapped by the CLI) as the only queue', () => {
    const k = kernel({ queueName: 'from-env', queueRegion: 'eu-west-1', waitTimeSeconds: 5 });
    expect(k.host.resolve(observerSqsTokens.observer).queueNames).toEqual(['from-env']);
  });

  it('validates its section with the others, before anything starts', () => {
    expect(ObserverSqsConfigSchema.parse({})).toEqual({
      waitTimeSeconds: 20,
      visibilityTimeoutSeconds: 300,
      enabled: true,
    });
    const e = (() => {
      try {
        kernel({ queueName: 'has spaces', waitTimeSeconds: 30, visibilityTimeoutSeconds: 0, nope: 1 });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(isStevedoreError(e, kernelErrorCodes.CONFIG_INVALID)).toBe(true);
    const message = (e as Error).message;
    expect(message).toContain('plugins.observer-sqs.queueName');
    expect(message).toContain('plugins.observer-sqs.waitTimeSeconds');
    expect(message).toContain('plugins.observer-sqs.visibilityTimeoutSeconds');
    expect(message).toContain('nope');
  });

  it('preflight: a found queue passes; a missing one is a warning naming the fix, never an error', async () => {
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: 'https://sqs/pool-a-ecs-events' });
    const found = await kernel().preflight(new AbortController().signal);
    expect(found).toEqual([
      expect.objectContaining({
        id: 'observer-sqs.queue',
        ok: true,
        message: expect.stringContaining("'pool-a-ecs-events'"),
      }),
    ]);
    sqsMock.on(GetQueueUrlCommand).rejects(new QueueDoesNotExist({ message: 'no', $metadata: {} }));
    const missing = await kernel().preflight(new AbortController().signal);
    expect(missing).toEqual([
      expect.objectContaining({ id: 'observer-sqs.queue', ok: false, severity: 'warning' }),
    ]);
    expect(missing[0]?.message).toContain('stevedore events deploy --pool "pool-a" --cluster prod');
  });

  it('enabled: false makes the preflight check pass without calling AWS', async () => {
    const reports = await kernel({ enabled: false }).preflight(new AbortController().signal);
    expect(reports).toEqual([
      expect.objectContaining({ ok: true, message: 'The SQS events observer is disabled.' }),
    ]);
    expect(sqsMock.calls()).toHaveLength(0);
  });
});
