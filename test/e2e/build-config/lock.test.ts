// `lading lock` against a real signed apt repository (real .debs, apt-ftparchive, gpg) on
// 127.0.0.1: every image resolved per architecture, children containing their parents, unknown
// packages reported at the line that asked for them, and `lading plan` on top of the result.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFamilyLock, type BuildPlan } from '../../../src/build/index.js';
import { runCli } from '../../helpers/store.js';
import { cachedDebs, startAptRepo, type AptRepo } from '../../helpers/apt-repo.js';
import { writeDeb } from '../../helpers/deb-writer.js';

let repo: AptRepo;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lading-lock-'));
  // A package that cannot sit beside curl, for a conflict an override brings in.
  const nocurl = writeDeb(dir, 'lading-nocurl_1.0_all.deb', {
    control: { Package: 'lading-nocurl', Architecture: 'all', Conflicts: 'curl' },
    data: [{ name: './usr/share/doc/lading-nocurl/', type: 'dir' }],
  });
  repo = await startAptRepo({ debs: [...(await cachedDebs()), nocurl] });
  await writeFile(
    join(dir, 'lading.yaml'),
    [
      'project: {name: locktest}',
      'sources:',
      `  - {uris: ["${repo.url}"], suites: [${repo.suite}], components: [main], signedBy: ${repo.keyringPath}}`,
      `architectures: [${repo.architecture}]`,
      'images:',
      '  base: {from: scratch, packages: [ca-certificates]}',
      '  py: {from: base, packages: [python3]}',
      '  web: {from: base, packages: [curl]}',
      '  tiny: {from: scratch, noEssential: true, packages: [busybox-static]}',
      '',
    ].join('\n'),
  );
});
after(async () => {
  await repo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { cwd: dir, env: { LADING_STORE: join(dir, 'store'), LADING_CACHE: join(dir, 'cache') } });
}

test('lading lock resolves every image; a child contains its parent; a second run changes nothing', async () => {
  const r = await run(['lock']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\nwrote lading\.lock\n$/);
  const text = await readFile(join(dir, 'lading.lock'), 'utf8');
  const lock = parseFamilyLock(text);
  const a = lock.architectures[repo.architecture]!;
  const base = a.images.base!.packages;
  const py = a.images.py!.packages;
  assert.ok(Object.keys(base).includes('ca-certificates') && Object.keys(base).includes('base-files'));
  for (const [name, version] of Object.entries(base)) assert.equal(py[name], version, `py keeps base's ${name}`);
  assert.ok(Object.keys(py).includes('python3'));
  assert.deepEqual(Object.keys(a.images.tiny!.packages), ['busybox-static']);
  assert.deepEqual(a.images.py!.request, { essential: true, packages: ['ca-certificates', 'python3'] });
  // One entry per package, with the file and SHA256 the debian module verified.
  const table = new Map(a.packages.map((p) => [p.name, p]));
  assert.equal(table.get('python3')?.reason, 'requested');
  assert.equal(table.get('base-files')?.reason, 'essential');
  assert.match(table.get('curl')!.sha256, /^[0-9a-f]{64}$/);
  assert.equal(lock.sources.length, 1);
  assert.match(lock.sources[0]!.inRelease, /^sha256:/);
  const again = await run(['lock']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /\nlading\.lock is up to date\n$/);
  assert.equal(await readFile(join(dir, 'lading.lock'), 'utf8'), text);
  // The plan reads the lock: web adds curl and its libraries over base.
  const plan = JSON.parse((await run(['--json', 'plan', 'web'])).stdout) as BuildPlan;
  const web = plan.batches.flat().find((s) => s.image === 'web');
  assert.ok(web?.kind === 'build');
  assert.ok(Object.keys(web.inputs.packages).includes('curl'));
  assert.ok(!Object.keys(web.inputs.packages).includes('base-files'));
  // --lock into a directory that does not exist fails; the directory is not made.
  const typo = await run(['lock', '--lock', join(dir, 'no-such-dir', 'x.lock')]);
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /writing .*no-such-dir\/x\.lock: no such file or directory/);
  assert.equal(existsSync(join(dir, 'no-such-dir')), false);
  // A lock lading cannot read is replaced, and the user is told (it may have held hand-made pins).
  const broken = join(dir, 'broken.lock');
  await writeFile(broken, '{"lockVersion": 1, "images": ');
  const replaced = await run(['lock', '--lock', broken]);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.match(replaced.stderr, /broken\.lock is not a lock lading can read \(invalid JSON: [^/]*\): it is replaced by a new one/);
  assert.equal(await readFile(broken, 'utf8'), text);
});

test('unknown packages are reported at the line (of the config or the override) that asked for them, all in one run', async () => {
  // py-app sits below py, which fails too: its own unknown package is named in the same run.
  await writeFile(join(dir, 'site.yaml'), 'images:\n  py:\n    packages: {add: [pyhton3-yaml]}\n  web:\n    packages: {add: [crul]}\naddImages:\n  py-app: {from: py, packages: [pyhton3-requests]}\n');
  const r = await run(['lock', '-o', 'site.yaml']);
  assert.equal(r.code, 1);
  const lines = r.stderr.split('\n');
  assert.equal(lines[0], 'lading: locking family locktest: 3 problems:');
  assert.match(lines[1]!, /^ {2}site\.yaml:3:22 images\.py\.packages\.add\[0\]: unknown package "pyhton3-yaml" \(amd64\): /);
  assert.match(lines[2]!, /^ {2}site\.yaml:5:22 images\.web\.packages\.add\[0\]: unknown package "crul" \(amd64\): /);
  assert.match(lines[3]!, /^ {2}site\.yaml:7:33 addImages\.py-app\.packages\[0\]: unknown package "pyhton3-requests" \(amd64\): /);
});

test('a conflict an override brings in is reported at the override line that added the package', async () => {
  await writeFile(join(dir, 'conflict.yaml'), 'images:\n  web:\n    packages: {add: [lading-nocurl]}\n');
  const r = await run(['lock', '-o', 'conflict.yaml']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /\n {2}conflict\.yaml:3:22 images\.web\.packages: image web: .*lading-nocurl/);
});
