// Public surface of core: errors, digests, JSON, retry, redaction, logging, time, fs and abort helpers.
export { BaseError, CoreError, isBaseError, describeError, errnoCode } from './errors.js';
export type { CoreErrorCode, ErrorOptions } from './errors.js';
export { throwIfAborted, sleep, anySignal, withTimeout } from './abort.js';
export { isDigest, parseDigest, splitDigest, digestOf, digestFile, verifyBytes, Hasher, VerifyingStream } from './digest.js';
export type { Digest, DigestAlgorithm, Expected } from './digest.js';
export { canonicalJson, canonicalJsonBytes, prettyJson, parseJson } from './json.js';
export { retry, backoffDelay } from './retry.js';
export type { RetryOptions, RetryDecision } from './retry.js';
export { redactUrl, redactText, Redactor } from './redact.js';
export { nullLogger, createStreamLogger } from './logger.js';
export type { Logger, LogLevel, LogFields, StreamLoggerOptions } from './logger.js';
export { systemClock, fixedClock, parseSourceDateEpoch, epochToRfc3339 } from './clock.js';
export type { Clock } from './clock.js';
export { createLimiter, mapLimit } from './limit.js';
export type { Limiter } from './limit.js';
export { atomicWriteFile, atomicWriteStream, fsyncDir, pathExists, tempPathFor, withFileLock, LockError } from './fs.js';
export type { AtomicWriteOptions, FileLockOptions, LockErrorCode } from './fs.js';
