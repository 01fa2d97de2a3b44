// The dpkg database of an unpacked tree, written the way dpkg writes it (debian.md §8.1, §8.2),
// so `dpkg --root=TREE -l/-V/--audit/--configure -a`, trivy and syft read it.
import { closeSync, constants, futimesSync, openSync, renameSync, writeSync } from 'node:fs';
import type { Deb822Paragraph } from '../deb822.js';
import { formatGroup, parseRelations } from '../relation.js';
import type { ControlFile, TriggerDirective } from './control.js';
import type { RootTree } from './merge.js';

/** dpkg's package states that an unpacker can produce (man dpkg, "Package states"). */
export type DpkgState = 'unpacked' | 'installed';

/** One package as the database sees it. */
export interface DbPackage {
  control: Deb822Paragraph;
  controlFiles: readonly ControlFile[];
  state: DpkgState;
  /** Every path of the package in archive order (dpkg names, `/.` for the root), without duplicates. */
  list: readonly string[];
  /** Conffiles with the MD5 of their unpacked content (`newconffile` for remove-on-upgrade ones). */
  conffiles: ReadonlyArray<{ path: string; md5: string; removeOnUpgrade: boolean }>;
  triggers: readonly TriggerDirective[];
}

/** Options of writeDpkgDatabase. */
export interface DbOptions {
  /** The native architecture (first line of `arch`). */
  architecture: string;
  /** Extra architectures dpkg should know (dpkg --add-architecture). */
  foreignArchitectures?: readonly string[];
  /** mtime (seconds) of every file written. */
  mtime: number;
}

// dpkg lib/dpkg/parse.c `fieldinfos`, the order dpkg writes a status stanza in. Filename, Size,
// MD5sum and MSDOS-Filename belong to the available file only; Revision is read, never written.
const FIELD_ORDER = [
  'Package',
  'Essential',
  'Protected',
  'Status',
  'Priority',
  'Section',
  'Installed-Size',
  'Origin',
  'Maintainer',
  'Bugs',
  'Architecture',
  'Multi-Arch',
  'Source',
  'Version',
  'Config-Version',
  'Replaces',
  'Provides',
  'Depends',
  'Pre-Depends',
  'Recommends',
  'Suggests',
  'Breaks',
  'Conflicts',
  'Enhances',
  'Conffiles',
  'Description',
  'Triggers-Pending',
  'Triggers-Awaited',
];
const NOT_IN_STATUS = new Set(['filename', 'size', 'md5sum', 'msdos-filename', 'revision', 'package-revision', 'package_revision', 'status', 'conffiles', 'config-version', 'triggers-pending', 'triggers-awaited']);
// dpkg parse.c `nicknames`.
const NICKNAMES: Record<string, string> = { recommended: 'Recommends', optional: 'Suggests', class: 'Priority' };
const RELATIONS = new Set(['replaces', 'provides', 'depends', 'pre-depends', 'recommends', 'suggests', 'breaks', 'conflicts', 'enhances']);
const CANONICAL = new Map(FIELD_ORDER.map((f) => [f.toLowerCase(), f]));

/** Writes a multi-line value back in deb822 form (continuation lines start with a space). */
function fieldText(name: string, value: string): string {
  const [first = '', ...rest] = value.split('\n');
  return `${name}:${first === '' ? '' : ` ${first}`}${rest.map((l) => `\n ${l}`).join('')}\n`;
}

/** dpkg rewrites relationship fields in its own spelling: `a (>= 1) | b, c` on one line. */
function normaliseRelations(value: string, what: string): string {
  try {
    return parseRelations(value.replace(/\n/g, ' '), what).map(formatGroup).join(', ');
  } catch {
    return value.replace(/\s*\n\s*/g, ' ');
  }
}

/** The info/ file name stem: `name` or, for Multi-Arch: same, `name:arch` (db-ctrl-format.c, format 1). */
export function infoName(control: Deb822Paragraph): string {
  const name = control.get('Package') ?? '';
  return control.get('Multi-Arch') === 'same' ? `${name}:${control.get('Architecture') ?? ''}` : name;
}

/** The status stanza dpkg would write for a package in `state`. */
export function statusStanza(pkg: DbPackage): string {
  const known = new Map<string, string>();
  const extra: Array<[string, string]> = [];
  for (const f of pkg.control.fields) {
    const lower = f.name.toLowerCase();
    const canonical = CANONICAL.get(lower) ?? NICKNAMES[lower];
    if (NOT_IN_STATUS.has(lower)) continue;
    if (canonical) known.set(canonical, f.value);
    else extra.push([f.name, f.value]);
  }
  known.set('Status', `install ok ${pkg.state}`);
  if (pkg.conffiles.length > 0) {
    known.set('Conffiles', `\n${pkg.conffiles.map((c) => `${c.path} ${c.md5}${c.removeOnUpgrade ? ' remove-on-upgrade' : ''}`).join('\n')}`);
  }
  let out = '';
  for (const name of FIELD_ORDER) {
    let value = known.get(name);
    if (value === undefined) continue;
    // Booleans default to "no" and Multi-Arch to "no"; dpkg writes neither (w_booleandefno, w_multiarch).
    if ((name === 'Essential' || name === 'Protected') && value !== 'yes') continue;
    if (name === 'Multi-Arch' && value === 'no') continue;
    if (RELATIONS.has(name.toLowerCase())) value = normaliseRelations(value, `${pkg.control.get('Package') ?? ''}: ${name}`);
    out += fieldText(name, value);
  }
  for (const [name, value] of extra) out += fieldText(name, value);
  return out;
}

