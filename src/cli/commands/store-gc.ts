// `lading store gc`: remove blobs no name reaches, and leftovers of crashed writers.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { output, type CliContext } from '../context.js';
import { formatBytes, storeGroup } from './store.js';

function seconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('want a whole number of seconds');
  return Number(value);
}

/** Registers `store gc`. */
export function register(program: Command, ctx: () => CliContext): void {
  storeGroup(program)
    .command('gc')
    .description('remove blobs unreachable from index.json (referrers of kept images stay) and leftovers of crashed writers')
    .option('--dry-run', 'only report what would be removed')
    .option('--min-age <seconds>', 'keep unreachable blobs younger than this (for writers other than lading)', seconds, 0)
    .action(async (opts: { dryRun?: boolean; minAge: number }) => {
      const c = ctx();
      const { openLayout } = await import('../../layout/index.js');
      const store = await openLayout({ path: c.storePath, signal: c.signal, logger: c.logger });
      const report = await store.gc({ signal: c.signal, dryRun: opts.dryRun === true, minAgeMs: opts.minAge * 1000 });
      output(c, report, () => {
        const verb = report.dryRun ? 'would remove' : 'removed';
        return [
          `${verb} ${report.removed} blob(s) and ${report.tempFilesRemoved} temp file(s), ${formatBytes(report.freedBytes)}`,
          `kept ${report.reachable} reachable blob(s)${report.protected > 0 ? ` and ${report.protected} unnamed blob(s) a writer may still name` : ''}`,
        ].join('\n');
      });
    });
}
