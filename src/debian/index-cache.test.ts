import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { AptCache } from './cache.js';
import { DebianError } from './errors.js';
import { checkScan, loadPackagesIndex, SCAN_FORMAT, type LoadedPackagesIndex } from './index-cache.js';
import { PackagesIndex, parsePackages } from './packages.js';

const execFileP = promisify(execFile);
const sha = (c: string) => c.repeat(64);

/** A Packages text with what the scan must get right: several versions of a name, versioned and
 * unversioned Provides, Essential, lower-case field names, continuation lines, CRLF, a broken stanza. */
function packagesText(extra = 0): string {
  const stanzas = [
    `Package: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nMulti-Arch: same\nPriority: optional\nSection: libs\nInstalled-Size: 12985\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nSource: glibc\nDepends: libgcc-s1\nBreaks: hurd (<< 1:0.9.git20220301-2), nscd (<< 2.36)\nDescription: GNU C Library: Shared libraries\n Contains the standard libraries.\n .\n More text.\nFilename: pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb\nSize: 2757936\nSHA256: ${sha('a')}`,
    `Package: bash\nEssential: yes\nVersion: 5.2.15-2+b2\nArchitecture: amd64\nSource: bash (5.2.15-2)\nPre-Depends: libc6 (>= 2.36),\n libtinfo6 (>= 6)\nDepends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)\nProvides: sh\nFilename: pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb\nSize: 1491632\nSHA256: ${sha('B')}`,
    `package: mawk\nversion: 1.3.4.20200120-3.1\narchitecture: amd64\nprovides: awk\nfilename: pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb\nsize: 119144\nsha256: ${sha('c')}`,
    `Package: bash\nVersion: 5.1-6\nArchitecture: amd64\nProvides: sh, bash-compat (= 5.1)\nFilename: pool/main/b/bash/bash_5.1-6_amd64.deb\nSize: 1\nSHA256: ${sha('d')}`,
    `Package: librust-serde-dev\nVersion: 1.0.160-1\nArchitecture: amd64\nProvides: librust-serde+default-dev (= 1.0.160-1), librust-serde-1-dev (= 1.0.160-1),\n librust-serde-1.0-dev (= 1.0.160-1), awk\nFilename: pool/main/r/rust-serde/librust-serde-dev_1.0.160-1_amd64.deb\nSize: 2\nSHA256: ${sha('e')}`,
    `Package: broken\nVersion: 1\nArchitecture: all\nFilename: b\nSize: 1`,
    `Package: dash\r\nEssential: yes\r\nVersion: 0.5.12-2\r\nArchitecture: amd64\r\nProvides: sh\r\nFilename: pool/main/d/dash/dash_0.5.12-2_amd64.deb\r\nSize: 3\r\nSHA256: ${sha('f')}\r`,
  ];
  for (let i = 0; i < extra; i++) {
    stanzas.push(`Package: pkg-${i % 97}\nVersion: 1.${i}\nArchitecture: ${i % 3 ? 'amd64' : 'all'}\nProvides: virt-${i % 13} (= ${i}), plain-${i % 7}\nDepends: pkg-${(i * 7) % 97}\nFilename: pool/p/pkg-${i}.deb\nSize: ${i}\nSHA256: ${sha((i % 10).toString())}`);
  }
  return `${stanzas.join('\n\n')}\n`;
}

interface Fixture {
  dir: string;
  cache: AptCache;
  text: Buffer;
  sha256: string;
  indexPath: string;
  load: () => Promise<LoadedPackagesIndex>;
  scanPath: string;
}

async function fixture(text = packagesText(200)): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-scan-'));
  const cache = new AptCache(dir);
  const bytes = Buffer.from(text, 'latin1');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const indexPath = cache.blobPath(sha256);
  await mkdir(dirname(indexPath), { recursive: true });
  await writeFile(indexPath, bytes);
  const load = () => loadPackagesIndex({ cache, indexPath, sha256, size: bytes.length, what: 'test/Packages' });
  return { dir, cache, text: bytes, sha256, indexPath, load, scanPath: cache.scanPath(sha256, SCAN_FORMAT) };
}

