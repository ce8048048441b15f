import type { Task } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import {
  diagnoseEcsTask,
  type EcsTaskDescription,
  ecsCrashMessage,
  ecsInterruption,
  ecsTaskStatus,
  orchestrationContainer,
  toStateChange,
} from './task-state.js';

const ID =
  'arn:aws:ecs:us-east-1:111122223333:cluster/default::arn:aws:ecs:us-east-1:111122223333:task/default/abc';
const T0 = new Date('2025-05-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function task(fields: Partial<Task> = {}): Task {
  return {
    taskArn: 'arn:aws:ecs:us-east-1:111122223333:task/default/abc',
    clusterArn: 'arn:aws:ecs:us-east-1:111122223333:cluster/default',
    createdAt: T0,
    version: 1,
    ...fields,
  };
}

function stopped(fields: Partial<Task> = {}): Task {
  return task({
    lastStatus: 'STOPPED',
    desiredStatus: 'STOPPED',
    stoppedAt: at(60),
    version: 5,
    ...fields,
  });
}

describe('ecsTaskStatus / toStateChange status mapping', () => {
  it.each([
    ['PROVISIONING', 'pending', 'ECS task is provisioning.'],
    ['PENDING', 'pending', 'ECS task is pending.'],
    ['ACTIVATING', 'pending', 'ECS task is pending.'],
    ['RUNNING', 'running', undefined],
    ['DEACTIVATING', 'running', undefined],
    ['STOPPING', 'running', undefined],
    ['DEPROVISIONING', 'running', undefined],
    ['STOPPED', 'stopped', undefined],
  ] as const)('%s → %s', (lastStatus, status, pendingMessage) => {
    expect(ecsTaskStatus(lastStatus)).toBe(status);
    const change = toStateChange(task({ lastStatus }), { identifier: ID });
    expect(change.status).toBe(status);
    expect(change.providerStatus).toBe(lastStatus);
    expect(change.pendingMessage).toBe(pendingMessage);
    expect(change.identifier).toBe(ID);
  });

  it('treats an absent or unknown status as pending, without a pending message', () => {
    expect(ecsTaskStatus(undefined)).toBe('pending');
    const change = toStateChange(task({ lastStatus: 'SOMETHING_NEW' }), { identifier: ID });
    expect(change).toMatchObject({ status: 'pending', providerStatus: 'SOMETHING_NEW' });
    expect(change.pendingMessage).toBeUndefined();
  });

  it('carries the version and the timestamp that goes with the status', () => {
    const t = task({
      createdAt: T0,
      pullStartedAt: at(5),
      pullStoppedAt: at(10),
      startedAt: at(12),
      stoppingAt: at(50),
      stoppedAt: at(60),
      version: 7,
    });
    const atFor = (lastStatus: string) => toStateChange({ ...t, lastStatus }, { identifier: ID }).at;
    expect(toStateChange({ ...t, lastStatus: 'RUNNING' }, { identifier: ID }).version).toBe(7);
    expect(atFor('PROVISIONING')).toBe(T0.toISOString());
    expect(atFor('PENDING')).toBe(at(5).toISOString());
    expect(atFor('ACTIVATING')).toBe(at(10).toISOString());
    expect(atFor('RUNNING')).toBe(at(12).toISOString());
    expect(atFor('STOPPING')).toBe(at(50).toISOString());
    expect(atFor('STOPPED')).toBe(at(60).toISOString());
  });

  it('accepts an EventBridge detail (ISO strings, nulls) as well as an SDK task', () => {
    const detail: EcsTaskDescription = {
      lastStatus: 'STOPPED',
      version: 4,
      stoppedAt: '2025-05-01T10:01:00Z',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      containers: [{ name: 'prefect', exitCode: null, reason: null }],
    };
    const change = toStateChange(detail, { identifier: ID });
    expect(change).toMatchObject({ status: 'stopped', at: '2025-05-01T10:01:00.000Z', exitCode: null });
  });

  it('reads the flow run id from the prefect.io/flow-run-id tag when tags are present', () => {
    const tagged = task({
      lastStatus: 'RUNNING',
      tags: [
        { key: 'prefect.io/flow-run-name', value: 'crimson-fox' },
        { key: 'prefect.io/flow-run-id', value: 'run-1' },
      ],
    });
    expect(toStateChange(tagged, { identifier: ID }).flowRunId).toBe('run-1');
    expect(toStateChange(task({ lastStatus: 'RUNNING' }), { identifier: ID }).flowRunId).toBeUndefined();
  });
});

