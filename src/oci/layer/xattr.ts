// Extended attributes through the `getfattr`/`setfattr` programs (Debian package `attr`):
// Node has no xattr API, and a native addon would need an install script. One getfattr run
// dumps a whole tree; one setfattr run restores a batch.
import { spawn } from 'node:child_process';
import { OciError } from '../errors.js';

/**
 * Names lading carries in layers. `security.selinux` is the host's label (it differs between
 * machines, which would break reproducibility) and `system.*` holds ACLs in a kernel format;
 * both are left out. NOTE: POSIX ACLs are not carried (GNU tar writes them as SCHILY.acl.*).
 */
export function isPortableXattr(name: string): boolean {
  if (name === 'security.selinux') return false;
  return name.startsWith('user.') || name.startsWith('trusted.') || name.startsWith('security.');
}

function run(cmd: string, args: string[], cwd: string, input: string | undefined, what: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (err.length < 4096) err += d;
    });
    child.on('error', (e) => {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new OciError('LAYER_INVALID', `${what}: cannot run ${cmd}${missing ? ' (not installed)' : ''}: ${e.message}`, {
          cause: e,
          ...(missing ? { hint: 'install the Debian package attr' } : {}),
        }),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('latin1'));
      else reject(new OciError('LAYER_INVALID', `${what}: ${cmd} failed (${code}): ${err.trim() || 'no message'}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** getfattr quotes names with `\ooo` octal escapes and `\\`; this turns them back into UTF-8 text. */
function unescapeName(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (c === 0x5c && s[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 1;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function escapeName(name: string): string {
  let out = '';
  for (const b of Buffer.from(name, 'utf8')) {
    if (b === 0x5c) out += '\\\\';
    else if (b <= 0x20 || b >= 0x7f || b === 0x3d) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

/**
 * Every portable xattr below `root` (not following symlinks), keyed by path relative to root;
 * `onSkipped` hears each one left out (POSIX ACLs, say). Fails with a hint when getfattr is missing.
 */
export async function readXattrTree(root: string, signal?: AbortSignal, onSkipped?: (path: string, name: string) => void): Promise<Map<string, Map<string, Buffer>>> {
  const text = await run('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--', '.'], root, undefined, `reading xattrs below ${root}`, signal);
  const result = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  let currentPath = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      currentPath = unescapeName(line.slice(8)).replace(/^\.\/?/, '');
      current = new Map();
      result.set(currentPath, current);
      continue;
    }
    if (!current || line === '') continue;
    const eq = line.indexOf('=');
    const name = unescapeName(eq < 0 ? line : line.slice(0, eq));
    const raw = eq < 0 ? '' : line.slice(eq + 1);
    if (!isPortableXattr(name)) {
      onSkipped?.(currentPath, name);
      continue;
    }
    let value: Buffer;
    if (raw.startsWith('0s')) value = Buffer.from(raw.slice(2), 'base64');
    else if (raw.startsWith('0x')) value = Buffer.from(raw.slice(2), 'hex');
    else if (raw.startsWith('"') && raw.endsWith('"')) value = Buffer.from(raw.slice(1, -1), 'latin1');
    else value = Buffer.from(raw, 'latin1');
    current.set(name, value);
  }
  for (const [k, v] of result) if (v.size === 0) result.delete(k);
  return result;
}

/**
 * Sets xattrs on paths relative to `cwd` (no symlink is followed at the last component; callers
 * pass paths without symlinks in their parents).
 */
export async function writeXattrs(cwd: string, items: ReadonlyArray<{ path: string; xattrs: ReadonlyMap<string, Uint8Array> }>, signal?: AbortSignal): Promise<void> {
  if (items.length === 0) return;
  let dump = '';
  for (const { path, xattrs } of items) {
    dump += `# file: ${escapeName(path)}\n`;
    for (const [name, value] of xattrs) dump += `${escapeName(name)}=0s${Buffer.from(value).toString('base64')}\n`;
    dump += '\n';
  }
  await run('setfattr', ['-h', '--restore=-'], cwd, dump, `setting xattrs below ${cwd}`, signal);
}

/** Removes the named xattrs (each known to be there) from paths relative to `cwd`, not following symlinks. */
export async function removeXattrs(cwd: string, items: ReadonlyArray<{ path: string; name: string }>, signal?: AbortSignal): Promise<void> {
  const byName = new Map<string, string[]>();
  // readXattrTree names the root itself '' (its "# file: ." line).
  for (const { path, name } of items) byName.set(name, [...(byName.get(name) ?? []), path === '' ? '.' : path]);
  for (const [name, paths] of byName) {
    for (let i = 0; i < paths.length; i += 500) {
      await run('setfattr', ['-h', '-x', name, '--', ...paths.slice(i, i + 500)], cwd, undefined, `removing ${name} below ${cwd}`, signal);
    }
  }
}
