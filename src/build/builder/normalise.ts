// After maintainer scripts and run steps: remove or empty what makes two builds of the same
// inputs differ (mmdebstrap's cleanup list, debian.md section 9.1, oci-image.md section 9, and
// what this project saw differ: dpkg/apt logs, ldconfig's aux-cache, apt's binary caches,
// machine ids, the backup files dpkg, debconf and shadow keep as `*-old` and `passwd-`).
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, truncateSync } from 'node:fs';
import { join, posix } from 'node:path';
import { CLEARED_DIRS } from '../config/normalise.js';
import { resolveInRoot } from './paths.js';

/** Removed when present (image paths). */
export const REMOVED_PATHS: readonly string[] = [
  '/var/log/dpkg.log',
  '/var/log/alternatives.log',
  '/var/log/bootstrap.log',
  '/var/log/apt/history.log',
  '/var/log/apt/term.log',
  '/var/log/apt/eipp.log.xz',
  '/var/cache/ldconfig/aux-cache',
  '/var/cache/apt/pkgcache.bin',
  '/var/cache/apt/srcpkgcache.bin',
  '/var/lib/dbus/machine-id',
  '/etc/passwd-',
  '/etc/group-',
  '/etc/shadow-',
  '/etc/gshadow-',
  '/etc/subuid-',
  '/etc/subgid-',
];

/** Emptied when present: an empty machine-id means "not yet initialised" (systemd). */
export const EMPTIED_PATHS: readonly string[] = ['/etc/machine-id'];

/** Directories whose `*-old` files (backups of the previous state) are removed. */
export const OLD_BACKUP_DIRS: readonly string[] = ['/var/lib/dpkg', '/var/cache/debconf'];

function remove(root: string, p: string, removed: string[]): void {
  const abs = resolveInRoot(root, p);
  try {
    lstatSync(abs);
  } catch {
    return;
  }
  rmSync(abs, { recursive: true, force: true });
  removed.push(p);
}

/**
 * Applies the cleanup to the tree at `root` (a plain tree or a mounted overlay) and returns the
 * image paths it removed or emptied (and `+/run/lock` when it made that directory).
 */
export function normaliseTree(root: string): string[] {
  const done: string[] = [];
  for (const p of REMOVED_PATHS) remove(root, p, done);
  for (const p of EMPTIED_PATHS) {
    const abs = resolveInRoot(root, p);
    try {
      const st = lstatSync(abs);
      if (st.isFile() && st.size > 0) {
        truncateSync(abs, 0);
        done.push(p);
      }
    } catch {
      // absent
    }
  }
  for (const d of OLD_BACKUP_DIRS) {
    const abs = resolveInRoot(root, d, { followLast: true });
    if (!existsSync(abs)) continue;
    for (const n of readdirSync(abs).sort()) if (n.endsWith('-old')) remove(root, `${d}/${n}`, done);
  }
  for (const d of CLEARED_DIRS) {
    const abs = resolveInRoot(root, d, { followLast: true });
    let names: string[] = [];
    try {
      if (!lstatSync(abs).isDirectory()) continue;
      names = readdirSync(abs).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      // /run/lock stays (emptied): Debian's /var/lock points at it (below).
      if (d === '/run' && n === 'lock' && lstatSync(join(abs, n)).isDirectory()) {
        for (const m of readdirSync(join(abs, n)).sort()) remove(root, `/run/lock/${m}`, done);
        continue;
      }
      remove(root, join(d, n), done);
    }
  }
  ensureRunLock(root, done);
  return done;
}

/**
 * base-files' postinst turns /var/lock into a link to /run/lock and makes that directory, but
 * maintainer scripts run with /run on a tmpfs, so the directory never reaches the image and
 * /var/lock dangles (apache2ctl, oslo's lock_path and flock users fail). A Debian system has
 * /run/lock as root's 1777 directory: create it when /var/lock points there.
 */
function ensureRunLock(root: string, done: string[]): void {
  let target: string;
  try {
    target = readlinkSync(join(root, 'var/lock'));
  } catch {
    return; // no /var/lock link: nothing points at /run/lock
  }
  if (posix.normalize(posix.resolve('/var', target)) !== '/run/lock') return;
  const run = resolveInRoot(root, '/run', { followLast: true });
  if (!existsSync(run) || !lstatSync(run).isDirectory() || existsSync(join(run, 'lock'))) return;
  mkdirSync(join(run, 'lock'));
  chmodSync(join(run, 'lock'), 0o1777);
  done.push('+/run/lock');
}
