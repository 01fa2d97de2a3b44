import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebianError } from './errors.js';
import { PackagesIndex, parsePackages } from './packages.js';

const sha = (c: string) => c.repeat(64);
const TEXT = `Package: libc6
Version: 2.36-9+deb12u4
Architecture: amd64
Multi-Arch: same
Priority: optional
Section: libs
Installed-Size: 12985
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Source: glibc
Depends: libgcc-s1
Breaks: hurd (<< 1:0.9.git20220301-2), nscd (<< 2.36)
Description: GNU C Library: Shared libraries
Description-md5: fc3001eed1b2a0d1a0e1e6d6d6d6d6d6
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb
Size: 2757936
SHA256: ${sha('a')}

Package: bash
Essential: yes
Version: 5.2.15-2+b2
Architecture: amd64
Source: bash (5.2.15-2)
Pre-Depends: libc6 (>= 2.36),
 libtinfo6 (>= 6)
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)
Provides: sh
Filename: pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb
Size: 1491632
SHA256: ${sha('B')}

package: mawk
version: 1.3.4.20200120-3.1
architecture: amd64
provides: awk
filename: pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb
size: 119144
sha256: ${sha('c')}
`;

test('parsePackages keeps the fields lading uses, Source with version, continuation lines, lower-case field names', () => {
  const [libc, bash, mawk] = parsePackages(TEXT, 'Packages');
  assert.equal(libc!.source, 'glibc');
  assert.equal(libc!.sourceVersion, '2.36-9+deb12u4');
  assert.equal(libc!.multiArch, 'same');
  assert.equal(libc!.installedSize, 12985);
  assert.equal(libc!.breaks, 'hurd (<< 1:0.9.git20220301-2), nscd (<< 2.36)');
  assert.equal(bash!.essential, true);
  assert.equal(bash!.source, 'bash');
  assert.equal(bash!.sourceVersion, '5.2.15-2');
  assert.equal(bash!.preDepends, 'libc6 (>= 2.36), libtinfo6 (>= 6)');
  assert.equal(bash!.sha256, sha('b'), 'hashes are lower-cased');
  assert.equal(mawk!.name, 'mawk');
  assert.equal(mawk!.provides, 'awk');
  assert.equal(mawk!.size, 119144);
});

test('PackagesIndex scans once and parses stanzas on lookup, with the same result as parsePackages', () => {
  const ix = PackagesIndex.fromBytes(Buffer.from(TEXT), 'Packages');
  assert.equal(ix.size, 3);
  assert.deepEqual(ix.all(), parsePackages(TEXT, 'Packages'));
  assert.equal(ix.lookup('bash')[0]!.version, '5.2.15-2+b2');
  assert.strictEqual(ix.lookup('bash')[0], ix.lookup('bash')[0], 'parsed once');
  assert.deepEqual(ix.lookup('nope'), []);
  assert.deepEqual(ix.essential().map((p) => p.name), ['bash']);
  assert.deepEqual(ix.providers('awk').map((p) => p.stanza.name), ['mawk']);
  assert.deepEqual(ix.providers('sh').map((p) => [p.stanza.name, p.version]), [['bash', undefined]]);
});

test('a stanza without SHA256 or with a bad Size fails when used, naming file, line and package', () => {
  const text = `Package: ok\nVersion: 1\nArchitecture: all\nFilename: a\nSize: 1\nSHA256: ${sha('d')}\n\nPackage: broken\nVersion: 1\nArchitecture: all\nFilename: b\nSize: 1\n\nPackage: badsize\nVersion: 1\nArchitecture: all\nFilename: c\nSize: x\nSHA256: ${sha('e')}\n`;
  assert.throws(() => parsePackages(text, 'P'), (e: unknown) => e instanceof DebianError && e.code === 'CONTROL_INVALID' && /^P:8: stanza broken lacks SHA256/.test(e.message));
  const ix = PackagesIndex.fromBytes(Buffer.from(text), 'P');
  assert.equal(ix.lookup('ok').length, 1, 'other stanzas stay usable');
  assert.throws(() => ix.lookup('broken'), /P:8: stanza broken lacks SHA256/);
  assert.throws(() => ix.lookup('badsize'), /P:14: badsize: invalid Size "x"/);
  assert.throws(() => parsePackages('Package: x\nno colon here\n', 'P'), /P:2: expected "Field: value"/);
});
