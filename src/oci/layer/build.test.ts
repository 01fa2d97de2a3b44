import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chown, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { digestOf } from '../../core/index.js';
import { assembleImage, buildLayer, MediaType, OciError, readLayerEntries, type LayerEntry } from '../index.js';
import { buildToBuffer, hasProgram, LONG, makeFixtureTree, pseudoRandom, run, tempDir } from '../../../test/helpers/oci-layer.js';

const EPOCH = 1700000000; // 2023-11-14T22:13:20Z
const TESTDATA = join(import.meta.dirname, '..', 'testdata');

// Golden values of the fixture tree (test/helpers/oci-layer.ts makeFixtureTree) at EPOCH.
// diff_id is the tar itself and does not depend on the compressor; the gzip digest is for
// lading's blocked gzip at level 6 (Node's bundled zlib). If a change here is intended, check
// the tar listing in src/oci/testdata/fixture-tree.tar-tv.txt first.
const GOLDEN_DIFF_ID = 'sha256:b473c5e17cf9d73fead7c942ba5f43f0daf3e5ce41611bfe0cc706ba253f8ad8';
const GOLDEN_MANIFEST = 'sha256:bdd4da952300a1b28cc956fc021ee14f4f363b4ae35632d90c96e7ba3bde1c6f';
const GOLDEN_GZIP = { digest: 'sha256:6ac0a1e342670f5396a3f62a0a4ac90bdc97cae62606b9f3ffe02ed38c6cd39a', size: 3148245 };

const gnuPosix = ['--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '--sort=name', '--numeric-owner', '--owner=0', '--group=0', `--mtime=@${EPOCH}`, '--clamp-mtime'];

async function fixture(mtime = EPOCH + 86400): Promise<string> {
  const dir = await tempDir('lading-fixture-');
  await makeFixtureTree(join(dir, 'tree'), mtime);
  return join(dir, 'tree');
}

test('golden layer: fixture tree gives a pinned diff_id, gzip digest and manifest digest; GNU tar lists it as expected', async (t) => {
  const dir = await fixture();
  t.after(() => rm(join(dir, '..'), { recursive: true, force: true }));
  const { result, blob } = await buildToBuffer({ dir, sourceDateEpoch: EPOCH });
  const tar = gunzipSync(blob);
  assert.equal(digestOf(tar), result.diffId);
  assert.equal(tar.length, result.uncompressedSize);
  assert.equal(digestOf(blob), result.descriptor.digest);
  assert.equal(blob.length, result.descriptor.size);
  assert.equal(result.descriptor.mediaType, MediaType.OciLayerGzip);
  const listing = await run('tar', ['-tvf', '-', '--numeric-owner', '--utc'], { input: tar, env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } });
  assert.equal(listing.code, 0, listing.stderr);
  const expected = await readFile(join(TESTDATA, 'fixture-tree.tar-tv.txt'), 'utf8');
  assert.equal(listing.stdout.toString('utf8'), expected);
  assert.equal(result.entries, expected.trim().split('\n').length);
  assert.equal(result.diffId, GOLDEN_DIFF_ID);
  assert.deepEqual({ digest: result.descriptor.digest, size: result.descriptor.size }, GOLDEN_GZIP);
  const image = assembleImage({ layers: [result], platform: { architecture: 'amd64', os: 'linux' }, created: EPOCH, config: { Cmd: ['/usr/bin/tool'] } });
  assert.equal(image.manifest.digest, GOLDEN_MANIFEST);
});

