// Shared by bench/build and bench/family: running and timing programs, the machine's apt sources,
// and mmdebstrap with a warm cache that provably downloads nothing.
//
// mmdebstrap's warm cache: one filling run (`--skip=essential/unlink,cleanup/apt` and sync-out
// hooks) keeps the .debs it downloaded and the apt lists it fetched from the machine's sources in
// .cache/bench/mmdebstrap/<sources key>/. A measured run copies them into the new chroot by hard
// links in a setup hook (no data is copied), skips `apt-get update`, and points apt at a proxy
// that refuses every connection, so any download would fail the run instead of hiding in the time.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The repository root (bench/build/ is two levels down). */
export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** Thrown for a precondition the user must fix (a missing peer, no build); printed without a stack. */
export class BenchSetupError extends Error {}

/** A program that exited non-zero, with everything it printed (for the run's logs). */
export class ProgramFailed extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Fails loudly when a program the benchmark compares against is not installed. */
export function requireTools(bench: string, tools: readonly string[]): void {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) throw new BenchSetupError(`${bench}: ${missing.join(', ')} not installed; run scripts/bootstrap --bench`);
}

/** Fails when the compiled CLI is missing (the benchmarks run lading as users do, from dist/). */
export function requireBuiltCli(bench: string): string {
  const cli = join(ROOT, 'bin/lading.js');
  if (!existsSync(join(ROOT, 'dist/cli/index.js'))) throw new BenchSetupError(`${bench}: dist/ is missing; run npm run build first`);
  return cli;
}

/** What a finished program did. */
export interface Timed {
  readonly seconds: number;
  /** User + system CPU seconds of the program and every descendant it waited for. */
  readonly cpuSeconds: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of timed(). */
export interface TimedOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Shown in the error when the program fails. */
  readonly what?: string;
  /** Copy the program's stderr to ours as it comes (long runs). */
  readonly echo?: boolean;
  readonly signal?: AbortSignal;
}

const OUTPUT_CAP = 8 * 1024 * 1024;

/**
 * Runs a program and measures its wall time and CPU time. The program runs under `sh`, which
 * reads its own /proc stat after waiting: fields 16-17 (cutime, cstime) are the CPU ticks of the
 * waited-for children, which for mmdebstrap, buildah or node includes every process they waited for.
 */
export function timed(cmd: string, args: readonly string[], options: TimedOptions = {}): Promise<Timed> {
  const what = options.what ?? `${cmd} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const statFile = join(tmpdir(), `lading-bench-cpu-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const script = `"$@"; rc=$?; cat /proc/$$/stat > ${statFile}; exit $rc`;
    const t0 = performance.now();
    const p = spawn('sh', ['-c', script, 'sh', cmd, ...args], {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      if (out.length < OUTPUT_CAP) out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      if (options.echo) process.stderr.write(d);
      if (err.length < OUTPUT_CAP) err += d.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      void readFile(statFile, 'utf8')
        .then((stat) => {
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          // After ")" the fields start at 3 (state): cutime is field 16, cstime 17, in 1/100 s.
          return (Number(fields[16 - 3]) + Number(fields[17 - 3])) / 100;
        })
        .catch(() => NaN)
        .then(async (cpuSeconds) => {
          await rm(statFile, { force: true });
          if (code !== 0) {
            const tail = (err || out).trim().split('\n').slice(-40).join('\n');
            reject(new ProgramFailed(`${what} failed (exit ${code}):\n${tail}`, out, err));
            return;
          }
          resolve({ seconds, cpuSeconds, stdout: out, stderr: err });
        });
    });
  });
}

/** Runs a program that must succeed, without timing (setup and cleanup steps). */
export async function run(cmd: string, args: readonly string[], options: TimedOptions = {}): Promise<string> {
  return (await timed(cmd, args, options)).stdout;
}

/** The 1, 5 and 15 minute load averages, as /proc/loadavg prints them. */
export async function loadAverage(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

/** Median (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length % 2 === 1) return s[mid] ?? NaN;
  return ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/** Seconds, printed the same way everywhere. */
export function secs(s: number): string {
  return s >= 100 ? `${s.toFixed(0)} s` : `${s.toFixed(1)} s`;
}

/** The first line of `prog --version` (for the record of a run). */
export function versionOf(prog: string, args: readonly string[] = ['--version']): string {
  const r = spawnSync(prog, args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? 'unknown';
}

/** The git commit of the working tree. */
export function gitCommit(): string {
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  return head || 'unknown';
}

// --- the machine's apt sources ---

/** The apt source files of this machine, in the order apt reads them (never a built-in mirror). */
export function machineSourceFiles(): string[] {
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join(dir, f));
  }
  if (files.length === 0) throw new BenchSetupError('no apt sources configured on this machine (/etc/apt/sources.list, /etc/apt/sources.list.d/)');
  return files;
}

