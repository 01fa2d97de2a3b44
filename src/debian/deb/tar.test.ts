import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, linkSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarFormatError, TarParser, type TarHeader } from './tar.js';
import { xzUncompressedSize } from './xz-index.js';

const tmp = mkdtempSync(join(tmpdir(), 'lading-tar-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function parse(bytes: Buffer, chunk = 997): Array<TarHeader & { content: string }> {
  const out: Array<TarHeader & { content: string }> = [];
  let cur: (TarHeader & { content: string }) | undefined;
  const p = new TarParser({
    entry: (h) => {
      cur = { ...h, content: '' };
    },
    data: (c) => {
      if (cur) cur.content += c.toString('latin1');
    },
    entryEnd: () => {
      if (cur) out.push(cur);
      cur = undefined;
    },
  });
  // Odd chunk sizes exercise headers and data split across writes.
  for (let i = 0; i < bytes.length; i += chunk) p.write(bytes.subarray(i, i + chunk));
  p.end();
  return out;
}

const longDir = `dir-${'d'.repeat(80)}`;
const longName = `${longDir}/file-${'f'.repeat(60)}`;

function makeTree(): string {
  const root = join(tmp, 'tree');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, longDir), { recursive: true });
  writeFileSync(join(root, 'plain'), 'hello');
  chmodSync(join(root, 'plain'), 0o4755);
  writeFileSync(join(root, longName), 'long');
  linkSync(join(root, 'plain'), join(root, 'hard'));
  symlinkSync(`../${'t'.repeat(150)}`, join(root, 'link'));
  utimesSync(join(root, 'plain'), 1_600_000_000, 1_600_000_000);
  return root;
}

for (const format of ['gnu', 'pax', 'ustar']) {
  test(`parses GNU tar --format=${format} archives (long names, links, set-uid, large ids)`, () => {
    const root = makeTree();
    const args = ['-C', root, `--format=${format}`, '--sort=name', '--owner=u:3000000', '--group=g:5', '-cf', '-', '.'];
    if (format === 'ustar') args.splice(4, 1, '--owner=u:1000'); // ustar cannot store ids over 2097151
    // ustar cannot hold a 150-byte link target; its long file name goes into the prefix field.
    if (format === 'ustar') rmSync(join(root, 'link'));
    const r = spawnSync('tar', args, { maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, r.stderr.toString());
    const entries = parse(r.stdout);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.equal(byName.get(`./${longName}`)?.content, 'long');
    if (format === 'ustar') return;
    // --sort=name stores ./hard first with the data; ./plain is then a hard link to it.
    const file = byName.get('./hard');
    assert.equal(file?.type, 'file');
    assert.equal(file?.content, 'hello');
    assert.equal(file?.mode, 0o4755);
    assert.equal(file?.mtime, 1_600_000_000);
    assert.equal(file?.uid, 3_000_000);
    assert.equal(file?.gid, 5);
    assert.equal(byName.get('./plain')?.type, 'link');
    assert.equal(byName.get('./plain')?.linkname, './hard');
    assert.equal(byName.get(`./${longName}`)?.content, 'long');
    assert.equal(byName.get(`./${longDir}/`)?.type ?? byName.get(`./${longDir}`)?.type, 'directory');
    assert.equal(byName.get('./link')?.type, 'symlink');
    assert.equal(byName.get('./link')?.linkname, `../${'t'.repeat(150)}`);
  });
}

test('parses a v7 archive', () => {
  const root = join(tmp, 'v7');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'a'), 'v7 data');
  const r = spawnSync('tar', ['-C', root, '--format=v7', '-cf', '-', 'a']);
  assert.equal(r.status, 0);
  assert.deepEqual(
    parse(r.stdout).map((e) => [e.name, e.type, e.content]),
    [['a', 'file', 'v7 data']],
  );
});

test('refuses truncated archives, bad checksums and unknown entry types', () => {
  const root = join(tmp, 'bad');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'a'), 'x'.repeat(3000));
  const good = spawnSync('tar', ['-C', root, '-cf', '-', 'a']).stdout;
  assert.throws(() => parse(good.subarray(0, 1500)), TarFormatError);
  const badSum = Buffer.from(good);
  badSum[10] = 0x41;
  assert.throws(() => parse(badSum), /checksum mismatch/);
  const sock = Buffer.from(good);
  sock[156] = 0x5a; // 'Z'
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (sock[i] ?? 0);
  sock.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  assert.throws(() => parse(sock), /unsupported tar entry type "Z"/);
});

test('reads the uncompressed size from xz indexes: blocks, concatenated streams, padding', () => {
  const data = Buffer.alloc(200_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
  const one = spawnSync('xz', ['-c', '--block-size=30000'], { input: data }).stdout;
  const two = spawnSync('xz', ['-c', '--check=sha256'], { input: data.subarray(0, 12345) }).stdout;
  const file = join(tmp, 'x.xz');
  const bytes = Buffer.concat([Buffer.from('prefix!!'), one, Buffer.alloc(8), two, Buffer.alloc(4)]);
  writeFileSync(file, bytes);
  const fd = openSync(file, 'r');
  try {
    assert.equal(xzUncompressedSize(fd, 8, bytes.length - 8), 200_000 + 12345);
    assert.equal(xzUncompressedSize(fd, 8, one.length), 200_000);
    assert.throws(() => xzUncompressedSize(fd, 0, bytes.length), /xz/);
    assert.throws(() => xzUncompressedSize(fd, 8, one.length - 4), /footer|xz/);
  } finally {
    closeSync(fd);
  }
});
