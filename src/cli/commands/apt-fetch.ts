// `lading apt fetch --lock FILE`: download exactly the files of a lock (verified, cached); never resolves.
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { FetchProgress } from '../../debian/index.js';
import { collect, integerFlag, output, type CliContext } from '../context.js';
import { aptGroup } from './apt.js';
import { formatBytes } from './store.js';

const list = (values: string[] | undefined) => (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

/** Registers `apt fetch`. */
export function register(program: Command, ctx: () => CliContext): void {
  aptGroup(program)
    .command('fetch')
    .description('download the .debs of a lock into the cache (SHA256-verified), optionally copying them to a directory')
    .requiredOption('--lock <file>', 'lock written by `lading apt resolve --lock-out`')
    .option('--arch <arch>', 'only these architectures of the lock (comma-separated or repeated)', collect)
    .option('--dest <dir>', 'also place the .debs in this directory')
    .option('--offline', 'use only the cache; list what is missing')
    .option('--concurrency <n>', 'parallel downloads', (v) => integerFlag(v, '--concurrency', 1), 4)
    .action(async (opts: { lock: string; arch?: string[]; dest?: string; offline?: boolean; concurrency: number }) => {
      const c = ctx();
      const { aptFetch, DebianError, parseLock } = await import('../../debian/index.js');
      const lockPath = resolvePath(c.cwd, opts.lock);
      const text = await readFile(lockPath).catch((err: unknown) => {
        throw new DebianError('LOCK_INVALID', `reading lock ${lockPath}: ${(err as Error).message}`, { cause: err });
      });
      let last = 0;
      const progress = (p: FetchProgress) => {
        if (!c.interactive || c.json || p.downloads === 0) return;
        const now = Date.now();
        if (now - last < 100 && p.doneFiles < p.totalFiles) return;
        last = now;
        const pct = p.totalBytes ? Math.floor((p.doneBytes / p.totalBytes) * 100) : 100;
        const bar = '#'.repeat(Math.floor(pct / 4)).padEnd(25, '.');
        c.stderr.write(`\r[${bar}] ${pct}% ${p.doneFiles}/${p.totalFiles} files ${formatBytes(p.doneBytes)}/${formatBytes(p.totalBytes)}`);
        if (p.doneFiles === p.totalFiles) c.stderr.write('\n');
      };
      const fetched = await aptFetch({
        lock: parseLock(text, lockPath),
        architectures: list(opts.arch),
        dest: opts.dest ? resolvePath(c.cwd, opts.dest) : undefined,
        offline: opts.offline,
        concurrency: opts.concurrency,
        onProgress: progress,
        cacheDir: c.cachePath,
        logger: c.logger,
        signal: c.signal,
      });
      const downloaded = fetched.filter((f) => !f.cached).length;
      const bytes = fetched.reduce((n, f) => n + f.package.size, 0);
      output(
        c,
        { files: fetched.map((f) => ({ name: f.package.name, version: f.package.version, architecture: f.package.architecture, sha256: f.package.sha256, path: f.path, cached: f.cached })) },
        () => `${fetched.length} files (${formatBytes(bytes)}), ${downloaded} downloaded, ${fetched.length - downloaded} from the cache${opts.dest ? `, in ${opts.dest}` : ''}`,
      );
    });
}
