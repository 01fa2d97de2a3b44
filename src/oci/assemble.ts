// Pure assembly of the JSON documents of an image: config, manifest, index. Bytes are fixed by
// lading (never by a serialiser's whim): fields in the order of the image-spec's field tables
// (config.md, manifest.md, image-index.md, descriptor.md), string maps (labels, annotations,
// ports, volumes) sorted by key, no whitespace. The golden minimal image of oci-image.md
// section 13 comes out byte for byte (document.test.ts pins it).
//
// NOTE: canonicalJson (sorted keys everywhere) cannot be used for the config: it would write
// rootfs as {"diff_ids","type"}, while the spec examples and the golden bytes have
// {"type","diff_ids"}.
import { epochToRfc3339, isDigest, type Digest } from '../core/index.js';
import { encodeDocument, type ManifestDocument, type RawDocument } from './document.js';
import { OciError } from './errors.js';
import { isIndexType, isManifestType, layerCompression, MediaType } from './mediatypes.js';
import type { ContainerConfig, Descriptor, History, ImageConfig, Index, Manifest, Platform } from './schemas.js';

/** A built layer as buildLayer returns it (only these two fields are used). */
export interface AssembleLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
}

/** Runtime configuration (config.md `config`). Lists may be given as arrays; maps are sorted. */
export interface ContainerConfigInput {
  readonly User?: string;
  /** `"80/tcp"`, `"53/udp"`, `"8080"` (tcp); an array or the spec's object form. */
  readonly ExposedPorts?: readonly string[] | Readonly<Record<string, object>>;
  /** `NAME=value` entries, kept in the order given. */
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  /** Absolute paths; an array or the spec's object form. */
  readonly Volumes?: readonly string[] | Readonly<Record<string, object>>;
  /** Absolute path. */
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
}

/** Options of assembleImage. */
export interface AssembleImageOptions {
  /** Base layer first. */
  readonly layers: readonly AssembleLayer[];
  /** architecture and os (required), variant, os.version, os.features. */
  readonly platform: Platform;
  readonly config?: ContainerConfigInput;
  /** `created` of the config: SOURCE_DATE_EPOCH seconds or an RFC 3339 string. Omitted when absent. */
  readonly created?: number | string;
  readonly author?: string;
  /** History entries; those without `empty_layer: true` must match the layers one to one. */
  readonly history?: readonly History[];
  /** Manifest annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Weak reference to another manifest (referrers). */
  readonly subject?: Descriptor;
}

/** The assembled image: config and manifest with their exact bytes and digests. */
export interface AssembledImage {
  readonly config: RawDocument<ImageConfig>;
  readonly manifest: Extract<ManifestDocument, { kind: 'manifest' }>;
}

function fail(code: 'CONFIG_INVALID' | 'MANIFEST_INVALID' | 'INDEX_INVALID' | 'DESCRIPTOR_INVALID', message: string): never {
  throw new OciError(code, message);
}

function sortedMap<T>(m: Readonly<Record<string, T>> | undefined): Record<string, T> | undefined {
  if (m === undefined) return undefined;
  const out: Record<string, T> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k] as T;
  return out;
}

function stringMap(what: string, m: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (m === undefined) return undefined;
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') fail('CONFIG_INVALID', `${what}.${k}: value must be a string`);
  }
  const s = sortedMap(m);
  return s && Object.keys(s).length > 0 ? s : undefined;
}

/** Drops undefined members so JSON.stringify keeps the insertion order of the rest. */
function compact<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** A descriptor with fields in descriptor.md order and sorted annotations. */
export function orderDescriptor(d: Descriptor): Descriptor {
  if (!isDigest(d.digest)) fail('DESCRIPTOR_INVALID', `descriptor ${JSON.stringify(d.digest)}: invalid digest`);
  if (!Number.isSafeInteger(d.size) || d.size < 0) fail('DESCRIPTOR_INVALID', `descriptor ${d.digest}: invalid size ${d.size}`);
  return compact({
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    urls: d.urls,
    annotations: d.annotations && Object.keys(d.annotations).length > 0 ? sortedMap(d.annotations) : undefined,
    data: d.data,
    artifactType: d.artifactType,
    platform: d.platform ? orderPlatform(d.platform) : undefined,
  }) as Descriptor;
}

