import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BuildSummary } from '../../build/index.js';
import { formatBuildSummary } from './build.js';

const summary = (reason: string): BuildSummary =>
  ({
    family: 'f',
    store: '/s',
    lock: { path: '/s/lading.lock', written: false },
    plan: { selection: { selected: ['a'] } },
    built: [],
    reused: [],
    failed: [{ image: 'a', arch: 'amd64', code: 'STEP_FAILED', reason, log: '/s/a.log', attempts: 1 }],
    skipped: [],
    names: [],
    logDir: '/s/logs',
    overlay: true,
    durationMs: 1000,
  }) as unknown as BuildSummary;

test("a failure's output reaches the terminal without its control characters (escape sequences shown as \\xNN)", () => {
  const text = formatBuildSummary(summary('image a (amd64): run step "s" exited with 1:\n    \u001b[31mred\u001b[0m\rover\tok\n  log: /s/a.log'), '/');
  assert.ok(![...text].some((c) => c.charCodeAt(0) < 32 && c !== '\n' && c !== '\t'), JSON.stringify(text));
  assert.match(text, /\\x1b\[31mred\\x1b\[0m\\x0dover\tok/);
});
