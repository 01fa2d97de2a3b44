import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BuildSummary } from '../../build/index.js';
import { formatBuildSummary, progressLine } from './build.js';

const summary = (reason: string): BuildSummary =>
  ({
    summaryVersion: 1,
    family: 'f',
    store: '/s',
    lock: { path: '/s/lading.lock', written: false },
    plan: { selection: { selected: ['a'] } },
    built: [],
    reused: [],
    failed: [{ image: 'a', arch: 'amd64', code: 'STEP_FAILED', reason, log: '/s/a.log', attempts: 1 }],
    skipped: [],
    names: [],
    unnamed: [],
    logDir: '/s/logs',
    overlay: true,
    durationMs: 1000,
  }) as unknown as BuildSummary;

test("a failure's output reaches the terminal without its control characters (escape sequences shown as \\xNN)", () => {
  const text = formatBuildSummary(summary('image a (amd64): run step "s" exited with 1:\n    \u001b[31mred\u001b[0m\rover\tok\n  log: /s/a.log'), '/');
  assert.ok(![...text].some((c) => c.charCodeAt(0) < 32 && c !== '\n' && c !== '\t'), JSON.stringify(text));
  assert.match(text, /\\x1b\[31mred\\x1b\[0m\\x0dover\tok/);
});

test('the progress line fits the terminal, so redrawing it with \\r leaves no wrapped lines behind', () => {
  const line = '[3/13] openstack-base (amd64): scripts 12s | neutron-server (amd64): unpack 3s';
  assert.equal(progressLine(line, 120), line);
  const cut = progressLine(line, 60);
  assert.equal(cut.length, 59);
  assert.ok(cut.endsWith('…'));
  assert.equal(progressLine(line, undefined), line);
});
