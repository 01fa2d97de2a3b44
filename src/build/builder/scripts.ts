// Everything that runs inside an image while it is built, through src/runtime (runc or crun):
// maintainer scripts (preinsts, file-trigger activations, `dpkg --configure -a`), the image's
// `run` steps, and the pass that byte-compiles the standard library's .pyc files again with a
// fixed hash seed. The order and the environment follow mmdebstrap and debootstrap
// (debian.md sections 9 and 10); docs/build.md "Maintainer scripts" explains each choice.
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { describeError, errnoCode } from '../../core/index.js';
import { architectureSupport, runWithRuntime, type RunResult, type RuntimeInfo } from '../../runtime/index.js';
import { BuildError, type BuildErrorCode } from '../errors.js';
import type { RunStepSpec } from '../config/types.js';
import { resolveInRoot } from './paths.js';

/** PATH of every container lading runs while building (moby's DefaultPathEnvUnix). */
export const BUILD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Environment of maintainer scripts: no questions (debconf), a locale every glibc has, and a
 * fixed Python hash seed so py3compile's byte code (frozenset constants, marshal references)
 * comes out the same in every build.
 */
export const SCRIPT_ENV: Readonly<Record<string, string>> = {
  // SOURCE_DATE_EPOCH (the image's epoch) is added per image: tools that honour it (fontconfig's
  // cache checksums, useradd's dates, gzip, man-db...) then write the same bytes in every build.
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
  LC_ALL: 'C.UTF-8',
  PYTHONHASHSEED: '0',
  PATH: BUILD_PATH,
  HOME: '/root',
};

/** What the builder needs to run something in an image. */
export interface ContainerTarget {
  readonly image: string;
  readonly arch: string;
  /** The image's root filesystem (a plain directory or a mounted overlay). */
  readonly rootfs: string;
  readonly runtime: () => Promise<RuntimeInfo>;
  /** All output goes here too. */
  readonly logFile: string;
  /** Where bundle and helper directories go. */
  readonly tmpDir: string;
  readonly signal?: AbortSignal;
  /** Appends a line to the image's log. */
  readonly note: (line: string) => void;
  /** The image's SOURCE_DATE_EPOCH, known once its packages are unpacked. */
  epoch?: number;
}

/** SCRIPT_ENV plus the image's SOURCE_DATE_EPOCH. */
function scriptEnv(t: ContainerTarget): Record<string, string> {
  return { ...SCRIPT_ENV, ...(t.epoch !== undefined ? { SOURCE_DATE_EPOCH: String(t.epoch) } : {}) };
}

/** Refuses to run anything for an architecture this host cannot execute (names image and what). */
export async function checkArchitecture(t: ContainerTarget, what: string): Promise<void> {
  const support = await architectureSupport(t.arch, { rootfs: t.rootfs });
  if (!support.supported) {
    throw new BuildError('FOREIGN_ARCH', `image ${t.image} (${t.arch}): cannot run ${what}: ${support.reason}`, {
      hint: 'build this architecture on a host that runs it, register qemu-user-static with binfmt_misc, or drop the step (maintainerScripts: skip for package-only images)',
    });
  }
}

const POLICY = '/usr/sbin/policy-rc.d';
const POLICY_SCRIPT = '#!/bin/sh\n# lading: no service starts while an image is built\nexit 101\n';

/**
 * Runs `fn` with a policy-rc.d that answers 101 ("action not allowed"), so invoke-rc.d and
 * deb-systemd-invoke start no service during the build (debootstrap, mmdebstrap). A policy-rc.d
 * the image already has is left alone, and so is one that `fn` writes (a run step's own); the
 * temporary one, and any directory made for it, never reaches a layer.
 */
export async function withPolicyRcd<T>(rootfs: string, fn: () => Promise<T>): Promise<T> {
  const path = resolveInRoot(rootfs, POLICY);
  let exists = true;
  try {
    lstatSync(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    exists = false;
  }
  if (exists) return fn();
  const made: string[] = []; // directories created for it, outermost first
  for (let dir = dirname(path); !existsSync(dir); dir = dirname(dir)) made.unshift(dir);
  for (const dir of made) mkdirSync(dir, { mode: 0o755 });
  writeFileSync(path, POLICY_SCRIPT, { mode: 0o755 });
  chmodSync(path, 0o755);
  try {
    return await fn();
  } finally {
    let ours = false;
    try {
      ours = lstatSync(path).isFile() && readFileSync(path, 'utf8') === POLICY_SCRIPT;
    } catch {
      // removed or replaced by fn: not ours any more
    }
    if (ours) rmSync(path, { force: true });
    for (const dir of made.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        break; // fn put something there: keep it and its parents
      }
    }
  }
}

