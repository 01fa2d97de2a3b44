// The `lading apt` command group. Not a command of its own: apt-resolve, apt-fetch, apt-unpack
// and apt-clean each add their subcommand under the group this returns (created once).
import type { Command } from 'commander';

/** The `apt` group of `program`, created on first use so the command files stay independent. */
export function aptGroup(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === 'apt');
  if (existing) return existing;
  return program
    .command('apt')
    .description('Debian packages: resolve against signed apt sources, fetch verified .debs, unpack them, clean the cache');
}
