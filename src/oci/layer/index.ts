// The deterministic layer writer, reader and applier (re-exported by src/oci/index.ts).
export { buildLayer } from './build.js';
export type { LayerWriteOptions, DirLayerOptions, EntriesLayerOptions, LayerResult } from './build.js';
export { applyLayer } from './apply.js';
export type { ApplyLayerOptions, ApplyLayerResult } from './apply.js';
export { readLayerEntries } from './read.js';
export type { ReadLayerOptions, LayerListing } from './read.js';
export { readTar } from './reader.js';
export type { TarItem, TarMember } from './reader.js';
export { GZIP_BLOCK_SIZE } from './encoder.js';
export type { GzipFormat } from './encoder.js';
export type { LayerEntry, LayerEntryType, LayerContent, LayerEntryInfo } from './entries.js';
export type { OwnerPolicy, FileKind } from './walk.js';
export { fileKindOf, devMajor, devMinor } from './walk.js';
export { normalizeMemberPath, WHITEOUT_PREFIX, OPAQUE_MARKER } from './paths.js';
export { readXattrTree, removeXattrs, isPortableXattr } from './xattr.js';
export type { TarType } from './tar.js';
