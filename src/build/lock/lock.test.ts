import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { lockFromCatalog } from '../../../test/helpers/family-lock.js';
import { loadFamily, parseFamily } from '../config/load.js';
import { checkLock, imagePackages, lockRequests, parseFamilyLock, serializeFamilyLock } from './lock.js';

const dir = fileURLToPath(new URL('../testdata/family/', import.meta.url));
const { family } = await loadFamily({ configPath: 'lading.yaml', cwd: dir, hostArchitecture: 'amd64' });

test('lock requests: own packages plus the ancestors\', Essential only from scratch roots, external bases named', () => {
  const req = lockRequests(family);
  assert.deepEqual(req.architectures.amd64!.web, { essential: true, packages: ['ca-certificates', 'libjemalloc2', 'nginx-light', 'python3', 'python3-yaml'] });
  assert.deepEqual(req.architectures.arm64!.web, { essential: true, packages: ['ca-certificates', 'nginx-light', 'python3', 'python3-yaml'] });
  assert.deepEqual(req.architectures.amd64!.tools, { essential: false, packages: ['curl'], base: family.images.tools!.from.kind === 'external' ? family.images.tools!.from.reference : '' });
  assert.equal(req.architectures.arm64!.tools, undefined);
  assert.match(req.configDigest, /^sha256:[0-9a-f]{64}$/);
});

test('lading.lock round-trips to the same bytes, in a stable order', () => {
  const lock = lockFromCatalog(family);
  const text = serializeFamilyLock(lock);
  const shuffled = { ...lock, architectures: Object.fromEntries(Object.entries(lock.architectures).reverse().map(([a, l]) => [a, { ...l, packages: [...l.packages].reverse() }])) };
  assert.equal(serializeFamilyLock(shuffled), text);
  assert.equal(serializeFamilyLock(parseFamilyLock(text)), text);
  assert.ok(text.endsWith('}\n'));
  assert.deepEqual(
    imagePackages(lock, 'worker', 'arm64').map((p) => `${p.name} ${p.version} ${p.architecture}`),
    ['base-files 12.4+deb12u5 arm64', 'bash 5.2.15-2+b2 arm64', 'ca-certificates 20230311 all', 'dpkg 1.21.22 arm64', 'libc6 2.36-9+deb12u4 arm64', 'openssl 3.0.11-1~deb12u2 arm64', 'python3 3.11.2-1+b1 arm64', 'python3-celery 5.2.6-5 all', 'python3-minimal 3.11.2-1+b1 arm64', 'python3-yaml 6.0-3+b2 arm64'],
  );
  assert.throws(() => imagePackages(lock, 'tools', 'arm64'), { code: 'LOCK_MISSING', message: 'lading.lock: no packages locked for image tools on arm64' });
});

test('bad lock files are refused naming the file', () => {
  assert.throws(() => parseFamilyLock('{', 'x/lading.lock'), { code: 'LOCK_INVALID', message: /^x\/lading.lock: invalid JSON/, hint: 'run `lading lock` to write it again' });
  // Where it breaks, as a line and column.
  assert.throws(() => parseFamilyLock('{\n  "lockVersion": 1,\n  "family": "x\n', 'lading.lock'), { message: /at position \d+ \(line 3, column \d+\)/ });
  assert.throws(() => parseFamilyLock('{"lockVersion": 9}', 'lading.lock'), { code: 'LOCK_INVALID', message: 'lading.lock: lock format 9 is not supported (this lading writes 1)' });
  assert.throws(() => parseFamilyLock('{"lockVersion": 1, "family": "x", "configDigest": "md5:1", "sources": [], "architectures": {}}'), {
    code: 'LOCK_INVALID',
    message: 'lading.lock: not a valid lading lock: configDigest: expected sha256:<64 hex>',
  });
});

test('a lock goes stale only when what it was resolved from changes', () => {
  const lock = lockFromCatalog(family);
  assert.deepEqual(checkLock(family, lock), { fresh: true, reasons: [] });
  const edit = (yaml: string, from: string, to: string) => {
    const r = parseFamily({ config: { file: 'lading.yaml', text: yaml.replace(from, to) }, hostArchitecture: 'amd64' });
    assert.ok(r.family);
    return r.family;
  };
  const yaml = `project: {name: demo}\nsources: ["deb http://deb.example.org/debian bookworm main"]\narchitectures: [amd64]\nimages:\n  base: {from: scratch, packages: [aa], env: {X: "1"}}\n  app: {from: base, packages: [bb]}\n`;
  const f0 = edit(yaml, '', '');
  const l0 = { ...lock, family: 'demo', configDigest: lockRequests(f0).configDigest, architectures: { amd64: { packages: [], images: Object.fromEntries(Object.entries(lockRequests(f0).architectures.amd64!).map(([n, r]) => [n, { request: r, packages: {} }])) } } };
  // Labels, env, run steps: not lock inputs.
  assert.equal(checkLock(edit(yaml, 'X: "1"', 'X: "2"'), l0).fresh, true);
  assert.deepEqual(checkLock(edit(yaml, 'packages: [aa]', 'packages: [aa, cc]'), l0).reasons, ['image base (amd64): cc added', 'image app (amd64): cc added']);
  assert.deepEqual(checkLock(edit(yaml, 'from: scratch,', 'from: scratch, noEssential: true,'), l0).reasons, ['image base (amd64): Essential set removed', 'image app (amd64): Essential set removed']);
  assert.deepEqual(checkLock(edit(yaml, 'bookworm main', 'trixie main'), l0).reasons, ['the apt sources or suites changed']);
});
