// `inspect`: a summary of one manifest or index in a store, for people and for --json.
import { isDigest } from '../core/index.js';
import { CONFIG_TYPES, parseImageConfig, type Descriptor, type IoOptions, type Platform } from '../oci/index.js';
import { refNameOf, stripRefName, type LayoutBase } from './base.js';
import { LayoutError } from './errors.js';

/** `os/architecture[/variant]`, the form `--platform` takes. */
export function formatPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The parts of an image config people ask about first. */
export interface ConfigSummary {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly platform: string;
  readonly created?: string;
  readonly user?: string;
  readonly workingDir?: string;
  readonly env: string[];
  readonly entrypoint?: string[];
  readonly cmd?: string[];
  readonly labels: Record<string, string>;
  readonly exposedPorts: string[];
  readonly volumes: string[];
  readonly stopSignal?: string;
  readonly diffIds: string[];
}

/** Summary of a manifest or index, as `lading store inspect` prints it. */
export interface InspectResult {
  /** What was asked for (a name or a digest). */
  readonly reference: string;
  /** Ref names in index.json that point at this digest. */
  readonly names: string[];
  readonly kind: 'manifest' | 'index';
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations: Record<string, string>;
  readonly subject?: Descriptor;
  /** Index: its manifests with their platforms. */
  readonly manifests?: Array<{ digest: string; mediaType: string; size: number; platform?: string; artifactType?: string }>;
  /** Manifest: its layers, base first. */
  readonly layers?: Array<{ digest: string; mediaType: string; size: number }>;
  /** Manifest of an image: the config essentials. Absent for artifacts. */
  readonly config?: ConfigSummary;
  /** Manifest: config plus layers, in bytes (what a pull transfers at most). */
  readonly totalSize?: number;
}

/** Summarises the manifest or index `reference` (a ref name or a digest) names. */
export async function inspectLayout(store: LayoutBase, reference: string, options: IoOptions = {}): Promise<InspectResult> {
  const desc = await store.resolve(reference, options);
  if (!desc) {
    throw new LayoutError('NAME_NOT_FOUND', `${store.label}: no ${isDigest(reference) ? 'manifest' : 'image named'} ${reference}`, {
      hint: '`lading store ls` lists the names in the store',
    });
  }
  const what = isDigest(reference) ? `${store.label}@${reference}` : `${store.label}:${reference}`;
  const doc = await store.readManifest(desc, what, options);
  const names = (await store.names(options)).filter((n) => n.descriptor.digest === doc.digest).map((n) => n.name);
  const base = {
    reference,
    names,
    digest: doc.digest,
    mediaType: doc.mediaType,
    size: doc.raw.length,
    ...(doc.value.artifactType !== undefined ? { artifactType: doc.value.artifactType } : {}),
    annotations: doc.value.annotations ?? {},
    ...(doc.value.subject !== undefined ? { subject: doc.value.subject } : {}),
  };
  if (doc.kind === 'index') {
    return {
      ...base,
      kind: 'index',
      manifests: doc.value.manifests.map((m) => ({
        digest: m.digest,
        mediaType: m.mediaType,
        size: m.size,
        ...(m.platform ? { platform: formatPlatform(m.platform) } : {}),
        ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
      })),
    };
  }
  const m = doc.value;
  const layers = m.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
  const totalSize = m.config.size + layers.reduce((a, l) => a + l.size, 0);
  if (!CONFIG_TYPES.has(m.config.mediaType)) return { ...base, kind: 'manifest', layers, totalSize };
  const raw = await store.readBlob(m.config, { ...options, maxBytes: 16 << 20 });
  const c = parseImageConfig(raw, { mediaType: m.config.mediaType, expected: { digest: m.config.digest, size: m.config.size }, what: `${what} config ${m.config.digest}` }).value;
  const cc = c.config ?? {};
  const config: ConfigSummary = {
    digest: m.config.digest,
    mediaType: m.config.mediaType,
    size: m.config.size,
    platform: formatPlatform(c),
    ...(c.created !== undefined ? { created: c.created } : {}),
    ...(cc.User ? { user: cc.User } : {}),
    ...(cc.WorkingDir ? { workingDir: cc.WorkingDir } : {}),
    env: cc.Env ?? [],
    ...(cc.Entrypoint ? { entrypoint: cc.Entrypoint } : {}),
    ...(cc.Cmd ? { cmd: cc.Cmd } : {}),
    labels: cc.Labels ?? {},
    exposedPorts: Object.keys(cc.ExposedPorts ?? {}).sort(),
    volumes: Object.keys(cc.Volumes ?? {}).sort(),
    ...(cc.StopSignal ? { stopSignal: cc.StopSignal } : {}),
    diffIds: c.rootfs.diff_ids,
  };
  return { ...base, kind: 'manifest', layers, config, totalSize };
}

/** The entry for a name or digest as listed by `store ls`. */
export interface ListEntry {
  /** The ref name, or undefined for an unnamed index.json entry. */
  readonly name?: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly platform?: string;
  readonly artifactType?: string;
}

/** Every index.json entry (named or not), for `store ls`. */
export async function listLayout(store: LayoutBase, options: IoOptions = {}): Promise<ListEntry[]> {
  return (await store.entries(options)).map((d) => {
    const name = refNameOf(d);
    const plain = stripRefName(d);
    return {
      ...(name !== undefined ? { name } : {}),
      digest: plain.digest,
      mediaType: plain.mediaType,
      size: plain.size,
      ...(plain.platform ? { platform: formatPlatform(plain.platform) } : {}),
      ...(plain.artifactType !== undefined ? { artifactType: plain.artifactType } : {}),
    };
  });
}
