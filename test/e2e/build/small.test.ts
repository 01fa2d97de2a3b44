// `lading build` on a small family, mostly without maintainer scripts (busybox-static,
// media-types from the local signed test repository, which also publishes arm64 with the `all`
// packages, and a crafted package whose preinst fails): a failing run step fails its image and
// skips its children, a failing preinst fails its image naming the package, a
// foreign-architecture run step fails with a clear error, amd64 + arm64 go under one index, a
// site override adds a package and a label without touching lading.yaml, and overlayfs and copy
// mode give the same digests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readdir } from 'node:fs/promises';
import { BuildPlanSchema, buildFamily } from '../../../src/build/index.js';
import { openLayout } from '../../../src/layout/index.js';
import { parseImageConfig, type Index, type Manifest } from '../../../src/oci/index.js';
import { cachedDebs, startAptRepo, type AptRepo } from '../../helpers/apt-repo.js';
import { writeDeb } from '../../helpers/deb-writer.js';
import { buildJson, digests, lading, shIn, umociUnpack, validateStored } from '../../helpers/build.js';
import { ROOT } from '../../helpers/store.js';

const execFileP = promisify(execFile);
let repo: AptRepo;
let dir: string;
let store: string;
let cache: string;
const opts = () => ({ cwd: dir, store, cache });
/** Mounts of this machine below `path` (overlays a build left behind). */
const mountsUnder = async (path: string) => (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(path));
/** Writer leases left in the store (`store verify` reports them). */
const leasesLeft = () => readdir(join(store, '.lading/leases')).catch(() => []);

