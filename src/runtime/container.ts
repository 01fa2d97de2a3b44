// One container run: bundle dir, config.json, `<runtime> run`, output capture, kill on timeout or
// abort, delete, and removal of everything lading put in the rootfs. Detection lives in detect.ts;
// this file takes an already chosen runtime so that the probe can use the very same path.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { describeError, errnoCode, nullLogger, processTag, type Logger } from '../core/index.js';
import { RuntimeError } from './errors.js';
import { acquireMountPoints, type MountPointLease, type MountPointRequest } from './mountpoints.js';
import { CappedLog, TailBuffer, type OutputSink } from './output.js';
import {
  buildRuntimeConfig,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  effectiveRlimits,
  normaliseCapabilities,
  serializeRuntimeConfig,
  standardMounts,
  type OciMount,
  type RlimitName,
  type RlimitValue,
} from './spec.js';
import { resolveUser, type UserSpec } from './user.js';

/** An OCI runtime binary that passed its probe on this host. */
export interface RuntimeInfo {
  /** `runc` or `crun` (the command-line dialect lading speaks to it). */
  name: 'runc' | 'crun';
  /** Absolute path of the binary. */
  path: string;
  /** First line of `<runtime> --version`. */
  version: string;
}

/** A host directory or file bind-mounted into the container. */
export interface BindMount {
  /** Absolute host path; must exist. */
  source: string;
  /** Absolute container path; created in the rootfs for the run if missing, and removed afterwards. */
  destination: string;
  /** Mount read-only (default false). */
  readonly?: boolean;
}

/** A tmpfs mounted in the container; its content is thrown away when the container ends. */
export interface TmpfsMount {
  destination: string;
  /** Mode of the tmpfs root; default 0o1777 for /tmp and /var/tmp, 0o755 otherwise. */
  mode?: number;
  /** Size cap in bytes (default: the kernel's, half of RAM). */
  sizeBytes?: number;
}

/** How to run one command in a rootfs. Only `rootfs` and `args` are required. */
export interface RunOptions {
  /** Absolute path of the root filesystem; used in place (no copy). The command's writes land in it. */
  rootfs: string;
  /** argv of the command; args[0] is looked up in the container's PATH. */
  args: readonly string[];
  /** Environment, as `NAME=value` strings or a record. PATH and HOME are added when missing. */
  env?: readonly string[] | Readonly<Record<string, string>>;
  /** Working directory inside the container (default `/`); created for the run if missing and removed afterwards if left empty. */
  cwd?: string;
  /** Who runs the command (default root). Names resolve in the rootfs's /etc/passwd and /etc/group. */
  user?: UserSpec;
  /** `none` (default): own network namespace with only loopback. `host`: the host's network, with the host's resolv.conf bind-mounted. */
  network?: 'none' | 'host';
  /** With network `host`: content for /etc/resolv.conf (default: the host's), or false to leave the rootfs's own file alone. */
  resolvConf?: string | false;
  /** Extra bind mounts, after the tmpfs mounts. */
  mounts?: readonly BindMount[];
  /** tmpfs mounts; default `/tmp` and `/run`, so a step leaves no junk there. Pass [] for none. */
  tmpfs?: readonly (string | TmpfsMount)[];
  /** Hostname in the container's own UTS namespace (default `lading`: fixed, so scripts that record it stay reproducible). */
  hostname?: string;
  /** Resource limits; default NOFILE soft 1024 / hard 20000. Hard limits are clamped to what this process may grant, NOFILE never above 20000. */
  rlimits?: Readonly<Partial<Record<RlimitName, RlimitValue>>>;
  /** Memory cgroup limit in bytes (default none). */
  memoryLimitBytes?: number;
  /** pids cgroup limit (default none). */
  pidsLimit?: number;
  /** Kill the container after this many ms; the result then has `timedOut: true`. */
  timeoutMs?: number;
  /** Kill and delete the container when fired; the call then rejects with RuntimeError ABORTED. */
  signal?: AbortSignal;
  /** Bytes fed to the command's stdin (default: /dev/null). */
  stdin?: Uint8Array | string;
  /** Receives stdout as it arrives. */
  stdout?: OutputSink;
  /** Receives stderr as it arrives. */
  stderr?: OutputSink;
  /** Also append stdout and stderr (interleaved as they arrive) to this file. */
  logFile?: string;
  /** Most bytes of output written to `logFile` (default 8 MiB); past it, a note, and the output's last 64 KiB at the end. */
  logLimitBytes?: number;
  /** How many bytes of the end of stdout and of stderr to keep for the result (default 64 KiB each). */
  tailBytes?: number;
  /** Mount the rootfs read-only (mounts still work). Default false. */
  readonlyRootfs?: boolean;
  /** Capability set (names with or without CAP_); default DEFAULT_CAPABILITIES (Docker's). */
  capabilities?: readonly string[];
  /** Set no_new_privs (setuid binaries cannot gain privileges). Default false, as in Docker. */
  noNewPrivileges?: boolean;
  /** Annotations written into config.json. */
  annotations?: Readonly<Record<string, string>>;
  /** Where bundle directories go (default os.tmpdir()). */
  tmpDir?: string;
  /**
   * The runtime: a RuntimeInfo from detectRuntime, or a name/path to probe and use. Default:
   * detectRuntime() (the option, then LADING_RUNTIME, then runc, then crun). Ignored by runWithRuntime.
   */
  runtime?: RuntimeInfo | string;
  logger?: Logger;
}

