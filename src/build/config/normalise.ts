// Semantic validation and normalisation: merged family -> FamilyConfig. Pure: the build context
// is consulted only through the `context` callback the caller passes (see load.ts).
import { posix } from 'node:path';
import { parsePackageRequest, parseSourceTexts, type AptSource, type ParsedSources, type SourcesText } from '../../debian/index.js';
import { parseImageReference } from '../../oci/index.js';
import { standardMounts } from '../../runtime/index.js';
import { isWithin, type Digest } from '../../core/index.js';
import { pathKey, stepLabel, suggestion, type FieldPath, type ProblemList, type SourceMap } from './problems.js';
import type { MergedFamily, MergedImage, PackageOrigin } from './override.js';
import type {
  AptSourceEntry,
  ContainerSettings,
  DebianArch,
  DirectorySpec,
  FamilyConfig,
  FileSpec,
  GroupSpec,
  HealthcheckSpec,
  IdRef,
  ImageBase,
  ImageConfig,
  OwnSettings,
  ProjectMetadata,
  RunStepSpec,
  SourcesConfig,
  SymlinkSpec,
  UserSpec,
} from './types.js';
import { durationSeconds, ENV_NAME, LADING_KEY_PREFIX, USER_SETTABLE_OCI_KEYS, type WrittenLabelValue, type WrittenSource } from './written.js';

/** Directories whose contents every build removes (the runtime mounts tmpfs there during runs). */
export const CLEARED_DIRS: readonly string[] = ['/tmp', '/var/tmp', '/run'];
/** Where config entries would vanish: CLEARED_DIRS and Debian's links into /run. */
const EMPTIED_AT_END: readonly string[] = [...CLEARED_DIRS, '/var/run', '/var/lock'];

/** What the build context holds at a path (relative to the context directory). */
export type ContextEntryKind = 'file' | 'directory' | 'missing' | 'other';

/** Options of normalise(). */
export interface NormaliseOptions {
  /** Architecture used when the config names none (the machine's, in dpkg terms). */
  hostArchitecture: DebianArch;
  /** Says what a build-context path is; without it, context paths are checked only for escapes. */
  context?: (src: string) => ContextEntryKind;
  /** Images dropped because of schema problems already reported: references to them are not reported again. */
  brokenImages?: ReadonlySet<string>;
  /** `images:` could not be read at all: names cannot be judged unknown. */
  imagesUnreadable?: boolean;
  /** Files the family was read from, for FamilyConfig.origin. */
  origin?: FamilyConfig['origin'];
}

/** Result of normalise(): the family when there were no errors, and every problem found. */
export interface NormaliseResult {
  readonly family: FamilyConfig | undefined;
  /** Where each image's package names were asked for, for lock-time problems. */
  readonly packageOrigins: ReadonlyMap<string, ReadonlyMap<string, PackageOrigin>>;
}

export { LADING_KEY_PREFIX, USER_SETTABLE_OCI_KEYS };

const DEFAULT_TIMEOUT_SECONDS = 600;

/**
 * A scalar as the text the image gets. A number YAML read differently from how it was written
 * (`3.10` is 3.1, `1.0` is 1) gets a warning: quoting keeps the text.
 */
function text(v: string | number | boolean, path: FieldPath, sources: SourceMap, problems: ProblemList): string {
  const written = typeof v === 'number' ? sources.numberText(path) : undefined;
  if (written !== undefined) problems.warning('INVALID_VALUE', path, `YAML reads ${written} as the number ${v}, so the value is "${v}"; write "${written}" (quoted) to keep the text`);
  return String(v);
}

function sortRecord<V>(r: Record<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k] as V;
  return out;
}

