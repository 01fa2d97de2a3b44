// The copy engine: images and indexes from one ContentTarget to another (registry repositories
// or OCI layouts), raw bytes unchanged so digests never change (registry.md §10.6).
// Order per image (registry.md §3, §10): blobs (HEAD-skip, mount, upload; in parallel), then
// child manifests, then the root by digest, then referrers, and only then tags.
// Several images in one run share work: a blob needed by many is transferred once per
// destination, and blobs already in a sibling repository of the same registry are mounted.
import { Readable } from 'node:stream';
import { createLimiter, nullLogger, retry, throwIfAborted, type Digest, type Limiter, type Logger } from '../core/index.js';
import type { ContentTarget, Descriptor, ManifestDocument } from '../oci/index.js';
import { RegistryError, isTemporary } from './errors.js';
import type { RateLimit } from './ratelimit.js';
import { listReferrers, recordReferrer } from './referrers.js';
import { RegistryRepository, type RegistryIoOptions } from './repository.js';
import type { RetryInfo } from './client.js';

/** One image to copy. */
export interface CopyItem {
  source: ContentTarget;
  /** Tag (ref name) or digest in the source. */
  reference: string;
  destination: ContentTarget;
  /** Tags to point at the copied image, written last. Empty: copy by digest only. */
  tags: readonly string[];
  /** Names for the summary; default the targets' labels. */
  sourceName?: string;
  destinationName?: string;
}

/** `os/arch[/variant]`. */
export interface PlatformSelector {
  os: string;
  architecture: string;
  variant?: string;
}

/** Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`). */
export function parsePlatform(text: string): PlatformSelector {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9._-]+$/.test(p))) {
    throw new RegistryError('REFERENCE_INVALID', `platform ${JSON.stringify(text)}: want os/arch[/variant], e.g. linux/amd64`);
  }
  const [os = '', architecture = '', variant] = parts;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Progress of one image, for displays. */
export interface ImageProgress {
  readonly name: string;
  state: 'waiting' | 'copying' | 'done' | 'failed';
  blobsTotal: number;
  blobsDone: number;
  bytesTotal: number;
  bytesDone: number;
}

/** Options for copyImages. */
export interface CopyOptions {
  /** Copy only this platform of an index (the destination gets that platform's manifest). */
  platform?: PlatformSelector;
  /** Also copy the referrers (signatures, SBOMs, attestations) of every copied manifest. */
  referrers?: boolean;
  /** Blobs transferred at once across the run. Default 6. */
  concurrency?: number;
  /**
   * Images worked on at once. Default 16: an image mostly waits (on a shared blob another image is
   * sending, or on round trips), and the blob limit bounds the transfers anyway; a low limit made
   * the later images of a family wait for the first ones' whole base upload before even
   * uploading their own small layers.
   */
  imageConcurrency?: number;
  /** Retries for targets that do not retry themselves (layouts). Default 3 with 500 ms backoff. */
  retry?: { retries?: number; baseDelayMs?: number; maxDelayMs?: number };
  signal?: AbortSignal;
  logger?: Logger;
  /** Called whenever progress changes (often: throttle in the display). */
  onProgress?: (images: readonly ImageProgress[]) => void;
}

/** What happened to one image. */
export interface ImageCopyResult {
  source: string;
  destination: string;
  /** Digest of what the tags point to (the index, or the selected platform's manifest). */
  digest?: Digest;
  mediaType?: string;
  /** `os/arch[/variant]` of each platform copied, for an index. */
  platforms?: string[];
  blobs: { total: number; uploaded: number; skipped: number; mounted: number };
  bytesUploaded: number;
  manifests: { written: number; skipped: number };
  tagsWritten: string[];
  referrersCopied: number;
  retries: number;
  /** Rate limits the registries involved announced (Docker Hub `ratelimit-*` headers). */
  rateLimits?: Record<string, RateLimit>;
  durationMs: number;
  /** Set when the copy failed; nothing was tagged after a failure. */
  error?: string;
  errorCode?: string;
}

/** The result of a run. `ok` is false when any image failed. */
export interface CopyReport {
  ok: boolean;
  images: ImageCopyResult[];
  durationMs: number;
}

type BlobOutcome = 'uploaded' | 'skipped' | 'mounted';

interface ImageState {
  result: ImageCopyResult;
  progress: ImageProgress;
  item: CopyItem;
}

