// unpackPackages: .debs -> a root directory with a dpkg database, the extract model of
// mmdebstrap --variant=extract (debian.md §9.1) but without running anything from the packages.
// Stage 1 (worker threads, in parallel) writes each package's files into a private staging
// directory; stage 2 (this thread, strictly in lock order) moves them into place, so the result
// never depends on which worker finished first.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { errnoCode, nullLogger, type Logger } from '../../core/index.js';
import { Deb822Paragraph, type Deb822Field } from '../deb822.js';
import { DebianError, type DebianErrorCode } from '../errors.js';
import { parseRelations, type Relation } from '../relation.js';
import { satisfiesVersion } from '../version.js';
import { parseConffiles, parseTriggers, type ControlFile, type TriggerDirective } from './control.js';
import { writeDpkgDatabase, type DbPackage, type DpkgState } from './dpkgdb.js';
import type { StagedPackage } from './extract.js';
import { RootTree, type FileOverlap, type MergePackage } from './merge.js';
import { checkCacheKey } from './source.js';
import type { WorkerFailure, WorkerJob } from './worker.js';

/** One .deb to unpack. Give them in lock (dependency) order: that order decides overlapping writes. */
export interface UnpackDeb {
  /** Path of the .deb file (already verified against the lock's SHA256 by the caller). */
  path: string;
  /** Expected package name, version and architecture; checked against the .deb's control file when given. */
  name?: string;
  version?: string;
  architecture?: string;
  /** SHA256 (hex) of the file, already verified; keys the decoded-member cache (see `cacheDir`). */
  sha256?: string;
}

/**
 * Package states to record. `unpacked` (default) is the truth when no maintainer script ran:
 * `dpkg --configure -a` then runs every postinst. `auto` records `installed` for packages
 * without preinst, postinst or config script (there is nothing left to run for them).
 * `installed` records every package as installed (the distroless model, for images whose
 * scripts never run; tools like debsecan ignore packages that are not "installed").
 */
export type UnpackState = 'unpacked' | 'auto' | 'installed';

/** Options of unpackPackages. */
export interface UnpackOptions {
  debs: readonly UnpackDeb[];
  /** Target directory; created when missing. Must be empty or hold no dpkg database with packages. */
  root: string;
  /**
   * Create the merged-/usr symlinks (`bin`, `sbin`, `lib` and the architecture's `lib32`,
   * `lib64`, `libx32` -> `usr/...`) first, as debootstrap and mmdebstrap's merged-usr hook do,
   * so packages' `/bin/...` entries land in `/usr/bin`. Default true (bookworm and later).
   */
  mergedUsr?: boolean;
  /** Native dpkg architecture; default: the first non-`all` architecture of `debs`, else the host's. */
  architecture?: string;
  /** See UnpackState. Default `unpacked`. */
  state?: UnpackState;
  /** Write /var/lib/dpkg (default true). */
  dpkgDatabase?: boolean;
  /** Let a later package overwrite a file of an earlier one without Replaces (dpkg --force-overwrite). Default false. */
  allowOverlaps?: boolean;
  /** Packages extracted at once (worker threads). Default min(2, available cores). */
  concurrency?: number;
  /**
   * Keep the decoded control and data tars of each .deb that has a `sha256` here, and read them
   * back next time instead of decoding xz again (about 4.5x the .deb size on disk).
   */
  cacheDir?: string;
  /** mtime (seconds) of what lading itself creates; default the newest mtime found in the packages. */
  mtime?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** Called after each package is in place. */
  onProgress?: (done: number, total: number, name: string) => void;
}

/** One unpacked package. */
export interface UnpackedPackage {
  name: string;
  version: string;
  architecture: string;
  multiArch?: string;
  /** `Source` field: `name` or `name (version)`; absent when the same as the package. */
  source?: string;
  state: DpkgState;
  /** Maintainer scripts shipped (preinst, postinst, prerm, postrm, config) that did not run. */
  scripts: string[];
  triggers: TriggerDirective[];
  /**
   * The package's file list as written to `info/<pkg>.list`: dpkg paths in archive order, `/.`
   * and directories included, original names (`/bin/ls`), minus paths another package's file won.
   */
  list: string[];
  path: string;
}

