import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebianError } from './errors.js';
import { loadSources, parseDeb822Sources, parseSignedBy, parseSourcesList, parseSourcesText, selectSources, sourceName } from './sources.js';

test('one-line format: options, several components, deb-src and comments skipped', () => {
  const { sources, warnings } = parseSourcesList(
    [
      '# comment',
      'deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg check-valid-until=no] http://deb.debian.org/debian bookworm main contrib # trailing',
      'deb-src http://deb.debian.org/debian trixie main',
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
Suites: trixie
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
  assert.deepEqual(parseSignedBy(`${'A'.repeat(40)}!`, 'x'), { keyrings: [], fingerprints: [`${'A'.repeat(40)}!`] });
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

test('one-line option names are case-sensitive as in apt: TRUSTED=, Arch=, Architectures=, trusted+= are ignored with a warning', () => {
  const { sources, warnings } = parseSourcesList(
    'deb [TRUSTED=yes Arch=arm64 Architectures=arm64 SIGNED-BY=/x.gpg Check-Valid-Until=no trusted+=yes frobnicate=1 lang=de] http://b.example/debian bookworm main\n',
    'f.list',
  );
  const [s] = sources;
  assert.equal(s!.trusted, false, 'TRUSTED=yes must not turn off the signature check');
  assert.equal(s!.architectures, undefined);
  assert.equal(s!.signedBy, undefined);
  assert.equal(s!.checkValidUntil, true);
  assert.equal(warnings.length, 7, warnings.join('\n'));
  assert.ok(warnings.every((w) => w.startsWith('f.list:1: ignoring option ')), warnings.join('\n'));
  assert.match(warnings[0]!, /TRUSTED=.*case-sensitive.*trusted=/);
  assert.match(warnings[2]!, /Architectures=.*one-line format.*arch=/);
  assert.match(warnings[5]!, /trusted\+=.*only arch, lang and target/);
  assert.match(warnings[6]!, /frobnicate=.*not an apt option/);
});

test('an unparsable URI never shows what stands between :// and the last @ (a / in the password)', () => {
  const secretFree = (e: unknown) => e instanceof DebianError && e.code === 'SOURCES_INVALID' && e.message.includes('"http://***@c.example/debian"') && !/s3|cret|user/.test(e.message);
  assert.throws(() => parseSourcesList('deb http://user:s3/cret@c.example/debian bookworm main\n', 'f.list'), secretFree);
  assert.throws(() => parseDeb822Sources('Types: deb\nURIs: http://user:s3/cret@c.example/debian\nSuites: bookworm\nComponents: main\n', 'f.sources'), secretFree);
  assert.throws(() => parseSourcesList('deb [arch=amd64 http://user:s3/cret@c.example/debian bookworm main\n', 'f.list'), (e: unknown) => e instanceof DebianError && !/s3|cret/.test(e.message));
});

test('Signed-By takes only full 40-hex fingerprints (apt: "not a fingerprint"), and keeps the exact-key "!"', () => {
  assert.throws(
    () => parseSourcesList('deb [signed-by=A1B2C3D4E5F60718] http://b.example/debian bookworm main\n', 'f.list'),
    (e: unknown) => e instanceof DebianError && e.code === 'SOURCES_INVALID' && /^f\.list:1: .*"A1B2C3D4E5F60718" is not a fingerprint/.test(e.message),
  );
  assert.throws(() => parseSignedBy('A1B2C3D4E5F60718!', 'x'), /not a fingerprint/);
  const fpr = '05ab90340c0c5e797f44a8c8254cf3b5aec0a8f0';
  assert.deepEqual(parseSignedBy(`${fpr}! /k.gpg`, 'x'), { keyrings: ['/k.gpg'], fingerprints: [`${fpr.toUpperCase()}!`] });
});

test('one URI and suite with different trusted or Signed-By is refused naming both places; an exact duplicate is used once', async () => {
  const conflict = (text: string, re: RegExp) =>
    assert.throws(() => parseSourcesList(text, 'f.list'), (e: unknown) => e instanceof DebianError && e.code === 'SOURCES_INVALID' && re.test(e.message));
  conflict('deb [trusted=yes] http://b.example/debian bookworm main\ndeb http://b.example/debian/ bookworm contrib\n', /f\.list:2: .*Trusted.*f\.list:1/);
  conflict('deb [signed-by=/a.gpg] http://b.example/debian bookworm main\ndeb [signed-by=/b.gpg] http://b.example/debian bookworm contrib\n', /f\.list:2: .*Signed-By.*f\.list:1/);
  conflict('deb http://b.example/debian bookworm main\ndeb [signed-by=/b.gpg] http://b.example/debian bookworm contrib\n', /Signed-By/);
  conflict('deb http://b.example/debian bookworm main\ndeb-src [trusted=no] http://b.example/debian bookworm main\n', /Trusted/);
  conflict('deb [check-valid-until=no] http://b.example/debian bookworm main\ndeb http://b.example/debian bookworm contrib\n', /Check-Valid-Until/);
  // Same trust, other suite or other components: not a conflict, nothing dropped.
  assert.equal(parseSourcesList('deb [trusted=yes] http://b.example/debian bookworm main\ndeb [trusted=1] http://b.example/debian bookworm contrib\ndeb http://b.example/debian trixie main\n', 'f.list').sources.length, 3);
  const dup = parseSourcesList('deb http://b.example/debian bookworm main\ndeb http://b.example/debian bookworm main\ndeb http://b.example/debian bookworm contrib main\n', 'f.list');
  assert.deepEqual(dup.sources.map((s) => `${s.definedAt} ${s.components.join(',')}`), ['f.list:1 main', 'f.list:3 contrib']);
  assert.equal(dup.warnings.length, 2);
  assert.match(dup.warnings[0]!, /^f\.list:2: http:\/\/b\.example\/debian\/ bookworm main is configured multiple times \(first at f\.list:1\); using it once/);
  // Across files (the machine's sources.list and a part), the same checks hold.
  const root = await mkdtemp(join(tmpdir(), 'lading-sources-'));
  try {
    await mkdir(join(root, 'etc/apt/sources.list.d'), { recursive: true });
    await writeFile(join(root, 'etc/apt/sources.list'), 'deb http://b.example/debian bookworm main\n');
    await writeFile(join(root, 'etc/apt/sources.list.d/b.sources'), 'Types: deb\nURIs: http://b.example/debian\nSuites: bookworm\nComponents: main\nTrusted: yes\n');
    await assert.rejects(loadSources({ root }), (e: unknown) => e instanceof DebianError && /b\.sources:1: .*Trusted.*sources\.list:1/.test(e.message));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('Architectures-Add / Architectures-Remove and arch+= / arch-= follow apt', () => {
  const stanza = (extra: string) => parseDeb822Sources(`Types: deb\nURIs: http://b.example/debian\nSuites: bookworm\nComponents: main\n${extra}`, 'x.sources').sources[0]!;
  const a = stanza('Architectures: arm64\nArchitectures-Add: s390x i386\n');
  assert.deepEqual(a.architectures, ['arm64', 's390x', 'i386']);
  const b = stanza('Architectures-Remove: arm64 i386\n');
  assert.equal(b.architectures, undefined);
  assert.deepEqual(b.excludeArchitectures, ['arm64', 'i386']);
  const c = stanza('Architectures: arm64 i386\nArchitectures-Remove: i386\narchitectures-add: i386\n');
  assert.deepEqual(c.architectures, ['arm64'], 'removal wins over addition, as in apt');
  assert.equal(stanza('Architectures-Add: s390x\n').architectures, undefined, 'adding to the default set restricts nothing');
  const [d] = parseSourcesList('deb [arch+=s390x arch=arm64 arch-=i386] http://b.example/debian bookworm main\n', 'f.list').sources;
  assert.deepEqual(d!.architectures, ['arm64', 's390x']);
  assert.deepEqual(d!.excludeArchitectures, ['i386']);
});

test('a line of only spaces or tabs inside deb822 stanzas is refused (apt reads it as a continuation line and merges the stanzas)', () => {
  const s1 = 'Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nComponents: main\n';
  const s2 = 'Types: deb\nURIs: http://b.example/debian\nSuites: trixie\nComponents: contrib\n';
  assert.throws(() => parseDeb822Sources(`${s1} \t\n${s2}`, 'x.sources'), (e: unknown) => e instanceof DebianError && e.code === 'SOURCES_INVALID' && /^x\.sources:5: .*only spaces or tabs.*make it empty/.test(e.message));
  assert.throws(() => parseDeb822Sources(`${s1} \n# comment\n${s2}`, 'x.sources'), /x\.sources:5: .*only spaces or tabs/);
  // Where apt and lading agree (next to an empty line, at the end), it is harmless.
  assert.equal(parseDeb822Sources(`${s1} \n\n \n${s2} \n`, 'x.sources').sources.length, 2);
  // Inside a Signed-By key block apt takes it as an empty continuation line, like " .".
  const key = parseDeb822Sources(`${s1}Signed-By: -----BEGIN PGP PUBLIC KEY BLOCK-----\n \n mDMEZ\n -----END PGP PUBLIC KEY BLOCK-----\n`, 'x.sources');
  assert.equal(key.sources[0]!.signedBy?.inline, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n');
});

test('sources.list.d: names starting with a dot are ignored and directories skipped, as apt does', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lading-sources-'));
  try {
    const d = join(root, 'etc/apt/sources.list.d');
    await mkdir(join(d, 'dir.list'), { recursive: true });
    await writeFile(join(d, '.hidden.list'), 'deb http://hidden.example/debian bookworm main\n');
    await writeFile(join(d, 'a:b.list'), 'deb http://colon.example/debian bookworm main\n');
    await writeFile(join(d, 'a+b.list'), 'deb http://plus.example/debian bookworm main\n');
    await writeFile(join(root, 'etc/apt/target'), 'deb http://linked.example/debian bookworm main\n');
    await symlink('../target', join(d, 'z.list'));
    const { sources } = await loadSources({ root });
    assert.deepEqual(sources.map((s) => s.uri), ['http://colon.example/debian/', 'http://linked.example/debian/']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('when every entry is skipped, the error gives each reason with file:line', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lading-sources-'));
  try {
    const flat = join(root, 'flat.list');
    await writeFile(flat, 'deb http://b.example/debian bookworm/\ndeb mirror+http://b.example/mirrors.txt bookworm main\n');
    await assert.rejects(loadSources({ files: [flat] }), (e: unknown) => {
      assert.ok(e instanceof DebianError && e.code === 'SOURCES_INVALID');
      assert.match(e.message, /flat\.list:1: skipping flat repository/);
      assert.match(e.message, /flat\.list:2: skipping mirror\+http:.*only http, https and file/);
      assert.doesNotMatch(e.hint ?? '', /--sources/, 'the file was given: asking for --sources FILE does not help');
      return true;
    });
    await assert.rejects(loadSources({ root: join(root, 'nothing') }), (e: unknown) => e instanceof DebianError && /--sources FILE/.test(e.hint ?? ''));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('deb-src without components is malformed as for deb; a UTF-8 byte order mark is refused by name', () => {
  assert.throws(() => parseSourcesList('deb-src http://b.example/debian bookworm\n', 'f.list'), /f\.list:1: .*no components/);
  assert.throws(() => parseDeb822Sources('Types: deb-src\nURIs: http://b.example/debian\nSuites: bookworm\n', 'x.sources'), /x\.sources:1: .*no components/);
  for (const [text, name] of [
    ['\ufeffdeb http://b.example/debian bookworm main\n', 'f.list'],
    ['\ufeffTypes: deb\nURIs: http://b.example/debian\nSuites: bookworm\nComponents: main\n', 'x.sources'],
  ] as const) {
    assert.throws(
      () => parseSourcesText(text, name),
      (e: unknown) => e instanceof DebianError && e.code === 'SOURCES_INVALID' && e.message === `${name}: starts with a UTF-8 byte order mark (apt refuses it); save the file without it`,
    );
  }
});
