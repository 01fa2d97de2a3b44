// LayoutStore: an OCI image layout on disk (image-spec v1.1.1 image-layout.md) used as lading's
// local store, and as a ContentTarget the registry copy engine reads from and writes to.
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { atomicWriteFile, describeError, errnoCode, nullLogger, throwIfAborted, type Logger } from '../core/index.js';
import { describe, isValidRefName, LayoutHeaderSchema, MediaType, type ContentTarget, type Descriptor, type IoOptions, type ManifestDocument, type PutBlobOptions } from '../oci/index.js';
import { checkDescriptor, LayoutBase, refNameOf, stripRefName } from './base.js';
import { LayoutError } from './errors.js';
import { collectGarbage, type GcOptions, type GcReport } from './gc.js';
import { inspectLayout, listLayout, type InspectResult, type ListEntry } from './inspect.js';
import { LAYOUT_HEADER, LAYOUT_VERSION, REF_NAME, STATE_DIR, StorePaths, tempOwnerPid } from './paths.js';
import { verifyLayout, type VerifyOptions, type VerifyReport } from './verify.js';

/** Options of openLayout. */
export interface OpenLayoutOptions {
  /** The store directory. */
  path: string;
  /** Create the directory and an empty layout when absent (or empty). Default false. */
  create?: boolean;
  signal?: AbortSignal;
  logger?: Logger;
}

/**
 * An OCI image layout store. Blobs are content-addressed and written atomically; names are
 * `org.opencontainers.image.ref.name` annotations on index.json entries, changed under a lock so
 * concurrent writers never lose an entry. Tags of the ContentTarget interface are ref names.
 */
export class LayoutStore extends LayoutBase implements ContentTarget {
  // ---------------------------------------------------------------- names

  /**
   * Points `name` at `descriptor`: adds an index.json entry carrying the ref name, or moves the
   * existing one (in place). Refused with INCOMPLETE when a blob reachable from the descriptor is
   * absent, so a name never points at a partial image. Annotations of `descriptor` are kept.
   */
  async setName(name: string, descriptor: Descriptor, options: IoOptions = {}): Promise<void> {
    if (!isValidRefName(name)) {
      throw new LayoutError('NAME_INVALID', `${this.label}: ${JSON.stringify(name)} is not a valid ref name (annotations.md: components of letters and digits joined by - . _ : @ + or --, separated by /)`);
    }
    const { mediaType, digest, size, annotations, ...rest } = stripRefName(checkDescriptor(descriptor, `${this.label}: naming ${name}`));
    const entry: Descriptor = { mediaType, digest, size, ...rest, annotations: { ...(annotations ?? {}), [REF_NAME]: name } };
    await this.updateIndex(async (current) => {
      const missing = await this.missingBelow(entry, `${name} (${digest})`, options);
      if (missing.length > 0) {
        const shown = missing.slice(0, 5).join('; ') + (missing.length > 5 ? `; and ${missing.length - 5} more` : '');
        throw new LayoutError('INCOMPLETE', `${this.label}: naming ${name}: the image is incomplete: ${shown}`);
      }
      const hits = current.manifests.flatMap((d, i) => (refNameOf(d) === name ? [i] : []));
      const first = hits[0];
      if (hits.length === 1 && first !== undefined && JSON.stringify(current.manifests[first]) === JSON.stringify(entry)) return undefined;
      const next = current.manifests.filter((d, i) => i === first || refNameOf(d) !== name);
      if (first === undefined) next.push(entry);
      else next[next.indexOf(current.manifests[first] as Descriptor)] = entry;
      return next;
    }, options);
    this.logger.debug('name set', { store: this.path, name, digest });
  }

  /** Removes the index.json entries carrying `name` (blobs stay until gc). NAME_NOT_FOUND when none. */
  async removeName(name: string, options: IoOptions = {}): Promise<void> {
    await this.updateIndex((current) => {
      const next = current.manifests.filter((d) => refNameOf(d) !== name);
      if (next.length === current.manifests.length) throw new LayoutError('NAME_NOT_FOUND', `${this.label}: no image named ${name}`);
      return next;
    }, options);
  }

  // ---------------------------------------------------------------- ContentTarget

  /** Descriptor of the manifest a ref name or digest stands for (ref name annotation removed). */
  async statManifest(reference: string, options: IoOptions = {}): Promise<Descriptor | undefined> {
    const d = await this.resolve(reference, options);
    return d && stripRefName(d);
  }

  /** Stores a blob verified against `desc`; skipped (without calling `open`) when already present. */
  async putBlob(desc: Descriptor, open: (options: IoOptions) => Promise<Readable>, options: PutBlobOptions = {}): Promise<void> {
    await this.ensureLease();
    if (await this.touchIfPresent(desc.digest, desc.size)) return;
    const source = await open({ signal: options.signal });
    await this.writeBlob(source, { expected: { digest: desc.digest, size: desc.size }, signal: options.signal, onProgress: options.onProgress });
  }

