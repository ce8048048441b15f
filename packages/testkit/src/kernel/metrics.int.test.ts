import { afterEach, expect, it } from 'vitest';
import { createFakeInfrastructure, fakeInfrastructurePlugin } from '../fakes/fake-infrastructure.js';
import { startPrefectEmulator } from '../prefect-emulator/index.js';
import { createTestKernel } from '../test-kernel.js';
import { waitFor } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

it('serves the worker metrics at /metrics next to /health', async () => {
  const prefect = await startPrefectEmulator({ mode: '3' });
  cleanups.push(() => prefect.stop());
  prefect.seedWorkPool({ name: 'ecs-pool', type: 'ecs' });
  const flow = prefect.seedFlow({ name: 'etl' });
  const fake = createFakeInfrastructure({ type: 'ecs' });
  const kernel = createTestKernel({
    plugins: [fakeInfrastructurePlugin(fake)],
    apiUrl: prefect.url,
    pool: 'ecs-pool',
    config: {
      withHealthcheck: true,
      healthcheckHost: '127.0.0.1',
      healthcheckPort: 0,
      trackerPollSeconds: 0.1,
    },
  });
  const handle = kernel.start();
  cleanups.push(() => handle.stop());
  const ok = prefect.seedFlowRun({ flow_id: flow.id, work_pool_name: 'ecs-pool' });
  await waitFor(() => prefect.getFlowRun(ok.id)?.infrastructure_pid, 5000, 'a launch');
  const submission = [...fake.submissions.values()][0];
  if (!submission) throw new Error('no submission');
  fake.emit({ identifier: submission.identifier, status: 'stopped', exitCode: 1 });
  await waitFor(() => prefect.getFlowRun(ok.id)?.state?.type === 'CRASHED', 5000, 'the crash');

  const line = await waitFor(
    () => kernel.records.find((r) => r.message.startsWith('Health check listening on ')),
    5000,
    'the health server',
  );
  const url = /listening on (\S+)\/health/.exec(line.message)?.[1];
  const text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toContain('stevedore_flow_runs_claimed_total 1\n');
  expect(text).toContain('stevedore_flow_runs_launched_total 1\n');
  expect(text).toContain('stevedore_flow_runs_crashed_total{stage="infrastructure"} 1\n');
  expect(text).toContain('stevedore_launch_latency_seconds_count 1\n');
  expect(text).toContain('stevedore_flow_runs_tracked 0\n');
  expect(text).toMatch(/# TYPE stevedore_launch_latency_seconds histogram/);
  expect(text).toMatch(/^stevedore_events\{fate="emitted"\} \d+$/m);
  expect(text).toMatch(/^stevedore_events_buffered \d+$/m);
});
