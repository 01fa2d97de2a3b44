// The deterministic layer writer: entries (from a directory or a list) -> tar -> compression ->
// the caller's sink, with diff_id, digest and sizes computed in the same pass. Memory stays
// bounded by a few GZIP_BLOCK_SIZE buffers whatever the layer size.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { CoreError, Hasher, describeError, isBaseError, throwIfAborted, type Digest, type Logger } from '../../core/index.js';
import { OciError } from '../errors.js';
import { layerMediaType, type LayerCompression } from '../mediatypes.js';
import type { Descriptor } from '../schemas.js';
import { createBlockEncoder, GZIP_BLOCK_SIZE, type BlockEncoder, type BlockMemo, type GzipFormat } from './encoder.js';
import { planEntries, type LayerEntry, type LayerEntryInfo, type PlannedEntry } from './entries.js';
import { eventLoopPauser } from './pause.js';
import { encodeHeader, END_OF_ARCHIVE, padding } from './tar.js';
import { walkDirectory, type OwnerPolicy } from './walk.js';

/** Options common to both layer sources. */
export interface LayerWriteOptions {
  /** Receives the compressed stream and must read it to the end (e.g. a layout store's writeBlob). */
  sink: (compressed: Readable) => Promise<void>;
  /** Default 'gzip'. */
  compression?: LayerCompression;
  /** gzip 1-9 (default 6), zstd 1-19 (default 3). */
  level?: number;
  /** gzip only; default 'blocked' (multi-core, deterministic). See encoder.ts. */
  gzipFormat?: GzipFormat;
  /** Blocked gzip: blocks compressed at once. Changes speed, never the bytes. */
  concurrency?: number;
  /** Blocked gzip: blocks compressed earlier (speculateLayer). Changes speed, never the bytes. */
  memo?: BlockMemo;
  /** SOURCE_DATE_EPOCH: every mtime is clamped to it; entries without one get it. */
  sourceDateEpoch?: number;
  /** Called for each entry as it is written. */
  onEntry?: (entry: LayerEntryInfo) => void;
  signal?: AbortSignal;
  logger?: Logger;
}

/** A layer from a directory on disk. */
export interface DirLayerOptions extends LayerWriteOptions {
  dir: string;
  /** Owners written; default 'root' (uid/gid 0) so the digest is the same on any machine. */
  owner?: OwnerPolicy;
  /** Read xattrs with getfattr (default false). */
  xattrs?: boolean;
  /** Return false to leave out a path and everything below it. */
  filter?: (path: string, type: LayerEntryInfo['type']) => boolean;
}

/** A layer from a list of entries (any order; lading sorts them). */
export interface EntriesLayerOptions extends LayerWriteOptions {
  entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>;
  /** Add missing parent directories (0755, root). Default false. */
  synthesizeParents?: boolean;
}

/** What buildLayer made. */
export interface LayerResult {
  /** Descriptor of the compressed blob (what goes into manifest `layers[]`). */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar (what goes into config `rootfs.diff_ids`). */
  diffId: Digest;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  /** Number of tar members (pax headers not counted). */
  entries: number;
  /** With a memo: the gzip blocks in all and those taken from the memo. */
  blocks?: { total: number; reused: number };
}

/** A block may end after an entry once it holds this much (see TarBlocks). */
const CUT_MIN = 256 * 1024;

/**
 * Fills blocks with tar bytes. Where a block ends is part of blocked gzip's output, and depends
 * on the tar alone: after an entry, once the block holds CUT_MIN bytes, if the entry's path
 * hashes to 0 mod 4; anywhere when it is full (GZIP_BLOCK_SIZE); and before the end-of-archive
 * blocks. Ends chosen by path come back in step after a changed entry, so a layer that differs
 * from another in a few files shares its other blocks with it (and their compressed bytes, see
 * speculate.ts).
 */
export class TarBlocks {
  readonly diff = new Hasher();
  private buf: Buffer;
  private pos = 0;

  constructor(
    private readonly encoder: Pick<BlockEncoder, 'acquire' | 'write' | 'end'>,
    private readonly hashed = true,
  ) {
    this.buf = encoder.acquire();
  }

  private async flushFull(): Promise<void> {
    const full = this.buf.subarray(0, this.pos);
    if (this.hashed) this.diff.update(full);
    this.buf = this.encoder.acquire();
    this.pos = 0;
    await this.encoder.write(full);
  }

