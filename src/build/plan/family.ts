// The I/O around the pure planner: read lading.yaml (+ overrides), lading.lock, the build
// context and the store's build records, then plan. One call per CLI command.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { BuildError } from '../errors.js';
import { hashContext, type ContextDigests } from '../config/context.js';
import { loadFamily, type LoadedFamily } from '../config/load.js';
import type { Problem } from '../config/problems.js';
import { describeFamily, type FamilySummary, type Selection } from '../config/select.js';
import type { DebianArch, FamilyConfig } from '../config/types.js';
import { atomicWriteFile, describeError, errnoCode, fsReason, throwIfAborted, type Logger } from '../../core/index.js';
import { lockFamily } from '../lock/family.js';
import { checkLock, parseFamilyLock, serializeFamilyLock } from '../lock/lock.js';
import type { FamilyLock } from '../lock/schema.js';
import { planBuild } from './plan.js';
import { readBuildRecords } from './records.js';
import type { BuildPlan } from './schema.js';

/** Where a family lives: config, overrides, context, lock. */
export interface FamilyFiles {
  /** lading.yaml (default ./lading.yaml). */
  readonly configPath?: string;
  readonly overrides?: readonly string[];
  /** Default: the directory of lading.yaml. */
  readonly contextDir?: string;
  /** Default: lading.lock next to lading.yaml. */
  readonly lockPath?: string;
  readonly cwd?: string;
  readonly hostArchitecture?: DebianArch;
  readonly signal?: AbortSignal;
}

/** Options of planFamily(). */
export interface PlanFamilyOptions extends FamilyFiles {
  /** The OCI layout store whose build records decide what is reused. */
  readonly storePath: string;
  readonly selection?: Selection;
  readonly architectures?: readonly DebianArch[];
  readonly force?: boolean | readonly string[];
  /** Warnings about the store's build records go here. */
  readonly logger?: Logger;
}

/** What planFamily() returns. */
export interface PlannedFamily {
  readonly plan: BuildPlan;
  readonly loaded: LoadedFamily;
  readonly lock: FamilyLock;
  /** lading.lock as messages name it. */
  readonly lockFile: string;
  /** Digests of the build-context files the plan used (the builder checks what it copies against them). */
  readonly files: ContextDigests;
  /** Config warnings (the config had no errors). */
  readonly warnings: readonly Problem[];
  /**
   * With `architectures` narrowing the family's: the plan over every architecture (not forced),
   * so that names, which stand for all of an image's architectures, can take the others when
   * the store has them up to date.
   */
  readonly allArchitectures?: BuildPlan;
}

/** The lock file path for a config path (lading.lock beside it). */
export function defaultLockPath(configPath: string): string {
  return resolve(dirname(configPath), 'lading.lock');
}

/** The text of a lock file, undefined when there is none; any other read failure is LOCK_INVALID. */
async function readLockText(path: string, display: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return await readFile(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  } catch (err) {
    throwIfAborted(signal, `reading ${display}`);
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new BuildError('LOCK_INVALID', `reading ${display}: ${fsReason(err)}`);
  }
}

/** Reads and parses lading.lock; LOCK_MISSING with a hint when there is none. */
export async function readFamilyLock(path: string, display = path, signal?: AbortSignal): Promise<FamilyLock> {
  const text = await readLockText(path, display, signal);
  if (text === undefined) throw new BuildError('LOCK_MISSING', `${display}: no lock file`, { hint: 'run `lading lock` with the same -f, -o and --lock options to resolve the packages and write it' });
  return parseFamilyLock(text, display);
}

/**
 * Loads the family, its lock, the build-context digests and the store's build records, and
 * returns the build plan (`lading plan`). Nothing is written.
 */
