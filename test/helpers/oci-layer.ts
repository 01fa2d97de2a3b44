// Shared helpers of the oci layer tests: collect a layer into memory, run independent tools
// (GNU tar, gzip, zstd, umoci) on it, and make fixture trees from code, because git keeps
// neither mtimes nor most modes.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, link, lstat, lutimes, mkdir, mkdtemp, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline as pipelineCb, type Readable } from 'node:stream';
import { CoreError, digestOf, verifyBytes, VerifyingStream, type Digest } from '../../src/core/index.js';
import {
  buildLayer,
  MediaType,
  parseManifestDocument,
  type BlobSource,
  type Descriptor,
  type DirLayerOptions,
  type EntriesLayerOptions,
  type LayerResult,
  type ManifestDocument,
  type ManifestSource,
} from '../../src/oci/index.js';

/** A temp directory under the system temp dir. */
export function tempDir(prefix = 'lading-oci-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Builds a layer into memory; returns the result and the compressed bytes. */
export async function buildToBuffer(
  options: Omit<DirLayerOptions, 'sink'> | Omit<EntriesLayerOptions, 'sink'>,
): Promise<{ result: LayerResult; blob: Buffer }> {
  const chunks: Buffer[] = [];
  const sink = async (s: Readable) => {
    for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  };
  const result = await buildLayer({ ...options, sink } as DirLayerOptions | EntriesLayerOptions);
  return { result, blob: Buffer.concat(chunks) };
}

/** Runs a program; resolves with stdout/stderr/code (never rejects on a nonzero exit). */
export function run(
  cmd: string,
  args: string[],
  options: { input?: Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? Buffer.alloc(0));
  });
}

/** True when a program can be run. */
export async function hasProgram(cmd: string): Promise<boolean> {
  try {
    return (await run('sh', ['-c', `command -v ${cmd}`])).code === 0;
  } catch {
    return false;
  }
}

/** Pseudo-random but reproducible bytes (xorshift32), cheap to make in any amount. */
export function pseudoRandom(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed | 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) b[i] = i & 0xff;
  return b;
}

/** Sets the mtime of every path below (and including) `dir` without following symlinks. */
export async function setTreeMtime(dir: string, seconds: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    const st = await lstat(p);
    if (st.isDirectory()) await setTreeMtime(p, seconds);
    await lutimes(p, seconds, seconds);
  }
  await utimes(dir, seconds, seconds);
}

/** Names in the fixture tree longer than ustar's 100-byte name field. */
export const LONG = {
  /** 150-byte basename: needs a pax path. */
  base: `${'l'.repeat(146)}.txt`,
  /** Splits into ustar prefix + name (a directory of 80 bytes, a file of 40). */
  dir: 'd'.repeat(80),
  file: `${'f'.repeat(36)}.bin`,
  /** More than 255 bytes in total: pax path. */
  deep: ['p'.repeat(90), 'q'.repeat(90), 'r'.repeat(90)],
};

/**
 * The fixture tree of the golden and determinism tests, made from code: directories with
 * explicit modes, regular files (one empty, one executable, one setuid, one 3 MiB so gzip
 * needs several blocks), a hardlink, relative and absolute symlinks, a long symlink target,
 * long names (pax and ustar prefix) and non-ASCII names. `mtime` is given to every path.
 */