/**
 * Blobs up to this size are read whole (the source verifies them) and every upload attempt sends
 * those bytes. A stream per blob costs more than the blob: a layout reads in 1 MiB buffers that
 * are shrunk by a copy for smaller files, and most of a family's blobs are small.
 */
const WHOLE_BLOB_MAX = 4 << 20;

function platformString(p: { os: string; architecture: string; variant?: string | undefined }): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Foreign/non-distributable layers with URLs are not copied (image-spec descriptor.md `urls`). */
function isForeign(d: Descriptor): boolean {
  return (d.urls?.length ?? 0) > 0 && /nondistributable|foreign/.test(d.mediaType);
}

class CopyRun {
  private readonly blobLimit: Limiter;
  private readonly blobTasks = new Map<string, Promise<BlobOutcome>>();
  /** digest -> repositories known to hold it (sources, and destinations once confirmed). */
  private readonly locations = new Map<string, RegistryRepository[]>();
  /** registry + digest -> an upload in flight, so siblings mount instead of uploading again. */
  private readonly inflight = new Map<string, Promise<BlobOutcome>>();
  private readonly manifestTasks = new Map<string, Promise<{ apiIndexed: boolean; written: boolean }>>();
  private readonly logger: Logger;
  private readonly notify: () => void;

  constructor(
    private readonly options: CopyOptions,
    private readonly states: ImageState[],
  ) {
    this.blobLimit = createLimiter(options.concurrency ?? 6);
    this.logger = options.logger ?? nullLogger;
    this.notify = () => options.onProgress?.(states.map((s) => s.progress));
  }

  private io(st: ImageState): RegistryIoOptions {
    return {
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      onRetry: (_info: RetryInfo) => {
        st.result.retries++;
      },
    };
  }

  private remember(repo: RegistryRepository, digest: Digest): void {
    const list = this.locations.get(digest) ?? [];
    if (!list.some((r) => r.label === repo.label)) list.push(repo);
    this.locations.set(digest, list);
  }

  async copy(st: ImageState): Promise<void> {
    const { item } = st;
    const started = Date.now();
    st.progress.state = 'copying';
    this.notify();
    try {
      throwIfAborted(this.options.signal, `copying ${st.result.source}`);
      let root = await item.source.getManifest(item.reference, this.io(st));
      if (!root) throw new RegistryError('NOT_FOUND', `copying ${st.result.source}: ${item.reference} not found in ${item.source.label}`);
      if (root.kind === 'index' && this.options.platform) root = await this.selectPlatform(st, root, this.options.platform);
      st.result.digest = root.digest;
      st.result.mediaType = root.mediaType;
      if (root.kind === 'index') {
        st.result.platforms = root.value.manifests.filter((d) => d.platform).map((d) => platformString(d.platform as { os: string; architecture: string; variant?: string }));
      }
      const docs = await this.collect(st, root);
      st.progress.blobsTotal = new Set(docs.flatMap((d) => this.blobsOf(d).map((b) => b.digest))).size;
      st.progress.bytesTotal = [...new Map(docs.flatMap((d) => this.blobsOf(d).map((b) => [b.digest, b.size] as const))).values()].reduce((a, b) => a + b, 0);
      st.result.blobs.total = st.progress.blobsTotal;
      // With referrers the root must exist by digest before its referrers are attached.
      const rootByTag = item.tags.length > 0 && !this.options.referrers;
      await this.copyTree(st, root, docs, rootByTag);
      if (this.options.referrers) await this.copyReferrers(st, docs.map((d) => d.digest), 0);
      // Tags last: every blob and manifest above is confirmed present (HEAD 200, mount 201, upload 201, manifest 201).
      for (const tag of item.tags) {
        throwIfAborted(this.options.signal, `tagging ${st.result.destination}`);
        await item.destination.putManifest(root, { ...this.io(st), tag });
        st.result.tagsWritten.push(tag);
        this.logger.debug(`${st.result.destination}: tag ${tag} -> ${root.digest}`);
      }
      st.progress.state = 'done';
    } catch (err) {
      st.progress.state = 'failed';
      st.result.error = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string') st.result.errorCode = code;
    } finally {
      st.result.durationMs = Date.now() - started;
      const limits: Record<string, RateLimit> = {};
      for (const t of [item.source, item.destination]) {
        if (t instanceof RegistryRepository) {
          const rl = t.client.rateLimits.get(t.registry);
          if (rl) limits[t.registry] = rl;
        }
      }
      if (Object.keys(limits).length) st.result.rateLimits = limits;
      this.notify();
    }
  }

