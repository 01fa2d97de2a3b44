// Choosing images (names, globs, profiles; ancestors come along, as in Kolla) and describing
// the family for `lading images`.
import { BuildError } from '../errors.js';
import { suggestion } from './problems.js';
import type { DebianArch, FamilyConfig, ImageBase } from './types.js';

/** What to build: image names or globs, and profiles. Both empty = every image. */
export interface Selection {
  readonly images?: readonly string[];
  readonly profiles?: readonly string[];
}

function globRe(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/**
 * The selected images plus all their ancestors, in build order (parents first). Unknown names
 * and profiles throw UNKNOWN_IMAGE / UNKNOWN_PROFILE with a "did you mean". Pure.
 */
export function selectImages(family: FamilyConfig, selection: Selection = {}): string[] {
  const names = Object.keys(family.images);
  const wanted = new Set<string>();
  const none = (selection.images?.length ?? 0) === 0 && (selection.profiles?.length ?? 0) === 0;
  if (none) return [...family.order];
  for (const p of selection.profiles ?? []) {
    const members = family.profiles[p];
    if (!members) {
      const known = Object.keys(family.profiles);
      throw new BuildError('UNKNOWN_PROFILE', `profile ${JSON.stringify(p)} is not defined${suggestion(p, known)}`, {
        hint: known.length ? `profiles: ${known.join(', ')}` : 'the config defines no profiles',
      });
    }
    for (const m of members) wanted.add(m);
  }
  for (const i of selection.images ?? []) {
    if (i.includes('*')) {
      const re = globRe(i);
      const hits = names.filter((n) => re.test(n));
      if (hits.length === 0) throw new BuildError('UNKNOWN_IMAGE', `${JSON.stringify(i)} matches no image of family ${family.project.name}`);
      for (const h of hits) wanted.add(h);
    } else if (!family.images[i]) {
      throw new BuildError('UNKNOWN_IMAGE', `image ${JSON.stringify(i)} is not in family ${family.project.name}${suggestion(i, names)}`, { hint: 'run `lading images` to list them' });
    } else wanted.add(i);
  }
  for (const w of [...wanted]) for (const a of family.images[w]?.ancestors ?? []) wanted.add(a);
  return family.order.filter((n) => wanted.has(n));
}

/** One image as `lading images` shows it. */
export interface ImageSummary {
  readonly name: string;
  readonly description?: string;
  /** `scratch`, the family parent's name, or the external reference. */
  readonly from: string;
  readonly fromKind: ImageBase['kind'];
  /** Nearest first. */
  readonly ancestors: readonly string[];
  readonly children: readonly string[];
  /** Every image below this one. */
  readonly descendants: readonly string[];
  readonly profiles: readonly string[];
  readonly architectures: readonly DebianArch[];
  /** Own packages per architecture. */
  readonly packages: Readonly<Record<DebianArch, readonly string[]>>;
  /** Packages that come from ancestors, per architecture (what the image inherits). */
  readonly inheritedPackages: Readonly<Record<DebianArch, readonly string[]>>;
  readonly essential: boolean;
  /** Settings taken from ancestors and not overridden: env keys, labels, entrypoint, ... */
  readonly inherits: readonly string[];
  readonly runSteps: readonly string[];
}

/** The family as `lading images` shows it (Kolla --list-images / --list-dependencies). */
export interface FamilySummary {
  readonly family: string;
  readonly architectures: readonly DebianArch[];
  readonly profiles: Readonly<Record<string, readonly string[]>>;
  /** Build order, parents first. */
  readonly images: readonly ImageSummary[];
}

/** Describes every image of the family: parents, children, profiles, inherited settings. Pure. */
export function describeFamily(family: FamilyConfig): FamilySummary {
  const images = family.order.map((name): ImageSummary => {
    const img = family.images[name];
    if (!img) throw new Error(`unreachable: ${name} in order but not in images`);
    const lineage = img.ancestors.map((a) => family.images[a]).filter((x) => x !== undefined);
    const inheritedPackages: Record<string, string[]> = {};
    for (const arch of img.architectures) {
      inheritedPackages[arch] = [...new Set(lineage.flatMap((a) => a.packages[arch] ?? []))].sort();
    }
    const parent = img.from.kind === 'image' ? family.images[img.from.name] : undefined;
    const inherits: string[] = [];
    if (parent) {
      const pe = parent.effective;
      for (const k of Object.keys(pe.env)) if (img.own.env[k] === undefined) inherits.push(`env.${k}`);
      for (const k of Object.keys(pe.labels)) if (img.own.labels[k] === undefined) inherits.push(`labels.${k}`);
      for (const k of ['workdir', 'user', 'entrypoint', 'cmd', 'stopSignal', 'healthcheck'] as const) {
        if (pe[k] !== undefined && img.own[k] === undefined && !(k === 'cmd' && img.own.entrypoint !== undefined)) inherits.push(k);
      }
      for (const p of pe.ports) inherits.push(`ports.${p}`);
      for (const v of pe.volumes) inherits.push(`volumes.${v}`);
    }
    const descendants: string[] = [];
    const walk = (n: string) => {
      for (const c of family.images[n]?.children ?? []) {
        descendants.push(c);
        walk(c);
      }
    };
    walk(name);
    return {
      name,
      ...(img.description !== undefined ? { description: img.description } : {}),
      from: img.from.kind === 'scratch' ? 'scratch' : img.from.kind === 'image' ? img.from.name : img.from.reference,
      fromKind: img.from.kind,
      ancestors: img.ancestors,
      children: img.children,
      descendants: descendants.sort(),
      profiles: Object.entries(family.profiles)
        .filter(([, members]) => members.includes(name))
        .map(([p]) => p),
      architectures: img.architectures,
      packages: img.packages,
      inheritedPackages,
      essential: img.essential,
      inherits,
      runSteps: img.run.map((s) => s.name),
    };
  });
  return { family: family.project.name, architectures: family.architectures, profiles: family.profiles, images };
}
