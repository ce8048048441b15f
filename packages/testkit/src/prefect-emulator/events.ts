import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { OpenApiModel } from './openapi.js';
import { toIssues } from './openapi.js';
import type { JsonObject, JsonValue, PrefectMode, SchemaIssue, ValidationIssue } from './types.js';
import { isJsonObject } from './util.js';

/** An event as the emulator stored it: the client's event plus the server's `received` time. */
export interface ReceivedEventJson extends JsonObject {
  id: string;
  occurred: string;
  event: string;
  resource: Record<string, string>;
  related: Array<Record<string, string>>;
  payload: JsonObject;
  follows: string | null;
  received: string;
}

/** Counters of the `/events/in` socket. */
export interface EventsStreamStats {
  /** Event messages received, duplicates and invalid ones included. */
  messages: number;
  /** Messages whose id was already stored (dropped, as the server's `ON CONFLICT DO NOTHING`). */
  duplicates: number;
  /** Connections accepted (after the auth handshake when one is required). */
  connections: number;
}

/** The `/events/in` part of the emulator, for tests. */
export interface EventsStream {
  /** Stored events, one per id, in the order they first arrived. */
  list(): ReceivedEventJson[];
  stats(): EventsStreamStats;
  /**
   * `true`: the events endpoint goes away — open sockets are cut and new connections are refused (the TCP
   * connection is reset) until it is set back to `false`. REST calls are not affected.
   */
  setOutage(down: boolean): void;
  clear(): void;
}

const AUTH_TIMEOUT_MS = 10_000;

/**
 * Prefect's events websocket `/api/events/in` (Prefect 3 server, `prefect/server/api/events.py`):
 * - without `PREFECT_SERVER_API_AUTH_STRING` the socket is accepted at once and every text message is one event;
 * - with it (`authString`), `subscriptions.accept_prefect_socket` runs first: the `prefect` subprotocol is required
 *   (else the upgrade is refused, which uvicorn answers 403), the first message must be `{"type":"auth"}` (else close
 *   1008 "Expected 'auth' message"), its token must be present (1008 "Auth required but no token provided") and equal
 *   the auth string (1008 "Invalid token"), then `{"type":"auth_success"}` is sent;
 * - Prefect Cloud (`apiKey`) takes the key as the upgrade's `Authorization: bearer` header.
 * Each event is validated against the OpenAPI `Event` schema and the model's validators (a resource id, related
 * resources with a role); an invalid one ends the connection with 1011, as the server's unhandled
 * `ValidationError` does, and is reported by `schemaErrors()`. The server keeps the first event of an id.
 */
export class EventsEndpoint implements EventsStream {
  private readonly wss: WebSocketServer;
  private readonly stored = new Map<string, ReceivedEventJson>();
  private readonly sockets = new Set<WebSocket>();
  private readonly counters: EventsStreamStats = { messages: 0, duplicates: 0, connections: 0 };
  private down = false;

