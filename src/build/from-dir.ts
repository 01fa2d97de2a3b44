// fromDir: a one-layer image from a directory tree, written into a layout store.
// The same tree gives the same manifest digest on any machine, from any path, whoever owns the
// files and whatever their mtimes after SOURCE_DATE_EPOCH: owners are written as root (0:0),
// mtimes are clamped to the epoch, and no host path or time enters config or history.
import { relative, resolve, sep } from 'node:path';
import { epochToRfc3339, isWithin, throwIfAborted, type Digest, type Logger } from '../core/index.js';
import type { LayoutStore } from '../layout/index.js';
import { assembleImage, buildLayer, describe, OciError, type Descriptor, type LayerCompression, type Platform } from '../oci/index.js';

/** moby's default Linux PATH (DefaultPathEnvUnix), set when the caller gives no PATH (oci-image.md section 5). */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What `fromDir` makes. Only `store`, `dir` and `tag` are required. */
export interface FromDirOptions {
  /** Where the blobs and the name go. */
  store: LayoutStore;
  /** The directory whose content becomes the image's only layer (the directory itself is `/`). */
  dir: string;
  /** Ref name in the store. */
  tag: string;
  /** Default linux/amd64, whatever the host (the files are data; the label must not depend on the machine). */
  platform?: Platform;
  /** `NAME=value`, in order. PATH defaults to DEFAULT_PATH when no entry sets it. */
  env?: readonly string[];
  entrypoint?: readonly string[];
  cmd?: readonly string[];
  labels?: Readonly<Record<string, string>>;
  /** Absolute path. */
  workdir?: string;
  user?: string;
  /** Default gzip. */
  compression?: Exclude<LayerCompression, 'none'>;
  /**
   * SOURCE_DATE_EPOCH in seconds: the config's `created`, the history date, and the clamp for
   * every file mtime. Default 0 (1970-01-01T00:00:00Z), so the output never depends on the clock.
   */
  sourceDateEpoch?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

/** What `fromDir` wrote. */
export interface FromDirResult {
  readonly name: string;
  /** The image manifest (what the name points at). */
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layer: Descriptor;
  readonly diffId: Digest;
  /** Uncompressed tar bytes and tar members of the layer. */
  readonly uncompressedSize: number;
  readonly entries: number;
  /** RFC 3339 `created` of the config. */
  readonly created: string;
}

/**
 * Builds a one-layer image from `dir` with the given runtime config and names it `tag` in the
 * store. Blobs are streamed into the store as they are produced (constant memory); the name is
 * set last, so a failure or crash never leaves a name pointing at a partial image.
 */
export async function fromDir(options: FromDirOptions): Promise<FromDirResult> {
  const { store, signal } = options;
  const epoch = options.sourceDateEpoch ?? 0;
  throwIfAborted(signal, `building ${options.tag} from ${options.dir}`);
  let stored: { digest: Digest; size: number } | undefined;
  // A store inside the tree (`from-dir .` with the default ./.lading/store) is not part of the
  // image: it would put the store, and this very layer being written, into the layer.
  const inside = relative(resolve(options.dir), resolve(store.path));
  if (inside === '') throw new OciError('LAYER_INVALID', `${options.dir} is the store itself: choose another directory or --store`);
  const storeRel = isWithin(resolve(options.dir), resolve(store.path)) ? inside.split(sep).join('/') : undefined;
  if (storeRel !== undefined) options.logger?.info(`leaving the store ${storeRel}/ out of the layer of ${options.dir}`);
  const layer = await buildLayer({
    dir: options.dir,
    ...(storeRel !== undefined ? { filter: (path: string) => path.replace(/\/+$/, '') !== storeRel } : {}),
    owner: 'root',
    compression: options.compression ?? 'gzip',
    sourceDateEpoch: epoch,
    sink: async (compressed) => {
      stored = await store.writeBlob(compressed, { ...(signal ? { signal } : {}) });
    },
    ...(signal ? { signal } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  if (!stored || stored.digest !== layer.descriptor.digest || stored.size !== layer.descriptor.size) {
    throw new OciError('DIGEST_MISMATCH', `layer of ${options.dir}: the store received ${stored?.digest ?? 'nothing'}, the writer made ${layer.descriptor.digest}`);
  }
  const env = [...(options.env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  const created = epochToRfc3339(epoch);
  const image = assembleImage({
    layers: [layer],
    platform: options.platform ?? { architecture: 'amd64', os: 'linux' },
    config: {
      ...(options.user !== undefined ? { User: options.user } : {}),
      Env: env,
      ...(options.entrypoint ? { Entrypoint: options.entrypoint } : {}),
      ...(options.cmd ? { Cmd: options.cmd } : {}),
      ...(options.workdir !== undefined ? { WorkingDir: options.workdir } : {}),
      ...(options.labels ? { Labels: options.labels } : {}),
    },
    created: epoch,
    // NOTE: no host path here: the digest must not depend on where the tree lives.
    history: [{ created, created_by: 'lading image from-dir' }],
    annotations: { 'org.opencontainers.image.created': created },
  });
  await store.writeBlob(image.config.raw, { expected: { digest: image.config.digest, size: image.config.raw.length }, ...(signal ? { signal } : {}) });
  await store.putManifest(image.manifest, { tag: options.tag, ...(signal ? { signal } : {}) });
  options.logger?.debug('image written', { tag: options.tag, digest: image.manifest.digest });
  return {
    name: options.tag,
    manifest: describe(image.manifest),
    config: describe(image.config),
    layer: layer.descriptor,
    diffId: layer.diffId,
    uncompressedSize: layer.uncompressedSize,
    entries: layer.entries,
    created,
  };
}
