// Walks a directory into planned layer entries, lazily and in write order (depth-first, each
// directory's names sorted by their bytes), so memory does not grow with the size of the tree.
// NOTE: metadata calls are synchronous on purpose: an async lstat costs ~0.5 ms of thread-pool
// round trips per file, eight times a sync one, which made trees of small files slow.
// buildLayer yields to the event loop every few milliseconds, so nothing waits long.
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, nullLogger, throwIfAborted, type Logger } from '../../core/index.js';
import { OciError } from '../errors.js';
import { clampMtime, type LayerEntryInfo, type PlannedEntry } from './entries.js';
import { joinMember, WHITEOUT_PREFIX } from './paths.js';
import type { TarHeader, TarType } from './tar.js';
import { readXattrTree } from './xattr.js';

/** Owners written for a directory source: all root (default), as on disk, or fixed ids. */
export type OwnerPolicy = 'root' | 'keep' | { readonly uid: number; readonly gid: number };

/** Options of walkDirectory. */
export interface WalkOptions {
  /** Default 'root': the digest must not depend on who ran the build. */
  owner?: OwnerPolicy;
  /**
   * Read extended attributes with `getfattr` (Debian package attr; an error when missing).
   * Default false, so the digest does not depend on the host's xattrs.
   */
  xattrs?: boolean;
  /** Return false to leave a path (and everything below it) out. `path` is relative, `/`-separated. */
  filter?: (path: string, type: LayerEntryInfo['type']) => boolean;
  sourceDateEpoch?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

const S_IFMT = 0o170000;

/** What an lstat mode is, in layer terms (sockets are not carried by layers, as with GNU tar). */
export type FileKind = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

/** The file type of an lstat mode; undefined for unknown types. */
export function fileKindOf(mode: number): FileKind | undefined {
  switch (mode & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'chardev';
    case 0o060000:
      return 'blockdev';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return undefined;
  }
}

function typeOf(st: BigIntStats): TarType | 'socket' | undefined {
  return fileKindOf(Number(st.mode));
}

// Linux dev_t encoding (glibc gnu_dev_major/gnu_dev_minor).
/** Major number of a device (`st.rdev` as a bigint). */
export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}
/** Minor number of a device (`st.rdev` as a bigint). */
export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

function decodeName(raw: Buffer, dir: string): string {
  const name = raw.toString('utf8');
  if (!Buffer.from(name, 'utf8').equals(raw)) {
    throw new OciError('LAYER_INVALID', `reading ${dir}: file name ${JSON.stringify(raw.toString('latin1'))} is not valid UTF-8 (pax paths are UTF-8)`);
  }
  return name;
}

/**
 * Entries for everything below `root` (the root itself is not an entry). Hardlinked files
 * (same device and inode) become hardlinks to the first path in write order. Sockets are
 * skipped with a warning, as GNU tar does; names starting with `.wh.` are refused.
 */
export async function* walkDirectory(root: string, options: WalkOptions = {}): AsyncGenerator<PlannedEntry> {
  const logger = options.logger ?? nullLogger;
  const epoch = options.sourceDateEpoch;
  const owner = options.owner ?? 'root';
  let rootStat: BigIntStats;
  try {
    rootStat = lstatSync(root, { bigint: true });
  } catch (err) {
    throw new OciError('LAYER_INVALID', `layer source ${root}: ${errnoCode(err) === 'ENOENT' ? 'does not exist' : (err as Error).message}`, { cause: err });
  }
  if (!rootStat.isDirectory()) throw new OciError('LAYER_INVALID', `layer source ${root}: not a directory`);
  const xattrs = options.xattrs ? await readXattrTree(root, options.signal) : undefined;
  const links = new Map<string, string>(); // "dev:ino" -> first member path

  async function* visit(rel: string): AsyncGenerator<PlannedEntry> {
    const dir = rel === '' ? root : join(root, rel);
    let raw: Buffer[];
    try {
      raw = readdirSync(dir, { encoding: 'buffer' });
    } catch (err) {
      throw new OciError('LAYER_INVALID', `reading directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
    raw.sort(Buffer.compare);
    for (const nameBytes of raw) {
      throwIfAborted(options.signal, `building a layer from ${root}`);
      const name = decodeName(nameBytes, dir);
      const path = joinMember(rel, name);
      if (name.startsWith(WHITEOUT_PREFIX)) {
        throw new OciError('TAR_UNSAFE_PATH', `layer source ${root}: ${JSON.stringify(path)}: names starting with ${WHITEOUT_PREFIX} are whiteouts (layer.md) and cannot be regular files`);
      }
      const abs = join(root, path);
      const st = lstatSync(abs, { bigint: true });
      const type = typeOf(st);
      if (type === 'socket' || type === undefined) {
        logger.warn(`layer source ${root}: ${path}: ${type ?? 'unknown file type'} skipped`, { path });
        continue;
      }
      if (options.filter && !options.filter(path, type)) continue;
      const uid = owner === 'root' ? 0 : owner === 'keep' ? Number(st.uid) : owner.uid;
      const gid = owner === 'root' ? 0 : owner === 'keep' ? Number(st.gid) : owner.gid;
      const mtime = clampMtime(Number(st.mtimeNs / 1_000_000_000n), epoch);
      const mode = Number(st.mode) & 0o7777;
      const xa = new Map<string, Uint8Array>(xattrs?.get(path) ?? []);
      let tarType: TarType = type;
      let linkname = '';
      if (type !== 'dir' && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          tarType = 'hardlink';
          linkname = first;
        } else links.set(key, path);
      }
      if (tarType === 'symlink') linkname = readlinkSync(abs);
      const size = tarType === 'file' ? Number(st.size) : 0;
      const devmajor = tarType === 'chardev' || tarType === 'blockdev' ? devMajor(st.rdev) : 0;
      const devminor = tarType === 'chardev' || tarType === 'blockdev' ? devMinor(st.rdev) : 0;
      const header: TarHeader = {
        name: tarType === 'dir' ? `${path}/` : path,
        type: tarType,
        mode,
        uid,
        gid,
        size,
        mtime,
        linkname,
        devmajor,
        devminor,
        xattrs: tarType === 'hardlink' ? new Map() : xa,
      };
      const info: LayerEntryInfo = {
        path,
        type: tarType,
        mode,
        uid,
        gid,
        mtime,
        size,
        ...(linkname ? { linkname } : {}),
        ...(header.xattrs.size > 0 ? { xattrs: Object.fromEntries([...header.xattrs].sort(([a], [b]) => (a < b ? -1 : 1))) } : {}),
        ...(devmajor || devminor ? { devmajor, devminor } : {}),
      };
      yield { header, info, ...(tarType === 'file' ? { content: { kind: 'file' as const, path: abs, size } } : {}) };
      if (tarType === 'dir') yield* visit(path);
    }
  }
  yield* visit('');
}
