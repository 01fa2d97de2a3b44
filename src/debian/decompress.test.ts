import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { compressionFromName, createDecompressor, type Compression } from './decompress.js';
import { DebianError } from './errors.js';

function compressWith(cmd: string, args: string[], data: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input: data });
  assert.equal(r.status, 0, `${cmd} failed`);
  return r.stdout;
}

async function decode(kind: Compression, data: Buffer): Promise<Buffer> {
  const d = createDecompressor(kind, { what: 'Packages' });
  const [out] = await Promise.all([buffer(d), pipeline(Readable.from([data]), d)]);
  return out;
}

const sample = Buffer.from('Package: a\nVersion: 1\n\n'.repeat(5000));

test('compressionFromName maps suffixes', () => {
  assert.equal(compressionFromName('Packages.xz'), 'xz');
  assert.equal(compressionFromName('Packages.gz'), 'gz');
  assert.equal(compressionFromName('data.tar.zst'), 'zst');
  assert.equal(compressionFromName('x.bz2'), 'bz2');
  assert.equal(compressionFromName('data.tar.lzma'), 'lzma');
  assert.equal(compressionFromName('Packages'), 'none');
  assert.equal(compressionFromName('data.tar'), 'none');
});

test('createDecompressor round-trips every codec with the real programs', async () => {
  assert.deepEqual(await decode('none', sample), sample);
  assert.deepEqual(await decode('gz', gzipSync(sample)), sample);
  assert.deepEqual(await decode('xz', compressWith('xz', ['-c'], sample)), sample);
  assert.deepEqual(await decode('zst', compressWith('zstd', ['-q', '-c'], sample)), sample);
  assert.deepEqual(await decode('bz2', compressWith('bzip2', ['-c'], sample)), sample);
  assert.deepEqual(await decode('lzma', compressWith('xz', ['-c', '--format=lzma'], sample)), sample);
});

test('corrupt input fails with DECOMPRESS_FAILED naming the data', async () => {
  for (const kind of ['gz', 'xz', 'zst'] as const) {
    await assert.rejects(decode(kind, Buffer.from('this is not compressed data at all')), (err: unknown) => {
      assert.ok(err instanceof DebianError, `${kind}: ${String(err)}`);
      assert.equal(err.code, 'DECOMPRESS_FAILED');
      assert.match(err.message, /Packages/);
      return true;
    });
  }
});
