import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactText, redactUrl } from './redact.js';

test('redactText hides a URL password that holds a "/" (an unparsable URL), up to the last "@"', () => {
  assert.equal(redactText('invalid URI "http://user:s3/cret@c.example/debian"'), 'invalid URI "http://REDACTED@c.example/debian"');
  assert.equal(redactUrl('http://user:s3/cret@c.example/debian'), 'http://REDACTED@c.example/debian');
  assert.equal(redactText('mirror+https://u:p@ss/x@c.example/ and more'), 'mirror+https://REDACTED@c.example/ and more');
  assert.equal(redactText('https://user:pw@reg.example/v2'), 'https://REDACTED@reg.example/v2');
});

test('redactText leaves ordinary URLs with a port or an @ in the path alone', () => {
  for (const s of ['http://host:8080/a@b/debian', 'see http://example.org/~me@home/x', 'http://[::1]:3142/debian@x', 'git@github.com:a/b.git', 'ssh://host:22/x@y']) {
    assert.equal(redactText(s), s);
  }
});
