// The planner, pure: config + lock + context digests + the store's build records -> BuildPlan.
// An image's input hash covers its normalised definition (no volatile values), the packages it
// adds (name, version, SHA256), its context files' digests, the layer-format version and its
// parent's input hash (or pinned digest), so a change reaches exactly the subtree below it
// (bashbrew's cache hash, prior-art.md section 3; Kolla's build-date lesson, oci-image.md section 11).
import { canonicalJson, digestOf } from '../../core/index.js';
import { BuildError } from '../errors.js';
import type { ContextDigests } from '../config/context.js';
import { selectImages, type Selection } from '../config/select.js';
import type { DebianArch, FamilyConfig, ImageConfig } from '../config/types.js';
import { assertLockFresh, imagePackages } from '../lock/lock.js';
import type { FamilyLock } from '../lock/schema.js';
import { diffInputs } from './reasons.js';
import {
  LAYER_FORMAT_VERSION,
  PLAN_VERSION,
  type BuildPlan,
  type BuildRecord,
  type FileInput,
  type InputManifest,
  type PackageInput,
  type ParentInput,
  type PlanStep,
  type Reason,
} from './schema.js';

/** What the store holds, as the planner needs it (read by readBuildRecords()). */
export interface StoreState {
  /** Records whose image is present in the store: an input hash found here is reused. */
  readonly records: readonly BuildRecord[];
  /**
   * The latest record per image and architecture, even when its image is gone: the planner
   * compares against it to say why something rebuilds. Default: the newest of `records`.
   */
  readonly previous?: readonly BuildRecord[];
}

/** Options of planBuild(). */
export interface PlanOptions {
  readonly family: FamilyConfig;
  readonly lock: FamilyLock;
  /** Digests of the build-context files (hashContext()). */
  readonly files: ContextDigests;
  readonly store?: StoreState;
  readonly selection?: Selection;
  /** Only these architectures (default: the family's). */
  readonly architectures?: readonly DebianArch[];
  /** Rebuild these images (true: all selected) even when the store has them. */
  readonly force?: boolean | readonly string[];
  /** Name of the lock file in messages. */
  readonly lockFile?: string;
}

/** The part of an image's definition that is hashed: everything but packages, file bytes, parent, run step timeouts and the project's title. */
export function hashedDefinition(family: FamilyConfig, img: ImageConfig): Record<string, unknown> {
  // The project's title is for people reading the config: no image carries it.
  const { title: _title, ...project } = family.project;
  return {
    project,
    compression: family.compression,
    description: img.description ?? null,
    essential: img.essential,
    maintainerScripts: img.maintainerScripts,
    files: img.files,
    directories: img.directories,
    symlinks: img.symlinks,
    users: img.users,
    groups: img.groups,
    // A step's timeout decides only whether it may finish, not what it makes: left out.
    run: img.run.map(({ timeoutSeconds: _, ...step }) => step),
    own: img.own,
    annotations: img.annotations,
  };
}

/**
 * The layer hash: the inputs that decide an image's layers, i.e. its input manifest without the
 * fields that only reach its config or manifest (labels, annotations, entrypoint, cmd, ports,
 * volumes, user, workdir, stop signal, health check, description, project metadata), and with
 * the parent's layer hash in place of its input hash. The environment stays in: run steps see it.
 * Two builds with the same layer hash have the same layers, so a change of config alone can be
 * made on the stored layers (BuildStep.layersFrom). Pure.
 */
export function layerHash(inputs: InputManifest, family: FamilyConfig, parentLayerHash: string | undefined): string {
  const img = family.images[inputs.image] as ImageConfig;
  const d = inputs.definition;
  return digestOf(
    canonicalJson({
      layerFormat: inputs.layerFormat,
      image: inputs.image,
      arch: inputs.arch,
      parent: inputs.parent.kind === 'image' ? { kind: 'image', name: inputs.parent.name, layerHash: parentLayerHash ?? null } : inputs.parent,
      definition: {
        compression: d.compression,
        essential: d.essential,
        maintainerScripts: d.maintainerScripts,
        files: d.files,
        directories: d.directories,
        symlinks: d.symlinks,
        users: d.users,
        groups: d.groups,
        run: d.run,
        env: img.effective.env,
      },
      packages: inputs.packages,
      files: inputs.files,
      epoch: inputs.epoch,
    }),
  );
}

/** Digest of an input manifest: the input hash. */
export function inputHash(inputs: InputManifest): string {
  return digestOf(canonicalJson(inputs));
}

