import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DebianError } from './errors.js';
import type { PackageStanza } from './packages.js';
import { parsePackageRequest, resolveArchitecture, type ArchResolution } from './resolver.js';
import { Universe, type UniverseInput } from './universe.js';

type Fields = Partial<Omit<PackageStanza, 'name' | 'version'>>;

function pkg(name: string, version: string, fields: Fields = {}): PackageStanza {
  const architecture = fields.architecture ?? 'amd64';
  return {
    name,
    version,
    architecture,
    essential: false,
    source: name,
    sourceVersion: version,
    filename: `pool/main/${name[0]}/${name}/${name}_${version}_${architecture}.deb`,
    size: 100,
    sha256: createHash('sha256').update(`${name} ${version} ${architecture} ${fields.filename ?? ''}`).digest('hex'),
    ...fields,
  };
}

function index(suite: string, packages: PackageStanza[], sourceIndex = 0, component = 'main'): UniverseInput {
  return { origin: { sourceIndex, uri: 'http://archive.example/debian/', suite, codename: suite, component }, packages };
}

function resolveNames(u: Universe, requests: string[], noEssential = true, others: Universe[] = []): ArchResolution {
  return resolveArchitecture({ universe: u, requests: requests.map(parsePackageRequest), noEssential, otherUniverses: others });
}

const names = (r: ArchResolution) => r.packages.map((p) => `${p.candidate.name}=${p.candidate.version}`);

function unresolvable(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof DebianError, String(e));
    assert.equal(e.code, 'UNRESOLVABLE');
    assert.match(e.message, re);
    return true;
  };
}

test('closure over Pre-Depends and Depends; Recommends and Suggests are ignored', () => {
  const u = new Universe('amd64', [
    index('bookworm', [
      pkg('app', '1', { preDepends: 'libpre', depends: 'liba (>= 1), libb', recommends: 'extra' } as Fields),
      pkg('libpre', '1'),
      pkg('liba', '2', { depends: 'libc6' }),
      pkg('libb', '1'),
      pkg('libc6', '2.36'),
      pkg('extra', '1'),
    ]),
  ]);
  const r = resolveNames(u, ['app']);
  assert.deepEqual(names(r), ['app=1', 'liba=2', 'libb=1', 'libc6=2.36', 'libpre=1']);
  const app = r.packages.find((p) => p.candidate.name === 'app')!;
  assert.deepEqual(app.depends, ['liba', 'libb', 'libpre']);
  assert.equal(app.reason, 'requested');
  assert.equal(r.packages.find((p) => p.candidate.name === 'libc6')!.requiredBy, 'liba');
});

test('rule 1: a real package of the name wins over a provider of it', () => {
  const u = new Universe('amd64', [index('bookworm', [pkg('app', '1', { depends: 'libavcodec61' }), pkg('libavcodec-extra61', '9', { provides: 'libavcodec61 (= 9)' }), pkg('libavcodec61', '7')])]);
  assert.deepEqual(names(resolveNames(u, ['app'])), ['app=1', 'libavcodec61=7']);
});

test('rule 2: unversioned Provides never satisfy a versioned dependency; versioned Provides only through =', () => {
  const plain = new Universe('amd64', [index('bookworm', [pkg('app', '1', { depends: 'mail-transport-agent (>= 2)' }), pkg('exim4', '4', { provides: 'mail-transport-agent' })])]);
  assert.throws(() => resolveNames(plain, ['app']), unresolvable(/app 1 \(bookworm\/main\) depends on mail-transport-agent \(>= 2\), but mail-transport-agent is a virtual package provided by exim4 \(an unversioned Provides cannot satisfy a versioned dependency\)/));
  const versioned = new Universe('amd64', [index('bookworm', [pkg('app', '1', { depends: 'mta (>= 2)' }), pkg('exim4', '4', { provides: 'mta (= 3)' }), pkg('old-mta', '1', { provides: 'mta (= 1)' })])]);
  assert.deepEqual(names(resolveNames(versioned, ['app'])), ['app=1', 'exim4=4']);
  const unversionedDep = new Universe('amd64', [index('bookworm', [pkg('app', '1', { depends: 'mta' }), pkg('exim4', '4', { provides: 'mta (= 3)' })])]);
  assert.deepEqual(names(resolveNames(unversionedDep, ['app'])), ['app=1', 'exim4=4']);
});

test('rules 3 and 5: one pool across suites, the highest version wins, providers included', () => {
  const u = new Universe('amd64', [
    index('bookworm', [pkg('nginx', '1.22.1-9', { depends: 'nginx-abi' }), pkg('nginx-core', '1.22.1-9', { provides: 'nginx-abi (= 1.22.1-9)' })], 0),
    index('bookworm-security', [pkg('nginx', '1.22.1-9+deb12u10', { depends: 'nginx-abi (= 1.22.1-9+deb12u10)' }), pkg('nginx-core', '1.22.1-9+deb12u10', { provides: 'nginx-abi (= 1.22.1-9+deb12u10)' })], 1),
  ]);
  const r = resolveNames(u, ['nginx']);
  assert.deepEqual(names(r), ['nginx=1.22.1-9+deb12u10', 'nginx-core=1.22.1-9+deb12u10']);
  assert.equal(r.packages[0]!.candidate.origin.suite, 'bookworm-security');
});

