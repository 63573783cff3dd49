import { z } from 'zod';
import { randomInt } from 'node:crypto';

/**
 * One generator for every public numeric id (prepayId, bizId, authorizationId, outbox ids).
 * Snowflake layout: milliseconds since 2020-01-01 << 22 | worker (10 bits) << 12 | sequence (12 bits).
 * That gives 18 digits today (> 10^17, so JS clients that parse it as a Number lose precision
 * in testing, as the spec intends) growing to 19 well before 2^63.
 * The worker bits are random per process so several API and worker processes do not collide.
 */
const EPOCH = 1577836800000n;

export interface IdGenerator {
  next(): bigint;
}

export function createIdGenerator(workerId = randomInt(1024)): IdGenerator {
  let lastMs = 0n;
  let seq = 0n;
  const worker = BigInt(workerId & 1023) << 12n;
  return {
    next() {
      let ms = BigInt(Date.now()) - EPOCH;
      if (ms < lastMs) ms = lastMs; // wall clock stepped back: stay monotonic
      if (ms === lastMs) {
        seq = (seq + 1n) & 4095n;
        if (seq === 0n) ms = lastMs + 1n; // sequence exhausted in this ms: borrow the next one
      } else {
        seq = 0n;
      }
      lastMs = ms;
      return (ms << 22n) | worker | seq;
    },
  };
}

const INT8_MAX = (1n << 63n) - 1n;
/** An id that fits a PostgreSQL bigint: 1–19 digits and at most 2^63 − 1 (larger ones are refused, not a 500). */
export const isInt8Id = (s: unknown): s is string =>
  typeof s === 'string' && /^\d{1,19}$/.test(s) && BigInt(s) <= INT8_MAX;
/** The same as a path or query schema: a larger id is a 400, never a 500 from the bigint cast. */
export const int8Id = z.string().refine(isInt8Id, 'must be an id of at most 19 digits');
