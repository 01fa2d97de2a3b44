// Turns zod issues into located problems with messages people can act on: unknown keys with a
// "did you mean", wrong types naming what was found, union errors narrowed to the branch that
// matches the value's shape.
import type { z } from 'zod';
import { pathKey, suggestion, type FieldPath, type ProblemList } from './problems.js';

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  errors?: Issue[][];
  issues?: Issue[];
  minimum?: number | bigint;
  maximum?: number | bigint;
  origin?: string;
  format?: string;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** lading's names for what Dockerfiles, Compose files and Kolla call otherwise. */
const KEY_SYNONYMS: Readonly<Record<string, string>> = {
  expose: 'ports',
  working_dir: 'workdir',
  workingdir: 'workdir',
  command: 'cmd',
  environment: 'env',
  copy: 'files',
  maintainer: 'contact',
  volume: 'volumes',
  label: 'labels',
  base: 'from',
  image: 'from',
};

/** The keys of an override's list edit (set, remove, add, and replace for keyed lists). */
function isListEdit(keys: readonly string[]): boolean {
  return keys.includes('set') && keys.includes('add') && keys.includes('remove');
}

/** A typo's closest key, or the key lading uses for a name other tools use, when it fits here. */
function keySuggestion(key: string, known: readonly string[]): string {
  const synonym = KEY_SYNONYMS[key.toLowerCase()];
  return synonym !== undefined && known.includes(synonym) ? ` (did you mean ${JSON.stringify(synonym)}?)` : suggestion(key, known);
}

