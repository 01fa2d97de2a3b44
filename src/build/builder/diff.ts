// The filesystem difference an image makes, as layer entries (oci-image.md section 8):
// - overlay mode: the upper directory of the child's overlay holds exactly what changed;
//   a 0:0 character device is a deletion (whiteout), a directory carrying
//   trusted.overlay.opaque=y replaced the lower one (opaque marker);
// - copy mode (no overlayfs): the child works on a copy of its parent's tree, and the change is
//   found by comparing snapshots of (inode, ctime, size, mode, owner, link target) per path
//   taken before and after; changed entries, their ancestors, and whiteouts for removed paths.
// A scratch image's layer is its whole tree (walkTree without whiteout handling).
import { lstatSync, lutimesSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join, posix } from 'node:path';
import { errnoCode } from '../../core/index.js';
import { devMajor, devMinor, fileKindOf, readXattrTree, type FileKind, type LayerEntry } from '../../oci/index.js';
import { BuildError } from '../errors.js';

const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** Bytes as text with everything but printable ASCII as \xHH (a name that is not UTF-8). */
function escapeBytes(b: Buffer): string {
  return [...b].map((c) => (c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
}

/** The entries of `dir` (the image's `/rel`), sorted by bytes; a name that is not UTF-8 is refused. */
function names(dir: string, rel: string): string[] {
  const raw = readdirSync(dir, { encoding: 'buffer' });
  raw.sort(Buffer.compare);
  return raw.map((b) => {
    const s = b.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(b)) {
      throw new BuildError('FILE_NAME_INVALID', `the image has a file whose name is not UTF-8: ${posix.join('/', rel, escapeBytes(b))}`, {
        hint: 'layers carry UTF-8 names only (tar pax records); rename or remove it in the step or package that makes it',
      });
    }
    return s;
  });
}

const VANISHED = Symbol('vanished');

/** Layer entries of the things below a directory, in tree order. */
export interface TreeListing {
  readonly entries: LayerEntry[];
  /** Relative paths of the regular files, directories and links listed (for mtime clamping). */
  readonly paths: string[];
  readonly whiteouts: number;
  /** POSIX ACLs found below the root, which layers do not carry (`system.posix_acl_*`). */
  readonly acls: Array<{ path: string; name: string }>;
  /** Relative paths of sockets, which layers do not carry (as GNU tar and moby skip them). */
  readonly sockets: string[];
}

/** Options of walkTree(). */
export interface WalkTreeOptions {
  /** Interpret overlayfs whiteouts and opaque directories (an upper directory). */
  readonly overlay: boolean;
  /** Relative paths (no leading slash) to leave out with everything below them. */
  readonly exclude?: ReadonlySet<string>;
  /** Read extended attributes (file capabilities set by maintainer scripts). Default true. */
  readonly xattrs?: boolean;
  /** Leave out what vanishes while the tree is read, instead of failing (a tree scripts are changing). */
  readonly skipVanished?: boolean;
  readonly signal?: AbortSignal;
}

function entryFor(abs: string, path: string, st: BigIntStats, kind: FileKind, xattrs: ReadonlyMap<string, Uint8Array> | undefined): LayerEntry | undefined {
  const mode = Number(st.mode) & 0o7777;
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const mtime = Number(st.mtimeNs / 1_000_000_000n);
  const xa = xattrs && xattrs.size > 0 ? { xattrs: Object.fromEntries(xattrs) } : {};
  switch (kind) {
    case 'dir':
      return { path, type: 'dir', mode, uid, gid, mtime, ...xa };
    case 'file':
      return { path, type: 'file', mode, uid, gid, mtime, content: { file: abs }, ...xa };
    case 'symlink':
      return { path, type: 'symlink', mode, uid, gid, mtime, linkname: readlinkSync(abs) };
    case 'fifo':
      return { path, type: 'fifo', mode, uid, gid, mtime };
    case 'chardev':
    case 'blockdev':
      return { path, type: kind, mode, uid, gid, mtime, devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev) };
    default:
      return undefined; // sockets are not carried (as GNU tar)
  }
}

