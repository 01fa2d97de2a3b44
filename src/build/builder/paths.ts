// Paths inside an image's root filesystem, resolved with chroot semantics: symlinks met on the
// way are followed as if the root were `/` (absolute targets restart at the root, `..` stops at
// it), so nothing the builder writes for an image ever lands outside its root.
import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../errors.js';

const MAX_HOPS = 40;

/**
 * The host path of `imagePath` (absolute, `/`-separated) inside `root`. Every component but the
 * last is resolved through symlinks inside the root; the last is followed only when
 * `followLast` is set. Missing components are kept as named (the caller creates them).
 */
export function resolveInRoot(root: string, imagePath: string, options: { followLast?: boolean } = {}): string {
  const queue = imagePath.split('/').filter((c) => c !== '' && c !== '.');
  const stack: string[] = [];
  let hops = 0;
  let missing = false;
  while (queue.length > 0) {
    const c = queue.shift() as string;
    if (c === '..') {
      stack.pop();
      continue;
    }
    const last = queue.length === 0;
    if (missing || (last && !options.followLast)) {
      stack.push(c);
      continue;
    }
    const candidate = join(root, ...stack, c);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      missing = true;
    }
    if (!isLink) {
      stack.push(c);
      continue;
    }
    if (++hops > MAX_HOPS) throw new BuildError('FILE_FAILED', `resolving ${imagePath} in the image: too many levels of symbolic links`);
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) stack.length = 0;
    queue.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
  }
  return join(root, ...stack);
}

/** The image path of `p` with one leading slash and no trailing one. */
export function imagePath(p: string): string {
  return `/${p.split('/').filter((c) => c !== '' && c !== '.').join('/')}`;
}
