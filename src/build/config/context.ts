// Digests of the build-context files an image copies, for the planner's input hashes (the
// planner itself is pure: the caller hashes and passes these in).
import { realpathSync } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { canonicalJson, digestFile, digestOf, fsReason, isWithin, throwIfAborted, type Digest } from '../../core/index.js';
import { BuildError } from '../errors.js';
import type { FamilyConfig } from './types.js';

/** Digest of one `files[].src`: a single file, or a directory tree. */
export type ContextDigest =
  | { readonly kind: 'file'; readonly digest: Digest; readonly size: number; readonly executable: boolean }
  | { readonly kind: 'tree'; readonly digest: Digest; readonly entries: number };

/** `files[].src` (normalised relative path) -> digest. */
export type ContextDigests = Readonly<Record<string, ContextDigest>>;

/** Options of hashContext(). */
export interface HashContextOptions {
  /** Absolute build context directory. */
  readonly contextDir: string;
  readonly family: FamilyConfig;
  /** Directories no `files[].src` may hold or sit in (the store): copying them would copy the store into the image. */
  readonly exclude?: ReadonlyArray<{ readonly path: string; readonly what: string }>;
  readonly signal?: AbortSignal;
}

/** The path with symlinks resolved, so a link cannot hide what it points at (for a path not made yet, its nearest existing parent). */
function real(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(real(parent), basename(abs));
  }
}

function overlap(src: string, abs: string, exclude: HashContextOptions['exclude']): void {
  abs = real(abs);
  for (const e of exclude ?? []) {
    const x = real(e.path);
    if (isWithin(abs, x)) {
      throw new BuildError('CONTEXT_INVALID', `build context: files src ${JSON.stringify(src)} holds the ${e.what} (${x}), which would be copied into the image`, {
        hint: `copy a narrower directory, or keep the ${e.what} outside the build context`,
      });
    }
    if (isWithin(x, abs)) throw new BuildError('CONTEXT_INVALID', `build context: files src ${JSON.stringify(src)} is inside the ${e.what} (${x})`);
  }
}

interface TreeEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  digest?: Digest;
  executable?: boolean;
  target?: string;
}

async function hashTree(root: string, rel: string, signal?: AbortSignal): Promise<ContextDigest> {
  const entries: TreeEntry[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    throwIfAborted(signal, `hashing ${rel}`);
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const abs = join(dir, name);
      const path = prefix ? `${prefix}/${name}` : name;
      const st = await lstat(abs);
      if (st.isSymbolicLink()) entries.push({ path, type: 'symlink', target: await readlink(abs) });
      else if (st.isDirectory()) {
        entries.push({ path, type: 'dir' });
        await walk(abs, path);
      } else if (st.isFile()) {
        const { digest } = await digestFile(abs, signal ? { signal } : {});
        entries.push({ path, type: 'file', digest, executable: (st.mode & 0o100) !== 0 });
      } else {
        throw new BuildError('CONTEXT_INVALID', `build context: ${posix.join(rel, path)} is not a file, directory or symlink`);
      }
    }
  };
  await walk(root, '');
  return { kind: 'tree', digest: digestOf(canonicalJson(entries)), entries: entries.length };
}

/**
 * Hashes every build-context path the family copies (files by content and executable bit;
 * directories as a sorted listing of names, types, contents, executable bits and link targets).
 * Throws CONTEXT_INVALID naming the path when one cannot be read.
 */
export async function hashContext(options: HashContextOptions): Promise<Record<string, ContextDigest>> {
  const srcs = new Set<string>();
  for (const img of Object.values(options.family.images)) for (const f of img.files) srcs.add(f.src);
  const out: Record<string, ContextDigest> = {};
  for (const src of [...srcs].sort()) {
    throwIfAborted(options.signal, 'hashing the build context');
    const abs = resolve(options.contextDir, src);
    overlap(src, abs, options.exclude);
    try {
      const st = await stat(abs);
      if (st.isDirectory()) out[src] = await hashTree(abs, src, options.signal);
      else if (st.isFile()) {
        const { digest, size } = await digestFile(abs, options.signal ? { signal: options.signal } : {});
        out[src] = { kind: 'file', digest, size, executable: (st.mode & 0o100) !== 0 };
      } else throw new BuildError('CONTEXT_INVALID', `build context: ${src} is not a file or directory`);
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw new BuildError('CONTEXT_INVALID', `build context ${options.contextDir}: reading ${src}: ${fsReason(err)}`);
    }
  }
  return out;
}
