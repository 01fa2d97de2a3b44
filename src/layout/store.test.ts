import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestOf, type Digest } from '../core/index.js';
import { MediaType, encodeDocument, describe, parseManifestDocument, type Descriptor, type ManifestDocument } from '../oci/index.js';
import { LayoutError, openLayout, REF_NAME, type LayoutStore } from './index.js';

// Golden minimal image of the spec notes (§13): Docker's 32-byte gzipped empty tar, a 151-byte
// config, a 400-byte manifest, a 289-byte index.
const EMPTY_TAR_GZ = Buffer.from('1f8b080000096e8800ff621805a360148c5800080000ffff2eafb5ef00040000', 'hex');
const GOLDEN = {
  layer: 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4',
  config: 'sha256:83656ea199d8d74b56ef7fe4a0bef9dd10aa412ec632f8ccdf3e0c903471c0a2',
  manifest: 'sha256:54d2dd4875d66d1caa19a65ce44f6deefc02ac39f0054f6fa254d7fbc1fae53a',
  index: 'sha256:ef4244ded7ad8a15b16f765cc5e4cd524558ffacd2a2aa5ecd471864e11e0537',
};

/** Serialises a manifest or index the way lading authors them, as a parsed ManifestDocument. */
function asDoc(value: unknown, mediaType: string): ManifestDocument {
  return parseManifestDocument(encodeDocument(value, mediaType).raw, { mediaType });
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'lading-layout-'));
}

/** Writes the golden image (config, layer, manifest, index) and returns the documents' descriptors. */
async function writeGolden(store: LayoutStore): Promise<{ manifest: Descriptor; index: Descriptor; layer: Descriptor; config: Descriptor }> {
  const configDoc = encodeDocument({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ['sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef'] } }, MediaType.OciConfig);
  const layer = await store.writeBlob(EMPTY_TAR_GZ);
  const config = await store.writeBlob(configDoc.raw);
  const layerDesc = { mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.size };
  const configDesc = { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size };
  const manifest = encodeDocument({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: [layerDesc] }, MediaType.OciManifest);
  await store.putManifest(asDoc(manifest.value, MediaType.OciManifest));
  const index = encodeDocument(
    { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...describe(manifest), platform: { architecture: 'amd64', os: 'linux' } }] },
    MediaType.OciIndex,
  );
  await store.putManifest(asDoc(index.value, MediaType.OciIndex));
  return { manifest: describe(manifest), index: describe(index), layer: layerDesc, config: configDesc };
}

