// Layer entries given in memory (or from an async source): their types, validation and the plan
// that orders them. Rules: oci-image.md section 8 (no duplicates, hardlink targets earlier in
// the same layer, whiteouts) and section 9 (order, owners, mtimes).
import type { Readable } from 'node:stream';
import { OciError } from '../errors.js';
import { baseName, joinMember, memberSortKey, normalizeMemberPath, OPAQUE_MARKER, parentPath, WHITEOUT_PREFIX } from './paths.js';
import type { TarHeader, TarType } from './tar.js';

/** What an entry is. `whiteout` deletes `path` from lower layers; `opaque` hides the lower children of directory `path`. */
export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'whiteout' | 'opaque' | 'fifo' | 'chardev' | 'blockdev';

/** Content of a regular file: bytes (a string is UTF-8), a stream opener with its exact size, or a file on disk. */
export type LayerContent =
  | Uint8Array
  | string
  | { readonly size: number; open(options: { signal?: AbortSignal }): Readable | Promise<Readable> }
  | { readonly file: string };

/** One entry of an in-memory layer description. */
export interface LayerEntry {
  /** Path inside the image, relative (`usr/bin/x`; a leading `./` is accepted and dropped). */
  readonly path: string;
  readonly type: LayerEntryType;
  /** Permission bits incl. setuid/setgid/sticky. Default 0644 files, 0755 dirs, 0777 symlinks, 0 whiteouts. */
  readonly mode?: number;
  /** Numeric owner; default 0. */
  readonly uid?: number;
  readonly gid?: number;
  /** Seconds since the epoch (or a Date); clamped to `sourceDateEpoch`; default `sourceDateEpoch` (else 0). */
  readonly mtime?: number | Date;
  /** Symlink target (any string), or for a hardlink the path of another regular file in this layer. */
  readonly linkname?: string;
  /** Extended attributes (`security.capability`, `user.*`, ...); strings are UTF-8. */
  readonly xattrs?: Readonly<Record<string, Uint8Array | string>>;
  /** Regular files only; default empty. */
  readonly content?: LayerContent;
  /** Device numbers for chardev/blockdev. */
  readonly devmajor?: number;
  readonly devminor?: number;
}

/** Description of one entry as written or read, with whiteouts given by what they delete. */
export interface LayerEntryInfo {
  /** Canonical path (no `./`, no trailing `/`). For whiteouts the deleted path, for opaque markers the directory. */
  readonly path: string;
  readonly type: LayerEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  /** Content bytes (regular files), else 0. */
  readonly size: number;
  readonly linkname?: string;
  readonly xattrs?: Readonly<Record<string, Uint8Array>>;
  readonly devmajor?: number;
  readonly devminor?: number;
}

/** Where the bytes of a planned regular file come from. */
export type PlannedContent =
  | { readonly kind: 'bytes'; readonly data: Uint8Array }
  | { readonly kind: 'stream'; readonly size: number; open(options: { signal?: AbortSignal }): Readable | Promise<Readable> }
  | { readonly kind: 'file'; readonly path: string; readonly size?: number };

/** An entry ready to be written: its header (size filled in when content is a file) and content. */
export interface PlannedEntry {
  readonly header: TarHeader;
  readonly content?: PlannedContent;
  readonly info: LayerEntryInfo;
}

/** Options of planEntries. */
export interface PlanOptions {
  /** Upper bound for every mtime, and the mtime of entries that have none. */
  sourceDateEpoch?: number;
  /** Create missing parent directories (0755, root, the mtime of the first child that needs them). Default false. */
  synthesizeParents?: boolean;
}

const enc = new TextEncoder();

function fail(path: string, why: string, code: 'LAYER_INVALID' | 'TAR_UNSAFE_PATH' = 'LAYER_INVALID'): never {
  throw new OciError(code, `layer entry ${JSON.stringify(path)}: ${why}`);
}

function checkId(path: string, field: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0 || v > 2 ** 32 - 1) fail(path, `${field} ${v} is not a valid numeric id`);
  return v;
}

/** Whole seconds from a number or Date, clamped to the epoch when one is given. */
export function clampMtime(mtime: number | Date | undefined, epoch: number | undefined): number {
  if (mtime === undefined) return epoch ?? 0;
  const s = Math.floor(mtime instanceof Date ? mtime.getTime() / 1000 : mtime);
  return epoch !== undefined && s > epoch ? epoch : s;
}

function xattrMap(path: string, x: LayerEntry['xattrs']): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  if (!x) return m;
  for (const [k, v] of Object.entries(x)) {
    if (k === '' || k.includes('=') || k.includes('\0')) fail(path, `invalid xattr name ${JSON.stringify(k)}`);
    m.set(k, typeof v === 'string' ? enc.encode(v) : v);
  }
  return m;
}

