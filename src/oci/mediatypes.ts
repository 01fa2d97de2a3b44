// OCI image-spec v1.1.1 media-types.md, plus the Docker v2 schema 2 types accepted as input.

export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;
export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

/** Media types of documents that list platform manifests. */
export const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OciIndex, MediaType.DockerManifestList]);
/** Media types of single-platform manifests. */
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.OciManifest, MediaType.DockerManifest]);
/** Every manifest-like type lading reads (the Accept header of a registry pull). */
export const ALL_MANIFEST_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest];
/** Image config types. */
export const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.OciConfig, MediaType.DockerConfig]);

/** How a layer blob is compressed, derived from its media type. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

const LAYER_COMPRESSION: ReadonlyMap<string, LayerCompression> = new Map([
  [MediaType.OciLayer, 'none'],
  [MediaType.OciLayerGzip, 'gzip'],
  [MediaType.OciLayerZstd, 'zstd'],
  [MediaType.OciLayerNondistributable, 'none'],
  [MediaType.OciLayerNondistributableGzip, 'gzip'],
  [MediaType.OciLayerNondistributableZstd, 'zstd'],
  [MediaType.DockerLayerGzip, 'gzip'],
  [MediaType.DockerForeignLayerGzip, 'gzip'],
]);

/** The compression of a layer media type, or undefined when it is not a layer type lading knows. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYER_COMPRESSION.get(mediaType);
}

export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && INDEX_TYPES.has(mediaType);
}

export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && MANIFEST_TYPES.has(mediaType);
}

/** The OCI layer media type for a compression. */
export function layerMediaType(compression: LayerCompression): string {
  return compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
}
