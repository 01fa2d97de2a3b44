// bench/copy/profile.ts: one `lading copy --from-file` of the bench/copy family under
// `node --cpu-prof`, to see where the copy spends its CPU. Prints the wall time, the hottest
// functions (self time) and the time per source file; the .cpuprofile stays in --out for
// Chrome DevTools. Same family as run.ts (10 images, a 30 MB shared base).
//   npm run build && node --import tsx bench/copy/profile.ts [-- --images 10 --base-mb 30 --out DIR --repeat 1 --noprof --verbose --bin other/bin/lading.js]
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../args.js';
import { openLayout } from '../../src/layout/index.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { randomLayer, writeImage } from '../../test/e2e/registry/fixtures.js';

const { values } = benchArgs('bench/copy/profile', {
  options: { images: { type: 'string', default: '10' }, 'base-mb': { type: 'string', default: '30' }, out: { type: 'string' }, repeat: { type: 'string', default: '1' }, noprof: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false }, bin: { type: 'string' } },
});
const IMAGES = Number(values.images);
const BASE = Number(values['base-mb']) * 1e6;
const root = new URL('../..', import.meta.url).pathname;
const dataRoot = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function summarize(p: Profile): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const url = n.callFrame.url.replace(`file://${root}`, '').replace(/^node:/, 'node:');
    const key = `${n.callFrame.functionName || '(anon)'} ${url}:${n.callFrame.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const f = url || n.callFrame.functionName;
    file.set(f, (file.get(f) ?? 0) + us);
  }
  const top = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, us]) => `  ${(us / 1000).toFixed(1).padStart(8)} ms  ${name}`)
      .join('\n');
  console.log(`profile: ${((p.endTime - p.startTime) / 1000).toFixed(0)} ms sampled`);
  console.log(`top functions (self):\n${top(fn, 30)}`);
  console.log(`by file (self):\n${top(file, 25)}`);
}

function runLading(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    // stderr lines (the -v debug log) get the milliseconds since the spawn, for a timeline.
    let pending = '';
    p.stderr.on('data', (d: Buffer) => {
      const lines = (pending + d.toString()).split('\n');
      pending = lines.pop() ?? '';
      const at = (performance.now() - t0).toFixed(0).padStart(5);
      for (const l of lines) process.stderr.write(`${at} ms ${l}\n`);
    });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`lading exited ${code}`))));
  });
}

const dir = await mkdtemp(join(tmpdir(), 'lading-profile-copy-'));
const out = values.out ?? join(dir, 'prof');
await mkdir(out, { recursive: true });
try {
  const layoutPath = join(dir, 'layout');
  const store = await openLayout({ path: layoutPath, create: true });
  const base = await randomLayer(BASE, 'base.bin');
  const mid = [await randomLayer(4e6, 'mid-a.bin'), await randomLayer(4e6, 'mid-b.bin')];
  const names: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    names.push(`app${i}`);
    const own = await randomLayer(1e6, `own-${i}.bin`);
    const tiny = await randomLayer(50e3, `tiny-${i}.bin`);
    await writeImage(store, { layers: [base, mid[i % 2] as (typeof mid)[number], own, tiny], tag: `app${i}`, label: `app${i}` });
  }
  for (let r = 0; r < Number(values.repeat); r++) {
    const reg = await startRegistry({ dataRoot });
    try {
      const list = join(dir, `list-${r}.txt`);
      await writeFile(list, names.map((n) => `oci:${layoutPath}:${n} ${reg.host}/family/${n}:1.0`).join('\n'));
      const prof = values.noprof ? [] : ['--cpu-prof', '--cpu-prof-dir', out];
      const t0 = performance.now();
      await runLading([...prof, values.bin ?? join(root, 'bin/lading.js'), ...(values.verbose ? ['-v'] : []), 'copy', '--from-file', list]);
      console.log(`run ${r + 1}: ${((performance.now() - t0) / 1000).toFixed(2)} s${values.noprof ? '' : ' (profiled)'}`);
    } finally {
      await reg.stop();
    }
  }
  if (!values.noprof) {
    const files = (await readdir(out)).filter((f) => f.endsWith('.cpuprofile')).sort();
    const last = files[files.length - 1];
    if (last) {
      summarize(JSON.parse(await readFile(join(out, last), 'utf8')) as Profile);
      console.log(`profile file: ${join(out, last)}`);
    }
  }
} finally {
  if (values.out) await rm(join(dir, 'layout'), { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
}
