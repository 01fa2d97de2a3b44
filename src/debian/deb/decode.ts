// Decoding .deb tar members chunk by chunk. xz (what Debian uses) goes through one long-running
// `xz -dc` per worker: members are written to it back to back and its output is cut at each
// member's uncompressed size, read from the member's xz index (xz-index.ts). Process creation
// costs ~10 ms here, which per package and member would rival the decoding itself.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createReadStream, readSync } from 'node:fs';
import { basename } from 'node:path';
import { BaseError } from '../../core/index.js';
import { createDecompressor } from '../decompress.js';
import { DebianError } from '../errors.js';
import type { DebTarMember } from './ar.js';
import { xzUncompressedSize } from './xz-index.js';

/** Receives decoded bytes; the buffer may be reused after the call. */
export type ChunkSink = (chunk: Buffer) => void;

// After every member comes an xz stream of 128 KiB of zeros and then 64 KiB of stream padding
// (null bytes, allowed between streams): xz fills its 8 KiB input buffer before decoding and
// writes output only in full 8 KiB buffers (IO_BUFFER_SIZE in xz's file_io.h), so without them
// the tail of a member would wait for the next member's bytes.
const FLUSH = Buffer.from(
  '/Td6WFoAAAFpIt42AgAhARwAAAAQz1jM4f//AFhdAABv/f//o7f/Rz5IFXI5YVG4kijmo4YH+e7kHoLTL8U6PAFLsX7JiopNL6MN2X+m44wjEVPgWRjFdYrid/i2lH8MasDedElk4ulcU7IE2PdEDKtZ5D8eAAAAzc3ofgABcICACAAADY7bmj4wDYsCAAAAAAFZWg==',
  'base64',
);
const FLUSH_SIZE = 128 * 1024;
const PAD = Buffer.alloc(64 * 1024);
const READ_CHUNK = 1024 * 1024;

interface Segment {
  remaining: number;
  sink: ChunkSink | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
  what: string;
}

