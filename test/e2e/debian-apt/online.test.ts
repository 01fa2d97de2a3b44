// Acceptance (issue #4), online: against the apt sources configured on this machine (never a
// hard-coded mirror), lading's resolution of python3 ca-certificates curl + Essential equals
// apt-get's. Skipped when the mirror is unreachable or LADING_OFFLINE=1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptResolve, hostArchitecture } from '../../../src/debian/index.js';
import { aptGetFor } from '../../helpers/apt-repo.js';
import { mirrorSkipReason } from '../../helpers/mirror.js';

const REQUEST = ['python3', 'ca-certificates', 'curl'];
let work: string;
let skip: string | false = false;

async function machineSourceFiles(): Promise<string[]> {
  const files: string[] = [];
  try {
    await readdir('/etc/apt').then((names) => names.includes('sources.list') && files.push('/etc/apt/sources.list'));
    for (const n of (await readdir('/etc/apt/sources.list.d')).sort()) if (/\.(list|sources)$/.test(n)) files.push(join('/etc/apt/sources.list.d', n));
  } catch {
    // none
  }
  return files;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-apt-online-'));
  skip = await mirrorSkipReason();
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('machine mirror: python3 ca-certificates curl + Essential resolves as apt-get does', async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  // Only the sources that answer: third-party sources may be configured but unreachable here.
  const { lock, warnings } = await aptResolve({ packages: REQUEST, architectures: [hostArchitecture()], cacheDir: join(work, 'cache'), retries: 1 });
  const used = new Set(lock.sources.map((s) => `${s.uri} ${s.suite}`));
  const pk = lock.architectures[hostArchitecture()]!.packages;
  const ours = pk.map((p) => `${p.name}=${p.version}`).sort();
  const essential = [...new Set(pk.filter((p) => p.essential).map((p) => p.name))];
  const apt = await aptGetFor({ files: await machineSourceFiles() });
  try {
    const theirs = await apt.simulateInstall([...REQUEST, ...essential]);
    assert.deepEqual(ours, theirs, `sources used: ${[...used].join(', ')}; warnings: ${warnings.join('; ')}`);
  } finally {
    await apt.close();
  }
  assert.ok(lock.sources.every((s) => s.signers.length > 0 || s.trusted));
});
