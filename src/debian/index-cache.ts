// A persistent cache of Packages index scans: what PackagesIndex needs to find stanzas (package
// names, Provides, Essential) and where each stanza is in the index, so a warm resolve reads a
// file of a few MB instead of scanning bookworm's 50 MB main index again (the scan, its ~1M short
// strings and their garbage collection were most of a warm `apt resolve`).
//
// Keyed by the SHA256 of the uncompressed index, which the signed Release vouches for: the cache
// is content-addressed and never goes stale. Each file names the index digest and size it
// describes and carries the SHA256 of its own payload, so a truncated, corrupt or foreign file is
// detected on load, ignored and written again; it is never trusted blindly. Files are written
// atomically (temp + rename); concurrent writers of one index write identical bytes.
//
// The text of a stanza is read from the verified index in the blob store when the stanza is
// used (a resolve parses a few hundred of ~64k), and its Package field is checked against the
// name the scan recorded, so an index file changed under the cache is reported, not misread.
//
// File layout (integers little-endian u32 unless noted):
//   header  magic "LDPKSC01" | index SHA256 (32 bytes) | index size (f64) | payload SHA256 (32) | payload length
//   payload S, P, E, L (counts: stanzas, Provides entries, Essential ids, string bytes)
//           S x [start, end, line, nameOff, nameLen]      stanza byte range in the index, first line, Package
//           S x id                                       ids ordered by (name bytes, id): binary search
//           P x [nameOff, nameLen, id, versionOff, versionLen]  ordered by (name bytes, index order);
//                                                        versionLen 0xffffffff: no `(= version)`
//           E x id                                       Essential: yes, ascending
//           L bytes                                      strings (latin1), each stored once
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { atomicWriteFile, describeError, errnoCode, nullLogger, type Logger } from '../core/index.js';
import { markPathUsed, type AptCache } from './cache.js';
import { DebianError } from './errors.js';
import { PackagesIndex, parseOneStanza, ScannedTable, type PackageStanza, type ProvidesRef, type StanzaTable } from './packages.js';

/** Version of the scan file format; part of the file's path and magic. Bump on any change. */
export const SCAN_FORMAT = 1;

const MAGIC = Buffer.from('LDPKSC01', 'latin1');
const HEADER = 8 + 32 + 8 + 32 + 4;
const COUNTS = 16;
const STANZA = 20;
const PROVIDES = 20;
const NO_VERSION = 0xffffffff;
const U32_MAX = 0xffffffff;

/** Builds the scan file of an index (undefined when the index is too large for 32-bit offsets). */
export function encodeScan(table: ScannedTable, sha256: string, size: number): Buffer | undefined {
  const S = table.count;
  if (size > U32_MAX || S > U32_MAX / STANZA) return undefined;
  const parts: Buffer[] = [];
  let stringBytes = 0;
  const interned = new Map<string, number>();
  const intern = (s: string): number => {
    let off = interned.get(s);
    if (off === undefined) {
      off = stringBytes;
      const b = Buffer.from(s, 'latin1');
      parts.push(b);
      stringBytes += b.length;
      interned.set(s, off);
    }
    return off;
  };
  const byName = [...table.nameIds()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const nameOff = new Map<string, number>();
  for (const [name] of byName) nameOff.set(name, intern(name));
  const provides = [...table.allProvides()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let P = 0;
  for (const [name, list] of provides) {
    intern(name);
    for (const e of list) if (e.version !== undefined) intern(e.version);
    P += list.length;
  }
  const E = table.essentialIds.length;
  const length = COUNTS + S * STANZA + S * 4 + P * PROVIDES + E * 4 + stringBytes;
  if (length > U32_MAX) return undefined;
  const file = Buffer.alloc(HEADER + length);
  const payload = file.subarray(HEADER);
  let o = 0;
  const u32 = (v: number) => {
    o = payload.writeUInt32LE(v, o);
  };
  u32(S);
  u32(P);
  u32(E);
  u32(stringBytes);
  for (let id = 0; id < S; id++) {
    const name = table.names[id]!;
    u32(table.starts[id]!);
    u32(table.ends[id]!);
    u32(table.lines[id]!);
    u32(nameOff.get(name)!);
    u32(name.length);
  }
  for (const [, ids] of byName) for (const id of ids) u32(id);
  for (const [name, list] of provides) {
    for (const e of list) {
      u32(interned.get(name)!);
      u32(name.length);
      u32(e.id);
      u32(e.version === undefined ? 0 : interned.get(e.version)!);
      u32(e.version === undefined ? NO_VERSION : e.version.length);
    }
  }
  for (const id of table.essentialIds) u32(id);
  for (const b of parts) o += b.copy(payload, o);
  MAGIC.copy(file, 0);
  file.write(sha256, 8, 32, 'hex');
  file.writeDoubleLE(size, 40);
  createHash('sha256').update(payload).digest().copy(file, 48);
  file.writeUInt32LE(length, 80);
  return file;
}

/** The payload of a scan file, or why it cannot be used for this index. */
export function checkScan(file: Buffer, sha256: string, size: number): Buffer | string {
  if (file.length < HEADER || !file.subarray(0, MAGIC.length).equals(MAGIC)) return 'not a scan file of this format';
  if (file.toString('hex', 8, 40) !== sha256 || file.readDoubleLE(40) !== size) return 'it describes another index';
  const length = file.readUInt32LE(80);
  if (file.length !== HEADER + length) return `truncated or overlong (${file.length} bytes, header says ${HEADER + length})`;
  const payload = file.subarray(HEADER);
  if (!createHash('sha256').update(payload).digest().equals(file.subarray(48, 80))) return 'payload checksum mismatch';
  if (length < COUNTS) return 'malformed';
  const S = payload.readUInt32LE(0);
  const P = payload.readUInt32LE(4);
  const E = payload.readUInt32LE(8);
  const L = payload.readUInt32LE(12);
  if (COUNTS + S * STANZA + S * 4 + P * PROVIDES + E * 4 + L !== length) return 'malformed (section sizes)';
  return payload;
}

/** The payload's words as a Uint32Array: a view when aligned on a little-endian machine, else a copy. */
function wordsOf(payload: Buffer, count: number): Uint32Array {
  if (endianness() === 'LE' && payload.byteOffset % 4 === 0) return new Uint32Array(payload.buffer, payload.byteOffset, count);
  const words = new Uint32Array(count);
  for (let i = 0; i < count; i++) words[i] = payload.readUInt32LE(i * 4);
  return words;
}

/** The name as latin1 bytes, or undefined when it has a character latin1 cannot hold (no package has). */
function latin1(name: string): Buffer | undefined {
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) > 0xff) return undefined;
  return Buffer.from(name, 'latin1');
}

