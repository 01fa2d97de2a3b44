// Site overrides: a second (third, ...) YAML file merged over lading.yaml without templates.
// Scalars replace; maps (env, labels, annotations) merge key by key with null removing a key;
// lists take edits: `set` (replace all), `remove`, `replace` (keyed lists), `add` (run steps
// may say `before`/`after`). See docs/config.md "Site overrides".
import { posix } from 'node:path';
import { suggestion, type FieldPath, type ProblemCode, type ProblemList, type SourceMap, type SourcePosition } from './problems.js';
import type { WrittenFamily, WrittenImage, WrittenOverride, WrittenPackages, ImagePatch, WrittenLabelValue } from './written.js';

/** Where a package name was asked for (for lock-time "unknown package" problems). */
export interface PackageOrigin extends SourcePosition {
  readonly path: FieldPath;
}

/**
 * An image's own package request while overrides are applied: names under `all` or an
 * architecture, and names removed for one architecture although listed under `all`.
 */
export interface PackageRequest {
  readonly byKey: Map<string, Map<string, PackageOrigin>>;
  readonly minus: Map<string, Set<string>>;
}

/** An image after merging: the written fields, with packages as a request. */
export interface MergedImage extends Omit<WrittenImage, 'packages'> {
  packages: PackageRequest;
}

/** The family after merging every override (internal; normalise() turns it into FamilyConfig). */
export interface MergedFamily extends Omit<WrittenFamily, 'images'> {
  images: Record<string, MergedImage>;
}

function origin(sources: SourceMap, path: FieldPath): PackageOrigin {
  return { ...sources.valueAt(path), path };
}

/** Adds the names of a written packages field to a request (positions from `sources`). */
function addPackages(req: PackageRequest, value: WrittenPackages, sources: SourceMap, path: FieldPath): void {
  const lists: [string, string[], FieldPath][] = Array.isArray(value)
    ? [['all', value, path]]
    : Object.entries(value).map(([k, v]) => [k, v ?? [], [...path, k]] as [string, string[], FieldPath]);
  for (const [key, names, p] of lists) {
    let m = req.byKey.get(key);
    if (!m) req.byKey.set(key, (m = new Map()));
    names.forEach((name, i) => {
      if (!m.has(name)) m.set(name, origin(sources, [...p, i]));
      if (key === 'all') for (const minus of req.minus.values()) minus.delete(name);
      else req.minus.get(key)?.delete(name);
    });
  }
}

/** The request made by a written packages field. */
export function packageRequest(value: WrittenPackages | undefined, sources: SourceMap, path: FieldPath): PackageRequest {
  const req: PackageRequest = { byKey: new Map(), minus: new Map() };
  if (value !== undefined) addPackages(req, value, sources, path);
  return req;
}

/** Turns a validated lading.yaml into the merged form. */
export function toMerged(family: WrittenFamily, sources: SourceMap): MergedFamily {
  const images: Record<string, MergedImage> = {};
  for (const [name, img] of Object.entries(family.images)) {
    const { packages, ...rest } = img;
    images[name] = { ...rest, packages: packageRequest(packages, sources, ['images', name, 'packages']) };
  }
  return { ...family, images };
}

const SCALARS = ['from', 'description', 'architectures', 'noEssential', 'workdir', 'user', 'entrypoint', 'cmd', 'healthcheck', 'stopSignal', 'maintainerScripts'] as const;

type Keyed = 'run' | 'files' | 'directories' | 'symlinks' | 'users' | 'groups';
/**
 * The lists of an image whose entries have a key: overrides address entries by it, and plan
 * reasons name a changed entry by it (`noun` and `plural` there; `what` in override problems).
 */
export const KEYED: Readonly<Record<Keyed, { key: (item: Record<string, unknown>) => string; what: string; noun: string; plural: string; field: string; dup: ProblemCode }>> = {
  run: { key: (s) => String(s.name), what: 'run step', noun: 'run step', plural: 'run steps', field: 'name', dup: 'DUPLICATE_STEP' },
  files: { key: (s) => normPath(String(s.dest)), what: 'file with dest', noun: 'file', plural: 'files', field: 'dest', dup: 'DUPLICATE_PATH' },
  directories: { key: (s) => normPath(String(s.path)), what: 'directory', noun: 'directory', plural: 'directories', field: 'path', dup: 'DUPLICATE_PATH' },
  symlinks: { key: (s) => normPath(String(s.path)), what: 'symlink', noun: 'symlink', plural: 'symlinks', field: 'path', dup: 'DUPLICATE_PATH' },
  users: { key: (s) => String(s.name), what: 'user', noun: 'user', plural: 'users', field: 'name', dup: 'DUPLICATE_USER' },
  groups: { key: (s) => String(s.name), what: 'group', noun: 'group', plural: 'groups', field: 'name', dup: 'DUPLICATE_USER' },
};

function normPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

interface Located<T> {
  value: T;
  sources: SourceMap;
  path: FieldPath;
}

/**
 * Applies one site override to the merged family, in place. Problems (unknown images, steps,
 * entries) are reported against the override's own file and lines.
 */
export function applyOverride(
  family: MergedFamily,
  sources: SourceMap,
  override: WrittenOverride,
  overrideSources: SourceMap,
  problems: ProblemList,
  /** Images left out for problems already reported: an override naming one is not an unknown image. */
  brokenImages: { has(name: string): boolean } = new Set<string>(),
): void {
  const copy = (from: FieldPath, to: FieldPath) => {
    sources.deleteSubtree(to);
    sources.copySubtree(overrideSources, from, to);
  };

  if (override.project) {
    const project = { ...family.project } as Record<string, unknown>;
    for (const [k, v] of Object.entries(override.project)) {
      if (v === undefined) continue;
      if ((k === 'owner' || k === 'support') && typeof v === 'object' && v !== null) {
        project[k] = { ...((project[k] as object | undefined) ?? {}), ...v };
        for (const sub of Object.keys(v)) copy(['project', k, sub], ['project', k, sub]);
        if (k === 'support' && !(project[k] as { status?: unknown }).status) {
          problems.error('REQUIRED', ['project', 'support', 'status'], 'the support statement has no status (lading.yaml does not set one either)');
        }
      } else {
        project[k] = v;
        copy(['project', k], ['project', k]);
      }
    }
    family.project = project as MergedFamily['project'];
  }
  for (const k of ['sources', 'suites', 'architectures', 'compression', 'sourceDateEpoch'] as const) {
    if (override[k] !== undefined) {
      (family as unknown as Record<string, unknown>)[k] = override[k];
      copy([k], [k]);
    }
  }
  if (override.profiles) {
    const profiles = { ...(family.profiles ?? {}) };
    for (const [name, members] of Object.entries(override.profiles)) {
      if (members === null) {
        if (!(name in profiles)) problems.warning('UNKNOWN_ENTRY', ['profiles', name], `no profile ${JSON.stringify(name)} to remove${suggestion(name, Object.keys(profiles))}`);
        delete profiles[name];
        sources.deleteSubtree(['profiles', name]);
      } else {
        profiles[name] = members;
        copy(['profiles', name], ['profiles', name]);
      }
    }
    family.profiles = profiles;
  }
  for (const [name, img] of Object.entries(override.addImages ?? {})) {
    if (name in family.images) {
      problems.keyError('INVALID_VALUE', ['addImages', name], `image ${JSON.stringify(name)} already exists; change it under images:`);
      continue;
    }
    const { packages, ...rest } = img;
    family.images[name] = { ...rest, packages: packageRequest(packages, overrideSources, ['addImages', name, 'packages']) };
    copy(['addImages', name], ['images', name]);
  }
  if (override.allImages) {
    const removed = new Set<string>(); // field\0key removed from at least one image
    for (const name of Object.keys(family.images)) {
      const img = family.images[name];
      if (!img) continue;
      for (const field of ['env', 'labels', 'annotations'] as const) {
        const patch = override.allImages[field];
        if (patch) for (const k of mergeMap(img, field, patch, overrideSources, ['allImages', field], sources, ['images', name, field])) removed.add(`${field}\u0000${k}`);
      }
    }
    for (const field of ['env', 'labels', 'annotations'] as const) {
      for (const [k, v] of Object.entries(override.allImages[field] ?? {})) {
        if (v === null && !removed.has(`${field}\u0000${k}`)) problems.warning('UNKNOWN_ENTRY', ['allImages', field, k], `no image sets ${MAP_NOUN[field]} ${JSON.stringify(k)}: nothing to remove`);
      }
    }
  }
  for (const [name, patch] of Object.entries(override.images ?? {})) {
    const img = family.images[name];
    if (!img) {
      if (brokenImages.has(name)) continue;
      problems.keyError('UNKNOWN_IMAGE', ['images', name], `unknown image ${JSON.stringify(name)}${suggestion(name, Object.keys(family.images))}; new images go under addImages:`);
      continue;
    }
    applyPatch(name, img, patch, sources, overrideSources, problems);
  }
}