/** What unpackPackages did. */
export interface UnpackResult {
  root: string;
  /** In lock order. */
  packages: UnpackedPackage[];
  /** Data entries unpacked over all packages. */
  files: number;
  /** Paths shipped by two packages (all allowed: through Replaces or `allowOverlaps`). */
  overlaps: FileOverlap[];
  warnings: string[];
  /** The mtime used for lading's own files. */
  mtime: number;
}

// debootstrap's setup_merged_usr table, also in mmdebstrap's hooks/merged-usr/setup00.sh.
const MERGED_USR_EXTRA: Record<string, string[]> = {
  amd64: ['lib32', 'lib64', 'libx32'],
  i386: ['lib64', 'libx32'],
  mips: ['lib32', 'lib64'],
  mipsel: ['lib32', 'lib64'],
  mips64el: ['lib32', 'lib64', 'libo32'],
  loong64: ['lib32', 'lib64'],
  powerpc: ['lib64'],
  ppc64: ['lib32', 'lib64'],
  ppc64el: ['lib64'],
  s390x: ['lib32'],
  sparc: ['lib64'],
  sparc64: ['lib32', 'lib64'],
  x32: ['lib32', 'lib64', 'libx32'],
};

/** The merged-/usr directory symlinks for an architecture, as debootstrap creates them. */
export function mergedUsrDirs(architecture: string): string[] {
  if (architecture.startsWith('hurd-')) return [];
  return ['bin', 'sbin', 'lib', ...(MERGED_USR_EXTRA[architecture] ?? [])];
}

const HOST_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
const SCRIPTS = ['preinst', 'postinst', 'prerm', 'postrm', 'config'];

function startWorker(): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    // Running from source under tsx (tests): workers do not inherit its loader, so register it first.
    const entry = new URL('./worker.ts', self).href;
    const api = import.meta.resolve('tsx/esm/api');
    return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
  }
  return new Worker(new URL('./worker.js', self));
}

/** Wraps a staged package coming back from a worker (structured clone drops prototypes). */
function revive(raw: Omit<StagedPackage, 'control'> & { control: Deb822Field[] }): StagedPackage {
  return {
    ...raw,
    control: new Deb822Paragraph(raw.control, 1),
    controlFiles: raw.controlFiles.map((f) => ({ ...f, data: Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength) })),
  };
}

function prepareRoot(root: string): { fresh: boolean } {
  try {
    mkdirSync(root, { recursive: true });
  } catch (err) {
    throw new DebianError('ROOT_INVALID', `unpacking into ${root}: ${(err as Error).message}`, { cause: err });
  }
  if (!statSync(root).isDirectory()) throw new DebianError('ROOT_INVALID', `unpacking into ${root}: not a directory`);
  const fresh = readdirSync(root).length === 0;
  if (!fresh) {
    let status = 0;
    try {
      status = statSync(join(root, 'var/lib/dpkg/status')).size;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err;
    }
    if (status > 0) {
      throw new DebianError('ROOT_INVALID', `unpacking into ${root}: it already has a dpkg database with packages`, {
        hint: 'unpack into an empty directory; lading writes the whole database for the packages it unpacks',
      });
    }
  }
  return { fresh };
}

/**
 * Unpacks `debs` into `root` and writes the dpkg database for them. Entries are refused when
 * they would leave the root (absolute or `..` names, escaping symlinks, links through a
 * package's own symlinks) or are device nodes or fifos; a path shipped by two packages fails the
 * unpack unless the later one Replaces the earlier one. Modes, numeric owners (when running as
 * root), mtimes, hard links and symlinks are kept. The root's contents are undefined after a
 * failure: discard it.
 */
