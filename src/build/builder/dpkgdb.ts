// A child image's packages are unpacked on top of its parent's installed system. The debian
// module's unpacker writes a whole dpkg database for the packages it unpacks (and refuses a root
// that has one), so the builder sets the parent's database aside first and merges the two
// afterwards: status stanzas (sorted by name and architecture, as dpkg writes them), the trigger
// interests, the architectures; the parent's diversions, statoverrides and available file are
// kept (debian.md section 8).
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../errors.js';
import { resolveInRoot } from './paths.js';

/** The parent's database files, kept while the child's packages are unpacked. */
export interface SavedDatabase {
  readonly admin: string;
  readonly status: string;
  readonly files: ReadonlyMap<string, Buffer>;
  /** triggers/<name> files (explicit trigger interests) and triggers/File. */
  readonly triggers: ReadonlyMap<string, Buffer>;
}

const KEPT = ['available', 'diversions', 'statoverride', 'arch'];
const ASIDE = 'status.lading-parent';

function read(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Reads the parent's database and moves its status file aside, so the unpacker sees none. */
export function setAsideDatabase(root: string): SavedDatabase {
  const admin = resolveInRoot(root, '/var/lib/dpkg', { followLast: true });
  const status = read(join(admin, 'status'));
  if (status === undefined) throw new BuildError('UNPACK_FAILED', `unpacking over the parent image: it has no dpkg database (/var/lib/dpkg/status)`);
  const files = new Map<string, Buffer>();
  for (const f of KEPT) {
    const b = read(join(admin, f));
    if (b !== undefined) files.set(f, b);
  }
  const triggers = new Map<string, Buffer>();
  const tdir = join(admin, 'triggers');
  if (existsSync(tdir)) {
    for (const name of readdirSync(tdir)) {
      if (name === 'Lock') continue;
      const b = read(join(tdir, name));
      if (b !== undefined) triggers.set(name, b);
    }
  }
  renameSync(join(admin, 'status'), join(admin, ASIDE));
  return { admin, status: status.toString('utf8'), files, triggers };
}

interface Stanza {
  readonly name: string;
  readonly arch: string;
  readonly text: string;
}

function stanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  for (const block of text.split(/\n{2,}/)) {
    const t = block.replace(/^\n+|\n+$/g, '');
    if (t === '') continue;
    const name = /^Package:\s*(\S+)/m.exec(t)?.[1] ?? '';
    const arch = /^Architecture:\s*(\S+)/m.exec(t)?.[1] ?? '';
    out.push({ name, arch, text: t });
  }
  return out;
}

function lines(b: Buffer | undefined): string[] {
  return b === undefined ? [] : b.toString('utf8').split('\n').filter((l) => l !== '');
}

/**
 * After the child's packages were unpacked: one status with the parent's and the new stanzas,
 * the parent's kept files restored, trigger interests and architectures combined.
 */
export function mergeDatabase(saved: SavedDatabase): void {
  const { admin } = saved;
  const fresh = read(join(admin, 'status'))?.toString('utf8') ?? '';
  const all = [...stanzas(saved.status), ...stanzas(fresh)];
  const seen = new Set<string>();
  for (const s of all) {
    const key = `${s.name}:${s.arch}`;
    if (seen.has(key)) throw new BuildError('UNPACK_FAILED', `unpacking over the parent image: package ${s.name} (${s.arch}) is already installed there`);
    seen.add(key);
  }
  all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
  writeFileSync(join(admin, 'status'), all.map((s) => `${s.text}\n\n`).join(''), { mode: 0o644 });
  for (const [name, data] of saved.files) {
    if (name === 'arch') {
      const merged = [...new Set([...lines(data), ...lines(read(join(admin, 'arch')))])];
      writeFileSync(join(admin, 'arch'), merged.map((l) => `${l}\n`).join(''), { mode: 0o644 });
    } else writeFileSync(join(admin, name), data, { mode: 0o644 });
  }
  const tdir = join(admin, 'triggers');
  for (const [name, data] of saved.triggers) {
    if (name === 'Unincorp') {
      writeFileSync(join(tdir, name), data, { mode: 0o644 });
      continue;
    }
    // File (file trigger interests) and <name> (explicit interests): the parent's lines, then the new ones.
    const merged = [...new Set([...lines(data), ...lines(read(join(tdir, name)))])];
    writeFileSync(join(tdir, name), merged.map((l) => `${l}\n`).join(''), { mode: 0o644 });
  }
  rmSync(join(admin, ASIDE), { force: true });
}

/**
 * File-trigger interests of the image (triggers/File: `<path> <package>[/noawait]` lines)
 * matched against the paths the new packages installed: the trigger names (paths) dpkg would
 * have activated while unpacking them (deb-triggers(5): a file trigger fires for files at or
 * below its path).
 */
export function fileTriggersFor(admin: string, installed: readonly string[]): string[] {
  const interests = lines(read(join(admin, 'triggers', 'File'))).map((l) => l.split(' ')[0] ?? '').filter((p) => p.startsWith('/'));
  const hit = new Set<string>();
  for (const t of interests) {
    const prefix = t.endsWith('/') ? t : `${t}/`;
    if (installed.some((p) => p === t || p.startsWith(prefix))) hit.add(t);
  }
  return [...hit].sort();
}