const MAP_NOUN = { env: 'env variable', labels: 'label', annotations: 'annotation' } as const;

/** Merges a patch into one of an image's maps; returns the keys it removed (null values that were set). */
function mergeMap(
  img: MergedImage,
  field: 'env' | 'labels' | 'annotations',
  patch: Record<string, WrittenLabelValue | null>,
  patchSources: SourceMap,
  patchPath: FieldPath,
  sources: SourceMap,
  target: FieldPath,
): string[] {
  const map = { ...((img[field] as Record<string, WrittenLabelValue> | undefined) ?? {}) };
  const removed: string[] = [];
  for (const [k, v] of Object.entries(patch)) {
    sources.deleteSubtree([...target, k]);
    if (v === null) {
      if (Object.hasOwn(map, k)) removed.push(k);
      delete map[k];
    } else {
      map[k] = v;
      sources.copySubtree(patchSources, [...patchPath, k], [...target, k]);
    }
  }
  (img as unknown as Record<string, unknown>)[field] = map;
  return removed;
}

function applyPatch(name: string, img: MergedImage, patch: ImagePatch, sources: SourceMap, ps: SourceMap, problems: ProblemList): void {
  const base: FieldPath = ['images', name];
  const at: FieldPath = ['images', name];
  for (const k of SCALARS) {
    if (patch[k] === undefined) continue;
    (img as unknown as Record<string, unknown>)[k] = patch[k];
    sources.deleteSubtree([...at, k]);
    sources.copySubtree(ps, [...base, k], [...at, k]);
  }
  for (const field of ['env', 'labels', 'annotations'] as const) {
    const m = patch[field];
    if (!m) continue;
    const removed = mergeMap(img, field, m, ps, [...base, field], sources, [...at, field]);
    for (const [k, v] of Object.entries(m)) {
      // A value the image inherits is set, and removed, on the ancestor that sets it.
      if (v === null && !removed.includes(k)) problems.warning('UNKNOWN_ENTRY', [...base, field, k], `image ${name} sets no ${MAP_NOUN[field]} ${JSON.stringify(k)}: nothing to remove (an inherited one is removed on the image that sets it)`);
    }
  }
  if (patch.packages) {
    const edit = patch.packages;
    const pp: FieldPath = [...base, 'packages'];
    if (edit.set !== undefined) {
      img.packages = packageRequest(edit.set, ps, [...pp, 'set']);
    }
    if (edit.remove !== undefined) {
      const lists: [string, string[], FieldPath][] = Array.isArray(edit.remove)
        ? [['all', edit.remove, [...pp, 'remove']]]
        : Object.entries(edit.remove).map(([k, v]) => [k, v ?? [], [...pp, 'remove', k]] as [string, string[], FieldPath]);
      for (const [key, names, p] of lists) {
        names.forEach((pkg, i) => {
          let found = false;
          if (key === 'all') {
            for (const m of img.packages.byKey.values()) found = m.delete(pkg) || found;
          } else {
            found = img.packages.byKey.get(key)?.delete(pkg) ?? false;
            if (img.packages.byKey.get('all')?.has(pkg)) {
              let minus = img.packages.minus.get(key);
              if (!minus) img.packages.minus.set(key, (minus = new Set()));
              minus.add(pkg);
              found = true;
            }
          }
          if (!found) {
            const own = [...new Set([...img.packages.byKey.values()].flatMap((m) => [...m.keys()]))];
            problems.warning(
              'UNKNOWN_ENTRY',
              [...p, i],
              `package ${JSON.stringify(pkg)} is not in image ${name}'s own list${suggestion(pkg, own)} (an ancestor's packages are removed in that ancestor)`,
            );
          }
        });
      }
    }
    if (edit.add !== undefined) addPackages(img.packages, edit.add, ps, [...pp, 'add']);
  }
  for (const field of ['ports', 'volumes'] as const) {
    const edit = patch[field];
    if (!edit) continue;
    const fp: FieldPath = [...base, field];
    const snapshot = sources.clone();
    const current: Located<string | number>[] = edit.set
      ? edit.set.map((v, i) => ({ value: v, sources: ps, path: [...fp, 'set', i] }))
      : ((img[field] ?? []) as (string | number)[]).map((v, i) => ({ value: v, sources: snapshot, path: [...at, field, i] }));
    const same = (a: string | number, b: string | number) => (field === 'ports' ? String(a).replace(/\/tcp$/, '') === String(b).replace(/\/tcp$/, '') : normPath(String(a)) === normPath(String(b)));
    let list = current;
    (edit.remove ?? []).forEach((v, i) => {
      const before = list.length;
      list = list.filter((x) => !same(x.value, v));
      if (list.length === before) problems.warning('UNKNOWN_ENTRY', [...fp, 'remove', i], `${field === 'ports' ? 'port' : 'volume'} ${JSON.stringify(v)} is not in image ${name}`);
    });
    (edit.add ?? []).forEach((v, i) => {
      if (!list.some((x) => same(x.value, v))) list.push({ value: v, sources: ps, path: [...fp, 'add', i] });
    });
    writeList(img, field, list, sources, at);
  }
  for (const field of Object.keys(KEYED) as Keyed[]) {
    const edit = patch[field];
    if (edit) editKeyed(name, img, field, edit as KeyedEdit, sources, ps, [...base, field], at, problems);
  }
}

