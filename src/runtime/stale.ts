// Containers left behind by a lading process that died without cleaning up (SIGKILL, the OOM
// killer, a lost machine session). `runc run` outlives its parent, so the container keeps running
// (a dpkg or a build step still writing into a root filesystem the next build wants to remove).
// lading names its containers `lading-<pid>-<start>-<hex>` (the process's start time, so a pid
// that now names another process does not count), so one whose process is gone is stale.
import { lstat, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describeError, isProcessAlive, nullLogger, type Logger } from '../core/index.js';
import { runtimeCommand } from './container.js';
import { findExecutable, RUNTIME_CANDIDATES } from './detect.js';

const ID = /^lading-(\d+)-(\d+)-[0-9a-f]+$/;
// Bundle directories and runtime-probe roots: `lading-<kind>-<pid>-<start>-<mkdtemp suffix>`.
const TEMP_DIR = /^lading-(?:bundle|probe)-(\d+)-(\d+)-[A-Za-z0-9]{6}$/;
// Earlier versions put epoch milliseconds where the start time (clock ticks since boot) is now.
const LEGACY_MS = 1e11;

/** The lading process that named a container (newContainerId): pid and start time, if lading named it. */
export function containerOwner(id: string): { pid: number; start?: string } | undefined {
  const m = ID.exec(id);
  if (!m) return undefined;
  return Number(m[2]) >= LEGACY_MS ? { pid: Number(m[1]) } : { pid: Number(m[1]), start: m[2] as string };
}

/** Options of removeStaleContainers. */
export interface RemoveStaleContainersOptions {
  /**
   * Runtime binaries to ask, names or absolute paths (default: `runtime` or the environment's
   * LADING_RUNTIME, then runc and crun; those found).
   */
  readonly runtimes?: readonly string[];
  /** The runtime builds were asked to use (as detectRuntime's option): a custom path keeps its own state. */
  readonly runtime?: string;
  /** Environment to read LADING_RUNTIME from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Where bundles and probe roots of dead lading processes are looked for (default [os.tmpdir()]). */
  readonly tmpDirs?: readonly string[];
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
}

/** A stale container that was (or could not be) removed. */
export interface StaleContainer {
  readonly runtime: string;
  readonly id: string;
  /** The pid of the lading process that started it (no longer running). */
  readonly owner: number;
  readonly removed: boolean;
  /** Why it could not be removed. */
  readonly error?: string;
}

/**
 * Kills and deletes the containers of lading processes that no longer exist, and removes their
 * bundle directories, then the bundles and runtime-probe roots such a process left in the temp
 * directories without a container (killed before `run` or after `delete`). Containers of running
 * lading processes (this one included) are left alone. A runtime that cannot list its containers
 * is skipped with a debug message.
 */
export async function removeStaleContainers(options: RemoveStaleContainersOptions = {}): Promise<StaleContainer[]> {
  const logger = (options.logger ?? nullLogger).child({ component: 'runtime' });
  const out: StaleContainer[] = [];
  const asked = new Set<string>();
  const requested = options.runtime ?? ((options.env ?? process.env).LADING_RUNTIME || undefined);
  for (const name of options.runtimes ?? [...(requested ? [requested] : []), ...RUNTIME_CANDIDATES]) {
    options.signal?.throwIfAborted();
    const path = await findExecutable(name);
    if (!path || asked.has(path)) continue;
    asked.add(path);
    // `runc list` fails when a container it is listing is deleted meanwhile (its state dir goes
    // between readdir and stat): try again a few times.
    let list = await runtimeCommand(path, ['list', '-q'], { signal: options.signal });
    for (let n = 0; n < 5 && !list.ok && /no such file or directory/i.test(list.output); n++) {
      await new Promise((r) => setTimeout(r, 50));
      list = await runtimeCommand(path, ['list', '-q'], { signal: options.signal });
    }
    if (!list.ok) {
      logger.debug('cannot list containers', { runtime: path, output: list.output });
      continue;
    }
    for (const id of list.stdout.split('\n').map((l) => l.trim())) {
      const who = containerOwner(id);
      if (!who || isProcessAlive(who.pid, who.start)) continue;
      const owner = who.pid;
      options.signal?.throwIfAborted();
      // The bundle path comes from the runtime's state; only lading's own bundle folders are removed.
      const state = await runtimeCommand(path, ['state', id], { signal: options.signal });
      let bundle: string | undefined;
      try {
        bundle = (JSON.parse(state.stdout) as { bundle?: unknown }).bundle as string | undefined;
      } catch {
        bundle = undefined;
      }
      const del = await runtimeCommand(path, ['delete', '--force', id], { signal: options.signal });
      if (!del.ok) {
        logger.warn(`could not remove container ${id} left by lading process ${owner}: ${del.output}`);
        out.push({ runtime: path, id, owner, removed: false, error: del.output });
        continue;
      }
      if (typeof bundle === 'string' && basename(bundle).startsWith('lading-bundle-')) {
        await rm(bundle, { recursive: true, force: true }).catch((err: unknown) => logger.warn(`removing ${bundle}: ${describeError(err)}`));
      }
      logger.info(`removed container ${id} left running by lading process ${owner} (no longer alive)`);
      out.push({ runtime: path, id, owner, removed: true });
    }
  }
  for (const dir of options.tmpDirs ?? [tmpdir()]) {
    options.signal?.throwIfAborted();
    await removeStaleTempDirs(dir, logger);
  }
  return out;
}

/**
 * Removes `lading-bundle-*` and `lading-probe-*` directories of dead lading processes from `dir`.
 * Never recursively: a bundle holds files, a probe root symlinks and empty mount points (its bind
 * mounts lived in the container's mount namespace). Anything else inside (a mount that leaked, a
 * directory with content) keeps the directory, with a debug message.
 */
async function removeStaleTempDirs(dir: string, logger: Logger): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const m = TEMP_DIR.exec(name);
    if (!m || isProcessAlive(Number(m[1]), m[2])) continue;
    const path = join(dir, name);
    try {
      for (const entry of await readdir(path)) {
        const p = join(path, entry);
        if ((await lstat(p)).isDirectory()) await rmdir(p);
        else await unlink(p);
      }
      await rmdir(path);
      logger.debug('removed a temp directory of a lading process no longer alive', { path });
    } catch (err) {
      logger.debug('cannot remove a temp directory of a lading process no longer alive', { path, error: describeError(err) });
    }
  }
}
