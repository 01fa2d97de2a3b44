// Relationship fields (Depends, Pre-Depends, Conflicts, Breaks, Provides, ...): spec debian.md
// §5.1, dpkg man/deb-control.pod. A field is a comma-separated AND list of `|`-separated OR groups.
import { DebianError } from './errors.js';
import { parseVersion, type VersionOperator } from './version.js';

/** One term `name[:archqual] [(op version)] [arch list] <profiles>`. */
export interface Relation {
  readonly name: string;
  /** `any`, `native` or an architecture; absent when unqualified. */
  readonly archQualifier?: string;
  readonly op?: VersionOperator;
  readonly version?: string;
  /** Source-package-only `[amd64 !hurd-i386]` restriction, kept as written (spec §5.1). */
  readonly archRestrictions?: readonly string[];
  /** Source-package-only build profiles `<!nocheck>`, kept as written. */
  readonly profiles?: string;
}

/** Alternatives of one AND group, left to right. */
export type RelationGroup = readonly Relation[];

// name, arch qualifier, (op version), [archs], <profiles>; whitespace inside and around the
// parentheses is optional ("pkg (=1.0)" is valid, spec §5.1).
const TERM =
  /^([A-Za-z0-9][A-Za-z0-9+._-]*)(?::([A-Za-z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^\s)<>=][^\s)]*)\s*\))?\s*(?:\[([^\]]*)\])?\s*((?:<[^>]*>\s*)*)$/;

const OBSOLETE: Record<string, VersionOperator> = { '<': '<=', '>': '>=' };

/**
 * Parses a relationship field. Empty AND groups (a trailing comma) are skipped; anything else
 * malformed fails with DebianError('RELATION_INVALID') naming `what`.
 */
export function parseRelations(text: string, what = 'relationship field'): RelationGroup[] {
  const groups: RelationGroup[] = [];
  for (const rawGroup of text.split(',')) {
    if (rawGroup.trim() === '') continue;
    const alts: Relation[] = [];
    for (const rawTerm of rawGroup.split('|')) alts.push(parseRelation(rawTerm, what));
    groups.push(alts);
  }
  return groups;
}

/** Parses one relation term (no `,` or `|`). */
export function parseRelation(text: string, what = 'relation'): Relation {
  const term = text.trim().replace(/\s+/g, ' ');
  const m = TERM.exec(term);
  if (!m) throw new DebianError('RELATION_INVALID', `${what}: cannot parse ${JSON.stringify(term)}`);
  const [, name, archQualifier, rawOp, version, archs, profiles] = m;
  const rel: { -readonly [K in keyof Relation]: Relation[K] } = { name: name! };
  if (archQualifier) rel.archQualifier = archQualifier;
  if (rawOp) {
    rel.op = OBSOLETE[rawOp] ?? (rawOp as VersionOperator);
    try {
      parseVersion(version!, `${what}: ${name}`);
    } catch (err) {
      throw new DebianError('RELATION_INVALID', (err as Error).message, { cause: err });
    }
    rel.version = version!;
  }
  if (archs !== undefined) rel.archRestrictions = archs.split(/\s+/).filter(Boolean);
  if (profiles) rel.profiles = profiles.trim();
  return rel;
}

/** The text of a relation as dpkg writes it: `name:arch (op version)`. */
export function formatRelation(r: Relation): string {
  return `${r.name}${r.archQualifier ? `:${r.archQualifier}` : ''}${r.op ? ` (${r.op} ${r.version})` : ''}`;
}

/** The text of an OR group: `a (>= 1) | b`. */
export function formatGroup(g: RelationGroup): string {
  return g.map(formatRelation).join(' | ');
}
