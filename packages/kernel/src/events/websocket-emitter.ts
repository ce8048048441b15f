import { createRequire } from 'node:module';
import type { RawData, WebSocket } from 'ws';
import { type Logger, nullLogger } from '../logger.js';
import { isCloudApiUrl } from '../prefect/transport.js';
import type { EventEmitter, EventEmitterState, EventEmitterStats, PrefectEvent } from './types.js';

/** `ws`, loaded when the socket first opens (CommonJS: required, see the kernel's container.ts). */
let wsModule: typeof WebSocket | undefined;
const loadWs = (): typeof WebSocket => {
  wsModule ??= createRequire(import.meta.url)('ws') as typeof WebSocket;
  return wsModule;
};
/** `WebSocket.OPEN`: the `readyState` of an open socket. */
const OPEN = 1;

/** Options of {@link WebSocketEventEmitter}. @public */
export interface WebSocketEventEmitterOptions {
  /** `PREFECT_API_URL`; the socket is `<url with ws/wss>/events/in`. */
  apiUrl: string;
  /** Prefect Cloud: sent as `Authorization: bearer <key>` on the upgrade, as Prefect's Cloud events client does. */
  apiKey?: string | undefined;
  /** Self-hosted server with `PREFECT_SERVER_API_AUTH_STRING`: sent in the `{"type":"auth"}` handshake. */
  authString?: string | undefined;
  cloudApiUrl?: string | undefined;
  /** False: nothing is ever sent (`STEVEDORE_EVENTS=false`). Default true. */
  enabled?: boolean;
  /** Most events held in memory (waiting or unconfirmed); when full the oldest are dropped. Default 10,000. */
  bufferSize?: number;
  /** Events written per batch before a ping confirms them. Default 100. */
  batchSize?: number;
  /** First reconnection delay; doubles per failed attempt up to `maxBackoffMs`. Defaults 500 ms and 30 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long the upgrade and the auth handshake may take. Default 10 s. */
  connectTimeoutMs?: number;
  userAgent?: string;
  logger?: Logger;
  random?: () => number;
}

interface Sent {
  seq: number;
  event: PrefectEvent;
}

/** `http(s)://…/api` → `ws(s)://…/api/events/in`, as Prefect's `events_in_socket_from_api_url`. @public */
export function eventsInSocketUrl(apiUrl: string): string {
  return `${apiUrl
    .replace(/^https:\/\//, 'wss://')
    .replace(/^http:\/\//, 'ws://')
    .replace(/\/+$/, '')}/events/in`;
}

/**
 * Streams events to Prefect's `/events/in` websocket, one JSON event per message, like Prefect's
 * `PrefectEventsClient`: events are buffered in memory (bounded; the oldest dropped and counted when full), written
 * in batches, each batch followed by a ping whose pong confirms it; unconfirmed events are re-sent after a
 * reconnection (the server keeps the first event of an id, so a re-sent event is stored once). It reconnects with
 * exponential backoff and never blocks or throws in {@link emit}.
 *
 * Authentication follows the server: Prefect Cloud takes the API key as an `Authorization` header on the upgrade;
 * a self-hosted server with an auth string (Prefect 3.x) asks for the `prefect` subprotocol and a first message
 * `{"type":"auth","token":<auth string>}`, answered `{"type":"auth_success"}`; a server without auth takes events
 * right away. A server that rejects the upgrade with 403 or 404 before any connection succeeded has no events
 * endpoint (Prefect 2.x): emission is turned off with one info line.
 * @public
 */
export class WebSocketEventEmitter implements EventEmitter {
  private readonly url: string;
  private readonly isCloud: boolean;
  private readonly logger: Logger;
  private readonly bufferSize: number;
  private readonly batchSize: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly connectTimeoutMs: number;
  private readonly random: () => number;
  private state: EventEmitterState;
  private queue: PrefectEvent[] = [];
  private unconfirmed: Sent[] = [];
  private readonly pings: number[] = [];
  private seq = 0;
  private ws: WebSocket | undefined;
  private attempt = 0;
  private everConnected = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private overflowing = false;
  private waiters: Array<() => void> = [];
  /** Set by `stop`: one last connection attempt, no more reconnections. */
  private stopping = false;
  private readonly counters = { emitted: 0, delivered: 0, dropped: 0, connections: 0 };