const config = (sources: string) => `project: {name: small, vendor: lading tests}
sources:
${sources}
architectures: [amd64, arm64]
images:
  tiny:
    from: scratch
    noEssential: true
    architectures: [amd64]
    packages: [busybox-static]
    maintainerScripts: skip
    symlinks: [{path: /bin/sh, target: busybox}]
    run:
      - {name: hello, script: "echo hello > /hello"}
  child:
    from: tiny
    maintainerScripts: skip
    files: [{src: files/note, dest: /etc/note}]
    run:
      - {name: change, script: "rm /hello && mkdir -p /var/lib/child && echo new > /var/lib/child/state"}
  broken:
    from: tiny
    run:
      - {name: fail, script: "echo about to fail; exit 3"}
  below:
    from: broken
  badwd:
    from: tiny
    run:
      - {name: exec, args: [/bin/busybox, echo, "a b"]}
      - {name: noeol, script: "busybox printf no-eol"}
      - {name: wd, script: "pwd", workdir: /hello}
  segv:
    from: tiny
    run:
      - {name: crash, script: "busybox sh -c 'kill -SEGV $$'; echo not reached"}
  rnd:
    from: tiny
    run:
      - {name: random, script: "busybox head -c 16 /dev/urandom > /random"}
  rnd-child:
    from: rnd
  data:
    from: scratch
    noEssential: true
    packages: [media-types]
    maintainerScripts: skip
  badpre:
    from: tiny
    packages: [lading-badpre]
  foreign:
    from: scratch
    noEssential: true
    architectures: [arm64]
    run:
      - {name: uname, script: "uname -m"}
  foreign-kid:
    from: foreign
    architectures: [arm64]
    run:
      - {name: arch, script: "uname -m"}
  mixed:
    from: scratch
    noEssential: true
    packages: ["media-types:arm64"]
`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lading-build-small-'));
  const badpre = writeDeb(dir, 'lading-badpre_1.0_all.deb', {
    control: { Package: 'lading-badpre', Architecture: 'all' },
    controlFiles: { preinst: { content: '#!/bin/sh\necho "badpre: refusing to install" >&2\nexit 5\n', mode: 0o755 } },
    data: [{ name: './usr/share/doc/lading-badpre/', type: 'dir' }, { name: './usr/share/doc/lading-badpre/README', content: 'never installed\n' }],
  });
  repo = await startAptRepo({ extraArchitectures: ['arm64'], debs: [...(await cachedDebs()), badpre] });
  store = join(dir, 'store');
  cache = join(dir, 'cache');
  await mkdir(join(dir, 'files'));
  await writeFile(join(dir, 'files/note'), 'a note\n');
  await writeFile(join(dir, 'lading.yaml'), config(`  - {uris: ["${repo.url}"], suites: [${repo.suite}], components: [main], signedBy: ${repo.keyringPath}}`));
});
after(async () => {
  await repo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a failing run step or preinst fails its image, skips its children and exits nonzero with the log path; a foreign-arch step fails clearly', async () => {
  const { code, summary } = await buildJson([], opts());
  assert.equal(code, 1);
  assert.deepEqual(
    summary.built.map((b) => `${b.image} ${b.arch}`).sort(),
    ['child amd64', 'data amd64', 'data arm64', 'mixed amd64', 'rnd amd64', 'rnd-child amd64', 'tiny amd64'],
  );
  const broken = summary.failed.find((f) => f.image === 'broken');
  assert.ok(broken, JSON.stringify(summary.failed));
  assert.equal(broken.code, 'STEP_FAILED');
  assert.match(broken.reason, /run step "fail" exited with 3/);
  assert.match(broken.reason, /about to fail/);
  assert.ok(existsSync(broken.log), broken.log);
  assert.match(await readFile(broken.log, 'utf8'), /about to fail/);
  assert.deepEqual(
    summary.skipped.sort((a, b) => (a.image < b.image ? -1 : 1)),
    [
      { image: 'below', arch: 'amd64', code: 'PARENT_FAILED', reason: 'parent broken failed' },
      { image: 'foreign-kid', arch: 'arm64', code: 'PARENT_FAILED', reason: 'parent foreign failed' },
    ],
  );
  // A workdir that is a file is the step's fault, found before the container (not retried); the
  // log shows an exec form as JSON, and output without a final newline ends its line.
  const badwd = summary.failed.find((f) => f.image === 'badwd');
  assert.equal(badwd?.code, 'STEP_FAILED', JSON.stringify(summary.failed));
  assert.match(badwd.reason, /^image badwd \(amd64\): run step "wd": workdir \/hello is not a directory in the image\n/);
  const wdLog = await readFile(badwd.log, 'utf8');
  assert.doesNotMatch(wdLog, /attempt 2/);
  assert.match(wdLog, /\nlading: run step exec: \["\/bin\/busybox","echo","a b"\]\na b\n/);
  assert.match(wdLog, /\nno-eol\nlading: run step wd: pwd\n/);
  // A step killed by a signal: the shell's 128 + N, with the signal's name.
  const segv = summary.failed.find((f) => f.image === 'segv');
  assert.match(segv?.reason ?? JSON.stringify(summary.failed), /run step "crash" exited with 139 \(SIGSEGV\)/);
  // The preinst runs in the configure container; its failure names the package and its status.
  const badpre = summary.failed.find((f) => f.image === 'badpre');
  assert.equal(badpre?.code, 'SCRIPTS_FAILED', JSON.stringify(summary.failed));
  assert.match(badpre.reason, /^image badpre \(amd64\): the preinst of lading-badpre exited with 5:/);
  assert.match(badpre.reason, /badpre: refusing to install/);
  const foreign = summary.failed.find((f) => f.image === 'foreign');
  assert.equal(foreign?.code, 'FOREIGN_ARCH');
  assert.match(foreign.reason, /image foreign \(arm64\): cannot run run step "uname": arm64 needs qemu-user emulation/);
  // Known from binfmt_misc before the build: nothing was fetched, unpacked or logged for it.
  assert.equal(foreign.attempts, 0);
  assert.equal(foreign.log, '');
  assert.equal(existsSync(join(store, '.lading/logs/small/foreign/arm64.log')), false);
  // `plan` says so beforehand, once for the image and the one below it.
  const planned = await lading(['plan', 'foreign-kid'], opts());
  assert.equal(planned.code, 0, planned.stderr);
  assert.match(planned.stderr, /image foreign \(arm64\): cannot run run step "uname": arm64 needs qemu-user emulation.*: `lading build` will fail it before fetching its packages and skip the 1 image\(s\) below it/);
  assert.doesNotMatch(planned.stderr, /foreign-kid/);
  // ...and in --json, as data that matches the plan's schema.
  const plannedJson = await lading(['--json', 'plan', 'foreign-kid'], opts());
  const planDoc = BuildPlanSchema.parse(JSON.parse(plannedJson.stdout));
  assert.deepEqual(
    planDoc.warnings?.map((w) => `${w.code} ${w.image} ${w.arch}`),
    ['FOREIGN_ARCH foreign arm64', 'PARENT_FAILED foreign-kid arm64'],
  );
  // Failed images get no name; the others do. A name stands for every architecture: mixed, built
  // for amd64 but not arm64 (its arm64 package's scripts cannot run here), is listed as unnamed.
  assert.deepEqual(summary.names.map((n) => n.name).sort(), ['child:latest', 'data:latest', 'rnd-child:latest', 'rnd:latest', 'tiny:latest']);
  assert.equal(summary.failed.find((f) => f.image === 'mixed')?.code, 'FOREIGN_ARCH');
  assert.deepEqual(summary.unnamed, [{ image: 'mixed', name: 'mixed:latest', reason: 'its arm64 failed' }]);
  // Without --json the table shows the reason's first line; the output's last lines follow it.
  const text = await lading(['build', 'broken'], opts());
  assert.equal(text.code, 1);
  assert.match(text.stdout, /\nbroken +amd64 +FAILED .*exited with 3 \(log: /);
  const mixed = await lading(['build', 'mixed'], opts());
  assert.equal(mixed.code, 1);
  assert.match(mixed.stdout, /\nnot named: mixed:latest \(its arm64 failed; no image had the name\)\n/);
  assert.match(text.stdout, /\n\nimage broken \(amd64\): run step "fail" exited with 3:\n {4}about to fail\n/);
  // A runtime that cannot be used is reported with the runtime's code, not as the step's failure.
  const noRuntime = await buildJson(['--force', 'rnd'], { ...opts(), env: { LADING_RUNTIME: '/nonexistent/runc' } });
  assert.equal(noRuntime.code, 1);
  assert.deepEqual(noRuntime.summary.failed.map((f) => `${f.image} ${f.code}`), ['rnd RUNTIME_UNUSABLE']);
  // The reason names the image and the stage it happened in, then the runtime's own words.
  assert.match(noRuntime.summary.failed[0]?.reason ?? '', /^image rnd \(amd64\), stage run: OCI runtime "\/nonexistent\/runc" \(from LADING_RUNTIME\)/);
});

test('amd64 and arm64 from packages are one index; every image validates; the run step ran', async () => {
  const layout = await openLayout({ path: store });
  const data = await layout.getManifest('data:latest');
  assert.equal(data?.kind, 'index');
  const index = data.value as Index;
  assert.deepEqual(index.manifests.map((m) => `${m.platform?.architecture}/${m.platform?.variant ?? ''}`), ['amd64/', 'arm64/v8']);
  // Finished builds release their writer leases (`store verify` reports leftovers).
  assert.deepEqual(await leasesLeft(), []);
  assert.equal(index.annotations?.['org.opencontainers.image.title'], 'data');
  for (const name of ['tiny:latest', 'child:latest', 'data:latest']) {
    const report = await validateStored(store, name);
    assert.ok(report.ok, `${name}: ${JSON.stringify(report.problems)}`);
  }
  const arm = await layout.getManifest(index.manifests[1]!.digest);
  const cfg = parseImageConfig(await layout.readBlob((arm!.value as Manifest).config));
  assert.equal(cfg.value.architecture, 'arm64');
  const u = await umociUnpack(store, 'child:latest');
  try {
    assert.ok(!existsSync(join(u.rootfs, 'hello')), 'the child deleted /hello (a whiteout)');
    assert.equal(await readFile(join(u.rootfs, 'var/lib/child/state'), 'utf8'), 'new\n');
    assert.equal(await readFile(join(u.rootfs, 'etc/note'), 'utf8'), 'a note\n');
    const r = await shIn(u.rootfs, 'busybox cat /etc/note && busybox ls /bin/sh');
    assert.equal(r.exitCode, 0, r.stderrTail);
    assert.match(r.stdoutTail, /a note/);
  } finally {
    await u.cleanup();
  }
});

test('a store whose index.json is unreadable fails before anything is built; the file is kept', async () => {
  const broken = join(dir, 'store-broken-index');
  await mkdir(broken);
  await writeFile(join(broken, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(broken, 'index.json'), '{garbage');
  const r = await lading(['build', 'tiny'], { ...opts(), store: broken });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /index\.json: invalid JSON/);
  assert.doesNotMatch(r.stdout + r.stderr, /built tiny/);
  assert.equal(existsSync(join(broken, 'blobs')), false, 'no blob was written');
  assert.equal(await readFile(join(broken, 'index.json'), 'utf8'), '{garbage');
});

test('--arch builds some architectures; a name keeps standing for all of them', async () => {
  const layout = await openLayout({ path: store });
  const before = (await layout.names()).find((n) => n.name === 'data:latest')?.descriptor;
  assert.ok(before);
  assert.equal(before.mediaType, 'application/vnd.oci.image.index.v1+json');
  // amd64 rebuilt (same bytes), arm64 current in the store: the name is the same two-arch index.
  const forced = await buildJson(['--arch', 'amd64', '--force', 'data'], opts());
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(forced.summary.built.map((b) => `${b.image} ${b.arch}`), ['data amd64']);
  assert.deepEqual(forced.summary.names.find((n) => n.image === 'data'), { image: 'data', name: 'data:latest', digest: before.digest, mediaType: before.mediaType, changed: false });
  // Changed inputs: arm64 is not current, so the name stays where it was, and lading says why.
  await writeFile(join(dir, 'arch.yaml'), 'images:\n  data:\n    labels: {com.example.arch: one}\n    env: {V: 3.10}\n');
  const partial = await buildJson(['-o', 'arch.yaml', '--arch', 'amd64', 'data'], opts());
  assert.equal(partial.code, 0, partial.stderr);
  assert.deepEqual(partial.summary.built.map((b) => `${b.image} ${b.arch}`), ['data amd64']);
  assert.match(partial.stderr, /data:latest keeps its name: its arm64 image is not in the store for the current inputs/);
  assert.match(partial.stderr, /arch\.yaml:4:\d+ images\.data\.env\.V: warning: YAML reads 3\.10 as the number 3\.1/, 'build prints config warnings');
  assert.equal((await layout.names()).find((n) => n.name === 'data:latest')?.descriptor.digest, before.digest);
  // An image named alone that has none of the chosen architectures is an error.
  const none = await buildJson(['--arch', 'arm64', 'tiny'], opts()).catch((e: Error) => e);
  assert.match(String(none instanceof Error ? none.message : none.stderr), /image tiny is not built for arm64 \(it builds amd64\)/);
});

test('a forced rebuild that gives a parent another digest rebuilds the children built on the old one', async () => {
  const before = digests((await buildJson(['rnd-child'], opts())).summary);
  const { code, summary } = await buildJson(['--force', 'rnd'], opts());
  assert.equal(code, 0);
  assert.deepEqual(summary.built.map((b) => b.image), ['rnd']);
  const rnd = digests(summary)['rnd amd64'];
  assert.notEqual(rnd, before['rnd amd64'], 'the step writes random bytes');
  const again = await buildJson(['rnd-child'], opts());
  assert.deepEqual(again.summary.built.map((b) => b.image), ['rnd-child'], 'rnd-child was built on the old rnd');
  // The plan already says so (the build record names the parent digest), and the build's entry too.
  const planned = again.summary.plan.batches.flat().find((s) => s.image === 'rnd-child');
  assert.equal(planned?.kind, 'build');
  const why = `parent: parent rnd is now ${rnd}; the stored image was built on ${before['rnd amd64']}`;
  assert.deepEqual(planned.kind === 'build' && planned.reasons.map((r) => `${r.code}: ${r.message}`), [why]);
  assert.deepEqual(again.summary.built[0]?.reasons.map((r) => `${r.code}: ${r.message}`), [why]);
  const layout = await openLayout({ path: store });
  const child = await layout.getManifest('rnd-child:latest');
  assert.equal((child!.value as Manifest).annotations?.['org.opencontainers.image.base.digest'], rnd);
  assert.deepEqual((await buildJson(['rnd-child'], opts())).summary.built, [], 'and then it is reused');
  // rnd forced once more, then a label on rnd-child alone: its stored layers sit on the previous
  // rnd, so the config-only path gives way to a full build, and the log says why.
  assert.equal((await buildJson(['--force', 'rnd'], opts())).code, 0);
  await writeFile(join(dir, 'rndlabel.yaml'), 'images:\n  rnd-child:\n    labels: {com.example.x: y}\n');
  const labelled = await buildJson(['-o', 'rndlabel.yaml', 'rnd-child'], opts());
  assert.equal(labelled.code, 0, labelled.stderr);
  const built = labelled.summary.built.find((x) => x.image === 'rnd-child');
  const planned2 = labelled.summary.plan.batches.flat().find((x) => x.image === 'rnd-child');
  assert.ok(planned2?.kind === 'build' && planned2.layersFrom !== undefined, 'the plan offered the stored layers');
  assert.equal(built?.layersFrom, undefined);
  assert.ok(built?.stages.layer !== undefined, 'built in full');
  assert.match(await readFile(built.log, 'utf8'), /do not sit on the parent's current layers: building/);
});

test('copy mode (no overlayfs) builds the same child image as overlayfs', async () => {
  const first = await buildJson(['child'], opts());
  const overlayDigest = digests(first.summary)['child amd64'];
  assert.equal(first.summary.reused.length, 2, 'tiny and child are reused');
  const again = await buildJson(['--no-overlay', '--force', 'child'], opts());
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.summary.overlay, false);
  assert.deepEqual(again.summary.built.map((b) => b.image), ['child']);
  assert.equal(digests(again.summary)['child amd64'], overlayDigest);
});

test("the caller's umask does not reach the images", async () => {
  const first = await buildJson(['child', 'data'], opts());
  assert.equal(first.code, 0, first.stderr);
  const old = process.umask(0o077); // the CLI below inherits it
  let again: Awaited<ReturnType<typeof buildJson>>;
  try {
    again = await buildJson(['--force', 'child', 'data'], opts());
  } finally {
    process.umask(old);
  }
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.summary.built.map((b) => `${b.image} ${b.arch}`).sort(), ['child amd64', 'data amd64', 'data arm64']);
  assert.deepEqual(digests(again.summary), digests(first.summary));
});

