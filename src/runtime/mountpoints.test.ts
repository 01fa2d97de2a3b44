import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError } from './index.js';
import { resolveInRootfs } from './rootfs-path.js';
import { acquireMountPoints, prepareMountPoints, removeMountPoints } from './mountpoints.js';

async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const st = await lstat(join(dir, rel), { bigint: true });
    out.push(`${rel || '.'} ${st.mode.toString(8)} ${st.size} ${st.mtimeNs}`);
    if (st.isDirectory()) for (const n of (await readdir(join(dir, rel))).sort()) await walk(rel ? `${rel}/${n}` : n);
  };
  await walk('');
  return out;
}

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-mp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('resolveInRootfs follows symlinks inside the rootfs and never climbs out', async (t) => {
  const r = await scratch(t);
  await mkdir(join(r, 'usr/lib'), { recursive: true });
  await symlink('usr/lib', join(r, 'lib'));
  await symlink('/run/systemd/resolve/stub-resolv.conf', join(r, 'resolv-link'));
  await symlink('../../../../etc', join(r, 'usr/lib/escape'));
  await writeFile(join(r, 'usr/lib/file'), 'x');
  assert.deepEqual(await resolveInRootfs(r, '/lib/x/y'), { path: '/usr/lib/x/y', missing: ['x', 'y'] });
  assert.deepEqual(await resolveInRootfs(r, '/usr/lib/escape/passwd'), { path: '/etc/passwd', missing: ['etc', 'passwd'] });
  assert.deepEqual(await resolveInRootfs(r, '/resolv-link'), { path: '/run/systemd/resolve/stub-resolv.conf', missing: ['run', 'systemd', 'resolve', 'stub-resolv.conf'] });
  assert.deepEqual(await resolveInRootfs(r, '/resolv-link', new Set(['/run'])), { path: '/run/systemd/resolve/stub-resolv.conf', missing: [], coveredBy: '/run' });
  assert.deepEqual(await resolveInRootfs(r, '/lib/./file'), { path: '/usr/lib/file', missing: [] });
  await assert.rejects(resolveInRootfs(r, '/usr/lib/file/below'), (e: unknown) => e instanceof RuntimeError && e.code === 'ROOTFS_INVALID');
  await symlink('loop', join(r, 'loop'));
  await assert.rejects(resolveInRootfs(r, '/loop/x'), /too many symbolic links/);
});

test('mount points lading creates are removed again, parent mtimes restored exactly', async (t) => {
  const r = await scratch(t);
  await mkdir(join(r, 'etc'));
  await mkdir(join(r, 'usr'));
  await writeFile(join(r, 'etc/hostname'), 'x\n');
  const before = await listing(r);
  const prepared = await prepareMountPoints(r, [
    { destination: '/proc', kind: 'dir' },
    { destination: '/dev', kind: 'dir' },
    { destination: '/dev/pts', kind: 'dir' }, // below /dev: the runtime makes it inside the tmpfs
    { destination: '/etc/resolv.conf', kind: 'file' },
    { destination: '/var/cache/lading', kind: 'dir' },
    { destination: '/usr', kind: 'dir' }, // exists: nothing to do
  ]);
  assert.deepEqual(
    prepared.created.map((c) => c.hostPath.slice(r.length)),
    ['/proc', '/dev', '/etc/resolv.conf', '/var', '/var/cache', '/var/cache/lading'],
  );
  assert.ok((await lstat(join(r, 'etc/resolv.conf'))).isFile());
  await assert.rejects(lstat(join(r, 'dev/pts')));
  await removeMountPoints(prepared);
  assert.deepEqual(await listing(r), before);
});

test('what the command wrote next to a created mount point stays', async (t) => {
  const r = await scratch(t);
  const prepared = await prepareMountPoints(r, [{ destination: '/var/cache/apt', kind: 'dir' }]);
  await writeFile(join(r, 'var/cache/new-file'), 'kept');
  await removeMountPoints(prepared);
  assert.deepEqual((await readdir(join(r, 'var/cache'))).sort(), ['new-file']);
});

test('concurrent leases on one rootfs share mount points until the last release', async (t) => {
  const r = await scratch(t);
  const before = await listing(r);
  const a = await acquireMountPoints(r, [{ destination: '/proc', kind: 'dir' }]);
  const b = await acquireMountPoints(r, [{ destination: '/proc', kind: 'dir' }, { destination: '/tmp', kind: 'dir' }]);
  await a.release();
  assert.ok((await lstat(join(r, 'proc'))).isDirectory(), 'still used by b');
  await b.release();
  await b.release(); // idempotent
  assert.deepEqual(await listing(r), before);
});

test('created mount points get exact modes whatever the umask (runc gives a tmpfs its mount point mode)', async (t) => {
  const r = await scratch(t);
  const old = process.umask(0o077);
  try {
    const prepared = await prepareMountPoints(r, [
      { destination: '/tmp', kind: 'dir', mode: 0o1777 },
      { destination: '/run', kind: 'dir' },
      { destination: '/etc/hosts', kind: 'file' },
    ]);
    const mode = async (p: string) => (await lstat(join(r, p))).mode & 0o7777;
    assert.deepEqual([await mode('tmp'), await mode('run'), await mode('etc'), await mode('etc/hosts')], [0o1777, 0o755, 0o755, 0o644]);
    await removeMountPoints(prepared);
  } finally {
    process.umask(old);
  }
  assert.deepEqual(await readdir(r), []);
});