export async function makeFixtureTree(dir: string, mtime: number): Promise<void> {
  await mkdir(join(dir, 'etc/app'), { recursive: true });
  await mkdir(join(dir, 'usr/bin'), { recursive: true });
  await mkdir(join(dir, 'usr/share/doc/ü-pkg'), { recursive: true });
  await mkdir(join(dir, LONG.dir), { recursive: true });
  await mkdir(join(dir, ...LONG.deep), { recursive: true });
  await mkdir(join(dir, 'var/empty'), { recursive: true });
  await writeFile(join(dir, 'etc/app/config.yaml'), 'listen: 0.0.0.0:8080\nworkers: 4\n');
  await writeFile(join(dir, 'etc/app/empty'), '');
  await writeFile(join(dir, 'usr/bin/tool'), '#!/bin/sh\necho tool\n');
  await writeFile(join(dir, 'usr/bin/su-helper'), 'setuid\n');
  await writeFile(join(dir, 'usr/share/doc/ü-pkg/copyright'), 'Copyright: ünïcödé\n');
  await writeFile(join(dir, 'usr/share/blob.bin'), pseudoRandom(3 * 1024 * 1024 + 123, 42));
  await writeFile(join(dir, LONG.base), 'long name\n');
  await writeFile(join(dir, LONG.dir, LONG.file), 'prefix split\n');
  await writeFile(join(dir, ...LONG.deep, 'leaf'), 'deep\n');
  await link(join(dir, 'usr/bin/tool'), join(dir, 'usr/bin/tool-alias'));
  await symlink('tool', join(dir, 'usr/bin/tool-link'));
  await symlink('/etc/app/config.yaml', join(dir, 'etc/config-abs'));
  await symlink(`../${'t'.repeat(140)}`, join(dir, 'etc/long-target'));
  await chmod(join(dir, 'usr/bin/tool'), 0o755);
  await chmod(join(dir, 'usr/bin/su-helper'), 0o4755);
  await chmod(join(dir, 'etc/app/config.yaml'), 0o640);
  await chmod(join(dir, 'etc/app/empty'), 0o644);
  await chmod(join(dir, 'usr/share/doc/ü-pkg/copyright'), 0o644);
  await chmod(join(dir, 'usr/share/blob.bin'), 0o644);
  await chmod(join(dir, LONG.base), 0o644);
  await chmod(join(dir, LONG.dir, LONG.file), 0o644);
  await chmod(join(dir, ...LONG.deep, 'leaf'), 0o644);
  for (const d of ['etc', 'etc/app', 'usr', 'usr/bin', 'usr/share', 'usr/share/doc', 'usr/share/doc/ü-pkg', LONG.dir, 'var']) await chmod(join(dir, d), 0o755);
  for (let i = 1; i <= LONG.deep.length; i++) await chmod(join(dir, ...LONG.deep.slice(0, i)), 0o755);
  await chmod(join(dir, 'var/empty'), 0o1777);
  await setTreeMtime(dir, mtime);
}

/**
 * A read-only OCI image layout in a directory, as a BlobSource & ManifestSource, written here
 * from the spec (image-layout.md) so the oci tests need not import the layout module (the
 * import boundaries forbid oci -> layout). Reads verify digests like any real source.
 */
export class DirLayoutSource implements BlobSource, ManifestSource {
  readonly label: string;
  constructor(readonly dir: string) {
    this.label = `oci:${dir}`;
  }

  blobPath(digest: string): string {
    const [alg, hex] = digest.split(':') as [string, string];
    return join(this.dir, 'blobs', alg, hex);
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return stat(this.blobPath(digest)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    const size = (await stat(this.blobPath(desc.digest))).size;
    if (size !== desc.size) throw new CoreError('SIZE_MISMATCH', `${this.label}: blob ${desc.digest}: ${size} bytes, descriptor says ${desc.size}`);
    const verify = new VerifyingStream({ digest: desc.digest, size: desc.size, what: `${this.label}: blob ${desc.digest}` });
    pipelineCb(createReadStream(this.blobPath(desc.digest)), verify, () => undefined);
    return verify;
  }

  async readBlob(desc: Descriptor): Promise<Uint8Array> {
    const data = await readFile(this.blobPath(desc.digest));
    verifyBytes(data, { digest: desc.digest, size: desc.size, what: `${this.label}: blob ${desc.digest}` });
    return data;
  }

  async getManifest(reference: string): Promise<ManifestDocument | undefined> {
    const index = JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const desc = index.manifests.find((d) => d.digest === reference || d.annotations?.['org.opencontainers.image.ref.name'] === reference);
    if (!desc) return undefined;
    return parseManifestDocument(await this.readBlob(desc), { mediaType: desc.mediaType, expected: { digest: desc.digest, size: desc.size } });
  }
}

/** Writes blobs and an index.json (with ref names) as an OCI image layout. */
export async function writeLayout(dir: string, blobs: Iterable<Uint8Array>, entries: Array<{ descriptor: Descriptor; name?: string }>): Promise<DirLayoutSource> {
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
  for (const b of blobs) await writeFile(join(dir, 'blobs/sha256', digestOf(b).slice(7)), b);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const manifests = entries.map((e) => (e.name ? { ...e.descriptor, annotations: { ...e.descriptor.annotations, 'org.opencontainers.image.ref.name': e.name } } : e.descriptor));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  return new DirLayoutSource(dir);
}