test('same tree twice, from another path, with other mtimes above the epoch and other owners: same layer and manifest digests', async (t) => {
  const a = await fixture(EPOCH + 10);
  const b = await fixture(EPOCH + 99999);
  t.after(() => Promise.all([rm(join(a, '..'), { recursive: true, force: true }), rm(join(b, '..'), { recursive: true, force: true })]));
  if (process.getuid?.() === 0) await chown(join(b, 'etc/app/config.yaml'), 1234, 5678); // owner policy 'root' ignores it
  const manifestOf = async (dir: string) => {
    const { result } = await buildToBuffer({ dir, sourceDateEpoch: EPOCH });
    return { result, image: assembleImage({ layers: [result], platform: { architecture: 'amd64', os: 'linux' }, created: EPOCH }) };
  };
  const first = await manifestOf(a);
  const again = await manifestOf(a);
  const other = await manifestOf(b);
  assert.deepEqual(again.result, first.result);
  assert.deepEqual(other.result, first.result);
  assert.equal(other.image.manifest.digest, first.image.manifest.digest);
  // Owners are kept on request, and then they change the digest.
  if (process.getuid?.() === 0) {
    const kept = await buildToBuffer({ dir: b, sourceDateEpoch: EPOCH, owner: 'keep' });
    assert.notEqual(kept.result.diffId, first.result.diffId);
  }
  // An mtime below the epoch is kept, so it changes the diff_id.
  const older = await fixture(EPOCH - 100);
  t.after(() => rm(join(older, '..'), { recursive: true, force: true }));
  assert.notEqual((await buildToBuffer({ dir: older, sourceDateEpoch: EPOCH })).result.diffId, first.result.diffId);
});

test('tar bytes equal GNU tar --format=posix with mmdebstrap options (minus GNU record padding)', async (t) => {
  const dir = await fixture();
  t.after(() => rm(join(dir, '..'), { recursive: true, force: true }));
  // GNU's posix format writes names of 101-256 bytes as pax paths where lading uses the ustar
  // prefix field, so the subtrees with such names are compared against GNU's ustar format below.
  const { blob } = await buildToBuffer({ dir, sourceDateEpoch: EPOCH, compression: 'none', filter: (p) => p !== LONG.dir && p !== LONG.deep[0] });
  const top = ['etc', LONG.base, 'usr', 'var'];
  const gnu = await run('tar', [...gnuPosix, '-C', dir, '-cf', '-', ...top]);
  assert.equal(gnu.code, 0, gnu.stderr);
  assert.equal(blob.length % 512, 0);
  assert.ok(gnu.stdout.length >= blob.length);
  assert.ok(gnu.stdout.subarray(0, blob.length).equals(blob), 'lading tar differs from GNU tar');
  assert.ok(gnu.stdout.subarray(blob.length).every((b) => b === 0));

  const ustar = await buildToBuffer({ dir, sourceDateEpoch: EPOCH, compression: 'none', filter: (p) => p.startsWith(LONG.dir) });
  const gnuUstar = await run('tar', ['--format=ustar', '--sort=name', '--numeric-owner', '--owner=0', '--group=0', `--mtime=@${EPOCH}`, '--clamp-mtime', '-C', dir, '-cf', '-', LONG.dir]);
  assert.equal(gnuUstar.code, 0, gnuUstar.stderr);
  assert.ok(gnuUstar.stdout.subarray(0, ustar.blob.length).equals(ustar.blob), 'lading tar differs from GNU tar (ustar prefix split)');
});

