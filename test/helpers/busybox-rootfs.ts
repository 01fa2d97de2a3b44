// A tiny real root filesystem for container tests: Debian's busybox-static .deb from the test
// cache (.cache/test-debs, filled by scripts/fetch-test-debs), extracted with dpkg-deb, with one
// symlink per applet in /bin so `sh`, `id`, `ls`... exist. No /proc, /dev, /etc: tests add what
// they need, and the runtime must cope with a rootfs that lacks mount points.
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

/** The cache directory of real .debs. */
export const TEST_DEBS_DIR = join(root, '.cache/test-debs');

/** Path of the busybox-static .deb for the host architecture; throws a clear error when the cache lacks it. */
export async function busyboxDeb(): Promise<string> {
  const { stdout } = await execFileP('dpkg', ['--print-architecture']);
  const arch = stdout.trim();
  let names: string[] = [];
  try {
    names = await readdir(TEST_DEBS_DIR);
  } catch {
    // reported below
  }
  const deb = names.find((n) => n.startsWith('busybox-static_') && n.endsWith(`_${arch}.deb`));
  if (!deb) throw new Error(`busybox-static_*_${arch}.deb is not in ${TEST_DEBS_DIR}: run scripts/fetch-test-debs`);
  return join(TEST_DEBS_DIR, deb);
}

/** A fresh busybox rootfs in a temp dir (or under `parent`), and a function removing it. */
export async function makeBusyboxRootfs(parent: string = tmpdir()): Promise<{ rootfs: string; cleanup: () => Promise<void> }> {
  const deb = await busyboxDeb();
  const rootfs = await mkdtemp(join(parent, 'busybox-rootfs-'));
  await execFileP('dpkg-deb', ['-x', deb, rootfs]);
  const busybox = join(rootfs, 'bin/busybox');
  const { stdout } = await execFileP(busybox, ['--list']);
  for (const applet of stdout.split('\n').map((s) => s.trim()).filter(Boolean)) {
    const link = join(rootfs, 'bin', applet);
    try {
      await lstat(link);
    } catch {
      await symlink('busybox', link);
    }
  }
  return { rootfs, cleanup: () => rm(rootfs, { recursive: true, force: true }) };
}
