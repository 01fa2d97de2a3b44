// Fetching archive files over http(s) or from file: URIs, with retries, credentials taken out of
// the URL (sent as Basic auth, never logged), and verification of size and SHA256 while streaming.
import { createHash } from 'node:crypto';
import { getMaxListeners, setMaxListeners } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open as openFile, readFile, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import { Readable, Transform, type Duplex } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import {
  atomicWriteFile,
  BaseError,
  errnoCode,
  fsReason,
  nullLogger,
  redactUrl,
  retry,
  systemClock,
  tempPathFor,
  VerifyingStream,
  type Clock,
  type Digest,
  type Logger,
} from '../core/index.js';
import { AptCache } from './cache.js';
import { createDecompressor, type Compression } from './decompress.js';
import { DebianError } from './errors.js';
import { stripCredentials } from './sources.js';

/** A failed fetch: `network` when the server could not be reached at all (DNS, refused, timeout, 5xx after retries). */
export class FetchFailure extends DebianError {
  readonly status: number | undefined;
  readonly network: boolean;

  constructor(message: string, options: { status?: number; network: boolean; cause?: unknown; hint?: string }) {
    super('FETCH_FAILED', message, options);
    this.status = options.status;
    this.network = options.network;
  }
}

/** Shared by everything that downloads: the HTTP client, cache, logger, clock, limits. */
export interface Transport {
  /** An injected fetch; when absent, GETs go through node:http(s) (see nodeGet). */
  fetch?: typeof fetch;
  cache: AptCache;
  logger: Logger;
  clock: Clock;
  /** Use only the cache; anything missing is an error listing it. */
  offline: boolean;
  /** Attempts after the first for network failures. */
  retries: number;
  /** Delay of the first retry (tests use small values). */
  retryDelayMs: number;
  signal?: AbortSignal;
}

/** Options of createTransport; everything defaults sensibly. */
export interface TransportOptions {
  cacheDir: string;
  /** Default: node:http(s), which starts faster than the global fetch (see nodeGet). */
  fetch?: typeof fetch;
  logger?: Logger;
  clock?: Clock;
  offline?: boolean;
  retries?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/** Abort listeners one run's signal may hold while its downloads are in flight. */
const SIGNAL_LISTENERS = 64;

/** Builds the transport every apt operation runs on. */
export function createTransport(options: TransportOptions): Transport {
  // Every request in flight listens on the run's signal (request, pipeline, decompressor) until it
  // ends; all sources load at once, four indexes each, so two architectures pass Node's default
  // of ten and it warns of a leak that is not one.
  if (options.signal && getMaxListeners(options.signal) < SIGNAL_LISTENERS) setMaxListeners(SIGNAL_LISTENERS, options.signal);
  return {
    ...(options.fetch ? { fetch: options.fetch } : {}),
    cache: new AptCache(options.cacheDir),
    logger: options.logger ?? nullLogger,
    clock: options.clock ?? systemClock,
    offline: options.offline ?? false,
    retries: options.retries ?? 3,
    retryDelayMs: options.retryDelayMs ?? 500,
    signal: options.signal,
  };
}

/** Response headers as far as lading reads them (not the global Headers: touching it loads undici). */
interface ResponseHeaders {
  get(name: string): string | undefined;
}

interface Opened {
  status: number;
  headers: ResponseHeaders;
  body: Readable;
}

const NO_HEADERS: ResponseHeaders = { get: () => undefined };
const MAX_REDIRECTS = 20;
/** A connection that sends nothing for this long fails the request (undici's fetch uses the same 300 s for headers and body). */
const IDLE_TIMEOUT_MS = 300_000;

/**
 * GET over node:http(s), following redirects as fetch does (at most 20; Authorization dropped when
 * the origin changes). The default client: undici, behind the global fetch, costs ~0.1 s of CPU
 * and ~0.2 s of wall time on its first request of a process, a good part of a warm `apt resolve`,
 * and lading only needs GET. Bodies are not content-decoded: no Accept-Encoding is sent.
 */
async function nodeGet(start: URL, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Opened> {
  let url = start;
  const sent = { ...headers };
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`redirected to an unsupported URL scheme ${url.protocol}`);
    const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, { headers: sent, ...(signal ? { signal } : {}) }, resolve);
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.end();
    });
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ((status === 301 || status === 302 || status === 303 || status === 307 || status === 308) && location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, url);
      if (next.origin !== url.origin) delete sent.authorization;
      url = next;
      continue;
    }
    const get = (name: string) => {
      const v = res.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    return { status, headers: { get }, body: res };
  }
}

