// Downloading exactly the locked .debs (spec debian.md §2.3 step 6): parallel with a limit, size
// and SHA256 verified while streaming, retried on network failures, cached by content hash, and
// with --offline only the cache is used and everything missing is listed.
import { copyFile, link, mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { errnoCode, mapLimit, tempPathFor } from '../core/index.js';
import { DebianError } from './errors.js';
import { checkCached, fetchToCache, type ExpectedFile, type Transport } from './http.js';
import type { LockedAptPackage } from './lock.js';

/** Progress of fetchPackages, reported after every finished file and while bytes arrive. */
export interface FetchProgress {
  readonly doneFiles: number;
  readonly totalFiles: number;
  readonly doneBytes: number;
  readonly totalBytes: number;
  /** Files that had to be downloaded (the rest were cached). */
  readonly downloads: number;
}

/** Options of fetchPackages. */
export interface FetchPackagesOptions {
  readonly packages: readonly LockedAptPackage[];
  readonly transport: Transport;
  /** Also place each file as `<dest>/<basename of Filename>` (hard link from the cache, or a copy). */
  readonly dest?: string;
  /** Parallel downloads (default 4). */
  readonly concurrency?: number;
  readonly onProgress?: (p: FetchProgress) => void;
  /** Names the lock the packages come from in hash-mismatch errors (default "the lock"). */
  readonly lockFile?: string;
}

/** A locked package and where its verified file is. */
export interface FetchedPackage {
  readonly package: LockedAptPackage;
  /** The file in `dest` when given, else in the cache. */
  readonly path: string;
  /** True when it was already in the cache (no download). */
  readonly cached: boolean;
}

/** The download URL of a locked package: archive root + Filename, each path segment percent-encoded (apt encodes `+` too, which some object stores read as a space). */
export function packageUrl(p: Pick<LockedAptPackage, 'uri' | 'filename'>): string {
  const base = p.uri.endsWith('/') ? p.uri : `${p.uri}/`;
  return base + p.filename.split('/').map(encodeURIComponent).join('/');
}

/** What a locked file must be (hash, size), its name in messages, and the lock that says so. */
export function lockedFile(p: LockedAptPackage, lockFile = 'the lock'): ExpectedFile {
  return { sha256: p.sha256, size: p.size, what: `${p.filename} (${p.name} ${p.version})`, lockFile };
}

/**
 * Makes sure every locked file is in the cache (downloading what is missing) and optionally in
 * `dest`. Files shared by several architectures (`all` packages) are fetched once.
 * Offline, missing files fail with DebianError('OFFLINE_MISSING') listing them.
 */
export async function fetchPackages(options: FetchPackagesOptions): Promise<FetchedPackage[]> {
  const t = options.transport;
  const unique = new Map<string, LockedAptPackage>();
  for (const p of options.packages) if (!unique.has(p.sha256)) unique.set(p.sha256, p);
  const files = [...unique.values()];
  const cachedFlags = await Promise.all(files.map((p) => t.cache.has(p.sha256, p.size, checkCached(t, lockedFile(p).what))));
  const missing = files.filter((_, i) => !cachedFlags[i]);
  if (t.offline && missing.length) {
    const shown = missing.slice(0, 20).map((p) => `  ${p.name}=${p.version} (${p.architecture}) ${p.filename}`);
    throw new DebianError('OFFLINE_MISSING', `--offline: ${missing.length} of ${files.length} locked files are not in the cache:\n${shown.join('\n')}${missing.length > 20 ? `\n  ... and ${missing.length - 20} more` : ''}`, {
      hint: 'run the same command without --offline once to fill the cache',
    });
  }
  const totalBytes = files.reduce((n, p) => n + p.size, 0);
  let doneBytes = files.reduce((n, p, i) => n + (cachedFlags[i] ? p.size : 0), 0);
  let doneFiles = files.length - missing.length;
  const report = () => options.onProgress?.({ doneFiles, totalFiles: files.length, doneBytes, totalBytes, downloads: missing.length });
  report();
  await mapLimit(missing, options.concurrency ?? 4, async (p) => {
    let got = 0;
    try {
      await fetchToCache(t, [packageUrl(p)], lockedFile(p, options.lockFile), {
        onBytes: (n) => {
          got += n;
          doneBytes += n;
          report();
        },
      });
    } catch (err) {
      doneBytes -= got;
      throw err;
    }
    doneFiles++;
    report();
  });
  const where = new Map<string, string>();
  if (options.dest) {
    await mkdir(options.dest, { recursive: true });
    for (const p of files) where.set(p.sha256, await materialize(t.cache.blobPath(p.sha256), join(options.dest, basename(p.filename)), p.size));
  }
  return options.packages.map((p) => ({
    package: p,
    path: where.get(p.sha256) ?? t.cache.blobPath(p.sha256),
    cached: cachedFlags[files.findIndex((f) => f.sha256 === p.sha256)] === true,
  }));
}

/** Puts a cached file at `target` (hard link, else copy), atomically; an existing file of the right size is kept. */
async function materialize(source: string, target: string, size: number): Promise<string> {
  try {
    const st = await stat(target);
    if (st.isFile() && st.size === size) {
      const src = await stat(source);
      if (src.ino === st.ino && src.dev === st.dev) return target;
    }
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  const tmp = tempPathFor(target);
  try {
    try {
      await link(source, tmp);
    } catch (err) {
      if (!['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP'].includes(errnoCode(err) ?? '')) throw err;
      await copyFile(source, tmp);
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return target;
}
