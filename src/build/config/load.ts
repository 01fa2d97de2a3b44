// Entry points for reading a family: parseFamily (pure: texts in, FamilyConfig + problems out)
// and loadFamily (reads lading.yaml, the overrides and the build context from disk).
import { existsSync } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { errnoCode, fsReason, isWithin, throwIfAborted } from '../../core/index.js';
import { hostArchitecture } from '../../debian/index.js';
import { BuildError } from '../errors.js';
import { parseTolerant } from './check.js';
import { normalise, type ContextEntryKind, type NormaliseOptions } from './normalise.js';
import { applyOverride, toMerged, type MergedFamily, type PackageOrigin } from './override.js';
import { formatProblem, ProblemList, sortProblems, STAND_IN_PREFIX, type FieldPath, type Problem, type SourceMap } from './problems.js';
import type { DebianArch, FamilyConfig } from './types.js';
import { WrittenFamilySchema, WrittenOverrideSchema } from './written.js';
import { parseYaml } from './yaml.js';

/** A config or override file's text and the name problems should use for it. */
export interface ConfigText {
  readonly file: string;
  readonly text: string;
}

/** Options of parseFamily(). */
export interface ParseFamilyOptions {
  readonly config: ConfigText;
  /** Site overrides, applied in order. */
  readonly overrides?: readonly ConfigText[];
  /** Architecture used when the config names none. Default: the machine's (the debian module's hostArchitecture()). */
  readonly hostArchitecture?: DebianArch;
  /** Says what a build-context path is; without it, only escapes are checked. */
  readonly context?: (src: string) => ContextEntryKind;
}

/** What parseFamily() found. */
export interface ParsedFamily {
  /** The normalised family, or undefined when there is at least one error. */
  readonly family: FamilyConfig | undefined;
  /** Every error and warning, sorted by file (config first, then overrides), line, column. */
  readonly problems: readonly Problem[];
  /** image -> package name -> where it was asked for (for lock-time "unknown package" problems). */
  readonly packageOrigins: ReadonlyMap<string, ReadonlyMap<string, PackageOrigin>>;
}

// Stand-ins for a missing or broken `project:` or `images:`, so one run still reports the rest.
const FAMILY_PLACEHOLDERS = { project: { name: 'unnamed' }, images: {} };

/** Stand-ins for required fields of optional maps, so a map with one broken field is still checked. */
function familyFieldPlaceholder(path: FieldPath): unknown {
  return path.length === 3 && path[0] === 'project' && path[1] === 'support' && path[2] === 'status' ? 'supported' : undefined;
}

/**
 * Stand-ins for a broken entry of an image's keyed lists (a step whose name is invalid, a user
 * without a uid): the list's other entries are still checked. Names and ids no real entry uses.
 */
function imageListPlaceholder(list: FieldPath, index: number): unknown {
  if (list.length !== 3 || list[0] !== 'images') return undefined;
  const name = `${STAND_IN_PREFIX}${index}`;
  const id = 2 ** 31 - 1 - index;
  switch (list[2]) {
    case 'run':
      return { name, script: 'true' };
    case 'users':
      return { name, uid: id };
    case 'groups':
      return { name, gid: id - 100_000 };
    case 'files':
      return { src: name, dest: `/${name}` };
    case 'directories':
      return { path: `/${name}` };
    case 'symlinks':
      return { path: `/${name}`, target: name };
    default:
      return undefined;
  }
}

