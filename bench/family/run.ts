// bench/family (long: run it by hand and record the figures in docs/benchmarks.md): the whole
// examples/openstack family built cold by lading, against the same family as Kolla-style
// Dockerfiles (bench/family/dockerfiles/, generated from lading.yaml by gen.ts before every run)
// built with `buildah bud --isolation=chroot --layers`, parents first, the same number of images
// at once on both sides. Then a no-op rebuild on both sides (nothing changed).
//   npm run build && npm run bench:family [-- --jobs 2 --noop-runs 3 --keep --skip-buildah --skip-lading --no-apt-cache --empty-caches --only IMAGE,...]
// Cold means: an empty lading store / empty buildah storage, warm package caches on both sides.
// - lading: `lading build --offline` of every image into an empty store; its cache
//   (.cache/bench/lading) holds every .deb of lading.lock (fetched before timing).
// - buildah: its storage in a new directory; the base's rootfs made by mmdebstrap
//   (--variant=apt: Essential + apt, from the warm cache of bench/build/peers.ts) and imported
//   with `podman import`, both timed as part of the cold build; each image's
//   `RUN apt-get update && apt-get install ...` fetches the indexes from the machine's mirror (as
//   Kolla does) and finds the .debs in a bind-mounted /var/cache/apt/archives pre-filled with the
//   locked .debs (hard links to lading's cache, named as apt names them). One archive directory
//   per concurrent build, because apt locks it. --no-apt-cache drops the mount (apt downloads
//   every .deb from the mirror).
// --empty-caches: nothing cached on either side, as on a fresh machine. lading builds online
//   with an empty cache of its own (it downloads every locked .deb once); mmdebstrap runs
//   without its cache (apt-get update, every download); buildah's apt runs as with --no-apt-cache.
// Logs of both sides go to bench/out/family/<time>/ (gitignored).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../args.js';
import { defaultLockPath, readFamilyLock } from '../../src/build/index.js';
import { createTransport, fetchPackages } from '../../src/debian/index.js';
import {
  BenchSetupError,
  ROOT,
  fillMmdebstrapCache,
  gitCommit,
  loadAverage,
  median,
  mmdebstrapCache,
  mmdebstrapCold,
  mmdebstrapWarm,
  requireBuiltCli,
  requireTools,
  run,
  secs,
  summariseStatus,
  timed,
  versionOf,
  ProgramFailed,
  type Timed,
  type TimedOptions,
} from '../build/peers.js';
import { BENCH_NAMING } from './dockerfiles.js';
import { FAMILY_CONFIG, generateDockerfiles } from './gen.js';

const LADING_CACHE = join(ROOT, '.cache/bench/lading');
const ARCHIVES = join(ROOT, '.cache/bench/buildah-archives');

const { values } = benchArgs('bench/family', {
  options: {
    jobs: { type: 'string', default: '2' },
    'noop-runs': { type: 'string', default: '3' },
    suite: { type: 'string', default: 'bookworm' },
    keep: { type: 'boolean', default: false },
    'skip-lading': { type: 'boolean', default: false },
    'skip-buildah': { type: 'boolean', default: false },
    'no-apt-cache': { type: 'boolean', default: false },
    'empty-caches': { type: 'boolean', default: false },
    refresh: { type: 'boolean', default: false },
    // A part of the family (with its ancestors), for trying the harness; the recorded figures are for all.
    only: { type: 'string' },
  },
});
const JOBS = Number(values.jobs);
// Ctrl-C stops the running build (its process gets SIGTERM) and lets the cleanup below run.
const stop = new AbortController();
const signal = stop.signal;
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort(new Error(`interrupted (${sig})`)));
const NOOP_RUNS = Number(values['noop-runs']);
const EMPTY_CACHES = values['empty-caches'];
const NO_APT_CACHE = values['no-apt-cache'] || EMPTY_CACHES;

interface FamilyImage {
  readonly name: string;
  readonly parent: string | undefined;
  readonly dockerfile: string;
}

/**
 * Runs `fn` for every image once its parent is done, at most `jobs` at a time, and gives each
 * call a worker slot number (0..jobs-1) no concurrent call shares. A failed image fails the run
 * after the images already started have finished.
 */
