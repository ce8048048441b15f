import {
  ClientException,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  ServerException,
} from '@aws-sdk/client-ecs';
import { isStevedoreError, type Logger, type LogMeta } from '@stevedore/kernel';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ecsErrorCodes } from './errors.js';
import { defaultEcsRetryOptions } from './retry.js';
import { taskDefinitionHash } from './task-definition.js';
import {
  describeExistingTaskDefinition,
  type GetOrRegisterOptions,
  TASK_DEFINITION_HASH_TAG,
  TaskDefinitionRegistry,
} from './task-definition-registry.js';

const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: 'us-east-1' });
const FAMILY = 'prefect_pool_dep-1';
const ARN = (rev: number) => `arn:aws:ecs:us-east-1:111122223333:task-definition/${FAMILY}:${rev}`;
const PREPARED = {
  family: FAMILY,
  containerDefinitions: [{ name: 'prefect', image: 'prefecthq/prefect:3-latest' }],
  cpu: '1024',
  memory: '2048',
  requiresCompatibilities: ['FARGATE' as const],
  networkMode: 'awsvpc' as const,
};
const HASH = taskDefinitionHash(PREPARED);

interface Entry {
  level: string;
  message: string;
  meta: LogMeta;
}
function memoryLogger(entries: Entry[] = []): Logger & { entries: Entry[] } {
  const log =
    (level: string) =>
    (message: string, meta: LogMeta = {}) =>
      entries.push({ level, message, meta });
  return {
    entries,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => memoryLogger(entries),
  };
}

let sleeps: number[];
let registry: TaskDefinitionRegistry;
let logger: ReturnType<typeof memoryLogger>;

function opts(extra: Partial<GetOrRegisterOptions> = {}): GetOrRegisterOptions {
  return {
    cacheKey: 'dep-1',
    matchLatestRevisionInFamily: false,
    autoDeregister: false,
    logger,
    signal: new AbortController().signal,
    ...extra,
  };
}

const described = (rev: number, extra: Record<string, unknown> = {}, hash?: string) => ({
  taskDefinition: {
    ...PREPARED,
    taskDefinitionArn: ARN(rev),
    revision: rev,
    status: 'ACTIVE' as const,
    ...extra,
  },
  tags: hash ? [{ key: TASK_DEFINITION_HASH_TAG, value: hash }] : [],
});

let clockMs = 0;
beforeEach(() => {
  clockMs = 0;
  ecsMock.reset();
  sleeps = [];
  logger = memoryLogger();
  registry = new TaskDefinitionRegistry({
    retry: defaultEcsRetryOptions,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.25,
    now: () => clockMs,
  });
});

