// Can a container of a given Debian architecture run here? Natively for the host's own
// architecture; otherwise only through a qemu-user handler registered with binfmt_misc
// (https://docs.kernel.org/admin-guide/binfmt-misc.html). lading never registers handlers itself.
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { resolveInRootfs } from './rootfs-path.js';

/** Debian architecture name -> qemu-user name (the suffix of its binfmt_misc entry, `qemu-<name>`). */
export const QEMU_NAMES: Readonly<Record<string, string>> = {
  amd64: 'x86_64',
  arm64: 'aarch64',
  armhf: 'arm',
  armel: 'arm',
  i386: 'i386',
  mips64el: 'mips64el',
  mipsel: 'mipsel',
  ppc64el: 'ppc64le',
  ppc64: 'ppc64',
  riscv64: 'riscv64',
  s390x: 's390x',
  loong64: 'loongarch64',
};

const NODE_TO_DEBIAN: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'armhf',
  ia32: 'i386',
  ppc64: 'ppc64el', // Node names little-endian POWER "ppc64"; Debian's ppc64 port is big-endian
  s390x: 's390x',
  riscv64: 'riscv64',
  mips64el: 'mips64el',
  mipsel: 'mipsel',
  loong64: 'loong64',
};

/** The host's architecture as Debian names it (dpkg --print-architecture), from Node's process.arch. */
export function hostArchitecture(): string {
  return NODE_TO_DEBIAN[process.arch] ?? process.arch;
}

/** Whether and how an architecture can run; `reason` is a sentence for error messages. */
export interface ArchitectureSupport {
  arch: string;
  supported: boolean;
  /** `native` for the host architecture, `binfmt` through a qemu-user handler. */
  via?: 'native' | 'binfmt';
  /** The binfmt_misc entry used or looked for, e.g. /proc/sys/fs/binfmt_misc/qemu-aarch64. */
  handler?: string;
  /** The handler's interpreter path. */
  interpreter?: string;
  /** Unsupported only for want of a rootfs to look in (a handler without the F flag). */
  needsRootfs?: boolean;
  reason: string;
}

/** Options of architectureSupport / canRunArchitecture. */
export interface ArchitectureOptions {
  /**
   * The rootfs the command will run in. A handler without the F (fix-binary) flag opens its
   * interpreter at exec time inside the container, so it must exist in this rootfs; without a
   * rootfs such a handler counts as unusable.
   */
  rootfs?: string;
  /** binfmt_misc mount point (default /proc/sys/fs/binfmt_misc); tests point it at fixtures. */
  binfmtDir?: string;
  /** Override the host architecture (Debian name); default hostArchitecture(). */
  hostArch?: string;
}

/** A parsed binfmt_misc entry file. */
export interface BinfmtEntry {
  enabled: boolean;
  interpreter?: string;
  flags: string;
}

/** Parses the text of /proc/sys/fs/binfmt_misc/<name>. */
export function parseBinfmtEntry(text: string): BinfmtEntry {
  const lines = text.split('\n').map((l) => l.trim());
  const entry: BinfmtEntry = { enabled: lines[0] === 'enabled', flags: '' };
  for (const line of lines) {
    if (line.startsWith('interpreter ')) entry.interpreter = line.slice('interpreter '.length).trim();
    else if (line.startsWith('flags:')) entry.flags = line.slice('flags:'.length).trim();
  }
  return entry;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Whether commands of Debian architecture `arch` can run in a container here, and why not.
 * Reads binfmt_misc honestly: not mounted, disabled, no handler, or a handler whose interpreter
 * the container cannot reach all say "unsupported".
 * NOTE: 32-bit companions (i386 on amd64, armhf on arm64) count as foreign too, though many
 * kernels run them natively; a qemu handler for them is rarely registered.
 */
export async function architectureSupport(arch: string, options: ArchitectureOptions = {}): Promise<ArchitectureSupport> {
  const host = options.hostArch ?? hostArchitecture();
  if (arch === host) return { arch, supported: true, via: 'native', reason: `${arch} is the host architecture` };
  const qemu = QEMU_NAMES[arch];
  if (!qemu) return { arch, supported: false, reason: `${arch} is not an architecture lading knows a qemu-user emulator for` };
  const dir = options.binfmtDir ?? '/proc/sys/fs/binfmt_misc';
  const status = await readText(posix.join(dir, 'status'));
  if (status === undefined) {
    return { arch, supported: false, reason: `${arch} needs qemu-user emulation, but binfmt_misc is not mounted at ${dir}` };
  }
  if (status.trim() !== 'enabled') return { arch, supported: false, reason: `${arch} needs qemu-user emulation, but binfmt_misc is disabled (${dir}/status)` };
  const handler = posix.join(dir, `qemu-${qemu}`);
  const text = await readText(handler);
  if (text === undefined) {
    return { arch, supported: false, handler, reason: `${arch} needs qemu-user emulation, but no handler ${handler} is registered (install qemu-user-static and binfmt-support)` };
  }
  const entry = parseBinfmtEntry(text);
  const base = { arch, handler, interpreter: entry.interpreter };
  if (!entry.enabled) return { ...base, supported: false, reason: `${arch}: the binfmt_misc handler ${handler} is disabled` };
  if (entry.flags.includes('F')) return { ...base, supported: true, via: 'binfmt', reason: `${arch} runs through ${entry.interpreter ?? 'qemu'} (${handler}, flag F)` };
  if (!entry.interpreter) return { ...base, supported: false, reason: `${arch}: the handler ${handler} names no interpreter` };
  if (!options.rootfs) {
    return { ...base, supported: false, needsRootfs: true, reason: `${arch}: the handler ${handler} lacks the F flag, so ${entry.interpreter} must exist inside the rootfs (no rootfs given to check)` };
  }
  const inRoot = await resolveInRootfs(options.rootfs, entry.interpreter).catch(() => undefined);
  if (inRoot && inRoot.missing.length === 0) return { ...base, supported: true, via: 'binfmt', reason: `${arch} runs through ${entry.interpreter} inside the rootfs (${handler})` };
  return { ...base, supported: false, reason: `${arch}: the handler ${handler} lacks the F flag and its interpreter ${entry.interpreter} is not in the rootfs ${options.rootfs}` };
}

/** True when commands of Debian architecture `arch` can run here (see architectureSupport for why not). */
export async function canRunArchitecture(arch: string, options: ArchitectureOptions = {}): Promise<boolean> {
  return (await architectureSupport(arch, options)).supported;
}