function normAbs(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** The deb822 text of a stanza entry (multi-line values as continuation lines, deb822(5)). */
export function deb822Text(e: Extract<AptSourceEntry, { format: 'deb822' }>): string {
  const field = (name: string, value: string) => {
    const lines = value.split('\n');
    return `${name}: ${lines[0] ?? ''}${lines.slice(1).map((l) => `\n ${l.trim() === '' ? '.' : l}`).join('')}`;
  };
  return [
    field('Types', e.types.join(' ')),
    field('URIs', e.uris.join(' ')),
    field('Suites', e.suites.join(' ')),
    ...(e.components.length ? [field('Components', e.components.join(' '))] : []),
    ...(e.signedBy !== undefined ? [field('Signed-By', e.signedBy.trim())] : []),
    ...(e.architectures?.length ? [field('Architectures', e.architectures.join(' '))] : []),
  ].join('\n');
}

/**
 * The config's source entries as the debian module's AptSource list, parsed by its own
 * sources.list(5) and deb822 parsers. Throws DebianError SOURCES_INVALID naming `what`.
 */
export function toAptSources(entries: readonly AptSourceEntry[], what: string): AptSource[] {
  return parseEntries(entries, `${what} `).sources;
}

/** The entries as one list (apt's list-wide checks); each named `<prefix>sources[i]`. */
function parseEntries(entries: readonly AptSourceEntry[], prefix = ''): ParsedSources {
  return parseSourceTexts(entries.map((e, i) => sourceText(e, `${prefix}sources[${i}]`)));
}

function sourceText(e: AptSourceEntry, what: string): SourcesText {
  return e.format === 'one-line' ? { text: e.line, what, format: 'one-line' } : { text: deb822Text(e), what, format: 'deb822' };
}

function parseEntry(e: AptSourceEntry, at: string): ParsedSources {
  return parseSourceTexts([sourceText(e, at)]);
}

/** Parses and normalises the merged family, reporting every semantic problem. */
export function normalise(merged: MergedFamily, sources: SourceMap, problems: ProblemList, options: NormaliseOptions): NormaliseResult {
  const packageOrigins = new Map<string, Map<string, PackageOrigin>>();

  // --- family-level fields ---
  const wp = merged.project;
  const project: ProjectMetadata = {
    name: wp.name,
    ...(wp.title !== undefined ? { title: wp.title } : {}),
    ...(wp.description !== undefined ? { description: wp.description } : {}),
    ...(wp.vendor !== undefined ? { vendor: wp.vendor } : {}),
    ...(wp.contact !== undefined ? { contact: wp.contact } : {}),
    ...(wp.license !== undefined ? { license: wp.license } : {}),
    ...(wp.url !== undefined ? { url: wp.url } : {}),
    ...(wp.source !== undefined ? { source: wp.source } : {}),
    ...(wp.documentation !== undefined ? { documentation: wp.documentation } : {}),
    ...(wp.version !== undefined ? { version: text(wp.version, ['project', 'version'], sources, problems) } : {}),
    ...(wp.owner !== undefined ? { owner: { ...wp.owner } } : {}),
    ...(wp.support !== undefined ? { support: { ...wp.support } } : {}),
  };
  if (wp.support?.until !== undefined && !isCalendarDate(wp.support.until)) {
    problems.error('INVALID_VALUE', ['project', 'support', 'until'], `${JSON.stringify(wp.support.until)} is not a calendar date`);
  }

  let sourcesConfig: SourcesConfig = { kind: 'machine' };
  if (merged.sources !== undefined && merged.sources !== 'machine') {
    const entries: AptSourceEntry[] = [];
    const entryPaths: FieldPath[] = [];
    // Each entry's own warnings, named as in the list parse (which repeats them).
    const own = new Set<string>();
    merged.sources.forEach((s: WrittenSource, i) => {
      const path: FieldPath = ['sources', i];
      const e: AptSourceEntry =
        typeof s === 'string'
          ? { format: 'one-line', line: s.trim() }
          : {
              format: 'deb822',
              types: s.types ?? ['deb'],
              uris: s.uris,
              suites: s.suites,
              components: s.components ?? [],
              ...(s.signedBy !== undefined ? { signedBy: s.signedBy } : {}),
              ...(s.architectures !== undefined ? { architectures: s.architectures } : {}),
            };
      // The debian module's parsers decide what apt accepts; their message names the problem. The
      // entry is named as it will be in the list parse below, so its own warnings are known there.
      const at = `sources[${entries.length}]`;
      const unnamed = (m: string) => m.replace(/^sources\[\d+\](?::\d+)?:? ?/, '');
      try {
        const parsed = parseEntry(e, at);
        // The parser's warning says why an entry yields nothing (a flat repository, a scheme),
        // or what it ignored (an option apt does not know).
        const why = parsed.warnings.map(unnamed).join('; ');
        if (parsed.sources.length === 0) problems.error('INVALID_VALUE', path, `no usable source: ${why || 'deb-src only'}`);
        else {
          if (why) problems.warning('INVALID_VALUE', path, why);
          for (const w of parsed.warnings) own.add(w);
          entries.push(e);
          entryPaths.push(path);
        }
      } catch (err) {
        problems.error('INVALID_VALUE', path, unnamed((err as Error).message));
      }
    });
    // As apt reads one list: entries of one URI and suite must agree on trust options.
    const named = (m: string) => m.replace(/\bsources\[(\d+)\](?::\d+)?/g, (_, i: string) => formatRel(entryPaths[Number(i)] ?? ['sources', Number(i)], [], sources));
    try {
      // Only what the list adds: each entry's own warnings are reported at the entry above.
      for (const w of parseEntries(entries).warnings) if (!own.has(w)) problems.warning('INVALID_VALUE', ['sources'], named(w));
    } catch (err) {
      problems.error('INVALID_VALUE', ['sources'], named((err as Error).message));
    }
    sourcesConfig = { kind: 'inline', entries };
  }

  const architectures = [...new Set(merged.architectures ?? [options.hostArchitecture])].sort();
  warnRepeated(merged.architectures ?? [], ['architectures'], problems);
  const compression =
    merged.compression === undefined
      ? { algorithm: 'gzip' as const }
      : typeof merged.compression === 'string'
        ? { algorithm: merged.compression }
        : { algorithm: merged.compression.algorithm, ...(merged.compression.level !== undefined ? { level: merged.compression.level } : {}) };
  const sourceDateEpoch = typeof merged.sourceDateEpoch === 'number' ? { kind: 'fixed' as const, seconds: merged.sourceDateEpoch } : { kind: 'packages' as const };

  // --- the image graph ---
  const names = Object.keys(merged.images).sort();
  // (A missing `images:` is already an error; its stand-in's problems are suppressed.)
  if (names.length === 0) problems.warning('INVALID_VALUE', ['images'], 'the family has no images: lock, plan and build have nothing to do');
  for (const name of names) {
    if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(name)) {
      problems.keyError('INVALID_VALUE', ['images', name], `image name ${JSON.stringify(name)}: expected lower-case letters, digits and single . _ - separators`);
    }
  }
  const bases = new Map<string, ImageBase | undefined>();
  for (const name of names) {
    const img = merged.images[name] as MergedImage;
    bases.set(name, parseFrom(name, img.from, merged, problems, options.brokenImages));
  }
  const parentOf = (n: string): string | undefined => {
    const b = bases.get(n);
    return b?.kind === 'image' ? b.name : undefined;
  };

  // Cycles: follow `from` from every image; a walk that comes back to a node on its path is a cycle.
  const inCycle = new Set<string>();
  const reported = new Set<string>();
  for (const start of names) {
    const path: string[] = [];
    let cur: string | undefined = start;
    while (cur !== undefined && merged.images[cur] && !path.includes(cur) && !inCycle.has(cur)) {
      path.push(cur);
      cur = parentOf(cur);
    }
    if (cur !== undefined && path.includes(cur)) {
      const cycle = path.slice(path.indexOf(cur));
      for (const c of cycle) inCycle.add(c);
      const key = [...cycle].sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        // Name the cycle from its smallest member, where the problem is reported.
        const first = [...cycle].sort()[0] as string;
        const rot = [...cycle.slice(cycle.indexOf(first)), ...cycle.slice(0, cycle.indexOf(first))];
        problems.error('CYCLE', ['images', first, 'from'], `cycle: ${[...rot, first].join(' -> ')} (each image is built FROM the next)`);
      }
    }
  }

  // Images that can be built: a known base, no cycle, an intact ancestor chain.
  const usable = new Map<string, boolean>();
  const isUsable = (n: string, seen: Set<string> = new Set()): boolean => {
    const known = usable.get(n);
    if (known !== undefined) return known;
    if (seen.has(n) || inCycle.has(n) || !bases.get(n) || !merged.images[n]) return false;
    seen.add(n);
    const p = parentOf(n);
    const ok = p === undefined ? true : isUsable(p, seen);
    usable.set(n, ok);
    return ok;
  };

  // Parents first, ties by name: depth, then name.
  const depth = (n: string): number => {
    const p = parentOf(n);
    return p === undefined ? 0 : 1 + depth(p);
  };
  const order = names.filter((n) => isUsable(n)).sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));

  const images: Record<string, ImageConfig> = {};
  for (const name of order) {
    const img = merged.images[name] as MergedImage;
    const base = bases.get(name) as ImageBase;
    const parent = base.kind === 'image' ? images[base.name] : undefined;
    const ancestors = parent ? [parent.name, ...parent.ancestors] : [];
    const lineage = ancestors.map((a) => images[a]).filter((x): x is ImageConfig => x !== undefined);
    const built = normaliseImage(name, img, base, parent, lineage, architectures, options, problems, sources);
    images[name] = built.image;
    packageOrigins.set(name, built.origins);
  }
  // Images with a broken chain (unknown parent, cycle) are not built, but their own fields are
  // still checked, without what their ancestors would add, so one run reports every problem.
  for (const name of names) {
    const img = merged.images[name];
    if (!img || usable.get(name) === true) continue;
    normaliseImage(name, img, bases.get(name) ?? { kind: 'scratch' }, undefined, [], architectures, options, problems, sources);
  }
  // Children, now that every image is known.
  const childMap = new Map<string, string[]>();
  for (const n of order) {
    const p = parentOf(n);
    if (p !== undefined) childMap.set(p, [...(childMap.get(p) ?? []), n]);
  }
  for (const n of order) {
    const i = images[n];
    if (i) images[n] = { ...i, children: (childMap.get(n) ?? []).sort() };
  }

  // --- profiles ---
  const profiles: Record<string, string[]> = {};
  for (const [pname, members] of Object.entries(merged.profiles ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const set = new Set<string>();
    members.forEach((m, i) => {
      if (m.includes('*')) {
        const re = new RegExp(`^${m.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
        const hits = names.filter((n) => re.test(n));
        const brokenHit = options.imagesUnreadable === true || [...(options.brokenImages ?? [])].some((n) => re.test(n));
        if (hits.length === 0 && !brokenHit) problems.warning('UNKNOWN_IMAGE', ['profiles', pname, i], `pattern ${JSON.stringify(m)} matches no image`);
        for (const h of hits) set.add(h);
      } else if (options.imagesUnreadable === true || options.brokenImages?.has(m)) {
        // already reported where the image is defined
      } else if (!merged.images[m]) {
        problems.error('UNKNOWN_IMAGE', ['profiles', pname, i], `unknown image ${JSON.stringify(m)}${suggestion(m, names)}`);
      } else set.add(m);
    });
    profiles[pname] = [...set].sort();
  }

  const family: FamilyConfig = {
    format: 1,
    project,
    sources: sourcesConfig,
    ...(merged.suites !== undefined ? { suites: [...merged.suites] } : {}),
    architectures,
    compression,
    sourceDateEpoch,
    images: sortRecord(images),
    order,
    profiles,
    origin: options.origin ?? { config: sources.defaultFile, overrides: [] },
  };
  return { family: problems.hasErrors ? undefined : family, packageOrigins };
}

function parseFrom(name: string, from: string, merged: MergedFamily, problems: ProblemList, broken?: ReadonlySet<string>): ImageBase | undefined {
  const path: FieldPath = ['images', name, 'from'];
  if (from === 'scratch') return { kind: 'scratch' };
  if (/[/:@]/.test(from)) {
    let ref;
    try {
      ref = parseImageReference(from, { defaultTag: null });
    } catch (err) {
      problems.error('INVALID_VALUE', path, (err as Error).message);
      return undefined;
    }
    if (!ref.digest) {
      problems.error('NOT_PINNED', path, `external image ${JSON.stringify(from)} is not pinned: add its digest (${from}@sha256:...; a tag may stay next to the digest)`);
      return undefined;
    }
    return {
      kind: 'external',
      reference: from,
      registry: ref.registry,
      repository: ref.repository,
      ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
      digest: ref.digest as Digest,
    };
  }
  if (from === name) {
    problems.error('CYCLE', path, `cycle: ${name} -> ${name} (an image cannot be built FROM itself)`);
    return undefined;
  }
  if (broken?.has(from)) return undefined;
  if (!merged.images[from]) {
    const hint = suggestion(from, Object.keys(merged.images));
    problems.error(
      'UNKNOWN_IMAGE',
      path,
      `unknown image ${JSON.stringify(from)}${hint || ' (not in this family; an external base is written REGISTRY/REPO[:TAG]@sha256:..., or use scratch)'}`,
    );
    return undefined;
  }
  return { kind: 'image', name: from };
}

function parseMode(value: string | number | undefined, path: FieldPath, sources: SourceMap, problems: ProblemList): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return parseInt(value, 8);
  if (sources.isOctal(path)) return value;
  const written = String(value);
  const digits = written.replace(/^0+/, '') || '0';
  // Only digits 0-7 read as the octal mode the writer probably meant.
  const fix = /^[0-7]{1,4}$/.test(digits) ? `: write "0${digits}" (quoted) or 0o${digits}` : ': write the mode in octal, quoted ("0755") or as 0o755';
  problems.error('BAD_MODE', path, `unquoted mode ${written} is ambiguous (YAML 1.2 reads it as the decimal number ${written}, chmod as octal)${fix}`);
  return undefined;
}

/** A value listed twice in a list that is a set (architectures): a warning at the second. */
function warnRepeated(values: readonly string[], path: FieldPath, problems: ProblemList): void {
  values.forEach((v, i) => {
    const first = values.indexOf(v);
    if (first < i) problems.warning('INVALID_VALUE', [...path, i], `${v} is listed twice (also at [${first}])`);
  });
}

/** The architecture of a `name:ARCH` request (the resolver's reading), undefined for plain names, `:any` and `:native`. */
function onlyArchitecture(request: string): string | undefined {
  try {
    return parsePackageRequest(request).architecture;
  } catch {
    return undefined; // reported by the schema's package-name check
  }
}

function parseOwner(value: string | undefined): { user: IdRef; group: IdRef } {
  if (value === undefined) return { user: 0, group: 0 };
  const [u = '0', g] = value.split(':');
  const id = (s: string): IdRef => (/^\d+$/.test(s) ? Number(s) : s);
  return { user: id(u), group: id(g ?? u) };
}

function checkContextPath(src: string, path: FieldPath, options: NormaliseOptions, problems: ProblemList): { src: string; kind: 'file' | 'directory' | 'unknown' } | undefined {
  const n = posix.normalize(src.replace(/\\/g, '/'));
  if (src.startsWith('/') || n === '..' || n.startsWith('../')) {
    problems.error('PATH_ESCAPES', path, `${JSON.stringify(src)} is outside the build context (use a path relative to the context, without "..")`);
    return undefined;
  }
  const rel = n === '.' ? '.' : n.replace(/\/$/, '');
  if (!options.context) return { src: rel, kind: 'unknown' };
  const kind = options.context(rel);
  if (kind === 'missing') {
    problems.error('PATH_MISSING', path, `${JSON.stringify(src)} does not exist in the build context`);
    return undefined;
  }
  if (kind === 'other') {
    problems.error('INVALID_VALUE', path, `${JSON.stringify(src)} is not a regular file or directory (or is a symlink leaving the context)`);
    return undefined;
  }
  return { src: rel, kind };
}

/** YYYY-MM-DD naming a real day (Date.parse rolls 2027-02-30 over into March). */
function isCalendarDate(date: string): boolean {
  const t = Date.parse(`${date}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === date;
}

/** Where the runtime mounts kernel file systems in every step's container (/proc, /dev, /sys...). */
const KERNEL_DIRS = standardMounts(true).map((m) => m.destination);

function checkAbsolute(p: string, path: FieldPath, problems: ProblemList): string | undefined {
  if (!p.startsWith('/')) {
    problems.error('INVALID_VALUE', path, `${JSON.stringify(p)} must be an absolute path in the image`);
    return undefined;
  }
  if (p.split('/').includes('..')) {
    problems.error('PATH_ESCAPES', path, `${JSON.stringify(p)} must not contain ".."`);
    return undefined;
  }
  return normAbs(p);
}

function splitLabels(
  map: Record<string, WrittenLabelValue> | undefined,
  field: 'labels' | 'annotations',
  base: FieldPath,
  sources: SourceMap,
  problems: ProblemList,
): { stable: Record<string, string>; volatile: Record<string, string> } {
  const stable: Record<string, string> = {};
  const volatile: Record<string, string> = {};
  for (const [k, v] of Object.entries(map ?? {})) {
    const path = [...base, field, k];
    if (k === '' || /\s/.test(k)) {
      problems.keyError('INVALID_VALUE', path, `${field.slice(0, -1)} key ${JSON.stringify(k)} must be non-empty without spaces`);
      continue;
    }
    if (k.startsWith(LADING_KEY_PREFIX)) {
      problems.keyError('RESERVED_KEY', path, `${JSON.stringify(k)}: keys under ${LADING_KEY_PREFIX} are set by lading (from project metadata and the image definition)`);
      continue;
    }
    if (k.startsWith('org.opencontainers.') && !USER_SETTABLE_OCI_KEYS.includes(k)) {
      problems.keyError(
        'RESERVED_KEY',
        path,
        `${JSON.stringify(k)} is reserved: lading sets created, base.name, base.digest and ref.name itself; a config may set org.opencontainers.image.{${USER_SETTABLE_OCI_KEYS.map((x) => x.slice('org.opencontainers.image.'.length)).join(',')}}`,
      );
      continue;
    }
    if (typeof v === 'object') (v.volatile ? volatile : stable)[k] = text(v.value, [...path, 'value'], sources, problems);
    else stable[k] = text(v, path, sources, problems);
  }
  return { stable: sortRecord(stable), volatile: sortRecord(volatile) };
}

function normaliseHealthcheck(h: NonNullable<MergedImage['healthcheck']>): HealthcheckSpec {
  const test = typeof h.test === 'string' ? ['CMD-SHELL', h.test] : ['CMD', 'CMD-SHELL', 'NONE'].includes(h.test[0] ?? '') ? [...h.test] : ['CMD', ...h.test];
  return {
    test,
    ...(h.interval !== undefined ? { intervalSeconds: durationSeconds(h.interval) } : {}),
    ...(h.timeout !== undefined ? { timeoutSeconds: durationSeconds(h.timeout) } : {}),
    ...(h.startPeriod !== undefined ? { startPeriodSeconds: durationSeconds(h.startPeriod) } : {}),
    ...(h.retries !== undefined ? { retries: h.retries } : {}),
  };
}

function normaliseImage(
  name: string,
  img: MergedImage,
  base: ImageBase,
  parent: ImageConfig | undefined,
  lineage: readonly ImageConfig[],
  familyArchs: readonly DebianArch[],
  options: NormaliseOptions,
  problems: ProblemList,
  sources: SourceMap,
): { image: ImageConfig; origins: Map<string, PackageOrigin> } {
  const at: FieldPath = ['images', name];

  // Architectures: the image's subset, else the parent's, else the family's.
  let architectures = [...(parent?.architectures ?? familyArchs)];
  if (img.architectures) {
    const chosen: string[] = [];
    warnRepeated(img.architectures, [...at, 'architectures'], problems);
    img.architectures.forEach((a, i) => {
      if (!familyArchs.includes(a)) problems.error('INVALID_VALUE', [...at, 'architectures', i], `${a} is not one of the family's architectures (${familyArchs.join(', ')})`);
      else if (parent && !parent.architectures.includes(a)) {
        problems.error('ARCH_NOT_IN_PARENT', [...at, 'architectures', i], `parent ${parent.name} is not built for ${a} (it is built for ${parent.architectures.join(', ')})`);
      } else chosen.push(a);
    });
    architectures = [...new Set(chosen)].sort();
  }

  // Packages per architecture, and where each name was asked for.
  const origins = new Map<string, PackageOrigin>();
  const packages: Record<string, string[]> = {};
  for (const [key, m] of img.packages.byKey) {
    if (key !== 'all' && !architectures.includes(key)) {
      const first = [...m.values()][0];
      if (first) problems.warning('INVALID_VALUE', first.path.slice(0, -1), `image ${name} is not built for ${key}; these packages are ignored`);
    }
  }
  for (const arch of architectures) {
    const set = new Set<string>();
    for (const key of ['all', arch]) {
      for (const [pkg, o] of img.packages.byKey.get(key) ?? []) {
        if (key === 'all' && img.packages.minus.get(arch)?.has(pkg)) continue;
        // `name:ARCH` is requested only when that architecture is resolved (docs/apt.md).
        const only = onlyArchitecture(pkg);
        if (only !== undefined && only !== arch) continue;
        set.add(pkg);
        if (!origins.has(pkg)) origins.set(pkg, o);
      }
    }
    packages[arch] = [...set].sort();
  }
  for (const [key, m] of img.packages.byKey) {
    for (const [pkg, o] of m) {
      const only = onlyArchitecture(pkg);
      if (only === undefined) continue;
      if (!architectures.includes(only)) problems.warning('INVALID_VALUE', o.path, `image ${name} is not built for ${only}; ${pkg} is ignored`);
      else if (key !== 'all' && key !== only) problems.warning('INVALID_VALUE', o.path, `${pkg} is listed for ${key}, but :${only} asks for it only on ${only}; it is ignored`);
    }
  }

  if (img.noEssential === true && base.kind !== 'scratch') {
    problems.error('INVALID_VALUE', [...at, 'noEssential'], `noEssential applies only to images built from scratch (${name} is built from ${base.kind === 'image' ? base.name : 'an external image'})`);
  }
  const essential = base.kind === 'scratch' && img.noEssential !== true;

  // Paths written into the image: each destination once per image, none in a directory the
  // build empties at the end.
  const destinations = new Map<string, string>();
  const claim = (dest: string, path: FieldPath) => {
    const emptied = EMPTIED_AT_END.find((d) => dest.startsWith(`${d}/`));
    if (emptied !== undefined) {
      problems.error('INVALID_VALUE', path, `${dest} is in ${emptied}, which every build empties at the end (it belongs to the running container): create it when the container starts, or declare a volume`);
    }
    const prev = destinations.get(dest);
    if (prev !== undefined) problems.error('DUPLICATE_PATH', path, `${dest} is already written by ${prev}`);
    else destinations.set(dest, formatRel(path, at, sources));
  };

  const files: FileSpec[] = [];
  (img.files ?? []).forEach((f, i) => {
    const p: FieldPath = [...at, 'files', i];
    const src = checkContextPath(f.src, [...p, 'src'], options, problems);
    // A destination ending in "/" is a directory to copy into (Dockerfile COPY): the file keeps its name.
    const into = f.dest.endsWith('/') && f.dest !== '/' && src?.kind === 'file';
    const dest = checkAbsolute(into ? posix.join(f.dest, posix.basename(src.src)) : f.dest, [...p, 'dest'], problems);
    const mode = parseMode(f.mode, [...p, 'mode'], sources, problems);
    if (src?.kind === 'directory' && f.mode !== undefined) {
      problems.error('BAD_MODE', [...p, 'mode'], `${JSON.stringify(f.src)} is a directory: its files keep 0644 (0755 when executable); set directory modes under directories:`);
    }
    if (src?.kind === 'file' && dest === '/') {
      problems.error('INVALID_VALUE', [...p, 'dest'], `a file cannot replace the root directory: name it, e.g. ${JSON.stringify(posix.join('/', posix.basename(f.src)))}`);
      return;
    }
    if (dest !== undefined) claim(dest, [...p, 'dest']);
    if (src && dest !== undefined) files.push({ src: src.src, dest, ...(mode !== undefined ? { mode } : {}), owner: parseOwner(f.owner) });
  });
  const directories: DirectorySpec[] = [];
  (img.directories ?? []).forEach((d, i) => {
    const p: FieldPath = [...at, 'directories', i];
    const path = checkAbsolute(d.path, [...p, 'path'], problems);
    const mode = parseMode(d.mode, [...p, 'mode'], sources, problems);
    if (path !== undefined) {
      claim(path, [...p, 'path']);
      directories.push({ path, mode: mode ?? 0o755, owner: parseOwner(d.owner) });
    }
  });
  const symlinks: SymlinkSpec[] = [];
  (img.symlinks ?? []).forEach((l, i) => {
    const p: FieldPath = [...at, 'symlinks', i];
    const path = checkAbsolute(l.path, [...p, 'path'], problems);
    if (path === '/') problems.error('INVALID_VALUE', [...p, 'path'], 'a symlink cannot replace the root directory');
    else if (path !== undefined) {
      claim(path, [...p, 'path']);
      symlinks.push({ path, target: l.target });
    }
  });

  // Groups and users: unique names and ids across the image and its ancestors.
  const inherited = { groups: lineage.flatMap((a) => a.groups.map((g) => ({ g, owner: a.name }))), users: lineage.flatMap((a) => a.users.map((u) => ({ u, owner: a.name }))) };
  const groups: GroupSpec[] = [];
  const groupNames = new Map<string, string>(inherited.groups.map(({ g, owner }) => [g.name, `image ${owner}`]));
  const gids = new Map<number, string>(inherited.groups.map(({ g, owner }) => [g.gid, `group ${g.name} of image ${owner}`]));
  (img.groups ?? []).forEach((g, i) => {
    const p: FieldPath = [...at, 'groups', i];
    const byName = groupNames.get(g.name);
    const byId = gids.get(g.gid);
    if (byName !== undefined) problems.error('DUPLICATE_USER', [...p, 'name'], `group ${g.name} is already defined by ${byName}`);
    else if (byId !== undefined) problems.error('DUPLICATE_ID', [...p, 'gid'], `gid ${g.gid} is already used by ${byId}`);
    else {
      groupNames.set(g.name, formatRel(p, at, sources));
      gids.set(g.gid, `group ${g.name}`);
      groups.push({ name: g.name, gid: g.gid, system: g.system ?? true, implicit: false });
    }
  });
  const users: UserSpec[] = [];
  const userNames = new Map<string, string>(inherited.users.map(({ u, owner }) => [u.name, `image ${owner}`]));
  const uids = new Map<number, string>(inherited.users.map(({ u, owner }) => [u.uid, `user ${u.name} of image ${owner}`]));
  const knownGroupByGid = new Map<number, GroupSpec>([...inherited.groups.map(({ g }) => [g.gid, g] as const), ...groups.map((g) => [g.gid, g] as const)]);
  (img.users ?? []).forEach((u, i) => {
    const p: FieldPath = [...at, 'users', i];
    const byName = userNames.get(u.name);
    const byId = uids.get(u.uid);
    if (byName !== undefined) {
      problems.error('DUPLICATE_USER', [...p, 'name'], `user ${u.name} is already defined by ${byName}`);
      return;
    }
    if (byId !== undefined) {
      problems.error('DUPLICATE_ID', [...p, 'uid'], `uid ${u.uid} is already used by ${byId}`);
      return;
    }
    userNames.set(u.name, formatRel(p, at, sources));
    uids.set(u.uid, `user ${u.name}`);
    const gid = u.gid ?? u.uid;
    const system = u.system ?? true;
    if (!knownGroupByGid.has(gid)) {
      // A user-private group, as adduser makes; its name must be free.
      const clash = groupNames.get(u.name);
      if (clash !== undefined) {
        problems.error('DUPLICATE_ID', [...p, u.gid === undefined ? 'uid' : 'gid'], `group ${u.name} (defined by ${clash}) does not have gid ${gid}; set gid to its gid`);
      } else {
        const g: GroupSpec = { name: u.name, gid, system, implicit: true };
        groups.push(g);
        knownGroupByGid.set(gid, g);
        groupNames.set(u.name, `user ${u.name}`);
      }
    }
    users.push({
      name: u.name,
      uid: u.uid,
      gid,
      groups: [...new Set(u.groups ?? [])].sort(),
      home: u.home ?? (system ? '/nonexistent' : `/home/${u.name}`),
      shell: u.shell ?? '/usr/sbin/nologin',
      system,
      comment: u.comment ?? '',
    });
  });

  // Run steps.
  const run: RunStepSpec[] = [];
  const stepNames = new Map<string, string>();
  (img.run ?? []).forEach((s, i) => {
    const p: FieldPath = [...at, 'run', i];
    const prev = stepNames.get(s.name);
    if (prev !== undefined) {
      problems.error('DUPLICATE_STEP', [...p, 'name'], `run step ${JSON.stringify(s.name)} is already defined at ${prev}`);
      return;
    }
    stepNames.set(s.name, formatRel(p, at, sources));
    if ((s.script === undefined) === (s.args === undefined)) {
      problems.error(s.script === undefined ? 'REQUIRED' : 'INVALID_VALUE', p, `${stepLabel(s.name)} needs exactly one of script and args`);
      return;
    }
    if (s.script !== undefined && s.script.trim() === '') problems.error('INVALID_VALUE', [...p, 'script'], `${stepLabel(s.name)}: the script is empty`);
    // No program can take a NUL byte in an argument (execve ends the string there).
    if (s.script?.includes('\0')) problems.error('INVALID_VALUE', [...p, 'script'], 'must not contain a NUL byte');
    (s.args ?? []).forEach((a, j) => {
      if (a.includes('\0')) problems.error('INVALID_VALUE', [...p, 'args', j], 'must not contain a NUL byte');
    });
    const checked = s.workdir === undefined ? '/' : checkAbsolute(s.workdir, [...p, 'workdir'], problems);
    const kernelDir = checked === undefined ? undefined : KERNEL_DIRS.find((d) => isWithin(d, checked));
    if (kernelDir) problems.error('INVALID_VALUE', [...p, 'workdir'], `${JSON.stringify(checked)} is in ${kernelDir}, which the runtime mounts over during a step`);
    const workdir = kernelDir ? undefined : checked;
    const env = envMap(s.env, [...p, 'env'], sources, problems);
    run.push({
      name: s.name,
      ...(s.script !== undefined ? { script: s.script } : { args: [...(s.args ?? [])] }),
      network: s.network ?? false,
      timeoutSeconds: s.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : durationSeconds(s.timeout),
      user: s.user ?? '0',
      env,
      workdir: workdir ?? '/',
    });
  });

  // Container settings: own, then effective (parent's with own on top).
  const env = envMap(img.env, [...at, 'env'], sources, problems);
  const workdir = img.workdir === undefined ? undefined : checkAbsolute(img.workdir, [...at, 'workdir'], problems);
  const written = (img.ports ?? []).map((p) => (typeof p === 'number' || !p.includes('/') ? `${p}/tcp` : p));
  // Checked as written, so a problem points at its own item; duplicates go afterwards.
  written.forEach((p, i) => {
    const n = Number(p.split('/')[0]);
    if (!(n >= 1 && n <= 65535)) problems.error('INVALID_VALUE', [...at, 'ports', i], `port ${p.split('/')[0]} is out of range 1-65535`);
  });
  const ports = [...new Set(written)];
  const volumes: string[] = [];
  (img.volumes ?? []).forEach((v, i) => {
    const a = checkAbsolute(v, [...at, 'volumes', i], problems);
    if (a !== undefined) volumes.push(a);
  });
  const labels = splitLabels(img.labels, 'labels', at, sources, problems);
  const annotations = splitLabels(img.annotations, 'annotations', at, sources, problems);
  const healthcheck = img.healthcheck === undefined ? undefined : img.healthcheck === null ? null : normaliseHealthcheck(img.healthcheck);
  const own: OwnSettings = {
    env,
    ...(workdir !== undefined ? { workdir } : {}),
    ...(img.user !== undefined ? { user: img.user } : {}),
    ...(img.entrypoint !== undefined ? { entrypoint: img.entrypoint === null ? null : [...img.entrypoint] } : {}),
    ...(img.cmd !== undefined ? { cmd: img.cmd === null ? null : [...img.cmd] } : {}),
    ports: [...ports].sort(),
    volumes: [...new Set(volumes)].sort(),
    ...(img.stopSignal !== undefined ? { stopSignal: String(img.stopSignal) } : {}),
    ...(healthcheck !== undefined ? { healthcheck } : {}),
    labels: labels.stable,
  };
  const effective = inherit(parent?.effective, own);

  return {
    image: {
      name,
      ...(img.description !== undefined ? { description: img.description } : {}),
      from: base,
      ancestors: lineage.map((a) => a.name),
      children: [],
      architectures,
      packages,
      essential,
      files: files.sort((a, b) => cmp(a.dest, b.dest)),
      directories: directories.sort((a, b) => cmp(a.path, b.path)),
      symlinks: symlinks.sort((a, b) => cmp(a.path, b.path)),
      users: users.sort((a, b) => a.uid - b.uid),
      groups: groups.sort((a, b) => a.gid - b.gid),
      run,
      maintainerScripts: img.maintainerScripts ?? 'run',
      own,
      effective,
      annotations: annotations.stable,
      volatile: { labels: labels.volatile, annotations: annotations.volatile },
    },
    origins,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Where `path` (under image `at`) was written: its path in its own file, and file:line. */
function formatRel(path: FieldPath, at: FieldPath, sources: SourceMap): string {
  const written = sources.writtenPath(path);
  const rel = (pathKey(written.slice(0, at.length)) === pathKey(at) ? written.slice(at.length) : written)
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('');
  const pos = sources.valueAt(path);
  return `${rel} (${pos.file}:${pos.line})`;
}

function envMap(env: Record<string, string | number | boolean> | undefined, path: FieldPath, sources: SourceMap, problems: ProblemList): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env ?? {})) {
    if (!ENV_NAME.test(k)) problems.keyError('INVALID_VALUE', [...path, k], `environment variable name ${JSON.stringify(k)}: expected letters, digits and _ (not starting with a digit)`);
    else if (typeof v === 'string' && v.includes('\0')) problems.error('INVALID_VALUE', [...path, k], 'an environment value cannot hold a NUL byte');
    else out[k] = text(v, [...path, k], sources, problems);
  }
  return sortRecord(out);
}

/** Applies an image's own settings over its parent's effective ones (Dockerfile semantics). */
export function inherit(parent: ContainerSettings | undefined, own: OwnSettings): ContainerSettings {
  const entrypoint = own.entrypoint === undefined ? parent?.entrypoint : (own.entrypoint ?? undefined);
  // Setting an entrypoint clears an inherited cmd (Dockerfile ENTRYPOINT, rules_oci --entrypoint).
  const cmd = own.cmd !== undefined ? (own.cmd ?? undefined) : own.entrypoint !== undefined ? undefined : parent?.cmd;
  const healthcheck = own.healthcheck === undefined ? parent?.healthcheck : (own.healthcheck ?? undefined);
  const workdir = own.workdir ?? parent?.workdir;
  const user = own.user ?? parent?.user;
  const stopSignal = own.stopSignal ?? parent?.stopSignal;
  return {
    env: sortRecord({ ...(parent?.env ?? {}), ...own.env }),
    ...(workdir !== undefined ? { workdir } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(entrypoint !== undefined ? { entrypoint } : {}),
    ...(cmd !== undefined ? { cmd } : {}),
    ports: [...new Set([...(parent?.ports ?? []), ...own.ports])].sort(),
    volumes: [...new Set([...(parent?.volumes ?? []), ...own.volumes])].sort(),
    ...(stopSignal !== undefined ? { stopSignal } : {}),
    ...(healthcheck !== undefined ? { healthcheck } : {}),
    labels: sortRecord({ ...(parent?.labels ?? {}), ...own.labels }),
  };
}
