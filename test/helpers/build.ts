// Helpers for the image-family build tests: run the lading CLI in-process, unpack a built image
// with umoci (an independent reader) and run commands in it with the real runc.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BuildSummarySchema, type BuildSummary } from '../../src/build/index.js';
import { runCli, type CliRun } from './store.js';
import { openLayout } from '../../src/layout/index.js';
import { validateImage, type ValidationReport } from '../../src/oci/index.js';
import { runInRootfs, type RunResult } from '../../src/runtime/index.js';

const execFileP = promisify(execFile);

/** Runs `lading ARGS` in `cwd` with the given store and cache (never the caller's LADING_* settings). */
export async function lading(args: readonly string[], options: { cwd: string; store: string; cache: string; env?: NodeJS.ProcessEnv }): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, LADING_STORE: options.store, LADING_CACHE: options.cache, ...(options.env ?? {}) };
  delete env.CI;
  return runCli(args, { cwd: options.cwd, env, cleanEnv: true });
}

/**
 * `lading --json build ARGS`: the summary, checked against the published schema
 * (schemas/build-summary.schema.json); a thrown error with the output when it is not JSON.
 */
export async function buildJson(args: readonly string[], options: { cwd: string; store: string; cache: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; summary: BuildSummary; stderr: string }> {
  const r = await lading(['--json', 'build', ...args], options);
  let summary: BuildSummary | undefined;
  try {
    summary = JSON.parse(r.stdout) as BuildSummary;
  } catch {
    // not JSON
  }
  // An error before building is printed as {"error": ...}.
  if (summary === undefined || 'error' in summary) throw new Error(`lading build ${args.join(' ')} exited ${r.code} without a JSON summary:\n${r.stdout}\n${r.stderr}`);
  const checked = BuildSummarySchema.safeParse(summary);
  if (!checked.success) throw new Error(`lading build ${args.join(' ')}: the summary does not match its schema:\n${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')}`);
  return { code: r.code, summary, stderr: r.stderr };
}

/** Digest per "image arch" of a summary's built and reused images. */
export function digests(s: BuildSummary): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of s.built) out[`${b.image} ${b.arch}`] = b.digest;
  for (const r of s.reused) out[`${r.image} ${r.arch}`] = r.digest;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** validate() of a named image in a store, layers fully checked. */
export async function validateStored(store: string, name: string): Promise<ValidationReport> {
  const layout = await openLayout({ path: store });
  return validateImage({ source: layout, reference: name, layers: 'full' });
}

/** Unpacks `store:name` with umoci into a fresh directory; returns the rootfs and a cleanup. */
export async function umociUnpack(store: string, name: string): Promise<{ rootfs: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-umoci-'));
  const bundle = join(dir, 'bundle');
  try {
    await execFileP('umoci', ['unpack', '--image', `${store}:${name}`, bundle], { maxBuffer: 1 << 24 });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return { rootfs: join(bundle, 'rootfs'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs a shell command in a rootfs with runc and returns its result. */
export function shIn(rootfs: string, script: string, user?: string): Promise<RunResult> {
  return runInRootfs({ rootfs, args: ['/bin/sh', '-c', script], ...(user ? { user } : {}), env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8' } });
}
