// validate(): checks an image or index against the image-spec, recursively, from any source
// (a layout store, a registry), and reports every problem found instead of stopping at the
// first. Checks: media types known; every blob present; sizes and digests of manifests,
// configs and layers; config schema; one diff_id per layer; each layer's uncompressed sha256
// equals its diff_id (config.md, oci-image.md section 6); index platforms match the configs.
import type { Readable } from 'node:stream';
import { createLimiter, errnoCode, Hasher, isBaseError, describeError, throwIfAborted, type Digest } from '../core/index.js';
import { createDecompressor } from './compress.js';
import { parseImageConfig, parseManifestDocument, type ManifestDocument } from './document.js';
import { OciError, type OciErrorCode } from './errors.js';
import type { BlobSource, ManifestSource } from './image.js';
import { CONFIG_TYPES, isIndexType, isManifestType, layerCompression, MediaType } from './mediatypes.js';
import type { Descriptor, Platform } from './schemas.js';

/** One thing wrong with an image. */
export interface ValidationProblem {
  /** Where in the document tree: `''` (the top document), `manifests[1]`, `manifests[1].layers[0]`, `config`. */
  readonly path: string;
  /** The blob concerned, when there is one. */
  readonly digest?: Digest;
  readonly code: OciErrorCode;
  /** A sentence starting with the path and digest. */
  readonly message: string;
}

/** How deeply layers are checked. */
export type LayerCheck = 'exists' | 'digest' | 'full';

/** Options of validateImage: a source, one of reference/descriptor/document, and the depth of layer checks. */
export interface ValidateOptions {
  /** Where blobs and manifests come from (a layout store, a registry repository). */
  source: BlobSource & ManifestSource;
  /** A tag/ref name or digest to resolve through `source.getManifest`. */
  reference?: string;
  /** Or: the descriptor of the top manifest/index. */
  descriptor?: Descriptor;
  /** Or: the top document, already fetched. */
  document?: ManifestDocument;
  /**
   * 'exists': blobs present; 'digest': compressed bytes re-hashed against the descriptor;
   * 'full' (default): also decompressed and checked against the config's diff_id.
   */
  layers?: LayerCheck;
  /** Layers checked at once (default 2). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** What validate found. */
export interface ValidationReport {
  readonly ok: boolean;
  readonly problems: ValidationProblem[];
  /** Digest of the top document. */
  readonly digest?: Digest;
  /** Manifests and indexes checked, layers checked, and layer bytes read. */
  readonly manifests: number;
  readonly layers: number;
  readonly bytes: number;
}

const MAX_MANIFEST = 16 << 20;
const MAX_CONFIG = 64 << 20;
const MAX_DEPTH = 8;

/** Error codes that describe the content, not the source failing; anything else is rethrown. */
const CONTENT_CODES: ReadonlyMap<string, OciErrorCode> = new Map<string, OciErrorCode>([
  ['DIGEST_MISMATCH', 'DIGEST_MISMATCH'],
  ['BLOB_CORRUPT', 'DIGEST_MISMATCH'],
  ['SIZE_MISMATCH', 'SIZE_MISMATCH'],
  ['BLOB_MISSING', 'BLOB_MISSING'],
  ['BLOB_UNKNOWN', 'BLOB_MISSING'],
  ['MANIFEST_UNKNOWN', 'BLOB_MISSING'],
  ['NOT_FOUND', 'BLOB_MISSING'],
  ['MANIFEST_INVALID', 'MANIFEST_INVALID'],
  ['INDEX_INVALID', 'INDEX_INVALID'],
  ['CONFIG_INVALID', 'CONFIG_INVALID'],
  ['MEDIA_TYPE_UNKNOWN', 'MEDIA_TYPE_UNKNOWN'],
  ['DESCRIPTOR_INVALID', 'DESCRIPTOR_INVALID'],
  ['DIGEST_INVALID', 'DESCRIPTOR_INVALID'],
  ['JSON_INVALID', 'MANIFEST_INVALID'],
  ['TAR_INVALID', 'TAR_INVALID'],
  ['LAYER_INVALID', 'LAYER_INVALID'],
  ['DIFF_ID_MISMATCH', 'DIFF_ID_MISMATCH'],
  ['PROCESS_FAILED', 'LAYER_INVALID'], // zstd refusing corrupt input
]);

/** The problem code for a content error, or undefined for an I/O failure of the source. */
function contentCode(err: unknown, fallback: OciErrorCode): OciErrorCode | undefined {
  if (isBaseError(err)) return CONTENT_CODES.get(err.code);
  const code = errnoCode(err);
  // zlib reports corrupt input with Z_DATA_ERROR / Z_BUF_ERROR codes.
  if (code?.startsWith('Z_') || code === 'ERR_ZLIB_INITIALIZATION_FAILED') return 'LAYER_INVALID';
  if (err instanceof SyntaxError) return fallback;
  return undefined;
}

function join(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}

async function drain(stream: Readable, hasher?: Hasher): Promise<number> {
  let n = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    n += chunk.length;
    hasher?.update(chunk);
  }
  return n;
}