/** What happened to the command. A nonzero exit is a value, not an error: the caller decides. */
export interface RunResult {
  /** Exit status; 128+N when the command died from signal N (as a shell reports it). */
  exitCode: number;
  /** Set when lading killed the container (timeout): `SIGKILL`. */
  signal?: NodeJS.Signals;
  /** True when `timeoutMs` ran out and the container was killed. */
  timedOut: boolean;
  durationMs: number;
  /** The last `tailBytes` of stdout and stderr, as UTF-8. */
  stdoutTail: string;
  stderrTail: string;
  /** The last `tailBytes` of both together, in the order they arrived (as in the log). */
  outputTail: string;
  /** The container id used (unique per run). */
  containerId: string;
  /** The runtime that ran it. */
  runtime: RuntimeInfo['name'];
}

const DEFAULT_TAIL = 64 * 1024;
const DEFAULT_LOG_LIMIT = 8 << 20;
const DEFAULT_TMPFS: readonly string[] = ['/tmp', '/run'];
/**
 * A fresh container id: `lading-<pid>-<start>-<random>`. The pid and this process's start time
 * let removeStaleContainers tell a dead owner (a later process with the same pid is not it); 6
 * random bytes keep the ids of one process apart.
 */
export function newContainerId(): string {
  return `lading-${processTag()}-${randomBytes(6).toString('hex')}`;
}

/** Hard limits of this process (what a child may be granted), from /proc/self/limits. */
export function hostHardLimits(): Promise<Map<string, number>> {
  return readFile('/proc/self/limits', 'utf8').then(parseProcLimits, () => new Map<string, number>());
}

const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'CPU', 'Max file size': 'FSIZE', 'Max data size': 'DATA', 'Max stack size': 'STACK',
  'Max core file size': 'CORE', 'Max resident set': 'RSS', 'Max processes': 'NPROC', 'Max open files': 'NOFILE',
  'Max locked memory': 'MEMLOCK', 'Max address space': 'AS', 'Max file locks': 'LOCKS', 'Max pending signals': 'SIGPENDING',
  'Max msgqueue size': 'MSGQUEUE', 'Max nice priority': 'NICE', 'Max realtime priority': 'RTPRIO', 'Max realtime timeout': 'RTTIME',
};