/** Keys an object schema at `path` accepts (for "did you mean"), following the value's shape. */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let cur: z.ZodType | undefined = schema;
  const unwrap = (s: z.ZodType): z.ZodType[] => {
    const d = defOf(s);
    if (d.type === 'optional' || d.type === 'nullable' || d.type === 'default') return d.innerType ? unwrap(d.innerType) : [];
    if (d.type === 'pipe') return d.in ? unwrap(d.in) : [];
    if (d.type === 'union') return (d.options ?? []).flatMap(unwrap);
    return [s];
  };
  let candidates: z.ZodType[] = cur ? unwrap(cur) : [];
  for (const part of path) {
    const next: z.ZodType[] = [];
    for (const c of candidates) {
      const d = defOf(c);
      if (d.type === 'object' && typeof part === 'string' && d.shape?.[part]) next.push(...unwrap(d.shape[part]));
      else if (d.type === 'array' && typeof part === 'number' && d.element) next.push(...unwrap(d.element));
      else if (d.type === 'record' && typeof part === 'string' && d.valueType) next.push(...unwrap(d.valueType));
    }
    candidates = next;
    cur = next[0];
  }
  return candidates.flatMap((c) => {
    const d = defOf(c);
    return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
  });
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** "a string", "a list", "a map", "nothing" for a value found in a document. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the number ${v}`;
  if (typeof v === 'boolean') return `${v}`;
  return typeof v;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map',
  record: 'a map',
  null: 'null',
};

/** What `checkSchema` found: the parsed value, or the field paths that failed. */
export interface SchemaCheck<T> {
  readonly data: T | undefined;
  /** Paths of the failing values, each with whether the value was missing. */
  readonly failed: { path: FieldPath; missing: boolean }[];
}

/**
 * Validates `value` against a written-form schema, adding one located problem per issue (when
 * `problems` is given). `base` is the field path of `value` in its document.
 */
export function checkSchema<T extends z.ZodType>(schema: T, value: unknown, problems: ProblemList | undefined, base: FieldPath = []): SchemaCheck<z.infer<T>> {
  const result = schema.safeParse(value);
  if (result.success) return { data: result.data, failed: [] };
  const failed: { path: FieldPath; missing: boolean }[] = [];
  const report = (issue: Issue, prefix: readonly PropertyKey[], unionMessage?: string) => {
    const rel = [...prefix, ...issue.path];
    const path = [...base, ...rel.map((p) => (typeof p === 'number' ? p : String(p)))];
    const found = valueAt(value, rel);
    if (issue.code === 'invalid_union' && found !== undefined) {
      // Keep the branches that accept the value's shape; when one remains, its issues are precise.
      const branches = (issue.errors ?? []).filter((errs) => !errs.some((e) => e.path.length === 0 && (e.code === 'invalid_type' || e.code === 'invalid_value')));
      if (branches.length === 1 && branches[0]) {
        const own = issue.message.startsWith('Invalid input') ? undefined : issue.message;
        for (const e of branches[0]) report(e, rel, e.path.length === 0 ? own : undefined);
        return;
      }
    }
    // A bare format failure inside a union reads better with the union's own message.
    if (unionMessage !== undefined && issue.code === 'invalid_format' && issue.message.startsWith('Invalid')) issue = { ...issue, message: unionMessage };
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys ?? []) failed.push({ path: [...path, key], missing: false });
    } else failed.push({ path, missing: found === undefined });
    if (problems) describeIssue(issue, path, rel, found, problems);
  };
  const describeIssue = (issue: Issue, path: FieldPath, rel: readonly PropertyKey[], found: unknown, problems: ProblemList) => {
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = keysAt(schema, rel);
        for (const key of issue.keys ?? []) problems.keyError('UNKNOWN_KEY', [...path, key], `unknown key ${JSON.stringify(key)}${keySuggestion(key, known)}`);
        return;
      }
      case 'invalid_type': {
        if (found === undefined) {
          problems.error('REQUIRED', path, 'required field is missing');
          return;
        }
        const expectedKeys = Array.isArray(found) ? keysAt(schema, rel) : [];
        if (isListEdit(expectedKeys)) {
          // Written as in lading.yaml: an override says what to do with the list.
          problems.error('INVALID_TYPE', path, `expected a map of edits, got a list: write {add: [...]}, {remove: [...]} or {set: [...]} (the whole list)${expectedKeys.includes('replace') ? ', or {replace: [...]}' : ''}`);
        } else problems.error('INVALID_TYPE', path, `expected ${EXPECTED[issue.expected ?? ''] ?? issue.expected}, got ${describeValue(found)}`);
        return;
      }
      case 'invalid_union':
        if (found === undefined) problems.error('REQUIRED', path, 'required field is missing');
        else problems.error('INVALID_TYPE', path, `${issue.message.startsWith('Invalid input') ? 'invalid value' : issue.message}, got ${describeValue(found)}`);
        return;
      case 'invalid_value': {
        const values = issue.values ?? [];
        const allowed = values.map((v) => String(v));
        // A number written as a string ("1" for 1) is not a spelling mistake: no "did you mean".
        const hint = typeof found === 'string' && !allowed.includes(found) ? suggestion(found, allowed) : '';
        const shown = values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v)));
        problems.error('INVALID_VALUE', path, `expected ${shown.length === 1 ? shown[0] : `one of ${allowed.join(', ')}`}, got ${describeValue(found)}${hint}`);
        return;
      }
      case 'invalid_format':
        problems.error('INVALID_VALUE', path, `${issue.message.startsWith('Invalid') ? 'invalid format' : issue.message}, got ${describeValue(found)}`);
        return;
      case 'too_small':
        if (issue.origin === 'array') problems.error('INVALID_VALUE', path, 'must not be empty');
        else if (issue.origin === 'string') problems.error('INVALID_VALUE', path, Number(issue.minimum) <= 1 ? 'must not be empty' : `must have at least ${issue.minimum} characters`);
        else problems.error('INVALID_VALUE', path, `must be at least ${issue.minimum}, got ${describeValue(found)}`);
        return;
      case 'too_big':
        problems.error('INVALID_VALUE', path, `must be at most ${issue.maximum}, got ${describeValue(found)}`);
        return;
      case 'invalid_key': {
        // A record key that fails its own schema (a profile name with a space, say).
        const inner = issue.issues?.[0]?.message;
        problems.keyError('INVALID_VALUE', path, `invalid name ${JSON.stringify(String(rel[rel.length - 1] ?? ''))}${inner ? `: ${inner}` : ''}`);
        return;
      }
      case 'custom':
        problems.error('INVALID_VALUE', path, `${issue.message}, got ${describeValue(found)}`);
        return;
      default:
        problems.error('INVALID_VALUE', path, issue.message);
    }
  };
  for (const issue of result.error.issues as unknown as Issue[]) report(issue, []);
  return { data: undefined, failed };
}

/** The outcome of a tolerant parse: what could be kept, and which images were dropped. */
export interface TolerantParse<T> {
  /** The value with failing fields dropped; undefined when even that does not parse. */
  readonly data: T | undefined;
  /** Paths that were dropped to make the rest parse. */
  readonly dropped: FieldPath[];
}

/**
 * Reports every schema problem once, then drops the failing parts (a bad field, a list with a bad
 * item, an entry missing a required field) until the rest parses, so the semantic checks can
 * still run on everything that is well-formed: one run shows all problems. A missing required
 * field drops the map holding it (an image without `from` is dropped whole: see `dropped`).
 */
export function parseTolerant<T extends z.ZodType>(
  schema: T,
  value: unknown,
  problems: ProblemList,
  options: {
    placeholders?: Readonly<Record<string, unknown>>;
    /** A stand-in for a broken item of the list at `list` (its problems already reported), or undefined to drop the list. */
    itemPlaceholder?: (list: FieldPath, index: number) => unknown;
    /** A stand-in for one required field (its problems already reported), so the map holding it is kept. */
    fieldPlaceholder?: (path: FieldPath) => unknown;
  } = {},
): TolerantParse<z.infer<T>> {
  const current = structuredClone(value);
  const dropped: FieldPath[] = [];
  const placed = new Set<string>();
  const placedFields = new Set<string>();
  for (let round = 0; round < 16; round++) {
    const check = checkSchema(schema, current, round === 0 ? problems : undefined);
    if (check.data !== undefined) return { data: check.data, dropped };
    let progress = false;
    for (const f of check.failed) {
      // A broken or missing required field that has a stand-in (project.name, a list item's name,
      // a map's status) takes it alone: the item's or map's other fields are still checked.
      const fieldStand = fieldStandIn(options, f.path);
      const fieldHolder = itemAt(current, f.path.slice(0, -1));
      const leaf = f.path[f.path.length - 1];
      if (fieldStand !== undefined && typeof leaf === 'string' && fieldHolder !== null && typeof fieldHolder === 'object' && !Array.isArray(fieldHolder) && !placedFields.has(pathKey(f.path))) {
        (fieldHolder as Record<string, unknown>)[leaf] = structuredClone(fieldStand);
        placedFields.add(pathKey(f.path));
        dropped.push([...f.path]);
        progress = true;
        continue;
      }
      let target = [...f.path];
      if (f.missing) target = target.slice(0, -1);
      // An item that lacks a required field (or had a broken one deleted) takes a stand-in, so
      // the other items are still checked; the stand-in's own problems are suppressed.
      const index = target[target.length - 1];
      if (typeof index === 'number' && options.itemPlaceholder) {
        const list = target.slice(0, -1);
        const stand = options.itemPlaceholder(list, index);
        const holder = itemAt(current, list);
        if (stand !== undefined && Array.isArray(holder) && index < holder.length) {
          holder[index] = structuredClone(stand);
          dropped.push(target);
          progress = true;
          continue;
        }
      }
      // Never delete list items (it would shift the indices problems point at): drop the list.
      while (target.length > 0 && typeof target[target.length - 1] === 'number') target = target.slice(0, -1);
      if (target.length === 0) {
        // A required top-level field that is missing or broken: a placeholder (reported once
        // already, its own problems suppressed) lets the checks of everything else still run.
        const key = f.path[0];
        const placeholder = typeof key === 'string' ? options.placeholders?.[key] : undefined;
        if (typeof key !== 'string' || placeholder === undefined || placed.has(key) || current === null || typeof current !== 'object' || Array.isArray(current)) {
          return { data: undefined, dropped };
        }
        (current as Record<string, unknown>)[key] = structuredClone(placeholder);
        placed.add(key);
        dropped.push([key]);
        progress = true;
        continue;
      }
      if (deleteAt(current, target)) {
        dropped.push(target);
        progress = true;
      }
    }
    if (!progress) return { data: undefined, dropped };
  }
  return { data: undefined, dropped };
}

/**
 * The stand-in for the field at `path`: fieldPlaceholder's; for a field of a top-level map, that
 * field of the map's placeholder (project.name); else that field of its list item's stand-in.
 */
function fieldStandIn(
  options: { placeholders?: Readonly<Record<string, unknown>>; itemPlaceholder?: (list: FieldPath, index: number) => unknown; fieldPlaceholder?: (path: FieldPath) => unknown },
  path: FieldPath,
): unknown {
  const own = options.fieldPlaceholder?.(path);
  if (own !== undefined) return own;
  const [top, topField] = path;
  if (path.length === 2 && typeof top === 'string' && typeof topField === 'string') {
    const map = options.placeholders?.[top];
    if (map !== null && typeof map === 'object' && Object.hasOwn(map, topField)) return (map as Record<string, unknown>)[topField];
  }
  const index = path[path.length - 2];
  const field = path[path.length - 1];
  if (typeof index !== 'number' || typeof field !== 'string' || !options.itemPlaceholder) return undefined;
  const item = options.itemPlaceholder(path.slice(0, -2), index);
  return item !== null && typeof item === 'object' && Object.hasOwn(item, field) ? (item as Record<string, unknown>)[field] : undefined;
}

function itemAt(root: unknown, path: FieldPath): unknown {
  let cur = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

function deleteAt(root: unknown, path: FieldPath): boolean {
  const cur = itemAt(root, path.slice(0, -1));
  const last = path[path.length - 1];
  if (cur === null || typeof cur !== 'object' || last === undefined || !Object.hasOwn(cur, last)) return false;
  delete (cur as Record<string | number, unknown>)[last];
  return true;
}