/** Writes `data` as `dir/name` inside the root without following a symlink at `name`: temp file + rename. */
function writeInto(tree: RootTree, dirPhys: string, name: string, data: string | Buffer, mode: number, mtime: number): void {
  const dest = tree.absolute(dirPhys === '' ? name : `${dirPhys}/${name}`);
  const tmp = `${dest}.lading-new`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let at = 0;
    while (at < buf.length) at += writeSync(fd, buf, at, buf.length - at);
    futimesSync(fd, mtime, mtime);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, dest);
}

/**
 * Writes `/var/lib/dpkg`: `status` (stanzas sorted by name and architecture, as dpkg dumps
 * them), `info/<pkg>.list` and every control file except `control` (scripts keep their mode),
 * `info/format` = 1, empty `available`, `diversions` and `statoverride`, `arch`, the trigger
 * interest files `triggers/File` and `triggers/<name>`, an empty `triggers/Unincorp`, and the
 * `alternatives`, `updates` and `parts` directories, like a fresh dpkg installation has them.
 * The directories are resolved through the tree, so a symlinked `/var` stays inside the root.
 */
export function writeDpkgDatabase(tree: RootTree, packages: readonly DbPackage[], options: DbOptions): void {
  const { mtime } = options;
  const admin = tree.ownDir(['var', 'lib', 'dpkg']);
  const info = tree.ownDir(['var', 'lib', 'dpkg', 'info']);
  const triggers = tree.ownDir(['var', 'lib', 'dpkg', 'triggers']);
  for (const d of ['alternatives', 'updates', 'parts']) tree.ownDir(['var', 'lib', 'dpkg', d]);

  const sorted = [...packages].sort((a, b) => {
    const na = a.control.get('Package') ?? '';
    const nb = b.control.get('Package') ?? '';
    if (na !== nb) return na < nb ? -1 : 1;
    const aa = a.control.get('Architecture') ?? '';
    const ab = b.control.get('Architecture') ?? '';
    return aa < ab ? -1 : aa > ab ? 1 : 0;
  });
  // dpkg ends every stanza with a blank line (lib/dpkg/dump.c writedb).
  writeInto(tree, admin, 'status', sorted.map((p) => `${statusStanza(p)}\n`).join(''), 0o644, mtime);
  for (const f of ['available', 'diversions', 'statoverride']) writeInto(tree, admin, f, '', 0o644, mtime);
  writeInto(tree, admin, 'arch', [options.architecture, ...(options.foreignArchitectures ?? [])].map((a) => `${a}\n`).join(''), 0o644, mtime);
  writeInto(tree, info, 'format', '1\n', 0o644, mtime);

  const fileInterests: string[] = [];
  const explicit = new Map<string, string[]>();
  for (const pkg of packages) {
    const stem = infoName(pkg.control);
    writeInto(tree, info, `${stem}.list`, pkg.list.map((p) => `${p}\n`).join(''), 0o644, mtime);
    for (const f of pkg.controlFiles) {
      // dpkg installs every control file without a dot in its name, except control itself (unpack.c pkg_infodb_update).
      if (f.name === 'control' || f.name === 'list' || f.name.includes('.')) continue;
      writeInto(tree, info, `${stem}.${f.name}`, f.data, f.mode, f.mtime);
    }
    for (const t of pkg.triggers) {
      if (!t.directive.startsWith('interest')) continue;
      const who = `${stem}${t.directive === 'interest-noawait' ? '/noawait' : ''}`;
      if (t.name.startsWith('/')) fileInterests.push(`${t.name} ${who}\n`);
      else {
        let list = explicit.get(t.name);
        if (!list) explicit.set(t.name, (list = []));
        list.push(`${who}\n`);
      }
    }
  }
  writeInto(tree, triggers, 'File', fileInterests.join(''), 0o644, mtime);
  writeInto(tree, triggers, 'Unincorp', '', 0o644, mtime);
  for (const [name, lines] of explicit) {
    if (name.includes('/') || name.startsWith('.')) continue; // not a valid trigger name; dpkg would refuse it too
    writeInto(tree, triggers, name, lines.join(''), 0o644, mtime);
  }
}
