// Path rules for .deb entries: what a tar name may be and where a link may point.

/**
 * Splits a data.tar entry name (`./usr/bin/ls`, `usr/bin/`, `./`) into its components, or
 * returns why it is refused: an absolute name or a `..` component (debian.md §7.2; dpkg
 * refuses these too). `[]` is the root directory (`./`).
 */
export function entryComponents(name: string): string[] | { unsafe: string } {
  if (name.startsWith('/')) return { unsafe: 'absolute path' };
  if (name.includes('\0')) return { unsafe: 'NUL byte in name' };
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { unsafe: '".." component' };
    out.push(part);
  }
  return out;
}

/** The dpkg name of a path: `/usr/bin/ls`; the root directory is `/.` (dpkg's `.list` files). */
export function dpkgPath(components: readonly string[]): string {
  return components.length === 0 ? '/.' : `/${components.join('/')}`;
}

/**
 * True when a relative symlink `target` placed in the directory `parent` (components from the
 * root) would climb above the root. Absolute targets are read inside the image (a container's
 * root), so they never escape; they are resolved against the root when followed.
 */
export function relativeTargetEscapes(parent: readonly string[], target: string): boolean {
  if (target.startsWith('/')) return false;
  let depth = parent.length;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (--depth < 0) return true;
    } else depth++;
  }
  return false;
}
