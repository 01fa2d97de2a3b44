// Packages indexes (spec debian.md §3): a fast scanner that keeps only the fields an image
// builder needs. Bookworm's main/binary-amd64/Packages has ~64k stanzas (50 MB), so this avoids
// building a generic field map per stanza and skips Description continuation lines cheaply.
import { DebianError } from './errors.js';

/** The fields of one Packages stanza that lading uses (spec §3.2). Relationship fields stay raw text, parsed on demand. */
export interface PackageStanza {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  readonly multiArch?: string;
  readonly essential: boolean;
  readonly priority?: string;
  readonly section?: string;
  /** Source package name (the binary's name when the field is absent). */
  readonly source: string;
  /** Source version (the binary's version when absent or unversioned). */
  readonly sourceVersion: string;
  readonly filename: string;
  readonly size: number;
  /** Lower-case hex. */
  readonly sha256: string;
  readonly installedSize?: number;
  readonly depends?: string;
  readonly preDepends?: string;
  readonly provides?: string;
  readonly conflicts?: string;
  readonly breaks?: string;
  readonly replaces?: string;
}

type Mutable = { -readonly [K in keyof PackageStanza]: PackageStanza[K] };

// Field name (canonical case) -> property. Lookups fall back to lower case for odd writers.
type Key = keyof PackageStanza | 'sourceRaw';
const FIELDS: Record<string, Key> = {
  Package: 'name',
  Version: 'version',
  Architecture: 'architecture',
  'Multi-Arch': 'multiArch',
  Essential: 'essential',
  Priority: 'priority',
  Section: 'section',
  Source: 'sourceRaw',
  Filename: 'filename',
  Size: 'size',
  SHA256: 'sha256',
  'Installed-Size': 'installedSize',
  Depends: 'depends',
  'Pre-Depends': 'preDepends',
  Provides: 'provides',
  Conflicts: 'conflicts',
  Breaks: 'breaks',
  Replaces: 'replaces',
};
const FIELDS_LOWER: Record<string, Key> = Object.fromEntries(Object.entries(FIELDS).map(([k, v]) => [k.toLowerCase(), v]));
// Candidates by first character, so most lines (Description, Maintainer, MD5sum, Tag, ...) are
// rejected with one or two startsWith checks and no string allocation.
const BY_FIRST = new Map<number, Array<[string, Key]>>();
for (const [name, key] of Object.entries(FIELDS)) {
  const c = name.charCodeAt(0);
  const list = BY_FIRST.get(c) ?? [];
  list.push([`${name}:`, key]);
  BY_FIRST.set(c, list);
}

type Raw = Partial<Record<Key, string>>;

/**
 * Parses a Packages index. Stanzas missing Package, Version, Architecture, Filename, Size or
 * SHA256 fail with CONTROL_INVALID naming `what` and the line (lading verifies every .deb by
 * SHA256, spec §2.3 step 6, so an entry without one is unusable).
 */
