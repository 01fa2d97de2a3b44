// Garbage collection of a layout store.
//
// The rule (why it is safe next to concurrent lading writers):
// 1. gc holds the index lock for its whole run, so no name is added or moved meanwhile; what is
//    reachable from index.json cannot grow while it looks.
// 2. Writers store blobs before they take the lock to name them, so an unnamed blob may belong to
//    a write in progress. Every lading writer holds a lease (`.lading/leases/`, taken before its
//    first blob) and gc keeps every unreachable blob whose mtime is at or after the start of the
//    oldest live lease, or of gc itself (minus 2 s of slack), or younger than `minAgeMs`.
// 3. A writer that reuses a blob already present refreshes its mtime first (touchIfPresent). gc
//    deletes by renaming the blob aside, then re-reads its mtime: a touch that landed before the
//    rename shows up and the blob is put back; a touch after the rename fails, and the writer
//    writes the blob again.
// 4. Temp files carry their writer's pid; those of live writers are kept (unless older than
//    `tempMaxAgeMs`), those of dead writers removed. Leases of dead writers are removed.
// 5. Referrers: an unreachable manifest whose `subject` is reachable is kept, with everything it
//    points to (signatures and SBOMs stay while their image stays).
// 6. gc deletes nothing when a reachable manifest cannot be read: it cannot know what that
//    manifest needs. A corrupt blob that a name reaches is never deleted by gc (`verify` reports
//    it); an unreachable blob goes whatever its bytes, without being hashed.
// NOTE: liveness is judged by pid on this host; a store shared between hosts is not supported.
import { link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, errnoCode, isProcessAlive, parseJson, type Digest } from '../core/index.js';
import { DescriptorSchema, type Descriptor, type IoOptions } from '../oci/index.js';
import { describeEntry, MAX_MANIFEST_BYTES, type LayoutBase } from './base.js';
import { LayoutError } from './errors.js';
import { tempOwnerPid } from './paths.js';
import { edgesOf, isWalkable } from './walk.js';

const SLACK_MS = 2_000;

/** Options of gc. */
export interface GcOptions extends IoOptions {
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
  /**
   * Unreachable blobs younger than this are kept. Default 0: lading writers are protected by
   * leases; raise it when tools without leases (skopeo, umoci) may be writing into the store.
   */
  minAgeMs?: number;
  /** Temp files older than this are removed even if their writer still runs. Default 24 h. */
  tempMaxAgeMs?: number;
}

/** What gc did (or, with dryRun, would do). */
export interface GcReport {
  /** Blobs removed. */
  removed: number;
  /** Bytes of removed blobs and temp files. */
  freedBytes: number;
  /** Digests of the removed blobs, sorted. */
  removedDigests: Digest[];
  /** Blobs kept because they are reachable from index.json (directly, or as referrers). */
  reachable: number;
  /** Unreachable blobs kept because a writer may still name them (lease, age). */
  protected: number;
  /** Leftover temp files removed. */
  tempFilesRemoved: number;
  /** Leases of dead writers removed. */
  staleLeasesRemoved: number;
  dryRun: boolean;
}

