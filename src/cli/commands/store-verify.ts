// `lading store verify`: re-hash every blob, check every reference; exit 1 on any problem.
import type { Command } from 'commander';
import { output, type CliContext } from '../context.js';
import { formatBytes, storeGroup } from './store.js';

/** Registers `store verify`. */
export function register(program: Command, ctx: () => CliContext): void {
  storeGroup(program)
    .command('verify')
    .description('re-hash every blob and check that every reference from index.json resolves (exit 1 on problems)')
    .option('--strict', 'treat warnings (unknown media types, invalid names) as problems')
    .action(async (opts: { strict?: boolean }) => {
      const c = ctx();
      const { openLayout } = await import('../../layout/index.js');
      const store = await openLayout({ path: c.storePath, signal: c.signal, logger: c.logger });
      const report = await store.verify({ signal: c.signal, strict: opts.strict === true });
      if (!report.ok) c.exitCode = 1;
      output(c, report, () => {
        const lines = [...report.problems.map((p) => `error: ${p.message}`), ...report.warnings.map((p) => `warning: ${p.message}`)];
        const { tempFiles, staleLeases } = report.leftovers;
        if (tempFiles + staleLeases > 0) lines.push(`note: ${tempFiles} temp file(s) and ${staleLeases} lease(s) left by interrupted writers; \`lading store gc\` removes them`);
        const summary = `${report.blobs} blobs (${formatBytes(report.bytes)}), ${report.entries} index entries, ${report.manifests} manifests`;
        lines.push(report.ok ? `verified ${summary}: OK` : `verified ${summary}: ${report.problems.length} problem(s)${report.problems.length === 0 ? ` and ${report.warnings.length} warning(s) (--strict)` : ''}`);
        return lines.join('\n');
      });
    });
}
