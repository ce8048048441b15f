/**
 * The HTTP layer under the Prefect client: headers, CSRF tokens, per-attempt timeouts and transport
 * retries, modelled on Prefect's `PrefectHttpxAsyncClient` (`prefect/client/base.py`, spec §1.0).
 *
 * It sits below openapi-fetch (it is the `fetch` openapi-fetch calls), so every typed call gets the
 * same behaviour. It never puts header values (credentials, CSRF token) in errors or logs.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { abortError, ConfigError, kernelErrorCodes, PrefectApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { boundedPoissonInterval, clampedPoissonInterval, type RandomSource } from './jitter.js';

/** The Prefect REST API version the client speaks (`X-PREFECT-API-VERSION`). @public */
export const PREFECT_API_VERSION = '0.8.4';

/** Default `PREFECT_CLOUD_API_URL`. @public */
export const DEFAULT_PREFECT_CLOUD_API_URL = 'https://api.prefect.cloud/api';

/** HTTP statuses retried by default (Prefect: 429, 502, 503, 408). @public */
export const DEFAULT_RETRY_STATUS_CODES: readonly number[] = Object.freeze([429, 502, 503, 408]);

/**
 * True when `apiUrl` is a Prefect Cloud URL, i.e. it starts with `cloudApiUrl` (Prefect's
 * `determine_server_type`).
 * @public
 */
export function isCloudApiUrl(apiUrl: string, cloudApiUrl: string = DEFAULT_PREFECT_CLOUD_API_URL): boolean {
  return apiUrl.startsWith(cloudApiUrl);
}

/** Sleeps `ms` milliseconds; rejects with the signal's reason when it aborts. @public */
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

/** A `setTimeout`-based {@link SleepFn} that honours the abort signal. @public */
export const defaultSleep: SleepFn = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Resolved settings of a {@link PrefectTransport}. @internal */
export interface PrefectTransportSettings {
  apiUrl: string;
  apiKey: string | undefined;
  authString: string | undefined;
  cloudApiUrl: string;
  timeoutMs: number;
  maxRetries: number;
  maxMaintenanceRetries: number;
  retryExtraCodes: readonly number[];
  jitterFactor: number;
  csrfEnabled: boolean;
  customHeaders: Readonly<Record<string, string>>;
  workerName: (() => string | undefined) | undefined;
  workerId: (() => string | undefined) | undefined;
  userAgent: string;
  fetch: typeof fetch;
  sleep: SleepFn;
  random: RandomSource;
  clock: () => Date;
  logger: Logger;
}

/** One request, with its body read once so every attempt can resend it. */
interface PreparedRequest {
  method: string;
  url: string;
  /** Path relative to the API URL, without the query; used in messages. */
  path: string;
  body: Uint8Array | undefined;
  contentType: string | null;
}

type AttemptOutcome =
  | { kind: 'response'; response: Response }
  | { kind: 'error'; error: unknown; retryable: boolean; description: string; code: string | undefined };

const CHANGE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const PROTECTED_CUSTOM_HEADERS = new Set(['user-agent', 'prefect-csrf-token', 'prefect-csrf-client']);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** httpx ConnectError equivalents: retried only after one successful connection. */
const CONNECT_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/**
 * Equivalents of httpx ReadTimeout, PoolTimeout, ConnectTimeout, ReadError, WriteError,
 * RemoteProtocolError and LocalProtocolError: always retried.
 */
const RETRYABLE_ERROR_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);
const RETRYABLE_ERROR_MESSAGES = /socket hang up|other side closed|premature close/i;

/** Reads the kernel's own version for the default User-Agent. Works from `src/prefect` and `dist/prefect`. @internal */
export function kernelPackageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    if (pkg && typeof pkg === 'object' && 'version' in pkg && typeof pkg.version === 'string')
      return pkg.version;
  } catch {
    // Unreadable or bundled away: the version only decorates the User-Agent, so a placeholder is safe.
  }
  return '0.0.0';
}

/**
 * Builds the {@link PrefectApiError} for a non-2xx response: 404 → `KERNEL_PREFECT_OBJECT_NOT_FOUND`,
 * 409 → `KERNEL_PREFECT_OBJECT_EXISTS`, anything else → `KERNEL_PREFECT_API`. The message reads
 * `METHOD /path failed: 422 Unprocessable Entity: <detail>`.
 * @internal
 */
