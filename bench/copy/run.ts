// bench/copy: a family of 10 images sharing a ~30 MB base layer, copied from an OCI layout to a
// local distribution registry: lading (all 10 in one run, `lading copy --from-file`) against
// `skopeo copy` once per image, each into a fresh registry. Prints both times, the ratio, and
// checks every digest is identical (layout = lading's registry = skopeo's registry).
// lading runs as users run it, `node bin/lading.js` over the compiled dist/ (npm run build first).
//   npm run build && npm run bench:copy [-- --images 10 --base-mb 30 --runs 5]
// Runs alternate which tool goes first, and the median is reported: the local registry's own
// latency varies a lot from request to request on these machines.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../args.js';
import { openLayout } from '../../src/layout/index.js';
import { RegistryClient, RegistryRepository } from '../../src/registry/index.js';
import { startRegistry, writeSkopeoPolicy, type RegistryHandle } from '../../test/helpers/registry.js';
import { randomLayer, writeImage } from '../../test/e2e/registry/fixtures.js';

const { values } = benchArgs('bench/copy', { options: { images: { type: 'string', default: '10' }, 'base-mb': { type: 'string', default: '30' }, runs: { type: 'string', default: '5' } } });
const IMAGES = Number(values.images);
const BASE = Number(values['base-mb']) * 1e6;
const RUNS = Number(values.runs);
const root = new URL('../..', import.meta.url).pathname;

/**
 * Runs a program through `sh`, which reads its own /proc stat after waiting for it: fields 16-17
 * (cutime, cstime) are the CPU seconds of the finished child, in clock ticks (100 per second).
 */
function runMeasured(cmd: string, args: string[], what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const statFile = join(tmpdir(), `lading-bench-cpu-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const script = `"$@"; rc=$?; cat /proc/$$/stat > ${statFile}; exit $rc`;
    const p = spawn('sh', ['-c', script, 'sh', cmd, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`${what} failed (${code}): ${err}`));
        return;
      }
      readFile(statFile, 'utf8')
        .then(async (stat) => {
          await rm(statFile, { force: true });
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          // after ")" the fields start at 3 (state): cutime is field 16, cstime 17.
          resolve((Number(fields[16 - 3]) + Number(fields[17 - 3])) / 100);
        })
        .catch(reject);
    });
  });
}

async function digestsIn(reg: RegistryHandle, names: string[]): Promise<string[]> {
  const client = new RegistryClient();
  return Promise.all(names.map(async (n) => (await new RegistryRepository(client, reg.host, `family/${n}`).statManifest('1.0'))?.digest ?? 'missing'));
}

// Registries keep their data on tmpfs when there is one: 10 runs write ~1 GB, and disk writeback
// throttling would otherwise add seconds of noise to whichever tool runs when it kicks in.
const dataRoot = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

if (!existsSync(join(root, 'dist/cli/index.js'))) {
  console.error('bench/copy: dist/ is missing; run npm run build first');
  process.exit(1);
}

const dir = await mkdtemp(join(tmpdir(), 'lading-bench-copy-'));
try {
  const layoutPath = join(dir, 'layout');
  const store = await openLayout({ path: layoutPath, create: true });
  console.log(`making ${IMAGES} images: a ${(BASE / 1e6).toFixed(0)} MB shared base, a 4 MB layer shared by half of them, and 1 MB + 50 kB of their own`);
  const base = await randomLayer(BASE, 'base.bin');
  const mid = [await randomLayer(4e6, 'mid-a.bin'), await randomLayer(4e6, 'mid-b.bin')];
  const names: string[] = [];
  const expected: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const name = `app${i}`;
    names.push(name);
    const own = await randomLayer(1e6, `own-${i}.bin`);
    const tiny = await randomLayer(50e3, `tiny-${i}.bin`);
    const doc = await writeImage(store, { layers: [base, mid[i % 2] as (typeof mid)[number], own, tiny], tag: name, label: name });
    expected.push(doc.digest);
  }
  const policy = await writeSkopeoPolicy(dir);
  const times: { lading: number[]; skopeo: number[] } = { lading: [], skopeo: [] };
  const cpu: { lading: number[]; skopeo: number[] } = { lading: [], skopeo: [] };
  const runLadingOnce = async (run: number) => {
    // lading: one process, the whole family from a list.
    const reg = await startRegistry({ dataRoot });
    try {
      const list = join(dir, `list-${run}.txt`);
      await writeFile(list, names.map((n) => `oci:${layoutPath}:${n} ${reg.host}/family/${n}:1.0`).join('\n'));
      const t0 = performance.now();
      cpu.lading.push(await runMeasured(process.execPath, [join(root, 'bin/lading.js'), 'copy', '--from-file', list], 'lading copy'));
      times.lading.push(performance.now() - t0);
      const got = await digestsIn(reg, names);
      if (got.join() !== expected.join()) throw new Error(`lading digests differ: ${got.join(' ')}`);
    } finally {
      await reg.stop();
    }
  };
  const runSkopeoOnce = async () => {
    // skopeo: one `skopeo copy` per image, as a release script would run it.
    const reg = await startRegistry({ dataRoot });
    try {
      const t0 = performance.now();
      let used = 0;
      for (const n of names) {
        used += await runMeasured('skopeo', ['copy', '--quiet', '--policy', policy, '--dest-tls-verify=false', '--preserve-digests', `oci:${layoutPath}:${n}`, `docker://${reg.host}/family/${n}:1.0`], `skopeo copy ${n}`);
      }
      times.skopeo.push(performance.now() - t0);
      cpu.skopeo.push(used);
      const got = await digestsIn(reg, names);
      if (got.join() !== expected.join()) throw new Error(`skopeo digests differ: ${got.join(' ')}`);
    } finally {
      await reg.stop();
    }
  };
  for (let run = 0; run < RUNS; run++) {
    if (run % 2 === 0) {
      await runLadingOnce(run);
      await runSkopeoOnce();
    } else {
      await runSkopeoOnce();
      await runLadingOnce(run);
    }
    console.log(
      `run ${run + 1}: lading ${((times.lading[run] as number) / 1000).toFixed(2)} s (cpu ${(cpu.lading[run] as number).toFixed(2)} s), skopeo ${((times.skopeo[run] as number) / 1000).toFixed(2)} s (cpu ${(cpu.skopeo[run] as number).toFixed(2)} s)`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const l = median(times.lading);
  const s = median(times.skopeo);
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(`bench/copy: ${IMAGES} images, median of ${RUNS}: lading ${(l / 1000).toFixed(2)} s, skopeo copy per image ${(s / 1000).toFixed(2)} s, ratio ${(s / l).toFixed(2)}x (target >= 1.5x); client CPU lading ${median(cpu.lading).toFixed(2)} s, skopeo ${median(cpu.skopeo).toFixed(2)} s; digests identical: yes; load average ${load}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
