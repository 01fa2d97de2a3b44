// Options shared by the family commands (plan, images, lock, build): where lading.yaml, the
// site overrides, the build context and lading.lock are.
import type { Command } from 'commander';
import type { FamilyFiles, Problem } from '../../build/index.js';
import { collect, type CliContext } from '../context.js';

/** Flags added by familyOptions(). */
export interface FamilyFlags {
  file: string;
  override?: string[];
  context?: string;
  lock?: string;
}

/** Adds -f/--file, -o/--override (repeatable), --context and --lock to a family command. */
export function familyOptions(cmd: Command, withLock = true): Command {
  cmd
    .option('-f, --file <path>', 'the family config', 'lading.yaml')
    .option('-o, --override <path>', 'site override merged over the config (repeatable, applied in order)', collect)
    .option('--context <dir>', 'build context for `files:` sources (default: the directory of the config)');
  if (withLock) cmd.option('--lock <path>', 'the lock file (default: lading.lock beside the config)');
  return cmd;
}

/** FamilyFiles for the library from the flags. */
export function familyFiles(c: CliContext, flags: FamilyFlags): FamilyFiles {
  return {
    configPath: flags.file,
    cwd: c.cwd,
    signal: c.signal,
    ...(flags.override ? { overrides: flags.override } : {}),
    ...(flags.context ? { contextDir: flags.context } : {}),
    ...(flags.lock ? { lockPath: flags.lock } : {}),
  };
}

/** Prints config warnings to stderr (never on stdout, which may carry JSON). */
export async function printWarnings(c: CliContext, warnings: readonly Problem[]): Promise<void> {
  if (warnings.length === 0) return;
  const { formatProblem } = await import('../../build/index.js');
  for (const w of warnings) c.stderr.write(`${formatProblem(w)}\n`);
}

/**
 * What `--force` forces, the same for build and plan: images named one by one are rebuilt (their
 * unchanged ancestors reused); with a glob, a profile or no names, every selected image is.
 */
export function forced(images: readonly string[], profiles: readonly string[]): string[] | true {
  return images.length > 0 && profiles.length === 0 && !images.some((i) => i.includes('*')) ? [...images] : true;
}
