// Reading a .deb without unpacking it: its control information and a listing of data.tar,
// streamed with constant memory (debian.md §7).
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { BaseError } from '../../core/index.js';
import type { Deb822Paragraph } from '../deb822.js';
import { createDecompressor } from '../decompress.js';
import { DebianError } from '../errors.js';
import { readDebLayout, type DebLayout, type DebTarMember } from './ar.js';
import { parseConffiles, parseTriggers, type Conffile, type ControlFile, type TriggerDirective } from './control.js';
import { controlFields } from './extract.js';
import { dpkgPath, entryComponents } from './paths.js';
import { TarFormatError, TarParser, type TarEntryType, type TarHeader } from './tar.js';

/** Options of the .deb readers. */
export interface ReadDebOptions {
  signal?: AbortSignal;
}

/** The control information of a .deb (`dpkg-deb --info` and `--control`). */
export interface DebControl {
  path: string;
  /** `debian-binary`, e.g. `2.0`. */
  formatVersion: string;
  /** The control stanza. */
  control: Deb822Paragraph;
  package: string;
  version: string;
  architecture: string;
  conffiles: Conffile[];
  /** `md5sums` lines (path without the leading slash, as in the file); undefined when the package has none. */
  md5sums: Array<{ md5: string; path: string }> | undefined;
  /** Maintainer scripts shipped, by name (preinst, postinst, prerm, postrm, config). */
  scripts: Partial<Record<'preinst' | 'postinst' | 'prerm' | 'postrm' | 'config', string>>;
  triggers: TriggerDirective[];
  /** Every control file (control, md5sums, conffiles, scripts, triggers, shlibs, symbols, templates, ...). */
  files: ControlFile[];
}

/** One data.tar entry as listed by readDebData. */
export interface DebDataEntry {
  /** dpkg name: `/usr/bin/ls`, `/.` for the root. */
  path: string;
  /** The name as stored in the archive (`./usr/bin/ls`). */
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  /** Symlink or hard link target as stored. */
  linkname: string;
  /** File content, when requested through `content`. */
  content?: Buffer;
}

/** Options of readDebData. */
export interface ReadDebDataOptions extends ReadDebOptions {
  /** Return the content of the files this selects (kept in memory: select small files only). */
  content?: (entry: DebDataEntry) => boolean;
}

function memberStream(layout: DebLayout, member: DebTarMember, signal?: AbortSignal): AsyncIterable<Buffer> {
  const what = `${basename(layout.path)} member ${member.name}`;
  const source = createReadStream(layout.path, { start: member.offset, end: member.offset + member.size - 1, highWaterMark: 256 * 1024, signal });
  if (member.compression === 'none') return source;
  const out = source.pipe(createDecompressor(member.compression, { what, signal }));
  source.on('error', (err) => out.destroy(err));
  return out;
}

/** Reads all files of a tar member into memory (control.tar is small). */
async function readTarFiles(layout: DebLayout, member: DebTarMember, signal?: AbortSignal): Promise<Array<{ header: TarHeader; data: Buffer }>> {
  const what = `${basename(layout.path)} member ${member.name}`;
  const out: Array<{ header: TarHeader; data: Buffer }> = [];
  let current: { header: TarHeader; parts: Buffer[] } | undefined;
  const parser = new TarParser({
    entry(header) {
      current = { header, parts: [] };
    },
    data(chunk) {
      current?.parts.push(Buffer.from(chunk));
    },
    entryEnd() {
      if (current) out.push({ header: current.header, data: Buffer.concat(current.parts) });
      current = undefined;
    },
  });
  try {
    for await (const chunk of memberStream(layout, member, signal)) parser.write(chunk);
    parser.end();
  } catch (err) {
    if (err instanceof TarFormatError) throw new DebianError('DEB_INVALID', `reading ${what}: ${err.message}`);
    if (err instanceof BaseError) throw err;
    throw new DebianError('DEB_INVALID', `reading ${what}: ${(err as Error).message}`, { cause: err });
  }
  return out;
}

/**
 * Reads the control information of a .deb: the parsed `control` stanza, conffiles, md5sums,
 * maintainer scripts, triggers and every other control file. Throws DEB_INVALID naming the
 * file and member for a malformed package.
 */
