// The storage half of LayoutStore: blobs by digest, index.json under a lock, writer leases.
// gc, verify and inspect build on it (store.ts); keeping them apart avoids an import cycle.
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { pipeline as pipelineCb, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import {
  atomicWriteFile,
  describeError,
  digestOf,
  errnoCode,
  fsyncDir,
  Hasher,
  isBaseError,
  isDigest,
  nullLogger,
  parseJson,
  splitDigest,
  throwIfAborted,
  VerifyingStream,
  withFileLock,
  type Digest,
  type DigestAlgorithm,
  type Logger,
} from '../core/index.js';
import {
  DescriptorSchema,
  formatIssues,
  INDEX_TYPES,
  isValidRefName,
  MediaType,
  parseManifestDocument,
  type Descriptor,
  type ManifestDocument,
  type IoOptions,
} from '../oci/index.js';
import { LayoutError } from './errors.js';
import { myLease, REF_NAME, StorePaths, type LeaseRecord } from './paths.js';
import { edgesOf, isWalkable, mayBeAbsent } from './walk.js';

/** Largest manifest/index lading reads (distribution-spec asks registries for at least 4 MB). */
export const MAX_MANIFEST_BYTES = 16 << 20;

/** Options of writeBlob. */
export interface WriteBlobOptions extends IoOptions {
  /**
   * What the content must be. The write fails (and leaves nothing behind) on a mismatch. When a
   * blob with this digest (and size) is already present, a stream `source` is destroyed unread.
   */
  expected?: { digest: Digest; size?: number };
  /** Bytes written so far, for progress displays. */
  onProgress?: (bytes: number) => void;
}

/** A blob as found on disk. */
export interface BlobFile {
  readonly digest: Digest;
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** The parsed index.json: the raw object (unknown fields kept) and its descriptors. */
export interface IndexFile {
  readonly raw: Record<string, unknown>;
  /** Every entry as written (validated), in file order. */
  readonly manifests: Descriptor[];
}

/** An index.json entry that carries a ref name. */
export interface NamedDescriptor {
  readonly name: string;
  readonly descriptor: Descriptor;
}

/** Descriptor validated against the schema, or a LayoutError naming `what`. */
export function checkDescriptor(value: unknown, what: string): Descriptor {
  const r = DescriptorSchema.safeParse(value);
  if (!r.success) throw new LayoutError('DESCRIPTOR_INVALID', `${what}: invalid descriptor: ${formatIssues(r.error)}`);
  return r.data;
}

/** The ref name of an index.json entry, if it has one. */
export function refNameOf(desc: Descriptor): string | undefined {
  return desc.annotations?.[REF_NAME];
}

/** How messages name an index.json entry: `index.json manifests[2] (name)`. */
export function describeEntry(desc: Descriptor, i: number): string {
  const name = refNameOf(desc);
  return `index.json manifests[${i}]${name !== undefined ? ` (${name})` : ''}`;
}

function ioError(what: string, err: unknown): LayoutError {
  if (err instanceof LayoutError) return err;
  return new LayoutError('IO', `${what}: ${describeError(err)}`, { cause: err });
}

/** Counts bytes and hashes them on their way to the temp file; fails early past `limit`. */
class HashingTap extends Transform {
  readonly hasher: Hasher;
  constructor(
    algorithm: DigestAlgorithm,
    private readonly limit: number | undefined,
    private readonly what: string,
    private readonly onProgress?: (bytes: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hasher = new Hasher(algorithm);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hasher.update(chunk);
    if (this.limit !== undefined && this.hasher.size > this.limit) {
      cb(new LayoutError('SIZE_MISMATCH', `${this.what}: more than the expected ${this.limit} bytes`));
      return;
    }
    this.onProgress?.(this.hasher.size);
    cb(null, chunk);
  }
}

/**
 * Blob and index.json primitives of an image layout (image-spec v1.1.1 image-layout.md).
 * Use LayoutStore (store.ts), which adds names, gc, verify and inspect.
 */
export class LayoutBase {
  /** Absolute path of the store directory. */
  readonly path: string;
  /** Names the store in messages: `oci:<path>`. */
  readonly label: string;
  /** @internal File names inside the store. */
  readonly paths: StorePaths;
  /** @internal Where the store logs. */
  readonly logger: Logger;
  private lease: Promise<string> | undefined;

  constructor(path: string, logger: Logger = nullLogger) {
    this.path = path;
    this.label = `oci:${path}`;
    this.paths = new StorePaths(path);
    this.logger = logger;
  }

  /** Where the blob with this digest lives (whether or not it exists). */
  blobPath(digest: Digest): string {
    return this.paths.blob(digest);
  }

  // ---------------------------------------------------------------- blobs: read

  /** True when the blob file exists. Its content is not checked (verify() does that). */
  async hasBlob(digest: Digest, _options: IoOptions = {}): Promise<boolean> {
    return (await this.statBlob(digest)) !== undefined;
  }

  /** Size of a stored blob, or undefined when absent. */
  async statBlob(digest: Digest): Promise<{ size: number; mtimeMs: number } | undefined> {
    try {
      const s = await stat(this.paths.blob(digest));
      return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
      throw ioError(`${this.label}: blob ${digest}`, err);
    }
  }

  /**
   * A stream of the blob that fails at its end with core's DIGEST_MISMATCH when the bytes on disk
   * do not match `desc` (a VerifyingStream); absence and a wrong size fail before any byte is read.
   */
  async openBlob(desc: Descriptor, options: IoOptions = {}): Promise<Readable> {
    throwIfAborted(options.signal, `${this.label}: reading blob ${desc.digest}`);
    const what = `${this.label}: blob ${desc.digest}`;
    const file = this.paths.blob(desc.digest);
    const fh = await open(file, 'r').catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') throw new LayoutError('BLOB_MISSING', `${what}: not in the store`);
      throw ioError(what, err);
    });
    const size = (await fh.stat()).size;
    if (size !== desc.size) {
      await fh.close();
      throw new LayoutError('SIZE_MISMATCH', `${what}: ${size} bytes on disk, descriptor says ${desc.size}`);
    }
    const verify = new VerifyingStream({ digest: desc.digest, size: desc.size, what });
    const raw = createReadStream(file, { fd: fh, highWaterMark: 1 << 20, signal: options.signal });
    // pipeline forwards a read error to `verify` and closes the file when the reader stops early.
    pipelineCb(raw, verify, () => undefined);
    return verify;
  }

  /** The whole blob, verified against `desc`; refuses blobs larger than `maxBytes` (default 64 MiB). */
  async readBlob(desc: Descriptor, options: IoOptions & { maxBytes?: number } = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal, `${this.label}: reading blob ${desc.digest}`);
    const what = `${this.label}: blob ${desc.digest}`;
    const max = options.maxBytes ?? 64 << 20;
    if (desc.size > max) throw new LayoutError('SIZE_MISMATCH', `${what}: ${desc.size} bytes is more than the ${max} allowed here`);
    let data: Buffer;
    try {
      data = await readFile(this.paths.blob(desc.digest), { signal: options.signal });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new LayoutError('BLOB_MISSING', `${what}: not in the store`);
      throw ioError(what, err);
    }
    if (data.length !== desc.size) throw new LayoutError('SIZE_MISMATCH', `${what}: ${data.length} bytes on disk, descriptor says ${desc.size}`);
    const got = digestOf(data, splitDigest(desc.digest).algorithm);
    if (got !== desc.digest) throw new LayoutError('BLOB_CORRUPT', `${what}: content on disk does not match its digest (it hashes to ${got})`);
    return data;
  }

  // ---------------------------------------------------------------- blobs: write

  /**
   * Stores content as a blob and returns its digest and size, computed while writing. The bytes go
   * to a temp file inside the store, are fsynced, then renamed to `blobs/<alg>/<hex>`, so a blob
   * path only ever holds complete content. A blob already present with the right size is not
   * rewritten (ggcr `layout/write.go` does the same); its mtime is refreshed so gc sees it in use.
   */
  async writeBlob(source: Readable | Uint8Array, options: WriteBlobOptions = {}): Promise<{ digest: Digest; size: number }> {
    const { expected, signal } = options;
    const algorithm = expected ? splitDigest(expected.digest).algorithm : 'sha256';
    const what = `${this.label}: writing blob ${expected?.digest ?? ''}`.trimEnd();
    const drop = () => {
      if (!(source instanceof Uint8Array)) source.destroy();
    };
    try {
      throwIfAborted(signal, what);
    } catch (err) {
      drop();
      throw err;
    }
    // The lease comes first: from the moment a blob is written or reused until it is named, gc
    // must see a live writer (see gc.ts).
    await this.ensureLease();
    if (expected && (await this.touchIfPresent(expected.digest, expected.size))) {
      drop();
      const size = expected.size ?? (await this.statBlob(expected.digest))?.size ?? 0;
      return { digest: expected.digest, size };
    }
    if (source instanceof Uint8Array) {
      const digest = digestOf(source, algorithm);
      this.checkExpected(what, expected, digest, source.length);
      if (await this.touchIfPresent(digest, source.length)) return { digest, size: source.length };
      const tmp = this.paths.newTemp();
      await mkdir(this.paths.tmp, { recursive: true });
      try {
        const fh = await open(tmp, 'wx', 0o644);
        try {
          await fh.writeFile(source);
          await fh.sync();
        } finally {
          await fh.close();
        }
        options.onProgress?.(source.length);
        await this.placeBlob(tmp, digest);
      } catch (err) {
        await rm(tmp, { force: true });
        throw ioError(what, err);
      }
      return { digest, size: source.length };
    }
    const tmp = this.paths.newTemp();
    await mkdir(this.paths.tmp, { recursive: true });
    const tap = new HashingTap(algorithm, expected?.size, what, options.onProgress);
    try {
      await pipeline(source, tap, createWriteStream(tmp, { flags: 'wx', mode: 0o644, highWaterMark: 1 << 20 }), { signal });
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const digest = tap.hasher.digest();
      const size = tap.hasher.size;
      this.checkExpected(what, expected, digest, size);
      if (await this.touchIfPresent(digest, size)) {
        await rm(tmp, { force: true });
      } else {
        await this.placeBlob(tmp, digest);
      }
      this.logger.debug('blob written', { store: this.path, digest, size });
      return { digest, size };
    } catch (err) {
      await rm(tmp, { force: true });
      if (isBaseError(err)) throw err;
      throw ioError(what, err);
    }
  }

  private checkExpected(what: string, expected: WriteBlobOptions['expected'], digest: Digest, size: number): void {
    if (!expected) return;
    if (expected.size !== undefined && size !== expected.size) {
      throw new LayoutError('SIZE_MISMATCH', `${what}: got ${size} bytes, expected ${expected.size}`);
    }
    if (digest !== expected.digest) throw new LayoutError('BLOB_CORRUPT', `${what}: content hashes to ${digest}`);
  }

  /** Renames a complete, fsynced temp file to its blob path and flushes the directory entry. */
  private async placeBlob(tmp: string, digest: Digest): Promise<void> {
    const dest = this.paths.blob(digest);
    const dir = dest.slice(0, dest.lastIndexOf('/'));
    await mkdir(dir, { recursive: true });
    await rename(tmp, dest);
    await fsyncDir(dir);
  }

  /**
   * True (and mtime set to now) when the blob exists with the given size. Touching is what keeps
   * a concurrent gc from deleting a blob a writer has just decided to reuse (see gc.ts).
   */
  async touchIfPresent(digest: Digest, size: number | undefined): Promise<boolean> {
    const file = this.paths.blob(digest);
    try {
      const now = new Date();
      await utimes(file, now, now);
      const s = await stat(file);
      return s.isFile() && (size === undefined || s.size === size);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw ioError(`${this.label}: blob ${digest}`, err);
    }
  }

  /** Every blob file under `blobs/<alg>/`, skipping names that are not digests (unknown files are allowed). */
  async listBlobs(options: IoOptions = {}): Promise<BlobFile[]> {
    const out: BlobFile[] = [];
    let algs: string[];
    try {
      algs = await readdir(this.paths.blobs);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return out;
      throw ioError(`${this.label}: listing blobs`, err);
    }
    for (const alg of algs.sort()) {
      let names: string[];
      try {
        names = await readdir(`${this.paths.blobs}/${alg}`);
      } catch (err) {
        if (errnoCode(err) === 'ENOTDIR' || errnoCode(err) === 'ENOENT') continue;
        throw ioError(`${this.label}: listing blobs/${alg}`, err);
      }
      for (const name of names.sort()) {
        throwIfAborted(options.signal, `${this.label}: listing blobs`);
        const digest = `${alg}:${name}`;
        if (!isDigest(digest)) continue;
        const path = this.paths.blob(digest);
        try {
          const s = await stat(path);
          if (s.isFile()) out.push({ digest, path, size: s.size, mtimeMs: s.mtimeMs });
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw ioError(`${this.label}: blob ${digest}`, err);
        }
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- leases

  /**
   * Marks this process as a writer: `.lading/leases/<pid>-<n>.json`. gc keeps every unnamed blob
   * newer than the oldest live lease, because a writer stores blobs first and names them last.
   * Taken on the first write; released by close() or when the process dies.
   */
  ensureLease(): Promise<string> {
    this.lease ??= (async () => {
      await mkdir(this.paths.leases, { recursive: true });
      const rec = myLease();
      const file = `${this.paths.leases}/${rec.pid}-${rec.started}-${Math.random().toString(16).slice(2, 10)}.json`;
      await writeFile(file, JSON.stringify(rec), { flag: 'wx' });
      return file;
    })();
    return this.lease;
  }

  /** Releases this instance's writer lease (if it took one). The store stays usable. */
  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await rm(await lease, { force: true }).catch(() => undefined);
  }

  /** Every lease file with its record (unreadable ones get `record: undefined`). */
  async readLeases(): Promise<Array<{ file: string; record: LeaseRecord | undefined }>> {
    let names: string[];
    try {
      names = await readdir(this.paths.leases);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw ioError(`${this.label}: listing leases`, err);
    }
    const out: Array<{ file: string; record: LeaseRecord | undefined }> = [];
    for (const name of names) {
      const file = `${this.paths.leases}/${name}`;
      let record: LeaseRecord | undefined;
      try {
        record = JSON.parse(await readFile(file, 'utf8')) as LeaseRecord;
      } catch {
        record = undefined;
      }
      out.push({ file, record });
    }
    return out;
  }

  // ---------------------------------------------------------------- index.json

  /** Reads and checks index.json. Entries are validated; unknown fields and media types are kept. */
  async readIndex(options: IoOptions = {}): Promise<IndexFile> {
    const what = `${this.label}: index.json`;
    let data: Buffer;
    try {
      data = await readFile(this.paths.index, { signal: options.signal });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new LayoutError('INDEX_INVALID', `${what}: missing (image-layout.md requires it)`);
      throw ioError(what, err);
    }
    let json: unknown;
    try {
      json = parseJson(data, what, MAX_MANIFEST_BYTES);
    } catch (err) {
      throw new LayoutError('INDEX_INVALID', describeError(err), { cause: err });
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new LayoutError('INDEX_INVALID', `${what}: not a JSON object`);
    const raw = json as Record<string, unknown>;
    if (raw.schemaVersion !== 2) throw new LayoutError('INDEX_INVALID', `${what}: schemaVersion must be 2`);
    if (typeof raw.mediaType === 'string' && !INDEX_TYPES.has(raw.mediaType)) {
      throw new LayoutError('INDEX_INVALID', `${what}: media type ${JSON.stringify(raw.mediaType)} is not an image index`);
    }
    if (!Array.isArray(raw.manifests)) throw new LayoutError('INDEX_INVALID', `${what}: "manifests" is not an array`);
    const manifests = raw.manifests.map((d, i) => {
      try {
        return checkDescriptor(d, `${what} manifests[${i}]`);
      } catch (err) {
        throw new LayoutError('INDEX_INVALID', describeError(err), { cause: err });
      }
    });
    return { raw, manifests };
  }

  /**
   * Read-modify-write of index.json under the store lock, written atomically (temp, fsync,
   * rename), so concurrent writers never lose each other's entries. `change` returns the new
   * entry list, or undefined to leave the file untouched.
   */
  async updateIndex(change: (current: IndexFile) => Promise<Descriptor[] | undefined> | Descriptor[] | undefined, options: IoOptions = {}): Promise<void> {
    await this.withLock(async () => {
      const current = await this.readIndex(options);
      const next = await change(current);
      if (!next) return;
      const body = { ...current.raw, manifests: next };
      throwIfAborted(options.signal, `${this.label}: updating index.json`);
      await atomicWriteFile(this.paths.index, JSON.stringify(body), { signal: options.signal });
    }, options);
  }

  /** Runs `fn` holding the store's index lock (also held by gc for its whole run). */
  async withLock<T>(fn: () => Promise<T>, options: IoOptions = {}): Promise<T> {
    // Index updates take milliseconds: poll often so concurrent writers do not queue for long.
    return withFileLock(this.paths.lock, fn, { signal: options.signal, pollMs: 10 });
  }

  /** Every index.json entry, named or not. */
  async entries(options: IoOptions = {}): Promise<Descriptor[]> {
    return (await this.readIndex(options)).manifests;
  }

  /** Every named entry (`org.opencontainers.image.ref.name`), in index.json order. */
  async names(options: IoOptions = {}): Promise<NamedDescriptor[]> {
    const out: NamedDescriptor[] = [];
    for (const d of await this.entries(options)) {
      const name = refNameOf(d);
      if (name !== undefined) out.push({ name, descriptor: d });
    }
    return out;
  }

  /**
   * The descriptor a ref name or digest stands for. A name is looked up in index.json; a digest
   * is taken from index.json when listed there, else from the blob itself (its media type read
   * from the document). Undefined when neither exists.
   */
  async resolve(nameOrDigest: string, options: IoOptions = {}): Promise<Descriptor | undefined> {
    const entries = await this.entries(options);
    if (isDigest(nameOrDigest)) {
      const listed = entries.find((d) => d.digest === nameOrDigest);
      if (listed) return stripRefName(listed);
      const st = await this.statBlob(nameOrDigest);
      if (!st) return undefined;
      return { mediaType: await this.sniffMediaType(nameOrDigest, st.size), digest: nameOrDigest, size: st.size };
    }
    if (!isValidRefName(nameOrDigest)) {
      throw new LayoutError('NAME_INVALID', `${this.label}: ${JSON.stringify(nameOrDigest)} is neither a digest nor a valid ref name`);
    }
    // The last entry wins when a foreign tool left duplicates, as later writes append.
    const hits = entries.filter((d) => refNameOf(d) === nameOrDigest);
    return hits[hits.length - 1];
  }

  /** Media type of a blob read from its own `mediaType` field, else its shape; octet-stream when not JSON. */
  private async sniffMediaType(digest: Digest, size: number): Promise<string> {
    if (size > MAX_MANIFEST_BYTES) return 'application/octet-stream';
    try {
      const body = JSON.parse(new TextDecoder().decode(await this.readBlob({ mediaType: 'application/octet-stream', digest, size }))) as unknown;
      if (body && typeof body === 'object' && !Array.isArray(body)) {
        const b = body as Record<string, unknown>;
        if (typeof b.mediaType === 'string') return b.mediaType;
        if (b.schemaVersion === 2 && Array.isArray(b.manifests)) return MediaType.OciIndex;
        if (b.schemaVersion === 2 && b.config && Array.isArray(b.layers)) return MediaType.OciManifest;
      }
    } catch (err) {
      if (err instanceof LayoutError) throw err;
    }
    return 'application/octet-stream';
  }

  /**
   * Reads a manifest or index a descriptor points to, verified against it. An entry whose media
   * type is not a manifest or index is refused with MEDIA_TYPE_UNKNOWN naming `what`.
   */
  async readManifest(desc: Descriptor, what: string, options: IoOptions = {}): Promise<ManifestDocument> {
    if (!isWalkable(desc.mediaType)) {
      throw new LayoutError('MEDIA_TYPE_UNKNOWN', `${what} (${desc.digest}): media type ${JSON.stringify(desc.mediaType)} is not an image manifest or index`);
    }
    const raw = await this.readBlob(desc, { ...options, maxBytes: MAX_MANIFEST_BYTES });
    try {
      return parseManifestDocument(raw, { mediaType: desc.mediaType, expected: { digest: desc.digest, size: desc.size }, what: `${what} (${desc.digest})` });
    } catch (err) {
      const code = isBaseError(err) && err.code === 'MEDIA_TYPE_UNKNOWN' ? 'MEDIA_TYPE_UNKNOWN' : 'MANIFEST_INVALID';
      throw new LayoutError(code, describeError(err), { cause: err });
    }
  }

  /** The manifest or index a ref name or digest stands for, verified; undefined when absent. */
  async getManifest(reference: string, options: IoOptions = {}): Promise<ManifestDocument | undefined> {
    const desc = await this.resolve(reference, options);
    if (!desc) return undefined;
    const what = isDigest(reference) ? `${this.label}@${reference}` : `${this.label}:${reference}`;
    return this.readManifest(desc, what, options);
  }

  /**
   * Blobs reachable from `desc` that are absent (or of the wrong size), as "field path: digest"
   * strings. Stops descending at unknown media types; weak edges (`subject`) are not required.
   */
  async missingBelow(desc: Descriptor, what: string, options: IoOptions = {}): Promise<string[]> {
    const missing: string[] = [];
    const seen = new Set<string>();
    const visit = async (d: Descriptor, path: string): Promise<void> => {
      if (seen.has(d.digest)) return;
      seen.add(d.digest);
      const st = await this.statBlob(d.digest);
      if (!st) {
        if (!mayBeAbsent(d)) missing.push(`${path}: ${d.digest} is missing`);
        return;
      }
      if (st.size !== d.size) {
        missing.push(`${path}: ${d.digest} has ${st.size} bytes, descriptor says ${d.size}`);
        return;
      }
      if (!isWalkable(d.mediaType)) return;
      const doc = await this.readManifest(d, path, options);
      for (const e of edgesOf(doc)) if (!e.weak) await visit(e.descriptor, `${path} ${e.field}`);
    };
    await visit(desc, what);
    return missing;
  }
}

/** A descriptor without the layout-only ref name annotation (it means nothing outside index.json). */
export function stripRefName(desc: Descriptor): Descriptor {
  if (!desc.annotations || !(REF_NAME in desc.annotations)) return desc;
  const { [REF_NAME]: _drop, ...rest } = desc.annotations;
  const { annotations: _a, ...plain } = desc;
  return Object.keys(rest).length > 0 ? { ...plain, annotations: rest } : plain;
}
