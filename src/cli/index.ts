// The lading command line: a command table, one file per command, one error handler.
import { Command, CommanderError } from 'commander';
import { describeError, environmentError, errnoCode, errorChain, fsReason, isBaseError } from '../core/index.js';
import { createContext, type CliContext, type CliIo, type GlobalOptions } from './context.js';
import { commands } from './commands/index.js';

export type { CliContext } from './context.js';

/**
 * Exit codes: 0 success, 1 the operation failed, 2 usage error, 70 internal error (a bug),
 * 128 + the signal's number when a signal stopped the command (130 for Ctrl-C, 143 for SIGTERM).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 70 } as const;

// SIGHUP too: a closed terminal or a dropped ssh session must clean up like Ctrl-C.
const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type HandledSignal = keyof typeof SIGNALS;

const VERSION = '0.1.0';

/** Builds the commander program; `getContext` is valid inside actions. */
export function buildProgram(getContext: () => CliContext): Command {
  const program = new Command('lading')
    .description('Build container images from Debian packages without a daemon, reproducibly, and copy them between stores and registries by digest.')
    .version(VERSION)
    .option('--store <dir>', 'OCI image-layout store (env LADING_STORE, default ./.lading/store)', undefined)
    .option('--cache <dir>', 'download cache for apt indexes and .debs (env LADING_CACHE, default $XDG_CACHE_HOME/lading or ~/.cache/lading)', undefined)
    .option('--json', 'print one JSON document on stdout')
    .option('-v, --verbose', 'log debug detail to stderr')
    .option('-q, --quiet', 'log only warnings and errors')
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
  // The first signal aborts: containers are stopped, mounts and work directories removed. A second
  // one says so; a third exits at once and leaves the rest to the next build (stale.ts).
  let stoppedBy: HandledSignal | undefined;
  let signals = 0;
  const onSignal = (sig: HandledSignal) => {
    signals++;
    if (signals === 1) {
      stoppedBy = sig;
      ctl.abort(new Error(`interrupted by ${sig}`));
    } else if (signals === 2) {
      full.stderr.write('lading: stopping containers and removing mounts; signal once more to exit now and leave them to the next build\n');
    } else {
      process.exit(128 + SIGNALS[sig]);
    }
  };
  // Output that nobody reads any more (`lading build | head`) must not stop a build half way.
  const onStreamError = (err: unknown) => {
    if (errnoCode(err) !== 'EPIPE') throw err;
  };
  if (!io?.signal) for (const sig of Object.keys(SIGNALS) as HandledSignal[]) process.on(sig, onSignal);
  if (!io?.stdout) process.stdout.on('error', onStreamError);
  if (!io?.stderr) process.stderr.on('error', onStreamError);
  let ctx: CliContext | undefined;
  const program = buildProgram(() => {
    ctx ??= createContext(full, program.opts<GlobalOptions>());
    return ctx;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    const code = ctx?.exitCode ?? EXIT.ok;
    return stoppedBy && code !== EXIT.ok ? 128 + SIGNALS[stoppedBy] : code;
  } catch (err) {
    const failure = reportError(err, full);
    // --json promises one document on stdout: a failure gets one too, unless the result is out.
    if (failure.code !== EXIT.ok && (ctx?.json ?? program.opts<GlobalOptions>().json === true) && ctx?.jsonPrinted !== true) {
      full.stdout.write(`${JSON.stringify({ error: failure.json }, null, 2)}\n`);
    }
    return stoppedBy ? 128 + SIGNALS[stoppedBy] : failure.code;
  } finally {
    // The EPIPE handlers stay: a failed write reports its error after main() has returned.
    for (const sig of Object.keys(SIGNALS) as HandledSignal[]) process.removeListener(sig, onSignal);
  }
}

/** The first Node system error (errno code, syscall, path) in an error's cause chain. */
function systemError(err: unknown): (Error & { code: string; syscall?: string; path?: string }) | undefined {
  for (const cur of errorChain(err)) {
    if (typeof (cur as { syscall?: unknown }).syscall === 'string' && errnoCode(cur)) return cur as Error & { code: string; syscall?: string; path?: string };
  }
  return undefined;
}

/** What a failure printed on stderr, as the exit status and the `--json` error document. */
interface Failure {
  code: number;
  json: { code: string; message: string; hint?: string; problems?: unknown[] };
}

/** The problem list of a config or lock error (file, line, col, path, code, severity, message), for tools. */
function problemsOf(err: unknown): unknown[] | undefined {
  const p = (err as { problems?: unknown }).problems;
  return Array.isArray(p) && p.length > 0 ? p : undefined;
}

function reportError(err: unknown, io: CliIo): Failure {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return { code: EXIT.ok, json: { code: 'HELP', message: '' } };
    const message = err.message.replace(/^error: /, '');
    io.stderr.write(`lading: ${message}\n(run with --help for usage)\n`);
    return { code: EXIT.usage, json: { code: 'USAGE', message } };
  }
  if (isBaseError(err)) {
    const message = describeError(err);
    io.stderr.write(`lading: ${message}\n`);
    if (err.hint) io.stderr.write(`hint: ${err.hint}\n`);
    if (io.env.LADING_DEBUG) io.stderr.write(`${(err as Error).stack ?? ''}\n`);
    const problems = problemsOf(err);
    return { code: EXIT.failed, json: { code: err.code, message, ...(err.hint ? { hint: err.hint } : {}), ...(problems ? { problems } : {}) } };
  }
  const sys = systemError(err);
  if (sys && sys.code === 'ENOENT' && sys.syscall === 'mkdir') {
    // Node's recursive mkdir reports ENOENT when a parent cannot be made (a read-only file system).
    const message = `cannot create ${sys.path ?? 'a directory'}: no such parent directory, or a read-only file system`;
    io.stderr.write(`lading: ${message}\n`);
    return { code: EXIT.failed, json: { code: 'ENOENT', message } };
  }
  if (sys && environmentError(sys)) {
    const message = `${sys.syscall ?? 'I/O'}${sys.path ? ` ${sys.path}` : ''}: ${fsReason(sys)}${sys.code === 'ENOSPC' || sys.code === 'EDQUOT' ? ' (free some space and run it again)' : ''}`;
    io.stderr.write(`lading: ${message}\n`);
    if (io.env.LADING_DEBUG) io.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return { code: EXIT.failed, json: { code: sys.code, message } };
  }
  const message = `internal error: ${describeError(err)}`;
  io.stderr.write(`lading: ${message}\n`);
  io.stderr.write(io.env.LADING_DEBUG ? `${(err as Error)?.stack ?? ''}\n` : '(set LADING_DEBUG=1 to see a stack trace)\n');
  return { code: EXIT.internal, json: { code: 'INTERNAL', message } };
}
