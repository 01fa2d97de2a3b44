import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { run } from '../../../test/helpers/oci-layer.js';
import { readTar } from './reader.js';
import { decodeHeader, decodePax, encodeHeader, END_OF_ARCHIVE, type TarHeader } from './tar.js';

const base: TarHeader = { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() };

async function members(tar: Buffer) {
  const out = [];
  for await (const { member } of readTar(Readable.from([tar]))) out.push(member);
  return out;
}

test('ustar fields: octal, NUL-terminated, checksum "%06o\\0 ", magic ustar\\000, empty owner names', () => {
  const h = encodeHeader({ ...base, name: 'etc/hosts', mode: 0o4755, uid: 1000, gid: 100, size: 1234 });
  assert.equal(h.length, 512);
  assert.equal(h.toString('latin1', 100, 108), '0004755\0');
  assert.equal(h.toString('latin1', 108, 116), '0001750\0');
  assert.equal(h.toString('latin1', 124, 136), '00000002322\0');
  assert.equal(h.toString('latin1', 257, 265), 'ustar\u000000');
  assert.ok(h.subarray(265, 329).every((b) => b === 0)); // uname, gname
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
  assert.equal(h.toString('latin1', 148, 156), `${sum.toString(8).padStart(6, '0')}\0 `);
  const d = decodeHeader(h);
  assert.deepEqual([d.name.toString(), d.mode, d.uid, d.gid, d.size, d.mtime, d.format], ['etc/hosts', 0o4755, 1000, 100, 1234, 1700000000, 'ustar']);
});

test('pax records only where ustar cannot hold a value: sizes >= 8 GiB, big ids, old/negative mtimes, long links', async () => {
  assert.equal(encodeHeader(base).length, 512); // nothing extended
  const big = encodeHeader({ ...base, name: 'huge', size: 8 * 1024 ** 3, uid: 2_097_152, gid: 4_000_000_000, mtime: -1, linkname: '' });
  assert.equal(big.toString('latin1', 0, 100).replace(/\0+$/, ''), './PaxHeaders/huge');
  assert.equal(big[156], 0x78); // 'x'
  const pax = decodePax(big.subarray(512, 1024), 'test');
  assert.deepEqual(
    [...pax].map(([k, v]) => `${k}=${v.toString()}`),
    ['size=8589934592', 'uid=2097152', 'gid=4000000000', 'mtime=-1'],
  );
  // The ustar block after it holds zeros where the pax record rules.
  const main = decodeHeader(big.subarray(1024, 1536));
  assert.deepEqual([main.size, main.uid, main.gid, main.mtime], [0, 0, 0, 0]);
  // Reading applies the records (no content follows here, so the reader stops at the content).
  const header = Buffer.concat([encodeHeader({ ...base, name: 'ids', uid: 3_000_000, gid: 5, mtime: 2 ** 34 }), END_OF_ARCHIVE]);
  const [m] = await members(header);
  assert.deepEqual([m?.uid, m?.gid, m?.mtime], [3_000_000, 5, 2 ** 34]);
  // GNU tar reads the 8 GiB size from the pax record (it then misses the content, as expected).
  const gnu = await run('tar', ['-tvf', '-', '--numeric-owner'], { input: Buffer.concat([big, Buffer.alloc(512)]) });
  assert.match(gnu.stdout.toString(), /2097152\/4000000000 8589934592 .* huge/);
});

test('the pax record length counts its own digits (999 -> 1000 byte boundary)', () => {
  for (let n = 980; n < 995; n++) {
    const link = 'x'.repeat(n);
    const h = encodeHeader({ ...base, type: 'symlink', linkname: link });
    const size = decodeHeader(h.subarray(0, 512)).size;
    const rec = decodePax(h.subarray(512, 512 + size), 'test');
    assert.equal(rec.size, 1);
    assert.equal(rec.get('linkpath')?.toString(), link);
  }
});

test('base-256 numbers (GNU) and v7 directories are read', async () => {
  const h = encodeHeader({ ...base, name: 'legacy/', type: 'file' });
  h[156] = 0; // v7 typeflag NUL with a trailing slash: a directory
  h.fill(0, 108, 116);
  h[108] = 0x80; // base-256 uid 0x01020304
  h.writeUInt32BE(0x01020304, 112);
  h.write('        ', 148, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const [m] = await members(Buffer.concat([h, END_OF_ARCHIVE]));
  assert.deepEqual([m?.type, m?.uid, m?.name], ['dir', 0x01020304, 'legacy/']);
});