export async function readDebControl(path: string, options: ReadDebOptions = {}): Promise<DebControl> {
  const layout = await readDebLayout(path, options);
  const what = `${basename(path)} member ${layout.control.name}`;
  const files: ControlFile[] = [];
  for (const { header, data } of await readTarFiles(layout, layout.control, options.signal)) {
    const parts = entryComponents(header.name);
    if (!Array.isArray(parts)) throw new DebianError('DEB_INVALID', `reading ${what}: entry ${JSON.stringify(header.name)}: ${parts.unsafe}`);
    if (parts.length === 0 && header.type === 'directory') continue;
    if (header.type !== 'file' || parts.length !== 1) throw new DebianError('DEB_INVALID', `reading ${what}: unexpected ${header.type} ${JSON.stringify(header.name)}`);
    files.push({ name: parts[0] ?? '', mode: header.mode, mtime: header.mtime, data });
  }
  const control = controlFields(path, files);
  const text = (name: string) => files.find((f) => f.name === name)?.data.toString('utf8');
  const conffiles = parseConffiles(text('conffiles') ?? '');
  if (typeof conffiles === 'string') throw new DebianError('DEB_INVALID', `reading ${what}: conffiles: ${conffiles}`);
  const triggers = parseTriggers(text('triggers') ?? '');
  if (typeof triggers === 'string') throw new DebianError('DEB_INVALID', `reading ${what}: triggers: ${triggers}`);
  const md5Text = text('md5sums');
  const md5sums = md5Text?.split('\n').flatMap((line) => {
    const m = /^([0-9a-f]{32}) [ *]?(.+)$/.exec(line.trimEnd());
    return m ? [{ md5: m[1] ?? '', path: m[2] ?? '' }] : [];
  });
  const scripts: DebControl['scripts'] = {};
  for (const s of ['preinst', 'postinst', 'prerm', 'postrm', 'config'] as const) {
    const t = text(s);
    if (t !== undefined) scripts[s] = t;
  }
  return {
    path,
    formatVersion: layout.formatVersion,
    control,
    package: control.get('Package') ?? '',
    version: control.get('Version') ?? '',
    architecture: control.get('Architecture') ?? '',
    conffiles,
    md5sums,
    scripts,
    triggers,
    files,
  };
}

/**
 * Lists the entries of a .deb's data.tar in archive order, streaming: memory stays constant
 * except for file contents selected with `content`. Nothing is written anywhere. Absolute and
 * `..` names fail with UNSAFE_PATH.
 */
export async function* readDebData(path: string, options: ReadDebDataOptions = {}): AsyncGenerator<DebDataEntry> {
  const layout = await readDebLayout(path, options);
  const what = `${basename(path)} member ${layout.data.name}`;
  const select = options.content;
  const ready: DebDataEntry[] = [];
  let current: { entry: DebDataEntry; parts: Buffer[] | undefined } | undefined;
  const parser = new TarParser({
    entry(h) {
      const comps = entryComponents(h.name);
      if (!Array.isArray(comps)) throw new DebianError('UNSAFE_PATH', `reading ${what}: entry ${JSON.stringify(h.name)}: ${comps.unsafe}`);
      const entry: DebDataEntry = {
        path: dpkgPath(comps),
        name: h.name,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        uname: h.uname,
        gname: h.gname,
        size: h.size,
        mtime: h.mtime,
        linkname: h.linkname,
      };
      current = { entry, parts: select && h.type === 'file' && select(entry) ? [] : undefined };
    },
    data(chunk) {
      current?.parts?.push(Buffer.from(chunk));
    },
    entryEnd() {
      if (current) {
        if (current.parts) current.entry.content = Buffer.concat(current.parts);
        ready.push(current.entry);
      }
      current = undefined;
    },
  });
  const wrap = (err: unknown): Error => {
    if (err instanceof TarFormatError) return new DebianError('DEB_INVALID', `reading ${what}: ${err.message}`);
    if (err instanceof BaseError) return err;
    return new DebianError('DEB_INVALID', `reading ${what}: ${(err as Error).message}`, { cause: err });
  };
  const source = memberStream(layout, layout.data, options.signal);
  try {
    for await (const chunk of source) {
      try {
        parser.write(chunk);
      } catch (err) {
        throw wrap(err);
      }
      while (ready.length > 0) yield ready.shift() as DebDataEntry;
      if (parser.finished) break;
    }
    parser.end();
  } catch (err) {
    throw wrap(err);
  }
  while (ready.length > 0) yield ready.shift() as DebDataEntry;
}
