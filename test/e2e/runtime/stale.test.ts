// A lading process killed with SIGKILL leaves its container running (`runc run` outlives its
// parent); removeStaleContainers stops and deletes it, and leaves live lading processes' alone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { detectRuntime, removeStaleContainers, runInRootfs, RuntimeError, type RuntimeInfo } from '../../../src/runtime/index.js';
import { makeBusyboxRootfs } from '../../helpers/busybox-rootfs.js';

const execFileP = promisify(execFile);

let runtime: RuntimeInfo | undefined;
let skip: string | false = false;
try {
  runtime = await detectRuntime();
} catch (err) {
  if (err instanceof RuntimeError && (err.code === 'NO_RUNTIME' || err.code === 'ROOTLESS_UNSUPPORTED')) skip = `no OCI runtime can run containers here: ${err.message}`;
  else throw err;
}

const scratch = await mkdtemp(join(tmpdir(), 'lading-stale-e2e-'));
after(() => rm(scratch, { recursive: true, force: true }));

async function ids(): Promise<string[]> {
  // runc list fails when a container of a concurrent test is deleted while it lists: try again.
  for (let n = 0; ; n++) {
    try {
      const { stdout } = await execFileP((runtime as RuntimeInfo).path, ['list', '-q']);
      return stdout.split('\n').filter(Boolean);
    } catch (err) {
      if (n >= 5 || !/no such file or directory/i.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function waitFor(prefix: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const hit = (await ids()).find((id) => id.startsWith(prefix));
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no container ${prefix}* appeared`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the container of a SIGKILLed lading process is stopped, deleted and its bundle removed; a live one is kept', { skip }, async () => {
  const rt = runtime as RuntimeInfo;
  const { rootfs } = await makeBusyboxRootfs(scratch);
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'sleeper-child.ts'), rootfs], { stdio: ['ignore', 'pipe', 'inherit'] });
  const childPid = child.pid as number;
  const ours = new AbortController();
  const own = runInRootfs({ rootfs, args: ['/bin/sleep', '300'], runtime: rt, signal: ours.signal }).catch((err: unknown) => err);
  try {
    const stale = await waitFor(`lading-${childPid}-`);
    const mine = await waitFor(`lading-${process.pid}-`);
    const state = JSON.parse((await execFileP(rt.path, ['state', stale])).stdout) as { pid: number; bundle: string };
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The problem is real: the container outlives the process that started it.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await ids()).includes(stale), 'the container survived its lading process');
    assert.ok(alive(state.pid), 'its command still runs');

    const removed = await removeStaleContainers({ runtimes: [rt.path] });
    // (Other stale lading containers on the machine, if any, go too; only ours is checked.)
    assert.deepEqual(removed.filter((r) => r.owner === childPid).map((r) => [r.id, r.owner, r.removed]), [[stale, childPid, true]]);
    assert.ok(!removed.some((r) => r.owner === process.pid), 'nothing of this live process is touched');
    const left = await ids();
    assert.ok(!left.includes(stale), 'the stale container is gone');
    assert.ok(left.includes(mine), "this process's own container is kept");
    assert.ok(!existsSync(state.bundle), `its bundle ${state.bundle} is removed`);
    for (let i = 0; i < 50 && alive(state.pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(state.pid), 'its command was killed');
    // Nothing more to do the second time.
    assert.deepEqual((await removeStaleContainers({ runtimes: [rt.path] })).filter((r) => r.owner === childPid), []);
  } finally {
    if (alive(childPid)) child.kill('SIGKILL');
    ours.abort();
    await own;
  }
});
