// Small images written by hand into any ContentTarget (a layout store or a registry repository):
// real tar+gzip layers, an OCI config, manifests and indexes, and referrer artifacts.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { digestOf, type Digest } from '../../../src/core/index.js';
import { MediaType, parseManifestDocument, type ContentTarget, type Descriptor, type ManifestDocument } from '../../../src/oci/index.js';

/** A tar archive of `files` (mtime 0, root-owned), as bytes. */
export async function tarOf(files: Record<string, Buffer | string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const [name, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
    await new Promise<void>((resolve, reject) => pack.entry({ name, size: buf.length, mtime: new Date(0), uid: 0, gid: 0, mode: 0o644 }, buf, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A gzip layer blob with its descriptor and diff_id. */
export interface LayerBlob {
  desc: Descriptor;
  diffId: Digest;
  data: Buffer;
}

/** A gzip layer from files (level 1 keeps big random layers fast). */
export async function layerOf(files: Record<string, Buffer | string>): Promise<LayerBlob> {
  const t = await tarOf(files);
  const data = gzipSync(t, { level: 1 });
  return { desc: { mediaType: MediaType.OciLayerGzip, digest: digestOf(data), size: data.length }, diffId: digestOf(t), data };
}

/** A layer of `size` random (incompressible) bytes in one file. */
export function randomLayer(size: number, name = 'blob.bin'): Promise<LayerBlob> {
  return layerOf({ [name]: randomBytes(size) });
}

async function putBytes(target: ContentTarget, desc: Descriptor, data: Uint8Array): Promise<void> {
  await target.putBlob(desc, async () => Readable.from([Buffer.from(data)]));
}

/** Options for writeImage. */
export interface ImageSpec {
  layers: LayerBlob[];
  os?: string;
  architecture?: string;
  variant?: string;
  tag?: string;
  /** Makes otherwise equal images differ. */
  label?: string;
}

/** Writes layers, config and manifest to `target`; tags it when `tag` is given. */
export async function writeImage(target: ContentTarget, spec: ImageSpec): Promise<ManifestDocument & { kind: 'manifest' }> {
  for (const l of spec.layers) await putBytes(target, l.desc, l.data);
  const config = {
    architecture: spec.architecture ?? 'amd64',
    os: spec.os ?? 'linux',
    ...(spec.variant ? { variant: spec.variant } : {}),
    config: { Labels: { 'org.example.label': spec.label ?? 'x' } },
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
  };
  const configRaw = Buffer.from(JSON.stringify(config));
  const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(configRaw), size: configRaw.length };
  await putBytes(target, configDesc, configRaw);
  const manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: spec.layers.map((l) => l.desc) };
  const doc = parseManifestDocument(Buffer.from(JSON.stringify(manifest)));
  await target.putManifest(doc, spec.tag ? { tag: spec.tag } : {});
  return doc as ManifestDocument & { kind: 'manifest' };
}

/** Writes an index over already-written platform images; tags it when `tag` is given. */
export async function writeIndex(target: ContentTarget, images: Array<{ doc: ManifestDocument; os: string; architecture: string; variant?: string }>, tag?: string): Promise<ManifestDocument & { kind: 'index' }> {
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map((i) => ({
      mediaType: i.doc.mediaType,
      digest: i.doc.digest,
      size: i.doc.raw.length,
      platform: { architecture: i.architecture, os: i.os, ...(i.variant ? { variant: i.variant } : {}) },
    })),
  };
  const doc = parseManifestDocument(Buffer.from(JSON.stringify(index)));
  await target.putManifest(doc, tag ? { tag } : {});
  return doc as ManifestDocument & { kind: 'index' };
}

/** A two-platform (amd64, arm64) index with a shared base layer; returns the index and children. */
export async function writeTwoPlatformIndex(target: ContentTarget, tag: string): Promise<{ index: ManifestDocument; children: ManifestDocument[] }> {
  const base = await layerOf({ 'etc/os-release': 'ID=lading-test\n' });
  const amd = await writeImage(target, { layers: [base, await layerOf({ 'bin/app': 'amd64 app\n' })], architecture: 'amd64', label: 'amd64' });
  const arm = await writeImage(target, { layers: [base, await layerOf({ 'bin/app': 'arm64 app\n' })], architecture: 'arm64', variant: 'v8', label: 'arm64' });
  const index = await writeIndex(target, [
    { doc: amd, os: 'linux', architecture: 'amd64' },
    { doc: arm, os: 'linux', architecture: 'arm64', variant: 'v8' },
  ], tag);
  return { index, children: [amd, arm] };
}

/** An artifact manifest (empty config, one blob) whose subject is `subject`; stored by digest only. */
export async function writeReferrer(target: ContentTarget, subject: ManifestDocument, artifactType: string, payload: string): Promise<ManifestDocument> {
  const empty = Buffer.from('{}');
  const emptyDesc: Descriptor = { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: 2 };
  await putBytes(target, emptyDesc, empty);
  const data = Buffer.from(payload);
  const blob: Descriptor = { mediaType: 'application/vnd.example.payload', digest: digestOf(data), size: data.length };
  await putBytes(target, blob, data);
  const m = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType,
    config: emptyDesc,
    layers: [blob],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.raw.length },
    annotations: { 'org.example.kind': artifactType },
  };
  const doc = parseManifestDocument(Buffer.from(JSON.stringify(m)));
  await target.putManifest(doc);
  return doc;
}

/** Every blob and child manifest a manifest needs, checked directly in `target`: a list of what is missing. */
export async function missingContent(target: ContentTarget, reference: string): Promise<string[]> {
  const doc = await target.getManifest(reference);
  if (!doc) return [`${reference}: manifest missing`];
  const missing: string[] = [];
  if (doc.kind === 'index') {
    for (const d of doc.value.manifests) missing.push(...(await missingContent(target, d.digest)));
  } else {
    for (const d of [doc.value.config, ...doc.value.layers]) if (!(await target.hasBlob(d.digest))) missing.push(`${reference}: blob ${d.digest}`);
  }
  return missing;
}
