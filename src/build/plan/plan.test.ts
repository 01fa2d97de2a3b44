import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDigest } from '../../core/index.js';
import { FAMILY_CATALOG, lockFromCatalog, type Catalog } from '../../../test/helpers/family-lock.js';
import { hashContext, type ContextDigests } from '../config/context.js';
import { loadFamily, parseFamily } from '../config/load.js';
import type { FamilyConfig } from '../config/types.js';
import { BuildError } from '../errors.js';
import type { FamilyLock } from '../lock/schema.js';
import { planBuild, type StoreState } from './plan.js';
import type { BuildPlan, BuildRecord, PlanStep } from './schema.js';
import { BuildPlanSchema } from './schema.js';

const dir = fileURLToPath(new URL('../testdata/family/', import.meta.url));
const loaded = await loadFamily({ configPath: 'lading.yaml', cwd: dir, hostArchitecture: 'amd64' });
const family = loaded.family;
const files = await hashContext({ contextDir: dir, family });
const lock = lockFromCatalog(family);

/** The family with a change to lading.yaml's text (same file positions otherwise). */
async function edited(edit: (text: string) => string): Promise<FamilyConfig> {
  const { readFile } = await import('node:fs/promises');
  const text = edit(await readFile(`${dir}lading.yaml`, 'utf8'));
  const r = parseFamily({ config: { file: 'lading.yaml', text }, hostArchitecture: 'amd64' });
  assert.ok(r.family, r.problems.map((p) => p.message).join('\n'));
  return r.family;
}

/** Records as the builder would write them after applying `plan` (fake digests from the input hash). */
function recordsOf(plan: BuildPlan, previous: readonly BuildRecord[] = []): BuildRecord[] {
  const out = [...previous];
  for (const s of plan.batches.flat()) {
    if (s.kind !== 'build') continue;
    out.push({
      recordVersion: 1,
      family: plan.family,
      image: s.image,
      arch: s.arch,
      inputHash: s.inputHash,
      digest: `sha256:${s.inputHash.slice(7).split('').reverse().join('')}`,
      ...(s.layerHash ? { layerHash: s.layerHash } : {}),
      inputs: s.inputs,
      builtAt: `2026-11-0${1 + Math.min(8, Math.floor(out.length / 100))}T00:00:${String(out.length % 60).padStart(2, '0')}Z`,
    });
  }
  return out;
}

function store(records: BuildRecord[]): StoreState {
  return { records };
}

const table = (plan: BuildPlan) => plan.batches.map((b) => b.map((s) => `${s.image}/${s.arch}:${s.kind}`));
const built = (plan: BuildPlan) =>
  plan.batches
    .flat()
    .filter((s) => s.kind === 'build')
    .map((s) => `${s.image}/${s.arch}`);
const reasons = (plan: BuildPlan, image: string, arch = 'amd64') => {
  const s = plan.batches.flat().find((x) => x.image === image && x.arch === arch) as PlanStep;
  return s.kind === 'build' ? s.reasons.map((r) => `${r.code}: ${r.message}`) : [];
};

const first = planBuild({ family, lock, files });
const firstRecords = recordsOf(first);

test('a first plan builds everything, parents first, in batches of independent steps', () => {
  assert.deepEqual(table(first), [
    ['base/amd64:build', 'base/arm64:build', 'tools/amd64:build'],
    ['app-base/amd64:build', 'app-base/arm64:build'],
    ['web/amd64:build', 'web/arm64:build', 'worker/amd64:build', 'worker/arm64:build'],
  ]);
  assert.deepEqual(first.summary, { build: 9, reuse: 0 });
  assert.deepEqual(reasons(first, 'web'), ['new: new image (no previous build in the store)']);
  assert.deepEqual(first.selection.selected, family.order);
  // The plan is data that matches its own schema (schemas/build-plan.schema.json).
  assert.equal(BuildPlanSchema.safeParse(JSON.parse(JSON.stringify(first))).success, true);
});