/** Options of runInImage(). */
export interface RunInImageOptions {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly cwd?: string;
  readonly network?: boolean;
  readonly timeoutMs?: number;
  /** Host directory bind-mounted read-only at /.lading-build. */
  readonly helperDir?: string;
  /** Also receives the output (stdout and stderr) as it arrives. */
  readonly watch?: FirstScriptError;
}

/**
 * The output lines before dpkg's first "error processing package": where the failing script said
 * why. The result's tail holds only the end, where dpkg lists the packages that failed after it.
 */
export class FirstScriptError {
  private readonly recent: string[] = [];
  private readonly decoders = [new StringDecoder('utf8'), new StringDecoder('utf8')];
  private readonly partial = ['', ''];
  /** The lines before the first error (up to 12) and the error line; undefined while none. */
  lines: string[] | undefined;

  /** A sink for stream 0 (stdout) or 1 (stderr). */
  sink(stream: 0 | 1): (chunk: Buffer) => void {
    return (chunk) => this.push(stream, this.decoders[stream]!.write(chunk));
  }

  private push(stream: 0 | 1, text: string): void {
    if (this.lines) return;
    const parts = (this.partial[stream] + text).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) {
      if (/^dpkg: error processing (?:package|archive) /.test(line)) {
        this.lines = [...this.recent.slice(-12), line];
        return;
      }
      if (line.trim() === '') continue;
      this.recent.push(line);
      if (this.recent.length > 12) this.recent.shift();
    }
  }
}

/**
 * /etc/hosts of build containers (bind-mounted read-only; nothing stays in the image): the
 * container's fixed host name resolves, as in a `docker build` RUN step, so scripts that call
 * `hostname -i` or `hostname -f` work and get the same answer in every build.
 */
export const BUILD_HOSTS = '127.0.0.1\tlocalhost\n127.0.1.1\tlading\n::1\tlocalhost ip6-localhost ip6-loopback\n';

function hostsFile(t: ContainerTarget): string {
  const path = join(t.tmpDir, 'hosts');
  if (!existsSync(path)) writeFileSync(path, BUILD_HOSTS, { mode: 0o644 });
  return path;
}

/** One container run in the image, output appended to its log. */
export async function runInImage(t: ContainerTarget, o: RunInImageOptions): Promise<RunResult> {
  const runtime = await t.runtime();
  const mounts = [{ source: hostsFile(t), destination: '/etc/hosts', readonly: true }];
  if (o.helperDir) mounts.push({ source: o.helperDir, destination: '/.lading-build', readonly: true });
  return runWithRuntime(runtime, {
    rootfs: t.rootfs,
    args: o.args,
    env: o.env,
    ...(o.user ? { user: o.user } : {}),
    ...(o.cwd ? { cwd: o.cwd } : {}),
    network: o.network ? 'host' : 'none',
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    hostname: 'lading',
    mounts,
    logFile: t.logFile,
    tmpDir: t.tmpDir,
    tailBytes: 4096,
    ...(o.watch ? { stdout: o.watch.sink(0), stderr: o.watch.sink(1) } : {}),
    ...(t.signal ? { signal: t.signal } : {}),
  });
}

/** " (SIGSEGV)" for 139: a shell reports a child killed by signal N as 128 + N. */
function signalNote(exitCode: number): string {
  if (exitCode <= 128 || exitCode > 128 + 64) return '';
  const name = Object.entries(osConstants.signals).find(([, n]) => n === exitCode - 128)?.[0];
  return name ? ` (${name})` : '';
}

