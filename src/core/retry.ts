import { sleep, throwIfAborted } from './abort.js';

/** What a retry policy decides about one failure. */
export type RetryDecision = false | true | { delayMs: number };

export interface RetryOptions {
  /** Attempts after the first one. Default 4. */
  retries?: number;
  /** First backoff delay. Default 200 ms. */
  baseDelayMs?: number;
  /** Upper bound for one delay. Default 10 s. */
  maxDelayMs?: number;
  /** Multiplier per attempt. Default 2. */
  factor?: number;
  /** Fraction of random spread added to each delay, 0..1. Default 0.2. */
  jitter?: number;
  /** Decides whether an error is worth another attempt, optionally with a server-given delay (Retry-After). */
  shouldRetry?: (err: unknown, attempt: number) => RetryDecision;
  /** Called before sleeping. */
  onRetry?: (info: { err: unknown; attempt: number; delayMs: number }) => void;
  signal?: AbortSignal;
  /** Source of randomness for jitter, for tests. */
  random?: () => number;
}

/** Delay before attempt `attempt` (1-based retry count) under exponential backoff with jitter. */
export function backoffDelay(attempt: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 10_000;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  const raw = Math.min(max, base * factor ** (attempt - 1));
  return Math.round(raw * (1 + jitter * random()));
}

/**
 * Runs `fn` until it succeeds, `shouldRetry` says no, or retries run out; the last error is
 * rethrown unchanged so callers keep its code.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 4;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || options.signal?.aborted) throw err;
      const decision = options.shouldRetry ? options.shouldRetry(err, attempt + 1) : true;
      if (decision === false) throw err;
      const computed = backoffDelay(attempt + 1, options);
      const delayMs = typeof decision === 'object' ? Math.max(decision.delayMs, 0) : computed;
      options.onRetry?.({ err, attempt: attempt + 1, delayMs });
      await sleep(delayMs, options.signal);
    }
  }
}
