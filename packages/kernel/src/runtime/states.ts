import { randomUUID } from 'node:crypto';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import type { Logger } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import type { OrchestrationResult, ServerInfo, State, StateType } from '../prefect/types.js';

/**
 * The words in the message of every AwaitingRetry state the kernel writes after an infrastructure interruption;
 * how the kernel tells its own reschedules from other AwaitingRetry states (a flow's own `retries`) in a history.
 * @internal
 */
export const INTERRUPTION_RETRY_MARK = 'interruption retry';

/** A state of the history that is one of the kernel's interruption reschedules. @internal */
export function isInterruptionRetry(s: Pick<State, 'type' | 'name' | 'message'>): boolean {
  return (
    s.type === 'SCHEDULED' &&
    s.name === 'AwaitingRetry' &&
    (s.message ?? '').includes(INTERRUPTION_RETRY_MARK)
  );
}

/**
 * A state history, oldest first, as one line: `Scheduled → Pending → Running → AwaitingRetry (…) → …`, the messages
 * of the kernel's reschedules in brackets; at most the last 40 states.
 * @internal
 */
export function describeHistory(
  history: readonly Pick<State, 'type' | 'name' | 'message' | 'timestamp'>[],
): string {
  const shown = history.slice(-40).map((s) => {
    const name = s.name ?? s.type;
    return isInterruptionRetry(s) ? `${name} at ${s.timestamp ?? '?'} (${s.message})` : name;
  });
  return `${history.length > 40 ? '… → ' : ''}${shown.join(' → ')}`;
}

/**
 * A forced Scheduled state named `AwaitingRetry`, due `now` (Prefect's own `AwaitingRetry` constructor): the run goes
 * back to the pool's queue and any worker of the pool may claim it. Forced, so it also replaces a Crashed state the
 * engine reported when the infrastructure was taken away.
 * @internal
 */
export async function proposeAwaitingRetry(
  api: PrefectApi,
  flowRunId: string,
  message: string,
  now: Date,
  server: ServerInfo | undefined,
  signal?: AbortSignal,
): Promise<OrchestrationResult> {
  const body = stateBody(flowRunId, 'SCHEDULED', 'AwaitingRetry', message, server);
  body.state_details.scheduled_time = now.toISOString();
  // Not retried: a retry after a lost answer would write a second AwaitingRetry and spend the budget twice. The
  // caller reads the history before proposing again, and finds the first one if it landed.
  return api.setFlowRunState(flowRunId, { state: body, force: true }, { signal, retries: 0 });
}

/**
 * The body of a state proposal. `message` and null-valued details are left out because Prefect 2.x
 * schemas declare them as non-nullable strings; `transition_id` is sent as Prefect 3's client does.
 * @internal
 */
export function stateBody(
  flowRunId: string,
  type: StateType,
  name: string,
  message: string | undefined,
  server: ServerInfo | undefined,
): { type: StateType; name: string; message?: string; state_details: Record<string, unknown> } {
  const details: Record<string, unknown> = { flow_run_id: flowRunId };
  if (!server || server.major >= 3) details.transition_id = randomUUID();
  return { type, name, ...(message === undefined ? {} : { message }), state_details: details };
}

function withoutNulls(o: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o ?? {})) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

/**
 * Spec §1.5 crash proposal: a normal (not forced) `set_state` to CRASHED; ABORT and 404 are swallowed.
 * @internal
 */
export async function proposeCrashed(
  api: PrefectApi,
  flowRunId: string,
  message: string,
  server: ServerInfo | undefined,
  logger: Logger,
  signal?: AbortSignal,
): Promise<OrchestrationResult | 'gone' | 'failed'> {
  try {
    const result = await api.setFlowRunState(
      flowRunId,
      { state: stateBody(flowRunId, 'CRASHED', 'Crashed', message, server), force: false },
      { signal },
    );
    if (result.status === 'ABORT') {
      logger.debug(
        `Crash report for flow run '${flowRunId}' was aborted by the server: ${result.details.reason ?? ''}`,
      );
      return result;
    }
    logger.info(`Reported flow run '${flowRunId}' as crashed: ${message}`);
    return result;
  } catch (e) {
    if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) return 'gone';
    logger.error(`Failed to report flow run '${flowRunId}' as crashed.`, { error: e });
    return 'failed';
  }
}

/**
 * Spec §1.10: the current state copied with type CANCELLED / name "Cancelled", details kept, message
 * set, sent with `force: true`; a 404 is ignored.
 * @internal
 */
export async function markCancelled(
  api: PrefectApi,
  flowRunId: string,
  current: State | null | undefined,
  message: string,
  server: ServerInfo | undefined,
  logger: Logger,
  signal?: AbortSignal,
): Promise<void> {
  const body = stateBody(flowRunId, 'CANCELLED', 'Cancelled', message, server);
  body.state_details = { ...withoutNulls(current?.state_details), ...body.state_details };
  try {
    await api.setFlowRunState(flowRunId, { state: body, force: true }, { signal });
  } catch (e) {
    if (isStevedoreError(e, kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND)) return;
    throw e;
  }
  logger.info(`Marked flow run '${flowRunId}' as cancelled: ${message}`);
}
