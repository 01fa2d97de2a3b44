import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { speculateLayer, type LayerEntry } from '../index.js';
import { buildToBuffer, hasProgram, tempDir } from '../../../test/helpers/oci-layer.js';

const EPOCH = 1700000000;

/** Text-like files (they compress like real ones): 40 directories of 30 files, 2-40 KiB each. */
async function makeTree(root: string): Promise<void> {
  for (let d = 0; d < 40; d++) {
    const dir = join(root, `usr/share/d${String(d).padStart(2, '0')}`);
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 30; f++) {
      const lines = 40 + ((d * 31 + f * 17) % 700);
      const text = Array.from({ length: lines }, (_, i) => `${d}/${f} line ${i}: the quick brown fox ${(i * 7919 + d) % 1000} jumps\n`).join('');
      await writeFile(join(dir, `f${f}.txt`), text);
    }
  }
}

async function entriesOf(root: string): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push({ path, type: 'dir', mtime: EPOCH - 10 });
        await walk(path);
      } else out.push({ path, type: 'file', mtime: EPOCH - 10, content: { file: join(root, path) } });
    }
  };
  await walk('');
  return out;
}

/** Nice value and scheduling policy of each of this process's threads (proc(5): stat fields 19 and 41). */
async function threadPriorities(): Promise<Array<{ nice: number; policy: number }>> {
  const tasks = await readdir('/proc/self/task');
  return Promise.all(
    tasks.map(async (t) => {
      const fields = (await readFile(`/proc/self/task/${t}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
      return { nice: Number(fields[16]), policy: Number(fields[38]) };
    }),
  );
}

const SCHED_IDLE = 5;

test('a speculative memo changes no byte of the layer; blocks after a changed file are taken from it', async (t) => {
  const root = await tempDir('lading-spec-');
  t.after(() => rm(root, { recursive: true, force: true }));
  const tree = join(root, 'tree');
  const memoDir = join(root, 'memo');
  await mkdir(memoDir);
  await makeTree(tree);
  const spec = speculateLayer({ entries: () => entriesOf(tree), sourceDateEpoch: EPOCH, dir: memoDir });
  t.after(() => spec.stop());
  await spec.settled();
  if (process.platform === 'linux') {
    const worker = (await threadPriorities()).filter((p) => p.nice === 19);
    assert.equal(worker.length, 1, 'the worker runs at nice 19');
    if (await hasProgram('chrt')) assert.equal(worker[0]?.policy, SCHED_IDLE, 'and SCHED_IDLE');
  }
  // What scripts do meanwhile: a file grows, one goes, one comes.
  await writeFile(join(tree, 'usr/share/d10/f3.txt'), 'changed\n'.repeat(5000));
  await rm(join(tree, 'usr/share/d20/f7.txt'));
  await writeFile(join(tree, 'usr/share/d30/new.txt'), 'new\n');
  const memo = await spec.stop();
  t.after(() => memo.close());
  assert.ok(memo.size > 5, `memo holds ${memo.size} blocks`);

  const entries = await entriesOf(tree);
  const plain = await buildToBuffer({ entries, sourceDateEpoch: EPOCH });
  const fast = await buildToBuffer({ entries, sourceDateEpoch: EPOCH, memo });
  assert.ok(fast.blob.equals(plain.blob), 'the same bytes with and without the memo');
  assert.deepEqual(fast.result.descriptor, plain.result.descriptor);
  const blocks = fast.result.blocks;
  assert.ok(blocks, 'a layer built with a memo counts its blocks');
  // Three changes, each costing its block and the next (whose dictionary changed), plus the final block.
  assert.ok(blocks.total > 10, `${blocks.total} blocks`);
  assert.ok(blocks.reused >= blocks.total - 7 && blocks.reused < blocks.total, `reused ${blocks.reused} of ${blocks.total}`);
  memo.close();
  assert.deepEqual(await readdir(memoDir), [], 'close() removes the memo files');
});

test('speculation fails nothing: entries that vanish, a list that throws, a memo directory that is missing; stop() at once gives an empty memo', async (t) => {
  const root = await tempDir('lading-spec-');
  t.after(() => rm(root, { recursive: true, force: true }));
  const tree = join(root, 'tree');
  await makeTree(tree);
  const entries = await entriesOf(tree);
  await rm(join(tree, 'usr/share/d05'), { recursive: true });
  const spec = speculateLayer({ entries: () => entries, sourceDateEpoch: EPOCH, dir: root, workers: 1 });
  await spec.settled();
  const memo = await spec.stop();
  t.after(() => memo.close());
  assert.ok(memo.size > 0);

  const early = speculateLayer({ entries: () => entries, sourceDateEpoch: EPOCH, dir: join(root, 'tree') });
  const none = await early.stop();
  assert.equal(none.size, 0);
  none.close();
  const aborted = speculateLayer({ entries: () => entries, sourceDateEpoch: EPOCH, dir: join(root, 'tree'), signal: AbortSignal.abort() });
  await aborted.settled();
  const nil = await aborted.stop();
  assert.equal(nil.size, 0, 'an aborted speculation compresses nothing');
  nil.close();
  const nowhere = speculateLayer({ entries: () => entries, dir: join(root, 'no-such-dir') });
  const nothing = await nowhere.stop();
  assert.equal(nothing.size, 0);
  assert.match(nothing.failure ?? '', /ENOENT/, 'a memo that cannot be written is no memo, not a failed build');
  nothing.close();
  const broken = speculateLayer({ entries: () => { throw new Error('cannot list'); }, dir: root });
  await broken.settled();
  const empty = await broken.stop();
  assert.equal(empty.size, 0);
  assert.equal(empty.failure, 'cannot list');
  empty.close();
});
