// A lading process killed with SIGKILL leaves its container running (`runc run` outlives its
// parent); removeStaleContainers stops and deletes it, and leaves live lading processes' alone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isProcessAlive } from '../../../src/core/index.js';
import { removeStaleContainers, runInRootfs, type RuntimeInfo } from '../../../src/runtime/index.js';
import { makeBusyboxRootfs } from '../../helpers/busybox-rootfs.js';
import { containerIds, testRuntime } from '../../helpers/runtime.js';

const execFileP = promisify(execFile);

const { runtime, skip } = await testRuntime();

const scratch = await mkdtemp(join(tmpdir(), 'lading-stale-e2e-'));
after(() => rm(scratch, { recursive: true, force: true }));

interface ContainerState {
  id: string;
  status: string;
  pid: number;
  bundle: string;
}

/**
 * The running container whose id starts with `prefix`. Containers that come and go (the child's
 * runtime probe has the same prefix) are passed over: only one still there when asked is taken.
 */
async function waitFor(prefix: string, rt: RuntimeInfo = runtime as RuntimeInfo): Promise<ContainerState> {
  for (let i = 0; i < 200; i++) {
    for (const id of (await containerIds(rt)).filter((c) => c.startsWith(prefix))) {
      const state = await execFileP(rt.path, ['state', id]).then((r) => JSON.parse(r.stdout) as ContainerState, () => undefined);
      if (state?.status === 'running') return state;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no running container ${prefix}* appeared`);
}

test('the container of a SIGKILLed lading process is stopped, deleted and its bundle removed; a live one is kept', { skip }, async () => {
  const rt = runtime as RuntimeInfo;
  const { rootfs } = await makeBusyboxRootfs(scratch);
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'sleeper-child.ts'), rootfs], { stdio: ['ignore', 'pipe', 'inherit'] });
  const childPid = child.pid as number;
  const ours = new AbortController();
  const own = runInRootfs({ rootfs, args: ['/bin/sleep', '300'], runtime: rt, signal: ours.signal }).catch((err: unknown) => err);
  try {
    const state = await waitFor(`lading-${childPid}-`);
    const stale = state.id;
    const mine = (await waitFor(`lading-${process.pid}-`)).id;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The problem is real: the container outlives the process that started it.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await containerIds(runtime as RuntimeInfo)).includes(stale), 'the container survived its lading process');
    assert.ok(isProcessAlive(state.pid), 'its command still runs');

    const removed = await removeStaleContainers({ runtimes: [rt.path] });
    // (Other stale lading containers on the machine, if any, go too; only ours is checked.)
    assert.deepEqual(removed.filter((r) => r.owner === childPid).map((r) => [r.id, r.owner, r.removed]), [[stale, childPid, true]]);
    assert.ok(!removed.some((r) => r.owner === process.pid), 'nothing of this live process is touched');
    const left = await containerIds(rt);
    assert.ok(!left.includes(stale), 'the stale container is gone');
    assert.ok(left.includes(mine), "this process's own container is kept");
    assert.ok(!existsSync(state.bundle), `its bundle ${state.bundle} is removed`);
    for (let i = 0; i < 50 && isProcessAlive(state.pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!isProcessAlive(state.pid), 'its command was killed');
    // Nothing more to do the second time.
    assert.deepEqual((await removeStaleContainers({ runtimes: [rt.path] })).filter((r) => r.owner === childPid), []);
  } finally {
    if (isProcessAlive(childPid)) child.kill('SIGKILL');
    ours.abort();
    await own;
  }
});

test('a custom LADING_RUNTIME keeps its own container state: its stale containers are found through it too', { skip }, async () => {
  const rt = runtime as RuntimeInfo;
  const { rootfs } = await makeBusyboxRootfs(scratch);
  // A wrapper with its own state root, as a site's runtime path may be: runc alone never lists it.
  const root = join(scratch, 'wrapper-state');
  await mkdir(root);
  const wrapper = join(scratch, 'site-runtime');
  await writeFile(wrapper, `#!/bin/sh\nexec '${rt.path}' --root '${root}' "$@"\n`);
  await chmod(wrapper, 0o755);
  const asWrapper: RuntimeInfo = { ...rt, path: wrapper };
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'sleeper-child.ts'), rootfs], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LADING_RUNTIME: wrapper } });
  const childPid = child.pid as number;
  try {
    // The child started its container through the wrapper (its short-lived runtime probe, same
    // prefix, is passed over: it was taken once and was gone before the sweep).
    const stale = (await waitFor(`lading-${childPid}-`, asWrapper)).id;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.deepEqual((await removeStaleContainers({ env: {} })).filter((r) => r.owner === childPid), [], 'runc and crun alone do not see it');
    const removed = await removeStaleContainers({ env: { LADING_RUNTIME: wrapper } });
    assert.deepEqual(removed.filter((r) => r.owner === childPid).map((r) => [r.runtime, r.id, r.removed]), [[wrapper, stale, true]]);
    assert.ok(!(await containerIds(asWrapper)).includes(stale));
  } finally {
    if (isProcessAlive(childPid)) child.kill('SIGKILL');
  }
});
