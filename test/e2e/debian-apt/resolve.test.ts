// Acceptance (issue #4): lading's resolution of `python3 ca-certificates curl` plus the Essential
// set equals what apt-get installs into an empty status database, both reading the same local,
// signed repository built from real Debian .debs. Also the CLI round trip resolve -> lock -> fetch.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../../helpers/store.js';
import { aptFetch, aptResolve, parseLock, serializeLock } from '../../../src/debian/index.js';
import { aptGetFor, aptSelectionFromCache, startAptRepo, type AptRepo } from '../../helpers/apt-repo.js';

const execFileP = promisify(execFile);
const root = new URL('../../..', import.meta.url).pathname;
const REQUEST = ['python3', 'ca-certificates', 'curl'];

let repo: AptRepo;
let work: string;

before(async () => {
  repo = await startAptRepo();
  work = await mkdtemp(join(tmpdir(), 'lading-apt-e2e-'));
});
after(async () => {
  await repo?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Essential: yes package names, read from the repository's Packages with a plain regex (independent of lading's parser). */
async function essentialNames(): Promise<string[]> {
  const text = await readFile(join(repo.dir, 'dists', repo.suite, 'main', `binary-${repo.architecture}`, 'Packages'), 'utf8');
  return text
    .split(/\n\n+/)
    .filter((s) => /^Essential: yes$/m.test(s))
    .map((s) => /^Package: (\S+)$/m.exec(s)![1]!)
    .sort();
}

test('python3 ca-certificates curl + Essential resolves exactly as apt-get --simulate into an empty status', async () => {
  const { lock } = await aptResolve({ packages: REQUEST, sourcesFiles: [repo.sourcesFile], cacheDir: join(work, 'cache-a') });
  const ours = lock.architectures[repo.architecture]!.packages.map((p) => `${p.name}=${p.version}`).sort();
  const essential = await essentialNames();
  assert.ok(essential.length >= 15, `only ${essential.length} Essential packages in the test repository`);
  const apt = await aptGetFor(repo.sourcesText);
  try {
    const theirs = await apt.simulateInstall([...REQUEST, ...essential]);
    assert.ok(theirs.length > 50, `apt-get chose only ${theirs.length} packages`);
    assert.deepEqual(ours, theirs);
  } finally {
    await apt.close();
  }
  const byName = new Map(lock.architectures[repo.architecture]!.packages.map((p) => [p.name, p]));
  for (const name of [...REQUEST]) assert.equal(byName.get(name)?.reason, 'requested', name);
  for (const name of essential) assert.ok(byName.has(name), `Essential ${name} missing`);
  // Provenance and file identity: every locked file is the pool file with that SHA256 and size.
  for (const p of byName.values()) {
    assert.equal(p.suite, repo.suite);
    assert.equal(p.uri, repo.url);
    const data = await readFile(join(repo.dir, p.filename));
    assert.equal(data.length, p.size, p.filename);
    assert.equal(createHash('sha256').update(data).digest('hex'), p.sha256, p.filename);
  }
  const curl = byName.get('curl')!;
  assert.ok(curl.depends.includes('libcurl4'), 'curl depends edge');
});

test('on the cached closure, lading picks what apt picked on the full mirror when scripts/fetch-test-debs ran', async () => {
  // fetch-test-debs asked apt for the list plus `?essential`, which for apt also means the apt
  // package itself (pkgCacheGen::ForceEssential); ask lading for the same names.
  const list = (await readFile(join(root, 'scripts/test-debs.list'), 'utf8'))
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  const { lock } = await aptResolve({ packages: [...list, 'apt'], sourcesFiles: [repo.sourcesFile], cacheDir: join(work, 'cache-a') });
  const ours = lock.architectures[repo.architecture]!.packages.map((p) => `${p.name}=${p.version}`).sort();
  assert.deepEqual(ours, (await aptSelectionFromCache()).sort());
});

test('the same request gives the same lock bytes, and the lock round-trips through parseLock', async () => {
  // cache-a is warm (its index scan is cached by the tests above), cache-b is new: both paths agree.
  assert.equal((await readdir(join(work, 'cache-a', 'packages-scan', 'v1'))).length, 1, 'the index scan was cached');
  const a = await aptResolve({ packages: REQUEST, sourcesFiles: [repo.sourcesFile], cacheDir: join(work, 'cache-a') });
  const b = await aptResolve({ packages: REQUEST, sourcesFiles: [repo.sourcesFile], cacheDir: join(work, 'cache-b') });
  assert.equal(serializeLock(a.lock), serializeLock(b.lock));
  assert.deepEqual(parseLock(serializeLock(a.lock), 'lock'), a.lock);
  const src = a.lock.sources[0]!;
  assert.equal(src.releaseFile, 'InRelease');
  assert.deepEqual(src.signers, [repo.fingerprint]);
  assert.equal(src.indexes.length, 1);
  assert.equal(src.indexes[0]!.fetched.path, `main/binary-${repo.architecture}/Packages.xz`);
});

test('aptFetch downloads exactly the locked files, verified, and a second run uses the cache', async () => {
  const { lock } = await aptResolve({ packages: ['curl'], noEssential: true, sourcesFiles: [repo.sourcesFile], cacheDir: join(work, 'cache-c') });
  const dest = join(work, 'debs-c');
  const first = await aptFetch({ lock, cacheDir: join(work, 'cache-c'), dest });
  assert.equal(first.length, lock.architectures[repo.architecture]!.packages.length);
  assert.ok(first.every((f) => !f.cached));
  const names = (await readdir(dest)).sort();
  assert.deepEqual(names, lock.architectures[repo.architecture]!.packages.map((p) => p.filename.split('/').pop()!).sort());
  const before = repo.requests.length;
  const second = await aptFetch({ lock, cacheDir: join(work, 'cache-c'), offline: true });
  assert.ok(second.every((f) => f.cached));
  assert.equal(repo.requests.length, before, 'nothing requested offline');
});

/** The CLI in this process (fast): exit code and captured output. */
async function ladingHere(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { cwd: work });
}

