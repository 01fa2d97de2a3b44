// The store and from-dir commands: exit codes, where the store is (flag, env, default), and the
// shapes of their --json output (other tools and later issues parse them).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTree, runCli, removeScratch, scratch } from '../../helpers/store.js';

after(removeScratch);

const DIGEST = /^sha256:[0-9a-f]{64}$/;

test('store location: --store, then LADING_STORE, then ./.lading/store', async () => {
  const root = await scratch();
  const tree = join(root, 'tree');
  await makeTree(tree);
  const cwd = join(root, 'work');
  await mkdir(cwd);
  const clean = { LADING_STORE: undefined, SOURCE_DATE_EPOCH: undefined };
  const r1 = await runCli(['image', 'from-dir', '../tree', '--tag', 'a'], { cwd, env: clean });
  assert.equal(r1.code, 0, r1.stderr);
  assert.ok((await stat(join(cwd, '.lading/store/oci-layout'))).isFile(), 'default store is ./.lading/store');
  const r2 = await runCli(['image', 'from-dir', tree, '--tag', 'b'], { cwd, env: { LADING_STORE: join(root, 'env-store') } });
  assert.equal(r2.code, 0, r2.stderr);
  const r3 = await runCli(['--store', join(root, 'flag-store'), 'image', 'from-dir', tree, '--tag', 'c'], { cwd, env: { LADING_STORE: join(root, 'env-store') } });
  assert.equal(r3.code, 0, r3.stderr);
  const names = async (store: string) => (JSON.parse((await runCli(['--store', store, '--json', 'store', 'ls'])).stdout) as { entries: Array<{ name: string }> }).entries.map((e) => e.name);
  assert.deepEqual(await names(join(cwd, '.lading/store')), ['a']);
  assert.deepEqual(await names(join(root, 'env-store')), ['b']);
  assert.deepEqual(await names(join(root, 'flag-store')), ['c']);
  await rm(root, { recursive: true });
});

test('--json shapes and exit codes of image from-dir and store ls/inspect/verify/gc', async () => {
  const root = await scratch();
  const tree = join(root, 'tree');
  await makeTree(tree);
  const store = join(root, 'store');
  const at = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['--store', store, ...args], { env });

  const built = await at(['--json', 'image', 'from-dir', tree, '--tag', 'demo:1', '--label', 'a=b', '--env', 'X=1', '--compression', 'zstd', '--platform', 'linux/arm64/v8'], { SOURCE_DATE_EPOCH: '86400' });
  assert.equal(built.code, 0, built.stderr);
  const b = JSON.parse(built.stdout) as Record<string, unknown> & { manifest: { digest: string; mediaType: string; size: number }; layer: { mediaType: string } };
  assert.deepEqual(Object.keys(b).sort(), ['config', 'created', 'diffId', 'entries', 'layer', 'manifest', 'name', 'uncompressedSize']);
  assert.equal(b.name, 'demo:1');
  assert.match(b.manifest.digest, DIGEST);
  assert.equal(b.created, '1970-01-02T00:00:00Z');
  assert.equal(b.layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');

  const ls = await at(['--json', 'store', 'ls']);
  assert.equal(ls.code, 0);
  const l = JSON.parse(ls.stdout) as { store: string; entries: Array<Record<string, unknown>> };
  assert.equal(l.store, store);
  assert.deepEqual(l.entries, [{ name: 'demo:1', digest: b.manifest.digest, mediaType: b.manifest.mediaType, size: b.manifest.size }]);
  const text = await at(['store', 'ls']);
  assert.match(text.stdout, /^NAME\s+DIGEST\s+TYPE\s+SIZE\s+PLATFORM\ndemo:1\s+sha256:[0-9a-f]{64}\s+oci manifest/);

  const inspect = await at(['--json', 'store', 'inspect', 'demo:1']);
  assert.equal(inspect.code, 0);
  const i = JSON.parse(inspect.stdout) as Record<string, unknown> & { config: Record<string, unknown>; layers: unknown[] };
  assert.equal(i.kind, 'manifest');
  assert.equal(i.digest, b.manifest.digest);
  assert.deepEqual(i.names, ['demo:1']);
  assert.equal(i.config.platform, 'linux/arm64/v8');
  assert.equal(i.config.created, '1970-01-02T00:00:00Z');
  assert.deepEqual(i.config.labels, { a: 'b' });
  assert.deepEqual(i.config.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'X=1']);
  assert.equal(i.layers.length, 1);
  const byDigest = await at(['--json', 'store', 'inspect', b.manifest.digest]);
  assert.equal((JSON.parse(byDigest.stdout) as { digest: string }).digest, b.manifest.digest);
  const human = await at(['store', 'inspect', 'demo:1']);
  assert.match(human.stdout, /^Platform:\s+linux\/arm64\/v8$/m);

  const verify = await at(['--json', 'store', 'verify']);
  assert.equal(verify.code, 0);
  const v = JSON.parse(verify.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(v).sort(), ['blobs', 'bytes', 'entries', 'leftovers', 'manifests', 'names', 'ok', 'path', 'problems', 'warnings']);
  assert.equal(v.ok, true);
  assert.equal(v.blobs, 3);

  const gc = await at(['--json', 'store', 'gc', '--dry-run']);
  assert.equal(gc.code, 0);
  const g = JSON.parse(gc.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(g).sort(), ['dryRun', 'freedBytes', 'protected', 'reachable', 'removed', 'removedDigests', 'staleLeasesRemoved', 'tempFilesRemoved']);
  assert.equal(g.reachable, 3);
  assert.equal(g.removed, 0);

  // Exit codes: 1 for failures (missing name, missing store, bad SOURCE_DATE_EPOCH), 2 for usage.
  const missing = await at(['store', 'inspect', 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no image named nope/);
  assert.match(missing.stderr, /hint: `lading store ls`/);
  const noStore = await runCli(['--store', join(root, 'absent'), 'store', 'ls']);
  assert.equal(noStore.code, 1);
  assert.match(noStore.stderr, /no store here/);
  const epoch = await at(['image', 'from-dir', tree, '--tag', 'x'], { SOURCE_DATE_EPOCH: 'yesterday' });
  assert.equal(epoch.code, 1);
  assert.match(epoch.stderr, /SOURCE_DATE_EPOCH: "yesterday" is not/);
  assert.equal((await at(['store', 'inspect'])).code, 2);
  assert.equal((await at(['image', 'from-dir', tree])).code, 2, '--tag is required');
  const badLabel = await at(['image', 'from-dir', tree, '--tag', 'x', '--label', 'novalue']);
  assert.equal(badLabel.code, 2);
  assert.match(badLabel.stderr, /--label "novalue": want KEY=VALUE/);
  const badName = await at(['image', 'from-dir', tree, '--tag', 'bad name']);
  assert.equal(badName.code, 1);
  assert.match(badName.stderr, /"bad name" is not a valid ref name/);
  const noDir = await at(['image', 'from-dir', join(root, 'nope'), '--tag', 'x']);
  assert.equal(noDir.code, 1);
  assert.match(noDir.stderr, /does not exist/);
  await rm(root, { recursive: true });
});
