// The bundle config.json lading generates: OCI runtime-spec 1.0.2
// (https://github.com/opencontainers/runtime-spec/blob/v1.0.2/config.md, config-linux.md).
// Pure functions: the same input gives the same document, so unit tests pin it without runc.
import { RuntimeError } from './errors.js';
import type { ResolvedUser } from './user.js';

/** A runtime-spec mount (config.md "Mounts"). */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** A runtime-spec POSIX rlimit (config.md "POSIX process"). */
export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

/** The subset of runtime-spec 1.0.2 config.json that lading writes. */
export interface OciRuntimeConfig {
  ociVersion: '1.0.2';
  process: {
    terminal: false;
    user: { uid: number; gid: number; umask?: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
    rlimits: OciRlimit[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: Array<{ type: string }>;
    resources: {
      devices: Array<{ allow: boolean; access: string }>;
      memory?: { limit: number };
      pids?: { limit: number };
    };
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

/** Every capability name runtime-spec accepts on Linux (capabilities(7), up to CAP_CHECKPOINT_RESTORE). */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/**
 * Docker's default capability set (moby oci/caps/defaults.go): enough for maintainer scripts
 * (chown, chmod of others' files, setuid/setgid helpers, mknod, chroot), nothing that reaches the
 * host (no SYS_ADMIN, NET_ADMIN, SYS_MODULE, SYS_PTRACE...).
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_AUDIT_WRITE', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_MKNOD',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT',
];

/** Paths `runc spec` masks (bind of /dev/null or an empty tmpfs), so /proc and /sys leak nothing sensitive. */
export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
];

/** Paths `runc spec` makes read-only. */
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** PATH given to the command when its env has none (Docker's and `runc spec`'s default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Resource names accepted in `rlimits` (setrlimit(2) without the RLIMIT_ prefix). */
export type RlimitName =
  | 'AS' | 'CORE' | 'CPU' | 'DATA' | 'FSIZE' | 'LOCKS' | 'MEMLOCK' | 'MSGQUEUE' | 'NICE' | 'NOFILE' | 'NPROC'
  | 'RSS' | 'RTPRIO' | 'RTTIME' | 'SIGPENDING' | 'STACK';

const RLIMIT_NAMES: readonly RlimitName[] = [
  'AS', 'CORE', 'CPU', 'DATA', 'FSIZE', 'LOCKS', 'MEMLOCK', 'MSGQUEUE', 'NICE', 'NOFILE', 'NPROC', 'RSS', 'RTPRIO', 'RTTIME', 'SIGPENDING', 'STACK',
];

/** A soft/hard pair; `Infinity` means unlimited. A bare number sets both. */
export type RlimitValue = number | { soft: number; hard: number };

/** The open-files ceiling lading never exceeds: some hosts (this project's CI) refuse more even to root. */
export const NOFILE_CEILING = 20000;

/** Rlimits every container gets unless the caller overrides them. */
export const DEFAULT_RLIMITS: Readonly<Partial<Record<RlimitName, RlimitValue>>> = { NOFILE: { soft: 1024, hard: NOFILE_CEILING } };

// RLIM_INFINITY is 2^64-1, which a JS number cannot hold; serializeRuntimeConfig writes it exactly.
const UNLIMITED = 2 ** 64;

/**
 * The rlimits to put in the bundle: defaults overlaid with `requested`, each hard limit clamped to
 * what this process may grant (`hostHard`, read from /proc/self/limits: raising a hard limit
 * needs CAP_SYS_RESOURCE, which some hosts deny even to root) and NOFILE also to NOFILE_CEILING.
 * Soft limits never exceed their hard limit.
 */
export function effectiveRlimits(
  requested: Readonly<Partial<Record<RlimitName, RlimitValue>>> | undefined,
  hostHard: ReadonlyMap<string, number>,
): OciRlimit[] {
  const merged: Partial<Record<RlimitName, RlimitValue>> = { ...DEFAULT_RLIMITS, ...(requested ?? {}) };
  const out: OciRlimit[] = [];
  for (const name of RLIMIT_NAMES) {
    const value = merged[name];
    if (value === undefined) continue;
    const pair = typeof value === 'number' ? { soft: value, hard: value } : value;
    for (const n of [pair.soft, pair.hard]) {
      if (!(n === Infinity || (Number.isSafeInteger(n) && n >= 0))) {
        throw new RuntimeError('INVALID_OPTIONS', `rlimit ${name}: ${n} is not a non-negative integer or Infinity`);
      }
    }
    let hard = pair.hard;
    const cap = hostHard.get(name);
    if (cap !== undefined && hard > cap) hard = cap;
    if (name === 'NOFILE' && hard > NOFILE_CEILING) hard = NOFILE_CEILING;
    const soft = Math.min(pair.soft, hard);
    out.push({ type: `RLIMIT_${name}`, soft: soft === Infinity ? UNLIMITED : soft, hard: hard === Infinity ? UNLIMITED : hard });
  }
  return out;
}

/** Capability names normalised to the CAP_ form; unknown names are an error. */
export function normaliseCapabilities(caps: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of caps) {
    const name = raw.toUpperCase().startsWith('CAP_') ? raw.toUpperCase() : `CAP_${raw.toUpperCase()}`;
    if (!KNOWN_CAPABILITIES.includes(name)) throw new RuntimeError('INVALID_OPTIONS', `capability ${JSON.stringify(raw)} is not a Linux capability`);
    out.add(name);
  }
  return [...out].sort();
}

/**
 * The mounts every container gets, in `runc spec`'s order: /proc, a tmpfs /dev (the runtime fills
 * it with its default device nodes: null, zero, full, random, urandom, tty, ptmx), /dev/pts,
 * /dev/shm, /dev/mqueue, /sys read-only, and /sys/fs/cgroup read-only when the container has its
 * own cgroup namespace.
 */
export function standardMounts(cgroupNamespace: boolean): OciMount[] {
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  if (cgroupNamespace) mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
  return mounts;
}

/** Everything buildRuntimeConfig needs, already resolved (user ids, env list, mount list). */
export interface RuntimeConfigInput {
  /** Absolute host path of the rootfs, used in place. */
  rootfs: string;
  readonlyRootfs: boolean;
  args: readonly string[];
  env: readonly string[];
  cwd: string;
  user: Pick<ResolvedUser, 'uid' | 'gid' | 'additionalGids'>;
  hostname: string;
  /** 'host' shares the host's network namespace; 'none' gets a new one with only loopback. */
  network: 'none' | 'host';
  /** Mounts after the standard ones (tmpfs, resolv.conf, caller's binds), in mount order. */
  extraMounts: readonly OciMount[];
  capabilities: readonly string[];
  rlimits: readonly OciRlimit[];
  noNewPrivileges: boolean;
  /** Give the container its own cgroup namespace (kernel support: /proc/self/ns/cgroup). */
  cgroupNamespace: boolean;
  memoryLimitBytes?: number;
  pidsLimit?: number;
  annotations?: Readonly<Record<string, string>>;
}

/**
 * The bundle's config.json (runtime-spec 1.0.2). No user namespace (lading runs as root), no
 * seccomp profile (NOTE: Docker's default profile is long and adds little for build steps run
 * from trusted definitions), no cgroup limits unless asked, a deny-all device cgroup apart from
 * the runtime's default devices, masked and read-only /proc paths as `runc spec` sets them.
 */
export function buildRuntimeConfig(input: RuntimeConfigInput): OciRuntimeConfig {
  const caps = [...input.capabilities];
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.network === 'none') namespaces.push({ type: 'network' });
  if (input.cgroupNamespace) namespaces.push({ type: 'cgroup' });
  const resources: OciRuntimeConfig['linux']['resources'] = { devices: [{ allow: false, access: 'rwm' }] };
  if (input.memoryLimitBytes !== undefined) resources.memory = { limit: input.memoryLimitBytes };
  if (input.pidsLimit !== undefined) resources.pids = { limit: input.pidsLimit };
  // Docker's umask, whatever lading's own: what a command creates gets the same modes everywhere.
  const user: OciRuntimeConfig['process']['user'] = { uid: input.user.uid, gid: input.user.gid, umask: 0o022 };
  if (input.user.additionalGids.length > 0) user.additionalGids = [...input.user.additionalGids];
  const config: OciRuntimeConfig = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user,
      args: [...input.args],
      env: [...input.env],
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: input.rlimits.map((r) => ({ ...r })),
      noNewPrivileges: input.noNewPrivileges,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts: [...standardMounts(input.cgroupNamespace), ...input.extraMounts.map((m) => ({ ...m, options: m.options ? [...m.options] : undefined }))],
    linux: { namespaces, resources, maskedPaths: [...MASKED_PATHS], readonlyPaths: [...READONLY_PATHS] },
  };
  if (input.annotations && Object.keys(input.annotations).length > 0) config.annotations = { ...input.annotations };
  return config;
}

/** config.json bytes; unlimited rlimits are written as RLIM_INFINITY (2^64-1) exactly. */
export function serializeRuntimeConfig(config: OciRuntimeConfig): string {
  return JSON.stringify(config, null, 2).replaceAll(String(UNLIMITED), '18446744073709551615');
}
