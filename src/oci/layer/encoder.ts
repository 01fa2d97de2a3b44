// The back half of the layer writer: tar bytes arrive in fixed-size blocks, are hashed (diff_id),
// compressed and hashed again (digest, size) on their way to the caller's sink, in one pass with
// bounded memory.
//
// gzip has two forms:
// - 'blocked' (default): the tar stream is cut into blocks of at most GZIP_BLOCK_SIZE, each
//   compressed as raw deflate with the previous 32 KiB as dictionary and ended with a sync flush
//   (the last one with a final block), inside one gzip member with one CRC-32. That is pigz's
//   scheme: blocks compress on several libuv threads at once, and the output depends only on the
//   bytes and the level, never on the number of threads or cores. It is a normal single-member
//   gzip file. The producer cuts blocks where the content says (build.ts TarBlocks), so an
//   unchanged run of entries gives the same blocks wherever it sits in the tar: a block's
//   compressed bytes can then be looked up (BlockMemo) instead of compressed again.
// - 'stream': one zlib deflate stream (Node's createGzip), single-threaded. Different bytes.
// The compressed digest depends on the compressor (oci-image.md section 6); diff_ids never do.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream';
import { constants as zc, crc32, deflateRaw, type ZlibOptions } from 'node:zlib';
import { Hasher, type Digest } from '../../core/index.js';
import { createCompressor } from '../compress.js';
import type { LayerCompression } from '../mediatypes.js';

/** Largest tar block handed to the compressor; for blocked gzip it is part of the output format. */
export const GZIP_BLOCK_SIZE = 1 << 20;
const WINDOW = 32 * 1024;
// zlib's output buffer per call: a whole block's output fits, so a block compresses in one
// thread-pool call instead of one per 16 KiB of output (Node's default). Same bytes either way.
const OUT_CHUNK = GZIP_BLOCK_SIZE + (GZIP_BLOCK_SIZE >> 3);

/** How gzip layers are compressed; see the module comment. */
export type GzipFormat = 'blocked' | 'stream';

/** A pass-through that hashes and counts what flows through it. */
class HashingPassThrough extends Transform {
  readonly hasher = new Hasher();
  ended = false;

