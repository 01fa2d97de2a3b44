// from-dir reproducibility: the same tree gives the same manifest digest twice, from another
// path, with other mtimes and another owner; a golden digest pins the bytes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chown, cp, mkdir, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { fromDir } from '../../../src/build/index.js';
import { openLayout } from '../../../src/layout/index.js';
import { makeTree, removeScratch, scratch } from '../../helpers/store.js';

after(removeScratch);

// The tree of makeTree() with the options below. If this changes, the layer writer or the
// config assembly changed the bytes they produce: that breaks reproducibility across lading
// versions and must be deliberate (update the digest and say why in the CHANGELOG).
const GOLDEN_MANIFEST = 'sha256:6281f69a4ca97cf1cc5810d76efae3ee51cf5199a8776bbc8338b56766b25bee';

const OPTIONS = {
  tag: 'golden',
  env: ['GREETING=hello'],
  entrypoint: ['/usr/bin/hello'],
  labels: { 'org.opencontainers.image.title': 'hello' },
  workdir: '/',
  user: '0:0',
} as const;

test('the same directory twice, from another path, with new mtimes and another owner: one manifest digest (golden)', async () => {
  const root = await scratch();
  const tree = join(root, 'tree');
  await makeTree(tree);
  const store = await openLayout({ path: join(root, 'store'), create: true });
  const first = await fromDir({ store, dir: tree, ...OPTIONS });
  const second = await fromDir({ store, dir: tree, ...OPTIONS, tag: 'again' });
  assert.equal(second.manifest.digest, first.manifest.digest);
  assert.equal(first.created, '1970-01-01T00:00:00Z');

  // A copy elsewhere: new mtimes (cp does not keep them, and we set others), owned by 1234:5678.
  const other = join(root, 'somewhere', 'else', 'copy');
  await cp(tree, other, { recursive: true, verbatimSymlinks: true });
  const later = new Date('2030-01-02T03:04:05Z');
  for (const rel of ['etc/hello.conf', 'usr/bin/hello', 'usr', '.']) await utimes(join(other, rel), later, later);
  let chowned = true;
  try {
    await chownTree(other, 1234, 5678);
  } catch {
    chowned = false; // not root: the mtime and path differences are still tested
  }
  const store2 = await openLayout({ path: join(root, 'store2'), create: true });
  const third = await fromDir({ store: store2, dir: other, ...OPTIONS });
  assert.equal(third.manifest.digest, first.manifest.digest, `copy${chowned ? ' (chowned)' : ''} gives another digest`);
  assert.equal(third.layer.digest, first.layer.digest);

  assert.equal(first.manifest.digest, GOLDEN_MANIFEST, `golden digest changed: ${first.manifest.digest} (layer ${first.layer.digest}, config ${first.config.digest})`);

  // SOURCE_DATE_EPOCH changes created and the mtime clamp, hence the digest; deterministically.
  const dated = await fromDir({ store, dir: tree, ...OPTIONS, tag: 'dated', sourceDateEpoch: 1_700_000_000 });
  assert.equal(dated.created, '2023-11-14T22:13:20Z');
  assert.notEqual(dated.manifest.digest, first.manifest.digest);
  const dated2 = await fromDir({ store: store2, dir: other, ...OPTIONS, tag: 'dated', sourceDateEpoch: 1_700_000_000 });
  // The copy's files are all newer than the epoch (cp, utimes 2030), the original's too (just made).
  assert.equal(dated2.manifest.digest, dated.manifest.digest);
  const report = await store.verify();
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  await store.close();
  await store2.close();
  await rm(root, { recursive: true });
});

test('a store inside the directory is left out of the layer: the same digest as without it', async () => {
  const root = await scratch();
  const tree = join(root, 'tree');
  await makeTree(tree);
  const outside = await openLayout({ path: join(root, 'store'), create: true });
  const expected = await fromDir({ store: outside, dir: tree, ...OPTIONS });
  // `from-dir .` with the default ./.lading/store: the store sits in the tree and grows while it is read.
  const inside = await openLayout({ path: join(tree, '.lading', 'store'), create: true });
  const first = await fromDir({ store: inside, dir: tree, ...OPTIONS });
  const second = await fromDir({ store: inside, dir: tree, ...OPTIONS, tag: 'again' });
  assert.equal(second.manifest.digest, first.manifest.digest);
  await assert.rejects(fromDir({ store: inside, dir: join(tree, '.lading', 'store'), ...OPTIONS }), /is the store itself/);
  await inside.close();
  await rm(join(tree, '.lading'), { recursive: true });
  await mkdir(join(tree, '.lading'));
  await utimes(join(tree, '.lading'), 0, 0);
  assert.equal((await fromDir({ store: outside, dir: tree, ...OPTIONS, tag: 'empty-dir' })).manifest.digest, first.manifest.digest, 'only the store was left out');
  assert.notEqual(first.manifest.digest, expected.manifest.digest, 'the .lading directory itself is part of the tree');
  await outside.close();
  await rm(root, { recursive: true });
});

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  const { readdir, lchown } = await import('node:fs/promises');
  await lchown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await lchown(p, uid, gid);
  }
  await chown(dir, uid, gid);
}
