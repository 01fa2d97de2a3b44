import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Duplex, PassThrough } from 'node:stream';
import { BaseError, errnoCode } from './errors.js';

export type ProcessErrorCode = 'PROCESS_FAILED';
export class ProcessError extends BaseError<ProcessErrorCode> {}

export interface ProgramStreamOptions {
  /** Names the work in errors, e.g. "xz decompression of Packages.xz". */
  what: string;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * A duplex stream running a program as a filter: writes go to its stdin, reads come from its
 * stdout. A nonzero exit becomes a ProcessError carrying the start of stderr. Used for codecs
 * Node lacks (zstd, and xz where the program is faster than any npm package).
 */
export function programStream(cmd: string, args: readonly string[], options: ProgramStreamOptions): Duplex {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env, signal: options.signal });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let stdoutEnded = false;
  const finish = () => {
    if (!exited || !stdoutEnded) return;
    if (exited.code === 0) out.end();
    else out.destroy(new ProcessError('PROCESS_FAILED', `${options.what}: ${cmd} failed (${exited.code ?? exited.signal}): ${stderr.trim() || 'no message'}`));
  };
  child.stdout.on('data', (c: Buffer) => {
    if (!out.write(c)) {
      child.stdout.pause();
      out.once('drain', () => child.stdout.resume());
    }
  });
  child.stdout.on('end', () => {
    stdoutEnded = true;
    finish();
  });
  child.on('error', (err) => out.destroy(new ProcessError('PROCESS_FAILED', `${options.what}: cannot run ${cmd}: ${err.message}`, { cause: err })));
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    finish();
  });
  child.stdin.on('error', () => undefined); // EPIPE when the program dies early; reported through its exit status
  const duplex = Duplex.from({ writable: child.stdin, readable: out });
  duplex.on('close', () => {
    if (!exited) child.kill('SIGKILL');
  });
  return duplex;
}

/**
 * True when a process with that pid runs on this host (one that exists but belongs to another
 * user counts). NOTE: pids are only meaningful on one host and in one pid namespace; liveness
 * checks on a store or runtime shared across hosts or namespaces are not supported.
 */
export function isProcessAlive(pid: number, start?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid && start === undefined) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return errnoCode(err) !== 'ESRCH';
  }
  // A killed process its parent has not reaped yet (a zombie) still answers signal 0, but it
  // runs nothing: its leftovers are stale. State is the field after the ")" ending the name.
  // With `start` (processStartTime when the record was made), a pid now naming another process
  // (pid reuse; pid 1 in every container) is not the owner either.
  try {
    const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    if (fields[0] === 'Z') return false;
    return start === undefined || fields[19] === start;
  } catch (err) {
    return errnoCode(err) !== 'ENOENT'; // gone meanwhile; without /proc, signal 0 is all we know
  }
}

/** /proc/PID/stat fields from the state on (field 3), after the name in parentheses. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * When a process started (clock ticks after boot, /proc/PID/stat field 22): with the pid it names
 * one process for good, where a pid alone may name another later. Undefined without /proc.
 */
export function processStartTime(pid: number = process.pid): string | undefined {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[19];
  } catch {
    return undefined;
  }
}

/**
 * `<pid>-<start>` of this process, for names of things it leaves while it runs (work
 * directories, containers): a later process with the same pid has another start time.
 */
export function processTag(): string {
  return `${process.pid}-${processStartTime() ?? '0'}`;
}
