import {
  emptyDetails,
  type FlowRunRecord,
  type StateDetailsRecord,
  type StateRecord,
  type Store,
  TERMINAL_STATES,
} from './store.js';
import type {
  JsonValue,
  OrchestrationScript,
  PrefectMode,
  SetStateStatus,
  StateDetailsInput,
  StateType,
} from './types.js';
import { defaultStateName, isJsonObject, newId, parseDateTime } from './util.js';

/**
 * Flow-run state orchestration, following the server's `CoreFlowPolicy` (Prefect 3.4) and, in mode 2,
 * the rules a 2.12 server applies. Everything here is synchronous: a proposal is read, decided and
 * committed without yielding, so concurrent proposals are serialised like the server's row lock.
 *
 * Rules implemented, in the server's order (mode 3):
 * - PreventDuplicateTransitions: same `transition_id` as the current state → REJECT (current state).
 * - HandleFlowTerminalStateTransitions: from a terminal state, CANCELLING/PAUSED/CRASHED → ABORT;
 *   COMPLETED with a persisted result → non-final → REJECT; SCHEDULED without a deployment → ABORT.
 *   Other departures from terminal states are allowed, as on the server.
 * - EnforceCancellingToCancelledTransition: CANCELLING → anything but CANCELLED → REJECT (current state).
 * - BypassCancellingFlowRunsWithNoInfra: SCHEDULED (no infrastructure_pid) → CANCELLING becomes CANCELLED.
 * - PreventPendingTransitions: PENDING from PENDING/RUNNING/CANCELLING/CANCELLED → ABORT, except
 *   PENDING → PENDING with a new name other than "Pending" (mode 3).
 * - SecureFlowConcurrencySlots: deployment concurrency (mode 3).
 * - EnsureOnlyScheduledFlowsMarkedLate, HandlePausingFlows, HandleResumingPausedFlows.
 * - CopyScheduledTime (SCHEDULED → PENDING) and WaitForScheduledTime (→ RUNNING before the scheduled time).
 * `force: true` skips the rules except BypassCancellingFlowRunsWithNoInfra (MinimalFlowPolicy).
 * Global transforms on commit: state id/timestamp/name, start_time, end_time, run_count, total_run_time,
 * expected/next scheduled start time, deployment slot release.
 */

export interface ProposedState {
  type: StateType;
  name: string | null;
  message: string | null;
  data: JsonValue;
  details: StateDetailsRecord;
}

export type ResultDetails =
  | { type: 'accept_details' }
  | { type: 'reject_details'; reason: string | null }
  | { type: 'abort_details'; reason: string | null }
  | { type: 'wait_details'; delay_seconds: number; reason: string | null };

export interface OrchestrationOutcome {
  status: SetStateStatus;
  /** The state returned to the client: the new state, or the current one when nothing was written. */
  state: StateRecord | null;
  details: ResultDetails;
  /** A new state was written (the API answers 201). */
  created: boolean;
}

export interface OrchestrationConfig {
  mode: PrefectMode;
  concurrencySlotWaitSeconds: number;
}

const TIME_KEYS = new Set(['scheduled_time', 'cache_expiration', 'pause_timeout']);

/** Request `state_details` → record (unknown keys, e.g. Prefect 3 fields sent to a 2.12 server, are ignored). */
export function parseDetails(input: StateDetailsInput | undefined): StateDetailsRecord {
  const details = emptyDetails();
  if (!input) return details;
  const target = details as unknown as Record<string, JsonValue>;
  for (const key of Object.keys(details)) {
    const value = input[key];
    if (value === undefined) continue;
    if (TIME_KEYS.has(key)) {
      target[key] = typeof value === 'string' ? parseDateTime(value) : null;
    } else {
      target[key] = value;
    }
  }
  return details;
}

export function proposedFromBody(state: { [key: string]: JsonValue | undefined }): ProposedState {
  const rawDetails = state.state_details;
  return {
    type: state.type as StateType,
    name: typeof state.name === 'string' ? state.name : null,
    message: typeof state.message === 'string' ? state.message : null,
    data: state.data ?? null,
    details: parseDetails(isJsonObject(rawDetails) ? rawDetails : undefined),
  };
}

const SLOT_STATES: ReadonlySet<StateType> = new Set(['PENDING', 'RUNNING', 'CANCELLING']);

export class Orchestrator {
  private readonly scripts: (OrchestrationScript & { remaining: number })[] = [];

  constructor(
    private readonly store: Store,
    private readonly config: OrchestrationConfig,
  ) {}

  addScript(script: OrchestrationScript): void {
    this.scripts.push({ ...script, remaining: script.times ?? 1 });
  }

  setState(run: FlowRunRecord, proposed: ProposedState, force: boolean): OrchestrationOutcome {
    const now = Date.now();
    const scripted = this.takeScript(run, proposed);
    if (scripted) return scripted;

    const initial = run.state;
    const outcome = force
      ? this.forcedRules(run, initial, proposed, now)
      : this.coreRules(run, initial, proposed, now);
    if (outcome.kind === 'commit') {
      const state = this.commit(run, initial, outcome.state, now, outcome.acquireSlot);
      return {
        status: outcome.status,
        state,
        details:
          outcome.status === 'ACCEPT'
            ? { type: 'accept_details' }
            : { type: 'reject_details', reason: outcome.reason },
        created: true,
      };
    }
    return { status: outcome.status, state: initial, details: outcome.details, created: false };
  }