test('a site override adds a package to one image and a label to every image without editing lading.yaml', async () => {
  const before = await readFile(join(dir, 'lading.yaml'), 'utf8');
  await writeFile(join(dir, 'site.yaml'), ['images:', '  tiny:', '    packages: {add: [media-types]}', 'allImages:', '  labels: {com.example.site: lab}', ''].join('\n'));
  const { code, summary, stderr } = await buildJson(['-o', 'site.yaml', '--lock', 'site.lock', 'tiny', 'data'], opts());
  assert.equal(code, 0, stderr);
  assert.equal(await readFile(join(dir, 'lading.yaml'), 'utf8'), before);
  assert.ok(existsSync(join(dir, 'site.lock')));
  const layout = await openLayout({ path: store });
  for (const name of ['tiny:latest', 'data:latest']) {
    let doc = await layout.getManifest(name);
    if (doc?.kind === 'index') doc = await layout.getManifest((doc.value as Index).manifests[0]!.digest);
    const cfg = parseImageConfig(await layout.readBlob((doc!.value as Manifest).config));
    assert.equal(cfg.value.config?.Labels?.['com.example.site'], 'lab', name);
  }
  const u = await umociUnpack(store, 'tiny:latest');
  try {
    assert.ok(existsSync(join(u.rootfs, 'etc/mime.types')), 'media-types was added to tiny');
  } finally {
    await u.cleanup();
  }
  assert.equal(summary.built.find((b) => b.image === 'tiny')?.packages, 2);
});

