import { BaseError } from '../core/index.js';

export type OciErrorCode =
  | 'MANIFEST_INVALID'
  | 'INDEX_INVALID'
  | 'CONFIG_INVALID'
  | 'DESCRIPTOR_INVALID'
  | 'MEDIA_TYPE_UNKNOWN'
  | 'REFERENCE_INVALID'
  | 'BLOB_MISSING'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'DIFF_ID_MISMATCH'
  | 'LAYER_INVALID'
  | 'TAR_UNSAFE_PATH'
  | 'TAR_INVALID'
  | 'PLATFORM_NOT_FOUND'
  /** An index entry's platform differs from the os/architecture/variant of the image config. */
  | 'PLATFORM_MISMATCH'
  /** A reference that resolves to nothing. */
  | 'NOT_FOUND';

/** The error the oci module throws on purpose; messages start with the object they are about. */
export class OciError extends BaseError<OciErrorCode> {}