  constructor(private readonly options: WebSocketEventEmitterOptions) {
    this.url = eventsInSocketUrl(options.apiUrl);
    this.isCloud = isCloudApiUrl(options.apiUrl, options.cloudApiUrl ?? undefined);
    this.logger = options.logger ?? nullLogger;
    this.bufferSize = Math.max(1, options.bufferSize ?? 10_000);
    this.batchSize = Math.max(1, options.batchSize ?? 100);
    this.minBackoffMs = options.minBackoffMs ?? 500;
    this.maxBackoffMs = Math.max(this.minBackoffMs, options.maxBackoffMs ?? 30_000);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.random = options.random ?? Math.random;
    this.state = options.enabled === false ? 'off' : 'idle';
  }

  get enabled(): boolean {
    return this.state !== 'off' && this.state !== 'unavailable' && this.state !== 'stopped';
  }

  stats(): EventEmitterStats {
    return { ...this.counters, buffered: this.buffered, state: this.state };
  }

  private get buffered(): number {
    return this.queue.length + this.unconfirmed.length;
  }

  emit(event: PrefectEvent): void {
    if (!this.enabled) return;
    this.counters.emitted += 1;
    this.queue.push(event);
    while (this.buffered > this.bufferSize) this.dropOldest();
    if (this.state === 'idle') this.connect();
    else if (this.state === 'open') this.scheduleFlush();
  }

  private dropOldest(): void {
    if (this.unconfirmed.length > 0) this.unconfirmed.shift();
    else this.queue.shift();
    this.counters.dropped += 1;
    if (!this.overflowing) {
      this.overflowing = true;
      this.logger.warn(
        `The Prefect event buffer is full (${this.bufferSize} events): dropping the oldest events until the server takes them again.`,
        { url: this.url, dropped: this.counters.dropped },
      );
    }
  }

  private connect(): void {
    if (!this.enabled || this.ws) return;
    this.state = 'connecting';
    const needsHandshake = !this.isCloud && this.options.authString !== undefined;
    const headers: Record<string, string> = {};
    if (this.options.userAgent) headers['user-agent'] = this.options.userAgent;
    if (this.isCloud && this.options.apiKey) headers.authorization = `bearer ${this.options.apiKey}`;
    let ws: WebSocket;
    try {
      ws = new (loadWs())(this.url, needsHandshake ? ['prefect'] : [], {
        headers,
        handshakeTimeout: this.connectTimeoutMs,
      });
    } catch (e) {
      this.logger.warn(`Cannot open the Prefect events socket ${this.url}: ${(e as Error).message}`);
      this.state = 'off';
      return;
    }
    this.ws = ws;
    let ready = false;
    let opened = false;
    let rejectedStatus: number | undefined;
    const authTimer = needsHandshake
      ? setTimeout(() => ws.terminate(), this.connectTimeoutMs).unref()
      : undefined;
    ws.on('unexpected-response', (_req, res) => {
      rejectedStatus = res.statusCode;
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      opened = true;
      if (!needsHandshake) {
        ready = true;
        this.onReady();
        return;
      }
      ws.send(JSON.stringify({ type: 'auth', token: this.options.authString }));
    });
    ws.on('message', (data: RawData) => {
      if (ready || !needsHandshake) return;
      let type: unknown;
      let reason: unknown;
      try {
        const parsed = JSON.parse(data.toString()) as { type?: unknown; reason?: unknown };
        type = parsed.type;
        reason = parsed.reason;
      } catch {
        type = undefined;
      }
      if (type === 'auth_success') {
        clearTimeout(authTimer);
        ready = true;
        this.onReady();
        return;
      }
      this.refused(reason ? String(reason) : `unexpected answer ${String(type)}`);
      ws.close(1008);
    });
    ws.on('pong', () => this.onPong());
    ws.on('error', (e: Error) => {
      this.logger.debug('Prefect events socket error.', { url: this.url, error: e.message });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      clearTimeout(authTimer);
      if (this.ws === ws) this.ws = undefined;
      // The server closes with 1008 and a reason when the auth message is refused.
      if (opened && !ready && needsHandshake && code === 1008 && reason.length > 0)
        this.refused(reason.toString());
      this.onClose(ready, code, reason.toString(), rejectedStatus);
    });
  }