test('a change of config alone is made on the stored layers: the same digests as a full build, and the kept tree moves to the new image', async () => {
  // Building child keeps tiny's tree (an earlier test may have left another tiny current).
  const before = await buildJson(['--force', 'child'], opts());
  assert.equal(before.code, 0, before.stderr);
  const oldTiny = digests(before.summary)['tiny amd64']!;
  assert.ok(existsSync(join(store, '.lading/rootfs', oldTiny.slice(7), 'meta.json')));
  await writeFile(join(dir, 'label.yaml'), 'allImages:\n  labels: {com.example.label: one}\n');
  const r = await buildJson(['-o', 'label.yaml', 'child'], opts());
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    r.summary.built.map((b) => `${b.image} ${b.layersFrom ? 'on stored layers' : 'built'} ${Object.keys(b.stages).join(',')}`),
    ['tiny on stored layers assemble', 'child on stored layers assemble'],
  );
  const tiny = r.summary.built[0]!;
  assert.ok(existsSync(join(store, '.lading/rootfs', tiny.digest.slice(7), 'meta.json')), 'the kept tree of tiny moved to its new digest');
  assert.ok(!existsSync(join(store, '.lading/rootfs', oldTiny.slice(7))));
  // The same config built in full into a fresh store gives the same images.
  const full = await buildJson(['-o', 'label.yaml', 'child'], { ...opts(), store: join(dir, 'fresh-store') });
  assert.equal(full.code, 0, full.stderr);
  assert.ok(full.summary.built.every((b) => b.layersFrom === undefined && b.stages.layer !== undefined));
  assert.deepEqual(digests(full.summary), digests(r.summary));
  // A filesystem change in the child: built for real, on the re-made parent.
  await writeFile(join(dir, 'label2.yaml'), 'allImages:\n  labels: {com.example.label: one}\nimages:\n  child:\n    run: {add: [{name: extra, script: "echo x > /extra"}]}\n');
  const c = await buildJson(['-o', 'label2.yaml', 'child'], opts());
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(c.summary.reused.map((x) => x.digest), [tiny.digest]);
  assert.equal(c.summary.built[0]?.layersFrom, undefined);
  const u = await umociUnpack(store, 'child:latest');
  try {
    assert.equal(await readFile(join(u.rootfs, 'extra'), 'utf8'), 'x\n');
    assert.equal(await readFile(join(u.rootfs, 'var/lib/child/state'), 'utf8'), 'new\n');
  } finally {
    await u.cleanup();
  }
});