/** Parses /proc/<pid>/limits into hard limits by rlimit name (Infinity for "unlimited"). */
export function parseProcLimits(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = m ? LIMIT_NAMES[m[1] as string] : undefined;
    if (!m || !name) continue;
    const hard = m[3] === 'unlimited' ? Infinity : Number(m[3]);
    if (!Number.isNaN(hard)) out.set(name, hard);
  }
  return out;
}

function invalid(what: string): never {
  throw new RuntimeError('INVALID_OPTIONS', what);
}

function buildEnv(env: RunOptions['env'], home: string): string[] {
  const list = env === undefined ? [] : Array.isArray(env) ? [...(env as readonly string[])] : Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const names = new Set<string>();
  for (const e of list) {
    const eq = e.indexOf('=');
    if (eq <= 0 || e.includes('\0')) invalid(`env entry ${JSON.stringify(e)}: expected NAME=value`);
    names.add(e.slice(0, eq));
  }
  if (!names.has('PATH')) list.push(`PATH=${DEFAULT_PATH}`);
  if (!names.has('HOME')) list.push(`HOME=${home}`);
  return list;
}

function tmpfsMount(t: string | TmpfsMount): OciMount {
  const spec = typeof t === 'string' ? { destination: t } : t;
  if (!posix.isAbsolute(spec.destination)) invalid(`tmpfs ${spec.destination}: must be an absolute container path`);
  const mode = spec.mode ?? (spec.destination === '/tmp' || spec.destination === '/var/tmp' ? 0o1777 : 0o755);
  const options = ['nosuid', 'nodev', `mode=${mode.toString(8)}`];
  if (spec.sizeBytes !== undefined) options.push(`size=${spec.sizeBytes}`);
  return { destination: spec.destination, type: 'tmpfs', source: 'tmpfs', options };
}

function sinkWrite(sink: OutputSink | undefined, chunk: Buffer, pause: () => void, resume: () => void): void {
  if (!sink) return;
  if (typeof sink === 'function') {
    sink(chunk);
    return;
  }
  if (!sink.write(chunk)) {
    pause();
    sink.once('drain', resume);
  }
}

/** What a runtime subcommand (`kill`, `delete`, `list`, `state`) said. */
export interface CommandResult {
  ok: boolean;
  stdout: string;
  /** stdout and stderr, for messages (the error's message when both are empty). */
  output: string;
}

/** Runs one runtime subcommand; never rejects (a failure is `ok: false`). */
export function runtimeCommand(runtimePath: string, args: readonly string[], options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(runtimePath, args, { timeout: options.timeoutMs ?? 15_000, encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout, output: `${stdout}${stderr}`.trim() || (err ? err.message : '') });
    });
  });
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

interface LogEntry {
  level?: string;
  msg?: string;
}

async function runtimeErrors(logPath: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(logPath, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as LogEntry;
      if ((e.level === 'error' || e.level === 'fatal') && e.msg) out.push(e.msg);
    } catch {
      out.push(line.trim());
    }
  }
  return out;
}

/**
 * Runs one command in `options.rootfs` with an already chosen runtime (from detectRuntime).
 * Behaves exactly as runInRootfs, minus the detection; `options.runtime` is ignored.
 */