test('GNU tar extracts the layer to the same tree; gzip -t, zstd -t accept the compressed forms', async (t) => {
  const dir = await fixture();
  const out = await tempDir();
  t.after(() => Promise.all([rm(join(dir, '..'), { recursive: true, force: true }), rm(out, { recursive: true, force: true })]));
  const gz = await buildToBuffer({ dir, sourceDateEpoch: EPOCH });
  const tar = gunzipSync(gz.blob);
  const x = await run('tar', ['-xpf', '-', '-C', out], { input: tar });
  assert.equal(x.code, 0, x.stderr);
  const diff = await run('diff', ['-r', '--no-dereference', dir, out]);
  assert.equal(diff.code, 0, diff.stdout.toString());
  assert.equal((await run('gzip', ['-t'], { input: gz.blob })).code, 0);

  const stream = await buildToBuffer({ dir, sourceDateEpoch: EPOCH, gzipFormat: 'stream' });
  assert.equal((await run('gzip', ['-t'], { input: stream.blob })).code, 0);
  assert.equal(stream.result.diffId, gz.result.diffId);
  assert.notEqual(stream.result.descriptor.digest, gz.result.descriptor.digest);

  const zst = await buildToBuffer({ dir, sourceDateEpoch: EPOCH, compression: 'zstd' });
  assert.equal(zst.result.descriptor.mediaType, MediaType.OciLayerZstd);
  assert.equal((await run('zstd', ['-t', '-q'], { input: zst.blob })).code, 0);
  const unz = await run('zstd', ['-d', '-c', '-q'], { input: zst.blob });
  assert.equal(digestOf(unz.stdout), gz.result.diffId);

  const plain = await buildToBuffer({ dir, sourceDateEpoch: EPOCH, compression: 'none' });
  assert.equal(plain.result.descriptor.digest, gz.result.diffId);
  assert.equal(plain.result.descriptor.mediaType, MediaType.OciLayer);
  assert.ok(plain.blob.equals(tar));
});

test('an empty layer is the 1024-byte empty tar; gzipped it matches Node zlib.gzipSync (oci-image.md section 13)', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { result, blob } = await buildToBuffer({ dir, sourceDateEpoch: EPOCH });
  assert.equal(result.diffId, 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
  assert.equal(result.uncompressedSize, 1024);
  assert.equal(result.entries, 0);
  // A single block with no dictionary is plain deflate: the same 29 bytes as Node's gzipSync.
  assert.equal(blob.toString('hex'), '1f8b0800000000000003636018 05a360148c5400002eafb5ef00040000'.replace(' ', ''));
  assert.deepEqual(result.descriptor, { mediaType: MediaType.OciLayerGzip, digest: 'sha256:7989bb311baa38ef545250282aa065d23281c46dfb8faabe4c653487bdbded5c', size: 29 });
});