function failure(code: BuildErrorCode, t: ContainerTarget, what: string, r: RunResult, timeoutS?: number, first?: FirstScriptError): BuildError {
  // The output's last lines as they came (stdout and stderr interleaved, as in the log).
  const last = r.outputTail.trim().split('\n').filter(Boolean).slice(-10);
  // Where the first failing script said why, when the tail no longer shows it.
  const cause = first?.lines && !last.includes(first.lines.at(-1) ?? '') ? [...first.lines, '...'] : [];
  const tail = [...cause, ...last].join('\n    ');
  const why = r.timedOut ? `timed out after ${timeoutS ?? '?'} s` : `exited with ${r.exitCode}${signalNote(r.exitCode)}`;
  // dpkg names the packages whose scripts failed: put them on the first line (the summary shows it).
  const pkgs = [...new Set([...`${r.stderrTail}\n${r.stdoutTail}`.matchAll(/error processing package (\S+) \(--configure\)/g)].map((m) => m[1]))];
  const which = pkgs.length ? ` (failed: ${pkgs.join(', ')})` : '';
  return new BuildError(code, `image ${t.image} (${t.arch}): ${what} ${why}${which}${tail ? `:\n    ${tail}` : ''}\n  log: ${t.logFile}`);
}

/** A package whose maintainer scripts are to run, as the unpacker reported it. */
export interface ScriptPackage {
  readonly name: string;
  readonly architecture: string;
  readonly multiArch?: string;
  readonly scripts: readonly string[];
}

