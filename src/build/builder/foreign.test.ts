import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { lockFromCatalog } from '../../../test/helpers/family-lock.js';
import { parseFamily } from '../config/load.js';
import { planBuild } from '../plan/plan.js';
import { foreignArchBlocks } from './foreign.js';

const binfmtDir = fileURLToPath(new URL('../../runtime/testdata/binfmt', import.meta.url));

const CONFIG = `format: 1
project: {name: demo}
sources:
  - deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.example.org/debian bookworm main
suites: [bookworm]
architectures: [amd64, arm64, armhf, s390x]
images:
  base:
    from: scratch
    packages: [bash]
  data:
    from: base
    files: []
  steps:
    from: base
    run:
      - {name: one, script: "true"}
      - {name: two, script: "true"}
  both:
    from: base
    packages: [curl]
    run:
      - {name: check, script: "curl --version"}
  quiet:
    from: base
    packages: [curl]
    maintainerScripts: skip
`;

test('images that must run scripts or steps on an architecture binfmt_misc cannot run are named before anything is fetched', async () => {
  const parsed = parseFamily({ config: { file: 'lading.yaml', text: CONFIG }, hostArchitecture: 'amd64' });
  assert.ok(parsed.family, parsed.problems.map((p) => p.message).join('\n'));
  const family = parsed.family;
  const lock = lockFromCatalog(family);
  const plan = planBuild({ family, lock, files: {}, lockFile: 'lading.lock' });
  const blocks = await foreignArchBlocks({ plan, family, lock, lockFile: 'lading.lock', binfmtDir, hostArch: 'amd64' });
  // amd64 is native and arm64 has an F-flag handler in the fixtures; armhf's handler lacks the F
  // flag (only the build can look for its interpreter in the image); s390x has no handler.
  assert.deepEqual(
    blocks.map((b) => `${b.image} ${b.arch}: ${b.what}`),
    ['base s390x: maintainer scripts', 'both s390x: maintainer scripts and run step "check"', 'steps s390x: run steps "one", "two"'],
  );
  assert.match(blocks[0]?.message ?? '', /^image base \(s390x\): cannot run maintainer scripts: s390x needs qemu-user emulation, but no handler .*qemu-s390x is registered/);
  // A change of config alone runs nothing: it is never blocked.
  const configOnly = { ...plan, batches: plan.batches.map((b) => b.map((s) => (s.kind === 'build' ? { ...s, layersFrom: `sha256:${'0'.repeat(64)}` } : s))) };
  assert.deepEqual(await foreignArchBlocks({ plan: configOnly, family, lock, lockFile: 'lading.lock', binfmtDir, hostArch: 'amd64' }), []);
});
