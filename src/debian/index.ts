// Public surface of the debian module: apt sources, verified indexes, resolver, lockfile,
// downloads (apt section) and the .deb reader, extraction, dpkg database (deb section).
export { DebianError } from './errors.js';
export type { DebianErrorCode } from './errors.js';
export { createDecompressor, compressionFromName, compressionSuffix } from './decompress.js';
export type { Compression, DecompressOptions } from './decompress.js';

// --- apt (H4) ---
export { parseDeb822, splitWords, Deb822Paragraph } from './deb822.js';
export type { Deb822Field, ParseDeb822Options } from './deb822.js';
export { parseVersion, formatVersion, compareVersions, compareParsedVersions, verrevcmp, satisfiesVersion } from './version.js';
export type { DebianVersion, ParsedVersion, VersionOperator } from './version.js';
export { parseRelations, parseRelation, formatRelation, formatGroup } from './relation.js';
export type { Relation, RelationGroup } from './relation.js';

// --- deb (H5) ---
export * from './deb/index.js';
