import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, basename, isAbsolute, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createWriteStream } from 'node:fs';
import { sleep, throwIfAborted } from './abort.js';
import { BaseError, errnoCode } from './errors.js';
import { isProcessAlive, processStartTime } from './process.js';

/**
 * True when `path` is `dir` or lies below it. Both absolute; lexical only, so resolve symlinks
 * first where a link could lead out. (`dir/..x` is below `dir`; `/` holds everything.)
 */
export function isWithin(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** A temp path next to `path`, so the final rename stays on one filesystem. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

async function fsyncPath(path: string, flags = constants.O_RDONLY): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a directory entry to disk (after a rename inside it). Ignored where unsupported. */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch (err) {
    if (errnoCode(err) !== 'EISDIR' && errnoCode(err) !== 'EINVAL' && errnoCode(err) !== 'EPERM') throw err;
  }
}

export interface AtomicWriteOptions {
  /** File mode of the result. Default 0o644. */
  mode?: number;
  /** fsync file and directory (default true). Tests of crash safety rely on it. */
  fsync?: boolean;
  /** Create missing parent directories (default true); false for a path the user named. */
  createParents?: boolean;
  signal?: AbortSignal;
}

/**
 * Writes a file so that readers see either the old or the new content, never a mix:
 * temp file in the same directory, fsync, rename, fsync of the directory.
 */
export async function atomicWriteFile(path: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  throwIfAborted(options.signal, `writing ${path}`);
  if (options.createParents !== false) await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      if (options.fsync !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    throwIfAborted(options.signal, `writing ${path}`);
    await rename(tmp, path);
    if (options.fsync !== false) await fsyncDir(dirname(path));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Like atomicWriteFile, from a stream; `onTemp` may inspect the temp file before it is renamed (to verify a digest). */
export async function atomicWriteStream(
  path: string,
  source: Readable,
  options: AtomicWriteOptions & { beforeRename?: (tmpPath: string) => Promise<void> } = {},
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    await pipeline(source, createWriteStream(tmp, { flags: 'wx', mode: options.mode ?? 0o644 }), { signal: options.signal });
    if (options.fsync !== false) await fsyncPath(tmp, constants.O_RDWR);
    await options.beforeRename?.(tmp);
    await rename(tmp, path);
    if (options.fsync !== false) await fsyncDir(dirname(path));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** True if the path exists (any type). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw err;
  }
}

export type LockErrorCode = 'LOCK_TIMEOUT';
export class LockError extends BaseError<LockErrorCode> {}

export interface FileLockOptions {
  signal?: AbortSignal;
  /** Give up after this long. Default 10 minutes. */
  timeoutMs?: number;
  /** Poll interval while waiting. Default 50 ms. */
  pollMs?: number;
  /** Called once when the lock is held by someone else and this call starts waiting. */
  onWait?: (holder: { pid: number | undefined }) => void;
}

// A lock file is written in one small write right after it is created: one that still does not
// parse after this long was left by a writer that failed (a full disk) or died in between.
const UNREADABLE_LOCK_MS = 5_000;

interface LockOwner {
  pid: number;
  /** processStartTime of the owner: its pid may name another process later (or be ours). */
  start?: string;
  host: string;
  token: string;
}

function ownerIsGone(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  return !isProcessAlive(owner.pid, typeof owner.start === 'string' ? owner.start : undefined);
}

/** Creates the lock file holding `content`; false when it exists. A failed write removes the file it created. */
async function createLockFile(lockPath: string, content: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(lockPath, 'wx');
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(content);
    await handle.close();
    return true;
  } catch (err) {
    // Ours and empty or partial (a full disk): left behind, it would stop every later holder.
    await handle.close().catch(() => undefined);
    await unlink(lockPath).catch(() => undefined);
    throw err;
  }
}

async function lockAgeMs(lockPath: string): Promise<number> {
  try {
    return Date.now() - (await stat(lockPath)).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Runs `fn` holding an exclusive lock file (O_EXCL create). A lock left by a process that died
 * (same host, pid gone, e.g. after SIGKILL) is taken over, and so is one that has not parsed for
 * a few seconds (its writer failed between creating and writing it); a live owner is waited for.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const token = randomBytes(8).toString('hex');
  const start = processStartTime();
  const me: LockOwner = { pid: process.pid, ...(start !== undefined ? { start } : {}), host: hostname(), token };
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  await mkdir(dirname(lockPath), { recursive: true });
  let waiting = false;
  for (;;) {
    throwIfAborted(options.signal, `waiting for lock ${lockPath}`);
    if (await createLockFile(lockPath, JSON.stringify(me))) break;
    let text: string | undefined;
    let owner: LockOwner | undefined;
    try {
      text = await readFile(lockPath, 'utf8');
      owner = JSON.parse(text) as LockOwner;
    } catch {
      owner = undefined; // being written or removed right now; look again
    }
    const unreadable = owner === undefined && text !== undefined && (await lockAgeMs(lockPath)) > UNREADABLE_LOCK_MS;
    if ((owner && ownerIsGone(owner)) || unreadable) {
      // Take over by renaming the stale file away first, so two waiters cannot both remove a fresh lock.
      const stale = `${lockPath}.stale-${token}`;
      try {
        await rename(lockPath, stale);
        const again = await readFile(stale, 'utf8');
        // An unreadable lock must still be the old one: a fresh, not yet written lock is new.
        if (again === text && (!unreadable || (await lockAgeMs(stale)) > UNREADABLE_LOCK_MS)) {
          await unlink(stale);
        } else {
          // Someone else's fresh lock: put it back unless a newer one appeared meanwhile.
          await link(stale, lockPath).catch(() => undefined);
          await unlink(stale);
        }
      } catch {
        // lost the race; retry
      }
      continue;
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.({ pid: owner?.pid });
    }
    if (Date.now() > deadline) {
      throw new LockError('LOCK_TIMEOUT', `waiting for lock ${lockPath}: still held by pid ${owner?.pid ?? '?'} after ${options.timeoutMs ?? 600_000} ms`);
    }
    await sleep(options.pollMs ?? 50, options.signal).catch(() => throwIfAborted(options.signal, `waiting for lock ${lockPath}`));
  }
  try {
    return await fn();
  } finally {
    try {
      const cur = JSON.parse(await readFile(lockPath, 'utf8')) as LockOwner;
      if (cur.token === token) await unlink(lockPath);
    } catch {
      // already gone
    }
  }
}
