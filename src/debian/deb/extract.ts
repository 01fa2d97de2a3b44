// Stage 1 of unpacking, run in a worker thread per package: decode the control and data members
// and write every file and symlink of the package into a private, flat staging directory under
// names the package cannot choose (`<stage>/<n>`). Nothing lands at a package-controlled path
// here, so nothing can escape; stage 2 (merge.ts) moves entries into the root in lock order.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, lutimesSync, openSync, symlinkSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DebianError } from '../errors.js';
import { parseDeb822, type Deb822Paragraph } from '../deb822.js';
import { parseConffiles, type ControlFile } from './control.js';
import type { XzPipe } from './decode.js';
import { openMembers, type DecodedCache, type MemberSources } from './source.js';
import { dpkgPath, entryComponents, relativeTargetEscapes } from './paths.js';
import { TarFormatError, TarParser, type TarHeader } from './tar.js';

/** An entry of a package's data.tar after stage 1. Paths are dpkg names (`/usr/bin/ls`, `/.`). */
export interface StagedEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Symlink target (verbatim) or hard link target (dpkg name). */
  target?: string;
  /** File or symlink name inside the package's stage directory. */
  stage?: string;
  /** MD5 of a regular file's content, when computed (conffiles; packages without md5sums). */
  md5?: string;
}

/** What stage 1 returns for one package. */
export interface StagedPackage {
  /** The `control` stanza, parsed. */
  control: Deb822Paragraph;
  controlFiles: ControlFile[];
  entries: StagedEntry[];
  /** Newest mtime of any data entry (seconds). */
  newestMtime: number;
  /** Set when entries' owners could not be set (not running as root). */
  ownershipSkipped: boolean;
}

/** How stage 1 treats ownership and permission bits. */
export interface StageOptions {
  /** The extracting process's uid: 0 keeps uid/gid, others skip chown. */
  uid: number;
  /** The process umask (worker threads cannot read it). */
  umask: number;
  /** Decoded-member cache entry for this .deb (read when present, written when not). */
  cache?: DecodedCache;
  signal?: AbortSignal;
}

const CONTROL_LIMIT = 256 * 1024 * 1024;

/** Error for a refused entry, naming package and path (the message callers show). */
function unsafe(pkg: string, name: string, why: string): DebianError {
  return new DebianError('UNSAFE_PATH', `unpacking ${pkg}: refusing data.tar entry ${JSON.stringify(name)}: ${why}`, {
    hint: 'the package is malformed or malicious; it was not unpacked',
  });
}

function label(debPath: string, control?: Deb822Paragraph): string {
  const name = control?.get('Package');
  const version = control?.get('Version');
  return name ? `${name}${version ? ` ${version}` : ''} (${basename(debPath)})` : basename(debPath);
}

/** Reads the control member into memory (it is small) and parses its files. */
async function readControl(sources: MemberSources): Promise<ControlFile[]> {
  let total = 0;
  const files: ControlFile[] = [];
  let current: { header: TarHeader; parts: Buffer[] } | undefined;
  const what = sources.controlName;
  const parser = new TarParser({
    entry(h) {
      const parts = entryComponents(h.name);
      if (!Array.isArray(parts)) throw new DebianError('DEB_INVALID', `reading ${what}: entry ${JSON.stringify(h.name)}: ${parts.unsafe}`);
      if (parts.length === 0 && h.type === 'directory') return; // the "./" entry
      if (h.type !== 'file') throw new DebianError('DEB_INVALID', `reading ${what}: ${JSON.stringify(h.name)} is a ${h.type}; control files must be plain files`);
      if (parts.length !== 1) throw new DebianError('DEB_INVALID', `reading ${what}: control file ${JSON.stringify(h.name)} is inside a directory`);
      current = { header: { ...h, name: parts[0] ?? '' }, parts: [] };
    },
    data(chunk) {
      current?.parts.push(Buffer.from(chunk));
    },
    entryEnd() {
      if (current) files.push({ name: current.header.name, mode: current.header.mode, mtime: current.header.mtime, data: Buffer.concat(current.parts) });
      current = undefined;
    },
  });
  await sources.control((chunk) => {
    total += chunk.length;
    if (total > CONTROL_LIMIT) throw new DebianError('DEB_INVALID', `reading ${what}: control member larger than ${CONTROL_LIMIT} bytes`);
    try {
      parser.write(chunk);
    } catch (err) {
      if (err instanceof TarFormatError) throw new DebianError('DEB_INVALID', `reading ${what}: ${err.message}`);
      throw err;
    }
  });
  try {
    parser.end();
  } catch (err) {
    throw new DebianError('DEB_INVALID', `reading ${what}: ${(err as Error).message}`);
  }
  const names = new Set<string>();
  for (const f of files) {
    if (names.has(f.name)) throw new DebianError('DEB_INVALID', `reading ${what}: control file ${f.name} appears twice`);
    names.add(f.name);
  }
  return files;
}

