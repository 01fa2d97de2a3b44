// Acceptance (issue #4): a tampered InRelease, a Packages whose hash disagrees with the Release,
// and a .deb whose SHA256 disagrees with the index are each refused with an error naming the file.
// Plus the rest of the trust chain: Release + Release.gpg, Valid-Until and its snapshot opt-out,
// a wrong key, revalidation with conditional requests, offline use and unreachable sources.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestFile, fixedClock } from '../../../src/core/index.js';
import { aptFetch, aptResolve, DebianError, type DebianErrorCode } from '../../../src/debian/index.js';
import { startAptRepo, type AptRepo } from '../../helpers/apt-repo.js';

let repo: AptRepo;
let work: string;
let n = 0;
const freshCache = () => join(work, `cache-${n++}`);

before(async () => {
  // A small closure keeps these tests quick; the full set is exercised by resolve.test.ts.
  repo = await startAptRepo();
  work = await mkdtemp(join(tmpdir(), 'lading-apt-verify-'));
});
after(async () => {
  await repo?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function isDebianError(code: DebianErrorCode, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof DebianError, `not a DebianError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  };
}

test('a tampered InRelease is refused, naming the InRelease', async () => {
  repo.setTamper({ inRelease: (text) => text.replace(/^Label: .*$/m, 'Label: someone-else') });
  try {
    await assert.rejects(
      aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir: freshCache() }),
      isDebianError('SIGNATURE_INVALID', new RegExp(`${repo.url.replace(/[/.]/g, '\\$&')}dists/bookworm/InRelease: no valid signature`)),
    );
    // A hash line changed the same way.
    repo.setTamper({ inRelease: (text) => text.replace(/^( [0-9a-f]{64}\s+\d+ main\/binary-\S+\/Packages\.xz)$/m, (l) => l.replace(/[0-9a-f]/, (c) => (c === '0' ? '1' : '0'))) });
    await assert.rejects(
      aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir: freshCache() }),
      isDebianError('SIGNATURE_INVALID', /InRelease/),
    );
  } finally {
    repo.setTamper(undefined);
  }
});

test('a Packages index whose hash disagrees with the Release is refused, naming the index', async () => {
  repo.setTamper({ packages: true });
  try {
    await assert.rejects(
      aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir: freshCache() }),
      isDebianError('HASH_MISMATCH', new RegExp(`dists/bookworm/main/binary-${repo.architecture}/Packages\\.xz: (digest|size) mismatch`)),
    );
  } finally {
    repo.setTamper(undefined);
  }
});

test('a .deb whose SHA256 disagrees with the index is refused, naming the file, and nothing is cached', async () => {
  const cacheDir = freshCache();
  const { lock } = await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir });
  repo.setTamper({ debs: ['curl'] });
  try {
    await assert.rejects(aptFetch({ lock, cacheDir }), isDebianError('HASH_MISMATCH', /pool\/main\/curl_[^ ]+_(amd64|arm64|all)\.deb \(curl [^)]+\): digest mismatch.*\(the file differs from what the lock records for it\)$/));
    await assert.rejects(aptFetch({ lock, cacheDir, offline: true }), isDebianError('OFFLINE_MISSING', /locked files are not in the cache:\n {2}curl=/));
  } finally {
    repo.setTamper(undefined);
  }
  const ok = await aptFetch({ lock, cacheDir });
  assert.ok(ok.some((f) => f.package.name === 'curl' && !f.cached));

  // A cached .deb damaged in place (same size) is found, removed and fetched again; offline it
  // is reported missing instead of being used.
  const curl = ok.find((f) => f.package.name === 'curl')!;
  const bytes = await readFile(curl.path);
  const mid = bytes.length >> 1;
  bytes.writeUInt8(bytes.readUInt8(mid) ^ 0xff, mid);
  await writeFile(curl.path, bytes);
  await assert.rejects(aptFetch({ lock, cacheDir, offline: true }), isDebianError('OFFLINE_MISSING', /locked files are not in the cache:\n {2}curl=/));
  await writeFile(curl.path, bytes);
  const again = await aptFetch({ lock, cacheDir });
  const fetched = again.find((f) => f.package.name === 'curl')!;
  assert.equal(fetched.cached, false, 'downloaded again');
  assert.equal((await digestFile(fetched.path)).digest, `sha256:${curl.package.sha256}`);
});

test('a keyring without the signing key is refused; the armored key and a fingerprint selection work', async () => {
  const wrong = join(work, 'wrong.sources');
  await writeFile(wrong, repo.sourcesText.replace(repo.keyringPath, '/usr/share/keyrings/debian-archive-keyring.gpg'));
  await assert.rejects(aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [wrong], cacheDir: freshCache() }), isDebianError('SIGNATURE_INVALID', /InRelease: no valid signature/));
  const armored = join(work, 'armored.list');
  await writeFile(armored, `deb [signed-by=${repo.armoredKeyPath},${repo.fingerprint}] ${repo.url} ${repo.suite} main\n`);
  const { lock } = await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [armored], cacheDir: freshCache() });
  assert.deepEqual(lock.sources[0]!.signers, [repo.fingerprint]);
});

test('Release + Release.gpg (no InRelease) is verified too', async () => {
  const old = await startAptRepo({ debs: repo.debs.filter((d) => /\/(curl|libc6|libcurl4|gcc-12-base)_/.test(d)), inRelease: false });
  try {
    await assert.rejects(
      aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [old.sourcesFile], cacheDir: freshCache() }),
      isDebianError('UNRESOLVABLE', /libc6 \S+ \(bookworm\/main\) depends on libgcc-s1, but no configured source has libgcc-s1 for \w+\n {2}needed through: curl -> libc6/),
      'the four-package repository cannot satisfy curl, but it is read through Release + Release.gpg',
    );
    const { lock } = await aptResolve({ packages: ['gcc-12-base'], noEssential: true, sourcesFiles: [old.sourcesFile], cacheDir: freshCache() });
    assert.equal(lock.sources[0]!.releaseFile, 'Release');
    assert.ok(old.requests.some((r) => r.startsWith('404 dists/bookworm/InRelease')));
  } finally {
    await old.close();
  }
});

test('an expired Valid-Until is refused unless the source says check-valid-until=no (recorded in the lock)', async () => {
  const later = fixedClock(Date.now() + 30 * 86400_000);
  await assert.rejects(
    aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir: freshCache(), clock: later }),
    isDebianError('RELEASE_EXPIRED', /InRelease: expired: Valid-Until/),
  );
  const snap = join(work, 'snapshot.sources');
  await writeFile(snap, `${repo.sourcesText}Check-Valid-Until: no\n`);
  const { lock } = await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [snap], cacheDir: freshCache(), clock: later });
  assert.equal(lock.sources[0]!.checkValidUntil, false);
  assert.equal(lock.request.sources[0]!.checkValidUntil, false);
});

test('InRelease is revalidated with a conditional request; indexes come from the cache; --offline needs no network', async () => {
  const cacheDir = freshCache();
  await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir });
  const mark = repo.requests.length;
  await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir });
  assert.deepEqual(repo.requests.slice(mark), ['304 dists/bookworm/InRelease (conditional)']);
  const mark2 = repo.requests.length;
  const { lock } = await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir, offline: true });
  assert.equal(repo.requests.length, mark2);
  assert.ok(lock.architectures[repo.architecture]!.packages.some((p) => p.name === 'curl'));
  await assert.rejects(
    aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir: freshCache(), offline: true }),
    isDebianError('OFFLINE_MISSING', /InRelease: not in the cache and --offline is set$/),
  );
});

test('an unreachable source is skipped with a warning (recorded in the lock), or fatal with onUnreachable: fail', async () => {
  const both = join(work, 'both.sources');
  await writeFile(both, `${repo.sourcesText}\nTypes: deb\nURIs: http://127.0.0.1:9/nowhere/\nSuites: bookworm-updates\nComponents: main\nSigned-By: ${repo.keyringPath}\n`);
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {}, child() { return logger; } };
  const { lock } = await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [both], cacheDir: freshCache(), retries: 1, retryDelayMs: 10, logger });
  assert.equal(lock.sources.length, 1);
  assert.equal(lock.skippedSources?.[0]?.name, 'http://127.0.0.1:9/nowhere/ bookworm-updates');
  assert.ok(warnings.some((w) => /W: Failed to fetch http:\/\/127\.0\.0\.1:9\/nowhere\/ bookworm-updates/.test(w)), warnings.join('\n'));
  await assert.rejects(
    aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [both], cacheDir: freshCache(), retries: 0, onUnreachable: 'fail' }),
    isDebianError('FETCH_FAILED', /127\.0\.0\.1:9\/nowhere\/dists\/bookworm-updates\/InRelease: cannot reach it: /),
  );
  const only = await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [both], suites: ['bookworm'], cacheDir: freshCache(), retries: 0, onUnreachable: 'fail' });
  assert.equal(only.lock.sources.length, 1, '--suite leaves the unreachable source out');
});

