// One error class for the whole debian module (apt sources, resolver, lockfile, .deb reader,
// dpkg database). Callers switch on `code`; messages start with context and name the file.
import { BaseError } from '../core/index.js';

/**
 * Codes raised by the debian module. Grouped by area; each area appends its own codes.
 */
export type DebianErrorCode =
  // --- apt (H4): sources, indexes, resolver, lockfile, downloads ---
  | 'SOURCES_INVALID' // a sources.list / .sources file or a source option is malformed
  | 'KEYRING_INVALID' // a Signed-By keyring cannot be read or holds no usable key
  | 'SIGNATURE_INVALID' // InRelease / Release.gpg not signed by any key of the keyring
  | 'RELEASE_INVALID' // Release fields missing, malformed, or not matching the source
  | 'RELEASE_EXPIRED' // Valid-Until in the past or Date in the future
  | 'INDEX_MISSING' // a wanted index is not listed in the Release
  | 'HASH_MISMATCH' // size or SHA256 of a downloaded file disagrees with what was signed
  | 'FETCH_FAILED' // network or HTTP failure after retries
  | 'CONTROL_INVALID' // a deb822 paragraph or field cannot be parsed
  | 'VERSION_INVALID' // a dpkg version string is malformed
  | 'RELATION_INVALID' // a Depends-style relationship field is malformed
  | 'UNRESOLVABLE' // the request cannot be satisfied
  | 'LOCK_INVALID' // a lockfile does not parse or does not match its schema
  | 'OFFLINE_MISSING' // --offline and files are not in the cache
  | 'DECOMPRESS_FAILED' // a compressed stream is corrupt or the codec program failed
  | 'CACHE_INVALID' // a cached file no longer matches the content address it is stored under
  | 'CACHE_WRITE_FAILED' // the cache cannot be written (read-only, full, no permission)
  | 'OPTIONS_INVALID' // an option value out of range (e.g. a negative age)
  // --- deb (H5): .deb reader, extraction, dpkg database ---
  | 'DEB_INVALID' // not a well-formed .deb (ar layout, members, control)
  | 'UNSAFE_PATH' // an archive entry would escape the staging root, or is a device node or fifo
  | 'FILE_CONFLICT' // two packages ship the same path (without Replaces), or a file meets a directory
  | 'ROOT_INVALID' // the unpack root cannot be used (not a directory, already holds a dpkg database)
  | 'UNPACK_FAILED'; // writing the tree failed (disk full, permissions) or a worker crashed

/** The error every function of the debian module throws on purpose. */
export class DebianError extends BaseError<DebianErrorCode> {}