  private takeScript(run: FlowRunRecord, proposed: ProposedState): OrchestrationOutcome | null {
    const index = this.scripts.findIndex(
      (s) =>
        s.remaining > 0 &&
        (s.flow_run_id === undefined || s.flow_run_id === run.id) &&
        (s.state_type === undefined || s.state_type === proposed.type),
    );
    const script = this.scripts[index];
    if (!script) return null;
    script.remaining -= 1;
    if (script.remaining <= 0) this.scripts.splice(index, 1);
    const details: ResultDetails =
      script.result.status === 'WAIT'
        ? {
            type: 'wait_details',
            delay_seconds: script.result.delay_seconds,
            reason: script.result.reason ?? null,
          }
        : { type: 'abort_details', reason: script.result.reason };
    return { status: script.result.status, state: run.state, details, created: false };
  }

  private forcedRules(
    run: FlowRunRecord,
    initial: StateRecord | null,
    proposed: ProposedState,
    now: number,
  ): Decision {
    const bypass = this.bypassCancelling(run, initial, proposed, now);
    return bypass ?? { kind: 'commit', status: 'ACCEPT', state: proposed, reason: null, acquireSlot: false };
  }

  private coreRules(
    run: FlowRunRecord,
    initial: StateRecord | null,
    proposed: ProposedState,
    now: number,
  ): Decision {
    const mode = this.config.mode;
    if (!initial) {
      return { kind: 'commit', status: 'ACCEPT', state: proposed, reason: null, acquireSlot: false };
    }
    const from = initial.type;
    const to = proposed.type;

    // PreventDuplicateTransitions
    if (
      mode === '3' &&
      initial.details.transition_id !== null &&
      proposed.details.transition_id !== null &&
      initial.details.transition_id === proposed.details.transition_id
    ) {
      return reject('This run has already made this state transition.');
    }

    // HandleFlowTerminalStateTransitions
    if (TERMINAL_STATES.has(from)) {
      if (to === 'CANCELLING' || to === 'PAUSED' || to === 'CRASHED') {
        return abort(mode === '3' ? `Run is already in terminal state ${from}.` : `Run is already ${from}.`);
      }
      const persisted = isJsonObject(initial.data) && initial.data.type !== 'unpersisted';
      if (from === 'COMPLETED' && !TERMINAL_STATES.has(to) && persisted) {
        return reject(mode === '3' ? 'Run is already COMPLETED.' : 'This run is already completed.');
      }
      if (to === 'SCHEDULED' && !run.deployment_id) {
        return abort('Cannot reschedule a run without an associated deployment.');
      }
    }

    // EnforceCancellingToCancelledTransition
    if (mode === '3' && from === 'CANCELLING' && to !== 'CANCELLED') {
      return reject('Cannot transition flows that are cancelling to a state other than Cancelled.');
    }

    const bypass = this.bypassCancelling(run, initial, proposed, now);
    if (bypass) return bypass;

    // PreventPendingTransitions
    if (
      to === 'PENDING' &&
      (from === 'PENDING' || from === 'CANCELLING' || from === 'RUNNING' || from === 'CANCELLED')
    ) {
      const rename =
        mode === '3' &&
        from === 'PENDING' &&
        initial.name !== (proposed.name ?? defaultStateName(to)) &&
        (proposed.name ?? 'Pending') !== 'Pending';
      if (!rename) {
        return abort(`This run is in a ${from} state and cannot transition to a PENDING state.`);
      }
      proposed.details.scheduled_time = initial.details.scheduled_time;
      proposed.details.deployment_concurrency_lease_id = initial.details.deployment_concurrency_lease_id;
    }

    // SecureFlowConcurrencySlots
    let acquireSlot = false;
    if (mode === '3' && to === 'PENDING' && !SLOT_STATES.has(from) && run.deployment_id) {
      const deployment = this.store.deployments.get(run.deployment_id);
      if (!deployment) return abort('Deployment not found.');
      if (deployment.concurrency_limit !== null) {
        if (deployment.concurrency_limit === 0) {
          return abort('The deployment concurrency limit is 0. The flow will deadlock if submitted again.');
        }
        if (this.store.deploymentActiveSlots(deployment.id) < deployment.concurrency_limit) {
          acquireSlot = true;
          proposed.details.deployment_concurrency_lease_id = newId();
        } else if (deployment.collision_strategy === 'CANCEL_NEW') {
          const cancelled = newState('CANCELLED', null, 'Deployment concurrency limit reached.');
          return {
            kind: 'commit',
            status: 'REJECT',
            state: cancelled,
            reason: 'Deployment concurrency limit reached.',
            acquireSlot: false,
          };
        } else {
          const waiting = newState('SCHEDULED', 'AwaitingConcurrencySlot', null);
          waiting.details.scheduled_time = now + this.config.concurrencySlotWaitSeconds * 1000;
          return {
            kind: 'commit',
            status: 'REJECT',
            state: waiting,
            reason: 'Deployment concurrency limit reached.',
            acquireSlot: false,
          };
        }
      }
    }

    // EnsureOnlyScheduledFlowsMarkedLate
    if (to === 'SCHEDULED' && proposed.name === 'Late' && from !== 'SCHEDULED') {
      return reject('Only scheduled flows can be marked late.');
    }

    // HandlePausingFlows
    if (to === 'PAUSED' && from !== 'RUNNING') {
      const verb = proposed.name === 'Suspended' ? 'suspend' : 'pause';
      return reject(`Cannot ${verb} flows that are not currently running.`);
    }

    // HandleResumingPausedFlows
    if (from === 'PAUSED' && !(to === 'RUNNING' || to === 'SCHEDULED' || TERMINAL_STATES.has(to))) {
      return reject(`This run cannot transition to the ${to} state from the ${from} state.`);
    }

    // CopyScheduledTime
    if (from === 'SCHEDULED' && to === 'PENDING' && proposed.details.scheduled_time === null) {
      proposed.details.scheduled_time = initial.details.scheduled_time;
    }

    // WaitForScheduledTime
    if (
      (from === 'SCHEDULED' || from === 'PENDING') &&
      to === 'RUNNING' &&
      initial.details.scheduled_time !== null
    ) {
      const delay = Math.round((initial.details.scheduled_time - now) / 1000);
      if (delay > 0) {
        return {
          kind: 'nothing',
          status: 'WAIT',
          details: { type: 'wait_details', delay_seconds: delay, reason: 'Scheduled time is in the future' },
        };
      }
    }

    return { kind: 'commit', status: 'ACCEPT', state: proposed, reason: null, acquireSlot };
  }

