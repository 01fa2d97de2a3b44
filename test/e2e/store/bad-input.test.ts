// Bad input in a store: each case gives a clear message naming the object, a nonzero exit and
// no stack trace (real CLI processes), and the other image in the store stays intact.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fromDir } from '../../../src/build/index.js';
import { digestOf, type Digest } from '../../../src/core/index.js';
import { openLayout, REF_NAME, type LayoutStore } from '../../../src/layout/index.js';
import { applyLayer, loadImage, OciError } from '../../../src/oci/index.js';
import { makeTree, putImage, runCli, removeScratch, scratch, spawnCli, type CliRun } from '../../helpers/store.js';

const execFileP = promisify(execFile);

after(removeScratch);

/** A store holding `good` (from the test tree); returns it with its manifest digest. */
async function storeWithGood(): Promise<{ dir: string; store: LayoutStore; good: string; goodLayer: { digest: Digest; size: number } }> {
  const root = await scratch();
  await makeTree(join(root, 'tree'));
  const dir = join(root, 'store');
  const store = await openLayout({ path: dir, create: true });
  const r = await fromDir({ store, dir: join(root, 'tree'), tag: 'good' });
  return { dir, store, good: r.manifest.digest, goodLayer: { digest: r.layer.digest as Digest, size: r.layer.size } };
}

function assertCleanFailure(r: CliRun, what: string): void {
  assert.notEqual(r.code, 0, `${what}: expected a nonzero exit\n${r.stdout}${r.stderr}`);
  assert.notEqual(r.code, 70, `${what}: an internal error, not a user error:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: stack trace on stderr:\n${r.stderr}`);
}

/** `good` still inspects, and verify names no problem about it. */
async function assertGoodIntact(dir: string, good: string, verifyOut?: string): Promise<void> {
  const r = await runCli(['--store', dir, '--json', 'store', 'inspect', 'good']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { digest: string }).digest, good);
  if (verifyOut !== undefined) assert.ok(!verifyOut.includes(good), `a problem was reported about good:\n${verifyOut}`);
}

/** A ustar archive with the given members, built by hand so it can hold what lading never writes. */
function rawTar(members: Array<{ name: string; content: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const m of members) {
    const h = Buffer.alloc(512);
    const field = (off: number, len: number, v: string) => h.write(v, off, len, 'ascii');
    const body = Buffer.from(m.content);
    field(0, 100, m.name);
    field(100, 8, '0000644\0');
    field(108, 8, '0000000\0');
    field(116, 8, '0000000\0');
    field(124, 12, `${body.length.toString(8).padStart(11, '0')}\0`);
    field(136, 12, '00000000000\0');
    field(156, 1, '0');
    field(257, 6, 'ustar\0');
    field(263, 2, '00');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

test('a corrupt blob: verify names the blob, exits 1, deletes nothing', async () => {
  const { dir, store, good } = await storeWithGood();
  const victim = await putImage(store, 'victim', { blob: gzipSync(rawTar([{ name: 'x', content: 'victim data' }])), diffId: digestOf(rawTar([{ name: 'x', content: 'victim data' }])) });
  const manifest = JSON.parse(new TextDecoder().decode(await store.readBlob(victim))) as { layers: Array<{ digest: Digest }> };
  const layer = manifest.layers[0]!.digest;
  const bytes = await readFile(store.blobPath(layer));
  bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 0xff;
  await writeFile(store.blobPath(layer), bytes);
  const r = await spawnCli(['--store', dir, 'store', 'verify']);
  assertCleanFailure(r, 'verify of a corrupt blob');
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`error: blob ${layer}: content hashes to sha256:`));
  assert.match(r.stdout, /problem\(s\)/);
  assert.ok(await store.hasBlob(layer), 'the corrupt blob is reported, never deleted');
  await assertGoodIntact(dir, good, r.stdout);
});

test('a manifest naming a missing blob: verify names the manifest and the blob', async () => {
  const { dir, store, good } = await storeWithGood();
  const tar = rawTar([{ name: 'y', content: 'soon gone' }]);
  const victim = await putImage(store, 'victim', { blob: gzipSync(tar), diffId: digestOf(tar) });
  const manifest = JSON.parse(new TextDecoder().decode(await store.readBlob(victim))) as { layers: Array<{ digest: Digest }> };
  const layer = manifest.layers[0]!.digest;
  const { rm } = await import('node:fs/promises');
  await rm(store.blobPath(layer));
  const r = await spawnCli(['--store', dir, '--json', 'store', 'verify']);
  assertCleanFailure(r, 'verify with a missing blob');
  const report = JSON.parse(r.stdout) as { ok: boolean; problems: Array<{ code: string; object: string; message: string }> };
  assert.equal(report.ok, false);
  const p = report.problems.find((x) => x.code === 'BLOB_MISSING');
  assert.ok(p, JSON.stringify(report.problems));
  assert.ok(p.object.includes(victim.digest) && p.object.includes('victim'), p.object);
  assert.match(p.message, new RegExp(`layers\\[0\\] names blob ${layer}, which is not in the store`));
  await assertGoodIntact(dir, good, JSON.stringify(report.problems));
});

