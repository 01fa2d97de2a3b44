// bench/layer: lading's layer writer against `tar --sort=name -cf - DIR | gzip -6` on the same
// 2 GiB tree, in the same run. Prints both times and throughputs, lading's peak RSS (limit
// 200 MB: PASS/FAIL) and the ratios. Also `tar | pigz -6 -p<cores>` as the multi-core peer.
//
//   node --import tsx bench/layer/run.ts [--gib 2] [--keep]
//
// The tree: a few big files and many small ones. Content is cheap pseudo-random data mixed with
// word-like text (about 2:1 under gzip -6, like binaries and text of a real root filesystem);
// zero or repeated-short data would compress unrealistically fast.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;
const RSS_LIMIT = 200 * 1000 * 1000; // "under 200 MB"
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const totalBytes = Math.round(Number(arg('--gib') ?? '2') * 1024 * MiB);
const keep = process.argv.includes('--keep');

/** One MiB of base content: a third xorshift noise, two thirds words from a small vocabulary. */
function baseBlock(): Buffer {
  const b = Buffer.alloc(MiB);
  let x = 0x9e3779b9;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const words: string[] = [];
  for (let i = 0; i < 2048; i++) {
    let w = '';
    const n = 2 + (next() % 9);
    for (let j = 0; j < n; j++) w += String.fromCharCode(97 + (next() % 26));
    words.push(w);
  }
  let pos = 0;
  while (pos < MiB) {
    const chunk = Math.min(4096, MiB - pos);
    if (next() % 3 === 0) {
      for (let i = 0; i + 4 <= chunk; i += 4) b.writeUInt32LE(next(), pos + i);
    } else {
      let s = '';
      while (s.length < chunk) s += `${words[next() % words.length]}${next() % 12 === 0 ? '\n' : ' '}`;
      b.write(s.slice(0, chunk), pos, 'latin1');
    }
    pos += chunk;
  }
  return b;
}

/** `size` bytes for file number `id`: the base block rotated and stamped, so files differ. */
function contentFor(base: Buffer, id: number, size: number, out: Buffer): Buffer {
  const start = (id * 7919 * 64) % MiB;
  let filled = 0;
  while (filled < size) {
    const from = (start + filled) % MiB;
    const n = Math.min(size - filled, MiB - from);
    base.copy(out, filled, from, from + n);
    filled += n;
  }
  const stamp = Buffer.from(`file-${id}-`);
  stamp.copy(out, 0, 0, Math.min(stamp.length, size));
  return out.subarray(0, size);
}

