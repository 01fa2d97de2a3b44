// Stage 2 of unpacking, on the main thread, one package at a time in lock order: move the staged
// entries of each package into the root. Every path is resolved here component by component with
// chroot semantics (absolute symlink targets start at the root), never by the kernel following a
// symlink, so nothing outside the root is ever touched; directory symlinks already in the tree
// are kept and written through (tar --keep-directory-symlink, debian.md §9.1, oci-image.md §10).
import { chmodSync, chownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readlinkSync, renameSync, symlinkSync, unlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../../core/index.js';
import { DebianError } from '../errors.js';
import type { StagedEntry } from './extract.js';
import { relativeTargetEscapes } from './paths.js';

/** Who put a node into the tree: a package (its index in lock order) or lading itself. */
export const PRE_EXISTING = -1;
const STAGING = -2;

interface Node {
  kind: 'dir' | 'file' | 'symlink' | 'other';
  /** Package index, PRE_EXISTING, or STAGING (the private staging directory). */
  owner: number;
  /** The owner's dpkg path for this node (for lists and messages). */
  path?: string;
  target?: string;
  /** A directory whose metadata came from a package entry (not created implicitly). */
  explicit?: boolean;
}

/** Metadata applied to a directory when the merge finishes. */
interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** A path shipped by two packages. */
export interface FileOverlap {
  path: string;
  /** Package that shipped it first (lock order). */
  first: string;
  /** Package that shipped it again. */
  second: string;
  /** True when one of the two Replaces the other (dpkg then lets the replacing one keep the file). */
  replaces: boolean;
  /** The package whose file is in the tree. */
  winner: string;
}

/** What a package looks like to the merge. */
export interface MergePackage {
  /** `name` or `name:arch` as shown in messages. */
  label: string;
  /** True when this package Replaces the earlier package `earlier`: its file wins. */
  replaces: (earlier: number) => boolean;
  /** True when the earlier package `earlier` Replaces this one: the earlier file stays (dpkg archives.c). */
  replacedBy: (earlier: number) => boolean;
  /** Directory holding this package's staged files and symlinks. */
  stageDir: string;
  entries: readonly StagedEntry[];
}

/** Options of a merge. */
export interface TreeOptions {
  /** Absolute path of the root. */
  root: string;
  /** True when the root was empty: nodes not recorded here do not exist (saves an lstat per entry). */
  fresh: boolean;
  /** Name (at the root) of the staging directory, which package paths must never reach. */
  stagingName: string;
  /** uid of this process; 0 restores owners. */
  uid: number;
  /** The process umask (mkdir results are 0o755 & ~umask). */
  umask: number;
  /** mtime (seconds) for directories lading creates on its own. */
  defaultMtime: () => number;
  /** Files shipped by two packages without Replaces become warnings instead of an error. */
  allowOverlaps: boolean;
}

function split(phys: string): string[] {
  return phys === '' ? [] : phys.split('/');
}

function joinPhys(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/**
 * The root being filled. Knows every node it created; resolves dpkg paths to physical paths
 * inside the root; applies directory metadata at the end.
 */
export class RootTree {
  private readonly nodes = new Map<string, Node>();
  private readonly dirCache = new Map<string, string>();
  private readonly dirMeta = new Map<string, DirMeta>();
  private readonly implicitDirs = new Set<string>();
  private readonly symlinks: Array<{ phys: string; mtime: number | undefined }> = [];
  /** Warnings collected while merging (kept directories, same-package duplicates, allowed overlaps). */
  readonly warnings: string[] = [];
  /** Paths shipped by two packages. */
  readonly overlaps: FileOverlap[] = [];
  /** Per package index: dpkg paths another package's file won (dropped from its list, as dpkg does). */
  readonly takenOver = new Map<number, Set<string>>();
  private current = PRE_EXISTING;
  private currentLabel = 'lading';
  private labels: string[] = [];

  constructor(private readonly options: TreeOptions) {
    this.nodes.set('', { kind: 'dir', owner: PRE_EXISTING });
    this.nodes.set(options.stagingName, { kind: 'dir', owner: STAGING });
  }

  private abs(phys: string): string {
    return phys === '' ? this.options.root : join(this.options.root, phys);
  }

  private lookup(phys: string): Node | undefined {
    const known = this.nodes.get(phys);
    if (known || this.options.fresh) return known;
    let st;
    try {
      st = lstatSync(this.abs(phys));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    const node: Node = { kind: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other', owner: PRE_EXISTING };
    if (node.kind === 'symlink') node.target = readlinkSync(this.abs(phys));
    this.nodes.set(phys, node);
    return node;
  }

  private fail(path: string, why: string, code: 'UNSAFE_PATH' | 'FILE_CONFLICT' = 'UNSAFE_PATH'): DebianError {
    return new DebianError(code, `unpacking ${this.currentLabel}: ${path}: ${why}`, {
      hint: code === 'UNSAFE_PATH' ? 'the package set would write outside the root; nothing was written there' : undefined,
    });
  }

  private ownerName(owner: number): string {
    if (owner === PRE_EXISTING) return 'the tree before unpacking';
    if (owner === STAGING) return "lading's staging directory";
    return this.labels[owner] ?? `package #${owner}`;
  }

  /**
   * Follows the symlink target `target` found in physical directory `parent` to the physical
   * directory it names. Refuses targets that climb above the root, dangling ones, loops, and
   * ones that end at a non-directory.
   */
  private follow(path: string, parent: string, target: string, hops: number): string {
    if (hops > 40) throw this.fail(path, 'too many levels of symbolic links');
    let cur = target.startsWith('/') ? [] : split(parent);
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (cur.length === 0) throw this.fail(path, `goes through a symlink to ${JSON.stringify(target)}, which climbs out of the root`);
        cur.pop();
        continue;
      }
      const next = joinPhys(cur.join('/'), part);
      const node = this.lookup(next);
      if (!node) throw this.fail(path, `goes through a symlink to ${JSON.stringify(target)}, which does not exist in the tree`, 'FILE_CONFLICT');
      if (node.owner === STAGING) throw this.fail(path, "reaches lading's staging directory");
      if (node.kind === 'dir') cur = split(next);
      else if (node.kind === 'symlink') cur = split(this.follow(path, cur.join('/'), node.target ?? '', hops + 1));
      else throw this.fail(path, `goes through a symlink to ${JSON.stringify(target)}, which is not a directory`, 'FILE_CONFLICT');
    }
    return cur.join('/');
  }

  /** Resolves (and creates when missing) the directory with dpkg path components `parts`; returns its physical path. */
  resolveDir(parts: readonly string[], path: string): string {
    if (parts.length === 0) return '';
    const key = parts.join('/');
    const cached = this.dirCache.get(key);
    if (cached !== undefined) return cached;
    const parent = this.resolveDir(parts.slice(0, -1), path);
    const phys = joinPhys(parent, parts[parts.length - 1] ?? '');
    const node = this.lookup(phys);
    let result: string;
    if (!node) {
      mkdirSync(this.abs(phys), { mode: 0o755 });
      this.nodes.set(phys, { kind: 'dir', owner: this.current, path: `/${key}` });
      this.implicitDirs.add(phys);
      result = phys;
    } else if (node.owner === STAGING) {
      throw this.fail(path, "reaches lading's staging directory");
    } else if (node.kind === 'dir') {
      result = phys;
    } else if (node.kind === 'symlink') {
      result = this.follow(path, parent, node.target ?? '', 0);
    } else {
      throw this.fail(path, `/${key} is not a directory (it is a file of ${this.ownerName(node.owner)})`, 'FILE_CONFLICT');
    }
    this.dirCache.set(key, result);
    return result;
  }

  /** Creates a symlink lading itself owns (merged-/usr), and its target directory. */
  addSymlink(name: string, target: string): void {
    const node = this.lookup(name);
    if (node) {
      if (node.kind === 'symlink' && node.target === target) return;
      throw this.fail(`/${name}`, `cannot create the merged-/usr symlink -> ${target}: a ${node.kind} is already there`, 'FILE_CONFLICT');
    }
    this.resolveDir(target.split('/'), `/${target}`);
    // symlink() fails on an existing last component instead of following it.
    symlinkSync(target, this.abs(name));
    this.nodes.set(name, { kind: 'symlink', owner: PRE_EXISTING, target, path: `/${name}` });
    this.symlinks.push({ phys: name, mtime: undefined });
  }

  /** Moves one package's staged entries into the tree. `index` is its lock-order position. */
  mergePackage(index: number, pkg: MergePackage): void {
    this.current = index;
    this.currentLabel = pkg.label;
    this.labels[index] = pkg.label;
    // Physical location of this package's files by dpkg path, for its hard links.
    const placed = new Map<string, string>();
    for (const entry of pkg.entries) {
      if (entry.path === '/.') continue;
      const parts = entry.path.slice(1).split('/');
      const name = parts[parts.length - 1] ?? '';
      const parent = this.resolveDir(parts.slice(0, -1), entry.path);
      const phys = joinPhys(parent, name);
      const existing = this.lookup(phys);
      if (existing?.owner === STAGING) throw this.fail(entry.path, "reaches lading's staging directory");
      if (entry.type === 'directory') {
        this.mergeDir(entry, parts, parent, phys, existing);
        continue;
      }
      if (existing) {
        if (existing.kind === 'dir') {
          if (entry.type === 'symlink') {
            // dpkg never replaces a directory with a symlink; it leaves the directory (unpack.c).
            this.warnings.push(`${pkg.label}: kept the directory ${entry.path} instead of its symlink to ${entry.target ?? ''} (as dpkg does)`);
            continue;
          }
          throw this.fail(entry.path, `cannot replace the directory of ${this.ownerName(existing.owner)} with a file`, 'FILE_CONFLICT');
        }
        if (existing.owner === index) {
          this.warnings.push(`${pkg.label}: ${entry.path} appears twice in the package (the later entry wins, as with tar)`);
        } else if (existing.owner >= 0) {
          const first = this.ownerName(existing.owner);
          if (!pkg.replaces(existing.owner) && pkg.replacedBy(existing.owner)) {
            // The installed package replaces this one: dpkg keeps its file and drops the path from
            // the new package's list ("Replaced by files in installed package").
            this.overlaps.push({ path: entry.path, first, second: pkg.label, replaces: true, winner: first });
            this.dropFromList(index, entry.path);
            if (entry.type !== 'symlink') placed.set(entry.path, phys); // its hard links link to the kept file
            continue;
          }
          // Recorded and merged anyway, so one run reports every overlap; the caller fails
          // afterwards unless it is allowed (Replaces, or allowOverlaps).
          this.overlaps.push({ path: entry.path, first, second: pkg.label, replaces: pkg.replaces(existing.owner), winner: pkg.label });
          if (existing.path) this.dropFromList(existing.owner, existing.path);
        }
      }
      if (entry.type === 'symlink') {
        const target = entry.target ?? '';
        if (relativeTargetEscapes(split(parent), target)) throw this.fail(entry.path, `symlink target ${JSON.stringify(target)} climbs out of the root`);
        renameSync(join(pkg.stageDir, entry.stage ?? ''), this.abs(phys));
        this.nodes.set(phys, { kind: 'symlink', owner: index, path: entry.path, target });
      } else if (entry.type === 'file') {
        renameSync(join(pkg.stageDir, entry.stage ?? ''), this.abs(phys));
        this.nodes.set(phys, { kind: 'file', owner: index, path: entry.path });
        placed.set(entry.path, phys);
      } else {
        const source = placed.get(entry.target ?? '');
        if (source === undefined) throw this.fail(entry.path, `hard link to ${entry.target ?? ''}, which the package did not unpack`);
        if (existing) unlinkSync(this.abs(phys));
        linkSync(this.abs(source), this.abs(phys));
        this.nodes.set(phys, { kind: 'file', owner: index, path: entry.path });
        placed.set(entry.path, phys);
      }
    }
    this.current = PRE_EXISTING;
    this.currentLabel = 'lading';
  }

  private dropFromList(owner: number, path: string): void {
    let taken = this.takenOver.get(owner);
    if (!taken) this.takenOver.set(owner, (taken = new Set()));
    taken.add(path);
  }

  private mergeDir(entry: StagedEntry, parts: readonly string[], parent: string, phys: string, existing: Node | undefined): void {
    const key = parts.join('/');
    const meta: DirMeta = { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime };
    if (!existing) {
      mkdirSync(this.abs(phys), { mode: 0o755 });
      this.nodes.set(phys, { kind: 'dir', owner: this.current, path: entry.path, explicit: true });
      this.dirMeta.set(phys, meta);
      this.dirCache.set(key, phys);
      return;
    }
    if (existing.kind === 'dir') {
      // dpkg leaves an existing directory alone; one lading created implicitly takes the first
      // package's metadata.
      if (!existing.explicit && this.implicitDirs.has(phys)) {
        existing.explicit = true;
        this.implicitDirs.delete(phys);
        this.dirMeta.set(phys, meta);
      }
      this.dirCache.set(key, phys);
      return;
    }
    if (existing.kind === 'symlink') {
      // Keep directory symlinks (merged-/usr: ./bin/ goes through bin -> usr/bin).
      this.dirCache.set(key, this.follow(entry.path, parent, existing.target ?? '', 0));
      return;
    }
    throw this.fail(entry.path, `cannot replace a file of ${this.ownerName(existing.owner)} with a directory`, 'FILE_CONFLICT');
  }

  /**
   * Applies modes, owners and mtimes to every directory lading or a package created, and mtimes
   * to lading's own symlinks. Directory mtimes go last because creating entries changes them.
   */
  finish(): void {
    const root = this.options.uid === 0;
    const fallback = this.options.defaultMtime();
    for (const phys of this.implicitDirs) this.dirMeta.set(phys, { mode: 0o755, uid: 0, gid: 0, mtime: fallback });
    for (const [phys, meta] of this.dirMeta) {
      const at = this.abs(phys);
      if (root && (meta.uid !== 0 || meta.gid !== 0)) chownSync(at, meta.uid, meta.gid);
      if (meta.mode !== (0o755 & ~this.options.umask)) chmodSync(at, meta.mode);
      utimesSync(at, meta.mtime, meta.mtime);
    }
    for (const s of this.symlinks) lutimesSync(this.abs(s.phys), s.mtime ?? fallback, s.mtime ?? fallback);
    // The root's own mtime too, so two unpacks of the same packages give the same tree.
    utimesSync(this.options.root, fallback, fallback);
  }

  /** Records metadata for a directory lading creates for its own files (the dpkg database). */
  ownDir(parts: readonly string[]): string {
    return this.resolveDir(parts, `/${parts.join('/')}`);
  }

  /** Absolute path of a physical path. */
  absolute(phys: string): string {
    return this.abs(phys);
  }

  /** The node at a physical path, if any. */
  nodeAt(phys: string): { kind: string; owner: number } | undefined {
    return this.lookup(phys);
  }
}