export function parsePackages(data: Uint8Array | string, what: string, lineOffset = 0): PackageStanza[] {
  // latin1 decoding is a plain copy, several times faster than UTF-8 for 50 MB; every field kept
  // here (names, versions, paths, hashes, relations) is ASCII by policy (§5.6.1 of Debian Policy).
  const text = typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  const out: PackageStanza[] = [];
  let cur: Raw | undefined;
  let curLine = 0;
  let lastKey: Key | undefined;
  let pos = 0;
  let lineNo = lineOffset;
  const len = text.length;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = len;
    lineNo++;
    const first = text.charCodeAt(pos);
    if (nl === pos || (first === 13 && nl === pos + 1)) {
      if (cur) out.push(finish(cur, what, curLine));
      cur = undefined;
      lastKey = undefined;
    } else if (first === 32 || first === 9) {
      // Continuation line: only multi-line relationship fields matter (rare); Description is skipped.
      if (lastKey && cur) cur[lastKey] += ` ${text.slice(pos, nl).trim()}`;
    } else {
      if (!cur) {
        cur = {};
        curLine = lineNo;
      }
      lastKey = undefined;
      const options = BY_FIRST.get(first);
      let valueStart = -1;
      if (options) {
        for (const [prefix, key] of options) {
          if (text.startsWith(prefix, pos)) {
            lastKey = key;
            valueStart = pos + prefix.length;
            break;
          }
        }
      }
      if (valueStart < 0) {
        const colon = text.indexOf(':', pos);
        if (colon < 0 || colon > nl) throw new DebianError('CONTROL_INVALID', `${what}:${lineNo}: expected "Field: value"`);
        // Field names are case-insensitive (deb822.pod); all-lower-case writers pay for a lookup.
        // NOTE: other odd spellings ("Sha256:") are not recognised; archive tools write the canonical case.
        const lower = first >= 97 && first <= 122 ? FIELDS_LOWER[text.slice(pos, colon).toLowerCase()] : undefined;
        if (lower) {
          lastKey = lower;
          valueStart = colon + 1;
        }
      }
      if (lastKey) cur[lastKey] = text.slice(valueStart, nl).trim();
    }
    pos = nl + 1;
  }
  if (cur) out.push(finish(cur, what, curLine));
  return out;
}

function finish(f: Raw, what: string, line: number): PackageStanza {
  const name = f.name;
  const missing = (['name', 'version', 'architecture', 'filename', 'size', 'sha256'] as const).filter((k) => !f[k]);
  if (missing.length) {
    const label = { name: 'Package', version: 'Version', architecture: 'Architecture', filename: 'Filename', size: 'Size', sha256: 'SHA256' };
    throw new DebianError('CONTROL_INVALID', `${what}:${line}: stanza ${name ?? '(no Package)'} lacks ${missing.map((m) => label[m]).join(', ')}`);
  }
  const size = Number(f.size);
  if (!Number.isSafeInteger(size) || size < 0) throw new DebianError('CONTROL_INVALID', `${what}:${line}: ${name}: invalid Size ${JSON.stringify(f.size)}`);
  if (!/^[0-9a-fA-F]{64}$/.test(f.sha256!)) throw new DebianError('CONTROL_INVALID', `${what}:${line}: ${name}: invalid SHA256`);
  const p: Mutable = {
    name: name!,
    version: f.version!,
    architecture: f.architecture!,
    essential: f.essential === 'yes',
    source: name!,
    sourceVersion: f.version!,
    filename: f.filename!,
    size,
    sha256: f.sha256!.toLowerCase(),
  };
  if (f.multiArch) p.multiArch = f.multiArch;
  if (f.priority) p.priority = f.priority;
  if (f.section) p.section = f.section;
  if (f.installedSize) p.installedSize = Number(f.installedSize);
  if (f.sourceRaw) {
    const m = /^(\S+)(?:\s*\(\s*([^)\s]+)\s*\))?$/.exec(f.sourceRaw);
    if (!m) throw new DebianError('CONTROL_INVALID', `${what}:${line}: ${name}: invalid Source ${JSON.stringify(f.sourceRaw)}`);
    p.source = m[1]!;
    if (m[2]) p.sourceVersion = m[2];
  }
  if (f.depends) p.depends = f.depends;
  if (f.preDepends) p.preDepends = f.preDepends;
  if (f.provides) p.provides = f.provides;
  if (f.conflicts) p.conflicts = f.conflicts;
  if (f.breaks) p.breaks = f.breaks;
  if (f.replaces) p.replaces = f.replaces;
  return p;
}

// --- Lazy index --------------------------------------------------------------------------------

/** A stanza offering a name through Provides, with the provided version if any (`Provides: x (= 1)`). */
export interface ProvidesEntry {
  readonly stanza: PackageStanza;
  readonly version?: string;
}

