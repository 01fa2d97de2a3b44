// Independent tools read what lading writes, and lading reads what they write:
// umoci unpack and skopeo inspect on lading's store; skopeo copy (OCI and Docker v2 schema 2)
// into fresh layouts that lading's `store verify` and `store inspect` then check.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, readFile, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf } from '../../../src/core/index.js';
import { openLayout } from '../../../src/layout/index.js';
import { makeTree, runCli, runProcess, removeScratch, scratch, spawnCli } from '../../helpers/store.js';

after(removeScratch);

async function need(tool: string): Promise<void> {
  const r = await runProcess('sh', ['-c', `command -v ${tool}`]).catch(() => undefined);
  if (!r || r.code !== 0) assert.fail(`${tool} is not installed: run scripts/bootstrap (it installs skopeo and umoci)`);
}

async function tool(cmd: string, args: string[]): Promise<string> {
  const r = await runProcess(cmd, args);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/** A store with `hello:1` built from the test tree by the real CLI process; returns its manifest digest. */
async function built(root: string): Promise<{ store: string; digest: string }> {
  const tree = join(root, 'tree');
  await makeTree(tree);
  const store = join(root, 'store');
  const r = await spawnCli(['--store', store, '--json', 'image', 'from-dir', tree, '--tag', 'hello:1', '--entrypoint', '["/usr/bin/hello"]', '--cmd', 'a b', '--env', 'GREETING=hi', '--workdir', '/var/lib/hello', '--label', 'org.example.k=v']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { manifest: { digest: string } };
  return { store, digest: out.manifest.digest };
}

test('umoci unpack and skopeo inspect read an image lading wrote; skopeo reports lading\'s digest', async () => {
  await need('umoci');
  await need('skopeo');
  const root = await scratch();
  const { store, digest } = await built(root);

  const bundle = join(root, 'bundle');
  await tool('umoci', ['unpack', '--image', `${store}:hello:1`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  assert.equal(await readFile(join(rootfs, 'usr/bin/hello'), 'utf8'), '#!/bin/sh\necho "hello from lading"\n');
  assert.equal((await stat(join(rootfs, 'usr/bin/hello'))).mode & 0o7777, 0o755);
  assert.equal((await stat(join(rootfs, 'var/lib/hello/state'))).mode & 0o7777, 0o600);
  assert.equal((await stat(join(rootfs, 'tmp'))).mode & 0o7777, 0o1777);
  assert.ok((await lstat(join(rootfs, 'usr/bin/hi'))).isSymbolicLink());
  assert.equal(await readlink(join(rootfs, 'usr/bin/hi')), 'hello');
  const runtime = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; env: string[]; cwd: string } };
  assert.deepEqual(runtime.process.args, ['/usr/bin/hello', 'a', 'b']);
  assert.ok(runtime.process.env.includes('GREETING=hi'));
  assert.equal(runtime.process.cwd, '/var/lib/hello');

  const inspected = JSON.parse(await tool('skopeo', ['inspect', `oci:${store}:hello:1`])) as { Digest: string; Labels: Record<string, string>; Architecture: string; Os: string; Created: string };
  assert.equal(inspected.Digest, digest);
  assert.deepEqual(inspected.Labels, { 'org.example.k': 'v' });
  assert.equal(`${inspected.Os}/${inspected.Architecture}`, 'linux/amd64');
  assert.equal(inspected.Created, '1970-01-01T00:00:00Z');
  const raw = await tool('skopeo', ['inspect', '--raw', `oci:${store}:hello:1`]);
  assert.equal(digestOf(raw), digest, 'skopeo --raw returns the exact manifest bytes lading stored');
  const s = await openLayout({ path: store });
  assert.equal(raw, new TextDecoder().decode(await s.readBlob({ mediaType: 'x/y', digest: digest as never, size: Buffer.byteLength(raw) })));
  await rm(root, { recursive: true });
});

test('lading reads and validates what skopeo copy wrote into a layout, in OCI and in Docker v2 schema 2 form', async () => {
  await need('skopeo');
  const root = await scratch();
  const { store, digest } = await built(root);

  // OCI form: the same manifest bytes, so the same digest.
  const oci = join(root, 'oci-copy');
  await tool('skopeo', ['copy', '--quiet', `oci:${store}:hello:1`, `oci:${oci}:copied`]);
  let v = await runCli(['--store', oci, '--json', 'store', 'verify']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  const report = JSON.parse(v.stdout) as { ok: boolean; blobs: number; manifests: number; problems: unknown[] };
  assert.equal(report.ok, true);
  assert.equal(report.manifests, 1);
  assert.equal(report.blobs, 3);
  let info = await runCli(['--store', oci, '--json', 'store', 'inspect', 'copied']);
  assert.equal(info.code, 0, info.stderr);
  const i1 = JSON.parse(info.stdout) as { digest: string; config: { entrypoint: string[]; cmd: string[] } };
  assert.equal(i1.digest, digest);
  assert.deepEqual(i1.config.entrypoint, ['/usr/bin/hello']);

  // Docker v2 schema 2: skopeo 1.9 converts when asked with --format v2s2, and the oci: transport
  // stores the converted manifest as it is (media type application/vnd.docker...v2+json).
  const docker = join(root, 'v2s2-copy');
  await tool('skopeo', ['copy', '--quiet', '--format', 'v2s2', `oci:${store}:hello:1`, `oci:${docker}:v2`]);
  const index = JSON.parse(await readFile(join(docker, 'index.json'), 'utf8')) as { manifests: Array<{ mediaType: string; digest: string }> };
  assert.equal(index.manifests[0]?.mediaType, 'application/vnd.docker.distribution.manifest.v2+json', 'skopeo wrote a schema 2 manifest');
  v = await runCli(['--store', docker, '--json', 'store', 'verify']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal((JSON.parse(v.stdout) as { ok: boolean }).ok, true);
  info = await runCli(['--store', docker, '--json', 'store', 'inspect', 'v2']);
  assert.equal(info.code, 0, info.stderr);
  const i2 = JSON.parse(info.stdout) as { digest: string; mediaType: string; layers: Array<{ mediaType: string }>; config: { mediaType: string; entrypoint: string[]; labels: Record<string, string> } };
  assert.equal(i2.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.equal(i2.config.mediaType, 'application/vnd.docker.container.image.v1+json');
  assert.equal(i2.layers[0]?.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  assert.deepEqual(i2.config.entrypoint, ['/usr/bin/hello']);
  assert.deepEqual(i2.config.labels, { 'org.example.k': 'v' });
  // NOTE: skopeo 1.9 cannot read this layout back by name ("no descriptor found for reference":
  // its oci: transport only matches OCI media types), so the digest skopeo wrote in index.json
  // is the reference.
  assert.equal(i2.digest, index.manifests[0]?.digest, 'lading and skopeo agree on the schema 2 digest');
  // Reading never wrote into the foreign layouts (no lock, lease or temp dirs left there).
  await assert.rejects(stat(join(docker, '.lading')));
  await rm(root, { recursive: true });
});
