import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { digestOf } from '../../core/index.js';
import { applyLayer, assembleImage, describe as describeDoc, MediaType, OciError, readLayerEntries, type LayerEntry } from '../index.js';
import { buildToBuffer, hasProgram, run, tempDir } from '../../../test/helpers/oci-layer.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from './tar.js';

const EPOCH = 1700000000;

/** A tar written member by member with no validation at all: how hostile layers look. */
function rawTar(members: Array<Partial<TarHeader> & { name: string; content?: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const content = Buffer.from(m.content ?? '');
    const h: TarHeader = { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: EPOCH, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map(), ...m, size: m.type && m.type !== 'file' ? 0 : content.length };
    parts.push(encodeHeader(h), content, Buffer.alloc(padding(content.length)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

async function apply(root: string, tar: Buffer, options: { xattrs?: boolean } = {}) {
  return applyLayer({ stream: Readable.from([tar]), root, ...options });
}

async function layerOf(entries: LayerEntry[]): Promise<Buffer> {
  return (await buildToBuffer({ entries, sourceDateEpoch: EPOCH, compression: 'none' })).blob;
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

async function setup(t: { after: (fn: () => Promise<unknown>) => void }) {
  const base = await tempDir('lading-apply-');
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'do not touch\n');
  t.after(() => rm(base, { recursive: true, force: true }));
  return { base, root, outside };
}

test('symlinks in a path are followed as if root were /: writing through a link to the outside stays inside', async (t) => {
  const { root, outside } = await setup(t);
  const passwdBefore = await readFile('/etc/passwd');
  const tar = rawTar([
    { name: 'evil', type: 'symlink', linkname: outside },
    { name: 'evil/x', content: 'escaped?' },
    { name: 'rel', type: 'symlink', linkname: '../../../../../../../../..' + outside },
    { name: 'rel/y', content: 'escaped?' },
    { name: 'up', type: 'symlink', linkname: '..' },
    { name: 'up/up/z', content: 'at the root' },
    { name: 'a', type: 'symlink', linkname: 'b' },
    { name: 'b', type: 'symlink', linkname: '/' },
    { name: 'a/etc/passwd', content: 'root::0:0::/:/bin/sh\n' },
    { name: 'evil/secret', content: 'overwritten?' },
  ]);
  await apply(root, tar);
  assert.equal(await exists(join(outside, 'x')), false);
  assert.equal(await exists(join(outside, 'y')), false);
  assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'do not touch\n');
  assert.ok((await readFile('/etc/passwd')).equals(passwdBefore));
  // Where the members went instead: <root><outside>/x, <root>/z, <root>/etc/passwd.
  assert.equal(await readFile(join(root, outside, 'x'), 'utf8'), 'escaped?');
  assert.equal(await readFile(join(root, outside, 'y'), 'utf8'), 'escaped?');
  assert.equal(await readFile(join(root, outside, 'secret'), 'utf8'), 'overwritten?');
  assert.equal(await readFile(join(root, 'z'), 'utf8'), 'at the root');
  assert.equal(await readFile(join(root, 'etc/passwd'), 'utf8'), 'root::0:0::/:/bin/sh\n');
  assert.equal(await readlink(join(root, 'evil')), outside); // the link itself is kept as written
});

test('a member replacing a symlink replaces the link, never its target', async (t) => {
  const { root, outside } = await setup(t);
  await apply(root, rawTar([{ name: 'conf', type: 'symlink', linkname: join(outside, 'secret') }, { name: 'dirlink', type: 'symlink', linkname: outside }]));
  await apply(root, rawTar([{ name: 'conf', content: 'new' }, { name: 'dirlink/', type: 'dir' }, { name: 'dirlink/f', content: 'inside' }]));
  assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'do not touch\n');
  assert.equal((await lstat(join(root, 'conf'))).isFile(), true);
  // The link resolved (inside root) to nothing, so the directory member replaced it.
  assert.equal((await lstat(join(root, 'dirlink'))).isDirectory(), true);
  assert.deepEqual(await readdir(outside), ['secret']);
});

test('unsafe names and hardlinks are refused naming the member; nothing links to files outside', async (t) => {
  const { root } = await setup(t);
  const nlink = (await stat('/etc/passwd')).nlink;
  const refuse = async (tar: Buffer, code: string, re: RegExp) =>
    assert.rejects(apply(root, tar), (e: unknown) => e instanceof OciError && e.code === code && re.test(e.message));
  await refuse(rawTar([{ name: '../x', content: 'x' }]), 'TAR_UNSAFE_PATH', /tar member "\.\.\/x": path has a '\.\.' component/);
  await refuse(rawTar([{ name: 'a/../../x', content: 'x' }]), 'TAR_UNSAFE_PATH', /"a\/\.\.\/\.\.\/x"/);
  await refuse(rawTar([{ name: '/etc/cron.d/x', content: 'x' }]), 'TAR_UNSAFE_PATH', /"\/etc\/cron\.d\/x": absolute path/);
  await refuse(rawTar([{ name: 'pw', type: 'hardlink', linkname: '/etc/passwd' }]), 'TAR_UNSAFE_PATH', /"pw": hardlink target/);
  await refuse(rawTar([{ name: 'pw', type: 'hardlink', linkname: '../../../../etc/passwd' }]), 'TAR_UNSAFE_PATH', /'\.\.' component/);
  await refuse(rawTar([{ name: 'e', type: 'symlink', linkname: '/etc' }, { name: 'pw', type: 'hardlink', linkname: 'e/passwd' }]), 'LAYER_INVALID', /"pw": hardlink target "e\/passwd" does not exist/);
  await refuse(rawTar([{ name: 'l1', type: 'symlink', linkname: 'l2' }, { name: 'l2', type: 'symlink', linkname: 'l1' }, { name: 'l1/x', content: '' }]), 'TAR_UNSAFE_PATH', /"l1\/x": too many levels of symbolic links/);
  await refuse(rawTar([{ name: 'f', content: 'x' }, { name: 'f/g', content: 'y' }]), 'LAYER_INVALID', /"f\/g": parent "f" is not a directory/);
  assert.equal((await stat('/etc/passwd')).nlink, nlink);
  // A hardlink to a symlink that points outside links the symlink, not its target.
  const { root: r2, outside } = await setup(t);
  await apply(r2, rawTar([{ name: 's', type: 'symlink', linkname: join(outside, 'secret') }, { name: 'h', type: 'hardlink', linkname: 's' }]));
  assert.equal((await lstat(join(r2, 'h'))).isSymbolicLink(), true);
  assert.equal((await stat(join(outside, 'secret'))).nlink, 1);
});

test('corrupt and truncated tar streams are TAR_INVALID', async (t) => {
  const { root } = await setup(t);
  const good = rawTar([{ name: 'a', content: 'hello' }]);
  const corrupt = Buffer.from(good);
  corrupt[10] = 0x41; // inside the name: the checksum no longer matches
  await assert.rejects(apply(root, corrupt), (e: unknown) => e instanceof OciError && e.code === 'TAR_INVALID' && /checksum mismatch/.test(e.message));
  await assert.rejects(apply(root, good.subarray(0, 600)), (e: unknown) => e instanceof OciError && e.code === 'TAR_INVALID' && /"a": tar stream ends inside the content/.test(e.message));
  await assert.rejects(apply(root, Buffer.concat([encodeHeader({ name: 's', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() }).fill(0x53, 156, 157)])), /checksum|unsupported/);
});

test('whiteouts and opaque directories hide lower layers only', async (t) => {
  const { root } = await setup(t);
  await apply(
    root,
    await layerOf([
      { path: 'a/1', type: 'file', content: 'one' },
      { path: 'a/2', type: 'file', content: 'two' },
      { path: 'b/keep', type: 'file', content: 'lower' },
      { path: 'c/old', type: 'file', content: 'old' },
      { path: 'c/sub/deep', type: 'file', content: 'old' },
      { path: 'd/gone/x', type: 'file', content: 'x' },
    ]),
  );
  const upper = await layerOf([
    { path: 'a/1', type: 'whiteout' },
    { path: 'b/keep', type: 'whiteout' },
    { path: 'b/keep', type: 'file', content: 'upper' }, // same layer: not hidden
    { path: 'c', type: 'opaque' },
    { path: 'c', type: 'dir' },
    { path: 'c/new', type: 'file', content: 'new' },
    { path: 'd/gone', type: 'whiteout' },
  ]);
  const result = await apply(root, upper);
  assert.equal(result.whiteouts, 4);
  assert.deepEqual(await readdir(join(root, 'a')), ['2']);
  assert.equal(await readFile(join(root, 'b/keep'), 'utf8'), 'upper');
  assert.deepEqual(await readdir(join(root, 'c')), ['new']);
  assert.deepEqual(await readdir(join(root, 'd')), []);
  // The whiteout after the file (another writer's order) does not hide it either.
  await apply(root, rawTar([{ name: 'b/keep', content: 'again' }, { name: 'b/.wh.keep' }, { name: 'c/later', content: 'l' }, { name: 'c/.wh..wh..opq' }]));
  assert.equal(await readFile(join(root, 'b/keep'), 'utf8'), 'again');
  assert.deepEqual(await readdir(join(root, 'c')), ['later']);
});

test('a directory member keeps a merged-/usr link to a directory and replaces other things, other links to directories too', async (t) => {
  const { root } = await setup(t);
  await apply(root, await layerOf([{ path: 'usr/bin/sh', type: 'file', content: 'sh' }, { path: 'bin', type: 'symlink', linkname: 'usr/bin' }, { path: 'lib', type: 'symlink', linkname: '/usr/lib' }, { path: 'usr/lib', type: 'dir' }, { path: 'f', type: 'file' }, { path: 'd/x', type: 'file' }, { path: 'usr/local/share/man/man1/k.1', type: 'file', content: 'k' }, { path: 'usr/local/man', type: 'symlink', linkname: 'share/man' }]));
  await apply(root, await layerOf([
    { path: 'bin', type: 'dir' },
    { path: 'bin/ls', type: 'file', content: 'ls' },
    { path: 'lib', type: 'dir' },
    { path: 'lib/libc.so.6', type: 'file', content: 'libc' },
    { path: 'f', type: 'dir' },
    { path: 'd', type: 'symlink', linkname: 'usr' },
    // A link turned into a directory (rm link && mkdir): the opaque marker is the new directory's.
    { path: 'usr/local/man', type: 'opaque' },
    { path: 'usr/local/man', type: 'dir' },
    { path: 'usr/local/man/x', type: 'file', content: 'x' },
  ]));
  assert.equal((await lstat(join(root, 'usr/local/man'))).isDirectory(), true);
  assert.deepEqual(await readdir(join(root, 'usr/local/man')), ['x']);
  assert.equal(await readFile(join(root, 'usr/local/share/man/man1/k.1'), 'utf8'), 'k');
  assert.equal(await readlink(join(root, 'bin')), 'usr/bin');
  assert.equal(await readFile(join(root, 'usr/bin/ls'), 'utf8'), 'ls');
  assert.equal(await readFile(join(root, 'usr/bin/sh'), 'utf8'), 'sh');
  assert.equal(await readlink(join(root, 'lib')), '/usr/lib');
  assert.equal(await readFile(join(root, 'usr/lib/libc.so.6'), 'utf8'), 'libc');
  assert.equal((await lstat(join(root, 'f'))).isDirectory(), true);
  assert.equal(await readlink(join(root, 'd')), 'usr');
});

test('modes (setuid, sticky, read-only directories), mtimes, owners and hardlinks are applied', async (t) => {
  const { root } = await setup(t);
  const tar = await layerOf([
    { path: 'ro', type: 'dir', mode: 0o555, mtime: 1000 },
    { path: 'ro/file', type: 'file', content: 'x', mode: 0o4755, uid: 1234, gid: 2345, mtime: 2000 },
    { path: 'ro/link', type: 'hardlink', linkname: 'ro/file' },
    { path: 'tmp', type: 'dir', mode: 0o1777, mtime: 3000 },
    { path: 'tmp/sym', type: 'symlink', linkname: '../ro/file', mtime: 4000, uid: 7, gid: 8 },
  ]);
  const r = await apply(root, tar);
  assert.equal(r.entries, 5);
  const dir = await stat(join(root, 'ro'));
  assert.equal(dir.mode & 0o7777, 0o555);
  assert.equal(dir.mtimeMs, 1000_000);
  const f = await stat(join(root, 'ro/file'));
  assert.equal(f.mode & 0o7777, 0o4755);
  assert.equal(f.mtimeMs, 2000_000);
  assert.equal(f.nlink, 2);
  assert.equal((await stat(join(root, 'tmp'))).mode & 0o7777, 0o1777);
  const l = await lstat(join(root, 'tmp/sym'));
  assert.equal(l.mtimeMs, 4000_000);
  if (process.getuid?.() === 0) {
    assert.deepEqual([f.uid, f.gid], [1234, 2345]);
    assert.deepEqual([l.uid, l.gid], [7, 8]);
  }
});

test('xattrs are restored with setfattr when asked, else counted', async (t) => {
  if (!(await hasProgram('setfattr'))) assert.fail('setfattr missing: install the Debian package attr (scripts/bootstrap does)');
  const { root } = await setup(t);
  const tar = await layerOf([
    { path: 'dir with space', type: 'dir' },
    { path: 'dir with space/f=1', type: 'file', content: 'x', xattrs: { 'user.bin': new Uint8Array([0, 255, 10]), 'trusted.t': 'v' } },
  ]);
  assert.equal((await apply(root, tar)).xattrsSkipped, 1);
  const probe = await run('setfattr', ['-n', 'user.probe', '-v', '1', join(root, 'dir with space/f=1')]);
  if (probe.code !== 0) {
    t.skip(`this filesystem refuses user xattrs: ${probe.stderr.trim()}`);
    return;
  }
  const { root: r2 } = await setup(t);
  assert.equal((await apply(r2, tar, { xattrs: true })).xattrsSkipped, 0);
  const g = await run('getfattr', ['-d', '-m', '-', '-e', 'hex', join(r2, 'dir with space/f=1')]);
  assert.match(g.stdout.toString(), /user\.bin=0x00ff0a/);
  assert.match(g.stdout.toString(), /trusted\.t=0x76/);
});

test('umoci unpacks a two-layer lading image to the same tree as applyLayer', async (t) => {
  if (!(await hasProgram('umoci'))) assert.fail('umoci missing: scripts/bootstrap installs it');
  const { base, root } = await setup(t);
  const lower: LayerEntry[] = [
    { path: 'etc', type: 'dir' },
    { path: 'etc/keep', type: 'file', content: 'keep' },
    { path: 'etc/drop', type: 'file', content: 'drop' },
    { path: 'opt/app/old', type: 'file', content: 'old' },
    { path: 'usr/bin/tool', type: 'file', content: 'tool', mode: 0o755 },
    { path: 'usr/bin/alias', type: 'hardlink', linkname: 'usr/bin/tool' },
    { path: 'usr/bin/link', type: 'symlink', linkname: 'tool' },
    { path: 'srv/fifo', type: 'fifo', mode: 0o640 },
    { path: 'srv/null', type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 },
    { path: 'run', type: 'dir' },
    { path: 'var/run', type: 'symlink', linkname: '/run' },
  ];
  const upper: LayerEntry[] = [
    { path: 'var/run', type: 'opaque' },
    { path: 'var/run', type: 'dir' },
    { path: 'var/run/pid', type: 'file', content: '1' },
    { path: 'etc/drop', type: 'whiteout' },
    { path: 'opt/app', type: 'opaque' },
    { path: 'opt/app', type: 'dir' },
    { path: 'opt/app/new', type: 'file', content: 'new' },
    { path: 'etc/keep', type: 'file', content: 'changed', mode: 0o600 },
  ];
  const layout = join(base, 'layout');
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
  const putBlob = (data: Uint8Array) => writeFile(join(layout, 'blobs/sha256', digestOf(data).slice(7)), data);
  const layers = [];
  for (const entries of [lower, upper]) {
    const { result, blob } = await buildToBuffer({ entries, sourceDateEpoch: EPOCH, synthesizeParents: true });
    await putBlob(blob);
    layers.push(result);
    await apply(root, gunzipSync(blob));
  }
  const image = assembleImage({ layers, platform: { architecture: 'amd64', os: 'linux' }, created: EPOCH });
  await putBlob(image.config.raw);
  await putBlob(image.manifest.raw);
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...describeDoc(image.manifest), annotations: { 'org.opencontainers.image.ref.name': 'test' } }] }),
  );
  const bundle = join(base, 'bundle');
  const u = await run('umoci', ['unpack', '--image', `${layout}:test`, bundle]);
  assert.equal(u.code, 0, u.stderr);
  const diff = await run('diff', ['-r', '--no-dereference', root, join(bundle, 'rootfs')]);
  // diff -r names special files of the same kind on both sides as a difference; anything else is one.
  const differences = diff.stdout.toString().split('\n').filter((l) => l !== '' && !/^File .+ is a (.+) while file .+ is a \1$/.test(l));
  assert.deepEqual(differences, []);
  assert.ok(diff.code === 0 || diff.code === 1, diff.stderr.toString());
  // Special files: their kind, numbers and modes, as umoci made them.
  for (const p of ['srv/fifo', 'srv/null', 'var/run']) {
    const [ours, theirs] = await Promise.all([lstat(join(root, p)), lstat(join(bundle, 'rootfs', p))]);
    assert.deepEqual([ours.mode, ours.rdev, ours.uid, ours.mtimeMs], [theirs.mode, theirs.rdev, theirs.uid, theirs.mtimeMs], p);
  }
  assert.equal((await lstat(join(root, 'srv/fifo'))).isFIFO(), true);
  const listed = await readLayerEntries({ stream: Readable.from([gunzipSync(Buffer.from(await readFile(join(layout, 'blobs/sha256', layers[1]!.descriptor.digest.slice(7)))))]) });
  assert.deepEqual(listed.filter((e) => e.type === 'whiteout' || e.type === 'opaque').map((e) => `${e.type} ${e.path}`), ['whiteout etc/drop', 'opaque opt/app', 'opaque var/run']);
});