/** One `xz -dc` process decoding many members in sequence. Not for concurrent use. */
export class XzPipe {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly segments: Segment[] = [];
  private stderr = '';
  private failure: Error | undefined;
  private readBuf = Buffer.allocUnsafe(READ_CHUNK);

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn('xz', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    this.failure = undefined;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (this.stderr.length < 2000) this.stderr += d;
    });
    child.stdout.on('data', (chunk: Buffer) => this.onOutput(chunk));
    child.stdin.on('error', () => undefined); // EPIPE after xz died; reported through 'exit'
    const fail = (err: Error) => {
      this.failure ??= err;
      this.child = undefined;
      for (const s of this.segments.splice(0)) s.reject(this.failure);
    };
    child.on('error', (err) => fail(new DebianError('DECOMPRESS_FAILED', `cannot run xz: ${err.message}`, { cause: err, hint: 'install xz-utils' })));
    child.on('exit', (code, signal) => {
      if (this.segments.length === 0 && this.failure === undefined) {
        this.child = undefined;
        return;
      }
      const what = this.segments[0]?.what ?? 'xz data';
      fail(new DebianError('DECOMPRESS_FAILED', `decompressing ${what}: xz failed (${code ?? signal}): ${this.stderr.trim() || 'no message'}`));
    });
    this.child = child;
    return child;
  }

  private onOutput(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const seg = this.segments[0];
      if (!seg) {
        this.failure ??= new DebianError('DECOMPRESS_FAILED', 'xz produced more output than the members declare');
        this.child?.kill('SIGKILL');
        return;
      }
      const take = Math.min(seg.remaining, chunk.length - at);
      if (take > 0 && seg.sink) {
        try {
          seg.sink(chunk.subarray(at, at + take));
        } catch (err) {
          // The consumer refused the data (unsafe path, write error): stop this pipe.
          this.segments.shift();
          seg.reject(err as Error);
          this.abort(err as Error);
          return;
        }
      }
      at += take;
      seg.remaining -= take;
      if (seg.remaining === 0) {
        this.segments.shift();
        seg.resolve();
      }
    }
  }

  private abort(err: Error): void {
    this.failure ??= err;
    const child = this.child;
    this.child = undefined;
    for (const s of this.segments.splice(0)) s.reject(err);
    child?.kill('SIGKILL');
  }

  /**
   * Decodes `size` bytes at `offset` of the open file `fd` (one or more xz streams whose total
   * uncompressed size is `uncompressed`), handing the output to `sink`.
   */
  async decode(fd: number, offset: number, size: number, uncompressed: number, sink: ChunkSink, what: string, signal?: AbortSignal): Promise<void> {
    const child = this.child ?? this.start();
    let segment: Segment | undefined;
    const done = new Promise<void>((resolve, reject) => {
      segment = { remaining: uncompressed, sink, resolve, reject, what };
    });
    done.catch(() => undefined); // awaited below; this only keeps an early failure from counting as unhandled
    // A zero-length member resolves at once: the queue only advances on output.
    if (uncompressed > 0 && segment) this.segments.push(segment);
    else segment?.resolve();
    this.segments.push({ remaining: FLUSH_SIZE, sink: undefined, resolve: () => undefined, reject: () => undefined, what: 'xz flush padding' });
    const onAbort = () => this.abort(new DebianError('DECOMPRESS_FAILED', `decompressing ${what}: aborted`, { cause: signal?.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let at = 0;
      while (at < size) {
        if (this.failure || this.child !== child) break;
        const n = readSync(fd, this.readBuf, 0, Math.min(READ_CHUNK, size - at), offset + at);
        if (n === 0) throw new DebianError('DEB_INVALID', `reading ${what}: unexpected end of file`);
        at += n;
        // The buffer is reused for the next read, so hand xz a copy only when it queues the data.
        const piece = this.readBuf.subarray(0, n);
        if (!child.stdin.write(Buffer.from(piece))) await waitDrain(child, done);
      }
      if (!this.failure && this.child === child) {
        child.stdin.write(FLUSH);
        child.stdin.write(PAD);
      }
      await done;
    } catch (err) {
      this.abort(err as Error);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Ends the xz process (after the last member). */
  close(): void {
    const child = this.child;
    this.child = undefined;
    child?.stdin.end();
  }

  /** Kills the xz process at once. */
  kill(): void {
    const child = this.child;
    this.child = undefined;
    child?.kill('SIGKILL');
  }
}

function waitDrain(child: ChildProcessWithoutNullStreams, done: Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      child.stdin.off('drain', onDrain);
      child.off('exit', onClose);
    };
    child.stdin.once('drain', onDrain);
    child.once('exit', onClose);
    done.catch((err: unknown) => {
      cleanup();
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

/**
 * Decodes one tar member of a .deb into `sink`. xz uses the shared pipe; gzip runs in-process;
 * zstd, bzip2 and lzma run their program (rare in Debian archives); `none` is read as is.
 */
export async function decodeMember(
  fd: number,
  debPath: string,
  member: DebTarMember,
  sink: ChunkSink,
  xz: XzPipe,
  signal?: AbortSignal,
): Promise<void> {
  const what = `${basename(debPath)} member ${member.name}`;
  if (member.compression === 'xz') {
    let uncompressed: number;
    try {
      uncompressed = xzUncompressedSize(fd, member.offset, member.size);
    } catch (err) {
      throw new DebianError('DEB_INVALID', `reading ${what}: not a valid xz file: ${(err as Error).message}`, { cause: err });
    }
    return xz.decode(fd, member.offset, member.size, uncompressed, sink, what, signal);
  }
  const source = createReadStream(debPath, { start: member.offset, end: member.offset + member.size - 1, highWaterMark: 256 * 1024, signal });
  const stream = member.compression === 'none' ? source : source.pipe(createDecompressor(member.compression, { what, signal }));
  source.on('error', (err) => stream.destroy(err));
  try {
    for await (const chunk of stream) sink(chunk as Buffer);
  } catch (err) {
    source.destroy();
    if (err instanceof BaseError) throw err;
    throw new DebianError('DECOMPRESS_FAILED', `decompressing ${what}: ${(err as Error).message}`, { cause: err });
  }
}