function infoName(p: ScriptPackage): string {
  return p.multiArch === 'same' ? `${p.name}:${p.architecture}` : p.name;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function helperDir(t: ContainerTarget, name: string): string {
  const dir = join(t.tmpDir, `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

// DEBCONF_PACKAGE: debconf learns a preinst's package from dpkg's tmp.ci/control, which this
// call has not; without it the questions a preinst registers are owned by "unknown".
const PREINST = `lading_preinst() {
  f=/var/lib/dpkg/info/$3.preinst
  [ -e "$f" ] || return 0
  echo "lading: preinst install $1"
  DEBCONF_PACKAGE=$1 DPKG_MAINTSCRIPT_PACKAGE=$1 DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 DPKG_MAINTSCRIPT_ARCH=$2 DPKG_MAINTSCRIPT_NAME=preinst "$f" install || {
    rc=$?; echo "lading: preinst of $1 exited with $rc" >&2; return $rc
  }
}
export DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= DPKG_MAINTSCRIPT_DEBUG=0
export DPKG_RUNNING_VERSION="$(dpkg-query -W -f='\${Version}' dpkg 2>/dev/null || true)"
`;

function preinstCalls(packages: readonly ScriptPackage[]): string {
  return packages.map((p) => `lading_preinst ${shellQuote(p.name)} ${shellQuote(p.architecture)} ${shellQuote(infoName(p))}`).join('\n');
}

/** Runs the preinst (`install`) of each package, in order, in one container. */
export async function runPreinsts(t: ContainerTarget, packages: readonly ScriptPackage[]): Promise<void> {
  const withPre = packages.filter((p) => p.scripts.includes('preinst'));
  if (withPre.length === 0) return;
  await checkArchitecture(t, 'maintainer scripts');
  const script = `set -e\n${PREINST}${preinstCalls(withPre)}\n`;
  t.note(`preinst install: ${withPre.map((p) => p.name).join(' ')}`);
  const r = await withPolicyRcd(t.rootfs, () => runInImage(t, { args: ['/bin/sh', '-c', script], env: scriptEnv(t), timeoutMs: 30 * 60_000 }));
  if (r.exitCode !== 0) throw preinstFailure(t, r, 1800);
}

/** Names the package whose preinst failed, with its own exit status (lading_preinst prints both). */
function preinstFailure(t: ContainerTarget, r: RunResult, timeoutS: number): BuildError {
  const m = r.timedOut ? null : /lading: preinst of (\S+) exited with (\d+)/.exec(r.stderrTail);
  return m ? failure('SCRIPTS_FAILED', t, `the preinst of ${m[1]}`, { ...r, exitCode: Number(m[2]) }, timeoutS) : failure('SCRIPTS_FAILED', t, 'a preinst script', r, timeoutS);
}

/** Exit status of the configure container when a preinst (run first in it) failed. */
const PREINST_FAILED = 97;

// py3compile, deferred: postinsts of Python packages call `py3compile -p PKG` once each, and
// each call starts two interpreters (py3compile, then `python3.X -m py_compile -`). During
// `dpkg --configure -a` a stub earlier in PATH only records the call; afterwards one process
// runs the real py3compile's own selection code (its main(), unchanged) for every recorded call,
// collecting the files it would compile, and two interpreters compile them (sorted, split in
// two halves, PYTHONHASHSEED=0). Same files, same timestamp-based .pyc format, fewer starts.
/** The py3compile stand-in used while dpkg configures (records each call). */
export const PY3COMPILE_STUB = `#!/bin/sh
# lading: py3compile runs once for all packages after dpkg --configure -a (docs/build.md)
[ -x /usr/bin/py3compile ] || exit 0
{ printf '%s\\0' "\${DPKG_MAINTSCRIPT_PACKAGE:-}" "$#"; for a in "$@"; do printf '%s\\0' "$a"; done; } >> /tmp/lading-py3compile.queue
exit 0
`;

/** Runs the recorded py3compile calls with the real selection code, then compiles in two processes. */
export const PY3COMPILE_BATCH = `import os, subprocess, sys
queue = open(sys.argv[1], 'rb').read().split(b'\\0')[:-1]
calls = []
i = 0
while i < len(queue):
    pkg = queue[i].decode(); n = int(queue[i + 1]); calls.append((pkg, [a.decode() for a in queue[i + 2:i + 2 + n]])); i += 2 + n
src = open('/usr/bin/py3compile').read()
g = {'__name__': 'lading_py3compile', '__file__': '/usr/bin/py3compile'}
exec(compile(src, '/usr/bin/py3compile', 'exec'), g)
collected = []
def collect(version, optimize, workers):
    if not isinstance(version, str):
        version = g['vrepr'](version)
    while True:
        fn = (yield)
        collected.append((version, bool(optimize), fn))
g['py_compile'] = collect
for pkg, args in calls:
    os.environ['DPKG_MAINTSCRIPT_PACKAGE'] = pkg
    sys.argv = ['py3compile'] + args
    try:
        g['main']()
    except SystemExit as e:
        if e.code not in (None, 0):
            sys.exit('py3compile %s (for %s) failed: %s' % (' '.join(args), pkg, e.code))
    g['STDINS'].clear()
seen = set(); groups = {}
for v, o, fn in collected:
    if (v, o, fn) in seen:
        continue
    seen.add((v, o, fn)); groups.setdefault((v, o), []).append(fn)
LOOP = "import py_compile, sys\\nrv = 0\\nfor f in open(sys.argv[1]).read().split('\\\\n'):\\n    if f:\\n        try:\\n            py_compile.compile(f, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)\\n        except py_compile.PyCompileError as e:\\n            sys.stderr.write(e.msg); rv = 1\\nsys.exit(rv)\\n"
procs = []
total = 0
for (v, o), files in sorted(groups.items()):
    files.sort(); total += len(files)
    half = (len(files) + 1) // 2
    for k, part in enumerate((files[:half], files[half:])):
        if not part:
            continue
        lst = '/tmp/lading-pyc-%s-%d-%d.list' % (v, int(o), k)
        open(lst, 'w').write('\\n'.join(part) + '\\n')
        procs.append(subprocess.Popen(['/usr/bin/python' + v] + (['-O'] if o else []) + ['-c', LOOP, lst]))
rc = 0
for p in procs:
    rc = p.wait() or rc
print('lading: byte-compiled %d files for %d py3compile calls' % (total, len(calls)))
sys.exit(rc)
`;

/**
 * Activates file triggers the unpack would have activated under dpkg, then configures every
 * unpacked package and processes pending triggers (`dpkg --configure -a`). With
 * `deferPy3compile`, py3compile calls are batched (see above).
 */
export async function runConfigure(t: ContainerTarget, fileTriggers: readonly string[], options: { deferPy3compile?: boolean; preinsts?: readonly ScriptPackage[] } = {}): Promise<void> {
  await checkArchitecture(t, 'maintainer scripts (dpkg --configure -a)');
  const lines = ['set -e'];
  // Preinsts first, in the same container (one runtime start less), in a subshell so their
  // DPKG_* variables and PATH stay out of dpkg's run; PREINST_FAILED tells their failure apart.
  const withPre = (options.preinsts ?? []).filter((p) => p.scripts.includes('preinst'));
  if (withPre.length > 0) {
    t.note(`preinst install: ${withPre.map((p) => p.name).join(' ')}`);
    lines.push('set +e', `(\nset -e\nexport PATH=${BUILD_PATH}\nunset PYTHONDONTWRITEBYTECODE\n${PREINST}${preinstCalls(withPre)}\n)`, 'rc=$?', 'set -e');
    lines.push(`if [ "$rc" -ne 0 ]; then exit ${PREINST_FAILED}; fi`);
  }
  for (const trig of fileTriggers) lines.push(`dpkg-trigger --no-await ${shellQuote(trig)}`);
  lines.push('dpkg --configure -a --force-confdef --force-confold');
  let env: Record<string, string> = scriptEnv(t);
  let dir: string | undefined;
  if (options.deferPy3compile) {
    dir = helperDir(t, 'py3compile');
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin/py3compile'), PY3COMPILE_STUB, { mode: 0o755 });
    writeFileSync(join(dir, 'py3compile-batch.py'), PY3COMPILE_BATCH);
    env = { ...env, PATH: `/.lading-build/bin:${BUILD_PATH}`, PYTHONDONTWRITEBYTECODE: '1' };
    lines.push('if [ -s /tmp/lading-py3compile.queue ]; then PATH=' + BUILD_PATH + ' PYTHONDONTWRITEBYTECODE= python3 /.lading-build/py3compile-batch.py /tmp/lading-py3compile.queue; fi');
  }
  t.note(`dpkg --configure -a${fileTriggers.length ? ` (file triggers: ${fileTriggers.join(' ')})` : ''}${options.deferPy3compile ? ' (py3compile deferred to one pass)' : ''}`);
  try {
    const timeoutS = withPre.length > 0 ? 5400 : 3600;
    const watch = new FirstScriptError();
    const r = await withPolicyRcd(t.rootfs, () => runInImage(t, { args: ['/bin/sh', '-c', lines.join('\n')], env, timeoutMs: timeoutS * 1000, watch, ...(dir ? { helperDir: dir } : {}) }));
    if (r.exitCode === PREINST_FAILED && !r.timedOut && withPre.length > 0) throw preinstFailure(t, r, timeoutS);
    if (r.exitCode !== 0) throw failure('SCRIPTS_FAILED', t, 'dpkg --configure -a', r, timeoutS, watch);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs one `run` step of the image. */
export async function runStep(t: ContainerTarget, step: RunStepSpec, imageEnv: Readonly<Record<string, string>>): Promise<void> {
  await checkArchitecture(t, `run step ${JSON.stringify(step.name)}`);
  const args = step.script !== undefined ? ['/bin/sh', '-e', '-c', step.script] : [...(step.args ?? [])];
  const env: Record<string, string> = {
    DEBIAN_FRONTEND: 'noninteractive',
    PYTHONHASHSEED: '0',
    PATH: BUILD_PATH,
    ...(t.epoch !== undefined ? { SOURCE_DATE_EPOCH: String(t.epoch) } : {}),
    ...imageEnv,
    ...step.env,
  };
  t.note(`run step ${step.name}: ${describeCommand(step)}`);
  if (step.workdir !== undefined) {
    // The runtime would fail to create it, which reads as a runtime failure and is retried.
    const problem = workdirProblem(t.rootfs, step.workdir);
    if (problem) throw new BuildError('STEP_FAILED', `image ${t.image} (${t.arch}): run step ${JSON.stringify(step.name)}: workdir ${step.workdir} ${problem} in the image\n  log: ${t.logFile}`);
  }
  let r: RunResult;
  try {
    r = await withPolicyRcd(t.rootfs, () =>
      runInImage(t, { args, env, user: step.user, cwd: step.workdir, network: step.network, timeoutMs: step.timeoutSeconds * 1000 }),
    );
  } catch (err) {
    if (err instanceof BuildError) throw err;
    const e = err as { code?: string };
    // No usable runtime on this host is not the step's fault: its own code says so (docs/build.md).
    if (e.code === 'ABORTED' || e.code === 'NO_RUNTIME' || e.code === 'RUNTIME_UNUSABLE' || e.code === 'ROOTLESS_UNSUPPORTED') throw err;
    // The runtime failing to start the container is worth a retry (RUNTIME_FAILED); a program that
    // is not there or a user that does not exist (EXEC_FAILED and the like) is the step's own fault.
    const code = e.code === 'CREATE_FAILED' ? 'RUNTIME_FAILED' : 'STEP_FAILED';
    throw new BuildError(code, `image ${t.image} (${t.arch}): run step ${JSON.stringify(step.name)} could not start: ${describeError(err)}\n  log: ${t.logFile}`, { cause: err });
  }
  if (r.exitCode !== 0 || r.timedOut) throw failure('STEP_FAILED', t, `run step ${JSON.stringify(step.name)}`, r, step.timeoutSeconds);
}

/** A step's command for its log header: a script's first line, an exec form as JSON. */
function describeCommand(step: RunStepSpec): string {
  if (step.script === undefined) return JSON.stringify(step.args ?? []);
  const lines = step.script.split('\n');
  const more = lines.slice(1).filter((l) => l.trim() !== '').length;
  return `${lines[0] ?? ''}${more > 0 ? ` (and ${more} more line${more === 1 ? '' : 's'})` : ''}`;
}

/** Why `workdir` cannot be a step's working directory in the image at `root`, if it cannot. */
function workdirProblem(root: string, workdir: string): string | undefined {
  try {
    return lstatSync(resolveInRoot(root, workdir, { followLast: true })).isDirectory() ? undefined : 'is not a directory';
  } catch (err) {
    // Missing is fine: the runtime makes it, as Docker does for WORKDIR.
    return errnoCode(err) === 'ENOTDIR' ? 'is below a file' : undefined;
  }
}

/** Byte-compiled standard-library files (not dist-packages) below a Python library directory. */
export function stdlibPycs(root: string, isNew: (rel: string) => boolean): Map<string, string[]> {
  const byVersion = new Map<string, string[]>();
  const lib = join(root, 'usr/lib');
  let dirs: string[] = [];
  try {
    dirs = readdirSync(lib).filter((d) => /^python3\.\d+$/.test(d)).sort();
  } catch {
    return byVersion;
  }
  for (const d of dirs) {
    const version = d.slice('python'.length);
    const tag = `cpython-${version.replace('.', '')}`;
    const out: string[] = [];
    const walk = (rel: string) => {
      let names: string[];
      try {
        names = readdirSync(join(root, rel)).sort();
      } catch {
        return;
      }
      for (const n of names) {
        const r = `${rel}/${n}`;
        if (n === 'dist-packages' || n === 'site-packages') continue;
        const st = lstatSync(join(root, r));
        if (st.isDirectory()) {
          if (n === '__pycache__') {
            for (const f of readdirSync(join(root, r)).sort()) {
              const m = new RegExp(`^(.+)\\.${tag}\\.pyc$`).exec(f);
              if (!m || !isNew(`${r}/${f}`)) continue;
              const src = `/${rel}/${m[1]}.py`;
              if (existsSync(join(root, src))) out.push(src);
            }
          } else walk(r);
        }
      }
    };
    walk(`usr/lib/${d}`);
    if (out.length > 0) byVersion.set(version, out);
  }
  return byVersion;
}

const RECOMPILE = `import sys, py_compile
with open(sys.argv[1]) as f:
    for line in f:
        src = line.rstrip('\\n')
        if src:
            py_compile.compile(src, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
`;

/**
 * Compiles the given standard-library sources again, in sorted order, in one interpreter per
 * Python version with PYTHONHASHSEED=0. Debian's postinsts compile the standard library with
 * `python3.X -E`, which ignores the hash seed, so their .pyc files can differ between builds
 * (frozenset constants, marshal references); this pass makes them the same every time. Same file
 * names, same timestamp-based header, same source paths in the code objects.
 */
export async function recompileStdlib(t: ContainerTarget, byVersion: ReadonlyMap<string, readonly string[]>): Promise<number> {
  let n = 0;
  if (byVersion.size === 0) return 0;
  await checkArchitecture(t, 'the .pyc pass');
  const dir = helperDir(t, 'pyc');
  try {
    writeFileSync(join(dir, 'recompile.py'), RECOMPILE);
    for (const [version, files] of byVersion) {
      const python = `/usr/bin/python${version}`;
      if (!existsSync(resolveInRoot(t.rootfs, python, { followLast: true }))) continue;
      writeFileSync(join(dir, `${version}.list`), `${[...files].sort().join('\n')}\n`);
      t.note(`recompiling ${files.length} standard-library .pyc files of Python ${version} with a fixed hash seed`);
      const r = await runInImage(t, { args: [python, '-S', '/.lading-build/recompile.py', `/.lading-build/${version}.list`], env: { PYTHONHASHSEED: '0', PATH: BUILD_PATH, LC_ALL: 'C.UTF-8' }, helperDir: dir, timeoutMs: 30 * 60_000 });
      if (r.exitCode !== 0) throw failure('SCRIPTS_FAILED', t, `recompiling the Python ${version} standard library`, r, 1800);
      n += files.length;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return n;
}
