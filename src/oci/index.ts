// Public surface of oci: media types, schemas, documents with raw bytes, references,
// image interfaces, compression, the deterministic layer writer and validate().
export { MediaType, INDEX_TYPES, MANIFEST_TYPES, ALL_MANIFEST_TYPES, CONFIG_TYPES, layerCompression, layerMediaType, isIndexType, isManifestType } from './mediatypes.js';
export type { KnownMediaType, LayerCompression } from './mediatypes.js';
export { OciError } from './errors.js';
export type { OciErrorCode } from './errors.js';
export { DescriptorSchema, ManifestSchema, IndexSchema, ImageConfigSchema, PlatformSchema, ContainerConfigSchema, HistorySchema, LayoutHeaderSchema, formatIssues } from './schemas.js';
export type { Descriptor, Manifest, Index, ImageConfig, Platform, ContainerConfig, History } from './schemas.js';
export { parseManifestDocument, parseImageConfig, describe, encodeDocument, chainId } from './document.js';
export type { RawDocument, ManifestDocument, ParseOptions } from './document.js';
export { parseImageReference, formatImageReference, referenceTarget, isValidTag, isValidRepository, isValidRefName, DOCKER_HUB } from './reference.js';
export type { ImageReference, ParseReferenceOptions } from './reference.js';
export { loadImage } from './image.js';
export type { BlobSource, ManifestSource, ContentTarget, PutBlobOptions, IoOptions, Layer, Image, ImageIndex } from './image.js';
export { createCompressor, createDecompressor } from './compress.js';
export type { CompressOptions } from './compress.js';
export { assembleImage, assembleIndex, orderDescriptor } from './assemble.js';
export type { AssembleImageOptions, AssembleLayer, AssembledImage, AssembleIndexOptions, ContainerConfigInput, IndexEntryInput } from './assemble.js';
export { validateImage, validate } from './validate.js';
export type { ValidateOptions, ValidationReport, ValidationProblem, LayerCheck } from './validate.js';
export { buildLayer, speculateLayer, applyLayer, readLayerEntries, readTar, normalizeMemberPath, readXattrTree, removeXattrs, isPortableXattr, GZIP_BLOCK_SIZE, WHITEOUT_PREFIX, OPAQUE_MARKER, fileKindOf, devMajor, devMinor } from './layer/index.js';
export type {
  LayerWriteOptions,
  DirLayerOptions,
  EntriesLayerOptions,
  LayerResult,
  ApplyLayerOptions,
  ApplyLayerResult,
  ReadLayerOptions,
  LayerListing,
  TarItem,
  TarMember,
  GzipFormat,
  SpeculateOptions,
  Speculation,
  LayerMemo,
  BlockMemo,
  LayerEntry,
  LayerEntryType,
  LayerContent,
  LayerEntryInfo,
  OwnerPolicy,
  FileKind,
  TarType,
} from './layer/index.js';