/** Parses the control file of a control member; throws DEB_INVALID naming the .deb. */
export function controlFields(debPath: string, files: readonly ControlFile[]): Deb822Paragraph {
  const file = files.find((f) => f.name === 'control');
  const what = `${basename(debPath)}: control`;
  if (!file) throw new DebianError('DEB_INVALID', `reading ${basename(debPath)}: control.tar has no control file`);
  let stanzas: Deb822Paragraph[];
  try {
    stanzas = parseDeb822(file.data.toString('utf8'), { what });
  } catch (err) {
    throw new DebianError('DEB_INVALID', `reading ${(err as Error).message}`, { cause: err });
  }
  const [stanza] = stanzas;
  if (!stanza || stanzas.length !== 1) throw new DebianError('DEB_INVALID', `reading ${what}: expected one stanza, found ${stanzas.length}`);
  for (const required of ['Package', 'Version', 'Architecture']) {
    if (!stanza.get(required)) throw new DebianError('DEB_INVALID', `reading ${what}: no ${required} field`);
  }
  return stanza;
}

/**
 * Stage 1 for one .deb: reads control and data, writes files and symlinks of the package as
 * `<stageDir>/<prefix><n>` (stageDir must exist) with their modes, owners and mtimes, and
 * returns the entries in archive order. Refuses absolute and `..` names, device nodes and
 * fifos, hard links to anything but an earlier file of the package, relative symlinks that climb
 * above the root, and entries below a symlink or file of the same package.
 */