function xattrRecord(m: ReadonlyMap<string, Uint8Array>): Record<string, Uint8Array> | undefined {
  if (m.size === 0) return undefined;
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function plannedContent(path: string, c: LayerContent | undefined): { content: PlannedContent; size: number } {
  if (c === undefined) return { content: { kind: 'bytes', data: new Uint8Array(0) }, size: 0 };
  if (typeof c === 'string') {
    const data = enc.encode(c);
    return { content: { kind: 'bytes', data }, size: data.length };
  }
  if (c instanceof Uint8Array) return { content: { kind: 'bytes', data: c }, size: c.length };
  if ('file' in c) return { content: { kind: 'file', path: c.file }, size: -1 };
  if (!Number.isSafeInteger(c.size) || c.size < 0) fail(path, `content size ${c.size} is not a byte count`);
  return { content: { kind: 'stream', size: c.size, open: (o) => c.open(o) }, size: c.size };
}

interface Draft {
  member: string;
  type: LayerEntryType;
  tarType: TarType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
  xattrs: Map<string, Uint8Array>;
  content?: PlannedContent;
  size: number;
  devmajor: number;
  devminor: number;
  /** Semantic path (for whiteouts the deleted path). */
  path: string;
  index: number;
}

function draftOf(e: LayerEntry, index: number, epoch: number | undefined): Draft | undefined {
  const raw = typeof e.path === 'string' ? e.path : fail(String(e.path), 'path is not a string');
  const path = normalizeMemberPath(raw, 'layer entry');
  const what = raw;
  const mtime = clampMtime(e.mtime, epoch);
  if (e.mtime !== undefined && !Number.isFinite(e.mtime instanceof Date ? e.mtime.getTime() : e.mtime)) fail(what, 'mtime is not a finite number');
  const uid = checkId(what, 'uid', e.uid);
  const gid = checkId(what, 'gid', e.gid);
  const modeIn = e.mode;
  if (modeIn !== undefined && (!Number.isSafeInteger(modeIn) || modeIn < 0)) fail(what, `mode ${modeIn} is not a file mode`);
  const mode = (d: number) => (modeIn === undefined ? d : modeIn & 0o7777);
  const base = { uid, gid, mtime, linkname: '', xattrs: xattrMap(what, e.xattrs), size: 0, devmajor: 0, devminor: 0, index };

  if (e.type === 'whiteout' || e.type === 'opaque') {
    if (e.type === 'whiteout') {
      if (path === '') fail(what, 'a whiteout needs a path to delete');
      if (baseName(path).startsWith(WHITEOUT_PREFIX)) fail(what, `cannot white out a name starting with ${WHITEOUT_PREFIX}`, 'TAR_UNSAFE_PATH');
    }
    checkNoWhiteoutComponent(what, e.type === 'whiteout' ? parentPath(path) : path);
    const member = e.type === 'whiteout' ? joinMember(parentPath(path), `${WHITEOUT_PREFIX}${baseName(path)}`) : joinMember(path, OPAQUE_MARKER);
    // Whiteouts are empty regular files (layer.md); their metadata carries no meaning.
    return { ...base, xattrs: new Map(), member, type: e.type, tarType: 'file', mode: mode(0), path, content: { kind: 'bytes', data: new Uint8Array(0) } };
  }
  checkNoWhiteoutComponent(what, path);
  if (path === '') {
    if (e.type === 'dir') return undefined; // the layer root is never an entry
    fail(what, `the layer root cannot be a ${e.type}`);
  }
  switch (e.type) {
    case 'file': {
      const { content, size } = plannedContent(what, e.content);
      return { ...base, member: path, path, type: 'file', tarType: 'file', mode: mode(0o644), content, size };
    }
    case 'dir':
      if (e.content !== undefined) fail(what, 'a directory has no content');
      return { ...base, member: path, path, type: 'dir', tarType: 'dir', mode: mode(0o755) };
    case 'symlink':
      if (typeof e.linkname !== 'string' || e.linkname === '' || e.linkname.includes('\0')) fail(what, 'a symlink needs a linkname (non-empty, no NUL)');
      return { ...base, member: path, path, type: 'symlink', tarType: 'symlink', mode: mode(0o777), linkname: e.linkname };
    case 'hardlink': {
      if (typeof e.linkname !== 'string' || e.linkname === '') fail(what, 'a hardlink needs a linkname');
      const target = normalizeMemberPath(e.linkname, `hardlink ${JSON.stringify(what)} target`);
      return { ...base, member: path, path, type: 'hardlink', tarType: 'hardlink', mode: mode(0o644), linkname: target };
    }
    case 'fifo':
    case 'chardev':
    case 'blockdev': {
      const devmajor = checkId(what, 'devmajor', e.devmajor);
      const devminor = checkId(what, 'devminor', e.devminor);
      return { ...base, member: path, path, type: e.type, tarType: e.type, mode: mode(0o644), devmajor, devminor };
    }
    default:
      return fail(what, `unknown entry type ${JSON.stringify((e as { type: unknown }).type)}`);
  }
}

function checkNoWhiteoutComponent(what: string, path: string): void {
  if (path === '') return;
  for (const c of path.split('/')) {
    if (c.startsWith(WHITEOUT_PREFIX)) {
      fail(what, `a regular entry may not be named ${JSON.stringify(c)}: names starting with ${WHITEOUT_PREFIX} are whiteouts (layer.md)`, 'TAR_UNSAFE_PATH');
    }
  }
}

function compareKeys(a: { key: Buffer; member: string }, b: { key: Buffer; member: string }): number {
  return Buffer.compare(a.key, b.key) || Buffer.compare(Buffer.from(a.member), Buffer.from(b.member));
}

/**
 * Validates entries and returns them in write order. Refuses (naming the entry): unsafe paths,
 * `.wh.` names on regular entries, duplicates, entries below a non-directory of the same
 * layer, hardlinks whose target is not a regular file of this layer. For a group of hardlinked
 * paths, the first path in write order carries the content and the others link to it, so a
 * hardlink never precedes its target.
 */
export async function planEntries(entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>, options: PlanOptions = {}): Promise<PlannedEntry[]> {
  const epoch = options.sourceDateEpoch;
  const byMember = new Map<string, Draft>();
  let index = 0;
  for await (const e of entries as AsyncIterable<LayerEntry>) {
    const d = draftOf(e, index++, epoch);
    if (!d) continue;
    const prev = byMember.get(d.member);
    if (prev) fail(d.member, `duplicate path in one layer (entries ${prev.index} and ${d.index}; layer.md forbids duplicates)`);
    byMember.set(d.member, d);
  }

  // Parents: never a non-directory of this layer; optionally synthesised.
  for (const d of [...byMember.values()]) {
    let parent = parentPath(d.member);
    while (parent !== '') {
      const p = byMember.get(parent);
      if (p) {
        if (p.type !== 'dir') fail(d.member, `its parent ${JSON.stringify(parent)} is a ${p.type} in this layer`);
        break;
      }
      if (!options.synthesizeParents) break;
      byMember.set(parent, {
        member: parent, path: parent, type: 'dir', tarType: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: d.mtime,
        linkname: '', xattrs: new Map(), size: 0, devmajor: 0, devminor: 0, index: -1,
      });
      parent = parentPath(parent);
    }
  }

  const sorted = [...byMember.values()].map((d) => ({ d, key: memberSortKey(d.member), member: d.member })).sort(compareKeys);

  // Hardlink groups: root = the regular file all links lead to; carrier = first member in order.
  const rootOf = (d: Draft): Draft => {
    const seen = new Set<string>();
    let cur = d;
    while (cur.type === 'hardlink') {
      if (seen.has(cur.member)) fail(d.member, 'hardlink cycle');
      seen.add(cur.member);
      const t = byMember.get(cur.linkname);
      if (!t) fail(d.member, `hardlink target ${JSON.stringify(cur.linkname)} is not in this layer`);
      if (t.type !== 'file' && t.type !== 'hardlink') fail(d.member, `hardlink target ${JSON.stringify(cur.linkname)} is a ${t.type}, not a regular file`);
      cur = t;
    }
    return cur;
  };
  const carrier = new Map<string, Draft>(); // root member -> first member of its group in order
  for (const { d } of sorted) {
    if (d.type !== 'hardlink' && d.type !== 'file') continue;
    const root = rootOf(d);
    if (!carrier.has(root.member)) carrier.set(root.member, d);
  }

  return sorted.map(({ d }): PlannedEntry => {
    let tarType = d.tarType;
    let linkname = d.linkname;
    let meta: Draft = d;
    let content = d.content;
    let size = d.size;
    if (d.type === 'file' || d.type === 'hardlink') {
      const root = d.type === 'file' ? d : rootOf(d);
      const c = carrier.get(root.member) as Draft;
      meta = root;
      if (c.member === d.member) {
        tarType = 'file';
        linkname = '';
        content = root.content;
        size = root.size;
      } else {
        tarType = 'hardlink';
        linkname = c.member;
        content = undefined;
        size = 0;
      }
    }
    const isLink = tarType === 'hardlink';
    const header: TarHeader = {
      name: d.type === 'dir' ? `${d.member}/` : d.member,
      type: tarType,
      mode: meta.mode,
      uid: meta.uid,
      gid: meta.gid,
      size,
      mtime: meta.mtime,
      linkname,
      devmajor: d.devmajor,
      devminor: d.devminor,
      xattrs: isLink ? new Map() : meta.xattrs,
    };
    const xattrs = xattrRecord(header.xattrs);
    const info: LayerEntryInfo = {
      path: d.path,
      type: d.type === 'file' || d.type === 'hardlink' ? (isLink ? 'hardlink' : 'file') : d.type,
      mode: meta.mode,
      uid: meta.uid,
      gid: meta.gid,
      mtime: meta.mtime,
      size: size < 0 ? 0 : size,
      ...(linkname !== '' ? { linkname } : {}),
      ...(xattrs ? { xattrs } : {}),
      ...(d.tarType === 'chardev' || d.tarType === 'blockdev' ? { devmajor: d.devmajor, devminor: d.devminor } : {}),
    };
    return { header, info, ...(content ? { content } : {}) };
  });
}