/** Every lookup a resolver makes, so two indexes can be compared whole (errors included). */
function snapshot(ix: PackagesIndex, text: string): unknown {
  const names = new Set<string>(['', 'nope', 'sh', 'awk', 'bash-compat', 'ā-not-latin1']);
  for (const m of text.matchAll(/^(?:Package|package): (\S+)/gm)) names.add(m[1]!);
  for (const m of text.matchAll(/^(?:Provides|provides): (.*(?:\n .*)*)/gm)) for (const t of m[1]!.split(',')) names.add(t.trim().split(/[\s(:]/)[0]!);
  const attempt = (f: () => unknown) => {
    try {
      return f();
    } catch (err) {
      return { error: err instanceof DebianError ? `${err.code}: ${err.message}` : String(err) };
    }
  };
  const out: Record<string, unknown> = { size: ix.size, essential: ix.essential(), all: attempt(() => ix.all()) };
  for (const n of [...names].sort()) out[n] = { lookup: attempt(() => ix.lookup(n)), providers: attempt(() => ix.providers(n)) };
  return out;
}

test('a scan is cached on first load and used on the next: every lookup, provider, Essential set and error is the same as a fresh scan', async () => {
  const f = await fixture();
  try {
    const text = f.text.toString('latin1');
    const first = await f.load();
    assert.equal(first.from, 'scan');
    assert.equal(typeof checkScan(await readFile(f.scanPath), f.sha256, f.text.length), 'object', 'a valid scan file was written');
    const second = await f.load();
    assert.equal(second.from, 'cache');
    const fresh = PackagesIndex.fromBytes(f.text, 'test/Packages');
    assert.deepEqual(snapshot(second.index, text), snapshot(fresh, text));
    assert.deepEqual(snapshot(first.index, text), snapshot(fresh, text));
    // Spot checks against the plain parser, so the comparison above is not two copies of one bug.
    const byName = parsePackages(text.replace('Package: broken\nVersion: 1\nArchitecture: all\nFilename: b\nSize: 1\n\n', ''), 'x');
    assert.deepEqual(second.index.lookup('bash'), byName.filter((p) => p.name === 'bash'));
    assert.deepEqual(
      second.index.providers('sh').map((p) => [p.stanza.name, p.stanza.version, p.version]),
      [
        ['bash', '5.2.15-2+b2', undefined],
        ['bash', '5.1-6', undefined],
        ['dash', '0.5.12-2', undefined],
      ],
    );
    assert.deepEqual(second.index.providers('bash-compat').map((p) => p.version), ['5.1']);
    assert.deepEqual(second.index.providers('librust-serde-1.0-dev').map((p) => p.version), ['1.0.160-1']);
    assert.deepEqual(second.index.essential().map((p) => p.name), ['bash', 'dash']);
    assert.equal(second.index.lookup('mawk')[0]!.sha256, sha('c'));
    assert.throws(() => second.index.lookup('broken'), /test\/Packages:58: stanza broken lacks SHA256/);
    assert.equal(second.index.size, 207);
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('a truncated, corrupt, foreign or empty scan file is detected, ignored and written again', async () => {
  const f = await fixture();
  const other = await fixture(packagesText(3));
  try {
    await f.load();
    const good = await readFile(f.scanPath);
    const damaged: Array<[string, Buffer]> = [
      ['truncated', good.subarray(0, good.length - 100)],
      ['one payload byte flipped', Buffer.from(good).fill(good[good.length - 5]! ^ 0xff, good.length - 5, good.length - 4)],
      ['header count changed', (() => {
        const b = Buffer.from(good);
        b.writeUInt32LE(b.readUInt32LE(84) + 1, 84);
        return b;
      })()],
      ['empty', Buffer.alloc(0)],
      ['not a scan', Buffer.from('{"hello": "world"}\n')],
    ];
    await other.load();
    damaged.push(['the scan of another index', await readFile(other.scanPath)]);
    for (const [what, bytes] of damaged) {
      assert.equal(typeof checkScan(bytes, f.sha256, f.text.length), 'string', `${what}: checkScan refuses it`);
      await writeFile(f.scanPath, bytes);
      const r = await f.load();
      assert.equal(r.from, 'scan', `${what}: not used`);
      assert.deepEqual(r.index.lookup('bash').map((p) => p.version), ['5.2.15-2+b2', '5.1-6'], what);
      assert.ok((await readFile(f.scanPath)).equals(good), `${what}: rewritten`);
      assert.equal((await f.load()).from, 'cache', `${what}: the rewritten file is used`);
    }
  } finally {
    await rm(f.dir, { recursive: true, force: true });
    await rm(other.dir, { recursive: true, force: true });
  }
});

test('an index that changed on disk is refused, not misread: on a miss (digest) and on a hit (stanza name)', async () => {
  const f = await fixture();
  try {
    // Miss: the blob no longer has its digest, so no scan is made from it.
    const tampered = Buffer.from(f.text);
    tampered.write('Package: bosh', f.text.indexOf('Package: bash'), 'latin1');
    await writeFile(f.indexPath, tampered);
    await assert.rejects(f.load(), (e: unknown) => e instanceof DebianError && e.code === 'CACHE_INVALID' && e.message.includes(f.indexPath) && /does not match the SHA256/.test(e.message));
    // Hit: the scan is valid, but the stanza read from the changed blob is not the one it recorded.
    await writeFile(f.indexPath, f.text);
    assert.equal((await f.load()).from, 'scan');
    const hit = await f.load();
    assert.equal(hit.from, 'cache');
    await writeFile(f.indexPath, tampered);
    assert.throws(() => hit.index.lookup('bash'), (e: unknown) => e instanceof DebianError && e.code === 'CACHE_INVALID' && /holds package "bosh" where its scan recorded "bash"/.test(e.message));
    await rm(f.indexPath);
    const again = await f.load();
    assert.throws(() => again.index.lookup('mawk'), (e: unknown) => e instanceof DebianError && e.code === 'CACHE_INVALID' && e.message.includes(f.indexPath));
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('a scan that cannot be written costs only speed', async () => {
  const f = await fixture();
  try {
    await writeFile(join(f.dir, 'packages-scan'), 'a file where the directory should be');
    const r = await f.load();
    assert.equal(r.from, 'scan');
    assert.equal(r.index.lookup('mawk')[0]!.version, '1.3.4.20200120-3.1');
    assert.equal((await f.load()).from, 'scan');
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});

test('concurrent writers, in one process and in several, leave one valid scan file and no temp files', async () => {
  const f = await fixture(packagesText(3000));
  try {
    const results = await Promise.all(Array.from({ length: 6 }, () => f.load()));
    const text = f.text.toString('latin1');
    const want = snapshot(PackagesIndex.fromBytes(f.text, 'test/Packages'), text);
    for (const r of results) assert.deepEqual(snapshot(r.index, text), want);
    assert.equal(typeof checkScan(await readFile(f.scanPath), f.sha256, f.text.length), 'object');
    assert.deepEqual(await readdir(dirname(f.scanPath)), [f.sha256]);

    await rm(dirname(f.scanPath), { recursive: true });
    const module = new URL('./index-cache.ts', import.meta.url).pathname;
    const cacheModule = new URL('./cache.ts', import.meta.url).pathname;
    const script = `
      const { loadPackagesIndex } = await import(${JSON.stringify(module)});
      const { AptCache } = await import(${JSON.stringify(cacheModule)});
      const rounds = [];
      for (let i = 0; i < 3; i++) {
        const r = await loadPackagesIndex({ cache: new AptCache(${JSON.stringify(f.dir)}), indexPath: ${JSON.stringify(f.indexPath)}, sha256: ${JSON.stringify(f.sha256)}, size: ${f.text.length}, what: 'p' });
        rounds.push(r.from + ':' + r.index.lookup('pkg-5').length + ':' + r.index.providers('virt-3').length);
      }
      console.log(rounds.join(' '));`;
    const cwd = new URL('../..', import.meta.url).pathname;
    const outs = await Promise.all(Array.from({ length: 3 }, () => execFileP(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd })));
    const expected = `${PackagesIndex.fromBytes(f.text, 'p').lookup('pkg-5').length}:${PackagesIndex.fromBytes(f.text, 'p').providers('virt-3').length}`;
    for (const o of outs) {
      const rounds = o.stdout.trim().split(' ');
      assert.equal(rounds.length, 3);
      for (const r of rounds) assert.equal(r.slice(r.indexOf(':') + 1), expected, o.stdout);
      assert.equal(rounds[2]!.split(':')[0], 'cache', 'by its last round every process finds the scan');
    }
    assert.equal(typeof checkScan(await readFile(f.scanPath), f.sha256, f.text.length), 'object');
    assert.deepEqual(await readdir(dirname(f.scanPath)), [f.sha256]);
  } finally {
    await rm(f.dir, { recursive: true, force: true });
  }
});