export async function stagePackage(debPath: string, stageDir: string, prefix: string, xz: XzPipe, options: StageOptions): Promise<StagedPackage> {
  const sources = await openMembers(debPath, xz, options.cache, options.signal);
  try {
    const controlFiles = await readControl(sources);
    const control = controlFields(debPath, controlFiles);
    const pkg = label(debPath, control);
    const conffilesFile = controlFiles.find((f) => f.name === 'conffiles');
    const conffiles = new Set<string>();
    if (conffilesFile) {
      const parsed = parseConffiles(conffilesFile.data.toString('utf8'));
      if (typeof parsed === 'string') throw new DebianError('DEB_INVALID', `reading ${pkg}: conffiles: ${parsed}`);
      for (const c of parsed) if (!c.removeOnUpgrade) conffiles.add(c.path);
    }
    // dpkg computes the MD5 of every file it unpacks and writes them as info/<pkg>.md5sums when
    // the package ships none (dpkg lib/dpkg/db-fsys-digest.c write_filehash_except).
    const hashAll = !controlFiles.some((f) => f.name === 'md5sums');

    const entries: StagedEntry[] = [];
    const kinds = new Map<string, StagedEntry['type']>();
    const md5Of = new Map<string, string>();
    let newestMtime = 0;
    let ownershipSkipped = false;
    let counter = 0;
    let file: { fd: number; entry: StagedEntry; header: TarHeader; hash: Hash | undefined } | undefined;
    const root = options.uid === 0;

    const finishFile = () => {
      if (!file) return;
      const { fd: out, entry, hash } = file;
      file = undefined;
      try {
        const chown = root && (entry.uid !== 0 || entry.gid !== 0);
        if (chown) fchownSync(out, entry.uid, entry.gid);
        // open() applied mode & ~umask; fix up only when that lost bits or chown cleared set-id bits.
        if ((entry.mode & options.umask) !== 0 || entry.mode > 0o777) fchmodSync(out, entry.mode);
        futimesSync(out, entry.mtime, entry.mtime);
      } finally {
        closeSync(out);
      }
      if (hash) {
        entry.md5 = hash.digest('hex');
        md5Of.set(entry.path, entry.md5);
      }
    };

    const parser = new TarParser({
      entry(h) {
        const parts = entryComponents(h.name);
        if (!Array.isArray(parts)) throw unsafe(pkg, h.name, parts.unsafe);
        const path = dpkgPath(parts);
        if (h.type === 'char' || h.type === 'block' || h.type === 'fifo') {
          throw unsafe(pkg, h.name, `${h.type === 'fifo' ? 'fifos' : 'device nodes'} are not unpacked`);
        }
        // A package never legitimately writes below its own symlink or file: tar cannot even
        // produce such an archive from a real tree. Refusing it stops "a -> /etc, then a/passwd".
        let ancestor = '';
        for (let i = 0; i < parts.length - 1; i++) {
          ancestor += `/${parts[i] ?? ''}`;
          const kind = kinds.get(ancestor);
          if (kind === 'symlink') throw unsafe(pkg, h.name, `it lies below ${ancestor}, a symlink of the same package`);
          if (kind === 'file' || kind === 'link') throw unsafe(pkg, h.name, `it lies below ${ancestor}, a file of the same package`);
        }
        if (h.type !== 'directory' && parts.length === 0) throw unsafe(pkg, h.name, 'only a directory can be the root');
        const entry: StagedEntry = { path, type: h.type === 'file' ? 'file' : h.type, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime };
        if (h.mtime > newestMtime) newestMtime = h.mtime;
        if (!root && (h.uid !== 0 || h.gid !== 0)) ownershipSkipped = true;
        if (h.type === 'link') {
          const target = entryComponents(h.linkname);
          if (!Array.isArray(target)) throw unsafe(pkg, h.name, `hard link to ${JSON.stringify(h.linkname)}: ${target.unsafe}`);
          const targetPath = dpkgPath(target);
          if (kinds.get(targetPath) !== 'file') {
            throw unsafe(pkg, h.name, `hard link to ${targetPath}, which is not an earlier regular file of the package`);
          }
          entry.target = targetPath;
          // dpkg hashes hard links too when it writes md5sums itself.
          if (hashAll) entry.md5 = md5Of.get(targetPath);
        } else if (h.type === 'symlink') {
          if (h.linkname === '') throw unsafe(pkg, h.name, 'symlink with an empty target');
          if (relativeTargetEscapes(parts.slice(0, -1), h.linkname)) throw unsafe(pkg, h.name, `symlink target ${JSON.stringify(h.linkname)} climbs out of the root`);
          entry.target = h.linkname;
          entry.stage = `${prefix}${counter++}`;
          const at = join(stageDir, entry.stage);
          symlinkSync(h.linkname, at);
          if (root && (h.uid !== 0 || h.gid !== 0)) lchownSync(at, h.uid, h.gid);
          lutimesSync(at, h.mtime, h.mtime);
        } else if (h.type === 'file') {
          entry.stage = `${prefix}${counter++}`;
          const out = openSync(join(stageDir, entry.stage), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, h.mode & 0o777);
          const hash = hashAll || conffiles.has(path) ? createHash('md5') : undefined;
          file = { fd: out, entry, header: h, hash };
        }
        kinds.set(path, entry.type);
        entries.push(entry);
      },
      data(chunk) {
        if (!file) return;
        file.hash?.update(chunk);
        let at = 0;
        while (at < chunk.length) at += writeSync(file.fd, chunk, at, chunk.length - at);
      },
      entryEnd() {
        finishFile();
      },
    });

    const what = `${pkg}: ${sources.dataName.replace(/^\S+ /, '')}`;
    try {
      await sources.data((chunk) => {
        try {
          parser.write(chunk);
        } catch (err) {
          if (err instanceof TarFormatError) throw new DebianError('DEB_INVALID', `reading ${what}: ${err.message}`);
          throw err;
        }
      });
      try {
        parser.end();
      } catch (err) {
        throw new DebianError('DEB_INVALID', `reading ${what}: ${(err as Error).message}`);
      }
    } finally {
      if (file) closeSync(file.fd);
    }
    if (hashAll) {
      // Keep the generated list in archive order, as dpkg writes it.
      controlFiles.push({
        name: 'md5sums',
        mode: 0o644,
        mtime: newestMtime,
        data: Buffer.from(entries.filter((e) => (e.type === 'file' || e.type === 'link') && e.md5).map((e) => `${e.md5}  ${e.path.slice(1)}\n`).join('')),
      });
    }
    for (const c of conffiles) {
      if (kinds.get(c) !== 'file') throw new DebianError('DEB_INVALID', `reading ${pkg}: conffile ${c} is not a regular file of the package`);
    }
    sources.finish();
    return { control, controlFiles, entries, newestMtime, ownershipSkipped };
  } catch (err) {
    sources.abandon();
    throw err;
  }
}