test('input hashes are pinned: an accidental change to what is hashed shows here', () => {
  const hashes = Object.fromEntries(first.batches.flat().map((s) => [`${s.image}/${s.arch}`, s.inputHash]));
  assert.deepEqual(hashes, {
    'base/amd64': 'sha256:a10adf8757c14da0b42f91d06fb88a48307aef40fe01f9c537199509358ae2e5',
    'base/arm64': 'sha256:41c5ea5735be7be5a89ec4e4e97eeafd3c2b3cf5ec0f46a291f241937b351277',
    'tools/amd64': 'sha256:2c401b8061b10aed13946957c2a638b9867f47c8d3fa7c1f63ada2571f11f42c',
    'app-base/amd64': 'sha256:d39f63f080107660cb20b8d941b9399cb620579958a33e4a1bdcff98eade5843',
    'app-base/arm64': 'sha256:77dca7a6f3d6cdd426e00c7a2821a7416f74a175fa49ba3845a99cca2bda65d5',
    'web/amd64': 'sha256:fce04e3884f4f7c8e1e6d994923a1f2ad3b5ee571097b4cae5b933f1f376dc50',
    'web/arm64': 'sha256:721c106997ba2503501810e248aee262b235ed65d44c0da53c1ff95d159c5770',
    'worker/amd64': 'sha256:057c81c299f7b8ac4417b29225c26da34601e7b54d10e8d212dd745fc4ac48a7',
    'worker/arm64': 'sha256:ce15dd81894819030d913da42bf8f35ca920393be3e2430e9e45fd6a55c720f0',
  });
  // The same inputs plan the same hashes.
  assert.deepEqual(planBuild({ family, lock, files }), first);
});

test('the inputs of a step: packages it adds over its parent, context digests, parent hash', () => {
  const web = first.batches[2]!.find((s) => s.image === 'web' && s.arch === 'amd64');
  assert.ok(web?.kind === 'build');
  assert.deepEqual(Object.keys(web.inputs.packages), ['nginx-light']);
  assert.deepEqual(Object.keys(web.inputs.files), ['files/conf.d', 'files/etc/web.conf']);
  assert.equal(web.inputs.files['files/conf.d']!.kind, 'tree');
  const appBase = first.batches[1]!.find((s) => s.image === 'app-base' && s.arch === 'amd64')!;
  assert.deepEqual(web.parent, { kind: 'image', name: 'app-base', inputHash: appBase.inputHash });
  assert.deepEqual(Object.keys((appBase as Extract<PlanStep, { kind: 'build' }>).inputs.packages), ['libjemalloc2', 'python3', 'python3-minimal', 'python3-yaml']);
  const tools = first.batches[0]!.find((s) => s.image === 'tools')!;
  assert.deepEqual(tools.parent, { kind: 'external', reference: family.images.tools!.from.kind === 'external' ? family.images.tools!.from.reference : '', digest: `sha256:${'0'.repeat(63)}1` });
});

test('nothing changed: everything is reused', () => {
  const plan = planBuild({ family, lock, files, store: store(firstRecords) });
  assert.deepEqual(plan.summary, { build: 0, reuse: 9 });
  const step = plan.batches[0]![0]!;
  assert.equal(step.kind, 'reuse');
  assert.equal(step.kind === 'reuse' && step.digest, firstRecords.find((r) => r.inputHash === step.inputHash)!.digest);
  // Reused steps carry their layer hash, for the record the builder writes if it rebuilds one
  // after all (its parent has other bytes in this run).
  for (const s of plan.batches.flat()) assert.equal(s.kind === 'reuse' && s.layerHash, firstRecords.find((r) => r.inputHash === s.inputHash)!.layerHash, s.image);
});

test('one package of app-base changes: exactly that subtree rebuilds, and says why', () => {
  const catalog: Catalog = { ...FAMILY_CATALOG, 'python3-yaml': { version: '6.0-3+b3', depends: ['python3'] } };
  const plan = planBuild({ family, lock: lockFromCatalog(family, catalog), files, store: store(firstRecords) });
  assert.deepEqual(built(plan), ['app-base/amd64', 'app-base/arm64', 'web/amd64', 'web/arm64', 'worker/amd64', 'worker/arm64']);
  assert.deepEqual(reasons(plan, 'app-base'), ['package-changed: package python3-yaml 6.0-3+b2 -> 6.0-3+b3']);
  assert.deepEqual(reasons(plan, 'web', 'arm64'), ['parent: parent app-base rebuilt']);
});

test('an amd64-only package of app-base changes: only the amd64 subtree rebuilds', () => {
  const catalog: Catalog = { ...FAMILY_CATALOG, libjemalloc2: { version: '5.3.0-2' } };
  const plan = planBuild({ family, lock: lockFromCatalog(family, catalog), files, store: store(firstRecords) });
  assert.deepEqual(built(plan), ['app-base/amd64', 'web/amd64', 'worker/amd64']);
});

