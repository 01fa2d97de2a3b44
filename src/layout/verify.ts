// `verify`: re-hash every blob and check every reference reachable from index.json.
// It only reads: a corrupt blob is reported, never deleted or repaired.
import { readdir, readFile } from 'node:fs/promises';
import { describeError, digestFile, errnoCode, mapLimit, splitDigest, type Digest } from '../core/index.js';
import { CONFIG_TYPES, isValidRefName, LayoutHeaderSchema, layerCompression, loadImage, type Descriptor, type IoOptions, type ManifestDocument } from '../oci/index.js';
import { describeEntry, refNameOf, type LayoutBase } from './base.js';
import { LAYOUT_VERSION, isProcessAlive, tempOwnerPid } from './paths.js';
import { edgesOf, isImageManifest, isWalkable, mayBeAbsent } from './walk.js';

/** One thing wrong (or worth knowing) about a store; `object` names what it is about. */
export interface VerifyProblem {
  /** Machine-readable kind: BLOB_CORRUPT, BLOB_MISSING, SIZE_MISMATCH, MEDIA_TYPE_UNKNOWN, ... */
  readonly code: string;
  /** The object concerned: `blob sha256:...`, `index.json manifests[0] (name)`, `manifest sha256:...`. */
  readonly object: string;
  /** A sentence a person can act on; starts with the object. */
  readonly message: string;
}

/**
 * Checks an image beyond the graph walk (diff_ids, layer contents). The default checks the config
 * and layer media types; lading wires the oci module's full image validation in (store.ts).
 */
export type ImageValidator = (doc: ManifestDocument, store: LayoutBase, options: IoOptions & { what: string }) => Promise<VerifyProblem[]>;

/** Options of verify. */
export interface VerifyOptions extends IoOptions {
  /** Blobs hashed at once (default 2: hashing is CPU-bound, the machines have 2 cores). */
  concurrency?: number;
  /** Count warnings (unknown media types, invalid names, leftovers) as problems. */
  strict?: boolean;
  /** Replaces the image check; see ImageValidator. */
  validateImage?: ImageValidator;
}

/** What verify found. `ok` is false when there is any problem (or warning, with `strict`). */
export interface VerifyReport {
  readonly path: string;
  readonly ok: boolean;
  /** Blobs re-hashed, and their total size. */
  readonly blobs: number;
  readonly bytes: number;
  /** index.json entries, and how many carry a ref name. */
  readonly entries: number;
  readonly names: number;
  /** Distinct manifests and indexes reached from index.json. */
  readonly manifests: number;
  readonly problems: VerifyProblem[];
  readonly warnings: VerifyProblem[];
  /** Temp files and leases left by writers that died; `store gc` removes them. Not a problem. */
  readonly leftovers: { tempFiles: number; staleLeases: number };
}

function problem(code: string, object: string, message: string): VerifyProblem {
  return { code, object, message: `${object}: ${message}` };
}

