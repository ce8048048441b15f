import { ecsLauncherPlugin } from '@stevedore/ecs-launcher';
import { createKernel } from '@stevedore/kernel';
import { observerSqsPlugin } from '@stevedore/observer-sqs';

// The worker `stevedore start` runs, started from code with the plugins you chose. Configuration is validated
// here, every problem at once; nothing connects until run().
const kernel = createKernel({
  plugins: [ecsLauncherPlugin, observerSqsPlugin],
  config: {
    apiUrl: process.env.PREFECT_API_URL,
    apiKey: process.env.PREFECT_API_KEY,
    pool: process.env.STEVEDORE_POOL ?? 'my-ecs-pool',
    name: 'embedded-worker',
    plugins: { 'observer-sqs': { enabled: process.env.STEVEDORE_EVENTS !== 'off' } },
  },
  // Handed to every flow run, as `stevedore start` hands its PREFECT_* settings.
  workerEnv: Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[0].startsWith('PREFECT_') && e[1] !== undefined,
    ),
  ),
});

const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());
await kernel.run(stop.signal); // graceful: launches in flight finish first
