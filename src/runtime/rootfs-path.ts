import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { errnoCode } from '../core/index.js';
import { RuntimeError } from './errors.js';

/** Where a path inside a rootfs leads once its symlinks are followed the way the container sees them. */
export interface RootfsPathResolution {
  /** Absolute container path after following symlinks (never above `/`). */
  path: string;
  /** Components of `path` that do not exist yet, from the first missing one to the end ([] when all exist). */
  missing: string[];
  /** The prefix of `path` found in `stopAt`, when the walk reached one (then `missing` is empty). */
  coveredBy?: string;
}

const MAX_LINKS = 40; // the kernel's own limit (ELOOP after 40 symlinks)

/**
 * Resolves `path` inside `rootfs` like the kernel would after chroot(rootfs): absolute symlinks
 * restart at the rootfs, `..` never climbs above it. Nothing on the host outside `rootfs` is read,
 * so a hostile symlink cannot make lading touch host files. The walk stops early at any prefix in
 * `stopAt` (the destinations of earlier mounts: what lies below them is not the rootfs's).
 */
export async function resolveInRootfs(rootfs: string, path: string, stopAt: ReadonlySet<string> = new Set()): Promise<RootfsPathResolution> {
  if (!path.startsWith('/')) throw new RuntimeError('INVALID_OPTIONS', `resolving ${path} in ${rootfs}: container paths must be absolute`);
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '..') {
      done.pop();
      continue;
    }
    const containerPath = `/${[...done, name].join('/')}`;
    if (stopAt.has(containerPath)) return { path: posix.join(containerPath, ...pending), missing: [], coveredBy: containerPath };
    let st;
    try {
      st = await lstat(posix.join(rootfs, containerPath));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') {
        if (pending.includes('..')) throw new RuntimeError('INVALID_OPTIONS', `resolving ${path} in ${rootfs}: '..' below the missing ${containerPath}`);
        return { path: posix.join(containerPath, ...pending), missing: [name, ...pending] };
      }
      if (code === 'ENOTDIR') throw new RuntimeError('ROOTFS_INVALID', `resolving ${path} in ${rootfs}: /${done.join('/')} is not a directory`);
      throw new RuntimeError('ROOTFS_INVALID', `resolving ${path} in ${rootfs}: ${(err as Error).message}`, { cause: err });
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new RuntimeError('ROOTFS_INVALID', `resolving ${path} in ${rootfs}: too many symbolic links`);
      const target = await readlink(posix.join(rootfs, containerPath));
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    if (pending.length > 0 && !st.isDirectory()) {
      throw new RuntimeError('ROOTFS_INVALID', `resolving ${path} in ${rootfs}: ${containerPath} is not a directory`);
    }
    done.push(name);
  }
  return { path: `/${done.join('/')}`, missing: [] };
}
