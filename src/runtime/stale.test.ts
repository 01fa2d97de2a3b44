import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processTag } from '../core/index.js';
import { removeStaleContainers } from './stale.js';

test('bundles and probe roots of dead lading processes are removed from the temp dirs, never recursively; live ones and other names stay', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-stale-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // This pid with another start time: a process that is gone (the pid names someone else now).
  const dead = `${process.pid}-1`;
  const live = processTag();
  const bundle = join(dir, `lading-bundle-${dead}-aB3xYz`);
  await mkdir(bundle);
  await writeFile(join(bundle, 'config.json'), '{}');
  await writeFile(join(bundle, 'runtime.log'), '');
  const probe = join(dir, `lading-probe-${dead}-Qw12Er`);
  await mkdir(join(probe, 'usr'), { recursive: true });
  await symlink('usr/bin', join(probe, 'bin'));
  const full = join(dir, `lading-probe-${dead}-Zx98Cv`);
  await mkdir(join(full, 'usr'), { recursive: true });
  await writeFile(join(full, 'usr', 'keep'), 'x');
  const mine = join(dir, `lading-bundle-${live}-Mn45Bv`);
  await mkdir(mine);
  await writeFile(join(mine, 'config.json'), '{}');
  const legacy = join(dir, 'lading-bundle-Po09Iu');
  await mkdir(legacy);

  await removeStaleContainers({ runtimes: [], tmpDirs: [dir] });
  assert.deepEqual((await readdir(dir)).sort(), [`lading-bundle-${live}-Mn45Bv`, 'lading-bundle-Po09Iu', `lading-probe-${dead}-Zx98Cv`].sort());
  assert.ok(existsSync(join(full, 'usr', 'keep')), 'content below a first-level directory is never deleted');
});