export async function planFamily(options: PlanFamilyOptions): Promise<PlannedFamily> {
  const cwd = options.cwd ?? process.cwd();
  const configPath = options.configPath ?? 'lading.yaml';
  const loaded = await loadFamily({
    configPath,
    cwd,
    ...(options.overrides ? { overrides: options.overrides } : {}),
    ...(options.contextDir ? { contextDir: options.contextDir } : {}),
    ...(options.hostArchitecture ? { hostArchitecture: options.hostArchitecture } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const lockPath = options.lockPath ? resolve(cwd, options.lockPath) : defaultLockPath(loaded.configPath);
  const lockDisplay = options.lockPath ?? (configPath.includes('/') ? `${dirname(configPath)}/lading.lock` : 'lading.lock');
  const lock = await readFamilyLock(lockPath, lockDisplay, options.signal);
  const files = await hashContext({
    contextDir: loaded.contextDir,
    family: loaded.family,
    exclude: [{ path: options.storePath, what: 'store' }],
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const store = await readBuildRecords({ storePath: options.storePath, family: loaded.family.project.name, ...(options.signal ? { signal: options.signal } : {}), ...(options.logger ? { logger: options.logger } : {}) });
  const base = { family: loaded.family, lock, files, store, lockFile: lockDisplay, ...(options.selection ? { selection: options.selection } : {}) };
  const plan = planBuild({
    ...base,
    ...(options.architectures ? { architectures: options.architectures } : {}),
    ...(options.force !== undefined ? { force: options.force } : {}),
  });
  const narrowed = plan.architectures.length < loaded.family.architectures.length;
  return { plan, loaded, lock, lockFile: lockDisplay, files, warnings: loaded.warnings, ...(narrowed ? { allArchitectures: planBuild(base) } : {}) };
}

/** Loads the family and describes it (`lading images`). */
export async function listFamily(options: FamilyFiles): Promise<FamilySummary & { warnings: readonly Problem[] }> {
  const loaded = await loadFamily({
    configPath: options.configPath ?? 'lading.yaml',
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.overrides ? { overrides: options.overrides } : {}),
    ...(options.contextDir ? { contextDir: options.contextDir } : {}),
    ...(options.hostArchitecture ? { hostArchitecture: options.hostArchitecture } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { ...describeFamily(loaded.family), warnings: loaded.warnings };
}

/** Options of lockFamilyFiles(). */
export interface LockFamilyFilesOptions extends FamilyFiles {
  /** apt cache directory (the CLI's --cache). */
  readonly cacheDir: string;
  readonly offline?: boolean;
  readonly onUnreachable?: 'skip' | 'fail';
  /** Root of the machine's apt configuration (default "/"). */
  readonly root?: string;
  readonly fetch?: typeof fetch;
  readonly logger?: Logger;
}

/** What lockFamilyFiles() did. */
export interface LockFamilyFilesResult {
  readonly lock: FamilyLock;
  readonly family: FamilyConfig;
  /** Absolute path of lading.lock. */
  readonly lockPath: string;
  /** False when the file already had exactly these bytes. */
  readonly written: boolean;
  /** How the previous lock differed from the config ([] when fresh or absent). */
  readonly previousReasons: readonly string[];
  readonly warnings: readonly string[];
  readonly configWarnings: readonly Problem[];
}

/**
 * `lading lock`: loads the family, resolves every image on every architecture against the
 * verified sources, and writes lading.lock (atomically, only when its bytes change).
 */
export async function lockFamilyFiles(options: LockFamilyFilesOptions): Promise<LockFamilyFilesResult> {
  const cwd = options.cwd ?? process.cwd();
  const configPath = options.configPath ?? 'lading.yaml';
  const loaded = await loadFamily({
    configPath,
    cwd,
    ...(options.overrides ? { overrides: options.overrides } : {}),
    ...(options.contextDir ? { contextDir: options.contextDir } : {}),
    ...(options.hostArchitecture ? { hostArchitecture: options.hostArchitecture } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const lockPath = options.lockPath ? resolve(cwd, options.lockPath) : defaultLockPath(loaded.configPath);
  let previousReasons: readonly string[] = [];
  const lockDisplay = options.lockPath ?? lockPath;
  // Absent: it is written. Unreadable (a directory, no permission): fail now, not after resolving.
  const previousText = await readLockText(lockPath, lockDisplay, options.signal);
  const replaced: string[] = [];
  if (previousText !== undefined) {
    try {
      previousReasons = checkLock(loaded.family, parseFamilyLock(previousText, lockPath)).reasons;
    } catch (err) {
      // Not a lock lading can read: it is replaced, and said so (it may hold hand-made pins).
      const reason = describeError(err);
      replaced.push(`${lockDisplay} is not a lock lading can read (${reason.startsWith(`${lockPath}: `) ? reason.slice(lockPath.length + 2) : reason}): it is replaced by a new one`);
    }
  }
  const { lock, warnings } = await lockFamily({
    family: loaded.family,
    packageOrigins: loaded.packageOrigins,
    cacheDir: options.cacheDir,
    ...(options.offline !== undefined ? { offline: options.offline } : {}),
    ...(options.onUnreachable ? { onUnreachable: options.onUnreachable } : {}),
    ...(options.root ? { root: options.root } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = serializeFamilyLock(lock);
  const written = text !== previousText;
  if (written) {
    try {
      // `--lock /typo/x.lock` must not create /typo: the directory is the user's to make.
      await atomicWriteFile(lockPath, text, { createParents: false, ...(options.signal ? { signal: options.signal } : {}) });
    } catch (err) {
      throwIfAborted(options.signal, `writing ${lockDisplay}`);
      throw new BuildError('LOCK_INVALID', `writing ${lockDisplay}: ${fsReason(err)}`);
    }
  }
  return { lock, family: loaded.family, lockPath, written, previousReasons, warnings: [...replaced, ...warnings], configWarnings: loaded.warnings };
}
