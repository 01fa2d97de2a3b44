// Building one image for one architecture, as named stages (apko's build_implementation.go):
//   prepare   a fresh root (scratch), or the parent's filesystem under an overlay (or a copy)
//   unpack    the packages this image adds, with their dpkg database entries
//   accounts  users and groups of the config (after base-passwd's preinst on scratch images)
//   scripts   preinsts, file triggers, `dpkg --configure -a` (maintainerScripts: run)
//   files     directories, files from the build context, symlinks
//   run       the image's run steps, in order
//   normalise cleanup of logs and caches, shadow dates, the stdlib .pyc pass
//   diff      what changed, as layer entries (the whole tree for scratch images)
//   layer     the deterministic layer, streamed into the store
//   assemble  config and manifest, stored (not named: the family run names images last)
// Mounts and work directories are removed whatever happens.
import { appendFileSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describeError, epochToRfc3339, type Digest, type Logger } from '../../core/index.js';
import {
  createTransport,
  dependencyOrder,
  unpackPackages,
  type LockedAptPackage,
  type PackageFetcher,
  type Transport,
  type UnpackResult,
} from '../../debian/index.js';
import type { LayoutStore } from '../../layout/index.js';
import {
  assembleImage,
  buildLayer,
  describe,
  removeXattrs,
  speculateLayer,
  type ContainerConfigInput,
  type LayerMemo,
  type Speculation,
  type Descriptor,
  type History,
  type ImageConfig as OciImageConfig,
  type Manifest,
  type ManifestDocument,
  type RawDocument,
} from '../../oci/index.js';
import type { RuntimeInfo } from '../../runtime/index.js';
import { BuildError } from '../errors.js';
import type { ContextDigests } from '../config/context.js';
import { imageMetadata, LADING_KEYS } from '../config/metadata.js';
import type { FamilyConfig, ImageConfig } from '../config/types.js';
import { imagePackages } from '../lock/lock.js';
import type { FamilyLock } from '../lock/schema.js';
import type { BuildStep } from '../plan/schema.js';
import { DEFAULT_PATH } from '../from-dir.js';
import { applyAccounts, clampShadowDates } from './accounts.js';
import { clampMtimes, diffSnapshots, snapshotTree, walkTree, type Snapshot, type TreeListing } from './diff.js';
import { fileTriggersFor, mergeDatabase, setAsideDatabase } from './dpkgdb.js';
import { execProgram } from './exec.js';
import { placeFiles } from './files.js';
import { mountOverlay, removeTree, unmount } from './mounts.js';
import { normaliseTree } from './normalise.js';
import { resolveInRoot } from './paths.js';
import { ociPlatform } from './platform.js';
import type { RootfsCache } from './rootfs.js';
import { recompileStdlib, runConfigure, runPreinsts, runStep, stdlibPycs, type ContainerTarget, type ScriptPackage } from './scripts.js';

/** Names of the stages, in order (timings and log lines use them). */
export const STAGES = ['prepare', 'unpack', 'accounts', 'scripts', 'files', 'run', 'normalise', 'diff', 'layer', 'assemble'] as const;
/** One stage name. */
export type StageName = (typeof STAGES)[number];