  /** Stores manifest bytes unchanged (as a blob) and names them `tag` when given. */
  async putManifest(doc: ManifestDocument, options: IoOptions & { tag?: string } = {}): Promise<void> {
    await this.writeBlob(doc.raw, { expected: { digest: doc.digest, size: doc.raw.length }, signal: options.signal });
    if (options.tag !== undefined) {
      const desc = describe(doc);
      const artifactType = doc.value.artifactType;
      await this.setName(options.tag, artifactType !== undefined ? { ...desc, artifactType } : desc, options);
    }
  }

  /** Every ref name in index.json. */
  async listTags(options: IoOptions = {}): Promise<string[]> {
    return (await this.names(options)).map((n) => n.name);
  }

  // ---------------------------------------------------------------- maintenance

  /** Removes unreachable blobs and leftovers of crashed writers (rules: gc.ts). */
  gc(options: GcOptions = {}): Promise<GcReport> {
    return collectGarbage(this, options);
  }

  /** Re-hashes every blob and checks every reference from index.json; never modifies the store. */
  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyLayout(this, options);
  }

  /** Summary of the manifest or index a ref name or digest stands for. */
  inspect(reference: string, options: IoOptions = {}): Promise<InspectResult> {
    return inspectLayout(this, reference, options);
  }

  /** Every index.json entry (named or not), as `store ls` shows them. */
  list(options: IoOptions = {}): Promise<ListEntry[]> {
    return listLayout(this, options);
  }
}

/**
 * Opens the image layout at `path`. With `create`, a missing or empty directory becomes an empty
 * layout (`oci-layout`, `index.json` with no manifests). A non-empty directory without
 * `oci-layout` is refused (NOT_A_LAYOUT) rather than written into.
 */
export async function openLayout(options: OpenLayoutOptions): Promise<LayoutStore> {
  const path = resolvePath(options.path);
  const label = `oci:${path}`;
  throwIfAborted(options.signal, `opening ${label}`);
  const paths = new StorePaths(path);
  try {
    const st = await stat(path);
    if (!st.isDirectory()) throw new LayoutError('NOT_A_LAYOUT', `${label}: not a directory`);
  } catch (err) {
    if (err instanceof LayoutError) throw err;
    if (errnoCode(err) !== 'ENOENT') throw new LayoutError('IO', `${label}: ${describeError(err)}`, { cause: err });
    if (!options.create) {
      throw new LayoutError('STORE_NOT_FOUND', `${label}: no store here`, { hint: 'build an image into it first (lading image from-dir), or pass --store DIR / set LADING_STORE' });
    }
    await mkdir(path, { recursive: true });
  }
  const store = new LayoutStore(path, options.logger ?? nullLogger);
  let header: string | undefined;
  try {
    header = await readFile(paths.header, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw new LayoutError('IO', `${label}: oci-layout: ${describeError(err)}`, { cause: err });
  }
  if (header === undefined) {
    if (!options.create) throw new LayoutError('NOT_A_LAYOUT', `${label}: not an OCI image layout (no oci-layout file)`);
    // Under the lock: another process may be creating the same store right now. It writes
    // index.json first and oci-layout last, so a directory holding only those (and our temp
    // files) is a creation in progress or interrupted, not a foreign directory.
    await store.withLock(async () => {
      if (await exists(paths.header)) return;
      const others = (await readdir(path)).filter((n) => n !== STATE_DIR && n !== 'index.json' && tempOwnerPid(n) === undefined);
      if (others.length > 0) {
        throw new LayoutError('NOT_A_LAYOUT', `${label}: not an OCI image layout (no oci-layout file) and not empty; refusing to write into it`);
      }
      if (!(await exists(paths.index))) {
        await atomicWriteFile(paths.index, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }), { signal: options.signal });
      }
      await atomicWriteFile(paths.header, LAYOUT_HEADER, { signal: options.signal });
    }, options);
    return store;
  }
  let version: string | undefined;
  try {
    const h = LayoutHeaderSchema.safeParse(JSON.parse(header));
    version = h.success ? h.data.imageLayoutVersion : undefined;
  } catch {
    version = undefined;
  }
  if (version === undefined) throw new LayoutError('NOT_A_LAYOUT', `${label}: oci-layout is not a valid layout header`);
  if (version !== LAYOUT_VERSION) throw new LayoutError('LAYOUT_VERSION', `${label}: imageLayoutVersion ${JSON.stringify(version)} is not supported (want ${LAYOUT_VERSION})`);
  if (options.create && !(await exists(paths.index))) {
    await store.withLock(async () => {
      if (!(await exists(paths.index))) {
        await atomicWriteFile(paths.index, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }), { signal: options.signal });
      }
    }, options);
  }
  return store;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
