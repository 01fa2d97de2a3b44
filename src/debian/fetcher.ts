// Downloads shared by the images of one build run. A family build knows every locked .deb it will
// need once it has planned, but each image fetches its own packages only when it starts. The
// fetcher downloads the rest in the background (in build order) while earlier images build, each
// file once, and moves a file an image is waiting for ahead of the background queue.
import { DebianError } from './errors.js';
import { checkCached, fetchToCache, type Transport } from './http.js';
import type { LockedAptPackage } from './lock.js';
import { fetchPackages, lockedFile, packageUrl, type FetchedPackage } from './download.js';

/** Options of createPackageFetcher. */
export interface PackageFetcherOptions {
  readonly transport: Transport;
  /** Parallel downloads (default 4, as fetchPackages). */
  readonly concurrency?: number;
  /** Names the lock the packages come from in hash-mismatch errors (default "the lock"). */
  readonly lockFile?: string;
}

/** Downloads shared by several fetches; see the module comment. */
export interface PackageFetcher {
  /**
   * Queues the files of `packages` (in this order) behind everything queued before. Never fails:
   * an error reaches whoever fetches that file, and a failed file is tried again by the next fetch.
   * Does nothing offline.
   */
  prefetch(packages: readonly LockedAptPackage[]): void;
  /** fetchPackages without `dest`: waits for every file, downloading ahead of any prefetch. */
  fetch(packages: readonly LockedAptPackage[], options?: { signal?: AbortSignal }): Promise<FetchedPackage[]>;
  /** Drops what is still queued and waits for the downloads under way. */
  close(): Promise<void>;
}

interface Job {
  readonly pkg: LockedAptPackage;
  state: 'queued' | 'running' | 'done';
  /** Resolves to true when this job downloaded the file, false when it was already cached. */
  readonly done: Promise<boolean>;
  settle(err: unknown, downloaded?: boolean): void;
}

/** Creates a fetcher over a transport (one per build run). */
export function createPackageFetcher(options: PackageFetcherOptions): PackageFetcher {
  const t = options.transport;
  const limit = Math.max(1, options.concurrency ?? 4);
  const jobs = new Map<string, Job>();
  // A job can sit in both queues (prefetched, then asked for): its state says whether it still runs.
  const urgent: Job[] = [];
  const background: Job[] = [];
  const running = new Set<Promise<void>>();
  let closed = false;

  const newJob = (pkg: LockedAptPackage): Job => {
    let settle!: Job['settle'];
    const done = new Promise<boolean>((resolve, reject) => {
      settle = (err, downloaded) => (err === undefined ? resolve(downloaded === true) : reject(err));
    });
    // Nobody may be waiting for a prefetched file (its image failed or was skipped).
    done.catch(() => undefined);
    const job: Job = { pkg, state: 'queued', done, settle };
    jobs.set(pkg.sha256, job);
    return job;
  };

  const runJob = async (job: Job): Promise<void> => {
    const p = job.pkg;
    try {
      const expected = lockedFile(p, options.lockFile);
      const cached = await t.cache.has(p.sha256, p.size, checkCached(t, expected.what));
      if (!cached) await fetchToCache(t, [packageUrl(p)], expected);
      job.state = 'done';
      job.settle(undefined, !cached);
    } catch (err) {
      job.state = 'done';
      // The next fetch of this file tries again.
      if (jobs.get(p.sha256) === job) jobs.delete(p.sha256);
      job.settle(err);
    }
  };

  const pump = (): void => {
    while (!closed && running.size < limit) {
      const job = urgent.shift() ?? background.shift();
      if (!job) return;
      if (job.state !== 'queued') continue;
      job.state = 'running';
      const r: Promise<void> = runJob(job).finally(() => {
        running.delete(r);
        pump();
      });
      running.add(r);
    }
  };

  return {
    prefetch(packages) {
      if (t.offline || closed) return;
      for (const p of packages) if (!jobs.has(p.sha256)) background.push(newJob(p));
      pump();
    },

    async fetch(packages, fetchOptions = {}) {
      // Offline nothing downloads: fetchPackages lists every missing file at once.
      if (t.offline) return fetchPackages({ packages, transport: t, ...(options.lockFile ? { lockFile: options.lockFile } : {}) });
      if (closed) throw new DebianError('FETCH_FAILED', 'the package fetcher is closed');
      const mine = packages.map((p) => {
        let job = jobs.get(p.sha256);
        if (!job) job = newJob(p);
        if (job.state === 'queued') urgent.push(job);
        return job;
      });
      pump();
      const signal = fetchOptions.signal;
      const all = Promise.all(mine.map((j) => j.done));
      const downloaded = signal
        ? await new Promise<boolean[]>((resolve, reject) => {
            if (signal.aborted) return reject(signal.reason);
            const onAbort = () => reject(signal.reason);
            signal.addEventListener('abort', onAbort, { once: true });
            all.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
          })
        : await all;
      return packages.map((p, i) => ({ package: p, path: t.cache.blobPath(p.sha256), cached: downloaded[i] !== true }));
    },

    async close() {
      closed = true;
      const abandoned = new DebianError('FETCH_FAILED', 'the package fetcher was closed before this file was downloaded');
      for (const job of [...urgent, ...background]) {
        if (job.state !== 'queued') continue;
        job.state = 'done';
        job.settle(abandoned);
      }
      urgent.length = 0;
      background.length = 0;
      await Promise.allSettled([...running]);
    },
  };
}
