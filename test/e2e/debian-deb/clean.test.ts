// `lading apt clean`: what a cache hit marks as used survives an age-based clean, what nobody
// used goes, `--dry-run` removes nothing, `--all` empties the cache (and --offline then says
// what is missing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { aptCliScratch } from '../../helpers/apt-cli.js';

const { work, lading, curlLock, closeRepo } = aptCliScratch('lading-apt-clean-');

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

interface CleanJson {
  dryRun: boolean;
  removed: Array<{ path: string; kind: string; bytes: number }>;
  kept: number;
}

test('apt clean keeps what was used, removes what was not, --dry-run removes nothing, --all empties the cache', async () => {
  const cache = join(work, 'cache');
  const { lock } = await curlLock(cache);
  const first = await lading(['--cache', cache, 'apt', 'unpack', '--lock', lock, '--root', join(work, 'r1')]);
  assert.equal(first.code, 0, first.stderr);
  const locked = (JSON.parse(readFileSync(lock, 'utf8')) as { architectures: Record<string, { packages: Array<{ sha256: string }> }> }).architectures;
  const debs = (Object.values(locked)[0]?.packages ?? []).map((p) => p.sha256);
  assert.ok(debs.length > 10);

  // Everything in the cache was last used two months ago; plus a stray .deb nobody uses and two
  // temp files of writers (one old, one fresh, whose writer may still be running).
  const stray = join(cache, 'blobs', 'sha256', 'f'.repeat(64));
  writeFileSync(stray, '!<arch>\nnot really a package\n');
  mkdirSync(join(cache, 'tmp'), { recursive: true });
  writeFileSync(join(cache, 'tmp', 'old-download'), 'x');
  const old = new Date(Date.now() - 60 * 86_400_000);
  for (const f of files(cache)) utimesSync(join(cache, f), old, old);
  writeFileSync(join(cache, 'tmp', 'fresh-download'), 'y');

  // A second unpack uses the .debs and their decoded members (not the indexes: it never resolves).
  await closeRepo();
  const second = await lading(['--cache', cache, 'apt', 'unpack', '--lock', lock, '--root', join(work, 'r2'), '--offline']);
  assert.equal(second.code, 0, second.stderr);
  const debMtime = statSync(join(cache, 'blobs', 'sha256', debs[0] as string)).mtimeMs;
  assert.ok(Math.abs(debMtime - old.getTime()) < 1000, 'a use sets the access time, not the modification time');

  const before = files(cache);
  const dry = await lading(['--cache', cache, '--json', 'apt', 'clean', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  const planned = JSON.parse(dry.stdout) as CleanJson;
  assert.equal(planned.dryRun, true);
  assert.deepEqual(files(cache), before, '--dry-run removes nothing');

  const clean = await lading(['--cache', cache, '--json', 'apt', 'clean']);
  assert.equal(clean.code, 0, clean.stderr);
  const r = JSON.parse(clean.stdout) as CleanJson;
  assert.deepEqual(r.removed.map((e) => e.path).sort(), planned.removed.map((e) => e.path).sort(), 'the dry run listed exactly what went');
  const gone = new Set(r.removed.map((e) => e.path));
  assert.ok(gone.has(join('blobs', 'sha256', 'f'.repeat(64))), 'the unused .deb is removed');
  assert.equal(r.removed.find((e) => e.path.endsWith('f'.repeat(64)))?.kind, 'package');
  assert.ok(gone.has(join('tmp', 'old-download')), 'an old temp file is removed');
  assert.ok(existsSync(join(cache, 'tmp', 'fresh-download')), 'a fresh temp file stays');
  assert.ok(r.removed.some((e) => e.kind === 'index'), 'the indexes nobody used since go');
  for (const sha of debs) {
    assert.ok(!gone.has(join('blobs', 'sha256', sha)), `used .deb ${sha} stays`);
    assert.ok(!gone.has(join('deb-data', `${sha}.ok`)), `decoded members of ${sha} stay`);
  }
  assert.ok(r.kept >= debs.length * 2);

  // Nothing that was in use is missing: the same unpack still works offline.
  const third = await lading(['--cache', cache, 'apt', 'unpack', '--lock', lock, '--root', join(work, 'r3'), '--offline']);
  assert.equal(third.code, 0, third.stderr);

  const all = await lading(['--cache', cache, 'apt', 'clean', '--all']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^removed \d+ entries, .* \(everything\)/);
  assert.deepEqual(files(cache), []);
  const offline = await lading(['--cache', cache, 'apt', 'unpack', '--lock', lock, '--root', join(work, 'r4'), '--offline']);
  assert.equal(offline.code, 1);
  assert.match(offline.stderr, new RegExp(`--offline: ${debs.length} of ${debs.length} locked files are not in the cache`));

  const bad = await lading(['--cache', cache, 'apt', 'clean', '--unused-for', 'soon']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--unused-for: want a number of days >= 0, got "soon"/);

  // --cache naming an OCI store (same blobs/sha256 shape) is refused; nothing is removed.
  const store = join(work, 'a-store');
  mkdirSync(join(store, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(store, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(store, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
  writeFileSync(join(store, 'blobs', 'sha256', 'a'.repeat(64)), 'x');
  const refused = await lading(['--cache', store, 'apt', 'clean', '--all']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /is an OCI image layout \(it has oci-layout\), not an apt cache; nothing removed/);
  assert.deepEqual(files(store), ['blobs/sha256/' + 'a'.repeat(64), 'index.json', 'oci-layout']);
});
