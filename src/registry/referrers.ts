// Referrers (registry.md §4): the API where a registry has it, else the fallback tag
// `<alg>-<hex>` holding an image index of referrer descriptors. Works on any ContentTarget
// (a layout keeps the fallback index under that ref name); registries add the API and If-Match.
import { MediaType, encodeDocument, parseManifestDocument, type ContentTarget, type Descriptor, type Index, type ManifestDocument } from '../oci/index.js';
import type { Digest } from '../core/index.js';
import { RegistryError } from './errors.js';
import { RegistryRepository, type RegistryIoOptions } from './repository.js';

/** The fallback tag of a subject digest (spec.md "Referrers Tag Schema"): `<alg>-<hex>`, truncated, invalid characters as `-`. */
export function fallbackTag(digest: Digest): string {
  const i = digest.indexOf(':');
  const alg = digest.slice(0, i).slice(0, 32);
  const enc = digest.slice(i + 1).slice(0, 64);
  return `${alg}-${enc}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** The descriptor a referrers list holds for `doc`: artifactType (else config.mediaType) and all annotations (§4.3 step 5). */
export function referrerDescriptor(doc: ManifestDocument): Descriptor {
  const v = doc.value;
  const artifactType = v.artifactType ?? (doc.kind === 'manifest' ? doc.value.config.mediaType : undefined);
  return {
    mediaType: doc.mediaType,
    digest: doc.digest,
    size: doc.raw.length,
    ...(artifactType ? { artifactType } : {}),
    ...(v.annotations && Object.keys(v.annotations).length ? { annotations: v.annotations } : {}),
  };
}

/** How referrers were read or written. */
export type ReferrersMode = 'api' | 'fallback';

/** Options for listReferrers. */
export interface ListReferrersOptions extends RegistryIoOptions {
  artifactType?: string;
}

/**
 * The referrers of `subject` in `target`: the API when the registry serves it, else the fallback
 * tag's index; a fallback tag that is not an index means none (§4.1).
 */
export async function listReferrers(target: ContentTarget, subject: Digest, options: ListReferrersOptions = {}): Promise<{ mode: ReferrersMode; referrers: Descriptor[] }> {
  if (target instanceof RegistryRepository && (await target.referrersApiSupported(options))) {
    const list = await target.referrersFromApi(subject, options);
    if (list) return { mode: 'api', referrers: list };
  }
  const doc = await target.getManifest(fallbackTag(subject), options).catch((err: unknown) => {
    // §4.1: if the fallback tag is not a valid index, assume no referrers.
    if (err instanceof Error && /MANIFEST_INVALID|INDEX_INVALID|invalid/i.test(`${(err as { code?: string }).code ?? ''} ${err.message}`)) return undefined;
    throw err;
  });
  if (!doc || doc.kind !== 'index') return { mode: 'fallback', referrers: [] };
  const list = doc.value.manifests.filter((d) => options.artifactType === undefined || d.artifactType === options.artifactType);
  return { mode: 'fallback', referrers: list };
}

const EMPTY_INDEX: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };

/**
 * Records `referrer` (already stored in `target`, with a `subject`) in the subject's referrers:
 * nothing to do when the registry indexed it itself (API, OCI-Subject seen at push), else the
 * fallback index is read, extended and written back, with If-Match on registries (§4.3),
 * retrying when another writer won the race (412).
 */
export async function recordReferrer(
  target: ContentTarget,
  referrer: ManifestDocument,
  options: RegistryIoOptions & { apiIndexed?: boolean } = {},
): Promise<ReferrersMode | 'present'> {
  const subject = referrer.value.subject;
  if (!subject) throw new RegistryError('MANIFEST_INVALID', `recording referrer ${referrer.digest} in ${target.label}: it has no subject`);
  if (options.apiIndexed && target instanceof RegistryRepository && (await target.referrersApiSupported(options))) return 'api';
  const tag = fallbackTag(subject.digest);
  const what = `updating referrers tag ${target.label}:${tag}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    let current: ManifestDocument | undefined;
    let etag: string | undefined;
    if (target instanceof RegistryRepository) {
      const f = await target.fetchManifest(tag, options);
      current = f?.doc;
      etag = f?.etag;
    } else {
      current = await target.getManifest(tag, options);
    }
    if (current && current.kind !== 'index') throw new RegistryError('MANIFEST_INVALID', `${what}: the tag holds a ${current.mediaType}, not an image index`);
    const base: Index = current?.kind === 'index' ? current.value : EMPTY_INDEX;
    if (base.manifests.some((d) => d.digest === referrer.digest)) return 'present';
    const next = encodeDocument<Index>({ ...base, mediaType: base.mediaType ?? MediaType.OciIndex, manifests: [...base.manifests, referrerDescriptor(referrer)] }, MediaType.OciIndex);
    const doc = parseManifestDocument(next.raw, { mediaType: MediaType.OciIndex, what });
    try {
      if (target instanceof RegistryRepository) {
        await target.putManifestRaw(doc, { ...options, tag, ...(etag ? { ifMatch: etag } : {}) });
      } else {
        await target.putManifest(doc, { ...options, tag });
      }
      return 'fallback';
    } catch (err) {
      if (err instanceof RegistryError && err.status === 412 && attempt < 4) continue;
      throw err;
    }
  }
  throw new RegistryError('PRECONDITION', `${what}: lost the race five times`);
}
