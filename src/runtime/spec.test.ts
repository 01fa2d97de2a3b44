import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import {
  buildRuntimeConfig,
  serializeRuntimeConfig,
  effectiveRlimits,
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  NOFILE_CEILING,
  RuntimeError,
  type RuntimeConfigInput,
} from './index.js';
import { normaliseCapabilities } from './spec.js';
import { newContainerId, parseProcLimits } from './container.js';
import { containerOwner } from './stale.js';
import { processStartTime } from '../core/index.js';
import { CappedLog, TailBuffer } from './output.js';

const base: RuntimeConfigInput = {
  rootfs: '/srv/rootfs',
  readonlyRootfs: false,
  args: ['sh', '-c', 'true'],
  env: ['PATH=/bin'],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [] },
  hostname: 'lading',
  network: 'none',
  extraMounts: [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] }],
  capabilities: [...DEFAULT_CAPABILITIES],
  rlimits: effectiveRlimits(undefined, new Map()),
  noNewPrivileges: false,
  cgroupNamespace: true,
};

test('config.json follows runtime-spec 1.0.2 with runc-like defaults', () => {
  const c = buildRuntimeConfig(base);
  assert.equal(c.ociVersion, '1.0.2');
  assert.equal(c.process.terminal, false);
  assert.deepEqual(c.root, { path: '/srv/rootfs', readonly: false });
  assert.deepEqual(c.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'network', 'cgroup']);
  assert.ok(!c.linux.namespaces.some((n) => n.type === 'user'), 'no user namespace when running as root');
  assert.deepEqual(c.linux.resources, { devices: [{ allow: false, access: 'rwm' }] }, 'no cgroup limits unless asked');
  assert.deepEqual(c.linux.maskedPaths, [...MASKED_PATHS]);
  assert.ok(c.linux.readonlyPaths.includes('/proc/sys'));
  assert.deepEqual(c.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/tmp']);
  assert.ok(c.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'));
  assert.deepEqual(c.process.capabilities.inheritable, []);
  assert.deepEqual(c.process.capabilities.ambient, []);
  assert.ok(c.process.capabilities.bounding.includes('CAP_CHOWN') && !c.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  assert.equal(c.process.user.additionalGids, undefined);
  assert.equal(c.annotations, undefined);
});

test('host network drops the network namespace; limits and groups appear only when asked', () => {
  const c = buildRuntimeConfig({
    ...base,
    network: 'host',
    cgroupNamespace: false,
    memoryLimitBytes: 256 * 1024 * 1024,
    pidsLimit: 64,
    user: { uid: 1000, gid: 1000, additionalGids: [29] },
    annotations: { 'org.example.step': 'configure' },
  });
  assert.deepEqual(c.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount']);
  assert.ok(!c.mounts.some((m) => m.destination === '/sys/fs/cgroup'));
  assert.deepEqual(c.linux.resources.memory, { limit: 268435456 });
  assert.deepEqual(c.linux.resources.pids, { limit: 64 });
  assert.deepEqual(c.process.user, { uid: 1000, gid: 1000, umask: 0o022, additionalGids: [29] });
  assert.deepEqual(c.annotations, { 'org.example.step': 'configure' });
});

test('rlimits: default NOFILE 1024/20000, hard limits clamped to the host and NOFILE never above 20000', () => {
  assert.deepEqual(effectiveRlimits(undefined, new Map()), [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: NOFILE_CEILING }]);
  const host = new Map([['NOFILE', 1_048_576], ['NPROC', 96_364], ['CORE', Infinity]]);
  assert.deepEqual(effectiveRlimits({ NOFILE: 100_000, NPROC: { soft: 500_000, hard: 500_000 }, CORE: Infinity }, host), [
    { type: 'RLIMIT_CORE', soft: 2 ** 64, hard: 2 ** 64 },
    { type: 'RLIMIT_NOFILE', soft: 20_000, hard: 20_000 },
    { type: 'RLIMIT_NPROC', soft: 96_364, hard: 96_364 },
  ]);
  assert.deepEqual(effectiveRlimits({ NOFILE: { soft: 4096, hard: 8192 } }, new Map([['NOFILE', 2048]])), [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 2048 }]);
  assert.throws(() => effectiveRlimits({ NOFILE: -1 }, new Map()), (e: unknown) => e instanceof RuntimeError && e.code === 'INVALID_OPTIONS');
  assert.throws(() => effectiveRlimits({ NOFILE: 1.5 }, new Map()), /rlimit NOFILE/);
});

test('unlimited rlimits are serialised as RLIM_INFINITY exactly', () => {
  const c = buildRuntimeConfig({ ...base, rlimits: effectiveRlimits({ CORE: Infinity }, new Map()) });
  const text = serializeRuntimeConfig(c);
  assert.match(text, /"soft": 18446744073709551615/);
  assert.doesNotMatch(text, /18446744073709552000/);
});

test('capabilities are normalised and unknown names rejected', () => {
  assert.deepEqual(normaliseCapabilities(['chown', 'CAP_SETUID', 'Cap_Kill', 'CHOWN']), ['CAP_CHOWN', 'CAP_KILL', 'CAP_SETUID']);
  assert.throws(() => normaliseCapabilities(['CAP_FLY']), (e: unknown) => e instanceof RuntimeError && e.code === 'INVALID_OPTIONS' && /CAP_FLY/.test(e.message));
});

test('/proc/self/limits parsing', () => {
  const text = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    'Max processes             96364                96364                processes ',
    'Max open files            20000                20000                files     ',
    'Max nice priority         0                    0                    ',
  ].join('\n');
  const m = parseProcLimits(text);
  assert.equal(m.get('CPU'), Infinity);
  assert.equal(m.get('NPROC'), 96364);
  assert.equal(m.get('NOFILE'), 20000);
  assert.equal(m.get('NICE'), 0);
});