test('rule 11: identical versions in two sources: the first configured source wins (deterministic)', () => {
  const a = pkg('tool', '1.0', { filename: 'a' });
  const b = pkg('tool', '1.0', { filename: 'b' });
  for (const order of [
    [index('one', [a], 0), index('two', [b], 1)],
    [index('two', [b], 1), index('one', [a], 0)],
  ]) {
    const r = resolveNames(new Universe('amd64', order), ['tool']);
    assert.equal(r.packages[0]!.candidate.origin.suite, 'one');
  }
});

test('rule 4: alternatives left to right, but an already chosen or requested alternative is preferred', () => {
  const base = [pkg('app', '1', { depends: 'debconf (>= 0.5) | debconf-2.0' }), pkg('debconf', '1.5'), pkg('cdebconf', '0.2', { provides: 'debconf-2.0' })];
  assert.deepEqual(names(resolveNames(new Universe('amd64', [index('bookworm', base)]), ['app'])), ['app=1', 'debconf=1.5']);
  assert.deepEqual(names(resolveNames(new Universe('amd64', [index('bookworm', base)]), ['cdebconf', 'app'])), ['app=1', 'cdebconf=0.2']);
  assert.deepEqual(names(resolveNames(new Universe('amd64', [index('bookworm', base)]), ['app', 'cdebconf'])), ['app=1', 'cdebconf=0.2'], 'requested later, still preferred');
  // The first alternative has no candidate satisfying the version: the next one is taken.
  const old = [pkg('app', '1', { depends: 'debconf (>= 2) | debconf-2.0' }), pkg('debconf', '1.5'), pkg('cdebconf', '0.2', { provides: 'debconf-2.0' })];
  assert.deepEqual(names(resolveNames(new Universe('amd64', [index('bookworm', old)]), ['app'])), ['app=1', 'cdebconf=0.2']);
});

test('rule 9: among several providers a Priority: required one is preferred (awk -> mawk)', () => {
  const u = new Universe('amd64', [index('bookworm', [pkg('app', '1', { depends: 'awk' }), pkg('gawk', '5', { provides: 'awk', priority: 'optional' }), pkg('mawk', '1.3', { provides: 'awk', priority: 'required' }), pkg('busybox-awk', '1', { provides: 'awk' })])]);
  assert.deepEqual(names(resolveNames(u, ['app'])), ['app=1', 'mawk=1.3']);
});

test('rule 8: Conflicts/Breaks: a conflicting candidate is passed over for the next alternative, else a clear error', () => {
  const u = new Universe('amd64', [
    index('bookworm', [
      pkg('app', '1', { depends: 'mta' }),
      pkg('exim4', '4', { provides: 'mta', conflicts: 'mta', priority: 'standard' }),
      pkg('postfix', '3', { provides: 'mta', conflicts: 'mta' }),
      pkg('other', '1', { depends: 'postfix' }),
      pkg('breaker', '1', { breaks: 'libold (<< 2)' }),
      pkg('libold', '1'),
      pkg('libold-user', '1', { depends: 'libold' }),
    ]),
  ]);
  // exim4 would be preferred (priority), but postfix is already chosen: providers never pile up.
  assert.deepEqual(names(resolveNames(u, ['other', 'app'])), ['app=1', 'other=1', 'postfix=3']);
  assert.deepEqual(names(resolveNames(u, ['app'])), ['app=1', 'exim4=4'], 'a package that provides and conflicts with a virtual name does not conflict with itself');
  assert.throws(() => resolveNames(u, ['libold-user', 'breaker']), unresolvable(/breaker 1 breaks libold \(<< 2\)/));
  assert.throws(() => resolveNames(u, ['exim4', 'postfix']), unresolvable(/postfix 3 cannot be installed: (postfix 3 conflicts with mta, which exim4 4 provides|exim4 4 conflicts with mta, which postfix 3 provides)/));
});

test('the Essential set is added unless noEssential', () => {
  const u = new Universe('amd64', [index('bookworm', [pkg('bash', '5.2', { essential: true, depends: 'base-files' }), pkg('base-files', '12', { essential: true }), pkg('libc6', '2.36'), pkg('hello', '2', { depends: 'libc6' })])]);
  const r = resolveNames(u, ['hello'], false);
  assert.deepEqual(names(r), ['base-files=12', 'bash=5.2', 'hello=2', 'libc6=2.36']);
  assert.equal(r.packages.find((p) => p.candidate.name === 'bash')!.reason, 'essential');
  assert.deepEqual(names(resolveNames(u, ['hello'], true)), ['hello=2', 'libc6=2.36']);
});

