// A streaming tar reader: ustar, pax (x/g, including binary SCHILY.xattr values), GNU long
// names (L/K) and base-256 numbers. Written here rather than taken from tar-stream because
// tar-stream decodes pax values as UTF-8 text, which corrupts binary xattrs such as
// security.capability.
import type { Readable } from 'node:stream';
import { OciError } from '../errors.js';
import { baseName, normalizeMemberPath, OPAQUE_MARKER, parentPath, WHITEOUT_PREFIX, joinMember } from './paths.js';
import { BLOCK, decodeHeader, decodePax, isZeroBlock, padding, typeOfFlag, type TarType } from './tar.js';
import type { LayerEntryInfo } from './entries.js';

/** A member header after pax records and GNU long names are applied. */
export interface TarMember {
  /** The name exactly as stored (may have `./` or `/` prefixes). */
  readonly name: string;
  readonly type: TarType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  readonly size: number;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

/** A member and its content; the content must be read before asking for the next member, or it is skipped. */
export interface TarItem {
  readonly member: TarMember;
  /** The content bytes (regular files), streamed. */
  readonly content: AsyncIterable<Buffer>;
}

const META_LIMIT = 1 << 20; // pax records and GNU long names larger than this are refused

class ByteSource {
  private readonly it: AsyncIterator<unknown>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  offset = 0;

  constructor(stream: Readable | AsyncIterable<Uint8Array>) {
    this.it = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }

  private async more(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const v = r.value;
    const chunk = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v as Uint8Array);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }

  /** Exactly n bytes, or undefined at end of input before any byte; a short read is an error. */
  async exact(n: number, what: string): Promise<Buffer | undefined> {
    while (this.buf.length < n) {
      if (!(await this.more())) {
        if (this.buf.length === 0) return undefined;
        throw new OciError('TAR_INVALID', `${what}: tar stream ends in the middle of a block`);
      }
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.offset += n;
    return out;
  }

  /** Up to n bytes as they arrive (no copy). */
  async *chunks(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.more())) throw new OciError('TAR_INVALID', `${what}: tar stream ends inside the content`);
      const take = Math.min(left, this.buf.length);
      const out = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      this.offset += take;
      left -= take;
      yield out;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.chunks(n, what)) {
      // discard
    }
  }

  /** Reads and drops whatever follows (so upstream verifying streams see their end). */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.more()) this.buf = Buffer.alloc(0);
  }

  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
  }
}

function toNumber(v: Buffer | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  const s = v.toString('latin1');
  if (!/^-?\d+(\.\d+)?$/.test(s)) throw new OciError('TAR_INVALID', `${what}: bad pax number ${JSON.stringify(s)}`);
  return Math.floor(Number(s));
}

/**
 * Iterates over the members of an uncompressed tar stream. Stops at the end-of-archive marker
 * (then reads the rest of the input, so a verifying source reaches its end) or at the end of
 * input. Unsupported member types (sparse files, volume headers, ...) are TAR_INVALID.
 */
