import { BaseError } from '../core/index.js';

/** What can go wrong with an image-layout store. Callers switch on `code`, never on messages. */
export type LayoutErrorCode =
  /** The store directory does not exist (and `create` was not set). */
  | 'STORE_NOT_FOUND'
  /** The directory exists but is not an OCI image layout (no `oci-layout`, and not empty). */
  | 'NOT_A_LAYOUT'
  /** `oci-layout` names an imageLayoutVersion lading does not know. */
  | 'LAYOUT_VERSION'
  /** `index.json` is missing, not JSON, or not an image index. */
  | 'INDEX_INVALID'
  /** A ref name that breaks the `org.opencontainers.image.ref.name` grammar. */
  | 'NAME_INVALID'
  /** No index.json entry carries that ref name. */
  | 'NAME_NOT_FOUND'
  /** A descriptor names a blob the store does not hold. */
  | 'BLOB_MISSING'
  /** Blob content does not hash to its digest (on disk, or while being written). */
  | 'BLOB_CORRUPT'
  /** Blob size differs from the descriptor's. */
  | 'SIZE_MISMATCH'
  /** A media type lading cannot interpret where it needs to (e.g. inspecting an unknown entry). */
  | 'MEDIA_TYPE_UNKNOWN'
  /** A manifest or index blob that does not parse. */
  | 'MANIFEST_INVALID'
  /** setName refused: a blob reachable from the descriptor is absent, so the name would dangle. */
  | 'INCOMPLETE'
  /** A descriptor passed in that is not a valid OCI descriptor. */
  | 'DESCRIPTOR_INVALID'
  /** Any other file-system failure, with the errno error as `cause`. */
  | 'IO';

/** The error every layout operation throws on purpose; messages start with the store path or object. */
export class LayoutError extends BaseError<LayoutErrorCode> {}
