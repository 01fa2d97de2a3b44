import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { architectureSupport, canRunArchitecture, hostArchitecture, parseBinfmtEntry } from './index.js';

const fixtures = new URL('./testdata/binfmt', import.meta.url).pathname;

test('hostArchitecture names the host as dpkg does', () => {
  assert.equal(hostArchitecture(), execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim());
});

test('binfmt_misc entries parse', () => {
  const e = parseBinfmtEntry('enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n');
  assert.deepEqual(e, { enabled: true, interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P', flags: 'POCF' });
  assert.equal(parseBinfmtEntry('disabled\n').enabled, false);
});

test('foreign architectures need an enabled qemu handler: F flag, or the interpreter inside the rootfs', async (t) => {
  const opts = { binfmtDir: fixtures, hostArch: 'amd64' };
  assert.deepEqual(await architectureSupport('amd64', opts), { arch: 'amd64', supported: true, via: 'native', reason: 'amd64 is the host architecture' });
  const arm64 = await architectureSupport('arm64', opts);
  assert.equal(arm64.supported, true);
  assert.equal(arm64.via, 'binfmt');
  assert.equal(arm64.handler, join(fixtures, 'qemu-aarch64'));
  // qemu-arm has no F flag: usable only when the rootfs holds the interpreter.
  // Without a rootfs that is undecided, not a refusal: callers check again with one.
  const armhf = await architectureSupport('armhf', opts);
  assert.equal(armhf.supported, false);
  assert.equal(armhf.needsRootfs, true);
  const rootfs = await mkdtemp(join(tmpdir(), 'lading-arch-'));
  t.after(() => rm(rootfs, { recursive: true, force: true }));
  const missing = await architectureSupport('armhf', { ...opts, rootfs });
  assert.match(missing.reason, /not in the rootfs/);
  assert.equal(missing.needsRootfs, undefined);
  await mkdir(join(rootfs, 'usr/bin'), { recursive: true });
  await writeFile(join(rootfs, 'usr/bin/qemu-arm-static'), '');
  assert.equal(await canRunArchitecture('armhf', { ...opts, rootfs }), true);
  assert.match((await architectureSupport('riscv64', opts)).reason, /disabled/);
  assert.equal((await architectureSupport('riscv64', opts)).needsRootfs, undefined);
  assert.match((await architectureSupport('s390x', opts)).reason, /no handler .*qemu-s390x/);
  assert.match((await architectureSupport('sparc', opts)).reason, /not an architecture/);
  const unmounted = await mkdtemp(join(tmpdir(), 'lading-binfmt-'));
  t.after(() => rm(unmounted, { recursive: true, force: true }));
  assert.match((await architectureSupport('arm64', { ...opts, binfmtDir: unmounted })).reason, /binfmt_misc is not mounted/);
});

test('on this machine: the host arch runs; a foreign one only if binfmt_misc really has its handler', async (t) => {
  assert.equal(await canRunArchitecture(hostArchitecture()), true);
  const foreign = hostArchitecture() === 'arm64' ? 'amd64' : 'arm64';
  const res = await architectureSupport(foreign);
  const mounted = existsSync('/proc/sys/fs/binfmt_misc/status');
  if (!mounted) {
    assert.equal(res.supported, false);
    assert.match(res.reason, /not mounted/);
  }
  t.diagnostic(`${foreign} here: ${res.supported ? 'supported' : 'unsupported'}: ${res.reason}`);
});
