import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatImageReference, isValidRefName, isValidTag, OciError, parseImageReference, referenceTarget } from './index.js';

const D = `sha256:${'ab'.repeat(32)}`;

test('Docker Hub short names get docker.io and library/', () => {
  assert.deepEqual(parseImageReference('debian'), { registry: 'docker.io', repository: 'library/debian', tag: 'latest' });
  assert.deepEqual(parseImageReference('debian:bookworm'), { registry: 'docker.io', repository: 'library/debian', tag: 'bookworm' });
  assert.deepEqual(parseImageReference('bitnami/redis:7'), { registry: 'docker.io', repository: 'bitnami/redis', tag: '7' });
  assert.deepEqual(parseImageReference('docker.io/debian'), { registry: 'docker.io', repository: 'library/debian', tag: 'latest' });
  assert.deepEqual(parseImageReference('index.docker.io/library/debian:12'), { registry: 'docker.io', repository: 'library/debian', tag: '12' });
  assert.deepEqual(parseImageReference('registry-1.docker.io/x/y'), { registry: 'docker.io', repository: 'x/y', tag: 'latest' });
  assert.equal(formatImageReference(parseImageReference('debian')), 'docker.io/library/debian:latest');
});

test('hosts with ports, localhost, IPv6 and nested repositories', () => {
  assert.deepEqual(parseImageReference('localhost:5000/team/app:1.2'), { registry: 'localhost:5000', repository: 'team/app', tag: '1.2' });
  assert.deepEqual(parseImageReference('localhost/app'), { registry: 'localhost', repository: 'app', tag: 'latest' });
  assert.deepEqual(parseImageReference('ghcr.io/a/b/c:v1'), { registry: 'ghcr.io', repository: 'a/b/c', tag: 'v1' });
  assert.deepEqual(parseImageReference('[::1]:5000/app:x'), { registry: '[::1]:5000', repository: 'app', tag: 'x' });
  assert.deepEqual(parseImageReference('registry.example:443/app'), { registry: 'registry.example:443', repository: 'app', tag: 'latest' });
  // A port-like suffix on the last component is a tag, not a port.
  assert.deepEqual(parseImageReference('app:5000'), { registry: 'docker.io', repository: 'library/app', tag: '5000' });
});

test('digests, tag plus digest, and the target a registry is asked for', () => {
  const byDigest = parseImageReference(`ghcr.io/a/b@${D}`);
  assert.deepEqual(byDigest, { registry: 'ghcr.io', repository: 'a/b', digest: D });
  assert.equal(referenceTarget(byDigest), D);
  const both = parseImageReference(`localhost:5000/app:1@${D}`);
  assert.deepEqual(both, { registry: 'localhost:5000', repository: 'app', tag: '1', digest: D });
  assert.equal(referenceTarget(both), D);
  assert.equal(formatImageReference(both), `localhost:5000/app:1@${D}`);
  assert.deepEqual(parseImageReference('app', { defaultTag: null }), { registry: 'docker.io', repository: 'library/app' });
  assert.throws(() => referenceTarget(parseImageReference('app', { defaultTag: null })), /no tag or digest/);
});

test('bad references are refused with REFERENCE_INVALID naming the input', () => {
  const bad = (input: string, re: RegExp) =>
    assert.throws(
      () => parseImageReference(input),
      (e: unknown) => e instanceof OciError && e.code === 'REFERENCE_INVALID' && e.message.startsWith(`image reference ${JSON.stringify(input)}`) && re.test(e.message),
    );
  bad('', /empty/);
  bad('Debian', /invalid repository/);
  bad('ghcr.io/UPPER/x', /invalid repository/);
  bad('app:bad tag', /invalid tag/);
  bad(`app:${'t'.repeat(129)}`, /invalid tag/);
  bad('app@sha256:abc', /invalid digest/);
  bad(`app@sha256:${'AB'.repeat(32)}`, /invalid digest/);
  bad('ghcr.io/a//b', /invalid repository/);
  bad('bad_host.io:99999999/x', /invalid registry host|invalid repository/);
  bad('a'.repeat(600), /too long/);
});

test('tag and layout ref-name grammars', () => {
  assert.ok(isValidTag('v1.2.3-rc_1'));
  assert.ok(!isValidTag('.hidden'));
  assert.ok(!isValidTag('-dash'));
  assert.ok(isValidRefName('example.com/app:1.0'));
  assert.ok(isValidRefName('stable'));
  assert.ok(!isValidRefName('has space'));
  assert.ok(!isValidRefName('trailing/'));
});
