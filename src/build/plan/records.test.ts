import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBuildRecords, recordPaths, writeBuildRecord } from './records.js';
import type { BuildRecord } from './schema.js';

const hex = (c: string) => c.repeat(64);

function record(image: string, h: string, digest: string, builtAt: string): BuildRecord {
  return {
    recordVersion: 1,
    family: 'demo',
    image,
    arch: 'amd64',
    inputHash: `sha256:${hex(h)}`,
    digest: `sha256:${hex(digest)}`,
    inputs: { layerFormat: 1, image, arch: 'amd64', parent: { kind: 'scratch' }, definition: {}, packages: {}, files: {}, epoch: 'packages' },
    builtAt,
  };
}

test('build records: written atomically, read back only while their image is in the store', async (t) => {
  const store = await mkdtemp(join(tmpdir(), 'lading-records-'));
  t.after(() => rm(store, { recursive: true, force: true }));
  assert.deepEqual(await readBuildRecords({ storePath: store, family: 'demo' }), { records: [], previous: [] });
  const a1 = record('base', 'a', '1', '2026-11-01T00:00:00Z');
  const a2 = record('base', 'b', '2', '2026-11-02T00:00:00Z');
  await writeBuildRecord({ storePath: store, record: a1 });
  await writeBuildRecord({ storePath: store, record: a2 });
  // Only the manifest of the first build is in the store.
  await mkdir(join(store, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(store, 'blobs', 'sha256', hex('1')), '{}');
  // A corrupt record is skipped, not fatal: records only save work.
  await writeFile(join(recordPaths(store).byHash, `${hex('c')}.json`), '{"recordVersion":');
  const state = await readBuildRecords({ storePath: store, family: 'demo' });
  assert.deepEqual(state.records, [a1]);
  assert.deepEqual(state.previous, [a2]);
  assert.deepEqual(await readBuildRecords({ storePath: store, family: 'other' }), { records: [], previous: [] });
  await assert.rejects(writeBuildRecord({ storePath: store, record: { ...a1, digest: 'nope' } }));
});