async function parentsFirst(images: readonly FamilyImage[], jobs: number, fn: (image: FamilyImage, slot: number) => Promise<void>): Promise<void> {
  const done = new Set<string>();
  const started = new Set<string>();
  const free = Array.from({ length: jobs }, (_, i) => i);
  const failures: Error[] = [];
  await new Promise<void>((resolve) => {
    let running = 0;
    const pump = () => {
      if (failures.length === 0) {
        for (const img of images) {
          if (free.length === 0) break;
          if (started.has(img.name) || (img.parent !== undefined && !done.has(img.parent))) continue;
          started.add(img.name);
          const slot = free.shift() as number;
          running++;
          fn(img, slot)
            .then(() => done.add(img.name))
            .catch((err: unknown) => failures.push(err instanceof Error ? err : new Error(String(err))))
            .finally(() => {
              running--;
              free.push(slot);
              free.sort((a, b) => a - b);
              pump();
            });
        }
      }
      if (running === 0) resolve();
    };
    pump();
  });
  if (failures.length > 0) throw failures[0];
  const missing = images.filter((i) => !done.has(i.name)).map((i) => i.name);
  if (missing.length > 0) throw new Error(`never built (unknown parent?): ${missing.join(', ')}`);
}

/** True when every step of a `buildah bud --layers` run came from the cache (its stdout). */
function allCached(stdout: string): boolean {
  const lines = stdout.split('\n');
  return lines.every((l, i) => !/^STEP \d+\/\d+: (RUN|COPY|ADD) /.test(l) || (lines[i + 1] ?? '').startsWith('--> Using cache'));
}

/** apt's file name in /var/cache/apt/archives for a package version (':' of an epoch as %3a). */
function aptArchiveName(name: string, version: string, arch: string): string {
  return `${name}_${version.replace(/:/g, '%3a')}_${arch}.deb`;
}

interface LadingSummary {
  seconds: number;
  cpuSeconds: number;
  built: { image: string; digest: string; durationMs: number; stages: Record<string, number>; layer: { digest: string; size: number } }[];
  reused: unknown[];
  failed: unknown[];
  durationMs: number;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new BenchSetupError('bench/family: run as root (lading build, mmdebstrap and buildah need it)');
  if (!Number.isInteger(JOBS) || JOBS < 1) throw new BenchSetupError(`--jobs: want a positive integer, got ${values.jobs}`);
  requireTools('bench/family', ['mmdebstrap', 'buildah', 'podman', 'tar']);
  const cli = requireBuiltCli('bench/family');

  const gen = await generateDockerfiles();
  if (gen.changed.length > 0) console.log(`regenerated ${gen.changed.length} Dockerfiles from ${FAMILY_CONFIG} (commit them with the results)`);
  let images: FamilyImage[] = gen.images;
  if (values.only !== undefined) {
    const want = new Set<string>();
    for (let name of values.only.split(',')) {
      for (;;) {
        const img = images.find((i) => i.name === name);
        if (!img) throw new BenchSetupError(`--only: no image ${name} in ${FAMILY_CONFIG}`);
        want.add(name);
        if (img.parent === undefined) break;
        name = img.parent;
      }
    }
    images = images.filter((i) => want.has(i.name));
  }
  const arch = gen.arch;
  const contextDir = join(ROOT, FAMILY_CONFIG, '..');

