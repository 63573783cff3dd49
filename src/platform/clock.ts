/**
 * The business clock: order expiry, quote and link timeouts, retry schedules, rolling limits.
 * In sandbox it can be moved forward (never back) so integrators can test time-based behaviour.
 * Request-signature windows deliberately use the real clock (Date.now), not this one.
 */
export interface Clock {
  now(): number;
  offsetMs(): number;
  setOffset(ms: number): void;
}

export function createSystemClock(offsetMs = 0): Clock {
  let offset = offsetMs;
  return {
    now: () => Date.now() + offset,
    offsetMs: () => offset,
    setOffset(ms) {
      if (ms > offset) offset = ms;
    },
  };
}

/** A clock that only moves when told; for unit tests. */
export function createManualClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    offsetMs: () => t - start,
    setOffset(ms) {
      t = start + ms;
    },
    advance(ms) {
      t += ms;
    },
  };
}

/**
 * Keeps a clock's offset in step with one shared value (the sandbox offset in the database, moved by any process).
 * `refresh()` never resolves with a value read before it was called: a call made while a read is in flight waits for
 * the next read, which every such call shares, so a burst of requests costs at most two reads at a time.
 */
export function createOffsetRefresher(
  clock: Clock,
  read: () => Promise<number>,
): { refresh(): Promise<void>; refreshIfOlderThan(ms: number): Promise<void> } {
  let inflight: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  /** Wall time the last read started: a value read then is at least that fresh. */
  let readAt = 0;
  const run = (): Promise<void> => {
    readAt = Date.now();
    const p: Promise<void> = read()
      .then((ms) => clock.setOffset(ms))
      .finally(() => {
        if (inflight === p) inflight = null;
      });
    inflight = p;
    return p;
  };
  return {
    /**
     * Requests use this: an offset read in the last `ms` is fresh enough (another process's advance shows within
     * one worker tick, as the clock loop re-reads), so a busy API does not add a statement to every request.
     */
    refreshIfOlderThan(ms: number) {
      return Date.now() - readAt < ms ? Promise.resolve() : this.refresh();
    },
    refresh() {
      if (!inflight) return run();
      next ??= inflight
        .catch(() => {})
        .then(() => {
          next = null;
          return run();
        });
      return next;
    },
  };
}
