/**
 * One error base for the whole library. Each module subclasses it with its own code union,
 * so callers switch on `code` instead of parsing messages (see sigstore-js error.ts).
 */
export interface ErrorOptions {
  cause?: unknown;
  /** A short next step for the person reading the message. */
  hint?: string;
}

/** Base of every error lading throws on purpose. `message` starts with its context. */
export class BaseError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly hint: string | undefined;

  constructor(code: Code, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/** Codes raised by the core helpers. */
export type CoreErrorCode =
  | 'DIGEST_INVALID'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'ABORTED'
  | 'TIMEOUT'
  | 'JSON_INVALID'
  | 'EPOCH_INVALID'
  | 'IO';

export class CoreError extends BaseError<CoreErrorCode> {}

/** True for errors lading raised on purpose (as opposed to bugs). */
export function isBaseError(err: unknown): err is BaseError {
  return err instanceof BaseError;
}

/** The message of an error and of its causes, joined: "a: b: c". Never includes a stack. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && !seen.has(cur) && parts.length < 8) {
    seen.add(cur);
    if (cur instanceof Error) {
      const msg = cur.message.trim();
      if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(': ');
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a component of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
};

/** A file-system error in words, without Node's "ECODE: ..., open 'path'" decoration. */
export function fsReason(err: unknown): string {
  const code = errnoCode(err);
  return (code && ERRNO_WORDS[code]) ?? describeError(err);
}

/** An error and its causes (`.cause`, then its `.cause`, ...), each once. */
export function* errorChain(err: unknown): Generator<object> {
  const seen = new Set<unknown>();
  for (let cur: unknown = err; cur !== null && typeof cur === 'object' && !seen.has(cur); cur = (cur as { cause?: unknown }).cause) {
    seen.add(cur);
    yield cur;
  }
}

/** Errno codes that are the machine's, not lading's: a full disk, a read-only store, a path that is a file. */
const ENVIRONMENT_ERRNO = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EISDIR', 'EMFILE', 'ENFILE', 'EIO', 'ENAMETOOLONG']);

/**
 * The first system call failure in an error's chain whose errno is the machine's (see
 * ENVIRONMENT_ERRNO), so callers report it as such and not as a bug.
 */
export function environmentError(err: unknown): (Error & { code: string; syscall?: string; path?: string }) | undefined {
  for (const cur of errorChain(err)) {
    const code = errnoCode(cur);
    if (code !== undefined && typeof (cur as { syscall?: unknown }).syscall === 'string' && ENVIRONMENT_ERRNO.has(code)) return cur as Error & { code: string; syscall?: string; path?: string };
  }
  return undefined;
}

/** Node's errno code of an error (ENOENT, EEXIST, ...) if it has one. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}
