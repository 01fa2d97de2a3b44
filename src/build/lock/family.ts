// `lading lock`: resolve every image's packages on every architecture with the debian module
// (verified sources, resolver, lock model) and assemble lading.lock. A child image is resolved
// with its parent's exact set pinned, so its set always contains the parent's (a child image
// contains its parent) and alternatives are decided once, at the top.
import type { Clock, Logger } from '../../core/index.js';
import {
  DebianError,
  Universe,
  aptRequest,
  createTransport,
  loadAptSources,
  loadSources,
  parsePackageRequest,
  resolveArchitecture,
  selectSources,
  toLock,
  universeInputs,
  type AptSource,
  type ArchResolution,
  type LockedAptPackage,
  type LoadedSources,
} from '../../debian/index.js';
import { BuildError } from '../errors.js';
import { toAptSources } from '../config/normalise.js';
import type { PackageOrigin } from '../config/override.js';
import { formatProblem, type Problem } from '../config/problems.js';
import type { FamilyConfig } from '../config/types.js';
import { lockRequests } from './lock.js';
import { LOCK_VERSION, type FamilyLock, type ImageLock } from './schema.js';

/** Options of lockFamily(). */
export interface LockFamilyOptions {
  readonly family: FamilyConfig;
  /** Where each package was asked for (ParsedFamily.packageOrigins), so problems point at lines. */
  readonly packageOrigins?: ReadonlyMap<string, ReadonlyMap<string, PackageOrigin>>;
  /** apt cache directory (indexes, InRelease files). */
  readonly cacheDir: string;
  /** Use only the cache. */
  readonly offline?: boolean;
  /**
   * A source that cannot be reached: 'fail' (default: a lock missing a source would not rebuild
   * the same images elsewhere) or 'skip' (recorded in skippedSources).
   */
  readonly onUnreachable?: 'skip' | 'fail';
  /** Root of the machine's apt configuration for `sources: machine` (default "/"). */
  readonly root?: string;
  readonly fetch?: typeof fetch;
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
}

/** What lockFamily() produced. */
export interface LockedFamily {
  readonly lock: FamilyLock;
  /** Warnings about the sources (skipped entries, deb-src lines...). */
  readonly warnings: readonly string[];
}

