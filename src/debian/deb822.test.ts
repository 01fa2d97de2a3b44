import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeb822 } from './deb822.js';

test('deb822: a line of only spaces or tabs separates paragraphs (dpkg), or continues the field in apt-sources mode', () => {
  const text = 'A: 1\nB: x\n \t\nC: 3\n';
  assert.deepEqual(
    parseDeb822(text, { what: 't' }).map((p) => p.fields.map((f) => f.name)),
    [['A', 'B'], ['C']],
  );
  const apt = parseDeb822(text, { what: 't', spaceLines: 'continuation' });
  assert.equal(apt.length, 1);
  assert.equal(apt[0]!.get('B'), 'x\n');
  assert.equal(apt[0]!.get('C'), '3');
  // Outside a paragraph it is nothing.
  assert.deepEqual(parseDeb822(' \nA: 1\n\n\t\nB: 2\n', { what: 't', spaceLines: 'continuation' }).map((p) => p.line), [2, 5]);
});