describe('TaskDefinitionRegistry.getOrRegister (spec §2.4 B)', () => {
  it('registers with the content-hash tag when nothing can be reused', async () => {
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .rejects(new ClientException({ message: 'Unable to describe task definition.', $metadata: {} }));
    ecsMock
      .on(RegisterTaskDefinitionCommand)
      .resolves({ taskDefinition: { ...PREPARED, taskDefinitionArn: ARN(1) } });
    const resolved = await registry.getOrRegister(ecs, PREPARED, opts());
    expect(resolved).toMatchObject({ arn: ARN(1), registered: true });
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input).toEqual({
      ...PREPARED,
      tags: [{ key: TASK_DEFINITION_HASH_TAG, value: HASH }],
    });
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)[0]?.args[0].input).toEqual({
      taskDefinition: FAMILY,
      include: ['TAGS'],
    });
  });

  it('reuses the latest revision of the family carrying the same hash tag (restarts, replicas)', async () => {
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).resolves(described(7, {}, HASH));
    const resolved = await registry.getOrRegister(ecs, PREPARED, opts());
    expect(resolved).toMatchObject({ arn: ARN(7), registered: false });
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
  });

  it('does not reuse an equal but untagged revision unless match_latest_revision_in_family', async () => {
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).resolves(described(7));
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: ARN(8) } });
    expect((await registry.getOrRegister(ecs, PREPARED, opts())).arn).toBe(ARN(8));

    const fresh = new TaskDefinitionRegistry({
      retry: defaultEcsRetryOptions,
      sleep: async () => {},
      random: () => 0,
    });
    const resolved = await fresh.getOrRegister(ecs, PREPARED, opts({ matchLatestRevisionInFamily: true }));
    expect(resolved).toMatchObject({ arn: ARN(7), registered: false });
  });

  it('registers when match_latest_revision_in_family finds a different revision', async () => {
    ecsMock
      .on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY })
      .resolves(described(7, { cpu: '4096' }));
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: ARN(8) } });
    expect(
      (await registry.getOrRegister(ecs, PREPARED, opts({ matchLatestRevisionInFamily: true }))).registered,
    ).toBe(true);
  });

  it('skips the family lookup with auto-deregister (the observer may deregister what another run registered)', async () => {
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: ARN(1) } });
    await registry.getOrRegister(ecs, PREPARED, opts({ autoDeregister: true }));
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(0);
  });

  it('reuses the cached ARN while it is ACTIVE and equal, and not once it is INACTIVE', async () => {
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .rejects(new ClientException({ message: 'Unable to describe task definition.', $metadata: {} }));
    ecsMock
      .on(RegisterTaskDefinitionCommand)
      .resolvesOnce({ taskDefinition: { taskDefinitionArn: ARN(1) } })
      .resolves({
        taskDefinition: { taskDefinitionArn: ARN(2) },
      });
    await registry.getOrRegister(ecs, PREPARED, opts({ autoDeregister: true }));
    clockMs += 61_000; // past the trust window of a revision this process registered

    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: ARN(1) }).resolves(described(1));
    expect(await registry.getOrRegister(ecs, PREPARED, opts({ autoDeregister: true }))).toMatchObject({
      arn: ARN(1),
      registered: false,
    });

    clockMs += 61_000;
    ecsMock
      .on(DescribeTaskDefinitionCommand, { taskDefinition: ARN(1) })
      .resolves(described(1, { status: 'INACTIVE' }));
    expect(await registry.getOrRegister(ecs, PREPARED, opts({ autoDeregister: true }))).toMatchObject({
      arn: ARN(2),
      registered: true,
    });
  });

  it('reuses a revision it registered without any AWS call within the trust window', async () => {
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .rejects(new ClientException({ message: 'Unable to describe task definition.', $metadata: {} }));
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: ARN(1) } });
    await registry.getOrRegister(ecs, PREPARED, opts());
    const calls = ecsMock.calls().length;
    clockMs += 30_000;
    for (let i = 0; i < 5; i++) {
      expect(await registry.getOrRegister(ecs, PREPARED, opts())).toMatchObject({
        arn: ARN(1),
        registered: false,
      });
    }
    expect(ecsMock.calls().length).toBe(calls);
  });

  it('warns when the cached ARN cannot be described and registers instead', async () => {
    registry.remember('dep-1', ARN(3));
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .rejects(new ServerException({ message: 'boom', $metadata: {} }));
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: ARN(4) } });
    await registry.getOrRegister(ecs, PREPARED, opts({ autoDeregister: true }));
    expect(logger.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: `Failed to retrieve task definition for cached arn '${ARN(3)}'.`,
      }),
    );
  });

  it('retries registration with the reference backoff and gives up after 3 attempts', async () => {
    ecsMock
      .on(RegisterTaskDefinitionCommand)
      .rejects(new ServerException({ message: 'busy', $metadata: {} }));
    const error = await registry
      .getOrRegister(ecs, PREPARED, opts({ autoDeregister: true }))
      .catch((e: unknown) => e);
    expect(isStevedoreError(error, ecsErrorCodes.TASK_DEFINITION_REGISTRATION_FAILED)).toBe(true);
    expect((error as Error).message).toContain(`'${FAMILY}' after 3 attempt(s): ServerException: busy`);
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(3);
    expect(sleeps).toEqual([1250, 2250]);
    expect(logger.entries.map((e) => e.message)).toEqual([
      'Retrying task definition registration in 1.25s (attempt 1/3)',
      'Retrying task definition registration in 2.25s (attempt 2/3)',
    ]);
  });

  it('registers once for concurrent submissions of the same family', async () => {
    let registered = false;
    ecsMock.on(DescribeTaskDefinitionCommand).callsFake(async () => {
      if (!registered)
        throw new ClientException({ message: 'Unable to describe task definition.', $metadata: {} });
      return described(1, {}, HASH);
    });
    ecsMock.on(RegisterTaskDefinitionCommand).callsFake(async () => {
      await new Promise((r) => setTimeout(r, 5));
      registered = true;
      return { taskDefinition: { ...PREPARED, taskDefinitionArn: ARN(1) } };
    });
    const results = await Promise.all([
      registry.getOrRegister(ecs, PREPARED, opts({ cacheKey: 'dep-1' })),
      registry.getOrRegister(ecs, PREPARED, opts({ cacheKey: 'dep-1' })),
      registry.getOrRegister(ecs, PREPARED, opts({ cacheKey: 'other' })),
    ]);
    expect(results.map((r) => r.arn)).toEqual([ARN(1), ARN(1), ARN(1)]);
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(1);
  });
});

describe('describeExistingTaskDefinition', () => {
  it('returns the described definition', async () => {
    ecsMock.on(DescribeTaskDefinitionCommand).resolves(described(2));
    await expect(
      describeExistingTaskDefinition(ecs, ARN(2), new AbortController().signal),
    ).resolves.toMatchObject({
      taskDefinitionArn: ARN(2),
    });
  });

  it('maps a missing definition to ECS_TASK_DEFINITION_NOT_FOUND and lets other errors through', async () => {
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .rejects(new ClientException({ message: 'Unable to describe task definition.', $metadata: {} }));
    const error = await describeExistingTaskDefinition(ecs, 'nope:1', new AbortController().signal).catch(
      (e: unknown) => e,
    );
    expect(isStevedoreError(error, ecsErrorCodes.TASK_DEFINITION_NOT_FOUND)).toBe(true);
    expect((error as Error).message).toContain("Task definition 'nope:1' could not be described");

    const server = new ServerException({ message: 'x', $metadata: {} });
    ecsMock.on(DescribeTaskDefinitionCommand).rejects(server);
    await expect(describeExistingTaskDefinition(ecs, 'x:1', new AbortController().signal)).rejects.toBe(
      server,
    );
  });
});