export async function unpackPackages(options: UnpackOptions): Promise<UnpackResult> {
  const logger = options.logger ?? nullLogger;
  const signal = options.signal;
  signal?.throwIfAborted();
  if (options.concurrency !== undefined && !(Number.isInteger(options.concurrency) && options.concurrency >= 1)) {
    // NaN slipped through Math.max/min and no worker ever started: the unpack never ended.
    throw new DebianError('OPTIONS_INVALID', `unpacking into ${options.root}: concurrency must be an integer >= 1, got ${String(options.concurrency)}`);
  }
  const total = options.debs.length;
  const root = resolve(options.root);
  const { fresh } = prepareRoot(root);
  const realRoot = realpathSync(root);
  const architecture =
    options.architecture ?? options.debs.find((d) => d.architecture && d.architecture !== 'all')?.architecture ?? HOST_ARCH[process.arch] ?? process.arch;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const umask = process.umask();
  const stagingName = `.lading-unpack-${randomBytes(6).toString('hex')}`;
  for (const d of options.debs) if (d.sha256 !== undefined) checkCacheKey(d.sha256, `unpacking ${d.path}`);
  const stagingDir = join(realRoot, stagingName);
  mkdirSync(stagingDir, { mode: 0o700 });

  let newest = 0;
  const tree = new RootTree({
    root: realRoot,
    fresh,
    stagingName,
    uid,
    umask,
    allowOverlaps: options.allowOverlaps === true,
    defaultMtime: () => options.mtime ?? newest,
  });
  const workers: Worker[] = [];
  try {
    if (options.mergedUsr !== false) for (const d of mergedUsrDirs(architecture)) tree.addSymlink(d, `usr/${d}`);

    const staged = new Array<StagedPackage | undefined>(total);
    const stageOf: string[] = [];
    const stageDirs = new Map<Worker, string>();
    const concurrency = Math.max(1, Math.min(options.concurrency ?? Math.min(2, availableParallelism()), total || 1));
    // Largest first keeps both workers busy to the end (longest-processing-time scheduling).
    const sizes = options.debs.map((d) => {
      try {
        return statSync(d.path).size;
      } catch (err) {
        throw new DebianError('DEB_INVALID', `reading ${d.path}: ${(err as Error).message}`, { cause: err });
      }
    });
    const queue = options.debs.map((_, i) => i).sort((a, b) => (sizes[b] ?? 0) - (sizes[a] ?? 0) || a - b);
    const labels: string[] = options.debs.map((d) => d.name ?? d.path);
    const packages: UnpackedPackage[] = [];
    const dbPackages: DbPackage[] = [];
    let merged = 0;
    let files = 0;

    const mergeReady = () => {
      while (merged < total && staged[merged] && !signal?.aborted) {
        const i = merged;
        const pkg = staged[i] as StagedPackage;
        staged[i] = undefined; // free memory as we go
        const result = mergeOne(i, pkg);
        packages.push(result.unpacked);
        dbPackages.push(result.db);
        files += pkg.entries.length;
        merged++;
        options.onProgress?.(merged, total, result.unpacked.name);
        logger.debug('unpacked', { package: result.unpacked.name, version: result.unpacked.version, entries: pkg.entries.length });
      }
    };

    const info: Array<{ name: string; version: string; architecture: string; multiArch: string | undefined }> = [];
    const replacesOf: Relation[][] = [];
    const mergeOne = (i: number, pkg: StagedPackage): { unpacked: UnpackedPackage; db: DbPackage } => {
      const control = pkg.control;
      const name = control.get('Package') ?? '';
      const version = control.get('Version') ?? '';
      const arch = control.get('Architecture') ?? '';
      const multiArch = control.get('Multi-Arch');
      const deb = options.debs[i] as UnpackDeb;
      for (const [field, want, got] of [
        ['Package', deb.name, name],
        ['Version', deb.version, version],
        ['Architecture', deb.architecture, arch],
      ] as const) {
        if (want !== undefined && want !== got) {
          throw new DebianError('DEB_INVALID', `reading ${deb.path}: ${field} is ${got}, but the lock says ${want}`, { hint: 'the file does not match the lock; fetch it again' });
        }
      }
      const label = multiArch === 'same' ? `${name}:${arch} ${version}` : `${name} ${version}`;
      labels[i] = label;
      info[i] = { name, version, architecture: arch, multiArch };
      if (pkg.newestMtime > newest) newest = pkg.newestMtime;
      const replaces = parseReplaces(control.get('Replaces'), label);
      replacesOf[i] = replaces;
      const mergePkg: MergePackage = {
        label,
        stageDir: stageOf[i] ?? stagingDir,
        entries: pkg.entries,
        replaces: (earlier) => {
          const e = info[earlier];
          if (!e) return false;
          // Multi-Arch: same instances of one package share files (dpkg checks they are identical).
          if (e.name === name && e.multiArch === 'same' && multiArch === 'same') return true;
          return matches(replaces, e.name, e.version);
        },
        replacedBy: (earlier) => matches(replacesOf[earlier] ?? [], name, version),
      };
      tree.mergePackage(i, mergePkg);

      const scripts = SCRIPTS.filter((name) => pkg.controlFiles.some((f) => f.name === name));
      const hasConfigureWork = scripts.some((s) => s === 'preinst' || s === 'postinst' || s === 'config');
      const mode = options.state ?? 'unpacked';
      const state: DpkgState = mode === 'installed' || (mode === 'auto' && !hasConfigureWork) ? 'installed' : 'unpacked';
      const triggers = controlTriggers(pkg.controlFiles, label);
      const conffiles = controlConffiles(pkg, label);
      const seen = new Set<string>();
      const list: string[] = [];
      for (const e of pkg.entries) {
        if (!seen.has(e.path)) {
          seen.add(e.path);
          list.push(e.path);
        }
      }
      const unpacked: UnpackedPackage = { name, version, architecture: arch, state, scripts, triggers, list, path: deb.path };
      if (multiArch) unpacked.multiArch = multiArch;
      const source = control.get('Source');
      if (source) unpacked.source = source;
      return { unpacked, db: { control, controlFiles: pkg.controlFiles, state, list, conffiles, triggers } };
    };

    await new Promise<void>((resolveAll, rejectAll) => {
      let failed = false;
      let running = 0;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        rejectAll(err);
      };
      const onAbort = () => fail(new DebianError('UNPACK_FAILED', `unpacking into ${root}: aborted`, { cause: signal?.reason }));
      signal?.addEventListener('abort', onAbort, { once: true });
      const next = (w: Worker) => {
        if (failed) return;
        const index = queue.shift();
        if (index === undefined) {
          if (running === 0 && merged === total) {
            failed = true; // settled
            signal?.removeEventListener('abort', onAbort);
            resolveAll();
          }
          return;
        }
        running++;
        const stageDir = stageDirs.get(w) ?? stagingDir;
        stageOf[index] = stageDir;
        const deb = options.debs[index];
        const cache = options.cacheDir && deb?.sha256 ? { dir: resolve(options.cacheDir), key: deb.sha256 } : undefined;
        const job: WorkerJob = { type: 'job', index, debPath: resolve(deb?.path ?? ''), stageDir, options: { uid, umask, cache } };
        w.postMessage(job);
      };
      if (total === 0) {
        resolveAll();
        return;
      }
      for (let n = 0; n < concurrency; n++) {
        const w = startWorker();
        workers.push(w);
        // One staging directory per worker: files are renamed out of it as packages merge.
        const stageDir = join(stagingDir, `w${n}`);
        mkdirSync(stageDir, { mode: 0o700 });
        stageDirs.set(w, stageDir);
        w.on('message', (msg: { type: 'done'; index: number; staged: Parameters<typeof revive>[0] } | { type: 'failed'; index: number; failure: WorkerFailure }) => {
          running--;
          if (msg.type === 'failed') {
            const f = msg.failure;
            fail(new DebianError((f.code as DebianErrorCode | undefined) ?? 'UNPACK_FAILED', f.code ? f.message : `unpacking ${labels[msg.index] ?? ''}: ${f.message}`, { hint: f.hint }));
            return;
          }
          staged[msg.index] = revive(msg.staged);
          next(w); // give the worker its next package before merging on this thread
          try {
            mergeReady();
          } catch (err) {
            fail(err);
            return;
          }
          if (queue.length === 0 && running === 0 && merged === total && !failed) {
            failed = true; // settled: later worker exits are not failures
            signal?.removeEventListener('abort', onAbort);
            resolveAll();
          }
        });
        w.on('error', (err) => fail(new DebianError('UNPACK_FAILED', `unpacking into ${root}: worker failed: ${err.message}`, { cause: err })));
        w.on('exit', (code) => {
          if (code !== 0 && !failed) fail(new DebianError('UNPACK_FAILED', `unpacking into ${root}: worker exited with code ${code}`));
        });
        next(w);
      }
    });

    const refused = tree.overlaps.filter((o) => !o.replaces);
    if (refused.length > 0 && options.allowOverlaps !== true) {
      const shown = refused.slice(0, 20).map((o) => `${o.path} (in ${o.first} and ${o.second})`);
      throw new DebianError(
        'FILE_CONFLICT',
        `unpacking into ${root}: ${refused.length} path(s) shipped by two packages without Replaces: ${shown.join('; ')}${refused.length > 20 ? '; ...' : ''}`,
        { hint: 'remove one of the packages, or allow overwrites (dpkg --force-overwrite semantics)' },
      );
    }
    for (const [owner, paths] of tree.takenOver) {
      const db = dbPackages[owner];
      if (db) dbPackages[owner] = { ...db, list: db.list.filter((p) => !paths.has(p)) };
      const pkg = packages[owner];
      if (pkg) pkg.list = pkg.list.filter((p) => !paths.has(p));
    }
    const mtime = options.mtime ?? newest;
    if (options.dpkgDatabase !== false) {
      const foreign = [...new Set(packages.map((p) => p.architecture).filter((a) => a !== 'all' && a !== architecture))].sort();
      writeDpkgDatabase(tree, dbPackages, { architecture, foreignArchitectures: foreign, mtime });
    }
    // Remove the (now empty) staging directory before the root gets its final mtime.
    rmSync(stagingDir, { recursive: true, force: true });
    tree.finish();
    const warnings = [...tree.warnings];
    if (uid !== 0) warnings.push('not running as root: file owners other than root were not restored');
    for (const o of tree.overlaps) if (!o.replaces) warnings.push(`${o.second} overwrote ${o.path} of ${o.first} (allowed by allowOverlaps)`);
    logger.debug('unpack finished', { packages: packages.length, files, overlaps: tree.overlaps.length });
    return { root: realRoot, packages, files, overlaps: tree.overlaps, warnings, mtime };
  } finally {
    await Promise.all(
      workers.map(async (w) => {
        w.postMessage({ type: 'close' });
        await w.terminate();
      }),
    );
    rmSync(stagingDir, { recursive: true, force: true });
  }
}

