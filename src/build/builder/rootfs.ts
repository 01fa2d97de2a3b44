// Root filesystems of images already built, kept as directories in the store's private corner
// (`<store>/.lading/rootfs/<manifest hex>/`) so a child can be built on top of its parent without
// unpacking the parent's layers again:
//   tree/   the whole filesystem (scratch images, and images materialised from their layers), or
//   upper/  an overlay upper directory (what a child changed) + the parent's manifest digest,
//           stacked on the parent's own entry as an overlay lower directory.
// An entry exists only once complete (`meta.json` written last). Entries of images that are no
// longer the current build of their image are removed at the end of a run (evictRootfs).
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDecompressor, applyLayer, layerCompression, type Descriptor, type Manifest } from '../../oci/index.js';
import { STATE_DIR, type LayoutStore } from '../../layout/index.js';
import { atomicWriteFile, describeError, errnoCode, errorChain, isProcessAlive, splitDigest, type Digest, type Logger } from '../../core/index.js';
import { BuildError } from '../errors.js';
import { removeTree } from './mounts.js';

/** What a cache entry holds. */
export interface RootfsMeta {
  readonly digest: string;
  readonly family: string;
  readonly image: string;
  readonly arch: string;
  readonly kind: 'tree' | 'upper';
  /** For `upper`: the manifest digest of the parent whose entry it stacks on. */
  readonly parent?: string;
}

/** Directory of the rootfs cache in a store. */
export function rootfsCacheDir(storePath: string): string {
  return join(storePath, STATE_DIR, 'rootfs');
}

function hexOf(digest: string): string {
  return splitDigest(digest as Digest).hex;
}

/**
 * The cache of a store. `stack(digest)` gives the directories an image's filesystem is made of
 * (topmost first; the last is a whole tree), materialising from the store's layers when needed.
 */
export class RootfsCache {
  private readonly pending = new Map<string, Promise<string[]>>();

  constructor(
    readonly dir: string,
    private readonly store: LayoutStore,
    private readonly logger: Logger,
  ) {}

