// Extracting a layer into a directory with OCI changeset semantics (layer.md "Applying
// Changesets", oci-image.md section 8) and without ever writing outside the root:
// - names with `..` or a leading `/` are refused (TAR_UNSAFE_PATH naming the member);
// - symlinks met on the way to a member are followed as if `root` were `/` (absolute targets
//   restart at root, `..` stops at root), like filepath-securejoin in runc/containerd, so a
//   link to /tmp/outside sends later members to <root>/tmp/outside;
// - the last component is never followed: an existing file or link is unlinked and the new
//   one created with O_EXCL|O_NOFOLLOW; hardlink targets resolve the same way and must exist;
// - a directory member replaces a symlink (layer.md), except the merged-/usr links at the root
//   (`bin`, `lib`...) while they resolve to a directory inside root (tar --keep-directory-symlink,
//   oci-image.md section 10); elsewhere a layer that turned a link into a directory gets one, as
//   umoci and containerd make it, so the tree matches the image users run;
// - device nodes and FIFOs are made with mknod(1) (Node has no mknod); one that cannot be made
//   (device nodes need root) is skipped and reported.
// NOTE: this guards against hostile archives, not against another process changing the tree
// while extraction runs.
// NOTE: file-system calls are synchronous, as in the writer (walk.ts): async ones cost several
// thread-pool round trips per member, which made extraction four times slower than GNU tar.
// applyLayer yields to the event loop every 20 ms.
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describeError, errnoCode, isBaseError, throwIfAborted, type Logger } from '../../core/index.js';
import { OciError } from '../errors.js';
import { eventLoopPauser } from './pause.js';
import { baseName, joinMember, normalizeMemberPath, OPAQUE_MARKER, parentPath, WHITEOUT_PREFIX } from './paths.js';
import { readTar, type TarMember } from './reader.js';
import { writeXattrs } from './xattr.js';

/** Options of applyLayer. */
export interface ApplyLayerOptions {
  /** The uncompressed tar stream of the layer. */
  stream: Readable | AsyncIterable<Uint8Array>;
  /** An existing directory; lower layers are already applied into it. */
  root: string;
  /** chown members to their uid/gid. Default: when running as root. */
  owners?: boolean;
  /** Restore xattrs with setfattr (Debian package attr). Default false: xattrs are counted in `xattrsSkipped`. */
  xattrs?: boolean;
  signal?: AbortSignal;
  logger?: Logger;
}

/** What applyLayer did. */
export interface ApplyLayerResult {
  /** Members applied (whiteouts included). */
  entries: number;
  /** Whiteouts and opaque markers applied. */
  whiteouts: number;
  /** Members not extracted, with why (device nodes, FIFOs). */
  skipped: Array<{ path: string; reason: string }>;
  /** Members whose xattrs were not restored because `xattrs` was off. */
  xattrsSkipped: number;
}

const MAX_SYMLINK_HOPS = 255;

/** The root's merged-/usr links, which a directory member never replaces (oci-image.md section 10). */
const MERGED_USR_LINKS = new Set(['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']);