  constructor() {
    super({ highWaterMark: 1 << 20 });
    this.once('end', () => {
      this.ended = true;
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hasher.update(chunk);
    cb(null, chunk);
  }
}

/** Where the tar producer puts its blocks. */
export interface BlockEncoder {
  /** The compressed stream the sink reads. */
  readonly output: Readable;
  /** A buffer of GZIP_BLOCK_SIZE bytes to fill. */
  acquire(): Buffer;
  /**
   * Takes ownership of a block (the start of a buffer from acquire(), 1 to GZIP_BLOCK_SIZE
   * bytes); resolves when the next block may be written (backpressure).
   */
  write(block: Buffer): Promise<void>;
  /** Writes the last (possibly partial or empty) block and finishes the stream. */
  end(last: Buffer): Promise<void>;
  /** Stops everything, failing the output with `err`. */
  destroy(err: Error): void;
  /** True once the sink has read the whole output. */
  readonly outputEnded: boolean;
  /** Digest and size of the compressed bytes, after `end`. */
  result(): { digest: Digest; size: number };
  /** Blocked gzip with a memo: blocks in all and blocks found in the memo. */
  memoStats?(): { blocks: number; reused: number };
}

/**
 * Blocks of blocked gzip compressed earlier, by the key blockKey() gives: an encoder that finds a
 * block there emits those bytes instead of compressing it (the same bytes: the key covers the
 * level, the dictionary and the block).
 */
export interface BlockMemo {
  lookup(key: string): Buffer | undefined;
}

/** What a block's memo key hashes before the block: the level and the dictionary. */
export function blockKeyPrefix(level: number, dict: Uint8Array | undefined): Buffer {
  return Buffer.concat([Uint8Array.of(level, dict ? 1 : 0), dict ?? new Uint8Array(0)]);
}

/** The memo key of a non-final block of blocked gzip: sha256 (base64) of the prefix and the block. */
export function blockKey(level: number, dict: Uint8Array | undefined, block: Uint8Array): string {
  return createHash('sha256').update(blockKeyPrefix(level, dict)).update(block).digest('base64');
}

/** The dictionary of the block after `block` (its last WINDOW bytes, with `dict` in front when it is short). */
export function nextDictionary(dict: Buffer | undefined, block: Buffer): Buffer {
  return block.length >= WINDOW ? Buffer.from(block.subarray(block.length - WINDOW)) : Buffer.concat([dict ?? Buffer.alloc(0), block]).subarray(-WINDOW);
}

/** zlib options of one block of blocked gzip: the same in the encoder and in speculate.ts. */
export function blockDeflateOptions(level: number, dict: Buffer | undefined, final: boolean): ZlibOptions {
  const options: ZlibOptions = { level, finishFlush: final ? zc.Z_FINISH : zc.Z_SYNC_FLUSH, chunkSize: OUT_CHUNK };
  if (dict) options.dictionary = dict;
  return options;
}

/** Options of createBlockEncoder. */
export interface EncoderOptions {
  compression: LayerCompression;
  level?: number;
  gzipFormat?: GzipFormat;
  /** Blocks compressed at once in blocked gzip (default one more than the cores, 3 to 4). */
  concurrency?: number;
  /** Blocked gzip: blocks compressed before (speculate.ts). Changes speed, never the bytes. */
  memo?: BlockMemo;
}

/** Creates the encoder for a compression. */
export function createBlockEncoder(options: EncoderOptions): BlockEncoder {
  if (options.compression === 'gzip' && (options.gzipFormat ?? 'blocked') === 'blocked') {
    return new BlockedGzipEncoder(options.level ?? 6, options.concurrency ?? defaultConcurrency(), options.memo);
  }
  return new StreamEncoder(options.compression, options.level);
}

function defaultConcurrency(): number {
  // One block more than cores: every core compresses while the tar producer fills the next block.
  // Node's thread pool has 4 threads by default, so more would only queue.
  return Math.min(4, Math.max(2, availableParallelism()) + 1);
}

function writeTo(stream: Transform, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed) {
      reject(stream.errored ?? new Error('layer output closed'));
      return;
    }
    const ok = stream.write(chunk, (err) => {
      if (err) reject(err);
      else if (ok) resolve();
    });
    if (!ok) {
      const onDrain = () => {
        stream.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        stream.off('drain', onDrain);
        reject(stream.errored ?? new Error('layer output closed'));
      };
      stream.once('drain', onDrain);
      stream.once('close', onClose);
    }
  });
}

/** Single compression stream (gzip 'stream', zstd, none). Blocks are not reused: the stream may hold them. */
class StreamEncoder implements BlockEncoder {
  private readonly compressor: ReturnType<typeof createCompressor>;
  private readonly hashing = new HashingPassThrough();
  private failure: Error | undefined;

  constructor(compression: LayerCompression, level: number | undefined) {
    this.compressor = createCompressor(compression, level === undefined ? {} : { level });
    pipeline(this.compressor, this.hashing, (err) => {
      if (err) this.failure ??= err;
    });
  }

  get output(): Readable {
    return this.hashing;
  }

  get outputEnded(): boolean {
    return this.hashing.ended;
  }

  acquire(): Buffer {
    return Buffer.allocUnsafeSlow(GZIP_BLOCK_SIZE);
  }

  write(block: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) {
        reject(this.failure);
        return;
      }
      // The callback fires once the compressor consumed the chunk, which also paces the producer.
      this.compressor.write(block, (err) => (err ? reject(this.failure ?? err) : resolve()));
    });
  }

  async end(last: Buffer): Promise<void> {
    if (last.length > 0) await this.write(last);
    await new Promise<void>((resolve, reject) => {
      this.compressor.end(() => resolve());
      this.hashing.once('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      if (this.hashing.ended) resolve();
      else {
        this.hashing.once('end', () => resolve());
        this.hashing.once('close', () => (this.hashing.ended ? resolve() : reject(this.failure ?? new Error('layer output closed before its end'))));
      }
    });
  }

  destroy(err: Error): void {
    this.failure ??= err;
    this.compressor.destroy(err);
    this.hashing.destroy(err);
  }

  result(): { digest: Digest; size: number } {
    return { digest: this.hashing.hasher.digest(), size: this.hashing.hasher.size };
  }
}

