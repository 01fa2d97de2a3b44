// A small .deb writer for tests: builds ar + tar by hand so tests can craft archives that
// dpkg-deb refuses to build (absolute and `..` names, escaping links, device nodes, bad members).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** One tar entry to write. */
export interface TarSpec {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  content?: string | Buffer;
  /** Symlink or hard link target. */
  linkname?: string;
}

const TYPEFLAG: Record<NonNullable<TarSpec['type']>, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, spec: TarSpec, size: number, flag: string, linkname: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write(octal(spec.mode ?? (spec.type === 'dir' ? 0o755 : 0o644), 8), 100, 'latin1');
  b.write(octal(spec.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(spec.gid ?? 0, 8), 116, 'latin1');
  b.write(octal(size, 12), 124, 'latin1');
  b.write(octal(spec.mtime ?? 1_700_000_000, 12), 136, 'latin1');
  b.write('        ', 148, 'latin1');
  b.write(flag, 156, 'latin1');
  b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  b.write('root', 265, 'latin1');
  b.write('root', 297, 'latin1');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(octal(sum, 7), 148, 'latin1');
  return b;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

/** A tar archive (ustar; names over 100 bytes get a pax header). */
export function tarBytes(entries: readonly TarSpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = e.type === undefined || e.type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0);
    const linkname = e.linkname ?? '';
    let name = e.name;
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(linkname) > 100) {
      const records = [`path=${name}`, `linkpath=${linkname}`].map((r) => {
        let len = Buffer.byteLength(r) + 3;
        while (`${len} ${r}\n`.length !== len) len = `${len} ${r}\n`.length;
        return `${len} ${r}\n`;
      });
      const pax = Buffer.from(records.join(''));
      parts.push(header('PaxHeaders/x', { name: 'PaxHeaders/x' }, pax.length, 'x', ''), pad(pax));
      name = name.slice(0, 99);
    }
    parts.push(header(name, e, content.length, TYPEFLAG[e.type ?? 'file'], linkname.slice(0, 100)), pad(content));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** An ar archive (deb.pod: `!<arch>\n`, 60-byte headers, odd members padded with `\n`). */
export function arBytes(members: ReadonlyArray<{ name: string; data: Buffer }>): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const m of members) {
    const h = `${m.name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(m.data.length).padEnd(10)}\`\n`;
    parts.push(Buffer.from(h, 'latin1'), m.data);
    if (m.data.length % 2 === 1) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** Compresses with a real codec (xz and zstd programs, zlib for gzip). */
export function compress(data: Buffer, kind: 'none' | 'gz' | 'xz' | 'zst' | 'bz2'): Buffer {
  if (kind === 'none') return data;
  if (kind === 'gz') return gzipSync(data);
  const [cmd, args] = kind === 'xz' ? ['xz', ['-c', '-3']] : kind === 'zst' ? ['zstd', ['-q', '-c']] : ['bzip2', ['-c']];
  const r = spawnSync(cmd as string, args as string[], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${String(cmd)} failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** What a test .deb holds. */
export interface DebSpec {
  /** Control fields; Package, Version, Architecture, Maintainer and Description get defaults. */
  control?: Record<string, string>;
  /** Extra control files (md5sums, conffiles, postinst, triggers, ...). */
  controlFiles?: Record<string, { content: string; mode?: number }>;
  data: readonly TarSpec[];
  /** Compression of both members (default xz, as Debian uses). */
  compression?: 'none' | 'gz' | 'xz' | 'zst' | 'bz2';
  /** Replace the ar member list entirely (for malformed archives). */
  members?: (m: { control: { name: string; data: Buffer }; data: { name: string; data: Buffer } }) => Array<{ name: string; data: Buffer }>;
}

/** The bytes of a .deb. */
export function debBytes(spec: DebSpec): Buffer {
  const fields = { Package: 'test', Version: '1.0', Architecture: 'amd64', Maintainer: 'Tests <tests@example.org>', Description: 'a test package', ...spec.control };
  const control = Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}\n`)
    .join('');
  const controlEntries: TarSpec[] = [{ name: './', type: 'dir' }, { name: './control', content: control }];
  for (const [name, f] of Object.entries(spec.controlFiles ?? {})) controlEntries.push({ name: `./${name}`, content: f.content, mode: f.mode ?? 0o644 });
  const kind = spec.compression ?? 'xz';
  const suffix = kind === 'none' ? '' : `.${kind}`;
  const c = { name: `control.tar${kind === 'bz2' ? '.xz' : suffix}`, data: compress(tarBytes(controlEntries), kind === 'bz2' ? 'xz' : kind) };
  const d = { name: `data.tar${suffix}`, data: compress(tarBytes(spec.data), kind) };
  const members = spec.members ? spec.members({ control: c, data: d }) : [{ name: 'debian-binary', data: Buffer.from('2.0\n') }, c, d];
  return arBytes(members);
}

/** Writes a .deb into `dir` and returns its path. */
export function writeDeb(dir: string, file: string, spec: DebSpec): string {
  const path = join(dir, file);
  writeFileSync(path, debBytes(spec));
  return path;
}