test('TailBuffer keeps the last bytes and drops a cut UTF-8 character', () => {
  const t = new TailBuffer(4);
  t.push(Buffer.from('abc'));
  t.push(Buffer.from('défgh'));
  assert.equal(t.text(), 'fgh'); // the last 4 bytes start inside 'é' (2 bytes): that half is dropped
  const whole = new TailBuffer(5);
  whole.push(Buffer.from('défgh'));
  assert.equal(whole.text(), 'éfgh');
  const u = new TailBuffer(100);
  for (let i = 0; i < 50; i++) u.push(Buffer.from(`line ${i}\n`));
  assert.ok(u.text().endsWith('line 49\n'));
  assert.ok(Buffer.byteLength(u.text()) <= 100);
  assert.equal(new TailBuffer(0).text(), '');
});

test('container ids name their owner process and differ between runs', () => {
  const a = newContainerId();
  const b = newContainerId();
  assert.notEqual(a, b);
  assert.deepEqual(containerOwner(a), { pid: process.pid, start: processStartTime() });
  assert.deepEqual(containerOwner(b), { pid: process.pid, start: processStartTime() });
  assert.equal(containerOwner('buildah-123'), undefined);
  // Ids of earlier versions held epoch milliseconds there: the pid alone decides.
  assert.deepEqual(containerOwner('lading-42-1795000000000-00112233aabb'), { pid: 42 });
});

test('CappedLog writes up to its limit, notes the cut, appends the tail only when something was dropped, and ends the last line', () => {
  /** What a CappedLog of `limit` bytes writes for these chunks, finished with `tail`. */
  const logged = (limit: number, chunks: string[], tail: string): string => {
    const out: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk.toString());
        cb();
      },
    });
    const log = new CappedLog(sink, limit);
    for (const c of chunks) log.write(Buffer.from(c));
    log.finish(tail);
    return out.join('');
  };
  const note = (limit: number, dropped: number, tail: string) =>
    `\n[lading: output clipped here, at the log limit of ${limit} bytes; its end follows]\n[lading: ${dropped} bytes of output left out; the last ${tail.length} bytes follow]\n${tail}\n`;
  // An unfinished last line is ended, so the next line of the log starts on its own.
  assert.equal(logged(10, ['0123456789'], '789'), '0123456789\n');
  assert.equal(logged(10, ['01234567\n'], '67\n'), '01234567\n');
  assert.equal(logged(10, ['ab\n', ''], ''), 'ab\n');
  assert.equal(logged(10, [], ''), '');
  assert.equal(logged(10, ['01234', '56789abc', 'def'], 'cdef'), `0123456789${note(10, 6, 'cdef')}`);
  // A chunk that fills the log exactly: the note comes with the next one.
  assert.equal(logged(4, ['0123', '45'], '2345'), `0123${note(4, 2, '2345')}`);
});