  /** Called after each entry's bytes (header, content, padding). */
  async endEntry(path: string): Promise<void> {
    if (this.pos >= CUT_MIN && (crc32(path) & 3) === 0) await this.flushFull();
  }

  /** Ends the block before the end-of-archive blocks, so the last entries' block is like any other. */
  async endEntries(): Promise<void> {
    if (this.pos > 0) await this.flushFull();
  }

  async put(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(data.length - off, GZIP_BLOCK_SIZE - this.pos);
      this.buf.set(data.subarray(off, off + n), this.pos);
      this.pos += n;
      off += n;
      if (this.pos === GZIP_BLOCK_SIZE) await this.flushFull();
    }
  }

  async zeros(count: number): Promise<void> {
    let left = count;
    while (left > 0) {
      const n = Math.min(left, GZIP_BLOCK_SIZE - this.pos);
      this.buf.fill(0, this.pos, this.pos + n);
      this.pos += n;
      left -= n;
      if (this.pos === GZIP_BLOCK_SIZE) await this.flushFull();
    }
  }

  /** Reads `count` bytes straight into the block buffer; `read` returns 0 at end of input. */
  async fill(count: number, read: (buf: Buffer, off: number, len: number) => Promise<number>, what: string): Promise<void> {
    let left = count;
    while (left > 0) {
      const n = await read(this.buf, this.pos, Math.min(left, GZIP_BLOCK_SIZE - this.pos));
      if (n === 0) throw new OciError('LAYER_INVALID', `${what}: ended ${left} bytes early (changed while reading?)`);
      this.pos += n;
      left -= n;
      if (this.pos === GZIP_BLOCK_SIZE) await this.flushFull();
    }
  }

  async finish(): Promise<number> {
    const last = this.buf.subarray(0, this.pos);
    if (this.hashed) this.diff.update(last);
    await this.encoder.end(last);
    return this.diff.size;
  }
}

/**
 * Writes one entry. `tolerant` is for speculate.ts, which reads a tree that maintainer scripts
 * are changing: a file it cannot open is left out (undefined), one that shrinks is padded with
 * zeros, and a stream is left out; the bytes then differ from the final layer's, which costs a
 * memo miss, never a wrong layer.
 */
