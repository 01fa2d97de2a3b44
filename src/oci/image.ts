// Small interfaces in the style of go-containerregistry pkg/v1: an image is a raw manifest,
// a raw config and layers whose bytes are opened lazily from wherever they live.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { Digest } from '../core/index.js';
import { createDecompressor } from './compress.js';
import { parseImageConfig, type ManifestDocument, type RawDocument } from './document.js';
import { OciError } from './errors.js';
import { CONFIG_TYPES, layerCompression, type LayerCompression } from './mediatypes.js';
import type { Descriptor, ImageConfig, Index, Manifest } from './schemas.js';

export interface IoOptions {
  signal?: AbortSignal;
}

/** Read access to blobs. Every read is verified against the descriptor's digest and size. */
export interface BlobSource {
  /** Names the source in messages (a layout path or registry/repo); never contains secrets. */
  readonly label: string;
  hasBlob(digest: Digest, options?: IoOptions): Promise<boolean>;
  /** A stream of the blob that fails at its end when the content does not match `desc`. */
  openBlob(desc: Descriptor, options?: IoOptions): Promise<Readable>;
  /** The whole blob, verified; for configs and other small blobs. */
  readBlob(desc: Descriptor, options?: IoOptions & { maxBytes?: number }): Promise<Uint8Array>;
}

/** Where manifests are found by tag (a ref name in a layout) or by digest. */
export interface ManifestSource {
  /** The manifest or index, or undefined when the reference does not exist. Digest references are verified. */
  getManifest(reference: string, options?: IoOptions): Promise<ManifestDocument | undefined>;
}

export interface PutBlobOptions extends IoOptions {
  /** Bytes written so far, for progress displays. */
  onProgress?: (bytes: number) => void;
}

/**
 * A place images are read from and written to: a registry repository or an OCI image layout
 * (where tags are `org.opencontainers.image.ref.name` values). The copy engine speaks only this.
 */
export interface ContentTarget extends BlobSource, ManifestSource {
  /** Descriptor (mediaType, digest, size) of a manifest, or undefined when absent. */
  statManifest(reference: string, options?: IoOptions): Promise<Descriptor | undefined>;
  /**
   * Stores a blob. `open` may be called more than once (retries); the stored bytes are verified
   * against `desc` before they become visible.
   */
  putBlob(desc: Descriptor, open: (options: IoOptions) => Promise<Readable>, options?: PutBlobOptions): Promise<void>;
  /** Stores manifest bytes unchanged, by digest, and points `tag` at them when given. */
  putManifest(doc: ManifestDocument, options?: IoOptions & { tag?: string }): Promise<void>;
  /** Every tag (or ref name). */
  listTags(options?: IoOptions): Promise<string[]>;
}

/** One layer of an image. */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly compression: LayerCompression;
  /** The blob as stored, verified against the descriptor. */
  compressed(options?: IoOptions): Promise<Readable>;
  /** The tar stream. Its digest is `diffId`; `validateImage` checks that. */
  uncompressed(options?: IoOptions): Promise<Readable>;
}

/** A single-platform image. */
export interface Image {
  readonly manifest: RawDocument<Manifest>;
  readonly config: RawDocument<ImageConfig>;
  readonly layers: readonly Layer[];
}

/** A multi-platform index. */
export interface ImageIndex {
  readonly index: RawDocument<Index>;
}

/** Builds an Image from a fetched manifest, reading its config from `source`; layers open lazily. */
export async function loadImage(doc: ManifestDocument, source: BlobSource, options: IoOptions = {}): Promise<Image> {
  if (doc.kind !== 'manifest') {
    throw new OciError('MANIFEST_INVALID', `${source.label}@${doc.digest}: is an index, not an image manifest`);
  }
  const m = doc.value;
  if (!CONFIG_TYPES.has(m.config.mediaType)) {
    throw new OciError('MEDIA_TYPE_UNKNOWN', `${source.label}@${doc.digest}: config has media type ${m.config.mediaType}, not an image config (an artifact?)`);
  }
  const rawConfig = await source.readBlob(m.config, { ...options, maxBytes: 16 << 20 });
  const config = parseImageConfig(rawConfig, { mediaType: m.config.mediaType, what: `config ${m.config.digest} of ${source.label}@${doc.digest}` });
  const diffIds = config.value.rootfs.diff_ids;
  if (diffIds.length !== m.layers.length) {
    throw new OciError('DIFF_ID_MISMATCH', `${source.label}@${doc.digest}: ${m.layers.length} layers but ${diffIds.length} diff_ids in the config`);
  }
  const layers = m.layers.map((desc, i): Layer => {
    const compression = layerCompression(desc.mediaType);
    if (!compression) {
      throw new OciError('MEDIA_TYPE_UNKNOWN', `${source.label}@${doc.digest}: layers[${i}] ${desc.digest}: unknown layer media type ${desc.mediaType}`);
    }
    return {
      descriptor: desc,
      diffId: diffIds[i] as Digest,
      compression,
      compressed: (o) => source.openBlob(desc, o),
      uncompressed: async (o) => {
        const raw = await source.openBlob(desc, o);
        const out = createDecompressor(compression);
        return pipeline(raw, out, () => undefined) as unknown as Readable;
      },
    };
  });
  return { manifest: doc, config, layers };
}