export function responseError(
  method: string,
  path: string,
  response: Pick<Response, 'status' | 'statusText'>,
  body: unknown,
  redact: (s: string) => string = (s) => s,
): PrefectApiError {
  const { status } = response;
  const code =
    status === 404
      ? kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND
      : status === 409
        ? kernelErrorCodes.PREFECT_OBJECT_EXISTS
        : kernelErrorCodes.PREFECT_API;
  const reason = response.statusText || STATUS_CODES[status] || '';
  const detail = detailOf(body);
  const head = `${method} ${path} failed: ${status}${reason ? ` ${reason}` : ''}`;
  const message = redact(detail ? `${head}: ${detail}` : head);
  return new PrefectApiError(
    code,
    { status, method, path, message },
    { retryable: status >= 500 || status === 429 || status === 408, details: { status, method, path } },
  );
}

const MAX_DETAIL_CHARS = 1000;

function detailOf(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  let text: string;
  if (typeof body === 'string') text = body.trim();
  else if (typeof body === 'object' && 'detail' in body) {
    const detail = (body as { detail: unknown }).detail;
    text = typeof detail === 'string' ? detail : JSON.stringify(detail);
  } else text = JSON.stringify(body);
  if (!text) return undefined;
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text;
}

/** Parses a body as JSON, falling back to the raw text (as openapi-fetch does for errors). @internal */
export function parseBodyText(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON (a proxy's HTML page, plain text): the raw text is the most useful detail.
    return text;
  }
}

/** `Retry-After`: delay-seconds or an HTTP date. Returns seconds, or undefined when absent or malformed. @internal */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, (at - now.getTime()) / 1000);
}

