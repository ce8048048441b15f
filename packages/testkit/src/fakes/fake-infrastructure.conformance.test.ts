import type { FlowRunJob } from '@stevedore/kernel';
import { nullLogger } from '@stevedore/kernel';
import { describeInfrastructureConformance } from '../conformance/infrastructure.js';
import { describeObserverConformance } from '../conformance/observer.js';
import { createFakeInfrastructure } from './fake-infrastructure.js';

let seq = 0;
function job(attemptKey?: string): FlowRunJob {
  seq += 1;
  const id = `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`;
  return {
    flowRun: { id, name: `run-${seq}`, flow_id: 'f' },
    flow: { id: 'f', name: 'flow' },
    deployment: undefined,
    workPool: { id: 'p', name: 'pool', type: 'ecs', base_job_template: {} },
    configuration: { command: null, env: {}, labels: {}, name: null },
    jobVariables: {},
    server: { version: '3.4.11', major: 3, isCloud: false },
    runLogger: nullLogger,
    attemptKey: attemptKey ?? `${id}:1`,
  };
}

describeInfrastructureConformance('FakeInfrastructure (testkit)', async () => {
  const fake = createFakeInfrastructure({ type: 'ecs' });
  return {
    infrastructure: fake,
    makeJob: (o) => job(o?.attemptKey),
    unknownIdentifier: 'fake-cluster::nope',
    identifierPattern: /^fake-cluster::fake-task-\d+$/,
    launchCount: (key) => [...fake.submissions.values()].filter((s) => s.attemptKey === key).length,
  };
});

describeObserverConformance('FakeInfrastructure observer (testkit)', async () => {
  const fake = createFakeInfrastructure({ type: 'ecs' });
  return {
    observer: fake.observer(),
    launch: async () => {
      const j = job();
      const { identifier } = await fake.submit(j, { signal: AbortSignal.timeout(1000) });
      return { identifier, flowRunId: j.flowRun.id, infrastructureType: 'ecs' };
    },
    stop: (identifier) => fake.kill(identifier),
    timeoutMs: 2000,
  };
});
