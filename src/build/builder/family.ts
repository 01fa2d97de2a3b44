// `lading build`: plan the family (locking it first when there is no lading.lock), then build
// what the plan says in parallel (a child starts as soon as its parent is done; at most `jobs`
// images at once), retry transient failures, skip the descendants of a failed image, write a
// build record per built image, name every complete image in the store (an index over the
// architectures when there are several), and return a Kolla-like summary.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLimiter, describeError, environmentError, epochToRfc3339, errnoCode, errorChain, isBaseError, isProcessAlive, nullLogger, processTag, systemClock, withFileLock, type Clock, type Logger } from '../../core/index.js';
import { openLayout, STATE_DIR, type LayoutStore } from '../../layout/index.js';
import {
  assembleIndex,
  describe,
  parseImageConfig,
  type Descriptor,
  type ImageConfig as OciImageConfig,
  type Manifest,
  type ManifestDocument,
  type RawDocument,
} from '../../oci/index.js';
import { createPackageFetcher } from '../../debian/index.js';
import { detectRuntime, removeStaleContainers, type RuntimeInfo } from '../../runtime/index.js';
import { BuildError } from '../errors.js';
import { imageMetadata } from '../config/metadata.js';
import { formatProblem } from '../config/problems.js';
import type { Selection } from '../config/select.js';
import type { DebianArch, ImageConfig } from '../config/types.js';
import { defaultLockPath, lockFamilyFiles, planFamily, type FamilyFiles, type PlannedFamily } from '../plan/family.js';
import { imageInputs } from '../plan/plan.js';
import { findReusable, markReused, writeBuildRecord } from '../plan/records.js';
import { foreignArchBlocks } from './foreign.js';
import { SUMMARY_VERSION, type SKIP_CODES } from './summary.js';
import { RECORD_VERSION, type BuildPlan, type BuildStep, type PlanStep, type Reason } from '../plan/schema.js';
import { addedPackages, buildImage, debTransport, reassembleImage, runsMaintainerScripts, storeName, type BuildRun, type BuiltImage, type ParentImage, type StageName } from './image.js';
import { probeOverlay, removeTree } from './mounts.js';
import { ociPlatform } from './platform.js';
import { RootfsCache, rootfsCacheDir } from './rootfs.js';
import { scheduleOrder } from './schedule.js';

/** Progress of a build, for displays. */
export type BuildEvent =
  | { readonly type: 'locked'; readonly path: string; readonly written: boolean }
  | { readonly type: 'planned'; readonly plan: BuildPlan }
  | { readonly type: 'start'; readonly image: string; readonly arch: string; readonly attempt: number }
  | { readonly type: 'stage'; readonly image: string; readonly arch: string; readonly stage: StageName }
  | { readonly type: 'retry'; readonly image: string; readonly arch: string; readonly attempt: number; readonly reason: string }
  | { readonly type: 'finished'; readonly image: string; readonly arch: string; readonly outcome: 'built' | 'reused' | 'failed' | 'skipped'; readonly detail?: string };

