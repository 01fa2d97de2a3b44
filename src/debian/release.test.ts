import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DebianError } from './errors.js';
import { loadKeyring, parseKeyring } from './keyring.js';
import { checkRelease, parseRelease, parseReleaseDate, verifyInRelease } from './release.js';

const inRelease = readFileSync(new URL('./testdata/bookworm-security.InRelease', import.meta.url));
const keyringPath = new URL('./testdata/debian-archive-keyring.gpg', import.meta.url).pathname;
const at = new Date('2026-11-26T00:00:00Z');
const what = 'bookworm-security/InRelease';

test('a real Debian InRelease verifies against debian-archive-keyring (two signatures)', async () => {
  const keyring = await loadKeyring({ keyrings: [keyringPath], fingerprints: [] });
  assert.equal(keyring.keys.length, 9);
  const v = await verifyInRelease(inRelease, keyring, { what, now: at });
  assert.deepEqual(v.signers, ['05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0', 'AC530D520F2F3269F5E98313A48449044AAD5C5D']);
  const r = parseRelease(v.text, what);
  assert.equal(r.codename, 'bookworm-security');
  assert.equal(r.label, 'Debian-Security');
  assert.ok(r.acquireByHash);
  assert.deepEqual(r.validUntil?.toISOString(), '2026-12-02T02:22:30.000Z');
  assert.ok(r.components.includes('updates/main'));
  const px = r.files.get('main/binary-amd64/Packages.xz');
  assert.ok(px && px.size > 0 && /^[0-9a-f]{64}$/.test(px.sha256));
  assert.ok(r.files.get('main/binary-amd64/Packages'), 'uncompressed entry listed');
});

test('one good signature suffices: signatures by keys outside the keyring are ignored', async () => {
  const only = await loadKeyring({ keyrings: [keyringPath], fingerprints: ['05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0'] });
  assert.equal(only.keys.length, 1);
  const v = await verifyInRelease(inRelease, only, { what, now: at });
  assert.deepEqual(v.signers, ['05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0']);
  // A subkey fingerprint selects its primary key too.
  const bySub = await loadKeyring({ keyrings: [keyringPath], fingerprints: ['ED541312A33F1128F10B1C6C54404762BBB6E853'] });
  assert.equal(bySub.fingerprints[0], 'AC530D520F2F3269F5E98313A48449044AAD5C5D');
});

test('a one-character change, text outside the signed block, or no matching key is refused', async () => {
  const keyring = await loadKeyring({ keyrings: [keyringPath], fingerprints: [] });
  const changed = Buffer.from(inRelease.toString('utf8').replace('Suite: oldstable-security', 'Suite: oldstable-securitz'));
  await assert.rejects(verifyInRelease(changed, keyring, { what, now: at }), (e: unknown) => e instanceof DebianError && e.code === 'SIGNATURE_INVALID' && e.message.startsWith(`${what}: no valid signature`));
  const appended = Buffer.concat([inRelease, Buffer.from('\nPackage: evil\n')]);
  await assert.rejects(verifyInRelease(appended, keyring, { what, now: at }), /not a single OpenPGP cleartext-signed message/);
  const other = await loadKeyring({ keyrings: [keyringPath], fingerprints: ['4D64FEC119C2029067D6E791F8D2585B8783D481'] });
  await assert.rejects(verifyInRelease(inRelease, other, { what, now: at }), /no valid signature by a key of/);
  await assert.rejects(loadKeyring({ keyrings: [keyringPath], fingerprints: ['0123456789ABCDEF0123456789ABCDEF01234567'] }), (e: unknown) => e instanceof DebianError && e.code === 'KEYRING_INVALID');
});

test('keyrings: armored and binary forms are read; a keybox is refused with a hint', async () => {
  const binary = readFileSync(keyringPath);
  const keys = await parseKeyring(binary, 'k');
  const armored = keys[0]!.armor();
  assert.equal((await parseKeyring(Buffer.from(armored), 'k.asc'))[0]!.getFingerprint(), keys[0]!.getFingerprint());
  const kbx = Buffer.alloc(64);
  kbx.write('KBXf', 4, 'latin1');
  await assert.rejects(parseKeyring(kbx, 'pubring.kbx'), (e: unknown) => e instanceof DebianError && e.code === 'KEYRING_INVALID' && /gpg --export/.test(e.hint ?? ''));
  await assert.rejects(parseKeyring(Buffer.from('garbage'), 'bad.gpg'), /bad\.gpg: cannot read OpenPGP keys/);
});

test('Release dates: RFC 2822 with UTC, GMT, Z or +0000 only', () => {
  assert.equal(parseReleaseDate('Sat, 11 Jul 2026 10:16:37 UTC', 'd').toISOString(), '2026-07-11T10:16:37.000Z');
  assert.equal(parseReleaseDate('11 Jul 2026 10:16:37 +0000', 'd').toISOString(), '2026-07-11T10:16:37.000Z');
  assert.equal(parseReleaseDate('Sat, 1 Jul 2026 01:02:03 GMT', 'd').toISOString(), '2026-07-01T01:02:03.000Z');
  assert.throws(() => parseReleaseDate('Sat, 11 Jul 2026 10:16:37 +0200', 'Date'), /Date: invalid date/);
  assert.throws(() => parseReleaseDate('2026-07-11', 'Date'), /invalid date/);
});

test('checkRelease: Valid-Until, Date in the future, suite/codename, components, architectures', () => {
  const r = parseRelease(
    'Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 11 Jul 2026 10:00:00 UTC\nValid-Until: Sat, 18 Jul 2026 10:00:00 UTC\nArchitectures: amd64 arm64\nComponents: main contrib\nSHA256:\n ' +
      `${'a'.repeat(64)}   123 main/binary-amd64/Packages\n`,
    'R',
  );
  const base = { suite: 'bookworm', components: ['main'], architectures: ['amd64'], checkValidUntil: true, checkDate: true, now: new Date('2026-07-12T00:00:00Z'), what: 'R' };
  assert.deepEqual(checkRelease(r, base), { missingArchitectures: [] });
  assert.deepEqual(checkRelease(r, { ...base, suite: 'stable', architectures: ['amd64', 's390x'] }), { missingArchitectures: ['s390x'] });
  assert.throws(() => checkRelease(r, { ...base, now: new Date('2026-07-19T00:00:00Z') }), (e: unknown) => e instanceof DebianError && e.code === 'RELEASE_EXPIRED' && /R: expired/.test(e.message));
  assert.doesNotThrow(() => checkRelease(r, { ...base, checkValidUntil: false, now: new Date('2027-01-01T00:00:00Z') }));
  assert.throws(() => checkRelease(r, { ...base, now: new Date('2026-07-10T00:00:00Z') }), /in the future/);
  assert.doesNotThrow(() => checkRelease(r, { ...base, checkDate: false, now: new Date('2026-07-10T00:00:00Z') }));
  assert.throws(() => checkRelease(r, { ...base, suite: 'trixie' }), /is for bookworm\/stable, not trixie/);
  assert.throws(() => checkRelease(r, { ...base, components: ['main', 'non-free'] }), /component non-free not in Components/);
  assert.equal(r.files.get('main/binary-amd64/Packages')?.size, 123);
  assert.throws(() => parseRelease('SHA256:\n xyz 1 a\n', 'R'), /R: malformed SHA256 line/);
});
