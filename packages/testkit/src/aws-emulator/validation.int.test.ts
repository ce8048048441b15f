import { DescribeTasksCommand, ECSClient, type LaunchType, RunTaskCommand } from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AwsEmulator, awsClientConfig, startAwsEmulator } from './index.js';

let aws: AwsEmulator;

beforeEach(async () => {
  aws = await startAwsEmulator({ seed: 1 });
});

afterEach(async () => {
  await aws.stop();
});

function call(target: string, body: unknown): Promise<Response> {
  return fetch(aws.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('request validation against the service model (JSON 1.1)', () => {
  it('rejects an unknown member with InvalidParameterException', async () => {
    const res = await call('AmazonEC2ContainerServiceV20141113.DescribeTasks', { tasks: ['x'], bogus: 1 });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('InvalidParameterException');
    expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await res.json()).toEqual({
      __type: 'InvalidParameterException',
      message: "Unrecognized field 'bogus' in the request",
    });
    expect(aws.requests[0]?.requestErrors).toEqual([
      { path: 'bogus', message: "unknown member 'bogus'", keyword: 'additionalProperties' },
    ]);
    expect(aws.schemaErrors()).toEqual([]);
  });

  it('rejects missing required members, bad enums and limits with Coral-style messages', async () => {
    const missing = await call('AmazonEC2ContainerServiceV20141113.RunTask', {});
    expect(await missing.json()).toEqual({
      __type: 'InvalidParameterException',
      message:
        "1 validation error detected: Value null at 'taskDefinition' failed to satisfy constraint: Member must not be null",
    });
    const tooMany = await call('Logs_20140328.GetLogEvents', {
      logGroupName: 'g',
      logStreamName: 's',
      limit: 10001,
    });
    expect(await tooMany.json()).toEqual({
      __type: 'InvalidParameterException',
      message:
        "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000",
    });
    expect(aws.schemaErrors()).toEqual([]);
  });

  it('answers type mismatches and bad JSON with SerializationException', async () => {
    const wrongType = await call('AmazonEC2ContainerServiceV20141113.DescribeTasks', { tasks: 'x' });
    expect(wrongType.status).toBe(400);
    expect(((await wrongType.json()) as { __type: string }).__type).toBe('SerializationException');
    const badJson = await call('AmazonEC2ContainerServiceV20141113.DescribeTasks', '{');
    expect(((await badJson.json()) as { __type: string }).__type).toBe('SerializationException');
    const unknownOp = await call('AmazonEC2ContainerServiceV20141113.LaunchRockets', {});
    expect(((await unknownOp.json()) as { __type: string }).__type).toBe('UnknownOperationException');
  });

  it('reports operations the model has but the emulator does not implement', async () => {
    const res = await call('AmazonEC2ContainerServiceV20141113.CreateCluster', { clusterName: 'x' });
    expect(((await res.json()) as { __type: string }).__type).toBe('UnknownOperationException');
    expect(aws.schemaErrors()).toMatchObject([
      { kind: 'unimplemented', service: 'ecs', operation: 'CreateCluster' },
    ]);
  });

  it('surfaces as the modelled error class in the real SDK', async () => {
    const ecs = new ECSClient({ ...awsClientConfig(aws), maxAttempts: 1 });
    const error = await ecs
      .send(new RunTaskCommand({ taskDefinition: 'x', launchType: 'fargate' as LaunchType }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining("Value 'fargate' at 'launchType' failed to satisfy constraint"),
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(ecs.send(new DescribeTasksCommand({ tasks: [] }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: 'Tasks cannot be empty.',
    });
    expect(aws.schemaErrors()).toEqual([]);
    ecs.destroy();
  });
});