/** Options of buildFamily(). */
export interface BuildFamilyOptions extends FamilyFiles {
  /** The OCI layout store (created when missing). */
  readonly storePath: string;
  /** apt cache: indexes, .debs, decoded members (the CLI's --cache). */
  readonly cacheDir: string;
  readonly selection?: Selection;
  readonly architectures?: readonly DebianArch[];
  /** Rebuild these images (true: every selected one) even when the store has them. */
  readonly force?: boolean | readonly string[];
  /** Images built at once (default 2; the CLI passes one per core, 2 to 8). */
  readonly jobs?: number;
  /** Extra attempts for transient failures (network, runtime start, I/O). Default 1. */
  readonly retries?: number;
  /** Use only the apt cache. */
  readonly offline?: boolean;
  /** .debs downloaded at once (default 4, polite to public mirrors; raise it for your own). */
  readonly downloads?: number;
  /** Resolve lading.lock again before building (also when it is stale). */
  readonly updateLock?: boolean;
  /** overlayfs for child images: 'auto' (default: when it mounts here) or false (copy mode). */
  readonly overlay?: 'auto' | false;
  /**
   * Run the py3compile calls of Python packages' postinsts as one batch after
   * `dpkg --configure -a` instead of one interpreter pair per package (default true).
   */
  readonly deferPy3compile?: boolean;
  /** Keep the images' root filesystems in the store for later child builds (default true). */
  readonly keepRootfs?: boolean;
  /** Puts an external base image (by digest) into the store; without it a missing base fails. */
  readonly fetchBase?: (reference: string, digest: string, store: LayoutStore, signal?: AbortSignal) => Promise<void>;
  /** OCI runtime name or path (default: LADING_RUNTIME of `runtimeEnv`, else detected). */
  readonly runtime?: string;
  /** Environment the runtime detection reads (PATH, LADING_RUNTIME); default process.env. */
  readonly runtimeEnv?: NodeJS.ProcessEnv;
  /** Root of the machine's apt configuration (default "/"), for locking. */
  readonly root?: string;
  readonly fetch?: typeof fetch;
  readonly onEvent?: (event: BuildEvent) => void;
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/** One image built by this run. */
export interface BuiltSummary {
  readonly image: string;
  readonly arch: string;
  readonly digest: string;
  readonly inputHash: string;
  readonly created: string;
  readonly layer: BuiltImage['layer'];
  readonly packages: number;
  readonly durationMs: number;
  readonly stages: BuiltImage['stages'];
  readonly attempts: number;
  /** Why it was built: the plan's reasons, or why a planned reuse was built after all. */
  readonly reasons: readonly Reason[];
  /** When only its config changed: the stored image whose layers it reuses. */
  readonly layersFrom?: string;
  readonly log: string;
}

/** The result of a family build (`lading build --json`). */
export interface BuildSummary {
  readonly summaryVersion: typeof SUMMARY_VERSION;
  readonly family: string;
  readonly store: string;
  readonly lock: { readonly path: string; readonly written: boolean };
  readonly plan: BuildPlan;
  readonly built: BuiltSummary[];
  readonly reused: Array<{ image: string; arch: string; digest: string }>;
  readonly failed: Array<{ image: string; arch: string; code: string; reason: string; log: string; attempts: number }>;
  readonly skipped: Array<{ image: string; arch: string; code: (typeof SKIP_CODES)[number]; reason: string }>;
  /** Store names set or confirmed: `<image>:<tag>` -> manifest (one arch) or index digest. */
  readonly names: Array<{ image: string; name: string; digest: string; mediaType: string; changed: boolean }>;
  /** Images built or reused on some architectures but not named: another one failed or was skipped. */
  readonly unnamed: Array<{ image: string; name: string; reason: string; keeps?: string }>;
  readonly logDir: string;
  /** Whether child images were built with overlayfs (else on copies of their parents). */
  overlay: boolean;
  readonly durationMs: number;
}

type Outcome =
  | { kind: 'built'; parent: ParentImage; built: BuiltImage }
  | { kind: 'reused'; digest: string }
  | { kind: 'failed' }
  | { kind: 'skipped' };

// A full disk, a read-only store or a corrupt blob (zlib's data errors) fail the same way again.
const NOT_TRANSIENT = new Set<string>([
  'SCRIPTS_FAILED', 'STEP_FAILED', 'FILE_NAME_INVALID', 'FOREIGN_ARCH', 'ACCOUNT_CONFLICT', 'FILE_FAILED', 'ABORTED', 'EXEC_FAILED', 'FILE_CONFLICT', 'UNSAFE_PATH', 'DEB_INVALID', 'OFFLINE_MISSING', 'HASH_MISMATCH', 'CACHE_WRITE_FAILED',
  'ENOSPC', 'EDQUOT', 'EROFS', 'Z_DATA_ERROR', 'Z_BUF_ERROR',
]);
const TRANSIENT = new Set<string>(['FETCH_FAILED', 'CREATE_FAILED', 'IO', 'ROOTFS_FAILED', 'ASSEMBLE_FAILED']);

/**
 * The code of a failed image: lading's own; the errno of the machine's failure (a full disk, a
 * read-only store) that reached the builder unwrapped; else INTERNAL, a bug.
 */
export function failureCode(err: unknown): { code: string; bug: boolean } {
  if (isBaseError(err)) return { code: err.code, bug: false };
  const machine = environmentError(err);
  return machine ? { code: machine.code, bug: false } : { code: 'INTERNAL', bug: true };
}

/** A failure worth another attempt: network, runtime start, I/O; never a script's own exit status. */
export function isTransient(err: unknown): boolean {
  let transient = false;
  for (const cur of errorChain(err)) {
    const code = errnoCode(cur);
    if (code === undefined) continue;
    if (NOT_TRANSIENT.has(code)) return false;
    if (TRANSIENT.has(code)) transient = true;
  }
  return transient;
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Where the log of one image build goes. */
export function buildLogPath(storePath: string, family: string, image: string, arch: string): string {
  return join(storePath, STATE_DIR, 'logs', safe(family), safe(image), `${safe(arch)}.log`);
}

async function loadStored(store: LayoutStore, digest: string, what: string, signal?: AbortSignal): Promise<{ manifest: ManifestDocument & { kind: 'manifest' }; config: RawDocument<OciImageConfig> }> {
  const doc = await store.getManifest(digest, signal ? { signal } : {});
  if (!doc || doc.kind !== 'manifest') throw new BuildError('PARENT_MISSING', `${what}: manifest ${digest} is not in the store`, { hint: 'build it again (lading build --force)' });
  const m = doc.value as Manifest;
  const raw = await store.readBlob(m.config, signal ? { signal } : {});
  return { manifest: doc as ManifestDocument & { kind: 'manifest' }, config: parseImageConfig(raw, { mediaType: m.config.mediaType, expected: { digest: m.config.digest, size: m.config.size }, what: `${what}: config` }) };
}

/**
 * Work entries whose process is gone. They are named `<pid>-<start>-...` (processTag: build
 * directories, the overlay probe); names of older versions, `<pid>-...`, are judged by pid alone.
 */
async function staleWorkDirs(workRoot: string): Promise<string[]> {
  const names = await readdir(workRoot).catch(() => [] as string[]);
  return names.filter((n) => {
    const [pid, start] = n.split('-');
    return !isProcessAlive(Number(pid), /^\d+$/.test(start ?? '') ? start : undefined);
  });
}

async function cleanStaleWork(workRoot: string, logger: Logger): Promise<void> {
  for (const n of await staleWorkDirs(workRoot)) {
    logger.debug('removing the work directory of an interrupted build', { dir: n });
    await removeTree(join(workRoot, n), logger);
  }
}

/**
 * Builds a family: plan (lock first when lading.lock is missing, or with `updateLock`), build,
 * name, summarise. Images that fail do not stop the others; their descendants are skipped. The
 * summary lists every step; callers exit nonzero when `failed` is not empty. Throws only for
 * problems before building starts (config, lock, store) or when aborted.
 */
export async function buildFamily(options: BuildFamilyOptions): Promise<BuildSummary> {
  // Modes of what lading and the containers create (dpkg's database, directories for files,
  // maintainer scripts' output) must not depend on the caller's umask: the image would differ.
  const umask = process.umask(0o022);
  try {
    return await buildFamilyWith022(options);
  } finally {
    process.umask(umask);
  }
}

async function buildFamilyWith022(options: BuildFamilyOptions): Promise<BuildSummary> {
  const started = performance.now();
  const logger = options.logger ?? nullLogger;
  const clock = options.clock ?? systemClock;
  const signal = options.signal;
  const emit = (e: BuildEvent) => options.onEvent?.(e);
  const cwd = options.cwd ?? process.cwd();
  const lockPath = options.lockPath ? resolve(cwd, options.lockPath) : defaultLockPath(resolve(cwd, options.configPath ?? 'lading.yaml'));
  const files: FamilyFiles = {
    ...(options.configPath ? { configPath: options.configPath } : {}),
    ...(options.overrides ? { overrides: options.overrides } : {}),
    ...(options.contextDir ? { contextDir: options.contextDir } : {}),
    ...(options.lockPath ? { lockPath: options.lockPath } : {}),
    cwd,
    ...(options.hostArchitecture ? { hostArchitecture: options.hostArchitecture } : {}),
    ...(signal ? { signal } : {}),
  };
  let lockWritten = false;
  if (options.updateLock || !existsSync(lockPath)) {
    const r = await lockFamilyFiles({
      ...files,
      cacheDir: options.cacheDir,
      logger,
      ...(options.offline ? { offline: true } : {}),
      ...(options.root ? { root: options.root } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    lockWritten = r.written;
    emit({ type: 'locked', path: r.lockPath, written: r.written });
  }
  const planned: PlannedFamily = await planFamily({
    ...files,
    storePath: options.storePath,
    ...(options.selection ? { selection: options.selection } : {}),
    ...(options.architectures ? { architectures: options.architectures } : {}),
    ...(options.force !== undefined ? { force: options.force } : {}),
    logger,
  });
  const { plan } = planned;
  const family = planned.loaded.family;
  for (const w of planned.warnings) logger.warn(formatProblem(w));
  emit({ type: 'planned', plan });
  const store = await openLayout({ path: options.storePath, create: true, ...(signal ? { signal } : {}), logger });
  // An unreadable index.json fails now, not after every image is built and cannot be named.
  await store.entries(signal ? { signal } : {});
  const tag = family.project.version ?? 'latest';
  // Start order: parents first, and among siblings the costliest subtree first (schedule.ts).
  const steps = scheduleOrder(plan.batches);
  const toBuild = steps.filter((s): s is BuildStep => s.kind === 'build');
  // A reused image whose reused parent has another digest than the one it was built on (the
  // parent was rebuilt by a forced build that gave other bytes) is rebuilt too (runOne below);
  // find those now so the run is set up for building.
  const stepByKey = new Map(steps.map((s) => [`${s.image}\u0000${s.arch}`, s]));
  let stale = 0;
  for (const s of steps) {
    if (s.kind !== 'reuse' || s.parent.kind !== 'image') continue;
    const p = stepByKey.get(`${s.parent.name}\u0000${s.arch}`);
    if (p?.kind !== 'reuse') continue;
    const doc = await store.getManifest(s.digest, signal ? { signal } : {}).catch(() => undefined);
    const on = (doc?.value as Manifest | undefined)?.annotations?.['org.opencontainers.image.base.digest'];
    if (on !== undefined && on !== p.digest) stale++;
  }
  const building = toBuild.length > 0 || stale > 0;
  // Images that would run scripts or steps for an architecture the host cannot run fail before
  // their packages are fetched and unpacked.
  const foreign = new Map((await foreignArchBlocks({ plan, family, lock: planned.lock, lockFile: lockPath })).map((b) => [`${b.image}\u0000${b.arch}`, b]));
  const summary: BuildSummary = {
    summaryVersion: SUMMARY_VERSION,
    family: family.project.name,
    store: store.path,
    lock: { path: lockPath, written: lockWritten },
    plan,
    built: [],
    reused: [],
    failed: [],
    skipped: [],
    names: [],
    unnamed: [],
    logDir: join(store.path, STATE_DIR, 'logs', safe(family.project.name)),
    overlay: false,
    durationMs: 0,
  };

  if (building && typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new BuildError('NEEDS_ROOT', `building family ${family.project.name}: ${toBuild.length + stale} image(s) to build, and building needs root (package file owners, overlayfs mounts, runc)`, {
      hint: 'run lading build as root (sudo); `lading plan` shows what would be built without root',
    });
  }

  // A killed build's work directories (mounts, containers) are removed by the next build, also
  // one with nothing to build, under the store's build lock like any build (root only: unmounting).
  const workRoot = join(store.path, STATE_DIR, 'work');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const leftovers = !building && isRoot && (await staleWorkDirs(workRoot)).length > 0;

  let waitedForLock = false;
  const run = async (): Promise<void> => {
    await mkdir(workRoot, { recursive: true });
    const cacheDir = rootfsCacheDir(store.path);
    await mkdir(cacheDir, { recursive: true });
    let overlay = false;
    if (building || leftovers) {
      // Containers of a killed build may still run in its work directory: stop them first.
      await removeStaleContainers({ ...(options.runtime ? { runtime: options.runtime } : {}), ...(options.runtimeEnv ? { env: options.runtimeEnv } : {}), logger, ...(signal ? { signal } : {}) });
      await cleanStaleWork(workRoot, logger);
      if (options.overlay !== false && (stale > 0 || toBuild.some((s) => s.parent.kind !== 'scratch'))) {
        const why = await probeOverlay(workRoot);
        overlay = why === undefined;
        if (why) logger.warn(`overlayfs is not usable here (${why}); child images are built on copies of their parents (slower)`);
      }
    }
    summary.overlay = overlay;
    const workDir = join(workRoot, `${processTag()}-${randomBytes(4).toString('hex')}`);
    let runtimePromise: Promise<RuntimeInfo> | undefined;
    const packages = createPackageFetcher({
      transport: debTransport({ cacheDir: options.cacheDir, ...(options.offline ? { offline: true } : {}), logger, ...(signal ? { signal } : {}) }),
      ...(options.downloads !== undefined ? { concurrency: options.downloads } : {}),
      lockFile: relative(cwd, lockPath) || lockPath,
    });
    const buildRun: BuildRun = {
      family,
      lock: planned.lock,
      lockFile: lockPath,
      contextDir: planned.loaded.contextDir,
      files: planned.files,
      store,
      tag,
      packages,
      debDataDir: join(options.cacheDir, 'deb-data'),
      workDir,
      rootfs: new RootfsCache(cacheDir, store, logger),
      overlay,
      deferPy3compile: options.deferPy3compile !== false,
      spareCore: () => limit.active < availableParallelism(),
      runtime: () =>
        (runtimePromise ??= detectRuntime({ ...(options.runtime ? { runtime: options.runtime } : {}), ...(options.runtimeEnv ? { env: options.runtimeEnv } : {}), logger, ...(signal ? { signal } : {}) })),
      logger,
      ...(signal ? { signal } : {}),
    };
    const limit = createLimiter(Math.max(1, options.jobs ?? 2));
    const outcomes = new Map<string, Promise<Outcome>>();
    const key = (image: string, arch: string) => `${image}\u0000${arch}`;
    const externals = new Map<string, Promise<ParentImage>>();

    const external = (img: ImageConfig, arch: string): Promise<ParentImage> => {
      const from = img.from;
      if (from.kind !== 'external') throw new Error('unreachable');
      const k = `${from.digest}\u0000${arch}`;
      let p = externals.get(k);
      if (!p) {
        p = (async () => {
          if (!(await store.hasBlob(from.digest))) {
            if (!options.fetchBase) throw new BuildError('BASE_MISSING', `image ${img.name}: base ${from.reference} is not in the store`, { hint: `copy it first: lading copy ${from.reference} oci:${store.path}:...` });
            await options.fetchBase(from.reference, from.digest, store, signal);
          }
          const doc = await store.getManifest(from.digest, signal ? { signal } : {});
          if (!doc) throw new BuildError('BASE_MISSING', `image ${img.name}: base ${from.reference} is not in the store`);
          let digest = doc.digest as string;
          if (doc.kind === 'index') {
            const want = ociPlatform(arch);
            const hit = doc.value.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === want.architecture && (want.variant === undefined || m.platform.variant === undefined || m.platform.variant === want.variant));
            if (!hit) throw new BuildError('BASE_MISSING', `image ${img.name}: base ${from.reference} has no linux/${want.architecture} image`);
            digest = hit.digest;
          }
          const s = await loadStored(store, digest, `base ${from.reference}`, signal);
          return { name: from.reference, manifest: s.manifest, config: s.config, image: `${img.name}@base` };
        })();
        externals.set(k, p);
      }
      return p;
    };

    const baseConfigOf = async (img: ImageConfig, arch: string): Promise<OciImageConfig['config'] | undefined> => {
      const root = [img, ...img.ancestors.map((a) => family.images[a] as ImageConfig)].pop() as ImageConfig;
      if (root.from.kind !== 'external') return undefined;
      return (await external(root, arch)).config.value.config;
    };

    const parentOf = async (step: PlanStep): Promise<ParentImage | 'failed' | 'skipped' | undefined> => {
      const img = family.images[step.image] as ImageConfig;
      if (img.from.kind === 'scratch') return undefined;
      if (img.from.kind === 'external') return external(img, step.arch);
      const parentName = img.from.name;
      const p = outcomes.get(key(parentName, step.arch));
      if (!p) throw new Error(`unreachable: parent ${parentName} of ${step.image} is not in the plan`);
      const o = await p;
      if (o.kind === 'failed' || o.kind === 'skipped') return o.kind;
      const name = storeName(parentName, tag);
      if (o.kind === 'built') return { name, manifest: o.built.manifest, config: o.built.config, image: parentName };
      const s = await loadStored(store, o.digest, `image ${parentName} (${step.arch})`, signal);
      return { name, manifest: s.manifest, config: s.config, image: parentName };
    };

    /** Records a failed image in the summary and tells the listener (`detail`: the event's text). */
    const fail = (step: PlanStep, code: string, reason: string, log: string, attempts: number, detail = reason): Outcome => {
      summary.failed.push({ image: step.image, arch: step.arch, code, reason, log, attempts });
      emit({ type: 'finished', image: step.image, arch: step.arch, outcome: 'failed', detail });
      return { kind: 'failed' };
    };

    const attempt = async (step: BuildStep, parent: ParentImage | undefined): Promise<Outcome> => {
      const img = family.images[step.image] as ImageConfig;
      const log = buildLogPath(store.path, family.project.name, step.image, step.arch);
      const retries = Math.max(0, options.retries ?? 1);
      let stageNow: string | undefined;
      for (let n = 1; ; n++) {
        // A queued image must not start once the run is stopped: it would fail at once and
        // replace the log of its last real build.
        if (signal?.aborted) throw new BuildError('ABORTED', `building family ${family.project.name}: aborted`, { cause: signal.reason });
        emit({ type: 'start', image: step.image, arch: step.arch, attempt: n });
        stageNow = undefined;
        try {
          const baseConfig = await baseConfigOf(img, step.arch);
          const imageOptions = {
            run: buildRun,
            step,
            ...(parent ? { parent } : {}),
            ...(baseConfig ? { baseConfig } : {}),
            logFile: log,
            attempt: n,
            onStage: (stage: StageName) => {
              stageNow = stage;
              emit({ type: 'stage', image: step.image, arch: step.arch, stage });
            },
          };
          // Only the config changed (same layer hash as a stored image): no filesystem work.
          const from = step.layersFrom && n === 1 ? await loadStored(store, step.layersFrom, `image ${step.image} (${step.arch})`, signal).catch(() => undefined) : undefined;
          const built = (from ? await reassembleImage({ ...imageOptions, from }) : undefined) ?? (await buildImage({ ...imageOptions, ...(from ? { appendLog: true } : {}) }));
          await writeBuildRecord({
            storePath: store.path,
            record: {
              recordVersion: RECORD_VERSION,
              family: family.project.name,
              image: step.image,
              arch: step.arch,
              inputHash: step.inputHash,
              digest: built.manifest.digest,
              ...(step.layerHash ? { layerHash: step.layerHash } : {}),
              ...(step.parent.kind === 'image' && parent ? { parentDigest: parent.manifest.digest } : {}),
              inputs: step.inputs,
              builtAt: clock.now().toISOString(),
              ...(Object.keys(img.volatile.labels).length || Object.keys(img.volatile.annotations).length ? { volatile: { labels: { ...img.volatile.labels }, annotations: { ...img.volatile.annotations } } } : {}),
            },
            ...(signal ? { signal } : {}),
          });
          summary.built.push({
            image: step.image,
            arch: step.arch,
            digest: built.manifest.digest,
            inputHash: step.inputHash,
            created: epochToRfc3339(built.epoch),
            layer: built.layer,
            packages: built.packages,
            durationMs: built.durationMs,
            stages: built.stages,
            attempts: n,
            reasons: step.reasons,
            ...(built.layersFrom ? { layersFrom: built.layersFrom } : {}),
            log,
          });
          for (const w of built.warnings) logger.warn(`${step.image} (${step.arch}): ${w}`);
          emit({ type: 'finished', image: step.image, arch: step.arch, outcome: 'built', detail: built.manifest.digest });
          return { kind: 'built', parent: parent as ParentImage, built };
        } catch (err) {
          if (signal?.aborted) throw err;
          // lading's own build errors name the image and step; others (a full disk, the store)
          // get the image and stage they happened in.
          const own = describeError(err);
          const reason = own.startsWith(`image ${step.image} (`) ? own : `image ${step.image} (${step.arch})${stageNow ? `, stage ${stageNow}` : ''}: ${own}`;
          if (n <= retries && isTransient(err)) {
            logger.warn(`${step.image} (${step.arch}): attempt ${n} failed (${reason}); retrying`);
            emit({ type: 'retry', image: step.image, arch: step.arch, attempt: n + 1, reason });
            continue;
          }
          const { code, bug } = failureCode(err);
          if (bug) logger.error(`${step.image} (${step.arch}): internal error`, { stack: (err as Error)?.stack });
          return fail(step, code, bug ? `internal error: ${reason}` : reason, log, n, reason);
        }
      }
    };

    const runOne = async (planStep: PlanStep): Promise<Outcome> => {
      let step = planStep;
      if (step.kind === 'build' && waitedForLock && !step.reasons.some((r) => r.code === 'forced')) {
        // Planned before another build into this store finished: it may have built this image.
        const done = await findReusable({ storePath: store.path, family: family.project.name, inputHash: step.inputHash, ...(signal ? { signal } : {}) });
        if (done) step = { kind: 'reuse', image: step.image, arch: step.arch, inputHash: step.inputHash, parent: step.parent, digest: done.digest, ...(step.layerHash ? { layerHash: step.layerHash } : {}) };
      }
      let parent: ParentImage | 'failed' | 'skipped' | undefined;
      try {
        parent = await parentOf(step);
      } catch (err) {
        if (signal?.aborted) throw err;
        const reason = describeError(err);
        if (step.kind === 'reuse') {
          // A reused image does not need its parent's files.
          parent = undefined;
        } else {
          return fail(step, failureCode(err).code, reason, '', 0);
        }
      }
      if (parent === 'failed' || parent === 'skipped') {
        const img = family.images[step.image] as ImageConfig;
        const pname = img.from.kind === 'image' ? img.from.name : '?';
        const reason = `parent ${pname} ${parent === 'failed' ? 'failed' : 'was skipped'}`;
        summary.skipped.push({ image: step.image, arch: step.arch, code: parent === 'failed' ? 'PARENT_FAILED' : 'PARENT_SKIPPED', reason });
        emit({ type: 'finished', image: step.image, arch: step.arch, outcome: 'skipped', detail: reason });
        return { kind: 'skipped' };
      }
      if (step.kind === 'reuse' && parent && step.parent.kind === 'image') {
        // The plan reuses by input hash; the stored image must also sit on the parent this run
        // has (a forced rebuild of a parent may give another digest, e.g. a step with network).
        const stored = await store.getManifest(step.digest, signal ? { signal } : {}).catch(() => undefined);
        const on = (stored?.value as Manifest | undefined)?.annotations?.['org.opencontainers.image.base.digest'];
        if (on !== undefined && on !== parent.manifest.digest) {
          const rebuild: BuildStep = {
            kind: 'build',
            image: step.image,
            arch: step.arch,
            inputHash: step.inputHash,
            parent: step.parent,
            reasons: [{ code: 'parent', message: `parent ${step.parent.name} is now ${parent.manifest.digest}; the stored image was built on ${on}` }],
            inputs: imageInputs({ family, lock: planned.lock, files: planned.files, image: step.image, arch: step.arch, parent: step.parent, lockFile: lockPath }),
            ...(step.layerHash ? { layerHash: step.layerHash } : {}),
          };
          return limit(() => attempt(rebuild, parent as ParentImage));
        }
      }
      if (step.kind === 'reuse') {
        await markReused({ storePath: store.path, family: family.project.name, image: step.image, arch: step.arch, inputHash: step.inputHash, ...(signal ? { signal } : {}) }).catch((err: unknown) =>
          logger.debug('could not mark the reused build record as the latest', { image: step.image, arch: step.arch, error: describeError(err) }),
        );
        summary.reused.push({ image: step.image, arch: step.arch, digest: step.digest });
        emit({ type: 'finished', image: step.image, arch: step.arch, outcome: 'reused', detail: step.digest });
        return { kind: 'reused', digest: step.digest };
      }
      const blocked = foreign.get(key(step.image, step.arch));
      if (blocked) return fail(step, 'FOREIGN_ARCH', blocked.message, '', 0);
      return limit(() => attempt(step, parent as ParentImage | undefined));
    };

    try {
      // Every image's .debs download in build order while earlier images build; an image that
      // starts waits only for its own (fetcher.ts). A lock error shows when that image builds.
      // An image needs the runtime when it has run steps or runs maintainer scripts (buildImage's rule).
      let needsRuntime = false;
      for (const s of toBuild) {
        // A change of config alone needs neither packages nor the runtime (unless it falls back).
        if (s.layersFrom || foreign.has(key(s.image, s.arch))) continue;
        const img = family.images[s.image] as ImageConfig;
        if (img.run.length > 0) needsRuntime = true;
        try {
          const added = addedPackages(planned.lock, family, s.image, s.arch, lockPath);
          packages.prefetch(added);
          if (runsMaintainerScripts(img, added.length)) needsRuntime = true;
        } catch {
          // reported by the image's own build
        }
      }
      // Probing runc/crun (a container run) overlaps the first image's unpack instead of
      // following it; a failure is reported by the image that needs the runtime.
      if (needsRuntime) buildRun.runtime().catch(() => undefined);
      for (const step of steps) outcomes.set(key(step.image, step.arch), runOne(step));
      // Wait for every image, also after a failure or an abort, so no build still uses the
      // work directory (and its mounts) when it is removed below.
      const settled = await Promise.allSettled(outcomes.values());
      if (signal?.aborted) throw new BuildError('ABORTED', `building family ${family.project.name}: aborted`, { cause: signal.reason });
      const broken = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (broken) throw broken.reason;
      await nameImages({ store, plan, allArchitectures: planned.allArchitectures, family, tag, outcomes, summary, logger, ...(signal ? { signal } : {}) });
      const current = new Map<string, string>();
      for (const [k, p] of outcomes) {
        const o = await p;
        if (o.kind === 'built') current.set(k, o.built.manifest.digest);
        else if (o.kind === 'reused') current.set(k, o.digest);
      }
      if (options.keepRootfs === false) for (const k of current.keys()) current.set(k, 'sha256:none');
      if (building || options.keepRootfs === false) await buildRun.rootfs.evict(family.project.name, current);
    } finally {
      await packages.close();
      await removeTree(workDir, logger).catch(() => undefined);
      // Every write of this run is inside run(): release the writer lease gc and verify look at.
      await store.close();
    }
  };

  if (!building && !leftovers) {
    // Nothing to build: no lock on the store's build area, no runtime, no overlay probe.
    await run();
  } else {
    await withFileLock(join(store.path, STATE_DIR, 'build', 'run.lock'), run, {
      timeoutMs: 24 * 3600_000,
      onWait: (holder) => {
        waitedForLock = true;
        logger.info(`waiting for another build into this store to finish (pid ${holder.pid ?? 'unknown'})`);
      },
      ...(signal ? { signal } : {}),
    });
  }
  const order = new Map(plan.selection.selected.map((n, i) => [n, i]));
  const byOrder = (a: { image: string; arch: string }, b: { image: string; arch: string }) => (order.get(a.image) ?? 0) - (order.get(b.image) ?? 0) || (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0);
  summary.built.sort(byOrder);
  summary.reused.sort(byOrder);
  summary.failed.sort(byOrder);
  summary.skipped.sort(byOrder);
  return { ...summary, durationMs: Math.round(performance.now() - started) };
}

/**
 * Names every complete image. A name stands for all of an image's architectures: with `--arch`
 * narrowing them, the others come from the store when it has them for the current inputs
 * (`allArchitectures`), else the name stays as it was.
 */
async function nameImages(o: {
  store: LayoutStore;
  plan: BuildPlan;
  allArchitectures: BuildPlan | undefined;
  family: PlannedFamily['loaded']['family'];
  tag: string;
  outcomes: ReadonlyMap<string, Promise<Outcome>>;
  summary: BuildSummary;
  logger: Logger;
  signal?: AbortSignal;
}): Promise<void> {
  const { store, plan, family, tag, outcomes, summary, signal } = o;
  const elsewhere = new Map((o.allArchitectures?.batches.flat() ?? []).map((s) => [`${s.image}\u0000${s.arch}`, s]));
  const current = new Map((await store.names(signal ? { signal } : {})).map((n) => [n.name, n.descriptor]));
  for (const image of plan.selection.selected) {
    const img = family.images[image] as ImageConfig;
    const archs = (o.allArchitectures ?? plan).architectures.filter((a) => img.architectures.includes(a));
    const per: Array<{ arch: string; descriptor: Descriptor; created?: string }> = [];
    const gone: string[] = []; // architectures that failed or were skipped in this run
    let complete = true;
    for (const arch of archs) {
      let out = await outcomes.get(`${image}\u0000${arch}`);
      if (!out && !plan.architectures.includes(arch)) {
        const other = elsewhere.get(`${image}\u0000${arch}`);
        if (other?.kind === 'reuse') out = { kind: 'reused', digest: other.digest };
        else {
          const name = storeName(image, tag);
          const now = current.has(name) ? `${name} keeps its name` : `${name} is not named`;
          o.logger.warn(`${now}: its ${arch} image is not in the store for the current inputs (build without --arch, or with --arch ${arch})`);
        }
      }
      if (!out || out.kind === 'failed' || out.kind === 'skipped') {
        complete = false;
        if (out) gone.push(`${arch} ${out.kind === 'failed' ? 'failed' : 'was skipped'}`);
        // Every architecture is looked at: the ones that did build are reported as unnamed.
        continue;
      }
      if (out.kind === 'built') per.push({ arch, descriptor: describe(out.built.manifest), created: epochToRfc3339(out.built.epoch) });
      else {
        const d = await store.resolve(out.digest, signal ? { signal } : {});
        if (!d) {
          complete = false;
          continue;
        }
        per.push({ arch, descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size } });
      }
    }
    const name = storeName(image, tag);
    if (gone.length > 0 && per.length > 0) {
      // A name stands for every architecture: built ones of an image that failed elsewhere stay
      // unnamed, which a summary listing them as built does not tell by itself.
      const kept = current.get(name)?.digest;
      summary.unnamed.push({ image, name, reason: `its ${gone.join(', ')}`, ...(kept ? { keeps: kept } : {}) });
    }
    if (!complete || per.length === 0) continue;
    let target: Descriptor;
    if (per.length === 1) {
      target = (per[0] as (typeof per)[number]).descriptor;
    } else {
      const meta = imageMetadata(family, img);
      // The newest `created` of all architectures, built now or reused, so the index is the same
      // whichever of them this run built.
      let created: string | undefined;
      for (const p of per) {
        let c = p.created;
        if (c === undefined) {
          const doc = await store.getManifest(p.descriptor.digest, signal ? { signal } : {});
          const m = doc?.value as Manifest | undefined;
          if (m?.config) c = parseImageConfig(await store.readBlob(m.config, signal ? { signal } : {})).value.created;
        }
        if (c !== undefined && (created === undefined || c > created)) created = c;
      }
      const index = assembleIndex({
        manifests: per.map((p) => ({ descriptor: p.descriptor, platform: ociPlatform(p.arch) })),
        annotations: { ...meta.annotations, ...(created ? { 'org.opencontainers.image.created': created } : {}), ...img.volatile.annotations },
      });
      const existing = current.get(name);
      if (existing?.digest !== index.digest) await store.putManifest(index, signal ? { signal } : {});
      target = describe(index);
    }
    const existing = current.get(name);
    const changed = existing?.digest !== target.digest;
    if (changed) await store.setName(name, target, signal ? { signal } : {});
    summary.names.push({ image, name, digest: target.digest, mediaType: target.mediaType, changed });
  }
}
