// Validation problems: every one names the file, line, column and field path, so a person can
// fix all of them in one pass ("lading.yaml:12:5 images.nova-api.from: unknown image ...").

/** A path into a config document: map keys and list indices. */
export type FieldPath = readonly (string | number)[];

/** Kinds of validation problem; tests and tools switch on them. */
export type ProblemCode =
  | 'SYNTAX' // YAML that does not parse (or duplicate keys, unresolved aliases)
  | 'UNKNOWN_KEY' // a key the format does not know (usually a typo)
  | 'INVALID_TYPE' // wrong type: a number where a list is expected, ...
  | 'INVALID_VALUE' // right type, bad value: an unknown architecture, a malformed port, ...
  | 'REQUIRED' // a required field is missing
  | 'UNKNOWN_IMAGE' // `from`, a profile or an override names an image the family lacks
  | 'CYCLE' // images whose `from` chain loops
  | 'NOT_PINNED' // an external base image without a digest
  | 'BAD_MODE' // a file or directory mode that is not an unambiguous octal permission
  | 'DUPLICATE_USER' // two users (or groups) with one name in an image and its ancestors
  | 'DUPLICATE_ID' // two users (or groups) with one uid (gid)
  | 'DUPLICATE_PATH' // two files/directories/symlinks with one destination in an image
  | 'DUPLICATE_STEP' // two run steps with one name
  | 'UNKNOWN_ENTRY' // an override removes/replaces a run step, file, user... that does not exist
  | 'PATH_ESCAPES' // a build-context path that leaves the context (`../`, absolute)
  | 'PATH_MISSING' // a build-context path that does not exist
  | 'RESERVED_KEY' // a label or annotation key that only lading may set
  | 'ARCH_NOT_IN_PARENT' // an image built for an architecture its parent lacks
  | 'UNKNOWN_PACKAGE'; // lock time: a package no configured source has (same style)

/** Where a value was written. `line` and `col` are 1-based; 0 when unknown. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** One validation problem. `severity: 'warning'` does not make the config invalid. */
export interface Problem extends SourcePosition {
  readonly code: ProblemCode;
  readonly severity: 'error' | 'warning';
  /** Field path in the document the value came from, e.g. `["images","nova-api","from"]`. */
  readonly path: FieldPath;
  readonly message: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Formats a field path the way people write it: `images.nova-api.run[2].name`, with keys that
 * are not plain identifiers quoted: `labels["org.example.tier"]`.
 */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (IDENT.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === '' ? '(document)' : out;
}

/** `file:line:col path: message` (severity prefixed for warnings). */
export function formatProblem(p: Problem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
  return `${where} ${formatPath(p.path)}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;
}

/** Problems sorted by file (in the order given), line, column, then path and message. */
export function sortProblems(problems: readonly Problem[], fileOrder: readonly string[] = []): Problem[] {
  const rank = (f: string) => {
    const i = fileOrder.indexOf(f);
    return i < 0 ? fileOrder.length : i;
  };
  return [...problems].sort(
    (a, b) =>
      rank(a.file) - rank(b.file) ||
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.col - b.col ||
      formatPath(a.path).localeCompare(formatPath(b.path)) ||
      a.message.localeCompare(b.message),
  );
}

/** Edit distance where swapping two neighbouring letters counts once ("form" -> "from"); small strings only. */
function distance(a: string, b: string): number {
  // Optimal string alignment: Levenshtein plus adjacent transpositions (rows i-2, i-1, i).
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] ?? 0) + 1);
      cur[j] = d;
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** Names of stand-ins for broken list entries (their problems already reported); no real entry has one. */
export const STAND_IN_PREFIX = 'lading-unreadable-';

/** `run step "name"`, or just `run step` when the name is a stand-in for a broken one. */
export function stepLabel(name: string): string {
  return name.startsWith(STAND_IN_PREFIX) ? 'run step' : `run step ${JSON.stringify(name)}`;
}

/** The closest candidate to a misspelt name, when it is close enough to be a likely typo. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const d = c.toLowerCase() === lower ? 0.5 : distance(lower, c.toLowerCase());
    if (d < bestD || (d === bestD && best !== undefined && c < best)) {
      best = c;
      bestD = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(Math.max(name.length, best.length) / 3)));
  return bestD <= limit ? best : undefined;
}

/** ` (did you mean "x"?)` or an empty string. */
export function suggestion(name: string, candidates: Iterable<string>): string {
  const m = didYouMean(name, candidates);
  return m === undefined ? '' : ` (did you mean ${JSON.stringify(m)}?)`;
}

export function pathKey(path: FieldPath): string {
  // Every segment starts with a separator, so the key of a path is a string prefix of the keys
  // of everything under it.
  return path.map((p) => (typeof p === 'number' ? `\u0000#${p}` : `\u0000.${p}`)).join('');
}

/**
 * Positions of every value (and every map key) of one or more YAML documents, by field path.
 * Merging a site override moves entries around with `copySubtree`, so a problem found after the
 * merge still points at the file and line that wrote the offending value.
 */
export class SourceMap {
  private readonly values = new Map<string, SourcePosition>();
  private readonly keys = new Map<string, SourcePosition>();
  private readonly octal = new Set<string>();
  /** Numbers whose written text is not what String(value) gives (`3.10` read as 3.1). */
  private readonly numberTexts = new Map<string, string>();
  /** Where a moved subtree was written (a list item after an override's remove, or its add[i]). */
  private readonly written = new Map<string, FieldPath>();
  /** The file problems fall back to when nothing better is known. */
  readonly defaultFile: string;

  constructor(defaultFile: string) {
    this.defaultFile = defaultFile;
  }

