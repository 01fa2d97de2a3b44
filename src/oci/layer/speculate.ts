// Speculative compression: while maintainer scripts and run steps change an image's tree, the
// files already there (mostly what the packages unpacked) are put into tar blocks and compressed
// at the lowest CPU priority, in worker threads, into a memo on disk. The real layer, written
// afterwards from the final tree, takes every block whose key (level, dictionary, bytes) is in
// the memo instead of compressing it. Blocks end where the content says (build.ts TarBlocks), so
// the blocks after a changed file line up again.
//
// Nothing here can change a layer's bytes: a memo entry is the deflate of exactly the bytes its
// key names, made with the encoder's own options. Whatever goes wrong (a file the scripts
// removed, a worker that fails) only costs misses. The scripts keep their CPU: the worker runs at
// nice 19 and SCHED_IDLE, so it only uses what the scripts leave idle.
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describeError } from '../../core/index.js';
import { TarBlocks, writeContent } from './build.js';
import { blockDeflateOptions, blockKeyPrefix, GZIP_BLOCK_SIZE, nextDictionary, type BlockEncoder, type BlockMemo } from './encoder.js';
import { planEntries, type LayerEntry } from './entries.js';
import { eventLoopPauser } from './pause.js';

/** Options of speculateLayer. */
export interface SpeculateOptions {
  /** The entries as they stand now; called after the caller has gone on (see below). */
  entries: () => Promise<Iterable<LayerEntry>> | Iterable<LayerEntry>;
  /** gzip level of the real layer (default 6). */
  level?: number;
  sourceDateEpoch?: number;
  /** A directory of the caller's for the memo's files (removed by close()). */
  dir: string;
  /** Worker threads (default 1: more took CPU from the scripts in bench/build). */
  workers?: number;
  /** Stops producing and compressing (stop() still returns what was made). */
  signal?: AbortSignal;
}

/** The compressed blocks speculation made, on disk. */
export interface LayerMemo extends BlockMemo {
  /** Blocks in the memo. */
  readonly size: number;
  /** Why speculation stopped before the end, if it did not just run out of time. */
  readonly failure?: string;
  /** Closes and removes the memo's files. */
  close(): void;
}

/** A running speculation. */
export interface Speculation {
  /** Resolves once every block is compressed (or speculation failed); for tests. */
  settled(): Promise<void>;
  /** Stops compressing (a block under way is dropped) and returns what was made. */
  stop(): Promise<LayerMemo>;
}

interface Stored {
  file: number;
  offset: number;
  length: number;
}

interface Reply {
  key: string;
  offset: number;
  length: number;
}

