// Dependency resolution for images (spec debian.md §6): closure over Pre-Depends + Depends,
// alternatives left to right with already-chosen or requested alternatives first, versioned
// Provides, the Essential set, Conflicts/Breaks, highest version across all suites, deterministic.
import { DebianError } from './errors.js';
import { formatGroup, formatRelation, parseRelation, type Relation, type RelationGroup } from './relation.js';
import { compareCandidates, priorityRank, type Candidate, type Universe } from './universe.js';
import { satisfiesVersion } from './version.js';

/** One requested package: `name`, `name=version`, `name (>= 1.0)`, `name/suite`, and `name:arch` to request it for one architecture only. */
export interface PackageRequest {
  readonly name: string;
  readonly op?: Relation['op'];
  readonly version?: string;
  /** Only candidates from this suite (or codename). */
  readonly suite?: string;
  /** Only when resolving this architecture (spec §6 rule 10: per-arch package lists). */
  readonly architecture?: string;
  /** The request as written, for messages. */
  readonly text: string;
}

/**
 * Parses a request string: `curl`, `curl=7.88.1-10`, `curl (>= 7.0)`, `curl/bookworm-security`,
 * `curl:arm64` (only for arm64), or combinations such as `curl:amd64=7.88.1-10`.
 */
export function parsePackageRequest(text: string): PackageRequest {
  const t = text.trim();
  const m = /^([A-Za-z0-9][A-Za-z0-9+._-]*)(?::([A-Za-z0-9-]+))?(?:\/([A-Za-z0-9._-]+))?(?:=(\S+))?(?:\s*\((.*)\))?$/.exec(t);
  if (!m) throw new DebianError('UNRESOLVABLE', `package request ${JSON.stringify(text)}: want name, name=version, name/suite, name:arch or "name (>= version)"`);
  const [, name, arch, suite, exact, rel] = m;
  const req: { -readonly [K in keyof PackageRequest]: PackageRequest[K] } = { name: name!, text: t };
  if (arch && arch !== 'any' && arch !== 'native') req.architecture = arch;
  if (suite) req.suite = suite;
  if (exact !== undefined && rel !== undefined) throw new DebianError('UNRESOLVABLE', `package request ${JSON.stringify(text)}: give either =version or (op version)`);
  if (exact !== undefined) {
    const r = parseRelation(`${name} (= ${exact})`, `package request ${JSON.stringify(text)}`);
    req.op = r.op;
    req.version = r.version;
  } else if (rel !== undefined) {
    const r = parseRelation(`${name} (${rel})`, `package request ${JSON.stringify(text)}`);
    req.op = r.op;
    req.version = r.version;
  }
  return req;
}

/** Why a package is in the result. */
export type SelectionReason = 'requested' | 'essential' | 'dependency';

/** A chosen package and how it got there. */
export interface Selected {
  readonly candidate: Candidate;
  readonly reason: SelectionReason;
  /** The package whose dependency pulled this one in (undefined for requests and the Essential set). */
  readonly requiredBy?: string;
  /** Names of the selected packages that satisfy this one's Pre-Depends and Depends, sorted. */
  readonly depends: readonly string[];
}

/** The resolved set for one architecture, sorted by name. */
export interface ArchResolution {
  readonly architecture: string;
  readonly packages: readonly Selected[];
}

/** Options of resolveArchitecture. */
export interface ResolveArchitectureOptions {
  readonly universe: Universe;
  readonly requests: readonly PackageRequest[];
  /** Leave out the Essential set (default: added, like mmdebstrap's essential variant). */
  readonly noEssential?: boolean;
  /** Other architectures' universes, only to say "available for arm64" in errors (spec §6 rule 10). */
  readonly otherUniverses?: readonly Universe[];
}

const label = (c: Candidate) => `${c.name} ${c.version}`;
const where = (c: Candidate) => `${c.origin.suite}/${c.origin.component}`;

interface State {
  universe: Universe;
  selected: Map<string, { candidate: Candidate; reason: SelectionReason; requiredBy?: string; depends: Set<string> }>;
  /** Candidates of requests not yet processed, so a dependency prefers them (spec §6 rule 4). */
  pending: Map<string, Candidate>;
  /** Conflicts/Breaks terms of the selected packages, by the name they target. */
  against: Map<string, Array<{ by: Candidate; r: Relation; field: 'conflicts' | 'breaks' }>>;
  others: readonly Universe[];
}

