// `lading apt unpack`: fetch exactly the files of a lock (apt.ts) and unpack them (unpack.ts).
import { join } from 'node:path';
import type { FetchProgress } from '../download.js';
import { aptFetch, lockedPackages, type AptIoOptions } from '../apt.js';
import { DebianError } from '../errors.js';
import type { AptLock, LockedAptPackage } from '../lock.js';
import { unpackPackages, type UnpackOptions, type UnpackResult } from './unpack.js';

/**
 * The order dpkg would unpack packages in when installing them together: dependencies before
 * the packages that need them (Pre-Depends and Depends, as recorded in the lock). Packages in a
 * dependency cycle (libc6 and libgcc-s1) come together, by name; ties are broken by name, so the
 * order is the same on every run.
 */
export function dependencyOrder<T extends { name: string; depends?: readonly string[] }>(packages: readonly T[]): T[] {
  const names = [...new Set(packages.map((p) => p.name))].sort();
  const byName = new Map(packages.map((p) => [p.name, p]));
  const deps = new Map(names.map((n) => [n, [...new Set((byName.get(n)?.depends ?? []).map((d) => d.split(':')[0] ?? d))].filter((d) => d !== n && byName.has(d)).sort()]));
  // Strongly connected components (Tarjan), so cycles become single nodes.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const component = new Map<string, number>();
  const components: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of deps.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) === index.get(v)) {
      const members: string[] = [];
      for (;;) {
        const w = stack.pop() as string;
        onStack.delete(w);
        component.set(w, components.length);
        members.push(w);
        if (w === v) break;
      }
      components.push(members.sort());
    }
  };
  for (const n of names) if (!index.has(n)) visit(n);
  // Kahn's algorithm over components; among ready components the smallest first name goes first.
  const blockers = components.map(() => new Set<number>());
  const dependents = components.map(() => new Set<number>());
  for (const n of names) {
    const c = component.get(n) as number;
    for (const d of deps.get(n) ?? []) {
      const dc = component.get(d) as number;
      if (dc !== c) {
        blockers[c]?.add(dc);
        dependents[dc]?.add(c);
      }
    }
  }
  const ready = components.map((_, i) => i).filter((i) => blockers[i]?.size === 0);
  const out: T[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => ((components[a]?.[0] ?? '') < (components[b]?.[0] ?? '') ? -1 : 1));
    const c = ready.shift() as number;
    for (const n of components[c] ?? []) out.push(byName.get(n) as T);
    for (const d of dependents[c] ?? []) {
      blockers[d]?.delete(c);
      if (blockers[d]?.size === 0) ready.push(d);
    }
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
