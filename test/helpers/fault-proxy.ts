// A fault-injecting HTTP proxy for registry tests (node:http, test code only). It sits in front
// of a real registry and, at set rates drawn from a seeded RNG (reproducible runs), resets
// connections mid-blob (uploads and downloads), answers 500, 503 and 429 with Retry-After,
// adds Docker Hub style rate-limit headers, and can redirect blob downloads to another origin
// (a second listener standing in for object storage) that records the headers it receives.
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Probabilities per request (0..1), applied to /v2/<name>/... requests (not the /v2/ ping). */
export interface FaultRates {
  /** Connection reset: mid-body for blob uploads and downloads, before the answer otherwise. */
  reset?: number;
  e500?: number;
  e503?: number;
  e429?: number;
}

/** Options for startFaultProxy. */
export interface FaultProxyOptions {
  /** The registry behind the proxy, `http://127.0.0.1:PORT`. */
  upstream: string;
  /** RNG seed: the same seed and request order give the same faults. */
  seed?: number;
  rates?: FaultRates;
  /** Retry-After seconds sent with 429 and 503. Default 1. */
  retryAfterSeconds?: number;
  /** Add `ratelimit-limit` / `ratelimit-remaining` / `docker-ratelimit-source` headers. */
  rateLimitHeaders?: boolean;
  /** Answer blob GETs with a 307 to a second listener (another origin). */
  redirectBlobs?: boolean;
}

/** What the proxy did. */
export interface FaultStats {
  requests: number;
  resets: number;
  e500: number;
  e503: number;
  e429: number;
  redirected: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** `127.0.0.1:PORT`, the registry part of references through the proxy. */
  readonly host: string;
  readonly url: string;
  readonly stats: FaultStats;
  /** Headers of every request the redirect target received. */
  readonly redirectRequests: Array<Record<string, string | string[] | undefined>>;
  /** Changes the fault rates (e.g. none while checking results). */
  setRates(rates: FaultRates): void;
  stop(): Promise<void>;
}