/** True when a Replaces list names `name` at a version it covers (arch qualifiers default to any). */
function matches(replaces: readonly Relation[], name: string, version: string): boolean {
  return replaces.some((r) => r.name === name && (r.op === undefined || satisfiesVersion(version, r.op, r.version ?? '')));
}

function parseReplaces(value: string | undefined, label: string): Relation[] {
  if (!value) return [];
  try {
    return parseRelations(value, `${label}: Replaces`).flat();
  } catch (err) {
    throw new DebianError('DEB_INVALID', `reading ${label}: ${(err as Error).message}`, { cause: err });
  }
}

function controlTriggers(files: readonly ControlFile[], label: string): TriggerDirective[] {
  const f = files.find((c) => c.name === 'triggers');
  if (!f) return [];
  const parsed = parseTriggers(f.data.toString('utf8'));
  if (typeof parsed === 'string') throw new DebianError('DEB_INVALID', `reading ${label}: triggers: ${parsed}`);
  return parsed;
}

function controlConffiles(pkg: StagedPackage, label: string): DbPackage['conffiles'] {
  const f = pkg.controlFiles.find((c) => c.name === 'conffiles');
  if (!f) return [];
  const parsed = parseConffiles(f.data.toString('utf8'));
  if (typeof parsed === 'string') throw new DebianError('DEB_INVALID', `reading ${label}: conffiles: ${parsed}`);
  const md5 = new Map<string, string>();
  for (const e of pkg.entries) if (e.md5) md5.set(e.path, e.md5);
  // A conffile's hash is the MD5 of what was unpacked: `dpkg --configure` then finds no
  // .dpkg-new file, keeps the hash, and later upgrades see the file as unmodified (configure.c).
  return parsed.map((c) => ({ path: c.path, md5: c.removeOnUpgrade ? 'newconffile' : (md5.get(c.path) ?? 'newconffile'), removeOnUpgrade: c.removeOnUpgrade }));
}