/** Resolves when `promise` settles, or rejects with the abort reason as soon as `signal` aborts. */
function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  reason: () => unknown,
): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Error codes and messages along an error's `cause` chain (and AggregateError members). */
function collectErrorFacts(e: unknown): { codes: string[]; messages: string[]; names: string[] } {
  const codes: string[] = [];
  const messages: string[] = [];
  const names: string[] = [];
  const seen = new Set<unknown>();
  const visit = (x: unknown, depth: number) => {
    if (depth > 6 || x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const rec = x as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
    if (typeof rec.code === 'string') codes.push(rec.code);
    if (typeof rec.message === 'string' && rec.message) messages.push(rec.message);
    if (typeof rec.name === 'string') names.push(rec.name);
    visit(rec.cause, depth + 1);
    if (Array.isArray(rec.errors)) for (const inner of rec.errors) visit(inner, depth + 1);
  };
  visit(e, 0);
  return { codes, messages, names };
}

/**
 * Decides whether a failed fetch is worth retrying, following Prefect's httpx exception list.
 * @internal
 */
export function classifyTransportError(
  error: unknown,
  connectedOnce: boolean,
): { retryable: boolean; description: string; code: string | undefined } {
  const { codes, messages, names } = collectErrorFacts(error);
  const retryCode = codes.find((c) => RETRYABLE_ERROR_CODES.has(c) || c.startsWith('HPE_'));
  const connectCode = codes.find((c) => CONNECT_ERROR_CODES.has(c));
  const code = retryCode ?? connectCode ?? codes[0];
  const innermost = messages[messages.length - 1] ?? String(error);
  const description = code && !innermost.includes(code) ? `${code}: ${innermost}` : innermost;
  if (retryCode || names.includes('TimeoutError') || messages.some((m) => RETRYABLE_ERROR_MESSAGES.test(m))) {
    return { retryable: true, description, code };
  }
  if (connectCode) return { retryable: connectedOnce, description, code };
  return { retryable: false, description, code };
}

/**
 * Sends requests to the Prefect API with Prefect's client conventions (spec §1.0). One instance per
 * client: it remembers the CSRF token and whether a connection ever succeeded.
 * @internal
 */
export class PrefectTransport {
  readonly apiUrl: string;
  readonly isCloud: boolean;
  private readonly basePath: string;
  private readonly staticHeaders: ReadonlyArray<readonly [string, string]>;
  private readonly retryStatuses: ReadonlySet<number>;
  private readonly secrets: string[];
  private readonly csrfClientId = randomUUID();
  private csrfEnabled: boolean;
  private csrfToken: string | undefined;
  private csrfExpiresAt: number | undefined;
  private csrfInflight: Promise<void> | undefined;
  private connectedOnce = false;

  constructor(private readonly settings: PrefectTransportSettings) {
    this.apiUrl = settings.apiUrl.replace(/\/+$/, '');
    this.isCloud = isCloudApiUrl(this.apiUrl, settings.cloudApiUrl);
    this.basePath = new URL(this.apiUrl).pathname.replace(/\/+$/, '');
    this.csrfEnabled = settings.csrfEnabled && !this.isCloud;
    this.retryStatuses = new Set([...DEFAULT_RETRY_STATUS_CODES, ...settings.retryExtraCodes]);

    const headers: Array<readonly [string, string]> = [];
    this.secrets = [];
    if (settings.authString) {
      const encoded = Buffer.from(settings.authString, 'utf8').toString('base64');
      headers.push(['Authorization', `Basic ${encoded}`]);
      this.secrets.push(settings.authString, encoded);
    } else if (settings.apiKey) {
      headers.push(['Authorization', `Bearer ${settings.apiKey}`]);
      this.secrets.push(settings.apiKey);
    }
    headers.push(['X-PREFECT-API-VERSION', PREFECT_API_VERSION]);
    headers.push(['User-Agent', settings.userAgent]);
    for (const [name, value] of Object.entries(settings.customHeaders)) {
      if (PROTECTED_CUSTOM_HEADERS.has(name.toLowerCase())) {
        settings.logger.warn(
          `Custom header '${name}' is ignored because it conflicts with a protected header managed by Prefect. ` +
            'Protected headers include: User-Agent, Prefect-Csrf-Token, Prefect-Csrf-Client',
        );
        continue;
      }
      try {
        new Headers([[name, value]]);
      } catch (cause) {
        throw new ConfigError(
          [
            {
              path: `customHeaders.${name}`,
              expected: 'a valid HTTP header name and value',
              received: 'an invalid header name or value',
              fix: 'Remove control characters and non-ASCII characters from PREFECT_CLIENT_CUSTOM_HEADERS.',
            },
          ],
          { cause },
        );
      }
      headers.push([name, value]);
    }
    this.staticHeaders = headers;
  }

  /** Replaces every credential the transport knows with `***`. */
  redact(text: string): string {
    let out = text;
    for (const secret of [...this.secrets, this.csrfToken]) {
      if (secret && secret.length >= 4) out = out.split(secret).join('***');
    }
    return out;
  }

  /** The request path relative to the API URL, without the query string. */
  pathOf(url: string): string {
    const { pathname } = new URL(url);
    if (this.basePath && pathname.startsWith(this.basePath))
      return pathname.slice(this.basePath.length) || '/';
    return pathname;
  }

  /** Sends an openapi-fetch request: reads its body once, then runs the retry loop. */
  async send(
    request: Request,
    signal: AbortSignal | undefined,
    overrides: { maxRetries?: number } = {},
  ): Promise<Response> {
    const body = request.body === null ? undefined : new Uint8Array(await request.arrayBuffer());
    return this.execute(
      {
        method: request.method.toUpperCase(),
        url: request.url,
        path: this.pathOf(request.url),
        body,
        contentType: request.headers.get('content-type'),
      },
      signal,
      overrides,
    );
  }

  private async execute(
    req: PreparedRequest,
    signal: AbortSignal | undefined,
    overrides: { maxRetries?: number } = {},
  ): Promise<Response> {
    const { maxMaintenanceRetries, logger } = this.settings;
    const maxRetries = overrides.maxRetries ?? this.settings.maxRetries;
    const isChange = CHANGE_METHODS.has(req.method);
    let tries = 0;
    let maintenanceRetries = 0;
    let attempts = 0;
    let csrfRefreshed = false;
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      const headers = this.buildHeaders(req.contentType);
      let sentCsrf = false;
      if (isChange && this.csrfEnabled) {
        await this.ensureCsrfToken(signal);
        if (this.csrfEnabled && this.csrfToken) {
          headers.set('Prefect-Csrf-Token', this.csrfToken);
          headers.set('Prefect-Csrf-Client', this.csrfClientId);
          sentCsrf = true;
        }
      }
      attempts++;
      const outcome = await this.attempt(req, headers, signal);
      let retryAfterSeconds: number | undefined;
      let reason: string;
      if (outcome.kind === 'response') {
        const res = outcome.response;
        this.connectedOnce = true;
        if (
          res.status === 403 &&
          sentCsrf &&
          !csrfRefreshed &&
          (await res.clone().text()).includes('Invalid CSRF token')
        ) {
          // Prefect clears the token and tries again; we do it once per request, without a delay.
          csrfRefreshed = true;
          this.csrfToken = undefined;
          this.csrfExpiresAt = undefined;
          logger.debug('CSRF token rejected; fetching a new one.', { method: req.method, path: req.path });
          continue;
        }
        if (!this.retryStatuses.has(res.status)) return res;
        if (res.headers.get('prefect-maintenance') === 'true') {
          maintenanceRetries++;
          if (maintenanceRetries > maxMaintenanceRetries) return res;
        } else {
          tries++;
          if (tries > maxRetries) return res;
        }
        retryAfterSeconds = parseRetryAfter(res.headers.get('retry-after'), this.settings.clock());
        reason = `status ${res.status}`;
      } else {
        tries++;
        if (!outcome.retryable || tries > maxRetries) throw this.unreachable(req, outcome, attempts);
        reason = outcome.description;
      }
      const delayMs = this.retryDelayMs(tries, retryAfterSeconds);
      logger.debug('Retrying Prefect API request.', {
        method: req.method,
        path: req.path,
        reason: this.redact(reason),
        attempt: attempts,
        delayMs: Math.round(delayMs),
      });
      await raceAbort(this.settings.sleep(delayMs, signal), signal, () => abortError(signal as AbortSignal));
    }
  }

  private unreachable(req: PreparedRequest, outcome: AttemptOutcome & { kind: 'error' }, attempts: number) {
    const message = this.redact(
      `${req.method} ${req.path} failed: could not reach the Prefect API at ${this.origin()} ` +
        `(${outcome.description}) after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
    );
    return new PrefectApiError(
      kernelErrorCodes.PREFECT_UNREACHABLE,
      { status: 0, method: req.method, path: req.path, message },
      { cause: outcome.error, retryable: true, details: { attempts, code: outcome.code } },
    );
  }

  /** Scheme, host and port of the API URL, without credentials. */
  private origin(): string {
    return new URL(this.apiUrl).origin;
  }

  private retryDelayMs(tries: number, retryAfterSeconds: number | undefined): number {
    const { jitterFactor, random } = this.settings;
    let seconds: number;
    if (retryAfterSeconds !== undefined) {
      seconds = retryAfterSeconds;
      // Always wait at least what the server asked for.
      if (seconds > 0 && jitterFactor > 0)
        seconds = boundedPoissonInterval(seconds, seconds * (1 + jitterFactor), random);
    } else {
      seconds = 2 ** tries;
      if (jitterFactor > 0) seconds = clampedPoissonInterval(seconds, jitterFactor, random);
    }
    return seconds * 1000;
  }

  private buildHeaders(contentType: string | null): Headers {
    const headers = new Headers(this.staticHeaders as Array<[string, string]>);
    const workerId = this.settings.workerId?.();
    if (workerId) headers.set('X-Prefect-Worker-Id', workerId);
    const workerName = this.settings.workerName?.();
    if (workerName) headers.set('X-Prefect-Worker-Name', workerName);
    if (contentType) headers.set('Content-Type', contentType);
    return headers;
  }

  /**
   * One attempt, bounded by the caller's signal and the per-request timeout.
   *
   * @remarks This is `AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])` written out by hand: the
   * worker passes one long-lived root signal to every call, and `AbortSignal.any` keeps a record per call on
   * that signal (nodejs/node#55351), which grows for the life of the process on Node 20. Here the listener
   * and the timer are removed as soon as the attempt ends.
   */
  private async attempt(
    req: PreparedRequest,
    headers: Headers,
    signal: AbortSignal | undefined,
  ): Promise<AttemptOutcome> {
    const { timeoutMs } = this.settings;
    const controller = new AbortController();
    const onCallerAbort = () => controller.abort(signal?.reason);
    if (signal?.aborted) throw abortError(signal);
    signal?.addEventListener('abort', onCallerAbort, { once: true });
    let timedOut = false;
    const timer =
      timeoutMs > 0 && Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            timedOut = true;
            controller.abort(
              new DOMException(`The request timed out after ${timeoutMs} ms.`, 'TimeoutError'),
            );
          }, timeoutMs)
        : undefined;
    const combined = controller.signal;
    const reason = () => combined.reason;
    try {
      const init: RequestInit = { method: req.method, headers, redirect: 'follow', signal: combined };
      if (req.body !== undefined) init.body = req.body.slice();
      const response = await raceAbort(this.settings.fetch(req.url, init), combined, reason);
      // Buffer the body inside the attempt so a connection dropped mid-body is retried like httpx's ReadError.
      const bytes = NULL_BODY_STATUSES.has(response.status)
        ? null
        : await raceAbort(response.arrayBuffer(), combined, reason);
      return {
        kind: 'response',
        response: new Response(bytes && bytes.byteLength > 0 ? bytes : null, {
          status: response.status,
          statusText: response.statusText,
          headers: response.headers,
        }),
      };
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      if (timedOut) {
        return {
          kind: 'error',
          error,
          retryable: true,
          description: `request timed out after ${timeoutMs} ms`,
          code: 'TIMEOUT',
        };
      }
      return { kind: 'error', error, ...classifyTransportError(error, this.connectedOnce) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  /** Makes sure a valid CSRF token is held (or CSRF is off). Concurrent callers share one fetch. */
  private async ensureCsrfToken(signal: AbortSignal | undefined): Promise<void> {
    if (!this.csrfEnabled) return;
    const expired = this.csrfExpiresAt !== undefined && this.settings.clock().getTime() > this.csrfExpiresAt;
    if (this.csrfToken && !expired) return;
    let inflight = this.csrfInflight;
    if (!inflight) {
      const fetching = this.fetchCsrfToken();
      inflight = fetching;
      this.csrfInflight = fetching;
      const clear = () => {
        if (this.csrfInflight === fetching) this.csrfInflight = undefined;
      };
      // Also marks the rejection handled when every waiting caller has been aborted.
      fetching.then(clear, clear);
    }
    await raceAbort(inflight, signal, () => abortError(signal as AbortSignal));
  }

  /**
   * `GET /csrf-token?client=<id>`, through the same retry loop. 404 (older server) and 422 "CSRF protection
   * is disabled." switch CSRF off for the life of the client. Not tied to any caller's signal, because
   * several callers may wait on it.
   */
  private async fetchCsrfToken(): Promise<void> {
    const path = '/csrf-token';
    const url = `${this.apiUrl}${path}?client=${encodeURIComponent(this.csrfClientId)}`;
    const res = await this.execute(
      { method: 'GET', url, path, body: undefined, contentType: null },
      undefined,
    );
    if (res.status === 404) {
      this.disableCsrf('the server has no CSRF token endpoint');
      return;
    }
    const text = await res.text();
    if (res.status === 422 && text.includes('CSRF protection is disabled.')) {
      this.disableCsrf('CSRF protection is disabled on the server');
      return;
    }
    if (!res.ok) throw responseError('GET', path, res, parseBodyText(text), (s) => this.redact(s));
    const body = parseBodyText(text);
    const token = body && typeof body === 'object' && 'token' in body ? body.token : undefined;
    if (typeof token !== 'string' || !token) {
      throw new PrefectApiError(kernelErrorCodes.PREFECT_API, {
        status: res.status,
        method: 'GET',
        path,
        message: `GET ${path} failed: ${res.status}: the response has no CSRF token`,
      });
    }
    const expiration = body && typeof body === 'object' && 'expiration' in body ? body.expiration : undefined;
    const expiresAt = typeof expiration === 'string' ? Date.parse(expiration) : Number.NaN;
    this.csrfToken = token;
    this.csrfExpiresAt = Number.isNaN(expiresAt) ? undefined : expiresAt;
  }

  private disableCsrf(why: string): void {
    this.csrfEnabled = false;
    this.csrfToken = undefined;
    this.csrfExpiresAt = undefined;
    this.settings.logger.debug(`CSRF support disabled: ${why}.`);
  }
}
