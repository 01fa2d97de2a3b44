// Which OCI runtime to use: the one asked for (option or LADING_RUNTIME), else runc, else crun.
// A runtime counts as working only after it ran a real container on this host; crun 1.8, for one,
// is installed on hosts whose hybrid cgroup layout it refuses. Verdicts are cached per process.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lstat, mkdir, mkdtemp, readlink, rmdir, stat, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import { describeError, nullLogger, processTag, type Logger } from '../core/index.js';
import { runWithRuntime, type BindMount, type RuntimeInfo } from './container.js';
import { RuntimeError } from './errors.js';

/** Runtimes tried, in order, when none is asked for. */
export const RUNTIME_CANDIDATES: readonly string[] = ['runc', 'crun'];

/** Options of detectRuntime. */
export interface DetectRuntimeOptions {
  /** A runtime name looked up on PATH (`runc`, `crun`) or an absolute path. Overrides LADING_RUNTIME. */
  runtime?: string;
  /** Runtimes to try in order when none is asked for (names or absolute paths); default RUNTIME_CANDIDATES. */
  candidates?: readonly string[];
  /** Environment to read PATH and LADING_RUNTIME from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where the probe's bundle and rootfs go (default os.tmpdir()). */
  tmpDir?: string;
  signal?: AbortSignal;
  logger?: Logger;
}

type Verdict = { ok: true; info: RuntimeInfo } | { ok: false; reason: string };
const verdicts = new Map<string, Promise<Verdict>>();

/** Directories searched after PATH: runc lives in /usr/sbin on Debian, which a user's PATH may lack. */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The absolute path of an executable named `name` on PATH (then the sbin directories), if any. */
export async function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (name.includes('/')) return isAbsolute(name) && (await isExecutable(name)) ? name : undefined;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter((d) => isAbsolute(d)), ...EXTRA_DIRS];
  for (const dir of new Set(dirs)) {
    const p = join(dir, name);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

function runtimeVersion(path: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(path, ['--version'], { timeout: 10_000, encoding: 'utf8' }, (err, stdout) => {
      resolve(err ? 'unknown' : (stdout.split('\n')[0]?.trim() ?? 'unknown'));
    });
  });
}

/**
 * A throwaway rootfs made of the host's own /usr (and /bin, /lib... as symlinks or binds), so the
 * probe runs a real /bin/sh without any image. Removed entry by entry with rmdir/unlink, never
 * recursively: should a bind mount ever leak out of the container, nothing of the host is deleted.
 */
async function makeProbeRootfs(parent: string): Promise<{ rootfs: string; mounts: BindMount[]; remove: () => Promise<void> }> {
  const rootfs = await mkdtemp(join(parent, `lading-probe-${processTag()}-`));
  const mounts: BindMount[] = [];
  const made: Array<{ path: string; dir: boolean }> = [];
  for (const name of ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const host = `/${name}`;
    let st;
    try {
      st = await lstat(host);
    } catch {
      continue;
    }
    const inside = join(rootfs, name);
    if (st.isSymbolicLink()) {
      await symlink(await readlink(host), inside);
      made.push({ path: inside, dir: false });
    } else if (st.isDirectory()) {
      await mkdir(inside);
      made.push({ path: inside, dir: true });
      mounts.push({ source: host, destination: host, readonly: true });
    }
  }
  const remove = async () => {
    for (const m of made.reverse()) await (m.dir ? rmdir(m.path) : unlink(m.path)).catch(() => undefined);
    await rmdir(rootfs).catch(() => undefined);
  };
  return { rootfs, mounts, remove };
}

async function probe(path: string, options: DetectRuntimeOptions): Promise<Verdict> {
  const name: RuntimeInfo['name'] = basename(path).includes('crun') ? 'crun' : 'runc';
  const info: RuntimeInfo = { name, path, version: await runtimeVersion(path) };
  const logger = options.logger ?? nullLogger;
  let probeRootfs: Awaited<ReturnType<typeof makeProbeRootfs>> | undefined;
  try {
    probeRootfs = await makeProbeRootfs(options.tmpDir ?? tmpdir());
    const res = await runWithRuntime(info, {
      rootfs: probeRootfs.rootfs,
      args: ['/bin/sh', '-c', 'echo lading-probe'],
      mounts: probeRootfs.mounts,
      readonlyRootfs: true,
      timeoutMs: 30_000,
      tmpDir: options.tmpDir,
      signal: options.signal,
    });
    if (res.exitCode !== 0 || res.stdoutTail.trim() !== 'lading-probe') {
      return { ok: false, reason: `probe container exited ${res.exitCode}${res.timedOut ? ' (timed out)' : ''}: ${res.stderrTail.trim() || res.stdoutTail.trim() || 'no output'}` };
    }
    logger.debug('OCI runtime works', { runtime: info.name, path, version: info.version });
    return { ok: true, info };
  } catch (err) {
    if (err instanceof RuntimeError && err.code === 'ABORTED') throw err;
    return { ok: false, reason: describeError(err) };
  } finally {
    await probeRootfs?.remove();
  }
}

function cachedProbe(path: string, options: DetectRuntimeOptions): Promise<Verdict> {
  let v = verdicts.get(path);
  if (!v) {
    v = probe(path, options);
    verdicts.set(path, v);
    // An aborted probe says nothing about the runtime: forget it so the next call probes again.
    v.catch(() => verdicts.delete(path));
  }
  return v;
}

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new RuntimeError('ROOTLESS_UNSUPPORTED', `running containers as uid ${process.getuid()}: lading's runtime module needs root`, {
      hint: 'run lading as root (maintainer scripts chown files to many users); see docs/runtime.md',
    });
  }
}

/**
 * The OCI runtime to use on this host. With `runtime` (or LADING_RUNTIME) only that one is
 * considered; otherwise runc, then crun, the first that runs a trivial container wins. Each
 * binary is probed once per process. Throws RuntimeError NO_RUNTIME naming every candidate and
 * why it failed, or RUNTIME_UNUSABLE for a runtime that was asked for.
 */
export async function detectRuntime(options: DetectRuntimeOptions = {}): Promise<RuntimeInfo> {
  requireRoot();
  const env = options.env ?? process.env;
  const requested = options.runtime ?? (env.LADING_RUNTIME || undefined);
  if (requested !== undefined) {
    const source = options.runtime !== undefined ? 'the runtime option' : 'LADING_RUNTIME';
    const path = await findExecutable(requested, env);
    if (!path) throw new RuntimeError('RUNTIME_UNUSABLE', `OCI runtime ${JSON.stringify(requested)} (from ${source}): not found on PATH or not executable`);
    const v = await cachedProbe(path, options);
    if (!v.ok) throw new RuntimeError('RUNTIME_UNUSABLE', `OCI runtime ${path} (from ${source}) cannot run containers here: ${v.reason}`, { hint: 'see docs/runtime.md' });
    return v.info;
  }
  const failures: string[] = [];
  for (const name of options.candidates ?? RUNTIME_CANDIDATES) {
    const path = await findExecutable(name, env);
    if (!path) {
      failures.push(`${name}: not found${name.includes('/') ? '' : ' on PATH'}`);
      continue;
    }
    const v = await cachedProbe(path, options);
    if (v.ok) return v.info;
    failures.push(`${name} (${path}): ${v.reason}`);
  }
  throw new RuntimeError('NO_RUNTIME', `no OCI runtime works on this host: ${failures.join('; ')}`, {
    hint: 'install runc (apt-get install runc), or set LADING_RUNTIME to a working runtime; see docs/runtime.md',
  });
}
