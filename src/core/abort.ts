import { CoreError } from './errors.js';

/** Throws a CoreError('ABORTED') when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'operation'): void {
  if (signal?.aborted) {
    throw new CoreError('ABORTED', `${what}: aborted`, { cause: signal.reason });
  }
}

/** Resolves after `ms`, or rejects with ABORTED when the signal fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CoreError('ABORTED', 'sleep: aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CoreError('ABORTED', 'sleep: aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A signal that fires when any input fires (undefined inputs are skipped). */
export function anySignal(signals: ReadonlyArray<AbortSignal | undefined>): AbortSignal | undefined {
  const real = signals.filter((s): s is AbortSignal => s !== undefined);
  if (real.length === 0) return undefined;
  if (real.length === 1) return real[0];
  return AbortSignal.any(real);
}

/** `signal` combined with a timeout; the timeout's reason is a CoreError('TIMEOUT'). */
export function withTimeout(signal: AbortSignal | undefined, ms: number | undefined, what = 'operation'): AbortSignal | undefined {
  if (ms === undefined || ms <= 0 || !Number.isFinite(ms)) return signal;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new CoreError('TIMEOUT', `${what}: timed out after ${ms} ms`)), ms);
  timer.unref();
  return anySignal([signal, ctl.signal]);
}
