// POSIX ustar/pax header encoding and decoding, written here so lading controls every byte of a
// layer (tar-stream's writer adds its own choices). Layout: POSIX `pax` utility specification,
// "ustar Interchange Format" and "pax Interchange Format"
// (https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html); oci-image.md section 8.
//
// The bytes follow what GNU tar writes with
//   tar --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
//       --sort=name --numeric-owner --owner=0 --group=0 --mtime=@E --clamp-mtime
// (mmdebstrap's options): octal fields zero-padded and NUL-terminated, checksum "%06o\0 ",
// empty uname/gname, devmajor/devminor "0000000\0", an extended header only when a value does
// not fit ustar, named `<dir>/PaxHeaders/<base>`, with SOURCE_DATE_EPOCH as its mtime (GNU uses
// the --mtime value; without an epoch lading uses the entry's mtime). Differences: names of
// 101-256 bytes that split at a `/` use the ustar prefix field (as Go's archive/tar and GNU's
// ustar format do; GNU's posix format writes a pax path instead), xattr records are sorted by
// name (GNU uses listxattr order, which depends on the filesystem), and the archive ends after
// two zero blocks (GNU pads to 10240 bytes).
import { OciError } from '../errors.js';

/** Size of a tar block. */
export const BLOCK = 512;

/** Tar entry types lading writes and reads (typeflag values from the ustar specification). */
export type TarType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'dir' | 'fifo';

const TYPEFLAG: Record<TarType, number> = {
  file: 0x30, // '0'
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  chardev: 0x33, // '3'
  blockdev: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
};

/** One archive member as written to or read from the header blocks. */
export interface TarHeader {
  /** Member name as stored: no `./` prefix, directories end with `/`. */
  name: string;
  type: TarType;
  /** Permission bits plus setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content size; 0 for everything but regular files. */
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  /** Symlink target, or the member name a hardlink points to. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes, emitted as `SCHILY.xattr.<name>` records (values are raw bytes). */
  xattrs: ReadonlyMap<string, Uint8Array>;
}

const MAX_OCTAL_7 = 0o7777777; // 8-byte fields: 7 digits + NUL
const MAX_OCTAL_11 = 0o77777777777; // 12-byte fields: 11 digits + NUL (8 GiB - 1 for size)
const enc = new TextEncoder();

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x01-\x7f]*$/.test(s);
}

function writeOctal(buf: Buffer, off: number, width: number, value: number): void {
  // width includes the terminating NUL, as GNU tar writes numeric fields.
  const s = value.toString(8).padStart(width - 1, '0');
  buf.write(s, off, width - 1, 'ascii');
  buf[off + width - 1] = 0;
}

function writeBytes(buf: Buffer, off: number, width: number, data: Uint8Array): void {
  buf.set(data.length > width ? data.subarray(0, width) : data, off);
}