interface KeyedEdit {
  set?: Record<string, unknown>[];
  remove?: string[];
  replace?: Record<string, unknown>[];
  add?: (Record<string, unknown> & { before?: string; after?: string })[];
}

function writeList<T>(img: MergedImage, field: string, list: Located<T>[], sources: SourceMap, at: FieldPath): void {
  sources.deleteSubtree([...at, field]);
  list.forEach((item, i) => sources.copySubtree(item.sources, item.path, [...at, field, i]));
  (img as unknown as Record<string, unknown>)[field] = list.map((x) => x.value);
}

function editKeyed(name: string, img: MergedImage, field: Keyed, edit: KeyedEdit, sources: SourceMap, ps: SourceMap, fp: FieldPath, at: FieldPath, problems: ProblemList): void {
  const { key, what } = KEYED[field];
  const snapshot = sources.clone();
  const list: Located<Record<string, unknown>>[] = edit.set
    ? edit.set.map((v, i) => ({ value: v, sources: ps, path: [...fp, 'set', i] }))
    : ((img[field] ?? []) as Record<string, unknown>[]).map((v, i) => ({ value: v, sources: snapshot, path: [...at, field, i] }));
  const names = () => list.map((x) => key(x.value));
  const keyOf = (v: unknown) => (field === 'run' || field === 'users' || field === 'groups' ? String(v) : normPath(String(v)));
  (edit.remove ?? []).forEach((k, i) => {
    const idx = names().indexOf(keyOf(k));
    if (idx < 0) problems.error('UNKNOWN_ENTRY', [...fp, 'remove', i], `no ${what} ${JSON.stringify(k)} in image ${name}${suggestion(k, names())}`);
    else list.splice(idx, 1);
  });
  (edit.replace ?? []).forEach((v, i) => {
    const idx = names().indexOf(key(v));
    if (idx < 0) problems.error('UNKNOWN_ENTRY', [...fp, 'replace', i, KEYED[field].field], `no ${what} ${JSON.stringify(key(v))} in image ${name} to replace${suggestion(key(v), names())}`);
    else list[idx] = { value: v, sources: ps, path: [...fp, 'replace', i] };
  });
  (edit.add ?? []).forEach((v, i) => {
    const { before, after, ...item } = v;
    const p: FieldPath = [...fp, 'add', i];
    if (names().includes(key(item))) {
      problems.error(KEYED[field].dup, [...p, KEYED[field].field], `image ${name} already has ${what} ${JSON.stringify(key(item))}; use replace:`);
      return;
    }
    let idx = list.length;
    if (before !== undefined && after !== undefined) problems.error('INVALID_VALUE', p, 'give before or after, not both');
    const anchor = before ?? after;
    if (anchor !== undefined) {
      const a = names().indexOf(anchor);
      if (a < 0) {
        problems.error('UNKNOWN_ENTRY', [...p, before !== undefined ? 'before' : 'after'], `no ${what} ${JSON.stringify(anchor)} in image ${name}${suggestion(anchor, names())}`);
      } else idx = before !== undefined ? a : a + 1;
    }
    list.splice(idx, 0, { value: item, sources: ps, path: p });
  });
  writeList(img, field, list, sources, at);
}