/** The apt sources a family uses: the machine's, or its own entries (then filtered by suites). */
export async function familySources(family: FamilyConfig, options: { root?: string; signal?: AbortSignal } = {}): Promise<{ sources: AptSource[]; warnings: string[] }> {
  let sources: AptSource[];
  const warnings: string[] = [];
  if (family.sources.kind === 'machine') {
    const parsed = await loadSources({ ...(options.root ? { root: options.root } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    sources = parsed.sources;
    warnings.push(...parsed.warnings);
  } else {
    sources = toAptSources(family.sources.entries, family.origin.config);
  }
  try {
    return { sources: selectSources(sources, family.suites ? { suites: family.suites } : {}), warnings };
  } catch (err) {
    if (err instanceof DebianError && err.code === 'SOURCES_INVALID') {
      const from = family.sources.kind === 'machine' ? "the machine's apt sources" : 'the sources of the config';
      throw new BuildError('CONFIG_INVALID', `${family.origin.config}: suites: ${err.message} in ${from}`, { cause: err });
    }
    throw err;
  }
}

function problemAt(origin: PackageOrigin | undefined, fallbackFile: string, fallbackPath: Problem['path'], message: string, code: Problem['code']): Problem {
  return origin
    ? { file: origin.file, line: origin.line, col: origin.col, path: origin.path, code, severity: 'error', message }
    : { file: fallbackFile, line: 0, col: 0, path: fallbackPath, code, severity: 'error', message };
}

/**
 * Resolves the family against already verified sources (pure: no I/O). Throws BuildError
 * PACKAGE_UNKNOWN / UNRESOLVABLE listing every problem, each at the line that asked for the package.
 */
export function resolveFamily(family: FamilyConfig, loaded: LoadedSources, packageOrigins?: LockFamilyOptions['packageOrigins']): FamilyLock {
  const requests = lockRequests(family);
  const universes = new Map(family.architectures.map((a) => [a, new Universe(a, universeInputs(loaded, a))]));
  const problems: Problem[] = [];
  const resolved = new Map<string, ArchResolution>(); // `${image}\0${arch}`
  const failed = new Set<string>();
  for (const arch of family.architectures) {
    const u = universes.get(arch) as Universe;
    const others = [...universes.values()].filter((x) => x !== u);
    for (const name of family.order) {
      const img = family.images[name];
      if (!img || !img.architectures.includes(arch)) continue;
      const key = `${name}\u0000${arch}`;
      const parentKey = img.from.kind === 'image' ? `${img.from.name}\u0000${arch}` : undefined;
      const parentFailed = parentKey !== undefined && failed.has(parentKey);
      const parent = parentKey ? resolved.get(parentKey) : undefined;
      const pinned = new Set(parent?.packages.map((p) => p.candidate.name) ?? []);
      const own = (img.packages[arch] ?? []).filter((p) => !pinned.has(p.replace(/:.*$/, '')));
      // Unknown names first, all of them, each at the line that asked for it; also below a parent
      // that failed (whose own problem is reported there), so one run names every unknown package.
      let bad = parentFailed;
      for (const pkg of own) {
        const base = pkg.replace(/:.*$/, '');
        if (u.candidates(base).length > 0 || u.providers(base).length > 0) continue;
        bad = true;
        let why = `no configured source has it for ${arch}`;
        try {
          resolveArchitecture({ universe: u, requests: [parsePackageRequest(pkg)], noEssential: true, otherUniverses: others });
        } catch (err) {
          if (err instanceof DebianError) why = err.message.replace(/^resolving for [^:]+: /, '');
        }
        problems.push(problemAt(packageOrigins?.get(name)?.get(pkg), family.origin.config, ['images', name, 'packages'], `unknown package ${JSON.stringify(pkg)} (${arch}): ${why}`, 'UNKNOWN_PACKAGE'));
      }
      if (bad) {
        failed.add(key);
        continue;
      }
      try {
        const res = resolveArchitecture({
          universe: u,
          requests: [...(parent?.packages ?? []).map((p) => parsePackageRequest(`${p.candidate.name}=${p.candidate.version}`)), ...own.map(parsePackageRequest)],
          noEssential: !requests.architectures[arch]?.[name]?.essential,
          otherUniverses: others,
        });
        resolved.set(key, res);
      } catch (err) {
        if (!(err instanceof DebianError)) throw err;
        failed.add(key);
        problems.push({ file: family.origin.config, line: 0, col: 0, ...(positionOf(packageOrigins, name, err.message) ?? {}), path: ['images', name, 'packages'], code: 'INVALID_VALUE', severity: 'error', message: `image ${name}: ${err.message}` });
      }
    }
  }
  if (problems.length > 0) {
    const unknown = problems.some((p) => p.code === 'UNKNOWN_PACKAGE');
    throw new BuildError(unknown ? 'PACKAGE_UNKNOWN' : 'UNRESOLVABLE', `locking family ${family.project.name}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, {
      problems,
      hint: 'check the names (apt-cache policy NAME), the suites and the architectures',
    });
  }

  // Assemble: the debian module converts resolutions into its lock entries.
  const request = aptRequest({ packages: [], architectures: family.architectures, sources: loaded.sources.map((s) => s.source) });
  const base = toLock({ request, loaded, architectures: [] });
  const architectures: FamilyLock['architectures'] = {};
  for (const arch of family.architectures) {
    const table = new Map<string, LockedAptPackage>();
    const images: Record<string, ImageLock> = {};
    for (const name of family.order) {
      const res = resolved.get(`${name}\u0000${arch}`);
      const req = requests.architectures[arch]?.[name];
      if (!res || !req) continue;
      const entries = toLock({ request, loaded, architectures: [res] }).architectures[arch]?.packages ?? [];
      const packages: Record<string, string> = {};
      for (const p of entries) {
        packages[p.name] = p.version;
        const k = `${p.name}=${p.version}=${p.architecture}`;
        if (!table.has(k)) table.set(k, restoreReason(p, req.packages));
      }
      images[name] = { request: req, packages };
    }
    architectures[arch] = { packages: [...table.values()], images };
  }
  return {
    lockVersion: LOCK_VERSION,
    family: family.project.name,
    configDigest: requests.configDigest,
    sources: base.sources,
    ...(base.skippedSources ? { skippedSources: base.skippedSources } : {}),
    architectures,
  };
}

// The parent's set is pinned as requests; in the lock, only the image's own request is "requested".
function restoreReason(p: LockedAptPackage, requested: readonly string[]): LockedAptPackage {
  if (p.reason !== 'requested' || requested.includes(p.name)) return p;
  return { ...p, reason: p.essential ? 'essential' : 'dependency' };
}

/**
 * Where to point a resolver error of an image: the request of a package the message names (the
 * last one written, so a package an override added points at the override), else its first.
 */
function positionOf(origins: LockFamilyOptions['packageOrigins'], image: string, message: string): { file: string; line: number; col: number } | undefined {
  const own = [...(origins?.get(image) ?? [])];
  const mentions = (pkg: string) => {
    try {
      return new RegExp(`(^|[^a-z0-9.+-])${escapeRegExp(parsePackageRequest(pkg).name)}($|[^a-z0-9.+-])`).test(message);
    } catch {
      return false; // a request the resolver cannot read names no package
    }
  };
  const named = own.filter(([pkg]) => mentions(pkg));
  const at = named.at(-1)?.[1] ?? own[0]?.[1];
  return at ? { file: at.file, line: at.line, col: at.col } : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Reads and verifies the family's apt sources (the machine's by default), then resolves every
 * image on every architecture into a FamilyLock. Unknown packages are reported all at once,
 * each at the line of lading.yaml (or of the override) that asked for it.
 */
export async function lockFamily(options: LockFamilyOptions): Promise<LockedFamily> {
  const { family } = options;
  const { sources, warnings } = await familySources(family, { ...(options.root ? { root: options.root } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const transport = createTransport({
    cacheDir: options.cacheDir,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.offline !== undefined ? { offline: options.offline } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const loaded = await loadAptSources({ sources, architectures: family.architectures, transport, onUnreachable: options.onUnreachable ?? 'fail', ...(options.root ? { root: options.root } : {}) });
  warnings.push(...loaded.skipped.map((s) => `skipped ${s.name}: ${s.reason}`));
  return { lock: resolveFamily(family, loaded, options.packageOrigins), warnings };
}
