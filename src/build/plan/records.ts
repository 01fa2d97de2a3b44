// Build records in the store: the builder writes one per built image (input hash -> manifest
// digest + the inputs behind it); the planner reads them to reuse images and explain rebuilds.
// They live in the store's private corner (`.lading/build/`, ignored by other OCI tools).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile, describeError, errnoCode, fsReason, parseJson, prettyJson, splitDigest, throwIfAborted, type Digest, type Logger } from '../../core/index.js';
import { LayoutError, STATE_DIR } from '../../layout/index.js';
import { BuildError } from '../errors.js';
import type { StoreState } from './plan.js';
import { BuildRecordSchema, type BuildRecord } from './schema.js';

/** Where build records live in a store. */
export function recordPaths(storePath: string): { byHash: string; latest: string } {
  const base = join(storePath, STATE_DIR, 'build');
  return { byHash: join(base, 'records'), latest: join(base, 'latest') };
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The record kept under its input hash. */
function byHashPath(storePath: string, inputHash: string): string {
  return join(recordPaths(storePath).byHash, `${splitDigest(inputHash as Digest).hex}.json`);
}

/** The latest record of one image and architecture. */
function latestPath(storePath: string, family: string, image: string, arch: string): string {
  return join(recordPaths(storePath).latest, safeName(family), safeName(image), `${safeName(arch)}.json`);
}

/** Options of writeBuildRecord(). */
export interface WriteRecordOptions {
  readonly storePath: string;
  readonly record: BuildRecord;
  readonly signal?: AbortSignal;
}

/**
 * Writes a build record (atomically) under its input hash and as the latest record of its
 * image and architecture. Call it after the image's manifest is in the store.
 */
export async function writeBuildRecord(options: WriteRecordOptions): Promise<void> {
  const r = BuildRecordSchema.parse(options.record);
  const text = prettyJson(r);
  const signal = options.signal ? { signal: options.signal } : {};
  await atomicWriteFile(byHashPath(options.storePath, r.inputHash), text, signal);
  await atomicWriteFile(latestPath(options.storePath, r.family, r.image, r.arch), text, signal);
}

/**
 * Makes the record of a reused image the latest of its image and architecture, so that later
 * plans explain changes against the image in use, not against a newer build that was left
 * behind (a change reverted). Writes only when the latest differs.
 */
export async function markReused(options: { storePath: string; family: string; image: string; arch: string; inputHash: string; signal?: AbortSignal }): Promise<void> {
  const signal = options.signal ? { signal: options.signal } : {};
  const latest = latestPath(options.storePath, options.family, options.image, options.arch);
  let text: string;
  try {
    text = await readFile(byHashPath(options.storePath, options.inputHash), { encoding: 'utf8', ...signal });
  } catch {
    return; // no record to point at: nothing to explain against
  }
  const current = await readFile(latest, { encoding: 'utf8', ...signal }).catch(() => undefined);
  if (current !== text) await atomicWriteFile(latest, text, signal);
}

async function readRecord(path: string): Promise<BuildRecord> {
  const raw = parseJson(await readFile(path), path);
  const r = BuildRecordSchema.safeParse(raw);
  if (!r.success) throw new BuildError('RECORD_INVALID', `build record ${path}: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`);
  return r.data;
}

async function listJson(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** True when the manifest and every blob it names (config, layers) are in the store. */
async function present(storePath: string, digest: string): Promise<boolean> {
  const path = (d: string) => {
    const { algorithm, hex } = splitDigest(d as Digest);
    return join(storePath, 'blobs', algorithm, hex);
  };
  try {
    const doc = JSON.parse(await readFile(path(digest), 'utf8')) as { config?: { digest?: unknown; size?: unknown }; layers?: Array<{ digest?: unknown; size?: unknown }> };
    for (const ref of [doc.config, ...(doc.layers ?? [])]) {
      if (typeof ref?.digest !== 'string') return false;
      const st = await stat(path(ref.digest));
      if (!st.isFile() || st.size !== ref.size) return false; // gone or truncated (not hashed: `store verify` does that)
    }
    return true;
  } catch {
    return false; // unreadable, not a manifest, or a blob missing: not reusable
  }
}

/**
 * The record of an image built for `inputHash`, when that image is whole in the store: what a
 * build that waited for another one uses to reuse what that one just built.
 */
export async function findReusable(options: { storePath: string; family: string; inputHash: string; signal?: AbortSignal }): Promise<BuildRecord | undefined> {
  throwIfAborted(options.signal, 'reading build records');
  let r: BuildRecord;
  try {
    r = await readRecord(byHashPath(options.storePath, options.inputHash));
  } catch {
    return undefined;
  }
  return r.family === options.family && r.inputHash === options.inputHash && (await present(options.storePath, r.digest)) ? r : undefined;
}

/** Options of readBuildRecords(). */
export interface ReadRecordsOptions {
  readonly storePath: string;
  /** Only records of this family (project.name). */
  readonly family: string;
  readonly signal?: AbortSignal;
  /** Told of each unreadable record (a warning: it only costs a rebuild). */
  readonly logger?: Logger;
}

/**
 * Reads the store's build records for one family: `records` are those whose image is still
 * whole in the store (manifest, config and layers: reusable), `previous` the latest per
 * image/arch (to explain rebuilds). A missing store reads as empty. Unreadable records are
 * skipped with a warning: a record only saves work.
 */
export async function readBuildRecords(options: ReadRecordsOptions): Promise<StoreState> {
  // A store path that is a file would otherwise fail below as a records directory that is not one.
  // Worded and coded as the layout module says it (`store ls`).
  const st = await stat(options.storePath).catch((err: unknown) => {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new LayoutError('NOT_A_LAYOUT', `oci:${options.storePath}: ${fsReason(err)}`, { cause: err });
  });
  if (st && !st.isDirectory()) throw new LayoutError('NOT_A_LAYOUT', `oci:${options.storePath}: not a directory`, { hint: 'point --store (or LADING_STORE) at a directory' });
  const paths = recordPaths(options.storePath);
  const unreadable = (path: string, err: unknown) => {
    let reason = describeError(err);
    for (const prefix of [`build record ${path}: `, `${path}: `]) if (reason.startsWith(prefix)) reason = reason.slice(prefix.length);
    options.logger?.warn(`build record ${path} is unreadable (${reason}): ignored, so what it records may be rebuilt`);
  };
  const records: BuildRecord[] = [];
  for (const name of await listJson(paths.byHash)) {
    throwIfAborted(options.signal, 'reading build records');
    let r: BuildRecord;
    try {
      r = await readRecord(join(paths.byHash, name));
    } catch (err) {
      unreadable(join(paths.byHash, name), err);
      continue;
    }
    if (r.family === options.family && (await present(options.storePath, r.digest))) records.push(r);
  }
  const previous: BuildRecord[] = [];
  const famDir = join(paths.latest, safeName(options.family));
  let images: string[] = [];
  try {
    images = (await readdir(famDir)).sort();
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err;
  }
  for (const img of images) {
    for (const name of await listJson(join(famDir, img))) {
      try {
        previous.push(await readRecord(join(famDir, img, name)));
      } catch (err) {
        unreadable(join(famDir, img, name), err);
      }
    }
  }
  return { records, previous };
}
