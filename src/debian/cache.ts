// The on-disk download cache: files stored by the SHA256 of their content (indexes uncompressed,
// .debs as they are), plus small revalidation records for InRelease URLs. Safe for concurrent use
// by several processes: every write is temp + fsync + rename of content that was verified first,
// so two writers of the same name write the same bytes (spec debian.md §2.4: content-addressed).
import { createHash } from 'node:crypto';
import { readFile, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile, digestFile, errnoCode, parseJson } from '../core/index.js';

/** What was learnt about a URL the last time it was fetched, for If-None-Match / If-Modified-Since. */
export interface HttpRecord {
  /** The URL without credentials. */
  url: string;
  /** SHA256 (hex) of the body, which is in the blob store. */
  sha256: string;
  size: number;
  etag?: string;
  lastModified?: string;
  /** ISO time of the last successful fetch or revalidation. */
  checkedAt: string;
}

/**
 * A Release file whose signature was verified: the signed text (in the blob store) and the
 * signers. Keyed by the file's SHA256 and the identity of the keyring it was checked against.
 */
export interface VerifiedRecord {
  /** SHA256 (hex) of the signed text, which is in the blob store. */
  textSha256: string;
  signers: string[];
  /** ISO time of the verification; old records are verified again (keys expire). */
  verifiedAt: string;
}

/** A content-addressed cache directory (the CLI's `--cache`, `LADING_CACHE`). */
export class AptCache {
  /** The cache directory. */
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** Where content with this SHA256 (hex) lives. */
  blobPath(sha256: string): string {
    return join(this.root, 'blobs', 'sha256', sha256);
  }

  /**
   * Where the scan of the Packages index with this SHA256 (hex, uncompressed) is kept
   * (index-cache.ts); the format version is part of the path, so lading versions never share one.
   */
  scanPath(sha256: string, format: number): string {
    return join(this.root, 'packages-scan', `v${format}`, sha256);
  }

  /** Directory for temp files, on the same filesystem as the blobs (renames stay atomic). */
  tmpDir(): string {
    return join(this.root, 'tmp');
  }

  /** Hashes this cache object has read back and found right (a blob is hashed once, not per use). */
  private readonly checked = new Set<string>();

  /**
   * True when content with this hash and size is cached. Size is checked (cheap); the hash was
   * checked on write, and with `verify` it is checked again, once per AptCache: a file damaged or
   * edited in the cache is removed, reported to `onDamaged`, and reads as missing (apt also
   * re-checks its archive cache). A hit counts as a use (see markUsed).
   */
  async has(sha256: string, size?: number, verify?: { signal?: AbortSignal; onDamaged?: (path: string) => void }): Promise<boolean> {
    const path = this.blobPath(sha256);
    try {
      const st = await stat(path);
      if (!st.isFile() || (size !== undefined && st.size !== size)) return false;
      if (verify && !this.checked.has(sha256)) {
        const { digest } = await digestFile(path, verify.signal ? { signal: verify.signal } : {});
        if (digest !== `sha256:${sha256}`) {
          await rm(path, { force: true });
          verify.onDamaged?.(path);
          return false;
        }
        this.checked.add(sha256);
      }
      await markUsed(path, st.mtime);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  private recordPath(url: string): string {
    return join(this.root, 'http', `${createHash('sha256').update(url).digest('hex')}.json`);
  }

  /** The revalidation record of a URL, or undefined (also when unreadable: it is only an optimisation). */
  async readRecord(url: string): Promise<HttpRecord | undefined> {
    try {
      const rec = parseJson(await readFile(this.recordPath(url)), `cache record for ${url}`) as HttpRecord;
      return rec && rec.url === url && typeof rec.sha256 === 'string' ? rec : undefined;
    } catch {
      return undefined;
    }
  }

  private verifiedPath(releaseSha256: string, keyringId: string): string {
    return join(this.root, 'verified', `${releaseSha256}-${keyringId}.json`);
  }

  /** A cached verification result, or undefined. */
  async readVerified(releaseSha256: string, keyringId: string): Promise<VerifiedRecord | undefined> {
    try {
      const rec = parseJson(await readFile(this.verifiedPath(releaseSha256, keyringId)), 'verification record') as VerifiedRecord;
      return rec && typeof rec.textSha256 === 'string' && Array.isArray(rec.signers) ? rec : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores a verification result (after the text is in the blob store). */
  async writeVerified(releaseSha256: string, keyringId: string, rec: VerifiedRecord, signal?: AbortSignal): Promise<void> {
    await atomicWriteFile(this.verifiedPath(releaseSha256, keyringId), `${JSON.stringify(rec)}\n`, { signal, fsync: false });
  }

  /** Stores a revalidation record (atomic; last writer wins, all writers are right). */
  async writeRecord(rec: HttpRecord, signal?: AbortSignal): Promise<void> {
    await atomicWriteFile(this.recordPath(rec.url), `${JSON.stringify(rec)}\n`, { signal, fsync: false });
  }
}

/**
 * Records that a cache file was used, for `lading apt clean` (clean.ts): its access time is set to
 * now, its modification time kept (a .deb hard-linked out by `apt fetch --dest` keeps its
 * mtime). Explicit, because noatime mounts never update atime and a .deb whose decoded members
 * are cached is not read at all. Best effort: a read-only cache still works.
 */
export async function markUsed(path: string, mtime: Date): Promise<void> {
  await utimes(path, new Date(), mtime).catch(() => undefined);
}

/** markUsed for a path whose mtime is not at hand. */
export async function markPathUsed(path: string): Promise<void> {
  try {
    await markUsed(path, (await stat(path)).mtime);
  } catch {
    // gone or unreadable: nothing to record
  }
}
