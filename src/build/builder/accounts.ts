// Users and groups of the config, written into the image's /etc/passwd, /etc/group and (when the
// image has them) /etc/shadow and /etc/gshadow with their fixed ids, before the packages'
// maintainer scripts run: a postinst that calls `adduser --system keystone` then finds the user
// and keeps lading's uid, so every build writes the same files (docs/build.md "Accounts").
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { BuildError } from '../errors.js';
import type { GroupSpec, UserSpec } from '../config/types.js';
import { resolveInRoot } from './paths.js';

interface Table {
  readonly path: string;
  readonly lines: string[][];
}

function readTable(root: string, file: string): Table | undefined {
  const path = resolveInRoot(root, file, { followLast: true });
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  return { path, lines: text.split('\n').filter((l) => l !== '').map((l) => l.split(':')) };
}

function writeTable(t: Table): void {
  // In place, so the file keeps its mode and owner (shadow is 0640 root:shadow).
  writeFileSync(t.path, t.lines.map((l) => `${l.join(':')}\n`).join(''));
}

/** What applyAccounts() added. */
export interface AccountsResult {
  readonly users: string[];
  readonly groups: string[];
}

/**
 * Adds `groups` then `users` (sorted by id, as normalised). An existing entry with the same name
 * and id is kept; a name or id already used differently is ACCOUNT_CONFLICT naming both.
 * Missing home directories are created (0755 for system users, 0700 otherwise), owned by the
 * user. Without /etc/passwd (images without base-passwd) minimal files with root are created.
 */
export function applyAccounts(root: string, image: string, users: readonly UserSpec[], groups: readonly GroupSpec[], epochDays: number): AccountsResult {
  const added: AccountsResult = { users: [], groups: [] };
  if (users.length === 0 && groups.length === 0) return added;
  const ensure = (file: string, first: string) => {
    const path = resolveInRoot(root, file, { followLast: true });
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      writeFileSync(path, first, { mode: 0o644 });
    }
  };
  ensure('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  ensure('/etc/group', 'root:x:0:\n');
  const passwd = readTable(root, '/etc/passwd') as Table;
  const group = readTable(root, '/etc/group') as Table;
  const shadow = readTable(root, '/etc/shadow');
  const gshadow = readTable(root, '/etc/gshadow');
  const conflict = (what: string) => new BuildError('ACCOUNT_CONFLICT', `image ${image}: ${what}`, { hint: 'choose another name or id in lading.yaml (ids are fixed so every build writes the same files)' });

  for (const g of groups) {
    const byName = group.lines.find((l) => l[0] === g.name);
    const byId = group.lines.find((l) => l[2] === String(g.gid));
    if (byName && byName[2] === String(g.gid)) continue;
    if (byName) throw conflict(`group ${g.name} exists in the image with gid ${byName[2]}, not ${g.gid}`);
    if (byId) {
      // A user's private group may reuse an existing group of that id (gid given explicitly).
      if (g.implicit) continue;
      throw conflict(`gid ${g.gid} of group ${g.name} is already group ${byId[0]} in the image`);
    }
    // Without a gshadow yet, the lock goes in the group file: grpconv (passwd's postinst) moves it.
    group.lines.push([g.name, gshadow ? 'x' : '!', String(g.gid), '']);
    gshadow?.lines.push([g.name, '!', '', '']);
    added.groups.push(g.name);
  }
  for (const u of users) {
    const byName = passwd.lines.find((l) => l[0] === u.name);
    const byId = passwd.lines.find((l) => l[2] === String(u.uid));
    if (byName && byName[2] === String(u.uid)) continue;
    if (byName) throw conflict(`user ${u.name} exists in the image with uid ${byName[2]}, not ${u.uid}`);
    if (byId) throw conflict(`uid ${u.uid} of user ${u.name} is already user ${byId[0]} in the image`);
    // Locked, as useradd makes it: in shadow, or, before the image has one, in passwd, from where
    // pwconv (run by passwd's postinst) moves it; an "x" there would become the shadow password.
    passwd.lines.push([u.name, shadow ? 'x' : '!', String(u.uid), String(u.gid), u.comment, u.home, u.shell]);
    shadow?.lines.push([u.name, '!', String(epochDays), '', '', '', '', '', '']);
    for (const gname of u.groups) {
      const row = group.lines.find((l) => l[0] === gname);
      if (!row) throw conflict(`user ${u.name} should join group ${gname}, which the image does not have`);
      const members = (row[3] ?? '').split(',').filter(Boolean);
      if (!members.includes(u.name)) row[3] = [...members, u.name].join(',');
      const srow = gshadow?.lines.find((l) => l[0] === gname);
      if (srow) {
        const sm = (srow[3] ?? '').split(',').filter(Boolean);
        if (!sm.includes(u.name)) srow[3] = [...sm, u.name].join(',');
      }
    }
    added.users.push(u.name);
    if (u.home !== '/nonexistent' && u.home.startsWith('/')) {
      const home = resolveInRoot(root, u.home, { followLast: true });
      if (!existsSync(home)) {
        mkdirSync(dirname(home), { recursive: true, mode: 0o755 });
        mkdirSync(home, { mode: u.system ? 0o755 : 0o700 });
        chownSync(home, u.uid, u.gid);
      }
    }
  }
  if (added.users.length > 0 || added.groups.length > 0) {
    writeTable(passwd);
    writeTable(group);
    if (shadow) writeTable(shadow);
    if (gshadow) writeTable(gshadow);
  }
  return added;
}

/** Looks up a user or group name in the image's own files (never the host's). */
export function lookupId(root: string, kind: 'user' | 'group', ref: number | string): number | undefined {
  if (typeof ref === 'number') return ref;
  if (/^\d+$/.test(ref)) return Number(ref);
  const t = readTable(root, kind === 'user' ? '/etc/passwd' : '/etc/group');
  const row = t?.lines.find((l) => l[0] === ref);
  return row ? Number(row[2]) : undefined;
}

/**
 * Rewrites /etc/shadow so no password-change date is later than the image's epoch: tools in
 * maintainer scripts (useradd, adduser) write today's date, which would change with the day of
 * the build.
 */
export function clampShadowDates(root: string, epochDays: number): boolean {
  const t = readTable(root, '/etc/shadow');
  if (!t) return false;
  let changed = false;
  for (const l of t.lines) {
    const d = l[2];
    if (d !== undefined && /^\d+$/.test(d) && Number(d) > epochDays) {
      l[2] = String(epochDays);
      changed = true;
    }
  }
  if (changed) writeTable(t);
  return changed;
}
