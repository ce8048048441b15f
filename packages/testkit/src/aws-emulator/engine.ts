import type { SimOutcome, TaskBehavior, TaskBehaviorFn } from './types.js';
import { SIM_OUTCOMES } from './types.js';
import { sleep } from './util.js';

/** The env vars the simulated container reads to decide what it does. */
export const SIM_OUTCOME_ENV = 'STEVEDORE_SIM_OUTCOME';
export const SIM_RUN_MS_ENV = 'STEVEDORE_SIM_RUN_MS';

/** Default behavior: `STEVEDORE_SIM_OUTCOME` (default `complete`) and `STEVEDORE_SIM_RUN_MS`. */
export const defaultTaskBehavior: TaskBehaviorFn = (_task, env) => {
  const raw = env[SIM_OUTCOME_ENV]?.trim().toLowerCase();
  const outcome: SimOutcome = SIM_OUTCOMES.includes(raw as SimOutcome) ? (raw as SimOutcome) : 'complete';
  const runMs = Number(env[SIM_RUN_MS_ENV]);
  const behavior: TaskBehavior = { outcome };
  if (env[SIM_RUN_MS_ENV] !== undefined && Number.isFinite(runMs) && runMs >= 0) behavior.runMs = runMs;
  return behavior;
};

export type ProposeResult = 'accept' | 'reject' | 'abort' | 'error' | 'cancelled';

export interface EngineContext {
  fetch: typeof fetch;
  apiUrl: string;
  flowRunId: string;
  apiKey?: string;
  authString?: string;
  signal: AbortSignal;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Proposes a flow run state the way the Prefect engine's client does: `POST /flow_runs/{id}/set_state`,
 * looping on WAIT with the server's delay; transient failures (network, 429, 5xx) are retried a few times.
 */
export async function proposeState(
  ctx: EngineContext,
  state: { type: string; name: string; message?: string },
): Promise<ProposeResult> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (ctx.apiKey) headers.authorization = `Bearer ${ctx.apiKey}`;
  else if (ctx.authString) headers.authorization = `Basic ${Buffer.from(ctx.authString).toString('base64')}`;
  const url = `${ctx.apiUrl.replace(/\/+$/, '')}/flow_runs/${ctx.flowRunId}/set_state`;
  let transient = 0;
  for (;;) {
    if (ctx.signal.aborted) return 'cancelled';
    let res: Response;
    try {
      res = await ctx.fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ state, force: false }),
        signal: ctx.signal,
      });
    } catch {
      if (ctx.signal.aborted) return 'cancelled';
      if (++transient > 3) return 'error';
      await sleep(20 * 2 ** transient, ctx.signal);
      continue;
    }
    if (ctx.signal.aborted) return 'cancelled';
    if (res.status === 429 || res.status >= 500) {
      await res.text().catch(() => '');
      if (++transient > 3) return 'error';
      const retryAfter = Number(res.headers.get('retry-after'));
      await sleep(
        Number.isFinite(retryAfter) && retryAfter > 0
          ? Math.min(retryAfter * 1000, 2000)
          : 20 * 2 ** transient,
        ctx.signal,
      );
      continue;
    }
    if (!res.ok) {
      await res.text().catch(() => '');
      return 'error';
    }
    const body: unknown = await res.json().catch(() => null);
    const status = isObject(body) ? body.status : undefined;
    if (status === 'ACCEPT') return 'accept';
    if (status === 'ABORT') return 'abort';
    if (status === 'REJECT') return 'reject';
    if (status === 'WAIT') {
      const details = isObject(body) && isObject(body.details) ? body.details : {};
      const delay = typeof details.delay_seconds === 'number' ? details.delay_seconds : 1;
      await sleep(Math.max(0, delay * 1000), ctx.signal);
      continue;
    }
    return 'error';
  }
}
