import { createHash } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  TagQueueCommand,
  UntagQueueCommand,
} from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AwsEmulator, awsClientConfig, startAwsEmulator } from './index.js';

let aws: AwsEmulator;
let sqs: SQSClient;

beforeEach(async () => {
  aws = await startAwsEmulator({ seed: 5 });
  sqs = new SQSClient(awsClientConfig(aws));
});

afterEach(async () => {
  expect(aws.schemaErrors()).toEqual([]);
  sqs.destroy();
  await aws.stop();
});

/** The queues `prefect-aws ecs-worker deploy-events` creates (events-only.json). */
async function createEventsQueues(
  pool = 'pool',
  maxReceiveCount = 3,
): Promise<{ url: string; dlqUrl: string; dlqArn: string }> {
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${pool}-ecs-events-dlq`,
      Attributes: { MessageRetentionPeriod: '1209600', VisibilityTimeout: '60' },
    }),
  );
  const dlqUrl = dlq.QueueUrl ?? '';
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
  );
  const dlqArn = attrs.Attributes?.QueueArn ?? '';
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${pool}-ecs-events`,
      Attributes: {
        MessageRetentionPeriod: '604800',
        VisibilityTimeout: '300',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
      },
    }),
  );
  return { url: queue.QueueUrl ?? '', dlqUrl, dlqArn };
}

