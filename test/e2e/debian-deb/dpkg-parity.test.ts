// The dpkg database lading writes, compared with what dpkg itself writes when it unpacks the same
// packages (dpkg --root=DIR --unpack), and read back by dpkg: --configure -a runs the kept
// maintainer scripts, -V finds every file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { unpackPackages } from '../../../src/debian/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'lading-parity-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

interface Pkg {
  control: string;
  debian?: Record<string, { content: string; mode?: number }>;
  files: Record<string, string | { link: string } | { hardlink: string }>;
}

/** Builds a package with the real dpkg-deb from a tree. */
function build(name: string, pkg: Pkg): string {
  const src = join(tmp, 'src', name);
  mkdirSync(join(src, 'DEBIAN'), { recursive: true });
  writeFileSync(join(src, 'DEBIAN/control'), pkg.control);
  for (const [f, { content, mode }] of Object.entries(pkg.debian ?? {})) {
    writeFileSync(join(src, 'DEBIAN', f), content);
    chmodSync(join(src, 'DEBIAN', f), mode ?? 0o644);
  }
  for (const [path, value] of Object.entries(pkg.files)) {
    const at = join(src, path);
    mkdirSync(dirname(at), { recursive: true });
    if (typeof value === 'string') writeFileSync(at, value);
    else if ('link' in value) symlinkSync(value.link, at);
    else linkSync(join(src, value.hardlink), at);
  }
  const out = join(tmp, `${name}.deb`);
  const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', src, out]);
  assert.equal(r.status, 0, r.stderr.toString());
  return out;
}

const script = (body: string) => ({ content: `#!/bin/sh\nset -e\n${body}\n`, mode: 0o755 });
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

const packages: Array<[string, Pkg]> = [
  [
    'libdemo1',
    {
      // Odd field order, a nickname, spacing dpkg normalises, extra fields after Description.
      control:
        'Package: libdemo1\nSource: demo (1.0-1)\nVersion: 1.0-1+b1\nArchitecture: amd64\nMulti-Arch: same\nMaintainer: T <t@example.org>\nSection: libs\nClass: optional\nDepends: libc6 (>=2.36) ,  foo|bar\nEssential: no\nHomepage: https://example.org\nDescription: demo library\n long text\n .\n more\nBuilt-Using: gcc (= 12)\n',
      debian: { conffiles: { content: '/etc/demo.conf\n' }, triggers: { content: 'activate-noawait ldconfig\ninterest-noawait /usr/lib/demo\n' } },
      files: {
        'etc/demo.conf': 'x=1\n',
        'usr/lib/x86_64-linux-gnu/libdemo.so.1': 'ELF lib',
        'usr/lib/x86_64-linux-gnu/libdemo.so': { link: 'libdemo.so.1' },
        'usr/bin/demo': 'bin',
        'usr/bin/demo2': { hardlink: 'usr/bin/demo' },
      },
    },
  ],
  [
    'demo-tools',
    {
      control:
        'Package: demo-tools\nVersion: 2:3.0\nArchitecture: all\nMaintainer: T <t@example.org>\nPriority: required\nEssential: yes\nPre-Depends: libdemo1\nReplaces: olddemo (<< 2)\nDescription: tools\n',
      debian: {
        md5sums: { content: `${md5('#!/bin/sh\n')}  bin/tool\n` },
        postinst: script('echo "$1" >> "$DPKG_ROOT/configured-$DPKG_MAINTSCRIPT_PACKAGE"'),
        prerm: script('true'),
        templates: { content: 'Template: demo/x\nType: boolean\nDescription: x?\n' },
        config: script('true'),
        triggers: { content: 'interest ldconfig\n' },
        shlibs: { content: 'libdemo 1 libdemo1\n' },
      },
      files: { 'bin/tool': '#!/bin/sh\n', 'usr/share/doc/demo-tools/copyright': 'free\n' },
    },
  ],
];

