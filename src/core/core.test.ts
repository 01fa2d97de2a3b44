import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import {
  BaseError,
  CoreError,
  describeError,
  digestOf,
  parseDigest,
  VerifyingStream,
  canonicalJson,
  retry,
  backoffDelay,
  redactUrl,
  redactText,
  Redactor,
  atomicWriteFile,
  withFileLock,
  mapLimit,
  parseSourceDateEpoch,
  epochToRfc3339,
  verifyBytes,
  isProcessAlive,
  processStartTime,
  processTag,
  isWithin,
  shortDigest,
} from './index.js';

test('digest vectors from the OCI spec notes', () => {
  assert.equal(digestOf(new Uint8Array(0)), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(digestOf('{}'), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  assert.equal(digestOf(new Uint8Array(1024)), 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
  assert.equal(
    digestOf(`sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef`),
    'sha256:170b376f64fb30995c140276be3d71dfb256b308d86183ca3b22aa93a79ad548',
  );
  assert.match(digestOf('x', 'sha512'), /^sha512:[a-f0-9]{128}$/);
});

test('shortDigest keeps 12 hex digits of a sha256 digest for people, and leaves anything else', () => {
  assert.equal(shortDigest('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'), 'sha256:e3b0c44298fc');
  assert.equal(shortDigest('sha512:abc'), 'sha512:abc');
  assert.equal(shortDigest(''), '');
});

test('parseDigest refuses upper-case hex, wrong lengths and unknown algorithms', () => {
  const good = 'sha256:' + 'a'.repeat(64);
  assert.equal(parseDigest(good), good);
  for (const bad of ['sha256:' + 'A'.repeat(64), 'sha256:abc', 'md5:' + 'a'.repeat(32), 'sha256' + 'a'.repeat(64), '']) {
    assert.throws(() => parseDigest(bad, 'manifest layers[0]'), (e: unknown) => e instanceof CoreError && e.code === 'DIGEST_INVALID' && e.message.startsWith('manifest layers[0]'));
  }
});

test('VerifyingStream passes matching content and fails on mismatch or oversize', async () => {
  const data = Buffer.from('hello world');
  const expected = { digest: digestOf(data), size: data.length };
  const chunks: Buffer[] = [];
  await pipeline(Readable.from([data.subarray(0, 5), data.subarray(5)]), new VerifyingStream(expected), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) chunks.push(c as Buffer);
  });
  assert.deepEqual(Buffer.concat(chunks), data);
  await assert.rejects(
    pipeline(Readable.from([Buffer.from('hello worle')]), new VerifyingStream({ ...expected, what: 'blob x' }), async (src: AsyncIterable<Buffer>) => {
      for await (const _ of src) void _;
    }),
    (e: unknown) => e instanceof CoreError && e.code === 'DIGEST_MISMATCH' && e.message.startsWith('blob x'),
  );
  await assert.rejects(
    pipeline(Readable.from([Buffer.from('hello world!!')]), new VerifyingStream(expected), async (src: AsyncIterable<Buffer>) => {
      for await (const _ of src) void _;
    }),
    (e: unknown) => e instanceof CoreError && e.code === 'SIZE_MISMATCH',
  );
  assert.throws(() => verifyBytes(Buffer.from('x'), expected), /size mismatch/);
});

test('canonicalJson sorts keys, drops undefined, rejects NaN', () => {
  assert.equal(canonicalJson({ b: 1, a: [3, { d: undefined, c: 'x' }] }), '{"a":[3,{"c":"x"}],"b":1}');
  assert.throws(() => canonicalJson({ a: Number.NaN }), /non-finite/);
});

test('retry retries with backoff and honours shouldRetry delays and refusals', async () => {
  let calls = 0;
  const delays: number[] = [];
  const out = await retry(
    async () => {
      calls++;
      if (calls < 3) throw new Error('flaky');
      return 'ok';
    },
    { baseDelayMs: 1, shouldRetry: (_e, n) => (n === 2 ? { delayMs: 5 } : true), onRetry: (i) => delays.push(i.delayMs) },
  );
  assert.equal(out, 'ok');
  assert.equal(calls, 3);
  assert.equal(delays[1], 5);
  let n = 0;
  await assert.rejects(retry(async () => { n++; throw new CoreError('IO', 'fatal'); }, { shouldRetry: () => false }), /fatal/);
  assert.equal(n, 1);
  assert.equal(backoffDelay(3, { baseDelayMs: 100, jitter: 0 }), 400);
  assert.equal(backoffDelay(30, { baseDelayMs: 100, maxDelayMs: 1000, jitter: 0 }), 1000);
});

test('redaction removes credentials from URLs and text', () => {
  assert.equal(redactUrl('https://user:pw@reg.example/v2/x?_state=abc&n=1'), 'https://REDACTED@reg.example/v2/x?_state=REDACTED&n=1');
  assert.equal(redactText('Authorization: Bearer abcdefghijklmnop'), 'Authorization: Bearer REDACTED');
  assert.equal(redactText('{"password":"hunter22"}'), '{"password":"REDACTED"}');
  const r = new Redactor();
  r.add('s3cr3t-value');
  assert.equal(r.redact('token is s3cr3t-value here'), 'token is REDACTED here');
});

test('describeError joins causes without repeating', () => {
  const e = new BaseError('X', 'pushing blob sha256:1', { cause: new Error('connection reset') });
  assert.equal(describeError(e), 'pushing blob sha256:1: connection reset');
});

test('atomicWriteFile leaves no temp files and replaces content whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-core-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = join(dir, 'f.json');
  await atomicWriteFile(p, 'one');
  await atomicWriteFile(p, 'two');
  assert.equal(await readFile(p, 'utf8'), 'two');
  assert.deepEqual(await readdir(dir), ['f.json']);
});