  private bypassCancelling(
    run: FlowRunRecord,
    initial: StateRecord | null,
    proposed: ProposedState,
    _now: number,
  ): Decision | null {
    if (!initial || proposed.type !== 'CANCELLING') return null;
    if ((initial.type === 'SCHEDULED' && !run.infrastructure_pid) || initial.name === 'Resuming') {
      return {
        kind: 'commit',
        status: 'REJECT',
        state: newState('CANCELLED', null, null),
        reason: 'Scheduled flow run has no infrastructure to terminate.',
        acquireSlot: false,
      };
    }
    if (initial.type === 'PAUSED' && initial.details.pause_reschedule) {
      return {
        kind: 'commit',
        status: 'REJECT',
        state: newState('CANCELLED', null, null),
        reason: 'Suspended flow run has no infrastructure to terminate.',
        acquireSlot: false,
      };
    }
    return null;
  }

  /** Writes `proposed` as the run's new state, applying the server's global transforms. */
  private commit(
    run: FlowRunRecord,
    initial: StateRecord | null,
    proposed: ProposedState,
    now: number,
    acquireSlot: boolean,
  ): StateRecord {
    const details: StateDetailsRecord = { ...proposed.details, flow_run_id: run.id };
    if (proposed.type === 'SCHEDULED' && details.scheduled_time === null) details.scheduled_time = now;
    const state: StateRecord = {
      id: newId(),
      type: proposed.type,
      name: proposed.name ?? defaultStateName(proposed.type),
      timestamp: now,
      message: proposed.message,
      data: proposed.data,
      details,
    };

    if (initial?.type === 'RUNNING') run.total_run_time += Math.max(0, (now - initial.timestamp) / 1000);
    if (state.type === 'RUNNING') {
      run.run_count += 1;
      if (run.start_time === null) run.start_time = now;
    }
    if (TERMINAL_STATES.has(state.type)) run.end_time = now;
    else if (initial && TERMINAL_STATES.has(initial.type)) run.end_time = null;
    if (run.expected_start_time === null) run.expected_start_time = details.scheduled_time ?? now;
    run.next_scheduled_start_time = state.type === 'SCHEDULED' ? details.scheduled_time : null;

    if (acquireSlot) run.holds_deployment_slot = true;
    else if (!SLOT_STATES.has(state.type)) run.holds_deployment_slot = false;

    run.state = state;
    run.history.push(state);
    run.updated = now;
    return state;
  }
}

type Decision =
  | {
      kind: 'commit';
      status: 'ACCEPT' | 'REJECT';
      state: ProposedState;
      reason: string | null;
      acquireSlot: boolean;
    }
  | { kind: 'nothing'; status: SetStateStatus; details: ResultDetails };

function reject(reason: string): Decision {
  return { kind: 'nothing', status: 'REJECT', details: { type: 'reject_details', reason } };
}

function abort(reason: string): Decision {
  return { kind: 'nothing', status: 'ABORT', details: { type: 'abort_details', reason } };
}

function newState(type: StateType, name: string | null, message: string | null): ProposedState {
  return { type, name, message, data: null, details: emptyDetails() };
}
