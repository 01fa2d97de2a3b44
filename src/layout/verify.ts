// `verify`: re-hash every blob and check every reference reachable from index.json.
// It only reads: a corrupt blob is reported, never deleted or repaired.
import { readdir, readFile } from 'node:fs/promises';
import { describeError, digestFile, errnoCode, Hasher, isProcessAlive, mapLimit, splitDigest, type Digest } from '../core/index.js';
import { pipeline, Transform, type Readable } from 'node:stream';
import { CONFIG_TYPES, createDecompressor, isValidRefName, LayoutHeaderSchema, layerCompression, loadImage, readLayerEntries, validateImage, type Descriptor, type IoOptions, type LayerCompression, type ManifestDocument } from '../oci/index.js';
import { describeEntry, refNameOf, type LayoutBase } from './base.js';
import { LAYOUT_VERSION, tempOwnerPid } from './paths.js';
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
 * Checks an image beyond the graph walk (config, diff_ids, layer contents); see createImageCheck.
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
  let extraBlobs = 0;
  // A blob a concurrent writer stored after the listing above (and named before index.json was
  // read) is not missing: hash it now.
  const lateBlob = async (digest: Digest): Promise<number | undefined> => {
    const st = await store.statBlob(digest);
    if (!st) return undefined;
    const got = await digestFile(store.blobPath(digest), { algorithm: splitDigest(digest).algorithm, signal: options.signal }).catch(() => undefined);
    if (!got) return undefined;
    present.set(digest, got.size);
    extraBlobs++;
    bytes += got.size;
    if (got.digest !== digest) {
      corrupt.add(digest);
      problems.push(problem('BLOB_CORRUPT', `blob ${digest}`, `content hashes to ${got.digest} (file ${store.blobPath(digest)})`));
    }
    return got.size;
  };

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
  const validate = options.validateImage ?? createImageCheck();

  // `object` names the parent (or the index.json entry); `name` is the entry's ref name, for messages.
  const visit = async (desc: Descriptor, object: string, field: string | undefined, weak: boolean, topLevel: boolean, name?: string): Promise<void> => {
    const where = field === undefined ? object : `${object} ${field}`;
    let size = present.get(desc.digest);
    if (size === undefined) size = await lateBlob(desc.digest);
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
    blobs: blobs.length + extraBlobs,
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

/** Problem codes validateImage reports that the graph walk of verify already reports in its own words. */
const WALK_CODES = new Set(['BLOB_MISSING', 'DIGEST_MISMATCH', 'SIZE_MISMATCH']);

/**
 * The image check used when none is passed: the oci module's validateImage for the structure
 * (config schema, one diff_id per layer, media types, platforms), then one pass over every layer
 * that checks, from the same read, its compressed digest, its diff_id and that every tar member
 * is safe to apply (no `..`, no absolute paths: TAR_UNSAFE_PATH naming the member).
 */
export function createImageCheck(): ImageValidator {
  // Layers shared by several images are read once per verify run.
  const layerResults = new Map<string, Promise<VerifyProblem[]>>();
  return async (doc, store, options) => {
    if (doc.kind !== 'manifest' || !CONFIG_TYPES.has(doc.value.config.mediaType)) return [];
    const out: VerifyProblem[] = [];
    const report = await validateImage({ source: store, document: doc, layers: 'exists', ...(options.signal ? { signal: options.signal } : {}) });
    for (const p of report.problems) {
      if (WALK_CODES.has(p.code)) continue;
      out.push({ code: p.code, object: options.what, message: `${options.what}: ${p.message}` });
    }
    let diffIds: readonly string[] = [];
    try {
      diffIds = (await loadImage(doc, store, options)).config.value.rootfs.diff_ids;
    } catch {
      return out; // validateImage has reported why
    }
    for (const [i, layer] of doc.value.layers.entries()) {
      const compression = layerCompression(layer.mediaType);
      const diffId = diffIds[i];
      if (!compression || diffId === undefined || !(await store.hasBlob(layer.digest))) continue;
      const key = `${layer.digest} ${layer.mediaType} ${diffId}`;
      let result = layerResults.get(key);
      if (!result) {
        result = checkLayer(store, layer, compression, diffId, options.signal);
        layerResults.set(key, result);
      }
      for (const p of await result) out.push({ ...p, object: options.what, message: `${options.what}: layers[${i}] ${p.message}` });
    }
    return out;
  };
}

/** One read of a layer: compressed digest (VerifyingStream), diff_id and tar member safety. */
async function checkLayer(store: LayoutBase, layer: Descriptor, compression: LayerCompression, diffId: string, signal: AbortSignal | undefined): Promise<VerifyProblem[]> {
  const hasher = new Hasher();
  try {
    const raw = await store.openBlob(layer, signal ? { signal } : {});
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hasher.update(chunk);
        cb(null, chunk);
      },
    });
    const tar = pipeline(raw, createDecompressor(compression), tap, () => undefined) as unknown as Readable;
    await readLayerEntries({ stream: tar, ...(signal ? { signal } : {}) });
  } catch (err) {
    return [{ code: errCode(err, 'LAYER_INVALID'), object: '', message: `${layer.digest}: ${describeError(err)}` }];
  }
  const got = hasher.digest();
  if (got !== diffId) return [{ code: 'DIFF_ID_MISMATCH', object: '', message: `${layer.digest}: uncompressed content hashes to ${got}, the config's diff_id is ${diffId}` }];
  return [];
}

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
  for (const l of await store.readLeases()) if (!l.record || !isProcessAlive(l.record.pid, typeof l.record.start === 'string' ? l.record.start : undefined)) staleLeases++;
  return { tempFiles, staleLeases };
}