export async function writeContent(tar: TarBlocks, entry: PlannedEntry, options: Pick<LayerWriteOptions, 'sourceDateEpoch' | 'signal'>, tolerant = false): Promise<PlannedEntry | undefined> {
  const c = entry.content;
  const what = `layer entry ${JSON.stringify(entry.info.path)}`;
  const hopts = options.sourceDateEpoch !== undefined ? { paxMtime: options.sourceDateEpoch } : {};
  if (!c || entry.header.type !== 'file') {
    await tar.put(encodeHeader(entry.header, hopts));
    return entry;
  }
  if (c.kind === 'bytes') {
    await tar.put(encodeHeader(entry.header, hopts));
    await tar.put(c.data);
    await tar.zeros(padding(c.data.length));
    return entry;
  }
  if (c.kind === 'file') {
    // Synchronous reads (see walk.ts): for small files the thread-pool round trips of async
    // open/stat/read/close cost far more than the copy. buildLayer yields between entries.
    let fd: number;
    try {
      fd = openSync(c.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if (tolerant) return undefined;
      throw new OciError('LAYER_INVALID', `${what}: cannot open ${c.path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) {
        if (tolerant) return undefined;
        throw new OciError('LAYER_INVALID', `${what}: ${c.path} is not a regular file`);
      }
      if (!tolerant && c.size !== undefined && st.size !== c.size) throw new OciError('LAYER_INVALID', `${what}: ${c.path} changed size while the layer was written`);
      const header = { ...entry.header, size: st.size };
      await tar.put(encodeHeader(header, hopts));
      const read = (buf: Buffer, off: number, len: number): number => {
        const n = readSync(fd, buf, off, len, null);
        if (n > 0 || !tolerant) return n;
        buf.fill(0, off, off + len);
        return len;
      };
      await tar.fill(st.size, async (buf, off, len) => read(buf, off, len), `${what} (${c.path})`);
      await tar.zeros(padding(st.size));
      return { ...entry, header, info: { ...entry.info, size: st.size } };
    } finally {
      closeSync(fd);
    }
  }
  // A stream of declared size: its chunks are copied into the block buffer.
  if (tolerant) return undefined;
  await tar.put(encodeHeader(entry.header, hopts));
  const stream = await c.open(options.signal ? { signal: options.signal } : {});
  let got = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      got += chunk.length;
      if (got > c.size) throw new OciError('LAYER_INVALID', `${what}: content is longer than its declared size ${c.size}`);
      await tar.put(chunk);
    }
  } finally {
    stream.destroy();
  }
  if (got !== c.size) throw new OciError('LAYER_INVALID', `${what}: content has ${got} bytes, declared ${c.size}`);
  await tar.zeros(padding(c.size));
  return entry;
}

/**
 * Writes a layer from a directory (`dir`) or a list of entries (`entries`) into `sink` and
 * returns its descriptor and diff_id. Same input and options give the same bytes on any machine
 * (oci-image.md section 9): entries sorted, numeric owners, mtimes clamped to
 * `sourceDateEpoch`, pax headers only where needed, no atime/ctime.
 *
 * Errors name the entry: TAR_UNSAFE_PATH for `..`, absolute paths and `.wh.` names,
 * LAYER_INVALID for duplicates, bad hardlinks, content of the wrong size; a sink failure is
 * passed through.
 */
export async function buildLayer(options: DirLayerOptions | EntriesLayerOptions): Promise<LayerResult> {
  const compression = options.compression ?? 'gzip';
  throwIfAborted(options.signal, 'building a layer');
  // Plan first for lists (sorting needs them all); directories are walked lazily.
  const source: AsyncIterable<PlannedEntry> | PlannedEntry[] =
    'dir' in options
      ? walkDirectory(options.dir, {
          ...(options.owner !== undefined ? { owner: options.owner } : {}),
          ...(options.xattrs !== undefined ? { xattrs: options.xattrs } : {}),
          ...(options.filter ? { filter: options.filter } : {}),
          ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        })
      : await planEntries(options.entries, {
          ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}),
          ...(options.synthesizeParents !== undefined ? { synthesizeParents: options.synthesizeParents } : {}),
        });

  const encoder = createBlockEncoder({
    compression,
    ...(options.level !== undefined ? { level: options.level } : {}),
    ...(options.gzipFormat !== undefined ? { gzipFormat: options.gzipFormat } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.memo ? { memo: options.memo } : {}),
  });
  // Failures reach the caller through the promises below; without a listener, destroying an
  // output the sink never read would be an uncaught 'error' event.
  encoder.output.on('error', () => undefined);
  const onAbort = () => encoder.destroy(new CoreError('ABORTED', 'building a layer: aborted', { cause: options.signal?.reason }));
  options.signal?.addEventListener('abort', onAbort, { once: true });

  let sinkError: unknown;
  const sinkDone = (async () => {
    try {
      await options.sink(encoder.output);
    } catch (err) {
      sinkError = err;
      encoder.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    if (!encoder.outputEnded) {
      const err = new OciError('LAYER_INVALID', 'building a layer: the sink returned before reading the whole layer');
      encoder.destroy(err);
      throw err;
    }
  })();
  sinkDone.catch(() => undefined);

  try {
    const tar = new TarBlocks(encoder);
    let count = 0;
    const pause = eventLoopPauser();
    for await (const planned of source) {
      throwIfAborted(options.signal, 'building a layer');
      await pause();
      const written = (await writeContent(tar, planned, options)) as PlannedEntry;
      await tar.endEntry(written.info.path);
      count++;
      options.onEntry?.(written.info);
    }
    await tar.endEntries();
    await tar.put(END_OF_ARCHIVE);
    const uncompressedSize = await tar.finish();
    await sinkDone;
    const { digest, size } = encoder.result();
    const diffId = tar.diff.digest();
    const stats = options.memo ? encoder.memoStats?.() : undefined;
    return {
      descriptor: { mediaType: layerMediaType(compression), digest, size },
      diffId,
      uncompressedSize,
      entries: count,
      ...(stats ? { blocks: { total: stats.blocks, reused: stats.reused } } : {}),
    };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    encoder.destroy(e);
    await sinkDone.catch(() => undefined);
    // The sink's own error explains more than "stream destroyed" seen by the producer.
    if (sinkError !== undefined && !isBaseError(err)) throw sinkError;
    if (isBaseError(err)) throw err;
    throw new OciError('LAYER_INVALID', `building a layer: ${describeError(err)}`, { cause: err });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