test('blocked gzip: same bytes whatever the concurrency; the level changes the digest, not the diff_id', async () => {
  const entries: LayerEntry[] = [
    { path: 'a.bin', type: 'file', content: pseudoRandom(2_500_000, 7) },
    { path: 'b.txt', type: 'file', content: 'text '.repeat(400_000) },
  ];
  const one = await buildToBuffer({ entries, sourceDateEpoch: EPOCH, concurrency: 1 });
  const four = await buildToBuffer({ entries, sourceDateEpoch: EPOCH, concurrency: 4 });
  assert.ok(one.blob.equals(four.blob));
  assert.ok(one.result.uncompressedSize > 4 * 1024 * 1024); // several blocks
  const fast = await buildToBuffer({ entries, sourceDateEpoch: EPOCH, level: 1 });
  assert.equal(fast.result.diffId, one.result.diffId);
  assert.notEqual(fast.result.descriptor.digest, one.result.descriptor.digest);
  assert.equal(fast.blob[8], 4); // XFL: fastest
  assert.deepEqual([...one.blob.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  assert.ok(gunzipSync(one.blob).length === one.result.uncompressedSize);
});

test('in-memory entries: any input order gives one layer; whiteouts, opaque markers, hardlinks, devices', async () => {
  const entries: LayerEntry[] = [
    { path: 'etc/passwd', type: 'file', content: 'root:x:0:0::/root:/bin/sh\n', mtime: EPOCH + 5 },
    { path: './etc/', type: 'dir' },
    { path: 'etc/old.conf', type: 'whiteout' },
    { path: 'var/cache', type: 'opaque' },
    { path: 'var/cache/new', type: 'file', content: new Uint8Array([1, 2, 3]), uid: 100, gid: 101, mode: 0o600 },
    { path: 'var', type: 'dir', mode: 0o755 },
    { path: 'var/cache', type: 'dir' },
    { path: 'var/cache/-first', type: 'file' },
    { path: 'bin/b', type: 'hardlink', linkname: 'bin/c' },
    { path: 'bin/c', type: 'file', content: 'binary', mode: 0o755, mtime: 1000 },
    { path: 'bin/a', type: 'hardlink', linkname: './bin/b' },
    { path: 'bin', type: 'dir' },
    { path: 'dev/null', type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 },
    { path: 'dev/fifo', type: 'fifo' },
    { path: 'dev', type: 'dir' },
    { path: 'big-uid', type: 'file', uid: 3_000_000, gid: 2 ** 32 - 1 },
    { path: 'stream', type: 'file', content: { size: 5, open: () => Readable.from([Buffer.from('he'), Buffer.from('llo')]) } },
  ];
  const a = await buildToBuffer({ entries, sourceDateEpoch: EPOCH, compression: 'none' });
  const b = await buildToBuffer({ entries: [...entries].reverse(), sourceDateEpoch: EPOCH, compression: 'none' });
  assert.ok(a.blob.equals(b.blob));
  const listed = await readLayerEntries({ stream: Readable.from([a.blob]), digests: true });
  assert.deepEqual(
    listed.map((e) => `${e.type} ${e.path}${e.linkname ? ` -> ${e.linkname}` : ''}`),
    [
      'file big-uid',
      'dir bin',
      'file bin/a', // the first path of the hardlink group carries the content
      'hardlink bin/b -> bin/a',
      'hardlink bin/c -> bin/a',
      'dir dev',
      'fifo dev/fifo',
      'chardev dev/null',
      'dir etc',
      'whiteout etc/old.conf', // whiteouts before their siblings
      'file etc/passwd',
      'file stream',
      'dir var',
      'dir var/cache',
      'opaque var/cache', // the opaque marker first in its directory
      'file var/cache/-first',
      'file var/cache/new',
    ],
  );
  const get = (p: string, type?: string) => listed.find((e) => e.path === p && (!type || e.type === type))!;
  assert.equal(get('bin/a').mode, 0o755);
  assert.equal(get('bin/a').mtime, 1000);
  assert.equal(get('bin/a').digest, digestOf('binary'));
  assert.equal(get('etc/passwd').mtime, EPOCH); // clamped
  assert.equal(get('var').mtime, EPOCH); // missing mtime -> epoch
  assert.deepEqual([get('var/cache/new').uid, get('var/cache/new').gid, get('var/cache/new').mode], [100, 101, 0o600]);
  assert.deepEqual([get('big-uid').uid, get('big-uid').gid], [3_000_000, 2 ** 32 - 1]);
  assert.deepEqual([get('dev/null').devmajor, get('dev/null').devminor], [1, 3]);
  assert.equal(get('stream').digest, digestOf('hello'));
  // GNU tar agrees on names, types and the big ids (pax uid/gid records).
  const gnu = await run('tar', ['-tvf', '-', '--numeric-owner'], { input: a.blob });
  assert.equal(gnu.code, 0, gnu.stderr);
  const text = gnu.stdout.toString();
  assert.match(text, /-rw-r--r-- 3000000\/4294967295 +0 .* big-uid\n/);
  assert.match(text, / etc\/\.wh\.old\.conf\n/);
  assert.match(text, / var\/cache\/\.wh\.\.wh\.\.opq\n/);
  assert.match(text, /bin\/b link to bin\/a\n/);
  assert.match(text, /crw-rw-rw- 0\/0 +1,3 .* dev\/null\n/);
});

test('long names, long symlink targets, non-ASCII names and binary xattrs round-trip through the reader and GNU tar', async (t) => {
  const deep = `${'x'.repeat(120)}/${'y'.repeat(120)}/${'z'.repeat(120)}`;
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // security.capability, binary with NULs
  const entries: LayerEntry[] = [
    { path: deep, type: 'file', content: 'deep' },
    { path: `${'s'.repeat(100)}/${'n'.repeat(100)}`, type: 'file', content: 'split' },
    { path: 'link', type: 'symlink', linkname: `/${'t'.repeat(300)}` },
    { path: 'ünï/cödé ✓', type: 'file', content: 'utf8' },
    { path: 'cap', type: 'file', content: 'x', xattrs: { 'security.capability': cap, 'user.note': 'héllo' } },
  ];
  const { blob } = await buildToBuffer({ entries, sourceDateEpoch: EPOCH, compression: 'none', synthesizeParents: true });
  const listed = await readLayerEntries({ stream: Readable.from([blob]) });
  assert.ok(listed.some((e) => e.path === deep && e.type === 'file'));
  assert.ok(listed.some((e) => e.path === 'ünï/cödé ✓'));
  assert.equal(listed.find((e) => e.path === 'link')?.linkname, `/${'t'.repeat(300)}`);
  const capEntry = listed.find((e) => e.path === 'cap');
  assert.deepEqual(Buffer.from(capEntry?.xattrs?.['security.capability'] ?? []), cap);
  assert.equal(Buffer.from(capEntry?.xattrs?.['user.note'] ?? []).toString(), 'héllo');
  // Synthesised parents: 0755 root directories.
  const parent = listed.find((e) => e.path === 'x'.repeat(120));
  assert.deepEqual([parent?.type, parent?.mode, parent?.uid], ['dir', 0o755, 0]);

  const out = await tempDir();
  t.after(() => rm(out, { recursive: true, force: true }));
  const x = await run('tar', ['--xattrs', "--xattrs-include=*", '-xpf', '-', '-C', out], { input: blob });
  assert.equal(x.code, 0, x.stderr);
  assert.equal(await readFile(join(out, deep), 'utf8'), 'deep');
  assert.equal(await readFile(join(out, 'ünï/cödé ✓'), 'utf8'), 'utf8');
  if (await hasProgram('getfattr')) {
    const g = await run('getfattr', ['-d', '-m', '-', '-e', 'hex', join(out, 'cap')]);
    assert.match(g.stdout.toString(), new RegExp(`security.capability=0x${cap.toString('hex')}`));
  }
});

test('xattrs of a directory source are read with getfattr when asked, and only then', async (t) => {
  if (!(await hasProgram('setfattr'))) {
    assert.fail('getfattr/setfattr missing: install the Debian package attr (scripts/bootstrap does)');
  }
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'f'), 'x');
  const set = await run('setfattr', ['-n', 'user.lading', '-v', '0x00ff41', join(dir, 'f')]);
  if (set.code !== 0) {
    t.skip(`this filesystem refuses user xattrs: ${set.stderr.trim()}`);
    return;
  }
  const without = await buildToBuffer({ dir, sourceDateEpoch: EPOCH, compression: 'none' });
  assert.equal((await readLayerEntries({ stream: Readable.from([without.blob]) }))[0]?.xattrs, undefined);
  const withX = await buildToBuffer({ dir, sourceDateEpoch: EPOCH, compression: 'none', xattrs: true });
  const e = (await readLayerEntries({ stream: Readable.from([withX.blob]) }))[0];
  assert.deepEqual(Buffer.from(e?.xattrs?.['user.lading'] ?? []), Buffer.from([0, 0xff, 0x41]));
});