  private async selectPlatform(st: ImageState, index: ManifestDocument & { kind: 'index' }, want: PlatformSelector): Promise<ManifestDocument> {
    const matches = index.value.manifests.filter(
      (d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture && (want.variant === undefined || d.platform.variant === want.variant),
    );
    const first = matches[0];
    if (!first) {
      const have = index.value.manifests.map((d) => (d.platform ? platformString(d.platform) : '?')).join(', ');
      throw new RegistryError('PLATFORM_NOT_FOUND', `copying ${st.result.source}: no ${platformString(want)} in the index (it has ${have || 'nothing'})`);
    }
    const child = await st.item.source.getManifest(first.digest, this.io(st));
    if (!child) throw new RegistryError('NOT_FOUND', `copying ${st.result.source}: manifest ${first.digest} (${platformString(want)}) missing from ${st.item.source.label}`);
    return child;
  }

  /** The root and every manifest below it, children first. */
  private async collect(st: ImageState, doc: ManifestDocument, depth = 0): Promise<ManifestDocument[]> {
    if (doc.kind !== 'index') return [doc];
    if (depth > 4) throw new RegistryError('MANIFEST_INVALID', `copying ${st.result.source}: indexes nested more than 4 deep`);
    const children = await Promise.all(
      doc.value.manifests.map(async (d) => {
        const child = await st.item.source.getManifest(d.digest, this.io(st));
        if (!child) throw new RegistryError('NOT_FOUND', `copying ${st.result.source}: child manifest ${d.digest} missing from ${st.item.source.label}`);
        return this.collect(st, child, depth + 1);
      }),
    );
    return [...children.flat(), doc];
  }

  private blobsOf(doc: ManifestDocument): Descriptor[] {
    if (doc.kind !== 'manifest') return [];
    return [doc.value.config, ...doc.value.layers].filter((d) => !isForeign(d));
  }

  /**
   * Blobs of every manifest, then the manifests themselves, children before parents. With
   * `rootByTag` the root is not stored by digest here: the first tag PUT stores it (one write
   * less per image; the tag still comes after everything it needs).
   */
  private async copyTree(st: ImageState, root: ManifestDocument, docs: ManifestDocument[], rootByTag = false): Promise<{ apiIndexed: boolean }> {
    const { source, destination } = st.item;
    if (source instanceof RegistryRepository) for (const d of docs) for (const b of this.blobsOf(d)) this.remember(source, b.digest);
    const seen = new Set<string>();
    const blobs = docs.flatMap((d) => this.blobsOf(d)).filter((b) => (seen.has(b.digest) ? false : (seen.add(b.digest), true)));
    // Largest first: the big shared layers are the critical path of a family (every sibling waits
    // to mount them), so they take the first transfer slots; the small ones fill the rest.
    const order = blobs.map((b, i) => i).sort((a, b) => (blobs[b] as Descriptor).size - (blobs[a] as Descriptor).size);
    const tasks: Array<Promise<boolean>> = new Array<Promise<boolean>>(blobs.length);
    for (const i of order) tasks[i] = this.blob(st, blobs[i] as Descriptor);
    const settled = await Promise.allSettled(tasks);
    const failed = settled.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    const present = new Set(blobs.filter((_, i) => (settled[i] as PromiseFulfilledResult<boolean>).value).map((b) => b.digest));
    let apiIndexed = false;
    const written = new Set<string>();
    for (const d of docs) {
      // A manifest whose content was all present may be there too: ask first. Otherwise it cannot be, skip the HEAD.
      const maybeThere = d.kind === 'manifest' ? this.blobsOf(d).every((b) => present.has(b.digest)) : d.value.manifests.every((c) => !written.has(c.digest));
      if (rootByTag && d === root) {
        const have = maybeThere ? await destination.statManifest(d.digest, this.io(st)) : undefined;
        st.result.manifests[have ? 'skipped' : 'written']++;
        continue;
      }
      const r = await this.manifest(st, d, destination, maybeThere);
      if (r.written) written.add(d.digest);
      apiIndexed = r.apiIndexed || apiIndexed;
    }
    return { apiIndexed };
  }

  private async manifest(st: ImageState, doc: ManifestDocument, dest: ContentTarget, check: boolean): Promise<{ apiIndexed: boolean; written: boolean }> {
    const key = `${dest.label}\n${doc.digest}`;
    let task = this.manifestTasks.get(key);
    if (!task) {
      task = (async () => {
        const io = this.io(st);
        const have = check ? await dest.statManifest(doc.digest, io) : undefined;
        if (have && have.digest === doc.digest) {
          st.result.manifests.skipped++;
          return { apiIndexed: false, written: false };
        }
        let apiIndexed = false;
        if (dest instanceof RegistryRepository) apiIndexed = (await dest.putManifestRaw(doc, io)).subject !== undefined;
        else await this.retrying(() => dest.putManifest(doc, io), `pushing manifest ${doc.digest} to ${dest.label}`, st);
        st.result.manifests.written++;
        this.logger.debug(`${dest.label}: manifest ${doc.digest} written${apiIndexed ? ' (registry indexed its subject)' : ''}`);
        return { apiIndexed, written: true };
      })();
      this.manifestTasks.set(key, task);
      task.catch(() => this.manifestTasks.delete(key));
    } else {
      st.result.manifests.skipped++;
    }
    return task;
  }

  /** Transfers one blob (or joins the transfer another image started); true when it was already there. */
  private async blob(st: ImageState, desc: Descriptor): Promise<boolean> {
    const dest = st.item.destination;
    const key = `${dest.label}\n${desc.digest}`;
    let task = this.blobTasks.get(key);
    let mine = false;
    if (!task) {
      mine = true;
      task = this.transfer(st, desc);
      this.blobTasks.set(key, task);
      // A failed transfer may be tried again by a later image of the run.
      task.catch(() => this.blobTasks.delete(key));
      if (dest instanceof RegistryRepository) {
        const rk = `${dest.registry}\n${desc.digest}`;
        this.inflight.set(rk, task);
        void task.finally(() => {
          if (this.inflight.get(rk) === task) this.inflight.delete(rk);
        }).catch(() => undefined);
      }
    }
    const outcome = await task;
    this.logger.debug(`${dest.label}: blob ${desc.digest} (${desc.size} B) ${mine ? (outcome === 'skipped' ? 'already present' : outcome) : 'shared with another image of this run'}`);
    st.result.blobs[mine ? outcome : 'skipped']++;
    if (mine && outcome === 'uploaded') st.result.bytesUploaded += desc.size;
    st.progress.blobsDone++;
    if (!mine || outcome !== 'uploaded') st.progress.bytesDone += desc.size;
    this.notify();
    return mine && outcome === 'skipped';
  }

  private async transfer(st: ImageState, desc: Descriptor): Promise<BlobOutcome> {
    const { source, destination: dest } = st.item;
    const io = this.io(st);
    if (dest instanceof RegistryRepository) {
      // A sibling repository on this registry is receiving the blob right now: wait, then mount.
      const sibling = this.inflight.get(`${dest.registry}\n${desc.digest}`);
      if (sibling) await sibling.catch(() => undefined);
    }
    return this.blobLimit(async () => {
      // Known in a sibling repository of the same registry: mount straight away (a mount of a
      // blob the repository already has succeeds too), saving the HEAD.
      const siblings = dest instanceof RegistryRepository ? (this.locations.get(desc.digest) ?? []).filter((r) => r.registry === dest.registry && r.repository !== dest.repository) : [];
      if (dest instanceof RegistryRepository) {
        for (const from of siblings) {
          if (await dest.mountBlob(desc, from.repository, io)) {
            this.remember(dest, desc.digest);
            return 'mounted';
          }
        }
      }
      if (await dest.hasBlob(desc.digest, io)) {
        if (dest instanceof RegistryRepository) this.remember(dest, desc.digest);
        return 'skipped';
      }
      let lastReported = 0;
      let whole: Promise<Uint8Array> | undefined;
      const open =
        desc.size <= WHOLE_BLOB_MAX
          ? async (o: { signal?: AbortSignal }): Promise<Readable> => {
              if (!whole) {
                const p = source.readBlob(desc, { ...io, ...o, maxBytes: WHOLE_BLOB_MAX });
                whole = p;
                // A failed read is tried afresh by the next attempt.
                p.catch(() => {
                  if (whole === p) whole = undefined;
                });
              }
              const b = await whole;
              return Readable.from([Buffer.from(b.buffer, b.byteOffset, b.byteLength)]);
            }
          : (o: { signal?: AbortSignal }) => source.openBlob(desc, { ...io, ...o });
      const put = () =>
        dest.putBlob(desc, open, {
          ...io,
          onProgress: (n: number) => {
            st.progress.bytesDone += n - lastReported;
            lastReported = n;
            this.notify();
          },
        });
      if (dest instanceof RegistryRepository) await put();
      else await this.retrying(put, `copying blob ${desc.digest} to ${dest.label}`, st);
      // Progress already counted what was sent; the caller adds nothing for uploads.
      if (dest instanceof RegistryRepository) this.remember(dest, desc.digest);
      return 'uploaded';
    });
  }

  /** Retries for targets that do not retry themselves (a layout reading from a flaky registry). */
  private retrying<T>(fn: () => Promise<T>, what: string, st: ImageState): Promise<T> {
    const r = this.options.retry ?? {};
    return retry(fn, {
      retries: r.retries ?? 3,
      baseDelayMs: r.baseDelayMs ?? 500,
      maxDelayMs: r.maxDelayMs ?? 10_000,
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      shouldRetry: (err) => isTemporary(err),
      onRetry: ({ err, attempt, delayMs }) => {
        st.result.retries++;
        this.logger.debug(`${what}: retry ${attempt} in ${delayMs} ms: ${(err as Error).message}`);
      },
    });
  }

  private async copyReferrers(st: ImageState, subjects: Digest[], depth: number): Promise<void> {
    if (depth > 3) return;
    const { source, destination } = st.item;
    for (const subject of subjects) {
      const { referrers } = await listReferrers(source, subject, this.io(st));
      for (const ref of referrers) {
        const doc = await source.getManifest(ref.digest, this.io(st));
        if (!doc) {
          this.logger.warn(`copying referrers of ${st.result.source}@${subject}: ${ref.digest} is listed but missing; skipped`);
          continue;
        }
        const docs = await this.collect(st, doc);
        const { apiIndexed } = await this.copyTree(st, doc, docs);
        await recordReferrer(destination, doc, { ...this.io(st), apiIndexed });
        st.result.referrersCopied++;
        await this.copyReferrers(st, [doc.digest], depth + 1);
      }
    }
  }
}

/**
 * Copies images between ContentTargets. Every image is attempted; the report says which failed
 * (`ok` false) and nothing is tagged for a failed image. Throws only when aborted before the end.
 */
export async function copyImages(items: readonly CopyItem[], options: CopyOptions = {}): Promise<CopyReport> {
  const started = Date.now();
  const states: ImageState[] = items.map((item) => {
    const source = item.sourceName ?? `${item.source.label}${item.reference.includes(':') && item.reference.startsWith('sha') ? '@' : ':'}${item.reference}`;
    const destination = item.destinationName ?? item.destination.label;
    return {
      item,
      progress: { name: destination, state: 'waiting', blobsTotal: 0, blobsDone: 0, bytesTotal: 0, bytesDone: 0 },
      result: {
        source,
        destination,
        blobs: { total: 0, uploaded: 0, skipped: 0, mounted: 0 },
        bytesUploaded: 0,
        manifests: { written: 0, skipped: 0 },
        tagsWritten: [],
        referrersCopied: 0,
        retries: 0,
        durationMs: 0,
      },
    };
  });
  const run = new CopyRun(options, states);
  const imageLimit = createLimiter(options.imageConcurrency ?? 16);
  await Promise.all(states.map((st) => imageLimit(() => run.copy(st))));
  throwIfAborted(options.signal, 'copy');
  return { ok: states.every((s) => s.result.error === undefined), images: states.map((s) => s.result), durationMs: Date.now() - started };
}

/** Copies one image and throws a RegistryError (COPY_FAILED, with the cause's message) when it fails. */
export async function copyImage(item: CopyItem, options: CopyOptions = {}): Promise<ImageCopyResult> {
  const report = await copyImages([item], options);
  const r = report.images[0] as ImageCopyResult;
  if (r.error !== undefined) throw new RegistryError('COPY_FAILED', r.error);
  return r;
}
