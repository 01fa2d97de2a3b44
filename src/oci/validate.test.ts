import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf, type Digest } from '../core/index.js';
import {
  assembleImage,
  assembleIndex,
  describe as describeDoc,
  encodeDocument,
  MediaType,
  OciError,
  validateImage,
  type Descriptor,
  type LayerEntry,
  type LayerResult,
} from './index.js';
import { buildToBuffer, DirLayoutSource, hasProgram, run, tempDir, writeLayout } from '../../test/helpers/oci-layer.js';

const EPOCH = 1700000000;
const AMD64 = { architecture: 'amd64', os: 'linux' };

async function layer(entries: LayerEntry[], compression: 'gzip' | 'zstd' | 'none' = 'gzip'): Promise<{ result: LayerResult; blob: Buffer }> {
  return buildToBuffer({ entries, sourceDateEpoch: EPOCH, compression });
}

/** A two-layer image (gzip + zstd) under an index, written as a layout named "test". */
async function goodImage(dir: string, tweak: { firstDiffId?: Digest; platform?: typeof AMD64; layerType?: string } = {}) {
  const l1 = await layer([{ path: 'etc/os-release', type: 'file', content: 'ID=lading\n' }]);
  const l2 = await layer([{ path: 'usr/bin/app', type: 'file', content: 'app', mode: 0o755 }], 'zstd');
  const layers = [l1, l2].map((l, i) => ({
    descriptor: { ...l.result.descriptor, ...(tweak.layerType && i === 1 ? { mediaType: tweak.layerType } : {}) },
    diffId: i === 0 && tweak.firstDiffId ? tweak.firstDiffId : l.result.diffId,
  }));
  const image = tweak.layerType
    ? (() => {
        // assembleImage refuses unknown layer types; write this broken manifest by hand.
        const good = assembleImage({ layers: layers.map((l, i) => (i === 1 ? { ...l, descriptor: l2.result.descriptor } : l)), platform: AMD64 });
        const manifest = encodeDocument({ ...good.manifest.value, layers: layers.map((l) => l.descriptor) }, MediaType.OciManifest);
        return { config: good.config, manifest: { kind: 'manifest' as const, ...manifest } };
      })()
    : assembleImage({ layers, platform: AMD64, created: EPOCH });
  const index = assembleIndex({ manifests: [{ descriptor: describeDoc(image.manifest), platform: tweak.platform ?? AMD64 }] });
  const source = await writeLayout(dir, [l1.blob, l2.blob, image.config.raw, image.manifest.raw, index.raw], [{ descriptor: describeDoc(index), name: 'test' }]);
  return { source, image, index, l1, l2 };
}

test('a lading image validates clean from a layout: index, manifest, config, gzip and zstd layers', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { source, index, l1, l2 } = await goodImage(dir);
  const report = await validateImage({ source, reference: 'test' });
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  assert.equal(report.digest, index.digest);
  assert.equal(report.manifests, 2);
  assert.equal(report.layers, 2);
  assert.equal(report.bytes, l1.blob.length + l2.blob.length);
  // By descriptor and by digest too; 'exists' reads no layer bytes.
  assert.equal((await validateImage({ source, descriptor: describeDoc(index) })).ok, true);
  assert.equal((await validateImage({ source, reference: index.digest, layers: 'exists' })).bytes, 0);
});

test('skopeo reads the lading image, and its copies (OCI and Docker v2 schema 2) validate', async (t) => {
  if (!(await hasProgram('skopeo'))) assert.fail('skopeo missing: scripts/bootstrap installs it');
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  // gzip only: Docker schema 2 has no zstd layer type.
  const l1 = await layer([{ path: 'etc/os-release', type: 'file', content: 'ID=lading\n' }]);
  const image = assembleImage({ layers: [l1.result], platform: AMD64, created: EPOCH, config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] } });
  const src = join(dir, 'src');
  await writeLayout(src, [l1.blob, image.config.raw, image.manifest.raw], [{ descriptor: describeDoc(image.manifest), name: 'test' }]);
  const inspect = await run('skopeo', ['inspect', `oci:${src}:test`]);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.deepEqual((JSON.parse(inspect.stdout.toString()) as { Layers: string[] }).Layers, [l1.result.descriptor.digest]);
  for (const format of ['v2s2', 'oci']) {
    const dst = join(dir, format);
    const copy = await run('skopeo', ['copy', '--format', format, `oci:${src}:test`, `oci:${dst}:copy`]);
    assert.equal(copy.code, 0, copy.stderr);
    const source = new DirLayoutSource(dst);
    const top = await source.getManifest('copy');
    assert.equal(top?.mediaType, format === 'v2s2' ? MediaType.DockerManifest : MediaType.OciManifest);
    const report = await validateImage({ source, reference: 'copy' });
    assert.deepEqual(report.problems, [], `${format}: ${JSON.stringify(report.problems)}`);
    assert.equal(report.layers, 1);
  }
});

test('every problem is reported with its place and blob, not just the first one', async (t) => {
  const dir = await tempDir();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { source, image, l1 } = await goodImage(dir, { platform: { architecture: 'arm64', os: 'linux' } });
  // Corrupt the first layer (same size), delete the config.
  const p = source.blobPath(l1.result.descriptor.digest);
  const bytes = await readFile(p);
  bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0xff;
  await writeFile(p, bytes);
  await unlink(source.blobPath(image.config.digest));
  const report = await validateImage({ source, reference: 'test' });
  assert.equal(report.ok, false);
  assert.deepEqual(
    report.problems.map((x) => [x.path, x.code, x.digest]),
    [
      ['manifests[0].config', 'BLOB_MISSING', image.config.digest],
      ['manifests[0].layers[0]', 'DIGEST_MISMATCH', l1.result.descriptor.digest],
    ],
  );
  assert.match(report.problems[1]!.message, /^manifests\[0\]\.layers\[0\] sha256:[a-f0-9]{64}: .*digest mismatch/);
});