class Validator {
  readonly problems: ValidationProblem[] = [];
  manifests = 0;
  layers = 0;
  bytes = 0;
  private readonly layerResults = new Map<string, Promise<Array<{ code: OciErrorCode; message: string }>>>();
  private readonly limit;

  constructor(private readonly o: ValidateOptions) {
    this.limit = createLimiter(Math.max(1, o.concurrency ?? 2));
  }

  private get io() {
    return this.o.signal ? { signal: this.o.signal } : {};
  }

  add(path: string, digest: Digest | undefined, code: OciErrorCode, message: string): void {
    const where = `${path === '' ? 'top document' : path}${digest ? ` ${digest}` : ''}`;
    this.problems.push({ path, ...(digest ? { digest } : {}), code, message: `${where}: ${message}` });
  }

  /** Runs `fn`; content errors become problems at `path`, I/O errors propagate. */
  private async guard<T>(path: string, digest: Digest | undefined, fallback: OciErrorCode, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      const code = contentCode(err, fallback);
      if (!code) throw err;
      this.add(path, digest, code, describeError(err));
      return undefined;
    }
  }

  async fetchDocument(desc: Descriptor, path: string): Promise<ManifestDocument | undefined> {
    if (!isIndexType(desc.mediaType) && !isManifestType(desc.mediaType)) {
      this.add(path, desc.digest, 'MEDIA_TYPE_UNKNOWN', `media type ${JSON.stringify(desc.mediaType)} is not a manifest or index lading knows`);
      return undefined;
    }
    if (!(await this.o.source.hasBlob(desc.digest, this.io))) {
      this.add(path, desc.digest, 'BLOB_MISSING', `not in ${this.o.source.label}`);
      return undefined;
    }
    return this.guard(path, desc.digest, 'MANIFEST_INVALID', async () => {
      const raw = await this.o.source.readBlob(desc, { ...this.io, maxBytes: MAX_MANIFEST });
      const doc = parseManifestDocument(raw, { mediaType: desc.mediaType, expected: { digest: desc.digest, size: desc.size }, what: `${this.o.source.label}@${desc.digest}` });
      if (doc.mediaType !== desc.mediaType) {
        this.add(path, desc.digest, 'MANIFEST_INVALID', `descriptor says ${desc.mediaType}, the document is ${doc.mediaType}`);
      }
      return doc;
    });
  }

  async visit(doc: ManifestDocument, path: string, expected: Platform | undefined, depth: number): Promise<void> {
    throwIfAborted(this.o.signal, 'validating an image');
    this.manifests++;
    if (depth > MAX_DEPTH) {
      this.add(path, doc.digest, 'INDEX_INVALID', `indexes nested more than ${MAX_DEPTH} deep`);
      return;
    }
    if (doc.kind === 'index') {
      const docker = doc.mediaType === MediaType.DockerManifestList;
      await Promise.all(
        doc.value.manifests.map(async (d, i) => {
          const p = join(path, `manifests[${i}]`);
          if (docker && isManifestType(d.mediaType) && !d.platform) this.add(p, d.digest, 'INDEX_INVALID', 'a manifest list entry needs a platform');
          const child = await this.fetchDocument(d, p);
          if (child) await this.visit(child, p, d.platform, depth + 1);
        }),
      );
      return;
    }
    const m = doc.value;
    const configPath = join(path, 'config');
    const isImage = CONFIG_TYPES.has(m.config.mediaType);
    if (!isImage) {
      // An artifact (manifest.md "Guidelines for Artifact Usage"): blobs are checked, not interpreted.
      await this.checkBlob(m.config, configPath);
      await Promise.all(m.layers.map((l, i) => this.limit(() => this.checkBlob(l, join(path, `layers[${i}]`)))));
      return;
    }
    if (doc.mediaType === MediaType.DockerManifest && m.config.mediaType !== MediaType.DockerConfig) {
      this.add(configPath, m.config.digest, 'MEDIA_TYPE_UNKNOWN', `a Docker schema 2 manifest needs config media type ${MediaType.DockerConfig}, not ${m.config.mediaType}`);
    }
    let diffIds: readonly Digest[] | undefined;
    if (!(await this.o.source.hasBlob(m.config.digest, this.io))) {
      this.add(configPath, m.config.digest, 'BLOB_MISSING', `not in ${this.o.source.label}`);
    } else {
      const config = await this.guard(configPath, m.config.digest, 'CONFIG_INVALID', async () => {
        const raw = await this.o.source.readBlob(m.config, { ...this.io, maxBytes: MAX_CONFIG });
        return parseImageConfig(raw, { mediaType: m.config.mediaType, expected: { digest: m.config.digest, size: m.config.size }, what: 'image config' });
      });
      if (config) {
        const c = config.value;
        diffIds = c.rootfs.diff_ids;
        if (diffIds.length !== m.layers.length) {
          this.add(configPath, m.config.digest, 'DIFF_ID_MISMATCH', `${diffIds.length} diff_ids in rootfs for ${m.layers.length} layers in the manifest`);
          diffIds = undefined;
        }
        if (expected) {
          const diffs: string[] = [];
          if (expected.os !== c.os) diffs.push(`os ${c.os} (index says ${expected.os})`);
          if (expected.architecture !== c.architecture) diffs.push(`architecture ${c.architecture} (index says ${expected.architecture})`);
          if (expected.variant !== undefined && c.variant !== undefined && expected.variant !== c.variant) diffs.push(`variant ${c.variant} (index says ${expected.variant})`);
          if (diffs.length > 0) this.add(configPath, m.config.digest, 'PLATFORM_MISMATCH', `config has ${diffs.join(', ')}`);
        }
      }
    }
    await Promise.all(
      m.layers.map((l, i) => this.limit(() => this.checkLayer(l, diffIds?.[i], join(path, `layers[${i}]`)))),
    );
  }

  /** Presence and, unless 'exists', digest and size of a blob that is not interpreted. */
  private async checkBlob(desc: Descriptor, path: string): Promise<void> {
    if (!(await this.o.source.hasBlob(desc.digest, this.io))) {
      if ((desc.urls?.length ?? 0) === 0) this.add(path, desc.digest, 'BLOB_MISSING', `not in ${this.o.source.label}`);
      return;
    }
    if ((this.o.layers ?? 'full') === 'exists') return;
    await this.guard(path, desc.digest, 'DIGEST_MISMATCH', async () => {
      this.bytes += await drain(await this.o.source.openBlob(desc, this.io));
    });
  }

  private async checkLayer(desc: Descriptor, diffId: Digest | undefined, path: string): Promise<void> {
    this.layers++;
    const compression = layerCompression(desc.mediaType);
    if (!compression) {
      this.add(path, desc.digest, 'MEDIA_TYPE_UNKNOWN', `media type ${JSON.stringify(desc.mediaType)} is not a layer type lading knows`);
      return this.checkBlob(desc, path);
    }
    const mode = this.o.layers ?? 'full';
    // Shared layers are checked once; every path that names a bad one gets the problem.
    const key = `${desc.digest} ${desc.size} ${desc.mediaType} ${mode === 'full' ? diffId ?? '' : ''}`;
    let result = this.layerResults.get(key);
    if (!result) {
      result = this.layerProblems(desc, compression, mode, diffId);
      this.layerResults.set(key, result);
    }
    for (const p of await result) this.add(path, desc.digest, p.code, p.message);
  }

  private async layerProblems(desc: Descriptor, compression: 'none' | 'gzip' | 'zstd', mode: LayerCheck, diffId: Digest | undefined): Promise<Array<{ code: OciErrorCode; message: string }>> {
    const out: Array<{ code: OciErrorCode; message: string }> = [];
    if (!(await this.o.source.hasBlob(desc.digest, this.io))) {
      if ((desc.urls?.length ?? 0) === 0) out.push({ code: 'BLOB_MISSING', message: `not in ${this.o.source.label}` });
      return out;
    }
    if (mode === 'exists') return out;
    const check = async (): Promise<void> => {
      const raw = await this.o.source.openBlob(desc, this.io);
      if (mode === 'digest' || diffId === undefined) {
        this.bytes += await drain(raw);
        return;
      }
      // One read: the source verifies the compressed digest, the decompressor feeds the diff_id hash.
      const hasher = new Hasher();
      const decompressor = createDecompressor(compression);
      let rawError: unknown;
      raw.on('error', (err) => {
        rawError = err;
        decompressor.destroy(err);
      });
      raw.on('data', (c: Buffer) => {
        this.bytes += c.length;
      });
      raw.pipe(decompressor);
      try {
        await drain(decompressor, hasher);
      } catch (err) {
        throw rawError ?? err;
      } finally {
        raw.destroy();
      }
      if (rawError) throw rawError;
      const got = hasher.digest();
      if (got !== diffId) out.push({ code: 'DIFF_ID_MISMATCH', message: `uncompressed content hashes to ${got}, the config's diff_id is ${diffId}` });
    };
    try {
      await check();
    } catch (err) {
      const code = contentCode(err, 'LAYER_INVALID');
      if (!code) throw err;
      out.push({ code, message: describeError(err) });
    }
    return out;
  }
}