/** Writes the test family as `file`, with another project name and `images` YAML added after tiny. */
function writeVariant(file: string, project: string, images: string): Promise<void> {
  const sources = `  - {uris: ["${repo.url}"], suites: [${repo.suite}], components: [main], signedBy: ${repo.keyringPath}}`;
  const hello = '{name: hello, script: "echo hello > /hello"}';
  return writeFile(join(dir, file), config(sources).replace('project: {name: small', `project: {name: ${project}`).replace(hello, `${hello}\n${images}`));
}

test('an interrupted build removes its mounts and work directories, and starts no queued image', async () => {
  await writeVariant('abort.yaml', 'abort', '  slow:\n    from: tiny\n    run:\n      - {name: wait, script: "busybox sleep 60"}\n  slow2:\n    from: tiny\n    run:\n      - {name: wait, script: "busybox sleep 61"}');
  const ctl = new AbortController();
  const started = Date.now();
  const starts: string[] = [];
  const build = buildFamily({
    configPath: 'abort.yaml',
    lockPath: 'abort.lock',
    cwd: dir,
    storePath: store,
    cacheDir: cache,
    selection: { images: ['slow', 'slow2'] },
    jobs: 1,
    signal: ctl.signal,
    onEvent: (e) => {
      if (e.type === 'start') starts.push(e.image);
      if (e.type === 'stage' && e.image.startsWith('slow') && e.stage === 'run') setTimeout(() => ctl.abort(new Error('interrupted by the test')), 300);
    },
  });
  await assert.rejects(build, (err: unknown) => (err as { code?: string }).code === 'ABORTED' || /abort/i.test(String(err)));
  assert.ok(Date.now() - started < 45_000, 'the 60 s step was killed');
  assert.equal(starts.filter((i) => i.startsWith('slow')).length, 1, `one job: the other slow image waited and never started (${starts.join(', ')})`);
  assert.deepEqual(await mountsUnder(store), []);
  assert.deepEqual(await readdir(join(store, '.lading/work')), []);
  assert.deepEqual(await leasesLeft(), []);
});

