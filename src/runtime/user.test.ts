import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveUser, RuntimeError } from './index.js';
import { parseGroup, parsePasswd } from './user.js';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
builder:x:1000:1000:Builder,,,:/home/builder:/bin/sh
+nis-entry
broken line
nohome:x:1001:1001::::
`;
const GROUP = `root:x:0:
daemon:x:1:
audio:x:29:builder,other
video:x:44: builder
builder:x:1000:
staff:x:50:
`;

async function rootfsWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-user-'));
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  return dir;
}

const isCode = (code: string) => (e: unknown) => e instanceof RuntimeError && e.code === code;

test('passwd and group parsing skips malformed and NIS lines', () => {
  assert.deepEqual(parsePasswd(PASSWD).map((p) => p.name), ['root', 'daemon', 'builder', 'nohome']);
  assert.deepEqual(parseGroup(GROUP).find((g) => g.name === 'video')?.members, ['builder']);
});

test('resolveUser follows the image-spec conversion rules', async (t) => {
  const rootfs = await rootfsWith({ 'etc/passwd': PASSWD, 'etc/group': GROUP });
  t.after(() => rm(rootfs, { recursive: true, force: true }));
  assert.deepEqual(await resolveUser(rootfs, undefined), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  // A name: primary group from passwd, supplementary groups from /etc/group membership.
  assert.deepEqual(await resolveUser(rootfs, 'builder'), { uid: 1000, gid: 1000, additionalGids: [29, 44], home: '/home/builder' });
  // A group given: no supplementary groups.
  assert.deepEqual(await resolveUser(rootfs, 'builder:staff'), { uid: 1000, gid: 50, additionalGids: [], home: '/home/builder' });
  assert.deepEqual(await resolveUser(rootfs, 'builder:7'), { uid: 1000, gid: 7, additionalGids: [], home: '/home/builder' });
  // Numeric: copied verbatim, no supplementary groups; gid from passwd when the uid has an entry.
  assert.deepEqual(await resolveUser(rootfs, '1000'), { uid: 1000, gid: 1000, additionalGids: [], home: '/home/builder' });
  assert.deepEqual(await resolveUser(rootfs, 4242), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  assert.deepEqual(await resolveUser(rootfs, '4242:audio'), { uid: 4242, gid: 29, additionalGids: [], home: '/' });
  assert.deepEqual(await resolveUser(rootfs, 'nohome'), { uid: 1001, gid: 1001, additionalGids: [], home: '/' });
  assert.deepEqual(await resolveUser(rootfs, { uid: 5, gid: 6, additionalGids: [7] }), { uid: 5, gid: 6, additionalGids: [7], home: '/' });
  // Unknown names are errors (conversion.md: MUST return an error).
  await assert.rejects(resolveUser(rootfs, 'nobody2'), (e: unknown) => isCode('USER_UNKNOWN')(e) && /nobody2/.test((e as Error).message));
  await assert.rejects(resolveUser(rootfs, 'builder:nogroup'), isCode('USER_UNKNOWN'));
  await assert.rejects(resolveUser(rootfs, 'a:b:c'), isCode('INVALID_OPTIONS'));
  await assert.rejects(resolveUser(rootfs, 'builder:'), isCode('INVALID_OPTIONS'));
  await assert.rejects(resolveUser(rootfs, { uid: -1, gid: 0 }), isCode('INVALID_OPTIONS'));
});

test('resolveUser reads the rootfs files, never the host, even through absolute symlinks', async (t) => {
  const rootfs = await rootfsWith({ 'srv/passwd': 'svc:x:77:77::/srv:/bin/sh\n' });
  t.after(() => rm(rootfs, { recursive: true, force: true }));
  await mkdir(join(rootfs, 'etc'));
  // /etc/passwd -> /srv/passwd must mean <rootfs>/srv/passwd; /etc/group -> /etc/group-host is dangling inside the rootfs.
  await symlink('/srv/passwd', join(rootfs, 'etc/passwd'));
  await symlink('/etc/gshadow', join(rootfs, 'etc/group'));
  assert.deepEqual(await resolveUser(rootfs, 'svc'), { uid: 77, gid: 77, additionalGids: [], home: '/srv' });
  await assert.rejects(resolveUser(rootfs, 'root'), (e: unknown) => isCode('USER_UNKNOWN')(e) && /passwd/.test((e as Error).message));
  const empty = await rootfsWith({});
  t.after(() => rm(empty, { recursive: true, force: true }));
  await assert.rejects(resolveUser(empty, 'root'), (e: unknown) => isCode('USER_UNKNOWN')(e) && /does not exist/.test((e as Error).message));
  assert.deepEqual(await resolveUser(empty, '0'), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
});
