// A writer process for the crash and concurrency tests. It uses the library the way lading does
// and reports progress on stdout (one line per event) so the parent can kill it at a known point.
//   writer-child.ts blob STORE MIB STOP_AT_MIB   write a MIB-MiB blob, print "progress N" per MiB,
//                                                 stall after STOP_AT_MIB (waiting for SIGKILL)
//   writer-child.ts names STORE PREFIX COUNT      write COUNT small images named PREFIX-i, print "named i"
//   writer-child.ts hold-lock STORE               take the index lock, print "locked", wait forever
//   writer-child.ts reuse-then-stall STORE TEXT   write blob TEXT (maybe already present), print
//                                                 "reused <digest>", start a big blob, stall at 1 MiB
import { Readable } from 'node:stream';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openLayout, STATE_DIR } from '../../../src/layout/index.js';
import { EMPTY_TAR_DIFF_ID, patternChunks, putImage } from '../../helpers/store.js';
import { gzipSync } from 'node:zlib';

const [mode, storePath, a, b] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);
const forever = () => new Promise<never>(() => setInterval(() => undefined, 1 << 30));

async function tempFileOfSize(size: number): Promise<void> {
  const dir = join(String(storePath), STATE_DIR, 'tmp');
  for (;;) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if ((await stat(join(dir, name)).catch(() => undefined))?.size === size) return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

const store = await openLayout({ path: String(storePath), create: true });
if (mode === 'blob') {
  const total = Number(a);
  const stopAt = Number(b);
  async function* slow(): AsyncGenerator<Buffer> {
    let i = 0;
    for (const chunk of patternChunks(total)) {
      yield chunk;
      i++;
      if (i === stopAt) {
        // Report only once the temp file holds exactly what was produced: the kill then lands
        // with a known partial file on disk, whatever the stream buffering.
        await tempFileOfSize(stopAt << 20);
        say(`progress ${i}`);
        await forever();
      }
    }
  }
  await store.writeBlob(Readable.from(slow()));
  say('done');
} else if (mode === 'names') {
  const count = Number(b);
  for (let i = 0; i < count; i++) {
    // Each image differs (its config carries a label), so each run writes new blobs too.
    await putImage(store, `${a}-${i}`, { blob: gzipSync(Buffer.alloc(1024)), diffId: EMPTY_TAR_DIFF_ID }, { config: { config: { Labels: { writer: String(a), i: String(i) } } } });
    say(`named ${i}`);
  }
  say('done');
} else if (mode === 'hold-lock') {
  await store.withLock(async () => {
    say('locked');
    await forever();
  });
} else if (mode === 'reuse-then-stall') {
  const { digest } = await store.writeBlob(Buffer.from(String(a)));
  say(`reused ${digest}`);
  async function* stall(): AsyncGenerator<Buffer> {
    for (const chunk of patternChunks(8)) {
      yield chunk;
      await tempFileOfSize(1 << 20);
      say('progress 1');
      await forever();
    }
  }
  await store.writeBlob(Readable.from(stall()));
} else {
  throw new Error(`unknown mode ${mode}`);
}