function tryLstat(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

class Extractor {
  /** Resolved (symlink-free) paths this layer created, for "whiteouts hide lower layers only". */
  private readonly created = new Set<string>();
  private readonly parentCache = new Map<string, string>();
  private readonly dirMeta: Array<{ rel: string; mode: number; mtime: number; uid: number; gid: number }> = [];
  private pendingXattrs: Array<{ path: string; xattrs: ReadonlyMap<string, Uint8Array> }> = [];
  readonly result: ApplyLayerResult = { entries: 0, whiteouts: 0, skipped: [], xattrsSkipped: 0 };

  constructor(
    private readonly root: string,
    private readonly owners: boolean,
    private readonly xattrs: boolean,
    private readonly signal: AbortSignal | undefined,
  ) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /**
   * The symlink-free path (relative to root) that `rel` names, following every symlink met
   * (the last component too) as if root were `/`.
   */
  private async resolve(rel: string, what: string): Promise<string> {
    const stack: string[] = [];
    const queue = rel.split('/').filter((c) => c !== '' && c !== '.');
    let hops = 0;
    let missing = false;
    while (queue.length > 0) {
      const c = queue.shift() as string;
      if (c === '.' || c === '') continue;
      if (c === '..') {
        stack.pop();
        continue;
      }
      const candidate = [...stack, c].join('/');
      if (missing) {
        stack.push(c);
        continue;
      }
      let st;
      try {
        st = lstatSync(this.abs(candidate));
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT') {
          missing = true;
          stack.push(c);
          continue;
        }
        if (code === 'ENOTDIR') throw new OciError('LAYER_INVALID', `${what}: ${JSON.stringify(stack.join('/'))} is not a directory`);
        throw err;
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) throw new OciError('TAR_UNSAFE_PATH', `${what}: too many levels of symbolic links`);
        const target = readlinkSync(this.abs(candidate));
        if (target.startsWith('/')) stack.length = 0;
        queue.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
        continue;
      }
      stack.push(c);
    }
    return stack.join('/');
  }

  private async resolveParent(parent: string, what: string): Promise<string> {
    const cached = this.parentCache.get(parent);
    if (cached !== undefined) return cached;
    const r = await this.resolve(parent, what);
    this.parentCache.set(parent, r);
    return r;
  }

  /** Where a member goes: parent resolved through symlinks, last component kept. */
  private async target(path: string, what: string): Promise<{ rel: string; parent: string }> {
    const parent = await this.resolveParent(parentPath(path), what);
    await this.ensureDir(parent, what);
    return { rel: joinMember(parent, baseName(path)), parent };
  }

  private async ensureDir(rel: string, what: string): Promise<void> {
    if (rel === '') return;
    try {
      const st = lstatSync(this.abs(rel));
      if (st.isDirectory()) return;
      throw new OciError('LAYER_INVALID', `${what}: parent ${JSON.stringify(rel)} is not a directory`);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    // Missing parents get 0755 (what containerd and runc-based extractors do).
    mkdirSync(this.abs(rel), { recursive: true, mode: 0o755 });
  }

  /** Removes whatever is at `rel` (recursively for a directory); invalidates cached resolutions. */
  private async remove(rel: string): Promise<void> {
    await this.flushXattrs();
    rmSync(this.abs(rel), { recursive: true, force: true });
    this.parentCache.clear();
  }

  private async flushXattrs(): Promise<void> {
    if (this.pendingXattrs.length === 0) return;
    const batch = this.pendingXattrs;
    this.pendingXattrs = [];
    await writeXattrs(this.root, batch, this.signal);
  }

  private async setOwner(rel: string, m: TarMember, isLink: boolean): Promise<void> {
    if (!this.owners) return;
    if (isLink) lchownSync(this.abs(rel), m.uid, m.gid);
    else chownSync(this.abs(rel), m.uid, m.gid);
  }

  private noteXattrs(rel: string, m: TarMember): void {
    if (m.xattrs.size === 0) return;
    if (this.xattrs) this.pendingXattrs.push({ path: rel, xattrs: m.xattrs });
    else this.result.xattrsSkipped++;
  }

  /** Applies one member. */
  async apply(m: TarMember, content: AsyncIterable<Buffer>): Promise<void> {
    const path = normalizeMemberPath(m.name, 'tar member');
    const what = `applying ${JSON.stringify(m.name)}`;
    if (path === '') return; // the root entry: the caller's directory keeps its attributes
    const base = baseName(path);
    if (m.type === 'file' && base.startsWith(WHITEOUT_PREFIX)) {
      await this.whiteout(path, base, what);
      return;
    }
    this.result.entries++;
    switch (m.type) {
      case 'dir':
        return this.dir(path, m, what);
      case 'file':
        return this.file(path, m, content, what);
      case 'symlink':
        return this.symlink(path, m, what);
      case 'hardlink':
        return this.hardlink(path, m, what);
      case 'fifo':
      case 'chardev':
      case 'blockdev':
        return this.special(path, m, what);
      default:
        this.result.skipped.push({ path, reason: `${m.type} not created` });
    }
  }

  private async special(path: string, m: TarMember, what: string): Promise<void> {
    const { rel } = await this.target(path, what);
    await this.clearFor(rel);
    const node = m.type === 'fifo' ? ['p'] : [m.type === 'chardev' ? 'c' : 'b', String(m.devmajor), String(m.devminor)];
    const r = spawnSync('mknod', ['-m', '0600', '--', this.abs(rel), ...node], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      this.result.skipped.push({ path, reason: `${m.type} not created: ${r.error?.message ?? (r.stderr.trim() || `mknod exited with ${r.status}`)}` });
      return;
    }
    await this.setOwner(rel, m, false);
    chmodSync(this.abs(rel), m.mode); // after chown, which clears setuid/setgid
    utimesSync(this.abs(rel), m.mtime, m.mtime);
    this.created.add(rel);
    this.noteXattrs(rel, m);
  }

  private async whiteout(path: string, base: string, what: string): Promise<void> {
    this.result.entries++;
    this.result.whiteouts++;
    if (base === OPAQUE_MARKER) {
      const dir = await this.resolve(parentPath(path), what);
      await this.pruneLower(dir);
      return;
    }
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') throw new OciError('TAR_UNSAFE_PATH', `${what}: invalid whiteout name`);
    const parent = await this.resolveParent(parentPath(path), what);
    const rel = joinMember(parent, name);
    if (this.created.has(rel)) return; // whiteouts hide lower layers only
    await this.remove(rel);
  }

  /** Removes every child of `dir` that this layer did not create (recursively into kept dirs). */
  private async pruneLower(dir: string): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.abs(dir));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return;
      throw err;
    }
    for (const n of names.sort()) {
      const rel = joinMember(dir, n);
      if (!this.created.has(rel)) await this.remove(rel);
      else if (lstatSync(this.abs(rel)).isDirectory()) await this.pruneLower(rel);
    }
  }

  private async dir(path: string, m: TarMember, what: string): Promise<void> {
    const { rel } = await this.target(path, what);
    let existing;
    try {
      existing = lstatSync(this.abs(rel));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    if (existing?.isSymbolicLink()) {
      // keep-directory-symlink, for the merged-/usr links only.
      if (MERGED_USR_LINKS.has(rel) && tryLstat(this.abs(await this.resolve(rel, what)))?.isDirectory()) {
        this.created.add(rel);
        return;
      }
      await this.remove(rel);
      existing = undefined;
    } else if (existing && !existing.isDirectory()) {
      await this.remove(rel);
      existing = undefined;
    }
    if (!existing) mkdirSync(this.abs(rel), { mode: 0o700 });
    this.created.add(rel);
    this.noteXattrs(rel, m);
    await this.setOwner(rel, m, false);
    // Modes and mtimes of directories are set at the end: later members would change the
    // mtime, and a read-only mode would stop a non-root extraction.
    this.dirMeta.push({ rel, mode: m.mode, mtime: m.mtime, uid: m.uid, gid: m.gid });
  }

  private async clearFor(rel: string): Promise<void> {
    try {
      const st = lstatSync(this.abs(rel));
      if (st.isDirectory()) await this.remove(rel);
      else {
        await this.flushXattrs();
        unlinkSync(this.abs(rel));
        if (st.isSymbolicLink()) this.parentCache.clear();
      }
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }

  private async file(path: string, m: TarMember, content: AsyncIterable<Buffer>, what: string): Promise<void> {
    const { rel } = await this.target(path, what);
    await this.clearFor(rel);
    const fd = openSync(this.abs(rel), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of content) {
        throwIfAborted(this.signal, what);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      }
      if (this.owners) fchownSync(fd, m.uid, m.gid);
      fchmodSync(fd, m.mode); // after chown, which clears setuid/setgid
      futimesSync(fd, m.mtime, m.mtime);
    } finally {
      closeSync(fd);
    }
    this.created.add(rel);
    this.noteXattrs(rel, m);
  }

  private async symlink(path: string, m: TarMember, what: string): Promise<void> {
    const { rel } = await this.target(path, what);
    await this.clearFor(rel);
    symlinkSync(m.linkname, this.abs(rel));
    this.parentCache.clear();
    this.created.add(rel);
    await this.setOwner(rel, m, true);
    lutimesSync(this.abs(rel), m.mtime, m.mtime);
    this.noteXattrs(rel, m);
  }

  private async hardlink(path: string, m: TarMember, what: string): Promise<void> {
    const targetPath = normalizeMemberPath(m.linkname, `${what}: hardlink target`);
    if (targetPath === '') throw new OciError('TAR_UNSAFE_PATH', `${what}: hardlink to the layer root`);
    const targetParent = await this.resolveParent(parentPath(targetPath), what);
    const targetRel = joinMember(targetParent, baseName(targetPath));
    const st = tryLstat(this.abs(targetRel));
    if (!st) throw new OciError('LAYER_INVALID', `${what}: hardlink target ${JSON.stringify(m.linkname)} does not exist`);
    if (st.isDirectory()) throw new OciError('LAYER_INVALID', `${what}: hardlink target ${JSON.stringify(m.linkname)} is a directory`);
    const { rel } = await this.target(path, what);
    if (rel === targetRel) return;
    await this.clearFor(rel);
    // link(2) does not follow a symlink target, so this never reaches outside root.
    linkSync(this.abs(targetRel), this.abs(rel));
    this.created.add(rel);
  }

  async finish(): Promise<void> {
    await this.flushXattrs();
    // Deepest first, so setting a parent's mtime comes after its children changed it.
    for (const d of this.dirMeta.reverse()) {
      const p = this.abs(d.rel);
      chmodSync(p, d.mode);
      utimesSync(p, d.mtime, d.mtime);
    }
  }
}

/**
 * Extracts an uncompressed layer tar into `root` with OCI whiteout semantics, never writing
 * outside `root` (see the module comment for the rules). Errors name the member.
 */
export async function applyLayer(options: ApplyLayerOptions): Promise<ApplyLayerResult> {
  const rootStat = tryLstat(options.root);
  if (!rootStat?.isDirectory()) throw new OciError('LAYER_INVALID', `applying a layer: ${options.root} is not a directory`);
  const owners = options.owners ?? process.getuid?.() === 0;
  const x = new Extractor(options.root, owners, options.xattrs ?? false, options.signal);
  let current = '(start)';
  try {
    const pause = eventLoopPauser();
    for await (const { member, content } of readTar(options.stream)) {
      throwIfAborted(options.signal, `applying a layer to ${options.root}`);
      await pause();
      current = member.name;
      await x.apply(member, content);
    }
    current = '(end)';
    await x.finish();
  } catch (err) {
    if (isBaseError(err)) throw err;
    throw new OciError('LAYER_INVALID', `applying layer member ${JSON.stringify(current)} to ${options.root}: ${describeError(err)}`, { cause: err });
  }
  return x.result;
}