export async function runWithRuntime(runtime: RuntimeInfo, options: RunOptions): Promise<RunResult> {
  const logger = (options.logger ?? nullLogger).child({ component: 'runtime' });
  const { rootfs, signal } = options;
  const what = `running ${JSON.stringify(options.args[0] ?? '')} in ${rootfs}`;
  if (signal?.aborted) throw new RuntimeError('ABORTED', `${what}: aborted`, { cause: signal.reason });

  // Validate everything before touching the disk.
  if (!isAbsolute(rootfs)) invalid(`${what}: rootfs must be an absolute path`);
  if (!Array.isArray(options.args) || options.args.length === 0) invalid(`${what}: args must hold at least the command`);
  for (const a of options.args) if (typeof a !== 'string' || a.includes('\0')) invalid(`${what}: args must be strings without NUL bytes`);
  const cwd = options.cwd ?? '/';
  if (!posix.isAbsolute(cwd)) invalid(`${what}: cwd ${cwd} must be an absolute container path`);
  const network = options.network ?? 'none';
  if (network !== 'none' && network !== 'host') invalid(`${what}: network must be 'none' or 'host', got ${String(network)}`);
  if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) invalid(`${what}: timeoutMs must be positive`);
  // Node's timers hold at most 2^31-1 ms (~24.8 days); a longer one fires at once.
  if (options.timeoutMs !== undefined && options.timeoutMs > 2 ** 31 - 1) invalid(`${what}: timeoutMs must be at most ${2 ** 31 - 1} (about 24.8 days)`);
  for (const [n, v] of [['memoryLimitBytes', options.memoryLimitBytes], ['pidsLimit', options.pidsLimit]] as const) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) invalid(`${what}: ${n} must be a positive integer`);
  }
  const hostname = options.hostname ?? 'lading';
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) invalid(`${what}: hostname ${JSON.stringify(hostname)} is not a valid host name`);
  const capabilities = normaliseCapabilities(options.capabilities ?? DEFAULT_CAPABILITIES);
  try {
    if (!(await stat(rootfs)).isDirectory()) throw new RuntimeError('ROOTFS_INVALID', `${what}: the rootfs is not a directory`);
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    throw new RuntimeError('ROOTFS_INVALID', `${what}: the rootfs does not exist (${errnoCode(err) ?? describeError(err)})`, { cause: err });
  }
  const binds: OciMount[] = [];
  for (const m of options.mounts ?? []) {
    if (!isAbsolute(m.source)) invalid(`${what}: mount source ${m.source} must be an absolute host path`);
    if (!posix.isAbsolute(m.destination)) invalid(`${what}: mount destination ${m.destination} must be an absolute container path`);
    try {
      await stat(m.source);
    } catch (err) {
      throw new RuntimeError('MOUNT_SOURCE_MISSING', `${what}: bind mount source ${m.source} does not exist`, { cause: err });
    }
    binds.push({ destination: m.destination, type: 'bind', source: m.source, options: ['rbind', m.readonly ? 'ro' : 'rw'] });
  }
  const tmpfs = (options.tmpfs ?? DEFAULT_TMPFS).map(tmpfsMount);
  const user = await resolveUser(rootfs, options.user);
  const env = buildEnv(options.env, user.home);
  const rlimits = effectiveRlimits(options.rlimits, await hostHardLimits());
  const cgroupNamespace = existsSync('/proc/self/ns/cgroup');

  const id = newContainerId();
  const started = performance.now();
  let bundle: string | undefined;
  let lease: MountPointLease | undefined;
  let logStream: WriteStream | undefined;
  let result: RunResult | undefined;
  let cleanExit = false;
  let failure: unknown;
  try {
    try {
      bundle = await mkdtemp(join(options.tmpDir ?? tmpdir(), `lading-bundle-${processTag()}-`));
    } catch (err) {
      throw new RuntimeError('IO', `${what}: cannot create a bundle directory: ${describeError(err)}`, { cause: err });
    }
    const extra: OciMount[] = [...tmpfs];
    if (network === 'host' && options.resolvConf !== false) {
      const content = options.resolvConf ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
      const resolvPath = join(bundle, 'resolv.conf');
      await writeFile(resolvPath, content, { mode: 0o644 });
      extra.push({ destination: '/etc/resolv.conf', type: 'bind', source: resolvPath, options: ['rbind', 'ro'] });
    }
    extra.push(...binds);
    const requests: MountPointRequest[] = [];
    for (const m of [...standardMounts(cgroupNamespace), ...extra]) {
      let kind: 'dir' | 'file' = 'dir';
      if (m.type === 'bind' && m.source) kind = (await stat(m.source)).isDirectory() ? 'dir' : 'file';
      const mode = m.type === 'tmpfs' ? m.options?.find((o) => o.startsWith('mode='))?.slice('mode='.length) : undefined;
      requests.push({ destination: m.destination, kind, ...(mode !== undefined ? { mode: Number.parseInt(mode, 8) } : {}) });
    }
    requests.push({ destination: cwd, kind: 'dir' });
    lease = await acquireMountPoints(rootfs, requests);

    const config = buildRuntimeConfig({
      rootfs,
      readonlyRootfs: options.readonlyRootfs ?? false,
      args: options.args,
      env,
      cwd,
      user,
      hostname,
      network,
      extraMounts: extra,
      capabilities,
      rlimits,
      noNewPrivileges: options.noNewPrivileges ?? false,
      cgroupNamespace,
      memoryLimitBytes: options.memoryLimitBytes,
      pidsLimit: options.pidsLimit,
      annotations: options.annotations,
    });
    await writeFile(join(bundle, 'config.json'), serializeRuntimeConfig(config), { mode: 0o600 });
    if (options.logFile) {
      logStream = createWriteStream(options.logFile, { flags: 'a' });
      await new Promise<void>((resolve, reject) => {
        logStream?.once('open', () => resolve());
        logStream?.once('error', (err) => reject(new RuntimeError('IO', `${what}: cannot open log file ${options.logFile}: ${err.message}`, { cause: err })));
      });
    }
    ({ result, cleanExit } = await execute(runtime, {
      id,
      bundle,
      what,
      options,
      logStream,
      logger,
      started,
    }));
  } catch (err) {
    failure = err;
  } finally {
    const cleanupErrors: string[] = [];
    // `<runtime> run` deletes its container when it exits normally; after anything else
    // (kill, runtime error, the runtime itself killed) make sure it is gone.
    if (!cleanExit) {
      const del = await runtimeCommand(runtime.path, ['delete', '--force', id]);
      if (!del.ok && !/not exist|not found|no such/i.test(del.output)) cleanupErrors.push(`deleting container ${id}: ${del.output}`);
    }
    if (lease) {
      try {
        await lease.release();
      } catch (err) {
        cleanupErrors.push(`removing mount points from ${rootfs}: ${describeError(err)}`);
      }
    }
    if (bundle) await rm(bundle, { recursive: true, force: true }).catch((err: unknown) => cleanupErrors.push(`removing ${bundle}: ${describeError(err)}`));
    if (logStream) {
      const s = logStream;
      await new Promise<void>((resolve) => s.end(() => resolve()));
    }
    if (cleanupErrors.length > 0 && failure === undefined) {
      failure = new RuntimeError('IO', `${what}: cleaning up after container ${id}: ${cleanupErrors.join('; ')}`);
    } else if (cleanupErrors.length > 0) {
      logger.warn('cleanup after a failed container run also failed', { id, problems: cleanupErrors });
    }
  }
  if (failure !== undefined) throw failure;
  return result as RunResult;
}