  private refused(reason: string): void {
    if (this.attempt !== 0 && this.attempt % 10 !== 0) return;
    this.logger.warn(
      `Prefect refused the events stream's authentication (${reason}); check PREFECT_API_AUTH_STRING. Retrying with backoff.`,
      { url: this.url },
    );
  }

  private onReady(): void {
    this.state = 'open';
    this.attempt = 0;
    this.counters.connections += 1;
    if (!this.everConnected) this.logger.debug('Connected to the Prefect events stream.', { url: this.url });
    this.everConnected = true;
    this.scheduleFlush();
  }

  private onClose(wasReady: boolean, code: number, reason: string, rejectedStatus: number | undefined): void {
    // Whatever was sent and not confirmed goes back to the front, in order.
    this.queue = [...this.unconfirmed.map((s) => s.event), ...this.queue];
    this.unconfirmed = [];
    this.pings.length = 0;
    if (this.state === 'stopped' || this.state === 'off') return;
    if (!this.everConnected && !this.isCloud && (rejectedStatus === 403 || rejectedStatus === 404)) {
      this.state = 'unavailable';
      this.queue = [];
      this.logger.info(
        `The Prefect server has no events endpoint (${this.url} answered ${rejectedStatus}; Prefect 2.x servers have none): worker and ECS task events are not sent.`,
      );
      this.wake();
      return;
    }
    if (this.stopping) {
      this.state = 'idle';
      this.wake();
      return;
    }
    if (wasReady) {
      this.logger.debug('The Prefect events socket closed; reconnecting.', { url: this.url, code, reason });
    } else if (this.attempt === 0 || this.attempt % 10 === 0) {
      const why = rejectedStatus !== undefined ? `HTTP ${rejectedStatus}` : reason || `code ${code}`;
      this.logger.warn(
        `Cannot connect to the Prefect events stream ${this.url} (${why}); ${this.buffered} events wait in memory and are sent once it connects.`,
      );
    }
    if (this.buffered === 0) {
      this.state = 'idle';
      return;
    }
    this.state = 'backoff';
    const base = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** this.attempt);
    const delay = base * (0.8 + 0.4 * this.random());
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state === 'backoff') this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes one batch, then a ping that confirms it; continues on the next turn while events wait. */
  private flush(): void {
    const ws = this.ws;
    if (this.state !== 'open' || !ws || ws.readyState !== OPEN || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.batchSize);
    for (const event of batch) {
      this.seq += 1;
      this.unconfirmed.push({ seq: this.seq, event });
      ws.send(JSON.stringify(event));
    }
    this.pings.push(this.seq);
    ws.ping();
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private onPong(): void {
    const mark = this.pings.shift();
    if (mark === undefined) return;
    let n = 0;
    while (n < this.unconfirmed.length && (this.unconfirmed[n]?.seq ?? Number.POSITIVE_INFINITY) <= mark)
      n += 1;
    this.unconfirmed.splice(0, n);
    this.counters.delivered += n;
    if (this.buffered < this.bufferSize / 2) this.overflowing = false;
    if (this.buffered === 0) this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once every buffered event is confirmed, or after `timeoutMs`; true when everything was delivered. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.buffered === 0 || !this.enabled) return this.buffered === 0;
    if (this.state === 'idle') this.connect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.waiters.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return this.buffered === 0;
  }

  /**
   * Tries to deliver what is buffered for up to `timeoutMs` (over the open socket, or one last connection attempt
   * when it is down), then closes the socket; later emits are ignored.
   */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (this.state === 'stopped') return;
    this.stopping = true;
    if (this.state === 'backoff') {
      // One last attempt now instead of waiting out the backoff; a failure ends the wait.
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.state = 'idle';
    }
    const delivered = await this.drain(timeoutMs);
    if (!delivered && this.enabled) {
      this.logger.warn(`${this.buffered} Prefect events could not be delivered before stopping.`, {
        url: this.url,
      });
    }
    if (this.state !== 'off' && this.state !== 'unavailable') this.state = 'stopped';
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState === OPEN) ws.close(1000);
    else ws?.terminate();
  }
}