describe('orchestrationContainer', () => {
  const containers = [{ name: 'sidecar' }, { name: 'prefect' }, { name: 'app' }];
  it('prefers the known container name, then prefect, then the only container', () => {
    expect(orchestrationContainer({ containers }, 'app')?.name).toBe('app');
    expect(orchestrationContainer({ containers }, 'missing')?.name).toBe('prefect');
    expect(orchestrationContainer({ containers })?.name).toBe('prefect');
    expect(orchestrationContainer({ containers: [{ name: 'flow' }] })?.name).toBe('flow');
    expect(orchestrationContainer({ containers: [{ name: 'a' }, { name: 'b' }] })).toBeUndefined();
  });
});

describe('toStateChange for STOPPED tasks', () => {
  it('reports exit code, stop code and reasons of a normal finish without diagnosis or crash message', () => {
    const change = toStateChange(
      stopped({
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        containers: [{ name: 'prefect', exitCode: 0 }],
      }),
      { identifier: ID },
    );
    expect(change).toEqual({
      identifier: ID,
      status: 'stopped',
      providerStatus: 'STOPPED',
      version: 5,
      at: at(60).toISOString(),
      exitCode: 0,
      stopCode: 'EssentialContainerExited',
      stopReason: 'Essential container in task exited',
    });
    // Exit code 0: the kernel crashes the run if it never reported a final state, with its own message.
    expect(change.crashMessage).toBeUndefined();
    expect(change.diagnosis).toBeUndefined();
  });

  it('takes the exit code of the orchestration container named by the launch, and joins container reasons', () => {
    const change = toStateChange(
      stopped({
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        containers: [
          { name: 'envoy', exitCode: 0 },
          { name: 'flow', exitCode: 2, reason: 'Error' },
        ],
      }),
      { identifier: ID, containerName: 'flow' },
    );
    expect(change.exitCode).toBe(2);
    expect(change.stopReason).toBe('Essential container in task exited; flow: Error');
    expect(change.crashMessage).toBe("The following containers stopped with a non-zero exit code: ['flow']");
  });

  it('does not crash or diagnose for a failed sidecar next to a healthy orchestration container', () => {
    const change = toStateChange(
      stopped({
        stopCode: 'EssentialContainerExited',
        containers: [
          { name: 'prefect', exitCode: 0 },
          { name: 'sidecar', exitCode: 1 },
        ],
      }),
      { identifier: ID },
    );
    expect(change.exitCode).toBe(0);
    expect(change.diagnosis).toBeUndefined();
    expect(change.crashMessage).toBeUndefined();
  });

  it('reports a null exit code when the orchestration container cannot be identified', () => {
    const change = toStateChange(
      stopped({
        containers: [
          { name: 'a', exitCode: 1 },
          { name: 'b', exitCode: 0 },
        ],
      }),
      { identifier: ID },
    );
    expect(change.exitCode).toBeNull();
    // Without an orchestration container every container is checked (spec §3.4 (b) 2).
    expect(change.crashMessage).toBe("The following containers stopped with a non-zero exit code: ['a']");
  });
});

