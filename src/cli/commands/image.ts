// The `lading image` command group. Not a command of its own: image-from-dir (and later image
// commands) add their subcommand under the group this returns (created once).
import type { Command } from 'commander';

/** The `image` group of `program`, created on first use so the command files stay independent. */
export function imageGroup(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === 'image');
  if (existing) return existing;
  return program.command('image').description('make images in the store');
}
