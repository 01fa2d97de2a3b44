// bench/build: the `base` image of examples/openstack (Debian's Essential set plus the image's
// packages: ca-certificates, dumb-init) built by lading into a fresh store, against
// `mmdebstrap --variant=essential --include=<the same packages> bookworm OUT.tar`, both from the
// machine's apt sources, both with a warm package cache, both running every maintainer script.
//   npm run build && npm run bench:build [-- --runs 3 --unsafe-io --refresh --keep]
// - lading: `lading build --offline base` (the compiled CLI, as users run it) into an empty
//   store; its cache (.cache/bench/lading) holds the locked .debs (fetched before timing);
//   --offline makes any download an error. Output: the image in the OCI store, one gzip layer.
// - mmdebstrap: its natural output, an uncompressed tarball. Its .debs and apt lists come from
//   .cache/bench/mmdebstrap (see peers.ts): hard-linked in by a setup hook, `apt-get update`
//   skipped, and apt pointed at a closed local port so any download fails the run.
//   --unsafe-io adds `--dpkgopt=force-unsafe-io` (dpkg skips its fsyncs; not mmdebstrap's default).
// Runs alternate which side goes first; the medians are compared. The machine has 2 cores and
// other work may run on it: the load average is printed with every run.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../args.js';
import { defaultLockPath, loadFamily, readFamilyLock } from '../../src/build/index.js';
import { createTransport, fetchPackages } from '../../src/debian/index.js';
import {
  BenchSetupError,
  ROOT,
  fillMmdebstrapCache,
  gitCommit,
  loadAverage,
  median,
  mmdebstrapCache,
  mmdebstrapWarm,
  requireBuiltCli,
  requireTools,
  run,
  secs,
  statusInTar,
  summariseStatus,
  timed,
  versionOf,
  type StatusSummary,
} from './peers.js';

const CONFIG = 'examples/openstack/lading.yaml';
const LADING_CACHE = join(ROOT, '.cache/bench/lading');