function mergeFamily(
  options: ParseFamilyOptions,
  problems: Problem[],
): { merged: MergedFamily; sources: SourceMap; dropped: FieldPath[]; brokenImages: Set<string>; imagesUnreadable: boolean } | undefined {
  const base = parseYaml(options.config.text, options.config.file);
  problems.push(...base.problems);
  if (base.truncated) return undefined;
  const baseList = new ProblemList(base.sources);
  const parsed = base.value === undefined && base.problems.length === 0 ? undefined : parseTolerant(WrittenFamilySchema, base.value ?? {}, baseList, { placeholders: FAMILY_PLACEHOLDERS, itemPlaceholder: imageListPlaceholder, fieldPlaceholder: familyFieldPlaceholder });
  if (base.value === undefined && base.problems.length === 0) {
    problems.push({ file: options.config.file, line: 1, col: 1, code: 'REQUIRED', severity: 'error', path: [], message: 'the file is empty (a family needs project: and images:)' });
  }
  problems.push(...baseList.items);
  if (!parsed?.data) return undefined;
  const sources = base.sources.clone();
  const merged = toMerged(parsed.data, sources);
  const dropped = [...parsed.dropped];
  const brokenImages = new Set(parsed.dropped.filter((d) => d.length === 2 && d[0] === 'images').map((d) => String(d[1])));
  // `images:` itself could not be read: no image name can be judged unknown.
  const imagesUnreadable = parsed.dropped.some((d) => d.length === 1 && d[0] === 'images');
  for (const o of options.overrides ?? []) {
    const doc = parseYaml(o.text, o.file);
    problems.push(...doc.problems);
    if (!doc.truncated && doc.problems.length === 0 && (doc.value === undefined || doc.value === null)) {
      problems.push({ file: o.file, line: 1, col: 1, code: 'INVALID_VALUE', severity: 'warning', path: [], message: 'the override is empty: it changes nothing' });
    }
    if (doc.truncated || doc.value === undefined || doc.value === null) continue;
    const list = new ProblemList(doc.sources);
    const patch = parseTolerant(WrittenOverrideSchema, doc.value, list);
    if (patch.data) applyOverride(merged, sources, patch.data, doc.sources, list, imagesUnreadable ? { has: () => true } : brokenImages);
    for (const d of patch.dropped) {
      if (d.length === 2 && d[0] === 'addImages') brokenImages.add(String(d[1]));
      // Dropped fields of a patch land at the same path in the merged family.
      if (d[0] === 'images' || d[0] === 'addImages') dropped.push(['images', ...d.slice(1)]);
    }
    problems.push(...list.items);
  }
  return { merged, sources, dropped, brokenImages, imagesUnreadable };
}

/**
 * Parses lading.yaml and its site overrides into the normalised family, collecting every problem
 * (syntax, unknown keys, types, unknown parents, cycles, modes, duplicates, reserved keys) instead
 * of stopping at the first. Pure: no I/O; never throws on bad input.
 */
export function parseFamily(options: ParseFamilyOptions): ParsedFamily {
  const problems: Problem[] = [];
  const files = [options.config.file, ...(options.overrides ?? []).map((o) => o.file)];
  const m = mergeFamily(options, problems);
  if (!m) return { family: undefined, problems: sortProblems(problems, files), packageOrigins: new Map() };
  const list = new ProblemList(m.sources);
  list.suppressDropped(m.dropped);
  const normOptions: NormaliseOptions = {
    brokenImages: m.brokenImages,
    imagesUnreadable: m.imagesUnreadable,
    hostArchitecture: options.hostArchitecture ?? hostArchitecture(),
    ...(options.context ? { context: options.context } : {}),
    origin: { config: options.config.file, overrides: (options.overrides ?? []).map((o) => o.file) },
  };
  const result = normalise(m.merged, m.sources, list, normOptions);
  problems.push(...list.items);
  const hasErrors = problems.some((p) => p.severity === 'error');
  return { family: hasErrors ? undefined : result.family, problems: sortProblems(problems, files), packageOrigins: result.packageOrigins };
}

/** Options of loadFamily(). */
export interface LoadFamilyOptions {
  /** Path of lading.yaml. */
  readonly configPath: string;
  /** Site override files, applied in order. */
  readonly overrides?: readonly string[];
  /** Build context directory. Default: the directory of lading.yaml. */
  readonly contextDir?: string;
  readonly hostArchitecture?: DebianArch;
  /** Resolve relative paths against this (default process.cwd()). */
  readonly cwd?: string;
  readonly signal?: AbortSignal;
}

/** A family read from disk. */
export interface LoadedFamily {
  readonly family: FamilyConfig;
  /** Warnings (errors make loadFamily throw). */
  readonly warnings: readonly Problem[];
  readonly packageOrigins: ReadonlyMap<string, ReadonlyMap<string, PackageOrigin>>;
  /** Absolute build context directory. */
  readonly contextDir: string;
  /** Absolute path of lading.yaml. */
  readonly configPath: string;
}

/** No config comes near this; a device or a mistaken path (/dev/zero) must not be read forever. */
const MAX_CONFIG_BYTES = 16 << 20;