/**
 * A stanza table read from a checked scan file; stanza text comes from the index file itself.
 * Lookups are binary searches over the sorted tables, so loading costs no per-package work.
 */
class CachedTable implements StanzaTable {
  readonly count: number;
  readonly essentialIds: readonly number[];
  private readonly buf: Buffer;
  /** The counts and tables (everything before the strings) as 32-bit words. */
  private readonly w: Uint32Array;
  private readonly indexPath: string;
  private readonly indexSize: number;
  private readonly what: string;
  private readonly providesCount: number;
  /** Word positions of the tables, and byte position of the strings. */
  private readonly byNameAt: number;
  private readonly providesAt: number;
  private readonly stringsAt: number;

  constructor(payload: Buffer, indexPath: string, indexSize: number, what: string) {
    this.buf = payload;
    this.indexPath = indexPath;
    this.indexSize = indexSize;
    this.what = what;
    this.count = payload.readUInt32LE(0);
    this.providesCount = payload.readUInt32LE(4);
    const essentials = payload.readUInt32LE(8);
    this.byNameAt = COUNTS / 4 + this.count * (STANZA / 4);
    this.providesAt = this.byNameAt + this.count;
    const essentialAt = this.providesAt + this.providesCount * (PROVIDES / 4);
    this.w = wordsOf(payload, essentialAt + essentials);
    this.stringsAt = (essentialAt + essentials) * 4;
    this.essentialIds = Array.from(this.w.subarray(essentialAt, essentialAt + essentials));
  }

  /** Word `word` of stanza `id`'s record: 0 start, 1 end, 2 line, 3 name offset, 4 name length. */
  private field(id: number, word: number): number {
    if (id >= this.count) throw new DebianError('CACHE_INVALID', `${this.what}: cached scan refers to stanza ${id} of ${this.count}`);
    return this.w[COUNTS / 4 + id * (STANZA / 4) + word]!;
  }

  private str(off: number, len: number): string {
    return this.buf.toString('latin1', this.stringsAt + off, this.stringsAt + off + len);
  }

