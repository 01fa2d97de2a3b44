// The HTTP side of the registry client: one RegistryClient per run holds auth state, per-host
// request limits, retry policy and rate-limit observations; repositories share it.
// Requests go through a Transport (transport.ts: node:http by default, or an injected fetch) with
// redirects followed by hand so credentials never leave the registry's origin (registry.md §1,
// pitfall 2).
import type { Readable } from 'node:stream';
import {
  BaseError,
  backoffDelay,
  createLimiter,
  nullLogger,
  redactUrl,
  retry,
  systemClock,
  type Clock,
  type Limiter,
  type Logger,
  type Redactor,
  type RetryOptions,
} from '../core/index.js';
import { Authenticator, type AuthStats } from './auth.js';
import type { CredentialProvider } from './credentials.js';
import { RegistryError, SPEC_ERROR_CODES, isTemporary, isTemporaryStatus, type RegistryErrorCode, type SpecErrorCode } from './errors.js';
import { parseRateLimit, parseRetryAfter, type RateLimit } from './ratelimit.js';
import { registryBaseUrl, type EndpointOptions } from './reference.js';
import { fetchTransport, nodeTransport, type ResponseHeaders, type Transport, type WireResponse } from './transport.js';

/** Retry policy knobs (core `retry`), plus the cap on a server-requested Retry-After. */
export interface RegistryRetryOptions {
  /** Attempts after the first. Default 4. */
  retries?: number;
  /** First backoff delay. Default 500 ms. */
  baseDelayMs?: number;
  /** Longest backoff delay. Default 15 s. */
  maxDelayMs?: number;
  /** Cap on a server-requested delay (Retry-After). Default 60 s. */
  maxRetryAfterMs?: number;
  /** Jitter fraction 0..1. Default 0.2. */
  jitter?: number;
  /** Randomness for jitter (tests). */
  random?: () => number;
}

/** Options for a RegistryClient. */
export interface RegistryClientOptions extends EndpointOptions {
  /**
   * HTTP implementation for registry requests. Default node:http(s) (transport.ts); token
   * requests use this fetch, or the global one.
   */
  fetch?: typeof fetch;
  /** Where credentials come from; none means anonymous. */
  credentials?: CredentialProvider;
  logger?: Logger;
  /** Learns tokens as they are issued so nothing logs them. */
  redactor?: Redactor;
  clock?: Clock;
  userAgent?: string;
  retry?: RegistryRetryOptions;
  /** Requests in flight per registry host. Default 6. */
  maxConcurrentPerHost?: number;
  /** Upload chunk size for chunked uploads. Default 16 MiB. */
  chunkSize?: number;
  /** Always upload in chunks instead of one PUT (tests). Default false. */
  forceChunked?: boolean;
  /** Called on every retry of a request. */
  onRetry?: (info: RetryInfo) => void;
  /** Called when a response carries rate-limit headers. */
  onRateLimit?: (registry: string, limit: RateLimit) => void;
}

/** One retry, as reported to listeners. */
export interface RetryInfo {
  readonly what: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: string;
}

/** A request, as the repository code describes it. */
export interface RequestSpec {
  registry: string;
  repository?: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** Bytes, or a factory for a fresh stream per attempt (retries, auth round trips, redirects). */
  body?: Uint8Array | string | (() => Promise<AsyncIterable<Uint8Array>>);
  /** Token scopes the request needs. */
  scopes: readonly string[];
  /** Context for error messages ("pushing blob sha256:... to host/repo"). */
  what: string;
  /** Statuses that are success. */
  ok: readonly number[];
  /** Statuses returned to the caller without being an error (e.g. 404 for an existence check). */
  allow?: readonly number[];
  /** Leave the response body unread (blob downloads). */
  stream?: boolean;
  /** Cap on the body read. Default 8 MiB. */
  maxBytes?: number;
  /** False: fail on the first temporary error (the caller has its own recovery). */
  retry?: boolean;
  signal?: AbortSignal;
  onRetry?: (info: RetryInfo) => void;
}