export async function* readTar(stream: Readable | AsyncIterable<Uint8Array>): AsyncGenerator<TarItem> {
  const src = new ByteSource(stream);
  let globalPax = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: Buffer | undefined;
  let longLink: Buffer | undefined;
  try {
    for (;;) {
      const at = src.offset;
      const block = await src.exact(BLOCK, `tar header at offset ${at}`);
      if (!block) return;
      if (isZeroBlock(block)) {
        await src.drain();
        return;
      }
      const h = decodeHeader(block);
      const rawName = h.name.toString('utf8');
      const what = `tar member ${JSON.stringify(rawName)} at offset ${at}`;
      const flag = h.typeflag;
      if (flag === 0x78 || flag === 0x67 || flag === 0x4c || flag === 0x4b) {
        // 'x' pax, 'g' global pax, 'L' GNU long name, 'K' GNU long link
        if (h.size > META_LIMIT) throw new OciError('TAR_INVALID', `${what}: metadata entry of ${h.size} bytes is too large`);
        const data = (await src.exact(h.size, what)) ?? Buffer.alloc(0);
        const copy = Buffer.from(data);
        await src.skip(padding(h.size), what);
        if (flag === 0x78) pax = decodePax(copy, what);
        else if (flag === 0x67) globalPax = new Map([...globalPax, ...decodePax(copy, what)]);
        else {
          const nul = copy.indexOf(0);
          const v = nul < 0 ? copy : copy.subarray(0, nul);
          if (flag === 0x4c) longName = v;
          else longLink = v;
        }
        continue;
      }
      let type = typeOfFlag(flag);
      if (!type) throw new OciError('TAR_INVALID', `${what}: unsupported member type ${JSON.stringify(String.fromCharCode(flag))}`);
      const p = new Map([...globalPax, ...(pax ?? [])]);
      const name = p.get('path')?.toString('utf8') ?? longName?.toString('utf8') ?? rawName;
      // Old (v7) archives mark directories only with a trailing slash.
      if (type === 'file' && flag !== 0x30 && name.endsWith('/')) type = 'dir';
      const linkname = p.get('linkpath')?.toString('utf8') ?? longLink?.toString('utf8') ?? h.linkname.toString('utf8');
      const xattrs = new Map<string, Buffer>();
      for (const [k, v] of p) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
      const w = `tar member ${JSON.stringify(name)}`;
      const member: TarMember = {
        name,
        type,
        mode: h.mode & 0o7777,
        uid: toNumber(p.get('uid'), h.uid, w),
        gid: toNumber(p.get('gid'), h.gid, w),
        mtime: toNumber(p.get('mtime'), h.mtime, w),
        size: toNumber(p.get('size'), h.size, w),
        linkname,
        devmajor: h.devmajor,
        devminor: h.devminor,
        xattrs,
      };
      pax = undefined;
      longName = undefined;
      longLink = undefined;
      // Only regular files carry content; other types are header-only whatever their size
      // field says (as Go's archive/tar reads them).
      const dataSize = type === 'file' ? member.size : 0;
      let consumed = false;
      let expired = false;
      const content = (async function* () {
        if (consumed) throw new OciError('TAR_INVALID', `${w}: content read twice`);
        if (expired) throw new OciError('TAR_INVALID', `${w}: content read after moving to the next member`);
        consumed = true;
        yield* src.chunks(dataSize, w);
      })();
      const before = src.offset;
      yield { member: type === 'file' ? member : { ...member, size: 0 }, content };
      expired = true;
      // Skip what the consumer did not read.
      const read = src.offset - before;
      if (read < dataSize) await src.skip(dataSize - read, w);
      await src.skip(padding(dataSize), w);
    }
  } finally {
    await src.close();
  }
}

/** The semantic description of a member: whiteout markers become `whiteout`/`opaque` entries. */
export function memberInfo(member: TarMember): LayerEntryInfo {
  const path = normalizeMemberPath(member.name, 'tar member');
  const base = baseName(path);
  let type: LayerEntryInfo['type'] = member.type;
  let semantic = path;
  if (member.type === 'file' && base === OPAQUE_MARKER) {
    type = 'opaque';
    semantic = parentPath(path);
  } else if (member.type === 'file' && base.startsWith(WHITEOUT_PREFIX)) {
    type = 'whiteout';
    semantic = joinMember(parentPath(path), base.slice(WHITEOUT_PREFIX.length));
  }
  const linkname = member.type === 'hardlink' ? normalizeMemberPath(member.linkname, `hardlink ${JSON.stringify(member.name)} target`) : member.linkname;
  return {
    path: semantic,
    type,
    mode: member.mode,
    uid: member.uid,
    gid: member.gid,
    mtime: member.mtime,
    size: member.size,
    ...(linkname ? { linkname } : {}),
    ...(member.xattrs.size > 0 ? { xattrs: Object.fromEntries([...member.xattrs].sort(([a], [b]) => (a < b ? -1 : 1))) } : {}),
    ...(member.type === 'chardev' || member.type === 'blockdev' ? { devmajor: member.devmajor, devminor: member.devminor } : {}),
  };
}