test('Multi-Arch basics: :any needs Multi-Arch allowed (or foreign); :native and arch all', () => {
  const u = new Universe('amd64', [
    index('bookworm', [
      pkg('tool', '1', { depends: 'python3:any, perl:any, data, libx:native' }),
      pkg('python3', '3.11', { multiArch: 'allowed' }),
      pkg('perl', '5.36', { multiArch: 'foreign' }),
      pkg('data', '1', { architecture: 'all' }),
      pkg('libx', '1', { multiArch: 'same' }),
      pkg('strict', '1', { depends: 'plain:any' }),
      pkg('plain', '1'),
      pkg('armonly', '1', { architecture: 'arm64' }),
    ]),
  ]);
  assert.deepEqual(names(resolveNames(u, ['tool'])), ['data=1', 'libx=1', 'perl=5.36', 'python3=3.11', 'tool=1']);
  assert.throws(() => resolveNames(u, ['strict']), unresolvable(/strict 1 \(bookworm\/main\) depends on plain:any/));
  assert.throws(() => resolveNames(u, ['armonly']), unresolvable(/no configured source has armonly for amd64/));
});

test('rules 7 and 10: arch all packages resolve per architecture; a missing package names the architecture', () => {
  const indexes = [
    index('bookworm', [pkg('docs', '1', { architecture: 'all', depends: 'viewer' }), pkg('viewer', '1', { architecture: 'amd64' }), pkg('viewer', '1', { architecture: 'arm64' }), pkg('fast', '1', { architecture: 'amd64' })]),
  ];
  const amd = new Universe('amd64', indexes);
  const arm = new Universe('arm64', indexes);
  assert.equal(resolveNames(arm, ['docs']).packages.find((p) => p.candidate.name === 'viewer')!.candidate.architecture, 'arm64');
  assert.throws(() => resolveNames(arm, ['fast'], true, [amd]), unresolvable(/resolving for arm64: no configured source has fast for arm64 \(it exists for amd64\)/));
  assert.deepEqual(names(resolveNames(arm, ['docs', 'fast:amd64'], true, [amd])), ['docs=1', 'viewer=1'], 'fast:amd64 is requested only for amd64');
  assert.deepEqual(names(resolveNames(amd, ['docs', 'fast:amd64'])), ['docs=1', 'fast=1', 'viewer=1']);
});

test('requests: name=version, (op version), name/suite; virtual names', () => {
  const u = new Universe('amd64', [
    index('bookworm', [pkg('curl', '7.88.1-10'), pkg('cdebconf', '1', { provides: 'debconf-2.0' }), pkg('exim4', '4', { provides: 'mta' }), pkg('postfix', '3', { provides: 'mta' })], 0),
    index('bookworm-security', [pkg('curl', '7.88.1-10+deb12u5')], 1),
  ]);
  assert.deepEqual(names(resolveNames(u, ['curl'])), ['curl=7.88.1-10+deb12u5']);
  assert.deepEqual(names(resolveNames(u, ['curl=7.88.1-10'])), ['curl=7.88.1-10']);
  assert.deepEqual(names(resolveNames(u, ['curl (<< 7.88.1-10+deb12u1)'])), ['curl=7.88.1-10']);
  assert.deepEqual(names(resolveNames(u, ['curl/bookworm'])), ['curl=7.88.1-10']);
  assert.deepEqual(names(resolveNames(u, ['debconf-2.0'])), ['cdebconf=1'], 'a virtual name with one provider');
  assert.throws(() => resolveNames(u, ['mta']), unresolvable(/mta is a virtual package provided by exim4, postfix; request one of them/));
  assert.throws(() => resolveNames(u, ['curl=9']), unresolvable(/no curl matches request "curl=9"; available: 7\.88\.1-10\+deb12u5 \(bookworm-security\/main\), 7\.88\.1-10 \(bookworm\/main\)/));
  assert.throws(() => parsePackageRequest('bad name'), /package request "bad name"/);
});

test('an unsatisfiable version says what is available where, and through which chain', () => {
  const u = new Universe('amd64', [index('bookworm', [pkg('x', '1', { depends: 'y' }), pkg('y', '1', { depends: 'libz (>= 2)' }), pkg('libz', '1.5')])]);
  assert.throws(() => resolveNames(u, ['x']), unresolvable(/y 1 \(bookworm\/main\) depends on libz \(>= 2\), but bookworm\/main has only libz 1\.5\n {2}needed through: x -> y/));
  // A version already chosen that does not fit a later dependency.
  const v = new Universe('amd64', [index('bookworm', [pkg('a', '1', { depends: 'lib (= 1)' }), pkg('lib', '2'), pkg('lib', '1')])]);
  assert.throws(() => resolveNames(v, ['lib', 'a']), unresolvable(/lib 2 is already selected \(requested\) and does not satisfy lib \(= 1\)/));
});