/** Removes unreachable blobs and leftovers of crashed writers; see the rule at the top of gc.ts. */
export async function collectGarbage(store: LayoutBase, options: GcOptions = {}): Promise<GcReport> {
  const dryRun = options.dryRun === true;
  return store.withLock(async () => {
    const started = Date.now();
    const index = await store.readIndex(options);
    const report: GcReport = { removed: 0, freedBytes: 0, removedDigests: [], reachable: 0, protected: 0, tempFilesRemoved: 0, staleLeasesRemoved: 0, dryRun };

    // Leases: the oldest live writer bounds what may be unnamed work in progress.
    let oldestWriter = started;
    for (const { file, record } of await store.readLeases()) {
      const alive = record !== undefined && isProcessAlive(record.pid, typeof record.start === 'string' ? record.start : undefined);
      if (alive) {
        oldestWriter = Math.min(oldestWriter, record.started);
      } else if (record !== undefined || (await ageMs(file)) > 60_000) {
        // An unreadable lease may be one being written right now: give it a minute.
        if (!dryRun) await rm(file, { force: true });
        report.staleLeasesRemoved++;
      }
    }
    const keepNewerThan = Math.min(oldestWriter - SLACK_MS, started - (options.minAgeMs ?? 0));

    await removeTemps(store, options, report);

    // Mark everything reachable from index.json.
    const reachable = new Set<string>();
    const mark = async (desc: Descriptor, what: string): Promise<void> => {
      if (reachable.has(desc.digest)) return;
      reachable.add(desc.digest);
      if (!isWalkable(desc.mediaType)) return;
      const st = await store.statBlob(desc.digest);
      if (!st) return;
      let doc;
      try {
        doc = await store.readManifest(desc, what, options);
      } catch (err) {
        throw new LayoutError('MANIFEST_INVALID', `${store.label}: gc: cannot read ${what}: ${describeError(err)}; nothing was removed (run \`lading store verify\`)`, { cause: err });
      }
      for (const e of edgesOf(doc)) await mark(e.descriptor, `${what} ${e.field}`);
    };
    for (const [i, d] of index.manifests.entries()) {
      await mark(d, describeEntry(d, i));
    }

    // Referrers: unreachable manifests whose subject is reachable, until nothing changes.
    const blobs = await store.listBlobs(options);
    for (let changed = true; changed; ) {
      changed = false;
      for (const b of blobs) {
        if (reachable.has(b.digest) || b.size > MAX_MANIFEST_BYTES) continue;
        const self = await referrerDescriptor(store, b.digest, b.size, reachable);
        if (self) {
          await mark(self, `referrer ${b.digest}`);
          changed = true;
        }
      }
    }

    for (const b of blobs) {
      if (reachable.has(b.digest)) {
        report.reachable++;
        continue;
      }
      if (b.mtimeMs >= keepNewerThan) {
        report.protected++;
        continue;
      }
      if (dryRun) {
        report.removed++;
        report.freedBytes += b.size;
        report.removedDigests.push(b.digest);
        continue;
      }
      if (await removeBlob(store, b.path, keepNewerThan)) {
        report.removed++;
        report.freedBytes += b.size;
        report.removedDigests.push(b.digest);
      } else {
        report.protected++;
      }
    }
    report.removedDigests.sort();
    store.logger.debug('gc done', { store: store.path, removed: report.removed, freedBytes: report.freedBytes });
    return report;
  }, options);
}

async function ageMs(file: string): Promise<number> {
  try {
    return Date.now() - (await stat(file)).mtimeMs;
  } catch {
    return 0;
  }
}

/** The descriptor of a small blob that is a manifest whose `subject` is already reachable, else undefined. */
async function referrerDescriptor(store: LayoutBase, digest: Digest, size: number, reachable: ReadonlySet<string>): Promise<Descriptor | undefined> {
  let body: unknown;
  try {
    const raw = await store.readBlob({ mediaType: 'application/octet-stream', digest, size }, { maxBytes: MAX_MANIFEST_BYTES });
    if (raw[0] !== 0x7b) return undefined; // not a JSON object
    body = parseJson(raw, digest);
  } catch {
    return undefined; // corrupt or not JSON: not a referrer (verify reports corruption)
  }
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const subject = DescriptorSchema.safeParse(b.subject);
  if (!subject.success || !reachable.has(subject.data.digest)) return undefined;
  const mediaType = typeof b.mediaType === 'string' ? b.mediaType : Array.isArray(b.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json';
  return { mediaType, digest, size };
}

/**
 * Deletes a blob unless a writer touched it meanwhile: rename aside, re-check the mtime (the
 * inode keeps a touch that landed before the rename), put it back or unlink it.
 */
async function removeBlob(store: LayoutBase, path: string, keepNewerThan: number): Promise<boolean> {
  const aside = store.paths.newTemp();
  await mkdir(store.paths.tmp, { recursive: true });
  try {
    await rename(path, aside);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw new LayoutError('IO', `${store.label}: gc: removing ${path}: ${describeError(err)}`, { cause: err });
  }
  const st = await stat(aside);
  if (st.mtimeMs >= keepNewerThan) {
    await link(aside, path).catch((err: unknown) => {
      if (errnoCode(err) !== 'EEXIST') throw err; // a writer already put a fresh copy there
    });
    await rm(aside, { force: true });
    return false;
  }
  await rm(aside, { force: true });
  return true;
}

/** Removes temp files of dead writers (and very old ones) from `.lading/tmp` and the store root. */
async function removeTemps(store: LayoutBase, options: GcOptions, report: GcReport): Promise<void> {
  const maxAge = options.tempMaxAgeMs ?? 24 * 3600_000;
  const dirs = [store.paths.tmp, store.path];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw new LayoutError('IO', `${store.label}: gc: listing ${dir}: ${describeError(err)}`, { cause: err });
    }
    for (const name of names) {
      const pid = tempOwnerPid(name);
      if (pid === undefined) continue; // not a temp file of ours: unknown files are left alone
      const file = join(dir, name);
      let st;
      try {
        st = await stat(file);
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      if (isProcessAlive(pid) && Date.now() - st.mtimeMs < maxAge) continue;
      if (!options.dryRun) await rm(file, { force: true });
      report.tempFilesRemoved++;
      report.freedBytes += st.size;
    }
  }
}
