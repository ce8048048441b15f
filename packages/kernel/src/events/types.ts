/**
 * A Prefect event as a client sends it (the `Event` schema of Prefect's OpenAPI document): what happened
 * (`event`), to which resource, with which related resources. `id` is the client's: the server keeps the first
 * event of an id and drops later ones, so a stable id makes a re-sent or re-observed event harmless.
 * @public
 */
export interface PrefectEvent {
  id: string;
  /** ISO-8601 with a time zone. */
  occurred: string;
  event: string;
  /** Labels of the primary resource; `prefect.resource.id` is required. */
  resource: Record<string, string>;
  /** Related resources; each carries `prefect.resource.id` and `prefect.resource.role`. */
  related?: Array<Record<string, string>>;
  payload?: Record<string, unknown>;
  /** The id of an event known to have happened just before this one (causal ordering on the server). */
  follows?: string | null;
}

/** What the emitter has done so far. @public */
export interface EventEmitterStats {
  /** `emit` calls accepted into the buffer. */
  emitted: number;
  /** Events confirmed written to the server (a ping answered after they were sent). */
  delivered: number;
  /** Events dropped because the buffer was full (the oldest go first). */
  dropped: number;
  /** Events held in memory: waiting to be sent, or sent and not yet confirmed. */
  buffered: number;
  /** Successful connections (handshake done), the first one included. */
  connections: number;
  state: EventEmitterState;
}

/**
 * `idle`: nothing to send yet; `connecting`/`open`: working; `backoff`: waiting to reconnect;
 * `off`: disabled by configuration; `unavailable`: the server has no events endpoint (Prefect 2.x); `stopped`.
 * @public
 */
export type EventEmitterState =
  | 'idle'
  | 'connecting'
  | 'open'
  | 'backoff'
  | 'off'
  | 'unavailable'
  | 'stopped';

/**
 * Sends Prefect events (resolved by plugins with `kernelTokens.events`). `emit` never blocks and never throws:
 * events go to a bounded in-memory buffer and are sent in the background.
 * @public
 */
export interface EventEmitter {
  /**
   * False when events are switched off or the server has no events endpoint: callers may skip building events
   * (and the AWS calls some need). Before the first connection it is true.
   */
  readonly enabled: boolean;
  emit(event: PrefectEvent): void;
  stats(): EventEmitterStats;
  /** Delivers what is buffered for up to `timeoutMs`, then closes; the kernel calls it when the worker stops. */
  stop?(timeoutMs?: number): Promise<void>;
}

/** An emitter that drops everything (events switched off; tests). @public */
export const nullEventEmitter: EventEmitter = Object.freeze({
  enabled: false,
  emit: () => {},
  stats: (): EventEmitterStats => ({
    emitted: 0,
    delivered: 0,
    dropped: 0,
    buffered: 0,
    connections: 0,
    state: 'off',
  }),
});