/** Splits a name into ustar prefix (<=155 bytes) and name (<=100 bytes) at a `/`, or undefined. */
function splitUstarName(name: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | undefined {
  if (name.length <= 100) return { prefix: new Uint8Array(0), name };
  if (name.length > 256) return undefined;
  // The prefix takes as much as possible: the last '/' whose tail still fits in 100 bytes.
  // A trailing '/' of a directory name stays with the name part.
  const limit = Math.min(155, name.length - 2);
  for (let i = limit; i >= 1; i--) {
    if (name[i] !== 0x2f) continue;
    const tail = name.subarray(i + 1);
    if (tail.length > 100 || tail.length === 0) return undefined;
    return { prefix: name.subarray(0, i), name: tail };
  }
  return undefined;
}

/** One pax record "<len> <key>=<value>\n"; the length counts itself. */
function paxRecord(key: string, value: Uint8Array): Buffer {
  const body = Buffer.concat([enc.encode(` ${key}=`), value, enc.encode('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([enc.encode(String(len)), body]);
}

function paxHeaderName(name: string): Uint8Array {
  // GNU's %d/PaxHeaders/%f with %d = "." for top-level members; never pid-based.
  const trimmed = name.endsWith('/') ? name.slice(0, -1) : name;
  const slash = trimmed.lastIndexOf('/');
  const dir = slash < 0 ? '.' : trimmed.slice(0, slash);
  const base = slash < 0 ? trimmed : trimmed.slice(slash + 1);
  return enc.encode(`${dir}/PaxHeaders/${base}`);
}

function ustarBlock(h: {
  name: Uint8Array;
  prefix: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: Uint8Array;
  /** undefined leaves the field empty, as GNU tar does in extended headers. */
  devmajor: number | undefined;
  devminor: number | undefined;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeBytes(b, 0, 100, h.name);
  writeOctal(b, 100, 8, h.mode);
  writeOctal(b, 108, 8, h.uid);
  writeOctal(b, 116, 8, h.gid);
  writeOctal(b, 124, 12, h.size);
  writeOctal(b, 136, 12, h.mtime);
  b.fill(0x20, 148, 156); // checksum is computed with its field as 8 spaces
  b[156] = h.typeflag;
  writeBytes(b, 157, 100, h.linkname);
  b.write('ustar\u000000', 257, 8, 'latin1');
  // uname[32] and gname[32] stay empty: numeric owners only (oci-image.md section 9).
  if (h.devmajor !== undefined) writeOctal(b, 329, 8, h.devmajor);
  if (h.devminor !== undefined) writeOctal(b, 337, 8, h.devminor);
  writeBytes(b, 345, 155, h.prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i] as number;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
  return b;
}

function checkNumber(what: string, value: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new OciError('LAYER_INVALID', `tar entry ${what}: value ${value} out of range`);
  }
}

/**
 * The header blocks of one member: an optional pax extended header (typeflag `x`) plus its
 * records, then the ustar block. Content and padding are the caller's business.
 */
export function encodeHeader(h: TarHeader, options: { paxMtime?: number } = {}): Buffer {
  checkNumber(`${h.name}: mode`, h.mode, 0o7777);
  checkNumber(`${h.name}: uid`, h.uid, 2 ** 32 - 1);
  checkNumber(`${h.name}: gid`, h.gid, 2 ** 32 - 1);
  checkNumber(`${h.name}: size`, h.size, Number.MAX_SAFE_INTEGER);
  checkNumber(`${h.name}: devmajor`, h.devmajor, MAX_OCTAL_7);
  checkNumber(`${h.name}: devminor`, h.devminor, MAX_OCTAL_7);
  if (!Number.isSafeInteger(h.mtime)) throw new OciError('LAYER_INVALID', `tar entry ${h.name}: mtime ${h.mtime} is not whole seconds`);
  const records: Buffer[] = [];
  const nameBytes = enc.encode(h.name);
  let split = isAscii(h.name) ? splitUstarName(nameBytes) : undefined;
  if (!split) {
    records.push(paxRecord('path', nameBytes));
    split = { prefix: new Uint8Array(0), name: nameBytes }; // first 100 bytes, as GNU tar
  }
  const linkBytes = enc.encode(h.linkname);
  if (linkBytes.length > 100 || !isAscii(h.linkname)) records.push(paxRecord('linkpath', linkBytes));
  const bigSize = h.size > MAX_OCTAL_11;
  if (bigSize) records.push(paxRecord('size', enc.encode(String(h.size))));
  const bigUid = h.uid > MAX_OCTAL_7;
  if (bigUid) records.push(paxRecord('uid', enc.encode(String(h.uid))));
  const bigGid = h.gid > MAX_OCTAL_7;
  if (bigGid) records.push(paxRecord('gid', enc.encode(String(h.gid))));
  const badMtime = h.mtime < 0 || h.mtime > MAX_OCTAL_11;
  if (badMtime) records.push(paxRecord('mtime', enc.encode(String(h.mtime))));
  for (const key of [...h.xattrs.keys()].sort()) {
    if (key.length === 0 || key.includes('=') || key.includes('\0')) {
      throw new OciError('LAYER_INVALID', `tar entry ${h.name}: invalid xattr name ${JSON.stringify(key)}`);
    }
    records.push(paxRecord(`SCHILY.xattr.${key}`, h.xattrs.get(key) as Uint8Array));
  }
  const mtime = badMtime ? 0 : h.mtime;
  const main = ustarBlock({
    name: split.name,
    prefix: split.prefix,
    mode: h.mode,
    uid: bigUid ? 0 : h.uid,
    gid: bigGid ? 0 : h.gid,
    size: bigSize ? 0 : h.size,
    mtime,
    typeflag: TYPEFLAG[h.type],
    linkname: linkBytes,
    devmajor: h.devmajor,
    devminor: h.devminor,
  });
  if (records.length === 0) return main;
  const body = Buffer.concat(records);
  const paxHeader = ustarBlock({
    name: paxHeaderName(h.name),
    prefix: new Uint8Array(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: options.paxMtime !== undefined && options.paxMtime >= 0 && options.paxMtime <= MAX_OCTAL_11 ? options.paxMtime : mtime,
    typeflag: 0x78, // 'x'
    linkname: new Uint8Array(0),
    devmajor: undefined,
    devminor: undefined,
  });
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length)), main]);
}

/** Zero bytes needed after `size` bytes of content to reach a block boundary. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

/** The end-of-archive marker: two zero blocks (no padding to a 10240-byte record). */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

// ---------------------------------------------------------------------------------------------
// Decoding

/** A raw header block as parsed, before pax records are applied. */
export interface RawHeader {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
  /** 'ustar' (POSIX, prefix used), 'gnu' (old GNU magic) or 'v7'. */
  format: 'ustar' | 'gnu' | 'v7';
}

function cstring(buf: Buffer, off: number, len: number): Buffer {
  const slice = buf.subarray(off, off + len);
  const nul = slice.indexOf(0);
  return nul < 0 ? slice : slice.subarray(0, nul);
}

function parseNumber(buf: Buffer, off: number, len: number, field: string): number {
  const first = buf[off] as number;
  if (first & 0x80) {
    // GNU base-256: big-endian two's complement with the top bit of the first byte as a marker.
    let value = 0n;
    for (let i = 0; i < len; i++) value = (value << 8n) | BigInt((buf[off + i] as number) & (i === 0 ? 0x7f : 0xff));
    if (first & 0x40) value -= 1n << BigInt(len * 8 - 1);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new OciError('TAR_INVALID', `tar header: ${field} out of range`);
    }
    return Number(value);
  }
  const text = buf.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new OciError('TAR_INVALID', `tar header: ${field} is not an octal number: ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

/** True when the block is all zeros (end of archive). */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses one 512-byte header block; the checksum must match (unsigned or historic signed sum). */
export function decodeHeader(block: Buffer): RawHeader {
  const stored = parseNumber(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  const name = cstring(block, 0, 100);
  if (stored !== unsigned && stored !== signed) {
    throw new OciError('TAR_INVALID', `tar header ${JSON.stringify(name.toString('utf8'))}: checksum mismatch (corrupt or not a tar stream)`);
  }
  const magic = block.toString('latin1', 257, 263);
  const format = magic === 'ustar\0' ? 'ustar' : magic === 'ustar ' ? 'gnu' : 'v7';
  const prefix = format === 'ustar' ? cstring(block, 345, 155) : Buffer.alloc(0);
  const what = `tar header ${JSON.stringify(name.toString('utf8'))}`;
  return {
    name: prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name,
    mode: parseNumber(block, 100, 8, `${what}: mode`),
    uid: parseNumber(block, 108, 8, `${what}: uid`),
    gid: parseNumber(block, 116, 8, `${what}: gid`),
    size: parseNumber(block, 124, 12, `${what}: size`),
    mtime: parseNumber(block, 136, 12, `${what}: mtime`),
    typeflag: block[156] as number,
    linkname: cstring(block, 157, 100),
    devmajor: format === 'v7' ? 0 : parseNumber(block, 329, 8, `${what}: devmajor`),
    devminor: format === 'v7' ? 0 : parseNumber(block, 337, 8, `${what}: devminor`),
    format,
  };
}

/** Parses pax records into a map of key to raw value bytes (values may be binary, e.g. xattrs). */
export function decodePax(data: Buffer, what: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // padding some writers leave
    const space = data.indexOf(0x20, pos);
    const len = space < 0 ? NaN : Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new OciError('TAR_INVALID', `${what}: malformed pax record at offset ${pos}`);
    }
    const rec = data.subarray(space + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new OciError('TAR_INVALID', `${what}: malformed pax record at offset ${pos}`);
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

/** Maps a typeflag to a TarType; undefined for pax/GNU meta entries and unsupported types. */
export function typeOfFlag(flag: number): TarType | undefined {
  switch (flag) {
    case 0:
    case 0x30:
    case 0x37: // '7' contiguous file: a regular file
      return 'file';
    case 0x31:
      return 'hardlink';
    case 0x32:
      return 'symlink';
    case 0x33:
      return 'chardev';
    case 0x34:
      return 'blockdev';
    case 0x35:
      return 'dir';
    case 0x36:
      return 'fifo';
    default:
      return undefined;
  }
}