describe('queues', () => {
  it('creates a queue and its DLQ with a redrive policy, idempotently, and reports attributes', async () => {
    const { url, dlqArn } = await createEventsQueues();
    expect(url).toBe(`${aws.endpoint}/123456789012/pool-ecs-events`);
    expect(dlqArn).toBe('arn:aws:sqs:us-east-1:123456789012:pool-ecs-events-dlq');

    const all = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    expect(all.Attributes).toMatchObject({
      QueueArn: 'arn:aws:sqs:us-east-1:123456789012:pool-ecs-events',
      VisibilityTimeout: '300',
      MessageRetentionPeriod: '604800',
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '0',
      DelaySeconds: '0',
      ReceiveMessageWaitTimeSeconds: '0',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }),
    });
    expect(all.Attributes?.CreatedTimestamp).toMatch(/^\d{10}$/);
    const some = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['VisibilityTimeout', 'Policy'] }),
    );
    expect(some.Attributes).toEqual({ VisibilityTimeout: '300' });

    // Same attributes: the same URL. A different value: QueueNameExists (awsQuery code QueueAlreadyExists).
    const again = await sqs.send(
      new CreateQueueCommand({ QueueName: 'pool-ecs-events', Attributes: { VisibilityTimeout: '300' } }),
    );
    expect(again.QueueUrl).toBe(url);
    await expect(
      sqs.send(
        new CreateQueueCommand({ QueueName: 'pool-ecs-events', Attributes: { VisibilityTimeout: '30' } }),
      ),
    ).rejects.toMatchObject({ name: 'QueueNameExists', Code: 'QueueAlreadyExists' });

    expect(aws.sqs.queue('pool-ecs-events')).toMatchObject({
      arn: 'arn:aws:sqs:us-east-1:123456789012:pool-ecs-events',
      visible: 0,
      inFlight: 0,
      dlq: { name: 'pool-ecs-events-dlq', exists: true, visible: 0 },
    });
  });

  it('answers QueueDoesNotExist for a missing queue, with the awsQuery code in x-amzn-query-error', async () => {
    const error = await sqs.send(new GetQueueUrlCommand({ QueueName: 'nope' })).catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'QueueDoesNotExist',
      Code: 'AWS.SimpleQueueService.NonExistentQueue',
      message: 'The specified queue does not exist.',
      $metadata: { httpStatusCode: 400 },
    });
    const raw = await fetch(aws.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.GetQueueUrl' },
      body: JSON.stringify({ QueueName: 'nope' }),
    });
    expect(raw.status).toBe(400);
    expect(raw.headers.get('content-type')).toBe('application/x-amz-json-1.0');
    expect(raw.headers.get('x-amzn-query-error')).toBe('AWS.SimpleQueueService.NonExistentQueue;Sender');
    expect(await raw.json()).toEqual({
      __type: 'com.amazonaws.sqs#QueueDoesNotExist',
      message: 'The specified queue does not exist.',
    });
    await expect(
      sqs.send(new SendMessageCommand({ QueueUrl: `${aws.endpoint}/123456789012/nope`, MessageBody: 'x' })),
    ).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
  });

  it('tags queues (CreateQueue tags, TagQueue, UntagQueue, ListQueueTags)', async () => {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: 'tagged', tags: { team: 'data', ManagedBy: 'prefect-aws-cli' } }),
    );
    await sqs.send(new TagQueueCommand({ QueueUrl, Tags: { env: 'test', team: 'platform' } }));
    await sqs.send(new UntagQueueCommand({ QueueUrl, TagKeys: ['ManagedBy'] }));
    const tags = await sqs.send(new ListQueueTagsCommand({ QueueUrl }));
    expect(tags.Tags).toEqual({ team: 'platform', env: 'test' });
    expect(aws.sqs.queue('tagged')?.tags).toEqual({ team: 'platform', env: 'test' });
  });

  it('sets attributes (Policy, VisibilityTimeout), rejects unknown names and bad values', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'q' }));
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: ['sqs:SendMessage'],
          Resource: 'arn:aws:sqs:us-east-1:123456789012:q',
        },
      ],
    });
    await sqs.send(
      new SetQueueAttributesCommand({ QueueUrl, Attributes: { Policy: policy, VisibilityTimeout: '5' } }),
    );
    const out = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['Policy', 'VisibilityTimeout'] }),
    );
    expect(out.Attributes).toEqual({ Policy: policy, VisibilityTimeout: '5' });
    await expect(
      sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: { QueueArn: 'x' } })),
    ).rejects.toMatchObject({ name: 'InvalidAttributeName', message: 'Unknown Attribute QueueArn.' });
    await expect(
      sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: { VisibilityTimeout: '43201' } })),
    ).rejects.toMatchObject({ name: 'InvalidAttributeValue' });
    await expect(
      sqs.send(
        new CreateQueueCommand({
          QueueName: 'r',
          Attributes: {
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: 'arn:aws:sqs:us-east-1:123456789012:missing',
              maxReceiveCount: 3,
            }),
          },
        }),
      ),
    ).rejects.toMatchObject({
      name: 'InvalidAttributeValue',
      message: expect.stringContaining('Dead letter target does not exist.'),
    });
  });

  it('lists and deletes queues; a deleted name cannot be reused for 60 s', async () => {
    await sqs.send(new CreateQueueCommand({ QueueName: 'a-one' }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'a-two' }));
    await sqs.send(new CreateQueueCommand({ QueueName: 'b-one' }));
    const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'a-' }));
    expect(listed.QueueUrls).toEqual([`${aws.endpoint}/123456789012/a-one`, QueueUrl]);
    const page = await sqs.send(new ListQueuesCommand({ MaxResults: 2 }));
    expect(page.QueueUrls).toHaveLength(2);
    const rest = await sqs.send(new ListQueuesCommand({ MaxResults: 2, NextToken: page.NextToken }));
    expect(rest.QueueUrls).toEqual([`${aws.endpoint}/123456789012/b-one`]);
    expect(rest.NextToken).toBeUndefined();

    await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'a-two' }))).rejects.toMatchObject({
      name: 'QueueDoesNotExist',
    });
    await expect(sqs.send(new CreateQueueCommand({ QueueName: 'a-two' }))).rejects.toMatchObject({
      name: 'QueueDeletedRecently',
      Code: 'AWS.SimpleQueueService.QueueDeletedRecently',
    });
  });
});

