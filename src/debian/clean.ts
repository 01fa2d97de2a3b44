// `lading apt clean`: keeps the apt cache from growing without end. A daily build adds the .debs
// of every new package version, their decoded members (deb-data, about four times the .debs) and
// the scans of every new Packages index, and nothing ever removes them. Cache hits record a use
// (cache.ts markUsed: atime now); clean removes what was not used for a while, like
// `apt-get autoclean`, or everything with `all`, like `apt-get clean`.
import { constants } from 'node:fs';
import { open, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../core/index.js';
import { DebianError } from './errors.js';

/** What a removed (or, with dryRun, removable) cache file was. */
export type CacheFileKind = 'package' | 'index' | 'decoded' | 'scan' | 'record' | 'temp';

/** Options of cleanAptCache. */
export interface CleanAptCacheOptions {
  /** The cache directory (`--cache`, `LADING_CACHE`). */
  readonly cacheDir: string;
  /** Remove what was not used for this many days (default 30). Ignored with `all`. */
  readonly unusedForDays?: number;
  /** Remove everything (downloads, decoded packages, scans, records). */
  readonly all?: boolean;
  /** Report what would go, remove nothing. */
  readonly dryRun?: boolean;
  /** The current time (tests). */
  readonly now?: Date;
  readonly signal?: AbortSignal;
}

/** One cache entry (a file, or the files of one decoded package). */
export interface CacheEntry {
  /** Path relative to the cache directory (for a decoded package: its `.ok` marker). */
  readonly path: string;
  readonly kind: CacheFileKind;
  readonly bytes: number;
  /** Last use (the later of atime and mtime). */
  readonly usedAt: Date;
}

/** What cleanAptCache did. */
export interface CleanAptCacheResult {
  readonly cacheDir: string;
  readonly dryRun: boolean;
  /** The cut-off: entries last used before it were removed (undefined with `all`). */
  readonly unusedSince?: Date;
  readonly removed: CacheEntry[];
  readonly removedBytes: number;
  readonly kept: number;
  readonly keptBytes: number;
}

const DAY_MS = 86_400_000;
/** Temp files of writers (names starting with '.', everything in tmp/) go after a day. */
const TEMP_AGE_MS = DAY_MS;

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}

async function fileInfo(path: string): Promise<{ bytes: number; usedAt: Date } | undefined> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return undefined;
    return { bytes: st.size, usedAt: new Date(Math.max(st.atimeMs, st.mtimeMs)) };
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether a blob is a .deb (an ar archive). Read without touching its access time, which is its last use. */
async function isArArchive(path: string): Promise<boolean> {
  const buf = Buffer.alloc(8);
  try {
    // O_NOATIME needs the file's owner (or root); otherwise the times are put back afterwards.
    const fh = await open(path, constants.O_RDONLY | constants.O_NOATIME).catch(async () => {
      const before = await stat(path);
      const h = await open(path, 'r');
      return Object.assign(h, { restore: () => utimes(path, before.atime, before.mtime) });
    });
    try {
      await fh.read(buf, 0, 8, 0);
    } finally {
      await fh.close();
      if ('restore' in fh) await fh.restore();
    }
  } catch {
    return false;
  }
  return buf.toString('latin1') === '!<arch>\n';
}

/**
 * Removes cache entries not used since `now - unusedForDays` (or all of them), and temp files
 * older than a day. A decoded package goes as a whole, marker first, so no reader trusts a
 * half-removed entry.
 */