/** Verifies a store; see VerifyReport. Never modifies it. */
export async function verifyLayout(store: LayoutBase, options: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const warnings: VerifyProblem[] = [];

  // 1. The header (image-layout.md: oci-layout MUST exist).
  try {
    const header = LayoutHeaderSchema.safeParse(JSON.parse(await readFile(store.paths.header, 'utf8')));
    if (!header.success) problems.push(problem('NOT_A_LAYOUT', 'oci-layout', 'not a valid layout header'));
    else if (header.data.imageLayoutVersion !== LAYOUT_VERSION) {
      problems.push(problem('LAYOUT_VERSION', 'oci-layout', `imageLayoutVersion ${JSON.stringify(header.data.imageLayoutVersion)} is not ${LAYOUT_VERSION}`));
    }
  } catch (err) {
    problems.push(problem('NOT_A_LAYOUT', 'oci-layout', errnoCode(err) === 'ENOENT' ? 'missing' : describeError(err)));
  }

  // 2. Every blob re-hashed: the content must hash to its file name.
  const blobs = await store.listBlobs(options);
  const corrupt = new Set<string>();
  let bytes = 0;
  await mapLimit(blobs, options.concurrency ?? 2, async (b) => {
    const { algorithm } = splitDigest(b.digest);
    let got: Digest;
    try {
      got = (await digestFile(b.path, { algorithm, signal: options.signal })).digest;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return; // removed meanwhile (gc)
      throw err;
    }
    bytes += b.size;
    if (got !== b.digest) {
      corrupt.add(b.digest);
      problems.push(problem('BLOB_CORRUPT', `blob ${b.digest}`, `content hashes to ${got} (file ${b.path})`));
    }
  });
  const present = new Map(blobs.map((b) => [b.digest as string, b.size]));

  // 3. Every reference reachable from index.json resolves, recursively.
  let entries: Descriptor[] = [];
  try {
    entries = (await store.readIndex(options)).manifests;
  } catch (err) {
    problems.push(problem('INDEX_INVALID', 'index.json', describeError(err).replace(/^oci:[^:]*: index\.json: /, '')));
  }
  const seenNames = new Map<string, number>();
  const visited = new Set<string>();
  let manifests = 0;
  const validate = options.validateImage ?? basicImageCheck;

  // `object` names the parent (or the index.json entry); `name` is the entry's ref name, for messages.
  const visit = async (desc: Descriptor, object: string, field: string | undefined, weak: boolean, topLevel: boolean, name?: string): Promise<void> => {
    const where = field === undefined ? object : `${object} ${field}`;
    const size = present.get(desc.digest);
    if (size === undefined) {
      if (weak || mayBeAbsent(desc)) return;
      problems.push(problem('BLOB_MISSING', object, `${field ?? 'entry'} names blob ${desc.digest}, which is not in the store`));
      return;
    }
    if (size !== desc.size) {
      problems.push(problem('SIZE_MISMATCH', object, `${field ?? 'entry'} says blob ${desc.digest} has ${desc.size} bytes, the store has ${size}`));
      return;
    }
    if (corrupt.has(desc.digest) || visited.has(desc.digest)) return;
    if (!isWalkable(desc.mediaType)) {
      if (topLevel) warnings.push(problem('MEDIA_TYPE_UNKNOWN', where, `media type ${JSON.stringify(desc.mediaType)} is not a manifest or index; its blob was hashed but not read`));
      return;
    }
    visited.add(desc.digest);
    manifests++;
    let doc: ManifestDocument;
    try {
      doc = await store.readManifest(desc, where, options);
    } catch (err) {
      problems.push({ code: errCode(err, 'MANIFEST_INVALID'), object: where, message: describeError(err) });
      return;
    }
    const self = `${doc.kind === 'index' ? 'index' : 'manifest'} ${desc.digest}${name !== undefined ? ` (${name})` : ''}`;
    for (const e of edgesOf(doc)) await visit(e.descriptor, self, e.field, e.weak, false);
    if (isImageManifest(doc)) {
      for (const p of await validate(doc, store, { signal: options.signal, what: self })) problems.push(p);
    }
  };

  for (const [i, d] of entries.entries()) {
    const object = describeEntry(d, i);
    const name = refNameOf(d);
    if (name !== undefined) {
      seenNames.set(name, (seenNames.get(name) ?? 0) + 1);
      if (!isValidRefName(name)) {
        warnings.push(problem('NAME_INVALID', object, `ref name ${JSON.stringify(name)} breaks the annotations.md grammar`));
      }
    }
    await visit(d, object, undefined, false, true, name);
  }
  for (const [name, n] of seenNames) {
    if (n > 1) warnings.push(problem('NAME_DUPLICATE', `name ${name}`, `${n} index.json entries carry it; the last one wins`));
  }

  const leftovers = await countLeftovers(store);
  const ok = problems.length === 0 && (!options.strict || warnings.length === 0);
  return {
    path: store.path,
    ok,
    blobs: blobs.length,
    bytes,
    entries: entries.length,
    names: entries.filter((d) => refNameOf(d) !== undefined).length,
    manifests,
    problems,
    warnings,
    leftovers,
  };
}

function errCode(err: unknown, fallback: string): string {
  const code = err && typeof err === 'object' && 'code' in err ? (err as { code: unknown }).code : undefined;
  return typeof code === 'string' ? code : fallback;
}

/** The image check used when none is passed: config readable, diff_ids match the layer count, layer media types known. */
export const basicImageCheck: ImageValidator = async (doc, store, options) => {
  if (doc.kind !== 'manifest' || !CONFIG_TYPES.has(doc.value.config.mediaType)) return [];
  const out: VerifyProblem[] = [];
  doc.value.layers.forEach((l, i) => {
    if (!layerCompression(l.mediaType)) {
      out.push(problem('MEDIA_TYPE_UNKNOWN', options.what, `layers[${i}] ${l.digest} has media type ${JSON.stringify(l.mediaType)}, which is not a layer type`));
    }
  });
  if (out.length > 0) return out;
  try {
    await loadImage(doc, store, options);
  } catch (err) {
    out.push({ code: errCode(err, 'CONFIG_INVALID'), object: options.what, message: `${options.what}: ${describeError(err)}` });
  }
  return out;
};

async function countLeftovers(store: LayoutBase): Promise<{ tempFiles: number; staleLeases: number }> {
  let tempFiles = 0;
  for (const dir of [store.paths.tmp, store.path]) {
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const pid = tempOwnerPid(n);
      if (pid !== undefined && !isProcessAlive(pid)) tempFiles++;
    }
  }
  let staleLeases = 0;
  for (const l of await store.readLeases()) if (!l.record || !isProcessAlive(l.record.pid)) staleLeases++;
  return { tempFiles, staleLeases };
}