  constructor(
    private readonly mode: PrefectMode,
    private readonly model: OpenApiModel,
    private readonly auth: { authString?: string | undefined; apiKey?: string | undefined },
    private readonly issues: SchemaIssue[],
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has('prefect') ? 'prefect' : false),
    });
  }

  /** Whether this endpoint serves the upgrade's path (Prefect 3 only: 2.x has no events endpoint). */
  serves(path: string): boolean {
    return this.mode === '3' && path === '/events/in';
  }

  /** Handles an upgrade to `/api/events/in`; returns the HTTP status answered when refused (else 101). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): number {
    if (this.down) {
      socket.destroy();
      return 0;
    }
    const refuse = (status: number, text: string): number => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      return status;
    };
    if (this.auth.apiKey !== undefined) {
      const header = req.headers.authorization ?? '';
      const [scheme, key] = header.trim().split(/\s+/);
      if (scheme?.toLowerCase() !== 'bearer' || key !== this.auth.apiKey) return refuse(403, 'Forbidden');
    }
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    const needsAuth = this.auth.authString !== undefined;
    if (needsAuth && !protocols.includes('prefect')) return refuse(403, 'Forbidden');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, needsAuth));
    return 101;
  }

  private accept(ws: WebSocket, needsAuth: boolean): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', () => this.sockets.delete(ws));
    let authenticated = !needsAuth;
    if (authenticated) this.counters.connections += 1;
    const timer = needsAuth ? setTimeout(() => ws.terminate(), AUTH_TIMEOUT_MS).unref() : undefined;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = data.toString();
      if (!authenticated) {
        clearTimeout(timer);
        let message: unknown;
        try {
          message = JSON.parse(text);
        } catch {
          ws.close(1008, "Expected 'auth' message");
          return;
        }
        if (!isJsonObject(message) || message.type !== 'auth') {
          ws.close(1008, "Expected 'auth' message");
          return;
        }
        if (!message.token) {
          ws.close(1008, 'Auth required but no token provided');
          return;
        }
        if (message.token !== this.auth.authString) {
          ws.close(1008, 'Invalid token');
          return;
        }
        authenticated = true;
        this.counters.connections += 1;
        ws.send(JSON.stringify({ type: 'auth_success' }));
        return;
      }
      this.counters.messages += 1;
      if (isBinary) {
        this.invalid(ws, text, [{ path: '/', message: 'binary frame; events are text', keyword: 'type' }]);
        return;
      }
      this.receive(ws, text);
    });
  }

  private receive(ws: WebSocket, text: string): void {
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch (e) {
      this.invalid(ws, text, [
        { path: '/', message: `invalid JSON: ${(e as Error).message}`, keyword: 'json' },
      ]);
      return;
    }
    const errors: ValidationIssue[] = toIssues(this.model.validateRequestComponent('Event', event));
    if (isJsonObject(event)) errors.push(...modelValidatorIssues(event));
    if (errors.length > 0 || !isJsonObject(event)) {
      this.invalid(ws, event as JsonValue, errors);
      return;
    }
    const id = String(event.id).toLowerCase();
    if (this.stored.has(id)) {
      this.counters.duplicates += 1;
      return;
    }
    this.stored.set(id, {
      id,
      occurred: String(event.occurred),
      event: String(event.event),
      resource: event.resource as Record<string, string>,
      related: (event.related ?? []) as Array<Record<string, string>>,
      payload: (event.payload ?? {}) as JsonObject,
      follows: typeof event.follows === 'string' ? event.follows.toLowerCase() : null,
      received: new Date().toISOString(),
    });
  }

  private invalid(ws: WebSocket, body: JsonValue | undefined, errors: ValidationIssue[]): void {
    this.issues.push({
      kind: 'event-schema',
      method: 'WEBSOCKET',
      path: '/events/in',
      route: '/events/in',
      status: 1011,
      errors,
      body,
    });
    ws.close(1011, 'Invalid event');
  }

  list(): ReceivedEventJson[] {
    return [...this.stored.values()].map((e) => structuredClone(e));
  }

  stats(): EventsStreamStats {
    return { ...this.counters };
  }

  setOutage(down: boolean): void {
    this.down = down;
    if (down) for (const ws of this.sockets) ws.terminate();
  }

  clear(): void {
    this.stored.clear();
    this.counters.messages = 0;
    this.counters.duplicates = 0;
    this.counters.connections = 0;
  }

  close(): void {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
  }
}

/**
 * The validators of Prefect's `Resource` and `RelatedResource` models that the JSON schema cannot say
 * (`prefect/events/schemas/labelling.py`, `events.py`): a resource needs `prefect.resource.id`; a related resource
 * needs `prefect.resource.id` and `prefect.resource.role`.
 */
function modelValidatorIssues(event: JsonObject): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const resource = event.resource;
  if (isJsonObject(resource) && !resource['prefect.resource.id']) {
    out.push({
      path: '/resource',
      message: 'Resources must include the prefect.resource.id label',
      keyword: 'model',
    });
  }
  const related = Array.isArray(event.related) ? event.related : [];
  related.forEach((r, i) => {
    if (!isJsonObject(r)) return;
    if (!r['prefect.resource.id'])
      out.push({
        path: `/related/${i}`,
        message: 'Resources must include the prefect.resource.id label',
        keyword: 'model',
      });
    if (!r['prefect.resource.role'])
      out.push({
        path: `/related/${i}`,
        message: 'Related Resources must include the prefect.resource.role label',
        keyword: 'model',
      });
  });
  return out;
}
