// Compression streams for layers. gzip comes from node:zlib; Node 20 has no zstd, so zstd runs
// through the `zstd` program (Debian package zstd) as a pipe, which keeps memory constant.
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, type Transform } from 'node:stream';
import { constants as zc, createGunzip, createGzip } from 'node:zlib';
import { OciError } from './errors.js';
import type { LayerCompression } from './mediatypes.js';

/** A stream that runs a program, feeding stdin and emitting stdout; a nonzero exit is an error. */
function programStream(cmd: string, args: string[], what: string): Duplex {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const out = new PassThrough();
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let stdoutEnded = false;
  const finish = () => {
    if (!exited || !stdoutEnded) return;
    if (exited.code === 0) out.end();
    else out.destroy(new OciError('LAYER_INVALID', `${what}: ${cmd} failed (${exited.code ?? exited.signal}): ${stderr.trim()}`));
  };
  child.stdout.on('data', (c: Buffer) => {
    if (!out.write(c)) {
      child.stdout.pause();
      out.once('drain', () => child.stdout.resume());
    }
  });
  child.stdout.on('end', () => {
    stdoutEnded = true;
    finish();
  });
  child.on('error', (err) => out.destroy(new OciError('LAYER_INVALID', `${what}: cannot run ${cmd}: ${err.message}`, { cause: err })));
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    finish();
  });
  child.stdin.on('error', () => undefined); // EPIPE when the program dies; reported through exit
  const duplex = Duplex.from({ writable: child.stdin, readable: out });
  duplex.on('close', () => {
    if (!exited) child.kill('SIGKILL');
  });
  return duplex;
}

export interface CompressOptions {
  /** gzip 1-9 (default 6), zstd 1-19 (default 3). */
  level?: number;
}

/** A compressing stream for a layer. gzip headers carry no name and mtime 0 (Node's default). */
export function createCompressor(compression: LayerCompression, options: CompressOptions = {}): Transform | Duplex {
  switch (compression) {
    case 'gzip':
      return createGzip({ level: options.level ?? 6, chunkSize: 256 * 1024, strategy: zc.Z_DEFAULT_STRATEGY });
    case 'zstd':
      // -T1 keeps the output independent of the core count; --no-check for parity with Go writers.
      return programStream('zstd', ['-q', '-c', `-${options.level ?? 3}`, '-T1'], 'zstd compression');
    case 'none':
      return new PassThrough();
  }
}

/** A decompressing stream for a layer blob. */
export function createDecompressor(compression: LayerCompression): Transform | Duplex {
  switch (compression) {
    case 'gzip':
      return createGunzip({ chunkSize: 256 * 1024 });
    case 'zstd':
      return programStream('zstd', ['-q', '-d', '-c'], 'zstd decompression');
    case 'none':
      return new PassThrough();
  }
}
