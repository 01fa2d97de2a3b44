import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { DebianError } from './errors.js';
import { APT_LOCK_VERSION, aptLockJsonSchema, aptRequest, parseLock, requestChecksum, serializeLock, type AptLock } from './lock.js';
import { parseSourcesList } from './sources.js';

const schemaFile = new URL('../../schemas/debian/apt-lock.schema.json', import.meta.url);

test('schemas/debian/apt-lock.schema.json is the JSON Schema generated from the zod schema (UPDATE_SNAPSHOTS=1 rewrites it)', async () => {
  const want = aptLockJsonSchema();
  if (process.env.UPDATE_SNAPSHOTS === '1') {
    await mkdir(new URL('.', schemaFile), { recursive: true });
    await writeFile(schemaFile, want);
  }
  const have = await readFile(schemaFile, 'utf8').catch(() => '');
  assert.equal(have, want, 'schemas/debian/apt-lock.schema.json is stale: run UPDATE_SNAPSHOTS=1 node scripts/test.mjs src/debian/lock.test.ts');
  const parsed = JSON.parse(want) as { title: string; properties: Record<string, unknown>; required: string[] };
  assert.equal(parsed.title, 'lading apt lock');
  assert.deepEqual(parsed.required.sort(), ['architectures', 'lockVersion', 'request', 'requestChecksum', 'sources']);
});

function sampleLock(): AptLock {
  const { sources } = parseSourcesList('deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] https://user:pw@deb.example/debian bookworm main\n', 'x.list');
  const request = aptRequest({ packages: ['curl'], architectures: ['amd64'], sources });
  return {
    lockVersion: APT_LOCK_VERSION,
    requestChecksum: requestChecksum(request),
    request,
    sources: [
      {
        name: 'https://deb.example/debian/ bookworm',
        uri: 'https://deb.example/debian/',
        suite: 'bookworm',
        codename: 'bookworm',
        components: ['main'],
        releaseFile: 'InRelease',
        inRelease: `sha256:${'1'.repeat(64)}`,
        signers: ['4D64FEC119C2029067D6E791F8D2585B8783D481'],
        trusted: false,
        checkValidUntil: true,
        indexes: [{ path: 'main/binary-amd64/Packages', component: 'main', architecture: 'amd64', sha256: '2'.repeat(64), size: 10, fetched: { path: 'main/binary-amd64/Packages.xz', sha256: '3'.repeat(64), size: 5 } }],
      },
    ],
    architectures: {
      amd64: {
        packages: [
          {
            name: 'curl',
            version: '7.88.1-10+deb12u5',
            architecture: 'amd64',
            source: 'curl',
            sourceVersion: '7.88.1-10+deb12u5',
            filename: 'pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb',
            size: 315000,
            sha256: '4'.repeat(64),
            uri: 'https://deb.example/debian/',
            suite: 'bookworm',
            component: 'main',
            essential: false,
            reason: 'requested',
            depends: [],
          },
        ],
      },
    },
  };
}

test('the request record carries no credentials and its checksum covers what was asked', () => {
  const lock = sampleLock();
  assert.equal(lock.request.sources[0]!.uri, 'https://deb.example/debian/');
  assert.ok(!serializeLock(lock).includes('pw'));
  const other = aptRequest({ packages: ['curl', 'wget'], architectures: ['amd64'], sources: [] });
  assert.notEqual(requestChecksum(other), lock.requestChecksum);
  // `arch-=` changes which sources serve an architecture: part of the question.
  const src = { uri: 'http://x/', suite: 'bookworm', components: ['main'], trusted: false, checkValidUntil: true, checkDate: true, definedAt: 'x:1' };
  const plain = aptRequest({ packages: [], architectures: ['amd64', 'arm64'], sources: [src] });
  const minus = aptRequest({ packages: [], architectures: ['amd64', 'arm64'], sources: [{ ...src, excludeArchitectures: ['arm64'] }] });
  assert.notEqual(requestChecksum(minus), requestChecksum(plain));
  assert.equal('excludeArchitectures' in (plain.sources[0] ?? {}), false, 'absent when not used: older locks keep their checksum');
});

test('serializeLock is stable (sorted keys, final newline) and parseLock reads it back', () => {
  const lock = sampleLock();
  const text = serializeLock(lock);
  assert.ok(text.endsWith('}\n'));
  assert.ok(text.indexOf('"architectures"') < text.indexOf('"lockVersion"'), 'keys sorted');
  assert.deepEqual(parseLock(text, 'a.lock'), lock);
  assert.equal(serializeLock(parseLock(text, 'a.lock')), text);
});

test('parseLock refuses bad JSON, other versions, wrong fields and an edited request, naming the file and field', () => {
  const invalid = (re: RegExp) => (e: unknown) => e instanceof DebianError && e.code === 'LOCK_INVALID' && re.test(e.message);
  assert.throws(() => parseLock('{', 'a.lock'), invalid(/^a\.lock: invalid JSON/));
  assert.throws(() => parseLock(JSON.stringify({ ...sampleLock(), lockVersion: 2 }), 'a.lock'), invalid(/a\.lock: lockVersion 2 is not supported/));
  const bad = sampleLock();
  (bad.architectures.amd64!.packages[0] as { sha256: string }).sha256 = 'XYZ';
  (bad.architectures.amd64!.packages[0] as { size: number }).size = -1;
  assert.throws(() => parseLock(JSON.stringify(bad), 'a.lock'), invalid(/architectures\.amd64\.packages\.0\.size: .*; architectures\.amd64\.packages\.0\.sha256: expected 64 lower-case hex digits|architectures\.amd64\.packages\.0\.sha256: expected 64 lower-case hex digits; architectures\.amd64\.packages\.0\.size/));
  for (const filename of ['../../../../etc/passwd', '/etc/passwd', 'pool/./x.deb', '', 'pool//x.deb']) {
    const hostile = sampleLock();
    (hostile.architectures.amd64!.packages[0] as { filename: string }).filename = filename;
    assert.throws(() => parseLock(JSON.stringify(hostile), 'a.lock'), invalid(/architectures\.amd64\.packages\.0\.filename: expected a relative path below the archive root/), filename);
  }
  const edited = sampleLock();
  edited.request.packages.push('wget');
  assert.throws(() => parseLock(JSON.stringify(edited), 'a.lock'), invalid(/requestChecksum does not match the request/));
});
