import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { CoreError } from './errors.js';
import { throwIfAborted } from './abort.js';

/** Hash algorithms lading can compute and verify. */
export type DigestAlgorithm = 'sha256' | 'sha512';

/** A validated OCI digest string such as `sha256:<64 lower hex>`. */
export type Digest = string & { readonly __brand: 'Digest' };

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// https://github.com/opencontainers/image-spec/blob/v1.1.1/descriptor.md#digests
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** A sha256 digest cut to 12 hex digits for people (`sha256:0e6a3df0c57c`); anything else unchanged. */
export function shortDigest(digest: string): string {
  return digest.startsWith('sha256:') ? `sha256:${digest.slice(7, 19)}` : digest;
}

/** True when `value` is a well-formed sha256/sha512 digest. */
export function isDigest(value: string): value is Digest {
  return tryParseDigest(value) !== undefined;
}

function tryParseDigest(value: string): { algorithm: DigestAlgorithm; hex: string } | undefined {
  if (!DIGEST_GRAMMAR.test(value)) return undefined;
  const i = value.indexOf(':');
  const algorithm = value.slice(0, i);
  const hex = value.slice(i + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return undefined;
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return { algorithm, hex };
}

/**
 * Parses a digest; upper-case hex and unknown algorithms are refused (image-spec descriptor.md).
 * `what` names the object in the error message.
 */
export function parseDigest(value: string, what = 'digest'): Digest {
  const parsed = tryParseDigest(value);
  if (!parsed) {
    const shown = value.length > 80 ? `${value.slice(0, 80)}...` : value;
    throw new CoreError('DIGEST_INVALID', `${what}: invalid digest ${JSON.stringify(shown)} (want sha256:<64 lower-case hex> or sha512:<128>)`);
  }
  return value as Digest;
}

/** Algorithm and hex part of a digest. */
export function splitDigest(digest: Digest): { algorithm: DigestAlgorithm; hex: string } {
  const i = digest.indexOf(':');
  return { algorithm: digest.slice(0, i) as DigestAlgorithm, hex: digest.slice(i + 1) };
}

/** Digest of bytes held in memory. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

/** Incremental hasher that also counts bytes. */
export class Hasher {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  private bytes = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): this {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    return this;
  }

  get size(): number {
    return this.bytes;
  }

  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
  }
}

/** Expected content for a verifying read. */
export interface Expected {
  digest: Digest;
  size?: number;
  /** Names the object in error messages, e.g. "blob sha256:... of ghcr.io/x". */
  what?: string;
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end (or as soon as
 * the size is exceeded) when the content does not match. Nothing downstream should trust the
 * data before the stream ends without error.
 */
export class VerifyingStream extends Transform {
  private readonly hasher: Hasher;
  private readonly expected: Expected;

  constructor(expected: Expected) {
    super();
    this.expected = expected;
    this.hasher = new Hasher(splitDigest(expected.digest).algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hasher.update(chunk);
    const { size } = this.expected;
    if (size !== undefined && this.hasher.size > size) {
      cb(sizeError(this.expected, this.hasher.size, true));
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      checkResult(this.expected, this.hasher.digest(), this.hasher.size);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

function sizeError(expected: Expected, got: number, atLeast: boolean): CoreError {
  return new CoreError(
    'SIZE_MISMATCH',
    `${expected.what ?? expected.digest}: size mismatch: want ${expected.size} bytes, got ${atLeast ? 'more than that' : `${got}`}`,
  );
}

function checkResult(expected: Expected, digest: Digest, size: number): void {
  if (expected.size !== undefined && size !== expected.size) throw sizeError(expected, size, false);
  if (digest !== expected.digest) {
    throw new CoreError('DIGEST_MISMATCH', `${expected.what ?? 'content'}: digest mismatch: want ${expected.digest}, got ${digest}`);
  }
}

/** Throws DIGEST_MISMATCH / SIZE_MISMATCH unless `data` matches. */
export function verifyBytes(data: Uint8Array, expected: Expected): void {
  if (expected.size !== undefined && data.length !== expected.size) throw sizeError(expected, data.length, false);
  checkResult(expected, digestOf(data, splitDigest(expected.digest).algorithm), data.length);
}

const FILE_CHUNK = 1 << 20;

/** Digest and size of a file, read with one reused 1 MiB buffer (about twice createReadStream's speed). */
export async function digestFile(
  path: string,
  options: { algorithm?: DigestAlgorithm; signal?: AbortSignal } = {},
): Promise<{ digest: Digest; size: number }> {
  const hasher = new Hasher(options.algorithm ?? 'sha256');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(FILE_CHUNK);
    for (;;) {
      throwIfAborted(options.signal, `hashing ${path}`);
      const { bytesRead } = await fh.read(buf, 0, FILE_CHUNK, null);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return { digest: hasher.digest(), size: hasher.size };
}