/** A Provides entry by stanza id, before the stanza is parsed. */
export interface ProvidesRef {
  readonly id: number;
  readonly version?: string;
}

/**
 * Where a PackagesIndex finds its stanzas: ids by package name, Provides and Essential for the
 * lookups, and the parse of one stanza on demand. Implemented by a scan of index bytes held in
 * memory (ScannedTable), by already parsed stanzas, and by the persistent cache of a scan
 * (index-cache.ts), which reads the text of a stanza from the index file only when it is used.
 */
export interface StanzaTable {
  /** Number of stanzas; ids are 0..count-1 in index order. */
  readonly count: number;
  /** Ids of the stanzas of a package name, ascending. */
  idsOf(name: string): readonly number[];
  /** Provides entries naming `name`, in index order. */
  providersOf(name: string): readonly ProvidesRef[];
  /** Ids of the stanzas with `Essential: yes`, ascending. */
  readonly essentialIds: readonly number[];
  /** Parses one stanza; PackagesIndex keeps the result. */
  parse(id: number): PackageStanza;
}

/** Parses the text of exactly one stanza that starts on `line` (1-based) of `what`. */
export function parseOneStanza(text: string, what: string, line: number): PackageStanza {
  const one = parsePackages(text, what, line - 1);
  if (one.length !== 1) throw new DebianError('CONTROL_INVALID', `${what}:${line}: malformed stanza`);
  return one[0]!;
}

/**
 * Calls `fn` for each name a Provides field offers, with its `(= version)` if any. Hand-rolled:
 * bookworm has tens of thousands of versioned Provides (Rust and Go crates), too many for the
 * general relation parser on every load. Versions are checked on use.
 */
export function forEachProvided(text: string, what: string, line: number, fn: (name: string, version: string | undefined) => void): void {
  for (const raw of text.split(',')) {
    const term = raw.trim();
    if (!term) continue;
    let end = 0;
    while (end < term.length) {
      const c = term.charCodeAt(end);
      if (c === 32 || c === 9 || c === 40 || c === 58) break; // space, tab, '(', ':'
      end++;
    }
    const name = term.slice(0, end);
    if (!name) throw new DebianError('CONTROL_INVALID', `${what}:${line}: Provides: cannot parse ${JSON.stringify(term)}`);
    let version: string | undefined;
    if (end < term.length) {
      const m = /\(\s*(=|<<|<=|>=|>>)\s*([^\s)]+)\s*\)/.exec(term.slice(end));
      if (m && m[1] === '=') version = m[2];
    }
    fn(name, version);
  }
}

const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const PACKAGE = enc('Package:');
const PROVIDES = enc('Provides:');
const ESSENTIAL = enc('Essential:');
const PACKAGE_LC = enc('package:');
const PROVIDES_LC = enc('provides:');
const ESSENTIAL_LC = enc('essential:');

function startsWithBytes(buf: Uint8Array, pos: number, prefix: Uint8Array): boolean {
  if (pos + prefix.length > buf.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[pos + i] !== prefix[i]) return false;
  return true;
}

/**
 * One pass over raw index bytes for package names, Provides and Essential; a stanza is parsed
 * from the bytes only when it is used. Also what the persistent cache is written from.
 */
export class ScannedTable implements StanzaTable {
  readonly what: string;
  /** Byte offset where each stanza starts and ends (exclusive) in the index. */
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** Line (1-based) on which each stanza starts. */
  readonly lines: number[] = [];
  /** The Package field of each stanza ("" when it has none: it fails when parsed). */
  readonly names: string[] = [];
  readonly essentialIds: number[] = [];
  private readonly text: Buffer;
  private readonly firstId = new Map<string, number>();
  private readonly moreIds = new Map<string, number[]>();
  private readonly rawProvides: Array<[number, string]> = [];
  private providersMap: Map<string, ProvidesRef[]> | undefined;

  constructor(text: Buffer, what: string) {
    this.text = text;
    this.what = what;
    this.scan(text);
  }