/** Does candidate `c` (as a real package) match relation `r` on this architecture (dpkg deparchsatisfied, spec §5.2)? */
function archOk(c: Candidate, r: Relation, arch: string): boolean {
  const q = r.archQualifier;
  if (c.multiArch === 'foreign') return true;
  if (q === undefined || q === 'native') return true; // the universe holds only `arch` and `all`
  if (q === 'any') return c.multiArch === 'allowed';
  return q === arch;
}

function realSatisfies(c: Candidate, r: Relation, arch: string): boolean {
  if (c.name !== r.name || !archOk(c, r, arch)) return false;
  return r.op === undefined || satisfiesVersion(c.version, r.op, r.version!);
}

/** Versioned Provides satisfy versioned relations only through `=`; unversioned never do (spec §6 rule 2). */
function providedSatisfies(version: string | undefined, r: Relation): boolean {
  if (r.op === undefined) return true;
  if (version === undefined) return false;
  return satisfiesVersion(version, r.op, r.version!);
}

/** The selected package (if any) satisfying `r`, directly or through Provides. */
function satisfiedBySelection(s: State, r: Relation): Candidate | undefined {
  const direct = s.selected.get(r.name);
  if (direct && realSatisfies(direct.candidate, r, s.universe.architecture)) return direct.candidate;
  for (const p of s.universe.providers(r.name)) {
    const sel = s.selected.get(p.candidate.name);
    if (sel && sel.candidate === p.candidate && archOk(p.candidate, r, s.universe.architecture) && providedSatisfies(p.version, r)) return p.candidate;
  }
  return undefined;
}

/** Packages that `c` conflicts with or breaks among `others` (a package never conflicts with itself, e.g. Provides+Conflicts of one virtual name). */
function conflictsBetween(u: Universe, c: Candidate, other: Candidate): string | undefined {
  for (const [a, b] of [
    [c, other],
    [other, c],
  ] as const) {
    for (const field of ['conflicts', 'breaks'] as const) {
      for (const group of u.relations(a, field)) {
        for (const r of group) {
          if (b.name === r.name && (r.op === undefined || satisfiesVersion(b.version, r.op, r.version!))) {
            return `${label(a)} ${field === 'conflicts' ? 'conflicts with' : 'breaks'} ${formatRelation(r)}`;
          }
          if (b.name !== r.name && b.provides) {
            for (const pg of u.relations(b, 'provides')) {
              for (const p of pg) {
                if (p.name === r.name && providedSatisfies(p.op === '=' ? p.version : undefined, r)) {
                  return `${label(a)} ${field === 'conflicts' ? 'conflicts with' : 'breaks'} ${formatRelation(r)}, which ${label(b)} provides`;
                }
              }
            }
          }
        }
      }
    }
  }
  return undefined;
}

const verb = (field: 'conflicts' | 'breaks') => (field === 'conflicts' ? 'conflicts with' : 'breaks');

/** Why `c` cannot join the selection (a Conflicts/Breaks either way), or undefined. */
function conflictWithSelection(s: State, c: Candidate): string | undefined {
  const u = s.universe;
  const selectedAs = (x: Candidate) => x.name !== c.name && s.selected.get(x.name)?.candidate === x;
  for (const field of ['conflicts', 'breaks'] as const) {
    for (const group of u.relations(c, field)) {
      for (const r of group) {
        const target = s.selected.get(r.name)?.candidate;
        if (target && target.name !== c.name && (r.op === undefined || satisfiesVersion(target.version, r.op, r.version!))) return `${label(c)} ${verb(field)} ${formatRelation(r)}`;
        for (const p of u.providers(r.name)) {
          if (p.candidate.name !== r.name && selectedAs(p.candidate) && providedSatisfies(p.version, r)) return `${label(c)} ${verb(field)} ${formatRelation(r)}, which ${label(p.candidate)} provides`;
        }
      }
    }
  }
  for (const e of s.against.get(c.name) ?? []) {
    if (e.by.name !== c.name && (e.r.op === undefined || satisfiesVersion(c.version, e.r.op, e.r.version!))) return `${label(e.by)} ${verb(e.field)} ${formatRelation(e.r)}`;
  }
  if (c.provides) {
    for (const group of u.relations(c, 'provides')) {
      for (const p of group) {
        for (const e of s.against.get(p.name) ?? []) {
          if (e.by.name !== c.name && providedSatisfies(p.op === '=' ? p.version : undefined, e.r)) return `${label(e.by)} ${verb(e.field)} ${formatRelation(e.r)}, which ${label(c)} provides`;
        }
      }
    }
  }
  return undefined;
}