describe('diagnoseEcsTask (first match wins)', () => {
  it('1. CannotPullContainerError → image pull failed', () => {
    const reason =
      'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/nope:latest';
    const d = diagnoseEcsTask(
      stopped({
        stopCode: 'TaskFailedToStart',
        stoppedReason: reason,
        containers: [{ name: 'prefect' }],
      }),
    );
    expect(d).toMatchObject({ summary: 'Container image pull failed', detail: reason, level: 'error' });
    expect(d?.resolution).toContain('task execution role has permissions to pull');
  });

  it('2. TaskFailedToStart → failed to start, with the reason or a placeholder', () => {
    expect(
      diagnoseEcsTask(
        stopped({
          stopCode: 'TaskFailedToStart',
          stoppedReason: 'ResourceInitializationError: unable to pull secrets',
        }),
      ),
    ).toMatchObject({
      summary: 'ECS task failed to start',
      detail: 'ResourceInitializationError: unable to pull secrets',
      level: 'error',
    });
    expect(diagnoseEcsTask(stopped({ stopCode: 'TaskFailedToStart' }))?.detail).toBe(
      'Task failed to start (no additional detail).',
    );
  });

  it('3. SpotInterruption → Fargate Spot capacity was reclaimed (warning)', () => {
    expect(
      diagnoseEcsTask(
        stopped({
          stopCode: 'SpotInterruption',
          stoppedReason: 'Your Spot Task was interrupted.',
          containers: [{ name: 'prefect' }],
        }),
      ),
    ).toMatchObject({
      summary: 'Fargate Spot capacity was reclaimed',
      detail: 'Your Spot Task was interrupted.',
      level: 'warning',
    });
  });

  it('4. OutOfMemoryError in a container reason → ran out of memory (before EssentialContainerExited)', () => {
    const d = diagnoseEcsTask(
      stopped({
        stopCode: 'EssentialContainerExited',
        containers: [
          {
            name: 'prefect',
            exitCode: 137,
            reason: 'OutOfMemoryError: Container killed due to memory usage',
          },
        ],
      }),
    );
    expect(d).toMatchObject({
      summary: 'Container ran out of memory',
      detail:
        "Container 'prefect' was stopped: OutOfMemoryError: Container killed due to memory usage (exit code 137).",
      level: 'error',
    });
  });

  it('5. EssentialContainerExited → per-container sentences', () => {
    const d = diagnoseEcsTask(
      stopped({
        stopCode: 'EssentialContainerExited',
        containers: [
          { name: 'prefect', exitCode: 1 },
          { name: 'log-router' },
          { name: 'sidecar', exitCode: 0 },
        ],
      }),
    );
    expect(d).toMatchObject({
      summary: 'Essential container exited',
      detail:
        "Container 'prefect' exited with code 1. Container(s) 'log-router' had no exit code, indicating the task was terminated by ECS or the underlying infrastructure.",
      level: 'error',
    });
    expect(d?.resolution).toContain('An essential container in the task exited');
  });

  it('6a. only missing exit codes → task terminated by infrastructure (warning)', () => {
    const d = diagnoseEcsTask(
      stopped({ stopCode: 'UserInitiated', containers: [{ name: 'prefect' }, { name: 'sidecar' }] }),
    );
    expect(d).toMatchObject({
      summary: 'Task terminated by infrastructure',
      detail:
        "Container(s) 'prefect', 'sidecar' had no exit code, indicating the task was terminated by ECS or the underlying infrastructure.",
      level: 'warning',
    });
  });

  it('6b. a non-zero exit code → container exited with non-zero exit code (error; 137 hint)', () => {
    const d = diagnoseEcsTask(stopped({ containers: [{ name: 'prefect', exitCode: 137 }] }));
    expect(d).toMatchObject({
      summary: 'Container exited with non-zero exit code',
      detail: "Container 'prefect' exited with code 137.",
      level: 'error',
    });
    expect(d?.resolution).toContain('Exit code 137 often indicates an out-of-memory condition');
  });

  it('gives nothing for a task that is not stopped, or stopped cleanly without a stop code', () => {
    expect(diagnoseEcsTask(task({ lastStatus: 'RUNNING' }))).toBeUndefined();
    expect(diagnoseEcsTask(stopped({ containers: [{ name: 'prefect', exitCode: 0 }] }))).toBeUndefined();
  });

  it('attaches the diagnosis to the stopped change', () => {
    const change = toStateChange(stopped({ containers: [{ name: 'prefect', exitCode: 3 }] }), {
      identifier: ID,
    });
    expect(change.diagnosis?.summary).toBe('Container exited with non-zero exit code');
  });
});

