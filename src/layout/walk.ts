// The edges of the content graph: which descriptors a manifest or index points to.
import { CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, type Descriptor, type ManifestDocument } from '../oci/index.js';

/** One outgoing reference of a document, with the field it came from (for messages). */
export interface Edge {
  readonly descriptor: Descriptor;
  /** `config`, `layers[0]`, `manifests[2]`, `subject`. */
  readonly field: string;
  /** A weak reference (`subject`): the target may legitimately be absent (manifest.md "subject"). */
  readonly weak: boolean;
}

/** Every descriptor a manifest or index names, in document order; `subject` last and weak. */
export function edgesOf(doc: ManifestDocument): Edge[] {
  const out: Edge[] = [];
  if (doc.kind === 'index') {
    doc.value.manifests.forEach((d, i) => out.push({ descriptor: d, field: `manifests[${i}]`, weak: false }));
  } else {
    out.push({ descriptor: doc.value.config, field: 'config', weak: false });
    doc.value.layers.forEach((d, i) => out.push({ descriptor: d, field: `layers[${i}]`, weak: false }));
  }
  if (doc.value.subject) out.push({ descriptor: doc.value.subject, field: 'subject', weak: true });
  return out;
}

/** True when a descriptor's media type says it is a manifest or index lading can parse and walk. */
export function isWalkable(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType) || MANIFEST_TYPES.has(mediaType);
}

/** True for an image manifest (as opposed to an artifact): its config is an image config. */
export function isImageManifest(doc: ManifestDocument): boolean {
  return doc.kind === 'manifest' && CONFIG_TYPES.has(doc.value.config.mediaType);
}

/**
 * True when a descriptor may be absent from a layout without the layout being broken:
 * non-distributable layers fetched from `urls` (image-layout.md: the blobs directory MAY lack
 * blobs referenced elsewhere; lading only relaxes it for foreign layers).
 */
export function mayBeAbsent(desc: Descriptor): boolean {
  return (desc.urls?.length ?? 0) > 0;
}