/** Candidates for one relation: real packages first (spec §6 rule 1), then providers by Essential, Priority, name (rule 9). */
function candidatesFor(s: State, r: Relation, reasons: string[]): Candidate[] {
  const arch = s.universe.architecture;
  const real = s.universe.candidates(r.name).filter((c) => realSatisfies(c, r, arch));
  const providers = s.universe
    .providers(r.name)
    .filter((p) => p.candidate.name !== r.name && archOk(p.candidate, r, arch) && providedSatisfies(p.version, r))
    .map((p) => p.candidate);
  // The best satisfying version of each providing package.
  const bestByName = new Map<string, Candidate>();
  for (const c of providers) {
    const prev = bestByName.get(c.name);
    if (!prev || compareCandidates(c, prev) < 0) bestByName.set(c.name, c);
  }
  const provList = [...bestByName.values()].sort(
    (a, b) =>
      (s.selected.has(a.name) ? 0 : 1) - (s.selected.has(b.name) ? 0 : 1) ||
      Number(b.essential) - Number(a.essential) ||
      priorityRank(a.priority) - priorityRank(b.priority) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const out: Candidate[] = [];
  for (const c of [...real, ...provList]) {
    const sel = s.selected.get(c.name);
    if (sel && sel.candidate !== c) {
      reasons.push(`${label(sel.candidate)} is already selected (${sel.requiredBy ? `needed by ${sel.requiredBy}` : sel.reason}) and does not satisfy ${formatRelation(r)}`);
      continue;
    }
    const conflict = conflictWithSelection(s, c);
    if (conflict) {
      reasons.push(conflict);
      continue;
    }
    out.push(c);
  }
  return out;
}

function select(s: State, c: Candidate, reason: SelectionReason, requiredBy: string | undefined, chain: readonly string[]): void {
  if (s.selected.has(c.name)) return;
  s.selected.set(c.name, { candidate: c, reason, requiredBy, depends: new Set() });
  s.pending.delete(c.name);
  for (const field of ['conflicts', 'breaks'] as const) {
    for (const group of s.universe.relations(c, field)) {
      for (const r of group) {
        const list = s.against.get(r.name);
        if (list) list.push({ by: c, r, field });
        else s.against.set(r.name, [{ by: c, r, field }]);
      }
    }
  }
  const entry = s.selected.get(c.name)!;
  const next = [...chain, c.name];
  for (const field of ['preDepends', 'depends'] as const) {
    for (const group of s.universe.relations(c, field)) {
      const chosen = satisfyGroup(s, c, group, field, next);
      entry.depends.add(chosen.name);
    }
  }
}

function satisfyGroup(s: State, parent: Candidate, group: RelationGroup, field: 'preDepends' | 'depends', chain: readonly string[]): Candidate {
  // 1. an alternative already chosen (spec §6 rule 4)
  for (const r of group) {
    const c = satisfiedBySelection(s, r);
    if (c) return c;
  }
  // 2. an alternative explicitly requested but not processed yet, by name or through its
  // Provides (apt marks every requested package before it resolves dependencies)
  for (const r of group) {
    const arch = s.universe.architecture;
    const direct = s.pending.get(r.name);
    const viaProvides = s.universe
      .providers(r.name)
      .find((p) => s.pending.get(p.candidate.name) === p.candidate && archOk(p.candidate, r, arch) && providedSatisfies(p.version, r))?.candidate;
    const c = direct && realSatisfies(direct, r, arch) ? direct : viaProvides;
    if (c && !conflictWithSelection(s, c)) {
      select(s, c, 'requested', undefined, []);
      return c;
    }
  }
  // 3. left to right, the best candidate of the first alternative that has one
  const reasons: string[] = [];
  for (const r of group) {
    const cands = candidatesFor(s, r, reasons);
    const c = cands[0];
    if (c) {
      select(s, c, 'dependency', parent.name, chain);
      return c;
    }
  }
  throw unsatisfiable(s, parent, group, field, chain, reasons);
}

function describeAvailability(s: State, r: Relation): string {
  const real = s.universe.candidates(r.name);
  const provs = s.universe.providers(r.name);
  if (real.length) {
    const versions = real.map((c) => `${c.version} (${where(c)})`);
    const uniq = [...new Set(versions)];
    return uniq.length === 1 ? `${real[0]!.origin.suite}/${real[0]!.origin.component} has only ${real[0]!.name} ${real[0]!.version}` : `available: ${r.name} ${uniq.join(', ')}`;
  }
  if (provs.length) {
    const list = [...new Set(provs.map((p) => `${p.candidate.name}${p.version ? ` (= ${p.version})` : ''}`))].sort();
    return `${r.name} is a virtual package provided by ${list.join(', ')}${r.op ? ' (an unversioned Provides cannot satisfy a versioned dependency)' : ''}`;
  }
  const elsewhere = s.others.filter((u) => u.candidates(r.name).length || u.providers(r.name).length).map((u) => u.architecture);
  return `no configured source has ${r.name} for ${s.universe.architecture}${elsewhere.length ? ` (it exists for ${elsewhere.join(', ')})` : ''}`;
}

function unsatisfiable(s: State, parent: Candidate, group: RelationGroup, field: string, chain: readonly string[], reasons: string[]): DebianError {
  const fieldName = field === 'preDepends' ? 'pre-depends on' : 'depends on';
  const details = group.map((r) => describeAvailability(s, r));
  const lines = [
    `resolving for ${s.universe.architecture}: ${label(parent)} (${where(parent)}) ${fieldName} ${formatGroup(group)}, but ${details.join('; ')}`,
  ];
  if (reasons.length) lines.push(`  ${[...new Set(reasons)].join('\n  ')}`);
  if (chain.length > 1) lines.push(`  needed through: ${chain.join(' -> ')}`);
  return new DebianError('UNRESOLVABLE', lines.join('\n'), {
    hint: 'request a version that fits (name=version), add the suite that has it (e.g. -updates or -security), or remove the package that needs it',
  });
}

function requestCandidates(u: Universe, req: PackageRequest): Candidate[] {
  return u.candidates(req.name).filter(
    (c) =>
      (req.op === undefined || satisfiesVersion(c.version, req.op, req.version!)) &&
      (req.suite === undefined || c.origin.suite === req.suite || c.origin.codename === req.suite),
  );
}

function requestError(s: State, req: PackageRequest): DebianError {
  const u = s.universe;
  const all = u.candidates(req.name);
  if (all.length) {
    const versions = [...new Set(all.map((c) => `${c.version} (${where(c)})`))].join(', ');
    return new DebianError('UNRESOLVABLE', `resolving for ${u.architecture}: no ${req.name} matches request ${JSON.stringify(req.text)}; available: ${versions}`);
  }
  const provs = [...new Set(u.providers(req.name).map((p) => p.candidate.name))].sort();
  if (provs.length > 1) {
    return new DebianError('UNRESOLVABLE', `resolving for ${u.architecture}: ${req.name} is a virtual package provided by ${provs.join(', ')}; request one of them`);
  }
  return new DebianError('UNRESOLVABLE', `resolving for ${u.architecture}: ${describeAvailability(s, { name: req.name })} (requested as ${JSON.stringify(req.text)})`, {
    hint: 'check the name (apt-cache search), the suites and components of the sources, or request it for the architectures that have it (name:amd64)',
  });
}

/**
 * Resolves one architecture: requests (in order), then the Essential set, each closed over
 * Pre-Depends and Depends; then every pair of selected packages is checked for Conflicts/Breaks.
 * Unsatisfiable requests fail with DebianError('UNRESOLVABLE') explaining what is missing where.
 */
export function resolveArchitecture(options: ResolveArchitectureOptions): ArchResolution {
  const u = options.universe;
  const s: State = { universe: u, selected: new Map(), pending: new Map(), against: new Map(), others: options.otherUniverses ?? [] };
  const reqs = options.requests.filter((r) => r.architecture === undefined || r.architecture === u.architecture);
  const todo: Array<{ c: Candidate; reason: SelectionReason }> = [];
  for (const req of reqs) {
    let c = requestCandidates(u, req)[0];
    if (!c && u.candidates(req.name).length === 0 && req.op === undefined) {
      // A virtual name with exactly one provider may be requested (apt picks that provider).
      const provs = [...new Map(u.providers(req.name).map((p) => [p.candidate.name, p.candidate])).values()];
      if (provs.length === 1) c = u.candidates(provs[0]!.name)[0];
    }
    if (!c) throw requestError(s, req);
    const prev = todo.find((t) => t.c.name === c!.name);
    if (prev && prev.c !== c) throw new DebianError('UNRESOLVABLE', `resolving for ${u.architecture}: ${req.name} requested twice with different versions (${prev.c.version}, ${c.version})`);
    if (!prev) todo.push({ c, reason: 'requested' });
  }
  if (!options.noEssential) {
    for (const name of u.essentialNames()) {
      if (todo.some((t) => t.c.name === name)) continue;
      const c = u.candidates(name)[0];
      if (c) todo.push({ c, reason: 'essential' });
    }
  }
  for (const t of todo) s.pending.set(t.c.name, t.c);
  for (const t of todo) {
    const already = s.selected.get(t.c.name);
    if (already) {
      if (already.candidate !== t.c) {
        throw new DebianError(
          'UNRESOLVABLE',
          `resolving for ${u.architecture}: ${t.reason === 'essential' ? 'Essential package' : 'requested'} ${label(t.c)} cannot be installed: ${label(already.candidate)} was selected for ${already.requiredBy ?? already.reason}`,
        );
      }
      continue;
    }
    const conflict = conflictWithSelection(s, t.c);
    if (conflict) throw new DebianError('UNRESOLVABLE', `resolving for ${u.architecture}: ${t.reason} package ${label(t.c)} cannot be installed: ${conflict}`);
    select(s, t.c, t.reason, undefined, []);
  }
  // Final check over the whole set: choices made later may conflict with earlier ones.
  const chosen = [...s.selected.values()].map((e) => e.candidate).sort((a, b) => (a.name < b.name ? -1 : 1));
  // conflictsBetween checks both directions, so each pair needs one look: perl-modules-5.36's
  // ~45 Breaks all name modules that perl Provides, which made this loop most of a warm resolve.
  const checked = new Set<string>();
  for (const a of chosen) {
    if (!a.conflicts && !a.breaks) continue;
    for (const field of ['conflicts', 'breaks'] as const) {
      for (const group of u.relations(a, field)) {
        for (const r of group) {
          const targets = [s.selected.get(r.name)?.candidate, ...u.providers(r.name).map((p) => p.candidate)].filter(
            (b): b is Candidate => !!b && b !== a && s.selected.get(b.name)?.candidate === b,
          );
          for (const b of targets) {
            const pair = a.name < b.name ? `${a.name}\0${b.name}` : `${b.name}\0${a.name}`;
            if (checked.has(pair)) continue;
            checked.add(pair);
            const why = conflictsBetween(u, a, b);
            if (!why) continue;
            const ea = s.selected.get(a.name)!;
            const eb = s.selected.get(b.name)!;
            throw new DebianError(
              'UNRESOLVABLE',
              `resolving for ${u.architecture}: ${why} (${a.name}: ${ea.requiredBy ? `needed by ${ea.requiredBy}` : ea.reason}; ${b.name}: ${eb.requiredBy ? `needed by ${eb.requiredBy}` : eb.reason})`,
              { hint: 'request an alternative explicitly, or drop one of the two' },
            );
          }
        }
      }
    }
  }
  const packages: Selected[] = chosen.map((c) => {
    const e = s.selected.get(c.name)!;
    const sel: Selected = { candidate: c, reason: e.reason, depends: [...e.depends].filter((n) => n !== c.name).sort() };
    return e.requiredBy ? { ...sel, requiredBy: e.requiredBy } : sel;
  });
  return { architecture: u.architecture, packages };
}