/**
 * Validates an image or index (recursively) from `source`, given by `reference`, `descriptor` or
 * `document`. Returns every problem found, each naming its place (`manifests[1].layers[0]`) and
 * blob; throws only when the source itself fails (I/O, network, permissions) or when the
 * reference does not resolve (OciError NOT_FOUND).
 */
export async function validateImage(options: ValidateOptions): Promise<ValidationReport> {
  const v = new Validator(options);
  let top: ManifestDocument | undefined = options.document;
  if (!top && options.descriptor) {
    top = await v.fetchDocument(options.descriptor, '');
  } else if (!top) {
    if (options.reference === undefined) throw new OciError('DESCRIPTOR_INVALID', 'validate: give a reference, a descriptor or a document');
    try {
      top = await options.source.getManifest(options.reference, options.signal ? { signal: options.signal } : {});
    } catch (err) {
      const code = contentCode(err, 'MANIFEST_INVALID');
      if (!code) throw err;
      v.add('', undefined, code, describeError(err));
    }
    if (!top && v.problems.length === 0) throw new OciError('NOT_FOUND', `${options.source.label}: ${options.reference}: no such image`);
  }
  if (top) await v.visit(top, '', undefined, 0);
  // Checks run concurrently; sort so reports are stable (layers[2] before layers[10]).
  const problems = v.problems.sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }) || a.message.localeCompare(b.message));
  return {
    ok: problems.length === 0,
    problems,
    ...(top ? { digest: top.digest } : options.descriptor ? { digest: options.descriptor.digest as Digest } : {}),
    manifests: v.manifests,
    layers: v.layers,
    bytes: v.bytes,
  };
}

/** Same as validateImage (the name the issue uses). */
export const validate = validateImage;
