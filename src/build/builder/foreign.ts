// Images that cannot build here because they must run something (maintainer scripts, run
// steps) for an architecture this host cannot execute. Known from the config, the lock and
// binfmt_misc before anything is fetched, so `plan` can warn and `build` fails them at once
// instead of after downloading and unpacking their packages.
import { architectureSupport, type ArchitectureOptions, type ArchitectureSupport } from '../../runtime/index.js';
import type { FamilyConfig, ImageConfig } from '../config/types.js';
import type { FamilyLock } from '../lock/schema.js';
import type { BuildPlan } from '../plan/schema.js';
import { addedPackages, runsMaintainerScripts } from './image.js';

/** One image that would fail with FOREIGN_ARCH. */
export interface ForeignBlock {
  readonly image: string;
  readonly arch: string;
  /** What it would run, e.g. `maintainer scripts and run step "uname"`. */
  readonly what: string;
  /** The FOREIGN_ARCH message, as the builder's own check words it. */
  readonly message: string;
}

/** Options of foreignArchBlocks(). */
export interface ForeignArchOptions extends Pick<ArchitectureOptions, 'binfmtDir' | 'hostArch'> {
  readonly plan: BuildPlan;
  readonly family: FamilyConfig;
  readonly lock: FamilyLock;
  readonly lockFile: string;
}

/** What an image's build runs in a container, in the order it runs; '' when nothing. */
export function containerWork(img: ImageConfig, ownPackages: number): string {
  const what: string[] = [];
  if (runsMaintainerScripts(img, ownPackages)) what.push('maintainer scripts');
  if (img.run.length > 0) what.push(`run step${img.run.length > 1 ? 's' : ''} ${img.run.map((s) => JSON.stringify(s.name)).join(', ')}`);
  return what.join(' and ');
}

/**
 * The planned builds that must run something on an architecture binfmt_misc says this host
 * cannot run. A qemu handler without the F flag needs its interpreter inside the image, which
 * only the build can see: such images are left to the builder's own check. Config-only
 * rebuilds run nothing. An image whose lock entry is broken is left to its build to report.
 */
export async function foreignArchBlocks(options: ForeignArchOptions): Promise<ForeignBlock[]> {
  const support = new Map<string, Promise<ArchitectureSupport>>();
  const supportOf = (arch: string) => {
    let p = support.get(arch);
    if (!p) support.set(arch, (p = architectureSupport(arch, { ...(options.binfmtDir ? { binfmtDir: options.binfmtDir } : {}), ...(options.hostArch ? { hostArch: options.hostArch } : {}) })));
    return p;
  };
  const out: ForeignBlock[] = [];
  for (const step of options.plan.batches.flat()) {
    if (step.kind !== 'build' || step.layersFrom) continue;
    const s = await supportOf(step.arch);
    if (s.supported || s.needsRootfs) continue;
    const img = options.family.images[step.image] as ImageConfig;
    let own: number;
    try {
      own = addedPackages(options.lock, options.family, step.image, step.arch, options.lockFile).length;
    } catch {
      continue;
    }
    const what = containerWork(img, own);
    if (what) out.push({ image: step.image, arch: step.arch, what, message: `image ${step.image} (${step.arch}): cannot run ${what}: ${s.reason}` });
  }
  return out;
}
