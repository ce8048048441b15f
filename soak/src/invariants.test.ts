import { runTaskClientToken } from '@stevedore/ecs-launcher';
import { describe, expect, it } from 'vitest';
import { defaultFaultKinds, FAULT_KINDS, parseFaultKinds, scheduleFaults } from './faults.js';
import {
  attemptToken,
  everyRunTerminalOrRunning,
  launchedAtMostOncePerAttempt,
  noSecretInLogs,
  noTaskRunningForFinishedRun,
  type RunRecord,
  SecretScanner,
  type TaskRecord,
} from './invariants.js';
import { MERGED_FEATURES } from './pending.js';
import { Prng } from './prng.js';

const RUN = '11111111-2222-3333-4444-555555555555';

function run(state: string, pendings: string[] = ['p1']): RunRecord {
  return {
    id: RUN,
    name: 'soak-00001',
    state,
    stateName: state.toLowerCase(),
    history: [
      { id: 's0', type: 'SCHEDULED', name: 'Scheduled' },
      ...pendings.map((id) => ({ id, type: 'PENDING', name: 'Pending' })),
      { id: 's9', type: state, name: state },
    ],
  };
}

function task(arn: string, token: string | undefined, lastStatus = 'STOPPED'): TaskRecord {
  return { arn, flowRunId: RUN, lastStatus, clientToken: token };
}

describe('attemptToken', () => {
  it('is the token the ECS launcher sends for the same attempt and round', () => {
    expect(attemptToken(RUN, 'p1', 1)).toBe(runTaskClientToken(`${RUN}:p1`));
    expect(attemptToken(RUN, 'p1', 3)).toBe(runTaskClientToken(`${RUN}:p1`, 3));
  });
});

describe('launchedAtMostOncePerAttempt', () => {
  it('holds for one task per claim, retried rounds included', () => {
    const runs = [run('COMPLETED', ['p1', 'p2'])];
    const tasks = [task('t1', attemptToken(RUN, 'p1', 2)), task('t2', attemptToken(RUN, 'p2', 1))];
    const r = launchedAtMostOncePerAttempt(runs, tasks);
    expect(r).toMatchObject({ held: true, checked: '2 tasks, 2 attempts, 1 runs' });
  });

  it('recognises the capacity ladder’s tokens (a rung, a backoff retry) as the claim’s attempt', () => {
    const runs = [run('COMPLETED', ['p1', 'p2'])];
    const tasks = [
      task('t1', attemptToken(RUN, 'p1:FARGATE', 1)),
      task('t2', attemptToken(RUN, 'p2#capacity-retry-3', 1)),
    ];
    expect(launchedAtMostOncePerAttempt(runs, tasks)).toMatchObject({
      held: true,
      checked: '2 tasks, 2 attempts, 1 runs',
    });
    const twice = [
      task('t1', attemptToken(RUN, 'p1', 1)),
      task('t2', attemptToken(RUN, 'p1:EC2#capacity-retry-2', 2)),
    ];
    expect(launchedAtMostOncePerAttempt([run('COMPLETED')], twice).held).toBe(false);
  });

  it('names an attempt that launched two tasks', () => {
    const tasks = [task('t1', attemptToken(RUN, 'p1', 1)), task('t2', attemptToken(RUN, 'p1', 2))];
    const r = launchedAtMostOncePerAttempt([run('COMPLETED')], tasks);
    expect(r.held).toBe(false);
    expect(r.violations).toEqual([`attempt ${RUN}:p1 (flow run:pending state) launched 2 tasks: t1, t2`]);
  });

  it('flags a task whose token belongs to no claim, and a task without the flow-run tag', () => {
    const r = launchedAtMostOncePerAttempt(
      [run('COMPLETED')],
      [
        task('t1', 'sdk-generated-token'),
        { arn: 't2', flowRunId: undefined, lastStatus: 'STOPPED', clientToken: 'x' },
      ],
    );
    expect(r.violations).toHaveLength(2);
    expect(r.violations[0]).toContain('matches no claim');
    expect(r.violations[1]).toContain('no prefect.io/flow-run-id tag');
  });
});

describe('everyRunTerminalOrRunning', () => {
  it('accepts terminal runs and runs with a live task', () => {
    const r = everyRunTerminalOrRunning(
      [run('COMPLETED'), { ...run('RUNNING'), id: 'r2' }],
      [{ arn: 't', flowRunId: 'r2', lastStatus: 'RUNNING', clientToken: undefined }],
    );
    expect(r).toMatchObject({ held: true, checked: '2 runs: 1 terminal, 1 still running' });
  });

  it('flags a Pending run with no task and a Running run whose task stopped', () => {
    const r = everyRunTerminalOrRunning(
      [run('PENDING'), { ...run('RUNNING'), id: 'r2', name: 'soak-00002' }],
      [
        {
          arn: 'arn/t',
          flowRunId: 'r2',
          lastStatus: 'STOPPED',
          clientToken: undefined,
          stopped: 'SpotInterruption: x',
        },
      ],
    );
    expect(r.held).toBe(false);
    expect(r.violations[0]).toContain('is PENDING');
    expect(r.violations[1]).toContain('soak-00002 (r2) is RUNNING');
    expect(r.violations[1]).toContain('t SpotInterruption: x');
  });
});

