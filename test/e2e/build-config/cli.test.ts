// `lading images`, `lading plan` and the count flags of `build`, `apt fetch`, `copy` end to end:
// real files, real store directory, the CLI's own output and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildPlanSchema, loadFamily, serializeFamilyLock, writeBuildRecord, type BuildPlan } from '../../../src/build/index.js';
import { lockFromCatalog } from '../../helpers/family-lock.js';
import { runCli, type CliRun } from '../../helpers/store.js';

const fixture = fileURLToPath(new URL('../../../src/build/testdata/family/', import.meta.url));

function run(cwd: string, args: string[]): Promise<CliRun> {
  return runCli(args, { cwd, env: { LADING_STORE: join(cwd, 'store') } });
}

async function workspace(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-family-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(fixture, dir, { recursive: true });
  const { family } = await loadFamily({ configPath: 'lading.yaml', cwd: dir, hostArchitecture: 'amd64' });
  await writeFile(join(dir, 'lading.lock'), serializeFamilyLock(lockFromCatalog(family)));
  return dir;
}

test('lading images lists the family as a tree and as JSON', async (t) => {
  const dir = await workspace(t);
  const text = await run(dir, ['images']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^family demo \(amd64, arm64\), 5 images\n/);
  assert.match(text.stdout, /\nbase \(scratch\)\n└─ app-base\n {3}├─ web\n {3}└─ worker\n/);
  const json = await run(dir, ['--json', 'images']);
  const s = JSON.parse(json.stdout) as { images: { name: string; ancestors: string[]; profiles: string[] }[] };
  assert.deepEqual(
    s.images.map((i) => [i.name, i.ancestors.join('>'), i.profiles.join(',')]),
    [
      ['base', '', ''],
      ['tools', '', ''],
      ['app-base', 'base', ''],
      ['web', 'app-base>base', 'apps,web'],
      ['worker', 'app-base>base', 'apps'],
    ],
  );
});

test('lading plan: everything new, then reused once the builder has recorded it', async (t) => {
  const dir = await workspace(t);
  const json = await run(dir, ['--json', 'plan']);
  assert.equal(json.code, 0, json.stderr);
  const plan = BuildPlanSchema.parse(JSON.parse(json.stdout)) as BuildPlan;
  assert.deepEqual(plan.summary, { build: 9, reuse: 0 });
  const text = await run(dir, ['plan', '--profile', 'web', '--arch', 'amd64']);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(
    text.stdout.replace(/sha256:\w{12}/g, 'sha256:X').replace(/ +/g, ' '),
    [
      'family demo: 3 to build, 0 reused (amd64)',
      'BATCH IMAGE ARCH ACTION INPUT WHY',
      '1 base amd64 build sha256:X new image (no previous build in the store)',
      '2 app-base amd64 build sha256:X new image (no previous build in the store)',
      '3 web amd64 build sha256:X new image (no previous build in the store)',
      '',
    ].join('\n'),
  );
  // What the builder does after building: manifests in the store, one record each.
  const store = join(dir, 'store');
  await mkdir(join(store, 'blobs', 'sha256'), { recursive: true });
  const config = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'; // sha256 of "{}"
  await writeFile(join(store, 'blobs', 'sha256', config.slice(7)), '{}');
  for (const s of plan.batches.flat()) {
    if (s.kind !== 'build') continue;
    const digest = `sha256:${s.inputHash.slice(7, 15).repeat(8)}`;
    await writeFile(join(store, 'blobs', 'sha256', digest.slice(7)), JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] }));
    await writeBuildRecord({ storePath: store, record: { recordVersion: 1, family: 'demo', image: s.image, arch: s.arch, inputHash: s.inputHash, digest, inputs: s.inputs, builtAt: '2026-11-27T00:00:00Z' } });
  }
  const again = JSON.parse((await run(dir, ['--json', 'plan'])).stdout) as BuildPlan;
  assert.deepEqual(again.summary, { build: 0, reuse: 9 });
  // --force plans what `build --force` builds: named images alone, a profile's whole selection.
  const forcedBuilds = async (args: string[]) => (JSON.parse((await run(dir, ['--json', 'plan', '--force', '--arch', 'amd64', ...args])).stdout) as BuildPlan).batches.flat().filter((s) => s.kind === 'build').map((s) => s.image);
  assert.deepEqual(await forcedBuilds(['web']), ['web']);
  assert.deepEqual(await forcedBuilds(['-p', 'web', 'tools']), ['base', 'tools', 'app-base', 'web']);
  // A changed context file: only web rebuilds, and the table says which file.
  await writeFile(join(dir, 'files/etc/web.conf'), 'listen = 8081\n');
  const changed = await run(dir, ['plan', 'web']);
  assert.match(changed.stdout, /^family demo: 2 to build, 4 reused/);
  assert.match(changed.stdout, /\n3 +web +amd64 +build +sha256:\w+ +file files\/etc\/web.conf changed \(sha256:\w+ -> sha256:\w+\)\n/);
});

