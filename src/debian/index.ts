// Public surface of the debian module: apt sources, verified indexes, resolver, lockfile,
// downloads (apt section) and the .deb reader, extraction, dpkg database (deb section).
export { DebianError } from './errors.js';
export type { DebianErrorCode } from './errors.js';
export { createDecompressor, compressionFromName, compressionSuffix } from './decompress.js';
export type { Compression, DecompressOptions } from './decompress.js';

// --- apt (H4) ---

// --- deb (H5) ---