  /** Records where the value at `path` (and, for a map entry, its key) was written. */
  set(path: FieldPath, value: SourcePosition, key?: SourcePosition, octalNumber = false): void {
    const k = pathKey(path);
    this.values.set(k, value);
    if (key) this.keys.set(k, key);
    if (octalNumber) this.octal.add(k);
    else this.octal.delete(k);
    this.numberTexts.delete(k);
  }

  /** Records that the number at `path` was written as `text`, which String(value) does not give back. */
  setNumberText(path: FieldPath, text: string): void {
    this.numberTexts.set(pathKey(path), text);
  }

  /** How the number at `path` was written, when its value reads back differently. */
  numberText(path: FieldPath): string | undefined {
    return this.numberTexts.get(pathKey(path));
  }

  /** True when the number at `path` was written in YAML 1.2 octal form (`0o755`). */
  isOctal(path: FieldPath): boolean {
    return this.octal.has(pathKey(path));
  }

  /** Position of the value at `path`, else of its nearest recorded ancestor. */
  valueAt(path: FieldPath): SourcePosition {
    return this.lookup(this.values, path);
  }

  /** Position of the key of the map entry at `path` (for unknown-key problems). */
  keyAt(path: FieldPath): SourcePosition {
    const k = this.keys.get(pathKey(path));
    return k ?? this.lookup(this.values, path);
  }

  private lookup(map: Map<string, SourcePosition>, path: FieldPath): SourcePosition {
    for (let n = path.length; n >= 0; n--) {
      const hit = map.get(pathKey(path.slice(0, n)));
      if (hit) return hit;
    }
    return { file: this.defaultFile, line: 0, col: 0 };
  }

  /** Copies every entry under `from` in `source` to the same relative place under `to`. */
  copySubtree(source: SourceMap, from: FieldPath, to: FieldPath): void {
    const fromKey = pathKey(from);
    const toKey = pathKey(to);
    const under = (k: string) => k === fromKey || k.startsWith(`${fromKey}\u0000`);
    const moved = <V>(src: Iterable<[string, V]>) => [...src].filter(([k]) => under(k)).map(([k, v]) => [`${toKey}${k.slice(fromKey.length)}`, v] as const);
    for (const [k, v] of moved(source.values)) this.values.set(k, v);
    for (const [k, v] of moved(source.keys)) this.keys.set(k, v);
    for (const [k] of moved([...source.octal].map((k) => [k, true] as [string, boolean]))) this.octal.add(k);
    for (const [k, v] of moved(source.numberTexts)) this.numberTexts.set(k, v);
    for (const [k, v] of moved(source.written)) this.written.set(k, v);
    if (fromKey !== toKey) this.written.set(toKey, source.writtenPath(from));
  }

  /** The path as written in the file its position is in (list indices before a merge moved them). */
  writtenPath(path: FieldPath): FieldPath {
    for (let n = path.length; n > 0; n--) {
      const w = this.written.get(pathKey(path.slice(0, n)));
      if (w) return [...w, ...path.slice(n)];
    }
    return [...path];
  }

  /** Forgets every entry at or under `path` (before a list is rebuilt). */
  deleteSubtree(path: FieldPath): void {
    const key = pathKey(path);
    const under = (k: string) => k === key || k.startsWith(`${key}\u0000`);
    for (const map of [this.values, this.keys, this.numberTexts, this.written]) for (const k of [...map.keys()]) if (under(k)) map.delete(k);
    for (const k of [...this.octal]) if (under(k)) this.octal.delete(k);
  }

  /** A copy that can be changed independently. */
  clone(): SourceMap {
    const c = new SourceMap(this.defaultFile);
    c.copySubtree(this, [], []);
    return c;
  }
}

/** Collects problems, resolving positions through a SourceMap. */
export class ProblemList {
  readonly items: Problem[] = [];
  private readonly dropped: FieldPath[] = [];
  constructor(private readonly sources: SourceMap) {}

  /**
   * Remembers fields dropped after a schema problem: later problems about the object that held
   * them (or about anything inside them) would only repeat the first one, so they are not added.
   */
  suppressDropped(paths: readonly FieldPath[]): void {
    this.dropped.push(...paths);
  }

  private suppressed(path: FieldPath): boolean {
    const key = pathKey(path);
    return this.dropped.some((d) => key === pathKey(d.slice(0, -1)) || key === pathKey(d) || key.startsWith(`${pathKey(d)}\u0000`));
  }

  private add(pos: SourcePosition, code: ProblemCode, severity: Problem['severity'], path: FieldPath, message: string): void {
    if (this.suppressed(path)) return;
    const item: Problem = { ...pos, code, severity, path: this.sources.writtenPath(path), message };
    // One written value merged into several places (allImages) is one problem, reported once.
    const same = (p: Problem) => p.file === item.file && p.line === item.line && p.col === item.col && p.message === item.message && pathKey(p.path) === pathKey(item.path);
    if (!this.items.some(same)) this.items.push(item);
  }

  /** Adds a problem located at the value of `path`. */
  error(code: ProblemCode, path: FieldPath, message: string): void {
    this.add(this.sources.valueAt(path), code, 'error', path, message);
  }

  /** Adds a problem located at the key of `path` (unknown keys). */
  keyError(code: ProblemCode, path: FieldPath, message: string): void {
    this.add(this.sources.keyAt(path), code, 'error', path, message);
  }

  /** Adds a warning located at the value of `path`. */
  warning(code: ProblemCode, path: FieldPath, message: string): void {
    this.add(this.sources.valueAt(path), code, 'warning', path, message);
  }

  /** True when at least one error (not a warning) was recorded. */
  get hasErrors(): boolean {
    return this.items.some((p) => p.severity === 'error');
  }
}