/**
 * The input manifest of one image on one architecture. `parent` carries the parent's input
 * hash (computed first, parents before children). Pure.
 */
export function imageInputs(options: {
  family: FamilyConfig;
  lock: FamilyLock;
  files: ContextDigests;
  image: string;
  arch: DebianArch;
  parent: ParentInput;
  lockFile?: string;
}): InputManifest {
  const { family, lock, image, arch } = options;
  const img = family.images[image];
  if (!img) throw new BuildError('UNKNOWN_IMAGE', `image ${JSON.stringify(image)} is not in family ${family.project.name}`);
  const lockFile = options.lockFile ?? 'lading.lock';
  const mine = imagePackages(lock, image, arch, lockFile);
  const parentSet = new Set<string>();
  if (img.from.kind === 'image') for (const p of imagePackages(lock, img.from.name, arch, lockFile)) parentSet.add(`${p.name}=${p.version}`);
  const packages: Record<string, PackageInput> = {};
  for (const p of mine) if (!parentSet.has(`${p.name}=${p.version}`)) packages[p.name] = { version: p.version, sha256: p.sha256 };
  const files: Record<string, FileInput> = {};
  for (const f of img.files) {
    const d = options.files[f.src];
    if (!d) throw new BuildError('PLAN_INPUT_MISSING', `planning ${image}: no digest for build-context file ${f.src}`, { hint: 'hash the context with hashContext()' });
    // The executable bit picks a single file's mode only when the config gives none.
    files[f.src] = { kind: d.kind, digest: d.digest, ...(d.kind === 'file' && f.mode === undefined ? { executable: d.executable } : {}) };
  }
  return {
    layerFormat: LAYER_FORMAT_VERSION,
    image,
    arch,
    parent: options.parent,
    definition: hashedDefinition(family, img),
    packages,
    files,
    epoch: family.sourceDateEpoch.kind === 'fixed' ? family.sourceDateEpoch.seconds : 'packages',
  };
}

function newest(records: readonly BuildRecord[]): Map<string, BuildRecord> {
  const out = new Map<string, BuildRecord>();
  for (const r of records) {
    const k = `${r.image}\u0000${r.arch}`;
    const cur = out.get(k);
    if (!cur || r.builtAt > cur.builtAt) out.set(k, r);
  }
  return out;
}

/** Records grouped by `key` (those without one left out), each group newest first. */
function newestFirstBy(records: readonly BuildRecord[], key: (r: BuildRecord) => string | undefined): Map<string, BuildRecord[]> {
  const out = new Map<string, BuildRecord[]>();
  for (const r of records) {
    const k = key(r);
    if (k !== undefined) out.set(k, [...(out.get(k) ?? []), r]);
  }
  for (const list of out.values()) list.sort((a, b) => cmp(b.builtAt, a.builtAt));
  return out;
}

/**
 * Plans a family build: which images to build, in which order, and why; which to reuse from
 * the store. Pure and deterministic. Throws LOCK_STALE when the lock no longer matches the
 * config, UNKNOWN_IMAGE/UNKNOWN_PROFILE/UNKNOWN_ARCH for a bad selection.
 */
