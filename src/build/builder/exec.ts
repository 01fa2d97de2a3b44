// Running host programs the builder needs (mount, umount, cp, getfattr): argv only, no shell,
// output captured with a cap, a clear error naming the program when it fails.
import { spawn } from 'node:child_process';
import { BuildError, type BuildErrorCode } from '../errors.js';

/** What a finished program printed. */
export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of execProgram(). */
export interface ExecOptions {
  /** Error code thrown on a nonzero exit (default ROOTFS_FAILED). */
  readonly code?: BuildErrorCode;
  /** Context for the error message ("mounting the overlay of keystone"). */
  readonly what: string;
  /** Return the result instead of throwing on a nonzero exit. */
  readonly allowFailure?: boolean;
  readonly signal?: AbortSignal;
  readonly cwd?: string;
}

const CAP = 1 << 20;

/** Runs `cmd args` and waits; throws BuildError naming the program and its stderr on failure. */
export function execProgram(cmd: string, args: readonly string[], options: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd ? { cwd: options.cwd } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      if (stdout.length < CAP) stdout += d;
    });
    child.stderr.on('data', (d: string) => {
      if (stderr.length < CAP) stderr += d;
    });
    child.on('error', (err) => {
      reject(new BuildError(options.code ?? 'ROOTFS_FAILED', `${options.what}: cannot run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      const result = { code: code ?? 128, stdout, stderr };
      if (result.code === 0 || options.allowFailure) resolve(result);
      else {
        const detail = (stderr.trim() || stdout.trim() || (sig ? `killed by ${sig}` : `exit ${result.code}`)).split('\n').slice(-5).join('; ');
        reject(new BuildError(options.code ?? 'ROOTFS_FAILED', `${options.what}: ${cmd} ${args.slice(0, 3).join(' ')}${args.length > 3 ? ' ...' : ''} failed: ${detail}`));
      }
    });
  });
}
