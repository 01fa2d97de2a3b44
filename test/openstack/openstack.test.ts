// The heavy family run (`npm run test:openstack`, not part of `npm test`): examples/openstack
// built from this machine's Debian mirror. Shown here (issue #5 acceptance):
// - two builds into fresh stores give identical digests for every image;
// - a second build into the same store with nothing changed rebuilds nothing, in under 2 s;
// - every image passes validate();
// - the keystone image, unpacked by umoci and run by runc, runs `keystone-manage --version`;
//   `dpkg -l` lists its packages as installed; /lib is still the usr/lib symlink;
// - each image's entrypoint starts its service: horizon serves its login page, the other APIs
//   answer on their ports, the workers log from their own code (config and database from outside);
// - changing one package of openstack-base rebuilds exactly openstack-base and what is below it;
// - a site override adds a package to nova-api and a label to every image, lading.yaml untouched.
// Times and digests are printed. Skipped when the mirror is unreachable or LADING_OFFLINE=1.
// Cold builds take long (tens of minutes on 2 cores); .debs come from the normal apt cache
// (LADING_CACHE, else ~/.cache/lading), so a second run downloads nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { BuildSummary } from '../../src/build/index.js';
import { openLayout } from '../../src/layout/index.js';
import { parseImageConfig, type Manifest } from '../../src/oci/index.js';
import { mapLimit } from '../../src/core/index.js';
import { runInRootfs } from '../../src/runtime/index.js';
import { buildJson, digests, shIn, umociUnpack, validateStored } from '../helpers/build.js';
import { mirrorSkipReason } from '../helpers/mirror.js';

const execFileP = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const IMAGES = ['base', 'openstack-base', 'cinder-api', 'glance-api', 'heat-api', 'horizon', 'keystone', 'neutron-server', 'nova-base', 'placement-api', 'nova-api', 'nova-conductor', 'nova-scheduler'];

let skip: string | false = false;
let work: string;
let cache: string;
let storeA: string;
let storeB: string;
let first: Record<string, string> = {};