/** The CLI as a separate process, for what must be shown across processes (a shared cache). */
async function ladingProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // cwd is the project (tsx resolves from there); paths in args are absolute.
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', join(root, 'test/helpers/lading-main.ts'), ...args], { cwd: root, maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('CLI: apt resolve --lock-out, apt fetch --offline lists what is missing, then two concurrent processes fetch into one cache', async () => {
  const cache = join(work, 'cli-cache');
  const lockFile = join(work, 'curl.lock');
  const r = await ladingHere(['--cache', cache, 'apt', 'resolve', 'curl', '--no-essential', '--sources', repo.sourcesFile, '--lock-out', lockFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /curl/);
  const lock = parseLock(await readFile(lockFile), lockFile);
  const count = lock.architectures[repo.architecture]!.packages.length;
  // --lock-out into a directory that does not exist fails; the directory is not made.
  const typo = await ladingHere(['--cache', cache, 'apt', 'resolve', 'curl', '--no-essential', '--sources', repo.sourcesFile, '--lock-out', join(work, 'no-such-dir', 'x.lock')]);
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /writing .*no-such-dir\/x\.lock: no such file or directory/);
  assert.deepEqual((await readdir(work)).filter((n) => n === 'no-such-dir'), []);

  const offline = await ladingHere(['--cache', join(work, 'empty-cache'), 'apt', 'fetch', '--lock', lockFile, '--offline']);
  assert.equal(offline.code, 1);
  assert.match(offline.stderr, new RegExp(`--offline: ${count} of ${count} locked files are not in the cache`));
  assert.match(offline.stderr, /pool\/main\/curl_/);

  const [a, b] = await Promise.all([
    ladingProcess(['--cache', cache, '--json', 'apt', 'fetch', '--lock', lockFile, '--dest', join(work, 'out-a')]),
    ladingProcess(['--cache', cache, '--json', 'apt', 'fetch', '--lock', lockFile, '--dest', join(work, 'out-b')]),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const files = (JSON.parse(a.stdout) as { files: Array<{ path: string; sha256: string }> }).files;
  assert.equal(files.length, count);
  for (const f of files) assert.equal(createHash('sha256').update(await readFile(f.path)).digest('hex'), f.sha256);
  const again = await ladingHere(['--cache', cache, 'apt', 'fetch', '--lock', lockFile, '--offline']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`${count} files .*0 downloaded`));
});