test('withFileLock serialises holders and takes over a lock of a dead process', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lock = join(dir, 'lock');
  const order: string[] = [];
  await Promise.all(
    ['a', 'b', 'c'].map((name) =>
      withFileLock(lock, async () => {
        order.push(`${name}+`);
        await new Promise((r) => setTimeout(r, 20));
        order.push(`${name}-`);
      }, { pollMs: 5 }),
    ),
  );
  for (let i = 0; i < order.length; i += 2) assert.equal(order[i]!.slice(0, 1), order[i + 1]!.slice(0, 1));
  // A lock file naming a process that no longer exists.
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  await writeFile(lock, JSON.stringify({ pid: child.pid, host: (await import('node:os')).hostname(), token: 'dead' }));
  const got = await withFileLock(lock, async () => 'taken', { timeoutMs: 2000, pollMs: 5 });
  assert.equal(got, 'taken');
  // An empty lock file (its writer ran out of disk space between creating and writing it) is
  // waited for while it may still be written, and taken over once it is old.
  await writeFile(lock, '');
  const waits: Array<number | undefined> = [];
  await assert.rejects(withFileLock(lock, async () => 'early', { timeoutMs: 100, pollMs: 5, onWait: (h) => waits.push(h.pid) }), /still held by pid \?/);
  assert.deepEqual(waits, [undefined]);
  await utimes(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  assert.equal(await withFileLock(lock, async () => 'taken', { timeoutMs: 2000, pollMs: 5 }), 'taken');
  assert.deepEqual(await readdir(dir), []);
});

test('mapLimit keeps order, bounds concurrency and stops after a failure', async () => {
  let active = 0;
  let peak = 0;
  const out = await mapLimit([1, 2, 3, 4, 5], 2, async (x) => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 5));
    active--;
    return x * 2;
  });
  assert.deepEqual(out, [2, 4, 6, 8, 10]);
  assert.equal(peak, 2);
  const started: number[] = [];
  await assert.rejects(mapLimit([1, 2, 3, 4], 1, async (x) => { started.push(x); if (x === 2) throw new Error('boom'); return x; }), /boom/);
  assert.deepEqual(started, [1, 2]);
});

test('SOURCE_DATE_EPOCH parsing', () => {
  assert.equal(parseSourceDateEpoch(' 1700000000 '), 1700000000);
  assert.throws(() => parseSourceDateEpoch('17e8'), /SOURCE_DATE_EPOCH/);
  assert.equal(epochToRfc3339(0), '1970-01-01T00:00:00Z');
});

test('isProcessAlive: a live process is alive; a killed one its parent has not reaped (a zombie) is not', async (t) => {
  // sh starts a short sleep in the background, prints its pid and becomes `sleep 30`, which never
  // reaps it: when the short one ends (after sh's exec), it is a zombie.
  const parent = spawn('sh', ['-c', 'sleep 1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => parent.kill('SIGKILL'));
  const zombie = Number((await new Promise<Buffer>((resolve) => parent.stdout.once('data', resolve))).toString().trim());
  await new Promise((resolve) => setTimeout(resolve, 2000));
  assert.match(await readFile(`/proc/${zombie}/stat`, 'utf8'), /\) Z /, 'the background process is a zombie');
  assert.equal(isProcessAlive(zombie), false);
  assert.equal(isProcessAlive(parent.pid as number), true);
  assert.equal(isProcessAlive(process.pid), true);
  // With its start time, a pid names one process: a record naming this pid with another start
  // time (pid reuse, or pid 1 in another container) is another process, long gone.
  const start = processStartTime();
  assert.match(start ?? '', /^\d+$/);
  assert.equal(isProcessAlive(process.pid, start), true);
  assert.equal(isProcessAlive(process.pid, String(Number(start) - 1)), false);
  assert.equal(isProcessAlive(parent.pid as number, processStartTime(parent.pid as number)), true);
  assert.equal(processTag(), `${process.pid}-${start}`);
});

test("withFileLock takes over a lock whose pid is alive but names another process (reuse, or this one's pid in another container)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-lock-reuse-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lock = join(dir, 'run.lock');
  // Left by a killed process that had our pid (pid 1 of a container, say), started earlier.
  await writeFile(lock, JSON.stringify({ pid: process.pid, start: String(Number(processStartTime()) - 1), host: hostname(), token: 'dead' }));
  const ran = await withFileLock(lock, async () => 'ran', { timeoutMs: 2_000 });
  assert.equal(ran, 'ran');
});

test('isWithin: the directory itself and what lies below it; not siblings with a common prefix or parents', () => {
  assert.equal(isWithin('/srv/ctx', '/srv/ctx'), true);
  assert.equal(isWithin('/srv/ctx', '/srv/ctx/a/b'), true);
  assert.equal(isWithin('/srv/ctx', '/srv/ctx/..x'), true);
  assert.equal(isWithin('/srv/ctx', '/srv/ctx2'), false);
  assert.equal(isWithin('/srv/ctx', '/srv'), false);
  assert.equal(isWithin('/', '/srv/ctx'), true);
});
