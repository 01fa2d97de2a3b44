import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { digestOf, type Digest } from '../core/index.js';
import {
  assembleImage,
  assembleIndex,
  chainId,
  describe as describeDoc,
  DescriptorSchema,
  ImageConfigSchema,
  MediaType,
  OciError,
  parseImageConfig,
  parseManifestDocument,
} from './index.js';

// oci-image.md section 13: known digests and the golden minimal image.
const EMPTY_TAR_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef' as Digest;
const DOCKER_EMPTY_TAR_GZ = Buffer.from('1f8b080000096e8800ff621805a360148c5800080000ffff2eafb5ef00040000', 'hex');
const GOLDEN_CONFIG =
  '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]}}';
const GOLDEN_MANIFEST =
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:83656ea199d8d74b56ef7fe4a0bef9dd10aa412ec632f8ccdf3e0c903471c0a2","size":151},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4","size":32}]}';
const GOLDEN_INDEX =
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:54d2dd4875d66d1caa19a65ce44f6deefc02ac39f0054f6fa254d7fbc1fae53a","size":400,"platform":{"architecture":"amd64","os":"linux"}}]}';

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const bytes = (s: string) => new TextEncoder().encode(s);

test('known digests of oci-image.md section 13', () => {
  assert.equal(digestOf(new Uint8Array(1024)), EMPTY_TAR_DIFF_ID);
  assert.equal(digestOf(DOCKER_EMPTY_TAR_GZ), 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4');
  assert.deepEqual(gunzipSync(DOCKER_EMPTY_TAR_GZ), Buffer.alloc(1024));
  assert.equal(digestOf('{"imageLayoutVersion":"1.0.0"}'), 'sha256:18f0797eab35a4597c1e9624aa4f15fd91f6254e5538c1e0d193b2a95dd4acc6');
  assert.equal(chainId([EMPTY_TAR_DIFF_ID]), EMPTY_TAR_DIFF_ID);
  assert.equal(chainId([EMPTY_TAR_DIFF_ID, EMPTY_TAR_DIFF_ID]), 'sha256:170b376f64fb30995c140276be3d71dfb256b308d86183ca3b22aa93a79ad548');
  assert.equal(chainId([]), undefined);
});

test('assembleImage and assembleIndex reproduce the golden minimal image byte for byte', () => {
  const layer = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: digestOf(DOCKER_EMPTY_TAR_GZ), size: 32 }, diffId: EMPTY_TAR_DIFF_ID };
  const { config, manifest } = assembleImage({ layers: [layer], platform: { architecture: 'amd64', os: 'linux' } });
  assert.equal(text(config.raw), GOLDEN_CONFIG);
  assert.equal(config.raw.length, 151);
  assert.equal(config.digest, 'sha256:83656ea199d8d74b56ef7fe4a0bef9dd10aa412ec632f8ccdf3e0c903471c0a2');
  assert.equal(text(manifest.raw), GOLDEN_MANIFEST);
  assert.equal(manifest.raw.length, 400);
  assert.equal(manifest.digest, 'sha256:54d2dd4875d66d1caa19a65ce44f6deefc02ac39f0054f6fa254d7fbc1fae53a');
  assert.equal(manifest.kind, 'manifest');
  const index = assembleIndex({ manifests: [{ descriptor: describeDoc(manifest), platform: { architecture: 'amd64', os: 'linux' } }] });
  assert.equal(text(index.raw), GOLDEN_INDEX);
  assert.equal(index.raw.length, 289);
  assert.equal(index.digest, 'sha256:ef4244ded7ad8a15b16f765cc5e4cd524558ffacd2a2aa5ecd471864e11e0537');
  // The referrers fallback tag (distribution-spec) of the golden manifest.
  assert.equal(manifest.digest.replace(':', '-'), 'sha256-54d2dd4875d66d1caa19a65ce44f6deefc02ac39f0054f6fa254d7fbc1fae53a');
});

