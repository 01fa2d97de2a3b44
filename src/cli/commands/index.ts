// The command table: one line per command file. Each file maps flags to one library call.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** Adds one command (or a group) to the program. */
export type RegisterCommand = (program: Command, ctx: () => CliContext) => void;

export const commands: RegisterCommand[] = [];
