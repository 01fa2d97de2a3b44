// `lading apt unpack` end to end: a lock resolved against a local signed repository of real
// .debs, unpacked into a tree dpkg accepts; then offline from the cache (decoded members
// included), and the errors a person sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptCliScratch } from '../../helpers/apt-cli.js';

const { work, lading, curlLock, closeRepo } = aptCliScratch('lading-unpack-cli-');

test('apt unpack: a locked set unpacked with a dpkg database, again offline from the cache', async () => {
  // A small closure: curl and its libraries, without the Essential set.
  const cache = join(work, 'cache');
  const { lock } = await curlLock(cache);
  const locked = (JSON.parse(readFileSync(lock, 'utf8')) as { architectures: Record<string, { packages: Array<{ name: string; version: string }> }> }).architectures;
  const packages = Object.values(locked)[0]?.packages ?? [];
  assert.ok(packages.length > 10, `curl pulls in its libraries (${packages.length})`);

  const root = join(work, 'root');
  const first = await lading(['--cache', cache, '--json', 'apt', 'unpack', '--lock', lock, '--root', root, '--state', 'auto']);
  assert.equal(first.code, 0, first.stderr);
  const out = JSON.parse(first.stdout) as { packages: Array<{ name: string; state: string }>; downloaded: number; files: number };
  assert.equal(out.packages.length, packages.length);
  assert.equal(out.downloaded, packages.length);
  assert.ok(out.packages.some((p) => p.name === 'curl'));
  // Dependency order: libc6 before curl.
  const order = out.packages.map((p) => p.name);
  assert.ok(order.indexOf('libc6') < order.indexOf('curl'));
  const listed = spawnSync('dpkg-query', [`--root=${root}`, '-W', '-f=${Package}=${Version}\\n']).stdout.toString().trim().split('\n').sort();
  assert.deepEqual(listed, packages.map((p) => `${p.name}=${p.version}`).sort());
  assert.equal(spawnSync('dpkg', [`--root=${root}`, '-V']).stdout.toString(), '');
  assert.equal(readlinkSync(join(root, 'lib')), 'usr/lib');
  assert.ok(readdirSync(join(cache, 'deb-data')).some((f) => f.endsWith('.data.tar')), 'decoded members were cached');

  // Offline, from the cache: nothing is requested, and the tree is the same.
  await closeRepo();
  const root2 = join(work, 'root2');
  const second = await lading(['--cache', cache, 'apt', 'unpack', '--lock', lock, '--root', root2, '--state', 'auto', '--offline']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`packages +${packages.length}\\n`));
  assert.match(second.stdout, /downloaded +0 \.debs/);
  const tree = (r: string) => spawnSync('sh', ['-c', `cd ${r} && find . -printf '%y %m %U:%G %s %T@ %p %l\\n' | sort`]).stdout.toString();
  assert.equal(tree(root2), tree(root));

  // Refusals a person sees: a non-empty tree with a database, a lock with the wrong architecture.
  const again = await lading(['--cache', cache, 'apt', 'unpack', '--lock', lock, '--root', root, '--offline']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /lading: unpacking into .*\/root: it already has a dpkg database with packages\nhint: unpack into an empty directory/);
  const wrong = await lading(['--cache', cache, 'apt', 'unpack', '--lock', lock, '--root', join(work, 'root3'), '--arch', 'arm64', '--offline']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /the lock has no architecture arm64/);
  writeFileSync(join(work, 'bad.json'), '{"not": "a lock"}');
  const bad = await lading(['--cache', cache, 'apt', 'unpack', '--lock', join(work, 'bad.json'), '--root', join(work, 'root4')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /bad\.json/);
  // A count that is not one is a usage error (it was parsed to NaN, and the unpack never ended).
  for (const n of ['abc', '2x', '0']) {
    const usage = await lading(['--cache', cache, 'apt', 'unpack', '--lock', lock, '--root', join(work, 'root5'), '--offline', '--concurrency', n]);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, new RegExp(`--concurrency: want an integer >= 1, got "${n}"`));
  }
});