function deflateBlock(data: Buffer, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => deflateRaw(data, options, (err, out) => (err ? reject(err) : resolve(out))));
}

/** gzip from independently compressed blocks (see the module comment). */
class BlockedGzipEncoder implements BlockEncoder {
  private readonly out = new HashingPassThrough();
  private readonly pool: Buffer[] = [];
  private readonly pending: Array<{ done: Promise<Buffer>; block: Buffer }> = [];
  private dict: Buffer | undefined;
  private crc = 0;
  private isize = 0;
  private started = false;
  private failure: Error | undefined;

  /** Blocks found in the memo. */
  reused = 0;
  /** Blocks in all. */
  blocks = 0;

  constructor(
    private readonly level: number,
    private readonly concurrency: number,
    private readonly memo: BlockMemo | undefined,
  ) {
    if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip level must be 0-9, got ${level}`);
  }

  get output(): Readable {
    return this.out;
  }

  get outputEnded(): boolean {
    return this.out.ended;
  }

  acquire(): Buffer {
    return this.pool.pop() ?? Buffer.allocUnsafeSlow(GZIP_BLOCK_SIZE);
  }

  private async emit(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    await writeTo(this.out, chunk);
  }

  private header(): Buffer {
    // RFC 1952: no name, mtime 0, XFL as zlib sets it (2 = best, 4 = fastest), OS 3 (Unix),
    // the same ten bytes Node's createGzip writes at level 6.
    const xfl = this.level === 9 ? 2 : this.level < 2 ? 4 : 0;
    return Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]);
  }

  private start(block: Buffer, final: boolean): void {
    this.crc = crc32(block, this.crc);
    this.isize = (this.isize + block.length) % 2 ** 32;
    this.blocks++;
    const known = !final && this.memo ? this.memo.lookup(blockKey(this.level, this.dict, block)) : undefined;
    if (known) this.reused++;
    const done = known ? Promise.resolve(known) : deflateBlock(block, blockDeflateOptions(this.level, this.dict, final));
    done.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
    this.pending.push({ done, block });
    // The next block's dictionary: a copy, because `block` goes back to the pool.
    this.dict = nextDictionary(this.dict, block);
  }

  private async drainOne(): Promise<void> {
    const next = this.pending.shift();
    if (!next) return;
    const compressed = await next.done;
    // A block is the start of a pooled buffer: the whole buffer goes back.
    if (next.block.buffer.byteLength === GZIP_BLOCK_SIZE) this.pool.push(Buffer.from(next.block.buffer, 0, GZIP_BLOCK_SIZE));
    await this.emit(compressed);
  }

  async write(block: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.started) {
      this.started = true;
      await this.emit(this.header());
    }
    this.start(block, false);
    while (this.pending.length >= this.concurrency) await this.drainOne();
  }

  async end(last: Buffer): Promise<void> {
    if (!this.started) {
      this.started = true;
      await this.emit(this.header());
    }
    this.start(last, true);
    while (this.pending.length > 0) await this.drainOne();
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.isize, 4);
    await this.emit(trailer);
    await new Promise<void>((resolve, reject) => {
      this.out.once('end', () => resolve());
      this.out.once('close', () => (this.out.ended ? resolve() : reject(this.failure ?? new Error('layer output closed before its end'))));
      this.out.end();
    });
  }

  destroy(err: Error): void {
    this.failure ??= err;
    this.out.destroy(err);
  }

  result(): { digest: Digest; size: number } {
    return { digest: this.out.hasher.digest(), size: this.out.hasher.size };
  }

  memoStats(): { blocks: number; reused: number } {
    return { blocks: this.blocks, reused: this.reused };
  }
}
