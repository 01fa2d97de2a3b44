import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError } from '../errors.js';
import { loadFamily, parseFamily, type ConfigText, type ParseFamilyOptions } from './load.js';
import { formatProblem } from './problems.js';
import { describeFamily, selectImages } from './select.js';
import type { FamilyConfig } from './types.js';
import { toAptSources } from './normalise.js';

const testdata = fileURLToPath(new URL('../testdata/', import.meta.url));

/** A minimal valid family with extra YAML appended under `images:`. */
function family(images: string, extra = ''): ConfigText {
  return { file: 'lading.yaml', text: `project:\n  name: t\narchitectures: [amd64, arm64]\n${extra}images:\n${images}` };
}

function problems(config: ConfigText, overrides: ConfigText[] = [], context?: ParseFamilyOptions['context']): string[] {
  return parseFamily({ config, overrides, hostArchitecture: 'amd64', ...(context ? { context } : {}) }).problems.map(formatProblem);
}

function ok(config: ConfigText, overrides: ConfigText[] = []): FamilyConfig {
  const r = parseFamily({ config, overrides, hostArchitecture: 'amd64' });
  assert.deepEqual(r.problems.filter((p) => p.severity === 'error').map(formatProblem), []);
  assert.ok(r.family);
  return r.family;
}

