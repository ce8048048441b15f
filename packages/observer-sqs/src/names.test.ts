import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseEcsTaskEvent } from './events.js';
import { eventsResourceNames, queueCandidates } from './names.js';

describe('eventsResourceNames', () => {
  it('are prefect-aws deploy-events names for a valid pool', () => {
    expect(eventsResourceNames('my-ecs-pool')).toEqual({
      queue: 'my-ecs-pool-ecs-events',
      dlq: 'my-ecs-pool-ecs-events-dlq',
      rule: 'my-ecs-pool-ecs-task-events',
      sanitized: false,
    });
  });

  it('are made valid for AWS when the pool name is not', () => {
    const names = eventsResourceNames('My Pool/2');
    expect(names).toMatchObject({ queue: 'My-Pool-2-ecs-events', sanitized: true });
    const long = eventsResourceNames('p'.repeat(100));
    expect(long.rule.length).toBeLessThanOrEqual(64);
    expect(long.dlq.length).toBeLessThanOrEqual(80);
    expect(long.rule).toMatch(/^p+-[0-9a-f]{8}-ecs-task-events$/);
    expect(eventsResourceNames('q'.repeat(100)).rule).not.toBe(long.rule);
  });
});

describe('queueCandidates', () => {
  it('deploy name, then the reference default, then the manual guide name', () => {
    expect(queueCandidates('pool-a')).toEqual([
      { name: 'pool-a-ecs-events', source: 'deploy' },
      { name: 'prefect-ecs-tasks-events', source: 'reference-default' },
      { name: 'pool-a-events', source: 'manual-guide' },
    ]);
  });

  it('only the configured queue when set', () => {
    expect(queueCandidates('pool-a', 'mine')).toEqual([{ name: 'mine', source: 'configured' }]);
  });
});

describe('parseEcsTaskEvent', () => {
  const sample = readFileSync(
    new URL('../../../reference/ecs-task-state-change-event.json', import.meta.url),
    'utf8',
  );

  it('reads the reference event', () => {
    const parsed = parseEcsTaskEvent(sample);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.event).toMatchObject({
      id: '3317b2af-7005-947d-b652-f55e762e571a',
      region: 'us-east-1',
      detail: {
        taskArn: 'arn:aws:ecs:us-east-1:111122223333:task/my-cluster/0123456789abcdef0123456789abcdef',
        clusterArn: 'arn:aws:ecs:us-east-1:111122223333:cluster/my-cluster',
        lastStatus: 'STOPPED',
        version: 5,
        stopCode: 'EssentialContainerExited',
        stoppedAt: '2025-10-14T20:29:23.046Z',
        containers: [{ name: 'prefect', exitCode: 1, lastStatus: 'STOPPED' }],
      },
    });
  });

  it('drops null dates and fields of unexpected types instead of failing', () => {
    const raw = JSON.parse(sample);
    raw.detail.stoppedAt = null;
    raw.detail.version = 'five';
    raw.detail.containers = [{ name: 'prefect', exitCode: null, reason: 42 }, 'junk'];
    const parsed = parseEcsTaskEvent(JSON.stringify(raw));
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.event.detail.stoppedAt).toBeUndefined();
    expect(parsed.event.detail.version).toBeUndefined();
    expect(parsed.event.detail.containers).toEqual([{ name: 'prefect', exitCode: null }]);
  });
});