/** The repository URIs of sources.list text, one-line or deb822, without comments (for checks). */
export function sourceUris(text: string): string[] {
  const uris = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m822 = /^URIs:\s*(.+)$/i.exec(line);
    if (m822?.[1]) for (const u of m822[1].split(/\s+/)) uris.add(u.replace(/\/$/, ''));
    const one = /^deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
    if (one?.[1]) uris.add(one[1].replace(/\/$/, ''));
  }
  return [...uris].sort();
}

/** The machine's sources: the files, their URIs, and a key naming caches made from them. */
export async function machineSources(): Promise<{ files: string[]; uris: string[]; key: string }> {
  const files = machineSourceFiles();
  const texts = await Promise.all(files.map((f) => readFile(f, 'utf8')));
  const uris = sourceUris(texts.join('\n'));
  if (uris.length === 0) throw new BenchSetupError(`no repository URIs in ${files.join(', ')}`);
  const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim();
  const key = createHash('sha256').update(arch).update('\0').update(texts.join('\0')).digest('hex').slice(0, 16);
  return { files, uris, key };
}

// --- dpkg status of a result ---

/** Packages of a dpkg status file: how many, and which are not fully installed. */
export interface StatusSummary {
  readonly installed: number;
  readonly notInstalled: readonly string[];
  readonly names: readonly string[];
}

/** Parses /var/lib/dpkg/status text. */
export function summariseStatus(text: string): StatusSummary {
  let installed = 0;
  const notInstalled: string[] = [];
  const names: string[] = [];
  for (const stanza of text.split(/\n\n+/)) {
    const name = /^Package:\s*(\S+)/m.exec(stanza)?.[1];
    const status = /^Status:\s*(.+)$/m.exec(stanza)?.[1]?.trim();
    if (!name) continue;
    if (status === 'install ok installed') {
      installed++;
      names.push(name);
    } else notInstalled.push(`${name} (${status ?? 'no status'})`);
  }
  return { installed, notInstalled, names: names.sort() };
}

/** The dpkg status inside a tar made by mmdebstrap (members are ./-prefixed). */
export async function statusInTar(tar: string): Promise<StatusSummary> {
  return summariseStatus(await run('tar', ['-xOf', tar, './var/lib/dpkg/status']));
}

// --- mmdebstrap with a warm cache ---

/** What to bootstrap. */
export interface MmdebstrapRequest {
  readonly suite: string;
  /** essential, apt, minbase, ... */
  readonly variant: string;
  readonly include: readonly string[];
}

/** Options of mmdebstrapWarm(). */
export interface MmdebstrapOptions extends MmdebstrapRequest {
  /** Output tarball. */
  readonly out: string;
  /** Pass --dpkgopt=force-unsafe-io (dpkg then skips its per-file fsync). */
  readonly unsafeIo?: boolean;
  /** Extra --customize-hook commands. */
  readonly customize?: readonly string[];
  readonly signal?: AbortSignal;
}

/** Where the warm cache of these sources lives, and whether it was filled for a request. */
export async function mmdebstrapCache(request: MmdebstrapRequest): Promise<{ dir: string; filled: boolean; stamp: string; sources: string[]; uris: string[] }> {
  const src = await machineSources();
  const dir = join(ROOT, '.cache/bench/mmdebstrap', src.key);
  const stamp = join(dir, `filled-${createHash('sha256').update(JSON.stringify([request.suite, request.variant, [...request.include].sort()])).digest('hex').slice(0, 16)}`);
  return { dir, filled: existsSync(stamp), stamp, sources: src.files, uris: src.uris };
}

function common(request: MmdebstrapRequest): string[] {
  return [`--variant=${request.variant}`, ...(request.include.length > 0 ? [`--include=${request.include.join(',')}`] : [])];
}

/**
 * Fills the warm cache for a request: a full mmdebstrap run (with `apt-get update` against the
 * machine's sources) that starts from what the cache already holds and syncs the archives and
 * lists back out. Run once per machine and request (or after --refresh).
 */
