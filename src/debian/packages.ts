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

/** A stanza offering a name through Provides, with the provided version if any (`Provides: x (= 1)`). */
export interface ProvidesEntry {
  readonly stanza: PackageStanza;
  readonly version?: string;
}

/**
 * A Packages index that is scanned once for package names, Provides and Essential, and parses a
 * full stanza only when its name is looked up. Loading bookworm's 50 MB main index this way costs
 * one pass over the bytes instead of decoding and parsing every stanza (a resolve touches a few
 * hundred of ~64k). A malformed stanza is reported when it is looked up.
 */
export class PackagesIndex {
  /** Names the index in errors, e.g. "http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages". */
  readonly what: string;
  private readonly text: Buffer | undefined;
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly lines: number[] = [];
  private readonly firstId = new Map<string, number>();
  private readonly moreIds = new Map<string, number[]>();
  private readonly rawProvides: Array<[number, string]> = [];
  private readonly essentialIds: number[] = [];
  private readonly parsed: Array<PackageStanza | undefined> = [];
  private providersMap: Map<string, Array<{ id: number; version?: string }>> | undefined;

  private constructor(what: string, text: Buffer | undefined) {
    this.what = what;
    this.text = text;
  }

  /** Scans raw index bytes (uncompressed Packages). */
  static fromBytes(data: Uint8Array, what: string): PackagesIndex {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const ix = new PackagesIndex(what, buf);
    ix.scan(buf);
    return ix;
  }

  /** Wraps already parsed stanzas (tests, synthetic indexes). */
  static fromStanzas(stanzas: readonly PackageStanza[], what: string): PackagesIndex {
    const ix = new PackagesIndex(what, undefined);
    stanzas.forEach((p, id) => {
      ix.parsed[id] = p;
      ix.starts.push(0);
      ix.ends.push(0);
      ix.lines.push(0);
      ix.addName(p.name, id);
      if (p.provides) ix.rawProvides.push([id, p.provides]);
      if (p.essential) ix.essentialIds.push(id);
    });
    return ix;
  }

  /** Number of stanzas. */
  get size(): number {
    return this.starts.length;
  }

  private addName(name: string, id: number): void {
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

  private stanza(id: number): PackageStanza {
    let p = this.parsed[id];
    if (!p) {
      const text = this.text!.toString('latin1', this.starts[id], this.ends[id]);
      const one = parsePackages(text, this.what, this.lines[id]! - 1);
      if (one.length !== 1) throw new DebianError('CONTROL_INVALID', `${this.what}:${this.lines[id]}: malformed stanza`);
      p = one[0]!;
      this.parsed[id] = p;
    }
    return p;
  }

  /** Every stanza of a package name (all versions and architectures in this index). */
  lookup(name: string): PackageStanza[] {
    const first = this.firstId.get(name);
    if (first === undefined) return [];
    return [first, ...(this.moreIds.get(name) ?? [])].map((id) => this.stanza(id));
  }

  /** Every stanza whose Provides names `name`. */
  providers(name: string): ProvidesEntry[] {
    if (!this.providersMap) {
      const map = new Map<string, Array<{ id: number; version?: string }>>();
      for (const [id, text] of this.rawProvides) {
        for (const raw of text.split(',')) {
          const term = raw.trim();
          if (!term) continue;
          // Hand-rolled: bookworm has tens of thousands of versioned Provides (Rust and Go crates),
          // too many for the general relation parser on every load. Versions are checked on use.
          let end = 0;
          while (end < term.length) {
            const c = term.charCodeAt(end);
            if (c === 32 || c === 9 || c === 40 || c === 58) break; // space, tab, '(', ':'
            end++;
          }
          const name = term.slice(0, end);
          if (!name) throw new DebianError('CONTROL_INVALID', `${this.what}:${this.lines[id]}: Provides: cannot parse ${JSON.stringify(term)}`);
          let version: string | undefined;
          if (end < term.length) {
            const m = /\(\s*(=|<<|<=|>=|>>)\s*([^\s)]+)\s*\)/.exec(term.slice(end));
            if (m && m[1] === '=') version = m[2];
          }
          const l = map.get(name);
          const entry = version === undefined ? { id } : { id, version };
          if (l) l.push(entry);
          else map.set(name, [entry]);
        }
      }
      this.providersMap = map;
    }
    return (this.providersMap.get(name) ?? []).map((e) => (e.version === undefined ? { stanza: this.stanza(e.id) } : { stanza: this.stanza(e.id), version: e.version }));
  }

  /** Stanzas with `Essential: yes`. */
  essential(): PackageStanza[] {
    return this.essentialIds.map((id) => this.stanza(id));
  }

  /** Every stanza, fully parsed (slow on big indexes; for tests and tools that need everything). */
  all(): PackageStanza[] {
    return this.starts.map((_, id) => this.stanza(id));
  }
}
