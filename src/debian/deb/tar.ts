// A push-driven tar reader for .deb members (debian.md §7.2: v7, ustar, GNU long names and
// base-256 numbers, POSIX pax). Synchronous on purpose: the extractor writes files with
// synchronous calls in a worker thread, and a callback per chunk avoids a stream per entry.

/** Entry kinds found in .deb tar members. Devices and fifos are reported so callers can refuse them. */
export type TarEntryType = 'file' | 'link' | 'symlink' | 'directory' | 'char' | 'block' | 'fifo';

/** One tar header, after GNU long-name and pax records are applied. */
export interface TarHeader {
  /** The name as stored (`./usr/bin/ls`, `./`). */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  /** Seconds since the epoch (integer; pax fractions are dropped). */
  mtime: number;
  /** Target of a symlink or hardlink. */
  linkname: string;
}

/** Receives what the parser finds, synchronously, in archive order. */
export interface TarHandler {
  /** A new entry. Its data (files only) follows through `data`, then `entryEnd`. */
  entry(header: TarHeader): void;
  /** A piece of the current file's data. The buffer may be reused after the call returns. */
  data(chunk: Buffer): void;
  entryEnd(): void;
}

/** Error of a malformed archive; the caller adds the package and member names. */
export class TarFormatError extends Error {}

const BLOCK = 512;
const MAX_META = 1024 * 1024; // long names and pax records are small; refuse absurd ones

function cstring(buf: Buffer, start: number, length: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
}

/** An octal number field, or a GNU base-256 one (high bit of the first byte set). */
function number(buf: Buffer, start: number, length: number, field: string): number {
  const first = buf[start] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError(`negative ${field} in tar header`);
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (buf[start + i] ?? 0);
    if (!Number.isSafeInteger(value)) throw new TarFormatError(`${field} in tar header is too large`);
    return value;
  }
  // Octal digits, optionally surrounded by spaces and ended by NUL or space (every tar variant).
  let i = start;
  const end = start + length;
  while (i < end && buf[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i] as number;
    if (c >= 0x30 && c <= 0x37) {
      value = value * 8 + (c - 0x30);
      digits++;
    } else break;
  }
  for (; i < end; i++) {
    const c = buf[i];
    if (c !== 0 && c !== 0x20) throw new TarFormatError(`invalid ${field} ${JSON.stringify(buf.toString('latin1', start, end))} in tar header`);
  }
  if (!Number.isSafeInteger(value) || digits > 16) throw new TarFormatError(`${field} in tar header is too large`);
  return value;
}

function checksumOk(block: Buffer): boolean {
  const stored = number(block, 148, 8, 'checksum');
  // The checksum field itself counts as eight spaces.
  let unsigned = 8 * 0x20;
  for (let i = 0; i < 148; i++) unsigned += block[i] as number;
  for (let i = 156; i < BLOCK; i++) unsigned += block[i] as number;
  if (stored === unsigned) return true;
  // Some old tars summed signed bytes.
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const b = block[i] as number;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === signed;
}

function isZero(block: Buffer): boolean {
  // Headers start with a name; checking the first byte first makes the common case cheap.
  if (block[0] !== 0) return false;
  for (let i = 1; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses pax extended header records ("%d %s=%s\n"). */
function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) throw new TarFormatError('malformed pax record');
    const len = Number(data.toString('latin1', at, space));
    if (!Number.isInteger(len) || len <= space - at + 1 || at + len > data.length) throw new TarFormatError('malformed pax record length');
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq === -1) throw new TarFormatError('malformed pax record');
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

type State = 'header' | 'data' | 'padding' | 'meta' | 'done';

/**
 * Incremental tar parser. Feed it with `write(chunk)`; finish with `end()`, which throws when
 * the archive stopped in the middle of an entry. Everything after the end-of-archive marker
 * (two zero blocks) is ignored, as tar and dpkg do.
 */
export class TarParser {
  private state: State = 'header';
  private readonly headerBuf = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0; // data bytes left in the current entry
  private padding = 0; // padding bytes left after it
  private meta: { kind: 'L' | 'K' | 'x' | 'g'; chunks: Buffer[]; size: number } | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax: Map<string, string> | undefined;
  private readonly globalPax = new Map<string, string>();
  private zeroBlocks = 0;
  /** Bytes consumed so far (for messages). */
  offset = 0;

  constructor(private readonly handler: TarHandler) {}

  /** True once the end-of-archive marker was seen. */
  get finished(): boolean {
    return this.state === 'done';
  }

