import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compareVersions, formatVersion, parseVersion, satisfiesVersion } from './version.js';
import { DebianError } from './errors.js';

const tsv = readFileSync(new URL('./testdata/dpkg-version-vectors.tsv', import.meta.url), 'utf8');
const rows = tsv
  .split('\n')
  .slice(1)
  .filter((l) => l.trim() !== '')
  .map((l) => l.split('\t') as [string, string, string]);

test('every row of dpkg-version-vectors.tsv compares as dpkg does (both directions)', () => {
  assert.ok(rows.length >= 80, `only ${rows.length} vectors read`);
  for (const [a, b, expected] of rows) {
    const want = Number(expected);
    assert.equal(Math.sign(compareVersions(a, b)), want, `${a} vs ${b}`);
    assert.equal(Math.sign(compareVersions(b, a)), want === 0 ? 0 : -want, `${b} vs ${a}`);
  }
});

test('spec §4 ordering consequences', () => {
  const ordered = ['1~~', '1~~a', '1~', '1', '1a'];
  for (let i = 0; i + 1 < ordered.length; i++) assert.ok(compareVersions(ordered[i]!, ordered[i + 1]!) < 0, `${ordered[i]} < ${ordered[i + 1]}`);
  assert.equal(compareVersions('1.09', '1.9'), 0);
  assert.equal(compareVersions('1.0', '1.0-0'), 0);
  assert.ok(compareVersions('1.0~rc1', '1.0') < 0);
});

test('valid parse vectors from spec §4', () => {
  const cases: Array<[string, number, string, string]> = [
    ['0', 0, '0', ''],
    ['0:0-0', 0, '0', '0'],
    ['0:0-0-0', 0, '0-0', '0'],
    ['0:0:0-0', 0, '0:0', '0'],
    ['0:0-0:0-0', 0, '0-0:0', '0'],
    ['0:09azAZ.-+~:-0', 0, '09azAZ.-+~:', '0'],
    ['0:0-azAZ09.+~', 0, '0', 'azAZ09.+~'],
    ['  \t0:0-1', 0, '0', '1'],
    ['2:1.0-1 ', 2, '1.0', '1'],
  ];
  for (const [input, epoch, upstream, revision] of cases) {
    const v = parseVersion(input);
    assert.deepEqual([v.epoch, v.upstream, v.revision], [epoch, upstream, revision], JSON.stringify(input));
    assert.deepEqual(v.warnings, [], JSON.stringify(input));
  }
});

test('invalid parse vectors from spec §4 fail with dpkg messages', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /version string is empty/],
    ['  ', /version string is empty/],
    ['0:', /nothing after colon/],
    [':1.0', /epoch in version is empty/],
    ['1.0-', /revision number is empty/],
    ['0:0 0-1', /embedded spaces/],
    ['-1:0-1', /epoch in version is negative/],
    ['999999999999999999999999:0-1', /epoch in version is too big/],
    ['a:0-0', /epoch in version is empty/],
    ['A:0-0', /epoch in version is empty/],
    ['-0', /version number is empty/],
    ['0:-0', /version number is empty/],
  ];
  for (const [input, re] of cases) {
    assert.throws(
      () => parseVersion(input, 'test'),
      (err: unknown) => err instanceof DebianError && err.code === 'VERSION_INVALID' && re.test(err.message) && err.message.startsWith('test: '),
      JSON.stringify(input),
    );
  }
});

test('warnings only: no leading digit, characters outside the allowed sets', () => {
  assert.deepEqual(parseVersion('0:abc3-0').warnings, ['version number does not start with digit']);
  assert.deepEqual(parseVersion('1.0$x').warnings, ['invalid character in version number']);
  assert.deepEqual(parseVersion('1.0-a_b').warnings, ['invalid character in revision number']);
});

test('relation operators (spec §4 vectors)', () => {
  for (const op of ['=', '<=', '>='] as const) assert.ok(satisfiesVersion('1-1', op, '1-1'));
  for (const op of ['<<', '>>'] as const) assert.ok(!satisfiesVersion('1-1', op, '1-1'));
  assert.ok(satisfiesVersion('1-1', '<<', '2-1'));
  assert.ok(satisfiesVersion('1-1', '<=', '2-1'));
  assert.ok(!satisfiesVersion('1-1', '>=', '2-1'));
});

test('formatVersion prints the epoch only when set', () => {
  assert.equal(formatVersion(parseVersion('0:1.0-1')), '1.0-1');
  assert.equal(formatVersion(parseVersion('3:1.0')), '3:1.0');
});
