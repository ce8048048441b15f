import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EventPatternError, matchesEventPattern, parseEventPattern } from './event-pattern.js';

const reference = JSON.parse(
  readFileSync(new URL('../../../../reference/ecs-task-state-change-event.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

const matches = (pattern: unknown, event: unknown): boolean =>
  matchesEventPattern(parseEventPattern(JSON.stringify(pattern)), event);

describe('event patterns', () => {
  it('matches the pattern prefect-aws deploy-events installs against the reference ECS event', () => {
    const pattern = {
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { clusterArn: ['arn:aws:ecs:us-east-1:111122223333:cluster/my-cluster'] },
    };
    expect(matches(pattern, reference)).toBe(true);
    expect(
      matches(
        { ...pattern, detail: { clusterArn: ['arn:aws:ecs:us-east-1:111122223333:cluster/other'] } },
        reference,
      ),
    ).toBe(false);
    expect(matches({ ...pattern, source: ['aws.ec2'] }, reference)).toBe(false);
  });

  it('supports value lists, nested fields through arrays, prefix/suffix, anything-but, numeric, exists', () => {
    expect(matches({ detail: { lastStatus: ['RUNNING', 'STOPPED'] } }, reference)).toBe(true);
    expect(matches({ detail: { containers: { name: ['prefect'] } } }, reference)).toBe(true);
    expect(matches({ detail: { containers: { exitCode: [1] } } }, reference)).toBe(true);
    expect(
      matches({ detail: { containers: { exitCode: [{ numeric: ['>', 0, '<=', 1] }] } } }, reference),
    ).toBe(true);
    expect(matches({ detail: { group: [{ prefix: 'family:prefect_' }] } }, reference)).toBe(true);
    expect(matches({ detail: { clusterArn: [{ suffix: '/my-cluster' }] } }, reference)).toBe(true);
    expect(matches({ detail: { lastStatus: [{ 'anything-but': ['RUNNING'] }] } }, reference)).toBe(true);
    expect(matches({ detail: { lastStatus: [{ 'anything-but': 'STOPPED' }] } }, reference)).toBe(false);
    expect(matches({ detail: { stopCode: [{ exists: true }] } }, reference)).toBe(true);
    expect(matches({ detail: { nope: [{ exists: false }] } }, reference)).toBe(true);
    expect(matches({ detail: { nope: ['x'] } }, reference)).toBe(false);
    expect(matches({ detail: { lastStatus: [{ 'equals-ignore-case': 'stopped' }] } }, reference)).toBe(true);
    expect(matches({ detail: { lastStatus: [{ wildcard: 'STO*' }] } }, reference)).toBe(true);
    expect(
      matches({ $or: [{ source: ['aws.ec2'] }, { detail: { launchType: ['FARGATE'] } }] }, reference),
    ).toBe(true);
    expect(matches({ detail: { ip: [{ cidr: '10.0.0.0/24' }] } }, { detail: { ip: '10.0.0.139' } })).toBe(
      true,
    );
  });

  it('rejects patterns PutRule would reject', () => {
    for (const bad of [
      'not json',
      '[]',
      '{}',
      '{"source":"aws.ecs"}',
      '{"source":[]}',
      '{"a":[{"bogus":1}]}',
    ]) {
      expect(() => parseEventPattern(bad)).toThrow(EventPatternError);
    }
  });
});
