// Decompression of apt indexes and .deb members. gzip runs in node:zlib; xz, zstd and bzip2 run
// as programs through core's programStream: `xz -dc` decodes Packages.xz faster than any npm
// package measured here (DEPENDENCIES.md), and Node 20 has no zstd.
import { PassThrough, addAbortSignal, type Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BaseError, programStream } from '../core/index.js';
import { DebianError } from './errors.js';

/** Compression of an index or archive member, named after the file suffix. */
export type Compression = 'gz' | 'xz' | 'zst' | 'bz2' | 'lzma' | 'none';

/** Options of createDecompressor. */
export interface DecompressOptions {
  /** Names the data in errors, e.g. "dists/bookworm/main/binary-amd64/Packages.xz". */
  what: string;
  signal?: AbortSignal;
}

/** The compression implied by a file name's suffix (`Packages.xz` -> `xz`, `data.tar` -> `none`). */
export function compressionFromName(filename: string): Compression {
  const m = /\.(gz|xz|zst|bz2|lzma)$/.exec(filename);
  return m ? (m[1] as Compression) : 'none';
}

/** The file suffix for a compression, with its dot ('' for none). */
export function compressionSuffix(kind: Compression): string {
  return kind === 'none' ? '' : `.${kind}`;
}

const PROGRAMS: Record<'xz' | 'zst' | 'bz2' | 'lzma', [string, string[]]> = {
  xz: ['xz', ['-dc']],
  // xz's auto format detection also reads legacy .lzma (data.tar.lzma, deb.pod).
  lzma: ['xz', ['-dc', '--format=lzma']],
  zst: ['zstd', ['-dcq']],
  bz2: ['bzip2', ['-dc']],
};

/**
 * A stream that decompresses `kind`. Corrupt input or a failing codec program fails the stream
 * with a DebianError('DECOMPRESS_FAILED') whose message starts with `what`.
 */
export function createDecompressor(kind: Compression, options: DecompressOptions): Duplex {
  let stream: Duplex;
  switch (kind) {
    case 'none':
      stream = new PassThrough({ highWaterMark: 256 * 1024 });
      break;
    case 'gz':
      stream = createGunzip({ chunkSize: 256 * 1024 });
      break;
    default: {
      const [cmd, args] = PROGRAMS[kind];
      return renameErrors(programStream(cmd, args, { what: `decompressing ${options.what}`, signal: options.signal }), options.what);
    }
  }
  if (options.signal) addAbortSignal(options.signal, stream);
  return renameErrors(stream, options.what);
}

/** Turns codec errors (zlib's "incorrect header check", a program's exit status) into DebianErrors naming the data. */
function renameErrors(stream: Duplex, what: string): Duplex {
  const inner = stream as Duplex & { _destroy(err: Error | null, cb: (err?: Error | null) => void): void };
  const original = inner._destroy.bind(inner);
  inner._destroy = (err, cb) =>
    original(err, (e) => {
      if (!e || e instanceof DebianError || e.name === 'AbortError' || (e instanceof BaseError && e.code === 'ABORTED')) return cb(e);
      const msg = e instanceof BaseError ? e.message : `decompressing ${what}: ${e.message}`;
      cb(new DebianError('DECOMPRESS_FAILED', msg, { cause: e }));
    });
  return stream;
}
