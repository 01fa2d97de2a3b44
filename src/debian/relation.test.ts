import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGroup, parseRelations } from './relation.js';
import { DebianError } from './errors.js';
import { parseDeb822, splitWords } from './deb822.js';

const shape = (text: string) => parseRelations(text).map((g) => g.map((r) => [r.name, r.archQualifier ?? '', r.op ?? '', r.version ?? ''].filter(Boolean).join(' ')));

test('spec §5.1 parse vectors', () => {
  assert.deepEqual(shape('libc6 (>= 2.2.1), default-mta | exim4'), [['libc6 >= 2.2.1'], ['default-mta', 'exim4']]);
  assert.deepEqual(shape('emacs | emacsen, make, debianutils (>= 1.7)'), [['emacs', 'emacsen'], ['make'], ['debianutils >= 1.7']]);
  const withArchs = parseRelations('libcap-dev [!kfreebsd-i386 !hurd-i386], autoconf, dpkg-dev (>> 5.0.0), file, libc6 (>= 2.7-1), libpaper1, psutils');
  assert.equal(withArchs.length, 7);
  assert.deepEqual(withArchs[0]![0]!.archRestrictions, ['!kfreebsd-i386', '!hurd-i386']);
  assert.equal(withArchs[2]![0]!.op, '>>');
  assert.equal(withArchs[2]![0]!.version, '5.0.0');
  assert.deepEqual(shape('python3:any'), [['python3 any']]);
  assert.deepEqual(shape('gcc-i686-linux-gnu (>= 4:10.2) | gcc:i386, g++-i686-linux-gnu (>= 4:10.2) | g++:i386, dpkg-cross'), [
    ['gcc-i686-linux-gnu >= 4:10.2', 'gcc i386'],
    ['g++-i686-linux-gnu >= 4:10.2', 'g++ i386'],
    ['dpkg-cross'],
  ]);
});

test('optional whitespace, obsolete operators, profiles, trailing comma', () => {
  assert.deepEqual(shape('intel-oneapi-common-vars (=2025.1.0-387)'), [['intel-oneapi-common-vars = 2025.1.0-387']]);
  assert.deepEqual(shape('a(<1.0),b (> 2)'), [['a <= 1.0'], ['b >= 2']]);
  assert.equal(parseRelations('foo <!nocheck> <cross>')[0]![0]!.profiles, '<!nocheck> <cross>');
  assert.deepEqual(shape('a,\n b ,'), [['a'], ['b']]);
  assert.equal(formatGroup(parseRelations('a:any (>= 1) | b')[0]!), 'a:any (>= 1) | b');
});

test('malformed relations name the field', () => {
  for (const bad of ['a (>= )', 'a (~> 1)', '(>= 1)', 'a b', 'a (>= 1:)']) {
    assert.throws(
      () => parseRelations(bad, 'Depends of x'),
      (e: unknown) => e instanceof DebianError && e.code === 'RELATION_INVALID' && e.message.startsWith('Depends of x'),
      bad,
    );
  }
});

test('deb822: paragraphs, continuation lines, comments, case-insensitive names', () => {
  const ps = parseDeb822('# c\nTypes: deb\nuris: http://x/\n\n\nTypes: deb\nSigned-By:\n -----BEGIN\n .\n abc\n', { what: 'f.sources', comments: true });
  assert.equal(ps.length, 2);
  assert.equal(ps[0]!.get('URIs'), 'http://x/');
  assert.equal(ps[0]!.line, 2);
  assert.equal(ps[1]!.get('signed-by'), '\n-----BEGIN\n.\nabc');
  assert.deepEqual(splitWords(' a  b\n c '), ['a', 'b', 'c']);
});

test('deb822: malformed input fails naming file and line', () => {
  assert.throws(() => parseDeb822(' x\n', { what: 'f' }), /f:1: continuation line/);
  assert.throws(() => parseDeb822('A: 1\nnot a field\n', { what: 'f' }), /f:2: expected "Field: value"/);
  assert.throws(() => parseDeb822('A: 1\na: 2\n', { what: 'f' }), /f:2: duplicate field a/);
  assert.throws(() => parseDeb822('# x\nA: 1\n', { what: 'f' }), /f:1/);
});