/** What every image build of a run shares. */
export interface BuildRun {
  readonly family: FamilyConfig;
  readonly lock: FamilyLock;
  readonly lockFile: string;
  readonly contextDir: string;
  readonly files: ContextDigests;
  readonly store: LayoutStore;
  readonly tag: string;
  /** Downloads of the run's .debs, shared by its images (prefetched in build order). */
  readonly packages: PackageFetcher;
  /** Decoded .deb members (the debian module's cache). */
  readonly debDataDir: string;
  /** This run's scratch directory (same file system as the rootfs cache). */
  readonly workDir: string;
  readonly rootfs: RootfsCache;
  /** Use overlayfs for child images (else copies and snapshots). */
  readonly overlay: boolean;
  /** Batch py3compile calls into one pass after `dpkg --configure -a` (docs/build.md). */
  readonly deferPy3compile: boolean;
  readonly runtime: () => Promise<RuntimeInfo>;
  /** True while fewer images build than the machine has cores: a core is left for speculation. */
  readonly spareCore: () => boolean;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

/** The image a child is built on (same architecture), already in the store. */
export interface ParentImage {
  /** Store name (`base:latest`) or external reference, for base.name. */
  readonly name: string;
  readonly manifest: ManifestDocument & { kind: 'manifest' };
  readonly config: RawDocument<OciImageConfig>;
  /** For the rootfs cache. */
  readonly image: string;
}

/** What building one image produced. */
export interface BuiltImage {
  readonly image: string;
  readonly arch: string;
  readonly manifest: ManifestDocument & { kind: 'manifest' };
  readonly config: RawDocument<OciImageConfig>;
  readonly descriptor: Descriptor;
  readonly epoch: number;
  /** The image's own layer; its counts are absent when the layer was reused (reassembleImage). */
  readonly layer: { readonly digest: string; readonly diffId: string; readonly size: number; readonly uncompressedSize?: number; readonly entries?: number; readonly whiteouts?: number };
  /** The stored image whose layers were reused, when only the config changed. */
  readonly layersFrom?: string;
  readonly packages: number;
  readonly durationMs: number;
  readonly stages: Partial<Record<StageName, number>>;
  readonly warnings: readonly string[];
}

/** Options of buildImage(). */
export interface BuildImageOptions {
  readonly run: BuildRun;
  readonly step: BuildStep;
  readonly parent?: ParentImage;
  /** Config of the external image at the root of this lineage (its settings are inherited). */
  readonly baseConfig?: OciImageConfig['config'];
  readonly logFile: string;
  /** 1 for the first attempt (the log is started afresh), more for a retry (appended). */
  readonly attempt?: number;
  /** Append to the log even on a first attempt (after reassembleImage gave way and said why). */
  readonly appendLog?: boolean;
  /** Called when a stage starts (progress display). */
  readonly onStage?: (stage: StageName) => void;
}

function epochOf(config: OciImageConfig | undefined): number {
  const c = config?.created;
  if (!c) return 0;
  const t = Date.parse(c);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The packages an image adds over its parent on one architecture, in dependency order. */
export function addedPackages(lock: FamilyLock, family: FamilyConfig, image: string, arch: string, lockFile: string): LockedAptPackage[] {
  const img = family.images[image] as ImageConfig;
  const mine = imagePackages(lock, image, arch, lockFile);
  const parent = new Set<string>();
  if (img.from.kind === 'image') for (const p of imagePackages(lock, img.from.name, arch, lockFile)) parent.add(`${p.name}=${p.version}=${p.architecture}`);
  return dependencyOrder(mine.filter((p) => !parent.has(`${p.name}=${p.version}=${p.architecture}`)));
}

/**
 * Whether an image runs its packages' maintainer scripts: turned on, and packages of its own
 * (`own`) to configure. With its `run` steps, this decides whether the image needs the runtime.
 */
export function runsMaintainerScripts(img: ImageConfig, own: number): boolean {
  return img.maintainerScripts === 'run' && own > 0;
}

/** Starts the image's log with its header and returns the function that adds a lading line. */
function startLog(options: BuildImageOptions): (line: string) => void {
  const { step, logFile } = options;
  mkdirSync(join(logFile, '..'), { recursive: true });
  // A retry appends: the failed attempt's output is what explains the retry.
  const header = `lading build ${step.image} (${step.arch}) input ${step.inputHash}${(options.attempt ?? 1) > 1 ? `, attempt ${options.attempt}` : ''}\n`;
  if ((options.attempt ?? 1) > 1 || options.appendLog) appendFileSync(logFile, `\n${header}`);
  else writeFileSync(logFile, header);
  return (line) => appendFileSync(logFile, `lading: ${line}\n`);
}

/** Builds one image on one architecture into the store (unnamed). See the file comment for the stages. */
export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const { run, step } = options;
  const { family } = run;
  const img = family.images[step.image] as ImageConfig;
  const arch = step.arch;
  const started = performance.now();
  const stages: Partial<Record<StageName, number>> = {};
  const warnings: string[] = [];
  const note = startLog(options);
  let stageStart = performance.now();
  let current: StageName | undefined;
  const stage = (s: StageName) => {
    const now = performance.now();
    if (current) {
      const ms = Math.round(now - stageStart);
      stages[current] = (stages[current] ?? 0) + ms;
      note(`stage ${current}: ${ms} ms`);
    }
    current = s;
    stageStart = now;
    options.onStage?.(s);
  };
  const work = join(run.workDir, `${safe(step.image)}-${safe(arch)}`);
  await removeTree(work, run.logger);
  mkdirSync(work, { recursive: true });
  const tmpDir = join(work, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  let mounted: string | undefined;
  let speculation: Speculation | undefined;
  let memo: LayerMemo | undefined;
  try {
    // --- prepare
    stage('prepare');
    const parent = options.parent;
    let mode: 'scratch' | 'overlay' | 'copy';
    let rootfs: string;
    let upper: string | undefined;
    let snapshot: Snapshot | undefined;
    if (!parent) {
      mode = 'scratch';
      rootfs = join(work, 'rootfs');
      mkdirSync(rootfs, { recursive: true, mode: 0o755 });
    } else {
      const who = { family: family.project.name, image: parent.image, arch };
      if (run.overlay) {
        mode = 'overlay';
        const stack = await run.rootfs.stack(parent.manifest.digest, who, run.signal);
        upper = join(work, 'upper');
        rootfs = join(work, 'merged');
        await mountOverlay({ lower: stack, upper, work: join(work, 'ovl'), merged: rootfs }, run.signal);
        mounted = rootfs;
      } else {
        mode = 'copy';
        const stack = await run.rootfs.stack(parent.manifest.digest, who, run.signal);
        const flat = stack.length === 1 ? (stack[0] as string) : await run.rootfs.materialise(parent.manifest.digest, who, run.signal);
        rootfs = join(work, 'rootfs');
        mkdirSync(rootfs, { recursive: true });
        await execProgram('cp', ['-a', '--reflink=auto', `${flat}/.`, `${rootfs}/`], { what: `copying the root filesystem of ${parent.image} for ${step.image}`, ...(run.signal ? { signal: run.signal } : {}) });
        snapshot = snapshotTree(rootfs);
      }
    }
    note(`prepared ${mode} root filesystem${parent ? ` on ${parent.name} (${parent.manifest.digest})` : ''}`);
    const target: ContainerTarget = {
      image: step.image,
      arch,
      rootfs,
      runtime: run.runtime,
      logFile: options.logFile,
      tmpDir,
      note,
      ...(run.signal ? { signal: run.signal } : {}),
    };

    // --- unpack
    stage('unpack');
    const pkgs = addedPackages(run.lock, family, step.image, arch, run.lockFile);
    let unpacked: UnpackResult | undefined;
    if (pkgs.length > 0) {
      unpacked = await unpackStage(run, step.image, arch, rootfs, pkgs, mode !== 'scratch', note);
      warnings.push(...unpacked.warnings);
    }
    const parentEpoch = epochOf(parent?.config.value);
    const epoch = family.sourceDateEpoch.kind === 'fixed' ? family.sourceDateEpoch.seconds : Math.max(parentEpoch, unpacked?.mtime ?? 0);
    const epochDays = Math.floor(epoch / 86400);
    target.epoch = epoch;
    note(`SOURCE_DATE_EPOCH ${epoch} (${epochToRfc3339(epoch)})`);

    // --- accounts and maintainer scripts
    const runScripts = runsMaintainerScripts(img, unpacked?.packages.length ?? 0);
    if (unpacked && (runScripts || img.run.length > 0) && family.compression.algorithm === 'gzip' && run.spareCore()) {
      // Compress what the packages unpacked while the scripts run, on a core no image uses
      // (speculate.ts). With every core building, it only slowed the scripts down (docs/build.md).
      const layerMode = mode;
      speculation = speculateLayer({
        entries: async () => (await layerListing(layerMode, rootfs, upper, snapshot, run.signal, true)).entries,
        ...(family.compression.level !== undefined ? { level: family.compression.level } : {}),
        sourceDateEpoch: epoch,
        dir: work,
        ...(run.signal ? { signal: run.signal } : {}),
      });
    }
    const scriptPkgs: ScriptPackage[] = (unpacked?.packages ?? []).map((p) => ({ name: p.name, architecture: p.architecture, scripts: p.scripts, ...(p.multiArch ? { multiArch: p.multiArch } : {}) }));
    const basePasswd = scriptPkgs.filter((p) => p.name === 'base-passwd');
    // base-passwd's preinst writes /etc/passwd and /etc/group: before anything else (debian.md
    // section 9.1). With accounts to add it runs alone, before them; else it runs first in the
    // configure container, which saves a container start.
    const passwdFirst = runScripts && mode === 'scratch' && basePasswd.length > 0;
    const passwdAlone = passwdFirst && (img.users.length > 0 || img.groups.length > 0);
    if (passwdAlone) {
      stage('scripts');
      await runPreinsts(target, basePasswd);
    }
    stage('accounts');
    const acc = applyAccounts(rootfs, step.image, img.users, img.groups, epochDays);
    if (acc.users.length || acc.groups.length) note(`accounts: users ${acc.users.join(' ') || '-'}; groups ${acc.groups.join(' ') || '-'}`);
    stage('scripts');
    if (runScripts && unpacked) {
      const admin = resolveInRoot(rootfs, '/var/lib/dpkg', { followLast: true });
      const installed = unpacked.packages.flatMap((p) => p.list);
      const others = scriptPkgs.filter((p) => !passwdFirst || p.name !== 'base-passwd');
      await runConfigure(target, fileTriggersFor(admin, installed), {
        deferPy3compile: run.deferPy3compile,
        preinsts: passwdAlone ? others : passwdFirst ? [...basePasswd, ...others] : scriptPkgs,
      });
      const left = notInstalled(admin);
      if (left.length > 0) {
        throw new BuildError('SCRIPTS_FAILED', `image ${step.image} (${arch}): after dpkg --configure -a, ${left.length} package(s) are not installed: ${left.slice(0, 10).join(', ')}\n  log: ${options.logFile}`);
      }
    } else if (unpacked && img.maintainerScripts === 'skip') {
      note('maintainerScripts: skip: packages stay unpacked, no script ran');
    }

    // --- files
    stage('files');
    placeFiles({ root: rootfs, image: step.image, contextDir: run.contextDir, digests: run.files, files: img.files, directories: img.directories, symlinks: img.symlinks, epoch });

    // --- run steps
    stage('run');
    const env = { ...(options.baseConfig ? envRecord(options.baseConfig.Env) : {}), ...img.effective.env };
    for (const s of img.run) await runStep(target, s, env);

    // --- normalise
    stage('normalise');
    const removed = normaliseTree(rootfs);
    if (removed.length) note(`cleanup: ${removed.join(' ')}`);
    if (clampShadowDates(rootfs, epochDays)) note('clamped /etc/shadow dates to the epoch');
    if (runScripts || img.run.length > 0) {
      const isNew = newPathTest(mode, upper, snapshot, rootfs);
      const n = await recompileStdlib(target, stdlibPycs(rootfs, isNew));
      if (n) note(`recompiled ${n} standard-library .pyc files`);
    }

    // --- diff
    stage('diff');
    memo = await speculation?.stop();
    speculation = undefined;
    if (memo?.failure) note(`speculative compression stopped early: ${memo.failure}`);
    if (mode === 'overlay' && upper) {
      await unmount(rootfs, run.logger);
      mounted = undefined;
    }
    const listing = await layerListing(mode, rootfs, upper, snapshot, run.signal);
    const layerRoot = mode === 'overlay' && upper ? upper : rootfs;
    note(`layer: ${listing.entries.length} entries, ${listing.whiteouts} whiteouts`);

    // --- layer
    stage('layer');
    let stored: { digest: string; size: number } | undefined;
    const layer = await buildLayer({
      entries: listing.entries,
      compression: family.compression.algorithm,
      ...(family.compression.level !== undefined ? { level: family.compression.level } : {}),
      ...(memo ? { memo } : {}),
      sourceDateEpoch: epoch,
      sink: async (stream) => {
        stored = await run.store.writeBlob(stream, run.signal ? { signal: run.signal } : {});
      },
      ...(run.signal ? { signal: run.signal } : {}),
      logger: run.logger,
    });
    if (layer.blocks) note(`layer: ${layer.blocks.reused} of ${layer.blocks.total} gzip blocks compressed while the scripts ran`);
    memo?.close();
    memo = undefined;
    if (!stored || stored.digest !== layer.descriptor.digest) throw new BuildError('ASSEMBLE_FAILED', `image ${step.image} (${arch}): the store received ${stored?.digest ?? 'nothing'} for layer ${layer.descriptor.digest}`);
    // Children see exactly what the layers say: the same mtimes as after applying them.
    clampMtimes(layerRoot, listing.paths, epoch);
    if (listing.acls.length > 0) {
      // Layers carry no POSIX ACLs (as docker and buildah): the tree children build on loses them too.
      await removeXattrs(layerRoot, listing.acls, run.signal);
      const shown = [...new Set(listing.acls.map((a) => `/${a.path}`))];
      const msg = `POSIX ACLs are not carried in image layers; removed from ${shown.slice(0, 5).join(' ')}${shown.length > 5 ? ` and ${shown.length - 5} more` : ''} (the group bits keep the ACL mask)`;
      warnings.push(msg);
      note(msg);
    }
    if (listing.sockets.length > 0) {
      // A socket left by a run step or a script is not carried either (moby warns and skips it);
      // it goes from the tree children build on too.
      for (const p of listing.sockets) rmSync(join(layerRoot, p), { force: true });
      const shown = listing.sockets.map((p) => `/${p}`);
      const msg = `sockets are not carried in image layers; left out: ${shown.slice(0, 5).join(' ')}${shown.length > 5 ? ` and ${shown.length - 5} more` : ''}`;
      warnings.push(msg);
      note(msg);
    }

    // --- assemble
    stage('assemble');
    const assembled = await assemble(run, step, img, parent, options.baseConfig, { descriptor: layer.descriptor, diffId: layer.diffId }, epoch, pkgs.length);
    // Keep the filesystem for children (this run's and later ones').
    await run.rootfs.adopt(
      mode === 'overlay' && parent
        ? { digest: assembled.manifest.digest, family: family.project.name, image: step.image, arch, kind: 'upper', parent: parent.manifest.digest }
        : { digest: assembled.manifest.digest, family: family.project.name, image: step.image, arch, kind: 'tree' },
      layerRoot,
    );
    stages.assemble = (stages.assemble ?? 0) + Math.round(performance.now() - stageStart);
    current = undefined;
    const durationMs = Math.round(performance.now() - started);
    note(`built ${assembled.manifest.digest} in ${durationMs} ms`);
    return {
      image: step.image,
      arch,
      manifest: assembled.manifest,
      config: assembled.config,
      descriptor: { ...describe(assembled.manifest), platform: ociPlatform(arch) },
      epoch,
      layer: { digest: layer.descriptor.digest, diffId: layer.diffId, size: layer.descriptor.size, uncompressedSize: layer.uncompressedSize, entries: layer.entries, whiteouts: listing.whiteouts },
      packages: pkgs.length,
      durationMs,
      stages,
      warnings,
    };
  } catch (err) {
    note(`failed${current ? ` in stage ${current}` : ''}: ${describeError(err)}`);
    throw err;
  } finally {
    if (speculation) memo = await speculation.stop();
    memo?.close();
    if (mounted) await unmount(mounted, run.logger).catch((e: unknown) => run.logger.warn(`unmounting ${mounted}: ${describeError(e)}`));
    await removeTree(work, run.logger).catch((e: unknown) => run.logger.warn(`removing ${work}: ${describeError(e)}`));
  }
}

/** What the image's layer holds: its upper directory (overlay), its changes since the snapshot (copy), or its whole tree (scratch). */
async function layerListing(
  mode: 'scratch' | 'overlay' | 'copy',
  rootfs: string,
  upper: string | undefined,
  snapshot: Snapshot | undefined,
  signal: AbortSignal | undefined,
  speculative = false,
): Promise<TreeListing> {
  const sig = signal ? { signal } : {};
  // Speculation reads a tree the scripts are changing: what vanishes is left out, and xattrs
  // (a few file capabilities) are not read, which spares a getfattr over the whole tree.
  const walk = speculative ? { skipVanished: true, xattrs: false } : {};
  if (mode === 'overlay' && upper) return walkTree(upper, { overlay: true, ...walk, ...sig });
  if (mode === 'copy' && snapshot) return diffSnapshots(rootfs, snapshot, sig);
  return walkTree(rootfs, { overlay: false, ...walk, ...sig });
}

/**
 * Makes an image whose layers are those of a stored build with the same layer hash: only config
 * fields changed (labels, entrypoint, project metadata...), so the config and manifest are made
 * again on the stored layers, and the stored root filesystem is kept for the new image. Undefined
 * (after a note in the log) when the stored image does not sit on the parent's current layers:
 * the caller then builds it.
 */
export async function reassembleImage(options: BuildImageOptions & { readonly from: { readonly manifest: ManifestDocument & { kind: 'manifest' }; readonly config: RawDocument<OciImageConfig> } }): Promise<BuiltImage | undefined> {
  const { run, step, parent } = options;
  const img = run.family.images[step.image] as ImageConfig;
  const started = performance.now();
  const note = startLog(options);
  const from = options.from.manifest;
  const layers = (from.value as Manifest).layers;
  const diffIds = options.from.config.value.rootfs.diff_ids;
  const own = layers.at(-1);
  const diffId = diffIds.at(-1);
  const below = layers.slice(0, -1).map((d) => d.digest);
  const want = parent ? (parent.manifest.value as Manifest).layers.map((d) => d.digest) : [];
  if (!own || !diffId || diffIds.length !== layers.length || below.length !== want.length || below.some((d, i) => d !== want[i])) {
    note(`the layers of ${from.digest} do not sit on the parent's current layers: building`);
    return undefined;
  }
  options.onStage?.('assemble');
  note(`only the config changed: a new config and manifest on the layers of ${from.digest}`);
  const epoch = epochOf(options.from.config.value);
  const packages = Object.keys(step.inputs.packages).length;
  const assembled = await assemble(run, step, img, parent, options.baseConfig, { descriptor: own, diffId }, epoch, packages);
  await run.rootfs.rekey(from.digest, { digest: assembled.manifest.digest, family: run.family.project.name, image: step.image, arch: step.arch }, parent?.manifest.digest);
  const durationMs = Math.round(performance.now() - started);
  note(`built ${assembled.manifest.digest} in ${durationMs} ms`);
  return {
    image: step.image,
    arch: step.arch,
    manifest: assembled.manifest,
    config: assembled.config,
    descriptor: { ...describe(assembled.manifest), platform: ociPlatform(step.arch) },
    epoch,
    layer: { digest: own.digest, diffId, size: own.size },
    layersFrom: from.digest,
    packages,
    durationMs,
    stages: { assemble: durationMs },
    warnings: [],
  };
}

async function unpackStage(run: BuildRun, image: string, arch: string, rootfs: string, pkgs: readonly LockedAptPackage[], child: boolean, note: (l: string) => void): Promise<UnpackResult> {
  let fetched;
  try {
    fetched = await run.packages.fetch(pkgs, run.signal ? { signal: run.signal } : {});
  } catch (err) {
    throw new BuildError('UNPACK_FAILED', `image ${image} (${arch}): fetching ${pkgs.length} package(s): ${describeError(err)}`, { cause: err, ...(isBase(err) && err.hint ? { hint: err.hint } : {}) });
  }
  const downloaded = fetched.filter((f) => !f.cached).length;
  note(`packages: ${pkgs.length} (${downloaded} downloaded): ${pkgs.map((p) => `${p.name}=${p.version}`).join(' ')}`);
  const path = new Map(fetched.map((f) => [f.package.sha256, f.path]));
  const saved = child ? setAsideDatabase(rootfs) : undefined;
  let result: UnpackResult;
  try {
    result = await unpackPackages({
      root: rootfs,
      architecture: arch,
      mergedUsr: !child,
      state: 'unpacked',
      cacheDir: run.debDataDir,
      logger: run.logger,
      ...(run.signal ? { signal: run.signal } : {}),
      debs: pkgs.map((p) => ({ path: path.get(p.sha256) as string, name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256 })),
    });
  } catch (err) {
    throw new BuildError('UNPACK_FAILED', `image ${image} (${arch}): unpacking: ${describeError(err)}`, { cause: err, ...(isBase(err) && err.hint ? { hint: err.hint } : {}) });
  }
  if (saved) mergeDatabase(saved);
  return result;
}

function isBase(err: unknown): err is { hint?: string } {
  return typeof err === 'object' && err !== null && 'hint' in err;
}

/** Packages of the dpkg status that are not `install ok installed`. */
function notInstalled(admin: string): string[] {
  let text = '';
  try {
    text = readFileSync(join(admin, 'status'), 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const block of text.split(/\n{2,}/)) {
    const name = /^Package:\s*(\S+)/m.exec(block)?.[1];
    const status = /^Status:\s*(.+)$/m.exec(block)?.[1]?.trim();
    if (name && status && status !== 'install ok installed') out.push(`${name} (${status})`);
  }
  return out;
}

/** Whether a path (relative) of the image's tree is new or changed in this build. */
function newPathTest(mode: 'scratch' | 'overlay' | 'copy', upper: string | undefined, snapshot: Snapshot | undefined, root: string): (rel: string) => boolean {
  if (mode === 'overlay' && upper) {
    return (rel) => {
      try {
        const st = lstatSync(join(upper, rel));
        return st.isFile();
      } catch {
        return false;
      }
    };
  }
  if (mode === 'copy' && snapshot) {
    return (rel) => {
      const before = snapshot.get(rel);
      if (!before) return true;
      try {
        const st = lstatSync(join(root, rel), { bigint: true });
        return st.ino !== before.ino || st.ctimeNs !== before.ctimeNs;
      } catch {
        return false;
      }
    };
  }
  return () => true;
}

function envRecord(env: readonly string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/** The store name of a family image. */
export function storeName(image: string, tag: string): string {
  return `${image}:${tag}`;
}

/** The image's config and manifest on its parent's layers and `layer`, written to the store. */
async function assemble(
  run: BuildRun,
  step: BuildStep,
  img: ImageConfig,
  parent: ParentImage | undefined,
  baseConfig: OciImageConfig['config'] | undefined,
  layer: { descriptor: Descriptor; diffId: string },
  epoch: number,
  packages: number,
): Promise<{ config: RawDocument<OciImageConfig>; manifest: ManifestDocument & { kind: 'manifest' } }> {
  const eff = img.effective;
  const meta = imageMetadata(run.family, img);
  const created = epochToRfc3339(epoch);
  const extra: Record<string, string> = { 'org.opencontainers.image.created': created, [LADING_KEYS.inputHash]: step.inputHash };
  if (parent) {
    extra['org.opencontainers.image.base.name'] = parent.name;
    extra['org.opencontainers.image.base.digest'] = parent.manifest.digest;
  }
  const env = { ...envRecord(baseConfig?.Env), ...eff.env };
  if (env.PATH === undefined) env.PATH = DEFAULT_PATH.slice('PATH='.length);
  const keys = Object.keys(env).sort();
  const entrypoint = eff.entrypoint ?? (img.own.entrypoint === null ? undefined : baseConfig?.Entrypoint);
  // An entrypoint set in the family clears the base's cmd (Dockerfile semantics).
  const cmd = eff.cmd ?? (eff.entrypoint !== undefined || img.own.cmd === null ? undefined : baseConfig?.Cmd);
  const config: ContainerConfigInput = {
    ...(eff.user ?? baseConfig?.User ? { User: eff.user ?? baseConfig?.User } : {}),
    ...(eff.ports.length || baseConfig?.ExposedPorts ? { ExposedPorts: [...new Set([...Object.keys(baseConfig?.ExposedPorts ?? {}), ...eff.ports])] } : {}),
    Env: keys.map((k) => `${k}=${env[k] as string}`),
    ...(entrypoint ? { Entrypoint: entrypoint } : {}),
    ...(cmd ? { Cmd: cmd } : {}),
    ...(eff.volumes.length || baseConfig?.Volumes ? { Volumes: [...new Set([...Object.keys(baseConfig?.Volumes ?? {}), ...eff.volumes])] } : {}),
    ...(eff.workdir ?? baseConfig?.WorkingDir ? { WorkingDir: eff.workdir ?? baseConfig?.WorkingDir } : {}),
    Labels: { ...(baseConfig?.Labels ?? {}), ...meta.labels, ...extra, ...img.volatile.labels },
    ...(eff.stopSignal ?? baseConfig?.StopSignal ? { StopSignal: eff.stopSignal ?? baseConfig?.StopSignal } : {}),
  };
  const parentValue = parent?.config.value;
  const parentManifest = parent?.manifest.value as Manifest | undefined;
  const parentLayers = (parentManifest?.layers ?? []).map((d, i) => ({ descriptor: d, diffId: parentValue?.rootfs.diff_ids[i] as Digest }));
  const parentHistory: History[] = parentValue?.history ? [...parentValue.history] : parentLayers.map(() => ({ created_by: 'base layer' }));
  const runs = img.run.map((r) => r.name);
  const history: History[] = [
    ...parentHistory,
    {
      created,
      created_by: `lading build ${step.image}`,
      comment: `${packages} package(s)${img.files.length ? `, ${img.files.length} file(s)` : ''}${runs.length ? `, run: ${runs.join(', ')}` : ''}`,
    },
  ];
  const assembled = assembleImage({
    layers: [...parentLayers, { descriptor: layer.descriptor, diffId: layer.diffId as Digest }],
    platform: ociPlatform(step.arch),
    config,
    created: epoch,
    history,
    annotations: { ...meta.annotations, ...extra, ...img.volatile.annotations },
  });
  await run.store.writeBlob(assembled.config.raw, { expected: { digest: assembled.config.digest, size: assembled.config.raw.length }, ...(run.signal ? { signal: run.signal } : {}) });
  await run.store.putManifest(assembled.manifest, run.signal ? { signal: run.signal } : {});
  return assembled;
}

/** A transport for fetching .debs (the debian module's). */
export function debTransport(options: { cacheDir: string; offline?: boolean; logger?: Logger; signal?: AbortSignal }): Transport {
  return createTransport({ cacheDir: options.cacheDir, ...(options.offline ? { offline: true } : {}), ...(options.logger ? { logger: options.logger } : {}), ...(options.signal ? { signal: options.signal } : {}) });
}