async function writeBig(path: string, base: Buffer, id: number, size: number): Promise<void> {
  const ws = createWriteStream(path, { highWaterMark: 4 * MiB });
  const buf = Buffer.allocUnsafe(4 * MiB);
  for (let off = 0, block = 0; off < size; off += buf.length, block++) {
    const n = Math.min(buf.length, size - off);
    const chunk = Buffer.from(contentFor(base, id * 100003 + block, n, buf));
    if (!ws.write(chunk)) await new Promise<void>((r) => ws.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

async function makeTree(dir: string): Promise<{ files: number; bytes: number }> {
  const base = baseBlock();
  // Half the bytes in 4 big files, half in small files of 1-128 KiB (mean ~64 KiB) in 2 levels of directories.
  const big = 4;
  const bigSize = Math.floor(totalBytes / 2 / big);
  let bytes = 0;
  let files = 0;
  await mkdir(join(dir, 'big'), { recursive: true });
  for (let i = 0; i < big; i++) {
    await writeBig(join(dir, 'big', `blob-${i}.bin`), base, i, bigSize);
    bytes += bigSize;
    files++;
  }
  const scratch = Buffer.allocUnsafe(128 * 1024);
  let id = 1000;
  let x = 12345;
  while (bytes < totalBytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const size = Math.min(totalBytes - bytes, 1024 + ((x >>> 4) % (127 * 1024)));
    const d = join(dir, `pkg-${(id >> 10) % 64}`, `sub-${(id >> 5) % 32}`);
    if (id % 32 === 0 || id === 1000) await mkdir(d, { recursive: true });
    await writeFile(join(d, `file-${id}.dat`), contentFor(base, id, size, scratch));
    bytes += size;
    files++;
    id++;
  }
  return { files, bytes };
}

function timeCommand(cmd: string, args: string[], cwd?: string): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, stdout });
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`));
    });
  });
}

const fmt = (n: number, d = 1) => n.toFixed(d);

const work = await mkdtemp(join(tmpdir(), 'lading-bench-layer-'));
try {
  const tree = join(work, 'tree');
  process.stdout.write(`bench/layer: making a ${fmt(totalBytes / 1024 / MiB, 2)} GiB tree in ${tree} ... `);
  const t0 = Date.now();
  const made = await makeTree(tree);
  console.log(`${made.files} files, ${fmt(made.bytes / MiB, 0)} MiB in ${fmt((Date.now() - t0) / 1000)} s`);
  // Warm the page cache the same way for both sides: read everything once.
  await timeCommand('sh', ['-c', `tar -cf - -C ${JSON.stringify(tree)} . > /dev/null`]);

  const ladingOut = join(work, 'lading.tar.gz');
  const lading = await timeCommand(process.execPath, ['--import', 'tsx', join(here, 'child.ts'), tree, ladingOut], repo);
  const report = JSON.parse(lading.stdout.trim().split('\n').pop() as string) as {
    result: { descriptor: { digest: string; size: number }; uncompressedSize: number; entries: number };
    seconds: number;
    maxRssBytes: number;
  };

  const gzipOut = join(work, 'peer.tar.gz');
  const peer = await timeCommand('sh', ['-c', `tar --sort=name -cf - -C ${JSON.stringify(tree)} . | gzip -6 > ${JSON.stringify(gzipOut)}`]);
  const cores = availableParallelism();
  const pigzOut = join(work, 'pigz.tar.gz');
  const pigz = await timeCommand('sh', ['-c', `command -v pigz >/dev/null && tar --sort=name -cf - -C ${JSON.stringify(tree)} . | pigz -6 -p${cores} > ${JSON.stringify(pigzOut)} || echo none`]);
  const hasPigz = pigz.stdout.trim() !== 'none';

  const inMiB = report.result.uncompressedSize / MiB;
  const ladingMiBs = inMiB / report.seconds;
  const peerMiBs = inMiB / peer.seconds;
  const gzipSize = (await stat(gzipOut)).size;
  const pass = report.maxRssBytes < RSS_LIMIT;
  console.log(`machine: ${cpus()[0]?.model ?? '?'}, ${cores} cores, node ${process.version}; load average now ${loadavg().map((l) => fmt(l, 2)).join(' ')} (other work on the machine slows both sides)`);
  console.log(`input: ${made.files} files, tar stream ${fmt(inMiB, 0)} MiB`);
  console.log(
    `lading buildLayer gzip -6 (blocked): ${fmt(report.seconds, 2)} s (${fmt(ladingMiBs)} MiB/s; child process incl. startup ${fmt(lading.seconds, 2)} s), ` +
      `${fmt(report.result.descriptor.size / MiB)} MiB out, ${report.result.entries} entries`,
  );
  console.log(`tar --sort=name | gzip -6:          ${fmt(peer.seconds, 2)} s (${fmt(peerMiBs)} MiB/s), ${fmt(gzipSize / MiB)} MiB out`);
  if (hasPigz) {
    console.log(`tar --sort=name | pigz -6 -p${cores}:     ${fmt(pigz.seconds, 2)} s (${fmt(inMiB / pigz.seconds)} MiB/s), ${fmt((await stat(pigzOut)).size / MiB)} MiB out`);
  } else {
    console.log('tar --sort=name | pigz: skipped, pigz is not installed (scripts/bootstrap --bench installs it)');
  }
  console.log(`lading peak RSS: ${fmt(report.maxRssBytes / 1e6)} MB (limit ${RSS_LIMIT / 1e6} MB): ${pass ? 'PASS' : 'FAIL'}`);
  console.log(`ratio lading/tar|gzip throughput: ${fmt(ladingMiBs / peerMiBs, 2)}x` + (hasPigz ? `; lading/tar|pigz: ${fmt(ladingMiBs / (inMiB / pigz.seconds), 2)}x` : ''));
  console.log(`compressed size lading/gzip: ${fmt(report.result.descriptor.size / gzipSize, 3)}`);
  if (!pass) process.exitCode = 1;
} finally {
  if (keep) console.log(`kept ${work}`);
  else await rm(work, { recursive: true, force: true });
}