interface ExecuteContext {
  id: string;
  bundle: string;
  what: string;
  options: RunOptions;
  logStream: WriteStream | undefined;
  logger: Logger;
  started: number;
}

async function execute(runtime: RuntimeInfo, ctx: ExecuteContext): Promise<{ result: RunResult; cleanExit: boolean }> {
  const { id, bundle, what, options, logStream, logger } = ctx;
  const runtimeLog = join(bundle, 'runtime.log');
  const tailBytes = options.tailBytes ?? DEFAULT_TAIL;
  const outTail = new TailBuffer(tailBytes);
  const errTail = new TailBuffer(tailBytes);
  const bothTail = new TailBuffer(tailBytes);
  const log = logStream ? new CappedLog(logStream, options.logLimitBytes ?? DEFAULT_LOG_LIMIT) : undefined;
  const logTail = new TailBuffer(log ? DEFAULT_TAIL : 0);
  if (options.signal?.aborted) throw new RuntimeError('ABORTED', `${what}: aborted before container ${id} started`, { cause: options.signal.reason });
  logger.debug('starting container', { id, runtime: runtime.name, args: options.args });
  const child = spawn(runtime.path, [`--log=${runtimeLog}`, '--log-format=json', 'run', '--bundle', bundle, id], {
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let closed = false;
  const closedPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (err) => reject(new RuntimeError('CREATE_FAILED', `${what}: cannot start ${runtime.path}: ${err.message}`, { cause: err })));
    child.once('close', (code, sig) => {
      closed = true;
      resolve({ code, signal: sig });
    });
  });
  closedPromise.catch(() => undefined);

  const wire = (stream: Readable | null, tail: TailBuffer, sink: OutputSink | undefined) => {
    if (!stream) return;
    stream.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      bothTail.push(chunk);
      logTail.push(chunk);
      log?.write(chunk);
      sinkWrite(sink, chunk, () => stream.pause(), () => stream.resume());
    });
  };
  wire(child.stdout, outTail, options.stdout);
  wire(child.stderr, errTail, options.stderr);
  if (child.stdin) {
    child.stdin.on('error', () => undefined); // EPIPE when the command does not read its input
    child.stdin.end(typeof options.stdin === 'string' ? Buffer.from(options.stdin) : options.stdin);
  }

  let stopReason: 'timeout' | 'abort' | undefined;
  let killing: Promise<void> | undefined;
  const killContainer = async () => {
    const deadline = Date.now() + 10_000;
    while (!closed && Date.now() < deadline) {
      // Fails while the container is still being created; then try again shortly.
      const r = await runtimeCommand(runtime.path, ['kill', id, 'KILL'], { timeoutMs: 5_000 });
      await Promise.race([closedPromise.catch(() => undefined), delay(r.ok ? 1_000 : 25)]);
    }
    if (!closed) {
      logger.warn('container did not stop after KILL; killing the runtime process', { id });
      child.kill('SIGKILL');
    }
  };
  const stop = (reason: 'timeout' | 'abort') => {
    if (stopReason || closed) return;
    stopReason = reason;
    logger.debug('stopping container', { id, reason });
    killing = killContainer();
  };
  const timer = options.timeoutMs !== undefined ? setTimeout(() => stop('timeout'), options.timeoutMs) : undefined;
  const onAbort = () => stop('abort');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await closedPromise;
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await killing;
  }
  log?.finish(logTail.text());
  const durationMs = Math.round(performance.now() - ctx.started);
  if (stopReason === 'abort') throw new RuntimeError('ABORTED', `${what}: aborted; container ${id} killed`, { cause: options.signal?.reason });
  const exitCode = exit.code ?? 128 + 9;
  if (exitCode !== 0 && stopReason === undefined) {
    const errors = await runtimeErrors(runtimeLog);
    if (errors.length > 0) {
      const message = errors.join('; ');
      // runc: 'unable to start container process: exec: "x": ...'; crun: 'executable file `x` not found ...'.
      const code = /start container process: exec|exec: "|executable file/i.test(message) ? 'EXEC_FAILED' : 'CREATE_FAILED';
      throw new RuntimeError(code, `${what} with ${runtime.name}: ${message}`, {
        hint: code === 'EXEC_FAILED' ? 'check that the command exists in the rootfs and is executable for the user' : 'see docs/runtime.md',
      });
    }
  }
  const result: RunResult = {
    exitCode,
    timedOut: stopReason === 'timeout',
    durationMs,
    stdoutTail: outTail.text(),
    stderrTail: errTail.text(),
    outputTail: bothTail.text(),
    containerId: id,
    runtime: runtime.name,
  };
  if (stopReason === 'timeout') result.signal = 'SIGKILL';
  logger.debug('container finished', { id, exitCode, durationMs, timedOut: result.timedOut });
  return { result, cleanExit: exit.code === 0 && stopReason === undefined };
}
