// One repository of a registry, as a ContentTarget (src/oci/image.ts) plus the registry-only
// powers: cross-repository mount, chunked and resumable uploads, deletes, the referrers API.
// Endpoint IDs (end-N) refer to registry.md §1.
import type { Readable } from 'node:stream';
import { VerifyingStream, digestOf, isDigest, sleep, throwIfAborted, verifyBytes, type Digest } from '../core/index.js';
import { ALL_MANIFEST_TYPES, IndexSchema, MediaType, formatIssues, parseManifestDocument, type ContentTarget, type Descriptor, type Index, type IoOptions, type ManifestDocument, type PutBlobOptions } from '../oci/index.js';
import { repositoryScope } from './challenge.js';
import type { HttpResult, RegistryClient, RequestSpec, RetryInfo } from './client.js';
import { networkError } from './client.js';
import { RegistryError, isTemporary } from './errors.js';

/** Per-call extras the copy engine passes down (ignored by other ContentTargets). */
export interface RegistryIoOptions extends IoOptions {
  /** Called for each retry made on behalf of this call. */
  onRetry?: (info: RetryInfo) => void;
}

/** A manifest as fetched, with the ETag a conditional PUT can use. */
export interface FetchedManifest {
  readonly doc: ManifestDocument;
  readonly etag?: string;
}

/** The response facts of a manifest PUT. */
export interface PutManifestResult {
  /** `OCI-Subject` header: the registry indexed the subject (referrers-capable, spec.md "Pushing Manifests with Subject"). */
  readonly subject?: string;
}

const ZERO_DIGEST = `sha256:${'0'.repeat(64)}` as Digest;

function chunkHeaderLength(h: string | null): number | undefined {
  return h && /^\d+$/.test(h) ? Number(h) : undefined;
}

/** `Range: 0-<end>` of an upload → bytes received (registry.md §3.4). */
export function parseUploadRange(range: string | null): number | undefined {
  if (range === null) return undefined;
  const m = /^(?:bytes=)?0-(\d+)$/.exec(range.trim());
  if (!m) return undefined;
  const end = Number(m[1]);
  // distribution answers "0-0" for an empty upload as well as for one byte; chunks are never one byte, so read 0.
  return end === 0 ? 0 : end + 1;
}