function authHeaders(url: URL): Record<string, string> {
  if (!url.username && !url.password) return {};
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  return { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

async function open(t: Transport, rawUrl: string, headers: Record<string, string>, what: string): Promise<Opened> {
  const url = new URL(rawUrl);
  if (url.protocol === 'file:') {
    const path = fileURLToPath(stripCredentials(rawUrl));
    try {
      if (!(await stat(path)).isFile()) throw new Error('not a regular file');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { status: 404, headers: NO_HEADERS, body: Readable.from([]) };
      throw new FetchFailure(`${what}: ${path}: ${(err as Error).message}`, { network: false, cause: err });
    }
    return { status: 200, headers: NO_HEADERS, body: createReadStream(path, { highWaterMark: 1 << 20 }) };
  }
  const clean = stripCredentials(rawUrl);
  const sent = { 'user-agent': 'lading', ...authHeaders(url), ...headers };
  try {
    if (!t.fetch) return await nodeGet(new URL(clean), sent, t.signal);
    const res = await t.fetch(clean, { headers: sent, signal: t.signal, redirect: 'follow' });
    const body = res.body ? Readable.fromWeb(res.body as WebReadableStream) : Readable.from([]);
    return { status: res.status, headers: { get: (name) => res.headers.get(name) ?? undefined }, body };
  } catch (err) {
    if (t.signal?.aborted) throw err;
    const reason = describeCause(err);
    const url = redactUrl(clean);
    throw new FetchFailure(`${what}: cannot reach ${what === url ? 'it' : url}: ${reason}`, { network: true, cause: err });
  }
}

function describeCause(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    const code = errnoCode(cur);
    parts.push(code ? `${cur.message} (${code})` : cur.message);
    cur = cur.cause;
  }
  return [...new Set(parts)].join(': ') || String(err);
}

function httpError(status: number, url: string, what: string): FetchFailure {
  const network = status >= 500 || status === 429 || status === 408;
  return new FetchFailure(`${what}: ${redactUrl(stripCredentials(url))}: HTTP ${status}`, { status, network });
}

async function withRetry<T>(t: Transport, what: string, fn: () => Promise<T>): Promise<T> {
  return retry(fn, {
    retries: t.retries,
    baseDelayMs: t.retryDelayMs,
    signal: t.signal,
    shouldRetry: (err) => err instanceof FetchFailure && err.network,
    onRetry: ({ err, attempt, delayMs }) => t.logger.debug(`retrying ${what} (attempt ${attempt + 1}) in ${delayMs} ms: ${(err as Error).message}`),
  });
}

async function drain(body: Readable): Promise<void> {
  body.resume();
  await new Promise<void>((resolve) => {
    body.once('end', resolve);
    body.once('error', () => resolve());
    body.once('close', resolve);
  });
}

async function readCapped(body: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += (chunk as Buffer).length;
    if (n > max) {
      body.destroy();
      throw new FetchFailure(`${what}: larger than ${max} bytes`, { network: false });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Result of fetchRevalidated. */
export interface RevalidatedFile {
  data: Buffer;
  /** SHA256 hex of data. */
  sha256: string;
  /** 'network' (new body), 'not-modified' (304, cached body), 'cache' (offline). */
  from: 'network' | 'not-modified' | 'cache';
}

/**
 * Fetches a small mutable file (InRelease, Release, Release.gpg) with a conditional request when
 * a cached copy exists (If-None-Match / If-Modified-Since). Returns undefined on 404.
 * Offline: the cached copy, or OFFLINE_MISSING.
 */
export async function fetchRevalidated(t: Transport, url: string, what: string, maxBytes = 32 << 20): Promise<RevalidatedFile | undefined> {
  const key = stripCredentials(url);
  const rec = await t.cache.readRecord(key);
  const cached = rec ? await readFile(t.cache.blobPath(rec.sha256)).catch(() => undefined) : undefined;
  if (t.offline) {
    if (rec && cached) return { data: cached, sha256: rec.sha256, from: 'cache' };
    const url = redactUrl(key);
    throw new DebianError('OFFLINE_MISSING', `${what}: not in the cache${what === url ? '' : ` (${url})`} and --offline is set`, { hint: 'run once without --offline' });
  }
  return withRetry(t, what, async () => {
    const headers: Record<string, string> = {};
    if (rec && cached) {
      if (rec.etag) headers['if-none-match'] = rec.etag;
      if (rec.lastModified) headers['if-modified-since'] = rec.lastModified;
    }
    const res = await open(t, url, headers, what);
    if (res.status === 304 && rec && cached) {
      await drain(res.body);
      t.logger.debug(`Hit ${redactUrl(key)}`);
      await t.cache.writeRecord({ ...rec, checkedAt: t.clock.now().toISOString() }, t.signal);
      return { data: cached, sha256: rec.sha256, from: 'not-modified' as const };
    }
    if (res.status === 404 || res.status === 410) {
      await drain(res.body);
      return undefined;
    }
    if (res.status !== 200) {
      await drain(res.body);
      throw httpError(res.status, url, what);
    }
    const data = await readCapped(res.body, maxBytes, what);
    const sha256 = createHash('sha256').update(data).digest('hex');
    t.logger.debug(`Get ${redactUrl(key)} (${data.length} bytes)`);
    const path = t.cache.blobPath(sha256);
    if (!(await t.cache.has(sha256, data.length))) await atomicWriteFile(path, data, { signal: t.signal });
    const etag = res.headers.get('etag');
    const lastModified = res.headers.get('last-modified');
    await t.cache.writeRecord({ url: key, sha256, size: data.length, etag, lastModified, checkedAt: t.clock.now().toISOString() }, t.signal);
    return { data, sha256, from: 'network' as const };
  });
}

/** Size and SHA256 a downloaded file must have, and the name to use in errors. */
export interface ExpectedFile {
  sha256: string;
  size: number;
  /** Names the file, e.g. "dists/bookworm/main/binary-amd64/Packages.xz" or "pool/main/c/curl/curl_7.88.1-10_amd64.deb". */
  what: string;
  /** Where sha256 and size come from: the signed index (default) or a lock file (its name). */
  lockFile?: string;
}

/** AptCache.has options that hash a cached file again and say so when it was damaged. */
export function checkCached(t: Transport, what: string): { signal?: AbortSignal; onDamaged: (path: string) => void } {
  return {
    ...(t.signal ? { signal: t.signal } : {}),
    onDamaged: (path) => t.logger.warn(`${what}: the cached copy ${path} was damaged (its SHA256 differs) and is removed; ${t.offline ? 'it cannot be fetched again offline' : 'fetching it again'}`),
  };
}

function toHashError(err: unknown, expected?: ExpectedFile): unknown {
  if (err instanceof BaseError && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH')) {
    if (expected?.lockFile !== undefined) {
      return new DebianError('HASH_MISMATCH', `${err.message} (the file differs from what ${expected.lockFile} records for it)`, {
        cause: err,
        hint: `if ${expected.lockFile} was edited, run \`lading lock\` again; otherwise the mirror now serves other bytes for this version`,
      });
    }
    return new DebianError('HASH_MISMATCH', `${err.message} (the file differs from what the signed index says)`, { cause: err });
  }
  return err;
}

function verifier(e: ExpectedFile): Transform {
  return new VerifyingStream({ digest: `sha256:${e.sha256}` as Digest, size: e.size, what: e.what });
}

/**
 * Downloads content whose SHA256 and size are known into the blob store, verifying while
 * streaming; the first URL that answers 200 is used (by-hash URL first, then the named path).
 * Already cached content is not downloaded again. Returns the blob path.
 */
export async function fetchToCache(
  t: Transport,
  urls: readonly string[],
  expected: ExpectedFile,
  options: { onBytes?: (n: number) => void } = {},
): Promise<string> {
  const path = t.cache.blobPath(expected.sha256);
  if (await t.cache.has(expected.sha256, expected.size, checkCached(t, expected.what))) return path;
  if (t.offline) throw new DebianError('OFFLINE_MISSING', `${expected.what}: not in the cache and --offline is set`);
  await downloadVerified(t, urls, expected, path, options.onBytes);
  return path;
}

/**
 * Downloads a compressed index, verifies it, decompresses it, verifies the result against its own
 * Release entry and stores the uncompressed bytes in the blob store (spec §2.3 step 5).
 */
export async function fetchIndexToCache(
  t: Transport,
  urls: readonly string[],
  compressed: ExpectedFile,
  compression: Compression,
  uncompressed: ExpectedFile,
): Promise<string> {
  const path = t.cache.blobPath(uncompressed.sha256);
  if (await t.cache.has(uncompressed.sha256, uncompressed.size, checkCached(t, uncompressed.what))) return path;
  if (t.offline) throw new DebianError('OFFLINE_MISSING', `${uncompressed.what}: not in the cache and --offline is set`);
  if (compression === 'none') {
    await downloadVerified(t, urls, uncompressed, path);
    return path;
  }
  // The compressed file is verified completely before it is decompressed, so a tampered file
  // is reported as a hash mismatch and never reaches a decompressor.
  await mkdir(t.cache.tmpDir(), { recursive: true });
  const tmp = tempPathFor(`${t.cache.tmpDir()}/${compressed.sha256}`);
  try {
    await downloadVerified(t, urls, compressed, tmp);
    await writeVerified(path, [createReadStream(tmp, { highWaterMark: 1 << 20 }), createDecompressor(compression, { what: compressed.what, signal: t.signal }), verifier(uncompressed)], t.signal);
  } finally {
    await rm(tmp, { force: true });
  }
  return path;
}

async function downloadVerified(t: Transport, urls: readonly string[], expected: ExpectedFile, dest: string, onBytes?: (n: number) => void): Promise<void> {
  const notFound: string[] = [];
  for (const url of urls) {
    const ok = await withRetry(t, expected.what, async () => {
      const res = await open(t, url, {}, expected.what);
      if (res.status === 404 || res.status === 410) {
        await drain(res.body);
        return false;
      }
      if (res.status !== 200) {
        await drain(res.body);
        throw httpError(res.status, url, expected.what);
      }
      const stages: Duplex[] = [verifier(expected)];
      if (onBytes) {
        stages.unshift(
          new Transform({
            transform(chunk: Buffer, _enc, cb) {
              onBytes(chunk.length);
              cb(null, chunk);
            },
          }),
        );
      }
      try {
        await writeVerified(dest, [res.body, ...stages], t.signal, expected);
      } catch (err) {
        res.body.destroy();
        if (err instanceof DebianError) throw err;
        if (t.signal?.aborted) throw err;
        // A connection that breaks mid-body is a network failure worth a retry.
        throw new FetchFailure(`${expected.what}: download from ${redactUrl(stripCredentials(url))} failed: ${describeCause(err)}`, { network: true, cause: err });
      }
      t.logger.debug(`Get ${redactUrl(stripCredentials(url))} (${expected.size} bytes)`);
      return true;
    });
    if (ok) return;
    notFound.push(redactUrl(stripCredentials(url)));
  }
  throw new FetchFailure(`${expected.what}: not found (HTTP 404) at ${notFound.join(', ')}`, { status: 404, network: false });
}

/**
 * Streams through `streams` into a temp file next to `dest`, fsyncs and renames it into place.
 * Verification failures become HASH_MISMATCH; nothing is left behind on failure.
 */
async function writeVerified(dest: string, streams: [Readable, ...Duplex[]], signal?: AbortSignal, expected?: ExpectedFile): Promise<void> {
  try {
    await mkdir(dirname(dest), { recursive: true });
  } catch (err) {
    throw cacheWriteError(dest, err) ?? err;
  }
  const tmp = tempPathFor(dest);
  try {
    await pipeline([...streams, createWriteStream(tmp, { flags: 'wx', mode: 0o644 })], { signal });
    const fh = await openFile(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw cacheWriteError(dest, err) ?? toHashError(err, expected);
  }
}

/** System calls on the cache's own files: their failures are local, not the download's. */
const LOCAL_SYSCALLS = new Set(['mkdir', 'open', 'write', 'fsync', 'rename', 'close']);

/**
 * CACHE_WRITE_FAILED for a file-system failure writing into the cache (read-only, full, no
 * permission), so it is not reported as a network failure and retried.
 */
function cacheWriteError(dest: string, err: unknown): DebianError | undefined {
  const syscall = err && typeof err === 'object' && 'syscall' in err ? (err as { syscall: unknown }).syscall : undefined;
  if (typeof syscall !== 'string' || !LOCAL_SYSCALLS.has(syscall)) return undefined;
  // A recursive mkdir says ENOENT when it cannot make a parent, a read-only file system included.
  const reason = syscall === 'mkdir' && errnoCode(err) === 'ENOENT' ? 'a directory cannot be made (a read-only file system, or a missing parent)' : fsReason(err);
  return new DebianError('CACHE_WRITE_FAILED', `writing ${dest} into the apt cache: ${reason}`, { cause: err });
}
