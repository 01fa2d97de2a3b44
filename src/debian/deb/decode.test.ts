import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebianError } from '../errors.js';
import { XzPipe } from './decode.js';
import { xzUncompressedSize } from './xz-index.js';

const tmp = mkdtempSync(join(tmpdir(), 'lading-xzpipe-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const xz = (data: Buffer) => spawnSync('xz', ['-c', '-1'], { input: data, maxBuffer: 1 << 28 }).stdout;

test('one xz process decodes many members back to back, each cut at its exact size', async () => {
  // Sizes around xz's 8 KiB buffers, an empty member, and one large enough to need several reads.
  const inputs = [0, 1, 8191, 8192, 8193, 100_000, 3_000_000].map((n, k) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * (k + 3)) & 0xff;
    return b;
  });
  const members = inputs.map(xz);
  const file = join(tmp, 'members.bin');
  writeFileSync(file, Buffer.concat(members));
  const fd = openSync(file, 'r');
  const pipe = new XzPipe();
  try {
    let offset = 0;
    for (const [i, m] of members.entries()) {
      const size = xzUncompressedSize(fd, offset, m.length);
      assert.equal(size, inputs[i]?.length);
      const parts: Buffer[] = [];
      await pipe.decode(fd, offset, m.length, size, (c) => parts.push(Buffer.from(c)), `member ${i}`);
      assert.ok(Buffer.concat(parts).equals(inputs[i] as Buffer), `member ${i} decodes exactly`);
      offset += m.length;
    }
  } finally {
    pipe.close();
    closeSync(fd);
  }
});

test('a corrupt member fails with an error naming it, and the next member gets a fresh process', async () => {
  const good = xz(Buffer.from('hello '.repeat(5000)));
  const bad = Buffer.from(good);
  for (let i = 40; i < 60; i++) bad[i] = (bad[i] ?? 0) ^ 0x55;
  const file = join(tmp, 'bad.bin');
  writeFileSync(file, Buffer.concat([bad, good]));
  const fd = openSync(file, 'r');
  const pipe = new XzPipe();
  try {
    await assert.rejects(
      pipe.decode(fd, 0, bad.length, 30000, () => undefined, 'pkg_1.0_amd64.deb member data.tar.xz'),
      (err: unknown) => err instanceof DebianError && err.code === 'DECOMPRESS_FAILED' && /decompressing pkg_1\.0_amd64\.deb member data\.tar\.xz: xz failed/.test(err.message),
    );
    const parts: Buffer[] = [];
    await pipe.decode(fd, bad.length, good.length, 30000, (c) => parts.push(Buffer.from(c)), 'next');
    assert.equal(Buffer.concat(parts).toString(), 'hello '.repeat(5000));
  } finally {
    pipe.close();
    closeSync(fd);
  }
});

test('an error thrown by the consumer stops the pipe and reaches the caller', async () => {
  const m = xz(Buffer.alloc(500_000, 7));
  const file = join(tmp, 'consumer.bin');
  writeFileSync(file, m);
  const fd = openSync(file, 'r');
  const pipe = new XzPipe();
  try {
    await assert.rejects(
      pipe.decode(fd, 0, m.length, 500_000, () => {
        throw new DebianError('UNSAFE_PATH', 'refused');
      }, 'x'),
      /refused/,
    );
  } finally {
    pipe.kill();
    closeSync(fd);
  }
});