/**
 * Lists `root` as layer entries: owners, modes, mtimes (clamped later by the layer writer) and
 * portable xattrs as on disk, hard links kept, overlayfs bookkeeping xattrs dropped. With
 * `overlay`, whiteout devices become whiteout entries and opaque directories get an opaque
 * marker.
 */
export async function walkTree(root: string, options: WalkTreeOptions): Promise<TreeListing> {
  const acls: TreeListing['acls'] = [];
  const onSkipped = (path: string, name: string) => {
    if (name.startsWith('system.posix_acl_') && !options.exclude?.has(path)) acls.push({ path, name });
  };
  const all = options.xattrs === false ? undefined : await readXattrTree(root, options.signal, onSkipped);
  const xattrsOf = (rel: string): Map<string, Uint8Array> | undefined => {
    const m = all?.get(rel);
    if (!m) return undefined;
    const out = new Map<string, Uint8Array>();
    for (const [k, v] of m) if (!k.startsWith('trusted.overlay.')) out.set(k, v);
    return out;
  };
  const entries: LayerEntry[] = [];
  const paths: string[] = [];
  const sockets: string[] = [];
  const links = new Map<string, string>();
  let whiteouts = 0;
  /** `read()`, or VANISHED when what it reads went away meanwhile and skipVanished is set. */
  const unlessVanished = <T>(read: () => T): T | typeof VANISHED => {
    try {
      return read();
    } catch (err) {
      if (options.skipVanished === true && ['ENOENT', 'ENOTDIR'].includes(errnoCode(err) ?? '')) return VANISHED;
      throw err;
    }
  };
  const visit = (rel: string) => {
    options.signal?.throwIfAborted();
    const dir = rel === '' ? root : join(root, rel);
    const list = unlessVanished(() => names(dir, rel));
    if (list === VANISHED) return;
    for (const name of list) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (options.exclude?.has(path)) continue;
      const abs = join(root, path);
      const st = unlessVanished(() => lstatSync(abs, { bigint: true }));
      if (st === VANISHED) continue;
      const kind = fileKindOf(Number(st.mode));
      if (!kind) continue;
      if (options.overlay && kind === 'chardev' && st.rdev === 0n) {
        entries.push({ path, type: 'whiteout' });
        whiteouts++;
        continue;
      }
      if (kind !== 'dir' && st.nlink > 1n && kind === 'file') {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          entries.push({ path, type: 'hardlink', linkname: first });
          continue;
        }
        links.set(key, path);
      }
      const e = unlessVanished(() => entryFor(abs, path, st, kind, xattrsOf(path)));
      if (e === VANISHED) continue;
      if (!e) {
        if (kind === 'socket') sockets.push(path);
        continue;
      }
      entries.push(e);
      paths.push(path);
      if (kind === 'dir') {
        if (options.overlay && all?.get(path)?.get(OPAQUE_XATTR)?.[0] === 0x79) entries.push({ path, type: 'opaque' });
        visit(path);
      }
    }
  };
  visit('');
  return { entries, paths, whiteouts, acls, sockets };
}

/** What a path looked like, for copy mode. */
interface Seen {
  readonly ino: bigint;
  readonly ctimeNs: bigint;
  readonly size: bigint;
  readonly mode: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly target?: string;
}

/** A snapshot of a tree for copy mode: relative path -> identity and metadata. */
export type Snapshot = Map<string, Seen>;