test('a site override is merged; a lock that no longer matches is refused with the differences', async (t) => {
  const dir = await workspace(t);
  await writeFile(join(dir, 'site.yaml'), 'allImages:\n  labels: {com.example.site: lab}\nimages:\n  worker:\n    packages: {add: [curl]}\n');
  const r = await run(dir, ['plan', '-o', 'site.yaml']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'lading: lading.lock is stale: the config changed since it was written:\n  image worker (amd64): curl added\n  image worker (arm64): curl added\nhint: run `lading lock` with the same -f, -o and --lock options to resolve the packages again (or `lading build --update-lock`)\n');
  const images = JSON.parse((await run(dir, ['--json', 'images', '-o', 'site.yaml'])).stdout) as { images: { name: string; packages: Record<string, string[]> }[] };
  assert.deepEqual(images.images.find((i) => i.name === 'worker')!.packages.amd64, ['curl', 'python3-celery']);
});

test('an invalid config exits 1 listing every problem with file:line:col', async (t) => {
  const dir = await workspace(t);
  const yaml = await readFile(join(dir, 'lading.yaml'), 'utf8');
  await writeFile(join(dir, 'lading.yaml'), yaml.replace('from: app-base\n    description: The web', 'from: app-bsae\n    description: The web').replace('mode: 0o755', 'mode: 755'));
  const r = await run(dir, ['images']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    [
      'lading: lading.yaml: 2 problems:',
      '  lading.yaml:42:73 images.app-base.files[0].mode: unquoted mode 755 is ambiguous (YAML 1.2 reads it as the decimal number 755, chmod as octal): write "0755" (quoted) or 0o755',
      '  lading.yaml:46:11 images.web.from: unknown image "app-bsae" (did you mean "app-base"?)',
      '',
    ].join('\n'),
  );
  const missing = await run(dir, ['images', '-f', 'nope.yaml']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'lading: reading nope.yaml: no such file\n');
  // With --json, stdout still holds one document: the error, with its code.
  const json = await run(dir, ['--json', 'plan']);
  assert.equal(json.code, 1);
  const doc = JSON.parse(json.stdout) as { error: { code: string; message: string; problems: unknown[] } };
  assert.equal(doc.error.code, 'CONFIG_INVALID');
  assert.match(doc.error.message, /^lading\.yaml: 2 problems:\n {2}lading\.yaml:42:73 images\.app-base\.files\[0\]\.mode/);
  // ...and the problems as data, for editors and CI annotations.
  assert.deepEqual(doc.error.problems[1], { file: 'lading.yaml', line: 46, col: 11, code: 'UNKNOWN_IMAGE', severity: 'error', path: ['images', 'web', 'from'], message: 'unknown image "app-bsae" (did you mean "app-base"?)' });
  const usage = await run(dir, ['--json', 'plan', '--bogus']);
  assert.equal(usage.code, 2);
  assert.deepEqual(JSON.parse(usage.stdout), { error: { code: 'USAGE', message: "unknown option '--bogus'" } });
});

test('count flags are whole numbers: a bad value is a usage error naming the flag (build, apt fetch, copy)', async (t) => {
  const dir = await workspace(t);
  const downloads = await run(dir, ['build', '--downloads', '0']);
  assert.equal(downloads.code, 2);
  assert.match(downloads.stderr, /--downloads: want an integer >= 1, got "0"/);
  const jobs = await run(dir, ['build', '--jobs', '2x']);
  assert.equal(jobs.code, 2);
  assert.match(jobs.stderr, /--jobs: want an integer >= 1, got "2x"/);
  const fetch = await run(dir, ['apt', 'fetch', '--lock', 'lading.lock', '--concurrency', 'abc']);
  assert.equal(fetch.code, 2);
  assert.match(fetch.stderr, /--concurrency: want an integer >= 1, got "abc"/);
  const copy = await run(dir, ['copy', '--max-per-host', '0', 'oci:a', 'oci:b']);
  assert.equal(copy.code, 2);
  assert.match(copy.stderr, /--max-per-host: want an integer >= 1, got "0"/);
});