  private async meta(digest: string): Promise<RootfsMeta | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, hexOf(digest), 'meta.json'), 'utf8')) as RootfsMeta;
    } catch {
      return undefined;
    }
  }

  /** The directories of an image's filesystem, topmost first; the last one is a whole tree. */
  stack(digest: string, who: Omit<RootfsMeta, 'digest' | 'kind' | 'parent'>, signal?: AbortSignal): Promise<string[]> {
    let p = this.pending.get(digest);
    if (!p) {
      p = this.resolve(digest, who, signal);
      this.pending.set(digest, p);
      p.catch(() => this.pending.delete(digest));
    }
    return p;
  }

  private async resolve(digest: string, who: Omit<RootfsMeta, 'digest' | 'kind' | 'parent'>, signal?: AbortSignal): Promise<string[]> {
    const m = await this.meta(digest);
    const entry = join(this.dir, hexOf(digest));
    if (m?.kind === 'tree') return [join(entry, 'tree')];
    if (m?.kind === 'upper' && m.parent) {
      try {
        const below = await this.stack(m.parent, { ...who, image: `${who.image} (parent)` }, signal);
        return [join(entry, 'upper'), ...below];
      } catch (err) {
        this.logger.debug('rootfs cache: parent entry unusable; materialising from the layers', { digest, error: describeError(err) });
      }
    }
    return [await this.materialise(digest, who, signal)];
  }

  /** A whole tree of an image's filesystem from its layers in the store (never from the cache). */
  async materialise(digest: string, who: Omit<RootfsMeta, 'digest' | 'kind' | 'parent'>, signal?: AbortSignal): Promise<string> {
    const doc = await this.store.getManifest(digest, signal ? { signal } : {});
    if (!doc || doc.kind !== 'manifest') {
      throw new BuildError('PARENT_MISSING', `image ${who.image} (${who.arch}): manifest ${digest} is not in the store`, { hint: 'build it again (lading build --force)' });
    }
    const entry = join(this.dir, hexOf(digest));
    const tmp = join(this.dir, `.tmp-${hexOf(digest).slice(0, 12)}-${process.pid}-${Date.now()}`);
    await mkdir(join(tmp, 'tree'), { recursive: true });
    try {
      await applyLayers(this.store, (doc.value as Manifest).layers, join(tmp, 'tree'), { logger: this.logger, ...(signal ? { signal } : {}) });
      const meta: RootfsMeta = { digest, ...who, kind: 'tree' };
      await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
      await removeTree(entry, this.logger);
      await rename(tmp, entry);
    } catch (err) {
      await removeTree(tmp, this.logger).catch(() => undefined);
      throw err;
    }
    return join(entry, 'tree');
  }

  /** Takes a finished image's directory into the cache (moved, so it must be on the same file system). */
  async adopt(meta: RootfsMeta, dir: string): Promise<void> {
    const entry = join(this.dir, hexOf(meta.digest));
    const tmp = join(this.dir, `.tmp-${hexOf(meta.digest).slice(0, 12)}-${process.pid}-${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    try {
      await rename(dir, join(tmp, meta.kind));
      await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
      await removeTree(entry, this.logger);
      await rename(tmp, entry);
      this.pending.set(meta.digest, Promise.resolve(meta.kind === 'tree' ? [join(entry, 'tree')] : this.stack(meta.digest, meta)));
    } catch (err) {
      await removeTree(tmp, this.logger).catch(() => undefined);
      throw new BuildError('ROOTFS_FAILED', `keeping the root filesystem of ${meta.image} (${meta.arch}): ${describeError(err)}`, { cause: err });
    }
  }

  /**
   * Moves the entry of `from` to the image `meta.digest`, made on the same layers (a change of
   * config alone); an `upper` entry then stacks on `parent`, the new image's parent. Nothing
   * happens when `from` has no entry: the tree is materialised when a child needs it.
   */
  async rekey(from: string, meta: Omit<RootfsMeta, 'kind' | 'parent'>, parent: string | undefined): Promise<void> {
    const old = await this.meta(from);
    if (from === meta.digest || !old || (old.kind === 'upper' && !parent)) return;
    const source = join(this.dir, hexOf(from));
    const entry = join(this.dir, hexOf(meta.digest));
    const moved: RootfsMeta = { ...meta, kind: old.kind, ...(old.kind === 'upper' ? { parent } : {}) };
    try {
      await atomicWriteFile(join(source, 'meta.json'), JSON.stringify(moved), { fsync: false });
      await removeTree(entry, this.logger);
      await rename(source, entry);
    } catch (err) {
      this.logger.debug('rootfs cache: could not move an entry to the image made on its layers', { from, to: meta.digest, error: describeError(err) });
    }
    this.pending.delete(from);
    this.pending.delete(meta.digest);
  }

  /**
   * Removes entries of `family` for the given image/arch pairs whose digest is not the current
   * one, entries that stack on a removed one, and leftovers of interrupted runs.
   */
  async evict(family: string, current: ReadonlyMap<string, string>): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    const metas = new Map<string, RootfsMeta>();
    let removed = 0;
    for (const n of names) {
      if (n.startsWith('.tmp-')) {
        const pid = Number(n.split('-')[2]);
        if (!isProcessAlive(pid)) {
          await removeTree(join(this.dir, n), this.logger);
          removed++;
        }
        continue;
      }
      try {
        metas.set(n, JSON.parse(await readFile(join(this.dir, n, 'meta.json'), 'utf8')) as RootfsMeta);
      } catch {
        // incomplete or foreign: leave it
      }
    }
    const gone = new Set<string>();
    for (const m of metas.values()) {
      const want = current.get(`${m.image}\u0000${m.arch}`);
      if (m.family === family && want !== undefined && want !== m.digest) gone.add(m.digest);
    }
    let grew = true;
    while (grew) {
      grew = false;
      for (const m of metas.values()) {
        if (m.parent && gone.has(m.parent) && !gone.has(m.digest)) {
          gone.add(m.digest);
          grew = true;
        }
      }
    }
    for (const [n, m] of metas) {
      if (!gone.has(m.digest)) continue;
      await removeTree(join(this.dir, n), this.logger);
      removed++;
    }
    return removed;
  }
}

/** Applies layers in order into `root` (owners and xattrs restored); what could not be made is a warning. */
export async function applyLayers(store: LayoutStore, layers: readonly Descriptor[], root: string, options: { logger: Logger; signal?: AbortSignal }): Promise<void> {
  const { logger, signal } = options;
  for (const l of layers) {
    const compression = layerCompression(l.mediaType);
    if (!compression) throw new BuildError('ROOTFS_FAILED', `applying layer ${l.digest}: ${l.mediaType} is not a layer media type`);
    const blob = await store.openBlob(l, signal ? { signal } : {});
    const stream = compression === 'none' ? blob : blob.pipe(createDecompressor(compression));
    try {
      const r = await applyLayer({ stream, root, owners: true, xattrs: true, ...(signal ? { signal } : {}) });
      // A child built on this tree would not see these (device nodes need root to be made).
      for (const k of r.skipped) logger.warn(`applying layer ${l.digest}: ${k.path}: ${k.reason}`);
    } catch (err) {
      blob.destroy();
      // zlib's data errors mean the stored blob's bytes are damaged, not that applying failed.
      const damaged = [...errorChain(err)].some((cur) => /^Z_(DATA|BUF)_ERROR$/.test(errnoCode(cur) ?? ''));
      throw new BuildError('ROOTFS_FAILED', `applying layer ${l.digest} into ${root}: ${damaged ? 'the stored blob is damaged: ' : ''}${describeError(err)}`, {
        cause: err,
        ...(damaged ? { hint: 'run `lading store verify` to list damaged blobs; rebuild or copy the image again' } : {}),
      });
    }
  }
}