  // Warm package caches: every locked .deb in lading's cache, and the same files under apt's
  // names for buildah's bind-mounted archive directory.
  const lockPath = defaultLockPath(join(ROOT, FAMILY_CONFIG));
  if (!existsSync(lockPath)) {
    // The lock is per machine (gitignored): resolve it the way users do.
    console.log(`${lockPath} is missing: lading lock -f ${FAMILY_CONFIG}`);
    await run(process.execPath, [cli, '--cache', LADING_CACHE, 'lock', '-f', FAMILY_CONFIG]);
  }
  const lock = await readFamilyLock(lockPath);
  const locked = lock.architectures[arch]?.packages ?? [];
  const fetched = await fetchPackages({ packages: locked, transport: createTransport({ cacheDir: LADING_CACHE }) });
  console.log(`lading cache ${LADING_CACHE}: ${fetched.length} locked .debs${fetched.some((f) => !f.cached) ? ` (${fetched.filter((f) => !f.cached).length} downloaded now)` : ''}`);
  await mkdir(ARCHIVES, { recursive: true });
  for (const f of fetched) {
    const dest = join(ARCHIVES, aptArchiveName(f.package.name, f.package.version, f.package.architecture));
    if (!existsSync(dest)) await run('ln', ['-f', f.path, dest]);
  }
  const rootfsRequest = { suite: values.suite, variant: 'apt', include: [] as string[] };
  if (!values['skip-buildah'] && !EMPTY_CACHES) {
    const cache = await mmdebstrapCache(rootfsRequest);
    if (!cache.filled || values.refresh) {
      console.log(`filling mmdebstrap's cache ${cache.dir} (one full mmdebstrap run, not timed) ...`);
      await fillMmdebstrapCache(rootfsRequest);
    }
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const logs = join(ROOT, 'bench/out/family', stamp);
  await mkdir(logs, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'lading-bench-family-'));
  const results: string[] = [];
  const note = (line: string) => {
    console.log(line);
    results.push(line);
  };
  note(`bench/family ${new Date().toISOString()}: ${images.length} images of ${FAMILY_CONFIG} (${arch}), ${JOBS} at a time on both sides; ${cpus().length} cores, ${cpus()[0]?.model ?? ''}`);
  note(`caches: ${EMPTY_CACHES ? 'none on either side (--empty-caches: lading downloads every .deb, mmdebstrap and apt download theirs)' : `warm (lading --offline from its cache; buildah's apt ${NO_APT_CACHE ? 'downloads every .deb (--no-apt-cache)' : 'finds the locked .debs in its archive cache'})`}`);
  note(`versions: lading ${gitCommit()}, ${versionOf('buildah')}, ${versionOf('podman')}, ${versionOf('mmdebstrap')}, node ${process.version}`);
  let ladingCold: LadingSummary | undefined;
  const ladingPackages = new Map<string, number>();
  const ladingNoop: number[] = [];
  let buildahCold: { mmdebstrap: number; importSeconds: number; buds: number; total: number; perImage: Map<string, number> } | undefined;
  const buildahNoop: number[] = [];
  const buildah = ['--root', join(scratch, 'buildah/root'), '--runroot', join(scratch, 'buildah/run'), '--storage-driver', 'overlay'];
  try {
    if (!values['skip-lading']) {
      const store = join(scratch, 'store');
      const cacheArgs = EMPTY_CACHES ? ['--cache', join(scratch, 'lading-cache')] : ['--cache', LADING_CACHE];
      const ladingArgs = [cli, '--store', store, ...cacheArgs, '--json', 'build', ...(EMPTY_CACHES ? [] : ['--offline']), '-j', String(JOBS), '-f', FAMILY_CONFIG, ...(values.only !== undefined ? images.map((i) => i.name) : [])];
      const env = { ...process.env, NODE_OPTIONS: '' };
      note(`lading cold: load average ${await loadAverage()}`);
      const t = await timed(process.execPath, ladingArgs, { what: 'lading build (cold)', env, signal });
      await writeFile(join(logs, 'lading-cold.json'), t.stdout);
      await writeFile(join(logs, 'lading-cold.stderr'), t.stderr);
      const doc = JSON.parse(t.stdout) as Omit<LadingSummary, 'seconds' | 'cpuSeconds'>;
      if (doc.failed.length > 0 || doc.built.length !== images.length) throw new Error(`lading built ${doc.built.length} of ${images.length} images (${doc.failed.length} failed); see ${logs}/lading-cold.json`);
      ladingCold = { ...doc, seconds: t.seconds, cpuSeconds: t.cpuSeconds };
      note(`lading cold: ${secs(t.seconds)} (cpu ${secs(t.cpuSeconds)}), load average ${await loadAverage()}`);
      // Installed packages per image, from the dpkg status in its own layer (parents first, so an
      // image whose layer leaves the status alone inherits its parent's count).
      for (const img of images) {
        const b = doc.built.find((x) => x.image === img.name);
        if (!b) continue;
        const blob = join(store, 'blobs/sha256', b.layer.digest.slice('sha256:'.length));
        const text = await run('tar', ['-xzOf', blob, '--wildcards', '*var/lib/dpkg/status']).catch(() => undefined);
        const n = text !== undefined ? summariseStatus(text).installed : img.parent !== undefined ? ladingPackages.get(img.parent) : undefined;
        if (n !== undefined) ladingPackages.set(img.name, n);
      }
      note(`  lading installed packages per image: ${[...ladingPackages].map(([k, v]) => `${k} ${v}`).join(', ')}`);
      for (let i = 0; i < NOOP_RUNS; i++) {
        const n = await timed(process.execPath, ladingArgs, { what: 'lading build (no-op)', env, signal });
        const d = JSON.parse(n.stdout) as Omit<LadingSummary, 'seconds' | 'cpuSeconds'>;
        if (d.built.length > 0 || d.reused.length !== images.length) throw new Error(`lading no-op rebuild built ${d.built.length} images (reused ${d.reused.length})`);
        ladingNoop.push(n.seconds);
      }
      note(`lading no-op: ${ladingNoop.map((s) => s.toFixed(2)).join(', ')} s (${images.length} reused each time)`);
      // Copy the per-image logs out before the store goes.
      const logDir = join(store, '.lading/logs');
      if (existsSync(logDir)) await run('cp', ['-r', logDir, join(logs, 'lading-logs')]);
    }

    if (!values['skip-buildah']) {
      const slots = Array.from({ length: JOBS }, (_, i) => join(scratch, `archives-${i}`));
      for (const s of slots) {
        if (NO_APT_CACHE) continue;
        // Hard links: each concurrent build gets its own directory (apt locks it) with the same files.
        await run('cp', ['-al', ARCHIVES, s]);
      }
      const bud = (img: FamilyImage, slot: number, what: string) =>
        timedLogged(
          join(logs, `buildah-${img.name}${what === 'cold' ? '' : `-${what}`}.log`),
          'buildah',
          [
            ...buildah,
            'bud',
            '--isolation=chroot',
            '--layers',
            '--format',
            'docker',
            // Postinsts of cinder-common and nova-common call `hostname -i`. docker build puts the
            // container's name in its /etc/hosts; buildah 1.28's chroot isolation names it after
            // the container id without resolving it, so RUN shares the host's UTS name, mapped here.
            '--uts=host',
            '--add-host',
            `${hostname()}:127.0.1.1`,
            '-f',
            img.dockerfile,
            '-t',
            BENCH_NAMING.tag(img.name),
            ...(NO_APT_CACHE ? [] : ['-v', `${slots[slot] as string}:/var/cache/apt/archives`]),
            contextDir,
          ],
          { what: `buildah bud ${img.name} (${what})`, signal },
        );

      note(`buildah cold: load average ${await loadAverage()}`);
      const t0 = performance.now();
      const rootfs = join(scratch, 'rootfs.tar');
      const mm = EMPTY_CACHES ? await mmdebstrapCold({ ...rootfsRequest, out: rootfs, signal }) : await mmdebstrapWarm({ ...rootfsRequest, out: rootfs, signal });
      const imp = await timed('podman', [...buildah, 'import', rootfs, BENCH_NAMING.rootfs], { what: 'podman import', signal });
      await rm(rootfs, { force: true });
      const perImage = new Map<string, number>();
      const tb = performance.now();
      await parentsFirst(images, JOBS, async (img, slot) => {
        const r = await bud(img, slot, 'cold');
        perImage.set(img.name, r.seconds);
        console.log(`  buildah ${img.name}: ${secs(r.seconds)}`);
      });
      const buds = (performance.now() - tb) / 1000;
      buildahCold = { mmdebstrap: mm.seconds, importSeconds: imp.seconds, buds, total: (performance.now() - t0) / 1000, perImage };
      note(`buildah cold: ${secs(buildahCold.total)} = mmdebstrap ${secs(mm.seconds)} + podman import ${secs(imp.seconds)} + buildah bud ${secs(buds)}; load average ${await loadAverage()}`);
      note(`  buildah per image: ${images.map((i) => `${i.name} ${secs(perImage.get(i.name) ?? NaN)}`).join(', ')}`);

      for (let i = 0; i < NOOP_RUNS; i++) {
        const n0 = performance.now();
        const ran: string[] = [];
        await parentsFirst(images, JOBS, async (img, slot) => {
          const r = await bud(img, slot, 'no-op');
          if (!allCached(r.stdout)) ran.push(img.name);
        });
        const seconds = (performance.now() - n0) / 1000;
        // Two concurrent buds can each commit the same first step of sibling images (buildah
        // 1.28 keeps both), and a later bud may pick the other one and miss its cache: that run is
        // not a no-op, so it is reported and left out of the median.
        if (ran.length > 0) note(`  buildah no-op run ${i + 1} ran steps again in ${ran.join(', ')} (${secs(seconds)}; not counted)`);
        else buildahNoop.push(seconds);
      }
      if (NOOP_RUNS > 0 && buildahNoop.length === 0) throw new Error('no buildah no-op rebuild was a no-op (see the notes above)');
      note(`buildah no-op: ${buildahNoop.map((s) => s.toFixed(2)).join(', ')} s`);
      if (!NO_APT_CACHE) {
        const extra = new Set<string>();
        for (const s of slots) for (const f of await readdir(s)) if (f.endsWith('.deb') && !existsSync(join(ARCHIVES, f))) extra.add(f);
        note(`  buildah's apt downloaded ${extra.size} .debs that were not in the lock's set${extra.size ? `: ${[...extra].sort().join(' ')}` : ''}`);
      }

      // Package counts inside buildah's images (after timing; read through a mounted container).
      const counts: string[] = [];
      for (const img of images) {
        const ctr = (await run('buildah', [...buildah, 'from', '--pull-never', BENCH_NAMING.tag(img.name)])).trim();
        try {
          const mnt = (await run('buildah', [...buildah, 'mount', ctr])).trim();
          const s = summariseStatus(readFileSync(join(mnt, 'var/lib/dpkg/status'), 'utf8'));
          const l = ladingPackages.get(img.name);
          counts.push(`${img.name} ${l !== undefined ? `${l}/` : ''}${s.installed}`);
        } finally {
          await run('buildah', [...buildah, 'rm', ctr]);
        }
      }
      note(`  installed packages per image (${ladingCold ? 'lading/' : ''}buildah): ${counts.join(', ')}`);
    }
  } finally {
    await cleanupBuildah(buildah, scratch, values.keep);
    if (values.keep) console.log(`kept ${scratch}`);
    else await rm(scratch, { recursive: true, force: true });
  }

  if (ladingCold) {
    const stages = new Map<string, number>();
    for (const b of ladingCold.built) for (const [s, ms] of Object.entries(b.stages)) stages.set(s, (stages.get(s) ?? 0) + ms);
    note(`lading per image: ${ladingCold.built.map((b) => `${b.image} ${secs(b.durationMs / 1000)}`).join(', ')}`);
    note(`lading stage totals (summed over images, they overlap with -j${JOBS}): ${[...stages].map(([s, ms]) => `${s} ${secs(ms / 1000)}`).join(', ')}`);
  }
  if (ladingCold && buildahCold) {
    const cold = buildahCold.total / ladingCold.seconds;
    const noop = median(buildahNoop) / median(ladingNoop);
    note(`cold: lading ${secs(ladingCold.seconds)}, buildah ${secs(buildahCold.total)} (bud alone ${secs(buildahCold.buds)}): ${cold.toFixed(2)}x (bud alone ${(buildahCold.buds / ladingCold.seconds).toFixed(2)}x; target >= 4x: ${cold >= 4 ? 'PASS' : 'MISS'})`);
    note(`no-op (median of ${NOOP_RUNS}): lading ${median(ladingNoop).toFixed(2)} s, buildah ${median(buildahNoop).toFixed(2)} s: ${noop.toFixed(2)}x (target: lading faster: ${noop > 1 ? 'PASS' : 'MISS'})`);
  }
  note(`load average at the end: ${await loadAverage()}`);
  await writeFile(join(logs, 'summary.txt'), `${results.join('\n')}\n`);
  console.log(`logs: ${logs}`);
}

/** timed(), writing what the program printed to a log file whether it succeeded or not. */
async function timedLogged(log: string, cmd: string, args: readonly string[], options: TimedOptions): Promise<Timed> {
  try {
    const r = await timed(cmd, args, options);
    await writeFile(log, r.stdout + r.stderr);
    return r;
  } catch (err) {
    if (err instanceof ProgramFailed) {
      await writeFile(log, err.stdout + err.stderr);
      err.message += `\n  log: ${log}`;
    }
    throw err;
  }
}

/** Removes every container and image of the bench's buildah storage, then the storage itself. */
async function cleanupBuildah(buildah: readonly string[], scratch: string, keep: boolean): Promise<void> {
  if (keep || !existsSync(join(scratch, 'buildah'))) return;
  await run('buildah', [...buildah, 'rm', '--all']).catch(() => '');
  await run('buildah', [...buildah, 'rmi', '--all', '--force']).catch(() => '');
  // Overlay mounts left behind (an interrupted build) would make rm fail: unmount them first.
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(join(scratch, 'buildah')))
    .sort()
    .reverse();
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => '');
}

main().catch((err: unknown) => {
  if (err instanceof BenchSetupError) console.error(err.message);
  else console.error(err);
  process.exit(1);
});