test('lading writes the dpkg database dpkg writes, and dpkg reads it back', async () => {
  const debs = packages.map(([name, p]) => build(name, p));

  // dpkg's own result, in a root with merged-/usr symlinks like lading's.
  const dpkgRoot = join(tmp, 'dpkg-root');
  mkdirSync(join(dpkgRoot, 'var/lib/dpkg/updates'), { recursive: true });
  mkdirSync(join(dpkgRoot, 'var/lib/dpkg/info'), { recursive: true });
  writeFileSync(join(dpkgRoot, 'var/lib/dpkg/status'), '');
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    mkdirSync(join(dpkgRoot, 'usr', d), { recursive: true });
    symlinkSync(`usr/${d}`, join(dpkgRoot, d));
  }
  const r = spawnSync('dpkg', [`--root=${dpkgRoot}`, '--force-depends', '--force-script-chrootless', '--unpack', ...debs]);
  assert.equal(r.status, 0, r.stderr.toString());

  const root = join(tmp, 'lading-root');
  const result = await unpackPackages({ debs: debs.map((path) => ({ path })), root, architecture: 'amd64' });
  assert.deepEqual(
    result.packages.map((p) => [p.name, p.state, p.scripts]),
    [
      ['libdemo1', 'unpacked', []],
      ['demo-tools', 'unpacked', ['postinst', 'prerm', 'config']],
    ],
  );

  // status: the same stanzas, except that dpkg records a fresh conffile as "newconffile" (it
  // sits in /etc/demo.conf.dpkg-new until configured) where lading unpacks it in place and
  // records its MD5 (a deliberate difference, see docs/unpack.md).
  const ours = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8');
  const theirs = readFileSync(join(dpkgRoot, 'var/lib/dpkg/status'), 'utf8').replace(' /etc/demo.conf newconffile', ` /etc/demo.conf ${md5('x=1\n')}`);
  assert.equal(ours, theirs);

  const infoOf = (r: string) =>
    readdirSync(join(r, 'var/lib/dpkg/info'))
      .sort()
      .map((f) => {
        const p = join(r, 'var/lib/dpkg/info', f);
        return `${f} ${(lstatSync(p).mode & 0o7777).toString(8)}\n${readFileSync(p, 'utf8')}`;
      });
  assert.deepEqual(infoOf(root), infoOf(dpkgRoot));
  for (const f of ['triggers/File', 'triggers/ldconfig', 'triggers/Unincorp']) {
    assert.equal(readFileSync(join(root, 'var/lib/dpkg', f), 'utf8'), readFileSync(join(dpkgRoot, 'var/lib/dpkg', f), 'utf8'), f);
  }
  assert.equal(readFileSync(join(root, 'var/lib/dpkg/info/format'), 'utf8'), '1\n');

  // dpkg reads the database: both packages unpacked, nothing missing or modified.
  const list = spawnSync('dpkg-query', [`--root=${root}`, '-W', '-f=${db:Status-Abbrev}${binary:Package}\\n']);
  assert.equal(list.status, 0, list.stderr.toString());
  assert.deepEqual(list.stdout.toString().trim().split('\n').sort(), ['iU demo-tools', 'iU libdemo1:amd64']);
  const verify = spawnSync('dpkg', [`--root=${root}`, '-V']);
  assert.equal(verify.status, 0, verify.stderr.toString());
  assert.equal(verify.stdout.toString(), '');

  // dpkg --configure -a runs the postinst kept in info/ (scripts without chroot: the root has no
  // shell), then the ldconfig trigger libdemo1 activates, which demo-tools is interested in.
  const conf = spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-depends', '--configure', '-a']);
  assert.equal(conf.status, 0, conf.stderr.toString() + conf.stdout.toString());
  assert.equal(readFileSync(join(root, 'configured-demo-tools'), 'utf8'), 'configure\ntriggered\n');
  const after = spawnSync('dpkg-query', [`--root=${root}`, '-W', '-f=${db:Status-Abbrev}${binary:Package} ${Conffiles}\\n']);
  assert.match(after.stdout.toString(), /ii demo-tools/);
  assert.match(after.stdout.toString(), new RegExp(`ii libdemo1:amd64 +/etc/demo.conf ${md5('x=1\n')}`));
  assert.ok(existsSync(join(root, 'etc/demo.conf')));
  assert.equal(spawnSync('dpkg', [`--root=${root}`, '--audit']).stdout.toString(), '');
});
