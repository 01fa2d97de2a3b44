// After maintainer scripts and run steps: remove or empty what makes two builds of the same
// inputs differ (mmdebstrap's cleanup list, debian.md section 9.1, oci-image.md section 9, and
// what this project saw differ: dpkg/apt logs, ldconfig's aux-cache, apt's binary caches,
// machine ids, the backup files dpkg, debconf and shadow keep as `*-old` and `passwd-`).
import { existsSync, lstatSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
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
 * image paths it removed or emptied.
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
    for (const n of names) remove(root, join(d, n), done);
  }
  return done;
}
