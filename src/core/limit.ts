/** Runs at most `concurrency` tasks at once; extra calls queue in order. */
export interface Limiter {
  <T>(task: () => Promise<T>): Promise<T>;
  readonly active: number;
  readonly pending: number;
}

export function createLimiter(concurrency: number): Limiter {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  let active = 0;
  const queue: Array<() => void> = [];
  const next = () => {
    if (active >= concurrency) return;
    const start = queue.shift();
    if (start) start();
  };
  const run = (<T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        active++;
        task().then(resolve, reject).finally(() => {
          active--;
          next();
        });
      });
      next();
    })) as Limiter;
  Object.defineProperties(run, {
    active: { get: () => active },
    pending: { get: () => queue.length },
  });
  return run;
}

/**
 * Maps over items with bounded concurrency, keeping order. After the first failure no new item
 * starts; the first error is thrown once in-flight work has settled.
 */
export async function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const limit = createLimiter(Math.max(1, concurrency));
  let failure: { err: unknown } | undefined;
  const skipped = Symbol('skipped');
  const results = await Promise.allSettled(
    items.map((item, i) =>
      limit(async () => {
        if (failure) return skipped;
        try {
          return await fn(item, i);
        } catch (err) {
          failure ??= { err };
          throw err;
        }
      }),
    ),
  );
  if (failure) throw failure.err;
  return results.map((r) => (r as PromiseFulfilledResult<R>).value);
}
