// The setup the `lading apt ...` CLI tests share: a scratch directory for the test file, the CLI
// run in it, and a lock of `curl` (without the Essential set) resolved from a local signed
// repository of every cached .deb. The directory and the repository go after the file's tests.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedDebs, startAptRepo, type AptRepo } from './apt-repo.js';
import { runCli, type CliRun } from './store.js';

export interface AptCliScratch {
  readonly work: string;
  /** `lading ARGS` in process, with `work` as the current directory. */
  lading(args: readonly string[]): Promise<CliRun>;
  /** Starts the repository and resolves `curl --no-essential` into `<work>/lock.json` with `cache`. */
  curlLock(cache: string): Promise<{ repo: AptRepo; lock: string }>;
  /** Stops the repository: later runs can only use the cache. */
  closeRepo(): Promise<void>;
}

/** Creates the scratch directory (prefix e.g. `lading-apt-clean-`) and registers its removal. */
export function aptCliScratch(prefix: string): AptCliScratch {
  const work = mkdtempSync(join(tmpdir(), prefix));
  let repo: AptRepo | undefined;
  after(async () => {
    await repo?.close();
    rmSync(work, { recursive: true, force: true });
  });
  const lading = (args: readonly string[]) => runCli(args, { cwd: work });
  return {
    work,
    lading,
    async curlLock(cache) {
      repo = await startAptRepo({ debs: await cachedDebs() });
      const lock = join(work, 'lock.json');
      const resolved = await lading(['--cache', cache, 'apt', 'resolve', 'curl', '--no-essential', '--sources', repo.sourcesFile, '--lock-out', lock]);
      assert.equal(resolved.code, 0, resolved.stderr);
      return { repo, lock };
    },
    async closeRepo() {
      await repo?.close();
      repo = undefined;
    },
  };
}
