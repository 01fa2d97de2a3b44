// bench/extract: the Essential set plus python3 and ca-certificates, resolved, fetched from a warm
// cache and unpacked into a directory by lading (`apt resolve` then `apt unpack`, as users run
// them: `node bin/lading.js` over the compiled dist/) against `mmdebstrap --variant=extract` with
// the same packages, the same apt sources and a warm cache of its own (its .debs and apt lists
// are put back by a setup hook, so neither side downloads a package). Prints both times, the
// ratio and the package counts of each side.
//   npm run build && npm run bench:extract [-- --runs 5 --sources /etc/apt/sources.list.d/debian.sources --offline]
// --offline: timed runs use no network on either side (lading --offline; mmdebstrap --skip=update
// with the apt lists of its warm-up run), instead of revalidating the indexes with the mirror.
// Runs alternate which tool goes first; medians are reported.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../args.js';

const { values } = benchArgs('bench/extract', {
  options: {
    runs: { type: 'string', default: '5' },
    packages: { type: 'string', default: 'python3,ca-certificates' },
    sources: { type: 'string' },
    suite: { type: 'string', default: 'bookworm' },
    keep: { type: 'boolean', default: false },
    // Timed runs touch no network on either side: lading --offline, mmdebstrap --skip=update.
    offline: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const PACKAGES = (values.packages ?? '').split(',').filter(Boolean);
const SUITE = values.suite ?? 'bookworm';
const OFFLINE = values.offline === true;
const repo = new URL('../..', import.meta.url).pathname;

/** The machine's Debian sources file (the same file is given to both tools). */
function defaultSources(): string {
  if (values.sources) return values.sources;
  const dir = '/etc/apt/sources.list.d';
  const candidates = existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
  candidates.push('/etc/apt/sources.list');
  for (const f of candidates) {
    if (existsSync(f) && /^[^#]*debian\.org\/debian\b/m.test(readFileSync(f, 'utf8')) && /\bbookworm\b/.test(readFileSync(f, 'utf8'))) return f;
  }
  throw new Error('bench/extract: no Debian apt sources file found; pass --sources FILE');
}
const SOURCES = defaultSources();

/** Runs a command under /usr/bin/time: wall time, and CPU time (user + sys) of it and all its children. */
function run(cmd: string, args: string[], what: string): Promise<{ ms: number; cpu: number; out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('/usr/bin/time', ['-f', 'CPU %U %S', cmd, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      const ms = performance.now() - t0;
      const m = /CPU ([0-9.]+) ([0-9.]+)\s*$/.exec(err);
      if (code === 0 && m) resolve({ ms, cpu: (Number(m[1]) + Number(m[2])) * 1000, out });
      else reject(new Error(`${what} failed (${code}): ${err.slice(-2000)}`));
    });
  });
}

/** Regular files in a tree, by path with the merged-/usr prefixes folded (mmdebstrap's extract variant does not merge). */
function fileSet(root: string): Set<string> {
  const out = new Set<string>();
  const skip = /^(var\/lib\/dpkg|var\/lib\/apt|var\/cache\/apt|var\/log|etc\/apt|etc\/dpkg\/dpkg\.cfg\.d|dev|etc\/fstab|etc\/hostname|etc\/resolv\.conf)(\/|$)/;
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir)) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip.test(r)) continue;
      const st = lstatSync(join(dir, name));
      if (st.isDirectory()) walk(join(dir, name), r);
      else if (!/^(bin|sbin|lib|lib32|lib64|libx32)$/.test(r)) out.add(r.replace(/^(bin|sbin|lib|lib32|lib64|libx32)\//, 'usr/$1/'));
    }
  };
  walk(root, '');
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

if (!existsSync(join(repo, 'dist/cli/index.js'))) {
  console.error('bench/extract: dist/ is missing; run npm run build first');
  process.exit(1);
}

const dir = await mkdtemp(join(tmpdir(), 'lading-bench-extract-'));
try {
  const cache = join(dir, 'lading-cache');
  const lock = join(dir, 'lock.json');
  const mmCache = join(dir, 'mm-cache');
  await mkdir(join(mmCache, 'archives'), { recursive: true });
  await mkdir(join(mmCache, 'lists'), { recursive: true });
  const lading = (...args: string[]) => run(process.execPath, [join(repo, 'bin/lading.js'), '--quiet', '--cache', cache, ...args], `lading ${args[1] ?? ''}`);
  const ladingOnce = async (root: string, offline = false) => {
    const off = offline ? ['--offline'] : [];
    const r = await lading('apt', 'resolve', ...PACKAGES, '--sources', SOURCES, '--lock-out', lock, ...off);
    const u = await lading('--json', 'apt', 'unpack', '--lock', lock, '--root', root, ...off);
    const result = JSON.parse(u.out) as { packages: unknown[]; downloaded: number };
    return { resolveMs: r.ms, unpackMs: u.ms, ms: r.ms + u.ms, cpu: r.cpu + u.cpu, packages: result.packages.length, downloaded: result.downloaded };
  };
  // The same through the library in one process: no CLI start-up for the second step.
  const libraryOnce = async (root: string, offline = false) => {
    const r = await run(process.execPath, [join(repo, 'bench/extract/library.mjs'), cache, SOURCES, root, offline ? '1' : '0', ...PACKAGES], 'library');
    return { ms: r.ms, cpu: r.cpu, packages: (JSON.parse(r.out) as { packages: number }).packages };
  };
  const includes = ['--include=?essential', `--include=${PACKAGES.join(',')}`];
  const mmdebstrap = async (root: string, fill: boolean) => {
    const count = join(dir, 'mm-count');
    const args = ['--variant=extract', '--quiet', ...includes, `--extract-hook=ls "$1"/var/cache/apt/archives/ | grep -c '\\.deb$' > ${count}`];
    if (fill) {
      // Warm-up: keep the downloaded .debs and apt lists for the timed runs.
      args.push(`--extract-hook=cp -al "$1"/var/cache/apt/archives/*.deb ${mmCache}/archives/ && cp -al "$1"/var/lib/apt/lists/. ${mmCache}/lists/`);
    } else {
      if (OFFLINE) args.push('--skip=update');
      args.push(`--setup-hook=mkdir -p "$1"/var/cache/apt/archives "$1"/var/lib/apt/lists && cp -al ${mmCache}/archives/. "$1"/var/cache/apt/archives/ && cp -al ${mmCache}/lists/. "$1"/var/lib/apt/lists/`);
    }
    const r = await run('mmdebstrap', [...args, SUITE, root, SOURCES], 'mmdebstrap');
    return { ms: r.ms, cpu: r.cpu, packages: Number(readFileSync(count, 'utf8').trim()) };
  };

  console.log(`bench/extract: Essential + ${PACKAGES.join(' ')} from ${SOURCES} (${SUITE}), ${RUNS} runs each${OFFLINE ? ', offline (no network in timed runs)' : ''}`);
  console.log('warming both caches (downloads everything once)...');
  const warmL = await ladingOnce(join(dir, 'warm-lading'));
  const warmM = await mmdebstrap(join(dir, 'warm-mm'), true);
  const sameFiles = (() => {
    const a = fileSet(join(dir, 'warm-lading'));
    const b = fileSet(join(dir, 'warm-mm'));
    const onlyA = [...a].filter((f) => !b.has(f));
    const onlyB = [...b].filter((f) => !a.has(f));
    return { lading: a.size, mmdebstrap: b.size, onlyLading: onlyA.slice(0, 5), onlyMm: onlyB.slice(0, 5), equal: onlyA.length === 0 && onlyB.length === 0 };
  })();
  // Trees are removed only at the end: on ext4 without a journal, creating files right after a
  // large delete is slow (the inode allocator skips recently deleted inodes), whoever runs next.

  const L: Array<Awaited<ReturnType<typeof ladingOnce>>> = [];
  const B: Array<Awaited<ReturnType<typeof libraryOnce>>> = [];
  const M: Array<Awaited<ReturnType<typeof mmdebstrap>>> = [];
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? ['lading', 'library', 'mmdebstrap'] : ['mmdebstrap', 'library', 'lading'];
    for (const tool of order) {
      const root = join(dir, `${tool}-${i}`);
      if (tool === 'lading') L.push(await ladingOnce(root, OFFLINE));
      else if (tool === 'library') B.push(await libraryOnce(root, OFFLINE));
      else M.push(await mmdebstrap(root, false));
    }
    const li = L[i];
    const mi = M[i];
    console.log(
      `run ${i + 1}: lading ${li?.ms.toFixed(0)} ms (resolve ${li?.resolveMs.toFixed(0)} + fetch/unpack ${li?.unpackMs.toFixed(0)}; CPU ${li?.cpu.toFixed(0)} ms), library ${B[i]?.ms.toFixed(0)} ms, mmdebstrap ${mi?.ms.toFixed(0)} ms (CPU ${mi?.cpu.toFixed(0)} ms)`,
    );
  }
  const l = median(L.map((r) => r.ms));
  const m = median(M.map((r) => r.ms));
  console.log('');
  console.log(`lading     ${(l / 1000).toFixed(2)} s  (resolve ${(median(L.map((r) => r.resolveMs)) / 1000).toFixed(2)} s + fetch/unpack ${(median(L.map((r) => r.unpackMs)) / 1000).toFixed(2)} s), ${warmL.packages} packages, ${Math.max(...L.map((r) => r.downloaded))} downloaded in timed runs`);
  const b = median(B.map((r) => r.ms));
  console.log(`library    ${(b / 1000).toFixed(2)} s  (aptResolve + aptUnpack in one process; CPU ${(median(B.map((r) => r.cpu)) / 1000).toFixed(2)} s), ${B[0]?.packages ?? 0} packages, ratio ${(m / b).toFixed(2)}x`);
  console.log(`mmdebstrap ${(m / 1000).toFixed(2)} s  --variant=extract, ${warmM.packages} packages`);
  console.log(`ratio      ${(m / l).toFixed(2)}x wall (target >= 5x); CPU time: lading ${(median(L.map((r) => r.cpu)) / 1000).toFixed(2)} s, mmdebstrap ${(median(M.map((r) => r.cpu)) / 1000).toFixed(2)} s (${(median(M.map((r) => r.cpu)) / median(L.map((r) => r.cpu))).toFixed(2)}x)`);
  console.log(`packages   lading ${warmL.packages}, mmdebstrap ${warmM.packages}${warmL.packages === warmM.packages ? ' (same)' : ' (DIFFERENT)'}`);
  console.log(`files      lading ${sameFiles.lading}, mmdebstrap ${sameFiles.mmdebstrap}${sameFiles.equal ? ' (same paths)' : ` (differ: only lading ${sameFiles.onlyLading.join(' ')}; only mmdebstrap ${sameFiles.onlyMm.join(' ')})`}`);
} finally {
  if (values.keep) console.log(`kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