  get count(): number {
    return this.starts.length;
  }

  /** Every package name with its stanza ids (ascending), in first-seen order. */
  *nameIds(): Generator<[string, readonly number[]]> {
    for (const [name, first] of this.firstId) yield [name, [first, ...(this.moreIds.get(name) ?? [])]];
  }

  idsOf(name: string): readonly number[] {
    const first = this.firstId.get(name);
    if (first === undefined) return [];
    const more = this.moreIds.get(name);
    return more ? [first, ...more] : [first];
  }

  /** Every provided name with its entries in index order (built on first use). */
  allProvides(): ReadonlyMap<string, readonly ProvidesRef[]> {
    if (!this.providersMap) {
      const map = new Map<string, ProvidesRef[]>();
      for (const [id, text] of this.rawProvides) {
        forEachProvided(text, this.what, this.lines[id]!, (name, version) => {
          const entry = version === undefined ? { id } : { id, version };
          const l = map.get(name);
          if (l) l.push(entry);
          else map.set(name, [entry]);
        });
      }
      this.providersMap = map;
    }
    return this.providersMap;
  }

  providersOf(name: string): readonly ProvidesRef[] {
    return this.allProvides().get(name) ?? [];
  }

  parse(id: number): PackageStanza {
    return parseOneStanza(this.text.toString('latin1', this.starts[id], this.ends[id]), this.what, this.lines[id]!);
  }

  private addName(name: string, id: number): void {
    this.names.push(name);
    // One number per name; an array only for the few names with several stanzas (saves GC work).
    if (!this.firstId.has(name)) this.firstId.set(name, id);
    else {
      const more = this.moreIds.get(name);
      if (more) more.push(id);
      else this.moreIds.set(name, [id]);
    }
  }

  private scan(buf: Buffer): void {
    const len = buf.length;
    let pos = 0;
    let line = 0;
    let start = -1;
    let startLine = 0;
    let name: string | undefined;
    let provides: string | undefined;
    let inProvides = false;
    let essential = false;
    const value = (from: number, to: number) => buf.toString('latin1', from, to).trim();
    const end = (at: number) => {
      if (start < 0) return;
      const id = this.starts.length;
      this.starts.push(start);
      this.ends.push(at);
      this.lines.push(startLine);
      // A stanza without Package fails when looked up; here it is kept under "" so all() reports it.
      this.addName(name ?? '', id);
      if (provides) this.rawProvides.push([id, provides]);
      if (essential) this.essentialIds.push(id);
      start = -1;
      name = provides = undefined;
      essential = inProvides = false;
    };
    while (pos < len) {
      let nl = buf.indexOf(10, pos);
      if (nl < 0) nl = len;
      line++;
      const first = buf[pos]!;
      if (nl === pos || (first === 13 && nl === pos + 1)) {
        end(pos);
      } else if (first === 32 || first === 9) {
        if (inProvides) provides += ` ${value(pos, nl)}`;
      } else {
        if (start < 0) {
          start = pos;
          startLine = line;
        }
        inProvides = false;
        if (first === 80 || first === 112) {
          if (startsWithBytes(buf, pos, PACKAGE) || startsWithBytes(buf, pos, PACKAGE_LC)) name = value(pos + 8, nl);
          else if (startsWithBytes(buf, pos, PROVIDES) || startsWithBytes(buf, pos, PROVIDES_LC)) {
            provides = value(pos + 9, nl);
            inProvides = true;
          }
        } else if ((first === 69 || first === 101) && (startsWithBytes(buf, pos, ESSENTIAL) || startsWithBytes(buf, pos, ESSENTIAL_LC))) {
          essential = value(pos + 10, nl) === 'yes';
        }
      }
      pos = nl + 1;
    }
    end(len);
  }
}

