// Shared by the runtime end-to-end tests: the host's OCI runtime (or why the tests skip), and
// the container ids it lists, read with the runtime itself rather than with lading's code.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { detectRuntime, RuntimeError, type RuntimeInfo } from '../../src/runtime/index.js';

const execFileP = promisify(execFile);

/** The runtime lading picks here, or `skip` with the reason no container can run at all. */
export async function testRuntime(): Promise<{ runtime?: RuntimeInfo; skip: string | false }> {
  try {
    return { runtime: await detectRuntime(), skip: false };
  } catch (err) {
    if (err instanceof RuntimeError && (err.code === 'NO_RUNTIME' || err.code === 'ROOTLESS_UNSUPPORTED')) {
      const skip = `no OCI runtime can run containers here: ${err.message}`;
      console.log(`# skipping runtime tests: ${skip}`);
      return { skip };
    }
    throw err;
  }
}

/** `<runtime> list -q`, tried again when a concurrent test's container vanishes while it lists. */
export async function containerIds(runtime: RuntimeInfo): Promise<string[]> {
  for (let n = 0; ; n++) {
    try {
      const { stdout } = await execFileP(runtime.path, ['list', '-q']);
      return stdout.split('\n').filter(Boolean);
    } catch (err) {
      if (n >= 5 || !/no such file or directory/i.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