test('the example family normalises: order, ancestors, packages per arch, inheritance, volatile labels', async () => {
  const { family: f, warnings } = await loadFamily({ configPath: 'lading.yaml', cwd: `${testdata}family`, hostArchitecture: 'amd64' });
  assert.deepEqual(warnings, []);
  assert.deepEqual(f.order, ['base', 'tools', 'app-base', 'web', 'worker']);
  assert.deepEqual(f.architectures, ['amd64', 'arm64']);
  assert.deepEqual(f.sources, {
    kind: 'inline',
    entries: [{ format: 'one-line', line: 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.example.org/debian bookworm main' }],
  });
  const base = f.images.base!;
  const appBase = f.images['app-base']!;
  const web = f.images.web!;
  assert.equal(base.essential, true);
  assert.equal(appBase.essential, false);
  assert.deepEqual(appBase.packages, { amd64: ['libjemalloc2', 'python3', 'python3-yaml'], arm64: ['python3', 'python3-yaml'] });
  assert.deepEqual(web.ancestors, ['app-base', 'base']);
  assert.deepEqual(appBase.children, ['web', 'worker']);
  assert.deepEqual(f.images.tools!.from, {
    kind: 'external',
    reference: 'docker.io/library/debian:bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000001',
    registry: 'docker.io',
    repository: 'library/debian',
    tag: 'bookworm',
    digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000001',
  });
  assert.deepEqual(f.images.tools!.architectures, ['amd64']);
  // Modes: quoted octal string and YAML 1.2 octal both mean 0o7xx.
  assert.equal(appBase.files[0]!.mode, 0o755);
  assert.deepEqual(appBase.directories, [{ path: '/var/lib/app', mode: 0o750, owner: { user: 'app', group: 'app' } }]);
  assert.deepEqual(appBase.groups, [{ name: 'app', gid: 900, system: true, implicit: false }]);
  assert.deepEqual(appBase.users, [{ name: 'app', uid: 900, gid: 900, groups: [], home: '/nonexistent', shell: '/usr/sbin/nologin', system: true, comment: '' }]);
  // Inheritance: env and labels from base, entrypoint from app-base, own cmd.
  assert.deepEqual(web.effective.env, { LANG: 'C.UTF-8' });
  assert.deepEqual(web.effective.entrypoint, ['/usr/local/bin/entry.sh']);
  assert.deepEqual(web.effective.cmd, ['nginx', '-g', 'daemon off;']);
  assert.deepEqual(web.effective.labels, { 'org.example.tier': 'base' });
  assert.deepEqual(web.volatile.labels, { 'org.example.build-url': 'https://ci.example.org/1' });
  assert.deepEqual(web.effective.healthcheck, { test: ['CMD', 'curl', '-f', 'http://localhost:8080/'], intervalSeconds: 30, retries: 3 });
  assert.deepEqual(web.effective.ports, ['8080/tcp']);
  assert.deepEqual(web.run.map((s) => [s.name, s.timeoutSeconds, s.network]), [
    ['compile', 600, false],
    ['smoke', 60, false],
  ]);
  assert.deepEqual(f.images.worker!.effective.stopSignal, 'SIGQUIT');
  assert.deepEqual(f.profiles, { apps: ['web', 'worker'], web: ['web'] });
});

test('every validation problem at once, each with file:line:col and field path', async () => {
  const err = await loadFamily({ configPath: 'lading.yaml', cwd: `${testdata}invalid`, hostArchitecture: 'amd64' }).then(
    () => assert.fail('expected CONFIG_INVALID'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BuildError);
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.deepEqual(err.problems.map(formatProblem), [
    'lading.yaml:3:3 project.vendr: unknown key "vendr" (did you mean "vendor"?)',
    'lading.yaml:4:24 architectures[1]: expected one of amd64, arm64, armel, armhf, i386, mips64el, ppc64el, riscv64, s390x, got the string "arm46" (did you mean "arm64"?)',
    'lading.yaml:11:17 images.nova-base.users[1].name: user nova is already defined by users[0] (lading.yaml:10)',
    'lading.yaml:12:33 images.nova-base.users[2].uid: uid 64060 is already used by user nova',
    'lading.yaml:14:11 images.nova-api.from: unknown image "nova-bse" (did you mean "nova-base"?)',
    'lading.yaml:16:11 images.loop-a.from: cycle: loop-a -> loop-b -> loop-c -> loop-a (each image is built FROM the next)',
    'lading.yaml:22:11 images.external.from: external image "docker.io/library/debian:bookworm" is not pinned: add its digest (docker.io/library/debian:bookworm@sha256:...; a tag may stay next to the digest)',
    'lading.yaml:25:18 images.files.noEssential: noEssential applies only to images built from scratch (files is built from nova-base)',
    'lading.yaml:27:16 images.files.files[0].src: "../secret" is outside the build context (use a path relative to the context, without "..")',
    'lading.yaml:28:54 images.files.files[1].mode: unquoted mode 755 is ambiguous (YAML 1.2 reads it as the decimal number 755, chmod as octal): write "0755" (quoted) or 0o755',
    'lading.yaml:29:35 images.files.files[2].dest: /etc/a.conf is already written by files[1].dest (lading.yaml:28)',
    'lading.yaml:30:16 images.files.files[3].src: "missing.conf" does not exist in the build context',
    'lading.yaml:32:17 images.files.directories[0].path: "relative/dir" must be an absolute path in the image',
    'lading.yaml:34:7 images.files.labels["org.opencontainers.image.created"]: "org.opencontainers.image.created" is reserved: lading sets created, base.name, base.digest and ref.name itself; a config may set org.opencontainers.image.{title,description,version,url,documentation,source,revision,vendor,licenses,authors}',
    'lading.yaml:35:7 images.files.labels["dev.lading.support.status"]: "dev.lading.support.status": keys under dev.lading. are set by lading (from project metadata and the image definition)',
    'lading.yaml:39:17 images.files.run[1].name: run step "a" is already defined at run[0] (lading.yaml:38)',
    'lading.yaml:40:9 images.files.run[2]: run step "b" needs exactly one of script and args',
    'lading.yaml:41:5 images.files.entrypont: unknown key "entrypont" (did you mean "entrypoint"?)',
    'lading.yaml:43:9 profiles.api[0]: unknown image "nova-apx" (did you mean "nova-api"?)',
  ]);
  assert.equal(new Set(err.problems.map((p) => p.code)).size, 14);
  assert.match(err.message, /^lading.yaml: 19 problems:\n {2}lading.yaml:3:3 project.vendr/);
  // A missing files: source comes with where sources are looked for.
  assert.equal(err.hint, 'files: sources, an override\'s too, are read from the build context ., the directory of the config; --context names another');
});

test('apt sources are checked by the debian module\'s parsers, each problem at its entry', () => {
  const sources = ['sources:', '  - "deb ftp://x/ bookworm main"', '  - "nonsense"', '  - {uris: [http://x/], suites: [bookworm]}', '  - deb [signed-by=/k.gpg] http://x/ bookworm main', ''].join('\n');
  assert.deepEqual(problems({ file: 'lading.yaml', text: `project: {name: t}\n${sources}images: {a: {from: scratch}}\n` }), [
    'lading.yaml:3:5 sources[0]: no usable source: skipping ftp://x/: only http, https and file URIs are supported',
    'lading.yaml:4:5 sources[1]: unknown type "nonsense" (want deb or deb-src)',
    'lading.yaml:5:5 sources[2]: http://x/ bookworm: no components',
  ]);
});

test('apt sources of lading.yaml are one list, as apt reads it: conflicting trust is refused naming both entries; what apt ignores is a warning', () => {
  const text = (lines: string[]) => `project: {name: t}\nsources:\n${lines.map((l) => `  - ${l}\n`).join('')}images: {a: {from: scratch}}\n`;
  assert.deepEqual(problems({ file: 'lading.yaml', text: text(['"deb [trusted=yes] http://b.example/debian bookworm main"', '"deb http://b.example/debian bookworm contrib"']) }), [
    'lading.yaml:3:3 sources: sources[1] (lading.yaml:4): http://b.example/debian/ bookworm: Trusted is not set here but yes at sources[0] (lading.yaml:3); apt refuses the whole sources list ("Conflicting values set for option Trusted")',
  ]);
  const warned = parseFamily({ config: { file: 'lading.yaml', text: text(['"deb [TRUSTED=yes] http://b.example/debian bookworm main"', '"deb http://b.example/debian bookworm main"']) }, hostArchitecture: 'amd64' });
  assert.ok(warned.family, warned.problems.map(formatProblem).join('\n'));
  assert.deepEqual(warned.problems.map((p) => `${p.severity} ${formatProblem(p)}`), [
    "warning lading.yaml:3:3 sources: warning: sources[1] (lading.yaml:4): http://b.example/debian/ bookworm main is configured multiple times (first at sources[0] (lading.yaml:3)); using it once",
    "warning lading.yaml:3:5 sources[0]: warning: ignoring option TRUSTED=: apt's option names are case-sensitive (write trusted=); apt ignores it too",
  ]);
  assert.equal(warned.family.sources.kind === 'inline' && toAptSources(warned.family.sources.entries, 'lading.yaml').length, 1);
  assert.equal(warned.family.sources.kind === 'inline' && toAptSources(warned.family.sources.entries, 'lading.yaml')[0]?.trusted, false);
});

test('YAML syntax problems are located, and the rest of the file is still checked', () => {
  assert.deepEqual(problems(family('  a:\n    from: scratch\n  a:\n    from: scratch\n')), ['lading.yaml:7:3 images.a: duplicate key (each key may appear once in a map)']);
  const p = problems({ file: 'lading.yaml', text: 'project:\n  name: t\n images: [\n' });
  assert.ok(p.length >= 1 && p.every((l) => /^lading\.yaml:\d+:\d+ /.test(l)), p.join('\n'));
  assert.deepEqual(problems({ file: 'lading.yaml', text: '' }), ['lading.yaml:1:1 (document): the file is empty (a family needs project: and images:)']);
  assert.deepEqual(problems({ file: 'lading.yaml', text: 'project: {name: t}\nimages:\n  a: {from: scratch, env: *nope}\n' }).length > 0, true);
});

test('type problems name what was found, and unions narrow to the branch that fits', () => {
  assert.deepEqual(
    problems(
      family(
        [
          '  a:',
          '    from: scratch',
          '    packages: {amd64: [Bad_Name], sparc: [x]}',
          '    ports: [70000, "80/xyz"]',
          '    env: [A]',
          '    healthcheck: {interval: 5}',
          '    run:',
          '      - {name: s, script: 3, timeout: soon}',
          '',
        ].join('\n'),
      ),
    ),
    [
      'lading.yaml:7:24 images.a.packages.amd64[0]: expected a Debian package name (lower case, digits, + - .), optionally with :ARCH (a Debian architecture, any or native), got the string "Bad_Name"',
      'lading.yaml:7:35 images.a.packages.sparc: unknown key "sparc"',
      'lading.yaml:8:13 images.a.ports[0]: must be at most 65535, got the number 70000',
      'lading.yaml:8:20 images.a.ports[1]: expected a port number or "PORT/tcp", "PORT/udp", "PORT/sctp", got the string "80/xyz"',
      'lading.yaml:9:10 images.a.env: expected a map, got a list',
      'lading.yaml:10:18 images.a.healthcheck.test: required field is missing',
      'lading.yaml:12:27 images.a.run[0].script: expected a string, got the number 3',
      'lading.yaml:12:39 images.a.run[0].timeout: expected seconds (an integer) or a duration such as "90s", "10m", "1h30m", got the string "soon"',
    ],
  );
  assert.deepEqual(problems({ file: 'lading.yaml', text: 'project: {}\nimages: {a: {}}\n' }), [
    'lading.yaml:1:10 project.name: required field is missing',
    'lading.yaml:2:13 images.a.from: required field is missing',
  ]);
});

test('modes: "0755" and 0o755 are accepted, unquoted numbers are ambiguous, bad digits refused', () => {
  const f = ok(family('  a:\n    from: scratch\n    directories:\n      - {path: /a, mode: "0755"}\n      - {path: /b, mode: 0o700}\n      - {path: /c, mode: "644"}\n      - {path: /d}\n'));
  assert.deepEqual(
    f.images.a!.directories.map((d) => [d.path, d.mode.toString(8)]),
    [
      ['/a', '755'],
      ['/b', '700'],
      ['/c', '644'],
      ['/d', '755'],
    ],
  );
  assert.deepEqual(problems(family('  a:\n    from: scratch\n    directories:\n      - {path: /a, mode: 0755}\n      - {path: /b, mode: "0999"}\n')), [
    'lading.yaml:8:26 images.a.directories[0].mode: unquoted mode 755 is ambiguous (YAML 1.2 reads it as the decimal number 755, chmod as octal): write "0755" (quoted) or 0o755',
    'lading.yaml:9:26 images.a.directories[1].mode: expected a quoted octal mode such as "0755", or 0o755, got the string "0999"',
  ]);
});

test('aliases that multiply and very deep nesting are refused, quickly, with a position', () => {
  const bomb = ['a: &a [l, l, l, l, l, l, l, l, l]'];
  for (const [n, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f'], ['h', 'g']] as const) bomb.push(`${n}: &${n} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  const started = Date.now();
  const p = problems({ file: 'lading.yaml', text: `${bomb.join('\n')}\nproject: {name: t}\nimages: {a: {from: scratch, cmd: *h}}\n` });
  assert.ok(Date.now() - started < 10_000);
  // One problem: the fragment read before the cap would give false ones (missing fields, unknown keys).
  assert.equal(p.length, 1, p.join('\n'));
  assert.match(p[0] ?? '', /^lading\.yaml:\d+:\d+ .*more than 100000 values once aliases are expanded \(aliases that repeat aliases multiply\): the file is not read further$/);
  // A file that large without aliases is just too large, and said so.
  const big = problems({ file: 'lading.yaml', text: `project: {name: t}\nimages:\n  a:\n    from: scratch\n    cmd: [${Array(100_001).fill('x').join(', ')}]\n` });
  assert.deepEqual(big.map((l) => l.replace(/^lading\.yaml:\d+:\d+ /, '')), ['images.a.cmd[99993]: more than 100000 values: the file is too large for a config and is not read further']);
  const deep = problems({ file: 'lading.yaml', text: `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n` });
  assert.ok(deep.some((l) => l.includes('nested too deeply to parse')), deep.join('\n'));
  assert.ok(!deep.some((l) => /call stack/i.test(l)), deep.join('\n'));
});

test('durations from 1s to 168h, user specs, signal names, the root directory as a destination', () => {
  assert.deepEqual(
    problems(
      family(
        [
          '  a:',
          '    from: scratch',
          '    user: "a:b:c"',
          '    stopSignal: SIGFOO',
          '    files: [{src: x, dest: /}]',
          '    symlinks: [{path: /, target: /x}]',
          '    run:',
          '      - {name: zero, script: "true", timeout: 0s}',
          '      - {name: long, script: "true", timeout: 1000h, user: "u:g:h"}',
          '      - {name: fine, script: "true", timeout: 168h, user: "1000:1000"}',
          '',
        ].join('\n'),
      ),
      [],
      (src) => (src === 'x' ? 'file' : 'missing'),
    ),
    [
      'lading.yaml:7:11 images.a.user: expected a user name or uid, optionally with ":group" or ":gid", got the string "a:b:c"',
      'lading.yaml:8:17 images.a.stopSignal: expected a Linux signal name such as SIGTERM or SIGRTMIN+3, or a number from 1 to 64, got the string "SIGFOO"',
      'lading.yaml:9:28 images.a.files[0].dest: a file cannot replace the root directory: name it, e.g. "/x"',
      'lading.yaml:10:23 images.a.symlinks[0].path: a symlink cannot replace the root directory',
      'lading.yaml:12:47 images.a.run[0].timeout: expected a duration from 1s to 168h (7 days), got the string "0s"',
      'lading.yaml:13:47 images.a.run[1].timeout: expected a duration from 1s to 168h (7 days), got the string "1000h"',
      'lading.yaml:13:60 images.a.run[1].user: expected a user name or uid, optionally with ":group" or ":gid", got the string "u:g:h"',
    ],
  );
  assert.deepEqual(problems({ file: 'lading.yaml', text: 'format: "1"\nproject: {name: t}\nimages: {a: {from: scratch}}\n' }), ['lading.yaml:1:9 format: expected 1, got the string "1"']);
  assert.deepEqual(problems({ file: 'lading.yaml', text: 'project: {name: t}\nprofiles: {"Bad Profile": [a]}\nimages: {a: {from: scratch}}\n' }), [
    'lading.yaml:2:12 profiles["Bad Profile"]: invalid name "Bad Profile": expected letters, digits, . _ - (starting with a letter or digit)',
  ]);
  assert.deepEqual(problems(family('  a:\n    from: scratch\n    directories: [{path: /a, mode: 493}]\n')), [
    'lading.yaml:7:36 images.a.directories[0].mode: unquoted mode 493 is ambiguous (YAML 1.2 reads it as the decimal number 493, chmod as octal): write the mode in octal, quoted ("0755") or as 0o755',
  ]);
});

test('graph problems: self-cycle, architectures not in the parent, duplicate gid, user-private groups', () => {
  assert.deepEqual(problems(family('  a:\n    from: a\n')), ['lading.yaml:6:11 images.a.from: cycle: a -> a (an image cannot be built FROM itself)']);
  assert.deepEqual(problems(family('  a:\n    from: scratch\n    architectures: [amd64]\n  b:\n    from: a\n    architectures: [arm64]\n')), [
    'lading.yaml:10:21 images.b.architectures[0]: parent a is not built for arm64 (it is built for amd64)',
  ]);
  assert.deepEqual(problems(family('  a:\n    from: scratch\n    groups: [{name: g, gid: 10}]\n  b:\n    from: a\n    groups: [{name: h, gid: 10}]\n')), [
    'lading.yaml:10:29 images.b.groups[0].gid: gid 10 is already used by group g of image a',
  ]);
  const f = ok(family('  a:\n    from: scratch\n    users: [{name: svc, uid: 500, system: false}]\n'));
  assert.deepEqual(f.images.a!.groups, [{ name: 'svc', gid: 500, system: false, implicit: true }]);
  assert.equal(f.images.a!.users[0]!.home, '/home/svc');
});

test('entrypoint clears an inherited cmd; null clears an inherited value', () => {
  const f = ok(
    family(
      [
        '  a: {from: scratch, entrypoint: [/e], cmd: [c], healthcheck: {test: "true"}, workdir: /w}',
        '  b: {from: a, entrypoint: [/f]}',
        '  c: {from: a, cmd: null, healthcheck: null}',
        '  d: {from: a, entrypoint: null}',
        '',
      ].join('\n'),
    ),
  );
  assert.deepEqual(f.images.b!.effective.entrypoint, ['/f']);
  assert.equal(f.images.b!.effective.cmd, undefined);
  assert.equal(f.images.c!.effective.cmd, undefined);
  assert.equal(f.images.c!.effective.healthcheck, undefined);
  assert.deepEqual(f.images.c!.effective.entrypoint, ['/e']);
  assert.equal(f.images.d!.effective.entrypoint, undefined);
  assert.equal(f.images.d!.effective.workdir, '/w');
  assert.deepEqual(f.images.a!.effective.healthcheck, { test: ['CMD-SHELL', 'true'] });
});

const openstackLike = family(
  [
    '  base: {from: scratch, packages: [ca-certificates], labels: {org.example.tier: base}}',
    '  openstack-base: {from: base, packages: [python3-openstackclient]}',
    '  nova-base: {from: openstack-base, packages: {all: [python3-nova], amd64: [qemu-utils]}}',
    '  nova-api:',
    '    from: nova-base',
    '    packages: [nova-api]',
    '    run:',
    '      - {name: configure, script: "nova-manage --version"}',
    '      - {name: cleanup, script: "rm -rf /var/cache/nova"}',
    '  nova-conductor: {from: nova-base, packages: [nova-conductor]}',
    '  keystone: {from: openstack-base, packages: [keystone]}',
    '',
  ].join('\n'),
  'profiles:\n  nova: ["nova-*"]\n  identity: [keystone]\n',
);

test('a site override adds a package to one image and a label to every image, without editing lading.yaml', () => {
  const site: ConfigText = {
    file: 'site.yaml',
    text: ['allImages:', '  labels:', '    com.example.site: prod', 'images:', '  nova-api:', '    packages:', '      add: [python3-nova-site-plugin]', ''].join('\n'),
  };
  const f = ok(openstackLike, [site]);
  assert.deepEqual(f.images['nova-api']!.packages.amd64, ['nova-api', 'python3-nova-site-plugin']);
  for (const name of f.order) assert.equal(f.images[name]!.effective.labels['com.example.site'], 'prod', name);
  assert.equal(f.images.keystone!.effective.labels['org.example.tier'], 'base');
  assert.deepEqual(f.origin, { config: 'lading.yaml', overrides: ['site.yaml'] });
});

test('overrides: remove packages (all or one arch), edit run steps by name, null removes a label, add images', () => {
  const site: ConfigText = {
    file: 'site.yaml',
    text: [
      'project: {vendor: ACME, support: {status: best-effort}}',
      'profiles: {identity: null, api: [nova-api]}',
      'images:',
      '  nova-base:',
      '    packages: {remove: {amd64: [python3-nova, qemu-utils]}}',
      '  base:',
      '    labels: {org.example.tier: null}',
      '  nova-api:',
      '    run:',
      '      remove: [cleanup]',
      '      replace: [{name: configure, script: "nova-manage --help"}]',
      '      add:',
      '        - {name: first, script: "true", before: configure}',
      '        - {name: last, args: ["true"]}',
      'addImages:',
      '  nova-api-site: {from: nova-api, labels: {com.example.extra: "1"}}',
      '',
    ].join('\n'),
  };
  const f = ok(openstackLike, [site]);
  assert.deepEqual(f.images['nova-base']!.packages, { amd64: [], arm64: ['python3-nova'] });
  assert.deepEqual(f.images.base!.effective.labels, {});
  assert.deepEqual(
    f.images['nova-api']!.run.map((s) => [s.name, s.script ?? s.args]),
    [
      ['first', 'true'],
      ['configure', 'nova-manage --help'],
      ['last', ['true']],
    ],
  );
  assert.deepEqual(f.images['nova-api-site']!.ancestors, ['nova-api', 'nova-base', 'openstack-base', 'base']);
  assert.equal(f.project.vendor, 'ACME');
  assert.deepEqual(f.project.support, { status: 'best-effort' });
  assert.deepEqual(f.profiles, { api: ['nova-api'], nova: ['nova-api', 'nova-api-site', 'nova-base', 'nova-conductor'] });
});

test('override problems point at the override file and line, with suggestions', () => {
  const site: ConfigText = {
    file: 'site.yaml',
    text: [
      'images:',
      '  nova-apu:',
      '    labels: {a: b}',
      '  nova-api:',
      '    run:',
      '      remove: [cleanp]',
      '      add: [{name: x, script: "true", after: confgure}]',
      '    packages: {remove: [keystone]}',
      '    files:',
      '      add: [{src: ../x, dest: /x}]',
      '    colour: blue',
      '    labels: {nolabel: null}',
      'allImages:',
      '  labels: {dev.lading.owner.team: x}',
      '  env: {NOPE: null}',
      '',
    ].join('\n'),
  };
  assert.deepEqual(problems(openstackLike, [site]), [
    'site.yaml:2:3 images.nova-apu: unknown image "nova-apu" (did you mean "nova-api"?); new images go under addImages:',
    'site.yaml:6:16 images.nova-api.run.remove[0]: no run step "cleanp" in image nova-api (did you mean "cleanup"?)',
    'site.yaml:7:46 images.nova-api.run.add[0].after: no run step "confgure" in image nova-api (did you mean "configure"?)',
    'site.yaml:8:25 images.nova-api.packages.remove[0]: warning: package "keystone" is not in image nova-api\'s own list (an ancestor\'s packages are removed in that ancestor)',
    // Paths as written in the override, not the merged list's index.
    'site.yaml:10:19 images.nova-api.files.add[0].src: "../x" is outside the build context (use a path relative to the context, without "..")',
    'site.yaml:11:5 images.nova-api.colour: unknown key "colour"',
    // Removing a key the image does not set is a warning, as for ports and volumes (a typo would
    // otherwise go unnoticed).
    'site.yaml:12:23 images.nova-api.labels.nolabel: warning: image nova-api sets no label "nolabel": nothing to remove (an inherited one is removed on the image that sets it)',
    // The reserved label is reported once, at the override line that sets it for every image.
    'site.yaml:14:12 allImages.labels["dev.lading.owner.team"]: "dev.lading.owner.team": keys under dev.lading. are set by lading (from project metadata and the image definition)',
    'site.yaml:15:15 allImages.env.NOPE: warning: no image sets env variable "NOPE": nothing to remove',
  ]);
});

test('after an override removes or replaces entries, a problem names the entry as written in its own file', () => {
  const base = family(
    ['  a:', '    from: scratch', '    files:', '      - {src: f, dest: /etc/a}', '      - {src: f, dest: /tmp/bad}', '    run:', '      - {name: one, script: "true"}', '      - {name: two, script: "true", workdir: rel}', ''].join('\n'),
  );
  const site: ConfigText = { file: 'site.yaml', text: 'images:\n  a:\n    files: {remove: [/etc/a]}\n    run:\n      add: [{name: zero, script: "true", before: one}]\n' };
  assert.deepEqual(problems(base, [site], () => 'file'), [
    'lading.yaml:9:24 images.a.files[1].dest: /tmp/bad is in /tmp, which every build empties at the end (it belongs to the running container): create it when the container starts, or declare a volume',
    'lading.yaml:12:46 images.a.run[1].workdir: "rel" must be an absolute path in the image',
  ]);
});

test('profiles and image names select images with their ancestors, in build order', () => {
  const f = ok(openstackLike);
  assert.deepEqual(selectImages(f, { profiles: ['identity'] }), ['base', 'openstack-base', 'keystone']);
  assert.deepEqual(selectImages(f, { images: ['nova-api'] }), ['base', 'openstack-base', 'nova-base', 'nova-api']);
  assert.deepEqual(selectImages(f, { images: ['nova-c*'], profiles: ['identity'] }), ['base', 'openstack-base', 'keystone', 'nova-base', 'nova-conductor']);
  assert.deepEqual(selectImages(f), f.order);
  assert.throws(() => selectImages(f, { images: ['nova-apx'] }), { code: 'UNKNOWN_IMAGE', message: 'image "nova-apx" is not in family t (did you mean "nova-api"?)' });
  assert.throws(() => selectImages(f, { profiles: ['idnetity'] }), { code: 'UNKNOWN_PROFILE', message: 'profile "idnetity" is not defined (did you mean "identity"?)' });
});

test('describeFamily lists parents, children, profiles and what each image inherits', () => {
  const s = describeFamily(ok(openstackLike));
  const api = s.images.find((i) => i.name === 'nova-api')!;
  assert.deepEqual(api.ancestors, ['nova-base', 'openstack-base', 'base']);
  assert.deepEqual(api.profiles, ['nova']);
  assert.deepEqual(api.inheritedPackages, { amd64: ['ca-certificates', 'python3-nova', 'python3-openstackclient', 'qemu-utils'], arm64: ['ca-certificates', 'python3-nova', 'python3-openstackclient'] });
  assert.deepEqual(api.inherits, ['labels.org.example.tier']);
  assert.deepEqual(s.images.find((i) => i.name === 'openstack-base')!.descendants, ['keystone', 'nova-api', 'nova-base', 'nova-conductor']);
});

test('imageMetadata: project fields as OCI keys, owner and support as dev.lading keys, own values on top', async () => {
  const { imageMetadata } = await import('./metadata.js');
  const { family: f } = await loadFamily({ configPath: 'lading.yaml', cwd: `${testdata}family`, hostArchitecture: 'amd64' });
  const m = imageMetadata(f, f.images.web!);
  assert.deepEqual(m.annotations, {
    'dev.lading.family': 'demo',
    'dev.lading.image': 'web',
    'dev.lading.owner.contact': 'platform@example.org',
    'dev.lading.owner.team': 'platform',
    'dev.lading.support.contact': 'https://example.org/support',
    'dev.lading.support.status': 'supported',
    'dev.lading.support.until': '2027-06-30',
    'org.opencontainers.image.authors': 'images@example.org',
    'org.opencontainers.image.description': 'The web front end',
    'org.opencontainers.image.licenses': 'Apache-2.0',
    'org.opencontainers.image.source': 'https://git.example.org/demo-images',
    'org.opencontainers.image.title': 'web',
    'org.opencontainers.image.vendor': 'Example Org',
  });
  assert.equal(m.labels['org.example.tier'], 'base');
  assert.equal(m.labels['dev.lading.healthcheck'], '{"test":["CMD","curl","-f","http://localhost:8080/"],"intervalSeconds":30,"retries":3}');
  assert.equal(m.labels['org.example.build-url'], undefined);
});

test('overrides: value lists (ports, volumes), keyed lists (users, files) and set', () => {
  const base = family(
    [
      '  a:',
      '    from: scratch',
      '    ports: [80, "53/udp"]',
      '    volumes: [/data]',
      '    users: [{name: u1, uid: 1001}, {name: u2, uid: 1002}]',
      '    directories: [{path: /x}, {path: /y}]',
      '    run: [{name: one, script: "true"}]',
      '',
    ].join('\n'),
  );
  const site: ConfigText = {
    file: 'site.yaml',
    text: [
      'images:',
      '  a:',
      '    ports: {remove: ["80/tcp"], add: [8080]}',
      '    volumes: {set: [/srv]}',
      '    users: {remove: [u1], replace: [{name: u2, uid: 2002}], add: [{name: u3, uid: 1003}]}',
      '    directories: {remove: [/x/]}',
      '    run: {add: [{name: one, script: "false"}]}',
      '',
    ].join('\n'),
  };
  assert.deepEqual(problems(base, [site]), ['site.yaml:7:24 images.a.run.add[0].name: image a already has run step "one"; use replace:']);
  const f = ok(base, [{ file: 'site.yaml', text: site.text.replace(/ {4}run: .*\n/, '') }]);
  const a = f.images.a!;
  assert.deepEqual(a.own.ports, ['53/udp', '8080/tcp']);
  assert.deepEqual(a.own.volumes, ['/srv']);
  assert.deepEqual(
    a.users.map((u) => `${u.name}:${u.uid}`),
    ['u3:1003', 'u2:2002'],
  );
  assert.deepEqual(
    a.directories.map((d) => d.path),
    ['/y'],
  );
});

test('a failed load names the files that hold the problems: an override alone when only it is wrong', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lading-override-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'site.yaml'), 'images:\n  web:\n    labels: {a: [1]}\n    packages: {remove: [not-listed]}\n');
  await assert.rejects(loadFamily({ configPath: 'lading.yaml', cwd: `${testdata}family`, overrides: [join(dir, 'site.yaml')], hostArchitecture: 'amd64' }), (err: unknown) => {
    assert.ok(err instanceof BuildError && err.code === 'CONFIG_INVALID');
    assert.match(err.message, /^\S*site\.yaml: 1 problem \(and 1 warning\):\n.*\n.*warning: /);
    return true;
  });
});

test('stopSignal takes a name or a number from 1 to 64, as documented', () => {
  const f = ok(family(['  a:', '    from: scratch', '    stopSignal: 15', '  b:', '    from: scratch', '    stopSignal: SIGRTMIN+3', ''].join('\n')));
  assert.equal(f.images.a!.effective.stopSignal, '15');
  assert.equal(f.images.b!.effective.stopSignal, 'SIGRTMIN+3');
  assert.deepEqual(problems(family(['  a:', '    from: scratch', '    stopSignal: 65', ''].join('\n'))), [
    'lading.yaml:7:17 images.a.stopSignal: must be at most 64, got the number 65',
  ]);
});

test('a package may name an architecture, any or native after a colon; anything else is refused', () => {
  assert.deepEqual(problems(family(['  a:', '    from: scratch', '    packages: [media-types:arm64, python3:any, media-types:foo]', ''].join('\n'))), [
    'lading.yaml:7:48 images.a.packages[2]: expected a Debian package name (lower case, digits, + - .), optionally with :ARCH (a Debian architecture, any or native), got the string "media-types:foo"',
  ]);
});

test('files, directories and symlinks in directories every build empties are refused; the directories themselves are fine', () => {
  assert.deepEqual(
    problems(family(['  a:', '    from: scratch', '    directories: [{path: /run/app}, {path: /tmp, mode: "1777"}]', '    symlinks: [{path: /var/run/x.pid, target: /dev/null}, {path: /var/lock/l, target: x}]', ''].join('\n'))),
    [
      'lading.yaml:7:26 images.a.directories[0].path: /run/app is in /run, which every build empties at the end (it belongs to the running container): create it when the container starts, or declare a volume',
      'lading.yaml:8:23 images.a.symlinks[0].path: /var/run/x.pid is in /var/run, which every build empties at the end (it belongs to the running container): create it when the container starts, or declare a volume',
      'lading.yaml:8:66 images.a.symlinks[1].path: /var/lock/l is in /var/lock, which every build empties at the end (it belongs to the running container): create it when the container starts, or declare a volume',
    ],
  );
});

test('a number YAML reads differently from how it was written gets a warning; the value is what YAML read', () => {
  const r = parseFamily({
    config: family(['  a:', '    from: scratch', '    env: {PY: 3.10, PORT: 8080, Q: "3.10", E: 1e3}', '    labels: {v: 1.0, o: 0o17}', ''].join('\n')),
    hostArchitecture: 'amd64',
  });
  assert.deepEqual(r.problems.map(formatProblem), [
    'lading.yaml:7:15 images.a.env.PY: warning: YAML reads 3.10 as the number 3.1, so the value is "3.1"; write "3.10" (quoted) to keep the text',
    'lading.yaml:7:47 images.a.env.E: warning: YAML reads 1e3 as the number 1000, so the value is "1000"; write "1e3" (quoted) to keep the text',
    'lading.yaml:8:17 images.a.labels.v: warning: YAML reads 1.0 as the number 1, so the value is "1"; write "1.0" (quoted) to keep the text',
    'lading.yaml:8:25 images.a.labels.o: warning: YAML reads 0o17 as the number 15, so the value is "15"; write "0o17" (quoted) to keep the text',
  ]);
  assert.deepEqual(r.family?.images.a?.effective.env, { E: '1000', PORT: '8080', PY: '3.1', Q: '3.10' });
});

test('a files destination ending in / is a directory to copy into; the file keeps its name', () => {
  const r = parseFamily({
    config: family(['  a:', '    from: scratch', '    files: [{src: bin/tool, dest: /usr/local/bin/}, {src: conf, dest: /etc/app/app.conf}]', ''].join('\n')),
    hostArchitecture: 'amd64',
    context: () => 'file',
  });
  assert.deepEqual(r.problems.map(formatProblem), []);
  assert.deepEqual(r.family?.images.a?.files.map((f) => f.dest).sort(), ['/etc/app/app.conf', '/usr/local/bin/tool']);
});

test('a missing or broken project, and images with a broken chain, do not hide the other problems', () => {
  const text = ['images:', '  a: {from: nope}', '  b: {from: a, users: [{name: x, uid: 1}, {name: x, uid: 2}]}', '  c: {from: scratch, ports: [80, "80/tcp", "0"]}', ''].join('\n');
  assert.deepEqual(problems({ file: 'lading.yaml', text }), [
    'lading.yaml:1:1 project: required field is missing',
    'lading.yaml:2:13 images.a.from: unknown image "nope" (not in this family; an external base is written REGISTRY/REPO[:TAG]@sha256:..., or use scratch)',
    'lading.yaml:3:50 images.b.users[1].name: user x is already defined by users[0] (lading.yaml:3)',
    'lading.yaml:4:44 images.c.ports[2]: port 0 is out of range 1-65535',
  ]);
  const badName = problems({ file: 'lading.yaml', text: `project: {name: Demo}\n${text}` });
  assert.equal(badName.length, 4);
  assert.match(badName[0] ?? '', /^lading\.yaml:1:17 project\.name: expected lower-case letters/);
});

test('user fields that would forge /etc/passwd lines, an epoch past year 9999 and impossible dates are refused', () => {
  const p = problems(
    family(['  a:', '    from: scratch', '    users: [{name: app, uid: 900, comment: "App: x", shell: "/bin/sh\\nevil::0:0::/:/bin/sh", home: rel/home}]', ''].join('\n'), 'sourceDateEpoch: 9000000000000\n'),
  );
  assert.deepEqual(p, [
    'lading.yaml:4:18 sourceDateEpoch: must be at most 253402300799, got the number 9000000000000',
    'lading.yaml:8:44 images.a.users[0].comment: expected text without \':\' or control characters (newlines, tabs), got the string "App: x"',
    'lading.yaml:8:61 images.a.users[0].shell: expected an absolute path without \':\' or control characters, got the string "/bin/sh\\nevil::0:0::/:/bin/sh"',
    'lading.yaml:8:100 images.a.users[0].home: expected an absolute path without \':\' or control characters, got the string "rel/home"',
  ]);
  const until = (d: string) => problems({ file: 'lading.yaml', text: `project: {name: t, support: {status: supported, until: ${d}}}\nimages:\n  a: {from: scratch}\n` });
  assert.deepEqual(until('2027-02-30'), ['lading.yaml:1:56 project.support.until: "2027-02-30" is not a calendar date']);
  assert.deepEqual(until('2028-02-29'), []);
});

test('noEssential: false is the default, accepted on any image (an override may rebase a scratch image)', () => {
  const base = family(['  base:', '    from: scratch', '    noEssential: true', ''].join('\n'));
  const override = { file: 'site.yaml', text: `images:\n  base:\n    from: "debian@sha256:${'a'.repeat(64)}"\n    noEssential: false\n` };
  const f = ok(base, [override]);
  assert.equal(f.images.base!.from.kind, 'external');
});

test('before and after belong to run.add; in run.set or run.replace they are unknown keys, not silently ignored', () => {
  const base = family(['  a:', '    from: scratch', '    run:', '      - {name: one, script: "true"}', ''].join('\n'));
  const override = { file: 'site.yaml', text: 'images:\n  a:\n    run:\n      replace: [{name: one, script: "false", before: nothing}]\n      add: [{name: two, script: "true", before: one}]\n' };
  assert.deepEqual(problems(base, [override]), ['site.yaml:4:46 images.a.run.replace[0].before: unknown key "before"']);
  const fine = ok(base, [{ file: 'site.yaml', text: 'images:\n  a:\n    run:\n      add: [{name: two, script: "true", before: one}]\n' }]);
  assert.deepEqual(fine.images.a!.run.map((s) => s.name), ['two', 'one']);
});

test('a source that yields nothing says why: a flat repository, deb-src only, an unsupported scheme', () => {
  const p = problems(family('  a: {from: scratch}\n', 'sources:\n  - "deb http://x ./"\n  - {uris: [http://x], suites: [./]}\n  - "deb-src http://x bookworm main"\n'));
  assert.deepEqual(p, [
    'lading.yaml:5:5 sources[0]: no usable source: skipping flat repository http://x/ ./: not supported',
    'lading.yaml:6:5 sources[1]: no usable source: skipping flat repository http://x/ ./: not supported',
    'lading.yaml:7:5 sources[2]: no usable source: deb-src only',
  ]);
});

test('a zero or huge duration gets one message; a second YAML document is named as such', () => {
  const p = problems(family(['  a:', '    from: scratch', '    run:', '      - {name: a, script: "true", timeout: 0}', '      - {name: b, script: "true", timeout: 99999999}', ''].join('\n')));
  assert.deepEqual(p, [
    'lading.yaml:8:44 images.a.run[0].timeout: must be at least 1, got the number 0',
    'lading.yaml:9:44 images.a.run[1].timeout: must be at most 604800, got the number 99999999',
  ]);
  assert.deepEqual(problems(family(['  a:', '    from: scratch', '    run:', '      - {name: a, script: "true", timeout: "0"}', ''].join('\n'))), [
    'lading.yaml:8:44 images.a.run[0].timeout: expected seconds (an integer) or a duration such as "90s", "10m", "1h30m", got the string "0"',
  ]);
  // A duplicate key under an anchor is one problem, not one per alias.
  const aliased = ['  a: {from: scratch, env: &e {A: 1, A: 2}}', '  b: {from: scratch, env: *e}', '  c: {from: scratch, env: *e}', ''].join('\n');
  assert.deepEqual(problems(family(aliased)), ['lading.yaml:5:37 images.a.env.A: duplicate key (each key may appear once in a map)']);
  assert.deepEqual(problems({ file: 'lading.yaml', text: 'project: {name: p}\nimages: {a: {from: scratch}}\n---\nfoo: 1\n' }), [
    'lading.yaml:3:1 (document): a second YAML document (after ---): a config file holds one document',
  ]);
});

test('a duplicate names the entry it repeats as written, also after an override removed one before it', () => {
  const base = family(['  a:', '    from: scratch', '    files:', '      - {src: f, dest: /etc/a}', '      - {src: f, dest: /etc/b}', '      - {src: f, dest: /etc/b}', ''].join('\n'));
  const site: ConfigText = { file: 'site.yaml', text: 'images:\n  a:\n    files: {remove: [/etc/a]}\n' };
  assert.deepEqual(problems(base, [site], () => 'file'), ['lading.yaml:10:24 images.a.files[2].dest: /etc/b is already written by files[1].dest (lading.yaml:9)']);
  // Unreadable images: no profile member or override image is called unknown because of it.
  const noImages = { file: 'lading.yaml', text: 'project: {name: p}\nprofiles: {p: [nosuch, "x*"]}\n' };
  assert.deepEqual(problems(noImages, [{ file: 'site.yaml', text: 'images: {a: {from: scratch}}\n' }]), ['lading.yaml:1:1 images: required field is missing']);
  // A project without a name still has its other fields checked.
  assert.deepEqual(problems({ file: 'lading.yaml', text: 'project: {vendor: y, support: {status: supported, until: 2027-02-30}}\nimages: {a: {from: scratch}}\n' }), [
    'lading.yaml:1:10 project.name: required field is missing',
    'lading.yaml:1:58 project.support.until: "2027-02-30" is not a calendar date',
  ]);
});

test('an override naming an image that lading.yaml has but could not read adds no second problem', () => {
  const base = family(['  a: {packages: [curl]}', '  b: {from: scratch}', ''].join('\n'));
  assert.deepEqual(problems(base, [{ file: 'site.yaml', text: 'images:\n  a:\n    env: {X: y}\n' }]), ['lading.yaml:5:6 images.a.from: required field is missing']);
});

test('compression: gzip levels 1-9, zstd 1-19, in the loader and the JSON Schema alike', () => {
  const img = '  a:\n    from: scratch\n';
  assert.deepEqual(ok(family(img, 'compression: {algorithm: zstd, level: 19}\n')).compression, { algorithm: 'zstd', level: 19 });
  assert.deepEqual(ok(family(img, 'compression: gzip\n')).compression, { algorithm: 'gzip' });
  assert.deepEqual(problems(family(img, 'compression: {algorithm: gzip, level: 12}\n')), ['lading.yaml:4:39 compression.level: must be at most 9, got the number 12']);
  assert.deepEqual(problems(family(img, 'compression: {algorithm: xz}\n')), ['lading.yaml:4:26 compression.algorithm: expected one of gzip, zstd, got the string "xz"']);
  // An override replaces the whole value: its level is checked against its own algorithm.
  assert.deepEqual(problems(family(img, 'compression: {algorithm: zstd, level: 15}\n'), [{ file: 'site.yaml', text: 'compression: {algorithm: gzip, level: 15}\n' }]), ['site.yaml:1:39 compression.level: must be at most 9, got the number 15']);
  type Branch = { properties?: { algorithm?: { const?: string }; level?: { maximum?: number } } };
  for (const file of ['lading', 'lading-override']) {
    const schema = JSON.parse(readFileSync(new URL(`../../../schemas/${file}.schema.json`, import.meta.url), 'utf8')) as { properties: { compression: { anyOf: Array<{ oneOf?: Branch[] }> } } };
    const maxLevel = (algorithm: string) => schema.properties.compression.anyOf.flatMap((b) => b.oneOf ?? []).find((b) => b.properties?.algorithm?.const === algorithm)?.properties?.level?.maximum;
    assert.equal(maxLevel('gzip'), 9, file);
    assert.equal(maxLevel('zstd'), 19, file);
  }
});

test('run steps: an empty script, a NUL byte in a script, an argument or an env value, a workdir below /proc, /sys or /dev', () => {
  assert.deepEqual(
    problems(
      family(
        [
          '  a:',
          '    from: scratch',
          '    env: {A: "x\\0y"}',
          '    run:',
          '      - {name: empty, script: "  "}',
          '      - {name: nul, script: "echo a\\0b", env: {B: "\\0"}}',
          '      - {name: arg, args: [/bin/echo, "a\\0"]}',
          '      - {name: proc, script: pwd, workdir: /proc/self}',
          '      - {name: dev, script: pwd, workdir: /dev}',
          '      - {name: devices, script: pwd, workdir: /devices}',
          '',
        ].join('\n'),
      ),
    ),
    [
      'lading.yaml:7:14 images.a.env.A: an environment value cannot hold a NUL byte',
      'lading.yaml:9:31 images.a.run[0].script: run step "empty": the script is empty',
      'lading.yaml:10:29 images.a.run[1].script: must not contain a NUL byte',
      'lading.yaml:10:51 images.a.run[1].env.B: an environment value cannot hold a NUL byte',
      'lading.yaml:11:39 images.a.run[2].args[1]: must not contain a NUL byte',
      'lading.yaml:12:44 images.a.run[3].workdir: "/proc/self" is in /proc, which the runtime mounts over during a step',
      'lading.yaml:13:43 images.a.run[4].workdir: "/dev" is in /dev, which the runtime mounts over during a step',
    ],
  );
});

test('a broken entry of a keyed list (invalid name, missing uid) hides none of the other entries\' problems', () => {
  assert.deepEqual(
    problems(
      family(
        [
          '  a:',
          '    from: scratch',
          '    users:',
          '      - {name: "Bad!", uid: 5}',
          '      - {name: ok, uid: -1}',
          '      - {name: dup, uid: 7}',
          '      - {name: dup, uid: 8}',
          '    run:',
          '      - {name: "bad name!", script: x}',
          '      - {name: t2, script: x, env: {"A=B": x}}',
          '      - {name: t3, script: x, workdir: rel}',
          '      - {name: t3, script: x}',
          '      - {script: y}',
          '',
        ].join('\n'),
      ),
    ),
    [
      'lading.yaml:8:16 images.a.users[0].name: expected letters, digits, . _ - (starting with a letter or digit), got the string "Bad!"',
      'lading.yaml:9:25 images.a.users[1].uid: must be at least 0, got the number -1',
      'lading.yaml:11:16 images.a.users[3].name: user dup is already defined by users[2] (lading.yaml:10)',
      'lading.yaml:13:16 images.a.run[0].name: expected letters, digits, . _ - (starting with a letter or digit), got the string "bad name!"',
      'lading.yaml:14:37 images.a.run[1].env["A=B"]: environment variable name "A=B": expected letters, digits and _ (not starting with a digit)',
      'lading.yaml:15:40 images.a.run[2].workdir: "rel" must be an absolute path in the image',
      'lading.yaml:16:16 images.a.run[3].name: run step "t3" is already defined at run[2] (lading.yaml:15)',
      'lading.yaml:17:9 images.a.run[4].name: required field is missing',
    ],
  );
});

test('unknown keys suggest swapped-letter typos and lading\'s names for Dockerfile and Compose keys', () => {
  assert.deepEqual(
    problems(family('  a:\n    form: scratch\n    expose: ["80"]\n    working_dir: /srv\n    environment: {A: b}\n')).map((l) => l.replace(/^lading\.yaml:\d+:\d+ /, '')),
    [
      'images.a.form: unknown key "form" (did you mean "from"?)',
      'images.a.from: required field is missing',
      'images.a.expose: unknown key "expose" (did you mean "ports"?)',
      'images.a.working_dir: unknown key "working_dir" (did you mean "workdir"?)',
      'images.a.environment: unknown key "environment" (did you mean "env"?)',
    ],
  );
});

test('an override that writes a list where it edits one says how to write the edit', () => {
  const site: ConfigText = { file: 'site.yaml', text: 'images:\n  a:\n    packages: [curl]\n    run: [{name: x, script: "true"}]\n' };
  assert.deepEqual(problems(family('  a:\n    from: scratch\n'), [site]), [
    'site.yaml:3:15 images.a.packages: expected a map of edits, got a list: write {add: [...]}, {remove: [...]} or {set: [...]} (the whole list)',
    'site.yaml:4:10 images.a.run: expected a map of edits, got a list: write {add: [...]}, {remove: [...]} or {set: [...]} (the whole list), or {replace: [...]}',
  ]);
});

test('name:ARCH is requested on that architecture only; on one the image is not built for, it is a warning', () => {
  const config = family('  a:\n    from: scratch\n    packages: ["curl:arm64", bash]\n  b:\n    from: scratch\n    architectures: [amd64]\n    packages: ["hello:arm64", "dash:amd64"]\n  c:\n    from: scratch\n    packages: {amd64: ["curl:arm64"]}\n');
  const r = parseFamily({ config, hostArchitecture: 'amd64' });
  assert.deepEqual(r.problems.map(formatProblem), [
    'lading.yaml:11:16 images.b.packages[0]: warning: image b is not built for arm64; hello:arm64 is ignored',
    'lading.yaml:14:24 images.c.packages.amd64[0]: warning: curl:arm64 is listed for amd64, but :arm64 asks for it only on arm64; it is ignored',
  ]);
  assert.deepEqual(r.family?.images.a?.packages, { amd64: ['bash'], arm64: ['bash', 'curl:arm64'] });
  assert.deepEqual(r.family?.images.b?.packages, { amd64: ['dash:amd64'] });
  assert.deepEqual(r.family?.images.c?.packages, { amd64: [], arm64: [] });
});

test('a broken required field takes a stand-in alone: the other fields of its step or map are checked in the same run', () => {
  const config = family('  a:\n    from: scratch\n    run:\n      - {name: "bad name", script: "", workdir: /proc}\n');
  const text = config.text.replace('project:\n  name: t\n', 'project:\n  name: t\n  support: {status: maybe, until: 2027-02-30}\n');
  assert.deepEqual(problems({ ...config, text }).map((l) => l.replace(/^lading\.yaml:\d+:\d+ /, '')), [
    'project.support.status: expected one of supported, best-effort, experimental, deprecated, unsupported, got the string "maybe"',
    'project.support.until: "2027-02-30" is not a calendar date',
    'images.a.run[0].name: expected letters, digits, . _ - (starting with a letter or digit), got the string "bad name"',
    'images.a.run[0].script: run step: the script is empty',
    'images.a.run[0].workdir: "/proc" is in /proc, which the runtime mounts over during a step',
  ]);
});

test('a config that is not UTF-8 text, holds NUL bytes or never ends is refused when read, naming the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lading-read-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'latin1.yaml'), Buffer.from('project: {name: caf\xe9}\n', 'latin1'));
  writeFileSync(join(dir, 'nul.yaml'), 'project: {name: t}\n\0\n');
  const load = (configPath: string) => loadFamily({ configPath, cwd: dir, hostArchitecture: 'amd64' });
  await assert.rejects(load('latin1.yaml'), { code: 'CONFIG_READ', message: 'reading latin1.yaml: not UTF-8 text (a config is a UTF-8 YAML file)' });
  await assert.rejects(load('nul.yaml'), { code: 'CONFIG_READ', message: 'reading nul.yaml: holds a NUL byte, so it is not a text file' });
  await assert.rejects(load('/dev/zero'), { code: 'CONFIG_READ', message: 'reading /dev/zero: larger than 16 MiB, which no config is' });
});

test('a YAML merge key is named as one, not as an unknown field', () => {
  const p = problems(family('  a: &a\n    from: scratch\n  b:\n    <<: *a\n    cmd: [x]\n'));
  assert.deepEqual(p.map((l) => l.replace(/^lading\.yaml:\d+:\d+ /, '')), [
    'images.b.from: required field is missing',
    'images.b["<<"]: YAML merge keys (<<) are not supported: write the keys out, or give the whole value with an alias (*name)',
  ]);
});

test('an architecture listed twice is a warning; a healthcheck of blanks is no command', () => {
  const config = family('  a:\n    from: scratch\n    architectures: [arm64, arm64]\n    healthcheck: {test: "   "}\n').text.replace('architectures: [amd64, arm64]', 'architectures: [amd64, arm64, amd64]');
  assert.deepEqual(problems({ file: 'lading.yaml', text: config }).map((l) => l.replace(/^lading\.yaml:\d+:\d+ /, '')), [
    'architectures[2]: warning: amd64 is listed twice (also at [0])',
    'images.a.architectures[1]: warning: arm64 is listed twice (also at [0])',
    'images.a.healthcheck.test: the command is empty, got the string "   "',
  ]);
});

test('a family without images and an empty override are warnings', () => {
  assert.deepEqual(problems({ file: 'lading.yaml', text: 'project: {name: t}\nimages: {}\n' }, [{ file: 'site.yaml', text: '# nothing yet\n' }]), [
    'lading.yaml:2:9 images: warning: the family has no images: lock, plan and build have nothing to do',
    'site.yaml:1:1 (document): warning: the override is empty: it changes nothing',
  ]);
});
