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
  | 'PLATFORM_NOT_FOUND';

export class OciError extends BaseError<OciErrorCode> {}
