import { randomUUID } from 'node:crypto';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import type { Logger } from '../logger.js';
import type { PrefectApi } from '../prefect/api.js';
import type { OrchestrationResult, ServerInfo, State, StateType } from '../prefect/types.js';

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
