import { describe, expect, it } from 'vitest';
import { CapacityLadderWalk, capacityLadderSettings } from './capacity-ladder.js';
import { type LaunchType, LaunchTypes } from './launch-type.js';

const spot: LaunchType = {
  name: 'FARGATE_SPOT',
  packageName: 'spot',
  classifyRunTaskFailure: () => 'spot-capacity',
  capacityFallback: () => 'FARGATE',
};
const ec2: LaunchType = {
  name: 'EC2',
  packageName: 'ec2',
  compatibility: 'EC2',
  classifyRunTaskFailure: () => 'ec2-capacity',
  capacityRetry: () => ({ attempts: 3, initialDelayMs: 1000, maxDelayMs: 1500 }),
};
const types = new LaunchTypes([spot, ec2]);
const fargateDef = { networkMode: 'awsvpc', compatibilities: ['EC2', 'FARGATE'] };

function walk(first: string, ladder: string[] | undefined, opts: { budgetMs?: number; def?: object } = {}) {
  let now = 0;
  const w = new CapacityLadderWalk(
    types.get(first),
    { ladder, budgetMs: opts.budgetMs ?? 600_000 },
    types,
    (opts.def ?? fargateDef) as Record<string, unknown>,
    () => now,
    () => 0.5,
  );
  const advance = (ms: number): void => {
    now += ms;
  };
  return { w, advance };
}

describe('capacityLadderSettings', () => {
  it('reads the job variable (list or "A, B" / "A → B"), else the worker default, and the budget', () => {
    expect(capacityLadderSettings({ stevedore_capacity_ladder: ['ec2'] }, {}, types)).toEqual({
      ladder: ['EC2'],
      budgetMs: 600_000,
    });
    expect(
      capacityLadderSettings({ stevedore_capacity_ladder: 'FARGATE_SPOT → FARGATE -> EC2' }, {}, types)
        .ladder,
    ).toEqual(['FARGATE_SPOT', 'FARGATE', 'EC2']);
    expect(
      capacityLadderSettings(
        { stevedore_capacity_budget_seconds: '30' },
        { ladder: ['FARGATE', 'EC2'], budgetSeconds: 90 },
        types,
      ),
    ).toEqual({ ladder: ['FARGATE', 'EC2'], budgetMs: 30_000 });
    expect(capacityLadderSettings({}, {}, types)).toEqual({ ladder: undefined, budgetMs: 600_000 });
  });

  it('names the variable and the fix for bad values, and the plugin for an inactive rung', () => {
    expect(() => capacityLadderSettings({ stevedore_capacity_ladder: 7 }, {}, types)).toThrow(
      /Job variable 'stevedore_capacity_ladder' must be a list of launch types/,
    );
    expect(() => capacityLadderSettings({ stevedore_capacity_ladder: ['EC2', 'EC2'] }, {}, types)).toThrow(
      /'EC2' repeats/,
    );
    expect(() => capacityLadderSettings({ stevedore_capacity_budget_seconds: -1 }, {}, types)).toThrow(
      /'stevedore_capacity_budget_seconds' must be a number of seconds ≥ 0, got -1/,
    );
    expect(() =>
      capacityLadderSettings({ stevedore_capacity_ladder: ['FARGATE', 'EC2'] }, {}, new LaunchTypes([])),
    ).toThrow("No launch type 'EC2'. Active: FARGATE. Add @stevedore/ec2-capacity.");
  });
});

describe('CapacityLadderWalk', () => {
  it('without a ladder: the launch type’s own fallback, once', () => {
    const { w } = walk('FARGATE_SPOT', undefined);
    expect(w.decide('spot-capacity')).toMatchObject({ kind: 'next', to: { name: 'FARGATE' } });
    expect(w.current?.name).toBe('FARGATE');
    expect(w.decide('fargate-capacity')).toMatchObject({ kind: 'stop' });
  });

  it('retries a rung with a backoff policy (doubling, capped, jittered), then steps down the ladder', () => {
    const { w } = walk('EC2', ['EC2', 'FARGATE']);
    expect(w.decide('ec2-capacity')).toEqual({ kind: 'retry', delayMs: 1000, attempt: 2, of: 3 });
    expect(w.decide('ec2-capacity')).toEqual({ kind: 'retry', delayMs: 1500, attempt: 3, of: 3 });
    expect(w.decide('ec2-capacity')).toMatchObject({ kind: 'next', to: { name: 'FARGATE' }, skipped: [] });
    expect([w.index, w.attempt]).toEqual([1, 1]);
    expect(w.decide('fargate-capacity')).toEqual({
      kind: 'stop',
      why: 'no rung of the capacity ladder EC2 → FARGATE is left',
    });
  });

  it('skips rungs the task definition cannot run on, saying why', () => {
    const bridge = { networkMode: 'bridge', compatibilities: ['EC2'] };
    const { w } = walk('FARGATE_SPOT', ['FARGATE_SPOT', 'FARGATE', 'EC2'], { def: bridge });
    const step = w.decide('spot-capacity');
    expect(step).toMatchObject({ kind: 'next', to: { name: 'EC2' } });
    expect(step.kind === 'next' && step.skipped).toEqual([
      { name: 'FARGATE', why: 'the task definition is not compatible with FARGATE (compatibilities: EC2)' },
    ]);
  });

  it('a selected launch type not on the ladder steps onto its first rung', () => {
    const { w } = walk('FARGATE', ['EC2']);
    expect(w.hasNextRung()).toBe(true);
    expect(w.decide('fargate-capacity')).toMatchObject({ kind: 'next', to: { name: 'EC2' } });
    expect(w.hasNextRung()).toBe(false);
  });

  it('never waits past the budget: a retry that would overrun it steps on, a spent budget stops', () => {
    const { w, advance } = walk('EC2', ['EC2', 'FARGATE'], { budgetMs: 1200 });
    expect(w.decide('ec2-capacity')).toMatchObject({ kind: 'retry', delayMs: 1000 });
    advance(1000);
    expect(w.decide('ec2-capacity')).toMatchObject({ kind: 'next', to: { name: 'FARGATE' } });
    advance(500);
    expect(w.decide('fargate-capacity')).toEqual({
      kind: 'stop',
      why: 'the capacity budget of 1.2 s is spent',
    });
  });
});