test('refusals name the entry: .., absolute, .wh. names, duplicates, bad hardlinks, entries below a symlink, wrong sizes', async () => {
  const refuse = async (entries: LayerEntry[], code: string, re: RegExp) => {
    await assert.rejects(buildToBuffer({ entries }), (e: unknown) => e instanceof OciError && e.code === code && re.test(e.message));
  };
  await refuse([{ path: '../x', type: 'file' }], 'TAR_UNSAFE_PATH', /"\.\.\/x": path has a '\.\.' component/);
  await refuse([{ path: 'a/../../x', type: 'dir' }], 'TAR_UNSAFE_PATH', /"a\/\.\.\/\.\.\/x"/);
  await refuse([{ path: '/etc/passwd', type: 'file' }], 'TAR_UNSAFE_PATH', /"\/etc\/passwd": absolute path/);
  await refuse([{ path: 'etc/.wh.passwd', type: 'file' }], 'TAR_UNSAFE_PATH', /"etc\/\.wh\.passwd": a regular entry may not be named/);
  await refuse([{ path: '.wh.dir/x', type: 'file' }], 'TAR_UNSAFE_PATH', /"\.wh\.dir\/x"/);
  await refuse([{ path: 'a', type: 'file' }, { path: './a', type: 'file' }], 'LAYER_INVALID', /"a": duplicate path/);
  await refuse([{ path: 'a', type: 'hardlink', linkname: 'missing' }], 'LAYER_INVALID', /"a": hardlink target "missing" is not in this layer/);
  await refuse([{ path: 'a', type: 'hardlink', linkname: '/etc/passwd' }], 'TAR_UNSAFE_PATH', /hardlink "a" target/);
  await refuse([{ path: 'd', type: 'dir' }, { path: 'a', type: 'hardlink', linkname: 'd' }], 'LAYER_INVALID', /is a dir, not a regular file/);
  await refuse([{ path: 'bin', type: 'symlink', linkname: 'usr/bin' }, { path: 'bin/ls', type: 'file' }], 'LAYER_INVALID', /"bin\/ls": its parent "bin" is a symlink/);
  await refuse([{ path: 's', type: 'symlink' }], 'LAYER_INVALID', /"s": a symlink needs a linkname/);
  await refuse([{ path: 'f', type: 'file', content: { size: 10, open: () => Readable.from([Buffer.from('short')]) } }], 'LAYER_INVALID', /"f": content has 5 bytes, declared 10/);
  await refuse([{ path: 'f', type: 'file', content: { size: 2, open: () => Readable.from([Buffer.from('long')]) } }], 'LAYER_INVALID', /"f": content is longer/);
  await refuse([{ path: 'x', type: 'whiteout' }, { path: '.wh.x', type: 'file' }], 'TAR_UNSAFE_PATH', /"\.wh\.x"/);
});

