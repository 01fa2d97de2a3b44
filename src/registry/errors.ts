// Registry errors: the distribution-spec error codes (spec.md "Error Codes", registry.md §5)
// plus lading's own for what happens around HTTP (network, auth, protocol, copy).
import { BaseError, type ErrorOptions } from '../core/index.js';

/** Codes a registry sends in its error body (distribution-spec v1.1.1 "Error Codes"). */
export const SPEC_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const;

/** A spec code the registry sent. */
export type SpecErrorCode = (typeof SPEC_ERROR_CODES)[number];

/** Everything a RegistryError can be. */
export type RegistryErrorCode =
  | SpecErrorCode
  /** Connection refused/reset, DNS, TLS, a body cut off: worth a retry. */
  | 'NETWORK'
  /** Credentials missing or refused, token endpoint failure. */
  | 'AUTH'
  /** A credential source (config file, helper program) could not be read. */
  | 'CREDENTIALS'
  /** An HTTP status with no usable error body. */
  | 'HTTP'
  /** The registry answered something the protocol does not allow (bad header, bad JSON, digest mismatch). */
  | 'PROTOCOL'
  /** Content did not match its digest or size. */
  | 'DIGEST_MISMATCH'
  | 'REFERENCE_INVALID'
  /** HTTP 412: an If-Match lost a race, or a registry policy (Harbor) refused the push. */
  | 'PRECONDITION'
  /** A plain-HTTP or otherwise unsafe request was refused. */
  | 'INSECURE'
  | 'NOT_FOUND'
  | 'PLATFORM_NOT_FOUND'
  | 'COPY_FAILED'
  | 'ABORTED';

/** Extra facts about a failed registry call. */
export interface RegistryErrorOptions extends ErrorOptions {
  /** HTTP status, when there was a response. */
  status?: number;
  /** True when the same request may succeed later (network errors, 408, 429, 5xx). */
  temporary?: boolean;
  /** Server-requested delay (Retry-After), in ms. */
  retryAfterMs?: number;
  /** The registry's own code when it is not one of the spec codes (TAG_INVALID, PROJECTPOLICYVIOLATION, ...). */
  registryCode?: string;
}

/** Error raised by the registry module. Messages start with the operation and name the object; URLs are redacted. */
export class RegistryError extends BaseError<RegistryErrorCode> {
  readonly status: number | undefined;
  readonly temporary: boolean;
  readonly retryAfterMs: number | undefined;
  readonly registryCode: string | undefined;

  constructor(code: RegistryErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(code, message, options);
    this.status = options.status;
    this.temporary = options.temporary ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.registryCode = options.registryCode;
  }
}

/** True when `err` (or a RegistryError in its cause chain) is marked temporary. */
export function isTemporary(err: unknown): boolean {
  let cur: unknown = err;
  for (let i = 0; i < 6 && cur; i++) {
    if (cur instanceof RegistryError) return cur.temporary;
    if (cur instanceof BaseError) return false;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Statuses worth a retry (ggcr pkg/v1/remote/options.go; registry.md §5). */
export function isTemporaryStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 499 || (status >= 500 && status <= 504) || status === 522;
}