describe('ecsCrashMessage (spec §3.4 (b) 4)', () => {
  it('names the failed checked containers as a Python list repr', () => {
    expect(ecsCrashMessage(stopped({ containers: [{ name: 'prefect', exitCode: 1 }] }))).toBe(
      "The following containers stopped with a non-zero exit code: ['prefect']",
    );
    expect(
      ecsCrashMessage(
        stopped({
          containers: [
            { name: "it's", exitCode: 1 },
            { containerArn: 'arn:aws:ecs:us-east-1:1:container/x' },
          ],
        }),
      ),
    ).toBe(
      `The following containers stopped with a non-zero exit code: ["it's", 'arn:aws:ecs:us-east-1:1:container/x']`,
    );
  });

  it('explains a task that failed to start without containers', () => {
    expect(
      ecsCrashMessage(
        stopped({
          stopCode: 'TaskFailedToStart',
          stoppedReason: 'Capacity is unavailable at this time.',
          containers: [],
        }),
      ),
    ).toBe(
      'ECS task failed to start: Capacity is unavailable at this time.. The capacity provider could not place the task.',
    );
    expect(ecsCrashMessage(stopped({ stopCode: 'TaskFailedToStart' }))).toBe(
      'ECS task failed to start: unknown reason. The capacity provider could not place the task.',
    );
    expect(
      toStateChange(stopped({ stopCode: 'TaskFailedToStart' }), { identifier: ID }).diagnosis?.summary,
    ).toBe('ECS task failed to start');
  });

  it('leaves exit code 0 and running tasks alone', () => {
    expect(ecsCrashMessage(stopped({ containers: [{ name: 'prefect', exitCode: 0 }] }))).toBeUndefined();
    expect(ecsCrashMessage(task({ lastStatus: 'RUNNING' }))).toBeUndefined();
  });
});

describe('ecsInterruption', () => {
  const stopped = (stopCode: string, stoppedReason?: string) =>
    ({
      lastStatus: 'STOPPED',
      stopCode,
      ...(stoppedReason ? { stoppedReason } : {}),
      containers: [{ name: 'prefect', lastStatus: 'STOPPED' }],
    }) as const;

  it('classes SpotInterruption and TerminationNotice as interruptions, with the stopped reason', () => {
    expect(ecsInterruption(stopped('SpotInterruption', 'Your Spot Task was interrupted.'))).toEqual({
      class: 'spot-interruption',
      summary: 'Fargate Spot capacity was reclaimed (Your Spot Task was interrupted.).',
    });
    expect(ecsInterruption(stopped('TerminationNotice'))).toEqual({
      class: 'infrastructure-terminated',
      summary: 'The infrastructure under the ECS task was terminated.',
    });
  });

  it("never classes the user's or the worker's stops, nor a task still running", () => {
    for (const code of [
      'EssentialContainerExited',
      'UserInitiated',
      'TaskFailedToStart',
      'ServiceSchedulerInitiated',
    ])
      expect(ecsInterruption(stopped(code))).toBeUndefined();
    expect(ecsInterruption({ lastStatus: 'RUNNING', stopCode: 'SpotInterruption' })).toBeUndefined();
  });

  it('reaches the kernel through toStateChange', () => {
    const change = toStateChange(
      { ...stopped('SpotInterruption', 'Your Spot Task was interrupted.'), version: 4 },
      { identifier: 'c::t' },
    );
    expect(change.interruption?.class).toBe('spot-interruption');
    expect(toStateChange(stopped('EssentialContainerExited'), { identifier: 'c::t' })).not.toHaveProperty(
      'interruption',
    );
  });
});