function report(title: string, s: BuildSummary): void {
  const rows = [...s.built.map((b) => `  built   ${b.image.padEnd(15)} ${b.digest}  ${(b.durationMs / 1000).toFixed(1)} s (${b.layersFrom ? `config only, on the layers of ${b.layersFrom.slice(0, 19)}` : `scripts ${((b.stages.scripts ?? 0) / 1000).toFixed(1)} s`})`), ...s.reused.map((r) => `  reused  ${r.image.padEnd(15)} ${r.digest}`)];
  console.log(`# ${title}: ${s.built.length} built, ${s.reused.length} reused, ${s.failed.length} failed in ${(s.durationMs / 1000).toFixed(1)} s\n${rows.join('\n')}`);
  // The work directory (and with it every log) is removed after the run: keep the failures' tails.
  for (const f of s.failed) {
    const tail = existsSync(f.log) ? readFileSync(f.log, 'utf8').split('\n').slice(-40).join('\n') : '(no log)';
    console.log(`#   failed  ${f.image} (${f.arch}) ${f.code}: ${f.reason}\n${tail.replace(/^/gm, '#     ')}`);
  }
  for (const k of s.skipped) console.log(`#   skipped ${k.image} (${k.arch}): ${k.reason}`);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-openstack-'));
  storeA = join(work, 'store-a');
  storeB = join(work, 'store-b');
  cache = process.env.LADING_CACHE ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lading');
  if (process.env.LADING_OFFLINE !== '1' && typeof process.getuid === 'function' && process.getuid() !== 0) {
    skip = 'building needs root';
    return;
  }
  skip = await mirrorSkipReason();
  if (skip) return;
  // The family as published, with its lock written by the first build.
  await copyFile(join(root, 'examples/openstack/lading.yaml'), join(work, 'lading.yaml'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('examples/openstack builds; a second build into a fresh store gives identical digests for every image', async (t) => {
  if (skip) return t.skip(skip);
  const a = await buildJson([], { cwd: work, store: storeA, cache });
  report('cold build, store A', a.summary);
  assert.equal(a.code, 0, `${a.stderr}\n${JSON.stringify(a.summary.failed, null, 2)}`);
  assert.deepEqual(a.summary.built.map((b) => b.image).sort(), [...IMAGES].sort());
  first = digests(a.summary);
  const b = await buildJson([], { cwd: work, store: storeB, cache });
  report('cold build, store B', b.summary);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(digests(b.summary), first);
  await rm(storeB, { recursive: true, force: true });
});

test('a second build into the same store with nothing changed rebuilds nothing, in under 2 s', async (t) => {
  if (skip) return t.skip(skip);
  if (!first['keystone amd64']) return t.skip('the first build did not finish');
  const cli = existsSync(join(root, 'dist/cli/index.js')) ? [join(root, 'bin/lading.js')] : ['--import', 'tsx', join(root, 'test/helpers/lading-main.ts')];
  const started = performance.now();
  const { stdout } = await execFileP(process.execPath, [...cli, '--json', '--store', storeA, '--cache', cache, 'build'], { cwd: work, maxBuffer: 1 << 26 });
  const ms = performance.now() - started;
  const s = JSON.parse(stdout) as BuildSummary;
  console.log(`# no-op rebuild: ${s.built.length} built, ${s.reused.length} reused; the whole command took ${(ms / 1000).toFixed(2)} s (library ${(s.durationMs / 1000).toFixed(2)} s)`);
  assert.equal(s.built.length, 0);
  assert.deepEqual(digests(s), first);
  assert.ok(ms < 2000, `the no-op rebuild took ${ms.toFixed(0)} ms`);
});

test('every image passes validate()', async (t) => {
  if (skip) return t.skip(skip);
  if (!first['keystone amd64']) return t.skip('the first build did not finish');
  for (const image of IMAGES) {
    const r = await validateStored(storeA, `${image}:latest`);
    assert.ok(r.ok, `${image}: ${JSON.stringify(r.problems)}`);
  }
});

test('keystone, unpacked by umoci and run by runc: keystone-manage --version, every package installed, /lib is usr/lib', async (t) => {
  if (skip) return t.skip(skip);
  if (!first['keystone amd64']) return t.skip('the first build did not finish');
  const u = await umociUnpack(storeA, 'keystone:latest');
  try {
    assert.equal(await readlink(join(u.rootfs, 'lib')), 'usr/lib');
    const r = await shIn(u.rootfs, "keystone-manage --version; dpkg-query -W -f='${db:Status-Abbrev}\\n' | sort | uniq -c; test -x /usr/bin/uwsgi_python311 && echo uwsgi-ok; id keystone");
    assert.equal(r.exitCode, 0, r.stderrTail);
    console.log(`# keystone image: ${r.stdoutTail.trim().replace(/\n/g, ' | ')}`);
    const lines = r.stdoutTail.trim().split('\n');
    assert.match(lines[0] ?? '', /^\d+\.\d+\.\d+/, 'keystone-manage prints its version');
    const statuses = lines.filter((l) => /^\s*\d+ \S+\s*$/.test(l));
    assert.equal(statuses.length, 1, `only one package state: ${statuses.join(', ')}`);
    assert.match(statuses[0] ?? '', /^\s*\d+ ii\s*$/);
    assert.ok(lines.includes('uwsgi-ok'));
    assert.ok(lines.some((l) => l.startsWith('uid=42425(keystone)')), 'the fixed uid of the family');
  } finally {
    await u.cleanup();
  }
});

test("horizon's entrypoint starts Apache, which serves the dashboard's login page and logs the request to the container's output", async (t) => {
  if (skip) return t.skip(skip);
  if (!first['horizon amd64']) return t.skip('the first build did not finish');
  const u = await umociUnpack(storeA, 'horizon:latest');
  try {
    // The image's own entrypoint + cmd, as umoci put them into the bundle.
    const args = (JSON.parse(await readFile(join(u.rootfs, '..', 'config.json'), 'utf8')) as { process: { args: string[] } }).process.args;
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const probe = `import urllib.request as u; r = u.urlopen(u.Request("http://127.0.0.1/horizon/auth/login/", headers={"Host": "localhost"}), timeout=5); print("status", r.status)`;
    // /run is not a tmpfs here: a container runtime shows the image's /run (and its /run/lock).
    const r = await runInRootfs({
      rootfs: u.rootfs,
      // Apache's access log is the container's output: the request shows there.
      args: ['/bin/sh', '-c', `${quoted} > /tmp/apache.out 2>&1 & for i in $(seq 1 100); do python3 -c '${probe}' 2>/dev/null && sleep 1 && cat /tmp/apache.out && exit 0; sleep 0.3; done; cat /tmp/apache.out; exit 1`],
      tmpfs: ['/tmp'],
      timeoutMs: 120_000,
    });
    assert.equal(r.exitCode, 0, `${args.join(' ')}: ${r.outputTail}`);
    assert.match(r.stdoutTail, /status 200/);
    assert.match(r.stdoutTail, /"GET \/horizon\/auth\/login\/ HTTP\/1\.1" 200 /, `the access log line: ${r.stdoutTail}`);
  } finally {
    await u.cleanup();
  }
});

/**
 * How each service image shows that its entrypoint started the service, as a deployment would
 * run it: config and database come from outside (oslo.config reads OS_<GROUP>__<OPTION>), keys
 * are made by the deployment's bootstrap. An API answers on its port with a status below 500; a
 * worker, or an API whose database sqlite cannot stand in for, prints a log line of its own code
 * (it then stops without its database and message bus).
 */
interface ServiceCheck {
  readonly image: string;
  /** Run first, as the image's user (a deployment's bootstrap). */
  readonly setup?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly http?: { readonly port: number; readonly path?: string };
  /** A line the service's own code logs to the container's output (an extended regular expression for grep). */
  readonly logs?: string;
}
// oslo.log's default format: "2026-11-27 21:40:01.123 7 CRITICAL nova [-] ...".
const oslo = (service: string) => ` [0-9]+ (INFO|WARNING|ERROR|CRITICAL) ${service}[. ]`;
const SERVICES: readonly ServiceCheck[] = [
  // A token request without credentials: 401, and keystone logs the refusal, which must reach the
  // container's output (Debian's keystone.conf had its log in a file).
  { image: 'keystone', setup: 'keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone && keystone-manage credential_setup --keystone-user keystone --keystone-group keystone', http: { port: 5000, path: '/v3/auth/tokens' }, logs: oslo('keystone') },
  { image: 'glance-api', http: { port: 9292 } },
  { image: 'heat-api', http: { port: 8004 } },
  // The schema made before start (sync_on_startup in each uwsgi worker races on one sqlite file).
  { image: 'placement-api', setup: 'placement-manage db sync', env: { OS_PLACEMENT_DATABASE__CONNECTION: 'sqlite:////var/lib/placement/placement.sqlite' }, http: { port: 8778 } },
  { image: 'cinder-api', setup: 'cinder-manage db sync', http: { port: 8776 } },
  // neutron's migrations need MySQL or PostgreSQL (sqlite cannot ALTER constraints): it runs, logs, and stops.
  { image: 'neutron-server', env: { OS_NOVA__AUTH_URL: 'http://localhost:5000' }, logs: oslo('neutron') },
  { image: 'nova-api', logs: oslo('nova') },
  { image: 'nova-conductor', logs: oslo('nova') },
  { image: 'nova-scheduler', logs: oslo('nova') },
];

test("every other service image's entrypoint starts its service: APIs answer on their port, workers log from their own code", async (t) => {
  if (skip) return t.skip(skip);
  if (!first['nova-api amd64']) return t.skip('the first build did not finish');
  const failures: string[] = [];
  await mapLimit(SERVICES, 2, async (svc) => {
    const u = await umociUnpack(storeA, `${svc.image}:latest`);
    try {
      // The image's own entrypoint + cmd, user and environment, as umoci put them into the bundle.
      const bundle = JSON.parse(await readFile(join(u.rootfs, '..', 'config.json'), 'utf8')) as { process: { args: string[]; env: string[]; user: { uid: number; gid: number; additionalGids?: number[] } } };
      const quoted = bundle.process.args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const probe = [
        ...(svc.http
          ? [
              `python3 -c 'import sys, urllib.request as u, urllib.error as e
try: s = u.urlopen("http://127.0.0.1:${svc.http.port}${svc.http.path ?? '/'}", timeout=5).status
except e.HTTPError as x: s = x.code
print("status", s); sys.exit(0 if s < 500 else 1)' 2>/dev/null`,
            ]
          : []),
        ...(svc.logs ? [`grep -Eq '${svc.logs}' /tmp/service.out`] : []),
      ].join(' && ');
      const script = [`${svc.setup ?? 'true'} > /tmp/setup.out 2>&1 || { cat /tmp/setup.out; exit 3; }`, `${quoted} > /tmp/service.out 2>&1 &`, `for i in $(seq 1 90); do ${probe} && exit 0; sleep 1; done`, 'cat /tmp/service.out; exit 1'].join('\n');
      const env = { ...Object.fromEntries(bundle.process.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])), ...svc.env };
      const r = await runInRootfs({ rootfs: u.rootfs, args: ['/bin/sh', '-c', script], user: bundle.process.user, env, tmpfs: ['/tmp'], timeoutMs: 180_000, tailBytes: 1 << 20 });
      const out = `${r.stdoutTail}${r.stderrTail}`;
      const status = [...out.matchAll(/status \d+/g)].at(-1)?.[0];
      console.log(`# ${svc.image}: exit ${r.exitCode}${status ? `, ${status}` : ''}`);
      if (r.exitCode !== 0 || /ModuleNotFoundError|ImportError|PermissionError|Permission denied/.test(out)) {
        // The start (where a failure to load shows) and the end, without uwsgi's request lines.
        const lines = out
          .split('\n')
          .filter((l) => !/^\[pid: \d+\|app: /.test(l))
          .filter((l, i, all) => l !== all[i - 1]);
        failures.push(`${svc.image} (${bundle.process.args.join(' ')}): exit ${r.exitCode}\n${[...lines.slice(0, 30), '...', ...lines.slice(-15)].join('\n')}`);
      }
    } finally {
      await u.cleanup();
    }
  });
  assert.deepEqual(failures, []);
});

test('changing one package of openstack-base rebuilds exactly openstack-base and the images below it', async (t) => {
  if (skip) return t.skip(skip);
  if (!first['keystone amd64']) return t.skip('the first build did not finish');
  await writeFile(join(work, 'site.yaml'), ['images:', '  openstack-base:', '    packages: {add: [python3-toml]}', ''].join('\n'));
  const r = await buildJson(['-o', 'site.yaml', '--lock', 'site.lock'], { cwd: work, store: storeA, cache });
  report('openstack-base changed', r.summary);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.summary.reused.map((x) => x.image), ['base']);
  assert.deepEqual(r.summary.built.map((x) => x.image).sort(), IMAGES.filter((i) => i !== 'base').sort());
  assert.equal(digests(r.summary)['base amd64'], first['base amd64']);
  for (const i of IMAGES.filter((x) => x !== 'base')) assert.notEqual(digests(r.summary)[`${i} amd64`], first[`${i} amd64`], i);
});

test('a site override adds a package to nova-api and a label to every image without editing lading.yaml', async (t) => {
  if (skip) return t.skip(skip);
  if (!first['keystone amd64']) return t.skip('the first build did not finish');
  const config = await readFile(join(work, 'lading.yaml'), 'utf8');
  await writeFile(join(work, 'site2.yaml'), ['images:', '  nova-api:', '    packages: {add: [python3-toml]}', 'allImages:', '  labels: {com.example.site: lab}', ''].join('\n'));
  const r = await buildJson(['-o', 'site2.yaml', '--lock', 'site2.lock'], { cwd: work, store: storeA, cache });
  report('site override (nova-api package, label on every image)', r.summary);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(join(work, 'lading.yaml'), 'utf8'), config);
  const layout = await openLayout({ path: storeA });
  for (const image of IMAGES) {
    const m = (await layout.getManifest(`${image}:latest`))!.value as Manifest;
    const cfg = parseImageConfig(await layout.readBlob(m.config)).value;
    assert.equal(cfg.config?.Labels?.['com.example.site'], 'lab', image);
  }
  const u = await umociUnpack(storeA, 'nova-api:latest');
  try {
    const q = await shIn(u.rootfs, "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' python3-toml");
    assert.match(q.stdoutTail, /^ii\s+python3-toml/);
  } finally {
    await u.cleanup();
  }
});