test('openLayout creates an empty layout, and refuses missing or foreign directories', async () => {
  const dir = await tempDir();
  await assert.rejects(openLayout({ path: join(dir, 'none') }), (e: unknown) => e instanceof LayoutError && e.code === 'STORE_NOT_FOUND');
  const store = await openLayout({ path: join(dir, 's'), create: true });
  assert.equal(await readFile(join(dir, 's', 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
  assert.equal(digestOf(await readFile(join(dir, 's', 'oci-layout'))), 'sha256:18f0797eab35a4597c1e9624aa4f15fd91f6254e5538c1e0d193b2a95dd4acc6');
  assert.deepEqual(JSON.parse(await readFile(join(dir, 's', 'index.json'), 'utf8')), { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
  assert.deepEqual(await store.names(), []);
  await mkdir(join(dir, 'foreign'));
  await writeFile(join(dir, 'foreign', 'notes.txt'), 'mine');
  await assert.rejects(openLayout({ path: join(dir, 'foreign'), create: true }), (e: unknown) => e instanceof LayoutError && e.code === 'NOT_A_LAYOUT' && e.message.includes('refusing'));
  await writeFile(join(dir, 's', 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
  await assert.rejects(openLayout({ path: join(dir, 's') }), (e: unknown) => e instanceof LayoutError && e.code === 'LAYOUT_VERSION');
  await rm(dir, { recursive: true });
});

test('golden minimal image: the store keeps the spec digests and resolves names and digests', async () => {
  const dir = await tempDir();
  const store = await openLayout({ path: dir, create: true });
  const g = await writeGolden(store);
  assert.equal(g.layer.digest, GOLDEN.layer);
  assert.equal(g.config.digest, GOLDEN.config);
  assert.equal(g.manifest.digest, GOLDEN.manifest);
  assert.equal(g.manifest.size, 400);
  assert.equal(g.index.digest, GOLDEN.index);
  assert.equal(g.index.size, 289);
  await store.setName('golden:1', g.index);
  await store.setName('golden-amd64', g.manifest);
  const byName = await store.getManifest('golden:1');
  assert.equal(byName?.kind, 'index');
  assert.equal(byName?.digest, GOLDEN.index);
  const byDigest = await store.getManifest(GOLDEN.manifest);
  assert.equal(byDigest?.kind, 'manifest');
  assert.equal(await store.getManifest('nope'), undefined);
  assert.deepEqual(await store.statManifest('golden-amd64'), g.manifest);
  assert.deepEqual(await store.listTags(), ['golden:1', 'golden-amd64']);
  const info = await store.inspect('golden:1');
  assert.equal(info.kind, 'index');
  assert.deepEqual(info.manifests?.map((m) => m.platform), ['linux/amd64']);
  const img = await store.inspect('golden-amd64');
  assert.equal(img.config?.platform, 'linux/amd64');
  assert.equal(img.totalSize, 151 + 32);
  const report = await store.verify();
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  assert.equal(report.blobs, 4);
  await rm(dir, { recursive: true });
});

test('writeBlob hashes streams while writing, checks expectations, and skips present blobs', async () => {
  const dir = await tempDir();
  const store = await openLayout({ path: dir, create: true });
  const data = Buffer.alloc(3 << 20, 7);
  const want = digestOf(data);
  const got = await store.writeBlob(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
  assert.deepEqual(got, { digest: want, size: data.length });
  assert.deepEqual(await readFile(store.blobPath(want)), data);
  // A present blob: the stream is not read (a generator that would throw if pulled).
  let pulled = false;
  const again = await store.writeBlob(
    Readable.from(
      (function* () {
        pulled = true;
        yield data;
      })(),
    ),
    { expected: { digest: want, size: data.length } },
  );
  assert.deepEqual(again, { digest: want, size: data.length });
  assert.equal(pulled, false);
  // Wrong content: refused, nothing left behind.
  const other = digestOf('other') as Digest;
  await assert.rejects(store.writeBlob(Readable.from([Buffer.from('something else')]), { expected: { digest: other } }), (e: unknown) => e instanceof LayoutError && e.code === 'BLOB_CORRUPT' && e.message.includes(other));
  await assert.rejects(store.writeBlob(Buffer.from('toolong'), { expected: { digest: other, size: 3 } }), (e: unknown) => e instanceof LayoutError && e.code === 'SIZE_MISMATCH');
  await assert.rejects(store.writeBlob(Readable.from([Buffer.from('toolong')]), { expected: { digest: other, size: 3 } }), (e: unknown) => e instanceof LayoutError && e.code === 'SIZE_MISMATCH');
  assert.equal(await store.hasBlob(other), false);
  assert.deepEqual(await readdir(join(dir, '.lading', 'tmp')), []);
  await store.close();
  assert.deepEqual(await readdir(join(dir, '.lading', 'leases')), []);
  await rm(dir, { recursive: true });
});

test('reads verify content: a flipped byte fails readBlob and openBlob', async () => {
  const dir = await tempDir();
  const store = await openLayout({ path: dir, create: true });
  const data = Buffer.from('precious content');
  const { digest, size } = await store.writeBlob(data);
  const flipped = Buffer.from(data);
  flipped[3] = (flipped[3] ?? 0) ^ 1;
  await writeFile(store.blobPath(digest), flipped);
  await assert.rejects(store.readBlob({ mediaType: 'application/octet-stream', digest, size }), (e: unknown) => e instanceof LayoutError && e.code === 'BLOB_CORRUPT' && e.message.includes(digest));
  const stream = await store.openBlob({ mediaType: 'application/octet-stream', digest, size });
  await assert.rejects(
    (async () => {
      for await (const _ of stream) void _;
    })(),
    /digest mismatch/,
  );
  await assert.rejects(store.openBlob({ mediaType: 'x/y', digest: digestOf('absent'), size: 6 }), (e: unknown) => e instanceof LayoutError && e.code === 'BLOB_MISSING');
  await rm(dir, { recursive: true });
});

test('setName validates names, refuses incomplete images, moves names in place, keeps foreign entries', async () => {
  const dir = await tempDir();
  const store = await openLayout({ path: dir, create: true });
  const g = await writeGolden(store);
  await assert.rejects(store.setName('bad name', g.manifest), (e: unknown) => e instanceof LayoutError && e.code === 'NAME_INVALID');
  // A foreign index.json: extra fields, an unnamed entry and an unknown media type survive updates.
  const foreign = { schemaVersion: 2, annotations: { keep: 'me' }, manifests: [{ mediaType: 'application/vnd.example.thing', digest: g.layer.digest, size: g.layer.size }, { ...g.config, annotations: { [REF_NAME]: 'cfg' } }] };
  await writeFile(join(dir, 'index.json'), JSON.stringify(foreign));
  await store.setName('a', g.manifest);
  await store.setName('b', g.index);
  await store.setName('a', g.index); // move: same position
  const raw = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { annotations: unknown; manifests: Descriptor[] };
  assert.deepEqual(raw.annotations, { keep: 'me' });
  assert.deepEqual(
    raw.manifests.map((d) => [d.annotations?.[REF_NAME], d.digest]),
    [
      [undefined, g.layer.digest],
      ['cfg', g.config.digest],
      ['a', g.index.digest],
      ['b', g.index.digest],
    ],
  );
  await assert.rejects(store.inspect('cfg'), (e: unknown) => e instanceof LayoutError && e.code === 'MEDIA_TYPE_UNKNOWN' && e.message.includes(':cfg'));
  // Incomplete: a manifest whose layer is absent cannot be named.
  const missing = { mediaType: MediaType.OciLayerGzip, digest: digestOf('no such layer'), size: 13 };
  const m2 = encodeDocument({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: g.config, layers: [missing] }, MediaType.OciManifest);
  await store.writeBlob(m2.raw);
  await assert.rejects(store.setName('broken', describe(m2)), (e: unknown) => e instanceof LayoutError && e.code === 'INCOMPLETE' && e.message.includes(missing.digest));
  assert.equal(await store.resolve('broken'), undefined);
  await store.removeName('b');
  await assert.rejects(store.removeName('b'), (e: unknown) => e instanceof LayoutError && e.code === 'NAME_NOT_FOUND');
  assert.deepEqual(await store.listTags(), ['cfg', 'a']);
  await rm(dir, { recursive: true });
});

test('many concurrent setName calls all land in index.json', async () => {
  const dir = await tempDir();
  const store = await openLayout({ path: dir, create: true });
  const g = await writeGolden(store);
  const other = await openLayout({ path: dir });
  await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? store : other).setName(`n${i}`, i % 3 ? g.manifest : g.index)));
  assert.equal((await store.names()).length, 24);
  await rm(dir, { recursive: true });
});

test('gc removes unreachable blobs and dead leftovers, keeps referrers, young blobs and live leases', async () => {
  const dir = await tempDir();
  const store = await openLayout({ path: dir, create: true });
  const g = await writeGolden(store);
  await store.setName('img', g.manifest);
  // A referrer (signature-like artifact) of the named manifest, unnamed itself.
  const payload = await store.writeBlob(Buffer.from('signature'));
  const empty = await store.writeBlob(Buffer.from('{}'));
  const referrer = encodeDocument(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: 'application/vnd.example.sig',
      config: { mediaType: MediaType.OciEmpty, digest: empty.digest, size: 2 },
      layers: [{ mediaType: 'application/vnd.example.sig', digest: payload.digest, size: payload.size }],
      subject: g.manifest,
    },
    MediaType.OciManifest,
  );
  await store.writeBlob(referrer.raw);
  const garbage = await store.writeBlob(Buffer.from('garbage'));
  const young = await store.writeBlob(Buffer.from('young'));
  // Leftovers of a dead writer: a temp file and a lease of a pid that does not exist.
  await writeFile(join(dir, '.lading', 'tmp', '999999999-abcdef.tmp'), 'partial');
  await writeFile(join(dir, '.lading', 'leases', '999999999-1-x.json'), JSON.stringify({ pid: 999999999, host: 'h', started: 1 }));
  const old = new Date(Date.now() - 3600_000);
  for (const d of [g.index.digest, garbage.digest, payload.digest, empty.digest, referrer.digest]) await utimes(store.blobPath(d as Digest), old, old);

  // A live writer (this process) whose lease started two hours ago: everything since is protected.
  const lease = join(dir, '.lading', 'leases', `${process.pid}-old.json`);
  await writeFile(lease, JSON.stringify({ pid: process.pid, host: 'h', started: Date.now() - 7200_000 }));
  const held = await store.gc({ dryRun: true });
  assert.equal(held.removed, 0);
  assert.ok(held.protected >= 2);
  await rm(lease);
  await store.close();

  const dry = await store.gc({ dryRun: true });
  assert.deepEqual(dry.removedDigests, [g.index.digest, garbage.digest].sort());
  assert.equal(await store.hasBlob(garbage.digest), true);
  const report = await store.gc();
  assert.deepEqual(report.removedDigests, [g.index.digest, garbage.digest].sort());
  assert.equal(report.tempFilesRemoved, 1);
  assert.equal(report.staleLeasesRemoved, 1);
  assert.equal(await store.hasBlob(garbage.digest), false);
  assert.equal(await store.hasBlob(young.digest), true, 'young unnamed blob kept');
  assert.equal(await store.hasBlob(referrer.digest), true, 'referrer of a named image kept');
  assert.equal(await store.hasBlob(payload.digest), true, 'referrer payload kept');
  assert.equal((await store.gc({ minAgeMs: 0 })).removed, 0);
  const v = await store.verify();
  assert.equal(v.ok, true, JSON.stringify(v.problems));
  await rm(dir, { recursive: true });
});

test('verify names a corrupt blob, a missing blob with its manifest, and an unknown layer type', async () => {
  const dir = await tempDir();
  const store = await openLayout({ path: dir, create: true });
  const g = await writeGolden(store);
  await store.setName('good', g.manifest);
  // Second image with its own layer, then damaged in three ways.
  const layer = await store.writeBlob(Buffer.from('not really a layer'));
  const m = encodeDocument({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: g.config, layers: [{ mediaType: 'application/vnd.example.weird', digest: layer.digest, size: layer.size }] }, MediaType.OciManifest);
  await store.putManifest(asDoc(m.value, MediaType.OciManifest), { tag: 'weird' });
  let r = await store.verify();
  assert.equal(r.ok, false);
  assert.ok(r.problems.some((p) => p.code === 'MEDIA_TYPE_UNKNOWN' && p.object.includes(m.digest) && p.message.includes('application/vnd.example.weird')), JSON.stringify(r.problems));
  await rm(store.blobPath(layer.digest));
  r = await store.verify();
  assert.ok(r.problems.some((p) => p.code === 'BLOB_MISSING' && p.object.includes(m.digest) && p.message.includes(layer.digest)), JSON.stringify(r.problems));
  await writeFile(store.blobPath(g.layer.digest as Digest), Buffer.concat([EMPTY_TAR_GZ.subarray(0, 31), Buffer.from([1])]));
  r = await store.verify();
  assert.ok(r.problems.some((p) => p.code === 'BLOB_CORRUPT' && p.object === `blob ${g.layer.digest}`), JSON.stringify(r.problems));
  // Nothing was deleted by verify, and the damaged store still reads its other documents.
  assert.equal(await store.hasBlob(g.layer.digest), true);
  assert.equal((await store.getManifest('good'))?.digest, g.manifest.digest);
  await rm(dir, { recursive: true });
});