/** Already parsed stanzas (tests, synthetic indexes). */
class ParsedTable implements StanzaTable {
  readonly essentialIds: number[] = [];
  private readonly stanzas: readonly PackageStanza[];
  private readonly what: string;
  private readonly ids = new Map<string, number[]>();
  private provided: Map<string, ProvidesRef[]> | undefined;

  constructor(stanzas: readonly PackageStanza[], what: string) {
    this.stanzas = stanzas;
    this.what = what;
    stanzas.forEach((p, id) => {
      const l = this.ids.get(p.name);
      if (l) l.push(id);
      else this.ids.set(p.name, [id]);
      if (p.essential) this.essentialIds.push(id);
    });
  }

  get count(): number {
    return this.stanzas.length;
  }

  idsOf(name: string): readonly number[] {
    return this.ids.get(name) ?? [];
  }

  providersOf(name: string): readonly ProvidesRef[] {
    if (!this.provided) {
      const map = new Map<string, ProvidesRef[]>();
      this.stanzas.forEach((p, id) => {
        if (!p.provides) return;
        forEachProvided(p.provides, this.what, 0, (provided, version) => {
          const entry = version === undefined ? { id } : { id, version };
          const e = map.get(provided);
          if (e) e.push(entry);
          else map.set(provided, [entry]);
        });
      });
      this.provided = map;
    }
    return this.provided.get(name) ?? [];
  }

  parse(id: number): PackageStanza {
    return this.stanzas[id]!;
  }
}

/**
 * A Packages index that finds stanzas by package name, Provides and Essential without parsing
 * them, and parses a full stanza only when it is used. Loading bookworm's 50 MB main index this
 * way costs one pass over the bytes (or, warm, one small cache file: index-cache.ts) instead of
 * parsing ~64k stanzas (a resolve touches a few hundred). A malformed stanza is reported when it
 * is looked up.
 */
export class PackagesIndex {
  /** Names the index in errors, e.g. "http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages". */
  readonly what: string;
  private readonly table: StanzaTable;
  private readonly parsed = new Map<number, PackageStanza>();

  private constructor(table: StanzaTable, what: string) {
    this.table = table;
    this.what = what;
  }

  /** Scans raw index bytes (uncompressed Packages). */
  static fromBytes(data: Uint8Array, what: string): PackagesIndex {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return new PackagesIndex(new ScannedTable(buf, what), what);
  }

  /** Wraps already parsed stanzas (tests, synthetic indexes). */
  static fromStanzas(stanzas: readonly PackageStanza[], what: string): PackagesIndex {
    return new PackagesIndex(new ParsedTable(stanzas, what), what);
  }

  /** An index over a stanza table (a scan, or the persistent cache of one). */
  static fromTable(table: StanzaTable, what: string): PackagesIndex {
    return new PackagesIndex(table, what);
  }

  /** Number of stanzas. */
  get size(): number {
    return this.table.count;
  }

  private stanza(id: number): PackageStanza {
    let p = this.parsed.get(id);
    if (!p) {
      p = this.table.parse(id);
      this.parsed.set(id, p);
    }
    return p;
  }

  /** Every stanza of a package name (all versions and architectures in this index). */
  lookup(name: string): PackageStanza[] {
    return this.table.idsOf(name).map((id) => this.stanza(id));
  }

  /** Every stanza whose Provides names `name`. */
  providers(name: string): ProvidesEntry[] {
    return this.table.providersOf(name).map((e) => (e.version === undefined ? { stanza: this.stanza(e.id) } : { stanza: this.stanza(e.id), version: e.version }));
  }

  /** Stanzas with `Essential: yes`. */
  essential(): PackageStanza[] {
    return this.table.essentialIds.map((id) => this.stanza(id));
  }

  /** Every stanza, fully parsed (slow on big indexes; for tests and tools that need everything). */
  all(): PackageStanza[] {
    const out: PackageStanza[] = [];
    for (let id = 0; id < this.table.count; id++) out.push(this.stanza(id));
    return out;
  }
}
