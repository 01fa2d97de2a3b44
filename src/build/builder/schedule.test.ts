import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimatedCost, scheduleOrder } from './schedule.js';
import type { PlanStep } from '../plan/schema.js';

const HASH = `sha256:${'0'.repeat(64)}`;

function build(image: string, parent: string | undefined, packages: number): PlanStep {
  const pkgs = Object.fromEntries(Array.from({ length: packages }, (_, i) => [`${image}-p${i}`, { version: '1', sha256: '0'.repeat(64) }]));
  const p = parent ? { kind: 'image' as const, name: parent, inputHash: HASH } : { kind: 'scratch' as const };
  return {
    kind: 'build',
    image,
    arch: 'amd64',
    inputHash: HASH,
    parent: p,
    reasons: [{ code: 'new', message: 'new' }],
    inputs: { layerFormat: 1, image, arch: 'amd64', parent: p, definition: {}, packages: pkgs, files: {}, epoch: 'packages' },
  } as PlanStep;
}

function reuse(image: string, parent: string): PlanStep {
  return { kind: 'reuse', image, arch: 'amd64', inputHash: HASH, parent: { kind: 'image', name: parent, inputHash: HASH }, digest: HASH };
}

test('siblings start by the cost of the chain below them; parents stay first; ties keep the plan order', () => {
  // base -> [alpha (40 packages), beta (5) -> gamma (60), delta (40)]
  const batches = [[build('base', undefined, 70)], [build('alpha', 'base', 40), build('beta', 'base', 5), build('delta', 'base', 40)], [build('gamma', 'beta', 60)]];
  assert.deepEqual(scheduleOrder(batches).map((s) => s.image), ['base', 'beta', 'alpha', 'delta', 'gamma']);
  // The plan's own order is what batches.flat() gives; only the middle batch moved.
  assert.deepEqual(batches.flat().map((s) => s.image), ['base', 'alpha', 'beta', 'delta', 'gamma']);
});

test('reused images cost nothing, and a custom cost function is used as given', () => {
  const batches = [[build('base', undefined, 1)], [reuse('kept', 'base'), build('small', 'base', 1)], [build('big', 'kept', 9)]];
  assert.equal(estimatedCost(batches[1]?.[0] as PlanStep), 0);
  assert.equal(estimatedCost(batches[1]?.[1] as PlanStep), 2);
  // kept (0) + big (10) outweighs small (2).
  assert.deepEqual(scheduleOrder(batches).map((s) => s.image), ['base', 'kept', 'small', 'big']);
  assert.deepEqual(scheduleOrder(batches, (s) => (s.image === 'small' ? 100 : 1)).map((s) => s.image), ['base', 'small', 'kept', 'big']);
});
