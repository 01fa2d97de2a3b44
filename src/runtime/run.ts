import { runWithRuntime, type RunOptions, type RunResult } from './container.js';
import { detectRuntime } from './detect.js';

/**
 * Runs one command in a root filesystem with an OCI runtime (runc or crun, whichever works here)
 * and waits for it. The rootfs is used in place: the command's writes stay in it, and nothing
 * else does (mount points and cwd lading had to create are removed again; see docs/runtime.md).
 *
 * - A nonzero exit is a value (`exitCode`); the caller decides what it means.
 * - `timeoutMs` kills the container (`timedOut: true`, `signal: 'SIGKILL'`).
 * - `signal` kills the container and rejects with RuntimeError ABORTED.
 * - The runtime failing to create or start the container is a RuntimeError (CREATE_FAILED,
 *   EXEC_FAILED, ...). In every case the container is deleted and the bundle dir removed.
 *
 * Several calls may run at once (each gets its own container id and bundle); give each its own
 * rootfs, since mount-point bookkeeping is per call.
 */
export async function runInRootfs(options: RunOptions): Promise<RunResult> {
  const runtime =
    typeof options.runtime === 'object'
      ? options.runtime
      : await detectRuntime({ runtime: options.runtime, tmpDir: options.tmpDir, signal: options.signal, logger: options.logger });
  return runWithRuntime(runtime, options);
}
