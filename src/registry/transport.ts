// The wire under RegistryClient: one request out, status + headers + a Node stream back.
// Default: node:http(s) over the default keep-alive agents. undici (behind the global fetch)
// costs ~0.1 s of wall time on a process's first request and more CPU per request and per body
// chunk (web-stream adapters on both sides); bench/copy spent about a fifth of its CPU there. An
// injected fetch (tests that count or tamper with requests) goes through fetchTransport instead.
// Redirects, auth and retries stay in client.ts: a transport sends exactly one request.
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/** Response headers as the client reads them (the global Headers satisfies it too). */
export interface ResponseHeaders {
  /** The value, several joined with ", " as fetch does; null when absent. */
  get(name: string): string | null;
}

/** One request as sent on the wire. */
export interface WireRequest {
  method: string;
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: Uint8Array | string | AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
}

/** One response: the body is unread (null for HEAD or when there is none). */
export interface WireResponse {
  status: number;
  headers: ResponseHeaders;
  body: Readable | null;
}

/** Sends one request; rejects on connection errors (and with the body source's own error when it fails). */
export type Transport = (request: WireRequest) => Promise<WireResponse>;

/** A connection that sends nothing for this long fails the request (undici's fetch uses the same 300 s). */
const IDLE_TIMEOUT_MS = 300_000;

function nodeHeaders(h: IncomingHttpHeaders): ResponseHeaders {
  return {
    get(name: string): string | null {
      const v = h[name.toLowerCase()];
      if (v === undefined) return null;
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('the operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

/**
 * Requests in flight per signal, and ONE abort listener per signal that ends them all. Passing the
 * signal to each request instead adds a listener per request, and a copy's requests share the
 * run's signal: Node warns (MaxListenersExceededWarning) past ten. One tracker per transport.
 */
function requestTracker(): (signal: AbortSignal, req: ClientRequest) => void {
  const inflight = new WeakMap<AbortSignal, Set<ClientRequest>>();
  return (signal, req) => {
    let set = inflight.get(signal);
    if (!set) {
      const mine = new Set<ClientRequest>();
      set = mine;
      inflight.set(signal, mine);
      signal.addEventListener('abort', () => {
        for (const r of mine) r.destroy(abortError(signal));
        mine.clear();
      }, { once: true });
    }
    set.add(req);
    req.once('close', () => set.delete(req));
  };
}

/** Writes an async iterable into a request, honouring backpressure. */
async function writeAll(req: NodeJS.WritableStream & { destroyed: boolean }, body: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const chunk of body) {
    if (req.destroyed) throw new Error('connection closed while sending the body');
    if (!req.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          req.removeListener('drain', onDrain);
          req.removeListener('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(new Error('connection closed while sending the body'));
        req.once('drain', onDrain);
        req.once('close', onClose);
      });
    }
  }
}

/**
 * node:http(s) with the default keep-alive agents (Node 20: keep-alive, 5 s idle timeout, idle
 * sockets unref'd so a finished CLI exits). No Accept-Encoding is sent: bodies come as stored.
 */
export function nodeTransport(): Transport {
  const track = requestTracker();
  return async (r) => {
    const { request } = r.url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    if (r.signal?.aborted) throw abortError(r.signal);
    return new Promise<WireResponse>((resolve, reject) => {
      let answered = false;
      const req = request(r.url, { method: r.method, headers: r.headers }, (res: IncomingMessage) => {
        answered = true;
        let body: Readable | null = res;
        if (r.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) {
          res.resume();
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: nodeHeaders(res.headers), body });
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      if (r.signal) track(r.signal, req);
      const b = r.body;
      if (b === undefined) req.end();
      else if (typeof b === 'string' || b instanceof Uint8Array) req.end(b);
      else {
        writeAll(req, b).then(
          () => req.end(),
          (err: unknown) => {
            // The source failed (a digest mismatch, a read error): the request must not complete.
            req.destroy();
            if (!answered) reject(err);
          },
        );
      }
    });
  };
}

/**
 * A plain (not byte-typed) web ReadableStream over an async iterable. undici copies every chunk
 * of an async-iterable or byte-stream body; a plain stream's chunks go out as they are.
 */
export function webStreamOf(iterable: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = iterable[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** The same over an injected fetch (redirects left to the caller). */
export function fetchTransport(fetchImpl: typeof fetch): Transport {
  return async (r) => {
    const b = r.body;
    const body = b === undefined ? undefined : typeof b === 'string' || b instanceof Uint8Array ? b : webStreamOf(b);
    const res = await fetchImpl(r.url, {
      method: r.method,
      headers: r.headers,
      redirect: 'manual',
      ...(body !== undefined ? { body: body as RequestInit['body'], duplex: 'half' } : {}),
      ...(r.signal ? { signal: r.signal } : {}),
    } as RequestInit);
    return { status: res.status, headers: res.headers, body: res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : null };
  };
}