test('assembleImage writes the full config in spec field order with sorted maps, and parses back', () => {
  const layer = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: digestOf('x'), size: 1 }, diffId: EMPTY_TAR_DIFF_ID };
  const { config, manifest } = assembleImage({
    layers: [layer],
    platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    created: 1700000000,
    config: {
      User: '65532:65532',
      ExposedPorts: ['8080/tcp', '53/udp'],
      Env: ['PATH=/usr/bin:/bin', 'B=2'],
      Entrypoint: ['/app'],
      Cmd: ['--serve'],
      Volumes: ['/data'],
      WorkingDir: '/srv',
      Labels: { 'z.last': '1', 'a.first': '2' },
      StopSignal: 'SIGTERM',
    },
    history: [{ created_by: 'lading from-dir', created: '2023-11-14T22:13:20Z' }],
    annotations: { 'org.opencontainers.image.title': 't', 'org.opencontainers.image.created': '2023-11-14T22:13:20Z' },
  });
  assert.equal(
    text(config.raw),
    '{"created":"2023-11-14T22:13:20Z","architecture":"arm64","os":"linux","variant":"v8","config":{"User":"65532:65532","ExposedPorts":{"53/udp":{},"8080/tcp":{}},"Env":["PATH=/usr/bin:/bin","B=2"],"Entrypoint":["/app"],"Cmd":["--serve"],"Volumes":{"/data":{}},"WorkingDir":"/srv","Labels":{"a.first":"2","z.last":"1"},"StopSignal":"SIGTERM"},"rootfs":{"type":"layers","diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]},"history":[{"created":"2023-11-14T22:13:20Z","created_by":"lading from-dir"}]}',
  );
  assert.ok(ImageConfigSchema.safeParse(JSON.parse(text(config.raw))).success);
  assert.match(text(manifest.raw), /"annotations":\{"org\.opencontainers\.image\.created":"2023-11-14T22:13:20Z","org\.opencontainers\.image\.title":"t"\}\}$/);
  const reparsed = parseManifestDocument(manifest.raw, { expected: { digest: manifest.digest, size: manifest.raw.length } });
  assert.equal(reparsed.kind, 'manifest');
});

test('assembleImage refuses bad config fields and mismatched history, naming the field', () => {
  const layers = [{ descriptor: { mediaType: MediaType.OciLayerGzip, digest: digestOf('x'), size: 1 }, diffId: EMPTY_TAR_DIFF_ID }];
  const platform = { architecture: 'amd64', os: 'linux' };
  const bad = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof OciError && re.test(e.message));
  bad(() => assembleImage({ layers, platform, config: { Env: ['NOVALUE'] } }), /Env: "NOVALUE" is not NAME=value/);
  bad(() => assembleImage({ layers, platform, config: { WorkingDir: 'rel' } }), /WorkingDir/);
  bad(() => assembleImage({ layers, platform, config: { ExposedPorts: ['80/icmp'] } }), /ExposedPorts: "80\/icmp"/);
  bad(() => assembleImage({ layers, platform, history: [] }), /history: 0 entries/);
  bad(() => assembleImage({ layers, platform, created: 'yesterday' }), /created: "yesterday" is not an RFC 3339/);
  bad(() => assembleImage({ layers: [{ ...layers[0]!, descriptor: { ...layers[0]!.descriptor, mediaType: 'text/plain' } }], platform }), /not a layer media type/);
  // empty_layer entries do not count against the layers.
  assert.doesNotThrow(() => assembleImage({ layers, platform, history: [{ created_by: 'ENV', empty_layer: true }, { created_by: 'layer' }] }));
});

test('assembleIndex sorts entries by platform then digest, artifacts last, and refuses duplicates', () => {
  const m = (s: string) => ({ mediaType: MediaType.OciManifest, digest: digestOf(s), size: s.length });
  const index = assembleIndex({
    manifests: [
      { descriptor: { ...m('attest'), artifactType: 'application/vnd.in-toto+json' } },
      { descriptor: m('arm'), platform: { architecture: 'arm', os: 'linux', variant: 'v7' } },
      { descriptor: m('amd'), platform: { architecture: 'amd64', os: 'linux' } },
      { descriptor: m('arm64'), platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    ],
    annotations: { b: '1', a: '2' },
  });
  assert.deepEqual(
    index.value.manifests.map((d) => d.platform?.architecture ?? d.artifactType),
    ['amd64', 'arm', 'arm64', 'application/vnd.in-toto+json'],
  );
  assert.match(text(index.raw), /"annotations":\{"a":"2","b":"1"\}\}$/);
  // Same input in another order: same bytes.
  const again = assembleIndex({ manifests: [...index.value.manifests].reverse().map((d) => ({ descriptor: d })), annotations: { a: '2', b: '1' } });
  assert.equal(again.digest, index.digest);
  assert.throws(
    () => assembleIndex({ manifests: [{ descriptor: m('amd'), platform: { architecture: 'amd64', os: 'linux' } }, { descriptor: m('amd'), platform: { architecture: 'amd64', os: 'linux' } }] }),
    /listed twice/,
  );
  assert.throws(() => assembleIndex({ manifests: [{ descriptor: { ...m('x'), mediaType: MediaType.OciLayerGzip } }] }), /not a manifest or index media type/);
});

// ---------------------------------------------------------------------------------------------
// Schemas and parseManifestDocument

const CONFIG_DESC = { mediaType: MediaType.OciConfig, digest: digestOf('c'), size: 1 };
const LAYER_DESC = { mediaType: MediaType.OciLayerGzip, digest: digestOf('l'), size: 1 };