async function readText(path: string, display: string, signal?: AbortSignal): Promise<string> {
  let data: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        throwIfAborted(signal, `reading ${display}`);
        const { bytesRead, buffer } = await fh.read({ buffer: Buffer.alloc(1 << 20) });
        if (bytesRead === 0) break;
        chunks.push(buffer.subarray(0, bytesRead));
        total += bytesRead;
        if (total > MAX_CONFIG_BYTES) throw new BuildError('CONFIG_READ', `reading ${display}: larger than ${MAX_CONFIG_BYTES >> 20} MiB, which no config is`);
      }
      data = Buffer.concat(chunks);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof BuildError) throw err;
    const code = errnoCode(err);
    if (code === 'ENOENT') {
      throw new BuildError('CONFIG_READ', `reading ${display}: no such file`, display.endsWith('lading.yaml') ? { hint: 'run lading in the directory holding lading.yaml, or pass --file PATH' } : {});
    }
    throw new BuildError('CONFIG_READ', `reading ${display}: ${fsReason(err)}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw new BuildError('CONFIG_READ', `reading ${display}: not UTF-8 text (a config is a UTF-8 YAML file)`);
  }
  if (text.includes('\0')) throw new BuildError('CONFIG_READ', `reading ${display}: holds a NUL byte, so it is not a text file`);
  return text;
}

/** Where `files:` sources were looked for, for a config that names missing ones. */
function contextHint(cwd: string, contextDir: string, given: boolean): string {
  const shown = relative(cwd, contextDir) || '.';
  const missing = existsSync(contextDir) ? '' : ' (it does not exist)';
  return `files: sources, an override's too, are read from the build context ${shown}${missing}${given ? ' (--context)' : ', the directory of the config; --context names another'}`;
}

/** What a path in the build context is; symlinks count only when they stay inside the context. */
async function contextKind(root: string, rel: string): Promise<ContextEntryKind> {
  const abs = join(root, rel);
  try {
    // Symlinks are followed, in the last component or any other, and must stay in the context.
    const real = await realpath(abs);
    const realRoot = await realpath(root);
    if (!isWithin(realRoot, real)) return 'other';
    const t = await stat(real);
    return t.isFile() ? 'file' : t.isDirectory() ? 'directory' : 'other';
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return 'missing';
    throw new BuildError('CONTEXT_INVALID', `build context ${root}: cannot read ${rel}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Reads lading.yaml, applies the site overrides, checks the build-context paths and returns the
 * normalised family. Throws BuildError CONFIG_INVALID listing every problem (file:line:col path:
 * message) when there is any error.
 */
export async function loadFamily(options: LoadFamilyOptions): Promise<LoadedFamily> {
  const cwd = options.cwd ?? process.cwd();
  const configPath = resolve(cwd, options.configPath);
  const contextDir = resolve(cwd, options.contextDir ?? dirname(configPath));
  const config: ConfigText = { file: options.configPath, text: await readText(configPath, options.configPath, options.signal) };
  const overrides: ConfigText[] = [];
  for (const o of options.overrides ?? []) overrides.push({ file: o, text: await readText(resolve(cwd, o), o, options.signal) });
  throwIfAborted(options.signal, 'loading the family');

  // The first pass records which context paths the family uses (even when it has errors); the
  // second checks them: normalise() is pure and synchronous, so the lookups happen in between.
  const wanted = new Set<string>();
  parseFamily({
    config,
    overrides,
    ...(options.hostArchitecture ? { hostArchitecture: options.hostArchitecture } : {}),
    context: (rel) => {
      wanted.add(rel);
      return 'file';
    },
  });
  const kinds = new Map<string, ContextEntryKind>();
  const kindOf = async (rel: string) => {
    if (!kinds.has(rel)) kinds.set(rel, await contextKind(contextDir, rel));
  };
  for (const rel of wanted) await kindOf(rel);
  const result = parseFamily({
    config,
    overrides,
    ...(options.hostArchitecture ? { hostArchitecture: options.hostArchitecture } : {}),
    context: (rel) => kinds.get(rel) ?? 'file',
  });
  const errors = result.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0 || !result.family) {
    const shown = result.problems.map(formatProblem);
    const warnings = result.problems.length - errors.length;
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    throw new BuildError(
      'CONFIG_INVALID',
      `${[...new Set(errors.map((p) => p.file))].join(', ') || options.configPath}: ${plural(errors.length, 'problem')}${warnings > 0 ? ` (and ${plural(warnings, 'warning')})` : ''}:\n${shown.map((s) => `  ${s}`).join('\n')}`,
      { problems: result.problems, ...(errors.some((p) => p.code === 'PATH_MISSING') ? { hint: contextHint(cwd, contextDir, options.contextDir !== undefined) } : {}) },
    );
  }
  return { family: result.family, warnings: result.problems, packageOrigins: result.packageOrigins, contextDir, configPath };
}
