// The apt operations the CLI and the image build call: resolve a request against verified
// sources into a lock, and fetch exactly the files of a lock.
import { arch as hostCpu } from 'node:process';
import type { Clock, Logger } from '../core/index.js';
import { fetchPackages, type FetchedPackage, type FetchProgress } from './download.js';
import { DebianError } from './errors.js';
import { createTransport } from './http.js';
import { aptRequest, toLock, type AptLock, type AptRequest, type LockedAptPackage } from './lock.js';
import { loadAptSources, universeInputs, type LoadedSources } from './repository.js';
import { parsePackageRequest, resolveArchitecture, type ArchResolution } from './resolver.js';
import { loadSources, selectSources, type AptSource } from './sources.js';
import { Universe } from './universe.js';

const DEBIAN_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: 'i386', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64', mips64el: 'mips64el' };

/** The Debian architecture of this machine (amd64, arm64, ...). */
export function hostArchitecture(): string {
  return DEBIAN_ARCH[hostCpu] ?? hostCpu;
}

/** A resolution: the request, the verified sources and the chosen packages per architecture. */
export interface Resolution {
  readonly request: AptRequest;
  readonly loaded: LoadedSources;
  readonly architectures: readonly ArchResolution[];
}

/** Options of resolve. */
export interface ResolveOptions {
  /** Verified sources (from loadAptSources). */
  readonly loaded: LoadedSources;
  /** Requests: `name`, `name=version`, `name (>= v)`, `name/suite`, `name:arch`. */
  readonly packages: readonly string[];
  /** Default: the architectures the sources were loaded for. */
  readonly architectures?: readonly string[];
  readonly noEssential?: boolean;
}

/**
 * Resolves requests on already loaded sources, for each architecture independently (pure: no I/O).
 * Errors name the architecture (spec §6 rule 10).
 */
export function resolve(options: ResolveOptions): Resolution {
  const requests = options.packages.map(parsePackageRequest);
  const archs = options.architectures ?? options.loaded.architectures;
  const stray = requests.filter((r) => r.architecture !== undefined && !archs.includes(r.architecture));
  if (stray.length) {
    throw new DebianError('UNRESOLVABLE', `${stray.map((r) => JSON.stringify(r.text)).join(', ')} asks for an architecture that is not resolved (resolving: ${archs.join(', ')})`, {
      hint: 'add it with --arch, or drop the :arch suffix',
    });
  }
  const universes = archs.map((a) => new Universe(a, universeInputs(options.loaded, a)));
  const architectures = universes.map((u) =>
    resolveArchitecture({ universe: u, requests, noEssential: options.noEssential, otherUniverses: universes.filter((o) => o !== u) }),
  );
  const request = aptRequest({ packages: options.packages, architectures: archs, noEssential: options.noEssential, sources: options.loaded.sources.map((s) => s.source) });
  return { request, loaded: options.loaded, architectures };
}

/** Options shared by the operations that talk to archives. */
export interface AptIoOptions {
  /** Cache directory (the CLI's --cache). */
  readonly cacheDir: string;
  /** Use only the cache (InRelease, indexes, .debs); anything missing is an error listing it. */
  readonly offline?: boolean;
  readonly fetch?: typeof fetch;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Retries after the first attempt for network failures (default 3). */
  readonly retries?: number;
  readonly retryDelayMs?: number;
  readonly signal?: AbortSignal;
}

/** Options of aptResolve. */
export interface AptResolveOptions extends AptIoOptions {
  readonly packages: readonly string[];
  /** Default: this machine's architecture. */
  readonly architectures?: readonly string[];
  readonly noEssential?: boolean;
  /** Sources files to use instead of the machine's /etc/apt configuration. */
  readonly sourcesFiles?: readonly string[];
  /** Sources given directly (take precedence over sourcesFiles). */
  readonly sources?: readonly AptSource[];
  /** Keep only these configured suites (e.g. bookworm, bookworm-updates, bookworm-security). */
  readonly suites?: readonly string[];
  /** Unreachable sources: skipped with a warning (default) or fatal. */
  readonly onUnreachable?: 'skip' | 'fail';
  /** Root of the machine configuration for default sources and keyrings (default "/"). */
  readonly root?: string;
}

/** Result of aptResolve: the resolution and its lock. */
export interface AptResolveResult {
  readonly resolution: Resolution;
  readonly lock: AptLock;
  /** Warnings about the sources configuration (deb-src lines, unsupported URIs, skipped sources). */
  readonly warnings: readonly string[];
}

/**
 * Reads the sources (the machine's by default), verifies their Release files and indexes, resolves
 * the request for each architecture and returns the lock.
 */
export async function aptResolve(options: AptResolveOptions): Promise<AptResolveResult> {
  if (options.packages.length === 0 && options.noEssential) throw new DebianError('UNRESOLVABLE', 'nothing to resolve: no packages requested and --no-essential');
  const architectures = options.architectures?.length ? [...new Set(options.architectures)] : [hostArchitecture()];
  const warnings: string[] = [];
  let sources: AptSource[];
  if (options.sources) sources = [...options.sources];
  else {
    const parsed = await loadSources({ files: options.sourcesFiles, root: options.root, signal: options.signal });
    sources = parsed.sources;
    warnings.push(...parsed.warnings);
  }
  sources = selectSources(sources, { suites: options.suites });
  const transport = createTransport({ ...options, cacheDir: options.cacheDir });
  for (const w of warnings) transport.logger.warn(w);
  const loaded = await loadAptSources({ sources, architectures, transport, onUnreachable: options.onUnreachable, root: options.root });
  warnings.push(...loaded.skipped.map((s) => `skipped ${s.name}: ${s.reason}`));
  const resolution = resolve({ loaded, packages: options.packages, architectures, noEssential: options.noEssential });
  return { resolution, lock: toLock(resolution), warnings };
}

/** Options of aptFetch. */
export interface AptFetchOptions extends AptIoOptions {
  readonly lock: AptLock;
  /** Only these architectures of the lock (default all). */
  readonly architectures?: readonly string[];
  /** Also place the .debs in this directory. */
  readonly dest?: string;
  readonly concurrency?: number;
  readonly onProgress?: (p: FetchProgress) => void;
}

/** The locked packages of some (default all) architectures of a lock, in lock order. */
export function lockedPackages(lock: AptLock, architectures?: readonly string[]): LockedAptPackage[] {
  const archs = architectures?.length ? architectures : Object.keys(lock.architectures).sort();
  const out: LockedAptPackage[] = [];
  for (const a of archs) {
    const entry = lock.architectures[a];
    if (!entry) throw new DebianError('LOCK_INVALID', `the lock has no architecture ${a} (it has ${Object.keys(lock.architectures).sort().join(', ')})`);
    out.push(...entry.packages);
  }
  return out;
}

/** Downloads (or finds in the cache) exactly the files of a lock; never resolves. */
export async function aptFetch(options: AptFetchOptions): Promise<FetchedPackage[]> {
  const transport = createTransport({ ...options, cacheDir: options.cacheDir });
  return fetchPackages({ packages: lockedPackages(options.lock, options.architectures), transport, dest: options.dest, concurrency: options.concurrency, onProgress: options.onProgress });
}