export async function fillMmdebstrapCache(request: MmdebstrapRequest, options: { echo?: boolean; signal?: AbortSignal } = {}): Promise<void> {
  const cache = await mmdebstrapCache(request);
  await mkdir(join(cache.dir, 'archives'), { recursive: true });
  await mkdir(join(cache.dir, 'lists'), { recursive: true });
  await timed(
    'mmdebstrap',
    [
      ...common(request),
      '--skip=essential/unlink,cleanup/apt',
      // A copy, not hard links: sync-out replaces the cache files while tar reads the chroot's.
      `--setup-hook=mkdir -p "$1"/var/cache/apt/archives && cp -a ${cache.dir}/archives/. "$1"/var/cache/apt/archives/`,
      `--customize-hook=sync-out /var/cache/apt/archives ${cache.dir}/archives`,
      `--customize-hook=sync-out /var/lib/apt/lists ${cache.dir}/lists`,
      request.suite,
      '/dev/null',
      ...cache.sources,
    ],
    { what: 'mmdebstrap (filling its warm cache)', ...(options.echo ? { echo: true } : {}), ...(options.signal ? { signal: options.signal } : {}) },
  );
  await rm(join(cache.dir, 'archives/lock'), { force: true });
  await rm(join(cache.dir, 'lists/lock'), { force: true });
  await writeFile(cache.stamp, `${new Date().toISOString()}\n`);
}

/**
 * One measured mmdebstrap run with nothing cached: apt-get update and every download from the
 * machine's sources, as on a fresh machine (bench/family --empty-caches).
 */
export async function mmdebstrapCold(options: MmdebstrapOptions): Promise<Timed> {
  const src = await machineSources();
  return timed('mmdebstrap', [...common(options), ...(options.customize ?? []).map((c) => `--customize-hook=${c}`), options.suite, options.out, ...src.files], {
    what: 'mmdebstrap (no cache)',
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** The result of one measured mmdebstrap run. */
export interface MmdebstrapRun extends Timed {
  /** The sources.list.d file(s) mmdebstrap wrote into the chroot, checked against the machine's URIs. */
  readonly chrootUris: readonly string[];
}

/** The apt options that make any download attempt fail (a proxy on a closed local port). */
export const NO_DOWNLOAD_APTOPTS = ['Acquire::http::Proxy "http://127.0.0.1:9/"', 'Acquire::https::Proxy "http://127.0.0.1:9/"'];

/**
 * One measured mmdebstrap run from the warm cache (see the top of this file). Checks that the
 * chroot's sources are the machine's. The caller times the whole call through `seconds`.
 */
export async function mmdebstrapWarm(options: MmdebstrapOptions): Promise<MmdebstrapRun> {
  const cache = await mmdebstrapCache(options);
  if (!cache.filled) throw new BenchSetupError(`the mmdebstrap cache ${cache.dir} is not filled for ${options.variant} + ${options.include.join(',')}`);
  const result = await timed(
    'mmdebstrap',
    [
      ...common(options),
      '--skip=update',
      ...(options.unsafeIo ? ['--dpkgopt=force-unsafe-io'] : []),
      ...NO_DOWNLOAD_APTOPTS.map((o) => `--aptopt=${o}`),
      `--setup-hook=mkdir -p "$1"/var/cache/apt/archives "$1"/var/lib/apt/lists && cp -al ${cache.dir}/archives/. "$1"/var/cache/apt/archives/ && cp -al ${cache.dir}/lists/. "$1"/var/lib/apt/lists/`,
      // The no-download proxy must not stay in the result (it would break apt-get in the image).
      '--customize-hook=rm -f "$1"/etc/apt/apt.conf.d/99mmdebstrap',
      ...(options.customize ?? []).map((c) => `--customize-hook=${c}`),
      options.suite,
      options.out,
      ...cache.sources,
    ],
    { what: 'mmdebstrap (warm cache)', ...(options.signal ? { signal: options.signal } : {}) },
  );
  const listing = await run('tar', ['-tf', options.out]);
  const files = listing.split('\n').filter((f) => /^\.\/etc\/apt\/sources\.list(\.d\/.+\.(list|sources))?$/.test(f));
  const texts = await Promise.all(files.map((f) => run('tar', ['-xOf', options.out, f])));
  const chrootUris = sourceUris(texts.join('\n'));
  const missing = cache.uris.filter((u) => !chrootUris.includes(u));
  if (missing.length > 0 || chrootUris.length === 0) {
    throw new Error(`mmdebstrap's chroot sources (${chrootUris.join(' ') || 'none'}) are not the machine's (${cache.uris.join(' ')})`);
  }
  return { ...result, chrootUris };
}
