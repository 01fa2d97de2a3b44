// Real Debian packages (the Essential set plus python3, ca-certificates, curl, busybox-static
// and their dependencies, from .cache/test-debs) unpacked by lading and read back by dpkg.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackPackages } from '../../../src/debian/index.js';

const repo = new URL('../../..', import.meta.url).pathname;
const cache = join(repo, '.cache/test-debs');
const tmp = mkdtempSync(join(tmpdir(), 'lading-real-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** The cached .debs and what apt selected ("name=version arch"). */
function cached(): { files: string[]; selection: string[] } {
  const uris = join(cache, 'apt-uris.txt');
  const selection = join(cache, 'apt-selection.txt');
  if (!existsSync(uris) || !existsSync(selection)) {
    assert.fail(`no test .debs in ${cache}: run scripts/fetch-test-debs (scripts/bootstrap does) first`);
  }
  const files = readFileSync(uris, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .sort();
  for (const f of files) if (!existsSync(join(cache, f))) assert.fail(`${f} is missing from ${cache}: run scripts/fetch-test-debs`);
  return { files, selection: readFileSync(selection, 'utf8').trim().split('\n') };
}

function dpkg(root: string, ...args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync('dpkg', [`--root=${root}`, ...args], { maxBuffer: 1 << 26 });
  return { status: r.status, out: r.stdout.toString(), err: r.stderr.toString() };
}

test('dpkg lists, verifies and audits a tree unpacked by lading from real packages', async () => {
  const { files, selection } = cached();
  const root = join(tmp, 'root');
  const result = await unpackPackages({ debs: files.map((f) => ({ path: join(cache, f) })), root, state: 'auto' });
  assert.equal(result.packages.length, files.length);
  assert.deepEqual(result.overlaps, []);

  // dpkg -l: every package, at the version apt chose; unpacked (iU) or, without scripts, installed (ii).
  const listed = spawnSync('dpkg-query', [`--root=${root}`, '-W', '-f=${db:Status-Abbrev} ${Package}=${Version} ${Architecture}\\n']).stdout.toString().trim().split('\n');
  assert.deepEqual(listed.map((l) => l.slice(4)).sort(), [...selection].sort());
  const states = new Map(result.packages.map((p) => [p.name, p.state]));
  for (const line of listed) {
    const name = line.slice(4).split('=')[0] ?? '';
    assert.equal(line.slice(0, 3), states.get(name) === 'installed' ? 'ii ' : 'iU ', line);
  }
  assert.ok(result.packages.some((p) => p.state === 'installed') && result.packages.some((p) => p.state === 'unpacked'));
  assert.match(dpkg(root, '-l').out, /\niU {2}libc6:amd64 /);

  // dpkg -V: nothing missing, nothing modified (conffiles included).
  const verify = dpkg(root, '-V');
  assert.equal(verify.status, 0, verify.err);
  assert.equal(verify.out, '');

  // dpkg --audit: only the packages whose maintainer scripts have not run, in one block.
  const audit = dpkg(root, '--audit').out;
  const unpacked = result.packages.filter((p) => p.state === 'unpacked').map((p) => p.name);
  assert.match(audit, /^The following packages have been unpacked but not yet configured\./);
  const audited = audit
    .split('\n')
    .filter((l) => l.startsWith(' '))
    .map((l) => (l.trim().split(/\s+/)[0] ?? '').replace(/:amd64$/, ''));
  assert.deepEqual(audited.sort(), [...unpacked].sort());
  assert.equal(audit.split('\n\n').filter((b) => b.trim()).length, 1, audit);

  // Merged /usr survived every package's ./bin/, ./lib/, ./lib64/ entries.
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) assert.equal(readlinkSync(join(root, d)), `usr/${d}`);
  assert.ok(lstatSync(join(root, 'usr/lib/x86_64-linux-gnu/libc.so.6')).isFile());
  assert.ok(readFileSync(join(root, 'var/lib/dpkg/info/coreutils.list'), 'utf8').includes('\n/bin/ls\n'));
  assert.equal(readlinkSync(join(root, 'usr/bin/python3')), 'python3.11');
  assert.match(readFileSync(join(root, 'etc/os-release'), 'utf8'), /VERSION_CODENAME=bookworm/);
  assert.ok(existsSync(join(root, 'var/lib/dpkg/info/libc6:amd64.md5sums')));
  assert.equal(readFileSync(join(root, 'var/lib/dpkg/triggers/ldconfig'), 'utf8'), 'libc-bin\n');
  // Numeric owners and set-id bits are kept: chage is root:shadow (gid 42) 2755, /var/local root:staff (50) 2775.
  const chage = lstatSync(join(root, 'usr/bin/chage'));
  assert.deepEqual([chage.uid, chage.gid, chage.mode & 0o7777], [0, 42, 0o2755]);
  const local = lstatSync(join(root, 'var/local'));
  assert.deepEqual([local.gid, local.mode & 0o7777], [50, 0o2775]);
  // The staging directory is gone.
  assert.ok(!spawnSync('ls', ['-a', root]).stdout.toString().includes('.lading-unpack'));
});
