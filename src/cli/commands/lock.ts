// `lading lock`: resolve every image's packages on every architecture into lading.lock.
import type { Command } from 'commander';
import { relative } from 'node:path';
import type { FamilyConfig, FamilyLock } from '../../build/index.js';
import { output, table, type CliContext } from '../context.js';
import { familyFiles, familyOptions, printWarnings, type FamilyFlags } from './family.js';

interface Flags extends FamilyFlags {
  offline?: boolean;
  skipUnreachable?: boolean;
}

/** Packages per image and architecture, and what each adds over its parent. */
export function formatLock(lock: FamilyLock, family: FamilyConfig): string {
  const rows = [['IMAGE', 'ARCH', 'PACKAGES', 'ADDS', 'ADDED MiB']];
  for (const [arch, a] of Object.entries(lock.architectures)) {
    const sizes = new Map(a.packages.map((p) => [`${p.name}=${p.version}`, p.size]));
    for (const name of family.order) {
      const img = a.images[name];
      if (!img) continue;
      const from = family.images[name]?.from;
      const parent = from?.kind === 'image' ? a.images[from.name]?.packages : undefined;
      const adds = Object.entries(img.packages).filter(([p, v]) => parent?.[p] !== v);
      const bytes = adds.reduce((s, [p, v]) => s + (sizes.get(`${p}=${v}`) ?? 0), 0);
      rows.push([name, arch, String(Object.keys(img.packages).length), String(adds.length), (bytes / 1048576).toFixed(1)]);
    }
  }
  return table(rows);
}

/** Registers `lock`. */
export function register(program: Command, ctx: () => CliContext): void {
  const cmd = program
    .command('lock')
    .description('resolve the packages of every image on every architecture against the verified apt sources and write lading.lock')
    .option('--offline', 'use only the apt cache (InRelease and indexes fetched before)')
    .option('--skip-unreachable', 'lock without a source that cannot be reached (recorded in the lock) instead of failing');
  familyOptions(cmd).action(async (flags: Flags) => {
    const c = ctx();
    const { lockFamilyFiles } = await import('../../build/index.js');
    const r = await lockFamilyFiles({
      ...familyFiles(c, flags),
      cacheDir: c.cachePath,
      logger: c.logger,
      ...(flags.offline ? { offline: true } : {}),
      ...(flags.skipUnreachable ? { onUnreachable: 'skip' as const } : {}),
    });
    await printWarnings(c, r.configWarnings);
    for (const w of r.warnings) c.logger.warn(w);
    const where = relative(c.cwd, r.lockPath) || r.lockPath;
    output(c, r.lock, () =>
      [
        formatLock(r.lock, r.family),
        r.written ? `wrote ${where}${r.previousReasons.length ? ` (was stale: ${r.previousReasons.join('; ')})` : ''}` : `${where} is up to date`,
      ].join('\n'),
    );
  });
}