test('a build that waited for another one into the same store reuses what that one built', async () => {
  await writeVariant('wait.yaml', 'wait', '  slowrnd:\n    from: tiny\n    run:\n      - {name: slow, script: "busybox sleep 2; busybox head -c 16 /dev/urandom > /random"}');
  const common = { configPath: 'wait.yaml', lockPath: 'wait.lock', cwd: dir, storePath: store, cacheDir: cache, selection: { images: ['slowrnd'] } };
  let second: ReturnType<typeof buildFamily> | undefined;
  const first = await buildFamily({
    ...common,
    onEvent: (e) => {
      // The second build plans while the first one holds the store: slowrnd is not there yet.
      if (e.type === 'stage' && e.image === 'slowrnd' && e.stage === 'run' && !second) second = buildFamily(common);
    },
  });
  assert.ok(second, 'the second build started');
  const after = await second;
  const built = first.built.find((b) => b.image === 'slowrnd');
  assert.ok(built, JSON.stringify(first));
  assert.equal(after.plan.batches.flat().find((st) => st.image === 'slowrnd')?.kind, 'build', 'planned before the first build stored it');
  // Built again, the random bytes would give another digest.
  assert.deepEqual(after.built, []);
  assert.deepEqual(after.reused.find((r) => r.image === 'slowrnd'), { image: 'slowrnd', arch: 'amd64', digest: built.digest });
  // --force means build, also after waiting.
  let forcedSecond: ReturnType<typeof buildFamily> | undefined;
  const forcedFirst = await buildFamily({
    ...common,
    force: ['slowrnd'],
    onEvent: (e) => {
      if (e.type === 'stage' && e.image === 'slowrnd' && e.stage === 'run' && !forcedSecond) forcedSecond = buildFamily({ ...common, force: ['slowrnd'] });
    },
  });
  const forcedAfter = await (forcedSecond as ReturnType<typeof buildFamily>);
  const again = forcedAfter.built.find((b) => b.image === 'slowrnd');
  assert.ok(again, JSON.stringify(forcedAfter.reused));
  assert.notEqual(again.digest, forcedFirst.built.find((b) => b.image === 'slowrnd')?.digest);
});

