// `lading apt clean`: remove what the apt cache holds and nobody used for a while (or everything).
import { InvalidArgumentError, type Command } from 'commander';
import { output, type CliContext } from '../context.js';
import { aptGroup } from './apt.js';
import { formatBytes } from './store.js';

const PLURAL = { package: 'packages', index: 'indexes', decoded: 'decoded packages', scan: 'scans', record: 'records', temp: 'temp files' } as const;

/** Registers `apt clean`. */
export function register(program: Command, ctx: () => CliContext): void {
  aptGroup(program)
    .command('clean')
    .description('remove cached .debs, decoded packages, index scans and records not used for a while (default 30 days), or everything with --all')
    .option('--unused-for <days>', 'remove what was not used for this many days', (v) => {
      if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError(`--unused-for: want a number of days >= 0, got ${JSON.stringify(v)}`);
      return Number(v);
    }, 30)
    .option('--all', 'remove everything in the cache (the next run downloads again)')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .action(async (opts: { unusedFor: number; all?: boolean; dryRun?: boolean }) => {
      const c = ctx();
      const { cleanAptCache } = await import('../../debian/index.js');
      const r = await cleanAptCache({ cacheDir: c.cachePath, unusedForDays: opts.unusedFor, all: opts.all === true, dryRun: opts.dryRun === true, signal: c.signal });
      output(c, r, () => {
        const by = new Map<string, { n: number; bytes: number }>();
        for (const e of r.removed) {
          const k = by.get(e.kind) ?? { n: 0, bytes: 0 };
          k.n++;
          k.bytes += e.bytes;
          by.set(e.kind, k);
        }
        const parts = [...by].map(([kind, k]) => `${k.n} ${k.n === 1 ? kind : PLURAL[kind as keyof typeof PLURAL]} (${formatBytes(k.bytes)})`);
        const what = r.unusedSince ? `not used since ${r.unusedSince.toISOString().slice(0, 10)}` : 'everything';
        return [
          `${r.dryRun ? 'would remove' : 'removed'} ${r.removed.length} entries, ${formatBytes(r.removedBytes)} (${what})${parts.length ? `: ${parts.join(', ')}` : ''}`,
          `kept ${r.kept} entries, ${formatBytes(r.keptBytes)}, in ${r.cacheDir}`,
        ].join('\n');
      });
    });
}
