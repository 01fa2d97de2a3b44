// Files from the build context, directories and symlinks of the config, placed in the image's
// root with chroot path semantics. Owners given by name resolve in the image's own /etc/passwd
// and /etc/group; every placed entry gets the image's epoch as mtime, so the context's
// timestamps never reach the image.
import { chmodSync, chownSync, copyFileSync, lchownSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { digestOf, isWithin } from '../../core/index.js';
import { BuildError } from '../errors.js';
import type { ContextDigests } from '../config/context.js';
import type { DirectorySpec, FileSpec, IdRef, SymlinkSpec } from '../config/types.js';
import { lookupId } from './accounts.js';
import { resolveInRoot } from './paths.js';

/** Options of placeFiles(). */
export interface PlaceFilesOptions {
  readonly root: string;
  readonly image: string;
  readonly contextDir: string;
  /** Digests the plan used: a single file that changed since is refused. */
  readonly digests: ContextDigests;
  readonly files: readonly FileSpec[];
  readonly directories: readonly DirectorySpec[];
  readonly symlinks: readonly SymlinkSpec[];
  readonly epoch: number;
}

function owner(root: string, image: string, what: string, o: { user: IdRef; group: IdRef }): { uid: number; gid: number } {
  const uid = lookupId(root, 'user', o.user);
  const gid = lookupId(root, 'group', o.group);
  if (uid === undefined) throw new BuildError('FILE_FAILED', `image ${image}: ${what}: user ${JSON.stringify(o.user)} does not exist in the image`, { hint: 'add it under users:, or give a numeric uid' });
  if (gid === undefined) throw new BuildError('FILE_FAILED', `image ${image}: ${what}: group ${JSON.stringify(o.group)} does not exist in the image`, { hint: 'add it under groups:, or give a numeric gid' });
  return { uid, gid };
}

function ensureParent(root: string, dest: string): string {
  const target = resolveInRoot(root, dest);
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  return target;
}

function clearFor(target: string, what: string, allowDir: boolean): void {
  let st;
  try {
    st = lstatSync(target);
  } catch {
    return;
  }
  if (st.isDirectory()) {
    if (allowDir) return;
    throw new BuildError('FILE_FAILED', `${what}: a directory is already there`);
  }
  rmSync(target, { force: true });
}

function copyTree(src: string, dest: string, ids: { uid: number; gid: number }, epoch: number): void {
  const st = lstatSync(src);
  if (st.isSymbolicLink()) {
    clearFor(dest, `copying ${src}`, false);
    symlinkSync(readlinkSync(src), dest);
    lchownSync(dest, ids.uid, ids.gid);
    lutimesSync(dest, epoch, epoch);
  } else if (st.isDirectory()) {
    clearFor(dest, `copying ${src}`, true);
    mkdirSync(dest, { recursive: true, mode: 0o755 });
    for (const name of readdirSync(src).sort()) copyTree(join(src, name), join(dest, name), ids, epoch);
    chownSync(dest, ids.uid, ids.gid);
    chmodSync(dest, 0o755);
    utimesSync(dest, epoch, epoch);
  } else if (st.isFile()) {
    clearFor(dest, `copying ${src}`, false);
    copyFileSync(src, dest);
    chownSync(dest, ids.uid, ids.gid);
    chmodSync(dest, st.mode & 0o100 ? 0o755 : 0o644);
    utimesSync(dest, epoch, epoch);
  }
}

/**
 * A `files` source with its symlinks followed (as a Dockerfile COPY follows its source, and as
 * the plan hashed it); the result must still be inside the build context.
 */
function inContext(contextDir: string, rel: string, what: string): string {
  const root = realpathSync(contextDir);
  const real = realpathSync(join(contextDir, rel));
  if (!isWithin(root, real)) throw new BuildError('FILE_FAILED', `${what}: ${rel} leads outside the build context (to ${real})`);
  return real;
}

/** Places directories, then files, then symlinks (each sorted by destination). */
export function placeFiles(options: PlaceFilesOptions): void {
  const { root, image, epoch } = options;
  for (const d of options.directories) {
    const what = `image ${image}: directory ${d.path}`;
    const ids = owner(root, image, what, d.owner);
    const target = resolveInRoot(root, d.path, { followLast: true });
    try {
      mkdirSync(target, { recursive: true, mode: 0o755 });
      if (!lstatSync(target).isDirectory()) throw new Error('a file is already there');
      chownSync(target, ids.uid, ids.gid);
      chmodSync(target, d.mode);
      utimesSync(target, epoch, epoch);
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw new BuildError('FILE_FAILED', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }
  for (const f of options.files) {
    const what = `image ${image}: file ${f.src} -> ${f.dest}`;
    const ids = owner(root, image, what, f.owner);
    const planned = options.digests[f.src];
    try {
      const src = inContext(options.contextDir, f.src, what);
      const st = statSync(src);
      const target = ensureParent(root, f.dest);
      if (st.isFile()) {
        const data = readFileSync(src);
        if (planned && planned.kind === 'file' && digestOf(data) !== planned.digest) {
          throw new BuildError('FILE_FAILED', `${what}: the file changed after the build was planned`, { hint: 'run the build again' });
        }
        clearFor(target, what, false);
        copyFileSync(src, target);
        // chown clears setuid/setgid (chown(2)): the mode goes last.
        chownSync(target, ids.uid, ids.gid);
        chmodSync(target, f.mode ?? (st.mode & 0o100 ? 0o755 : 0o644));
        utimesSync(target, epoch, epoch);
      } else if (st.isDirectory()) {
        copyTree(src, target, ids, epoch);
      } else throw new BuildError('FILE_FAILED', `${what}: not a file or directory`);
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw new BuildError('FILE_FAILED', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }
  for (const s of options.symlinks) {
    const what = `image ${image}: symlink ${s.path} -> ${s.target}`;
    try {
      const target = ensureParent(root, s.path);
      clearFor(target, what, false);
      symlinkSync(s.target, target);
      lutimesSync(target, epoch, epoch);
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw new BuildError('FILE_FAILED', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }
}