test("a killed build's work directory and mounts are removed by the next build, also one with nothing to build", async () => {
  assert.equal((await buildJson(['tiny'], opts())).code, 0);
  // What a SIGKILLed build leaves: a work directory named after its (dead) pid, a mount inside.
  const dead = spawn('true');
  await new Promise((resolve) => dead.once('exit', resolve));
  const left = join(store, '.lading/work', `${dead.pid}-0badc0de`, 'tiny-amd64/merged');
  await mkdir(left, { recursive: true });
  await execFileP('mount', ['-t', 'tmpfs', 'tmpfs', left]);
  const noop = await buildJson(['tiny'], opts());
  assert.equal(noop.code, 0, noop.stderr);
  assert.deepEqual(noop.summary.built, []);
  assert.deepEqual(await mountsUnder(store), []);
  assert.deepEqual(await readdir(join(store, '.lading/work')), []);
});

test('the CLI stopped by SIGHUP (a closed terminal) cleans up like Ctrl-C and exits 129; output nobody reads does not stop a build', async () => {
  await writeFile(join(dir, 'hup.yaml'), (await readFile(join(dir, 'lading.yaml'), 'utf8')).replace('project: {name: small', 'project: {name: hup') + '  slowcli:\n    from: tiny\n    run:\n      - {name: wait, script: "busybox sleep 60"}\n');
  const cli = (args: string[]) =>
    spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'test/helpers/lading-main.ts'), '--store', store, '--cache', cache, 'build', '-f', 'hup.yaml', '--lock', 'hup.lock', ...args], {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: '', CI: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const exited = (child: ReturnType<typeof cli>) => new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const work = join(store, '.lading/work');

  const slow = cli(['slowcli']);
  const slowExit = exited(slow);
  let stderr = '';
  slow.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  slow.stdout.resume();
  const deadline = Date.now() + 60_000;
  while ((await mountsUnder(work)).length === 0 && slow.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1_000)); // the step's container starts
  const started = Date.now();
  slow.kill('SIGHUP');
  assert.equal(await slowExit, 129, stderr);
  assert.ok(Date.now() - started < 30_000, 'the 60 s step was stopped');
  assert.match(stderr, /aborted: interrupted by SIGHUP/);
  assert.deepEqual(await mountsUnder(work), []);
  assert.deepEqual(await readdir(work), []);
  assert.ok(!existsSync(join(store, '.lading/build/run.lock')), 'run.lock released');
  assert.deepEqual(await leasesLeft(), []);

  // Both output pipes closed before the first line: the build goes on to the end.
  const deaf = cli(['--force', 'tiny']);
  const deafExit = exited(deaf);
  deaf.stdout.destroy();
  deaf.stderr.destroy();
  assert.equal(await deafExit, 0);
  assert.deepEqual(await mountsUnder(work), []);
});