/** Reads `stream` in pieces of exactly `size` bytes (the last may be shorter), after skipping `skip` bytes. */
async function* chunks(stream: Readable, size: number, skip: number): AsyncGenerator<Buffer> {
  let toSkip = skip;
  let parts: Buffer[] = [];
  let have = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    let buf = c;
    if (toSkip > 0) {
      if (buf.length <= toSkip) {
        toSkip -= buf.length;
        continue;
      }
      buf = buf.subarray(toSkip);
      toSkip = 0;
    }
    while (buf.length > 0) {
      const take = Math.min(size - have, buf.length);
      parts.push(buf.subarray(0, take));
      have += take;
      buf = buf.subarray(take);
      if (have === size) {
        yield Buffer.concat(parts);
        parts = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield Buffer.concat(parts);
}

/** A registry repository: `new RegistryRepository(client, registry, name)`, or `openRepository(ref)`. */
export class RegistryRepository implements ContentTarget {
  readonly client: RegistryClient;
  readonly registry: string;
  readonly repository: string;
  readonly label: string;

  constructor(client: RegistryClient, registry: string, repository: string) {
    this.client = client;
    this.registry = registry;
    this.repository = repository;
    this.label = `${registry}/${repository}`;
  }

  private url(path: string): URL {
    return new URL(`/v2/${this.repository}/${path}`, this.client.baseUrl(this.registry));
  }

  private req(spec: Omit<RequestSpec, 'registry' | 'repository' | 'scopes'> & { push?: boolean; scopes?: readonly string[] }): Promise<HttpResult> {
    const scopes = spec.scopes ?? [repositoryScope(this.repository, spec.push ? ['pull', 'push'] : ['pull'])];
    return this.client.request({ ...spec, registry: this.registry, repository: this.repository, scopes });
  }

  /** end-2 HEAD: true when the blob exists. */
  async hasBlob(digest: Digest, options: RegistryIoOptions = {}): Promise<boolean> {
    const r = await this.req({ method: 'HEAD', url: this.url(`blobs/${digest}`), what: `checking blob ${digest} in ${this.label}`, ok: [200], allow: [404], ...io(options) });
    return r.status === 200;
  }

  /** end-2 GET, streamed through a VerifyingStream: the stream fails at its end unless digest and size match. */
  async openBlob(desc: Descriptor, options: RegistryIoOptions = {}): Promise<Readable> {
    const what = `pulling blob ${desc.digest} from ${this.label}`;
    const r = await this.req({ method: 'GET', url: this.url(`blobs/${desc.digest}`), what, ok: [200], stream: true, ...io(options) });
    if (!r.stream) throw new RegistryError('PROTOCOL', `${what}: empty response`);
    const len = r.headers.get('content-length');
    const src = r.stream;
    if (len !== null && /^\d+$/.test(len) && Number(len) !== desc.size) {
      src.destroy();
      throw new RegistryError('PROTOCOL', `${what}: registry says ${len} bytes, descriptor says ${desc.size}`);
    }
    const verify = new VerifyingStream({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest} from ${this.label}` });
    src.on('error', (err) => verify.destroy(networkError(err, what, options.signal)));
    verify.on('close', () => {
      if (!src.destroyed) src.destroy();
    });
    src.pipe(verify);
    // A consumer may attach its handlers a few awaits later (a layout store preparing its temp
    // file); a connection reset in between must not become an uncaught 'error'. The error stays
    // recorded on the stream (errored state) and reaches the consumer's pipeline/for-await.
    verify.on('error', () => undefined);
    return verify;
  }

  /** The whole blob, verified. */
  async readBlob(desc: Descriptor, options: RegistryIoOptions & { maxBytes?: number } = {}): Promise<Uint8Array> {
    const what = `pulling blob ${desc.digest} from ${this.label}`;
    const max = options.maxBytes ?? 16 << 20;
    if (desc.size > max) throw new RegistryError('PROTOCOL', `${what}: ${desc.size} bytes is more than the ${max} allowed here`);
    const r = await this.req({ method: 'GET', url: this.url(`blobs/${desc.digest}`), what, ok: [200], maxBytes: max, ...io(options) });
    try {
      verifyBytes(r.body, { digest: desc.digest, size: desc.size, what: `blob ${desc.digest} from ${this.label}` });
    } catch (err) {
      throw new RegistryError('DIGEST_MISMATCH', `${what}: ${(err as Error).message}`, { cause: err });
    }
    return r.body;
  }

  /** end-3 GET with the ETag; undefined when the reference does not exist. Digest references and Docker-Content-Digest are verified. */
  async fetchManifest(reference: string, options: RegistryIoOptions = {}): Promise<FetchedManifest | undefined> {
    const what = `pulling manifest ${this.label}${isDigest(reference) ? '@' : ':'}${reference}`;
    const r = await this.req({
      method: 'GET',
      url: this.url(`manifests/${reference}`),
      headers: { accept: ALL_MANIFEST_TYPES.join(', ') },
      what,
      ok: [200],
      allow: [404],
      maxBytes: 8 << 20,
      ...io(options),
    });
    if (r.status === 404) return undefined;
    const computed = digestOf(r.body);
    if (isDigest(reference) && reference.startsWith('sha256:') && computed !== reference) {
      throw new RegistryError('DIGEST_MISMATCH', `${what}: content has digest ${computed}`);
    }
    const header = r.headers.get('docker-content-digest');
    if (header && header.startsWith('sha256:') && header !== computed) {
      throw new RegistryError('DIGEST_MISMATCH', `${what}: Docker-Content-Digest ${header} does not match the content (${computed})`);
    }
    let doc: ManifestDocument;
    try {
      const ct = r.headers.get('content-type');
      doc = parseManifestDocument(r.body, { what, ...(ct ? { mediaType: ct } : {}), ...(isDigest(reference) ? { expected: { digest: reference } } : {}) });
    } catch (err) {
      throw new RegistryError('MANIFEST_INVALID', (err as Error).message, { cause: err });
    }
    const etag = r.headers.get('etag');
    return { doc, ...(etag ? { etag } : {}) };
  }

  /** ContentTarget.getManifest. */
  async getManifest(reference: string, options: RegistryIoOptions = {}): Promise<ManifestDocument | undefined> {
    return (await this.fetchManifest(reference, options))?.doc;
  }

  /** end-3 HEAD: descriptor of a manifest, or undefined. Falls back to GET when the registry omits Docker-Content-Digest. */
  async statManifest(reference: string, options: RegistryIoOptions = {}): Promise<Descriptor | undefined> {
    const what = `checking manifest ${this.label}${isDigest(reference) ? '@' : ':'}${reference}`;
    const r = await this.req({ method: 'HEAD', url: this.url(`manifests/${reference}`), headers: { accept: ALL_MANIFEST_TYPES.join(', ') }, what, ok: [200], allow: [404], ...io(options) });
    if (r.status === 404) return undefined;
    const digest = r.headers.get('docker-content-digest');
    const size = r.headers.get('content-length');
    const mediaType = r.headers.get('content-type')?.split(';')[0]?.trim();
    if (digest && isDigest(digest) && size && /^\d+$/.test(size) && mediaType) {
      if (isDigest(reference) && digest !== reference) throw new RegistryError('DIGEST_MISMATCH', `${what}: registry answered for ${digest}`);
      return { mediaType, digest, size: Number(size) };
    }
    const doc = await this.getManifest(reference, options);
    return doc ? { mediaType: doc.mediaType, digest: doc.digest, size: doc.raw.length } : undefined;
  }

  /** end-7: stores manifest bytes unchanged under `tag` or its digest; checks Docker-Content-Digest. */
  async putManifestRaw(doc: ManifestDocument, options: RegistryIoOptions & { tag?: string; ifMatch?: string } = {}): Promise<PutManifestResult> {
    const ref = options.tag ?? doc.digest;
    const what = `pushing manifest ${doc.digest} to ${this.label}${options.tag ? `:${options.tag}` : ''}`;
    const r = await this.req({
      method: 'PUT',
      url: this.url(`manifests/${ref}`),
      headers: { 'content-type': doc.mediaType, ...(options.ifMatch ? { 'if-match': options.ifMatch } : {}) },
      body: doc.raw,
      push: true,
      what,
      ok: [200, 201, 202, 204],
      ...io(options),
    });
    const got = r.headers.get('docker-content-digest');
    if (got && got.startsWith(doc.digest.slice(0, 7)) && got !== doc.digest) {
      throw new RegistryError('DIGEST_MISMATCH', `${what}: registry stored it as ${got}`);
    }
    const subject = r.headers.get('oci-subject');
    return subject ? { subject } : {};
  }

  /** ContentTarget.putManifest. */
  async putManifest(doc: ManifestDocument, options: RegistryIoOptions & { tag?: string } = {}): Promise<void> {
    await this.putManifestRaw(doc, options);
  }

  /** end-8 with `Link` pagination (RFC 5988); a repository that does not exist has no tags. */
  async listTags(options: RegistryIoOptions & { pageSize?: number } = {}): Promise<string[]> {
    const tags: string[] = [];
    let url: URL | undefined = this.url('tags/list');
    url.searchParams.set('n', String(options.pageSize ?? 1000));
    for (let page = 0; url && page < 10_000; page++) {
      const r = await this.req({ method: 'GET', url, what: `listing tags of ${this.label}`, ok: [200], allow: [404], maxBytes: 32 << 20, ...io(options) });
      if (r.status === 404) return tags;
      let json: { tags?: unknown };
      try {
        json = JSON.parse(new TextDecoder().decode(r.body)) as { tags?: unknown };
      } catch {
        throw new RegistryError('PROTOCOL', `listing tags of ${this.label}: response is not JSON`);
      }
      if (json.tags !== null && json.tags !== undefined && !Array.isArray(json.tags)) throw new RegistryError('PROTOCOL', `listing tags of ${this.label}: "tags" is not a list`);
      for (const t of (json.tags as unknown[] | null | undefined) ?? []) if (typeof t === 'string') tags.push(t);
      url = nextLink(r.headers.get('link'), r.url);
    }
    return tags;
  }

  /** end-9: deletes a manifest by digest. */
  async deleteManifest(digest: Digest, options: RegistryIoOptions = {}): Promise<void> {
    await this.req({ method: 'DELETE', url: this.url(`manifests/${digest}`), push: true, scopes: [repositoryScope(this.repository, ['delete', 'pull', 'push'])], what: `deleting manifest ${digest} from ${this.label}`, ok: [200, 202, 204], ...io(options) });
  }

  /** end-10: deletes a blob. */
  async deleteBlob(digest: Digest, options: RegistryIoOptions = {}): Promise<void> {
    await this.req({ method: 'DELETE', url: this.url(`blobs/${digest}`), scopes: [repositoryScope(this.repository, ['delete', 'pull', 'push'])], what: `deleting blob ${digest} from ${this.label}`, ok: [200, 202, 204], ...io(options) });
  }

  /**
   * end-11: mounts a blob from another repository of the same registry. True when mounted (201);
   * false when the registry started an upload instead (202; that upload is cancelled) or refused.
   * The token asks for push here and pull there (registry.md §3.5).
   */
  async mountBlob(desc: Descriptor, from: string, options: RegistryIoOptions = {}): Promise<boolean> {
    const url = this.url('blobs/uploads/');
    url.searchParams.set('mount', desc.digest);
    url.searchParams.set('from', from);
    const what = `mounting blob ${desc.digest} into ${this.label} from ${from}`;
    let r: HttpResult;
    try {
      r = await this.req({
        method: 'POST',
        url,
        headers: { 'content-length': '0' },
        scopes: [repositoryScope(this.repository, ['pull', 'push']), repositoryScope(from, ['pull'])],
        what,
        ok: [201, 202],
        ...io(options),
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      // ggcr retries without mount on any mount error (#1679); so does lading, by uploading.
      this.client.logger.debug(`${what}: ${(err as Error).message}; will upload`);
      return false;
    }
    if (r.status === 201) return true;
    const loc = r.headers.get('location');
    if (loc) await this.cancelUpload(new URL(loc, r.url), options);
    return false;
  }

  /** end-4a: starts an upload session. */
  private async startUpload(desc: Descriptor, options: RegistryIoOptions): Promise<{ location: URL; minChunk: number | undefined }> {
    const what = `pushing blob ${desc.digest} to ${this.label}: starting upload`;
    const r = await this.req({ method: 'POST', url: this.url('blobs/uploads/'), headers: { 'content-length': '0' }, push: true, what, ok: [202], ...io(options) });
    const loc = r.headers.get('location');
    if (!loc) throw new RegistryError('PROTOCOL', `${what}: 202 without Location`);
    // Location may be relative and may carry query parameters that must be kept (pitfall 1).
    return { location: new URL(loc, r.url), minChunk: chunkHeaderLength(r.headers.get('oci-chunk-min-length')) };
  }

  /** end-13: upload status: where to continue, or undefined when the session is gone. */
  async uploadStatus(location: URL, options: RegistryIoOptions = {}): Promise<{ location: URL; offset: number } | undefined> {
    try {
      const r = await this.req({ method: 'GET', url: location, push: true, what: `checking upload status in ${this.label}`, ok: [204, 200], allow: [404, 400], ...io(options) });
      if (r.status === 404 || r.status === 400) return undefined;
      const next = r.headers.get('location');
      return { location: next ? new URL(next, r.url) : location, offset: parseUploadRange(r.headers.get('range')) ?? 0 };
    } catch (err) {
      if (options.signal?.aborted) throw err;
      return undefined;
    }
  }

  /** end-14: cancels an upload; failures are ignored (spec: clients SHOULD send it and ignore errors). */
  async cancelUpload(location: URL, options: RegistryIoOptions = {}): Promise<void> {
    try {
      await this.req({ method: 'DELETE', url: location, push: true, what: `cancelling upload in ${this.label}`, ok: [200, 202, 204], allow: [404, 400, 405], retry: false, ...(options.onRetry ? { onRetry: options.onRetry } : {}) });
    } catch {
      // ignored on purpose
    }
  }

  /**
   * Uploads a blob: monolithic POST + PUT first (registry.md §3.2). After a failure it switches to
   * chunked PATCH uploads (§3.4): asks the registry how much it holds (GET upload status),
   * reopens the source and continues from there, or starts a new session when the old one is
   * gone. A blob found present after a failure counts as done. The session is DELETEd on failure
   * or abort. `open` is called once per attempt; its stream is verified by the source.
   */
  async putBlob(desc: Descriptor, open: (options: IoOptions) => Promise<Readable>, options: PutBlobOptions & RegistryIoOptions = {}): Promise<void> {
    const what = `pushing blob ${desc.digest} to ${this.label}`;
    const policy = this.client.retryPolicy;
    const { chunkSize, forceChunked } = this.client.upload;
    let chunked = forceChunked;
    let session: { location: URL; offset: number; minChunk: number | undefined } | undefined;
    let failures = 0;
    try {
      for (;;) {
        throwIfAborted(options.signal, what);
        try {
          if (!session) session = { ...(await this.startUpload(desc, options)), offset: 0 };
          if (!chunked) {
            await this.putWhole(session.location, desc, open, options);
          } else {
            await this.putChunks(session, desc, open, Math.max(chunkSize, session.minChunk ?? 0), options);
          }
          session = undefined;
          return;
        } catch (err) {
          failures++;
          if (!isTemporary(err) || failures > policy.retries || options.signal?.aborted) throw err;
          const decision = this.client.retryDecision(err, failures);
          const delayMs = decision === false ? 0 : decision.delayMs;
          this.client.noteRetry(what, err, failures, delayMs, options.onRetry);
          await sleep(delayMs, options.signal);
          chunked = true;
          if (await this.hasBlob(desc.digest, options).catch(() => false)) {
            // The last request landed after all (its answer was lost): nothing left to send.
            if (session) await this.cancelUpload(session.location, options);
            session = undefined;
            return;
          }
          if (session) {
            const st = await this.uploadStatus(session.location, options);
            if (st && st.offset <= desc.size) {
              session = { ...session, location: st.location, offset: st.offset };
            } else {
              await this.cancelUpload(session.location, options);
              session = undefined;
            }
          }
        }
      }
    } catch (err) {
      // No signal here: the cancel must go out even when the copy was aborted.
      if (session) await this.cancelUpload(session.location);
      throw err;
    }
  }

  private async putWhole(location: URL, desc: Descriptor, open: (o: IoOptions) => Promise<Readable>, options: PutBlobOptions & RegistryIoOptions): Promise<void> {
    const url = new URL(location);
    url.searchParams.append('digest', desc.digest);
    let sent = 0;
    await this.req({
      method: 'PUT',
      url,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: async () => {
        // Progress counts what this attempt sent; it restarts from zero on each attempt.
        sent = 0;
        const src = await open(options.signal ? { signal: options.signal } : {});
        const counted = async function* (): AsyncGenerator<Uint8Array> {
          for await (const c of src as AsyncIterable<Uint8Array>) {
            sent += c.length;
            options.onProgress?.(sent);
            yield c;
          }
        };
        return counted();
      },
      push: true,
      what: `pushing blob ${desc.digest} to ${this.label}`,
      ok: [201, 204],
      retry: false,
      ...io(options),
    });
  }

  private async putChunks(
    session: { location: URL; offset: number },
    desc: Descriptor,
    open: (o: IoOptions) => Promise<Readable>,
    chunkSize: number,
    options: PutBlobOptions & RegistryIoOptions,
  ): Promise<void> {
    const what = `pushing blob ${desc.digest} to ${this.label}`;
    if (session.offset < desc.size) {
      const src = await open(options.signal ? { signal: options.signal } : {});
      try {
        for await (const chunk of chunks(src, chunkSize, session.offset)) {
          const start = session.offset;
          const end = start + chunk.length - 1;
          const r = await this.req({
            method: 'PATCH',
            url: session.location,
            headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}`, 'content-length': String(chunk.length) },
            body: chunk,
            push: true,
            what: `${what}: bytes ${start}-${end}`,
            ok: [202, 201, 204],
            retry: false,
            ...io(options),
          });
          const loc = r.headers.get('location');
          if (loc) session.location = new URL(loc, r.url);
          const got = parseUploadRange(r.headers.get('range'));
          session.offset = got !== undefined && got > end ? got : end + 1;
          options.onProgress?.(session.offset);
        }
      } catch (err) {
        src.destroy();
        throw networkError(err, what, options.signal);
      }
    }
    const url = new URL(session.location);
    url.searchParams.append('digest', desc.digest);
    await this.req({ method: 'PUT', url, headers: { 'content-length': '0' }, push: true, what: `${what}: closing the upload`, ok: [201, 204], retry: false, ...io(options) });
  }

  /** True when the registry serves the referrers API (a 200 for the zero digest, as @sigstore/oci probes), cached per registry. */
  referrersApiSupported(options: RegistryIoOptions = {}): Promise<boolean> {
    let p = this.client.referrersApi.get(this.registry);
    if (!p) {
      p = this.req({ method: 'GET', url: this.url(`referrers/${ZERO_DIGEST}`), what: `probing the referrers API of ${this.registry}`, ok: [200], allow: [404, 400, 405, 401, 403], ...io(options) })
        .then((r) => r.status === 200 && (r.headers.get('content-type') ?? '').startsWith(MediaType.OciIndex))
        .catch(() => false);
      this.client.referrersApi.set(this.registry, p);
    }
    return p;
  }

  /**
   * end-12: the referrers of `digest` through the API, all pages, filtered by artifactType
   * (client-side when the registry did not apply the filter). Undefined when the API answers 404.
   */
  async referrersFromApi(digest: Digest, options: RegistryIoOptions & { artifactType?: string } = {}): Promise<Descriptor[] | undefined> {
    let url: URL | undefined = this.url(`referrers/${digest}`);
    if (options.artifactType) url.searchParams.set('artifactType', options.artifactType);
    const out: Descriptor[] = [];
    for (let page = 0; url && page < 1000; page++) {
      const r = await this.req({ method: 'GET', url, headers: { accept: MediaType.OciIndex }, what: `listing referrers of ${this.label}@${digest}`, ok: [200], allow: [404], ...io(options) });
      if (r.status === 404) return page === 0 ? undefined : out;
      const filtered = (r.headers.get('oci-filters-applied') ?? '').split(',').map((s) => s.trim()).includes('artifactType');
      out.push(...parseReferrersIndex(r.body, `referrers of ${this.label}@${digest}`, filtered ? undefined : options.artifactType));
      url = nextLink(r.headers.get('link'), r.url);
    }
    return out;
  }
}

/** Parses a referrers response or fallback index, keeping descriptors (optionally of one artifactType). */
export function parseReferrersIndex(raw: Uint8Array, what: string, artifactType?: string): Descriptor[] {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new RegistryError('PROTOCOL', `${what}: not JSON`);
  }
  const r = IndexSchema.safeParse(json);
  if (!r.success) throw new RegistryError('PROTOCOL', `${what}: not an image index: ${formatIssues(r.error)}`);
  const idx: Index = r.data;
  return idx.manifests.filter((d) => artifactType === undefined || d.artifactType === artifactType);
}

/** The `rel="next"` target of a Link header, resolved against the request URL. */
export function nextLink(link: string | null, base: URL): URL | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]*)>\s*;(.*)/.exec(part.trim());
    if (m && /rel="?next"?/i.test(m[2] ?? '')) return new URL(m[1] ?? '', base);
  }
  return undefined;
}

function io(options: RegistryIoOptions): Pick<RequestSpec, 'signal' | 'onRetry'> {
  return { ...(options.signal ? { signal: options.signal } : {}), ...(options.onRetry ? { onRetry: options.onRetry } : {}) };
}
