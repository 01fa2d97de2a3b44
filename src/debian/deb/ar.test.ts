import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arBytes, debBytes, writeDeb } from '../../../test/helpers/deb-writer.js';
import { DebianError } from '../errors.js';
import { readDebLayout } from './ar.js';
import { readDebControl, readDebData } from './reader.js';

const tmp = mkdtempSync(join(tmpdir(), 'lading-ar-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** Builds a package with the real dpkg-deb. */
function dpkgDeb(name: string, compression: string): string {
  const dir = join(tmp, `src-${name}-${compression}`);
  mkdirSync(join(dir, 'DEBIAN'), { recursive: true });
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(
    join(dir, 'DEBIAN/control'),
    `Package: ${name}\nVersion: 1:2.0-1\nArchitecture: amd64\nMaintainer: T <t@example.org>\nDepends: libc6 (>= 2.36)\nDescription: test\n long text\n .\n more\n`,
  );
  writeFileSync(join(dir, 'DEBIAN/conffiles'), '/etc/hello.conf\n');
  writeFileSync(join(dir, 'DEBIAN/postinst'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(dir, 'DEBIAN/postinst'), 0o755);
  writeFileSync(join(dir, 'DEBIAN/triggers'), 'activate-noawait ldconfig\n');
  writeFileSync(join(dir, 'usr/bin/hello'), '#!/bin/sh\necho hello\n');
  chmodSync(join(dir, 'usr/bin/hello'), 0o755);
  writeFileSync(join(dir, 'etc/hello.conf'), 'greeting=hi\n');
  writeFileSync(join(dir, 'DEBIAN/md5sums'), `${createHash('md5').update('#!/bin/sh\necho hello\n').digest('hex')}  usr/bin/hello\n`);
  symlinkSync('hello', join(dir, 'usr/bin/hi'));
  const out = join(tmp, `${name}-${compression}.deb`);
  const r = spawnSync('dpkg-deb', ['--root-owner-group', `-Z${compression}`, '--build', dir, out]);
  assert.equal(r.status, 0, r.stderr.toString());
  return out;
}

async function rejects(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DebianError, `expected DebianError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

for (const compression of ['xz', 'gzip', 'zstd', 'none']) {
  test(`reads a dpkg-deb package compressed with ${compression}`, async () => {
    const path = dpkgDeb('hello', compression);
    const layout = await readDebLayout(path);
    assert.equal(layout.formatVersion, '2.0');
    const expected = { xz: 'xz', gzip: 'gz', zstd: 'zst', none: 'none' }[compression];
    assert.equal(layout.data.compression, expected);
    assert.equal(layout.control.compression, expected);
    const info = await readDebControl(path);
    assert.equal(info.package, 'hello');
    assert.equal(info.version, '1:2.0-1');
    assert.equal(info.control.get('Description'), 'test\nlong text\n.\nmore');
    assert.deepEqual(info.conffiles, [{ path: '/etc/hello.conf', removeOnUpgrade: false }]);
    assert.deepEqual(info.triggers, [{ directive: 'activate-noawait', name: 'ldconfig' }]);
    assert.equal(info.scripts.postinst, '#!/bin/sh\nexit 0\n');
    assert.deepEqual(info.md5sums, [{ md5: createHash('md5').update('#!/bin/sh\necho hello\n').digest('hex'), path: 'usr/bin/hello' }]);
    const entries = [];
    for await (const e of readDebData(path, { content: (e) => e.path === '/etc/hello.conf' })) entries.push(e);
    // The same listing as dpkg-deb's own reader.
    const listing = spawnSync('dpkg-deb', ['--fsys-tarfile', path]);
    const names = spawnSync('tar', ['-t'], { input: listing.stdout }).stdout.toString().trim().split('\n');
    assert.deepEqual(
      entries.map((e) => e.name),
      names,
    );
    assert.equal(entries.find((e) => e.path === '/etc/hello.conf')?.content?.toString(), 'greeting=hi\n');
    assert.deepEqual(
      entries.filter((e) => e.type === 'symlink').map((e) => [e.path, e.linkname]),
      [['/usr/bin/hi', 'hello']],
    );
    assert.equal(entries.find((e) => e.path === '/usr/bin/hello')?.mode, 0o755);
  });
}

test('skips _ members, ignores members after data.tar, reads odd-sized members', async () => {
  const bytes = debBytes({
    data: [{ name: './', type: 'dir' }, { name: './x', content: 'odd' }],
    compression: 'gz',
    members: ({ control, data }) => [
      { name: 'debian-binary', data: Buffer.from('2.1\nextra line\n') },
      { name: '_gpgorigin', data: Buffer.from('sig') },
      control,
      { name: '_extra', data: Buffer.from('12345') },
      data,
      { name: 'trailing', data: Buffer.from('x') },
    ],
  });
  const path = join(tmp, 'members.deb');
  writeFileSync(path, bytes);
  const layout = await readDebLayout(path);
  assert.equal(layout.formatVersion, '2.1');
  assert.equal(layout.data.name, 'data.tar.gz');
  const names = [];
  for await (const e of readDebData(path)) names.push(e.path);
  assert.deepEqual(names, ['/.', '/x']);
});

test('refuses malformed archives with errors naming the file and member', async () => {
  const good = debBytes({ data: [{ name: './a', content: 'a' }] });
  const cases: Array<[string, Buffer, string, RegExp]> = [
    ['magic.deb', Buffer.from('PK\x03\x04 not an ar archive at all'), 'DEB_INVALID', /magic\.deb: not an ar archive/],
    ['empty.deb', Buffer.alloc(0), 'DEB_INVALID', /empty\.deb: file is truncated/],
    ['first.deb', arBytes([{ name: 'control.tar.xz', data: Buffer.from('x') }]), 'DEB_INVALID', /first member is "control\.tar\.xz"/],
    ['v3.deb', arBytes([{ name: 'debian-binary', data: Buffer.from('3.0\n') }]), 'DEB_INVALID', /unsupported \.deb format version 3\.0/],
    [
      'unknown.deb',
      arBytes([
        { name: 'debian-binary', data: Buffer.from('2.0\n') },
        { name: 'extra.tar', data: Buffer.from('x') },
      ]),
      'DEB_INVALID',
      /unexpected member "extra\.tar" before control\.tar/,
    ],
    [
      'ccomp.deb',
      arBytes([
        { name: 'debian-binary', data: Buffer.from('2.0\n') },
        { name: 'control.tar.bz2', data: Buffer.from('x') },
      ]),
      'DEB_INVALID',
      /member "control\.tar\.bz2" uses an unknown compression/,
    ],
    [
      'dcomp.deb',
      arBytes([
        { name: 'debian-binary', data: Buffer.from('2.0\n') },
        { name: 'control.tar', data: Buffer.from('x') },
        { name: 'data.tar.lz4', data: Buffer.from('x') },
      ]),
      'DEB_INVALID',
      /member "data\.tar\.lz4" uses an unknown compression/,
    ],
    [
      'nodata.deb',
      arBytes([
        { name: 'debian-binary', data: Buffer.from('2.0\n') },
        { name: 'control.tar', data: Buffer.from('x') },
      ]),
      'DEB_INVALID',
      /no data\.tar member/,
    ],
  ];
  for (const [name, bytes, code, pattern] of cases) {
    const path = join(tmp, name);
    writeFileSync(path, bytes);
    await rejects(readDebLayout(path), code, pattern);
  }
  const cut = join(tmp, 'truncated.deb');
  writeFileSync(cut, good);
  truncateSync(cut, good.length - 10);
  await rejects(readDebLayout(cut), 'DEB_INVALID', /truncated\.deb: member "data\.tar\.xz" is truncated/);
});

test('a corrupt data member fails with an error naming the package and member', async () => {
  const path = writeDeb(tmp, 'corrupt.deb', { data: [{ name: './a', content: 'a'.repeat(5000) }], compression: 'gz' });
  const bytes = readFileSync(path);
  // Flip bytes inside the gzip stream of data.tar.gz (the last member).
  for (let i = bytes.length - 40; i < bytes.length - 20; i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
  writeFileSync(path, bytes);
  await assert.rejects(
    async () => {
      for await (const _ of readDebData(path)) void _;
    },
    (err: unknown) => err instanceof DebianError && /corrupt\.deb member data\.tar\.gz/.test(err.message),
  );
});
