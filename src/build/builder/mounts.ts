// overlayfs mounts for child images: lowerdir = the parent's layers (as directories), upperdir =
// a fresh directory that collects exactly what the child changes (deletions as 0:0 character
// devices, replaced directories with trusted.overlay.opaque), workdir beside it on the same file
// system (https://docs.kernel.org/filesystems/overlayfs.html). Needs root (CAP_SYS_ADMIN).
import { mkdir, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describeError, processTag, sleep, type Logger } from '../../core/index.js';
import { BuildError } from '../errors.js';
import { execProgram } from './exec.js';

/** The three directories of one overlay and where it is mounted. */
export interface OverlayDirs {
  /** Directories, topmost first (overlayfs lowerdir order). */
  readonly lower: readonly string[];
  readonly upper: string;
  readonly work: string;
  readonly merged: string;
}

// Features that would make the upper directory depend on the lower one (metadata-only copy-ups,
// redirects to lower paths, inode indexes): off, so the upper directory is a complete layer.
const OPTIONS = 'redirect_dir=off,index=off,metacopy=off,xino=off';

/** Mounts an overlay. ROOTFS_FAILED with mount's message when the kernel refuses. */
export async function mountOverlay(dirs: OverlayDirs, signal?: AbortSignal): Promise<void> {
  await mkdir(dirs.upper, { recursive: true });
  await mkdir(dirs.work, { recursive: true });
  await mkdir(dirs.merged, { recursive: true });
  const data = `lowerdir=${dirs.lower.join(':')},upperdir=${dirs.upper},workdir=${dirs.work},${OPTIONS}`;
  for (const d of [...dirs.lower, dirs.upper, dirs.work]) {
    if (/[,:\\]/.test(d)) throw new BuildError('ROOTFS_FAILED', `mounting an overlay: the path ${d} contains a character overlayfs options cannot carry (, : or \\)`);
  }
  await execProgram('mount', ['-t', 'overlay', 'overlay', '-o', data, dirs.merged], { what: `mounting the overlay at ${dirs.merged}`, ...(signal ? { signal } : {}) });
}

/**
 * Unmounts, retrying while busy (a container may still be going away), then detaching lazily.
 * Never throws for "not mounted".
 */
export async function unmount(path: string, logger?: Logger): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await execProgram('umount', [path], { what: `unmounting ${path}`, allowFailure: true });
    if (r.code === 0 || /not mounted|no mount point|not found/i.test(r.stderr)) return;
    await sleep(100 * (attempt + 1));
  }
  const lazy = await execProgram('umount', ['-l', path], { what: `unmounting ${path}`, allowFailure: true });
  if (lazy.code !== 0 && !/not mounted|no mount point|not found/i.test(lazy.stderr)) {
    throw new BuildError('ROOTFS_FAILED', `unmounting ${path}: ${lazy.stderr.trim()}`);
  }
  logger?.warn(`${path} was busy; detached it lazily`);
}

/** Mount points at or below `dir` (from /proc/self/mountinfo), deepest first. */
export async function mountsBelow(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    const path = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Unmounts everything below `dir`, then removes it. Used for cleanup after failures and crashes. */
export async function removeTree(dir: string, logger?: Logger): Promise<void> {
  for (const m of await mountsBelow(dir)) {
    try {
      await unmount(m, logger);
    } catch (err) {
      logger?.warn(`could not unmount ${m}: ${describeError(err)}`);
    }
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Whether overlayfs works for directories under `workRoot` (root, the overlay module, an upper
 * file system with trusted xattrs and whiteouts). Resolves to undefined when it works, else the
 * reason. One mount and unmount: callers probe once per family build.
 */
export async function probeOverlay(workRoot: string): Promise<string | undefined> {
  // Named like a work directory (processTag): a killed probe's leftovers are found by the next build.
  const dir = join(workRoot, `${processTag()}-overlay-probe-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(join(dir, 'lower'), { recursive: true });
    await mountOverlay({ lower: [join(dir, 'lower')], upper: join(dir, 'upper'), work: join(dir, 'work'), merged: join(dir, 'merged') });
    await unmount(join(dir, 'merged'));
    return undefined;
  } catch (err) {
    return describeError(err);
  } finally {
    await removeTree(dir).catch(() => undefined);
  }
}