test('file: URIs work like http ones, and a request for an architecture that is not resolved is refused', async () => {
  const local = join(work, 'file.sources');
  await writeFile(local, repo.sourcesText.replace(repo.url, `file://${repo.dir}/`));
  const { lock } = await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [local], cacheDir: freshCache() });
  assert.equal(lock.sources[0]!.uri, `file://${repo.dir}/`);
  const fetched = await aptFetch({ lock, cacheDir: freshCache() });
  assert.ok(fetched.length > 1);
  await assert.rejects(
    aptResolve({ packages: ['curl:s390x'], noEssential: true, sourcesFiles: [local], cacheDir: freshCache() }),
    isDebianError('UNRESOLVABLE', /"curl:s390x" asks for an architecture that is not resolved/),
  );
});

test('binary-all is loaded when the Release lists architecture all (arch all packages only there)', async () => {
  const split = await startAptRepo({ debs: repo.debs, allPackages: 'separate' });
  try {
    const { lock } = await aptResolve({ packages: ['ca-certificates'], noEssential: true, sourcesFiles: [split.sourcesFile], cacheDir: freshCache() });
    assert.deepEqual(lock.sources[0]!.indexes.map((ix) => ix.path).sort(), ['main/binary-all/Packages', `main/binary-${split.architecture}/Packages`]);
    const pk = lock.architectures[split.architecture]!.packages;
    assert.equal(pk.find((p) => p.name === 'ca-certificates')?.architecture, 'all');
    assert.ok(pk.some((p) => p.architecture === split.architecture), 'its dependencies come from the arch index');
  } finally {
    await split.close();
  }
});
