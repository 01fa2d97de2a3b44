// Crash safety and concurrent writers: real child processes using the library, killed with
// SIGKILL at known points (they report progress on stdout and stall where the test wants them).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Hasher } from '../../../src/core/index.js';
import { openLayout } from '../../../src/layout/index.js';
import { EMPTY_TAR_DIFF_ID, patternChunks, putImage, ROOT, runCli, removeScratch, scratch } from '../../helpers/store.js';

const CHILD = join(ROOT, 'test/e2e/store/writer-child.ts');

interface Child {
  proc: ChildProcess;
  /** Resolves with the first stdout line matching, rejects if the child exits first. */
  waitFor(pattern: RegExp): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

const running = new Set<ChildProcess>();
// A failed assertion must not leave a stalled writer behind (it would keep this file's process alive).
after(async () => {
  for (const p of running) p.kill('SIGKILL');
  await removeScratch();
});

function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  running.add(proc);
  proc.on('exit', () => running.delete(proc));
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    proc.on('exit', (code, signal) => {
      for (const w of waiters) w.reject(new Error(`child exited (${code ?? signal}) before printing ${w.pattern}: ${stderr}`));
      resolve({ code, signal, stderr });
    });
  });
  return {
    proc,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const hit = lines.find((l) => pattern.test(l));
        if (hit !== undefined) resolve(hit);
        else waiters.push({ pattern, resolve, reject });
      }),
  };
}

async function kill(child: Child): Promise<void> {
  child.proc.kill('SIGKILL');
  const { signal } = await child.exited;
  assert.equal(signal, 'SIGKILL');
}

function patternDigest(mib: number): string {
  const h = new Hasher();
  for (const c of patternChunks(mib)) h.update(c);
  return h.digest();
}

/** A store with one image named `before`, to check that crashes never hurt what was there. */
async function seededStore(): Promise<{ dir: string; before: string }> {
  const dir = await scratch();
  const store = await openLayout({ path: dir, create: true });
  const d = await putImage(store, 'before', { blob: gzipSync(Buffer.alloc(1024)), diffId: EMPTY_TAR_DIFF_ID });
  await store.close();
  return { dir, before: d.digest };
}