  write(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      switch (this.state) {
        case 'done':
          return;
        case 'header': {
          const take = Math.min(BLOCK - this.headerFill, chunk.length - at);
          chunk.copy(this.headerBuf, this.headerFill, at, at + take);
          this.headerFill += take;
          at += take;
          this.offset += take;
          if (this.headerFill === BLOCK) {
            this.headerFill = 0;
            this.onHeader(this.headerBuf);
          }
          break;
        }
        case 'data': {
          const take = Math.min(this.remaining, chunk.length - at);
          if (take > 0) this.handler.data(chunk.subarray(at, at + take));
          at += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.handler.entryEnd();
            this.state = this.padding > 0 ? 'padding' : 'header';
          }
          break;
        }
        case 'meta': {
          const meta = this.meta as NonNullable<TarParser['meta']>;
          const take = Math.min(this.remaining, chunk.length - at);
          meta.chunks.push(Buffer.from(chunk.subarray(at, at + take)));
          at += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.onMeta(meta);
            this.state = this.padding > 0 ? 'padding' : 'header';
          }
          break;
        }
        case 'padding': {
          const take = Math.min(this.padding, chunk.length - at);
          at += take;
          this.offset += take;
          this.padding -= take;
          if (this.padding === 0) this.state = 'header';
          break;
        }
      }
    }
  }

  /** Ends the input. Throws TarFormatError if an entry or header was cut short. */
  end(): void {
    if (this.state === 'done') return;
    if (this.state === 'header' && this.headerFill === 0 && !this.meta && this.longName === undefined && this.longLink === undefined && !this.pax) return;
    throw new TarFormatError(`tar archive is truncated (at byte ${this.offset})`);
  }

  private onHeader(block: Buffer): void {
    if (isZero(block)) {
      // Two zero blocks end the archive; a lone one is tolerated like GNU tar does.
      if (++this.zeroBlocks >= 2) this.state = 'done';
      return;
    }
    this.zeroBlocks = 0;
    if (!checksumOk(block)) throw new TarFormatError(`tar header checksum mismatch at byte ${this.offset - BLOCK}`);
    const flag = String.fromCharCode(block[156] ?? 0);
    const size = number(block, 124, 12, 'size');
    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      if (size > MAX_META) throw new TarFormatError(`tar ${flag} record of ${size} bytes is too large`);
      this.meta = { kind: flag, chunks: [], size };
      this.remaining = size;
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      this.state = size > 0 ? 'meta' : 'header';
      if (size === 0) this.onMeta(this.meta);
      return;
    }
    const type = TYPES[flag];
    if (type === undefined) throw new TarFormatError(`unsupported tar entry type ${JSON.stringify(flag)} at byte ${this.offset - BLOCK}`);
    const magic = block.toString('latin1', 257, 263);
    let name = cstring(block, 0, 100);
    // POSIX ustar keeps a path prefix at 345; GNU ("ustar  ") uses that area for other fields.
    if (magic === 'ustar\0') {
      const prefix = cstring(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const header: TarHeader = {
      name,
      type,
      mode: number(block, 100, 8, 'mode') & 0o7777,
      uid: number(block, 108, 8, 'uid'),
      gid: number(block, 116, 8, 'gid'),
      uname: cstring(block, 265, 32),
      gname: cstring(block, 297, 32),
      size: type === 'file' ? size : 0,
      mtime: number(block, 136, 12, 'mtime'),
      linkname: cstring(block, 157, 100),
    };
    if (this.longName !== undefined) header.name = this.longName;
    if (this.longLink !== undefined) header.linkname = this.longLink;
    this.applyPax(header, this.globalPax);
    if (this.pax) this.applyPax(header, this.pax);
    this.longName = this.longLink = this.pax = undefined;
    this.meta = undefined;
    this.handler.entry(header);
    // Hard links and others carry no data in .debs even if a size is set (POSIX: ignore it for links).
    const dataSize = type === 'file' ? header.size : 0;
    this.remaining = dataSize;
    this.padding = (BLOCK - (dataSize % BLOCK)) % BLOCK;
    if (dataSize === 0) {
      this.handler.entryEnd();
      this.state = 'header';
    } else {
      this.state = 'data';
    }
  }

  private onMeta(meta: NonNullable<TarParser['meta']>): void {
    const data = Buffer.concat(meta.chunks);
    this.meta = undefined;
    if (meta.kind === 'L' || meta.kind === 'K') {
      const end = data.indexOf(0);
      const value = data.toString('utf8', 0, end === -1 ? data.length : end);
      if (meta.kind === 'L') this.longName = value;
      else this.longLink = value;
      return;
    }
    const records = parsePax(data);
    if (meta.kind === 'g') for (const [k, v] of records) this.globalPax.set(k, v);
    else this.pax = records;
  }

  private applyPax(header: TarHeader, pax: Map<string, string>): void {
    for (const [key, value] of pax) {
      switch (key) {
        case 'path':
          header.name = value;
          break;
        case 'linkpath':
          header.linkname = value;
          break;
        case 'size':
        case 'uid':
        case 'gid':
        case 'mtime': {
          const n = key === 'mtime' ? Math.floor(Number(value)) : Number(value);
          if (!Number.isSafeInteger(n) || n < 0) throw new TarFormatError(`invalid pax ${key} ${JSON.stringify(value)}`);
          if (key === 'size') {
            if (header.type === 'file') header.size = n;
          } else header[key] = n;
          break;
        }
        case 'uname':
        case 'gname':
          header[key] = value;
          break;
        default:
          break; // atime, ctime, xattrs: not kept (dpkg does not restore them either)
      }
    }
  }
}
