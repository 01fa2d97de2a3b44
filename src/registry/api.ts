// Small entry points the CLI and other modules call: open a repository, inspect a reference.
import type { Digest } from '../core/index.js';
import { CONFIG_TYPES, parseImageConfig, type ContentTarget, type Descriptor, type ImageReference } from '../oci/index.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { RegistryError } from './errors.js';
import { RegistryRepository, type RegistryIoOptions } from './repository.js';

/** Options for openRepository: an existing client to share, or options for a new one. */
export interface OpenRepositoryOptions extends RegistryClientOptions {
  client?: RegistryClient;
}

/** A RegistryRepository for a parsed reference (shares `options.client` when given). */
export function openRepository(ref: Pick<ImageReference, 'registry' | 'repository'>, options: OpenRepositoryOptions = {}): RegistryRepository {
  const client = options.client ?? new RegistryClient(options);
  return new RegistryRepository(client, ref.registry, ref.repository);
}

/** Options for inspectTarget. */
export interface InspectOptions extends RegistryIoOptions {
  /** Also read the image config of a single-platform manifest. */
  config?: boolean;
}

/** What `lading inspect` shows. */
export interface InspectResult {
  target: string;
  reference: string;
  digest: Digest;
  mediaType: string;
  size: number;
  kind: 'manifest' | 'index';
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  /** Index entries. */
  manifests?: Descriptor[];
  /** Manifest config and layers. */
  configDescriptor?: Descriptor;
  layers?: Descriptor[];
  /** The image config's platform and runtime settings, when asked for. */
  config?: { os: string; architecture: string; variant?: string; created?: string; entrypoint?: string[] | null; cmd?: string[] | null; env?: string[] | null; user?: string; labels?: Record<string, string> | null };
  /** The manifest bytes, exactly as stored. */
  raw: string;
}

/** Reads a manifest (and optionally its config) from any ContentTarget. */
export async function inspectTarget(target: ContentTarget, reference: string, options: InspectOptions = {}): Promise<InspectResult> {
  const doc = await target.getManifest(reference, options);
  if (!doc) throw new RegistryError('NOT_FOUND', `inspecting ${target.label}: ${reference} not found`);
  const v = doc.value;
  const out: InspectResult = {
    target: target.label,
    reference,
    digest: doc.digest,
    mediaType: doc.mediaType,
    size: doc.raw.length,
    kind: doc.kind,
    ...(v.artifactType ? { artifactType: v.artifactType } : {}),
    ...(v.subject ? { subject: v.subject } : {}),
    ...(v.annotations ? { annotations: v.annotations } : {}),
    raw: new TextDecoder().decode(doc.raw),
  };
  if (doc.kind === 'index') {
    out.manifests = doc.value.manifests;
  } else {
    out.configDescriptor = doc.value.config;
    out.layers = doc.value.layers;
    if (options.config && CONFIG_TYPES.has(doc.value.config.mediaType)) {
      const raw = await target.readBlob(doc.value.config, { ...options, maxBytes: 16 << 20 });
      const cfg = parseImageConfig(raw, { mediaType: doc.value.config.mediaType, what: `config of ${target.label}@${doc.digest}` }).value;
      out.config = {
        os: cfg.os,
        architecture: cfg.architecture,
        ...(cfg.variant ? { variant: cfg.variant } : {}),
        ...(cfg.created ? { created: cfg.created } : {}),
        ...(cfg.config?.Entrypoint !== undefined ? { entrypoint: cfg.config.Entrypoint } : {}),
        ...(cfg.config?.Cmd !== undefined ? { cmd: cfg.config.Cmd } : {}),
        ...(cfg.config?.Env !== undefined ? { env: cfg.config.Env } : {}),
        ...(cfg.config?.User ? { user: cfg.config.User } : {}),
        ...(cfg.config?.Labels !== undefined ? { labels: cfg.config.Labels } : {}),
      };
    }
  }
  return out;
}
