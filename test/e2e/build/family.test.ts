// `lading build` of a small Debian family from the local signed test repository (real .debs):
// base (Essential set + busybox-static + media-types, a user, a file, a directory) -> mid (+curl)
// -> leaf (+python3-minimal, a run step), with maintainer scripts run by dpkg in runc.
// Shown here: every .deb downloads once (one at a time under --downloads 1); every image
// validates; umoci unpacks the leaf and runc runs a command in it; `dpkg -l` lists its packages as
// installed and `dpkg -V` is clean; /lib stays the usr/lib symlink; a second build into a fresh
// store gives identical digests; a no-op rebuild reuses everything; changing a file of the middle
// image rebuilds exactly mid and leaf; a child rebuilt on copies, or on its parent materialised
// from the store's layers, comes out identical.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readlink, mkdir, mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootfsCacheDir } from '../../../src/build/index.js';
import { openLayout } from '../../../src/layout/index.js';
import { parseImageConfig, type Manifest } from '../../../src/oci/index.js';
import { cachedDebs, startAptRepo, type AptRepo } from '../../helpers/apt-repo.js';
import { writeDeb } from '../../helpers/deb-writer.js';
import { buildJson, digests, lading, shIn, umociUnpack, validateStored } from '../../helpers/build.js';

let repo: AptRepo;
let dir: string;
let store: string;
let cache: string;
let first: Record<string, string>;

