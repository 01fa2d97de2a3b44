// Reads a YAML document into plain values plus a SourceMap of where each value was written.
// Uses the `yaml` package's CST positions (LineCounter) for file:line:col.
import { LineCounter, parseDocument, isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';
import { SourceMap, type FieldPath, type Problem, type SourcePosition } from './problems.js';

/** A parsed YAML document: the plain value, positions, and syntax problems. */
export interface ParsedYaml {
  /** Plain JS value (maps -> objects, sequences -> arrays); `undefined` for an empty document. */
  readonly value: unknown;
  readonly sources: SourceMap;
  /** Syntax errors (file:line:col); when not empty, `value` may be partial. */
  readonly problems: Problem[];
  /**
   * The document was too large to read whole (value cap): `value` is a fragment whose every
   * other check would be a false problem, so callers report only `problems`.
   */
  readonly truncated: boolean;
}

const MAX_DEPTH = 64;
// Aliases are expanded here, so a few lines of anchors can stand for billions of values (the
// "billion laughs"). No real config comes near this many values.
const MAX_VALUES = 100_000;

/**
 * Parses YAML 1.2 text. Duplicate keys, unresolved aliases and unknown tags become problems, not
 * exceptions. `file` is the name used in problem messages (as the user wrote it).
 */
export function parseYaml(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2', merge: false });
  const sources = new SourceMap(file);
  const problems: Problem[] = [];
  const pos = (offset: number | undefined): SourcePosition => {
    if (offset === undefined) return { file, line: 0, col: 0 };
    const lp = lineCounter.linePos(offset);
    return { file, line: lp.line, col: lp.col };
  };
  const syntax = (offset: number | undefined, path: FieldPath, message: string) =>
    problems.push({ ...pos(offset), code: 'SYNTAX', severity: 'error', path, message });

  for (const e of [...doc.errors, ...doc.warnings]) {
    if (e.code === 'DUPLICATE_KEY') continue; // reported with its field path by walk() below
    const first = e.message.split('\n')[0] ?? e.message;
    const message =
      /maximum call stack/i.test(first)
          ? `nested too deeply to parse (more than ${MAX_DEPTH} levels are refused anyway)`
          : e.code === 'MULTIPLE_DOCS'
            ? 'a second YAML document (after ---): a config file holds one document'
            : first;
    syntax(e.pos[0], [], message);
  }

  let values = 0;
  let tooMany = false;
  let aliases = 0;
  const duplicatesSeen = new Set<number>();
  const walk = (node: unknown, path: FieldPath, depth: number, keyPos?: SourcePosition): unknown => {
    if (tooMany) return undefined;
    if (++values > MAX_VALUES) {
      tooMany = true;
      syntax(
        (node as Node | null)?.range?.[0],
        path,
        aliases > 0 ? `more than ${MAX_VALUES} values once aliases are expanded (aliases that repeat aliases multiply): the file is not read further` : `more than ${MAX_VALUES} values: the file is too large for a config and is not read further`,
      );
      return undefined;
    }
    if (depth > MAX_DEPTH) {
      syntax((node as Node | null)?.range?.[0], path, `nested deeper than ${MAX_DEPTH} levels`);
      return undefined;
    }
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      aliases++;
      const target = node.resolve(doc as Document);
      if (!target) {
        syntax(node.range?.[0], path, `unresolved alias *${node.source}`);
        return undefined;
      }
      // Positions point at the alias (where the value is used), contents at the anchor.
      const v = walk(target, path, depth + 1, keyPos);
      sources.set(path, pos(node.range?.[0]), keyPos);
      return v;
    }
    const n = node as Node;
    const here = pos(n.range?.[0]);
    if (isScalar(n)) {
      const octal = typeof n.value === 'number' && n.format === 'OCT';
      sources.set(path, here, keyPos, octal);
      if (typeof n.value === 'number' && n.source !== undefined && String(n.value) !== n.source) sources.setNumberText(path, n.source);
      return typeof n.value === 'bigint' ? Number(n.value) : n.value;
    }
    if (isSeq(n)) {
      sources.set(path, here, keyPos);
      return n.items.map((item, i) => walk(item, [...path, i], depth + 1));
    }
    if (isMap(n)) {
      sources.set(path, here, keyPos);
      const out: Record<string, unknown> = {};
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as Node | null;
        const rawKey: unknown = isScalar(keyNode) ? keyNode.value : keyNode;
        const kp = pos((keyNode as Node | null)?.range?.[0]);
        if (rawKey === null || typeof rawKey === 'object') {
          problems.push({ ...kp, code: 'SYNTAX', severity: 'error', path, message: 'map keys must be plain scalars' });
          continue;
        }
        const key = String(rawKey);
        if (key === '<<' && keyNode !== null && isScalar(keyNode) && keyNode.type === 'PLAIN') {
          // YAML 1.1's merge key: in YAML 1.2 just a key, which would read as an unknown field.
          problems.push({ ...kp, code: 'SYNTAX', severity: 'error', path: [...path, key], message: 'YAML merge keys (<<) are not supported: write the keys out, or give the whole value with an alias (*name)' });
          continue;
        }
        if (key === '__proto__') {
          problems.push({ ...kp, code: 'SYNTAX', severity: 'error', path, message: 'the key "__proto__" is not allowed' });
          continue;
        }
        if (Object.hasOwn(out, key)) {
          // Once per written key, not again at every alias that repeats its map.
          const at = (keyNode as Node | null)?.range?.[0] ?? -1;
          if (!duplicatesSeen.has(at)) {
            duplicatesSeen.add(at);
            problems.push({ ...kp, code: 'SYNTAX', severity: 'error', path: [...path, key], message: 'duplicate key (each key may appear once in a map)' });
          }
          continue;
        }
        Object.defineProperty(out, key, { value: walk(pair.value, [...path, key], depth + 1, kp), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    syntax(n.range?.[0], path, 'unsupported YAML node');
    return undefined;
  };

  const value = doc.contents === null ? undefined : walk(doc.contents, [], 0);
  return { value, sources, problems, truncated: tooMany };
}
