import { digestOf, parseJson, verifyBytes, type Digest } from '../core/index.js';
import { OciError } from './errors.js';
import { CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, MediaType } from './mediatypes.js';
import { formatIssues, ImageConfigSchema, IndexSchema, ManifestSchema, type Descriptor, type ImageConfig, type Index, type Manifest } from './schemas.js';

/** Parsed JSON with the exact bytes it came from; digests are always of `raw`. */
export interface RawDocument<T> {
  readonly raw: Uint8Array;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly value: T;
}

/** A manifest document: either a single-platform image manifest or an index (manifest list). */
export type ManifestDocument =
  | ({ readonly kind: 'manifest' } & RawDocument<Manifest>)
  | ({ readonly kind: 'index' } & RawDocument<Index>);

export interface ParseOptions {
  /** Media type the transport declared (descriptor mediaType or HTTP Content-Type). */
  mediaType?: string;
  /** Expected digest/size: bytes are verified before parsing. */
  expected?: { digest: Digest; size?: number };
  /** Names the document in errors, e.g. "manifest ghcr.io/x:1". */
  what?: string;
}

function stripParams(ct: string | undefined): string | undefined {
  const v = ct?.split(';')[0]?.trim();
  return v ? v : undefined;
}

/**
 * Parses manifest or index bytes, keeping them raw. The media type comes from the document's
 * own `mediaType`, else the declared one, else the shape (`manifests` means index). Docker
 * schema 1 and unknown types are refused with MEDIA_TYPE_UNKNOWN.
 */
export function parseManifestDocument(raw: Uint8Array, options: ParseOptions = {}): ManifestDocument {
  const what = options.what ?? 'manifest';
  if (options.expected) verifyBytes(raw, { ...options.expected, what });
  const json = parseJson(raw, what, 16 << 20);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new OciError('MANIFEST_INVALID', `${what}: not a JSON object`);
  }
  const body = json as Record<string, unknown>;
  const declared = stripParams(options.mediaType);
  const own = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  if (body.schemaVersion === 1) {
    throw new OciError('MEDIA_TYPE_UNKNOWN', `${what}: Docker schema 1 manifests are not supported`);
  }
  let mediaType = own ?? (declared && (INDEX_TYPES.has(declared) || MANIFEST_TYPES.has(declared)) ? declared : undefined);
  mediaType ??= Array.isArray(body.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  if (own && declared && declared !== own && (INDEX_TYPES.has(declared) || MANIFEST_TYPES.has(declared))) {
    throw new OciError('MANIFEST_INVALID', `${what}: declared media type ${declared} but the document says ${own}`);
  }
  const digest = options.expected?.digest ?? digestOf(raw);
  if (INDEX_TYPES.has(mediaType)) {
    const r = IndexSchema.safeParse(json);
    if (!r.success) throw new OciError('INDEX_INVALID', `${what}: invalid index: ${formatIssues(r.error)}`);
    return { kind: 'index', raw, digest, mediaType, value: r.data };
  }
  if (MANIFEST_TYPES.has(mediaType)) {
    const r = ManifestSchema.safeParse(json);
    if (!r.success) throw new OciError('MANIFEST_INVALID', `${what}: invalid manifest: ${formatIssues(r.error)}`);
    return { kind: 'manifest', raw, digest, mediaType, value: r.data };
  }
  throw new OciError('MEDIA_TYPE_UNKNOWN', `${what}: unknown manifest media type ${JSON.stringify(mediaType)}`);
}

/** Parses image config bytes (OCI or Docker config), verifying them first when `expected` is given. */
export function parseImageConfig(raw: Uint8Array, options: ParseOptions = {}): RawDocument<ImageConfig> {
  const what = options.what ?? 'image config';
  if (options.mediaType && !CONFIG_TYPES.has(options.mediaType)) {
    throw new OciError('MEDIA_TYPE_UNKNOWN', `${what}: ${options.mediaType} is not an image config media type`);
  }
  if (options.expected) verifyBytes(raw, { ...options.expected, what });
  const r = ImageConfigSchema.safeParse(parseJson(raw, what));
  if (!r.success) throw new OciError('CONFIG_INVALID', `${what}: invalid image config: ${formatIssues(r.error)}`);
  return { raw, digest: options.expected?.digest ?? digestOf(raw), mediaType: options.mediaType ?? MediaType.OciConfig, value: r.data };
}

/** A descriptor for a document (mediaType, digest, size), without optional fields. */
export function describe(doc: Pick<RawDocument<unknown>, 'raw' | 'digest' | 'mediaType'>): Descriptor {
  return { mediaType: doc.mediaType, digest: doc.digest, size: doc.raw.length };
}

/** Serialises a document lading authors (fields in the order given) and wraps it with its digest. */
export function encodeDocument<T>(value: T, mediaType: string): RawDocument<T> {
  const raw = new TextEncoder().encode(JSON.stringify(value));
  return { raw, digest: digestOf(raw), mediaType, value };
}

/** ChainID of a list of diff_ids (config.md "Layer ChainID"). */
export function chainId(diffIds: readonly Digest[]): Digest | undefined {
  let chain: Digest | undefined;
  for (const d of diffIds) chain = chain === undefined ? d : digestOf(`${chain} ${d}`);
  return chain;
}
