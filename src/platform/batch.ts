/**
 * Natural batching (group commit): calls made in the same turn of the event loop, or while `maxInFlight` batches
 * are running, go together in one batch, so under load one statement and one commit serve many requests. A lone
 * call waits only for the end of the current turn (setImmediate), never for a timer. The turn matters for PGlite,
 * which runs statements synchronously on this thread: nothing else arrives while one runs, but every request
 * parsed in the same poll phase reaches the batcher before setImmediate fires.
 * `run` answers one result per item, in order; if it throws, every item of that batch gets the error.
 */
export function createBatcher<I, O>(
  run: (items: I[]) => Promise<O[]>,
  opts: { maxBatch: number; maxInFlight: number },
) {
  type Waiter = { item: I; resolve(o: O): void; reject(e: unknown): void };
  let queue: Waiter[] = [];
  let inFlight = 0;
  let scheduled = false;

  function dispatch() {
    scheduled = false;
    while (inFlight < opts.maxInFlight && queue.length > 0) {
      const batch = queue.slice(0, opts.maxBatch);
      queue = queue.slice(batch.length);
      inFlight++;
      run(batch.map((w) => w.item))
        .then((results) => {
          if (results.length !== batch.length)
            throw new Error(`batch answered ${results.length} results for ${batch.length} items`);
          batch.forEach((w, i) => w.resolve(results[i]!)); // as many results as items: checked above
        })
        .catch((e) => batch.forEach((w) => w.reject(e)))
        .finally(() => {
          inFlight--;
          schedule();
        });
    }
  }

  function schedule() {
    if (scheduled || inFlight >= opts.maxInFlight) return;
    scheduled = true;
    setImmediate(dispatch);
  }

  return (item: I): Promise<O> =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      schedule();
    });
}