test('a directory source refuses .wh. files, skips sockets, and reports unreadable sources', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'etc'));
  await writeFile(join(dir, 'etc/.wh.oops'), '');
  await assert.rejects(buildToBuffer({ dir }), (e: unknown) => e instanceof OciError && e.code === 'TAR_UNSAFE_PATH' && /"etc\/\.wh\.oops"/.test(e.message));
  await rm(join(dir, 'etc/.wh.oops'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(dir, 'etc/sock'), resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {}, child() { return logger; } };
  const { result } = await buildToBuffer({ dir, logger });
  assert.equal(result.entries, 1);
  assert.match(warnings.join('\n'), /etc\/sock: socket skipped/);
  await assert.rejects(buildToBuffer({ dir: join(dir, 'nope') }), /layer source .*nope: does not exist/);
  await symlink('etc', join(dir, 'link'));
  await assert.rejects(buildToBuffer({ dir: join(dir, 'link') }), /not a directory/);
});

test('a failing sink fails the build with its own error; an abort stops it', async () => {
  const entries: LayerEntry[] = [{ path: 'big', type: 'file', content: pseudoRandom(4 << 20, 1) }];
  await assert.rejects(
    buildLayer({
      entries,
      sink: async (s) => {
        for await (const _ of s) throw new Error('disk full');
      },
    }),
    /disk full/,
  );
  const ctl = new AbortController();
  await assert.rejects(
    buildLayer({
      entries,
      signal: ctl.signal,
      sink: async (s) => {
        for await (const _ of s) ctl.abort();
      },
    }),
    (e: unknown) => (e as { code?: string }).code === 'ABORTED',
  );
  await assert.rejects(buildLayer({ entries, sink: async () => undefined }), /sink returned before reading the whole layer/);
});