export function planBuild(options: PlanOptions): BuildPlan {
  const { family, lock } = options;
  const lockFile = options.lockFile ?? 'lading.lock';
  assertLockFresh(family, lock, lockFile);
  const selected = selectImages(family, options.selection);
  const archs = options.architectures ? [...new Set(options.architectures)].sort() : [...family.architectures];
  for (const a of archs) {
    if (!family.architectures.includes(a)) {
      throw new BuildError('UNKNOWN_ARCH', `architecture ${JSON.stringify(a)} is not built by family ${family.project.name} (it builds ${family.architectures.join(', ')})`);
    }
  }
  for (const name of options.selection?.images ?? []) {
    const img = family.images[name];
    if (img && !img.architectures.some((a) => archs.includes(a))) {
      throw new BuildError('UNKNOWN_ARCH', `image ${name} is not built for ${archs.join(', ')} (it builds ${img.architectures.join(', ')})`);
    }
  }
  const records = options.store?.records ?? [];
  const byLayers = newestFirstBy(records, (r) => r.layerHash);
  // Of images built from the same inputs, the newest first (a forced rebuild's).
  const byHash = newestFirstBy(records, (r) => r.inputHash);
  const previous = newest(options.store?.previous ?? options.store?.records ?? []);
  const forced = (name: string) => options.force === true || (Array.isArray(options.force) && options.force.includes(name));

  const hashes = new Map<string, string>();
  const layerHashes = new Map<string, string>();
  const kinds = new Map<string, PlanStep['kind']>();
  /** Digests of the images this plan reuses, by image and arch. */
  const reused = new Map<string, string>();
  const levels: PlanStep[][] = [];
  for (const name of selected) {
    const img = family.images[name] as ImageConfig;
    for (const arch of archs) {
      if (!img.architectures.includes(arch)) continue;
      const key = `${name}\u0000${arch}`;
      let parent: ParentInput;
      if (img.from.kind === 'scratch') parent = { kind: 'scratch' };
      else if (img.from.kind === 'external') parent = { kind: 'external', reference: img.from.reference, digest: img.from.digest };
      else {
        const ph = hashes.get(`${img.from.name}\u0000${arch}`);
        if (!ph) throw new Error(`unreachable: parent ${img.from.name} of ${name} planned after it`);
        parent = { kind: 'image', name: img.from.name, inputHash: ph };
      }
      const inputs = imageInputs({ family, lock, files: options.files, image: name, arch, parent, lockFile });
      const hash = inputHash(inputs);
      hashes.set(key, hash);
      const layers = layerHash(inputs, family, img.from.kind === 'image' ? layerHashes.get(`${img.from.name}\u0000${arch}`) : undefined);
      layerHashes.set(key, layers);
      // The same inputs on another parent image (a parent rebuilt with other bytes, e.g. by a step
      // with network): only an image built on the parent this plan reuses fits. Older records,
      // without a parent digest, are left to the builder's check of the stored image.
      const parentDigest = parent.kind === 'image' ? reused.get(`${parent.name}\u0000${arch}`) : undefined;
      const candidates = byHash.get(hash) ?? [];
      const stored = parentDigest === undefined ? candidates[0] : candidates.find((r) => r.parentDigest === undefined || r.parentDigest === parentDigest);
      const otherParent = stored === undefined && parentDigest !== undefined ? candidates[0]?.parentDigest : undefined;
      const level = img.ancestors.length;
      let step: PlanStep;
      if (stored && !forced(name)) {
        step = { kind: 'reuse', image: name, arch, inputHash: hash, parent, digest: stored.digest, layerHash: layers };
        reused.set(key, stored.digest);
      } else if (otherParent !== undefined && parent.kind === 'image' && !forced(name)) {
        const reasons: Reason[] = [{ code: 'parent', message: `parent ${parent.name} is now ${parentDigest}; the stored image was built on ${otherParent}` }];
        step = { kind: 'build', image: name, arch, inputHash: hash, parent, reasons, inputs, layerHash: layers };
      } else {
        const prev = previous.get(key);
        const parentKind = img.from.kind === 'image' ? kinds.get(`${img.from.name}\u0000${arch}`) : undefined;
        let reasons: Reason[];
        if (forced(name)) reasons = [{ code: 'forced', message: 'rebuild forced' }];
        else if (!prev) reasons = [{ code: 'new', message: 'new image (no previous build in the store)' }];
        else if (prev.inputHash === hash) reasons = [{ code: 'missing', message: `the previous image ${prev.digest} is no longer (whole) in the store` }];
        else reasons = diffInputs(prev.inputs, inputs, parentKind === 'build');
        // Only the config changed: the builder makes a new config on the stored layers.
        const sameLayers = forced(name) ? undefined : byLayers.get(layers)?.[0];
        step = { kind: 'build', image: name, arch, inputHash: hash, parent, reasons, inputs, layerHash: layers, ...(sameLayers ? { layersFrom: sameLayers.digest } : {}) };
      }
      kinds.set(key, step.kind);
      (levels[level] ??= []).push(step);
    }
  }
  const batches = levels.filter((b) => b !== undefined && b.length > 0).map((b) => b.sort((x, y) => cmp(x.image, y.image) || cmp(x.arch, y.arch)));
  const steps = batches.flat();
  return {
    planVersion: PLAN_VERSION,
    family: family.project.name,
    layerFormat: LAYER_FORMAT_VERSION,
    architectures: archs,
    selection: { images: [...(options.selection?.images ?? [])], profiles: [...(options.selection?.profiles ?? [])], selected },
    batches,
    summary: { build: steps.filter((s) => s.kind === 'build').length, reuse: steps.filter((s) => s.kind === 'reuse').length },
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
