// Crafted .debs (built by hand: dpkg-deb refuses to build these) must never write outside the
// root, and every refusal names the package and the path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DebianError, unpackPackages, type UnpackOptions } from '../../../src/debian/index.js';
import { writeDeb, type DebSpec } from '../../helpers/deb-writer.js';

const tmp = mkdtempSync(join(tmpdir(), 'lading-crafted-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

// A directory outside every root; no test may change it.
const canary = join(tmp, 'canary');
mkdirSync(join(canary, 'etc'), { recursive: true });
writeFileSync(join(canary, 'etc/passwd'), 'root:x:0:0:canary\n');
writeFileSync(join(canary, 'secret'), 'do not touch\n');

/** Every path, type, mode and content hash under a directory. */
function snapshot(dir: string): string {
  const lines: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      if (st.isDirectory()) {
        lines.push(`d ${rel} ${(st.mode & 0o7777).toString(8)}`);
        walk(p);
      } else if (st.isSymbolicLink()) lines.push(`l ${rel} -> ${readlinkSync(p)}`);
      else lines.push(`f ${rel} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${Math.floor(st.mtimeMs / 1000)} ${st.nlink} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir);
  return lines.join('\n');
}
const canaryBefore = snapshot(canary);

let n = 0;
function debs(...specs: DebSpec[]): UnpackOptions['debs'] {
  const dir = join(tmp, `debs-${++n}`);
  mkdirSync(dir);
  return specs.map((s, i) => ({ path: writeDeb(dir, `${s.control?.Package ?? 'test'}_${i}.deb`, s) }));
}

function freshRoot(): string {
  const root = join(tmp, `root-${++n}`);
  return root;
}

async function refused(specs: DebSpec[], code: string, pattern: RegExp, prepare?: (root: string) => void): Promise<string> {
  const root = freshRoot();
  if (prepare) {
    mkdirSync(root, { recursive: true });
    prepare(root);
  }
  await assert.rejects(unpackPackages({ debs: debs(...specs), root }), (err: unknown) => {
    assert.ok(err instanceof DebianError, `expected a DebianError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
  assert.equal(snapshot(canary), canaryBefore, 'the canary outside the root changed');
  assert.deepEqual(
    readdirSync(root).filter((f) => f.startsWith('.lading-unpack')),
    [],
    'the staging directory was left behind',
  );
  return root;
}

const evil = (data: DebSpec['data'], name = 'evil'): DebSpec => ({ control: { Package: name }, data: [{ name: './', type: 'dir' }, ...data] });

test('refuses ../ paths', async () => {
  const rel = relative(join(tmp, 'root-x'), join(canary, 'secret'));
  await refused([evil([{ name: `./${rel}`, content: 'pwned' }])], 'UNSAFE_PATH', /unpacking evil 1\.0 \(evil_0\.deb\): refusing data\.tar entry ".*\.\.\/.*canary\/secret": "\.\." component/);
  await refused([evil([{ name: './usr/../../x', content: 'pwned' }])], 'UNSAFE_PATH', /evil 1\.0.*"\.\/usr\/\.\.\/\.\.\/x": "\.\." component/);
});

test('refuses absolute paths', async () => {
  await refused([evil([{ name: join(canary, 'secret'), content: 'pwned' }])], 'UNSAFE_PATH', new RegExp(`evil 1\\.0.*"${join(canary, 'secret')}": absolute path`));
});

test('refuses writing through a symlink the package just made (a -> /etc, then a/passwd)', async () => {
  await refused(
    [evil([{ name: './a', type: 'symlink', linkname: join(canary, 'etc') }, { name: './a/passwd', content: 'pwned' }])],
    'UNSAFE_PATH',
    /evil 1\.0.*"\.\/a\/passwd": it lies below \/a, a symlink of the same package/,
  );
  await refused(
    [evil([{ name: './usr/', type: 'dir' }, { name: './usr/l', type: 'symlink', linkname: '/' }, { name: './usr/l/etc/', type: 'dir' }])],
    'UNSAFE_PATH',
    /"\.\/usr\/l\/etc\/": it lies below \/usr\/l, a symlink of the same package/,
  );
});

test('refuses symlinks whose relative target climbs out of the root', async () => {
  await refused([evil([{ name: './usr/', type: 'dir' }, { name: './usr/up', type: 'symlink', linkname: '../../../../../../../../tmp' }])], 'UNSAFE_PATH', /"\.\/usr\/up": symlink target .* climbs out of the root/);
});

test('refuses hard links to anything but an earlier file of the package', async () => {
  await refused([evil([{ name: './h', type: 'link', linkname: join(canary, 'secret') }])], 'UNSAFE_PATH', /"\.\/h": hard link to ".*canary\/secret": absolute path/);
  await refused([evil([{ name: './h', type: 'link', linkname: '../../../../etc/passwd' }])], 'UNSAFE_PATH', /"\.\/h": hard link to .*"\.\." component/);
  await refused([evil([{ name: './h', type: 'link', linkname: 'etc/passwd' }])], 'UNSAFE_PATH', /hard link to \/etc\/passwd, which is not an earlier regular file of the package/);
});

test('refuses device nodes and fifos', async () => {
  await refused([evil([{ name: './dev/', type: 'dir' }, { name: './dev/sda', type: 'block' }])], 'UNSAFE_PATH', /"\.\/dev\/sda": device nodes are not unpacked/);
  await refused([evil([{ name: './null', type: 'char' }])], 'UNSAFE_PATH', /"\.\/null": device nodes are not unpacked/);
  await refused([evil([{ name: './pipe', type: 'fifo' }])], 'UNSAFE_PATH', /"\.\/pipe": fifos are not unpacked/);
});

test('refuses going through a symlink already in the tree that leaves the root', async () => {
  // A relative symlink in the target directory that climbs out: following it would write outside.
  await refused(
    [evil([{ name: './out/x', content: 'pwned' }])],
    'UNSAFE_PATH',
    /unpacking evil 1\.0: \/out\/x: goes through a symlink to ".*", which climbs out of the root/,
    (root) => symlinkSync(relative(root, canary), join(root, 'out')),
  );
});

test('absolute symlinks of another package are followed inside the root, never on the host', async () => {
  const root = freshRoot();
  const result = await unpackPackages({
    debs: debs(
      // The same directories inside the root, so the absolute link resolves there.
      evil([{ name: `.${canary}/`, type: 'dir' }, { name: './trap', type: 'symlink', linkname: canary }], 'a-links'),
      evil([{ name: './trap/etc/passwd', content: 'inside the root\n' }], 'b-writes'),
    ),
    root,
    mergedUsr: false,
  });
  assert.equal(result.packages.length, 2);
  assert.equal(snapshot(canary), canaryBefore);
  // The write landed below <root><canary path>, the chroot reading of the absolute link.
  assert.equal(readFileSync(join(root, canary, 'etc/passwd'), 'utf8'), 'inside the root\n');
  assert.equal(readlinkSync(join(root, 'trap')), canary);
});

test('a path shipped by two packages fails unless one Replaces the other', async () => {
  const a: DebSpec = { control: { Package: 'a', Version: '1' }, data: [{ name: './etc/', type: 'dir' }, { name: './etc/shared', content: 'from a' }] };
  const b: DebSpec = { control: { Package: 'b', Version: '2' }, data: [{ name: './etc/', type: 'dir' }, { name: './etc/shared', content: 'from b' }] };
  await refused([a, b], 'FILE_CONFLICT', /1 path\(s\) shipped by two packages without Replaces: \/etc\/shared \(in a 1 and b 2\)/);

  // Later package replaces the earlier one: its file wins and leaves a's list.
  let root = freshRoot();
  let r = await unpackPackages({ debs: debs(a, { ...b, control: { ...b.control, Replaces: 'a (<< 2)' } }), root, mergedUsr: false });
  assert.equal(readFileSync(join(root, 'etc/shared'), 'utf8'), 'from b');
  assert.deepEqual(r.overlaps.map((o) => [o.path, o.winner, o.replaces]), [['/etc/shared', 'b 2', true]]);
  assert.ok(!readFileSync(join(root, 'var/lib/dpkg/info/a.list'), 'utf8').includes('/etc/shared'));
  assert.ok(readFileSync(join(root, 'var/lib/dpkg/info/b.list'), 'utf8').includes('/etc/shared\n'));
  assert.deepEqual(r.packages.map((p) => p.list), [['/etc'], ['/etc', '/etc/shared']]);

  // A versioned Replaces that does not cover the installed version does not count.
  await refused([a, { ...b, control: { ...b.control, Replaces: 'a (<< 1)' } }], 'FILE_CONFLICT', /\/etc\/shared \(in a 1 and b 2\)/);

  // The earlier package replaces the later one: the earlier file stays (dpkg: "Replaced by files in installed package").
  root = freshRoot();
  r = await unpackPackages({ debs: debs({ ...a, control: { ...a.control, Replaces: 'b' } }, b), root, mergedUsr: false });
  assert.equal(readFileSync(join(root, 'etc/shared'), 'utf8'), 'from a');
  assert.ok(!readFileSync(join(root, 'var/lib/dpkg/info/b.list'), 'utf8').includes('/etc/shared'));

  // allowOverlaps: the later one wins, with a warning.
  root = freshRoot();
  r = await unpackPackages({ debs: debs(a, b), root, mergedUsr: false, allowOverlaps: true });
  assert.equal(readFileSync(join(root, 'etc/shared'), 'utf8'), 'from b');
  assert.ok(r.warnings.some((w) => w.includes('b 2 overwrote /etc/shared of a 1')));

  // A file where another package has a directory is always an error.
  await refused([a, { control: { Package: 'c' }, data: [{ name: './etc', content: 'file' }] }], 'FILE_CONFLICT', /\/etc: cannot replace the directory of a 1 with a file/);
});

test('merged-/usr: /bin stays a symlink, ./bin/ entries land in /usr/bin, lists keep /bin names', async () => {
  const root = freshRoot();
  const spec: DebSpec = {
    control: { Package: 'tool', Architecture: 'amd64' },
    data: [
      { name: './', type: 'dir' },
      { name: './bin/', type: 'dir', mode: 0o700 },
      { name: './bin/tool', content: '#!/bin/sh\n', mode: 0o755 },
      { name: './lib64/', type: 'dir' },
      { name: './lib64/ld.so', type: 'symlink', linkname: '/lib/x86_64-linux-gnu/ld.so' },
      { name: './usr/', type: 'dir' },
      { name: './usr/lib/', type: 'dir' },
      { name: './usr/lib/x86_64-linux-gnu/', type: 'dir' },
      { name: './usr/lib/x86_64-linux-gnu/ld.so', content: 'ELF' },
    ],
  };
  const r = await unpackPackages({ debs: debs(spec), root, architecture: 'amd64' });
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    assert.ok(lstatSync(join(root, d)).isSymbolicLink(), `/${d} is a symlink`);
    assert.equal(readlinkSync(join(root, d)), `usr/${d}`);
    assert.ok(lstatSync(join(root, 'usr', d)).isDirectory());
  }
  assert.equal(readFileSync(join(root, 'usr/bin/tool'), 'utf8'), '#!/bin/sh\n');
  assert.equal(readlinkSync(join(root, 'usr/lib64/ld.so')), '/lib/x86_64-linux-gnu/ld.so');
  // The package's ./bin/ mode does not change the symlink's target (dpkg leaves existing directories alone).
  assert.equal(lstatSync(join(root, 'usr/bin')).mode & 0o777, 0o755);
  const list = readFileSync(join(root, 'var/lib/dpkg/info/tool.list'), 'utf8').split('\n');
  assert.deepEqual(list.slice(0, 3), ['/.', '/bin', '/bin/tool']);
  assert.equal(r.packages[0]?.state, 'unpacked');
});

test('the result does not depend on parallelism or completion order', async () => {
  const specs: DebSpec[] = [];
  for (let i = 0; i < 8; i++) {
    const files = Array.from({ length: 40 }, (_, j) => ({ name: `./usr/share/p${i}/f${j}`, content: `${i}-${j}`.repeat(i * 500 + j) }));
    specs.push({
      control: { Package: `p${i}`, Replaces: i > 0 ? `p${i - 1}` : 'none' },
      compression: i % 2 ? 'gz' : 'xz',
      data: [{ name: './usr/', type: 'dir' }, { name: './usr/share/', type: 'dir', mtime: 1000 + i }, { name: `./usr/share/p${i}/`, type: 'dir' }, ...files, { name: './usr/share/common', content: `owner p${i}` }],
    });
  }
  const list = debs(...specs);
  const roots = [];
  for (const concurrency of [1, 2, 4]) {
    const root = freshRoot();
    await unpackPackages({ debs: list, root, concurrency, mtime: 1234 });
    roots.push(snapshot(root));
  }
  assert.equal(roots[1], roots[0]);
  assert.equal(roots[2], roots[0]);
  assert.match(roots[0] ?? '', /usr\/share\/common/);
});

test('decoded members are cached by SHA256 and read back; a damaged entry falls back to the .deb', async () => {
  const spec: DebSpec = { control: { Package: 'cached' }, data: [{ name: './', type: 'dir' }, { name: './etc/', type: 'dir' }, { name: './etc/c', content: 'cached content\n' }] };
  const [deb] = debs(spec);
  const path = deb?.path ?? '';
  const bytes = readFileSync(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const cacheDir = join(tmp, 'decoded-cache');
  const first = freshRoot();
  await unpackPackages({ debs: [{ path, sha256 }], root: first, cacheDir, mtime: 1 });
  assert.deepEqual(readdirSync(cacheDir).sort(), [`${sha256}.control.tar`, `${sha256}.data.tar`, `${sha256}.ok`]);

  // The .deb is not even opened when the cache has it.
  writeFileSync(path, 'garbage');
  const second = freshRoot();
  await unpackPackages({ debs: [{ path, sha256 }], root: second, cacheDir, mtime: 1 });
  assert.equal(snapshot(second), snapshot(first));

  // A cut-short entry is ignored: the .deb is read again (here: the garbage, so it fails).
  writeFileSync(join(cacheDir, `${sha256}.data.tar`), 'short');
  await assert.rejects(unpackPackages({ debs: [{ path, sha256 }], root: freshRoot(), cacheDir }), (err: unknown) => err instanceof DebianError && err.code === 'DEB_INVALID');
  writeFileSync(path, bytes);
  const third = freshRoot();
  await unpackPackages({ debs: [{ path, sha256 }], root: third, cacheDir, mtime: 1 });
  assert.equal(snapshot(third), snapshot(first));
  assert.equal(readFileSync(join(cacheDir, `${sha256}.data.tar`)).length > 1024, true, 'the entry was written again');
  await assert.rejects(unpackPackages({ debs: [{ path, sha256: '../../etc' }], root: freshRoot(), cacheDir }), /sha256 must be 64 lower-case hex digits/);
});

test('an aborted unpack stops its workers and removes its staging directory', async () => {
  const specs: DebSpec[] = Array.from({ length: 6 }, (_, i) => ({
    control: { Package: `big${i}` },
    compression: 'gz',
    data: [{ name: './', type: 'dir' }, ...Array.from({ length: 200 }, (_, j) => ({ name: `./f${i}-${j}`, content: 'x'.repeat(20_000) }))],
  }));
  const list = debs(...specs);
  const root = freshRoot();
  const ctl = new AbortController();
  const p = unpackPackages({ debs: list, root, signal: ctl.signal, onProgress: () => ctl.abort(new Error('stop')) });
  await assert.rejects(p, (err: unknown) => err instanceof DebianError && err.code === 'UNPACK_FAILED' && /aborted/.test(err.message));
  assert.deepEqual(
    readdirSync(root).filter((f) => f.startsWith('.lading-unpack')),
    [],
  );
});

test('a concurrency that is not a whole number >= 1 is refused before anything is written (NaN used to hang)', async () => {
  const list = debs({ control: { Package: 'one' }, data: [{ name: './', type: 'dir' }, { name: './f', content: 'x' }] });
  for (const concurrency of [Number.NaN, 0, 1.5]) {
    const root = freshRoot();
    await assert.rejects(unpackPackages({ debs: list, root, concurrency }), (err: unknown) => err instanceof DebianError && err.code === 'OPTIONS_INVALID' && /concurrency/.test(err.message));
    assert.throws(() => readdirSync(root), /ENOENT/, 'the root is not even created');
  }
});

test('members compressed with gzip, xz, zstd, bzip2 or not at all unpack alike', async () => {
  const kinds = ['none', 'gz', 'xz', 'zst', 'bz2'] as const;
  const specs: DebSpec[] = kinds.map((k) => ({ control: { Package: `c-${k}` }, compression: k, data: [{ name: './', type: 'dir' }, { name: `./${k}.txt`, content: `${k}\n`.repeat(1000) }] }));
  const root = freshRoot();
  const r = await unpackPackages({ debs: debs(...specs), root, mergedUsr: false });
  assert.equal(r.packages.length, kinds.length);
  for (const k of kinds) assert.equal(readFileSync(join(root, `${k}.txt`), 'utf8'), `${k}\n`.repeat(1000));
});