export async function cleanAptCache(options: CleanAptCacheOptions): Promise<CleanAptCacheResult> {
  const days = options.unusedForDays ?? 30;
  if (!options.all && (!Number.isFinite(days) || days < 0)) {
    throw new DebianError('OPTIONS_INVALID', `cleaning the apt cache: unused-for must be a number of days >= 0, got ${days}`);
  }
  const root = options.cacheDir;
  const now = options.now ?? new Date();
  const cutoff = options.all ? undefined : new Date(now.getTime() - days * DAY_MS);
  try {
    if (!(await stat(root)).isDirectory()) throw new DebianError('OPTIONS_INVALID', `cleaning the apt cache: ${root} is not a directory`);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { cacheDir: root, dryRun: options.dryRun === true, ...(cutoff ? { unusedSince: cutoff } : {}), removed: [], removedBytes: 0, kept: 0, keptBytes: 0 };
    throw err;
  }
  // An OCI image layout has the same blobs/sha256/<hex> shape: `--cache` naming a store must not
  // empty it.
  for (const marker of ['oci-layout', 'index.json']) {
    if (await stat(join(root, marker)).then(() => true, () => false)) {
      throw new DebianError('OPTIONS_INVALID', `cleaning the apt cache: ${root} is an OCI image layout (it has ${marker}), not an apt cache; nothing removed`, {
        hint: 'check --cache and LADING_CACHE: they must not name the store',
      });
    }
  }
  const removed: CacheEntry[] = [];
  let kept = 0;
  let keptBytes = 0;

  const consider = async (entry: CacheEntry, files: readonly string[]) => {
    options.signal?.throwIfAborted();
    const temp = entry.kind === 'temp';
    const stale = options.all === true || (temp ? now.getTime() - entry.usedAt.getTime() > TEMP_AGE_MS : entry.usedAt < (cutoff as Date));
    if (!stale) {
      kept++;
      keptBytes += entry.bytes;
      return;
    }
    removed.push(entry);
    if (!options.dryRun) for (const f of files) await rm(join(root, f), { force: true });
  };
  const tempOrNot = (name: string, kind: CacheFileKind): CacheFileKind => (name.startsWith('.') ? 'temp' : kind);

  // Decoded packages: <sha256>.ok (written last) + .control.tar + .data.tar.
  const decoded = 'deb-data';
  const names = await list(join(root, decoded));
  const grouped = new Set<string>();
  for (const n of names) {
    const m = /^([0-9a-f]{64})\.ok$/.exec(n);
    if (!m) continue;
    const key = m[1] as string;
    const files = [`${key}.ok`, `${key}.control.tar`, `${key}.data.tar`].filter((f) => names.includes(f));
    files.forEach((f) => grouped.add(f));
    // files[0] is the marker: its times are the entry's last use.
    const infos = await Promise.all(files.map((f) => fileInfo(join(root, decoded, f))));
    const marker = infos[0];
    if (!marker) continue;
    const bytes = infos.reduce((sum, i) => sum + (i?.bytes ?? 0), 0);
    await consider({ path: join(decoded, n), kind: 'decoded', bytes, usedAt: marker.usedAt }, files.map((f) => join(decoded, f)));
  }
  // Members without a marker (a crash between the renames, or a removal cut short): temp-like.
  for (const n of names) {
    if (grouped.has(n)) continue;
    const info = await fileInfo(join(root, decoded, n));
    if (info) await consider({ path: join(decoded, n), kind: 'temp', ...info }, [join(decoded, n)]);
  }

  const plain = async (dir: string, kind: CacheFileKind) => {
    for (const n of await list(join(root, dir))) {
      const info = await fileInfo(join(root, dir, n));
      if (info) await consider({ path: join(dir, n), kind: tempOrNot(n, kind), ...info }, [join(dir, n)]);
    }
  };
  // .debs, indexes and Release texts share blobs/sha256 (content-addressed); a .deb is an ar
  // archive, which is how the report tells them apart. Both follow the same rule.
  for (const n of await list(join(root, 'blobs', 'sha256'))) {
    const path = join('blobs', 'sha256', n);
    const info = await fileInfo(join(root, path));
    if (info) await consider({ path, kind: tempOrNot(n, (await isArArchive(join(root, path))) ? 'package' : 'index'), ...info }, [path]);
  }
  for (const v of await list(join(root, 'packages-scan'))) await plain(join('packages-scan', v), 'scan');
  await plain('http', 'record');
  await plain('verified', 'record');
  await plain('tmp', 'temp');

  return {
    cacheDir: root,
    dryRun: options.dryRun === true,
    ...(cutoff ? { unusedSince: cutoff } : {}),
    removed,
    removedBytes: removed.reduce((n, e) => n + e.bytes, 0),
    kept,
    keptBytes,
  };
}
