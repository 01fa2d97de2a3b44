// The family lock model: what the config asks the resolver for (lockRequests), whether a lock
// still matches the config (checkLock), and reading/writing lading.lock (stable bytes).
import { canonicalJson, digestOf, parseJson, prettyJson, type Digest } from '../../core/index.js';
import { BuildError } from '../errors.js';
import type { DebianArch, FamilyConfig } from '../config/types.js';
import type { LockedAptPackage } from '../../debian/index.js';
import { FamilyLockSchema, LOCK_VERSION, type FamilyLock, type ImageRequest } from './schema.js';

/** What the resolver must be asked, per architecture and image. */
export interface LockRequests {
  readonly architectures: Readonly<Record<DebianArch, Readonly<Record<string, ImageRequest>>>>;
  /** Digest of the lock-relevant config (sources, suites, architectures, requests). */
  readonly configDigest: Digest;
}

/**
 * The package request of every image on every architecture: its own packages plus its
 * ancestors' (a child image contains its parent), and the Essential set for images whose root
 * is scratch. Pure.
 */
export function lockRequests(family: FamilyConfig): LockRequests {
  const architectures: Record<string, Record<string, ImageRequest>> = {};
  for (const arch of family.architectures) {
    const images: Record<string, ImageRequest> = {};
    for (const name of family.order) {
      const img = family.images[name];
      if (!img || !img.architectures.includes(arch)) continue;
      const lineage = [img, ...img.ancestors.map((a) => family.images[a]).filter((x) => x !== undefined)];
      const root = lineage[lineage.length - 1] ?? img;
      const names = new Set<string>();
      for (const l of lineage) for (const p of l.packages[arch] ?? []) names.add(p);
      images[name] = {
        essential: root.essential,
        packages: [...names].sort(),
        ...(root.from.kind === 'external' ? { base: root.from.reference } : {}),
      };
    }
    architectures[arch] = images;
  }
  const configDigest = digestOf(
    canonicalJson({ lockVersion: LOCK_VERSION, sources: family.sources, suites: family.suites ?? null, architectures }),
  );
  return { architectures, configDigest };
}

/** How a lock differs from what the config asks for. Empty `reasons` = the lock is fresh. */
export interface LockCheck {
  readonly fresh: boolean;
  /** One line per difference: "image nova-api: python3-foo added", "architecture arm64 added". */
  readonly reasons: readonly string[];
}

/** Compares a lock with the config. Pure. */
export function checkLock(family: FamilyConfig, lock: FamilyLock): LockCheck {
  const want = lockRequests(family);
  if (lock.configDigest === want.configDigest) return { fresh: true, reasons: [] };
  const reasons: string[] = [];
  if (lock.family !== family.project.name) reasons.push(`the lock is for family ${JSON.stringify(lock.family)}, the config is ${JSON.stringify(family.project.name)}`);
  const haveArchs = Object.keys(lock.architectures);
  for (const a of family.architectures) if (!haveArchs.includes(a)) reasons.push(`architecture ${a} added`);
  for (const a of haveArchs) if (!family.architectures.includes(a)) reasons.push(`architecture ${a} removed`);
  for (const [arch, images] of Object.entries(want.architectures)) {
    const have = lock.architectures[arch];
    if (!have) continue;
    for (const [name, req] of Object.entries(images)) {
      const old = have.images[name]?.request;
      if (!old) {
        reasons.push(`image ${name} (${arch}) is not in the lock`);
        continue;
      }
      const added = req.packages.filter((p) => !old.packages.includes(p));
      const removed = old.packages.filter((p) => !req.packages.includes(p));
      const parts: string[] = [];
      if (added.length) parts.push(`${added.join(', ')} added`);
      if (removed.length) parts.push(`${removed.join(', ')} removed`);
      if (old.essential !== req.essential) parts.push(req.essential ? 'Essential set added' : 'Essential set removed');
      if ((old.base ?? '') !== (req.base ?? '')) parts.push(`base changed to ${req.base ?? 'scratch'}`);
      if (parts.length) reasons.push(`image ${name} (${arch}): ${parts.join('; ')}`);
    }
    for (const name of Object.keys(have.images)) if (!images[name]) reasons.push(`image ${name} (${arch}) is no longer in the family`);
  }
  // Whatever is left is in sources or suites.
  if (reasons.length === 0) reasons.push('the apt sources or suites changed');
  return { fresh: false, reasons: [...new Set(reasons)] };
}