const { values } = benchArgs('bench/build', {
  options: {
    runs: { type: 'string', default: '3' },
    image: { type: 'string', default: 'base' },
    suite: { type: 'string', default: 'bookworm' },
    'unsafe-io': { type: 'boolean', default: false },
    refresh: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const IMAGE = values.image;

interface LadingRun {
  seconds: number;
  cpuSeconds: number;
  digest: string;
  layerSize: number;
  uncompressedSize: number;
  stages: Record<string, number>;
  status: StatusSummary;
  load: string;
}

interface PeerRun {
  seconds: number;
  cpuSeconds: number;
  tarSize: number;
  status: StatusSummary;
  uris: readonly string[];
  load: string;
}

interface BuiltJson {
  digest: string;
  layer: { digest: string; size: number; uncompressedSize: number };
  stages: Record<string, number>;
  packages: number;
}

/** The one image `lading build --json` built (it fails loudly when it built none). */
function parseBuilt(text: string): BuiltJson {
  const doc = JSON.parse(text) as { built?: BuiltJson[]; failed?: unknown[] };
  const b = doc.built?.[0];
  if (!b) throw new Error(`lading build built nothing: ${JSON.stringify(doc.failed ?? doc).slice(0, 2000)}`);
  return b;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new BenchSetupError('bench/build: run as root (lading build and mmdebstrap in root mode need it)');
  requireTools('bench/build', ['mmdebstrap', 'tar', 'gzip']);
  const cli = requireBuiltCli('bench/build');
  if (!Number.isInteger(RUNS) || RUNS < 1) throw new BenchSetupError(`--runs: want a positive integer, got ${values.runs}`);

  const { family } = await loadFamily({ configPath: CONFIG, cwd: ROOT });
  const image = family.images[IMAGE];
  if (!image) throw new BenchSetupError(`${CONFIG} has no image ${IMAGE}`);
  if (image.from.kind !== 'scratch' || !image.essential) throw new BenchSetupError(`${IMAGE} is not built from scratch with the Essential set; mmdebstrap --variant=essential would not be the same image`);
  const arch = family.architectures[0] ?? 'amd64';
  const include = [...(image.packages[arch] ?? [])];
  const request = { suite: values.suite, variant: 'essential', include };

  // Warm caches. lading: exactly the locked .debs of the image, into its bench cache.
  const lockPath = defaultLockPath(join(ROOT, CONFIG));
  if (!existsSync(lockPath)) {
    // The lock is per machine (gitignored): resolve it the way users do.
    console.log(`${lockPath} is missing: lading lock -f ${CONFIG}`);
    await run(process.execPath, [cli, '--cache', LADING_CACHE, 'lock', '-f', CONFIG]);
  }
  const lock = await readFamilyLock(lockPath);
  const archLock = lock.architectures[arch];
  const locked = archLock?.images[IMAGE]?.packages;
  if (!archLock || !locked) throw new BenchSetupError(`${lockPath} has no ${IMAGE} on ${arch}; run: node bin/lading.js lock -f ${CONFIG}`);
  const pkgs = archLock.packages.filter((p) => locked[p.name] === p.version);
  const fetched = await fetchPackages({ packages: pkgs, transport: createTransport({ cacheDir: LADING_CACHE }) });
  const downloaded = fetched.filter((f) => !f.cached).length;
  console.log(`lading cache ${LADING_CACHE}: ${fetched.length} locked .debs${downloaded ? ` (${downloaded} downloaded now)` : ''}`);
  // mmdebstrap: one filling run per machine (or --refresh).
  const cache = await mmdebstrapCache(request);
  if (!cache.filled || values.refresh) {
    console.log(`filling mmdebstrap's cache ${cache.dir} (one full mmdebstrap run, not timed) ...`);
    await fillMmdebstrapCache(request);
  }

  const ladingVersion = `lading ${gitCommit()}`;
  const mmVersion = versionOf('mmdebstrap');
  const lad: LadingRun[] = [];
  const mm: PeerRun[] = [];
  const scratch = await mkdtemp(join(tmpdir(), 'lading-bench-build-'));
  try {
    const runLading = async (i: number) => {
      const store = join(scratch, `store-${i}`);
      const t = await timed(process.execPath, [cli, '--store', store, '--cache', LADING_CACHE, '--json', 'build', '--offline', '-f', CONFIG, IMAGE], {
        what: 'lading build',
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      const b = parseBuilt(t.stdout);
      const blob = join(store, 'blobs/sha256', b.layer.digest.slice('sha256:'.length));
      const status = summariseStatus(await run('tar', ['-xzOf', blob, '--wildcards', '*var/lib/dpkg/status']));
      lad.push({ seconds: t.seconds, cpuSeconds: t.cpuSeconds, digest: b.digest, layerSize: b.layer.size, uncompressedSize: b.layer.uncompressedSize, stages: b.stages, status, load: await loadAverage() });
      if (!values.keep) await rm(store, { recursive: true, force: true });
    };
    const runPeer = async (i: number) => {
      const out = join(scratch, `mmdebstrap-${i}.tar`);
      const t = await mmdebstrapWarm({ ...request, out, unsafeIo: values['unsafe-io'] });
      mm.push({ seconds: t.seconds, cpuSeconds: t.cpuSeconds, tarSize: (await stat(out)).size, status: await statusInTar(out), uris: t.chrootUris, load: await loadAverage() });
      if (!values.keep) await rm(out, { force: true });
    };
    console.log(`load average before: ${await loadAverage()}`);
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) {
        await runLading(i);
        await runPeer(i);
      } else {
        await runPeer(i);
        await runLading(i);
      }
      const l = lad[i] as LadingRun;
      const m = mm[i] as PeerRun;
      console.log(`run ${i + 1}/${RUNS}: lading ${secs(l.seconds)} (cpu ${secs(l.cpuSeconds)}; load ${l.load}), mmdebstrap ${secs(m.seconds)} (cpu ${secs(m.cpuSeconds)}; load ${m.load})`);
    }
  } finally {
    if (values.keep) console.log(`kept ${scratch}`);
    else await rm(scratch, { recursive: true, force: true });
  }

  const l0 = lad[0] as LadingRun;
  const m0 = mm[0] as PeerRun;
  const lt = median(lad.map((r) => r.seconds));
  const mt = median(mm.map((r) => r.seconds));
  const lc = median(lad.map((r) => r.cpuSeconds));
  const mc = median(mm.map((r) => r.cpuSeconds));
  const digests = new Set(lad.map((r) => r.digest));
  const stageNames = Object.keys(l0.stages);
  const stages = stageNames.map((s) => `${s} ${secs(median(lad.map((r) => (r.stages[s] ?? 0) / 1000)))}`).join(', ');
  const describe = (s: StatusSummary) => `${s.installed} packages 'install ok installed'${s.notInstalled.length ? `, NOT configured: ${s.notInstalled.join(', ')}` : ''}`;
  const onlyL = l0.status.names.filter((n) => !m0.status.names.includes(n));
  const onlyM = m0.status.names.filter((n) => !l0.status.names.includes(n));
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const ratio = mt / lt;

  console.log('');
  console.log(`bench/build: image ${IMAGE} of ${CONFIG} = Debian's Essential set + ${include.join(' ')} (${arch}), warm package caches, from the machine's apt sources (${m0.uris.join(' ')})`);
  console.log(`  ${ladingVersion}: image in a fresh OCI store, one gzip layer ${mb(l0.layerSize)} (${mb(l0.uncompressedSize)} tar); maintainer scripts run (preinst, dpkg --configure -a); ${describe(l0.status)}`);
  console.log(`  ${mmVersion}${values['unsafe-io'] ? ' --dpkgopt=force-unsafe-io' : ''}: uncompressed tarball ${mb(m0.tarSize)}; maintainer scripts run (dpkg --install, apt-get install in the chroot); ${describe(m0.status)}`);
  if (onlyL.length || onlyM.length) console.log(`  package sets differ: only lading ${onlyL.join(' ') || '-'}; only mmdebstrap ${onlyM.join(' ') || '-'}`);
  else console.log('  same package names on both sides');
  console.log(`  lading digests identical across runs: ${digests.size === 1 ? 'yes' : `NO (${[...digests].join(' ')})`}`);
  console.log(`  lading stages (median): ${stages}`);
  console.log(
    `  median of ${RUNS}: lading ${secs(lt)} (cpu ${secs(lc)}), mmdebstrap ${secs(mt)} (cpu ${secs(mc)}); ratio ${ratio.toFixed(2)}x (target >= 2x: ${ratio >= 2 ? 'PASS' : 'MISS'}), cpu ratio ${(mc / lc).toFixed(2)}x`,
  );
  console.log(`  load average after: ${await loadAverage()} (${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'})`);
}

main().catch((err: unknown) => {
  if (err instanceof BenchSetupError) console.error(err.message);
  else console.error(err);
  process.exit(1);
});