  idsOf(name: string): readonly number[] {
    const q = latin1(name);
    if (!q) return [];
    const { w, buf, byNameAt, stringsAt, count } = this;
    const base = COUNTS / 4;
    // The name of the stanza at sorted position i: its offset is word 3, its length word 4 of the record.
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const rec = base + w[byNameAt + mid]! * 5;
      const off = stringsAt + w[rec + 3]!;
      if (q.compare(buf, off, off + w[rec + 4]!) > 0) lo = mid + 1;
      else hi = mid;
    }
    const out: number[] = [];
    for (let i = lo; i < count; i++) {
      const id = w[byNameAt + i]!;
      const rec = base + id * 5;
      const off = stringsAt + w[rec + 3]!;
      if (q.compare(buf, off, off + w[rec + 4]!) !== 0) break;
      out.push(id);
    }
    return out;
  }

  providersOf(name: string): readonly ProvidesRef[] {
    const q = latin1(name);
    if (!q) return [];
    const { w, buf, providesAt, stringsAt, providesCount } = this;
    // Entry i: words providesAt + 5i .. +4 = name offset, name length, id, version offset, version length.
    let lo = 0;
    let hi = providesCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = providesAt + mid * 5;
      const off = stringsAt + w[e]!;
      if (q.compare(buf, off, off + w[e + 1]!) > 0) lo = mid + 1;
      else hi = mid;
    }
    const out: ProvidesRef[] = [];
    for (let i = lo; i < providesCount; i++) {
      const e = providesAt + i * 5;
      const off = stringsAt + w[e]!;
      if (q.compare(buf, off, off + w[e + 1]!) !== 0) break;
      const id = w[e + 2]!;
      const vlen = w[e + 4]!;
      out.push(vlen === NO_VERSION ? { id } : { id, version: this.str(w[e + 3]!, vlen) });
    }
    return out;
  }

  parse(id: number): PackageStanza {
    const start = this.field(id, 0);
    const end = this.field(id, 1);
    if (start > end || end > this.indexSize) throw new DebianError('CACHE_INVALID', `${this.what}: cached scan places stanza ${id} at bytes ${start}-${end} of ${this.indexSize}`);
    const p = parseOneStanza(readRange(this.indexPath, start, end, this.what), this.what, this.field(id, 2));
    const name = this.str(this.field(id, 3), this.field(id, 4));
    if (p.name !== name) {
      throw new DebianError('CACHE_INVALID', `${this.what}: ${this.indexPath} holds package ${JSON.stringify(p.name)} where its scan recorded ${JSON.stringify(name)} (the file changed on disk)`, {
        hint: `delete ${this.indexPath} and run again; it is downloaded anew`,
      });
    }
    return p;
  }
}

/** Reads bytes [start, end) of a file as latin1 text (synchronous: the resolver is; one stanza is a few hundred bytes). */
function readRange(path: string, start: number, end: number, what: string): string {
  const buf = Buffer.allocUnsafe(end - start);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, start + n);
      if (got === 0) throw new Error(`ends before byte ${end}`);
      n += got;
    }
  } catch (err) {
    throw new DebianError('CACHE_INVALID', `${what}: reading ${path}: ${describeError(err)}`, { cause: err, hint: 'the apt cache changed while lading ran; run again' });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return buf.toString('latin1');
}

/** Options of loadPackagesIndex. */
export interface LoadPackagesIndexOptions {
  readonly cache: AptCache;
  /** The uncompressed index in the blob store (verified when it was stored). */
  readonly indexPath: string;
  /** SHA256 (hex) and size of the uncompressed index, as the verified Release lists them. */
  readonly sha256: string;
  readonly size: number;
  /** Names the index in errors. */
  readonly what: string;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
}

/** An index and where it came from: the scan cache, or a scan of the index (which wrote the cache). */
export interface LoadedPackagesIndex {
  readonly index: PackagesIndex;
  readonly from: 'cache' | 'scan';
}

/**
 * Loads a Packages index through the scan cache: a valid scan file is used as it is; otherwise
 * the index is read, checked against its SHA256, scanned, and the scan file (re)written. A scan
 * file that cannot be written costs only speed (logged at debug level).
 */
export async function loadPackagesIndex(options: LoadPackagesIndexOptions): Promise<LoadedPackagesIndex> {
  const logger = options.logger ?? nullLogger;
  const path = options.cache.scanPath(options.sha256, SCAN_FORMAT);
  let file: Buffer | undefined;
  try {
    file = await readFile(path, { signal: options.signal });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    if (errnoCode(err) !== 'ENOENT') logger.debug(`${options.what}: cannot read the cached scan ${path}: ${describeError(err)}`);
  }
  if (file) {
    const payload = checkScan(file, options.sha256, options.size);
    if (typeof payload !== 'string') {
      await markPathUsed(path);
      return { index: PackagesIndex.fromTable(new CachedTable(payload, options.indexPath, options.size, options.what), options.what), from: 'cache' };
    }
    logger.debug(`${options.what}: ignoring the cached scan ${path} (${payload}); scanning the index again`);
  }
  const data = await readFile(options.indexPath, { signal: options.signal });
  // The scan is stored under this digest, so the bytes it is made from must have it.
  if (data.length !== options.size || createHash('sha256').update(data).digest('hex') !== options.sha256) {
    throw new DebianError('CACHE_INVALID', `${options.what}: the cached copy ${options.indexPath} does not match the SHA256 the Release lists (changed on disk)`, {
      hint: `delete ${options.indexPath} and run again; it is downloaded anew`,
    });
  }
  const table = new ScannedTable(data, options.what);
  const index = PackagesIndex.fromTable(table, options.what);
  let encoded: Buffer | undefined;
  try {
    encoded = encodeScan(table, options.sha256, options.size);
  } catch (err) {
    // An unparsable Provides field: not cached, so the error is raised where the index is used, as without a cache.
    if (!(err instanceof DebianError)) throw err;
  }
  if (encoded) {
    try {
      // No fsync: a file torn by a crash fails its checksum and is written again.
      await atomicWriteFile(path, encoded, { fsync: false, signal: options.signal });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      logger.debug(`${options.what}: cannot write the scan cache ${path}: ${describeError(err)}`);
    }
  }
  return { index, from: 'scan' };
}