function orderPlatform(p: Platform): Platform {
  if (!p.architecture || !p.os) fail('DESCRIPTOR_INVALID', 'platform: architecture and os are required');
  return compact({
    architecture: p.architecture,
    os: p.os,
    'os.version': p['os.version'],
    'os.features': p['os.features'],
    variant: p.variant,
    features: p.features,
  }) as Platform;
}

const PORT = /^\d{1,5}(\/(tcp|udp|sctp))?$/;

function objectSet(what: string, v: readonly string[] | Readonly<Record<string, object>> | undefined, check: (k: string) => boolean, rule: string) {
  if (v === undefined) return undefined;
  const keys = Array.isArray(v) ? (v as readonly string[]) : Object.keys(v);
  const out: Record<string, Record<string, never>> = {};
  for (const k of [...keys].sort()) {
    if (!check(k)) fail('CONFIG_INVALID', `image config ${what}: ${JSON.stringify(k)} ${rule}`);
    out[k] = {};
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function containerConfig(c: ContainerConfigInput | undefined): ContainerConfig | undefined {
  if (!c) return undefined;
  for (const e of c.Env ?? []) {
    if (typeof e !== 'string' || e.indexOf('=') <= 0) fail('CONFIG_INVALID', `image config Env: ${JSON.stringify(e)} is not NAME=value`);
  }
  if (c.WorkingDir !== undefined && !c.WorkingDir.startsWith('/')) fail('CONFIG_INVALID', `image config WorkingDir: ${JSON.stringify(c.WorkingDir)} is not an absolute path`);
  const out = compact({
    User: c.User,
    ExposedPorts: objectSet('ExposedPorts', c.ExposedPorts, (k) => PORT.test(k) && Number(k.split('/')[0]) <= 65535, 'is not port[/tcp|/udp|/sctp]'),
    Env: c.Env ? [...c.Env] : undefined,
    Entrypoint: c.Entrypoint ? [...c.Entrypoint] : undefined,
    Cmd: c.Cmd ? [...c.Cmd] : undefined,
    Volumes: objectSet('Volumes', c.Volumes, (k) => k.startsWith('/'), 'is not an absolute path'),
    WorkingDir: c.WorkingDir,
    Labels: stringMap('image config Labels', c.Labels),
    StopSignal: c.StopSignal,
  });
  return Object.keys(out).length > 0 ? (out as ContainerConfig) : undefined;
}

function rfc3339(v: number | string, what: string): string {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) fail('CONFIG_INVALID', `${what}: ${v} is not epoch seconds`);
    return epochToRfc3339(v);
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) || Number.isNaN(Date.parse(v))) {
    fail('CONFIG_INVALID', `${what}: ${JSON.stringify(v)} is not an RFC 3339 date-time`);
  }
  return v;
}

function orderHistory(h: History, i: number): History {
  return compact({
    created: h.created !== undefined ? rfc3339(h.created, `history[${i}].created`) : undefined,
    author: h.author,
    created_by: h.created_by,
    comment: h.comment,
    empty_layer: h.empty_layer === true ? true : undefined,
  }) as History;
}

/**
 * Builds the config and manifest of a single-platform image from built layers. Pure: same
 * input, same bytes. Throws CONFIG_INVALID / DESCRIPTOR_INVALID naming the field.
 */
