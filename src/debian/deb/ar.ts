// The ar container of a .deb (debian.md §7.1; dpkg man/deb.pod, lib/dpkg/ar.c, dpkg-deb/extract.c).
// Read with positional reads so any member can be streamed later without reading the others.
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { DebianError } from '../errors.js';

/** How a tar member of a .deb is compressed (its name suffix). */
export type MemberCompression = 'none' | 'gz' | 'xz' | 'zst' | 'bz2' | 'lzma';

/** One ar member: where its bytes are in the file. */
export interface ArMember {
  name: string;
  /** Offset of the member's data in the .deb. */
  offset: number;
  size: number;
}

/** A tar member of a .deb with its compression. */
export interface DebTarMember extends ArMember {
  compression: MemberCompression;
}

/** The layout of a .deb: its format version and the two tar members. */
export interface DebLayout {
  /** Path of the .deb (for messages). */
  path: string;
  /** File size in bytes. */
  size: number;
  /** Content of `debian-binary` without the newline, e.g. `2.0`. */
  formatVersion: string;
  control: DebTarMember;
  data: DebTarMember;
}

const MAGIC = '!<arch>\n';
const HEADER = 60;
// dpkg-deb accepts these per member (deb.pod): control.tar gained xz in 1.17.6 and zstd in 1.21.18;
// data.tar also bzip2 (1.10.24) and lzma (1.13.25).
const CONTROL_COMPRESSIONS: readonly MemberCompression[] = ['none', 'gz', 'xz', 'zst'];
const DATA_COMPRESSIONS: readonly MemberCompression[] = ['none', 'gz', 'xz', 'zst', 'bz2', 'lzma'];
const SUFFIX: Record<string, MemberCompression> = { '': 'none', '.gz': 'gz', '.xz': 'xz', '.zst': 'zst', '.bz2': 'bz2', '.lzma': 'lzma' };

function invalid(path: string, message: string): DebianError {
  return new DebianError('DEB_INVALID', `reading ${basename(path)}: ${message}`, { hint: `${path} is not a valid Debian binary package; download it again` });
}

async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

/** Parses one 60-byte member header (ar.h: name[16] date[12] uid[6] gid[6] mode[8] size[10] fmag[2]). */
function parseHeader(path: string, header: Buffer, at: number): { name: string; size: number } {
  if (header.length < HEADER) throw invalid(path, `truncated ar member header at offset ${at}`);
  if (header[58] !== 0x60 || header[59] !== 0x0a) throw invalid(path, `corrupt ar member header at offset ${at} (bad end marker)`);
  // Names are space padded and may end with '/' (GNU ar); deb.pod forbids long-name extensions.
  const name = header.toString('latin1', 0, 16).replace(/ +$/, '').replace(/\/$/, '');
  const sizeField = header.toString('latin1', 48, 58).replace(/ +$/, '');
  if (!/^[0-9]+$/.test(sizeField)) throw invalid(path, `ar member ${JSON.stringify(name)} has an invalid size field ${JSON.stringify(sizeField)}`);
  return { name, size: Number(sizeField) };
}

function tarMember(path: string, m: ArMember, prefix: 'control.tar' | 'data.tar'): DebTarMember {
  const suffix = m.name.slice(prefix.length);
  const compression = SUFFIX[suffix];
  const allowed = prefix === 'control.tar' ? CONTROL_COMPRESSIONS : DATA_COMPRESSIONS;
  if (compression === undefined || !allowed.includes(compression)) {
    throw invalid(path, `member ${JSON.stringify(m.name)} uses an unknown compression (${prefix} may be ${allowed.map((c) => prefix + (c === 'none' ? '' : `.${c}`)).join(', ')})`);
  }
  return { ...m, compression };
}

/**
 * Reads the ar layout of a .deb: `debian-binary` (major version 2), then `control.tar[.ext]`,
 * then `data.tar[.ext]`, with `_`-prefixed members allowed (and skipped) between them and
 * anything after `data.tar` ignored, as dpkg-deb does. Throws DEB_INVALID naming the file and
 * member for a wrong magic, a truncated file, an unexpected member or an unknown compression.
 */
export async function readDebLayout(path: string, options: { signal?: AbortSignal } = {}): Promise<DebLayout> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new DebianError('DEB_INVALID', `reading ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    options.signal?.throwIfAborted();
    const { size } = await fh.stat();
    return await readLayoutFrom(fh, path, size);
  } finally {
    await fh.close();
  }
}

async function readLayoutFrom(fh: FileHandle, path: string, size: number): Promise<DebLayout> {
  const magic = await readAt(fh, 0, MAGIC.length);
  if (magic.toString('latin1') !== MAGIC) {
    if (magic.length < MAGIC.length) throw invalid(path, `file is truncated (${size} bytes)`);
    if (magic.toString('latin1').startsWith('0.9')) throw invalid(path, 'old-style (0.939) .deb format is not supported');
    throw invalid(path, 'not an ar archive (bad magic)');
  }
  let at = MAGIC.length;
  let formatVersion: string | undefined;
  let control: DebTarMember | undefined;
  while (at < size) {
    const { name, size: memberSize } = parseHeader(path, await readAt(fh, at, HEADER), at);
    const offset = at + HEADER;
    const padded = memberSize + (memberSize % 2);
    if (offset + memberSize > size || (memberSize % 2 === 1 && offset + padded > size)) {
      throw invalid(path, `member ${JSON.stringify(name)} is truncated (needs ${padded} bytes at offset ${offset}, file has ${size})`);
    }
    const member: ArMember = { name, offset, size: memberSize };
    at = offset + padded;
    if (formatVersion === undefined) {
      if (name !== 'debian-binary') throw invalid(path, `first member is ${JSON.stringify(name)}, expected "debian-binary"`);
      const text = (await readAt(fh, offset, Math.min(memberSize, 64))).toString('latin1');
      const first = text.split('\n')[0] ?? '';
      const m = /^([0-9]+)\.([0-9]+)/.exec(first);
      if (!m) throw invalid(path, `debian-binary holds ${JSON.stringify(first)}, expected a version like "2.0"`);
      // A higher minor version and extra lines are allowed (deb.pod); only major 2 is understood.
      if (m[1] !== '2') throw invalid(path, `unsupported .deb format version ${first} (only 2.x is understood)`);
      formatVersion = first;
      continue;
    }
    if (name.startsWith('_')) continue; // non-critical members (deb.pod)
    if (control === undefined) {
      if (!name.startsWith('control.tar')) throw invalid(path, `unexpected member ${JSON.stringify(name)} before control.tar`);
      control = tarMember(path, member, 'control.tar');
      continue;
    }
    if (!name.startsWith('data.tar')) throw invalid(path, `unexpected member ${JSON.stringify(name)} before data.tar`);
    return { path, size, formatVersion, control, data: tarMember(path, member, 'data.tar') };
  }
  if (formatVersion === undefined) throw invalid(path, 'the archive is empty (no debian-binary member)');
  throw invalid(path, control === undefined ? 'the archive has no control.tar member (truncated?)' : 'the archive has no data.tar member (truncated?)');
}
