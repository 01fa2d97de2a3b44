// `lading apt resolve PKG...`: resolve packages against verified apt sources and write the lock.
import type { Command } from 'commander';
import { resolve as resolvePath } from 'node:path';
import { collect, output, table, type CliContext } from '../context.js';
import { aptGroup } from './apt.js';

const list = (values: string[] | undefined) => (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

/** Registers `apt resolve`. */
export function register(program: Command, ctx: () => CliContext): void {
  aptGroup(program)
    .command('resolve')
    .description('resolve packages (+ the Essential set) against signed apt sources, per architecture, into a lock')
    .argument('[packages...]', 'name, name=version, name/suite, name:arch (only for that arch) or "name (>= version)"')
    .option('--arch <arch>', 'architecture(s) to resolve, comma-separated or repeated (default: this machine\'s)', collect)
    .option('--no-essential', 'do not add the Essential: yes packages')
    .option('--sources <file>', 'apt sources file (.sources deb822 or one-line .list) instead of /etc/apt (repeatable)', collect)
    .option('--suite <suite>', 'only the configured sources of these suites, e.g. bookworm,bookworm-updates,bookworm-security', collect)
    .option('--lock-out <file>', 'write the lock (JSON) to this file')
    .option('--offline', 'use only the cache (InRelease and indexes must have been fetched before)')
    .option('--strict-sources', 'fail when a source cannot be reached instead of skipping it with a warning')
    .action(async (packages: string[], opts: { arch?: string[]; essential: boolean; sources?: string[]; suite?: string[]; lockOut?: string; offline?: boolean; strictSources?: boolean }) => {
      const c = ctx();
      const [{ atomicWriteFile, fsReason }, { aptResolve, serializeLock, DebianError }] = await Promise.all([import('../../core/index.js'), import('../../debian/index.js')]);
      const { lock, resolution } = await aptResolve({
        packages,
        architectures: list(opts.arch),
        noEssential: !opts.essential,
        sourcesFiles: opts.sources?.map((f) => resolvePath(c.cwd, f)),
        suites: list(opts.suite),
        onUnreachable: opts.strictSources ? 'fail' : 'skip',
        cacheDir: c.cachePath,
        offline: opts.offline,
        logger: c.logger,
        signal: c.signal,
      });
      if (opts.lockOut) {
        // A directory that does not exist is the user's to make (a typo must not create one).
        await atomicWriteFile(resolvePath(c.cwd, opts.lockOut), serializeLock(lock), { createParents: false, signal: c.signal }).catch((err: unknown) => {
          throw new DebianError('LOCK_INVALID', `writing ${opts.lockOut}: ${fsReason(err)}`);
        });
      }
      output(c, lock, () =>
        resolution.architectures
          .map((a) => {
            const pk = lock.architectures[a.architecture]?.packages ?? [];
            const bytes = pk.reduce((n, p) => n + p.size, 0);
            return [
              `${a.architecture}: ${pk.length} packages, ${(bytes / 1048576).toFixed(1)} MiB to fetch${opts.lockOut ? ` (lock: ${opts.lockOut})` : ''}`,
              table([['PACKAGE', 'VERSION', 'ARCH', 'SUITE', 'WHY'], ...pk.map((p) => [p.name, p.version, p.architecture, `${p.suite}/${p.component}`, p.requiredBy ? `for ${p.requiredBy}` : p.reason])]),
            ].join('\n');
          })
          .join('\n\n'),
      );
    });
}