before(async () => {
  // Slow .deb answers make parallel downloads overlap, so --downloads shows in the server's count.
  dir = await mkdtemp(join(tmpdir(), 'lading-build-family-'));
  // Crafted packages for the failure test: a postinst that fails saying why, and three packages
  // that depend on it; dpkg reports each of those after the failure, pushing it out of the tail.
  const badpost = writeDeb(dir, 'lading-badpost_1.0_all.deb', {
    control: { Package: 'lading-badpost', Architecture: 'all' },
    controlFiles: { postinst: { content: '#!/bin/sh\necho "badpost: cannot configure: the real cause" >&2\nexit 7\n', mode: 0o755 } },
    data: [{ name: './usr/share/doc/lading-badpost/', type: 'dir' }],
  });
  const dependents = [1, 2, 3].map((n) =>
    writeDeb(dir, `lading-dep${n}_1.0_all.deb`, {
      control: { Package: `lading-dep${n}`, Architecture: 'all', Depends: 'lading-badpost' },
      data: [{ name: `./usr/share/doc/lading-dep${n}/`, type: 'dir' }],
    }),
  );
  repo = await startAptRepo({ debDelayMs: 25, debs: [...(await cachedDebs()), badpost, ...dependents] });
  store = join(dir, 'store');
  cache = join(dir, 'cache');
  await mkdir(join(dir, 'files'));
  await writeFile(join(dir, 'files/motd'), 'welcome to the test family\n');
  await writeFile(join(dir, 'files/mid.conf'), 'version = 1\n');
  await writeFile(
    join(dir, 'lading.yaml'),
    [
      'project: {name: fam, vendor: lading tests, license: Apache-2.0, owner: {team: qa}, support: {status: experimental}}',
      'sources:',
      `  - {uris: ["${repo.url}"], suites: [${repo.suite}], components: [main], signedBy: ${repo.keyringPath}}`,
      'images:',
      '  base:',
      '    from: scratch',
      '    packages: [busybox-static, media-types]',
      '    env: {LANG: C.UTF-8}',
      '    users: [{name: app, uid: 1500}]',
      '    files: [{src: files/motd, dest: /etc/motd}]',
      '    directories: [{path: /srv/app, mode: "0750", owner: "app:app"}]',
      '    entrypoint: [/bin/sh, -c]',
      '  mid:',
      '    from: base',
      '    packages: [curl]',
      '    files: [{src: files/mid.conf, dest: /etc/mid.conf}]',
      '  leaf:',
      '    from: mid',
      '    packages: [python3-minimal]',
      '    run:',
      '      - {name: marker, script: "python3 -c \'print(6*7)\' > /etc/leaf-marker"}',
      // A socket left behind (a daemon's): layers do not carry sockets, and the build says so.
      '      - {name: socket, script: "python3 -c \'import socket; socket.socket(socket.AF_UNIX).bind(\\"/srv/leaf.sock\\")\'"}',
      '    cmd: ["cat /etc/leaf-marker"]',
      '',
    ].join('\n'),
  );
});
after(async () => {
  await repo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('builds base -> mid -> leaf with maintainer scripts; every image validates', async () => {
  const { code, summary, stderr } = await buildJson(['--downloads', '1'], { cwd: dir, store, cache });
  assert.equal(code, 0, `${stderr}\n${JSON.stringify(summary.failed)}`);
  assert.deepEqual(summary.built.map((b) => b.image), ['base', 'mid', 'leaf']);
  assert.equal(summary.lock.written, true, 'lading.lock was written by the first build');
  assert.equal(summary.overlay, true, 'overlayfs is used for children (root, ext4)');
  // The cache was empty: every .deb came from the repository once (prefetched while base built).
  const debGets = repo.requests.filter((r) => /\.deb$/.test(r));
  assert.ok(debGets.length > 0);
  assert.ok(debGets.every((r) => r.startsWith('200 ')), debGets.join('\n'));
  assert.equal(new Set(debGets).size, debGets.length, `a .deb was downloaded twice:\n${debGets.join('\n')}`);
  assert.equal(repo.maxDebsInFlight, 1, '--downloads 1: one .deb at a time');
  first = digests(summary);
  // Each image built alone (a chain), so with a core to spare its layer was compressed while its
  // scripts ran.
  for (const b of availableParallelism() > 1 ? summary.built : []) {
    const log = await readFile(b.log, 'utf8');
    assert.match(log, /layer: \d+ of \d+ gzip blocks compressed while the scripts ran/, `${b.image}: ${b.log}`);
    assert.doesNotMatch(log, /speculative compression stopped early/, b.image);
  }
  for (const n of ['base:latest', 'mid:latest', 'leaf:latest']) {
    const report = await validateStored(store, n);
    assert.ok(report.ok, `${n}: ${JSON.stringify(report.problems)}`);
  }
  // Metadata: created = the epoch (newest package date), base.* on children, owner and support.
  const layout = await openLayout({ path: store });
  const leaf = await layout.getManifest('leaf:latest');
  const m = leaf!.value as Manifest;
  assert.equal(m.annotations?.['org.opencontainers.image.base.name'], 'mid:latest');
  assert.equal(m.annotations?.['org.opencontainers.image.base.digest'], first['mid amd64']);
  assert.equal(m.annotations?.['dev.lading.owner.team'], 'qa');
  assert.equal(m.layers.length, 3, 'a child is its parent\'s layers plus its own');
  const cfg = parseImageConfig(await layout.readBlob(m.config)).value;
  assert.equal(cfg.created, m.annotations?.['org.opencontainers.image.created']);
  assert.equal(cfg.config?.Labels?.['dev.lading.support.status'], 'experimental');
  assert.deepEqual(cfg.config?.Entrypoint, ['/bin/sh', '-c']);
  assert.deepEqual(cfg.config?.Cmd, ['cat /etc/leaf-marker']);
  assert.ok(cfg.config?.Env?.includes('LANG=C.UTF-8'));
  assert.ok(cfg.config?.Env?.some((e) => e.startsWith('PATH=')));
  assert.deepEqual(cfg.history?.map((h) => h.created_by), ['lading build base', 'lading build mid', 'lading build leaf']);
  assert.match(stderr, /leaf \(amd64\): sockets are not carried in image layers; left out: \/srv\/leaf\.sock/);
});

test('the leaf, unpacked by umoci and run by runc: packages installed, dpkg -V clean, /lib is usr/lib, accounts and files in place', async () => {
  const u = await umociUnpack(store, 'leaf:latest');
  try {
    assert.equal(await readlink(join(u.rootfs, 'lib')), 'usr/lib');
    assert.equal(await readlink(join(u.rootfs, 'bin')), 'usr/bin');
    const r = await shIn(u.rootfs, "cat /etc/leaf-marker; dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' | grep -v '^ii ' | wc -l; dpkg-query -W -f='${Package}\\n' | wc -l; dpkg -V && echo verified; curl --version | head -1; python3 -c 'import os; print(os.sep)'; id app; cat /etc/motd");
    assert.equal(r.exitCode, 0, r.stderrTail);
    const lines = r.stdoutTail.trim().split('\n');
    assert.equal(lines[0], '42', 'the run step ran python3');
    assert.equal(lines[1], '0', 'every package is ii');
    assert.ok(Number(lines[2]) > 80, `dpkg lists ${lines[2]} packages`);
    assert.equal(lines[3], 'verified');
    assert.match(lines[4] ?? '', /^curl /);
    assert.equal(lines[5], '/');
    assert.match(lines[6] ?? '', /^uid=1500\(app\) gid=1500\(app\)/);
    assert.equal(lines[7], 'welcome to the test family');
    // The questions preinsts register (libc6's) are owned by their package, as under dpkg; the
    // account from users: is locked (its password field is "!" where the image keeps it).
    const more = await shIn(u.rootfs, "grep -c '^Owners:.*unknown' /var/cache/debconf/config.dat; grep -c '^Owners: libc6, libc6:amd64$' /var/cache/debconf/config.dat; if [ -e /etc/shadow ]; then grep '^app:' /etc/shadow; else grep '^app:' /etc/passwd; fi | cut -d: -f2");
    const [unknown, libc6, password] = more.stdoutTail.trim().split('\n');
    assert.equal(unknown, '0', 'no debconf question is owned by "unknown"');
    assert.ok(Number(libc6) > 0, `libc6 owns the questions of its preinst and postinst: ${more.stdoutTail}`);
    assert.equal(password, '!', 'the users: account is locked');
    assert.ok(!existsSync(join(u.rootfs, 'srv/leaf.sock')), 'the socket a run step left is not in the image');
    const srv = await stat(join(u.rootfs, 'srv/app'));
    assert.equal(srv.mode & 0o7777, 0o750);
    assert.equal(srv.uid, 1500);
    // Nothing of the build is left: no policy-rc.d, no dpkg log, no helper mount points.
    for (const p of ['usr/sbin/policy-rc.d', 'var/log/dpkg.log', 'var/cache/ldconfig/aux-cache', '.lading-build', 'var/lib/dpkg/status-old']) {
      await assert.rejects(stat(join(u.rootfs, p)), `${p} must not be in the image`);
    }
  } finally {
    await u.cleanup();
  }
});

test('built again into a fresh store: identical digests', async () => {
  const store2 = join(dir, 'store2');
  const { code, summary, stderr } = await buildJson([], { cwd: dir, store: store2, cache });
  assert.equal(code, 0, stderr);
  assert.equal(summary.built.length, 3);
  assert.deepEqual(digests(summary), first);
  await rm(store2, { recursive: true, force: true });
});

test('a no-op rebuild reuses everything', async () => {
  const { code, summary } = await buildJson([], { cwd: dir, store, cache });
  assert.equal(code, 0);
  assert.equal(summary.built.length, 0);
  assert.deepEqual(digests(summary), first);
  assert.ok(summary.names.every((n) => !n.changed));
  const text = await lading(['build'], { cwd: dir, store, cache });
  assert.match(text.stdout, /family fam: 0 built, 3 reused, 0 failed, 0 skipped/);
});

test('changing a file of the middle image rebuilds exactly mid and leaf', async () => {
  await writeFile(join(dir, 'files/mid.conf'), 'version = 2\n');
  const plan = JSON.parse((await lading(['--json', 'plan'], { cwd: dir, store, cache })).stdout) as { batches: Array<Array<{ image: string; kind: string; reasons?: Array<{ code: string }> }>> };
  const kinds = Object.fromEntries(plan.batches.flat().map((s) => [s.image, s.kind]));
  assert.deepEqual(kinds, { base: 'reuse', mid: 'build', leaf: 'build' });
  const { code, summary, stderr } = await buildJson([], { cwd: dir, store, cache });
  assert.equal(code, 0, stderr);
  assert.deepEqual(summary.built.map((b) => b.image), ['mid', 'leaf']);
  assert.deepEqual(summary.reused.map((r) => r.image), ['base']);
  const now = digests(summary);
  assert.equal(now['base amd64'], first['base amd64']);
  assert.notEqual(now['mid amd64'], first['mid amd64']);
  assert.notEqual(now['leaf amd64'], first['leaf amd64']);
  first = now;
});

test('rebuilt on copies (no overlayfs), or on a parent materialised from its layers, the children come out identical', async () => {
  const copy = await buildJson(['--no-overlay', '--force', 'mid', 'leaf'], { cwd: dir, store, cache });
  assert.equal(copy.code, 0, copy.stderr);
  assert.equal(copy.summary.overlay, false);
  assert.deepEqual(digests(copy.summary), first);
  // Without the kept root filesystems, mid's tree comes from applying base's and mid's layers.
  await rm(rootfsCacheDir(store), { recursive: true, force: true });
  const applied = await buildJson(['--force', 'leaf'], { cwd: dir, store, cache });
  assert.equal(applied.code, 0, applied.stderr);
  assert.deepEqual(applied.summary.built.map((b) => b.image), ['leaf']);
  assert.deepEqual(digests(applied.summary), first);
  const log = await readFile(applied.summary.built[0]!.log, 'utf8');
  assert.match(log, /prepared overlay root filesystem on mid:latest/);
});

test("a failing postinst: the reason names the packages and quotes the script's own words, though dpkg's later complaints fill the tail", async () => {
  const config = await readFile(join(dir, 'lading.yaml'), 'utf8');
  await writeFile(join(dir, 'broken.yaml'), `${config}  bad:\n    from: base\n    packages: [lading-dep1, lading-dep2, lading-dep3]\n`);
  const r = await buildJson(['-f', 'broken.yaml', '--lock', 'broken.lock', 'bad'], { cwd: dir, store, cache });
  assert.equal(r.code, 1, r.stderr);
  const bad = r.summary.failed.find((f) => f.image === 'bad');
  assert.equal(bad?.code, 'SCRIPTS_FAILED', JSON.stringify(r.summary.failed));
  assert.match(bad.reason, /dpkg --configure -a exited with 1 \(failed: lading-badpost, lading-dep\d, lading-dep\d, lading-dep\d\)/);
  // The cause first, then the output's end.
  assert.match(bad.reason, /badpost: cannot configure: the real cause\n {4}dpkg: error processing package lading-badpost \(--configure\):\n {4}\.\.\.\n[\s\S]*Errors were encountered while processing:/);
});
