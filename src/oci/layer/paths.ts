// Member paths: one canonical form for every layer lading writes (oci-image.md section 8
// "pick one form"): relative, no `./` prefix, `/`-separated, no empty or `.` components, and a
// trailing `/` on directory names in the tar header only. This is what GNU tar, Go's
// archive/tar based tools and most registries' layers use.
import { OciError } from '../errors.js';

/** Prefix of a whiteout file (layer.md "Whiteouts"). */
export const WHITEOUT_PREFIX = '.wh.';
/** Name of the opaque-directory marker. */
export const OPAQUE_MARKER = '.wh..wh..opq';

/**
 * Canonical form of a member path; `''` is the layer root. Leading `./`, repeated and trailing
 * slashes and `.` components are dropped. Absolute paths, `..` components and NUL bytes are
 * refused with TAR_UNSAFE_PATH naming `what` (the entry).
 */
export function normalizeMemberPath(input: string, what = 'layer entry'): string {
  if (input.includes('\0')) throw new OciError('TAR_UNSAFE_PATH', `${what} ${JSON.stringify(input)}: path contains a NUL byte`);
  if (input.startsWith('/')) throw new OciError('TAR_UNSAFE_PATH', `${what} ${JSON.stringify(input)}: absolute path`);
  const parts: string[] = [];
  for (const c of input.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new OciError('TAR_UNSAFE_PATH', `${what} ${JSON.stringify(input)}: path has a '..' component`);
    parts.push(c);
  }
  return parts.join('/');
}

/** The last component of a canonical path. */
export function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** The parent of a canonical path (`''` for top-level members). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** Joins a canonical parent and a name. */
export function joinMember(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/**
 * Sort key giving lading's member order: depth-first, each directory's children by the bytes of
 * their UTF-8 names (what `tar --sort=name`, apko's fs.WalkDir and mmdebstrap produce), parents
 * before children, and inside a directory the opaque marker first, then whiteouts, then the
 * rest (layer.md: whiteouts SHOULD come before sibling entries). Compare keys with
 * Buffer.compare.
 */
export function memberSortKey(path: string): Buffer {
  const parts = path.split('/').map((c) => {
    const b = Buffer.from(c, 'utf8');
    if (c === OPAQUE_MARKER) return Buffer.concat([Buffer.from([1]), b]);
    if (c.startsWith(WHITEOUT_PREFIX)) return Buffer.concat([Buffer.from([2]), b]);
    return b;
  });
  // Separator 0x00 sorts below every byte a name can hold, so "a/b" < "a-c" like a tree walk.
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(Buffer.from([0]));
    out.push(p);
  });
  return Buffer.concat(out);
}
