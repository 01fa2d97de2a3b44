// Unit tests of the builder's pure-ish parts on temporary directories: the dpkg database merge
// for child images, file-trigger matching, accounts, the cleanup list, copy-mode diffs, mtime
// clamping, chroot path resolution and the retry classification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, unlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tarBytes } from '../../../test/helpers/deb-writer.js';
import { removeXattrs } from '../../oci/index.js';
import { nullLogger } from '../../core/index.js';
import { BuildError } from '../errors.js';
import { applyAccounts, clampShadowDates, lookupId } from './accounts.js';
import { clampMtimes, diffSnapshots, snapshotTree, walkTree } from './diff.js';
import { fileTriggersFor, mergeDatabase, setAsideDatabase } from './dpkgdb.js';
import { failureCode, isTransient } from './family.js';
import { normaliseTree } from './normalise.js';
import { resolveInRoot } from './paths.js';
import { ociPlatform } from './platform.js';
import { withPolicyRcd } from './scripts.js';
import { placeFiles } from './files.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'lading-builder-unit-'));
}

function put(root: string, path: string, content: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), content);
}

test('the parent database is set aside and merged with what the unpacker wrote for the child', () => {
  const root = tmp();
  try {
    put(root, 'var/lib/dpkg/status', 'Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n\nPackage: bash\nStatus: install ok installed\nArchitecture: amd64\n\n');
    put(root, 'var/lib/dpkg/diversions', '/bin/sh\n/bin/sh.distrib\ndash\n');
    put(root, 'var/lib/dpkg/arch', 'amd64\n');
    put(root, 'var/lib/dpkg/triggers/File', '/usr/share/debianutils/shells.d debianutils/noawait\n');
    put(root, 'var/lib/dpkg/triggers/ldconfig', 'libc-bin/noawait\n');
    const saved = setAsideDatabase(root);
    assert.throws(() => statSync(join(root, 'var/lib/dpkg/status')), 'the unpacker must see no status file');
    // What unpackPackages writes for the child's packages (it overwrites the shared files).
    put(root, 'var/lib/dpkg/status', 'Package: curl\nStatus: install ok unpacked\nArchitecture: amd64\n\n');
    put(root, 'var/lib/dpkg/diversions', '');
    put(root, 'var/lib/dpkg/arch', 'amd64\ni386\n');
    put(root, 'var/lib/dpkg/triggers/File', '/usr/share/fonts fontconfig\n');
    put(root, 'var/lib/dpkg/triggers/ldconfig', 'other/noawait\n');
    mergeDatabase(saved);
    const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8');
    assert.deepEqual(
      [...status.matchAll(/^Package: (\S+)/gm)].map((m) => m[1]),
      ['bash', 'curl', 'zlib1g'],
    );
    assert.match(status, /\n\n$/);
    assert.equal(readFileSync(join(root, 'var/lib/dpkg/diversions'), 'utf8'), '/bin/sh\n/bin/sh.distrib\ndash\n');
    assert.equal(readFileSync(join(root, 'var/lib/dpkg/arch'), 'utf8'), 'amd64\ni386\n');
    assert.equal(readFileSync(join(root, 'var/lib/dpkg/triggers/File'), 'utf8'), '/usr/share/debianutils/shells.d debianutils/noawait\n/usr/share/fonts fontconfig\n');
    assert.equal(readFileSync(join(root, 'var/lib/dpkg/triggers/ldconfig'), 'utf8'), 'libc-bin/noawait\nother/noawait\n');
    assert.throws(() => statSync(join(root, 'var/lib/dpkg/status.lading-parent')));
    const admin = join(root, 'var/lib/dpkg');
    assert.deepEqual(fileTriggersFor(admin, ['/usr/share/fonts/truetype/x.ttf', '/usr/bin/curl']), ['/usr/share/fonts']);
    assert.deepEqual(fileTriggersFor(admin, ['/usr/share/fontsmore/x']), [], 'a trigger path is a directory prefix, not a string prefix');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a package installed in the parent cannot appear again in the child', () => {
  const root = tmp();
  try {
    put(root, 'var/lib/dpkg/status', 'Package: curl\nArchitecture: amd64\nStatus: install ok installed\n\n');
    const saved = setAsideDatabase(root);
    put(root, 'var/lib/dpkg/status', 'Package: curl\nArchitecture: amd64\nStatus: install ok unpacked\n\n');
    assert.throws(() => mergeDatabase(saved), (e: unknown) => e instanceof BuildError && e.code === 'UNPACK_FAILED' && /curl \(amd64\) is already installed/.test(e.message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('accounts: fixed ids added to passwd, group, shadow and gshadow; same entry kept; clashes named', () => {
  const root = tmp();
  try {
    put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n');
    put(root, 'etc/group', 'root:x:0:\nwww-data:x:33:\nadm:x:4:\n');
    put(root, 'etc/shadow', 'root:*:19000:0:99999:7:::\n');
    put(root, 'etc/gshadow', 'root:*::\nadm:*::\n');
    const users = [{ name: 'app', uid: 1500, gid: 1500, groups: ['adm'], home: '/home/app', shell: '/bin/sh', system: false, comment: 'the app' }];
    const groups = [{ name: 'app', gid: 1500, system: false, implicit: true }];
    const r = applyAccounts(root, 'img', users, groups, 20000);
    assert.deepEqual(r, { users: ['app'], groups: ['app'] });
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /\napp:x:1500:1500:the app:\/home\/app:\/bin\/sh\n$/);
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /\nadm:x:4:app\napp:x:1500:\n$/);
    assert.match(readFileSync(join(root, 'etc/shadow'), 'utf8'), /\napp:!:20000::::::\n$/);
    assert.match(readFileSync(join(root, 'etc/gshadow'), 'utf8'), /\nadm:\*::app\napp:!::\n$/);
    const home = statSync(join(root, 'home/app'));
    assert.equal(home.mode & 0o777, 0o700);
    assert.equal(lookupId(root, 'user', 'app'), 1500);
    assert.equal(lookupId(root, 'group', 'www-data'), 33);
    assert.equal(lookupId(root, 'user', 'nobody'), undefined);
    // Again: nothing changes.
    assert.deepEqual(applyAccounts(root, 'img', users, groups, 20000), { users: [], groups: [] });
    // A name with another id, an id with another name.
    assert.throws(() => applyAccounts(root, 'img', [{ ...users[0]!, uid: 1501 }], [], 0), /user app exists in the image with uid 1500, not 1501/);
    assert.throws(() => applyAccounts(root, 'img', [{ ...users[0]!, name: 'web', uid: 33, groups: [] }], [], 0), /uid 33 of user web is already user www-data/);
    assert.throws(() => applyAccounts(root, 'img', [], [{ name: 'web', gid: 4, system: true, implicit: false }], 0), /gid 4 of group web is already group adm/);
    // Dates a tool wrote later than the epoch are clamped.
    put(root, 'etc/shadow', 'root:*:19000:0:99999:7:::\nmessagebus:!:20500::::::\n');
    assert.equal(clampShadowDates(root, 20000), true);
    assert.equal(readFileSync(join(root, 'etc/shadow'), 'utf8'), 'root:*:19000:0:99999:7:::\nmessagebus:!:20000::::::\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('accounts made before the image has shadow files are locked, and stay locked when pwconv and grpconv make them', () => {
  const root = tmp();
  try {
    put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n');
    put(root, 'etc/group', 'root:x:0:\n');
    const users = [{ name: 'app', uid: 1500, gid: 1500, groups: [], home: '/home/app', shell: '/bin/sh', system: false, comment: '' }];
    applyAccounts(root, 'img', users, [{ name: 'app', gid: 1500, system: false, implicit: true }], 20000);
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /\napp:!:1500:1500::\/home\/app:\/bin\/sh\n$/);
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /\napp:!:1500:\n$/);
    // What passwd's postinst (shadowconfig on) does next; the host's shadow tools work on the tree.
    for (const tool of ['pwconv', 'grpconv']) {
      const r = spawnSync(tool, ['-R', root], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${tool}: ${r.stderr}`);
    }
    assert.match(readFileSync(join(root, 'etc/shadow'), 'utf8'), /\napp:!:\d+::::::\n$/);
    assert.match(readFileSync(join(root, 'etc/gshadow'), 'utf8'), /\napp:!::\n$/);
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /\napp:x:1500:/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the cleanup removes logs, caches, backups and temporary files, and empties machine-id', () => {
  const root = tmp();
  try {
    for (const p of ['var/log/dpkg.log', 'var/log/alternatives.log', 'var/cache/ldconfig/aux-cache', 'var/lib/dpkg/status-old', 'var/lib/dpkg/status', 'var/cache/debconf/templates.dat-old', 'etc/passwd-', 'tmp/x/y', 'run/lock/z', 'var/log/keep.log']) put(root, p, 'x');
    put(root, 'etc/machine-id', '0123456789abcdef\n');
    const removed = normaliseTree(root);
    assert.deepEqual(removed.sort(), ['/etc/machine-id', '/etc/passwd-', '/run/lock/z', '/tmp/x', '/var/cache/debconf/templates.dat-old', '/var/cache/ldconfig/aux-cache', '/var/lib/dpkg/status-old', '/var/log/alternatives.log', '/var/log/dpkg.log']);
    assert.deepEqual(readdirSync(join(root, 'run/lock')), [], '/run/lock stays, emptied');
    assert.equal(readFileSync(join(root, 'etc/machine-id'), 'utf8'), '');
    assert.ok(statSync(join(root, 'var/lib/dpkg/status')).isFile());
    assert.ok(statSync(join(root, 'var/log/keep.log')).isFile());
    assert.ok(statSync(join(root, 'tmp')).isDirectory());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("Debian's /var/lock link gets its /run/lock back (made on the scripts' tmpfs /run): root, 1777", () => {
  const root = tmp();
  try {
    mkdirSync(join(root, 'run'));
    mkdirSync(join(root, 'var'));
    symlinkSync('/run/lock', join(root, 'var/lock'));
    assert.deepEqual(normaliseTree(root), ['+/run/lock']);
    const st = statSync(join(root, 'var/lock'));
    assert.ok(st.isDirectory());
    assert.equal((st.mode & 0o7777).toString(8), '1777');
    assert.deepEqual(normaliseTree(root), [], 'made once');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('copy mode: changed and new paths with their parents, replaced directories opaque, removals as whiteouts', async () => {
  const root = tmp();
  try {
    put(root, 'etc/keep', 'same');
    put(root, 'etc/change', 'old');
    put(root, 'usr/share/doc/a/gone', 'x');
    put(root, 'usr/share/doc/b/file', 'x');
    put(root, 'var/lib/replaced/old', 'x');
    put(root, 'srv/became-file/inside', 'x');
    put(root, 'srv/became-link/inside', 'x');
    symlinkSync('keep', join(root, 'etc/link'));
    const before = snapshotTree(root);
    // A non-empty directory replaced by a file and by a symlink: the new entry hides what was below.
    rmSync(join(root, 'srv/became-file'), { recursive: true });
    writeFileSync(join(root, 'srv/became-file'), 'now a file');
    rmSync(join(root, 'srv/became-link'), { recursive: true });
    symlinkSync('became-file', join(root, 'srv/became-link'));
    writeFileSync(join(root, 'etc/change'), 'new');
    put(root, 'opt/new/file', 'n');
    rmSync(join(root, 'usr/share/doc/a'), { recursive: true });
    rmSync(join(root, 'var/lib/replaced'), { recursive: true });
    put(root, 'var/lib/replaced/fresh', 'f');
    unlinkSync(join(root, 'etc/link'));
    symlinkSync('change', join(root, 'etc/link'));
    const d = await diffSnapshots(root, before, { });
    const listed = d.entries.map((e) => `${e.type} ${e.path}`);
    // The file system may give the recreated directory its old inode back; then it is not seen
    // as replaced, and the removed child gets its own whiteout instead. Both layers apply alike.
    const reused = !listed.includes('opaque var/lib/replaced');
    if (reused) {
      assert.ok(listed.includes('whiteout var/lib/replaced/old'), listed.join('\n'));
      listed.splice(listed.indexOf('whiteout var/lib/replaced/old'), 1, 'opaque var/lib/replaced');
    }
    assert.deepEqual(listed.sort(), [
      'dir etc',
      'dir opt',
      'dir opt/new',
      'dir srv',
      'dir usr',
      'dir usr/share',
      'dir usr/share/doc',
      'dir var',
      'dir var/lib',
      'dir var/lib/replaced',
      'file etc/change',
      'file opt/new/file',
      'file srv/became-file',
      'file var/lib/replaced/fresh',
      'opaque var/lib/replaced',
      'symlink etc/link',
      'symlink srv/became-link',
      'whiteout usr/share/doc/a',
    ]);
    assert.equal(d.whiteouts, reused ? 2 : 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('walkTree lists hard links once with content, and clampMtimes brings mtimes down to the epoch', async () => {
  const root = tmp();
  try {
    put(root, 'a/file', 'data');
    const { linkSync } = await import('node:fs');
    linkSync(join(root, 'a/file'), join(root, 'a/link'));
    utimesSync(join(root, 'a/file'), 2000, 2000);
    const l = await walkTree(root, { overlay: false, xattrs: false });
    assert.deepEqual(l.entries.map((e) => `${e.type} ${e.path}${e.linkname ? ` -> ${e.linkname}` : ''}`), ['dir a', 'file a/file', 'hardlink a/link -> a/file']);
    assert.equal(clampMtimes(root, l.paths, 1000), 2);
    assert.equal(lstatSync(join(root, 'a/file')).mtimeMs, 1_000_000);
    assert.equal(clampMtimes(root, l.paths, 1000), 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('paths resolve inside the image root, through its symlinks', () => {
  const root = tmp();
  try {
    mkdirSync(join(root, 'usr/lib'), { recursive: true });
    symlinkSync('usr/lib', join(root, 'lib'));
    symlinkSync('/etc/../../../../outside', join(root, 'escape'));
    assert.equal(resolveInRoot(root, '/lib/x'), join(root, 'usr/lib/x'));
    assert.equal(resolveInRoot(root, '/escape/x'), join(root, 'outside/x'));
    assert.equal(resolveInRoot(root, '/lib'), join(root, 'lib'));
    assert.equal(resolveInRoot(root, '/lib', { followLast: true }), join(root, 'usr/lib'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('retries only for transient failures; platforms of Debian architectures', () => {
  const fetch = new BuildError('UNPACK_FAILED', 'x', { cause: Object.assign(new Error('net'), { code: 'FETCH_FAILED' }) });
  assert.equal(isTransient(fetch), true);
  assert.equal(isTransient(new BuildError('STEP_FAILED', 'exit 3')), false);
  assert.equal(isTransient(new BuildError('STEP_FAILED', 'x', { cause: Object.assign(new Error('runc'), { code: 'CREATE_FAILED' }) })), false, 'a step failure is never retried');
  assert.equal(isTransient(new BuildError('RUNTIME_FAILED', 'x', { cause: Object.assign(new Error('runc'), { code: 'CREATE_FAILED' }) })), true, 'a step whose container did not start is');
  assert.equal(isTransient(new BuildError('UNPACK_FAILED', 'x', { cause: Object.assign(new Error('bad'), { code: 'DEB_INVALID' }) })), false);
  assert.equal(isTransient(new Error('bug')), false);
  const full = new BuildError('ASSEMBLE_FAILED', 'x', { cause: Object.assign(new Error('write'), { code: 'ENOSPC', syscall: 'write' }) });
  assert.equal(isTransient(full), false, 'a full disk is not retried');
  assert.equal(isTransient(new BuildError('ROOTFS_FAILED', 'x', { cause: Object.assign(new Error('incorrect data check'), { code: 'Z_DATA_ERROR' }) })), false, 'nor a corrupt blob');
  // A failed image's code: lading's own, the machine's errno when a system call failed unwrapped
  // (not a bug), INTERNAL otherwise.
  assert.deepEqual(failureCode(full), { code: 'ASSEMBLE_FAILED', bug: false });
  assert.deepEqual(failureCode(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' })), { code: 'ENOSPC', bug: false });
  assert.deepEqual(failureCode(new TypeError('x is undefined')), { code: 'INTERNAL', bug: true });
  assert.deepEqual(failureCode(Object.assign(new Error('lookup'), { code: 'ENOENT', syscall: 'open' })), { code: 'INTERNAL', bug: true }, 'a missing file lading expected is its own fault');
  assert.deepEqual(ociPlatform('arm64'), { architecture: 'arm64', os: 'linux', variant: 'v8' });
  assert.deepEqual(ociPlatform('ppc64el'), { architecture: 'ppc64le', os: 'linux' });
});

test('applying a stored layer whose bytes are damaged (same size) says the blob is damaged and how to find such blobs', async (t) => {
  const { gzipSync } = await import('node:zlib');
  const { openLayout } = await import('../../layout/index.js');
  const { applyLayers } = await import('./rootfs.js');
  const dir = mkdtempSync(join(tmpdir(), 'lading-damaged-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const layer = gzipSync(tarBytes([{ name: 'hello', content: 'hello\n' }]));
  const store = await openLayout({ path: join(dir, 'store'), create: true });
  const { digest, size } = await store.writeBlob(layer);
  const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size };
  mkdirSync(join(dir, 'ok'));
  await applyLayers(store, [desc], join(dir, 'ok'), { logger: nullLogger });
  assert.equal(readFileSync(join(dir, 'ok/hello'), 'utf8'), 'hello\n');
  // Flip bytes inside the deflate data: same size, same name, other content.
  const file = join(dir, 'store/blobs/sha256', digest.slice('sha256:'.length));
  const damaged = Buffer.from(layer);
  for (let i = 20; i < 30; i++) damaged[i] = damaged[i]! ^ 0xff;
  writeFileSync(file, damaged);
  mkdirSync(join(dir, 'bad'));
  await assert.rejects(applyLayers(store, [desc], join(dir, 'bad'), { logger: nullLogger }), (err: unknown) => {
    assert.ok(err instanceof BuildError && err.code === 'ROOTFS_FAILED', String(err));
    assert.match(err.message, /the stored blob is damaged/);
    assert.match(err.hint ?? '', /lading store verify/);
    assert.equal(isTransient(err), false);
    return true;
  });
  await store.close();
});

test('the temporary policy-rc.d and the directories made for it leave no trace; one written meanwhile stays', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  await withPolicyRcd(root, async () => {
    assert.match(readFileSync(join(root, 'usr/sbin/policy-rc.d'), 'utf8'), /exit 101/);
  });
  assert.throws(() => lstatSync(join(root, 'usr')), /ENOENT/, 'usr/sbin made for it is gone again');
  // A run step that installs its own policy keeps it (a Dockerfile idiom).
  await withPolicyRcd(root, async () => {
    writeFileSync(join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 0\n');
  });
  assert.equal(readFileSync(join(root, 'usr/sbin/policy-rc.d'), 'utf8'), '#!/bin/sh\nexit 0\n');
  // An image's own policy is used as it is and left alone, also when fn fails.
  await assert.rejects(withPolicyRcd(root, async () => Promise.reject(new Error('step failed'))), /step failed/);
  assert.equal(readFileSync(join(root, 'usr/sbin/policy-rc.d'), 'utf8'), '#!/bin/sh\nexit 0\n');
});

test('files and directories keep setuid, setgid and sticky bits whatever the owner', (t) => {
  const root = tmp();
  const ctx = tmp();
  t.after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(ctx, { recursive: true, force: true });
  });
  writeFileSync(join(ctx, 'tool'), '#!/bin/sh\n');
  const user = { user: 1000, group: 1000 };
  placeFiles({
    root,
    image: 'x',
    contextDir: ctx,
    digests: {},
    files: [
      { src: 'tool', dest: '/usr/bin/suid', mode: 0o4755, owner: { user: 0, group: 0 } },
      { src: 'tool', dest: '/usr/bin/sgid', mode: 0o2755, owner: user },
    ],
    directories: [
      { path: '/srv/shared', mode: 0o2775, owner: user },
      { path: '/srv/drop', mode: 0o1777, owner: { user: 0, group: 0 } },
    ],
    symlinks: [],
    epoch: 0,
  });
  const mode = (p: string) => (statSync(join(root, p)).mode & 0o7777).toString(8);
  assert.deepEqual(['usr/bin/suid', 'usr/bin/sgid', 'srv/shared', 'srv/drop'].map(mode), ['4755', '2755', '2775', '1777']);
  assert.equal(statSync(join(root, 'usr/bin/sgid')).uid, 1000);
});

test('a files source that is a symlink is followed inside the context, and refused when it leads outside', (t) => {
  const root = tmp();
  const ctx = tmp();
  const outside = tmp();
  t.after(() => {
    for (const d of [root, ctx, outside]) rmSync(d, { recursive: true, force: true });
  });
  writeFileSync(join(ctx, 'real.sh'), '#!/bin/sh\n', { mode: 0o755 });
  symlinkSync('real.sh', join(ctx, 'hello.sh'));
  mkdirSync(join(ctx, 'conf'));
  writeFileSync(join(ctx, 'conf', 'a.conf'), 'a\n');
  symlinkSync('conf', join(ctx, 'conf-link'));
  writeFileSync(join(outside, 'secret'), 'no\n');
  symlinkSync(join(outside, 'secret'), join(ctx, 'escape'));
  const place = (files: Parameters<typeof placeFiles>[0]['files']) => placeFiles({ root, image: 'x', contextDir: ctx, digests: {}, files, directories: [], symlinks: [], epoch: 0 });
  const owner = { user: 0, group: 0 };
  place([
    { src: 'hello.sh', dest: '/usr/local/bin/hello', owner },
    { src: 'conf-link', dest: '/etc/app', owner },
  ]);
  assert.equal(readFileSync(join(root, 'usr/local/bin/hello'), 'utf8'), '#!/bin/sh\n');
  assert.equal(statSync(join(root, 'usr/local/bin/hello')).mode & 0o777, 0o755);
  assert.equal(readFileSync(join(root, 'etc/app/a.conf'), 'utf8'), 'a\n');
  assert.ok(lstatSync(join(root, 'etc/app')).isDirectory());
  assert.throws(() => place([{ src: 'escape', dest: '/secret', owner }]), { code: 'FILE_FAILED', message: /image x: file escape -> \/secret: escape leads outside the build context/ });
});

test('POSIX ACLs are listed for removal, not carried; removing them keeps the mode the layer has', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'x'), 'x\n', { mode: 0o644 });
  // The kernel's xattr form of user::rw- user:900:rwx group::r-- mask::rwx other::r--.
  const acl = Buffer.alloc(4 + 5 * 8);
  acl.writeUInt32LE(2, 0);
  [[0x01, 6, 0xffffffff], [0x02, 7, 900], [0x04, 4, 0xffffffff], [0x10, 7, 0xffffffff], [0x20, 4, 0xffffffff]].forEach(([tag, perm, id], i) => {
    acl.writeUInt16LE(tag as number, 4 + i * 8);
    acl.writeUInt16LE(perm as number, 6 + i * 8);
    acl.writeUInt32LE(id as number, 8 + i * 8);
  });
  const set = spawnSync('setfattr', ['-n', 'system.posix_acl_access', '-v', `0s${acl.toString('base64')}`, join(root, 'x')], { encoding: 'utf8' });
  if (set.status !== 0) {
    t.skip(`this filesystem takes no ACLs: ${set.stderr.trim()}`);
    return;
  }
  // The root directory itself too (a step's `setfacl -m ... /`): readXattrTree names it ''.
  assert.equal(spawnSync('setfattr', ['-n', 'system.posix_acl_access', '-v', `0s${acl.toString('base64')}`, root]).status, 0);
  const listing = await walkTree(root, { overlay: false });
  assert.deepEqual(listing.acls, [{ path: '', name: 'system.posix_acl_access' }, { path: 'x', name: 'system.posix_acl_access' }]);
  const entry = listing.entries.find((e) => e.path === 'x');
  assert.equal(entry?.mode, 0o674, 'the group bits hold the mask');
  assert.equal(entry?.xattrs, undefined);
  await removeXattrs(root, listing.acls);
  assert.deepEqual((await walkTree(root, { overlay: false })).acls, []);
  assert.equal(statSync(join(root, 'x')).mode & 0o777, 0o674);
});

test('a file name that is not UTF-8 is refused once, naming the image path with the bytes escaped', async (t) => {
  const root = tmp();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'sub'));
  writeFileSync(Buffer.concat([Buffer.from(join(root, 'sub/a')), Buffer.from([0xff, 0xfe])]), 'x');
  const err = await walkTree(root, { overlay: false }).catch((e: unknown) => e);
  assert.ok(err instanceof BuildError && err.code === 'FILE_NAME_INVALID', String(err));
  assert.equal(err.message, 'the image has a file whose name is not UTF-8: /sub/a\\xff\\xfe');
  assert.equal(isTransient(err), false, 'not retried');
});

test('sockets are listed apart, not as entries; a diff lists only the new ones', async () => {
  const root = tmp();
  const listen = (path: string) => new Promise<Server>((ok) => { const s = createServer(); s.listen(path, () => ok(s)); });
  const servers: Server[] = [];
  try {
    put(root, 'run/keep', 'x');
    servers.push(await listen(join(root, 'run/old.sock')));
    const before = snapshotTree(root);
    servers.push(await listen(join(root, 'run/new.sock')));
    const all = await walkTree(root, { overlay: false, xattrs: false });
    assert.deepEqual(all.sockets.sort(), ['run/new.sock', 'run/old.sock']);
    assert.deepEqual(all.entries.map((e) => `${e.type} ${e.path}`), ['dir run', 'file run/keep']);
    const d = await diffSnapshots(root, before);
    assert.deepEqual(d.sockets, ['run/new.sock']);
    assert.deepEqual(d.entries.map((e) => `${e.type} ${e.path}`), ['dir run']);
  } finally {
    for (const s of servers) s.close();
    rmSync(root, { recursive: true, force: true });
  }
});
