// Shared helpers of the store and from-dir tests: run the CLI in-process or as a real process,
// and make small OCI images and directory trees from code (so git checkouts never change them).
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/index.js';
import { MediaType, encodeDocument, parseManifestDocument, type Descriptor } from '../../src/oci/index.js';
import type { LayoutStore } from '../../src/layout/index.js';

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What a CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `lading ARGS` in this process with captured output (fast; the exit code is main()'s).
 * `env` is added to this process's environment, or with `cleanEnv` is the whole environment.
 */
export async function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; cleanEnv?: boolean } = {}): Promise<CliRun> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c: Buffer) => (stdout += c.toString()));
  err.on('data', (c: Buffer) => (stderr += c.toString()));
  const env = options.cleanEnv ? { ...options.env } : { ...process.env, ...options.env };
  const code = await main([...args], { stdout: out, stderr: err, env, cwd: options.cwd ?? process.cwd(), signal: new AbortController().signal });
  return { code, stdout, stderr };
}

/** Runs `lading ARGS` as a separate node process (through tsx), as a user would. */
export function spawnCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return runProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/lading-main.ts'), ...args], { cwd: options.cwd ?? ROOT, env: options.env });
}

/** Runs a program to completion and collects its output. */
export function runProcess(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: { ...process.env, NODE_OPTIONS: '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

const scratchDirs = new Set<string>();

/** A fresh temp directory, removed by removeScratch() (call it from the test file's `after`). */
export async function scratch(prefix = 'lading-store-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratchDirs.add(dir);
  return dir;
}

/** Removes every directory scratch() made in this process. */
export async function removeScratch(): Promise<void> {
  for (const dir of scratchDirs) await rm(dir, { recursive: true, force: true });
  scratchDirs.clear();
}

/** Docker's canonical 32-byte gzipped empty tar (spec notes §13). */
export const EMPTY_TAR_GZ = Buffer.from('1f8b080000096e8800ff621805a360148c5800080000ffff2eafb5ef00040000', 'hex');
/** diff_id of the empty tar: 1024 zero bytes. */
export const EMPTY_TAR_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/**
 * Writes a one-layer image made from a given layer blob (gzip tar) into the store and names it.
 * Returns the manifest descriptor. Used to build images lading's writer could never produce.
 */
export async function putImage(store: LayoutStore, name: string, layer: { blob: Uint8Array; diffId: string; mediaType?: string }, extra: { config?: Record<string, unknown> } = {}): Promise<Descriptor> {
  const l = await store.writeBlob(layer.blob);
  const cfg = encodeDocument({ architecture: 'amd64', os: 'linux', ...extra.config, rootfs: { type: 'layers', diff_ids: [layer.diffId] } }, MediaType.OciConfig);
  const c = await store.writeBlob(cfg.raw);
  const m = encodeDocument(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: c.digest, size: c.size },
      layers: [{ mediaType: layer.mediaType ?? MediaType.OciLayerGzip, digest: l.digest, size: l.size }],
    },
    MediaType.OciManifest,
  );
  const doc = parseManifestDocument(m.raw);
  await store.putManifest(doc, { tag: name });
  return { mediaType: doc.mediaType, digest: doc.digest, size: doc.raw.length };
}

/**
 * A small directory tree made from code: files with modes, a nested directory, a symlink, an
 * empty directory and an executable. `mtime` (seconds) is applied to everything it creates.
 */
export async function makeTree(root: string, options: { mtime?: number } = {}): Promise<void> {
  const files: Array<[string, string, number]> = [
    ['etc/hello.conf', 'greeting = hello\n', 0o644],
    ['usr/bin/hello', '#!/bin/sh\necho "hello from lading"\n', 0o755],
    ['usr/share/doc/hello/README', 'A tiny tree for from-dir tests.\n', 0o644],
    ['var/lib/hello/state', '', 0o600],
  ];
  for (const [rel, content, mode] of files) {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, content);
    await chmod(p, mode);
  }
  await mkdir(join(root, 'tmp'), { recursive: true });
  // Directory modes set explicitly: mkdir's depend on the umask.
  for (const d of ['.', 'etc', 'usr', 'usr/bin', 'usr/share', 'usr/share/doc', 'usr/share/doc/hello', 'var', 'var/lib', 'var/lib/hello']) await chmod(join(root, d), 0o755);
  await chmod(join(root, 'tmp'), 0o1777);
  await symlink('hello', join(root, 'usr/bin/hi'));
  if (options.mtime !== undefined) {
    const t = new Date(options.mtime * 1000);
    for (const rel of [...files.map((f) => f[0]), 'tmp', 'etc', 'usr/bin', 'usr/share/doc/hello', 'usr/share/doc', 'usr/share', 'usr', 'var/lib/hello', 'var/lib', 'var', '.']) {
      await utimes(join(root, rel), t, t);
    }
  }
}

/** Deterministic pseudo-random content: `mib` MiB, chunk i of 1 MiB tagged with i (same bytes in any process). */
export function* patternChunks(mib: number): Generator<Buffer> {
  const base = Buffer.alloc(1 << 20);
  let x = 0x2545f491;
  for (let i = 0; i < base.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    base.writeUInt32LE(x >>> 0, i);
  }
  for (let i = 0; i < mib; i++) {
    const chunk = Buffer.from(base);
    chunk.writeUInt32LE(i, 0);
    yield chunk;
  }
}
