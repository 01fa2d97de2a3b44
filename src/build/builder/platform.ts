// Debian architecture names -> OCI platforms (image-index.md platform.architecture/variant use
// Go's GOARCH/GOARM names).
import type { Platform } from '../../oci/index.js';

const TABLE: Readonly<Record<string, { architecture: string; variant?: string }>> = {
  amd64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64', variant: 'v8' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v5' },
  i386: { architecture: '386' },
  ppc64el: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  mips64el: { architecture: 'mips64le' },
  loong64: { architecture: 'loong64' },
};

/** The OCI platform of a Debian architecture (linux/<goarch>[/variant]). */
export function ociPlatform(arch: string): Platform {
  const p = TABLE[arch] ?? { architecture: arch };
  return { architecture: p.architecture, os: 'linux', ...(p.variant ? { variant: p.variant } : {}) };
}
