import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../core/index.js';
import { markReused, readBuildRecords, recordPaths, writeBuildRecord } from './records.js';
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
  // A store path that is a file is named as the store, not as a records directory.
  await writeFile(join(store, 'a-file'), 'not a store\n');
  await assert.rejects(readBuildRecords({ storePath: join(store, 'a-file'), family: 'demo' }), { code: 'NOT_A_LAYOUT', message: `oci:${join(store, 'a-file')}: not a directory` });
  // One that does not exist yet is an empty store.
  assert.deepEqual(await readBuildRecords({ storePath: join(store, 'new'), family: 'demo' }), { records: [], previous: [] });
  const a1 = record('base', 'a', '1', '2026-11-01T00:00:00Z');
  const a2 = record('base', 'b', '2', '2026-11-02T00:00:00Z');
  await writeBuildRecord({ storePath: store, record: a1 });
  await writeBuildRecord({ storePath: store, record: a2 });
  // Only the image of the first build is in the store.
  await mkdir(join(store, 'blobs', 'sha256'), { recursive: true });
  const desc = (h: string) => ({ mediaType: 'application/octet-stream', digest: `sha256:${hex(h)}`, size: 2 });
  await writeFile(join(store, 'blobs', 'sha256', hex('1')), JSON.stringify({ schemaVersion: 2, config: desc('e'), layers: [desc('f')] }));
  await writeFile(join(store, 'blobs', 'sha256', hex('e')), '{}');
  await writeFile(join(store, 'blobs', 'sha256', hex('f')), '{}');
  // A corrupt record is skipped, not fatal: records only save work. It is said, with its path.
  const corrupt = join(recordPaths(store).byHash, `${hex('c')}.json`);
  await writeFile(corrupt, '{"recordVersion":');
  const warnings: string[] = [];
  const logger = { ...nullLogger, warn: (m: string) => void warnings.push(m) };
  const state = await readBuildRecords({ storePath: store, family: 'demo', logger });
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.ok(warnings[0]?.startsWith(`build record ${corrupt} is unreadable (`), warnings[0]);
  assert.equal(warnings[0]?.split(corrupt).length, 2, `the path once: ${warnings[0]}`);
  assert.deepEqual(state.records, [a1]);
  assert.deepEqual(state.previous, [a2]);
  assert.deepEqual(await readBuildRecords({ storePath: store, family: 'other' }), { records: [], previous: [] });
  // Reusing the first build (a change reverted) makes it the latest again, for later reasons.
  await markReused({ storePath: store, family: 'demo', image: 'base', arch: 'amd64', inputHash: a1.inputHash });
  assert.deepEqual((await readBuildRecords({ storePath: store, family: 'demo' })).previous, [a1]);
  // A manifest whose layer is truncated, or gone, is no image to reuse.
  await writeFile(join(store, 'blobs', 'sha256', hex('f')), '{');
  assert.deepEqual((await readBuildRecords({ storePath: store, family: 'demo' })).records, []);
  await rm(join(store, 'blobs', 'sha256', hex('f')));
  assert.deepEqual((await readBuildRecords({ storePath: store, family: 'demo' })).records, []);
  await assert.rejects(writeBuildRecord({ storePath: store, record: { ...a1, digest: 'nope' } }));
});
