// Keeping the rootfs free of runtime leftovers. A runtime creates every missing mount point (and
// the cwd) inside the rootfs and never removes them; a build step's layer would then contain
// /proc, /sys, /etc/resolv.conf... that the step never made. lading creates the missing ones
// itself, remembers exactly what it made, and removes it after the container is deleted,
// restoring the parent directory's mtime when the command did not touch that directory.
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, rmdir, unlink, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import { errnoCode } from '../core/index.js';
import { RuntimeError } from './errors.js';
import { resolveInRootfs } from './rootfs-path.js';

const execFileP = promisify(execFile);

/** A path the runtime needs to exist in the rootfs before the container starts. */
export interface MountPointRequest {
  /** Container path, as given to the runtime. */
  destination: string;
  /** What to create when missing: a directory, or an empty file (for file bind mounts). */
  kind: 'dir' | 'file';
  /**
   * Mode of the directory when lading creates it (default 0o755). runc gives a tmpfs the mode of
   * its mount point, so a created /tmp must already be 1777.
   */
  mode?: number;
}

interface Created {
  hostPath: string;
  kind: 'dir' | 'file';
}

interface Parent {
  hostPath: string;
  /** mtime before lading created anything in it. */
  mtimeBefore: bigint;
  /** mtime right after lading's creations: if it is still this afterwards, the command did not change the directory. */
  mtimeAfterCreate?: bigint;
}

/** What prepareMountPoints made, so that removeMountPoints can undo exactly that. */
export interface PreparedMountPoints {
  created: Created[];
  parents: Parent[];
}

/**
 * Creates the missing mount points (and the cwd) of a container in `rootfs`, in mount order,
 * adding them to `prepared`. Paths are resolved inside the rootfs (symlinks followed as the
 * container sees them); a path below an earlier mount (e.g. /run/foo under the /run tmpfs) is
 * left to the runtime, since it lands in that mount, not in the rootfs.
 */
export async function prepareMountPoints(rootfs: string, requests: readonly MountPointRequest[], prepared: PreparedMountPoints = { created: [], parents: [] }): Promise<PreparedMountPoints> {
  const mounted = new Set<string>();
  const createdPaths = new Set(prepared.created.map((c) => c.hostPath));
  const touchedParents = new Set<Parent>();
  const firstCreated = prepared.created.length;
  const firstParent = prepared.parents.length;
  try {
    for (const req of requests) {
      const res = await resolveInRootfs(rootfs, req.destination, mounted);
      mounted.add(res.path);
      if (res.coveredBy !== undefined || res.missing.length === 0) continue;
      const existing = posix.join('/', ...res.path.split('/').filter(Boolean).slice(0, -res.missing.length));
      const parentHost = posix.join(rootfs, existing);
      if (!createdPaths.has(parentHost)) {
        let parent = prepared.parents.find((p) => p.hostPath === parentHost);
        if (!parent) {
          parent = { hostPath: parentHost, mtimeBefore: (await lstat(parentHost, { bigint: true })).mtimeNs };
          prepared.parents.push(parent);
        }
        touchedParents.add(parent);
      }
      let cur = existing;
      for (const [i, name] of res.missing.entries()) {
        cur = posix.join(cur, name);
        const hostPath = posix.join(rootfs, cur);
        const last = i === res.missing.length - 1;
        const kind = last ? req.kind : 'dir';
        if (kind === 'dir') await mkdir(hostPath);
        else await writeFile(hostPath, '', { flag: 'wx' });
        prepared.created.push({ hostPath, kind });
        // Exact modes whatever the umask (a 0700 /etc would hide a bind-mounted /etc/hosts from users).
        await chmod(hostPath, kind === 'file' ? 0o644 : last && req.mode !== undefined ? req.mode : 0o755);
        createdPaths.add(hostPath);
      }
    }
    for (const p of touchedParents) p.mtimeAfterCreate = (await lstat(p.hostPath, { bigint: true })).mtimeNs;
  } catch (err) {
    // Undo only this call's work: earlier entries may belong to containers still running.
    await removeMountPoints({ created: prepared.created.splice(firstCreated), parents: prepared.parents.splice(firstParent) });
    if (err instanceof RuntimeError) throw err;
    throw new RuntimeError('ROOTFS_INVALID', `preparing mount points in ${rootfs}: ${(err as Error).message}`, { cause: err });
  }
  return prepared;
}

interface RootfsState {
  users: number;
  prepared: PreparedMountPoints;
  /** Serialises prepare/remove steps on one rootfs. */
  queue: Promise<unknown>;
}
const rootfsStates = new Map<string, RootfsState>();

function serialise<T>(state: RootfsState, fn: () => Promise<T>): Promise<T> {
  const next = state.queue.then(fn, fn);
  state.queue = next.catch(() => undefined);
  return next;
}

/** Mount points held for one container run; release() once the container is deleted. */
export interface MountPointLease {
  release(): Promise<void>;
}

/**
 * prepareMountPoints shared between concurrent runs in this process on the same rootfs: what one
 * run created stays until the last run on that rootfs releases its lease (removing a directory
 * that another container still has mounted would detach that mount).
 * NOTE: two processes running containers in one rootfs at once are not coordinated.
 */
export async function acquireMountPoints(rootfs: string, requests: readonly MountPointRequest[]): Promise<MountPointLease> {
  const key = posix.resolve(rootfs);
  let state = rootfsStates.get(key);
  if (!state) {
    state = { users: 0, prepared: { created: [], parents: [] }, queue: Promise.resolve() };
    rootfsStates.set(key, state);
  }
  const st = state;
  st.users += 1;
  const release = () =>
    serialise(st, async () => {
      st.users -= 1;
      if (st.users > 0) return;
      rootfsStates.delete(key);
      await removeMountPoints(st.prepared);
    });
  try {
    await serialise(st, () => prepareMountPoints(key, requests, st.prepared));
  } catch (err) {
    await release();
    throw err;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await release();
    },
  };
}

/**
 * Removes what prepareMountPoints created, deepest first: directories only while empty, files only
 * while still empty regular files, so anything the command wrote stays. Then puts back the mtime of
 * each parent directory the command left alone (nanosecond-exact, through touch(1), because
 * fs.utimes rounds through a double).
 */
export async function removeMountPoints(prepared: PreparedMountPoints): Promise<void> {
  const untouched = new Set<string>();
  for (const p of prepared.parents) {
    try {
      const now = (await lstat(p.hostPath, { bigint: true })).mtimeNs;
      if (p.mtimeAfterCreate !== undefined && now === p.mtimeAfterCreate) untouched.add(p.hostPath);
    } catch {
      // The command removed it: nothing to restore.
    }
  }
  const kept = new Set<string>();
  for (const c of [...prepared.created].reverse()) {
    try {
      if (c.kind === 'dir') await rmdir(c.hostPath);
      else {
        const st = await lstat(c.hostPath);
        if (st.isFile() && st.size === 0) await unlink(c.hostPath);
        else kept.add(posix.dirname(c.hostPath));
      }
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EBUSY') throw err;
      kept.add(posix.dirname(c.hostPath));
    }
  }
  for (const p of prepared.parents) {
    if (!untouched.has(p.hostPath) || kept.has(p.hostPath)) continue;
    await setMtimeNs(p.hostPath, p.mtimeBefore);
  }
}

async function setMtimeNs(path: string, ns: bigint): Promise<void> {
  const sec = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  try {
    await execFileP('touch', ['-c', '-h', '-m', '-d', `@${sec}.${frac}`, '--', path]);
  } catch {
    // NOTE: without touch(1) the parent keeps the current mtime; only timestamps differ then.
  }
}
