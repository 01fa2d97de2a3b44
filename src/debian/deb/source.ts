// Where stage 1 reads a package's decoded members from: the .deb itself, or the decoded-member
// cache. Decoding xz is most of the CPU an unpack costs (~3 s for the Essential set plus python3
// here, against ~0.1 s to read the same tars back), so the decoded tars of a .deb are kept under
// the .deb's SHA256 when the caller knows it; the .deb was verified against that hash on fetch.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { errnoCode } from '../../core/index.js';
import { DebianError } from '../errors.js';
import { readDebLayout } from './ar.js';
import { decodeMember, type ChunkSink, type XzPipe } from './decode.js';

/** A cache entry: `dir/<key>.control.tar`, `dir/<key>.data.tar`, then `dir/<key>.ok` (their sizes) written last. */
export interface DecodedCache {
  dir: string;
  /** SHA256 (hex) of the .deb. */
  key: string;
}

/** The two members of a package as byte feeds. */
export interface MemberSources {
  /** For messages: `<file> member control.tar.xz` (or `... (cached)`). */
  controlName: string;
  dataName: string;
  control(sink: ChunkSink): Promise<void>;
  data(sink: ChunkSink): Promise<void>;
  /** Call once both members were read completely: closes files, commits cache entries. */
  finish(): void;
  /** Call on failure: closes files, drops partial cache entries. */
  abandon(): void;
}

const READ_CHUNK = 1024 * 1024;

function feedFile(path: string, sink: ChunkSink, buf: Buffer): void {
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      sink(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

function cacheHit(cache: DecodedCache): { control: string; data: string } | undefined {
  const base = join(cache.dir, cache.key);
  let marker: string;
  try {
    marker = readFileSync(`${base}.ok`, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const [controlSize, dataSize] = marker.trim().split(' ').map(Number);
  try {
    // A size check catches entries cut short by a crash (the files are not fsynced).
    if (statSync(`${base}.control.tar`).size !== controlSize || statSync(`${base}.data.tar`).size !== dataSize) return undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  // A hit is a use, for `lading apt clean` (cache.ts markUsed): atime now, mtime kept.
  try {
    utimesSync(`${base}.ok`, new Date(), statSync(`${base}.ok`).mtime);
  } catch {
    // a read-only cache still works
  }
  return { control: `${base}.control.tar`, data: `${base}.data.tar` };
}

/**
 * Opens the members of `debPath`: from the cache when it has them, else from the .deb (then,
 * with a cache, the decoded bytes are also written there as they pass).
 */
export async function openMembers(debPath: string, xz: XzPipe, cache: DecodedCache | undefined, signal?: AbortSignal): Promise<MemberSources> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  const hit = cache && cacheHit(cache);
  if (hit) {
    return {
      controlName: `${basename(debPath)} member control.tar (cached)`,
      dataName: `${basename(debPath)} member data.tar (cached)`,
      control: async (sink) => feedFile(hit.control, sink, buf),
      data: async (sink) => feedFile(hit.data, sink, buf),
      finish: () => undefined,
      abandon: () => undefined,
    };
  }
  const layout = await readDebLayout(debPath, { signal });
  const fd = openSync(debPath, 'r');
  let temps: Array<{ fd: number; path: string; final: string; size: number }> = [];
  const tee = (final: string): ((sink: ChunkSink) => ChunkSink) => {
    if (!cache) return (sink) => sink;
    mkdirSync(cache.dir, { recursive: true });
    const path = join(cache.dir, `.${basename(final)}.${process.pid}-${randomBytes(4).toString('hex')}`);
    const t = { fd: openSync(path, 'wx', 0o644), path, final, size: 0 };
    temps.push(t);
    return (sink) => (chunk) => {
      sink(chunk);
      let at = 0;
      while (at < chunk.length) at += writeSync(t.fd, chunk, at, chunk.length - at);
      t.size += chunk.length;
    };
  };
  const base = cache ? join(cache.dir, cache.key) : '';
  const teeControl = tee(`${base}.control.tar`);
  const teeData = tee(`${base}.data.tar`);
  const closeTemps = () => {
    for (const t of temps) closeSync(t.fd);
  };
  return {
    controlName: `${basename(debPath)} member ${layout.control.name}`,
    dataName: `${basename(debPath)} member ${layout.data.name}`,
    control: (sink) => decodeMember(fd, debPath, layout.control, teeControl(sink), xz, signal),
    data: (sink) => decodeMember(fd, debPath, layout.data, teeData(sink), xz, signal),
    finish: () => {
      closeSync(fd);
      closeTemps();
      if (cache && temps.length === 2) {
        for (const t of temps) renameSync(t.path, t.final);
        const [c, d] = temps;
        const marker = join(cache.dir, `.${cache.key}.ok.${process.pid}-${randomBytes(4).toString('hex')}`);
        writeFileSync(marker, `${c?.size ?? 0} ${d?.size ?? 0}\n`);
        renameSync(marker, `${base}.ok`);
      }
      temps = [];
    },
    abandon: () => {
      closeSync(fd);
      closeTemps();
      for (const t of temps) {
        try {
          unlinkSync(t.path);
        } catch {
          // already gone
        }
      }
      temps = [];
    },
  };
}

/** Checks a cache key is a SHA256 hex digest (it becomes a file name). */
export function checkCacheKey(key: string, what: string): void {
  if (!/^[a-f0-9]{64}$/.test(key)) throw new DebianError('DEB_INVALID', `${what}: sha256 must be 64 lower-case hex digits, got ${JSON.stringify(key)}`);
}
