import { describe, expect, it } from 'vitest';
import { ecsTagMap, ecsTaskEvent, ecsTaskEventId } from './task-events.js';

const taskArn = 'arn:aws:ecs:us-east-1:111122223333:task/prod/0123456789abcdef';
const clusterArn = 'arn:aws:ecs:us-east-1:111122223333:cluster/prod';
const taskDefinitionArn = 'arn:aws:ecs:us-east-1:111122223333:task-definition/prefect_pool:3';
const tags = {
  'prefect.io/flow-run-id': 'run-1',
  'prefect.io/flow-run-name': 'brave-otter',
  'prefect.io/deployment-id': 'dep-1',
  'prefect.io/deployment-name': 'nightly',
  'prefect.io/flow-id': 'flow-1',
  'prefect.io/flow-name': 'etl',
  'prefect.io/work-pool-id': 'pool-1',
  'prefect.io/work-pool-name': 'ecs-pool',
  'prefect.io/worker-name': 'ECSWorker 1B2C',
  'prefect.io/version': '3.4.11',
};
const now = new Date('2026-01-01T00:00:00Z');

describe('ecsTaskEvent (prefect-aws replicate_ecs_event)', () => {
  it('builds prefect.ecs.task.<status> with the task resource and the related resources of its tags', () => {
    const event = ecsTaskEvent(
      {
        taskArn,
        clusterArn,
        taskDefinitionArn,
        lastStatus: 'RUNNING',
        startedAt: '2026-01-01T00:00:05.000Z',
      },
      { tags, now },
    );
    expect(event).toEqual({
      id: ecsTaskEventId(taskArn, 'RUNNING'),
      occurred: '2026-01-01T00:00:05.000Z',
      event: 'prefect.ecs.task.running',
      resource: {
        'prefect.resource.id': 'prefect.ecs.task.0123456789abcdef',
        'ecs.taskArn': taskArn,
        'ecs.clusterArn': clusterArn,
        'ecs.taskDefinitionArn': taskDefinitionArn,
      },
      related: [
        {
          'prefect.resource.id': 'prefect.flow-run.run-1',
          'prefect.resource.role': 'flow-run',
          'prefect.resource.name': 'brave-otter',
        },
        {
          'prefect.resource.id': 'prefect.deployment.dep-1',
          'prefect.resource.role': 'deployment',
          'prefect.resource.name': 'nightly',
        },
        {
          'prefect.resource.id': 'prefect.flow.flow-1',
          'prefect.resource.role': 'flow',
          'prefect.resource.name': 'etl',
        },
        {
          'prefect.resource.id': 'prefect.work-pool.pool-1',
          'prefect.resource.role': 'work-pool',
          'prefect.resource.name': 'ecs-pool',
        },
        {
          'prefect.resource.id': 'prefect.worker.ecs.ecsworker-1b2c',
          'prefect.resource.role': 'worker',
          'prefect.resource.name': 'ECSWorker 1B2C',
          'prefect.worker-type': 'ecs',
          'prefect.version': '3.4.11',
        },
      ],
      payload: {},
    });
  });

  it('gives one id per task and status, whichever observer builds it, and another id for another status', () => {
    const fromPoller = ecsTaskEvent({ taskArn, lastStatus: 'STOPPED', version: 5 }, { tags, now });
    const fromEventBridge = ecsTaskEvent(
      { taskArn, lastStatus: 'STOPPED', version: 6 },
      { tags, occurred: '2026-01-01T00:01:00Z', now },
    );
    expect(fromPoller?.id).toBe(fromEventBridge?.id);
    expect(fromEventBridge?.occurred).toBe('2026-01-01T00:01:00Z');
    expect(ecsTaskEventId(taskArn, 'RUNNING')).not.toBe(fromPoller?.id);
    expect(fromPoller?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('skips tasks that are not a flow run’s, and leaves out what the tags do not say', () => {
    expect(ecsTaskEvent({ taskArn, lastStatus: 'RUNNING' }, { tags: {}, now })).toBeUndefined();
    expect(ecsTaskEvent({ taskArn }, { tags, now })).toBeUndefined();
    const minimal = ecsTaskEvent(
      { taskArn, lastStatus: 'PENDING' },
      { tags: { 'prefect.io/flow-run-id': 'r' }, now },
    );
    expect(minimal?.related).toEqual([
      { 'prefect.resource.id': 'prefect.flow-run.r', 'prefect.resource.role': 'flow-run' },
    ]);
    expect(minimal?.occurred).toBe(now.toISOString());
  });

  it('reads DescribeTasks tags into a map', () => {
    expect(ecsTagMap({ tags: [{ key: 'a', value: '1' }, { key: 'b' }, { value: 'x' }] })).toEqual({ a: '1' });
  });
});
