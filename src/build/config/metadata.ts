// The labels and annotations an image gets from the family's metadata and its own definition
// (oci-image.md section 11), computed in one place so the builder and the docs agree.
import type { FamilyConfig, ImageConfig } from './types.js';

/** Keys lading defines under its reverse-DNS prefix (oci-image.md section 11: no standard key exists). */
export const LADING_KEYS = {
  family: 'dev.lading.family',
  image: 'dev.lading.image',
  /** Set by the builder: the image's input hash (see docs/config.md "Plans"). */
  inputHash: 'dev.lading.input-hash',
  /** JSON of HealthcheckSpec: OCI configs have no health check field. */
  healthcheck: 'dev.lading.healthcheck',
  ownerTeam: 'dev.lading.owner.team',
  ownerContact: 'dev.lading.owner.contact',
  supportStatus: 'dev.lading.support.status',
  supportUntil: 'dev.lading.support.until',
  supportContact: 'dev.lading.support.contact',
  supportStatement: 'dev.lading.support.statement',
} as const;

const OCI = 'org.opencontainers.image.';

/** Stable (hashed) metadata of one image: manifest annotations and config labels. */
export interface ImageMetadata {
  /** For the manifest (and index). The builder adds created, base.name, base.digest, ref.name, input hash. */
  readonly annotations: Readonly<Record<string, string>>;
  /** For config.Labels: the image's effective labels plus the same metadata (apko mirrors annotations into labels). */
  readonly labels: Readonly<Record<string, string>>;
}

function sorted(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k] as string]));
}

/**
 * The metadata lading puts on an image: project fields as OCI keys, owner and support as
 * dev.lading.* keys, the health check label, then the image's own labels/annotations on top.
 * Volatile values are not included (the builder adds `image.volatile` when it builds). Pure.
 */
export function imageMetadata(family: FamilyConfig, image: ImageConfig): ImageMetadata {
  const p = family.project;
  const meta: Record<string, string> = {};
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') meta[k] = v;
  };
  set(`${OCI}title`, image.name);
  set(`${OCI}description`, image.description ?? p.description);
  set(`${OCI}vendor`, p.vendor);
  set(`${OCI}authors`, p.contact);
  set(`${OCI}licenses`, p.license);
  set(`${OCI}url`, p.url);
  set(`${OCI}source`, p.source);
  set(`${OCI}documentation`, p.documentation);
  set(`${OCI}version`, p.version);
  set(LADING_KEYS.family, p.name);
  set(LADING_KEYS.image, image.name);
  set(LADING_KEYS.ownerTeam, p.owner?.team);
  set(LADING_KEYS.ownerContact, p.owner?.contact);
  set(LADING_KEYS.supportStatus, p.support?.status);
  set(LADING_KEYS.supportUntil, p.support?.until);
  set(LADING_KEYS.supportContact, p.support?.contact);
  set(LADING_KEYS.supportStatement, p.support?.statement);
  const labels: Record<string, string> = { ...meta, ...image.effective.labels };
  if (image.effective.healthcheck) labels[LADING_KEYS.healthcheck] = JSON.stringify(image.effective.healthcheck);
  return { annotations: sorted({ ...meta, ...image.annotations }), labels: sorted(labels) };
}