describe('noTaskRunningForFinishedRun', () => {
  it('flags a running task of a finished run only', () => {
    const ok = noTaskRunningForFinishedRun([run('RUNNING')], [task('t1', undefined, 'RUNNING')]);
    expect(ok.held).toBe(true);
    const bad = noTaskRunningForFinishedRun([run('CRASHED')], [task('t1', undefined, 'RUNNING')]);
    expect(bad.violations).toEqual(['task t1 is RUNNING but its flow run soak-00001 is CRASHED']);
  });
});

describe('SecretScanner', () => {
  it('finds a secret in a line split across chunks and masks it', () => {
    const scanner = new SecretScanner({ PREFECT_API_KEY: 'pnu_abcdefghij' });
    scanner.feed('w1', '{"msg":"ok"}\n{"key":"pnu_abc');
    scanner.feed('w1', 'defghij"}\nlast line without newline pnu_abcdefghij');
    scanner.end('w1');
    expect(scanner.lines).toBe(3);
    expect(scanner.findings).toEqual([
      { source: 'w1', secret: 'PREFECT_API_KEY', line: '{"key":"***"}' },
      { source: 'w1', secret: 'PREFECT_API_KEY', line: 'last line without newline ***' },
    ]);
    expect(noSecretInLogs(scanner).held).toBe(false);
  });

  it('refuses a secret too short to scan for', () => {
    expect(() => new SecretScanner({ X: 'short' })).toThrow(/too short/);
  });
});

describe('fault schedule', () => {
  it('is the same for the same seed, and has every kind at least once', () => {
    const a = scheduleFaults(new Prng(7), FAULT_KINDS, 40, 10_000);
    const b = scheduleFaults(new Prng(7), FAULT_KINDS, 40, 10_000);
    expect(a).toEqual(b);
    expect(new Set(a.map((e) => e.kind))).toEqual(new Set(FAULT_KINDS));
    expect(a.every((e, i) => i === 0 || (a[i - 1]?.at ?? 0) <= e.at)).toBe(true);
    expect(scheduleFaults(new Prng(8), FAULT_KINDS, 40, 10_000)).not.toEqual(a);
  });

  it('scales with the runs', () => {
    expect(scheduleFaults(new Prng(1), ['spot-interruption'], 1000, 60_000)).toHaveLength(30);
  });

  it('takes a worker down at most once per 20 s on average, keeping every process fault kind', () => {
    const kinds = [
      'worker-kill',
      'kill-after-run-task',
      'kill-before-run-task',
      'worker-lost',
      'prefect-5xx',
    ] as const;
    // 3,000 runs over 300 s: 45 + 30 + 30 + 15 = 120 process faults by the runs; 3 workers × 300 s ÷ 20 s = 45.
    const big = scheduleFaults(new Prng(1), kinds, 3000, 300_000, 3);
    const processFaults = big.filter((e) => e.kind !== 'prefect-5xx');
    expect(processFaults.length).toBeLessThanOrEqual(45);
    expect(processFaults.length).toBeGreaterThanOrEqual(40);
    expect(big.filter((e) => e.kind === 'prefect-5xx')).toHaveLength(60);
    // The short mode's few runs keep one of each kind, as before.
    const small = scheduleFaults(new Prng(1), kinds, 60, 9_000, 2);
    expect(new Set(small.map((e) => e.kind))).toEqual(new Set(kinds));
    expect(small).toEqual(scheduleFaults(new Prng(1), kinds, 60, 9_000));
  });

  it('leaves out the kinds whose worker features are not merged, unless asked for all', () => {
    const defaults = defaultFaultKinds(true);
    expect(defaults.includes('worker-kill')).toBe(MERGED_FEATURES.reconciliation);
    expect(parseFaultKinds('all', true)).toEqual([...FAULT_KINDS]);
    expect(parseFaultKinds('all', false)).not.toContain('sqs-duplicate');
    expect(parseFaultKinds('ecs-throttle, spot-interruption', true)).toEqual([
      'ecs-throttle',
      'spot-interruption',
    ]);
    expect(() => parseFaultKinds('ecs-throtle', true)).toThrow(/unknown fault kind 'ecs-throtle'/);
    expect(() => parseFaultKinds('sqs-reorder', false)).toThrow(/needs the events queue/);
  });
});
