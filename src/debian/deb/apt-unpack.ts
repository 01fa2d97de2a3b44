// `lading apt unpack`: fetch exactly the files of a lock (apt.ts) and unpack them (unpack.ts).
import { join } from 'node:path';
import type { FetchProgress } from '../download.js';
import { aptFetch, lockedPackages, type AptIoOptions } from '../apt.js';
import { DebianError } from '../errors.js';
import type { AptLock, LockedAptPackage } from '../lock.js';
import { unpackPackages, type UnpackOptions, type UnpackResult } from './unpack.js';

/**
 * The order dpkg would unpack packages in when installing them together: dependencies before
 * the packages that need them (Pre-Depends and Depends, as recorded in the lock), ties and
 * dependency cycles broken by name, so the order is the same on every run.
 */
export function dependencyOrder<T extends { name: string; depends?: readonly string[] }>(packages: readonly T[]): T[] {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const waiting = new Map<string, Set<string>>();
  const needed = new Map<string, string[]>();
  for (const p of packages) {
    const deps = new Set((p.depends ?? []).map((d) => d.split(':')[0] ?? d).filter((d) => d !== p.name && byName.has(d)));
    waiting.set(p.name, deps);
    for (const d of deps) needed.set(d, [...(needed.get(d) ?? []), p.name]);
  }
  const out: T[] = [];
  const ready = [...waiting].filter(([, deps]) => deps.size === 0).map(([n]) => n);
  const done = new Set<string>();
  const take = (name: string) => {
    done.add(name);
    waiting.delete(name);
    out.push(byName.get(name) as T);
    for (const dependent of needed.get(name) ?? []) {
      const deps = waiting.get(dependent);
      if (!deps) continue;
      deps.delete(name);
      if (deps.size === 0) ready.push(dependent);
    }
  };
  while (out.length < byName.size) {
    ready.sort();
    const next = ready.shift();
    if (next !== undefined) {
      if (!done.has(next)) take(next);
      continue;
    }
    // A cycle (e.g. libc6 <-> libgcc-s1): start with the first remaining name.
    const first = [...waiting.keys()].sort()[0];
    if (first === undefined) break;
    take(first);
  }
  return out;
}

/** Options of aptUnpack. */
export interface AptUnpackOptions extends AptIoOptions, Omit<UnpackOptions, 'debs' | 'signal' | 'logger' | 'architecture' | 'cacheDir'> {
  readonly lock: AptLock;
  /** Architecture of the lock to unpack; required when the lock has several. */
  readonly architecture?: string;
  /** Parallel downloads (default 4). */
  readonly fetchConcurrency?: number;
  readonly onFetchProgress?: (p: FetchProgress) => void;
}

/** Result of aptUnpack. */
export interface AptUnpackResult extends UnpackResult {
  architecture: string;
  /** Files that had to be downloaded (the rest came from the cache). */
  downloaded: number;
}

/**
 * Downloads (or finds in the cache; with `offline` only there) exactly the .debs of one
 * architecture of a lock, verified against their SHA256, and unpacks them in dependency order
 * into `root` with a dpkg database. Decoded members are cached in `<cacheDir>/deb-data`, keyed by
 * the locked SHA256. Never resolves.
 */
export async function aptUnpack(options: AptUnpackOptions): Promise<AptUnpackResult> {
  const archs = Object.keys(options.lock.architectures).sort();
  const architecture = options.architecture ?? (archs.length === 1 ? archs[0] : undefined);
  if (!architecture) {
    throw new DebianError('LOCK_INVALID', `the lock has several architectures (${archs.join(', ')}): choose one to unpack`, { hint: 'pass --arch' });
  }
  const locked = lockedPackages(options.lock, [architecture]);
  const fetched = await aptFetch({ ...options, lock: options.lock, architectures: [architecture], concurrency: options.fetchConcurrency, onProgress: options.onFetchProgress });
  const pathOf = new Map<LockedAptPackage, string>(fetched.map((f) => [f.package, f.path]));
  const bySha = new Map(fetched.map((f) => [f.package.sha256, f.path]));
  const ordered = dependencyOrder(locked);
  const result = await unpackPackages({
    ...options,
    architecture,
    signal: options.signal,
    logger: options.logger,
    cacheDir: options.cacheDir === undefined ? undefined : join(options.cacheDir, 'deb-data'),
    debs: ordered.map((p) => ({ path: pathOf.get(p) ?? bySha.get(p.sha256) ?? '', name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256 })),
  });
  return { ...result, architecture, downloaded: fetched.filter((f) => !f.cached).length };
}
