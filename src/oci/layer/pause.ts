// Layer code reads and writes files synchronously (thread-pool round trips cost more than small
// copies); between entries it lets timers and other I/O through now and then.

/** A function to await between entries: it yields to the event loop once `ms` have passed since the last yield. */
export function eventLoopPauser(ms = 20): () => Promise<void> {
  let last = Date.now();
  return async () => {
    if (Date.now() - last <= ms) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    last = Date.now();
  };
}