test('an image on an external base pinned by digest (already in the store) gets its layers, config and base annotations', async () => {
  const layout = await openLayout({ path: store });
  const tiny = await layout.resolve('tiny:latest');
  assert.ok(tiny);
  const ref = `registry.example.invalid/lading/tiny@${tiny.digest}`;
  await writeFile(
    join(dir, 'external.yaml'),
    [
      'project: {name: external}',
      'sources:',
      `  - {uris: ["${repo.url}"], suites: [${repo.suite}], components: [main], signedBy: ${repo.keyringPath}}`,
      'architectures: [amd64]',
      'images:',
      '  on-tiny:',
      `    from: ${ref}`,
      '    maintainerScripts: skip',
      '    files: [{src: files/note, dest: /etc/note}]',
      '    run:',
      '      - {name: check, script: "test -f /hello && echo ok > /etc/checked"}',
      '',
    ].join('\n'),
  );
  const { code, summary, stderr } = await buildJson(['-f', 'external.yaml', '--lock', 'external.lock'], opts());
  assert.equal(code, 0, `${stderr}\n${JSON.stringify(summary.failed)}`);
  const doc = await layout.getManifest('on-tiny:latest');
  const m = doc!.value as Manifest;
  const base = (await layout.getManifest(tiny.digest))!.value as Manifest;
  assert.deepEqual(m.layers.slice(0, base.layers.length), base.layers, "the base's layers come first");
  assert.equal(m.layers.length, base.layers.length + 1);
  assert.equal(m.annotations?.['org.opencontainers.image.base.name'], ref);
  assert.equal(m.annotations?.['org.opencontainers.image.base.digest'], tiny.digest);
  const cfg = parseImageConfig(await layout.readBlob(m.config)).value;
  assert.ok(cfg.config?.Env?.some((e) => e.startsWith('PATH=')));
  const u = await umociUnpack(store, 'on-tiny:latest');
  try {
    assert.equal(await readFile(join(u.rootfs, 'etc/checked'), 'utf8'), 'ok\n');
  } finally {
    await u.cleanup();
  }
});

