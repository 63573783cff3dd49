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