async function assertVerifies(dir: string): Promise<string> {
  const r = await runCli(['--store', dir, 'store', 'verify']);
  assert.equal(r.code, 0, `store verify failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /: OK$/m);
  return r.stdout;
}

test('SIGKILL in the middle of writing a big blob leaves a store that verifies; the next write succeeds; gc cleans up', async () => {
  const TOTAL = 24;
  const digest = patternDigest(TOTAL);
  const { dir, before } = await seededStore();
  for (const stopAt of [1, 9, 20]) {
    const child = startChild(['blob', dir, String(TOTAL), String(stopAt)]);
    await child.waitFor(new RegExp(`^progress ${stopAt}$`));
    await kill(child);
    const store = await openLayout({ path: dir });
    assert.equal(await store.hasBlob(digest as never), false, 'a partial blob never appears under its digest');
    const tmp = join(dir, '.lading', 'tmp');
    const sizes = await Promise.all((await readdir(tmp)).map(async (n) => (await stat(join(tmp, n))).size));
    assert.ok(sizes.includes(stopAt << 20), `the interrupted write left its ${stopAt} MiB temp file (found ${sizes.join(', ')})`);
    const out = await assertVerifies(dir);
    assert.match(out, /temp file\(s\).*left by interrupted writers/);
    assert.equal((await store.resolve('before'))?.digest, before);
  }
  // The next write of the same content succeeds and lands under the right digest.
  const store = await openLayout({ path: dir });
  const written = await store.writeBlob(Readable.from(patternChunks(TOTAL)));
  assert.equal(written.digest, digest);
  assert.equal((await stat(store.blobPath(written.digest))).size, TOTAL << 20);
  await store.close();
  // Unnamed and (pretend) an hour old, with no live writer: garbage. (Fresh blobs get 2 s of grace.)
  const hourAgo = new Date(Date.now() - 3600_000);
  await utimes(store.blobPath(written.digest), hourAgo, hourAgo);
  const gc = await store.gc();
  assert.ok(gc.tempFilesRemoved >= 3, `gc removed ${gc.tempFilesRemoved} temp files`);
  assert.ok(gc.staleLeasesRemoved >= 3);
  assert.ok(gc.removedDigests.includes(written.digest), 'the unnamed big blob is garbage once no writer holds a lease');
  assert.deepEqual(await readdir(join(dir, '.lading', 'tmp')), []);
  await assertVerifies(dir);
  assert.equal((await store.getManifest('before'))?.digest, before);
  await rm(dir, { recursive: true });
});

test('SIGKILL while a writer updates index.json again and again: verify passes, earlier names survive', async () => {
  const { dir, before } = await seededStore();
  let expectAtLeast = 0;
  for (const [round, k] of [3, 11, 29].entries()) {
    const child = startChild(['names', dir, `r${round}`, '500']);
    await child.waitFor(new RegExp(`^named ${k}$`));
    await kill(child);
    expectAtLeast += k + 1;
    await assertVerifies(dir);
    const store = await openLayout({ path: dir });
    const names = await store.listTags();
    assert.ok(names.length >= expectAtLeast + 1, `${names.length} names after round ${round}`);
    for (let i = 0; i <= k; i++) assert.ok(names.includes(`r${round}-${i}`), `r${round}-${i} survived`);
    assert.equal((await store.resolve('before'))?.digest, before);
    expectAtLeast = names.length - 1;
  }
  // The next writer is not blocked by anything the dead ones left.
  const store = await openLayout({ path: dir });
  await putImage(store, 'after', { blob: gzipSync(Buffer.alloc(1024)), diffId: EMPTY_TAR_DIFF_ID });
  assert.ok((await store.listTags()).includes('after'));
  await store.close();
  await store.gc();
  await assertVerifies(dir);
  await rm(dir, { recursive: true });
});

test('a writer killed while holding the index lock does not block the next one', async () => {
  const { dir } = await seededStore();
  const child = startChild(['hold-lock', dir]);
  await child.waitFor(/^locked$/);
  await kill(child);
  const store = await openLayout({ path: dir });
  const d = await store.resolve('before');
  assert.ok(d);
  await store.setName('again', d, { signal: AbortSignal.timeout(20_000) });
  assert.deepEqual(await store.listTags(), ['before', 'again']);
  await assertVerifies(dir);
  await rm(dir, { recursive: true });
});

test('two processes writing different names into one store at once: every name is there', async () => {
  const dir = await scratch();
  const a = startChild(['names', dir, 'alpha', '15']);
  const b = startChild(['names', dir, 'beta', '15']);
  const done = Promise.all([a.waitFor(/^done$/), b.waitFor(/^done$/)]);
  // verify while they write: a blob stored and named after verify listed the blobs is not "missing".
  let finished = false;
  void done.then(() => (finished = true), () => (finished = true));
  await a.waitFor(/^named 0$/);
  for (let rounds = 0; !finished && rounds < 50; rounds++) {
    const live = await openLayout({ path: dir });
    const r = await live.verify();
    assert.equal(r.ok, true, `verify during writes: ${JSON.stringify(r.problems)}`);
  }
  await done;
  await Promise.all([a.exited, b.exited]);
  const store = await openLayout({ path: dir });
  const names = new Set(await store.listTags());
  for (const p of ['alpha', 'beta']) for (let i = 0; i < 15; i++) assert.ok(names.has(`${p}-${i}`), `${p}-${i} present`);
  assert.equal(names.size, 30);
  await assertVerifies(dir);
  await rm(dir, { recursive: true });
});

test('gc next to a live writer keeps the blob it reuses and the temp file it is writing', async () => {
  const { dir, before } = await seededStore();
  const store = await openLayout({ path: dir });
  // An old unreferenced blob: garbage, until a writer reuses it.
  const shared = await store.writeBlob(Buffer.from('shared content'));
  await store.close();
  const old = new Date(Date.now() - 3600_000);
  await utimes(store.blobPath(shared.digest), old, old);
  assert.deepEqual((await store.gc({ dryRun: true })).removedDigests, [shared.digest]);

  const child = startChild(['reuse-then-stall', dir, 'shared content']);
  await child.waitFor(/^reused /);
  await child.waitFor(/^progress 1$/);
  // Past gc's 2 s grace for fresh blobs, so only the writer's lease protects what it touched.
  await new Promise((r) => setTimeout(r, 2500));
  const during = await store.gc();
  assert.equal(during.removed, 0, `gc removed ${during.removedDigests.join(', ')} while a writer was using it`);
  assert.equal(during.tempFilesRemoved, 0, 'the live writer keeps its temp file');
  assert.equal(await store.hasBlob(shared.digest), true);
  assert.equal((await readdir(join(dir, '.lading', 'tmp'))).length, 1);
  await kill(child);

  await utimes(store.blobPath(shared.digest), old, old);
  const after = await store.gc();
  assert.deepEqual(after.removedDigests, [shared.digest], 'once the writer is gone, the unnamed blob is garbage');
  assert.equal(after.tempFilesRemoved, 1);
  assert.equal((await store.resolve('before'))?.digest, before);
  await assertVerifies(dir);
  await rm(dir, { recursive: true });
});