test("a layer whose tar has a '..' member: verify reports the member, exits 1; applying it is refused", async () => {
  const { dir, store, good } = await storeWithGood();
  const tar = rawTar([
    { name: 'ok', content: 'fine' },
    { name: '../evil', content: 'escape' },
  ]);
  const victim = await putImage(store, 'evil', { blob: gzipSync(tar), diffId: digestOf(tar) });
  const r = await spawnCli(['--store', dir, 'store', 'verify']);
  assertCleanFailure(r, "verify of a '..' layer");
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`error: manifest ${victim.digest} \\(evil\\): layers\\[0\\] sha256:[0-9a-f]{64}: tar member "\\.\\./evil"`));
  await assertGoodIntact(dir, good, r.stdout);
  // Applying it (what a build or unpack does) is refused too, naming the member, and nothing
  // lands outside the target directory.
  const doc = await store.getManifest('evil');
  assert.ok(doc);
  const image = await loadImage(doc, store);
  const target = join(await scratch(), 'rootfs');
  await mkdir(target);
  await assert.rejects(applyLayer({ stream: await image.layers[0]!.uncompressed(), root: target }), (e: unknown) => e instanceof OciError && e.code === 'TAR_UNSAFE_PATH' && e.message.includes('../evil'));
  await assert.rejects(stat(join(target, '..', 'evil')));
});

test('unknown media types: an index.json entry cannot be inspected (exit 1, named); verify warns (--strict fails); an image layer of unknown type fails verify', async () => {
  const { dir, store, good, goodLayer } = await storeWithGood();
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: unknown[] };
  index.manifests.push({ mediaType: 'application/vnd.example.thing+json', digest: goodLayer.digest, size: goodLayer.size, annotations: { [REF_NAME]: 'strange' } });
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));

  const inspect = await spawnCli(['--store', dir, 'store', 'inspect', 'strange']);
  assertCleanFailure(inspect, 'inspect of an unknown media type');
  assert.match(inspect.stderr, /:strange \(sha256:[0-9a-f]{64}\): media type "application\/vnd\.example\.thing\+json" is not an image manifest or index/);
  const ls = await runCli(['--store', dir, '--json', 'store', 'ls']);
  assert.equal(ls.code, 0, 'unknown media types MUST NOT break listing (image-layout.md)');
  assert.ok((JSON.parse(ls.stdout) as { entries: Array<{ name?: string }> }).entries.some((e) => e.name === 'strange'));
  const lenient = await runCli(['--store', dir, 'store', 'verify']);
  assert.equal(lenient.code, 0, lenient.stdout);
  assert.match(lenient.stdout, /warning: index\.json manifests\[1\] \(strange\): media type "application\/vnd\.example\.thing\+json" is not a manifest or index/);
  const strict = await runCli(['--store', dir, 'store', 'verify', '--strict']);
  assert.equal(strict.code, 1);

  const tar = rawTar([{ name: 'z', content: 'z' }]);
  const odd = await putImage(store, 'odd', { blob: gzipSync(tar), diffId: digestOf(tar), mediaType: 'application/vnd.example.layer' });
  const r = await spawnCli(['--store', dir, 'store', 'verify']);
  assertCleanFailure(r, 'verify of an unknown layer type');
  assert.match(r.stdout, new RegExp(`error: manifest ${odd.digest} \\(odd\\): .*media type "application/vnd\\.example\\.layer" is not a layer type`));
  await assertGoodIntact(dir, good, r.stdout);
});

test('a broken index.json: commands fail naming it, and a write refuses to replace it (nothing lost)', async () => {
  const { dir } = await storeWithGood();
  const broken = '{"schemaVersion":2,"manifests":[{"mediaType":';
  await writeFile(join(dir, 'index.json'), broken);
  const ls = await spawnCli(['--store', dir, 'store', 'ls']);
  assertCleanFailure(ls, 'ls with a broken index.json');
  assert.match(ls.stderr, /index\.json: invalid JSON/);
  const root = await scratch();
  await makeTree(root);
  const build = await runCli(['--store', dir, 'image', 'from-dir', root, '--tag', 'new']);
  assertCleanFailure(build, 'from-dir into a store with a broken index.json');
  assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), broken, 'index.json left as it was');
  const verify = await runCli(['--store', dir, '--json', 'store', 'verify']);
  assert.equal(verify.code, 1);
  assert.ok((JSON.parse(verify.stdout) as { problems: Array<{ code: string }> }).problems.some((p) => p.code === 'INDEX_INVALID'));
});

test('from-dir refuses a name with "@" (oci:DIR:NAME@DIGEST could not name it again); a name with ":" can be inspected', async () => {
  const root = await scratch();
  await makeTree(join(root, 'tree'));
  const dir = join(root, 'store');
  const at = await runCli(['--store', dir, 'image', 'from-dir', join(root, 'tree'), '--tag', 'x@sha256:abc']);
  assert.equal(at.code, 2);
  assert.match(at.stderr, /a name cannot hold "@"/);
  const made = await runCli(['--store', dir, 'image', 'from-dir', join(root, 'tree'), '--tag', 'App:1.0']);
  assert.equal(made.code, 0, made.stderr);
  const seen = await runCli(['--json', 'inspect', `oci:${dir}:App:1.0`]);
  assert.equal(seen.code, 0, seen.stderr);
});

test('a store on a read-only file system is a clear failure (exit 1), not an internal error', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('mounting a read-only tmpfs needs root');
    return;
  }
  const root = await scratch();
  await makeTree(join(root, 'tree'));
  const ro = join(root, 'ro');
  await mkdir(ro);
  await execFileP('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
  try {
    const r = await runCli(['--store', join(ro, 'store'), 'image', 'from-dir', join(root, 'tree'), '--tag', 'x']);
    assertCleanFailure(r, 'from-dir into a store on a read-only file system');
    assert.equal(r.stderr, `lading: cannot create ${join(ro, 'store')}: no such parent directory, or a read-only file system\n`);
  } finally {
    await execFileP('umount', [ro]);
  }
});
