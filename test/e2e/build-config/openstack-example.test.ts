// examples/openstack/lading.yaml: valid, Kolla-shaped, and every package it names exists in the
// machine's Debian archive (checked with apt-cache when the machine has apt lists).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeFamily, loadFamily, lockRequests } from '../../../src/build/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const loaded = await loadFamily({ configPath: 'examples/openstack/lading.yaml', cwd: root, hostArchitecture: 'amd64' });

test('examples/openstack is a valid family: base -> openstack-base -> the services', () => {
  assert.deepEqual(loaded.warnings, []);
  const f = loaded.family;
  for (const svc of ['keystone', 'glance-api', 'nova-api', 'nova-conductor', 'nova-scheduler', 'neutron-server', 'placement-api', 'cinder-api', 'heat-api', 'horizon']) {
    const img = f.images[svc];
    assert.ok(img, svc);
    assert.ok(img.ancestors.includes('openstack-base') && img.ancestors.at(-1) === 'base', `${svc} descends from openstack-base and base`);
    // Each service image starts its service: dumb-init from base, the service command of its own.
    assert.deepEqual(img.effective.entrypoint, ['/usr/bin/dumb-init', '--single-child', '--'], svc);
    assert.ok(img.effective.cmd && img.effective.cmd.length > 0, `${svc} has a command`);
  }
  assert.equal(f.images.base!.essential, true);
  const s = describeFamily(f);
  assert.deepEqual(s.images.find((i) => i.name === 'nova-api')!.profiles, ['default', 'nova']);
});

test('every package named by examples/openstack exists in the configured Debian archive', (t) => {
  let policy: string;
  try {
    policy = execFileSync('apt-cache', ['policy', 'base-files'], { encoding: 'utf8' });
  } catch {
    t.skip('apt-cache is not available');
    return;
  }
  if (!/Candidate: (?!\(none\))/.test(policy)) {
    t.skip('the machine has no apt lists (run apt-get update)');
    return;
  }
  const names = [...new Set(Object.values(lockRequests(loaded.family).architectures).flatMap((images) => Object.values(images).flatMap((r) => r.packages)))].sort();
  const out = execFileSync('apt-cache', ['policy', ...names], { encoding: 'utf8' });
  const missing = names.filter((n) => !new RegExp(`^${n.replace(/[.+]/g, '\\$&')}:\\n\\s+Installed: .*\\n\\s+Candidate: (?!\\(none\\))`, 'm').test(out));
  assert.deepEqual(missing, []);
});