/** mulberry32: a tiny seeded PRNG, enough for reproducible fault schedules. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function cleanHeaders(h: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') out[k] = v;
  return out;
}

/** Starts the proxy on 127.0.0.1 with a free port. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const up = new URL(options.upstream);
  const rand = seededRandom(options.seed ?? 1);
  let rates: FaultRates = options.rates ?? {};
  const stats: FaultStats = { requests: 0, resets: 0, e500: 0, e503: 0, e429: 0, redirected: 0 };
  const redirectRequests: Array<Record<string, string | string[] | undefined>> = [];
  const signed = new Map<string, string | undefined>();
  const sockets = new Set<Socket>();
  let remaining = 1000;

  const forward = (req: IncomingMessage, res: ServerResponse, path: string, headers: Record<string, string | string[]>, fault: 'reset' | undefined) => {
    const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(path);
    const upstreamReq = httpRequest({ host: up.hostname, port: up.port, method: req.method, path, headers }, (ur) => {
      const outHeaders = cleanHeaders(ur.headers);
      if (options.rateLimitHeaders) {
        remaining = Math.max(0, remaining - 1);
        outHeaders['ratelimit-limit'] = '1000;w=21600';
        outHeaders['ratelimit-remaining'] = `${remaining};w=21600`;
        outHeaders['docker-ratelimit-source'] = '127.0.0.1';
      }
      res.writeHead(ur.statusCode ?? 502, outHeaders);
      if (fault === 'reset' && isBlobGet && ur.statusCode === 200) {
        const total = Number(ur.headers['content-length'] ?? 0);
        const limit = Math.max(1, Math.floor(total / 2));
        let sent = 0;
        ur.on('data', (c: Buffer) => {
          if (sent + c.length >= limit) {
            res.write(c.subarray(0, limit - sent));
            stats.resets++;
            res.socket?.destroy();
            ur.destroy();
          } else {
            res.write(c);
            sent += c.length;
          }
        });
        ur.on('end', () => res.end());
        return;
      }
      ur.pipe(res);
    });
    upstreamReq.on('error', () => res.socket?.destroy());
    const length = Number(req.headers['content-length'] ?? 0);
    if (fault === 'reset' && length > 0 && (req.method === 'PUT' || req.method === 'PATCH')) {
      // Forward about half the body, then drop both connections: the upload breaks mid-blob.
      const limit = Math.max(1, Math.floor(length / 2));
      let sent = 0;
      req.on('data', (c: Buffer) => {
        if (sent >= limit) return;
        if (sent + c.length >= limit) {
          upstreamReq.write(c.subarray(0, limit - sent));
          sent = limit;
          stats.resets++;
          req.socket.destroy();
          upstreamReq.destroy();
        } else {
          upstreamReq.write(c);
          sent += c.length;
        }
      });
      return;
    }
    req.pipe(upstreamReq);
  };

  const server = createServer((req, res) => {
    stats.requests++;
    const path = req.url ?? '/';
    const headers = cleanHeaders(req.headers);
    const faultable = /^\/v2\/.+/.test(path);
    let fault: 'reset' | '500' | '503' | '429' | undefined;
    if (faultable) {
      const r = rand();
      const { reset = 0, e500 = 0, e503 = 0, e429 = 0 } = rates;
      if (r < reset) fault = 'reset';
      else if (r < reset + e500) fault = '500';
      else if (r < reset + e500 + e503) fault = '503';
      else if (r < reset + e500 + e503 + e429) fault = '429';
    }
    if (fault === '500' || fault === '503' || fault === '429') {
      stats[fault === '500' ? 'e500' : fault === '503' ? 'e503' : 'e429']++;
      req.resume();
      req.on('end', () => {
        const h: Record<string, string> = { 'content-type': 'application/json' };
        if (fault !== '500') h['retry-after'] = String(options.retryAfterSeconds ?? 1);
        const code = fault === '429' ? 'TOOMANYREQUESTS' : 'UNAVAILABLE';
        res.writeHead(Number(fault), h).end(JSON.stringify({ errors: [{ code, message: `injected ${fault}` }] }));
      });
      return;
    }
    const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(path);
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0;
    if (fault === 'reset' && !isBlobGet && !hasBody) {
      stats.resets++;
      req.socket.destroy();
      return;
    }
    if (options.redirectBlobs && isBlobGet && altOrigin) {
      // Like object storage: a signed URL on another origin; the signature stands for the auth.
      const sig = randomBytes(8).toString('hex');
      const auth = req.headers.authorization;
      signed.set(sig, auth);
      stats.redirected++;
      req.resume();
      res.writeHead(307, { location: `${altOrigin}${path}${path.includes('?') ? '&' : '?'}sig=${sig}` }).end();
      return;
    }
    forward(req, res, path, headers, fault === 'reset' ? 'reset' : undefined);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);

  let altOrigin: string | undefined;
  let alt: Server | undefined;
  if (options.redirectBlobs) {
    alt = createServer((req, res) => {
      redirectRequests.push({ ...req.headers });
      const url = new URL(req.url ?? '/', 'http://x');
      const sig = url.searchParams.get('sig') ?? '';
      if (!signed.has(sig)) {
        res.writeHead(403).end();
        return;
      }
      const auth = signed.get(sig);
      url.searchParams.delete('sig');
      const headers = cleanHeaders(req.headers);
      delete headers.authorization;
      if (auth) headers.authorization = auth;
      headers.host = `127.0.0.1:${port}`;
      forward(req, res, `${url.pathname}${url.search}`, headers, undefined);
    });
    alt.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    // 127.0.0.2 is another origin (other host, other port) on the loopback range.
    const altPort = await new Promise<number>((resolve, reject) => {
      alt?.once('error', reject);
      alt?.listen(0, '127.0.0.2', () => resolve((alt?.address() as AddressInfo).port));
    });
    altOrigin = `http://127.0.0.2:${altPort}`;
  }

  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    stats,
    redirectRequests,
    setRates: (r) => {
      rates = r;
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      if (alt) await new Promise((r) => alt?.close(r));
    },
  };
}