// The workers' code: key and deflate what they are sent, with the key prefix and the zlib
// options they are sent (encoder.ts makes both), append the output to their file (a descriptor
// the parent opened and closes), say where. Text, so that it runs the same from dist/ and under
// tsx. SCHED_IDLE (chrt, util-linux) is below nice 19: the thread gets only CPU nothing else wants.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { readlinkSync, writeSync } = require('node:fs');
const { setPriority } = require('node:os');
const { deflateRawSync } = require('node:zlib');
try {
  // This thread only: on Linux a thread id renices, or reschedules, that thread.
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) {
    setPriority(tid, 19);
    spawnSync('chrt', ['--idle', '-p', '0', String(tid)], { stdio: 'ignore' });
  }
} catch {}
let offset = 0;
parentPort.on('message', (job) => {
  const key = createHash('sha256').update(job.prefix).update(job.block).digest('base64');
  const out = deflateRawSync(job.block, job.options);
  writeSync(workerData.fd, out, 0, out.length, offset);
  parentPort.postMessage({ key, offset, length: out.length });
  offset += out.length;
});
`;

/** Compressed blocks in files, looked up by key. */
class FileMemo implements LayerMemo {
  constructor(
    private readonly files: string[],
    private readonly fds: number[],
    private readonly map: ReadonlyMap<string, Stored>,
    readonly failure: string | undefined,
  ) {}

  get size(): number {
    return this.map.size;
  }

  lookup(key: string): Buffer | undefined {
    const s = this.map.get(key);
    const fd = s ? this.fds[s.file] : undefined;
    if (!s || fd === undefined) return undefined;
    const out = Buffer.allocUnsafe(s.length);
    return readSync(fd, out, 0, s.length, s.offset) === s.length ? out : undefined;
  }

  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
    for (const f of this.files) rmSync(f, { force: true });
  }
}

/** Hands blocks to the workers, a few at a time; drops them once stopped. */
class SpeculativeEncoder implements Pick<BlockEncoder, 'acquire' | 'write' | 'end'> {
  private dict: Buffer | undefined;
  /** Producers waiting for a worker with room, first come first served. */
  private readonly waiting: Array<() => void> = [];
  private readonly inFlight: number[];
  stopped = false;

  constructor(
    private readonly workers: Worker[],
    private readonly level: number,
    private readonly onReply: (worker: number, reply: Reply) => void,
  ) {
    this.inFlight = workers.map(() => 0);
    workers.forEach((w, i) =>
      w.on('message', (r: Reply) => {
        this.inFlight[i] = (this.inFlight[i] ?? 1) - 1;
        this.onReply(i, r);
        this.wake();
      }),
    );
  }

  private wake(): void {
    this.waiting.shift()?.();
    if (this.inFlight.every((n) => n === 0)) for (const idle of this.idle.splice(0)) idle();
  }

  private readonly idle: Array<() => void> = [];

  /** Resolves when no block is being compressed. */
  drained(): Promise<void> {
    return this.stopped || this.inFlight.every((n) => n === 0) ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  /** Wakes a producer waiting for room, for good. */
  stop(): void {
    this.stopped = true;
    for (const resume of this.waiting.splice(0)) resume();
    for (const idle of this.idle.splice(0)) idle();
  }

  acquire(): Buffer {
    return Buffer.allocUnsafeSlow(GZIP_BLOCK_SIZE); // handed over to a worker, never reused here
  }

  async write(block: Buffer): Promise<void> {
    const dict = this.dict;
    this.dict = nextDictionary(dict, block);
    if (this.stopped) return;
    // Two blocks per worker: one compressing, one waiting.
    let i = this.inFlight.indexOf(Math.min(...this.inFlight));
    while ((this.inFlight[i] ?? 0) >= 2 && !this.stopped) {
      await new Promise<void>((resume) => this.waiting.push(resume));
      i = this.inFlight.indexOf(Math.min(...this.inFlight));
    }
    if (this.stopped) return;
    const worker = this.workers[i] as Worker;
    this.inFlight[i] = (this.inFlight[i] ?? 0) + 1;
    const data = new Uint8Array(block.buffer, block.byteOffset, block.length);
    const job = { prefix: blockKeyPrefix(this.level, dict), block: data, options: blockDeflateOptions(this.level, dict, false) };
    worker.postMessage(job, [block.buffer as ArrayBuffer]);
  }

  async end(): Promise<void> {
    // The end-of-archive block is final (Z_FINISH) and never looked up.
  }
}

/**
 * Starts compressing the blocks of the layer `entries()` would make, and returns at once.
 * `entries` is called on a later turn of the event loop, so a caller can start its scripts first.
 */
export function speculateLayer(options: SpeculateOptions): Speculation {
  const level = options.level ?? 6;
  const count = Math.max(1, options.workers ?? 1);
  const files = Array.from({ length: count }, (_, i) => join(options.dir, `speculated-${i}.deflate`));
  const map = new Map<string, Stored>();
  // Opened here, written by the workers, read and closed by the memo.
  const fds: number[] = [];
  const workers: Worker[] = [];
  try {
    for (const file of files) fds.push(openSync(file, 'w+', 0o600));
    for (const fd of fds) workers.push(new Worker(WORKER, { eval: true, workerData: { fd } }));
  } catch (err) {
    // No room for the memo, no threads: the layer is compressed afterwards, as without speculation.
    for (const w of workers) void w.terminate();
    const memo = new FileMemo(files.slice(0, fds.length), fds, map, describeError(err));
    return { settled: async () => undefined, stop: async () => memo };
  }
  let failed: string | undefined;
  let stopped: Promise<LayerMemo> | undefined;
  for (const w of workers) {
    w.on('error', (err) => {
      failed ??= describeError(err);
      encoder.stop();
    });
  }
  const encoder = new SpeculativeEncoder(workers, level, (file, r) => {
    map.set(r.key, { file, offset: r.offset, length: r.length });
  });
  const onAbort = () => encoder.stop();
  if (options.signal?.aborted) encoder.stop();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const produce = (async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const epoch = options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {};
    const planned = await planEntries(await options.entries(), epoch);
    const tar = new TarBlocks(encoder, false);
    // Reads are synchronous: the builder's own I/O (the scripts' output) gets through between entries.
    const pause = eventLoopPauser();
    for (const entry of planned) {
      if (encoder.stopped) return;
      await pause();
      const written = await writeContent(tar, entry, epoch, true);
      if (written) await tar.endEntry(written.info.path);
    }
    await tar.endEntries();
  })().catch((err: unknown) => {
    failed ??= describeError(err);
  });

  return {
    async settled(): Promise<void> {
      await produce;
      await encoder.drained();
    },
    stop(): Promise<LayerMemo> {
      stopped ??= (async () => {
        options.signal?.removeEventListener('abort', onAbort);
        encoder.stop();
        await produce;
        await Promise.all(workers.map((w) => w.terminate()));
        return new FileMemo(files, fds, map, failed);
      })();
      return stopped;
    },
  };
}