describe('messages', () => {
  it('sends, receives (system and message attributes) and deletes', async () => {
    const { url } = await createEventsQueues();
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: '{"hello":"world"}',
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: 'greeting' },
          n: { DataType: 'Number', StringValue: '42' },
          raw: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 3]) },
        },
      }),
    );
    expect(sent.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.MD5OfMessageBody).toBe(createHash('md5').update('{"hello":"world"}').digest('hex'));
    expect(sent.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);

    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 1,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 300,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        MessageAttributeNames: ['All'],
      }),
    );
    const m = got.Messages?.[0];
    expect(got.Messages).toHaveLength(1);
    expect(m).toMatchObject({
      MessageId: sent.MessageId,
      Body: '{"hello":"world"}',
      MD5OfBody: sent.MD5OfMessageBody,
      MD5OfMessageAttributes: sent.MD5OfMessageAttributes,
      Attributes: { ApproximateReceiveCount: '1', SentTimestamp: expect.stringMatching(/^\d{13}$/) },
      MessageAttributes: {
        kind: { DataType: 'String', StringValue: 'greeting' },
        n: { DataType: 'Number', StringValue: '42' },
        raw: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 3]) },
      },
    });
    expect(aws.sqs.queue('pool-ecs-events')).toMatchObject({ visible: 0, inFlight: 1 });
    const counts = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(counts.Attributes).toEqual({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '1',
    });

    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m?.ReceiptHandle }));
    expect(aws.sqs.queue('pool-ecs-events')).toMatchObject({ visible: 0, inFlight: 0, total: 0 });
    // Deleting twice is fine; an unknown handle is not.
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m?.ReceiptHandle }));
    await expect(
      sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'bogus' })),
    ).rejects.toMatchObject({ name: 'ReceiptHandleIsInvalid', $metadata: { httpStatusCode: 404 } });
  });

  it('redelivers after the visibility timeout with an incremented receive count', async () => {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: 'vis', Attributes: { VisibilityTimeout: '1' } }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'm' }));
    const first = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, AttributeNames: ['All'], WaitTimeSeconds: 0 }),
    );
    expect(first.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
    // In flight: a short poll finds nothing.
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl }))).Messages).toBeUndefined();
    // The queue's 1 s timeout expires during this long poll, which answers with the redelivery.
    const started = Date.now();
    const second = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl,
        WaitTimeSeconds: 5,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'ApproximateFirstReceiveTimestamp'],
      }),
    );
    expect(Date.now() - started).toBeLessThan(3000);
    const m = second.Messages?.[0];
    expect(m?.MessageId).toBe(first.Messages?.[0]?.MessageId);
    expect(m?.ReceiptHandle).not.toBe(first.Messages?.[0]?.ReceiptHandle);
    expect(m?.Attributes?.ApproximateReceiveCount).toBe('2');

    // A per-call VisibilityTimeout wins over the queue's; ChangeMessageVisibility extends or ends it.
    await sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: m?.ReceiptHandle, VisibilityTimeout: 0 }),
    );
    const third = await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 300 }));
    expect(third.Messages?.[0]?.MessageId).toBe(m?.MessageId);
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl,
        ReceiptHandle: third.Messages?.[0]?.ReceiptHandle,
        VisibilityTimeout: 300,
      }),
    );
    expect(aws.sqs.messages('vis')[0]).toMatchObject({ state: 'in-flight', receiveCount: 3 });
    // The previous receive's handle is stale.
    await expect(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl,
          ReceiptHandle: m?.ReceiptHandle,
          VisibilityTimeout: 10,
        }),
      ),
    ).rejects.toMatchObject({ name: 'MessageNotInflight' });
  });

  it('moves a message to the DLQ after maxReceiveCount receives', async () => {
    const { url, dlqUrl } = await createEventsQueues('redrive', 2);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));
    for (const n of ['1', '2']) {
      const got = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 0, AttributeNames: ['All'] }),
      );
      expect(got.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe(n);
    }
    const third = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }));
    expect(third.Messages).toBeUndefined();
    expect(aws.sqs.queue('redrive-ecs-events')).toMatchObject({
      total: 0,
      dlq: { name: 'redrive-ecs-events-dlq', visible: 1, total: 1 },
    });
    const dead = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MessageSystemAttributeNames: ['All'] }),
    );
    expect(dead.Messages?.[0]).toMatchObject({
      Body: 'poison',
      Attributes: { DeadLetterQueueSourceArn: 'arn:aws:sqs:us-east-1:123456789012:redrive-ecs-events' },
    });
  });

  it('batches sends, visibility changes and deletes, with per-entry failures', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'batch' }));
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [
          { Id: 'a', MessageBody: 'one' },
          { Id: 'b', MessageBody: 'two' },
          { Id: 'c', MessageBody: 'late', DelaySeconds: 901 },
        ],
      }),
    );
    expect(sent.Successful?.map((s) => s.Id)).toEqual(['a', 'b']);
    expect(sent.Failed).toEqual([
      {
        Id: 'c',
        SenderFault: true,
        Code: 'InvalidParameterValue',
        Message:
          'Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.',
      },
    ]);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
    expect(got.Messages?.map((m) => m.Body).sort()).toEqual(['one', 'two']);
    const [one, two] = got.Messages ?? [];
    const changed = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl,
        Entries: [
          { Id: 'x', ReceiptHandle: one?.ReceiptHandle, VisibilityTimeout: 60 },
          { Id: 'y', ReceiptHandle: 'nope', VisibilityTimeout: 60 },
        ],
      }),
    );
    expect(changed.Successful).toEqual([{ Id: 'x' }]);
    expect(changed.Failed?.[0]).toMatchObject({ Id: 'y', Code: 'ReceiptHandleIsInvalid', SenderFault: true });
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl,
        Entries: [
          { Id: 'x', ReceiptHandle: one?.ReceiptHandle },
          { Id: 'y', ReceiptHandle: two?.ReceiptHandle },
        ],
      }),
    );
    expect(deleted.Successful).toEqual([{ Id: 'x' }, { Id: 'y' }]);
    expect(aws.sqs.queue('batch')?.total).toBe(0);

    await expect(sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: [] }))).rejects.toMatchObject({
      name: 'EmptyBatchRequest',
    });
    await expect(
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `m${i}`, MessageBody: 'x' })),
        }),
      ),
    ).rejects.toMatchObject({ name: 'TooManyEntriesInBatchRequest' });
    await expect(
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: [
            { Id: 'same', MessageBody: 'x' },
            { Id: 'same', MessageBody: 'y' },
          ],
        }),
      ),
    ).rejects.toMatchObject({ name: 'BatchEntryIdsNotDistinct' });
  });

  it('long polling answers as soon as a message arrives, and after WaitTimeSeconds otherwise', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'poll' }));
    const started = Date.now();
    const pending = sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }));
    setTimeout(() => aws.sqs.send('poll', 'arrived'), 100);
    const got = await pending;
    expect(got.Messages?.[0]?.Body).toBe('arrived');
    expect(Date.now() - started).toBeLessThan(2000);

    const emptyStart = Date.now();
    const empty = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
    expect(empty.Messages).toBeUndefined();
    expect(Date.now() - emptyStart).toBeGreaterThanOrEqual(950);
  });

  it('checks requests against the SQS model (missing members, types, attribute names)', async () => {
    const post = (target: string, body: unknown) =>
      fetch(aws.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${target}` },
        body: JSON.stringify(body),
      });
    const missing = await post('CreateQueue', {});
    expect(missing.status).toBe(400);
    expect(missing.headers.get('x-amzn-query-error')).toBe('MissingParameter;Sender');
    expect(await missing.json()).toMatchObject({
      message: 'The request must contain the parameter QueueName.',
    });
    const wrongType = await post('ReceiveMessage', { QueueUrl: 'x', MaxNumberOfMessages: 'ten' });
    expect(wrongType.status).toBe(400);
    expect(aws.requests.at(-1)?.errorCode).toBe('SerializationException');
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'model' }));
    const unknownName = await post('GetQueueAttributes', { QueueUrl, AttributeNames: ['Bogus'] });
    expect(unknownName.headers.get('x-amzn-query-error')).toBe('InvalidAttributeName;Sender');
    expect(await unknownName.json()).toEqual({
      __type: 'com.amazonaws.sqs#InvalidAttributeName',
      message: 'Unknown Attribute Bogus.',
    });
    // ReceiveMessage's deprecated AttributeNames also takes message system attribute names.
    const legacy = await post('ReceiveMessage', { QueueUrl, AttributeNames: ['ApproximateReceiveCount'] });
    expect(legacy.status).toBe(200);
    const unknownOp = await post('Frobnicate', {});
    expect(unknownOp.status).toBe(400);
  });

  it('validates ReceiveMessage limits (MaxNumberOfMessages ≤ 10, WaitTimeSeconds ≤ 20)', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'limits' }));
    await expect(
      sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 11 })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message:
        'Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.',
    });
    await expect(
      sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 21 })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    await expect(
      sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'bad \u0000' })),
    ).rejects.toMatchObject({
      name: 'InvalidMessageContents',
    });
  });
});

describe('faults for consumers', () => {
  it('duplicates a message (same MessageId, separate receipts)', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'dup' }));
    const fault = aws.sqs.injectDuplicate({ queue: 'dup' });
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'once' }));
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
    expect(got.Messages?.map((m) => m.MessageId)).toEqual([sent.MessageId, sent.MessageId]);
    expect(new Set(got.Messages?.map((m) => m.ReceiptHandle)).size).toBe(2);
    expect(fault.hits()).toBe(1);
    expect(fault.remaining()).toBe(0);
  });

  it('delays one message so a later one overtakes it, and reorders a group', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'order' }));
    aws.sqs.injectDelay({ queue: 'order', delayMs: 300, match: (b) => b === 'first' });
    aws.sqs.send('order', 'first');
    aws.sqs.send('order', 'second');
    expect(aws.sqs.queue('order')).toMatchObject({ visible: 1, delayed: 1 });
    const a = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
    const b = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
    expect([a.Messages?.[0]?.Body, b.Messages?.[0]?.Body]).toEqual(['second', 'first']);

    aws.sqs.purge('order');
    aws.sqs.injectReorder({ queue: 'order', count: 3 });
    for (const body of ['x', 'y']) aws.sqs.send('order', body);
    expect(aws.sqs.queue('order')).toMatchObject({ held: 2, visible: 0 });
    aws.sqs.send('order', 'z');
    expect(aws.sqs.messages('order').map((m) => m.body)).toEqual(['z', 'y', 'x']);
  });

  it('puts a malformed message verbatim (sendRaw)', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'raw' }));
    aws.sqs.sendRaw('raw', '{"detail-type": "ECS Task State Change", "detail": {');
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl }));
    expect(got.Messages?.[0]?.Body).toBe('{"detail-type": "ECS Task State Change", "detail": {');
  });

  it('deletes a queue mid-run: the pending long poll and later calls answer QueueDoesNotExist', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'doomed' }));
    const pending = sqs
      .send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }))
      .catch((e: unknown) => e);
    setTimeout(() => aws.sqs.deleteQueue('doomed'), 50);
    expect(await pending).toMatchObject({ name: 'QueueDoesNotExist' });
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'doomed' }))).rejects.toMatchObject({
      name: 'QueueDoesNotExist',
    });
    // The helper skips the recreate cooldown.
    expect(aws.sqs.createQueue('doomed')).toBe(QueueUrl);
  });

  it('adds latency and throttling through the shared fault controller (the SDK retries RequestThrottled)', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'slow' }));
    aws.faults.setLatency(150, 'sqs:ReceiveMessage');
    const started = Date.now();
    await sqs.send(new ReceiveMessageCommand({ QueueUrl }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    aws.faults.clear();

    const throttle = aws.faults.throttle('sqs:SendMessage', 1);
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'retried' }));
    expect(throttle.hits()).toBe(1);
    expect(aws.callCounts()['sqs:SendMessage']).toBe(2);
    expect(aws.requests.find((r) => r.throttled)).toMatchObject({
      errorCode: 'RequestThrottled',
      status: 403,
    });
    expect(aws.sqs.queue('slow')?.visible).toBe(1);
  });
});