/** Takes a snapshot of everything below `root` (except `exclude`). */
export function snapshotTree(root: string, exclude?: ReadonlySet<string>): Snapshot {
  const out: Snapshot = new Map();
  const visit = (rel: string) => {
    const dir = rel === '' ? root : join(root, rel);
    for (const name of names(dir, rel)) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (exclude?.has(path)) continue;
      const abs = join(root, path);
      const st = lstatSync(abs, { bigint: true });
      const isLink = fileKindOf(Number(st.mode)) === 'symlink';
      out.set(path, { ino: st.ino, ctimeNs: st.ctimeNs, size: st.size, mode: st.mode, uid: st.uid, gid: st.gid, ...(isLink ? { target: readlinkSync(abs) } : {}) });
      if (fileKindOf(Number(st.mode)) === 'dir') visit(path);
    }
  };
  visit('');
  return out;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/**
 * Copy mode: the layer entries that turn the `before` tree into what is at `root` now.
 * Changed or new paths are listed with their ancestors (as overlayfs copies parents up), a
 * directory that was replaced gets an opaque marker, removed paths become whiteouts (only the
 * topmost of a removed subtree).
 */
export async function diffSnapshots(root: string, before: Snapshot, options: { exclude?: ReadonlySet<string>; signal?: AbortSignal } = {}): Promise<TreeListing> {
  const after = snapshotTree(root, options.exclude);
  const changed = new Set<string>();
  const opaque = new Set<string>();
  for (const [path, a] of after) {
    const b = before.get(path);
    if (b && b.ino === a.ino && b.ctimeNs === a.ctimeNs && b.size === a.size && b.mode === a.mode && b.uid === a.uid && b.gid === a.gid && b.target === a.target) continue;
    changed.add(path);
    if (b && fileKindOf(Number(a.mode)) === 'dir' && b.ino !== a.ino) opaque.add(path);
  }
  // Everything below a replaced directory is new as well (it has new inodes), so it is listed.
  const include = new Set<string>();
  for (const p of changed) {
    include.add(p);
    for (let q = parentOf(p); q !== '' && !include.has(q); q = parentOf(q)) include.add(q);
  }
  const removed: string[] = [];
  for (const path of before.keys()) {
    if (after.has(path)) continue;
    const parent = parentOf(path);
    // Only the topmost removed path; a parent replaced by a new directory (opaque) or by a file
    // or symlink already hides it.
    const now = after.get(parent);
    if (parent !== '' && (!now || opaque.has(parent) || fileKindOf(Number(now.mode)) !== 'dir')) continue;
    removed.push(path);
    for (let q = parent; q !== '' && !include.has(q); q = parentOf(q)) include.add(q);
  }
  const full = await walkTree(root, { overlay: false, ...(options.exclude ? { exclude: options.exclude } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const entries: LayerEntry[] = [];
  const paths: string[] = [];
  for (const e of full.entries) {
    if (!include.has(e.path)) continue;
    if (e.type === 'hardlink' && !include.has(e.linkname ?? '')) {
      // The first path of the group is unchanged: carry this one as its own file.
      const abs = join(root, e.path);
      const own = entryFor(abs, e.path, lstatSync(abs, { bigint: true }), 'file', undefined);
      if (own) entries.push(own);
      paths.push(e.path);
      continue;
    }
    entries.push(e);
    if (e.type !== 'hardlink') paths.push(e.path);
    if (e.type === 'dir' && opaque.has(e.path)) entries.push({ path: e.path, type: 'opaque' });
  }
  for (const p of removed) entries.push({ path: p, type: 'whiteout' });
  return { entries, paths, whiteouts: removed.length, acls: full.acls, sockets: full.sockets.filter((p) => include.has(p)) };
}

/**
 * Clamps the mtimes of `paths` below `root` to `epoch`, so the tree children are built on
 * looks exactly like the image's layers applied (the layer writer clamps the same way).
 */
export function clampMtimes(root: string, paths: readonly string[], epoch: number): number {
  let n = 0;
  for (const p of paths) {
    const abs = join(root, p);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      continue;
    }
    if (st.mtimeMs > epoch * 1000) {
      lutimesSync(abs, epoch, epoch);
      n++;
    }
  }
  return n;
}
