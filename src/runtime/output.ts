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