/** Throws LOCK_STALE naming every difference when the lock does not match the config. */
export function assertLockFresh(family: FamilyConfig, lock: FamilyLock, lockFile = 'lading.lock'): void {
  const check = checkLock(family, lock);
  if (check.fresh) return;
  throw new BuildError('LOCK_STALE', `${lockFile} is stale: the config changed since it was written:\n${check.reasons.map((r) => `  ${r}`).join('\n')}`, {
    hint: 'run `lading lock` with the same -f, -o and --lock options to resolve the packages again (or `lading build --update-lock`)',
  });
}

/** Parses lading.lock text. Throws LOCK_INVALID naming the file and field. */
export function parseFamilyLock(text: string | Uint8Array, file = 'lading.lock'): FamilyLock {
  let raw: unknown;
  try {
    raw = parseJson(text, file);
  } catch (err) {
    throw new BuildError('LOCK_INVALID', (err as Error).message, { cause: err, hint: 'run `lading lock` to write it again' });
  }
  if (raw && typeof raw === 'object' && 'lockVersion' in raw && (raw as { lockVersion: unknown }).lockVersion !== LOCK_VERSION) {
    throw new BuildError('LOCK_INVALID', `${file}: lock format ${JSON.stringify((raw as { lockVersion: unknown }).lockVersion)} is not supported (this lading writes ${LOCK_VERSION})`, {
      hint: 'run `lading lock` to write it again',
    });
  }
  const r = FamilyLockSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`);
    throw new BuildError('LOCK_INVALID', `${file}: not a valid lading lock: ${first.join('; ')}`, { hint: 'run `lading lock` to write it again' });
  }
  return r.data;
}

/** lading.lock bytes: sorted keys, packages sorted by name, two-space indent, trailing newline. */
export function serializeFamilyLock(lock: FamilyLock): string {
  const sorted: FamilyLock = {
    ...lock,
    architectures: Object.fromEntries(
      Object.entries(lock.architectures).map(([arch, a]) => [
        arch,
        { ...a, packages: [...a.packages].sort((x, y) => cmp(x.name, y.name) || cmp(x.version, y.version) || cmp(x.architecture, y.architecture)) },
      ]),
    ),
  };
  return prettyJson(sorted);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The packages one image installs on one architecture, with their details from the
 * architecture's Debian lock. Throws LOCK_MISSING when the lock lacks the image, LOCK_INVALID
 * when an entry has no details.
 */
export function imagePackages(lock: FamilyLock, image: string, arch: DebianArch, lockFile = 'lading.lock'): LockedAptPackage[] {
  const a = lock.architectures[arch];
  const entry = a?.images[image];
  if (!a || !entry) {
    throw new BuildError('LOCK_MISSING', `${lockFile}: no packages locked for image ${image} on ${arch}`, { hint: 'run `lading lock`' });
  }
  const table = new Map(a.packages.map((p) => [`${p.name}=${p.version}`, p]));
  return Object.entries(entry.packages)
    .sort(([x], [y]) => cmp(x, y))
    .map(([name, version]) => {
      const p = table.get(`${name}=${version}`);
      if (!p) throw new BuildError('LOCK_INVALID', `${lockFile}: ${arch} image ${image} installs ${name} ${version}, which is not in the ${arch} package list`);
      return p;
    });
}