test('a build-context file changes: only the image that copies it rebuilds', () => {
  const changed: ContextDigests = { ...files, 'files/etc/web.conf': { kind: 'file', digest: parseDigest(`sha256:${'ab'.repeat(32)}`), size: 3, executable: false } };
  const plan = planBuild({ family, lock, files: changed, store: store(firstRecords) });
  assert.deepEqual(built(plan), ['web/amd64', 'web/arm64']);
  assert.equal(reasons(plan, 'web')[0]?.replace(/\(sha256:\w+ -> /, '(X -> '), 'file-changed: file files/etc/web.conf changed (X -> sha256:abababababab)');
});

test("a file's executable bit counts only when the config gives the file no mode", () => {
  const flip = (src: string): ContextDigests => {
    const d = files[src];
    assert.ok(d && d.kind === 'file');
    return { ...files, [src]: { ...d, executable: !d.executable } };
  };
  // entry.sh has mode 0o755 in the config: its bit on disk does not reach the image.
  assert.deepEqual(planBuild({ family, lock, files: flip('files/bin/entry.sh'), store: store(firstRecords) }).summary, { build: 0, reuse: 9 });
  const plan = planBuild({ family, lock, files: flip('files/etc/web.conf'), store: store(firstRecords) });
  assert.deepEqual(built(plan), ['web/amd64', 'web/arm64']);
  assert.deepEqual(reasons(plan, 'web'), ['file-changed: file files/etc/web.conf changed (executable bit)']);
});

test('the parent definition changes: the whole subtree under it rebuilds, the external-based image does not', async () => {
  const f = await edited((t) => t.replace('LANG: C.UTF-8', 'LANG: C.UTF-8\n      TZ: UTC'));
  const plan = planBuild({ family: f, lock, files, store: store(firstRecords) });
  assert.deepEqual(built(plan), ['base/amd64', 'base/arm64', 'app-base/amd64', 'app-base/arm64', 'web/amd64', 'web/arm64', 'worker/amd64', 'worker/arm64']);
  assert.deepEqual(reasons(plan, 'base'), ['definition: env changed']);
  assert.deepEqual(reasons(plan, 'worker'), ['parent: parent app-base rebuilt']);
});

test('the project title, which no image carries, is not an input: adding one rebuilds nothing', async () => {
  const titled = await edited((t) => t.replace('project:\n  name: demo\n', 'project:\n  name: demo\n  title: Demo images\n'));
  assert.equal(titled.project.title, 'Demo images');
  assert.deepEqual(planBuild({ family: titled, lock, files, store: store(firstRecords) }).summary, { build: 0, reuse: 9 });
});

test('a volatile label or a run step timeout changes: nothing rebuilds; a plain label or a step change rebuilds that image and its children', async () => {
  const vol = await edited((t) => t.replace('https://ci.example.org/1', 'https://ci.example.org/2'));
  assert.deepEqual(planBuild({ family: vol, lock, files, store: store(firstRecords) }).summary, { build: 0, reuse: 9 });
  const plain = await edited((t) => t.replace('org.example.tier: base', 'org.example.tier: core'));
  const plan = planBuild({ family: plain, lock, files, store: store(firstRecords) });
  assert.deepEqual(reasons(plan, 'base'), ['definition: labels changed']);
  assert.equal(plan.summary.build, 8);
  const run = await edited((t) => t.replace('compileall -q', 'compileall -q -j0'));
  const runPlan = planBuild({ family: run, lock, files, store: store(firstRecords) });
  assert.deepEqual(built(runPlan), ['web/amd64', 'web/arm64']);
  assert.deepEqual(reasons(runPlan, 'web'), ['definition: run step compile changed']);
  // A step's timeout decides whether it may finish, not what it makes.
  const timeout = await edited((t) => t.replace('timeout: 1m', 'timeout: 5m'));
  assert.notDeepEqual(timeout, family);
  assert.deepEqual(planBuild({ family: timeout, lock, files, store: store(firstRecords) }).summary, { build: 0, reuse: 9 });
});

test('a change reverted is reused from the store; an image gone from the store rebuilds with a reason', async () => {
  const f = await edited((t) => t.replace('LANG: C.UTF-8', 'LANG: C'));
  const second = planBuild({ family: f, lock, files, store: store(firstRecords) });
  const all = recordsOf(second, firstRecords);
  // Back to the original config: the first build's images are still there.
  assert.deepEqual(planBuild({ family, lock, files, store: store(all) }).summary, { build: 0, reuse: 9 });
  // The base/amd64 image was garbage-collected: its record is still the latest, but not reusable.
  const gone = firstRecords.filter((r) => !(r.image === 'base' && r.arch === 'amd64'));
  const plan = planBuild({ family, lock, files, store: { records: gone, previous: firstRecords } });
  assert.deepEqual(reasons(plan, 'base'), [`missing: the previous image ${firstRecords.find((r) => r.image === 'base' && r.arch === 'amd64')!.digest} is no longer (whole) in the store`]);
  // Same input hash again, so the children (keyed by base's input hash) stay reusable.
  assert.deepEqual(built(plan), ['base/amd64']);
});

test('selection: a profile brings its ancestors; architectures and force', () => {
  const plan = planBuild({ family, lock, files, store: store(firstRecords), selection: { profiles: ['web'] }, architectures: ['arm64'] });
  assert.deepEqual(table(plan), [['base/arm64:reuse'], ['app-base/arm64:reuse'], ['web/arm64:reuse']]);
  const forced = planBuild({ family, lock, files, store: store(firstRecords), selection: { images: ['worker'] }, force: ['worker'] });
  assert.deepEqual(built(forced), ['worker/amd64', 'worker/arm64']);
  assert.deepEqual(reasons(forced, 'worker'), ['forced: rebuild forced']);
  assert.throws(() => planBuild({ family, lock, files, architectures: ['s390x'] }), { code: 'UNKNOWN_ARCH' });
  // An image named on its own that has none of the chosen architectures is an error, not silence.
  assert.throws(() => planBuild({ family, lock, files, selection: { images: ['tools'] }, architectures: ['arm64'] }), {
    code: 'UNKNOWN_ARCH',
    message: 'image tools is not built for arm64 (it builds amd64)',
  });
  assert.deepEqual(built(planBuild({ family, lock, files, selection: { images: ['tools'] }, architectures: ['amd64'] })).at(-1), 'tools/amd64');
});

test('a stale lock is refused with every difference named', async () => {
  const f = await edited((t) => t.replace('packages: [nginx-light]', 'packages: [nginx-light, curl]').replace('architectures: [amd64, arm64]', 'architectures: [amd64]'));
  const err = (() => {
    try {
      planBuild({ family: f, lock, files });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof BuildError);
  assert.equal(err.code, 'LOCK_STALE');
  assert.equal(err.message, 'lading.lock is stale: the config changed since it was written:\n  architecture arm64 removed\n  image web (amd64): curl added');
  assert.equal(err.hint, 'run `lading lock` with the same -f, -o and --lock options to resolve the packages again (or `lading build --update-lock`)');
});

test('a missing context digest is an error naming the image and file', () => {
  const partial = { ...files } as Record<string, unknown>;
  delete partial['files/etc/web.conf'];
  assert.throws(() => planBuild({ family, lock: lock as FamilyLock, files: partial as ContextDigests }), { code: 'PLAN_INPUT_MISSING', message: /planning web: no digest for build-context file files\/etc\/web.conf/ });
});

test('a files source that holds the store (or sits in it) is refused: the store would be copied into the image', async () => {
  await assert.rejects(hashContext({ contextDir: dir, family, exclude: [{ path: `${dir}files/conf.d/.lading/store`, what: 'store' }] }), (err: unknown) => {
    assert.ok(err instanceof BuildError && err.code === 'CONTEXT_INVALID');
    assert.match(err.message, /files src "files\/conf\.d" holds the store \(.*files\/conf\.d\/\.lading\/store\)/);
    return true;
  });
  await assert.rejects(hashContext({ contextDir: dir, family, exclude: [{ path: `${dir}files`, what: 'store' }] }), /files src "files\/bin\/entry\.sh" is inside the store/);
  // A store beside the sources is fine.
  assert.deepEqual(await hashContext({ contextDir: dir, family, exclude: [{ path: `${dir}.lading/store`, what: 'store' }] }), files);
  // A symlink does not hide the store: not the store's own path, nor the context's.
  const links = await mkdtemp(join(tmpdir(), 'lading-plan-links-'));
  try {
    await symlink(`${dir}files/conf.d`, join(links, 'conf'));
    await assert.rejects(hashContext({ contextDir: dir, family, exclude: [{ path: join(links, 'conf/.lading/store'), what: 'store' }] }), /files src "files\/conf\.d" holds the store/);
    await symlink(dir, join(links, 'ctx'));
    await assert.rejects(hashContext({ contextDir: join(links, 'ctx'), family, exclude: [{ path: `${dir}files/conf.d/.lading/store`, what: 'store' }] }), /files src "files\/conf\.d" holds the store/);
  } finally {
    await rm(links, { recursive: true, force: true });
  }
});

test('an image stored on another build of its parent (same inputs, other digest) rebuilds, naming both digests', () => {
  // Records as the builder writes them now: each child names the parent digest it was built on.
  const withParents = firstRecords.map((r) => {
    const from = family.images[r.image]?.from;
    const parent = from?.kind === 'image' ? firstRecords.find((p) => p.image === from.name && p.arch === r.arch) : undefined;
    return parent ? { ...r, parentDigest: parent.digest } : r;
  });
  assert.deepEqual(planBuild({ family, lock, files, store: store(withParents) }).summary, { build: 0, reuse: 9 });
  // app-base rebuilt with --force gave other bytes (a step with network): its newest record wins.
  const old = withParents.find((r) => r.image === 'app-base' && r.arch === 'amd64')!;
  const again = { ...old, digest: `sha256:${'a'.repeat(64)}`, builtAt: '2026-11-20T00:00:00Z' };
  const plan = planBuild({ family, lock, files, store: store([...withParents, again]) });
  assert.deepEqual(built(plan), ['web/amd64', 'worker/amd64']);
  assert.deepEqual(reasons(plan, 'web'), [`parent: parent app-base is now ${again.digest}; the stored image was built on ${old.digest}`]);
  const appBase = plan.batches.flat().find((s) => s.image === 'app-base' && s.arch === 'amd64');
  assert.equal(appBase?.kind === 'reuse' && appBase.digest, again.digest);
  // Once web is built on it, its record says so and it is reused; a record without a parent digest
  // (an older lading's) is reused as before.
  const webOld = withParents.find((r) => r.image === 'web' && r.arch === 'amd64')!;
  const webNew = { ...webOld, digest: `sha256:${'b'.repeat(64)}`, parentDigest: again.digest, builtAt: '2026-11-20T00:01:00Z' };
  const after = planBuild({ family, lock, files, store: store([...withParents, again, webNew]) });
  assert.deepEqual(built(after), ['worker/amd64']);
  const { parentDigest: _dropped, ...legacy } = withParents.find((r) => r.image === 'worker' && r.arch === 'amd64')!;
  assert.deepEqual(built(planBuild({ family, lock, files, store: store([...withParents.filter((r) => !(r.image === 'worker' && r.arch === 'amd64')), legacy, again, webNew]) })), []);
});

test('a change to a files, directories or users entry names the entry and its fields', async () => {
  const changed = await edited((t) => t.replace('dest: /usr/local/bin/entry.sh, mode: 0o755', 'dest: /usr/local/bin/entry.sh, mode: 0o700').replace('{ path: /var/lib/app, mode: "0750", owner: "app:app" }', '{ path: /var/lib/app, mode: "0700", owner: "app:app" }\n      - { path: /var/lib/app2 }'));
  const plan = planBuild({ family: changed, lock, files, store: store(firstRecords) });
  assert.deepEqual(reasons(plan, 'app-base'), ['definition: directory /var/lib/app changed (mode)', 'definition: directory /var/lib/app2 added', 'definition: file /usr/local/bin/entry.sh changed (mode)']);
});

test('a change of config alone (labels, entrypoint, project metadata) builds on the stored layers; env, packages and files do not', async () => {
  const layersFrom = (plan: BuildPlan) =>
    Object.fromEntries(plan.batches.flat().filter((x) => x.kind === 'build').map((x) => [`${x.image}/${x.arch}`, x.kind === 'build' && x.layersFrom !== undefined ? x.layersFrom === firstRecords.find((r) => r.image === x.image && r.arch === x.arch)?.digest : 'no']));
  const labelled = await edited((t) => t.replace('project:\n  name: demo\n', 'project:\n  name: demo\n  url: https://example.org/demo\n'));
  const all = planBuild({ family: labelled, lock, files, store: store(firstRecords) });
  assert.equal(all.summary.build, 9);
  assert.ok(Object.values(layersFrom(all)).every((v) => v === true), JSON.stringify(layersFrom(all)));
  // The environment reaches run steps: it is a layer input, for the image and the images below.
  const env = planBuild({ family: await edited((t) => t.replace('LANG: C.UTF-8', 'LANG: C')), lock, files, store: store(firstRecords) });
  assert.ok(Object.values(layersFrom(env)).every((v) => v === 'no'), JSON.stringify(layersFrom(env)));
  // A package: the image and its subtree need their filesystems built.
  const catalog: Catalog = { ...FAMILY_CATALOG, 'python3-yaml': { version: '6.0-3+b3', depends: ['python3'] } };
  const pkg = planBuild({ family, lock: lockFromCatalog(family, catalog), files, store: store(firstRecords) });
  assert.ok(Object.values(layersFrom(pkg)).every((v) => v === 'no'), JSON.stringify(layersFrom(pkg)));
  // --force builds for real.
  assert.ok(Object.values(layersFrom(planBuild({ family: labelled, lock, files, store: store(firstRecords), force: true }))).every((v) => v === 'no'));
});
