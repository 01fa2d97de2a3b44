// The lading command line: a command table, one file per command, one error handler.
import { Command, CommanderError } from 'commander';
import { describeError, isBaseError } from '../core/index.js';
import { createContext, type CliContext, type CliIo, type GlobalOptions } from './context.js';
import { commands } from './commands/index.js';

export type { CliContext } from './context.js';

/** Exit codes: 0 success, 1 the operation failed, 2 usage error, 70 internal error (a bug). */
export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 70 } as const;

const VERSION = '0.1.0';

/** Builds the commander program; `getContext` is valid inside actions. */
export function buildProgram(getContext: () => CliContext): Command {
  const program = new Command('lading')
    .description('Build container images from Debian packages without a daemon, reproducibly, and copy them between stores and registries by digest.')
    .version(VERSION)
    .option('--store <dir>', 'OCI image-layout store (env LADING_STORE)', undefined)
    .option('--cache <dir>', 'download cache for apt indexes and .debs (env LADING_CACHE, default $XDG_CACHE_HOME/lading or ~/.cache/lading)', undefined)
    .option('--json', 'print one JSON document on stdout')
    .option('-v, --verbose', 'log debug detail to stderr')
    .option('-q, --quiet', 'log only warnings and errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.configureOutput({ outputError: () => undefined });
  for (const register of commands) register(program, getContext);
  return program;
}

/** Runs the CLI and returns the exit code. Never throws; user errors print without a stack. */
export async function main(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const ctl = new AbortController();
  const full: CliIo = {
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    env: io?.env ?? process.env,
    cwd: io?.cwd ?? process.cwd(),
    signal: io?.signal ?? ctl.signal,
  };
  const onSignal = () => ctl.abort(new Error('interrupted'));
  if (!io?.signal) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  let ctx: CliContext | undefined;
  const program = buildProgram(() => {
    ctx ??= createContext(full, program.opts<GlobalOptions>());
    return ctx;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx?.exitCode ?? EXIT.ok;
  } catch (err) {
    return reportError(err, full);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
    io.stderr.write(`lading: ${err.message.replace(/^error: /, '')}\n(run with --help for usage)\n`);
    return EXIT.usage;
  }
  if (isBaseError(err)) {
    io.stderr.write(`lading: ${describeError(err)}\n`);
    if (err.hint) io.stderr.write(`hint: ${err.hint}\n`);
    if (io.env.LADING_DEBUG) io.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return EXIT.failed;
  }
  io.stderr.write(`lading: internal error: ${describeError(err)}\n`);
  io.stderr.write(io.env.LADING_DEBUG ? `${(err as Error)?.stack ?? ''}\n` : '(set LADING_DEBUG=1 to see a stack trace)\n');
  return EXIT.internal;
}
