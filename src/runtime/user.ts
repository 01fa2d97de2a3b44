import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { errnoCode } from '../core/index.js';
import { RuntimeError } from './errors.js';
import { resolveInRootfs } from './rootfs-path.js';

/** Numeric identity of the container process (runtime-spec `process.user`). */
export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: readonly number[];
}

/**
 * Who the command runs as: an image-config style string (`user`, `uid`, `user:group`, `uid:gid`,
 * `uid:group`, `user:gid`), a bare uid, or numeric ids. Default: root (0:0).
 */
export type UserSpec = string | number | ProcessUser;

/** A user resolved against the rootfs, plus the home directory used for a default HOME. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Home from /etc/passwd, or "/root" for uid 0 and "/" for others without an entry. */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const ID_MAX = 0xffffffff;
const isNumeric = (s: string) => /^[0-9]+$/.test(s);

function parseId(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n >= ID_MAX) throw new RuntimeError('INVALID_OPTIONS', `user ${what}: ${text} is not a valid id`);
  return n;
}

async function readRootfsFile(rootfs: string, path: string): Promise<string | undefined> {
  const resolved = await resolveInRootfs(rootfs, path);
  if (resolved.missing.length > 0) return undefined;
  try {
    return await readFile(posix.join(rootfs, resolved.path), 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'EISDIR') return undefined;
    throw new RuntimeError('ROOTFS_INVALID', `reading ${path} in ${rootfs}: ${(err as Error).message}`, { cause: err });
  }
}

/** Entries of an /etc/passwd text; malformed lines (and NIS `+`/`-` lines) are skipped as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || f[0].startsWith('+') || f[0].startsWith('-') || !isNumeric(f[2] ?? '') || !isNumeric(f[3] ?? '')) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' });
  }
  return out;
}

/** Entries of an /etc/group text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !f[0] || f[0].startsWith('+') || f[0].startsWith('-') || !isNumeric(f[2] ?? '')) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/**
 * Resolves a user spec against the rootfs's own /etc/passwd and /etc/group (never the host's),
 * per the image-spec conversion rules (oci-image.md §12, image-spec conversion.md "Config.User"):
 * numeric ids are copied verbatim; names are looked up and an unknown name is an error;
 * supplementary groups come from /etc/group membership only when the user is a name and no
 * group was given. A numeric uid without a group takes its primary gid from /etc/passwd when
 * the uid has an entry, else 0 (as Docker does).
 */
export async function resolveUser(rootfs: string, user: UserSpec | undefined): Promise<ResolvedUser> {
  if (typeof user === 'object') {
    const ids = [user.uid, user.gid, ...(user.additionalGids ?? [])];
    for (const id of ids) {
      if (!Number.isSafeInteger(id) || id < 0 || id >= ID_MAX) throw new RuntimeError('INVALID_OPTIONS', `user ${JSON.stringify(user)}: ids must be integers in 0..${ID_MAX - 1}`);
    }
    const passwd = parsePasswd((await readRootfsFile(rootfs, '/etc/passwd')) ?? '');
    return { uid: user.uid, gid: user.gid, additionalGids: [...(user.additionalGids ?? [])], home: homeOf(passwd.find((p) => p.uid === user.uid), user.uid) };
  }
  const spec = user === undefined ? '' : String(user);
  if (spec.includes('\n')) throw new RuntimeError('INVALID_OPTIONS', `user ${JSON.stringify(spec)}: not a user spec`);
  const [userPart = '', groupPart, ...extra] = spec.split(':');
  if (extra.length > 0 || groupPart === '') throw new RuntimeError('INVALID_OPTIONS', `user ${JSON.stringify(spec)}: expected user, user:group, uid or uid:gid`);
  const passwdText = await readRootfsFile(rootfs, '/etc/passwd');
  const passwd = parsePasswd(passwdText ?? '');

  let uid: number;
  let gid: number;
  let entry: PasswdEntry | undefined;
  let additionalGids: number[] = [];
  if (userPart === '' || isNumeric(userPart)) {
    uid = userPart === '' ? 0 : parseId(userPart, spec);
    entry = passwd.find((p) => p.uid === uid);
    gid = entry?.gid ?? 0;
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw new RuntimeError(
        'USER_UNKNOWN',
        `user ${JSON.stringify(spec)}: no user ${JSON.stringify(userPart)} in /etc/passwd${passwdText === undefined ? ' (the file does not exist)' : ''}`,
      );
    }
    uid = entry.uid;
    gid = entry.gid;
  }
  const byName = userPart !== '' && !isNumeric(userPart);
  const needGroups = (byName && groupPart === undefined) || (groupPart !== undefined && !isNumeric(groupPart));
  const groupText = needGroups ? await readRootfsFile(rootfs, '/etc/group') : undefined;
  const groups = parseGroup(groupText ?? '');
  if (groupPart !== undefined) {
    if (isNumeric(groupPart)) gid = parseId(groupPart, spec);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) {
        throw new RuntimeError(
          'USER_UNKNOWN',
          `user ${JSON.stringify(spec)}: no group ${JSON.stringify(groupPart)} in /etc/group${groupText === undefined ? ' (the file does not exist)' : ''}`,
        );
      }
      gid = g.gid;
    }
  } else if (byName) {
    additionalGids = [...new Set(groups.filter((g) => g.members.includes(userPart)).map((g) => g.gid))].filter((g) => g !== gid);
  }
  return { uid, gid, additionalGids, home: homeOf(entry, uid) };
}

function homeOf(entry: PasswdEntry | undefined, uid: number): string {
  if (entry?.home) return entry.home;
  return uid === 0 ? '/root' : '/';
}