export function assembleImage(options: AssembleImageOptions): AssembledImage {
  const { layers, platform } = options;
  layers.forEach((l, i) => {
    if (!isDigest(l.diffId)) fail('CONFIG_INVALID', `layers[${i}]: diffId ${JSON.stringify(l.diffId)} is not a digest`);
    if (!layerCompression(l.descriptor.mediaType)) fail('DESCRIPTOR_INVALID', `layers[${i}] ${l.descriptor.digest}: ${l.descriptor.mediaType} is not a layer media type`);
    if (layerCompression(l.descriptor.mediaType) === 'none' && l.descriptor.digest !== l.diffId) {
      fail('DESCRIPTOR_INVALID', `layers[${i}]: an uncompressed layer's digest must equal its diff_id`);
    }
  });
  if (options.history) {
    const real = options.history.filter((h) => h.empty_layer !== true).length;
    if (real !== layers.length) fail('CONFIG_INVALID', `image config history: ${real} entries without empty_layer for ${layers.length} layers (they must match one to one)`);
  }
  const plat = orderPlatform(platform);
  const config: ImageConfig = compact({
    created: options.created !== undefined ? rfc3339(options.created, 'image config created') : undefined,
    author: options.author,
    architecture: plat.architecture,
    os: plat.os,
    'os.version': plat['os.version'],
    'os.features': plat['os.features'],
    variant: plat.variant,
    config: containerConfig(options.config),
    rootfs: { type: 'layers' as const, diff_ids: layers.map((l) => l.diffId) },
    history: options.history ? options.history.map(orderHistory) : undefined,
  }) as ImageConfig;
  const configDoc = encodeDocument(config, MediaType.OciConfig);
  const manifest: Manifest = compact({
    schemaVersion: 2 as const,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDoc.digest, size: configDoc.raw.length },
    layers: layers.map((l) => orderDescriptor(l.descriptor)),
    subject: options.subject ? orderDescriptor(options.subject) : undefined,
    annotations: stringMap('manifest annotations', options.annotations),
  }) as Manifest;
  const manifestDoc = encodeDocument(manifest, MediaType.OciManifest);
  return { config: configDoc, manifest: { kind: 'manifest', ...manifestDoc } };
}

/** One entry of an index: a manifest (or nested index) and the platform it serves. */
export interface IndexEntryInput {
  /** mediaType, digest, size (e.g. `describe(manifest)`); other descriptor fields are kept. */
  readonly descriptor: Descriptor;
  /** Required for image manifests; omitted for artifacts such as attestations. */
  readonly platform?: Platform;
}

/** Options of assembleIndex. */
export interface AssembleIndexOptions {
  readonly manifests: readonly IndexEntryInput[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly artifactType?: string;
  readonly subject?: Descriptor;
}

function platformKey(p: Platform | undefined): string {
  if (!p) return '\uffff';
  return [p.os, p.architecture, p.variant ?? '', p['os.version'] ?? '', (p['os.features'] ?? []).join(',')].join('\u0000');
}

/**
 * Builds an image index. Entries are sorted: by platform (os, architecture, variant,
 * os.version), then by digest; entries without a platform come last. Two entries for the same
 * platform and digest are refused (INDEX_INVALID).
 */
export function assembleIndex(options: AssembleIndexOptions): Extract<ManifestDocument, { kind: 'index' }> {
  const entries = options.manifests.map((e, i) => {
    if (!isManifestType(e.descriptor.mediaType) && !isIndexType(e.descriptor.mediaType)) {
      fail('INDEX_INVALID', `index manifests[${i}] ${e.descriptor.digest}: ${e.descriptor.mediaType} is not a manifest or index media type`);
    }
    const platform = e.platform ?? e.descriptor.platform;
    const d = orderDescriptor({ ...e.descriptor, ...(platform ? { platform } : {}) });
    return { d, key: platformKey(d.platform) };
  });
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.d.digest < b.d.digest ? -1 : a.d.digest > b.d.digest ? 1 : 0));
  for (let i = 1; i < entries.length; i++) {
    const a = entries[i - 1];
    const b = entries[i];
    if (a && b && a.key === b.key && a.d.digest === b.d.digest) fail('INDEX_INVALID', `index: ${b.d.digest} is listed twice for the same platform`);
  }
  const index: Index = compact({
    schemaVersion: 2 as const,
    mediaType: MediaType.OciIndex,
    artifactType: options.artifactType,
    manifests: entries.map((e) => e.d),
    subject: options.subject ? orderDescriptor(options.subject) : undefined,
    annotations: stringMap('index annotations', options.annotations),
  }) as Index;
  return { kind: 'index', ...encodeDocument(index, MediaType.OciIndex) };
}