test('diff_id, platform, media type and size problems', async (t) => {
  const base = await tempDir();
  t.after(() => rm(base, { recursive: true, force: true }));

  // Wrong diff_id: only the 'full' check (decompressing) can see it.
  const wrong = digestOf('not the tar');
  const a = await goodImage(join(base, 'a'), { firstDiffId: wrong });
  const full = await validateImage({ source: a.source, reference: 'test' });
  assert.deepEqual(full.problems.map((x) => [x.path, x.code]), [['manifests[0].layers[0]', 'DIFF_ID_MISMATCH']]);
  assert.match(full.problems[0]!.message, new RegExp(`the config's diff_id is ${wrong}`));
  assert.equal((await validateImage({ source: a.source, reference: 'test', layers: 'digest' })).ok, true);

  // Index platform differs from the config.
  const b = await goodImage(join(base, 'b'), { platform: { architecture: 'arm64', os: 'linux' } });
  const pb = await validateImage({ source: b.source, reference: 'test', layers: 'exists' });
  assert.deepEqual(pb.problems.map((x) => [x.path, x.code]), [['manifests[0].config', 'PLATFORM_MISMATCH']]);
  assert.match(pb.problems[0]!.message, /architecture amd64 \(index says arm64\)/);

  // Unknown layer media type.
  const c = await goodImage(join(base, 'c'), { layerType: 'application/vnd.example.layer' });
  const pc = await validateImage({ source: c.source, reference: 'test' });
  assert.deepEqual(pc.problems.map((x) => [x.path, x.code]), [['manifests[0].layers[1]', 'MEDIA_TYPE_UNKNOWN']]);

  // diff_ids count differs from the layers.
  const l = await layer([{ path: 'x', type: 'file' }]);
  const one = assembleImage({ layers: [l.result], platform: AMD64 });
  const two = encodeDocument({ ...one.manifest.value, layers: [l.result.descriptor, l.result.descriptor] }, MediaType.OciManifest);
  const d = await writeLayout(join(base, 'd'), [l.blob, one.config.raw, two.raw], [{ descriptor: describeDoc(two), name: 'test' }]);
  const pd = await validateImage({ source: d, reference: 'test' });
  assert.deepEqual(pd.problems.map((x) => [x.path, x.code]), [['config', 'DIFF_ID_MISMATCH']]);

  // Index entries: a wrong size, an unknown media type, a missing manifest.
  const entries: Descriptor[] = [
    { ...describeDoc(one.manifest), size: one.manifest.raw.length + 1, platform: AMD64 },
    { mediaType: 'application/vnd.example+json', digest: digestOf('?'), size: 1 },
    { mediaType: MediaType.OciManifest, digest: digestOf('absent'), size: 6, platform: AMD64 },
  ];
  const idx = encodeDocument({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries }, MediaType.OciIndex);
  const e = await writeLayout(join(base, 'e'), [l.blob, one.config.raw, one.manifest.raw, idx.raw], [{ descriptor: describeDoc(idx), name: 'test' }]);
  const pe = await validateImage({ source: e, reference: 'test' });
  assert.deepEqual(pe.problems.map((x) => [x.path, x.code]), [
    ['manifests[0]', 'SIZE_MISMATCH'],
    ['manifests[1]', 'MEDIA_TYPE_UNKNOWN'],
    ['manifests[2]', 'BLOB_MISSING'],
  ]);
});

test('a layer that is not gzip, artifacts, unknown references and failing sources', async (t) => {
  const base = await tempDir();
  t.after(() => rm(base, { recursive: true, force: true }));
  // A "gzip" layer whose bytes are not gzip: the digest matches, decompression fails.
  const junk = Buffer.from('this is not gzip data at all');
  const fake = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: digestOf(junk), size: junk.length }, diffId: digestOf('x') };
  const img = assembleImage({ layers: [fake], platform: AMD64 });
  const s = await writeLayout(join(base, 'a'), [junk, img.config.raw, img.manifest.raw], [{ descriptor: describeDoc(img.manifest), name: 'test' }]);
  const r = await validateImage({ source: s, reference: 'test' });
  assert.deepEqual(r.problems.map((x) => [x.path, x.code]), [['layers[0]', 'LAYER_INVALID']]);

  // An artifact: config is the empty descriptor, layers are opaque blobs.
  const payload = Buffer.from('{"sbom":true}');
  const empty = Buffer.from('{}');
  const art = encodeDocument(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: 'application/spdx+json',
      config: { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: digestOf(payload), size: payload.length }],
    },
    MediaType.OciManifest,
  );
  const sa = await writeLayout(join(base, 'b'), [payload, empty, art.raw], [{ descriptor: describeDoc(art), name: 'sbom' }]);
  assert.deepEqual((await validateImage({ source: sa, reference: 'sbom' })).problems, []);
  await writeFile(sa.blobPath(digestOf(payload)), '{"sbom":fals}');
  assert.deepEqual((await validateImage({ source: sa, reference: 'sbom' })).problems.map((x) => [x.path, x.code]), [['layers[0]', 'DIGEST_MISMATCH']]);

  await assert.rejects(validateImage({ source: sa, reference: 'nope' }), (e: unknown) => e instanceof OciError && e.code === 'NOT_FOUND' && /nope: no such image/.test(e.message));
  // The source itself failing (not the content) is thrown, not reported.
  const broken = Object.assign(Object.create(DirLayoutSource.prototype) as DirLayoutSource, sa, {
    openBlob: async () => {
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    },
  });
  await assert.rejects(validateImage({ source: broken, reference: 'sbom' }), /EIO/);
});
