// `lading apt unpack --lock FILE --root DIR`: fetch exactly the locked .debs and unpack them into a
// directory with a dpkg database; never resolves.
import { Option, type Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { UnpackState } from '../../debian/index.js';
import { integerFlag, output, table, type CliContext } from '../context.js';
import { aptGroup } from './apt.js';

const STATES: readonly UnpackState[] = ['unpacked', 'auto', 'installed'];

/** Registers `apt unpack`. */
export function register(program: Command, ctx: () => CliContext): void {
  aptGroup(program)
    .command('unpack')
    .description('unpack the .debs of a lock into a directory (merged /usr, dpkg database); maintainer scripts are not run')
    .requiredOption('--lock <file>', 'lock written by `lading apt resolve --lock-out`')
    .requiredOption('--root <dir>', 'target directory (created if missing; must not hold a dpkg database yet)')
    .option('--arch <arch>', 'architecture of the lock to unpack (needed when the lock has several)')
    .option('--offline', 'use only the cache; list what is missing')
    .addOption(
      new Option('--state <state>', 'dpkg state to record (auto: installed when a package has no preinst/postinst/config script)').choices(STATES).default('unpacked'),
    )
    .option('--no-merged-usr', 'do not create the bin, sbin, lib... -> usr/... symlinks first')
    .option('--allow-overlaps', 'let a later package overwrite a file of an earlier one without Replaces')
    .option('--concurrency <n>', 'packages extracted at once', (v) => integerFlag(v, '--concurrency', 1))
    .action(async (opts: { lock: string; root: string; arch?: string; offline?: boolean; state: string; mergedUsr: boolean; allowOverlaps?: boolean; concurrency?: number }) => {
      const c = ctx();
      const { aptUnpack, DebianError, parseLock } = await import('../../debian/index.js');
      const lockPath = resolvePath(c.cwd, opts.lock);
      const text = await readFile(lockPath).catch((err: unknown) => {
        throw new DebianError('LOCK_INVALID', `reading lock ${lockPath}: ${(err as Error).message}`, { cause: err });
      });
      const root = resolvePath(c.cwd, opts.root);
      let last = 0;
      const result = await aptUnpack({
        lock: parseLock(text, lockPath),
        architecture: opts.arch,
        root,
        offline: opts.offline,
        state: opts.state as UnpackState,
        mergedUsr: opts.mergedUsr,
        allowOverlaps: opts.allowOverlaps,
        concurrency: opts.concurrency,
        cacheDir: c.cachePath,
        logger: c.logger,
        signal: c.signal,
        onProgress: (done, total, name) => {
          if (!c.interactive || c.json) return;
          const now = Date.now();
          if (now - last < 100 && done < total) return;
          last = now;
          c.stderr.write(`\r\x1b[Kunpacking ${done}/${total} ${name}`);
          if (done === total) c.stderr.write('\r\x1b[K');
        },
      });
      for (const w of result.warnings) c.logger.warn(w);
      const installed = result.packages.filter((p) => p.state === 'installed').length;
      output(
        c,
        {
          root: result.root,
          architecture: result.architecture,
          downloaded: result.downloaded,
          files: result.files,
          packages: result.packages.map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, state: p.state, scripts: p.scripts })),
          overlaps: result.overlaps,
          warnings: result.warnings,
        },
        () =>
          table([
            ['packages', String(result.packages.length)],
            ['entries', String(result.files)],
            ['installed', `${installed} (no maintainer scripts to run)`],
            ['unpacked', `${result.packages.length - installed} (run dpkg --configure -a in the tree to configure them)`],
            ['downloaded', `${result.downloaded} .debs (the rest from the cache)`],
            ['root', result.root],
          ]),
      );
    });
}
