// The candidate pool for one architecture: every package of every loaded index that can be
// installed on that architecture (its own and `all`), all suites together (spec §6 rule 5).
import { PackagesIndex, type PackageStanza } from './packages.js';
import { parseRelations, type RelationGroup } from './relation.js';
import { compareVersions } from './version.js';

/** Where a candidate comes from: archive, suite, component and index (kept in the lock, spec §6 rule 5). */
export interface CandidateOrigin {
  /** Position of the source in the configuration; lower wins ties between identical versions. */
  readonly sourceIndex: number;
  /** Archive root without credentials, trailing slash. */
  readonly uri: string;
  /** The distribution as configured. */
  readonly suite: string;
  readonly codename?: string;
  readonly component: string;
}

/** A package version that may be chosen. */
export interface Candidate extends PackageStanza {
  readonly origin: CandidateOrigin;
}

/** A Provides entry pointing at the package that provides it. */
export interface Provider {
  readonly candidate: Candidate;
  /** The provided version (`Provides: foo (= 1.0)`), if any. */
  readonly version?: string;
}

/** One index's packages with their origin; the input of createUniverse. */
export interface UniverseInput {
  readonly origin: CandidateOrigin;
  /** A loaded index, or plain stanzas (synthetic indexes in tests). */
  readonly packages: PackagesIndex | readonly PackageStanza[];
}

const PRIORITY_RANK: Record<string, number> = { required: 0, important: 1, standard: 2, optional: 3, extra: 4 };

/** Rank of a Priority field (required first), for choosing among providers (spec §6 rule 9). */
export function priorityRank(priority: string | undefined): number {
  return priority === undefined ? 5 : (PRIORITY_RANK[priority] ?? 5);
}

/** Orders candidates of one name: highest version first, then source order, then component and architecture (spec §6 rule 11). */
export function compareCandidates(a: Candidate, b: Candidate): number {
  return (
    compareVersions(b.version, a.version) ||
    a.origin.sourceIndex - b.origin.sourceIndex ||
    (a.origin.component < b.origin.component ? -1 : a.origin.component > b.origin.component ? 1 : 0) ||
    (a.architecture < b.architecture ? -1 : a.architecture > b.architecture ? 1 : 0)
  );
}

const wrapMemo = new WeakMap<readonly PackageStanza[], PackagesIndex>();

function asIndex(packages: PackagesIndex | readonly PackageStanza[], what: string): PackagesIndex {
  if (packages instanceof PackagesIndex) return packages;
  let ix = wrapMemo.get(packages);
  if (!ix) {
    ix = PackagesIndex.fromStanzas(packages, what);
    wrapMemo.set(packages, ix);
  }
  return ix;
}

/**
 * The packages installable on one architecture: a view over the loaded indexes, so building it
 * costs nothing per package; candidates are materialised only for the names the resolver asks
 * about. Identical entries (same name, version, architecture and SHA256, e.g. an `all` package in
 * both binary-amd64 and binary-all) count once, from the first index in source order.
 */
export class Universe {
  readonly architecture: string;
  private readonly inputs: ReadonlyArray<{ origin: CandidateOrigin; data: PackagesIndex }>;
  private readonly candidateMemo = new Map<string, Candidate[]>();
  private readonly providerMemo = new Map<string, Provider[]>();
  private readonly canonical = new Map<string, Candidate>();
  private readonly relCache = new WeakMap<Candidate, Map<string, RelationGroup[]>>();

  constructor(architecture: string, inputs: readonly UniverseInput[]) {
    this.architecture = architecture;
    this.inputs = inputs.map((i) => ({ origin: i.origin, data: asIndex(i.packages, `${i.origin.suite}/${i.origin.component}`) }));
  }

  private fits(p: PackageStanza): boolean {
    return p.architecture === this.architecture || p.architecture === 'all';
  }

  private candidateFor(p: PackageStanza, origin: CandidateOrigin): Candidate {
    const key = `${p.name}\0${p.version}\0${p.architecture}\0${p.sha256}`;
    let c = this.canonical.get(key);
    if (!c) {
      c = { ...p, origin };
      this.canonical.set(key, c);
    }
    return c;
  }

  /** Every real package of this name, best first. */
  candidates(name: string): readonly Candidate[] {
    let list = this.candidateMemo.get(name);
    if (!list) {
      const set = new Set<Candidate>();
      for (const input of this.inputs) {
        for (const p of input.data.lookup(name)) if (this.fits(p)) set.add(this.candidateFor(p, input.origin));
      }
      list = [...set].sort(compareCandidates);
      this.candidateMemo.set(name, list);
    }
    return list;
  }

  /** Every package version providing `name` (Provides). */
  providers(name: string): readonly Provider[] {
    let list = this.providerMemo.get(name);
    if (!list) {
      list = [];
      const seen = new Set<Candidate>();
      for (const input of this.inputs) {
        for (const rp of input.data.providers(name)) {
          if (!this.fits(rp.stanza)) continue;
          // Materialise all versions of the provider's name first, so candidate identity is the canonical one.
          this.candidates(rp.stanza.name);
          const c = this.candidateFor(rp.stanza, input.origin);
          if (seen.has(c)) continue;
          seen.add(c);
          list.push(rp.version === undefined ? { candidate: c } : { candidate: c, version: rp.version });
        }
      }
      this.providerMemo.set(name, list);
    }
    return list;
  }

  /** Names of packages with `Essential: yes` in any candidate version (as apt's ?essential). */
  essentialNames(): string[] {
    const names = new Set<string>();
    for (const input of this.inputs) for (const p of input.data.essential()) if (this.fits(p)) names.add(p.name);
    return [...names].sort();
  }

  /** A relationship field of a candidate, parsed once. Errors name the package. */
  relations(c: Candidate, field: 'depends' | 'preDepends' | 'provides' | 'conflicts' | 'breaks'): RelationGroup[] {
    let m = this.relCache.get(c);
    if (!m) {
      m = new Map();
      this.relCache.set(c, m);
    }
    let r = m.get(field);
    if (!r) {
      const text = c[field];
      const fieldName = { depends: 'Depends', preDepends: 'Pre-Depends', provides: 'Provides', conflicts: 'Conflicts', breaks: 'Breaks' }[field];
      r = text ? parseRelations(text, `${fieldName} of ${c.name} ${c.version} (${c.origin.suite}/${c.origin.component})`) : [];
      m.set(field, r);
    }
    return r;
  }
}
