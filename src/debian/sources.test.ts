import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebianError } from './errors.js';
import { loadSources, parseDeb822Sources, parseSignedBy, parseSourcesList, selectSources, sourceName } from './sources.js';

test('one-line format: options, several components, deb-src and comments skipped', () => {
  const { sources, warnings } = parseSourcesList(
    [
      '# comment',
      'deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg check-valid-until=no] http://deb.debian.org/debian bookworm main contrib # trailing',
      'deb-src http://deb.debian.org/debian bookworm main',
      'deb [ trusted=yes by-hash=force arch-=i386 ] https://user:secret@example.org/apt/ stable main',
      'deb cdrom:[Debian]/ bookworm main',
      'deb http://example.org/flat ./',
    ].join('\n'),
    '/etc/apt/sources.list',
  );
  assert.equal(sources.length, 2);
  const [a, b] = sources;
  assert.equal(a!.uri, 'http://deb.debian.org/debian/');
  assert.equal(a!.suite, 'bookworm');
  assert.deepEqual(a!.components, ['main', 'contrib']);
  assert.deepEqual(a!.architectures, ['amd64', 'arm64']);
  assert.deepEqual(a!.signedBy, { keyrings: ['/usr/share/keyrings/debian-archive-keyring.gpg'], fingerprints: [] });
  assert.equal(a!.checkValidUntil, false);
  assert.equal(a!.definedAt, '/etc/apt/sources.list:2');
  assert.equal(b!.trusted, true);
  assert.equal(b!.byHash, true);
  assert.deepEqual(b!.excludeArchitectures, ['i386']);
  assert.equal(sourceName(b!), 'https://example.org/apt/ stable', 'credentials never appear in names');
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /sources\.list:5: skipping cdrom:.*only http, https and file/);
  assert.match(warnings[1]!, /sources\.list:6: skipping flat repository/);
});

test('one-line format errors name file and line', () => {
  assert.throws(() => parseSourcesList('deb http://x/\n', 'f.list'), (e: unknown) => e instanceof DebianError && e.code === 'SOURCES_INVALID' && /f\.list:1: want "deb \[options\] uri suite component/.test(e.message));
  assert.throws(() => parseSourcesList('\n\nrpm http://x/ a b\n', 'f.list'), /f\.list:3: unknown type "rpm"/);
  assert.throws(() => parseSourcesList('deb [trusted=maybe] http://x/ a b\n', 'f.list'), /f\.list:1: option trusted: expected yes or no/);
  assert.throws(() => parseSourcesList('deb http://x/ bookworm\n', 'f.list'), /no components/);
  assert.throws(() => parseSourcesList('deb [signed-by=relative.gpg] http://x/ a b\n', 'f.list'), /neither an absolute keyring path nor a key fingerprint/);
});

test('deb822 format: several URIs and Suites expand, Enabled: no and deb-src-only stanzas are skipped', () => {
  const text = `# machine sources
Types: deb deb-src
URIs: http://deb.debian.org/debian http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Architectures: amd64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Enabled: no

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://snapshot.debian.org/archive/debian/20250520T000000Z
Suites: bookworm
Components: main
Check-Valid-Until: no
Signed-By: 4D64FEC119C2029067D6E791F8D2585B8783D481 /usr/share/keyrings/debian-archive-keyring.gpg
`;
  const { sources } = parseDeb822Sources(text, 'debian.sources');
  assert.deepEqual(
    sources.map((s) => `${s.uri} ${s.suite}`),
    [
      'http://deb.debian.org/debian/ bookworm',
      'http://deb.debian.org/debian/ bookworm-updates',
      'http://mirror.example/debian/ bookworm',
      'http://mirror.example/debian/ bookworm-updates',
      'http://snapshot.debian.org/archive/debian/20250520T000000Z/ bookworm',
    ],
  );
  assert.equal(sources[0]!.definedAt, 'debian.sources:2');
  assert.deepEqual(sources[0]!.architectures, ['amd64']);
  const snap = sources[4]!;
  assert.equal(snap.checkValidUntil, false);
  assert.deepEqual(snap.signedBy, { keyrings: ['/usr/share/keyrings/debian-archive-keyring.gpg'], fingerprints: ['4D64FEC119C2029067D6E791F8D2585B8783D481'] });
  assert.throws(() => parseDeb822Sources('Types: deb\nSuites: a\nComponents: main\n', 'x.sources'), /x\.sources:1: missing URIs/);
});

test('deb822 Signed-By may carry an inline armored key block', () => {
  const text = 'Types: deb\nURIs: https://example.org/apt\nSuites: stable\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mDMEZ...\n =abcd\n -----END PGP PUBLIC KEY BLOCK-----\n';
  const { sources } = parseDeb822Sources(text, 'x.sources');
  assert.equal(sources[0]!.signedBy?.inline, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n');
  assert.deepEqual(parseSignedBy('AAAAAAAAAAAAAAAA!', 'x'), { keyrings: [], fingerprints: ['AAAAAAAAAAAAAAAA'] });
});

test('loadSources reads sources.list and sources.list.d/*.list|*.sources in apt order, ignoring other files', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lading-sources-'));
  try {
    await mkdir(join(root, 'etc/apt/sources.list.d'), { recursive: true });
    await writeFile(join(root, 'etc/apt/sources.list'), 'deb http://a.example/debian bookworm main\n');
    await writeFile(join(root, 'etc/apt/sources.list.d/b.sources'), 'Types: deb\nURIs: http://b.example/debian\nSuites: bookworm-updates\nComponents: main\n');
    await writeFile(join(root, 'etc/apt/sources.list.d/a.list'), 'deb http://c.example/debian bookworm-security main\n');
    await writeFile(join(root, 'etc/apt/sources.list.d/google.list.disabled-by-farm'), 'deb https://unreachable.example/apt x main\n');
    const { sources } = await loadSources({ root });
    assert.deepEqual(
      sources.map((s) => s.uri),
      ['http://a.example/debian/', 'http://c.example/debian/', 'http://b.example/debian/'],
    );
    assert.deepEqual(selectSources(sources, { suites: ['bookworm', 'bookworm-security'] }).map((s) => s.suite), ['bookworm', 'bookworm-security']);
    assert.throws(() => selectSources(sources, { suites: ['trixie'] }), /trixie is not a configured suite \(configured: bookworm, bookworm-security, bookworm-updates\)/);
    await assert.rejects(loadSources({ root: join(root, 'nothing') }), (e: unknown) => e instanceof DebianError && e.code === 'SOURCES_INVALID' && /no apt sources/.test(e.message));
    await assert.rejects(loadSources({ files: [join(root, 'missing.sources')] }), /reading apt sources .*missing\.sources/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