/** A response with its body read (or left as a stream). */
export interface HttpResult {
  readonly status: number;
  readonly headers: ResponseHeaders;
  /** The URL that answered, after redirects. */
  readonly url: URL;
  readonly body: Uint8Array;
  /** The unread body when `stream` was set. */
  readonly stream?: Readable;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const ERROR_BODY_MAX = 64 * 1024;

function isSpecCode(code: string): code is SpecErrorCode {
  return (SPEC_ERROR_CODES as readonly string[]).includes(code);
}

/** Reads a response body with a size cap (registry.md §5: bodies are read with a cap). */
export async function readBodyCapped(body: AsyncIterable<Uint8Array> | null, max: number, what: string): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const value of body) {
      total += value.length;
      // Leaving the loop (throw) destroys the stream: the rest is not read.
      if (total > max) throw new RegistryError('PROTOCOL', `${what}: response body larger than ${max} bytes`);
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw networkError(err, `${what}: reading the response`);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Drops a response body unread (small bodies are drained so the connection can be reused). */
function discard(body: Readable | null): void {
  if (body && !body.destroyed) body.resume();
}

/** Wraps an error thrown by fetch or a body stream; lading's own errors in the cause chain win. */
export function networkError(err: unknown, what: string, signal?: AbortSignal): BaseError {
  if (signal?.aborted) return new RegistryError('ABORTED', `${what}: aborted`, { cause: signal.reason });
  let cur: unknown = err;
  for (let i = 0; i < 6 && cur; i++) {
    if (cur instanceof RegistryError) {
      return new RegistryError(cur.code, cur.message.startsWith(what) ? cur.message : `${what}: ${cur.message}`, {
        cause: cur,
        temporary: cur.temporary,
        ...(cur.status !== undefined ? { status: cur.status } : {}),
        ...(cur.retryAfterMs !== undefined ? { retryAfterMs: cur.retryAfterMs } : {}),
      });
    }
    if (cur instanceof BaseError) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  const parts: string[] = [];
  cur = err;
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    if (cur.message && !parts.includes(cur.message)) parts.push(cur.message);
    cur = cur.cause;
  }
  const text = parts.join(': ').replace(/https?:\/\/\S+/g, (u) => redactUrl(u));
  return new RegistryError('NETWORK', `${what}: ${text || 'connection failed'}`, { temporary: true });
}

/** Turns an error response into a RegistryError with the spec code (registry.md §5). */
export function errorFromResponse(status: number, headers: ResponseHeaders, body: Uint8Array, what: string, now?: Date): RegistryError {
  let code: RegistryErrorCode | undefined;
  let registryCode: string | undefined;
  let detail = '';
  const text = new TextDecoder().decode(body.subarray(0, ERROR_BODY_MAX));
  try {
    const json = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = Array.isArray(json.errors) ? json.errors[0] : undefined;
    if (first && typeof first.code === 'string') {
      registryCode = first.code;
      if (isSpecCode(first.code)) code = first.code;
      detail = `${first.code}${typeof first.message === 'string' && first.message ? `: ${first.message}` : ''}`;
    }
  } catch {
    detail = text.trim().split('\n')[0]?.slice(0, 200) ?? '';
  }
  if (!code) {
    if (status === 401) code = 'UNAUTHORIZED';
    else if (status === 403) code = 'DENIED';
    else if (status === 404) code = 'NOT_FOUND';
    else if (status === 412) code = 'PRECONDITION';
    else if (status === 429) code = 'TOOMANYREQUESTS';
    else code = 'HTTP';
  }
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'), now);
  const message = `${what}: HTTP ${status}${detail ? ` ${detail.slice(0, 300)}` : ''}`.replace(/https?:\/\/\S+/g, (u) => redactUrl(u));
  return new RegistryError(code, message, {
    status,
    temporary: isTemporaryStatus(status),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(registryCode ? { registryCode } : {}),
  });
}

/** Transport state shared by every repository of a run. */
export class RegistryClient {
  readonly auth: Authenticator;
  readonly logger: Logger;
  /** Latest rate-limit observation per registry. */
  readonly rateLimits = new Map<string, RateLimit>();
  /** Requests retried, in total. */
  retries = 0;
  /** Referrers-API capability per registry, once probed. */
  readonly referrersApi = new Map<string, Promise<boolean>>();
  private readonly options: RegistryClientOptions;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly limiters = new Map<string, Limiter>();
  private readonly warned = new Set<string>();

  constructor(options: RegistryClientOptions = {}) {
    this.options = options;
    this.transport = options.fetch ? fetchTransport(options.fetch) : nodeTransport();
    this.logger = options.logger ?? nullLogger;
    this.clock = options.clock ?? systemClock;
    this.auth = new Authenticator({
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      clock: this.clock,
      logger: this.logger,
      ...(options.redactor ? { redactor: options.redactor } : {}),
      ...(options.userAgent ? { userAgent: options.userAgent } : {}),
    });
  }

  /** Token traffic so far. */
  get authStats(): AuthStats {
    return this.auth.stats;
  }

  /** Upload settings. */
  get upload(): { chunkSize: number; forceChunked: boolean } {
    return { chunkSize: this.options.chunkSize ?? 16 << 20, forceChunked: this.options.forceChunked === true };
  }

  /** The retry policy in force. */
  get retryPolicy(): Required<Pick<RegistryRetryOptions, 'retries' | 'baseDelayMs' | 'maxDelayMs' | 'maxRetryAfterMs'>> & RegistryRetryOptions {
    const r = this.options.retry ?? {};
    return { ...r, retries: r.retries ?? 4, baseDelayMs: r.baseDelayMs ?? 500, maxDelayMs: r.maxDelayMs ?? 15_000, maxRetryAfterMs: r.maxRetryAfterMs ?? 60_000 };
  }

  /** Base URL (`http(s)://host/`) of a registry. */
  baseUrl(registry: string): URL {
    return registryBaseUrl(registry, this.options);
  }

  private limiter(origin: string): Limiter {
    let l = this.limiters.get(origin);
    if (!l) {
      l = createLimiter(this.options.maxConcurrentPerHost ?? 6);
      this.limiters.set(origin, l);
    }
    return l;
  }

  /**
   * The delay before retry `attempt` for `err`, or false when it should not be retried:
   * temporary errors back off exponentially with jitter; a Retry-After wins when it is longer.
   */
  retryDecision(err: unknown, attempt: number): false | { delayMs: number } {
    if (!isTemporary(err)) return false;
    const p = this.retryPolicy;
    const computed = backoffDelay(attempt, { baseDelayMs: p.baseDelayMs, maxDelayMs: p.maxDelayMs, jitter: p.jitter ?? 0.2, random: p.random ?? Math.random });
    const after = err instanceof RegistryError ? err.retryAfterMs : undefined;
    if (after !== undefined) {
      return { delayMs: Math.max(computed, Math.min(after, p.maxRetryAfterMs)) };
    }
    return { delayMs: computed };
  }

  /** Records a retry (counters, log line, listeners). */
  noteRetry(what: string, err: unknown, attempt: number, delayMs: number, extra?: (info: RetryInfo) => void): void {
    this.retries++;
    const info: RetryInfo = { what, attempt, delayMs, error: err instanceof Error ? err.message : String(err) };
    this.logger.debug(`retrying (${attempt}) in ${delayMs} ms: ${info.error}`);
    this.options.onRetry?.(info);
    extra?.(info);
  }

  /**
   * end-1: `GET /v2/` — true when the registry answers as a distribution-spec registry (200, or
   * 401 with a challenge lading can answer, which it then answers). Errors name the registry.
   */
  async ping(registry: string, options: { signal?: AbortSignal } = {}): Promise<{ apiVersion?: string }> {
    const r = await this.request({ registry, method: 'GET', url: new URL('/v2/', this.baseUrl(registry)), scopes: [], what: `contacting registry ${registry}`, ok: [200], maxBytes: 64 * 1024, ...(options.signal ? { signal: options.signal } : {}) });
    const apiVersion = r.headers.get('docker-distribution-api-version') ?? undefined;
    return apiVersion ? { apiVersion } : {};
  }

  /** Sends a request with auth, redirects, the per-host limit and retries. */
  async request(spec: RequestSpec): Promise<HttpResult> {
    const p = this.retryPolicy;
    const opts: RetryOptions = {
      retries: spec.retry === false ? 0 : p.retries,
      shouldRetry: (err, attempt) => this.retryDecision(err, attempt),
      onRetry: ({ err, attempt, delayMs }) => this.noteRetry(spec.what, err, attempt, delayMs, spec.onRetry),
      ...(spec.signal ? { signal: spec.signal } : {}),
    };
    return retry(() => this.attempt(spec), opts);
  }

  private async attempt(spec: RequestSpec): Promise<HttpResult> {
    const base = this.baseUrl(spec.registry);
    const authTarget = { origin: base.origin, registry: spec.registry, ...(spec.repository ? { repository: spec.repository } : {}), scopes: spec.scopes, ...(spec.signal ? { signal: spec.signal } : {}) };
    let challenged = false;
    for (;;) {
      const { res, url, sentAuth } = await this.limiter(base.origin)(async () => {
        const r = await this.send(spec, base, authTarget);
        return r;
      });
      this.observe(spec.registry, res.headers);
      if (res.status === 401) {
        discard(res.body);
        if (!challenged) {
          challenged = true;
          if (await this.auth.challenge(authTarget, res.headers.get('www-authenticate'), sentAuth)) continue;
        }
        throw new RegistryError('UNAUTHORIZED', `${spec.what}: HTTP 401 (authentication required${sentAuth ? '; the credentials were refused' : '; no credentials for this registry'})`, {
          status: 401,
          hint: sentAuth ? 'check the user name and password or token' : 'give credentials with --creds, a docker config.json or REGISTRY_AUTH_FILE',
        });
      }
      if (spec.ok.includes(res.status) || spec.allow?.includes(res.status)) {
        if (spec.stream && res.body && spec.ok.includes(res.status)) return { status: res.status, headers: res.headers, url, body: new Uint8Array(0), stream: res.body };
        if (spec.method === 'HEAD') discard(res.body);
        const body = spec.method === 'HEAD' ? new Uint8Array(0) : await readBodyCapped(res.body, spec.maxBytes ?? 8 << 20, spec.what);
        return { status: res.status, headers: res.headers, url, body };
      }
      const body = spec.method === 'HEAD' ? new Uint8Array(0) : await readBodyCapped(res.body, ERROR_BODY_MAX, spec.what).catch(() => new Uint8Array(0));
      throw errorFromResponse(res.status, res.headers, body, spec.what, this.clock.now());
    }
  }

  private async send(spec: RequestSpec, base: URL, authTarget: Parameters<Authenticator['header']>[0]): Promise<{ res: WireResponse; url: URL; sentAuth: string | undefined }> {
    let url = spec.url;
    let method: string = spec.method;
    let withBody = spec.body !== undefined;
    let sentAuth: string | undefined;
    for (let hop = 0; hop <= 5; hop++) {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k.toLowerCase()] = v;
      if (this.options.userAgent) headers['user-agent'] = this.options.userAgent;
      // Credentials go only to the registry's own origin, never to a redirect target elsewhere.
      if (url.origin === base.origin) {
        const a = await this.auth.header(authTarget);
        if (a) headers.authorization = a;
        if (hop === 0) sentAuth = a;
      }
      let res: WireResponse;
      try {
        // A body factory gives a fresh stream per attempt, hop and auth round trip.
        const body = withBody && spec.body !== undefined ? (typeof spec.body === 'function' ? await spec.body() : spec.body) : undefined;
        res = await this.transport({ method, url, headers, ...(body !== undefined ? { body } : {}), ...(spec.signal ? { signal: spec.signal } : {}) });
      } catch (err) {
        throw networkError(err, spec.what, spec.signal);
      }
      const location = res.headers.get('location');
      if (REDIRECTS.has(res.status) && location) {
        discard(res.body);
        const next = new URL(location, url);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') {
          throw new RegistryError('PROTOCOL', `${spec.what}: redirect to unsupported scheme ${next.protocol}`);
        }
        if (url.protocol === 'https:' && next.protocol === 'http:') {
          throw new RegistryError('INSECURE', `${spec.what}: refusing a redirect from https to plain http (${redactUrl(next)})`);
        }
        this.logger.debug(`${spec.what}: redirected to ${redactUrl(next)}${next.origin !== base.origin ? ' (other origin: no credentials)' : ''}`);
        if (res.status === 303) {
          method = 'GET';
          withBody = false;
        }
        url = next;
        continue;
      }
      return { res, url, sentAuth };
    }
    throw new RegistryError('PROTOCOL', `${spec.what}: too many redirects`);
  }

  private observe(registry: string, headers: ResponseHeaders): void {
    const rl = parseRateLimit(headers);
    if (rl) {
      this.rateLimits.set(registry, rl);
      this.options.onRateLimit?.(registry, rl);
      if (rl.remaining !== undefined && rl.remaining <= Math.max(5, rl.limit / 10) && !this.warned.has(`rl:${registry}`)) {
        this.warned.add(`rl:${registry}`);
        this.logger.warn(`${registry}: rate limit nearly used up: ${rl.remaining} of ${rl.limit} requests left${rl.windowSeconds ? ` per ${rl.windowSeconds} s` : ''}`);
      }
    }
    const warning = headers.get('warning');
    if (warning) {
      // distribution-spec: Warning 299 headers SHOULD be displayed and MUST NOT be acted upon.
      for (const m of warning.matchAll(/299\s+\S+\s+"((?:[^"\\]|\\.)*)"/g)) {
        const text = (m[1] ?? '').slice(0, 500);
        if (!this.warned.has(text)) {
          this.warned.add(text);
          this.logger.warn(`${registry} says: ${text}`);
        }
      }
    }
  }
}
