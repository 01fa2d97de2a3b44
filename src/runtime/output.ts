import type { Writable } from 'node:stream';

/** Where a container's stdout or stderr goes while it runs: a stream (never ended by lading) or a callback. */
export type OutputSink = Writable | ((chunk: Buffer) => void);

/** Keeps the last `max` bytes written to it, for error messages. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    if (this.max <= 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.max) {
      this.size -= (this.chunks.shift() as Buffer).length;
    }
  }

  /** The kept bytes as UTF-8; a character cut at the front is dropped rather than shown broken. */
  text(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.max) buf = buf.subarray(buf.length - this.max);
    let start = 0;
    while (start < buf.length && start < 3 && ((buf[start] as number) & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  }
}

/**
 * Writes a container's output to its log up to `limit` bytes, then a note; `finish` appends the
 * output's last bytes when anything was left out. BuildKit clips step logs the same way (2 MiB):
 * a runaway step must not fill the disk with its log.
 */
export class CappedLog {
  private written = 0;
  private dropped = 0;
  /** The output so far ends a line (nothing written counts as ended). */
  private lineEnded = true;

  constructor(
    private readonly stream: Writable,
    private readonly limit: number,
  ) {}

  write(chunk: Buffer): void {
    const room = this.limit - this.written;
    if (room >= chunk.length) {
      this.stream.write(chunk);
      this.written += chunk.length;
      if (chunk.length > 0) this.lineEnded = chunk[chunk.length - 1] === 0x0a;
      return;
    }
    if (this.dropped === 0) {
      // The first chunk that does not fit (also when the last one filled the log exactly).
      if (room > 0) this.stream.write(chunk.subarray(0, room));
      this.written += Math.max(room, 0);
      this.stream.write(`\n[lading: output clipped here, at the log limit of ${formatLimit(this.limit)}; its end follows]\n`);
    }
    this.dropped += chunk.length - Math.max(room, 0);
  }

  /**
   * Appends the end of the output (from a TailBuffer) when some of it was dropped, and ends an
   * unfinished last line, so what lading writes next starts a line of its own.
   */
  finish(tail: string): void {
    if (this.dropped === 0) {
      if (!this.lineEnded) this.stream.write('\n');
      this.lineEnded = true;
      return;
    }
    this.stream.write(`[lading: ${this.dropped} bytes of output left out; the last ${Buffer.byteLength(tail)} bytes follow]\n${tail}${tail.endsWith('\n') ? '' : '\n'}`);
  }
}

function formatLimit(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`;
}
