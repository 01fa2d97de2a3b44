// End-to-end copies against the real distribution registry, with skopeo as the independent
// reader and writer and the real layout store (src/layout) on the oci: side.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../helpers/store.js';
import { openLayout, type LayoutStore } from '../../../src/layout/index.js';
import { RegistryClient, RegistryRepository, copyImages, fallbackTag, listReferrers, parsePlatform } from '../../../src/registry/index.js';
import { skopeo, startRegistry, writeSkopeoPolicy, type RegistryHandle } from '../../helpers/registry.js';
import { layerOf, missingContent, randomLayer, writeImage, writeReferrer, writeTwoPlatformIndex } from './fixtures.js';

let reg: RegistryHandle;
let dir: string;
let policy: string;

before(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'lading-copy-e2e-'));
  policy = await writeSkopeoPolicy(dir);
});
after(async () => {
  await reg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function repo(client: RegistryClient, name: string): RegistryRepository {
  return new RegistryRepository(client, reg.host, name);
}

async function layout(name: string): Promise<LayoutStore> {
  return openLayout({ path: join(dir, name), create: true });
}

async function skopeoDigest(ref: string): Promise<string> {
  const out = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
  const { digestOf } = await import('../../../src/core/index.js');
  return digestOf(Buffer.from(out.replace(/\n$/, ''), 'utf8'));
}

/** Runs the CLI in-process and captures its output. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { cwd: dir, env: { PATH: process.env.PATH, HOME: dir, ...env }, cleanEnv: true });
}

describe('copy against the distribution registry', () => {
  test('a 2-platform index copied oci: -> registry -> another repo -> oci: keeps every digest; skopeo reports the same digests', async () => {
    const src = await layout('idx-src');
    const { index, children } = await writeTwoPlatformIndex(src, 'v1');
    const client = new RegistryClient();
    const a = repo(client, 'family/a');
    const b = repo(client, 'family/b');
    const dst = await layout('idx-dst');

    const r1 = await copyImages([{ source: src, reference: 'v1', destination: a, tags: ['v1'] }]);
    assert.equal(r1.ok, true, JSON.stringify(r1));
    const r2 = await copyImages([{ source: a, reference: 'v1', destination: b, tags: ['v1'] }]);
    assert.equal(r2.ok, true, JSON.stringify(r2));
    const r3 = await copyImages([{ source: b, reference: 'v1', destination: dst, tags: ['v1'] }]);
    assert.equal(r3.ok, true, JSON.stringify(r3));

    for (const r of [r1, r2, r3]) assert.equal(r.images[0]?.digest, index.digest);
    assert.deepEqual(r1.images[0]?.platforms, ['linux/amd64', 'linux/arm64/v8']);
    assert.equal((await dst.statManifest('v1'))?.digest, index.digest);
    for (const child of children) {
      const got = await dst.getManifest(child.digest);
      assert.ok(got, `child ${child.digest} in the final layout`);
      assert.deepEqual(Buffer.from(got.raw), Buffer.from(child.raw));
    }
    assert.deepEqual(await missingContent(dst, 'v1'), []);
    // skopeo, an independent client, sees the same bytes in both repositories.
    assert.equal(await skopeoDigest(`${reg.host}/family/a:v1`), index.digest);
    assert.equal(await skopeoDigest(`${reg.host}/family/b:v1`), index.digest);
    for (const child of children) assert.equal(await skopeoDigest(`${reg.host}/family/b@${child.digest}`), child.digest);
  });

  test('copying the same image a second time uploads 0 blob bytes', async () => {
    const src = await layout('again');
    await writeImage(src, { layers: [await randomLayer(200_000), await layerOf({ 'a.txt': 'again' })], tag: 'v1', label: 'again' });
    const client = new RegistryClient();
    const dest = repo(client, 'again/app');
    const first = await copyImages([{ source: src, reference: 'v1', destination: dest, tags: ['v1'] }]);
    assert.equal(first.ok, true);
    assert.equal(first.images[0]?.blobs.uploaded, 3);
    assert.ok((first.images[0]?.bytesUploaded ?? 0) > 200_000);
    const second = await copyImages([{ source: src, reference: 'v1', destination: dest, tags: ['v1'] }]);
    assert.equal(second.ok, true);
    assert.equal(second.images[0]?.bytesUploaded, 0);
    assert.deepEqual(second.images[0]?.blobs, { total: 3, uploaded: 0, skipped: 3, mounted: 0 });
    assert.equal(second.images[0]?.manifests.written, 0);
    assert.deepEqual(second.images[0]?.tagsWritten, ['v1']);
  });

  test('a copy between two repos of one registry mounts instead of uploading', async () => {
    const src = await layout('mount');
    await writeImage(src, { layers: [await randomLayer(100_000), await randomLayer(50_000)], tag: 'v1', label: 'mount' });
    const client = new RegistryClient();
    const one = repo(client, 'mount/one');
    const two = repo(client, 'mount/two');
    assert.equal((await copyImages([{ source: src, reference: 'v1', destination: one, tags: ['v1'] }])).ok, true);
    const r = await copyImages([{ source: one, reference: 'v1', destination: two, tags: ['v1'] }]);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(r.images[0]?.blobs, { total: 3, uploaded: 0, skipped: 0, mounted: 3 });
    assert.equal(r.images[0]?.bytesUploaded, 0);
    assert.deepEqual(await missingContent(two, 'v1'), []);
  });

  test('--from-file style runs share work: a base layer needed by three images is uploaded once, then mounted', async () => {
    const src = await layout('family');
    const base = await randomLayer(300_000);
    for (const n of ['x', 'y', 'z']) await writeImage(src, { layers: [base, await layerOf({ [`${n}.txt`]: n })], tag: n, label: n });
    const client = new RegistryClient();
    const items = ['x', 'y', 'z'].map((n) => ({ source: src, reference: n, destination: repo(client, `fam/${n}`), tags: ['1.0'] }));
    const r = await copyImages(items, { imageConcurrency: 3 });
    assert.equal(r.ok, true, JSON.stringify(r));
    const uploadedBase = r.images.reduce((a, i) => a + i.blobs.uploaded, 0);
    const mounted = r.images.reduce((a, i) => a + i.blobs.mounted, 0);
    // 3 configs + 3 small layers + the base once; the base reaches the two other repos by mount.
    assert.equal(uploadedBase, 7);
    assert.equal(mounted, 2);
    for (const n of ['x', 'y', 'z']) assert.deepEqual(await missingContent(repo(client, `fam/${n}`), '1.0'), []);
  });

  test('--platform copies one platform: the tag points at that platform manifest', async () => {
    const src = await layout('plat');
    const { children } = await writeTwoPlatformIndex(src, 'multi');
    const client = new RegistryClient();
    const dest = repo(client, 'plat/arm');
    const r = await copyImages([{ source: src, reference: 'multi', destination: dest, tags: ['arm'] }], { platform: parsePlatform('linux/arm64') });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.images[0]?.digest, children[1]?.digest);
    assert.equal(await skopeoDigest(`${reg.host}/plat/arm:arm`), children[1]?.digest);
    const bad = await copyImages([{ source: src, reference: 'multi', destination: dest, tags: ['s390'] }], { platform: parsePlatform('linux/s390x') });
    assert.equal(bad.ok, false);
    assert.equal(bad.images[0]?.errorCode, 'PLATFORM_NOT_FOUND');
    assert.deepEqual(await dest.listTags(), ['arm']);
  });

  test('--referrers: distribution 2.8 has no referrers API, so the sha256-<hex> fallback tag is written and read both ways', async () => {
    const src = await layout('refs-src');
    const img = await writeImage(src, { layers: [await layerOf({ 'r.txt': 'referred' })], tag: 'v1', label: 'refs' });
    const sig = await writeReferrer(src, img, 'application/vnd.example.signature', 'sig-1');
    const sbom = await writeReferrer(src, img, 'application/vnd.example.sbom', 'sbom-1');
    const { recordReferrer } = await import('../../../src/registry/index.js');
    await recordReferrer(src, sig);
    await recordReferrer(src, sbom);
    const client = new RegistryClient();
    const dest = repo(client, 'refs/app');
    assert.equal(await dest.referrersApiSupported(), false);
    const r = await copyImages([{ source: src, reference: 'v1', destination: dest, tags: ['v1'] }], { referrers: true });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.images[0]?.referrersCopied, 2);
    const listed = await listReferrers(dest, img.digest);
    assert.equal(listed.mode, 'fallback');
    assert.deepEqual(listed.referrers.map((d) => d.digest).sort(), [sig.digest, sbom.digest].sort());
    assert.deepEqual(listed.referrers.find((d) => d.digest === sig.digest)?.annotations, { 'org.example.kind': 'application/vnd.example.signature' });
    assert.ok((await dest.listTags()).includes(fallbackTag(img.digest)));
    // skopeo sees the fallback index as an ordinary tag.
    const idx = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/refs/app:${fallbackTag(img.digest)}`])) as { manifests: unknown[] };
    assert.equal(idx.manifests.length, 2);
    // And back into another layout, filtered by artifact type on the way out.
    const back = await layout('refs-back');
    const r2 = await copyImages([{ source: dest, reference: 'v1', destination: back, tags: ['v1'] }], { referrers: true });
    assert.equal(r2.ok, true, JSON.stringify(r2));
    assert.equal((await listReferrers(back, img.digest, { artifactType: 'application/vnd.example.sbom' })).referrers[0]?.digest, sbom.digest);
  });

  test('skopeo copy writes, lading reads the same digests (and copies it on unchanged)', async () => {
    const src = await layout('for-skopeo');
    const img = await writeImage(src, { layers: [await layerOf({ 'hello.txt': 'from skopeo' })], tag: 'v1', label: 'skopeo' });
    await skopeo(['copy', '--policy', policy, '--dest-tls-verify=false', '--preserve-digests', `oci:${join(dir, 'for-skopeo')}:v1`, `docker://${reg.host}/skopeo/app:v1`]);
    const client = new RegistryClient();
    const written = repo(client, 'skopeo/app');
    const got = await written.getManifest('v1');
    assert.equal(got?.digest, img.digest);
    const back = await layout('from-skopeo');
    const r = await copyImages([{ source: written, reference: 'v1', destination: back, tags: ['v1'] }]);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal((await back.statManifest('v1'))?.digest, img.digest);
    assert.deepEqual(await missingContent(back, 'v1'), []);
  });

  test('chunked PATCH uploads with Content-Range (small chunks) produce the same blobs', async () => {
    const src = await layout('chunked');
    const big = await randomLayer(300_000);
    await writeImage(src, { layers: [big], tag: 'v1', label: 'chunked' });
    const client = new RegistryClient({ forceChunked: true, chunkSize: 64 * 1024 });
    const dest = repo(client, 'chunked/app');
    const r = await copyImages([{ source: src, reference: 'v1', destination: dest, tags: ['v1'] }]);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(await dest.hasBlob(big.desc.digest), true);
    const stream = await dest.openBlob(big.desc);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), big.data);
  });

  // NOTE: distribution 2.8 ignores `n` on tags/list (pagination came in v3), so Link following is
  // covered by the unit test in src/registry/repository.test.ts; here: the whole list, one page.
  test('tag listing returns every tag; a missing repository has none', async () => {
    const src = await layout('tags');
    await writeImage(src, { layers: [await layerOf({ 't.txt': 't' })], tag: 'v1', label: 'tags' });
    let pages = 0;
    const counting: typeof fetch = (input, init) => {
      if (String(input).includes('/tags/list')) pages++;
      return fetch(input, init);
    };
    const client = new RegistryClient({ fetch: counting });
    const dest = repo(client, 'tags/app');
    const names = ['a', 'b', 'c', 'd', 'e'];
    const r = await copyImages([{ source: src, reference: 'v1', destination: dest, tags: names }]);
    assert.equal(r.ok, true);
    assert.deepEqual((await dest.listTags({ pageSize: 2 })).sort(), names);
    assert.ok(pages >= 1);
    assert.deepEqual(await repo(client, 'tags/none').listTags(), []);
  });

  test('CLI: lading copy --json, --from-file, inspect, tags; a failed copy exits nonzero and tags nothing', async () => {
    const src = await layout('cli');
    const img = await writeImage(src, { layers: [await layerOf({ 'c.txt': 'cli' })], tag: 'v1', label: 'cli' });
    const ok = await cli(['--json', 'copy', `oci:${join(dir, 'cli')}:v1`, `${reg.host}/cli/app:v1`]);
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as { ok: boolean; images: Array<{ digest: string; blobs: { uploaded: number }; tagsWritten: string[] }> };
    assert.equal(report.ok, true);
    assert.equal(report.images[0]?.digest, img.digest);
    assert.deepEqual(report.images[0]?.tagsWritten, ['v1']);

    await writeFile(join(dir, 'list.txt'), `# two copies\n${reg.host}/cli/app:v1 ${reg.host}/cli/other:v2\noci:${join(dir, 'cli')}:v1 oci:${join(dir, 'cli-out')}:copied\n`);
    const many = await cli(['--json', 'copy', '--from-file', 'list.txt']);
    assert.equal(many.code, 0, many.stderr);
    assert.equal((JSON.parse(many.stdout) as { images: unknown[] }).images.length, 2);

    const insp = await cli(['--json', 'inspect', `${reg.host}/cli/other:v2`]);
    assert.equal(insp.code, 0, insp.stderr);
    assert.equal((JSON.parse(insp.stdout) as { digest: string }).digest, img.digest);
    const raw = await cli(['inspect', '--raw', `oci:${join(dir, 'cli-out')}:copied`]);
    assert.equal(raw.stdout.trimEnd(), Buffer.from(img.raw).toString());
    // The copy closed the layout it wrote: no writer lease is left for `store verify` to report.
    assert.deepEqual(await readdir(join(dir, 'cli-out', '.lading', 'leases')).catch(() => []), []);
    const tags = await cli(['tags', `${reg.host}/cli/app`]);
    assert.equal(tags.stdout.trim(), 'v1');

    const missing = await cli(['--json', 'copy', `${reg.host}/cli/app:nope`, `${reg.host}/cli/broken:v1`]);
    assert.equal(missing.code, 1);
    assert.equal((JSON.parse(missing.stdout) as { ok: boolean }).ok, false);
    assert.match(missing.stderr, /nope not found/);
    assert.equal(missing.stderr.match(/copying /g)?.length, 1, `the source is named once: ${missing.stderr}`);
    const badCreds = await cli(['copy', '--creds', 'bob', `${reg.host}/cli/app:v1`, `${reg.host}/cli/x:v1`]);
    assert.equal(badCreds.code, 2, 'a flag written wrong is a usage error');
    assert.match(badCreds.stderr, /--creds: want user:password/);
    for (const args of [['copy', `${reg.host}/cli/app:v1`], ['copy', '--from-file', 'list.txt', `${reg.host}/cli/app:v1`]]) {
      const usage = await cli(args);
      assert.equal(usage.code, 2, `missing or extra operands are a usage error: ${usage.stderr}`);
      assert.match(usage.stderr, /copy needs SOURCE and DESTINATION|not both/);
    }
    assert.deepEqual(await repo(new RegistryClient(), 'cli/broken').listTags(), []);

    const refs = await cli(['referrers', `${reg.host}/cli/app:v1`]);
    assert.equal(refs.code, 0, refs.stderr);
    assert.match(refs.stdout, /no referrers/);
    assert.ok((await readFile(join(dir, 'cli-out', 'index.json'), 'utf8')).includes('copied'));
  });
});

describe('aborting and pinging', () => {
  test('an aborted upload ends ABORTED, cancels its upload session (DELETE) and tags nothing', async () => {
    const src = await layout('abort');
    await writeImage(src, { layers: [await randomLayer(2_000_000)], tag: 'v1', label: 'abort' });
    const deletes: string[] = [];
    // Pass-through fetch that records cancellations; every request still reaches the real registry.
    const recording: typeof fetch = (input, init) => {
      if (init?.method === 'DELETE') deletes.push(String(input));
      return fetch(input, init);
    };
    const client = new RegistryClient({ fetch: recording, forceChunked: true, chunkSize: 256 * 1024 });
    const dest = repo(client, 'abort/app');
    const ctl = new AbortController();
    const r = copyImages([{ source: src, reference: 'v1', destination: dest, tags: ['v1'] }], {
      signal: ctl.signal,
      onProgress: (p) => {
        if ((p[0]?.bytesDone ?? 0) > 600_000) ctl.abort(new Error('test abort'));
      },
    });
    await assert.rejects(r, (e: unknown) => (e as { code?: string }).code === 'ABORTED');
    assert.ok(deletes.some((u) => u.includes('/blobs/uploads/')), `upload cancelled: ${deletes.join(' ')}`);
    assert.deepEqual(await repo(new RegistryClient(), 'abort/app').listTags(), []);
  });

  test('ping answers with the API version', async () => {
    assert.deepEqual(await new RegistryClient().ping(reg.host), { apiVersion: 'registry/2.0' });
  });
});