test('DescriptorSchema refuses upper-case hex, negative sizes and bad media types, keeps unknown fields', () => {
  assert.ok(DescriptorSchema.safeParse(LAYER_DESC).success);
  assert.equal(DescriptorSchema.safeParse({ ...LAYER_DESC, digest: LAYER_DESC.digest.toUpperCase().replace('SHA256', 'sha256') }).success, false);
  assert.equal(DescriptorSchema.safeParse({ ...LAYER_DESC, size: -1 }).success, false);
  assert.equal(DescriptorSchema.safeParse({ ...LAYER_DESC, size: 1.5 }).success, false);
  assert.equal(DescriptorSchema.safeParse({ ...LAYER_DESC, mediaType: 'not a type' }).success, false);
  const r = DescriptorSchema.safeParse({ ...LAYER_DESC, 'x-extra': 1 });
  assert.ok(r.success && (r.data as Record<string, unknown>)['x-extra'] === 1);
});

test('parseManifestDocument accepts OCI manifests and indexes and keeps the raw bytes', () => {
  const raw = bytes(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: CONFIG_DESC, layers: [LAYER_DESC] }));
  const doc = parseManifestDocument(raw);
  assert.equal(doc.kind, 'manifest');
  assert.equal(doc.mediaType, MediaType.OciManifest);
  assert.equal(doc.raw, raw);
  assert.equal(doc.digest, digestOf(raw));
  // No mediaType field: the declared type, else the shape decides.
  const bare = bytes(JSON.stringify({ schemaVersion: 2, manifests: [] }));
  assert.equal(parseManifestDocument(bare).kind, 'index');
  assert.equal(parseManifestDocument(bare, { mediaType: `${MediaType.OciIndex}; charset=utf-8` }).mediaType, MediaType.OciIndex);
});

test('parseManifestDocument accepts Docker v2 schema 2 manifests and manifest lists', () => {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: { mediaType: MediaType.DockerConfig, digest: digestOf('c'), size: 1 },
    layers: [{ mediaType: MediaType.DockerLayerGzip, digest: digestOf('l'), size: 1 }],
  };
  const doc = parseManifestDocument(bytes(JSON.stringify(manifest)));
  assert.equal(doc.kind, 'manifest');
  assert.equal(doc.mediaType, MediaType.DockerManifest);
  const list = { schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [{ mediaType: MediaType.DockerManifest, digest: digestOf('m'), size: 5, platform: { architecture: 'amd64', os: 'linux' } }] };
  const l = parseManifestDocument(bytes(JSON.stringify(list)));
  assert.equal(l.kind, 'index');
  assert.equal(l.mediaType, MediaType.DockerManifestList);
});

test('parseManifestDocument refuses schema 1, unknown types, mismatches and bad JSON with clear messages', () => {
  const refuse = (raw: string, code: string, re: RegExp, opts = {}) =>
    assert.throws(
      () => parseManifestDocument(bytes(raw), { what: 'manifest reg/x:1', ...opts }),
      (e: unknown) => e instanceof Error && (e as { code?: string }).code === code && re.test(e.message) && e.message.startsWith('manifest reg/x:1'),
    );
  refuse(JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] }), 'MEDIA_TYPE_UNKNOWN', /Docker schema 1 manifests are not supported/);
  refuse(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example+json', config: CONFIG_DESC, layers: [] }), 'MEDIA_TYPE_UNKNOWN', /unknown manifest media type "application\/vnd.example\+json"/);
  refuse(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: CONFIG_DESC, layers: [] }), 'MANIFEST_INVALID', /declared media type/, { mediaType: MediaType.OciIndex });
  refuse(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, layers: [] }), 'MANIFEST_INVALID', /config/);
  refuse(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ mediaType: MediaType.OciManifest, digest: 'sha256:abc', size: 1 }] }), 'INDEX_INVALID', /manifests\[0\]\.digest/);
  refuse('{"schemaVersion":', 'JSON_INVALID', /invalid JSON/);
  refuse('[1,2]', 'MANIFEST_INVALID', /not a JSON object/);
  // Verification before parsing: a one-byte change is a digest mismatch.
  const raw = JSON.stringify({ schemaVersion: 2, manifests: [] });
  refuse(raw.replace('2', '3'), 'DIGEST_MISMATCH', /digest mismatch/, { expected: { digest: digestOf(raw) } });
});

test('parseImageConfig validates configs and refuses non-config media types', () => {
  const ok = parseImageConfig(bytes(GOLDEN_CONFIG), { mediaType: MediaType.OciConfig });
  assert.deepEqual(ok.value.rootfs.diff_ids, [EMPTY_TAR_DIFF_ID]);
  assert.equal(parseImageConfig(bytes(GOLDEN_CONFIG), { mediaType: MediaType.DockerConfig }).mediaType, MediaType.DockerConfig);
  assert.throws(() => parseImageConfig(bytes(GOLDEN_CONFIG), { mediaType: MediaType.OciEmpty }), (e: unknown) => e instanceof OciError && e.code === 'MEDIA_TYPE_UNKNOWN');
  assert.throws(
    () => parseImageConfig(bytes('{"architecture":"amd64","os":"linux","rootfs":{"type":"tarballs","diff_ids":[]}}'), { what: 'config sha256:x' }),
    (e: unknown) => e instanceof OciError && e.code === 'CONFIG_INVALID' && /config sha256:x: invalid image config: rootfs\.type/.test(e.message),
  );
});
